"""The task queue's shared parts: the task that runs a handed-over job, and scheduling a task once.

Scheduling is idempotent across processes: several `siyu worker`s and `siyu serve`s starting together on one
control plane each ask for the same periodic tasks, and each check-then-enqueue (or cancel-then-enqueue)
runs under `schedule_lock(task)`, a lock in the control plane (a transaction-scoped advisory lock on
PostgreSQL, an exclusive transaction on SQLite), so one waiting run per schedule is what they leave.
"""

from __future__ import annotations

import datetime as dt
import threading
import zlib
from contextlib import contextmanager

from django.db import connection, transaction
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


@contextmanager
def schedule_lock(task_):
    """Hold the control plane's lock of `task_`'s schedule (a task, or a name): one process at a time looks
    at its waiting runs and changes them (in one transaction, released at its end)."""
    name = task_ if isinstance(task_, str) else task_.module_path
    if connection.vendor == "postgresql":
        with transaction.atomic():
            with connection.cursor() as cursor:
                key = zlib.crc32(f"siyu.schedule:{name}".encode()) - 2**31  # a signed 32-bit key
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [0x5159, key])
            yield
    elif connection.vendor == "sqlite":
        from django_tasks_db.utils import exclusive_transaction

        if connection.in_atomic_block:  # inside a transaction already (tests): it holds the write lock
            yield
        else:
            with exclusive_transaction():
                yield
    else:
        with transaction.atomic():
            yield


_starting = threading.local()


@contextmanager
def starting_up():
    """What a starting worker schedules is only made sure of: any waiting run, whenever due, or one in
    progress (the periodic tasks queue their next run as they end) covers it, so a worker starting beside
    others, or restarting, adds no run to a schedule that has one (a daily task is not run again at each
    start)."""
    _starting.on = True
    try:
        yield
    finally:
        _starting.on = False


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
    covering = Q(status="READY") & (Q(run_after__lte=target) | Q(run_after=get_date_max()))
    if getattr(_starting, "on", False):
        covering = Q(status__in=["READY", "RUNNING"])
    with schedule_lock(task_):
        if DBTaskResult.objects.filter(task_path=task_.module_path).filter(covering).exists():
            return False
        task_.using(run_after=target if at and at > now else None).enqueue()
    return True


@task()
def enforce_retention() -> str:
    """The daily retention run of `siyu serve`'s worker (siyu.core.retention): a job, with its report, when
    any kind of data has a retention period; then again a day later."""
    from siyu.core import retention
    from siyu.core.actions import create_job
    from siyu.core.owner import execute_job

    try:
        if not any(entry.days() is not None for entry in retention.kinds()):
            return ""
        return str(execute_job(create_job("retention", {}, None)).pk)
    finally:
        schedule_retention(daily=True)


def schedule_retention(*, daily: bool = False) -> None:
    """Make sure retention is enforced: now (when `siyu serve` starts) or a day from now (after each run)."""
    from siyu.core.retention import RUN_EVERY

    schedule_once(enforce_retention, timezone.now() + RUN_EVERY if daily else None)
