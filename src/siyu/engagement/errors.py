from siyu.core.errors import SiyuError


class EngagementError(SiyuError):
    """A send, channel setting or policy setting that cannot be accepted as given."""


class ChannelNotConfigured(EngagementError):
    pass


class JourneyNotFound(EngagementError):
    """No journey with the asked id."""
