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
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from test_worker_processes import WAIT, Cluster

pytestmark = [pytest.mark.slow, pytest.mark.own_home]

PER_BATCH = 50
AFTER_SECONDS = 6  # batches keep coming this long after the database is back
SOURCE = "pgdown"
DOWN_SECONDS = 10
TIMEOUT = 20  # what the integrator waits for an answer; a request that takes longer "hung"

SETUP = """
import django
django.setup()
from siyu.api.actions import create_token
from siyu.staff.actions import create_user
from siyu.staff.models import Role
print(create_token(create_user("integrator", "a-long-password-1", Role.ADMIN), "push"))
"""

SUBMIT = """
import json, sys
import django
django.setup()
from siyu.core.owner import submit_job
jobs = [submit_job("nap", {"seconds": float(sys.argv[2]), "marker": sys.argv[3]}) for _ in range(int(sys.argv[1]))]
print(json.dumps([[str(job.pk), job.status] for job in jobs]))
"""

COUNT = """
import json, sys
import django
django.setup()
from siyu.warehouse import raw_connection
con = raw_connection()
rows, keys = con.execute("SELECT count(*), count(DISTINCT order_key) FROM orders WHERE source = ?", [sys.argv[1]]).fetchone()
print(json.dumps({"rows": rows, "keys": keys}))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
        self.port = _free_port()
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


class Integrator(threading.Thread):
    """Each batch of orders under its own Idempotency-Key, sent again on a 5xx, a 409 saying the first try is
    still being processed, or a connection error, until it is answered 2xx; every third batch answered is
    sent once more (its answer "lost"), which must be a replay. Every try is noted with when it started and
    ended. It starts no new batch once `enough` is set, and gives up on one at `deadline`."""

    def __init__(self, port: int, token: str, deadline: float):
        super().__init__(daemon=True)
        self.enough = threading.Event()
        self.url = f"http://127.0.0.1:{port}/api/orders/batch"
        self.token = token
        self.deadline = deadline
        self.accepted: dict[str, list[str]] = {}
        self.unanswered: list[str] = []
        self.replays: list[str] = []
        self.tries: list[
            tuple[str, float, float, int, str]
        ] = []  # key, started, ended, status (0: no answer), detail

    def post(self, key: str, body: bytes) -> tuple[int, dict, dict]:
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Authorization": f"Bearer {self.token}", "Idempotency-Key": key, "Content-Type": "application/json",
        })  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                return response.status, dict(response.headers), json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), {"detail": exc.read().decode(errors="replace")[:300]}

    def send(self, key: str, body: bytes) -> tuple[int, dict, dict] | None:
        while time.monotonic() < self.deadline:
            started = time.monotonic()
            try:
                status, headers, answer = self.post(key, body)
            except (OSError, urllib.error.URLError) as exc:
                self.tries.append((key, started, time.monotonic(), 0, str(exc)))
                status = 0
            else:
                self.tries.append(
                    (key, started, time.monotonic(), status, str(answer.get("detail", ""))[:200])
                )
                if 200 <= status < 300:
                    return status, headers, answer
                if status < 500 and not (status == 409 and "still being processed" in str(answer)):
                    return status, headers, answer  # a client error: not retried
            time.sleep(0.5)
        return None

    def run(self):
        n = -1
        while not self.enough.is_set():
            n += 1
            ids = [f"down-{n}-{i}" for i in range(PER_BATCH)]
            orders = [
                {"source": SOURCE, "order_id": order_id, "phone": f"138{n:04d}{i:04d}", "amount": "9.90",
                 "status": "交易成功", "order_time": "2026-03-01T10:00:00+08:00"}
                for i, order_id in enumerate(ids)
            ]  # fmt: skip
            body = json.dumps({"orders": orders}).encode()
            key = f"batch-{n}"
            answered = self.send(key, body)
            if answered is None or not 200 <= answered[0] < 300:
                self.unanswered.append(f"{key}: {answered}")
                continue
            assert answered[2]["ids"] == ids
            self.accepted[key] = ids
            if n % 3 == 0:
                again = self.send(key, body)
                if again is not None and again[1].get("Idempotent-Replayed") == "true":
                    self.replays.append(key)
            time.sleep(0.05)


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
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "siyu.cli", "serve", "--port", str(port)],
        env=cluster.env(home, **duckdb), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    up = threading.Event()

    def read():
        with (tmp_path / "server.log").open("w") as log:
            for line in server.stdout:
                log.write(line)
                log.flush()
                lines.append(line.rstrip("\n"))
                if "Siyu is running at" in line:
                    up.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert up.wait(90), "siyu serve did not start:\n" + "\n".join(lines)
        marker = tmp_path / "naps.txt"
        # jobs for the worker, one of them running when the database stops
        naps = json.loads(cluster.python(SUBMIT, 2, 3, marker, home=home, **duckdb))
        integrator = Integrator(port, token, deadline=time.monotonic() + 3 + DOWN_SECONDS + 60)
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
        tries = "\n".join(
            f"{key} {started - down:+.1f}s..{ended - down:+.1f}s {status} {detail}"
            for key, started, ended, status, detail in integrator.tries
        )
        assert server.poll() is None, f"siyu serve died ({server.returncode}):\n{output}"
        # while the database was down: quick 503s, never a hang, a bare 500 or a dropped connection
        during = [t for t in integrator.tries if down + 1 < t[1] and t[2] < restarted]
        assert during, tries
        assert {t[3] for t in during} == {503}, tries
        assert all(t[2] - t[1] < TIMEOUT - 5 for t in integrator.tries), tries
        assert not any(t[3] == 0 or t[3] == 500 for t in integrator.tries), tries
        # every batch was accepted in the end, a resent key being a replay
        assert not integrator.unanswered, f"{integrator.unanswered}\n{tries}\n{output[-6000:]}"
        batches = len(integrator.accepted)
        assert any(t[1] > back for t in integrator.tries if t[3] == 202), (
            tries
        )  # batches landed after it, too
        assert len(integrator.replays) == len(range(0, batches, 3)), (integrator.replays, tries)
        assert "the task worker stopped" not in output, output

        # answers resume: a page, and the worker runs a new job
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=10) as response:
            assert response.status == 200
        ((after, _),) = json.loads(cluster.python(SUBMIT, 1, 0, marker, home=home, **duckdb))
        cluster.wait_job(after, lambda job: job["status"] == "done", timeout=30)
        for job_id, _ in naps:
            job = cluster.wait_job(job_id, lambda job: job["status"] in ("done", "failed"), timeout=30)
            assert job["status"] == "done" or job["error"], job
        deadline = time.monotonic() + 40
        while cluster.rows("SELECT id FROM core_job WHERE status IN ('running', 'queued')"):
            assert time.monotonic() < deadline, "\n".join(
                map(
                    str, cluster.rows("SELECT kind, status, message, error FROM core_job ORDER BY created_at")
                )
            )
            time.sleep(0.5)
        jobs = cluster.rows("SELECT kind, status, error FROM core_job")
        assert all(status == "done" or error for _, status, error in jobs), jobs

        # one stored answer per key, none left "in progress"
        keys = cluster.rows(
            "SELECT key, status_code FROM api_idempotencykey WHERE endpoint = 'POST /api/orders/batch'"
        )
        assert sorted(keys) == sorted((key, 202) for key in integrator.accepted), tries
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode == 0, "\n".join(lines)

    counted = json.loads(cluster.python(COUNT, SOURCE, home=home, **duckdb))
    sent = sum(len(ids) for ids in integrator.accepted.values())
    assert counted == {"rows": sent, "keys": sent}, (counted, sent)  # every accepted order, once
