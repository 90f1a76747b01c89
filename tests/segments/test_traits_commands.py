"""`siyu traits`, the refresh at the end of a resolve job, `siyu export customers` with every trait, and
the one-owner rule (a running `siyu serve` computes the traits)."""

import csv
import json
import subprocess
import sys
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from segments.traits_data import AS_OF, write_brand
from siyu.core.models import Job
from siyu.segments import prediction_queries, queries
from siyu.segments.actions import refresh_traits, save_computed_tag, save_stage_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def brand(warehouse):
    write_brand(warehouse.backend())
    return warehouse


def test_siyu_traits_as_of_prints_the_report_as_json(brand):
    out = StringIO()
    call_command("traits", "--as-of", AS_OF.isoformat(), "--json", stdout=out)
    report = json.loads(out.getvalue().strip().splitlines()[-1])
    assert report["customers"] == 9 and report["buyers_in_window"] == 5 and report["current"] is False
    assert report["as_of"] == "2025-12-31T16:00:00+00:00"
    assert report["rfm_layers"] == {
        "important_value": 1, "important_develop": 1, "general_keep": 1, "important_keep": 1, "general_develop": 1,
    }  # fmt: skip
    assert report["value_layers"] == {"waist": 2, "tail": 2, "top": 1}
    assert Job.objects.get(kind="traits").status == Job.Status.DONE


def test_siyu_traits_in_words(brand):
    out = StringIO()
    call_command("traits", stdout=out)
    text = out.getvalue()
    assert "Traits of 10 customers now" in text and "RFM layers:" in text and "Lifecycle:" in text


def test_siyu_traits_refuses_bad_and_future_dates(brand):
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("traits", "--as-of", "2026-13-01")
    with pytest.raises(CommandError, match="in the future"):
        call_command("traits", "--as-of", "2999-01-01")
    assert not Job.objects.filter(kind="traits").exists()


def test_a_resolve_job_refreshes_the_current_traits(brand):
    out = StringIO()
    call_command("resolve", "--json", "--deterministic-only", stdout=out)
    report = json.loads(out.getvalue().strip().splitlines()[-1])
    assert report["traits"]["customers"] == report["customers"] == 10
    assert queries.traits_of(1)["orders_total"] == 4


def test_a_failed_traits_refresh_does_not_fail_the_resolve(brand, settings):
    settings.TRAITS = {"window_days": 0}
    out, err = StringIO(), StringIO()
    call_command("resolve", "--deterministic-only", stdout=out, stderr=err)
    assert "Resolved" in out.getvalue()
    assert "Traits were not refreshed: TraitsError: settings TRAITS: window_days" in err.getvalue()
    assert Job.objects.get(kind="resolve").status == Job.Status.DONE


def test_export_customers_has_every_trait_as_a_column(brand, admin_user, tmp_path):
    from siyu.warehouse.summary import rebuild_customer_summary

    rebuild_customer_summary()
    path = tmp_path / "customers.csv"
    call_command("export", "customers", str(path), stdout=StringIO())
    with path.open(encoding="utf-8") as handle:
        before = list(csv.DictReader(handle))
    assert len(before) == 10 and before[0]["rfm_layer"] == "" and before[0]["traits_as_of"] == ""

    save_computed_tag(admin_user, "高价值", {"field": "m_score", "op": ">=", "value": 4})
    save_computed_tag(admin_user, "活跃", {"field": "recency_days", "op": "<=", "value": 60})
    save_stage_set(admin_user, "school", [{"stage": "在学", "when": {"bought": {"product_name": "P2"}}}])
    refresh_traits(now=datetime(2025, 12, 31, 16, 0, tzinfo=UTC))  # a current snapshot at AS_OF 00:00
    call_command("export", "customers", str(path), stdout=StringIO())
    with path.open(encoding="utf-8") as handle:
        rows = {int(r["customer_id"]): r for r in csv.DictReader(handle)}
    header = list(rows[1])
    predictions = [c.format(horizon=30) for c in prediction_queries.EXPORT_COLUMNS]
    assert header[header.index("owner_staff") + 1 :] == [
        "traits_as_of", *queries.EXPORT_COLUMNS, "stage:school", *predictions,
    ]  # fmt: skip
    assert (rows[1]["rfm_layer"], rows[1]["value_layer"], rows[1]["lifecycle_stage"]) == (
        "important_value", "waist", "loyal",
    )  # fmt: skip
    assert rows[1]["computed_tags"] == "活跃|高价值" and rows[2]["computed_tags"] == "活跃|高价值"
    assert rows[1]["next_purchase_due"] == "2025-12-31" and rows[1]["purchase_cycle_days"] == "30.0"
    assert rows[2]["stage:school"] == "在学" and rows[1]["stage:school"] == ""
    assert rows[1]["traits_as_of"] == "2026-01-01 00:00:00"  # in settings.TIME_ZONE
    assert rows[9]["orders"] == "1" and rows[9]["frequency"] == ""  # not a customer at the cut-off


@pytest.mark.slow
def test_siyu_traits_hands_its_job_to_a_running_server(tmp_path):
    from console.test_console_serve import _env, _free_port, _serve, _wait_until_up

    home = tmp_path / "home"
    port = _free_port()
    server = _serve(home, port)
    try:
        _wait_until_up(server, f"http://127.0.0.1:{port}")
        done = subprocess.run(
            [sys.executable, "-m", "siyu.cli", "traits"],
            env=_env(home),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert done.returncode == 0, done.stderr
    assert "siyu serve is running: handed traits to it" in done.stderr
    assert "Traits of 0 customers now" in done.stdout
