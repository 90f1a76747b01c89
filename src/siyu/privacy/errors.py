from siyu.core.errors import NotFound


class PrivacyError(ValueError):
    """A request that cannot be opened or moved as asked (in English words, for the API and logs)."""


class RequestNotFound(NotFound):
    pass
