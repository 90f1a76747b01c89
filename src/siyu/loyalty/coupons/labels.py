"""The words operators and customers read for coupons' codes: kinds, statuses, sources and why a coupon
cannot be used. English msgids, Chinese in the loyalty app's catalogue."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from siyu.core.labels import label

# siyu.loyalty.coupons.models.DiscountKind
DISCOUNT_KINDS = {"amount": _("Amount off"), "percent": _("Percent off")}

# ValidityKind
VALIDITY_KINDS = {"fixed": _("Fixed dates"), "days": _("Days after issue")}

# TemplateStatus
TEMPLATE_STATUSES = {"active": _("Issuing"), "closed": _("Closed")}

# CouponStatus
COUPON_STATUSES = {"issued": _("Unused"), "used": _("Used"), "expired": _("Expired"), "void": _("Voided")}

# CouponSource
COUPON_SOURCES = {
    "journey": _("Journey step"),
    "segment": _("Issued to a segment"),
    "mall": _("Rewards mall"),
    "tier": _("Tier benefit"),
    "referral": _("Referral reward"),
    "checkin": _("Check-in reward"),
    "manual": _("Issued by staff"),
}

# UsedVia
USED_VIA = {"redemption": _("Redeemed at the till"), "import": _("Imported order")}

# CouponNotUsable.reason
NOT_USABLE = {
    "used": _("This coupon has already been used."),
    "expired": _("This coupon has expired."),
    "void": _("This coupon has been voided."),
    "not_started": _("This coupon is not valid yet."),
    "threshold": _("The order does not reach the coupon's minimum spend."),
    "amount_needed": _("The order amount is needed to use this coupon."),
    "scope": _("The coupon does not apply to these products."),
    "unknown": _("No coupon has this code."),
}


def discount_kind_label(value) -> str:
    return label(DISCOUNT_KINDS, value)


def template_status_label(value) -> str:
    return label(TEMPLATE_STATUSES, value)


def coupon_status_label(value) -> str:
    return label(COUPON_STATUSES, value)


def coupon_source_label(value) -> str:
    return label(COUPON_SOURCES, value)


def used_via_label(value) -> str:
    return label(USED_VIA, value)


def not_usable_label(value) -> str:
    return label(NOT_USABLE, value)
