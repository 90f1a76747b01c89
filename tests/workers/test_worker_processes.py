"""Many `siyu worker` processes on one PostgreSQL control plane, as real processes: they share the queue and
never run a job twice; a worker killed mid-job leaves the job to another one, up to a limit; workers starting
together leave one waiting run per schedule; a CLI command queues its job when workers are alive and runs it
itself when none is.

The processes run with the Spark engine set (any number of workers) and a job kind that needs no warehouse
(siyu_workers_testapp: a Spark session asked for fails at once, so no JVM starts). Each worker has its own
SIYU_HOME, as it would on its own host; they share the database and the secrets. Runs when DATABASE_URL names
a PostgreSQL server that answers (make test's PostgreSQL pass); skipped otherwise.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

import siyu

pytestmark = pytest.mark.slow

SRC = Path(siyu.__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
SECRETS = {
    "SIYU_SECRET_KEY": secrets.token_hex(32),
    "SIYU_PII_KEY": secrets.token_hex(32),
    "SIYU_MATCH_KEY": secrets.token_hex(32),
}
WAIT = 120  # seconds a process may take to do what a step waits for, on a loaded machine


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


class Worker:
    """A `siyu worker` process, its output read as it comes."""

    def __init__(self, cluster, name: str, extra_env: dict):
        self.name = name
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "siyu.cli", "worker", "--interval", "0.2"],
            env=cluster.env(name, **extra_env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                self._reader.join(timeout=5)
                if any(text in line for line in self.lines):
                    return
                pytest.fail(f"worker {self.name} exited with {self.proc.returncode}:\n{self.output}")
            time.sleep(0.1)
        pytest.fail(f"worker {self.name} did not say {text!r}:\n{self.output}")

    @property
    def lease(self) -> str:
        self.wait_for("is running")
        line = next(line for line in self.lines if "is running" in line)
        return line.split("Siyu worker ", 1)[1].split(" ", 1)[0]

    def stop(self, timeout: float = WAIT) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)


class Cluster:
    def __init__(self, db_url: str, tmp_path: Path):
        self.db_url = db_url
        self.tmp = tmp_path
        self.workers: list[Worker] = []

    def env(self, home: str, **extra) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SIYU_")) and k != "DATABASE_URL"}
        env.update(SECRETS)
        env.update(
            {
                "DATABASE_URL": self.db_url,
                "SIYU_HOME": str(self.tmp / home),
                "SIYU_WAREHOUSE": "local[1]",  # the Spark engine: workers share the data plane
                "SIYU_WORKER_LEASE": "10",
                "DJANGO_SETTINGS_MODULE": "siyu_workers_settings",
                "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)]),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def worker(self, name: str, **extra_env) -> Worker:
        worker = Worker(self, name, extra_env)
        self.workers.append(worker)
        return worker

    def python(self, code: str, *args, home: str = "cli", **extra_env) -> str:
        out = subprocess.run(
            [sys.executable, "-c", code, *map(str, args)],
            env=self.env(home, **extra_env),
            capture_output=True,
            text=True,
            timeout=WAIT * 2,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""

    def rows(self, sql: str, *params) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.db_url) as conn:
            return conn.execute(sql, params).fetchall()

    def job(self, job_id: str) -> dict:
        (row,) = self.rows("SELECT status, worker, attempts, error, message FROM core_job WHERE id = %s", job_id)
        return dict(zip(("status", "worker", "attempts", "error", "message"), row, strict=True))

    def wait_job(self, job_id: str, test, timeout: float = WAIT) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if test(job):
                return job
            time.sleep(0.2)
        pytest.fail(f"job {job_id} stayed {self.job(job_id)}; workers:\n" + "\n".join(w.output for w in self.workers))


@pytest.fixture
def cluster(tmp_path):
    import psycopg

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        pytest.skip("runs on PostgreSQL: DATABASE_URL names none (make test's PostgreSQL pass sets it)")
    base = urlsplit(url).path.lstrip("/") or "siyu"
    name = f"{base}_procs_{secrets.token_hex(3)}"
    try:
        admin = psycopg.connect(_with_db(url, "postgres"), autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server answers: {exc}")
    admin.execute(f'CREATE DATABASE "{name}"')
    cluster = Cluster(_with_db(url, name), tmp_path)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "siyu.cli", "migrate", "-v", "0"], env=cluster.env("migrate"),
            capture_output=True, text=True, timeout=WAIT * 2,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        yield cluster
    finally:
        for worker in cluster.workers:
            if worker.proc.poll() is None:
                worker.kill()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


SUBMIT = """
import json, sys
import django
django.setup()
from siyu.core import leases
from siyu.core.owner import submit_job
leases.enable_for_commands()  # as siyu.cli.main does
count, seconds, marker = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
jobs = [submit_job("nap", {"seconds": seconds, "marker": marker}) for _ in range(count)]
print(json.dumps([[str(job.pk), job.finished, job.worker] for job in jobs]))
"""


def _marker_runs(path: Path) -> list[tuple[str, int]]:
    if not path.exists():
        return []
    return [(line.split()[0], int(line.split()[1])) for line in path.read_text().splitlines() if line.strip()]


def test_workers_share_the_queue_never_run_a_job_twice_and_stop_cleanly(cluster, tmp_path):
    workers = [cluster.worker(f"host{i}") for i in range(3)]
    leases = {w.lease for w in workers}  # each is up
    assert len(leases) == 3
    marker = tmp_path / "runs.txt"

    submitted = json.loads(cluster.python(SUBMIT, 24, 0.05, marker))
    assert all(not finished for _, finished, _ in submitted)  # handed to the workers, not run by the command
    ids = [job_id for job_id, _, _ in submitted]
    for job_id in ids:
        cluster.wait_job(job_id, lambda job: job["status"] in ("done", "failed"))

    runs = _marker_runs(marker)
    assert sorted(job_id for job_id, _ in runs) == sorted(ids)  # each ran exactly once
    assert {pid for _, pid in runs} <= {w.proc.pid for w in workers}
    jobs = [cluster.job(job_id) for job_id in ids]
    assert {job["status"] for job in jobs} == {"done"}
    assert {job["attempts"] for job in jobs} == {1}
    assert {job["worker"] for job in jobs} <= leases
    claimed = cluster.rows(
        "SELECT jsonb_array_length(worker_ids::jsonb) FROM django_tasks_database_dbtaskresult "
        "WHERE args_kwargs::jsonb -> 'args' ->> 0 = ANY(%s)",
        ids,
    )
    assert sorted(n for (n,) in claimed) == [1] * len(ids)  # one claim per run

    for worker in workers:
        assert worker.stop() == 0, worker.output
        assert "Stopped." in worker.output
    assert cluster.rows("SELECT id FROM core_processlease") == []  # leases given up on the way out


def test_a_job_of_a_killed_worker_runs_again_on_another_one(cluster, tmp_path):
    marker = tmp_path / "runs.txt"
    first = cluster.worker("host-a", SIYU_WORKER_LEASE=3)
    lease_a = first.lease
    ((job_id, finished, _),) = json.loads(cluster.python(SUBMIT, 1, 8, marker, SIYU_WORKER_LEASE=3))
    assert not finished
    cluster.wait_job(job_id, lambda job: job["status"] == "running" and job["worker"] == lease_a)
    first.kill()  # SIGKILL mid-job: no chance to say anything

    second = cluster.worker("host-b", SIYU_WORKER_LEASE=3)
    lease_b = second.lease
    job = cluster.wait_job(job_id, lambda job: job["status"] in ("done", "failed"))
    assert job["status"] == "done", job
    assert job["worker"] == lease_b and job["attempts"] == 2
    runs = _marker_runs(marker)
    assert [pid for _, pid in runs] == [first.proc.pid, second.proc.pid]  # started twice, once per worker
    ((workers_ids,),) = cluster.rows(
        "SELECT worker_ids FROM django_tasks_database_dbtaskresult WHERE args_kwargs::jsonb -> 'args' ->> 0 = %s", job_id
    )
    assert list(workers_ids) == [lease_a, lease_b]
    assert not cluster.rows("SELECT id FROM core_processlease WHERE id = %s", lease_a)  # the dead lease is gone
    assert second.stop() == 0


def test_a_job_lost_too_often_fails_saying_why(cluster, tmp_path):
    marker = tmp_path / "runs.txt"
    env = {"SIYU_WORKER_LEASE": 3, "SIYU_WORKER_MAX_ATTEMPTS": 2}
    job_id = None  # queued once the first worker is alive, so that it is handed over, not run by the command
    for attempt, name in enumerate(("host-a", "host-b"), start=1):
        worker = cluster.worker(name, **env)
        lease = worker.lease
        if attempt == 1:
            ((job_id, finished, _),) = json.loads(cluster.python(SUBMIT, 1, 60, marker, **env))
            assert not finished
        cluster.wait_job(job_id, lambda job, lease=lease: job["status"] == "running" and job["worker"] == lease)
        worker.kill()
    third = cluster.worker("host-c", **env)
    third.wait_for("is running")
    job = cluster.wait_job(job_id, lambda job: job["status"] == "failed")
    assert "lost 2 times" in job["error"] and "SIYU_WORKER_MAX_ATTEMPTS=2" in job["error"], job
    assert "interrupted" in job["error"]
    assert len(_marker_runs(marker)) == 2  # not started a third time
    ((status, exception),) = cluster.rows(
        "SELECT status, exception_class_path FROM django_tasks_database_dbtaskresult "
        "WHERE args_kwargs::jsonb -> 'args' ->> 0 = %s",
        job_id,
    )
    assert (status, exception) == ("FAILED", "siyu.core.errors.WorkerLost")
    assert third.stop() == 0


PERIODIC = (
    "siyu.loyalty.tasks.loyalty_upkeep",
    "siyu.loyalty.tasks.mirror_loyalty_task",
    "siyu.surveys.tasks.mirror_surveys_task",
    "siyu.core.tasks.enforce_retention",
    "siyu.segments.tasks.scheduled_refresh",
    "siyu.engagement.journeys.tasks.tick_journeys",
    "siyu.engagement.messaging.tasks.deliver_outbox",
)


def test_workers_starting_together_leave_one_waiting_run_per_schedule_and_run_each_once(cluster):
    workers = [cluster.worker(f"host{i}") for i in range(4)]  # all at once
    for worker in workers:
        worker.wait_for("is running")
    # let what was due at start be run
    deadline = time.monotonic() + WAIT
    while cluster.rows(
        "SELECT id FROM django_tasks_database_dbtaskresult WHERE status = 'RUNNING' OR (status = 'READY' AND run_after <= now())"
    ):
        assert time.monotonic() < deadline, "the workers did not run what was due"
        time.sleep(0.2)
    rows = cluster.rows("SELECT task_path, status FROM django_tasks_database_dbtaskresult")
    waiting = {path: sum(1 for p, s in rows if p == path and s == "READY") for path, _ in rows}
    runs = {path: sum(1 for p, s in rows if p == path and s != "READY") for path, _ in rows}
    assert all(n <= 1 for n in waiting.values()), waiting
    assert all(n <= 1 for n in runs.values()), runs  # what was due at start ran once, not once per worker
    assert set(PERIODIC) <= set(runs), runs  # each was scheduled
    # the daily ones wait for their next time, once each
    assert waiting["siyu.loyalty.tasks.loyalty_upkeep"] == 1 and runs["siyu.loyalty.tasks.loyalty_upkeep"] == 1
    assert waiting["siyu.segments.tasks.scheduled_refresh"] == 1
    assert waiting["siyu.core.tasks.enforce_retention"] == 1
    for worker in workers:
        assert worker.stop() == 0, worker.output


def test_a_command_queues_for_live_workers_and_runs_the_job_itself_when_none_is(cluster, tmp_path):
    marker = tmp_path / "runs.txt"
    ((job_id, finished, worker),) = json.loads(cluster.python(SUBMIT, 1, 0, marker))
    assert finished and worker.startswith("command-")  # no worker: run in the command, under its own lease
    assert cluster.job(job_id)["status"] == "done"
    assert _marker_runs(marker)[-1][1] != os.getpid()
    assert cluster.rows("SELECT id FROM core_processlease") == []  # given up when the job ended

    alive = cluster.worker("host-a")
    lease = alive.lease
    ((job_id, finished, _),) = json.loads(cluster.python(SUBMIT, 1, 0, marker))
    assert not finished
    assert cluster.wait_job(job_id, lambda job: job["status"] == "done")["worker"] == lease
    assert alive.stop() == 0


SCHEDULE_AT_ONCE = """
import sys, time
import django
django.setup()
from django.utils import timezone
from siyu.core.tasks import schedule_once
from siyu.loyalty.tasks import loyalty_upkeep
from siyu.segments.actions import schedule_refresh
go, rounds = float(sys.argv[1]), int(sys.argv[2])
hour = timezone.now().replace(minute=0, second=0, microsecond=0) + timezone.timedelta(days=30)
for r in range(rounds):
    time.sleep(max(go + r * 0.3 - time.time(), 0))  # every process asks at the same instant
    # each round asks for an earlier time than the last, which the waiting runs do not cover: one new run
    schedule_once(loyalty_upkeep, hour - timezone.timedelta(hours=r))
    schedule_refresh()
