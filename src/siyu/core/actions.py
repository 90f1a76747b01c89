"""State changes of the shared kernel: jobs and the audit log."""

from __future__ import annotations

import time
import uuid

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from siyu.core import leases
from siyu.core.models import AuditLog, Job, ProcessLease


def record_audit(actor, action: str, target: str = "", **detail) -> None:
    AuditLog.objects.create(
        actor=actor if (actor is not None and actor.is_authenticated) else None,
        action=action,
        target=str(target),
        detail=detail,
    )


def create_job(kind: str, params: dict, created_by=None) -> Job:
    return Job.objects.create(kind=kind, params=params, created_by=created_by)


class JobProgress:
    """Writes progress to the Job row, at most a few times a second."""

    def __init__(self, job: Job, listener=None, min_interval: float = 0.25):
        self.job = job
        self.listener = listener  # e.g. the CLI's progress bar when the job runs in-process
        self.min_interval = min_interval
        self._last = 0.0

    def __call__(self, done: int, total: int | None = None, message: str | None = None, force=False):
        if self.listener is not None:
            self.listener(done, total, message)
        now = time.monotonic()
        if not force and now - self._last < self.min_interval:
            return
        self._last = now
        fields = {"progress_done": done}
        if total is not None:
            fields["progress_total"] = total
        if message is not None:
            fields["message"] = message[:500]
        Job.objects.filter(pk=self.job.pk).update(**fields)


def start_job(job: Job) -> None:
    """The job runs now, in this process (under its lease, when it holds one)."""
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.RUNNING, started_at=timezone.now(), worker=leases.current_id(), attempts=F("attempts") + 1
    )


def finish_job(job: Job, result: dict) -> None:
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.DONE,
        result=result,
        finished_at=timezone.now(),
        progress_done=F("progress_total"),
        message="done",
    )


def fail_job(job: Job, error: str) -> None:
    Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED, error=error, finished_at=timezone.now())


def settle_lost_jobs() -> dict:
    """What anything showing or waiting on jobs calls first (the console's job pages, `siyu jobs`, a CLI
    following a job): a job whose process died is marked failed, with the reason, the next time anyone
    looks — not only when a worker next renews its lease. Jobs run without a lease (tests calling commands
    directly) are left to the workers' scan."""
    return recover_lost_work(unowned=False)


def recover_lost_work(now=None, *, unowned: bool = True) -> dict:
    """Take back the work of processes whose lease expired or whose process is gone from this host
    (siyu.core.leases.gone_here; a lease of another host is judged by its renewals only): a task run they had claimed
    goes back to the queue for any worker — its job too, saying so — until it was lost
    settings.WORKER_MAX_ATTEMPTS times, when both fail with the reason; a job they ran in-process fails
    (what started it runs again if it was a task, and starts a new job); their leases are deleted. Safe to
    run from many processes at once: each row is taken under a lock and changed only while still lost."""
    from django_tasks_db.models import DBTaskResult

    now = now or timezone.now()
    requeued, failed = [], []
    dead_here = leases.gone_here()
    with transaction.atomic():
        # the runs first, then the leases: a lease is written before its worker claims anything, so a run
        # claimed by a live worker is never read before that worker's lease
        running = list(DBTaskResult.objects.filter(status="RUNNING").select_for_update(skip_locked=True))
        live = set(leases.live_leases(now).values_list("id", flat=True)) - set(dead_here)
        for run in running:
            holder = run.worker_ids[-1] if run.worker_ids else ""
            if holder in live:
                continue
            lost = (
                f"the worker {holder} running it stopped: {dead_here[holder]}"
                if holder in dead_here
                else f"the worker {holder or '(unknown)'} running it stopped renewing its lease at {_when(holder)}"
            )
            (requeued if take_back_run(run, lost, now) else failed).append(str(run.pk))
    # jobs run in-process by a process now gone; judged in one statement so that a job started meanwhile
    # by a worker whose lease is newer than `live` above is not taken for lost
    alive = ProcessLease.objects.filter(renewed_at__gte=leases.cutoff(now)).exclude(pk__in=list(dead_here)).values("id")
    interrupted = Job.objects.filter(status=Job.Status.RUNNING).exclude(worker__in=alive)
    if not unowned:
        interrupted = interrupted.exclude(worker="")
    stopped = [(str(pk), worker) for pk, worker in interrupted.values_list("pk", "worker")]
    for pk, worker in stopped:
        Job.objects.filter(pk=pk, status=Job.Status.RUNNING, worker=worker).update(
            status=Job.Status.FAILED,
            finished_at=now,
            error=f"interrupted: {_why_stopped(worker, dead_here)}; run it again",
        )
    expired = ProcessLease.objects.filter(renewed_at__lt=leases.cutoff(now)).delete()[0]
    expired += ProcessLease.objects.filter(pk__in=list(dead_here)).delete()[0]
    return {"requeued": requeued, "failed": failed, "interrupted": [pk for pk, _ in stopped], "leases_expired": expired}


