"""The control plane's PostgreSQL going down for real (~10 s) while `siyu serve` takes API batches and runs
jobs (docs/faults.md, "PostgreSQL down for a while"). test_pg_restart.py drops every connection of a server
that stays up; here the server itself stops (`pg_ctl stop -m fast`) and starts again, so for ten seconds no
new connection can be made at all.

The test starts a PostgreSQL server of its own (initdb in a temporary directory, as the `postgres` OS user,
on a free port, trust auth, its socket in that directory): the machine's server is never touched. It is
skipped, saying why, when the PostgreSQL binaries or the `postgres` user are missing. It needs no
DATABASE_URL, so it is marked own_home and runs once in `make test` (the SQLite pass).

An integrator pushes batches of orders with Idempotency-Keys, retrying on 5xx and connection errors; the
server's worker runs jobs. What a user would notice is checked: requests while the database is down get a
quick 503 (no hang, no bare 500), the server and its worker keep serving, every batch answered 2xx is in the
warehouse once, a resent key is a replay, no key is left "in progress", and no job is left running."""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from order_traffic import (
    SETUP,
    SUBMIT,
    Integrator,
    assert_landed_once,
    assert_serving_again,
    free_port,
    serving,
)
from test_worker_processes import WAIT, Cluster

pytestmark = [pytest.mark.slow, pytest.mark.own_home]

PER_BATCH = 50
AFTER_SECONDS = 6  # batches keep coming this long after the database is back
SOURCE = "pgdown"
DOWN_SECONDS = 10
TIMEOUT = 20  # what the integrator waits for an answer; a request that takes longer "hung"


class PrivatePostgres:
    """A PostgreSQL server of this test's own: its data, socket and log in a temporary directory owned by
    the `postgres` OS user, listening on 127.0.0.1 on a free port."""

    def __init__(self, bindir: str, as_postgres: list[str]):
        self.bindir = bindir
        self.as_postgres = as_postgres
        self.root = Path(tempfile.mkdtemp(prefix="siyu-pgdown-"))
        user = pwd.getpwnam("postgres")
        os.chown(self.root, user.pw_uid, user.pw_gid)
        self.root.chmod(0o700)
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/siyu"
        self.admin_url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, tool: str, *args: str, timeout: float = 120) -> None:
        out = subprocess.run(
            [*self.as_postgres, f"{self.bindir}/{tool}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert out.returncode == 0, f"{tool} {' '.join(args)}: {out.stdout}\n{out.stderr}\n{self.log()}"

    def log(self) -> str:
        try:
            return subprocess.run(
                [*self.as_postgres, "tail", "-n", "30", str(self.root / "server.log")],
                capture_output=True,
                text=True,
            ).stdout
        except OSError:
            return ""

    def init(self) -> None:
        self.run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60"
        )
        self.run(
            "pg_ctl", "start", "-w", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options
        )

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "stop", "-w", "-D", str(self.data), "-m", mode)

    def remove(self) -> None:
        subprocess.run(
            [
                *self.as_postgres,
                f"{self.bindir}/pg_ctl",
                "stop",
                "-w",
                "-D",
                str(self.data),
                "-m",
                "immediate",
            ],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_pg():
    bindirs = [d for d in sorted(glob.glob("/usr/lib/postgresql/*/bin")) if os.access(f"{d}/initdb", os.X_OK)]
    if not bindirs or not os.access(f"{bindirs[-1]}/pg_ctl", os.X_OK):
        pytest.skip("needs the PostgreSQL server binaries (initdb, pg_ctl in /usr/lib/postgresql/*/bin)")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("needs a `postgres` OS user to run a private PostgreSQL server as")
    if pwd.getpwuid(os.geteuid()).pw_name == "postgres":
        as_postgres = []
    elif os.geteuid() == 0 and shutil.which("runuser"):
        as_postgres = ["runuser", "-u", "postgres", "--"]
    else:
        pytest.skip("needs to run as root (to start PostgreSQL as the `postgres` user) or as that user")
    server = PrivatePostgres(bindirs[-1], as_postgres)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.remove()


def test_the_control_plane_down_for_ten_seconds_under_load_answers_503_loses_nothing_and_does_nothing_twice(
    private_pg, tmp_path
):
    import psycopg

    with psycopg.connect(private_pg.admin_url, autocommit=True) as admin:
        admin.execute('CREATE DATABASE "siyu"')
    cluster = Cluster(private_pg.url, tmp_path)
    home = "web"
    duckdb = {
        "SIYU_WAREHOUSE": str(tmp_path / home / "warehouse.duckdb"),
        "SIYU_WORKER_LEASE": 30,
        "SIYU_RESOLVE_AFTER_API_SECONDS": 1,  # the resolves the batches ask for run across the downtime too
    }
    out = subprocess.run(
        [sys.executable, "-m", "siyu.cli", "migrate", "-v", "0"], env=cluster.env("migrate"),
        capture_output=True, text=True, timeout=WAIT * 2,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    token = cluster.python(SETUP, home=home, **duckdb)
    with serving(cluster, home, duckdb, tmp_path / "server.log") as (port, lines):
        marker = tmp_path / "naps.txt"
        # jobs for the worker, one of them running when the database stops
        naps = json.loads(cluster.python(SUBMIT, 2, 3, marker, home=home, **duckdb))
        integrator = Integrator(port, token, time.monotonic() + 3 + DOWN_SECONDS + 60, source=SOURCE,
                                per_batch=PER_BATCH, timeout=TIMEOUT, pause=0.05)  # fmt: skip
        integrator.start()

        time.sleep(3)
        down = time.monotonic()
        private_pg.stop("fast")
        time.sleep(DOWN_SECONDS)
        restarted = time.monotonic()
        private_pg.start()
        back = time.monotonic()
        time.sleep(AFTER_SECONDS)
        integrator.enough.set()
        integrator.join(timeout=90)
        assert not integrator.is_alive()
        output = "\n".join(lines)
        tries = integrator.log(since=down)
        # while the database was down: quick 503s, never a hang, a bare 500 or a dropped connection
        during = [t for t in integrator.tries if down + 1 < t[1] and t[2] < restarted]
        assert during, tries
        assert {t[3] for t in during} == {503}, tries
        assert all(t[2] - t[1] < TIMEOUT - 5 for t in integrator.tries), tries
        assert not any(t[3] == 0 or t[3] == 500 for t in integrator.tries), tries
        # every batch was accepted in the end, a resent key being a replay
        assert not integrator.unanswered, f"{integrator.unanswered}\n{tries}\n{output[-6000:]}"
        assert any(t[1] > back for t in integrator.tries if t[3] == 202), tries  # batches landed after it, too
        assert len(integrator.replays) == len(range(0, len(integrator.accepted), 3)), (integrator.replays, tries)
        assert "the task worker stopped" not in output, output
        # answers resume: a page, and the worker runs a new job; none is left running or waiting
        assert_serving_again(cluster, port, naps, marker, home, duckdb)

    # one stored answer per key (none left "in progress"), every accepted order in the warehouse once
    assert_landed_once(cluster, integrator, home, duckdb)
