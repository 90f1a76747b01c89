"""The words a customer reads on the member centre for codes of sign-in and privacy."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

REFUSALS = {
    "bad_phone": _("Enter a mainland China mobile number."),
    "too_soon": _("A code was sent less than a minute ago. Please wait before asking again."),
    "phone_daily_limit": _("This number has had too many codes today. Please try again tomorrow."),
    "ip_limit": _("Too many codes were asked for from this network. Please try again later."),
    "not_configured": _("Sign-in by SMS is not available at the moment."),
    "not_sent": _("The code could not be sent. Please try again later."),
    "no_code": _("No valid code for this number. Please ask for a new one."),
    "too_many_attempts": _("Too many wrong codes. Please ask for a new one."),
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
}

# import sources a customer recognises; a brand's own source names are shown as the brand wrote them
SOURCES = {"taobao": _("Taobao"), "tmall": _("Tmall"), "jd": _("JD.com"), "douyin": _("Douyin"),
           "youzan": _("Youzan"), "wecom": _("WeCom"), "pos": _("Stores"), "member_centre": _("Member centre")}  # fmt: skip


def source_words(source: str) -> str:
    return str(SOURCES.get(source, source))
