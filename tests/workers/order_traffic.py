"""What the control-plane fault tests (test_pg_restart.py, test_pg_down.py) share: an integrator pushing
order batches through the API with Idempotency-Keys while `siyu serve` runs, the server started and stopped,
and the checks that nothing was left running and every accepted order landed once."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Integrator(threading.Thread):
    """Each batch of orders under its own Idempotency-Key, sent again on a 5xx, a 409 saying the first try is
    still being processed, or a connection error, until it is answered 2xx; every third batch answered is
    sent once more (its answer "lost"), which must be a replay. Every try is noted with when it started and
    ended. It stops after `batches` batches (None: once `enough` is set), and gives up on one at `deadline`."""

    def __init__(self, port: int, token: str, deadline: float, *, source: str, per_batch: int,
                 batches: int | None = None, timeout: float = 20, pause: float = 0.1):  # fmt: skip
        super().__init__(daemon=True)
        self.enough = threading.Event()
        self.url = f"http://127.0.0.1:{port}/api/orders/batch"
        self.token, self.deadline, self.timeout, self.pause = token, deadline, timeout, pause
        self.source, self.per_batch, self.batches = source, per_batch, batches
        self.accepted: dict[str, list[str]] = {}  # key -> the order ids of the batch answered 2xx
        self.unanswered: list[str] = []
        self.replays: list[str] = []
        self.tries: list[tuple[str, float, float, int, str]] = []  # key, started, ended, status (0: none), detail

    def post(self, key: str, body: bytes) -> tuple[int, dict, dict]:
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Authorization": f"Bearer {self.token}", "Idempotency-Key": key, "Content-Type": "application/json",
        })  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
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
                self.tries.append((key, started, time.monotonic(), status, str(answer.get("detail", ""))[:200]))
                if 200 <= status < 300:
                    return status, headers, answer
                if status < 500 and not (status == 409 and "still being processed" in str(answer)):
                    return status, headers, answer  # a client error: not retried
            time.sleep(0.3)
        return None

    def run(self):
        n = 0
        while (n < self.batches) if self.batches is not None else not self.enough.is_set():
            ids = [f"{self.source}-{n}-{i}" for i in range(self.per_batch)]
            orders = [
                {"source": self.source, "order_id": order_id, "phone": f"139{n:04d}{i:04d}", "amount": "12.50",
                 "status": "交易成功", "order_time": "2026-03-01T10:00:00+08:00"}
                for i, order_id in enumerate(ids)
            ]  # fmt: skip
            body = json.dumps({"orders": orders}).encode()
            key = f"batch-{n}"
            answered = self.send(key, body)
            if answered is None or not 200 <= answered[0] < 300:
                self.unanswered.append(f"{key}: {answered}")
            else:
                assert answered[2]["ids"] == ids
                self.accepted[key] = ids
                if n % 3 == 0:
                    again = self.send(key, body)
                    if again is not None and again[1].get("Idempotent-Replayed") == "true":
                        self.replays.append(key)
            n += 1
            time.sleep(self.pause)

    def log(self, since: float = 0.0) -> str:
        """Every try, its times relative to `since`."""
        return "\n".join(f"{key} {started - since:+.1f}s..{ended - since:+.1f}s {status} {detail}"
                         for key, started, ended, status, detail in self.tries)  # fmt: skip


@contextlib.contextmanager
def serving(cluster, home: str, env: dict, log_path):
    """`siyu serve` with its worker on a free port: yields (port, the output's lines so far). On leaving it is
    stopped with SIGTERM and must exit 0."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "siyu.cli", "serve", "--port", str(port)],
        env=cluster.env(home, **env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    up = threading.Event()

    def read():
        with log_path.open("w") as log:
            for line in server.stdout:
                log.write(line)
                log.flush()
                lines.append(line.rstrip("\n"))
                if "Siyu is running at" in line:
                    up.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert up.wait(90), "siyu serve did not start:\n" + "\n".join(lines)
        yield port, lines
        assert server.poll() is None, f"siyu serve died ({server.returncode}):\n" + "\n".join(lines)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode == 0, "\n".join(lines)


def assert_serving_again(cluster, port: int, naps, marker, home: str, env: dict) -> list[tuple]:
    """After the fault: a page answers, the worker runs a new job, the jobs started before it ran or say why
    they stopped, and none is left running or waiting. Returns every job's (kind, status, error)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=10) as response:
        assert response.status == 200
    ((after, _),) = json.loads(cluster.python(SUBMIT, 1, 0, marker, home=home, **env))
    cluster.wait_job(after, lambda job: job["status"] == "done", timeout=30)
    for job_id, _ in naps:
        job = cluster.wait_job(job_id, lambda job: job["status"] in ("done", "failed"), timeout=30)
        assert job["status"] == "done" or job["error"], job
    deadline = time.monotonic() + 40
    while cluster.rows("SELECT id FROM core_job WHERE status IN ('running', 'queued')"):
        assert time.monotonic() < deadline, "\n".join(map(str, cluster.rows(
            "SELECT kind, status, message, attempts, finished_at - started_at, now() - started_at, error "
            "FROM core_job ORDER BY created_at"
        )))  # fmt: skip
        time.sleep(0.5)
    jobs = cluster.rows("SELECT kind, status, error FROM core_job")
    assert all(status == "done" or error for _, status, error in jobs), jobs
    return jobs


def assert_landed_once(cluster, integrator: Integrator, home: str, env: dict) -> None:
    """One stored answer per accepted key, and every accepted order in the warehouse exactly once."""
    keys = cluster.rows("SELECT key, status_code FROM api_idempotencykey WHERE endpoint = 'POST /api/orders/batch'")
    assert sorted(keys) == sorted((key, 202) for key in integrator.accepted), integrator.log()
    counted = json.loads(cluster.python(COUNT, integrator.source, home=home, **env))
    sent = sum(len(ids) for ids in integrator.accepted.values())
    assert counted == {"rows": sent, "keys": sent}, (counted, sent)
