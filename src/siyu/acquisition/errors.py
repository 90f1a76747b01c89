from siyu.core.errors import NotFound, SiyuError


class AcquisitionError(SiyuError):
    """A live code or store code cannot be made or changed as asked (the message says why)."""


class LiveCodeNotFound(AcquisitionError, NotFound):
    """No live code with that id."""
