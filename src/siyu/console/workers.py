"""What a process that runs jobs does, shared by `siyu worker` and `siyu serve` (unless --no-worker).

- With the DuckDB engine it owns the warehouse file (DESIGN.md §1): one such process per SIYU_HOME, found by
  SIYU_HOME/server.json; a second one is refused in words saying why.
- With the Spark engine any number of them run, on any number of hosts, against one control plane.

Either way it holds a lease (siyu.core.leases) whose id is its django-tasks worker id, takes back the work of
processes whose lease expired (siyu.core.actions.recover_lost_work) at start and while it renews its lease,
and settles the sends a stopped process left half-done. One live worker at a time — the first of those
starting together (decided under a control-plane lock), or the one taking over when it is gone — makes sure
every periodic task has its waiting run; each schedule's check-then-enqueue also runs under its own lock
(siyu.core.tasks.schedule_lock), so workers leave one waiting run per schedule and each run fires once.
"""

from __future__ import annotations

import logging
import sys
import threading
import time

from django.conf import settings
from django.core.management.base import CommandError
from django.db import InterfaceError, OperationalError, connections
from django.utils import timezone

from siyu.acquisition.actions import schedule_routing_refresh
from siyu.community.handover.actions import schedule_handover_check
from siyu.core import leases
from siyu.core.actions import recover_lost_work, settle_run_after_lost_connection
from siyu.core.models import ProcessLease
from siyu.core.owner import running_server
from siyu.core.tasks import schedule_lock, schedule_retention, starting_up
from siyu.engagement.journeys.actions import schedule_journeys
from siyu.engagement.messaging.actions import LEASE as SEND_LEASE
from siyu.engagement.messaging.actions import recover_interrupted_sends, schedule_delivery
from siyu.engagement.messaging.channel_actions import schedule_wecom_sync
from siyu.integrations.actions import schedule_delivery as schedule_event_delivery
from siyu.loyalty.mirror import schedule_mirror as schedule_loyalty_mirror
from siyu.loyalty.tasks import schedule_loyalty_upkeep
from siyu.pipeline.actions import resolve_waiting_records
from siyu.segments.actions import schedule_refresh
from siyu.surveys.mirror import schedule_mirror as schedule_surveys_mirror
from siyu.warehouse import WarehouseBusy, raw_connection

logger = logging.getLogger("siyu.worker")

SPARK_HINT = (
    "To run several workers, or web servers apart from the worker, use the Spark engine "
    "(SIYU_WAREHOUSE=spark://HOST:7077, sc://HOST:15002 or local[N]) with PostgreSQL as the control plane "
    "(DATABASE_URL); see docs/deployment.md."
)


def duckdb_engine() -> bool:
    return not leases.shared_data_plane()


def refuse_second_owner(command: str) -> None:
    """With the DuckDB engine: stop here, in words, when another process owns this SIYU_HOME's warehouse."""
    other = running_server()
    if other is None:
        return
    role = other.get("role", "serve")
    where = f", http://{url_host(other.get('host', ''))}:{other.get('port')}/" if other.get("port") else ""
    raise CommandError(
        f"siyu {role} is already running for {settings.SIYU_HOME} (pid {other.get('pid')}{where}) and owns "
        f"the DuckDB warehouse {settings.WAREHOUSE_PATH}: one process runs the jobs of a DuckDB warehouse. "
        f"Stop it first{' to start siyu ' + command if command != role else ''}, or use another SIYU_HOME. "
        + SPARK_HINT
    )


def own_warehouse() -> None:
    """With the DuckDB engine: open the warehouse file and keep it (the process's whole life)."""
    try:
        raw_connection()
    except WarehouseBusy as exc:
        raise CommandError(
            f"{exc}. Another siyu command (an import, resolve or demo) is using it right now; "
            "start again when it has finished."
        ) from exc


def take_lease(role: str) -> leases.Lease:
    """Hold this process's lease; each renewal also takes back the work of processes that died, and takes
    over the periodic tasks when the worker that made sure of them is gone."""
    lease = leases.Lease(role)
    lease.on_renew = lambda: _renewed(lease)
    if duckdb_engine():
        # this process owns the DuckDB file (opened before): every other lease is of a process that died
        ProcessLease.objects.all().delete()
    return lease.start()


def _renewed(lease: leases.Lease) -> None:
    report = recover_lost_work()
    if report["requeued"] or report["failed"] or report["interrupted"]:
        logger.warning("work of stopped processes taken back: %s", report)
    ensure_schedules(None, lease)


def start_up(stdout, lease: leases.Lease) -> None:
    """A starting worker's chores: lost work back to the queue, sends settled, the periodic tasks made sure
    of (by one worker of those alive), waiting records resolved."""
    report = recover_lost_work()
    if report["requeued"] or report["failed"] or report["interrupted"]:
        stdout.write(
            f"Taken back from stopped processes: {len(report['requeued'])} task run(s) queued again, "
            f"{len(report['failed'])} failed after too many attempts, {len(report['interrupted'])} job(s) "
            "marked interrupted."
        )
    others = leases.live_workers().exclude(pk=lease.id).exists()
    # alone, every claimed send was left by a stopped process; beside live workers only the stale ones were
    recover_interrupted_sends(stale_after=SEND_LEASE if others else None)
    if not ensure_schedules(stdout, lease):
        scheduler = leases.live_workers().filter(scheduled_at__isnull=False).values_list("id", flat=True).first()
        stdout.write(f"Periodic tasks: made sure of by the worker {scheduler}.")


