"""Retention: how long each kind of data is kept, and the one job that enforces it (`siyu retention`, daily
under `siyu serve`).

Core knows no domain: each domain registers its kinds in its AppConfig.ready() — the setting that says how
many days (None: kept forever), and a purge(cut-off, dry_run) -> how many rows or files it removed (or would
remove). The job writes a report: each kind, its period, its cut-off and what was removed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from siyu.core.errors import SiyuError

# PIPL art. 56 keeps the records of processing personal information (the audit log) at least three years
AUDIT_LOG_MIN_RETENTION_DAYS = 3 * 365
RUN_EVERY = dt.timedelta(days=1)


class RetentionError(SiyuError):
    """A retention period that may not be used (shorter than the law's minimum)."""


@dataclass(frozen=True)
class RetentionKind:
    kind: str
    label: str
    days: Callable[[], float | None]
    purge: Callable[[dt.datetime, bool], int]
    minimum_days: float = 0


_kinds: dict[str, RetentionKind] = {}


def register_retention(
    kind: str, label: str, days: Callable[[], float | None], purge: Callable[[dt.datetime, bool], int],
    *, minimum_days: float = 0,
) -> None:  # fmt: skip
    """`days()`: the period in force (a setting; None keeps forever); `purge(cut_off, dry_run)` removes what is
    older than the cut-off (with dry_run: only counts it) and returns how many rows or files."""
    if kind in _kinds:
        raise ImproperlyConfigured(f"retention kind {kind!r} registered twice")
    _kinds[kind] = RetentionKind(kind, label, days, purge, minimum_days)


def kinds() -> list[RetentionKind]:
    return list(_kinds.values())


def check_period(entry: RetentionKind, days: float | None) -> None:
    if days is not None and days < entry.minimum_days:
        raise RetentionError(
            f"{entry.label}: a retention of {days:g} days is shorter than the minimum of {entry.minimum_days:g} "
            f"days (SIYU_{entry.kind.upper()}_RETENTION_DAYS; docs/deployment.md)"
        )


def enforce(now: dt.datetime | None = None, *, dry_run: bool = False) -> dict:
    """Remove, for each registered kind with a period, what is older than now minus the period; the report."""
    now = now or timezone.now()
    for entry in kinds():  # every period is checked before anything is removed
        check_period(entry, entry.days())
    rows = []
    for entry in kinds():
        days = entry.days()
        if days is None:
            rows.append({"kind": entry.kind, "label": str(entry.label), "retention_days": None, "cut_off": None,
                         "removed": 0})  # fmt: skip
            continue
        cut_off = now - dt.timedelta(days=days)
        removed = entry.purge(cut_off, dry_run)
        rows.append({"kind": entry.kind, "label": str(entry.label), "retention_days": days,
                     "cut_off": cut_off.isoformat(), "removed": removed})  # fmt: skip
    return {
        "at": now.isoformat(),
        "dry_run": dry_run,
        "kinds": rows,
        "removed": sum(r["removed"] for r in rows),
    }


def run_retention_job(job, progress) -> dict:
    """Job runner for kind "retention": params {"dry_run": bool, "now": ISO instant (tests, reruns)}."""
    now = dt.datetime.fromisoformat(job.params["now"]) if job.params.get("now") else None
    report = enforce(now, dry_run=bool(job.params.get("dry_run")))
    progress(1, 1, f"{report['removed']:,} removed")
    if not report["dry_run"]:
        from siyu.core.actions import record_audit

        record_audit(
            job.created_by, "retention", "", removed={r["kind"]: r["removed"] for r in report["kinds"]}
        )
    return report


def setting_days(name: str) -> Callable[[], float | None]:
    """The period of a settings name (None: kept forever), read at each run (tests override settings)."""
    return lambda: getattr(settings, name)


# --- the audit log is core's own kind ------------------------------------------------------------


def purge_audit_log(cut_off: dt.datetime, dry_run: bool) -> int:
    from siyu.core.models import AuditLog

    old = AuditLog.objects.filter(at__lt=cut_off)
    return old.count() if dry_run else old.delete()[0]
