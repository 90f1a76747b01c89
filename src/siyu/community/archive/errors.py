from siyu.community.errors import CommunityError
from siyu.core.errors import NotFound


class ArchiveError(CommunityError):
    """An archive import or query cannot be done as asked (the message says why)."""


class RuleError(ArchiveError):
    """A sensitive-word rule that cannot be saved as given (bad pattern, unknown group type). `code` names
    the reason for the console's words (siyu.community.archive.labels.RULE_ERRORS)."""

    def __init__(self, message: str, code: str = "invalid"):
        super().__init__(message)
        self.code = code


class AlertNotFound(ArchiveError, NotFound):
    pass


class RuleNotFound(ArchiveError, NotFound):
    pass
