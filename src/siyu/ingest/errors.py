from siyu.core.errors import SiyuError


class ImportFailed(SiyuError):
    """A file cannot be imported at all; nothing of it was written."""


class UnrecognisedFile(ImportFailed):
    pass
