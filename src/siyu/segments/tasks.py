"""The daily refresh: a django-tasks task that `siyu serve`'s in-process worker runs at the scheduled time
(siyu.segments.models.RefreshSchedule). It runs the refresh as a job (so it shows among the jobs with
its report), then queues itself again for the next day."""

from __future__ import annotations

from django_tasks import task

from siyu.core.owner import submit_job
from siyu.segments import actions
from siyu.segments.models import RefreshSchedule


@task()
def scheduled_refresh() -> dict:
    if not RefreshSchedule.current().enabled:
        return {"skipped": "the daily refresh is off"}
    try:
        job = submit_job("scheduled_refresh", {}, in_process=True)
    finally:
        actions.schedule_refresh()
    return {"job": str(job.pk), "status": job.status}
