"""State changes of the shared kernel: jobs and the audit log."""

from __future__ import annotations

import time

from django.db.models import F
from django.utils import timezone

from siyu.core.models import AuditLog, Job


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
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, started_at=timezone.now())


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
