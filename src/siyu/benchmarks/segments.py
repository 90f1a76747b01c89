"""`siyu bench segments`: a five-condition segment on N customers of the synthetic warehouse of `siyu bench
traits` (10 orders per customer unless --orders-per-person says otherwise, 1.75 lines per order and 0.5
events per customer): the builder's preview count, the
full materialisation (first refresh: everyone enters; second: nothing changes), and the same rule as
SQL on a SQLite row store of the same rows with indexes, in the same run (the ratio). Each step runs in
its own child process.

The rule (RFM, value layer, repeat purchase in a year, spend at a channel, and no recent WeCom contact):
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from siyu.benchmarks.common import child_main, machine, run_child

# The scale: about 10M orders at 1M customers (the traits benchmark's default is 3.5).
ORDERS_PER_PERSON = 10.0
RULE = {
    "all": [
        {"field": "r_score", "op": ">=", "value": 3},
        {"field": "value_layer", "op": "in", "value": ["top", "waist"]},
        {"bought": {"within_days": 365, "at_least": 2}},
        {"spent": {"at_least": 300, "source": "src0"}},
        {"not": {"event": {"type": "wecom_contact_added", "within_days": 30}}},
    ]
}
# The same rule on the row store: purchase orders and events keyed by customer, with indexes.
SQLITE_COUNT = """
SELECT count(*) FROM traits t
WHERE t.r_score >= 3 AND t.value_layer IN ('top', 'waist')
  AND (SELECT count(*) FROM purchases p WHERE p.customer_id = t.customer_id AND p.order_time >= :year_ago) >= 2
  AND (SELECT coalesce(sum(amount), 0) FROM purchases p WHERE p.customer_id = t.customer_id
       AND p.source = 'src0') >= 300
  AND NOT EXISTS (SELECT 1 FROM events e WHERE e.customer_id = t.customer_id
                  AND e.event_type = 'wecom_contact_added' AND e.occurred_at >= :month_ago)
