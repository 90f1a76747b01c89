"""Faults with real processes (docs/faults.md lists them with what each promises): a SIGKILL in the middle of
a resolve, a points redemption, a segment refresh and a journey tick, and the disk filling up during an
import. Each time: nothing committed is lost, nothing is done twice, and the next run finishes the work or
the job says why it stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.own_home]

BUYERS = 20


def _env(home, **extra) -> dict:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SIYU_")) and k != "DATABASE_URL"
    }
    env.update(
        {"SIYU_HOME": str(home), "DJANGO_SETTINGS_MODULE": "siyu.project.settings", "PYTHONUNBUFFERED": "1"}
    )
    env.update(extra)
    return env


def _python(home, code: str, *args, **extra) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], env=_env(home, **extra), capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


def _export(tmp_path, rows=60, name="tmall.csv"):
    path = tmp_path / name
    with path.open("w", encoding="utf-8") as out:
        out.write("订单编号,买家会员名,买家实际支付金额,订单状态,订单创建时间,收货人手机\n")
        for i in range(rows):
            out.write(
                f"{7000 + i},buyer{i % BUYERS},{10 + i % 90}.00,交易成功,2025-03-01 10:00:00,139{i % BUYERS:08d}\n"
            )
    return path


SETUP = """
import json, os, signal, sys
from siyu.cli import main, migrate_quietly, setup_django
setup_django()
migrate_quietly()
from siyu.core.leases import enable_for_commands
enable_for_commands()  # as a command run from a shell: its jobs hold a lease
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
"""

KILLED_RESOLVE = (
    SETUP
    + """
main(["import", sys.argv[1], "--source", "tmall"])
import siyu.identity.actions as identity
identity.rebuild_customer_summary = die  # the customer map and merge log are written, not committed
main(["resolve", "--full"])
"""
)

AFTER_RESOLVE = (
    SETUP
    + """
main(["jobs"])  # the next look settles the killed job
from siyu.core.models import Job
from siyu.warehouse import raw_connection
killed = Job.objects.get(kind="resolve")
before = raw_connection().execute("SELECT count(*) FROM identity_runs").fetchone()[0]
main(["resolve"])
con = raw_connection()
print(json.dumps({
    "killed": [killed.status, killed.error[:200]],
    "runs_before": before,
    "runs_after": con.execute("SELECT count(*) FROM identity_runs").fetchone()[0],
    "customers": con.execute("SELECT count(*) FROM customer_summary").fetchone()[0],
    "mapped": con.execute("SELECT count(DISTINCT customer_id) FROM customer_map").fetchone()[0],
    "records": con.execute("SELECT count(*) FROM records").fetchone()[0],
}))
"""
)


def test_a_resolve_killed_mid_write_leaves_the_last_committed_state_and_the_next_run_completes(tmp_path):
    home = tmp_path / "home"
    code, _out, err = _python(home, KILLED_RESOLVE, _export(tmp_path))
    assert code == -signal.SIGKILL, err
    code, out, err = _python(home, AFTER_RESOLVE)
    assert code == 0, err
    after = json.loads(out.strip().splitlines()[-1])
    assert after["killed"][0] == "failed" and "process is gone" in after["killed"][1]
    assert after["runs_before"] == 0  # the killed run left nothing half-written
    assert after["runs_after"] == 1
    assert after["customers"] == after["mapped"] == BUYERS
    assert after["records"] == 60  # the import committed before the kill is all there


KILLED_REDEMPTION = (
    SETUP
    + """
from siyu.loyalty.points import actions as points
points.award_points(1, 100, key="award-1", reason="opening", source="manual")
real = points._debit_lots
def debit_then_die(taken):
    real(taken)  # the lots are debited inside the open transaction
    die()
points._debit_lots = debit_then_die
points.spend_points(1, 30, key="redeem-1", reason="a gift", source="mall")
"""
)

AFTER_REDEMPTION = (
    SETUP
    + """
