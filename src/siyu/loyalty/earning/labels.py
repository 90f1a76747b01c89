"""The words operators read for earn rules. English msgids, Chinese in the loyalty app's catalogue."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from siyu.core.labels import label

KINDS = {
    "per_yuan": _("Points per yuan"),
    "first_purchase": _("First purchase bonus"),
    "birthday": _("Birthday bonus"),
    "checkin": _("Daily check-in"),
    "survey": _("Survey completed"),
    "daily_limit": _("Daily limit per member"),
}
EXPIRIES = {
    "end_of_next_year": _("End of next year"),
    "days": _("After a number of days"),
    "never": _("Never expire"),
}


def kind_label(value: str) -> str:
    return label(KINDS, value)


def expiry_label(value: str) -> str:
    return label(EXPIRIES, value)
