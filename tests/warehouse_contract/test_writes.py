"""The warehouse contract's write side: the product's jobs that write the warehouse, run through their own
actions on the brand's DuckDB file and on its Spark copy, leave the same rows — predictions (features
computed by each engine, then scikit-learn and BG/NBD with the same seeds), the loyalty mirror, the touches
of a journey's sends — and `siyu export` writes the same files from either engine.

A scenario that writes leaves both copies as it found them (what it wrote is deleted in its `finally`), so
the read-side scenarios (test_contract.py) see the brand as built whatever order the tests run in."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from warehouse_contract.compare import assert_same, rows_of
from warehouse_contract.conftest import on
from warehouse_contract.test_contract import both, same

pytestmark = [pytest.mark.django_db, pytest.mark.spark, pytest.mark.slow]


def _delete(brand, table: str, column: str, values: pa.Array) -> None:
    """Rows a scenario wrote, deleted from both copies."""
    from siyu.warehouse import transaction
    from siyu.warehouse.append import delete_where_in

    for engine in ("duckdb", "spark"):
        with on(brand, engine), transaction() as tx:
            delete_where_in(tx, table, column, values)


# --- predictions ---------------------------------------------------------------------------------------


def test_prediction_features_computed_on_each_engine(contract_brand):
    """The features table (with labels) the propensity model trains on, built by each engine's SQL."""
    from siyu.segments.predictions import PredictionSettings, features_expr, top_products

    ps = PredictionSettings.from_settings()
    cutoff = contract_brand.now - timedelta(days=ps.horizon_days)

    def compute(con):
        products = top_products(con, cutoff, ps)
        table = features_expr(con, cutoff, ps, products, label=True, fraction=0.5)
        return {"products": products, "features": rows_of(table, ("customer_id",))}

    found = same(contract_brand, compute)
    assert len(found["products"]) == ps.top_products
    rows = found["features"]
    assert rows and any(r["label"] for r in rows) and not all(r["label"] for r in rows)


def test_refresh_predictions_serves_the_same_scores(contract_brand, settings):
    """`siyu predict --as-of DAY` on each engine: the same customers, probabilities, CLV and report (the
    model is trained on features each engine computed). One training snapshot (settings PREDICTIONS): the
    same code as two, with two feature queries fewer on Spark."""
    from siyu.segments.prediction_actions import refresh_predictions
    from siyu.segments.prediction_queries import predictions_of
    from siyu.segments.predictions import PREDICTION_RUNS_TABLE, PREDICTIONS_TABLE
    from siyu.segments.traits import cutoff_of

    settings.PREDICTIONS = {"training_snapshots": 1}
    day = contract_brand.last_day
    at = cutoff_of(day)
    some = contract_brand.sample_customers

    def compute(con):
        report = refresh_predictions(day)
        predictions = con.table(PREDICTIONS_TABLE)
        runs = con.table(PREDICTION_RUNS_TABLE)
        run = runs.filter(runs.as_of == at).drop("computed_at", "seconds").to_pyarrow().to_pylist()
        assert len(run) == 1
        stored = json.loads(run[0].pop("report"))
        return {
            "report": _without_timings(report),
            "stored_report": _without_timings(stored),
            "run": run[0],
            "predictions": rows_of(predictions.filter(predictions.as_of == at), ("customer_id",)),
            "predictions_of": {c: predictions_of(c, day) for c in some},
        }

    try:
        found = same(contract_brand, compute)
    finally:
        _delete(contract_brand, PREDICTIONS_TABLE, "as_of", pa.array([at], pa.timestamp("us", tz="UTC")))
        _delete(contract_brand, PREDICTION_RUNS_TABLE, "as_of", pa.array([at], pa.timestamp("us", tz="UTC")))
    assert len(found["predictions"]) == found["report"]["customers"] > 0
    assert found["report"]["quality"]["p_purchase"]["served"] in ("model", "simple")
    assert any(r["clv"] is not None for r in found["predictions"])


def _without_timings(report: dict) -> dict:
    return {k: v for k, v in report.items() if k not in ("timings", "seconds")}


# --- the loyalty mirror ------------------------------------------------------------------------------------


