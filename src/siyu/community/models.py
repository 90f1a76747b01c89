"""The community app's models, defined by subject in its sub-packages (groups, archive, handover) and
gathered here because Django loads an app's models from `<app>.models`."""

from siyu.community.archive.models import ArchiveImport, SensitiveAlert, SensitiveRule  # noqa: F401
from siyu.community.groups.models import (  # noqa: F401
    CustomerGroup,
    GroupCode,
    GroupCodeSlot,
    GroupMember,
    GroupMessage,
    GroupWelcomeTemplate,
)
from siyu.community.handover.models import Handover, HandoverItem  # noqa: F401
