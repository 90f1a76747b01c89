"""The control plane's PostgreSQL dropping every connection while `siyu serve` takes API batches and runs
jobs (docs/faults.md). To its clients a server-side drop looks like a PostgreSQL restart; it is done here by
terminating every backend of the test's own database (`pg_terminate_backend`), a few times, spaced, while a
client pushes batches of orders with Idempotency-Keys, retrying on 5xx and connection errors as a real
integrator would, and the server's worker runs jobs. The server itself is never restarted.

What a user would notice is checked: the server and its worker keep serving, every batch answered 2xx is
in the warehouse once, a retried key does not land twice, and no job is left *running*. Runs when
DATABASE_URL names a PostgreSQL server (make test's PostgreSQL pass); skipped otherwise."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from test_worker_processes import cluster  # noqa: F401 - the fixture: a migrated database of this test's own

pytestmark = pytest.mark.slow

BATCHES = 24
PER_BATCH = 10
DROPS = 4
SOURCE = "pgdrop"

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
import json
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


class Pusher(threading.Thread):
    """An integrator: each batch of orders under its own Idempotency-Key, sent again on a 5xx, a 409 saying
    the first try is still being processed, or a connection error, until it is answered 2xx; every third
    batch answered is sent once more (its answer "lost"), which must be a replay."""

    def __init__(self, port: int, token: str, deadline: float):
        super().__init__(daemon=True)
        self.url = f"http://127.0.0.1:{port}/api/orders/batch"
        self.token = token
        self.deadline = deadline
        self.accepted: dict[str, list[str]] = {}  # key -> the order ids of the batch answered 2xx
        self.unanswered: list[str] = []
        self.retries = 0
        self.replays: list[str] = []
        self.answers: list[str] = []

    def post(self, key: str, body: bytes) -> tuple[int, dict, dict]:
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Authorization": f"Bearer {self.token}", "Idempotency-Key": key, "Content-Type": "application/json",
        })  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, dict(response.headers), json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), {"detail": exc.read().decode(errors="replace")[:300]}

    def send(self, key: str, body: bytes) -> tuple[int, dict, dict] | None:
        while time.monotonic() < self.deadline:
            try:
                status, headers, answer = self.post(key, body)
            except (OSError, urllib.error.URLError) as exc:
                self.answers.append(f"{key}: {exc}")
                status = 0
            else:
                self.answers.append(f"{key}: {status} {answer.get('detail', '')}"[:300])
                if 200 <= status < 300:
                    return status, headers, answer
                if status < 500 and not (status == 409 and "still being processed" in str(answer)):
                    return status, headers, answer  # a client error: not retried
            self.retries += 1
            time.sleep(0.3)
        return None

    def run(self):
        for n in range(BATCHES):
            ids = [f"drop-{n}-{i}" for i in range(PER_BATCH)]
            orders = [
                {"source": SOURCE, "order_id": order_id, "phone": f"139{n:04d}{i:04d}", "amount": "12.50",
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
            time.sleep(0.1)


def test_the_control_plane_dropping_every_connection_under_load_loses_nothing_and_does_nothing_twice(
    cluster,  # noqa: F811
    tmp_path,
):
    import psycopg

    home = "web"
    duckdb = {
        "SIYU_WAREHOUSE": str(tmp_path / home / "warehouse.duckdb"),
        "SIYU_WORKER_LEASE": 30,
        "SIYU_RESOLVE_AFTER_API_SECONDS": 1,  # the resolves the batches ask for run under the drops too
    }
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
    dbname = cluster.db_url.rsplit("/", 1)[1]
    admin_url = cluster.db_url.rsplit("/", 1)[0] + "/postgres"
    try:
        assert up.wait(90), "siyu serve did not start:\n" + "\n".join(lines)
        marker = tmp_path / "naps.txt"
        # jobs for the worker, running across the drops (the command hands them to the server's worker)
        naps = json.loads(cluster.python(SUBMIT, 3, 2, marker, home=home, **duckdb))
        pusher = Pusher(port, token, deadline=time.monotonic() + 45)
        pusher.start()

        terminated = []
        with psycopg.connect(admin_url, autocommit=True) as admin:
            for _ in range(DROPS):
                time.sleep(2.5)
                (count,) = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (dbname,),
                ).fetchone()
                terminated.append(count)
        assert sum(terminated) >= DROPS, terminated  # the server's connections were there to drop

        pusher.join(timeout=60)
        assert not pusher.is_alive()
        output = "\n".join(lines)
        assert server.poll() is None, f"siyu serve died ({server.returncode}):\n{output}"
        assert not pusher.unanswered, "\n".join([*pusher.unanswered, *pusher.answers[-30:], output[-6000:]])
        assert len(pusher.accepted) == BATCHES
        # every retried key answered 2xx once more was a replay, not a second landing
        assert len(pusher.replays) == len(range(0, BATCHES, 3)), (pusher.replays, pusher.answers)
        assert "the task worker stopped" not in output, output

        # answers resume at once after the last drop: a page, and the worker runs a new job
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=10) as response:
            assert response.status == 200
        ((after, _),) = json.loads(cluster.python(SUBMIT, 1, 0, marker, home=home, **duckdb))
        cluster.wait_job(after, lambda job: job["status"] == "done", timeout=30)
        # the jobs running or waiting across the drops ran, or say why they stopped: none left running
        for job_id, _ in naps:
            job = cluster.wait_job(job_id, lambda job: job["status"] in ("done", "failed"), timeout=30)
            assert job["status"] == "done" or job["error"], job
        # the resolves the batches asked for too (each ran, or failed saying why): none left running or waiting
        deadline = time.monotonic() + 40
        while cluster.rows("SELECT id FROM core_job WHERE status IN ('running', 'queued')"):
            assert time.monotonic() < deadline, "\n".join(map(str, cluster.rows(
                "SELECT kind, status, message, attempts, finished_at - started_at, now() - started_at, error "
                "FROM core_job ORDER BY created_at"
            )))  # fmt: skip
            time.sleep(0.5)
        jobs = cluster.rows("SELECT kind, status, error FROM core_job")
        assert {"nap", "resolve"} <= {kind for kind, _, _ in jobs}, jobs
        assert all(status == "done" or error for _, status, error in jobs), jobs

        keys = cluster.rows(
            "SELECT key, status_code FROM api_idempotencykey WHERE endpoint = 'POST /api/orders/batch'"
        )
        assert sorted(keys) == sorted((key, 202) for key in pusher.accepted)  # one stored answer per key
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode == 0, "\n".join(lines)

    counted = json.loads(cluster.python("import sys\n" + COUNT, SOURCE, home=home, **duckdb))
    sent = sum(len(ids) for ids in pusher.accepted.values())
    assert counted == {"rows": sent, "keys": sent}, (counted, sent)  # every accepted order, once
