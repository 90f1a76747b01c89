"""`siyu retention`: each kind of data older than its period is removed (a dry run counts the same without
removing), with a report; the audit log cannot be kept shorter than PIPL's three years."""

import datetime as dt
import json
import os

import pytest
from django.core.management import call_command
from django.utils import timezone
from test_import import taobao_row, write_taobao

from siyu.core import retention
from siyu.core.models import AuditLog
from siyu.core.owner import submit_job
from siyu.ingest.actions import import_files

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2031, 6, 1, tzinfo=dt.UTC)  # a fixed clock, years after the import below


@pytest.fixture(autouse=True)
def uploads(settings, tmp_path):
    settings.UPLOADS_DIR = tmp_path / "uploads"


def _data(warehouse, tmp_path):
    rows = [taobao_row(order=str(1000 + i), buyer=f"tb_{i}") for i in range(3)] + [taobao_row(order="-")]
    report = import_files([write_taobao(tmp_path / "orders.csv", rows)], "tmall")
    os.utime(report.files[0].rejected_file, (NOW.timestamp() - 40 * 86400,) * 2)
    con = warehouse.raw_connection()
    for days in (400, 100, 5):
        at = NOW - dt.timedelta(days=days)
        con.execute(
            "INSERT INTO touches (send_id, customer_id, channel, sent_at) VALUES (1, 1, 'sms', ?)", [at]
        )
        con.execute("INSERT INTO chat_messages (msgid, sent_at, text) VALUES (?, ?, 'hi')", [f"m{days}", at])
    AuditLog.objects.all().delete()
    for days in (2000, 1200, 10):
        entry = AuditLog.objects.create(action="view_pii", target="c1")
        AuditLog.objects.filter(pk=entry.pk).update(at=NOW - dt.timedelta(days=days))


def _count(warehouse, table):
    return warehouse.raw_connection().execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_a_dry_run_counts_what_the_real_run_removes(warehouse, tmp_path, settings):
    _data(warehouse, tmp_path)
    settings.RAW_ROWS_RETENTION_DAYS = 365
    settings.TOUCHES_RETENTION_DAYS = 90
    settings.CHAT_ARCHIVE_RETENTION_DAYS = 200
    settings.AUDIT_LOG_RETENTION_DAYS = 1095
    settings.REJECTED_ROWS_RETENTION_DAYS = 30
    dry = retention.enforce(NOW, dry_run=True)
    removed = {row["kind"]: row["removed"] for row in dry["kinds"]}
    assert removed == {"audit_log": 2, "raw_rows": 3, "rejected_rows": 1, "touches": 2, "chat_archive": 1,
                       "event_deliveries": 0, "outbound_events": 0}  # none in this brand: tests/integrations
    assert (
        _count(warehouse, "touches") == 3
        and _count(warehouse, "raw_rows") == 3
        and AuditLog.objects.count() == 3
    )

    job = submit_job("retention", {"now": NOW.isoformat()})
    assert job.status == "done", job.error
    assert {row["kind"]: row["removed"] for row in job.result["kinds"]} == removed
    touches = next(row for row in job.result["kinds"] if row["kind"] == "touches")
    assert touches["retention_days"] == 90 and touches["cut_off"] == (NOW - dt.timedelta(days=90)).isoformat()
    assert _count(warehouse, "touches") == 1 and _count(warehouse, "chat_messages") == 2
    assert _count(warehouse, "raw_rows") == 0 and _count(warehouse, "raw_chunks") == 0
    assert _count(warehouse, "records") == 3  # what was built from the raw rows stays
    assert not any((settings.UPLOADS_DIR / "rejected").iterdir())
    # the audit entries older than three years went; the run itself was recorded
    assert AuditLog.objects.filter(action="view_pii").count() == 1
    assert AuditLog.objects.filter(action="retention").exists()
    again = retention.enforce(NOW, dry_run=True)["kinds"]  # (the run's own audit entry is years before NOW)
    assert all(row["removed"] == 0 for row in again if row["kind"] != "audit_log")


def test_kinds_without_a_period_are_kept_forever(warehouse, tmp_path, settings, capsys):
    _data(warehouse, tmp_path)
    settings.REJECTED_ROWS_RETENTION_DAYS = 3650
    call_command("retention", "--dry-run", "--json")
    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] and report["removed"] == 0
    assert {row["kind"] for row in report["kinds"] if row["retention_days"] is None} == {
        "audit_log", "raw_rows", "touches", "chat_archive", "event_deliveries", "outbound_events"
    }  # fmt: skip


def test_an_audit_log_period_below_three_years_is_refused(warehouse, tmp_path, settings):
    _data(warehouse, tmp_path)
    settings.AUDIT_LOG_RETENTION_DAYS = 365
    settings.TOUCHES_RETENTION_DAYS = 1
    with pytest.raises(retention.RetentionError, match="minimum of 1095 days"):
        retention.enforce(NOW)
    job = submit_job("retention", {"now": NOW.isoformat()})
    assert job.status == "failed" and "minimum of 1095 days" in job.error
    assert _count(warehouse, "touches") == 3  # nothing was removed
    assert AuditLog.objects.filter(action="view_pii").count() == 3
    assert timezone.now() < NOW
