"""Surveys' background tasks, run by `siyu serve`'s in-process worker: the warehouse mirror every hour."""

from __future__ import annotations

import logging

from django.utils import timezone
from django_tasks import task

from siyu.core.errors import DataPlaneBusy
from siyu.surveys import mirror

log = logging.getLogger(__name__)


@task()
def mirror_surveys_task() -> dict:
    try:
        report = mirror.mirror_surveys()
    except DataPlaneBusy as exc:
        log.warning("surveys not mirrored: %s", exc)
        report = {"error": str(exc)}
    mirror.schedule_mirror(timezone.now() + mirror.MIRROR_EVERY)
    return report