"""


def run(people: int, orders_per_person: float = ORDERS_PER_PERSON) -> dict:
    """The generated and prepared warehouse is kept in SIYU_HOME/bench/segments-people-N-orders-M (at 1M
    people and 10M orders generating and preparing it takes minutes) and reused by later runs."""
    from django.conf import settings

    kept = Path(settings.SIYU_HOME) / "bench" / f"segments-people-{people}-orders-{orders_per_person:g}"
    ready = kept / "ready.json"
    env = {"SIYU_HOME": str(kept / "home"), "SIYU_WAREHOUSE": str(kept / "wh.duckdb")}
    if ready.exists():
        cached = json.loads(ready.read_text())
        generated, prepared = cached["generated"], {**cached["prepared"], "reused": str(kept)}
    else:
        shutil.rmtree(kept, ignore_errors=True)
        kept.mkdir(parents=True)
        generated = run_child("siyu.benchmarks.traits", {"step": "generate", "people": people,
                                                         "orders_per_person": orders_per_person}, env=env)  # fmt: skip
        prepared = run_child("siyu.benchmarks.segments", {"step": "prepare"}, env=env)
        ready.write_text(json.dumps({"generated": generated, "prepared": prepared}))
    measured = run_child("siyu.benchmarks.segments", {"step": "segment"}, env=env)
    with tempfile.TemporaryDirectory(prefix="siyu-bench-") as tmp:
        sqlite = run_child("siyu.benchmarks.segments", {"step": "sqlite", "path": str(Path(tmp) / "rows.sqlite")},
                           env=env)  # fmt: skip
    ratio = (
        round(sqlite["count_seconds"] / measured["preview_seconds"], 1)
        if measured["preview_seconds"]
        else None
    )
    return {
        "benchmark": "segments",
        "people": people,
        "machine": machine(),
        **{k: generated[k] for k in ("customers", "orders", "order_lines", "events")},
        "prepare": prepared,
        "rule": RULE,
        "segment": measured,
        "sqlite": sqlite,
        "sqlite_over_preview": ratio,
        "same_count": sqlite["count"] == measured["preview_count"],
        "target": "preview < 1 s, materialisation < 5 s, SQLite / warehouse >= 30x at 1M customers",
    }


def _measure(step: str, path: str = "") -> dict:
    from siyu.cli import migrate_quietly

    migrate_quietly()
    if step == "prepare":
        return _prepare()
    if step == "segment":
        return _segment()
    return _sqlite(path)


def _prepare() -> dict:
    """The customer summary and the current traits the rule reads (not measured here)."""
    from siyu.segments.actions import refresh_traits
    from siyu.warehouse.summary import rebuild_customer_summary

    started = time.perf_counter()
    rebuild_customer_summary()
    summary = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    refresh_traits()
    return {"summary_seconds": summary, "traits_seconds": round(time.perf_counter() - started, 2)}


def _segment() -> dict:
    from siyu.segments.actions import delete_segment, refresh_segment, save_segment
    from siyu.segments.models import Segment
    from siyu.segments.queries import preview_segment

    for earlier in Segment.objects.filter(name="bench"):  # a kept warehouse's previous run
        delete_segment(None, earlier.pk)

    timings = {}
    started = time.perf_counter()
    preview = preview_segment(RULE)
    timings["preview_first_seconds"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    preview = preview_segment(RULE)
    timings["preview_seconds"] = round(time.perf_counter() - started, 3)
    timings["profile"] = _profile()
    segment = save_segment(None, "bench", rule=RULE, materialise=False)  # timed below
    first = refresh_segment(segment.pk)
    second = refresh_segment(segment.pk)
    return {
        "preview_count": preview["count"],
        **timings,
        "materialise_seconds": first["seconds"],
        "materialise_members": first["members"],
        "refresh_unchanged_seconds": second["seconds"],
        "refresh_unchanged_changes": second["entered"] + second["exited"],
    }


def _profile() -> dict:
    """Where a preview's time goes: building and compiling the Ibis expression, then each condition of
    the rule counted alone (DuckDB)."""
    from siyu.segments.actions import checked_rule
    from siyu.segments.membership import rule_members
    from siyu.warehouse import backend

    con = backend()
    started = time.perf_counter()
    con.compile(rule_members(con, checked_rule(RULE)).count())
    out = {"build_and_compile_seconds": round(time.perf_counter() - started, 3), "conditions_alone": []}
    for condition in RULE["all"]:
        expr = rule_members(con, checked_rule({"all": [condition]})).count()
        started = time.perf_counter()
        count = int(expr.execute())
        out["conditions_alone"].append({"condition": json.dumps(condition, ensure_ascii=False), "count": count,
                                        "seconds": round(time.perf_counter() - started, 3)})  # fmt: skip
    return out


def _sqlite(path: str) -> dict:
    """Copy the rows the rule reads into an indexed SQLite file, then time the rule as one SQL query."""
    from datetime import UTC, datetime, timedelta

    from siyu.segments.queries import snapshot_expr
    from siyu.warehouse import raw_connection

    con = raw_connection()
    started = time.perf_counter()
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE traits (customer_id INTEGER PRIMARY KEY, r_score INTEGER, value_layer TEXT)")
    db.execute("CREATE TABLE purchases (customer_id INTEGER, order_time TEXT, amount REAL, source TEXT)")
    db.execute("CREATE TABLE events (customer_id INTEGER, event_type TEXT, occurred_at TEXT)")
    traits = snapshot_expr().select("customer_id", "r_score", "value_layer").to_pyarrow().to_pylist()
    db.executemany("INSERT INTO traits VALUES (:customer_id, :r_score, :value_layer)", traits)
    # in chunks: 9M purchase rows as Python tuples at once would take gigabytes
    con.execute(
        """SELECT m.customer_id, strftime(o.order_time AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S'),
                  o.amount::DOUBLE, o.source
           FROM orders o JOIN customer_map m USING (record_key) WHERE o.status_class = 'purchase'"""
    )
    while chunk := con.fetchmany(500_000):
        db.executemany("INSERT INTO purchases VALUES (?, ?, ?, ?)", chunk)
    con.execute(
        """SELECT m.customer_id, e.event_type, strftime(e.occurred_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S')
           FROM events e JOIN customer_map m USING (record_key)"""
    )
    while chunk := con.fetchmany(500_000):
        db.executemany("INSERT INTO events VALUES (?, ?, ?)", chunk)
    # covering: the rule reads time, source and amount per customer without touching the table
    db.execute("CREATE INDEX purchases_customer ON purchases (customer_id, order_time, source, amount)")
    db.execute("CREATE INDEX events_customer ON events (customer_id, event_type, occurred_at)")
    db.commit()
    load = round(time.perf_counter() - started, 2)
    now = datetime.now(UTC)
    params = {
        "year_ago": (now - timedelta(days=365)).strftime("%Y-%m-%d %H:%M:%S"),
        "month_ago": (now - timedelta(days=30)).strftime("%Y-%m-%d %H:%M:%S"),
    }
    started = time.perf_counter()
    count = db.execute(SQLITE_COUNT, params).fetchone()[0]
    seconds = round(time.perf_counter() - started, 3)
    db.close()
    return {"load_seconds": load, "count": count, "count_seconds": seconds}


if __name__ == "__main__":
    child_main(_measure)
