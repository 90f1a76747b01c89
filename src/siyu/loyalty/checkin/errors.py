"""Errors of check-in (their messages are English; pages and the member centre show their own words)."""

from siyu.core.errors import NotFound, SiyuError


class CheckinError(SiyuError):
    """A check-in, a make-up or a rule change that cannot be done (a 400)."""


class MakeupNotAllowed(CheckinError):
    """The day is not a missed day within the make-up window."""


class AlreadyCheckedIn(CheckinError):
    """The day already has a check-in."""


class NoMakeupCard(CheckinError):
    """The member holds no make-up card."""


class InvalidRule(CheckinError):
    """A rule that cannot be saved (its streak day taken, nothing to give, an unknown coupon template)."""


class RuleNotFound(CheckinError, NotFound):
    """No such check-in rule (a 404)."""
