"""The delivery task of outbound events, run by `siyu serve`'s worker: it schedules itself again at the
next due retry, and at most SWEEP later (events recorded by a process whose scheduling failed are found)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django_tasks import task

from siyu.integrations import actions

SWEEP = dt.timedelta(minutes=5)


@task()
def deliver_events_task() -> dict:
    result = actions.deliver_events()
    now = timezone.now()
    upcoming = actions.next_due_time()
    at = min(upcoming, now + SWEEP) if upcoming else now + SWEEP
    actions.schedule_delivery(max(at, now))
    return result
