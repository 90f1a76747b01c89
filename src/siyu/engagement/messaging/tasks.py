"""Messaging's background tasks, run by `siyu serve`'s in-process worker: delivering the outbox (it asks
WeCom for mass-send results and schedules itself again for the next due send) and the periodic WeCom
contact sync."""

from __future__ import annotations

from django.utils import timezone
from django_tasks import task

from siyu.core.actions import create_job
from siyu.core.owner import execute_job
from siyu.engagement.messaging import actions, queries
from siyu.engagement.messaging.channel_actions import sync_interval


@task()
def deliver_outbox() -> dict:
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
def run_scheduled_wecom_sync() -> str:
    """The periodic WeCom contact sync (`sync_every_hours` of the WeCom account), run by the server's
    worker, which owns the warehouse; the job schedules the next one when it ends."""

    if sync_interval() is None:  # the schedule was switched off meanwhile
        return ""
    job = execute_job(create_job("wecom_sync", {"scheduled": True}, None))
    return str(job.pk)
