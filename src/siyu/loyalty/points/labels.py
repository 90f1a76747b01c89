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


# sources whose reason is a person's or the brand's own words (an adjustment, a till, a mall item's name, a journey step's reason)
WORDED_SOURCES = {Source.MANUAL, Source.TILL, Source.MALL, Source.JOURNEY}


def reason_label(reason: str, source: str) -> str:
    """The reason an operator reads: the ledger's own in words, a person's or the brand's as written; the
    reasons other parts of Siyu write for themselves add nothing to the source's words, so none."""
    if reason in REASON_LABELS:
        return str(REASON_LABELS[reason])
    return reason if source in WORDED_SOURCES else ""
