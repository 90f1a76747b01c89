"""Errors of loyalty's earn rules."""

from siyu.core.errors import NotFound, SiyuError


class EarnRuleError(SiyuError):
    """An earn rule that cannot be saved (said in words)."""


class EarnRuleNotFound(NotFound):
    pass
