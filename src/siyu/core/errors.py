class SiyuError(Exception):
    """Base for errors shown to users: the message is meant to be read by a person."""


class PermissionDenied(SiyuError):
    pass
