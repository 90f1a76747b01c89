"""Errors of coupons: each message is meant to be read by the operator or the cashier."""

from siyu.core.errors import NotFound, SiyuError


class CouponError(SiyuError):
    """A coupon or a template cannot be made, issued or changed as asked (the message says why)."""


class CouponNotFound(CouponError, NotFound):
    """No such coupon template or coupon code (a 404)."""


class TemplateClosed(CouponError):
    """The template issues no more coupons."""


class CouponLimitReached(CouponError):
    """The template's total quantity is issued, or this member holds as many as one member may."""


class CouponNotUsable(CouponError):
    """A redemption refused: used, expired, voided, not yet valid, below the threshold or out of scope.
    `reason` is a short code (labels.NOT_USABLE words it); the message says it in words."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason
