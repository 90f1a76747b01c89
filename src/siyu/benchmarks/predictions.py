"""`siyu bench predictions`: train and score purchase propensity and fit CLV for N customers on a synthetic
warehouse whose purchase process is known, in child processes so that each peak RSS is its own: the
current traits (the reference: the as-of machinery the features are built on), then the predictions
(features for 2 training snapshots, 2 calibration snapshots and the scoring snapshot, gradient boosting,
BG/NBD + Gamma-Gamma and their calibration), with the holdout's AUC and Brier score beside those of a
baseline that ranks customers by recency alone.

The synthetic data is generated in DuckDB (SQL here is the benchmark's own fixture, not product code), as
the BG/NBD story: each customer joins on a day of the last three years through one of four channels; while
alive buys as a Poisson process whose rate depends on a hidden type (one purchase in ~11 months, ~3 months
or ~25 days; WeCom customers are more often of the frequent type), and leaves after each purchase with
probability 0.15. A purchase is one order with one line (20 products, each customer with a favourite) of
a value around the customer's own mean. 0.5 events per customer.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from siyu.benchmarks.common import child_main, machine, run_child

HISTORY_DAYS = 3 * 365

GENERATE_SQL = """
CREATE OR REPLACE TEMP TABLE gen_people AS
SELECT p AS person,
       (hash(p, 'join') % {history})::INT AS join_day,
       CASE WHEN hash(p, 'type') % 100 < 40 THEN 0.003 WHEN hash(p, 'type') % 100 < 80 THEN 0.011
            ELSE 0.04 END AS rate,
       ['wecom', 'tmall', 'jd', 'douyin'][
           (1 + CASE WHEN hash(p, 'type') % 100 >= 80 AND hash(p, 'ch') % 2 = 0 THEN 0
                     ELSE hash(p, 'ch2') % 4 END)::BIGINT] AS source,
       1 + floor(ln((hash(p, 'drop') % 1000000 + 1) / 1000001.0) / ln(0.85))::INT AS max_purchases,
       30 + 200 * pow((hash(p, 'value') % 1000) / 1000.0, 2) AS mean_value
FROM range({people}) t(p);

INSERT INTO records (record_key, source, format, record_kind, record_id, seen_at, imported_at)
SELECT source || '|' || person, source, 'generic', 'order', person::VARCHAR,
       now() - to_days({history} - join_day), now()
FROM gen_people;

INSERT INTO customer_map SELECT source || '|' || person, person + 1, now() FROM gen_people;

CREATE OR REPLACE TEMP TABLE gen_orders AS
WITH draws AS (
    SELECT person, source, max_purchases, mean_value, join_day,
           unnest(range(floor(rate * ({history} - join_day) + (hash(person, 'n') % 1000) / 1000.0)::BIGINT)) AS k
    FROM gen_people
), timed AS (
    SELECT *, join_day + ((hash(person, k, 't') % 1000000) / 1000000.0) * ({history} - join_day) AS at_day
    FROM draws
)
SELECT person, source, k, mean_value, at_day
FROM (SELECT *, row_number() OVER (PARTITION BY person ORDER BY at_day) AS nth FROM timed)
WHERE nth <= max_purchases;

INSERT INTO orders (order_key, source, format, order_id, record_key, status_raw, status_class, order_time,
                    amount, batch_id, updated_at)
SELECT source || '|o' || person || '-' || k, source, 'generic', 'o' || person || '-' || k, source || '|' || person,
       NULL, 'purchase', now() - to_seconds((({history} - at_day) * 86400)::BIGINT),
       round(mean_value * (0.6 + 0.8 * (hash(person, k, 'v') % 1000) / 1000.0), 2)::DECIMAL(18, 2), 'bench', now()
FROM gen_orders;

INSERT INTO order_items (order_key, item_key, product_id, product, quantity, amount)
SELECT source || '|o' || person || '-' || k, '#0',
       'P' || ((person + CASE WHEN hash(person, k, 'p') % 3 = 0 THEN hash(person, k, 'q') % 20 ELSE 0 END) % 20),
       '商品', 1, round(mean_value * (0.6 + 0.8 * (hash(person, k, 'v') % 1000) / 1000.0), 2)::DECIMAL(18, 2)
FROM gen_orders;

INSERT INTO events (event_key, source, record_key, event_type, occurred_at, properties, batch_id)
SELECT 'e|' || person, source, source || '|' || person, 'wecom_contact_added',
       now() - to_days({history} - join_day), '{{}}', 'bench'
