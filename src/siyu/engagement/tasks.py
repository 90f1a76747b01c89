"""The engagement worker's tasks, run by `siyu serve`'s in-process worker: delivering the outbox (it asks
WeCom for mass-send results and schedules itself again for the next due send) and the journey tick (it
schedules itself again for the next due step, or within the hour to look at triggers)."""

from __future__ import annotations

from django.utils import timezone
from django_tasks import task


@task()
def deliver_outbox() -> dict:
    from siyu.engagement import actions, queries

    recovered = actions.recover_interrupted_sends(stale_after=actions.LEASE)
    delivered = actions.deliver_due_sends()
    receipts = actions.poll_wecom_receipts()
    upcoming = queries.next_due_time()
    if upcoming is None and queries.pending_wecom_receipts(
        timezone.now(), timezone.now() - actions.RECEIPT_POLL_FOR
    ):
        upcoming = timezone.now() + actions.RECEIPT_POLL_EVERY
    if upcoming is not None:
        actions.schedule_delivery(max(upcoming, timezone.now()))
    return {"recovered": recovered, "delivered": delivered, "receipts": receipts}


@task()
def tick_journeys() -> dict:
    from siyu.engagement import actions, queries
    from siyu.engagement.models import Journey

    report = actions.run_journeys()
    now = timezone.now()
    upcoming = queries.next_journey_due()
    if Journey.objects.filter(status=Journey.Status.ACTIVE).exists():
        poll = now + actions.TRIGGER_POLL
        upcoming = min(upcoming, poll) if upcoming is not None else poll
    if upcoming is not None:
        actions.schedule_journeys(max(upcoming, now))
    return report


@task()
def run_scheduled_wecom_sync() -> str:
    """The periodic WeCom contact sync (`sync_every_hours` of the WeCom account), run by the server's
    worker, which owns the warehouse; the job schedules the next one when it ends."""
    from siyu.core.actions import create_job
    from siyu.core.owner import execute_job
    from siyu.engagement.channel_actions import sync_interval

    if sync_interval() is None:  # the schedule was switched off meanwhile
        return ""
    job = execute_job(create_job("wecom_sync", {"scheduled": True}, None))
    return str(job.pk)
