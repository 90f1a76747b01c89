"""Loyalty's background tasks, run by `siyu serve`'s in-process worker: the warehouse mirror every hour."""

from __future__ import annotations

import logging

from django.utils import timezone
from django_tasks import task

from siyu.core.errors import DataPlaneBusy
from siyu.loyalty import mirror

log = logging.getLogger(__name__)


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
