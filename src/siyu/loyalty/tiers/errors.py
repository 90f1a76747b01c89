"""Errors of loyalty's tiers."""

from siyu.core.errors import NotFound, SiyuError


class TierError(SiyuError):
    """A tier definition that cannot be saved (said in words)."""


class TierNotFound(NotFound):
    pass
