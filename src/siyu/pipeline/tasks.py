"""The task that runs the coalesced resolve after new records (siyu.pipeline.actions.request_resolve) in
`siyu serve`'s in-process worker."""

from __future__ import annotations

from django_tasks import task

from siyu.core.owner import run_queued_job


@task()
def resolve_new_records(job_id: str) -> str:
    return run_queued_job(job_id).status
