from siyu.core.errors import SiyuError


class TraitsError(SiyuError):
    """A traits refresh that cannot run as asked (an as-of date in the future, bad settings…)."""


class RuleError(SiyuError):
    """A computed-tag or stage-set rule that is not well formed; the message says where."""


class NotFound(SiyuError):
    """A definition asked for by name, or a snapshot asked for by date, does not exist."""


class TraitsNotComputed(NotFound):
    """No traits snapshot exists for the asked date (or none at all yet)."""


class SegmentError(SiyuError):
    """A segment that cannot be saved as given (bad name, bad static list…); the message says why."""


class PredictionError(SegmentError):
    """Predictions cannot be computed (too little history, a model that does not fit)."""


class PredictionsNotComputed(NotFound):
    """No stored predictions for the asked snapshot."""
