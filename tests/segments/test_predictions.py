"""Purchase propensity and CLV per customer (siyu.segments.predictions): a synthetic brand whose signal is
known (prediction_data.py), the as-of rule (nothing on or after the cut-off is read), the minimum history,
`siyu predict`, segment rule fields and export columns."""

import csv
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import numpy as np
import pyarrow as pa
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from segments.prediction_data import CUTOFF, buyers_between
from segments.traits_data import AS_OF as TRAITS_AS_OF
from segments.traits_data import write_brand
from siyu.core.models import Job
from siyu.segments import prediction_queries
from siyu.segments.errors import PredictionError, RuleError
from siyu.segments.prediction_actions import refresh_predictions, refresh_predictions_after_traits
from siyu.segments.predictions import PredictionSettings, features_expr
from siyu.segments.traits import cutoff_of

pytestmark = pytest.mark.django_db


def test_the_model_finds_the_known_signal_on_the_holdout(predicted):
    report = prediction_queries.calibration()["report"]
    check = report["calibration"]
    # The holdout: scored at CUTOFF − 30 days, labelled by who bought in the 30 days up to CUTOFF.
    start = CUTOFF - timedelta(days=30)
    buyers = buyers_between(predicted["people"], start, CUTOFF)
    known = {cid for cid, p in predicted["people"].items() if p["seen"] < start}
    assert check["customers"] == len(known) and check["buyers"] == len(buyers & known)
    assert check["base_rate"] == pytest.approx(len(buyers & known) / len(known))
    assert check["auc"] > 0.75
    assert check["brier"] < check["brier_of_base_rate"]  # better than predicting the base rate for everyone
    for row in check["reliability"]:
        if row["customers"] >= 100:
            assert abs(row["predicted"] - row["observed"]) < 0.15, row
    assert sum(r["customers"] for r in check["reliability"]) == check["customers"]
    lift = check["lift"]
    assert len(lift) == 10 and lift[0]["lift"] > 2 and lift[-1]["lift"] < 0.5
    assert lift[-1]["cumulative_capture"] == pytest.approx(1.0)
    assert [r["predicted"] for r in lift] == sorted((r["predicted"] for r in lift), reverse=True)


def test_every_customer_has_a_probability_and_buyers_a_clv(predicted):
    run = prediction_queries.calibration()
    assert run["current"] and run["horizon_days"] == 30 and run["as_of"] == CUTOFF
    people = predicted["people"]
    known = {cid for cid, p in people.items() if p["seen"] < CUTOFF}
    assert run["customers"] == len(known)
    buyer = next(cid for cid, p in people.items() if len([t for t, _ in p["purchases"] if t < CUTOFF]) >= 3)
    never = next(cid for cid, p in people.items() if p["seen"] < CUTOFF and not p["purchases"])
    row = prediction_queries.predictions_of(buyer)
    assert 0 < row["p_purchase"] < 1 and 0 < row["p_alive"] <= 1 and row["expected_transactions"] > 0
    assert row["expected_aov"] > 0 and row["clv"] == pytest.approx(
        Decimal(row["expected_transactions"]) * row["expected_aov"], rel=Decimal("0.02")
    )  # no discount: CLV = purchases in the 12 months × their expected value
    assert "hgb" in row["model_version"] and "bgnbd" in row["model_version"]
    nothing = prediction_queries.predictions_of(never)
    assert nothing["p_purchase"] is not None and nothing["clv"] is None and nothing["p_alive"] is None
    # frequent buyers (even ids, the wecom channel) are predicted to buy more often
    frequent = [prediction_queries.predictions_of(c)["p_purchase"] for c in range(2, 202, 2) if c in known]
    rare = [prediction_queries.predictions_of(c)["p_purchase"] for c in range(1, 201, 2) if c in known]
    assert sum(frequent) / len(frequent) > 2 * sum(rare) / len(rare)


