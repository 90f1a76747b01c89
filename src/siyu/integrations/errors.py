from siyu.core.errors import NotFound as CoreNotFound
from siyu.core.errors import SiyuError


class IntegrationError(SiyuError):
    """A subscription that cannot be saved as asked (words for the operator)."""


class NotFound(CoreNotFound):
    pass
