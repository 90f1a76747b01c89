"""The read side of earn rules: the rules, the last runs of the order earn job."""

from __future__ import annotations

from siyu.loyalty.earning.models import EarnRule, EarnRun, OrderPoints


def rules(include_inactive: bool = True) -> list[EarnRule]:
    found = EarnRule.objects.all()
    return list(found if include_inactive else found.filter(active=True))


def recent_runs(limit: int = 10) -> list[EarnRun]:
    return list(EarnRun.objects.exclude(finished_at=None)[:limit])


def order_points(source_ref: str) -> OrderPoints | None:
    return OrderPoints.objects.filter(source_ref=source_ref).first()