print("ok")
"""


def test_processes_scheduling_at_the_same_instant_leave_one_waiting_run(cluster):
    # no worker: only the scheduling code, in six processes released together, round after round
    rounds = 20
    go = time.time() + 25  # after every process has started Django
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SCHEDULE_AT_ONCE, str(go), str(rounds)], env=cluster.env(f"host{i}"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        for i in range(6)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=WAIT * 2)
        assert proc.returncode == 0 and out.strip() == "ok", err
    rows = cluster.rows(
        "SELECT task_path, count(*), count(DISTINCT run_after) FROM django_tasks_database_dbtaskresult "
        "WHERE status = 'READY' GROUP BY 1"
    )
    assert {path: (n, times) for path, n, times in rows} == {
        "siyu.loyalty.tasks.loyalty_upkeep": (rounds, rounds),  # one per round, not one per process
        "siyu.segments.tasks.scheduled_refresh": (1, 1),
    }


def test_a_web_only_server_runs_beside_the_workers_and_says_who_runs_its_jobs(cluster):
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    def serve():
        return subprocess.Popen(
            [sys.executable, "-m", "siyu.cli", "serve", "--port", str(port), "--no-worker"],
            env=cluster.env("web"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip

    def wait_up(proc) -> list[str]:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "Siyu is running at" in line:
                return lines
        pytest.fail(f"siyu serve --no-worker exited ({proc.wait()}): {''.join(lines)}")

    web = serve()
    try:
        output = "".join(wait_up(web))
        assert "no siyu worker is running against this control plane" in output
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=30) as response:
            assert response.status == 200
        assert cluster.rows("SELECT id FROM core_processlease") == []  # a web server is no worker
    finally:
        web.send_signal(signal.SIGTERM)
        rest, _ = web.communicate(timeout=60)
    assert web.returncode == 0 and "Stopped." in rest

    worker = cluster.worker("host-a")
    lease = worker.lease
    web = serve()
    try:
        assert f"Jobs run on 1 worker(s): {lease}." in "".join(wait_up(web))
    finally:
        web.send_signal(signal.SIGTERM)
        web.communicate(timeout=60)
    assert worker.stop() == 0
