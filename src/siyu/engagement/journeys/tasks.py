"""The journey tick, run by `siyu serve`'s in-process worker: it schedules itself again for the next due
step, or within the hour to look at triggers."""

from __future__ import annotations

from django.utils import timezone
from django_tasks import task

from siyu.engagement.journeys import actions, queries
from siyu.engagement.journeys.models import Journey


@task()
def tick_journeys() -> dict:
    report = actions.run_journeys()
    now = timezone.now()
    upcoming = queries.next_journey_due()
    if Journey.objects.filter(status=Journey.Status.ACTIVE).exists():
        poll = now + actions.TRIGGER_POLL
        upcoming = min(upcoming, poll) if upcoming is not None else poll
    if upcoming is not None:
        actions.schedule_journeys(max(upcoming, now))
    return report
