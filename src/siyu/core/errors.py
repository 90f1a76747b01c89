class SiyuError(Exception):
    """Base for errors shown to users: the message is meant to be read by a person."""


class PermissionDenied(SiyuError):
    pass


class DataPlaneBusy(SiyuError):
    """Another process owns the data plane (the warehouse file): jobs go to it or wait."""
