"""The words operators read for tiers: what a rule measures, what a change was. English msgids, Chinese in
the loyalty app's catalogue."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from siyu.core.labels import label

MEASURES = {"spend": _("Spend (yuan)"), "orders": _("Purchases"), "points": _("Points earned")}
CHANGES = {"upgrade": _("Upgrade"), "downgrade": _("Downgrade"), "grace": _("Kept in grace period")}


def measure_label(value: str) -> str:
    return label(MEASURES, value)


def change_label(value: str) -> str:
    return label(CHANGES, value)
