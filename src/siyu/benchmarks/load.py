"""`siyu bench load`: a local `siyu serve` under load, measured from outside.

1. The demo brand of `--people N` imported and resolved (deterministic stage) into a warehouse kept in
   SIYU_HOME/bench (the one `siyu bench analytics` builds, built once per size); each run starts from a
   fresh copy of it, so the counts below are this run's.
2. A PostgreSQL control plane (`--database-url`, default the local server's `siyu_bench_load`, created
   when missing): migrated, an operator account, an API token and a few rule segments (materialised).
3. `siyu serve` started on a free port with that warehouse and control plane, in a process of its own.
4. locust (siyu.benchmarks.load_users, its own process): one operator alone opens every page (wall and
   server CPU time), then for `--duration` seconds after every operator signed in, `--api-users` API
   clients post events and orders in batches and `--users` operators browse the console.
5. The server stopped (its peak RSS and CPU seconds read first); then the warehouse is counted: every
   accepted event and order must be there, once; and, as the reference, one batch is landed alone.

Prints events/s accepted, per page p50/p95/p99 and requests/s, responses by status, the server's peak RSS,
and the counts, with the targets of issue 17 in the same printout.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from siyu.benchmarks.analytics import prepared_warehouse
from siyu.benchmarks.common import child_main, machine, run_child

TARGET_EVENTS_PER_S = 10_000
TARGET_P95_MS = 200
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/siyu_bench_load"
SOURCE = "loadbench"
OPERATOR = "loadbench-operator"
SEGMENTS = {  # name: rule — what an operator would have defined
    "压测·上海": {"field": "province", "op": "=", "value": "上海"},
    "压测·广东": {"field": "province", "op": "=", "value": "广东"},
    "压测·VIP": {"tag": "VIP"},
}
PROFILE_SAMPLE = 2000
SERVER_START_SECONDS = 600


def run(
    people: int,
    users: int = 50,
    api_users: int = 2,
    duration: float = 60.0,
    batch: int = 5000,
    database_url: str | None = None,
    threads: int | None = None,
) -> dict:
    from django.conf import settings

    database_url = database_url or os.environ.get("SIYU_BENCH_DATABASE_URL") or DEFAULT_DATABASE
    warehouse, prepared = prepared_warehouse(people)
    work = Path(settings.SIYU_HOME) / "bench" / "load"
    work.mkdir(parents=True, exist_ok=True)
    copy = work / "warehouse.duckdb"
    copy.unlink(missing_ok=True)
    Path(f"{copy}.wal").unlink(missing_ok=True)
    shutil.copyfile(warehouse, copy)
    env = {"SIYU_WAREHOUSE": str(copy), "DATABASE_URL": database_url}
    _ensure_database(database_url)
    password = secrets.token_urlsafe(12)
    setup = run_child("siyu.benchmarks.load", {"step": "setup", "password": password}, env=env)

    port = _free_port()
    server, log = _start_server(port, threads, env, work)
    try:
        api_users = api_users if batch > 0 else 0
        # locust patches the standard library: a process of its own, without Django
        measured = run_child(
            "siyu.benchmarks.load_users",
            {
                "host": f"http://127.0.0.1:{port}", "run_id": secrets.token_hex(4), "source": SOURCE,
                "batch": batch, "api_users": api_users, "users": users, "duration": duration,
                "token": setup["token"], "username": OPERATOR, "password": password,
                "customer_ids": setup["customer_ids"], "segment_ids": setup["segment_ids"],
                "analytics_pages": setup["analytics_pages"], "server_pid": server.pid,
            },
        )  # fmt: skip
        server_facts = _server_facts(server.pid)
    finally:
        _stop(server)
        log.close()
    counted = run_child("siyu.benchmarks.load", {"step": "count"}, env=env)
    if batch > 0:
        counted["batch_alone"] = run_child("siyu.benchmarks.load", {"step": "batch_alone", "batch": batch}, env=env)
    return _report(people, users, api_users, batch, duration, prepared, setup, measured, server_facts, counted, work)


def _report(people, users, api_users, batch, duration, prepared, setup, measured, server_facts, counted, work):
    tally = measured["tally"]
    seconds = measured["seconds"]
    accepted_events = tally.get("events_accepted", 0)
    accepted_orders = tally.get("orders_accepted", 0)
    window = measured["in_window"]
    pages = measured["pages"]
    console = {name: p for name, p in pages.items() if not name.startswith(("api ", "sign in"))}
    worst = max((p["p95_ms"] for p in console.values()), default=None)
    errors = {k: v for k, v in measured["statuses"].items() if not k.isdigit() or int(k) >= 400}
    server_errors = sum(v for k, v in errors.items() if k.split()[-1].startswith("5") or k.endswith(" 0"))
    return {
        "benchmark": "load",
        "people": people,
        "machine": machine(),
        "load_average_before": setup["load_average"],
        "load_average_after": _load_average(),
        **prepared,
        "customers": setup["customers"],
        "orders_before": setup["orders"],
        "operators": users,
        "operator_think_seconds": "1-5",
        "api_clients": api_users,
        "batch": batch,
        "duration_seconds": seconds,
        "events_accepted": accepted_events,
        "events_per_s_accepted": round(window.get("events_accepted", 0) / seconds) if seconds else 0,
        "orders_accepted": accepted_orders,
        "orders_per_s_accepted": round(window.get("orders_accepted", 0) / seconds) if seconds else 0,
        "requests_per_s": round(measured["requests"] / seconds, 2) if seconds else 0,
        "server_cpu_seconds_in_window": measured["server_cpu_seconds"],
        "server_cpu_ms_per_request": round(measured["server_cpu_seconds"] * 1000 / measured["requests"])
        if measured["requests"] and measured["server_cpu_seconds"] is not None
        else None,
        "pages": [
            f"{name:<34} n={p['requests']:>6} {p['per_s']:>7.2f}/s  p50 {p['p50_ms']:>6.0f}  p95 {p['p95_ms']:>6.0f}"
            f"  p99 {p['p99_ms']:>6.0f}  max {p['max_ms']:>6} ms  failures {p['failures']}"
            for name, p in pages.items()
        ],
        "sign_ins_before_the_window": [
            f"{name:<34} n={p['requests']:>6}  p50 {p['p50_ms']:>6.0f}  p95 {p['p95_ms']:>6.0f} ms"
            for name, p in measured["sign_ins"].items()
        ],
        "console_worst_p95_ms": worst,
        "warm_up_alone": [
            f"{name:<34} first {t['ms']:>6} ms (server CPU {t['cpu_ms']:>5} ms)  again {t['again_ms']:>6} ms "
            f"(CPU {t['again_cpu_ms']:>5} ms)  ({t['status']})"
            for name, t in measured.get("warm_up_ms", {}).items()
        ],
        "responses_by_status": measured["statuses"],
        "errors": errors,
        "server_errors_5xx": server_errors,
        "server_peak_rss_mb": server_facts["peak_rss_mb"],
        "server_cpu_seconds_in_all": server_facts["cpu_seconds"],
        "warehouse_events": counted["events"],
        "warehouse_events_distinct": counted["events_distinct"],
        "warehouse_orders": counted["orders"],
        "warehouse_orders_distinct": counted["orders_distinct"],
        "reference_one_batch_alone": counted.get("batch_alone"),
        "events_lost": max(0, accepted_events - counted["events_distinct"]),
        "events_twice": counted["events"] - counted["events_distinct"],
        "counts_agree": counted["events"] == counted["events_distinct"] == accepted_events
        and counted["orders_distinct"] == accepted_orders,
        "server_log": str(work / "server.log"),
        "target": f">= {TARGET_EVENTS_PER_S:,} events/s accepted, nothing lost; console p95 < {TARGET_P95_MS} ms "
        f"with 50 operators at 1M customers; no 5xx (issue 17, 2 cores, PostgreSQL control plane)",
    }


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1, 5, 15 min)"


# --- the server ---------------------------------------------------------------------------------


def _free_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def _start_server(port: int, threads: int | None, env: dict, work: Path):
    log = open(work / "server.log", "w")  # noqa: SIM115 - closed by run() when the server has stopped
    command = [sys.executable, "-m", "siyu.cli", "serve", "--port", str(port)]
    if threads:
        command += ["--threads", str(threads)]
    env = {**os.environ, **env}
    if os.environ.get("SIYU_BENCH_SERVER_PYTHONPATH"):  # another checkout's server, for a before/after
        env["PYTHONPATH"] = os.environ["SIYU_BENCH_SERVER_PYTHONPATH"]
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.close()
            raise RuntimeError(f"siyu serve stopped at start:\n{(work / 'server.log').read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=5) as answer:
                if answer.status == 200:
                    return server, log
        except OSError:
            time.sleep(0.5)
    _stop(server)
    log.close()
    raise RuntimeError(f"siyu serve did not answer within {SERVER_START_SECONDS} s")


def _server_facts(pid: int) -> dict:
    import psutil

    status = Path(f"/proc/{pid}/status").read_text()
    hwm = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")), "0")
    cpu = psutil.Process(pid).cpu_times()
    return {"peak_rss_mb": round(int(hwm) / 1024, 1), "cpu_seconds": round(cpu.user + cpu.system, 1)}


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _ensure_database(url: str) -> None:
    if not url.startswith(("postgres://", "postgresql://")):
        return  # a SQLite control plane (the bench's own test) is created by migrate
    import psycopg
    from psycopg import sql

    base, _, name = url.rpartition("/")
    name = name.split("?")[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as con:
        if con.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


# --- the children ---------------------------------------------------------------------------------


def _setup(password: str) -> dict:
    """Control plane up to date, the operator and its token, the segments (materialised over this copy of
    the warehouse), and what the users will ask for."""
    from django.core.management import call_command

    from siyu.analytics.queries import PAGES
    from siyu.api.actions import create_token, revoke_token
    from siyu.segments.actions import delete_segment, save_segment
    from siyu.segments.models import Segment
    from siyu.staff.actions import create_user
    from siyu.staff.models import Role
    from siyu.warehouse import backend

    call_command("migrate", interactive=False, verbosity=0)
    from django.contrib.auth import get_user_model
    from django_tasks_db.models import DBTaskResult

    from siyu.core.models import Job

    # Each run starts from a fresh copy of the warehouse, but the control plane is kept: the jobs an earlier
    # run left waiting or running (the resolve its pushes asked for, cut off when its server stopped) are of
    # another warehouse, and would run, or stand in for this run's resolve, in this run's window.
    DBTaskResult.objects.filter(status__in=("READY", "RUNNING")).delete()
    Job.objects.filter(status__in=(Job.Status.QUEUED, Job.Status.RUNNING)).delete()

    User = get_user_model()
    user = User.objects.filter(username=OPERATOR).first()
    if user is None:
        user = create_user(OPERATOR, password, Role.ADMIN, display_name="压测运营")
    else:
        user.set_password(password)
        user.save(update_fields=["password"])
    revoke_token(user, "load")
    token = create_token(user, "load")
    for segment in Segment.objects.filter(name__in=list(SEGMENTS)):
        delete_segment(user, segment.pk)
    segment_ids = [save_segment(user, name, rule=rule).pk for name, rule in SEGMENTS.items()]
    con = backend()
    summary = con.table("customer_summary")
    customers = int(summary.count().to_pyarrow().as_py())
    sample = summary.select("customer_id").order_by(summary.customer_id.hash()).limit(PROFILE_SAMPLE)
    return {
        "token": token,
        "customers": customers,
        "orders": int(con.table("orders").count().to_pyarrow().as_py()),
        "customer_ids": [int(i) for i in sample.to_pyarrow().column(0).to_pylist()],
        "segment_ids": segment_ids,
        "analytics_pages": list(PAGES),
        "load_average": _load_average(),
    }


def _count() -> dict:
    """The pushed facts in the warehouse: rows and distinct keys."""
    from siyu.warehouse import backend

    con = backend()
    events = con.table("events").filter(lambda t: t.source == SOURCE)
    orders = con.table("orders").filter(lambda t: t.source == SOURCE)
    return {
        "events": int(events.count().to_pyarrow().as_py()),
        "events_distinct": int(events.event_key.nunique().to_pyarrow().as_py()),
        "orders": int(orders.count().to_pyarrow().as_py()),
        "orders_distinct": int(orders.order_key.nunique().to_pyarrow().as_py()),
    }


def _batch_alone(batch: int, rounds: int = 3) -> dict:
    """The reference: one API batch of `batch` events landed in this process alone, with nothing else
    running (after the server stopped; another source, not counted above): the median of `rounds`, wall and
    CPU, and the events/s one core could land that way."""
    import statistics
    from datetime import UTC, datetime, timedelta

    from siyu.ingest.actions import ingest_api_records

    walls, cpus = [], []
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for n in range(rounds):
        rows = [
            {"record_id": f"ref-{n}-{i}", "event_id": f"ref-{n}-{i}", "phone": f"13{(n * batch + i) * 7919 % 10**9:09d}",
             "event_type": "page_view", "occurred_at": start + timedelta(seconds=i), "properties": {"page": "/p/1"}}
            for i in range(batch)
        ]  # fmt: skip
        wall, cpu = time.perf_counter(), time.process_time()
        ingest_api_records(f"{SOURCE}-reference", "event", rows)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    return {"batch": batch, "wall_ms": round(wall * 1000), "cpu_ms": round(cpu * 1000),
            "events_per_cpu_second": round(batch / cpu) if cpu else None}  # fmt: skip


def _child(step: str, **args) -> dict:
    return {"setup": _setup, "count": _count, "batch_alone": _batch_alone}[step](**args)


if __name__ == "__main__":
    child_main(_child)