from siyu.loyalty.points import actions as points
from siyu.loyalty.points.models import PointsEntry
from siyu.loyalty.points.queries import balance_of
before = balance_of(1).available
points.spend_points(1, 30, key="redeem-1", reason="a gift", source="mall")
points.spend_points(1, 30, key="redeem-1", reason="a gift", source="mall")  # the client retries
print(json.dumps({"before": before, "after": balance_of(1).available,
                  "spends": PointsEntry.objects.filter(points__lt=0).count()}))
"""
)


def test_a_redemption_killed_mid_transaction_spends_nothing_and_its_retry_spends_once(tmp_path):
    home = tmp_path / "home"
    code, _out, err = _python(home, KILLED_REDEMPTION)
    assert code == -signal.SIGKILL, err
    code, out, err = _python(home, AFTER_REDEMPTION)
    assert code == 0, err
    after = json.loads(out.strip().splitlines()[-1])
    assert after == {"before": 100, "after": 70, "spends": 1}


def _small_disk(path, size: str) -> bool:
    """A tmpfs of `size` at `path` (root only); False when it cannot be mounted here."""
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    return done.returncode == 0


FULL_DISK_IMPORT = (
    SETUP
    + """
limit = int(sys.argv[2])
if limit:  # no tmpfs here: the file-size limit makes writes past it fail (EFBIG) as a full disk would
    import resource
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    main(["import", sys.argv[1], "--source", "tmall"])
except SystemExit as exc:
    print("exit", exc.code)
"""
)

AFTER_FULL_DISK = (
    SETUP
    + """
from siyu.core.models import Job
main(["import", sys.argv[1], "--source", "tmall"])
from siyu.warehouse import raw_connection
con = raw_connection()
jobs = list(Job.objects.order_by("created_at").values_list("status", "error"))
print(json.dumps({"jobs": [[s, e[:300]] for s, e in jobs],
                  "raw_rows": con.execute("SELECT count(*) FROM raw_rows").fetchone()[0],
                  "orders": con.execute("SELECT count(*) FROM orders").fetchone()[0],
                  "batches": con.execute("SELECT count(*) FROM import_batches").fetchone()[0]}))
"""
)


def test_a_disk_filling_up_during_an_import_fails_the_job_in_words_and_keeps_nothing_partial(tmp_path):
    home = tmp_path / "home"
    rows = 120_000
    export = _export(tmp_path, rows=rows)
    disk = tmp_path / "disk"
    mounted = _small_disk(disk, "24m")
    try:
        warehouse = (disk if mounted else tmp_path) / "warehouse.duckdb"
        extra = {"SIYU_WAREHOUSE": str(warehouse)}
        code, out, err = _python(home, FULL_DISK_IMPORT, export, 0 if mounted else 24 << 20, **extra)
        assert code == 0, err
        assert "exit 1" in out
        assert "space" in err.lower() or "too large" in err.lower() or "errno 27" in err.lower(), err
        if mounted:  # the operator frees space
            subprocess.run(["mount", "-o", "remount,size=512m", str(disk)], check=True)
        code, out, err = _python(home, AFTER_FULL_DISK, export, **extra)
        assert code == 0, err
        after = json.loads(out.strip().splitlines()[-1])
        assert [status for status, _ in after["jobs"]] == ["failed", "done"]
        assert after["raw_rows"] == after["orders"] == rows  # once each: the failed batch left nothing
        assert after["batches"] == 1
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(disk)])


KILLED_SEGMENT_REFRESH = (
    SETUP
    + """
main(["import", sys.argv[1], "--source", "tmall"])
main(["resolve"])
from siyu.segments import actions as segments
from siyu.staff.actions import create_user
admin = create_user("admin", "pw-admin-1", "admin")
segment = segments.save_segment(admin, "名单", customer_ids=list(range(1, 11)))
segments.save_segment(admin, "名单", customer_ids=list(range(6, 16)), segment_id=segment.pk, materialise=False)
real = segments.delete_where_in
def delete_then_die(*args, **kwargs):
    real(*args, **kwargs)  # the members who left are deleted inside the open transaction
    die()
segments.delete_where_in = delete_then_die
segments.refresh_segment(segment.pk)
"""
)

AFTER_SEGMENT_REFRESH = (
    SETUP
    + """
