from siyu.core.errors import NotFound, SiyuError


class PrivacyError(SiyuError):
    """A request that cannot be opened or moved as asked (English words, for the API and logs): a 400."""


class RequestNotFound(NotFound):
    pass
