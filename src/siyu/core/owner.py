"""Who runs a job: this process, or the workers through the task queue.

With the DuckDB engine one process owns the warehouse file (DESIGN.md §1): `submit_job` runs a job in this
process when the file is free; when a `siyu serve` or `siyu worker` owns it (SIYU_HOME/server.json), it
queues the job for that process's worker and returns the Job so the caller can follow its progress.

With the Spark engine any number of processes run jobs: a command queues its job when live workers hold
their lease in the control plane (siyu.core.leases) — on this host or any other — and runs it itself when
none does; a web server without a worker always queues.
"""

from __future__ import annotations

import json
import threading
import traceback

from django.conf import settings

from siyu.core import leases
from siyu.core.actions import JobProgress, create_job, fail_job, finish_job, start_job
from siyu.core.errors import DataPlaneBusy, SiyuError
from siyu.core.jobs import claim_data_plane, job_runner
from siyu.core.models import Job


def server_file():
    return settings.SIYU_HOME / "server.json"


def running_server() -> dict | None:
    """The live process owning this SIYU_HOME's DuckDB warehouse — a `siyu serve`, or a `siyu worker`
    ("role": "worker", no port) — if any."""
    try:
        info = json.loads(server_file().read_text())
        if not leases.process_alive(int(info["pid"])):  # a zombie or no process: it is gone
            return None
    except (OSError, ValueError, KeyError, TypeError):
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
    with leases.holding_lease():  # a CLI command running it shows other processes it is alive
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
    """Run in-process when we can own the warehouse, else hand the job to the running server. With the Spark
    engine: queue it when workers are alive, else run it here."""
    job = create_job(kind, params, created_by)
    if in_process is None and leases.shared_data_plane():
        in_process = in_queued_job() or leases.runs_jobs_itself()
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