def _job_of(run) -> str | None:
    """The job a task run runs: the tasks that run a job (siyu.core.tasks.run_job_task, the pipeline's
    resolve_new_records) take its id as their first argument."""
    args = (run.args_kwargs or {}).get("args") or []
    if not args or not isinstance(args[0], str):
        return None
    try:
        uuid.UUID(args[0])
    except ValueError:
        return None
    return args[0] if Job.objects.filter(pk=args[0]).exists() else None


def take_back_run(run, lost: str, now=None) -> bool:
    """A task run (locked by the caller) whose worker lost it — `lost` says how, in words — goes back to the
    queue for any worker, its job too, saying so (True); once it was lost settings.WORKER_MAX_ATTEMPTS times
    both fail with the reason instead (False)."""
    now = now or timezone.now()
    limit = settings.WORKER_MAX_ATTEMPTS
    attempts = len(run.worker_ids)
    job_id = _job_of(run)
    if attempts >= limit:
        reason = f"{lost}; it was lost {attempts} times, the limit (SIYU_WORKER_MAX_ATTEMPTS={limit}), so it is not run again"
        run.status, run.finished_at = "FAILED", now
        run.exception_class_path = "siyu.core.errors.WorkerLost"
        run.traceback = reason
        run.return_value = None
        run.save(update_fields=["status", "finished_at", "exception_class_path", "traceback", "return_value"])
        if job_id:
            Job.objects.filter(pk=job_id).exclude(status__in=[Job.Status.DONE, Job.Status.FAILED]).update(
                status=Job.Status.FAILED, error=f"interrupted: {reason}", finished_at=now, worker=""
            )
        return False
    run.status, run.started_at = "READY", None
    run.save(update_fields=["status", "started_at"])
    if job_id:
        Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(
            status=Job.Status.QUEUED, worker="",
            message=f"queued again: {lost} (attempt {attempts} of {limit} lost)"[:500],
        )  # fmt: skip
    return True


def settle_run_after_lost_connection(run_id, worker_id: str, error: BaseException) -> None:
    """A task run whose worker lost its connection to the control plane while running it (PostgreSQL
    restarted, or dropped the connection), settled on a new connection: the outcome its job wrote stands
    (the run is closed as that); else the run goes back to the queue, its job saying why (take_back_run)."""
    from django_tasks_db.models import DBTaskResult

    with transaction.atomic():
        run = DBTaskResult.objects.select_for_update().filter(pk=run_id, status="RUNNING").first()
        if run is None or not run.worker_ids or run.worker_ids[-1] != worker_id:
            return  # settled meanwhile (its outcome was written after all, or another process took it back)
        job_id = _job_of(run)
        status = Job.objects.filter(pk=job_id).values_list("status", flat=True).first() if job_id else None
        if status == Job.Status.DONE:
            run.set_successful(None)
        elif status == Job.Status.FAILED:
            run.set_failed(error)
        else:
            why = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            take_back_run(run, f"the worker {worker_id} running it lost its control-plane connection ({why})")

def _why_stopped(worker: str, dead_here: dict[str, str]) -> str:
    """Why a job run in-process by `worker` (a lease id) stopped before it ended, in words naming the
    process: gone from this host, or its lease not renewed (another host, judged by its renewals)."""
    if worker in dead_here:
        return f"the process running it stopped before it ended: {dead_here[worker]}"
    lease = ProcessLease.objects.filter(pk=worker).values_list("pid", "host").first()
    if lease:
        return (
            f"the process running it ({worker}: pid {lease[0]} on host {lease[1]}) stopped renewing its lease at "
            f"{_when(worker)}, {int(leases.lease_seconds())} s or more ago"
        )
    return f"the process running it ({worker or 'a siyu process'}) stopped before it ended"


def _when(lease_id: str) -> str:
    renewed = ProcessLease.objects.filter(pk=lease_id).values_list("renewed_at", flat=True).first()
    return timezone.localtime(renewed).strftime("%Y-%m-%d %H:%M:%S") if renewed else "an unknown time"
