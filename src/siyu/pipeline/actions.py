"""The start of the chain after new records: records that landed (a file imported through `siyu serve`,
an API batch) are followed by a resolve, without anyone clicking 识别身份. What follows a resolve is
siyu.pipeline.after_records.

Coalesced: a burst of imports or API batches queues one resolve, not one each. At most one requested
resolve waits at a time (a Job of kind "resolve" with `after_new_records`, and its django-tasks task
deferred so that a burst lands first: RESOLVE_AFTER_IMPORT_DELAY_SECONDS after an import,
RESOLVE_AFTER_API_SECONDS after an API batch, so that a stream of pushes is resolved once per interval
and not continuously); records that land while it runs get the next one. An import asking while an API
batch's resolve waits brings it forward to the import's delay. Only the server asks: requests come from its
web threads (API, console) and its worker (import jobs), all in this one process, so a lock here keeps the
check and the enqueue together.
A `siyu import` that runs in its own process (no server running) does not resolve; it says so.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from siyu.core.actions import create_job
from siyu.core.models import Job
from siyu.core.owner import in_queued_job
from siyu.core.tasks import can_defer
from siyu.identity.queries import unresolved_records
from siyu.ingest.actions import run_import_job as import_files_of
from siyu.pipeline.tasks import resolve_new_records

log = logging.getLogger(__name__)

_requesting = threading.Lock()
# what an import report counts that means something changed in the warehouse
_CHANGES = ("imported", "records_new", "orders_new", "orders_updated")


def changed_anything(report: dict) -> bool:
    return any(report.get(key) for key in _CHANGES)


def request_resolve(trigger: str, created_by=None, *, delay: float | None = None) -> Job | None:
    """Make sure a resolve runs after what has landed so far: the waiting one if there is one (brought
    forward when this request is in more of a hurry), else a new job whose task runs `delay` seconds from
    now (RESOLVE_AFTER_IMPORT_DELAY_SECONDS unless given). None when resolving after imports is switched
    off."""
    if not settings.RESOLVE_AFTER_IMPORT:
        return None

    params = {"after_new_records": True, "trigger": trigger}
    if not can_defer():  # the immediate backend (tests): nothing ever waits
        job = create_job("resolve", params, created_by)
        resolve_new_records.enqueue(str(job.pk))
        job.refresh_from_db()
        return job
    delay = settings.RESOLVE_AFTER_IMPORT_DELAY_SECONDS if delay is None else delay
    with _requesting:
        at = timezone.now() + timedelta(seconds=delay)
        waiting = _waiting_resolve()
        if waiting is not None:
            job, task = waiting
            task.filter(run_after__gt=at).update(run_after=at)
            return job
        job = create_job("resolve", params, created_by)
        result = resolve_new_records.using(run_after=at).enqueue(str(job.pk))
        job.params = {**params, "task": str(result.id)}
        Job.objects.filter(pk=job.pk).update(params=job.params)
    return job


def _waiting_resolve():
    """The requested resolve whose task still waits in the queue, and a query of that task while it
    waits (a job whose task was claimed or lost is not waiting: a new one is requested, which costs at most
    one extra incremental resolve)."""
    from django_tasks_db.models import DBTaskResult

    for job in Job.objects.filter(kind="resolve", status=Job.Status.QUEUED).order_by("created_at"):
        task_id = (job.params or {}).get("task")
        if (job.params or {}).get("after_new_records") and task_id:
            task = DBTaskResult.objects.filter(pk=task_id, status="READY")
            if task.exists():
                return job, task
    return None


def _resolve_report(job: Job | None) -> dict:
    if job is None:
        return {"requested": False, "reason": "off"}
    return {"requested": True, "job": str(job.pk), "status": job.status}


def run_import_job(job, progress) -> dict:
    """Job runner for kind "import": the import (siyu.ingest.actions.run_import_job), then, when the
    server's worker ran it and something landed, a resolve. `result["resolve"]` says which."""

    report = import_files_of(job, progress)
    if not changed_anything(report):
        report["resolve"] = {"requested": False, "reason": "nothing_new"}
    elif not in_queued_job():
        # `siyu import` with no server: the records wait for `siyu resolve` (or the next `siyu serve`)
        report["resolve"] = {"requested": False, "reason": "no_server"}
    else:
        report["resolve"] = _resolve_report(request_resolve("import", job.created_by))
    return report


def resolve_after_api_batch(result: dict, created_by=None) -> dict:
    """After an API batch landed (in the server, which owns the warehouse): a resolve, at most one per
    RESOLVE_AFTER_API_SECONDS. Only new records need one: orders (each order is a record) and events
    of people not seen before (an event is filed under its person's identifiers, siyu.api.ingest.event_row:
    an event of a known person lands on a record already resolved, and is on their profile at once)."""
    if not changed_anything(result):
        return {"requested": False, "reason": "nothing_new"}
    if not (result.get("records_new") or result.get("orders_new") or result.get("orders_updated")):
        return {"requested": False, "reason": "no_new_records"}
    return _resolve_report(request_resolve("api", created_by, delay=settings.RESOLVE_AFTER_API_SECONDS))


def resolve_after_landing(sender, records_new: int = 0, **kwargs) -> None:
    """siyu.core.signals.records_landed: a domain landed new records by itself (an add through a live
    code); they are resolved with what lands around them."""
    if records_new:
        request_resolve(str(sender))


def resolve_waiting_records() -> Job | None:
    """When `siyu serve` starts: records imported while it was not running (`siyu import` in its own
    process) are resolved now, without a click."""

    try:
        waiting = unresolved_records()
    except Exception:  # noqa: BLE001 - a server that cannot count them still serves; say so in the log
        log.exception("counting the records without a customer failed")
        return None
    return request_resolve("serve_start") if waiting else None
