"""`siyu worker`: the task worker alone, without the web server.

With the DuckDB engine it owns the warehouse file as `siyu serve` does (one such process per SIYU_HOME; CLI
commands hand it their jobs). With the Spark engine any number of workers run on any number of hosts against
one PostgreSQL control plane; each holds a lease there (siyu.core.leases), claims task runs under it, and
takes back the runs of workers whose lease expired. See siyu.console.workers and docs/deployment.md.

SIGTERM or Ctrl-C: the running job ends, then the worker stops; a second one stops it at once (the lease is
given up, so the job goes back to the queue for another worker).
"""

from __future__ import annotations

import json
import os
import signal
import threading
from datetime import UTC, datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from siyu.console import workers
from siyu.core.owner import server_file


class Command(BaseCommand):
    help = "Run the Siyu task worker alone (no web server)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--interval", type=float, default=0.5, help="seconds between polls of an empty queue (default 0.5)"
        )

    def handle(self, *args, interval: float, **options):
        if interval < 0:
            raise CommandError("--interval must be zero or more seconds")
        duckdb = workers.duckdb_engine()
        path = server_file()
        if duckdb:
            workers.refuse_second_owner("worker")
            workers.own_warehouse()
        workers.check_task_backend(self.stderr)
        lease = workers.take_lease(workers.ROLES.WORKER)
        wrote = False
        try:
            if duckdb:
                info = {"pid": os.getpid(), "role": "worker", "started_at": datetime.now(UTC).isoformat()}
                path.write_text(json.dumps(info))
                wrote = True
            workers.start_up(self.stdout, lease)
            worker = workers.make_worker(lease.id, interval)
            self._run(worker, lease, duckdb)
        finally:
            lease.stop()  # what still runs (a second Ctrl-C) goes back to the queue with the next recovery
            if wrote:
                _remove(path)
            _close_data_plane(duckdb)
        self.stdout.write("Stopped.")

    def _run(self, worker, lease, duckdb: bool) -> None:
        stopping = threading.Event()

        def stop(signum, frame):
            if stopping.is_set():  # a second Ctrl-C: leave now
                self.stderr.write("Stopping now; the running job goes back to the queue.")
                raise KeyboardInterrupt
            stopping.set()
            worker.running = False  # the running task ends, then the loop does
            if worker.running_task:
                self.stdout.write("Stopping when the running job ends (Ctrl-C again to stop now)…")
                self.stdout.flush()

        previous = {}
        if threading.current_thread() is threading.main_thread():  # signals can only be set there
            previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        engine = f"DuckDB {settings.WAREHOUSE_PATH}" if duckdb else f"Spark {settings.WAREHOUSE_SPARK_MASTER}"
        self.stdout.write(
            f"Siyu worker {lease.id} is running (warehouse: {engine}; SIYU_HOME {settings.SIYU_HOME}; "
            "Ctrl-C to stop)"
        )
        self.stdout.flush()
        try:
            worker.run()
        except KeyboardInterrupt:
            pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stdout.write("Stopping…")


def _close_data_plane(duckdb: bool) -> None:
    if duckdb:
        from siyu.warehouse import connection

        connection.close()
    else:
        from siyu.warehouse import spark

        spark.stop()


def _remove(path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
