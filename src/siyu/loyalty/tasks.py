"""Loyalty's background tasks, run by `siyu serve`'s in-process worker: the warehouse mirror every hour, and
the daily upkeep — points past their expiry expire, coupons past theirs too, imported orders carrying coupon
codes use them, tiers are reviewed (downgrades fall due on review dates), birthday points are given — each
as a job, so it shows among the jobs with its report."""

from __future__ import annotations

import datetime as dt
import logging

from django.utils import timezone
from django_tasks import task

from siyu.core.errors import DataPlaneBusy
from siyu.core.owner import submit_job
from siyu.core.tasks import schedule_once
from siyu.loyalty import mirror

log = logging.getLogger(__name__)

UPKEEP_EVERY = dt.timedelta(days=1)
# the daily jobs in their order: expiry before the review, so a tier on points sees what is left
DAILY_JOBS = ("points_expiry", "coupon_expiry", "coupon_order_match", "loyalty_tiers", "loyalty_birthdays")


@task()
def mirror_loyalty_task() -> dict:
    """Mirror loyalty into the warehouse, then come back in MIRROR_EVERY (also after a busy warehouse)."""
    try:
        report = mirror.mirror_loyalty()
    except DataPlaneBusy as exc:
        log.warning("loyalty not mirrored: %s", exc)
        report = {"error": str(exc)}
    mirror.schedule_mirror(timezone.now() + mirror.MIRROR_EVERY)
    return report


@task()
def loyalty_upkeep() -> dict:
    """The daily jobs, one after another (a failing one does not stop the others), then again tomorrow."""
    report = {}
    try:
        for kind in DAILY_JOBS:
            job = submit_job(kind, {}, in_process=True)
            report[kind] = job.result if job.error == "" else {"error": job.error}
    finally:
        schedule_loyalty_upkeep(timezone.now() + UPKEEP_EVERY)
    return report


def schedule_loyalty_upkeep(at: dt.datetime | None = None) -> bool:
    """Make sure the daily upkeep runs at `at` (now when None); `siyu serve` calls it at start."""
    return schedule_once(loyalty_upkeep, at)