def test_bgnbd_is_checked_against_the_purchases_that_followed(predicted):
    check = prediction_queries.calibration()["report"]["clv_calibration"]
    assert check["holdout_days"] == 90
    assert abs(check["predicted_total"] - check["actual_total"]) / check["actual_total"] < 0.25
    assert [g["repeat_purchases"] for g in check["by_repeat_purchases"]][:2] == ["0", "1"]
    assert sum(g["customers"] for g in check["by_repeat_purchases"]) == check["customers"]


def test_no_order_on_or_after_the_cutoff_changes_a_feature(predicted):
    from segments.prediction_data import _insert
    from siyu.warehouse import connection

    con = connection.backend()
    ps = PredictionSettings()
    products = ["P0", "P1"]
    before = features_expr(con, CUTOFF, ps, products).order_by("customer_id").to_pyarrow()
    # a purchase exactly at the cut-off and later ones, a late event, a record seen after the cut-off
    orders = [
        {"order_key": f"x|{i}", "source": "jd", "order_id": f"x{i}", "record_key": "tmall|r1",
         "status_class": status, "order_time": CUTOFF + timedelta(days=i), "amount": Decimal("999")}
        for i, status in ((0, "purchase"), (1, "purchase"), (2, "not_purchase"))
    ]  # fmt: skip
    _insert(con, "orders", orders)
    _insert(con, "order_items", [{"order_key": "x|0", "item_key": "#0", "product": "P1", "quantity": 9,
                                  "amount": Decimal("999")}])  # fmt: skip
    _insert(con, "events", [{"event_key": "x|e", "source": "jd", "record_key": "tmall|r1",
                             "event_type": "page_view", "occurred_at": CUTOFF}])  # fmt: skip
    _insert(con, "records", [{"record_key": "jd|late", "source": "jd", "record_id": "late",
                              "seen_at": CUTOFF, "imported_at": CUTOFF}])  # fmt: skip
    _insert(con, "customer_map", [{"record_key": "jd|late", "customer_id": 1, "resolved_at": CUTOFF}])
    after = features_expr(con, CUTOFF, ps, products).order_by("customer_id").to_pyarrow()
    # Equal, floats within 1e-3: the traits' discount_depth is a rounded mean whose float sum DuckDB adds
    # up in thread order, so it can land on the other side of a rounding tie from one query to the next.
    changed = [n for n in before.column_names if not _same(before.column(n), after.column(n))]
    assert changed == []
    labelled = features_expr(con, CUTOFF, ps, products, label=True).to_pyarrow().to_pylist()
    assert next(r for r in labelled if r["customer_id"] == 1)["label"] is True  # the order at the cut-off


def _same(a, b) -> bool:
    if pa.types.is_floating(a.type):
        return bool(np.allclose(a.to_numpy(zero_copy_only=False), b.to_numpy(zero_copy_only=False),
                                atol=1e-3, equal_nan=True))  # fmt: skip
    return a.equals(b)


def test_hand_checked_features_of_a_small_brand(warehouse):
    write_brand(warehouse.backend())
    cutoff = cutoff_of(TRAITS_AS_OF)
    rows = features_expr(warehouse.backend(), cutoff, PredictionSettings(), ["P1", "P2"], label=True)
    by_id = {r["customer_id"]: r for r in rows.to_pyarrow().to_pylist()}
    one = by_id[1]
    # customer 1 bought 2025-08-23, 10-02, 11-01 and 12-01 (local); the cut-off is 2026-01-01 00:00
    assert (one["orders_30d"], one["orders_90d"], one["orders_180d"]) == (0, 2, 4)
    assert one["spend_90d"] == 400 and one["purchase_days"] == 4 and one["days_since_first_purchase"] == 131
    assert one["recency_over_cycle"] == pytest.approx(31 / 30) and one["month"] == 1
    assert one["product_0"] == 1.0 and one["product_1"] == 0.0  # three lines, all P1
    assert one["acquisition_source"] == "shop" and one["last_purchase_source"] == "shop"
    assert one["label"] is False
    assert by_id[2]["label"] is True  # bought ten minutes after the cut-off
    assert by_id[8]["label"] is True and by_id[8]["orders_total"] == 0  # a lead who buys on 2026-01-05
    assert 9 not in by_id  # first seen after the cut-off


