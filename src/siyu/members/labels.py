"""The words a customer reads on the member centre for codes of sign-in and privacy."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, pgettext_lazy

REFUSALS = {
    "bad_phone": _("Enter a mainland China mobile number."),
    "too_soon": _("A code was sent less than a minute ago. Please wait before asking again."),
    "phone_daily_limit": _("This number has had too many codes today. Please try again tomorrow."),
    "ip_limit": _("Too many codes were asked for from this network. Please try again later."),
    "not_configured": _("Sign-in by SMS is not available at the moment."),
    "not_sent": _("The code could not be sent. Please try again later."),
    "no_code": _("No valid code for this number. Please ask for a new one."),
    "too_many_attempts": _("Too many wrong codes. Please ask for a new one."),
    "phone_locked": _("Too many wrong codes for this number today. Please try again tomorrow."),
    "ip_locked": _("Too many wrong codes from this network. Please try again later."),
    "bad_state": _("The WeChat sign-in could not be verified. Please try again."),
    "bad_code": _("WeChat did not confirm who you are. Please try again."),
    "wechat_unavailable": _("Sign-in with WeChat is not available at the moment."),
    "link_expired": _("This sign-in link has expired. Please sign in with your phone number."),
    "link_invalid": _("This sign-in link is not valid. Please sign in with your phone number."),
    "not_member": _("We could not open a membership for you. Please try again later."),
}


def refusal_words(reason: str, values: dict | None = None) -> str:
    if reason == "wrong_code":
        left = int((values or {}).get("left", 0))
        return ngettext(
            "Wrong code. %(left)d try left.", "Wrong code. %(left)d tries left.", left
        ) % {"left": left}
    return str(REFUSALS.get(reason, REFUSALS["not_sent"]))


METHODS = {"sms": _("SMS code"), "wechat": _("WeChat"), "link": _("Sign-in link")}

# consent channels a member manages on 我的隐私, in the order shown (siyu.customers.queries.CONSENT_CHANNELS)
CHANNELS = {
    "sms": _("Text messages"),
    "wecom": _("Messages from our staff on WeCom"),
    "official_account": _("Official account notices"),
    "mini_program": _("Mini program notices"),
    "email": _("E-mail"),
    "phone": _("Phone calls"),
    "guide": _("One-to-one contact from your shop assistant"),
    "webhook": _("Notices through the brand's own app and systems"),
}

# import sources a customer recognises; a brand's own source names are shown as the brand wrote them
SOURCES = {"taobao": _("Taobao"), "tmall": _("Tmall"), "jd": _("JD.com"), "douyin": _("Douyin"),
           "youzan": _("Youzan"), "wecom": _("WeCom"), "pos": _("Stores"), "member_centre": _("Member centre")}  # fmt: skip


def source_words(source: str) -> str:
    return str(SOURCES.get(source, source))


# --- loyalty and surveys on the member centre ------------------------------------------------------------

# a ledger entry as the member reads it: (source, counter account) → words; siyu.loyalty.points.models
ENTRY_WORDS = {
    ("order", "issued"): _("Points for a purchase"),
    ("order", "reversed"): _("Taken back: the order was refunded"),
    ("checkin", "issued"): _("Daily check-in"),
    ("survey", "issued"): _("Thank you for answering a survey"),
    ("referral", "issued"): _("Reward for inviting a friend"),
    ("journey", "issued"): _("A gift from the brand"),
    ("mall", "redeemed"): _("Redeemed in the rewards mall"),
    ("mall", "reversed"): _("Mall redemption cancelled: points returned"),
    ("till", "redeemed"): _("Spent in a store"),
    ("tier", "issued"): _("Membership level benefit"),
    ("birthday", "issued"): _("Birthday gift"),
    ("first_purchase", "issued"): _("First purchase reward"),
}
ACCOUNT_WORDS = {
    "issued": _("Points earned"),
    "redeemed": _("Points spent"),
    "expired": _("Points expired"),
    "reversed": _("Points taken back"),
    "adjusted": _("Adjusted by our staff"),
    "transferred": _("Moved between your member accounts"),
}


def entry_words(source: str, account: str) -> str:
    """What a points entry was, in the member's words (no codes)."""
    words = ENTRY_WORDS.get((source, account)) or ACCOUNT_WORDS.get(account) or _("Points changed")
    return str(words)


# why a mall redemption was refused (siyu.loyalty.mall.errors, points' InsufficientPoints)
MALL_REFUSALS = {
    "out_of_stock": _("Sorry, this gift is out of stock."),
    "limit": _("You have already redeemed as many of this gift as one member may."),
    "not_on_sale": _("This gift is not on offer at the moment."),
    "points": _("You do not have enough points for this."),
    "address": _("Please fill in the recipient, the phone number and the street address."),
    "quantity": _("Please choose how many you want."),
    "again": _("This page has expired. Please try again."),
}

# why a check-in or a make-up was refused (siyu.loyalty.checkin.errors)
CHECKIN_REFUSALS = {
    "no_card": _("You have no make-up card."),
    "not_allowed": _("Only a missed day of the last 7 days can be made up."),
    "already": _("That day is already checked in."),
}

# siyu.loyalty.mall.models.RedemptionStatus as the member reads it
REDEMPTION_STATUSES = {
    "issued": _("The coupon is in your wallet"),
    "to_ship": _("Waiting to be shipped"),
    "shipped": _("Shipped"),
    "to_collect": _("Collect it in a store"),
    "collected": _("Collected"),
    "cancelled": _("Cancelled"),
}

# siyu.loyalty.coupons.models.CouponStatus as the member reads it
COUPON_STATUSES = {"issued": _("Expired"), "used": _("Used"), "expired": _("Expired"), "void": _("Withdrawn")}

WEEKDAYS = (pgettext_lazy("calendar", "Mon"), pgettext_lazy("calendar", "Tue"), pgettext_lazy("calendar", "Wed"),
            pgettext_lazy("calendar", "Thu"), pgettext_lazy("calendar", "Fri"), pgettext_lazy("calendar", "Sat"),
            pgettext_lazy("calendar", "Sun"))  # fmt: skip


def _yuan(value) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value is not None else ""


def coupon_benefit(template) -> str:
    """What a coupon takes off, and from what spend, in words: "¥20 off · on orders from ¥100"."""
    if template.kind == "percent":
        words = _("%(percent)s%% off") % {"percent": _yuan(template.percent_off)}
        if template.max_discount:
            words += " · " + _("at most ¥%(amount)s") % {"amount": _yuan(template.max_discount)}
    else:
        words = _("¥%(amount)s off") % {"amount": _yuan(template.amount_off)}
    if template.min_spend:
        words += " · " + _("on orders from ¥%(amount)s") % {"amount": _yuan(template.min_spend)}
    return str(words)
