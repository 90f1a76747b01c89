"""The daily purge of expired rejected rows (siyu.ingest.rejected), run by `siyu serve`'s in-process worker:
as a job when there is something to delete (so that it shows among the jobs with its report), then again
a day later."""

from __future__ import annotations

from django_tasks import task

from siyu.ingest import actions


@task()
def purge_rejected_rows() -> str:
    try:
        job = actions.purge_rejected_rows_now()
    finally:
        actions.schedule_rejected_purge(daily=True)
    return str(job.pk) if job is not None else ""