from siyu.segments import actions as segments
from siyu.segments.models import Segment
from siyu.warehouse import raw_connection
con = raw_connection()
def members():
    return [r[0] for r in con.execute("SELECT customer_id FROM segment_members ORDER BY 1").fetchall()]
def changes():
    return con.execute("SELECT change, count(*), count(DISTINCT customer_id) FROM segment_changes "
                       "GROUP BY 1 ORDER BY 1").fetchall()
segment = Segment.objects.get()
before = {"members": members(), "changes": changes()}
segments.refresh_segment(segment.pk)
print(json.dumps({"before": before, "after": {"members": members(), "changes": changes()}}))
"""
)


def test_a_segment_refresh_killed_mid_write_leaves_the_old_members_and_the_next_refresh_is_exact(tmp_path):
    home = tmp_path / "home"
    code, _out, err = _python(home, KILLED_SEGMENT_REFRESH, _export(tmp_path))
    assert code == -signal.SIGKILL, err
    code, out, err = _python(home, AFTER_SEGMENT_REFRESH)
    assert code == 0, err
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["before"] == {"members": list(range(1, 11)), "changes": [["enter", 10, 10]]}
    assert seen["after"] == {"members": list(range(6, 16)), "changes": [["enter", 15, 15], ["exit", 5, 5]]}


JOURNEY = """
import datetime as dt
from django.utils import timezone
from siyu.engagement.journeys import actions as journeys
from siyu.engagement.messaging.actions import update_policy
NOW = timezone.now()
"""

KILLED_JOURNEY_TICK = (
    SETUP
    + JOURNEY
    + """
main(["import", sys.argv[1], "--source", "tmall"])
main(["resolve"])
from siyu.segments.actions import save_segment
from siyu.staff.actions import create_user
update_policy(None, holdout_percent=0)
segment = save_segment(create_user("admin", "pw-admin-1", "admin"), "名单", customer_ids=list(range(1, 21)))
journey = journeys.save_journey(
    None, name="欢迎", trigger={"type": "segment_now", "segment_id": segment.pk}, holdout_percent=0,
    steps=[{"id": "hello", "type": "send", "channel": "webhook", "content": "你好"}],
)
journeys.activate_journey(None, journey.pk, now=NOW)
real = journeys.enqueue_send_batch
def enqueue_then_die(requests, now=None):
    real(requests, now=now)  # the sends are written; the enrollments have not moved on
    die()
journeys.enqueue_send_batch = enqueue_then_die
journeys.run_journeys(now=NOW)
"""
)

AFTER_JOURNEY_TICK = (
    SETUP
    + JOURNEY
    + """
from siyu.engagement.journeys.models import Enrollment
from siyu.engagement.messaging.models import Send
def seen():
    return {"sends": Send.objects.count(), "customers": Send.objects.values("customer_id").distinct().count(),
            "enrolled": Enrollment.objects.count(),
            "waiting": Enrollment.objects.filter(step_id="hello", status="active").count()}
before = seen()
journeys.run_journeys(now=NOW + dt.timedelta(minutes=1))
journeys.run_journeys(now=NOW + dt.timedelta(minutes=2))
print(json.dumps({"before": before, "after": seen()}))
"""
)


def test_a_journey_tick_killed_while_queueing_sends_queues_each_send_once_when_it_runs_again(tmp_path):
    home = tmp_path / "home"
    code, _out, err = _python(home, KILLED_JOURNEY_TICK, _export(tmp_path))
    assert code == -signal.SIGKILL, err
    code, out, err = _python(home, AFTER_JOURNEY_TICK)
    assert code == 0, err
    seen = json.loads(out.strip().splitlines()[-1])
    # the enrolments, their first step's sends and the move past it commit together: the kill left none
    assert seen["before"] == {"sends": 0, "customers": 0, "enrolled": 0, "waiting": 0}
    assert seen["after"]["sends"] == seen["after"]["customers"] == BUYERS  # one send per customer, never two
    assert seen["after"]["enrolled"] == BUYERS and seen["after"]["waiting"] == 0  # each enrolled once, moved on
