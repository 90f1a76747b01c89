"""Process leases: which Siyu processes are alive to run jobs, across hosts, through the control plane.

A process that runs jobs (`siyu worker`, `siyu serve` with its worker, a CLI command running a job itself)
holds a ProcessLease row and renews it from a thread every WORKER_LEASE / 4 seconds. What it runs — a
django-tasks run it claimed (its id is the worker id there) and the Job rows it started (Job.worker) — is
its own while the lease is fresh. A lease not renewed for WORKER_LEASE seconds belongs to a process that was
killed or lost its host; siyu.core.actions.recover_lost_work gives its work back to the queue. Workers run
that recovery as they renew; `siyu worker` and `siyu serve` also at start.

A heartbeat row is what tells a CLI command on any host that workers are there to take its jobs (a pid
file only tells about this host).

A lease of this host is also judged by its process: when that pid is gone (or is a zombie, or is another
process started after the lease), the process died and its lease is dead at once, without waiting
WORKER_LEASE (`gone_here`). A lease of another host is judged by its renewals only: a pid means nothing there.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from siyu.core.models import ProcessLease

try:
    import psutil
except ImportError:  # pragma: no cover - psutil is a dependency; without it only the renewals are judged
    psutil = None

log = logging.getLogger("siyu.leases")

_current: Lease | None = None
_enabled = False  # whether a CLI command's in-process job takes a lease (set by siyu.cli.main)
_web_only = False  # a web server without a worker (`siyu serve --no-worker`): its jobs always go to the queue
_held = 0  # jobs running under the lease holding_lease() took
_held_lock = threading.Lock()


def lease_seconds() -> float:
    return float(settings.WORKER_LEASE)


def shared_data_plane() -> bool:
    """Whether any number of processes may run jobs at once: the Spark engine. The DuckDB file has one owner
    (DESIGN.md §1)."""
    return settings.WAREHOUSE_ENGINE == "spark"


def cutoff(now=None):
    """Leases renewed before this instant have expired."""
    return (now or timezone.now()) - timedelta(seconds=lease_seconds())


def live_leases(now=None):
    return ProcessLease.objects.filter(renewed_at__gte=cutoff(now))


def live_workers(now=None):
    """The processes alive to take queued jobs: `siyu worker`s and `siyu serve`s with their worker."""
    return live_leases(now).filter(role__in=[ProcessLease.Role.WORKER, ProcessLease.Role.SERVE])


def this_host() -> str:
    return socket.gethostname()[:200]


def process_alive(pid: int, started_before=None) -> bool:
    """Whether the process `pid` of this host runs (not a zombie), and — given `started_before` — is not
    another process that took the pid later."""
    if pid == os.getpid():
        return True
    if psutil is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True
        return True
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        if started_before is not None and process.create_time() > started_before.timestamp() + 2:
            return False  # the pid was reused
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True  # not ours to inspect: it exists
    return True


def gone_here() -> dict[str, str]:
    """The leases of this host whose process is gone: {lease id: why, naming the pid and host}."""
    dead = {}
    for lease_id, pid, host, started in ProcessLease.objects.filter(host=this_host()).values_list(
        "id", "pid", "host", "started_at"
    ):
        if not process_alive(pid, started):
            dead[lease_id] = f"its process is gone (pid {pid} on host {host})"
    return dead


def new_id(role: str) -> str:
    host = socket.gethostname()[:30]
    return f"{role}-{host}-{os.getpid()}-{secrets.token_hex(3)}"[:64]


class Lease:
    """This process's lease: `start()` writes it and starts renewing it; `stop()` ends it (and deletes it,
    so nobody waits WORKER_LEASE seconds to know). `on_renew` runs after each renewal in the renewing
    thread (the workers' recovery of lost work); its errors are logged, never fatal."""

    def __init__(self, role: str, on_renew: Callable[[], None] | None = None, lease_id: str | None = None):
        self.role = role
        self.id = lease_id or new_id(role)
        self.on_renew = on_renew
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Lease:
        global _current
        now = timezone.now()
        ProcessLease.objects.update_or_create(
            id=self.id,
            defaults={
                "role": self.role,
                "host": socket.gethostname()[:200],
                "pid": os.getpid(),
                "started_at": now,
                "renewed_at": now,
            },
        )
        self._thread = threading.Thread(target=self._run, name=f"siyu-lease-{self.role}", daemon=True)
        self._thread.start()
        _current = self
        return self

    def renew(self) -> None:
        now = timezone.now()
        if not ProcessLease.objects.filter(pk=self.id).update(renewed_at=now):
            # another process found it expired (this one stalled longer than the lease) and took its work
            # back; what was running here may now run elsewhere too
            log.error("the lease %s had expired and was taken back; renewing it", self.id)
            ProcessLease.objects.create(
                id=self.id, role=self.role, host=socket.gethostname()[:200], pid=os.getpid(),
                started_at=now, renewed_at=now,
            )  # fmt: skip

    def _run(self) -> None:
        from django.db import InterfaceError, OperationalError, connections

        every = max(lease_seconds() / 4, 0.2)
        try:
            while not self._stop.wait(every):
                try:
                    _check_connection()
                    self.renew()
                    if self.on_renew is not None:
                        self.on_renew()
                except (OperationalError, InterfaceError) as exc:  # the database away: one line, tried again
                    log.warning(
                        "renewing the lease %s failed: %s",
                        self.id,
                        (str(exc).strip().splitlines() or [type(exc).__name__])[0],
                    )
                    connections.close_all()
                except Exception:  # noqa: BLE001 - a database hiccup; the next renewal tries again
                    log.exception("renewing the lease %s failed", self.id)
                    connections.close_all()
        finally:
            connections.close_all()

    def stop(self) -> None:
        global _current
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        _check_connection()
        ProcessLease.objects.filter(pk=self.id).delete()
        if _current is self:
            _current = None


def _check_connection() -> None:
    """This thread's connection may have been dropped by the database since it was last used (PostgreSQL
    restarting): have it checked on its next use (CONN_HEALTH_CHECKS) and replaced if it is gone. Not inside
    a transaction, which a new connection could not continue."""
    from django.db import connection

    if not connection.in_atomic_block:
        connection.close_if_unusable_or_obsolete()


def serve_web_only() -> None:
    """This process is a web server without a worker: jobs it starts wait in the queue for the workers,
    even when none is alive yet, rather than running in a request's thread."""
    global _web_only
    _web_only = True


def runs_jobs_itself() -> bool:
    """With the Spark engine: whether a job started here with no preference runs here — when this process
    may run jobs and no worker is alive to take it."""
    return not _web_only and not live_workers().exists()


def current_id() -> str:
    """The lease this process holds ("" when none)."""
    return _current.id if _current is not None else ""


def enable_for_commands() -> None:
    """A CLI process (siyu.cli.main): a job it runs itself holds a lease meanwhile, so that workers on other
    hosts know it is alive."""
    global _enabled
    _enabled = True


@contextmanager
def holding_lease():
    """Hold a COMMAND lease while this process runs jobs itself (a CLI command, or a web-only server's
    thread), unless it holds a worker's lease for its whole life or is not a siyu command (tests calling
    the commands directly). Threads running jobs at once share one lease, ended by the last one."""
    global _held
    with _held_lock:
        if not _enabled or (_current is not None and _held == 0):
            mine = False
        else:
            mine = True
            if _held == 0:
                Lease(ProcessLease.Role.COMMAND).start()
            _held += 1
    try:
        yield
    finally:
        if mine:
            with _held_lock:
                _held -= 1
                if _held == 0 and _current is not None:
                    _current.stop()
