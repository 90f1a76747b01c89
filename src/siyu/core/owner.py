"""The one-owner rule for the warehouse file.

`run_job` runs a job in this process when the warehouse is free; when a `siyu serve` owns it, it queues the
job for the server's in-process worker and returns the Job so the caller can follow its progress.
"""

from __future__ import annotations

import json
import os
import threading
import traceback

from django.conf import settings

from siyu.core.actions import JobProgress, create_job, fail_job, finish_job, start_job
from siyu.core.errors import DataPlaneBusy, SiyuError
from siyu.core.jobs import claim_data_plane, job_runner
from siyu.core.models import Job


def server_file():
    return settings.SIYU_HOME / "server.json"


def running_server() -> dict | None:
    """The live `siyu serve` of this SIYU_HOME, if any."""
    try:
        info = json.loads(server_file().read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    return info


_queue = threading.local()


def run_queued_job(job_id: str) -> Job:
    """Run a job the task queue handed to this process's worker (`siyu serve`'s, or the immediate backend
    of tests): execute_job, with in_queued_job() true meanwhile."""
    _queue.depth = getattr(_queue, "depth", 0) + 1
    try:
        return execute_job(Job.objects.get(pk=job_id))
    finally:
        _queue.depth -= 1


def in_queued_job() -> bool:
    """Whether this thread runs a job taken from the task queue (so the server's worker will also run what
    the job queues next), rather than one a CLI command runs in its own process."""
    return getattr(_queue, "depth", 0) > 0


def execute_job(job: Job, listener=None) -> Job:
    """Run a job here and now (this process must own the warehouse)."""
    runner = job_runner(job.kind)
    start_job(job)
    try:
        result = runner(job, JobProgress(job, listener))
    except SiyuError as exc:
        fail_job(job, str(exc))
    except Exception as exc:  # noqa: BLE001 - the job row must say what went wrong
        fail_job(job, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}")
    else:
        finish_job(job, result)
    job.refresh_from_db()
    return job


def submit_job(
    kind: str, params: dict, created_by=None, *, in_process: bool | None = None, listener=None
) -> Job:
    """Run in-process when we can own the warehouse, else hand the job to the running server."""
    job = create_job(kind, params, created_by)
    if in_process is None:
        try:
            claim_data_plane()
            in_process = True
        except DataPlaneBusy:
            if running_server() is None:
                fail_job(job, "the warehouse is in use by another siyu command; try again when it ends")
                job.refresh_from_db()
                return job
            in_process = False
    if in_process:
        return execute_job(job, listener)
    from siyu.core.tasks import run_job_task  # core.tasks imports this module

    run_job_task.enqueue(str(job.pk))
    return job
