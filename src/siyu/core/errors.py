class SiyuError(Exception):
    """Base for errors shown to users: the message is meant to be read by a person."""


class PermissionDenied(SiyuError):
    pass


class NotFound(SiyuError):
    """No such thing (a customer, a segment…): a 404 in the console and the API."""


class DataPlaneBusy(SiyuError):
    """Another process owns the data plane (the warehouse file): jobs go to it or wait."""


class WorkerLost(SiyuError):
    """The process running a job stopped renewing its lease (killed, or its host lost) too many times."""