def ensure_schedules(stdout, lease: leases.Lease) -> bool:
    """Make sure every periodic task has its run waiting, unless another live worker did (the first of
    workers starting together, or one that took over from a worker gone since); True when this one did.
    Also resolves the records imported while no worker ran."""
    with schedule_lock("siyu.startup"):
        live = leases.live_workers()
        if live.filter(scheduled_at__isnull=False).exists():
            return False
        ProcessLease.objects.filter(pk=lease.id).update(scheduled_at=timezone.now())
    with starting_up():
        schedule_delivery()
        schedule_journeys()  # a tick stopped mid-way is taken up again (its sends are keyed)
        schedule_wecom_sync()  # the periodic WeCom contact sync, when the account asks for one
        schedule_routing_refresh()  # live codes' staff routing, every 15 minutes while a code is active
        schedule_handover_check()  # handovers still waiting for WeCom's outcome
        schedule_loyalty_mirror()  # loyalty's rows into the warehouse, every hour
        schedule_loyalty_upkeep()  # expiry of points and coupons, coupon orders, tier reviews, birthdays: daily
        schedule_surveys_mirror()  # survey answers into the warehouse, every hour
        when = schedule_refresh()  # the daily refresh of traits and segments
        if when is not None and stdout is not None:
            stdout.write(f"Daily refresh of traits and segments at {when.isoformat(timespec='minutes')}.")
        schedule_retention()  # every kind of data past its retention period (siyu.core.retention), daily
        schedule_event_delivery()  # outbound events to subscriptions: due retries, and a sweep every 5 minutes
    if resolve_waiting_records() is not None and stdout is not None:
        stdout.write("Resolving the records imported while no worker was running.")
    return True


RECONNECT_SECONDS = 1.0
# what the database driver raises when the control plane dropped the connection (PostgreSQL restarting)
CONNECTION_LOST = (OperationalError, InterfaceError)


def make_worker(worker_id: str, interval: float = 0.5):
    """The django-tasks database worker polling the default queue, under this process's lease id. It
    outlives its control plane dropping the connection (PostgreSQL restarting): a poll that fails is tried
    again on a new connection, and a run whose outcome could not be written is settled once the database
    answers (siyu.core.actions.settle_run_after_lost_connection: back to the queue, or as its job ended)."""
    from django_tasks_db.management.commands.db_worker import Worker

    class ReconnectingWorker(Worker):
        def run(self) -> None:
            while True:
                try:
                    return super().run()
                except CONNECTION_LOST as exc:
                    if not self.running:
                        return
                    logger.warning("the worker lost its control-plane connection (%s); trying again", exc)
                    connections.close_all()
                    time.sleep(RECONNECT_SECONDS)

        def run_task(self, db_task_result) -> None:
            try:
                super().run_task(db_task_result)
            except CONNECTION_LOST as exc:
                logger.warning("lost the control plane running task %s: %s", db_task_result.pk, exc)
                self._settle(db_task_result.pk, exc)

        def _settle(self, run_id, exc: BaseException) -> None:
            while True:
                connections.close_all()
                try:
                    settle_run_after_lost_connection(run_id, self.worker_id, exc)
                    return
                except CONNECTION_LOST:
                    if not self.running:  # stopping: the lease is given up, a recovery takes the run back
                        return
                    time.sleep(RECONNECT_SECONDS)

    return ReconnectingWorker(
        queue_names=["default"],
        interval=interval,
        batch=False,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=worker_id,
        excluded_queue_names=[],
    )


def check_task_backend(stderr) -> None:
    from django_tasks import task_backends
    from django_tasks_db import DatabaseBackend

    backend = task_backends["default"]
    if not isinstance(backend, DatabaseBackend):
        stderr.write(
            f"Note: the task backend is {type(backend).__name__}, not the database backend; "
            "the worker has nothing to poll."
        )


def start_worker_thread(worker_id: str):
    """The worker in a thread of this process (`siyu serve`)."""
    worker = make_worker(worker_id)

    def run_worker():
        from django.db import connections

        try:
            worker.run()
        except Exception:  # noqa: BLE001 - log it; the web server keeps serving
            logger.exception("the task worker stopped")
            sys.stderr.write("siyu serve: the task worker stopped with an error (see the log above)\n")
        finally:
            connections.close_all()

    thread = threading.Thread(target=run_worker, name="siyu-worker", daemon=True)
    thread.start()
    return worker, thread


def serve_web_only() -> None:
    """`siyu serve --no-worker`: the jobs this process starts go to the queue, for the workers."""
    leases.serve_web_only()


def web_only_note() -> str:
    """What `siyu serve --no-worker` says at start about who runs its jobs (Spark engine)."""
    workers = list(leases.live_workers().values_list("id", flat=True))
    if not workers:
        return (
            "Note: no siyu worker is running against this control plane: jobs started here wait in the queue "
            "until one starts (siyu worker)."
        )
    return f"Jobs run on {len(workers)} worker(s): {', '.join(workers[:5])}{'…' if len(workers) > 5 else ''}."


def url_host(host: str) -> str:
    if host in ("0.0.0.0", "", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


ROLES = ProcessLease.Role
