from siyu.community.errors import CommunityError
from siyu.core.errors import NotFound


class ArchiveError(CommunityError):
    """An archive import or query cannot be done as asked (the message says why)."""


class RuleError(ArchiveError):
    """A sensitive-word rule that cannot be saved as given (bad pattern, unknown group type)."""


class AlertNotFound(ArchiveError, NotFound):
    pass
