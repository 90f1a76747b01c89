"""The words operators and members see for the ledger's sources, accounts and reasons."""

from django.utils.translation import gettext_lazy as _

from siyu.loyalty.points.models import Account, Source

SOURCE_LABELS = {
    Source.ORDER: _("Order"),
    Source.CHECKIN: _("Check-in"),
    Source.SURVEY: _("Survey"),
    Source.REFERRAL: _("Referral"),
    Source.JOURNEY: _("Journey step"),
    Source.MANUAL: _("Manual adjustment"),
    Source.MALL: _("Rewards mall"),
    Source.TILL: _("Spent at the till"),
    Source.TIER: _("Tier benefit"),
    Source.BIRTHDAY: _("Birthday"),
    Source.FIRST_PURCHASE: _("First purchase"),
    Source.MERGE: _("Profile merge"),
    Source.EXPIRY: _("Points expiry"),
}

ACCOUNT_LABELS = {
    Account.ISSUED: _("Earned"),
    Account.REDEEMED: _("Points spent"),
    Account.EXPIRED: _("Expired"),
    Account.REVERSED: _("Taken back"),
    Account.ADJUSTED: _("Adjusted"),
    Account.TRANSFERRED: _("Transferred"),
}

# reasons the ledger itself writes (others are the words a caller or an operator gave)
REASON_LABELS = {
    "expired": _("Points expired"),
    "merge": _("Moved in a profile merge"),
    "unmerge": _("Moved back when a merge was undone"),
}


def source_label(source: str) -> str:
    return str(SOURCE_LABELS.get(source, _("Other")))


def account_label(account: str) -> str:
    return str(ACCOUNT_LABELS.get(account, _("Other")))


def reason_label(reason: str) -> str:
    return str(REASON_LABELS.get(reason, reason))
