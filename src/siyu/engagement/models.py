"""The engagement app's models, defined by subject in its sub-packages (messaging, content, guides,
journeys) and gathered here because Django loads an app's models from `<app>.models`."""

from siyu.engagement.content.models import Material, Script, ScriptGroup  # noqa: F401
from siyu.engagement.guides.models import GuideTask, TaskBatch  # noqa: F401
from siyu.engagement.journeys.models import Enrollment, Handoff, Journey, StepCount  # noqa: F401
from siyu.engagement.messaging.models import (  # noqa: F401
    ChannelAccount,
    ContactPolicy,
    Send,
    TemplateRefusal,
    WeComCorpTag,
    WeComTransfer,
    _default_consent_channels,  # named by migration 0001
)
