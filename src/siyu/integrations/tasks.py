"""The delivery task of outbound events, run by `siyu serve`'s worker: it schedules itself again at the
next due retry, and at most SWEEP later (events recorded by a process whose scheduling failed are found)."""

from __future__ import annotations

import datetime as dt
import logging

from django.utils import timezone
from django_tasks import task

from siyu.integrations import actions
from siyu.integrations.sweep import sweep_warehouse

log = logging.getLogger(__name__)

SWEEP = dt.timedelta(minutes=5)


@task()
def deliver_events_task() -> dict:
    try:
        swept = sweep_warehouse()
    except Exception:  # the warehouse busy or failing: deliver what is recorded, sweep at the next run
        log.exception("reading the warehouse's change logs for outbound events failed")
        swept = None
    result = {"swept": swept, **actions.deliver_events()}
    now = timezone.now()
    upcoming = actions.next_due_time()
    at = min(upcoming, now + SWEEP) if upcoming else now + SWEEP
    actions.schedule_delivery(max(at, now))
    return result
