"""`siyu serve`: the console, the API and the task worker in one process that owns the warehouse.

One process owns the DuckDB file (DESIGN.md §1). This command opens it first and keeps it for its whole
life; CLI commands started meanwhile find it busy and hand their work to this server through the task
queue, which the worker thread started here runs. SIYU_HOME/server.json tells them (and the user) that a
server is running and where.

With the Spark engine nobody owns the warehouse: any number of `siyu serve` and `siyu worker` run against
one control plane, and `siyu serve --no-worker` is the web server alone (docs/deployment.md). With DuckDB
--no-worker is refused: a web server beside the process owning the file could not read the warehouse.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
from datetime import UTC, datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from siyu.console import workers
from siyu.core.actions import recover_lost_work
from siyu.core.owner import server_file
from siyu.warehouse import connection

logger = logging.getLogger("siyu.serve")

WORKER_STOP_TIMEOUT = 10.0  # seconds to let a running job finish on Ctrl-C before leaving it


class Command(BaseCommand):
    help = "Run the Siyu console, API and task worker (this process owns the warehouse)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
        parser.add_argument("--threads", type=int, default=8, help="web server threads (default 8)")
        parser.add_argument(
            "--no-worker",
            dest="with_worker",
            action="store_false",
            help="the web server only; jobs run on `siyu worker`s (Spark engine only: see docs/deployment.md)",
        )

    def handle(self, *args, host: str, port: int, threads: int, with_worker: bool = True, **options):
        duckdb = workers.duckdb_engine()
        if duckdb and not with_worker:
            raise CommandError(
                "siyu serve --no-worker needs the Spark engine: with the DuckDB warehouse "
                f"({settings.WAREHOUSE_PATH}) one process owns the file and runs the jobs, and a web server "
                "beside it could not read the warehouse. Run `siyu serve` (web and worker in one process). "
                + workers.SPARK_HINT
            )
        if duckdb:
            workers.refuse_second_owner("serve")
            self._own_warehouse()
        self._check_port(host, port)
        lease = workers.take_lease(workers.ROLES.SERVE) if with_worker else None
        if with_worker:
            worker, worker_thread = self._start_worker(lease.id)
            workers.start_up(self.stdout, lease)
        else:
            workers.serve_web_only()
            self.stdout.write(workers.web_only_note())
        server = self._create_server(host, port, threads)
        info = {"pid": os.getpid(), "host": host, "port": port, "started_at": datetime.now(UTC).isoformat()}
        path = server_file()
        if duckdb:
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
            running = False
            if lease is not None:
                worker.running = False
                worker_thread.join(timeout=WORKER_STOP_TIMEOUT)
                running = worker_thread.is_alive()
                lease.stop()
                if running:  # its lease is given up: the next worker (or the next start) runs it again
                    self.stderr.write("A job was still running; it goes back to the queue.")
                    recover_lost_work()
            try:
                server.close()
            except Exception:  # noqa: BLE001 - already closed by waitress' shutdown
                pass
            if duckdb:
                _remove(path)

            if not running:
                connection.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stdout.write("Stopped.")

    # --- steps ----------------------------------------------------------------------------------

    def _own_warehouse(self) -> None:
        workers.own_warehouse()

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

    def _start_worker(self, worker_id: str):
        workers.check_task_backend(self.stderr)
        return workers.start_worker_thread(worker_id)

    def _create_server(self, host: str, port: int, threads: int):
        import waitress
        from django.contrib.staticfiles.handlers import StaticFilesHandler
        from django.core.wsgi import get_wsgi_application

        application = StaticFilesHandler(get_wsgi_application())
        try:
            return waitress.create_server(application, host=host, port=port, threads=threads, ident="siyu")
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}. Try --port.") from exc


_url_host = workers.url_host


def _remove(path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
