from siyu.core.errors import NotFound, SiyuError


class EngagementError(SiyuError):
    """A send, channel setting or policy setting that cannot be accepted as given."""


class ChannelNotConfigured(EngagementError):
    pass


class ContentError(EngagementError):
    """A script, material or buyer show that cannot be saved or used as given."""


class ConsentMissing(ContentError):
    """A buyer show whose customer has no `ugc` consent in force."""


class TaskError(EngagementError):
    """Guide tasks that cannot be created or completed as asked."""


class ContentNotFound(ContentError, NotFound):
    """No script or material with that id (a NotFound too: the console's pages answer 404)."""


class TaskNotFound(TaskError, NotFound):
    """No guide task or task batch with that id (a NotFound too: the console's pages answer 404)."""


class JourneyNotFound(EngagementError, NotFound):
    """No journey with the asked id (a NotFound too: the console's pages answer 404)."""