def test_loyalty_mirror_writes_the_same_rows(contract_brand):
    """Points awarded in the control plane, then one run of the loyalty mirror (the job `siyu serve` runs
    every hour) on each copy at the same instant: the same events, member and coupon state, positions."""
    from siyu.loyalty.mirror import SOURCE, STREAM, mirror_loyalty
    from siyu.loyalty.points.actions import award_points
    from siyu.warehouse.mirrors import PENDING, WATERMARKS

    customer = contract_brand.sample_customers[0]
    award_points(customer, 123, key="contract:mirror", reason="合同测试", source="manual")
    now = contract_brand.now + timedelta(hours=1)

    def compute(con):
        report = mirror_loyalty(now)
        events = con.table("events")
        marks, pending = con.table(WATERMARKS), con.table(PENDING)
        return {
            "report": report,
            "events": rows_of(events.filter(events.source == SOURCE), ("event_key",)),
            "members": rows_of(con.table("loyalty_members"), ("customer_id",)),
            "coupons": rows_of(con.table("loyalty_coupons"), ("coupon_id",)),
            "positions": rows_of(marks.filter(marks.stream.startswith(STREAM)), ("stream",)),
            "pending": rows_of(pending.filter(pending.stream.startswith(STREAM))),
        }

    found = same(contract_brand, compute)
    assert found["report"]["events_written"] >= 1
    member = next(m for m in found["members"] if m["customer_id"] == customer)
    assert member["points_available"] >= 123


# --- touches: a journey's sends ----------------------------------------------------------------------------


def test_a_journeys_sends_write_the_same_touches(contract_brand):
    """A journey sending to a segment's stored members through the webhook channel, ticked and delivered on
    each engine (the control plane rolled back in between): the same customers enrolled, the same sends
    and the same `touches` rows, which the touch-grid page then reads the same way."""
    from django.db import transaction as db

    from siyu.analytics.queries import touch_grid
    from siyu.engagement.journeys.actions import activate_journey, run_journeys, save_journey
    from siyu.engagement.messaging.actions import configure_account, deliver_due_sends
    from siyu.engagement.messaging.fakes.webhook import FakeWebhookReceiver
    from siyu.engagement.messaging.models import Send
    from siyu.segments.models import Segment

    segment = Segment.objects.filter(kind="rule").order_by("pk").first()
    start = datetime.combine(contract_brand.now.date(), time(3), tzinfo=UTC)  # 11:00 in Shanghai
    f = _touch_filters(contract_brand, start)

    def compute(con):
        saved = db.savepoint()
        try:
            with FakeWebhookReceiver() as server:
                configure_account(None, "webhook", "webhook", {"url": server.url},
                                  {"signing_secret": "webhook-secret"})  # fmt: skip
                journey = save_journey(None, name="合同旅程", holdout_percent=0, steps=[SEND],
                                       trigger={"type": "segment_now", "segment_id": segment.pk})  # fmt: skip
                activate_journey(None, journey.pk, now=start)
                ticked = run_journeys(now=start + timedelta(hours=1))
                delivered = deliver_due_sends(now=start + timedelta(hours=1))
                received = len(server.requests)
            touches = con.table("touches")
            mine = touches.filter(touches.source_id == str(journey.pk)).drop("send_id", "source_id")
            return {
                "enrolled": ticked["enrolled"],
                "delivered": dict(delivered),
                "received": received,
                "sends": sorted(Send.objects.filter(source_id=str(journey.pk)).values_list("customer_id", "status")),
                "touches": rows_of(mine, ("customer_id",)),
                "touch_grid": touch_grid(f),
                "journey": journey.pk,
            }
        finally:
            db.savepoint_rollback(saved)

    try:
        duckdb, spark = both(contract_brand, compute)
    finally:
        for journey in {duckdb["journey"], spark["journey"]} if "spark" in locals() else set():
            _delete(contract_brand, "touches", "source_id", pa.array([str(journey)], pa.string()))
    duckdb.pop("journey"), spark.pop("journey")
    assert_same(duckdb, spark)
    assert duckdb["delivered"].get("sent", 0) == len(duckdb["touches"]) > 0 and duckdb["received"] > 0


SEND = {"id": "hello", "type": "send", "channel": "webhook", "content": "你好"}


def _touch_filters(brand, start):
    from siyu.analytics.filters import Filters

    return Filters(start.date() - timedelta(days=30), start.date() + timedelta(days=1))


# --- `siyu export` -----------------------------------------------------------------------------------------


def test_the_export_command_on_each_engine(contract_brand, tmp_path):
    """`siyu export customers OUT.csv` and `siyu export segment ID OUT.xlsx` through the command (its job
    runs where the warehouse is)."""
    from django.core.management import call_command

    from siyu.segments.models import Segment
    from warehouse_contract.test_contract import _read

    segment = Segment.objects.filter(kind="rule").order_by("pk").first()

    def compute(con):
        folder = tmp_path / con.name
        folder.mkdir()
        out = {}
        for what, target in (("customers", [str(folder / "customers.csv")]),
                             ("segment", [str(segment.pk), str(folder / "segment.xlsx")])):  # fmt: skip
            said = io.StringIO()
            call_command("export", what, *target, "--json", stdout=said)
            rows = _read(Path(target[-1]))
            out[what] = {"rows": json.loads(said.getvalue())["rows"], "header": rows[0], "lines": sorted(rows[1:])}
        return out

    found = same(contract_brand, compute)
    assert found["customers"]["rows"] == contract_brand.customers == len(found["customers"]["lines"])