FROM gen_people WHERE person % 2 = 0;
"""


def run(people: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="siyu-bench-") as tmp:
        env = {"SIYU_HOME": str(Path(tmp) / "home"), "SIYU_WAREHOUSE": str(Path(tmp) / "wh.duckdb")}
        generated = run_child("siyu.benchmarks.predictions", {"step": "generate", "people": people}, env=env)
        traits = run_child("siyu.benchmarks.predictions", {"step": "traits"}, env=env)
        predicted = run_child("siyu.benchmarks.predictions", {"step": "predict"}, env=env)
    return {
        "benchmark": "predictions",
        "people": people,
        "machine": machine(),
        **generated,
        "reference_traits": traits,
        "predictions": predicted,
        "target": "train + score at 1M customers in reasonable time and memory (issue 4)",
    }


def _measure(step: str, people: int = 0) -> dict:
    from siyu.cli import migrate_quietly
    from siyu.warehouse import raw_connection

    migrate_quietly()
    con = raw_connection()
    if step == "generate":
        started = time.perf_counter()
        con.execute(GENERATE_SQL.format(people=people, history=HISTORY_DAYS))
        # The read models resolve keeps (customer_orders: the traits and features read it), as
        # tests/segments/prediction_data.py does; without it every snapshot was empty ("too little history").
        from siyu.warehouse.summary import rebuild_customer_summary

        rebuild_customer_summary()
        con.execute("CHECKPOINT")
        count = {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in ("orders", "events")}
        return {
            "customers": people,
            "orders": count["orders"],
            "events": count["events"],
            "generate_seconds": round(time.perf_counter() - started, 2),
        }
    if step == "traits":
        from siyu.segments.actions import refresh_traits

        wall, cpu = time.perf_counter(), time.process_time()
        report = refresh_traits()
        return {
            "seconds": round(time.perf_counter() - wall, 2),
            "cpu_seconds": round(time.process_time() - cpu, 2),
            "customers": report["customers"],
        }
    return _predict()


def _predict() -> dict:
    import numpy as np

    from siyu.segments.prediction_actions import refresh_predictions
    from siyu.segments.predictions import PredictionSettings, features_expr, propensity_report
    from siyu.warehouse import backend

    wall, cpu = time.perf_counter(), time.process_time()
    report = refresh_predictions()
    seconds, cpu_seconds = round(time.perf_counter() - wall, 2), round(time.process_time() - cpu, 2)
    check = report["calibration"]
    # Baseline on the same holdout: rank by recency alone (never bought = least likely).
    from datetime import datetime

    scored_at = datetime.fromisoformat(check["scored_at"])
    rows = features_expr(backend(), scored_at, PredictionSettings(), [], label=True)
    table = rows.select("recency_days", "label").to_pyarrow()
    recency = table.column("recency_days").to_numpy(zero_copy_only=False).astype("float64")
    baseline = propensity_report(
        table.column("label").to_numpy(zero_copy_only=False).astype("int8"),
        1.0 / (2.0 + np.nan_to_num(recency, nan=1e6)),
    )
    clv_check = report.get("clv_calibration", {})
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "timings": report["timings"],
        "customers": report["customers"],
        "training_rows": report["training"]["rows"],
        "holdout_customers": check.get("customers"),
        "holdout_base_rate": round(check.get("base_rate") or 0, 4),
        "auc": round(check["auc"], 4) if check.get("auc") is not None else None,
        "brier": round(check["brier"], 5) if check.get("brier") is not None else None,
        "brier_of_base_rate": round(check.get("brier_of_base_rate") or 0, 5),
        "top_decile_lift": round(check["lift"][0]["lift"], 2) if check.get("lift") else None,
        "baseline_recency_auc": round(baseline["auc"], 4) if baseline["auc"] is not None else None,
        "served": {k: v.get("served") for k, v in report.get("quality", {}).items()},
        "candidates": (report.get("quality", {}).get("p_purchase") or {}).get("candidates"),
        "bgnbd": report.get("bgnbd"),
        "gamma_gamma": report.get("gamma_gamma"),
        "bgnbd_holdout_predicted": round(clv_check.get("predicted_total") or 0),
        "bgnbd_holdout_actual": round(clv_check.get("actual_total") or 0),
    }


if __name__ == "__main__":
    child_main(_measure)
