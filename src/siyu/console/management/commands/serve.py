"""`siyu serve`: the console, the API and the task worker in one process that owns the warehouse.

One process owns the DuckDB file (DESIGN.md §1). This command opens it first and keeps it for its whole
life; CLI commands started meanwhile find it busy and hand their work to this server through the task
queue, which the worker thread started here runs. SIYU_HOME/server.json tells them (and the user) that a
server is running and where.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
from datetime import UTC, datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from siyu.acquisition.actions import schedule_routing_refresh
from siyu.community.handover.actions import schedule_handover_check
from siyu.core.actions import fail_job
from siyu.core.models import Job
from siyu.core.owner import running_server, server_file
from siyu.engagement.journeys.actions import schedule_journeys
from siyu.engagement.messaging.actions import recover_interrupted_sends, schedule_delivery
from siyu.engagement.messaging.channel_actions import schedule_wecom_sync
from siyu.ingest.actions import schedule_rejected_purge
from siyu.loyalty.mirror import schedule_mirror as schedule_loyalty_mirror
from siyu.loyalty.tasks import schedule_loyalty_upkeep
from siyu.pipeline.actions import resolve_waiting_records
from siyu.segments.actions import schedule_refresh
from siyu.surveys.mirror import schedule_mirror as schedule_surveys_mirror
from siyu.warehouse import WarehouseBusy, connection, raw_connection

logger = logging.getLogger("siyu.serve")

WORKER_STOP_TIMEOUT = 10.0  # seconds to let a running job finish on Ctrl-C before leaving it


class Command(BaseCommand):
    help = "Run the Siyu console, API and task worker (this process owns the warehouse)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
        parser.add_argument("--threads", type=int, default=8, help="web server threads (default 8)")

    def handle(self, *args, host: str, port: int, threads: int, **options):
        other = running_server()
        if other is not None:
            raise CommandError(
                f"siyu serve is already running for {settings.SIYU_HOME} "
                f"(pid {other.get('pid')}, http://{_url_host(other.get('host', ''))}:{other.get('port')}/). "
                "Stop it first, or use another SIYU_HOME."
            )
        self._own_warehouse()
        self._check_port(host, port)
        self._fail_interrupted_jobs()

        worker, worker_thread = self._start_worker()
        self._resume_outbox()
        self._schedule_refresh()
        self._schedule_upkeep()
        server = self._create_server(host, port, threads)
        info = {"pid": os.getpid(), "host": host, "port": port, "started_at": datetime.now(UTC).isoformat()}
        path = server_file()
        path.write_text(json.dumps(info))

        stopping = threading.Event()

        def stop(signum, frame):
            if stopping.is_set():  # a second Ctrl-C: leave now
                self.stderr.write("Stopping immediately.")
                _remove(path)
                os._exit(1)
            stopping.set()
            raise KeyboardInterrupt

        previous = {}
        if threading.current_thread() is threading.main_thread():  # signals can only be set there
            previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        url = f"http://{_url_host(host)}:{port}/"
        self.stdout.write(f"Siyu is running at {url}  (SIYU_HOME {settings.SIYU_HOME}; Ctrl-C to stop)")
        if host not in ("127.0.0.1", "localhost", "::1") and host not in settings.ALLOWED_HOSTS:
            self.stdout.write(
                "Note: add the names people use to reach this server to SIYU_ALLOWED_HOSTS "
                f"(now: {','.join(settings.ALLOWED_HOSTS)})."
            )
        self.stdout.flush()
        try:
            server.run()  # returns after Ctrl-C / SIGTERM (waitress catches the KeyboardInterrupt)
        except KeyboardInterrupt:
            pass
        finally:
            self.stdout.write("Stopping…")
            worker.running = False
            worker_thread.join(timeout=WORKER_STOP_TIMEOUT)
            if worker_thread.is_alive():
                self.stderr.write("A job was still running; it is marked as interrupted.")
                self._fail_interrupted_jobs()
            try:
                server.close()
            except Exception:  # noqa: BLE001 - already closed by waitress' shutdown
                pass
            _remove(path)

            if not worker_thread.is_alive():
                connection.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stdout.write("Stopped.")

    # --- steps ----------------------------------------------------------------------------------

    def _own_warehouse(self) -> None:
        try:
            raw_connection()
        except WarehouseBusy as exc:
            raise CommandError(
                f"{exc}. Another siyu command (an import, resolve or demo) is using it right now; "
                "start the server again when it has finished."
            ) from exc

    def _check_port(self, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        probe = socket.socket(family, socket.SOCK_STREAM)
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}. Try --port.") from exc
        finally:
            probe.close()

    def _fail_interrupted_jobs(self) -> None:
        """Jobs left `running` by a server that stopped mid-way can never finish: say so on them."""

        for job in Job.objects.filter(status=Job.Status.RUNNING):
            fail_job(job, "interrupted: siyu serve stopped while this job was running; run it again")

    def _resume_outbox(self) -> None:
        """Sends a stopped server left half-done are settled (siyu.engagement.messaging.actions), then delivery resumes."""

        recover_interrupted_sends()
        schedule_delivery()
        schedule_journeys()  # a tick stopped mid-way is taken up again (its sends are keyed)
        schedule_wecom_sync()  # the periodic WeCom contact sync, when the account asks for one
        schedule_routing_refresh()  # live codes' staff routing, every 15 minutes while a code is active
        schedule_handover_check()  # handovers still waiting for WeCom's outcome
        schedule_loyalty_mirror()  # loyalty's rows into the warehouse, every hour
        schedule_loyalty_upkeep()  # expiry of points and coupons, coupon orders, tier reviews, birthdays: daily
        schedule_surveys_mirror()  # survey answers into the warehouse, every hour

    def _schedule_refresh(self) -> None:
        """The daily refresh of traits and segments (siyu.segments.tasks) waits for its next time."""

        when = schedule_refresh()
        if when is not None:
            self.stdout.write(f"Daily refresh of traits and segments at {when.isoformat(timespec='minutes')}.")

    def _schedule_upkeep(self) -> None:
        """Rejected rows past their retention are deleted now and then every day (siyu.ingest.tasks), and
        records imported while no server ran are resolved (siyu.pipeline)."""

        schedule_rejected_purge()
        if resolve_waiting_records() is not None:
            self.stdout.write("Resolving the records imported while the server was not running.")

    def _start_worker(self):
        from django_tasks import task_backends
        from django_tasks_db import DatabaseBackend
        from django_tasks_db.management.commands.db_worker import Worker

        backend = task_backends["default"]
        if not isinstance(backend, DatabaseBackend):
            self.stderr.write(
                f"Note: the task backend is {type(backend).__name__}, not the database backend; "
                "the worker thread has nothing to poll."
            )
        worker = Worker(
            queue_names=["default"],
            interval=0.5,
            batch=False,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=f"siyu-serve-{socket.gethostname()}-{os.getpid()}"[:64],
            excluded_queue_names=[],
        )

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

    def _create_server(self, host: str, port: int, threads: int):
        import waitress
        from django.contrib.staticfiles.handlers import StaticFilesHandler
        from django.core.wsgi import get_wsgi_application

        application = StaticFilesHandler(get_wsgi_application())
        try:
            return waitress.create_server(application, host=host, port=port, threads=threads, ident="siyu")
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}. Try --port.") from exc


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _remove(path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