def test_too_little_history_is_said_and_skipped_after_a_resolve(warehouse, settings):
    write_brand(warehouse.backend())
    with pytest.raises(PredictionError, match="too little history"):
        refresh_predictions()
    assert "too little history" in refresh_predictions_after_traits()["skipped"]
    settings.PREDICTIONS = {"after_resolve": False}
    assert "turned off" in refresh_predictions_after_traits()["skipped"]
    settings.PREDICTIONS = {}
    err = StringIO()
    with pytest.raises(SystemExit):
        call_command("predict", "--json", stderr=err)
    assert "too little history" in err.getvalue()
    assert Job.objects.get(kind="predict").status == Job.Status.FAILED


def test_siyu_predict_refuses_bad_input(warehouse):
    with pytest.raises(CommandError, match="in the future"):
        call_command("predict", "--as-of", "2999-01-01")
    with pytest.raises(CommandError, match="horizon_days"):
        call_command("predict", "--horizon-days", "0")
    assert not Job.objects.filter(kind="predict").exists()


def test_siyu_predict_as_of_a_day_keeps_the_current_snapshot(predicted):
    out = StringIO()
    call_command("predict", "--as-of", "2026-05-31", "--horizon-days", "14", stdout=out)
    text = out.getvalue()
    assert (
        "as of 2026-05-31" in text and "horizon 14 days" in text and "Calibration on the last 14 days" in text
    )
    assert "BG/NBD r=" in text and "Gamma-Gamma p=" in text
    run = prediction_queries.calibration(date(2026, 5, 31))
    assert run["as_of"] == CUTOFF - timedelta(days=1)  # the start of 2026-05-31 in Shanghai
    assert run["current"] is False and run["horizon_days"] == 14 and run["customers"] > 1000
    assert run["report"]["calibration"]["auc"] > 0.7
    runs = prediction_queries.prediction_runs()
    assert [r["current"] for r in runs] == [True, False] and runs[1]["horizon_days"] == 14


def test_segment_rules_name_predictions(predicted):
    from siyu.segments.actions import checked_computed_tag, checked_rule
    from siyu.segments.queries import preview_segment

    rule = {
        "all": [{"field": "p_purchase", "op": ">=", "value": 0.5}, {"field": "clv", "op": ">", "value": 0}]
    }
    assert checked_rule(rule) == rule
    with pytest.raises(RuleError, match="unknown field 'p_purchase'"):
        checked_computed_tag("likely", rule)  # computed tags are refreshed before the predictions
    from siyu.warehouse import connection

    table = connection.backend().table("customer_predictions")
    expected = table.filter((table.p_purchase >= 0.5) & (table.clv > 0)).count().execute()
    assert expected > 0 and preview_segment(rule)["count"] == expected


def test_export_customers_has_the_predictions_as_columns(predicted, tmp_path):
    path = tmp_path / "customers.csv"
    call_command("export", "customers", str(path), stdout=StringIO())
    with path.open(encoding="utf-8") as handle:
        rows = {int(r["customer_id"]): r for r in csv.DictReader(handle)}
    some = next(iter(rows.values()))
    assert list(some)[-7:] == [c.format(horizon=30) for c in prediction_queries.EXPORT_COLUMNS]
    stored = prediction_queries.predictions_of(2)
    assert float(rows[2]["p_purchase_30d"]) == pytest.approx(stored["p_purchase"])
    assert rows[2]["predictions_as_of"] == "2026-06-01 00:00:00"


def test_export_before_any_prediction_has_empty_columns(warehouse, tmp_path):
    write_brand(warehouse.backend())
    from siyu.warehouse.summary import rebuild_customer_summary

    rebuild_customer_summary()
    path = tmp_path / "customers.csv"
    call_command("export", "customers", str(path), stdout=StringIO())
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and all(r["p_purchase_30d"] == "" and r["clv"] == "" for r in rows)
