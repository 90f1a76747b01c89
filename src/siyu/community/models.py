"""The community app's models, defined by subject in its sub-packages (groups, archive, handover) and
gathered here because Django loads an app's models from `<app>.models`."""

from siyu.community.groups.models import (  # noqa: F401
    CustomerGroup,
    GroupCode,
    GroupCodeSlot,
    GroupMember,
    GroupMessage,
    GroupWelcomeTemplate,
)
