"""The task queue's shared parts: the task that runs a handed-over job, and scheduling a task once."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django_tasks import task

from siyu.core.owner import run_queued_job


@task()
def run_job_task(job_id: str) -> None:
    run_queued_job(job_id)


def can_defer() -> bool:
    """Whether the task backend can run a task later (the database backend of `siyu serve`; not the
    immediate backend of tests)."""
    from django_tasks import task_backends

    return task_backends["default"].supports_defer


def _waiting(task_):
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(task_path=task_.module_path, status="READY")


def next_waiting_run(task_) -> dt.datetime | None:
    """When the earliest waiting run of `task_` is due (None: none waits)."""
    return _waiting(task_).order_by("run_after").values_list("run_after", flat=True).first()


def cancel_waiting_runs(task_) -> int:
    """Take every waiting run of `task_` out of the queue (before scheduling it at a new time)."""
    return _waiting(task_).delete()[0]


def schedule_once(task_, at: dt.datetime | None = None) -> bool:
    """Enqueue `task_` (a task without arguments) to run at `at` (now when None) unless a waiting run of it
    comes by then; True when it was enqueued. With a backend that cannot defer (the immediate backend of tests) a
    run due now happens at once and a later one not at all."""
    now = timezone.now()
    if not can_defer():
        if at is None or at <= now:
            task_.enqueue()
            return True
        return False
    from django.db.models import Q
    from django_tasks_db.models import DBTaskResult, get_date_max

    target = max(at or now, now)
    waiting = DBTaskResult.objects.filter(task_path=task_.module_path, status="READY").filter(
        Q(run_after__lte=target) | Q(run_after=get_date_max())
    )
    if waiting.exists():
        return False
    task_.using(run_after=target if at and at > now else None).enqueue()
    return True
