"""`siyu bench traits`: compute every trait for N customers on a synthetic warehouse (about 3.5 orders,
5 order lines and 0.5 events per customer, three years of history), in child processes so that each peak
RSS is its own: the current traits with three computed tags and a three-stage custom stage set, the
traits as of 90 days earlier, and the console's reads over them (a trait filter on the customer list, one
profile's traits).

The synthetic data is generated in DuckDB (SQL here is the benchmark's own fixture, not product code):
customers have 1–2 records; a purchase's customer is skewed (u^1.6) so that some buy often; 90% of orders
are purchases; lines are one of 40 products at list price or 5–20% off.
"""

from __future__ import annotations

import tempfile
import time
from datetime import timedelta
from pathlib import Path

from siyu.benchmarks.common import child_main, machine, run_child

ORDERS_PER_CUSTOMER = 3.5
EVENTS_PER_CUSTOMER = 0.5
DAY = 86_400
HISTORY_DAYS = 3 * 365

GENERATE_SQL = """
CREATE OR REPLACE TEMP TABLE gen_people AS
SELECT p AS person, 1 + (hash(p, 'records') % 2) AS n_records FROM range({people}) t(p);

INSERT INTO records (record_key, source, format, record_kind, record_id, seen_at, imported_at)
SELECT 'src' || r || '|' || person, 'src' || r, 'generic', 'order', person::VARCHAR,
       now() - to_seconds((hash(person, r, 'seen') % ({history} * {day}))::BIGINT), now()
FROM gen_people, range(2) s(r) WHERE r < n_records;

INSERT INTO customer_map
SELECT 'src' || r || '|' || person, person + 1, now() FROM gen_people, range(2) s(r) WHERE r < n_records;

CREATE OR REPLACE TEMP TABLE gen_orders AS
SELECT i,
       least({people} - 1, floor({people} * pow((hash(i, 'who') % 1000000007) / 1000000007.0, 1.6)))::BIGINT
           AS person,
       hash(i, 'status') % 100 AS status_roll,
       now() - to_seconds((hash(i, 'when') % ({history} * {day}))::BIGINT) AS order_time,
       1 + hash(i, 'lines') % 2 + (hash(i, 'more') % 4 = 0)::INT AS n_lines
FROM range({orders}) t(i);

CREATE OR REPLACE TEMP TABLE gen_lines AS
SELECT i, line, hash(i, line, 'product') % 40 AS product, 1 + (hash(i, line, 'qty') % 10 = 0)::INT AS quantity,
       [0, 0, 0, 5, 10, 20][(1 + hash(i, line, 'off') % 6)::BIGINT] AS off
FROM gen_orders, range(3) l(line) WHERE line < n_lines;

INSERT INTO order_items (order_key, item_key, product_id, product, quantity, amount)
SELECT 'src0|o' || i, '#' || line, 'P' || product, '商品' || product, quantity,
       round((29 + product * 17) * quantity * (100 - off) / 100.0, 2)::DECIMAL(18, 2)
FROM gen_lines;

INSERT INTO orders (order_key, source, format, order_id, record_key, status_raw, status_class, order_time,
                    amount, batch_id, updated_at)
SELECT 'src0|o' || o.i, 'src0', 'generic', 'o' || o.i, 'src0|' || o.person, NULL,
       CASE WHEN status_roll < 90 THEN 'purchase' WHEN status_roll < 97 THEN 'not_purchase' ELSE 'pending' END,
       order_time, coalesce(l.amount, 0), 'bench', now()
FROM gen_orders o LEFT JOIN (SELECT order_key, sum(amount) AS amount FROM order_items GROUP BY 1) l
     ON l.order_key = 'src0|o' || o.i;

INSERT INTO events (event_key, source, record_key, event_type, occurred_at, properties, batch_id)
SELECT 'src0|e' || i, 'src0', 'src0|' || (hash(i, 'ev') % {people}),
       ['wecom_contact_added', 'member_registered', 'page_view'][(1 + hash(i, 'type') % 3)::BIGINT],
       now() - to_seconds((hash(i, 'at') % ({history} * {day}))::BIGINT), '{{}}', 'bench'
FROM range({events}) t(i);
"""

TAGS = {
    "高价值": {"field": "m_score", "op": ">=", "value": 4},
    "快到复购期": {"field": "due_in_days", "op": "between", "value": [-7, 7]},
    "近30天加微": {"event": {"type": "wecom_contact_added", "within_days": 30}},
}
STAGES = [
    {"stage": "复购忠诚", "when": {"bought": {"within_days": 180, "at_least": 3}}},
    {"stage": "价格敏感", "when": {"field": "discount_order_share", "op": ">=", "value": 0.5}},
    {"stage": "沉睡", "when": {"field": "lifecycle_stage", "op": "in", "value": ["dormant", "churned"]}},
]


def run(people: int, orders_per_person: float = ORDERS_PER_CUSTOMER) -> dict:
    with tempfile.TemporaryDirectory(prefix="siyu-bench-") as tmp:
        env = {"SIYU_HOME": str(Path(tmp) / "home"), "SIYU_WAREHOUSE": str(Path(tmp) / "wh.duckdb")}
        generated = run_child("siyu.benchmarks.traits", {"step": "generate", "people": people,
                                                         "orders_per_person": orders_per_person}, env=env)  # fmt: skip
        current = run_child("siyu.benchmarks.traits", {"step": "current"}, env=env)
        as_of = run_child("siyu.benchmarks.traits", {"step": "as_of"}, env=env)
        reads = run_child("siyu.benchmarks.traits", {"step": "reads"}, env=env)
    return {
        "benchmark": "traits",
        "people": people,
        "machine": machine(),
        **{k: generated[k] for k in ("customers", "orders", "order_lines", "events", "generate_seconds")},
        "current": current,
        "as_of_90_days_earlier": as_of,
        "console_reads_ms": reads["ms"],
        "target": "1M customers / 3-4M orders in seconds",
    }


def _measure(step: str, people: int = 0, orders_per_person: float = ORDERS_PER_CUSTOMER) -> dict:
    from siyu.cli import migrate_quietly
    from siyu.warehouse import raw_connection

    migrate_quietly()
    con = raw_connection()
    if step == "generate":
        started = time.perf_counter()
        orders, events = int(people * orders_per_person), int(people * EVENTS_PER_CUSTOMER)
        con.execute(
            GENERATE_SQL.format(people=people, orders=orders, events=events, history=HISTORY_DAYS, day=DAY)
        )
        con.execute("CHECKPOINT")
        counts = {
            table: con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            for table in ("customer_map", "orders", "order_items", "events")
        }
        return {
            "customers": con.execute("SELECT count(DISTINCT customer_id) FROM customer_map").fetchall()[0][0],
            "orders": counts["orders"],
            "order_lines": counts["order_items"],
            "events": counts["events"],
            "generate_seconds": round(time.perf_counter() - started, 2),
        }
    if step == "reads":
        return {"ms": _console_reads()}
    return _refresh(as_of_days_ago=90 if step == "as_of" else None)


def _refresh(as_of_days_ago: int | None) -> dict:
    from django.utils import timezone

    from siyu.segments.actions import refresh_traits, save_computed_tag, save_stage_set

    for name, rule in TAGS.items():
        save_computed_tag(None, name, rule)
    save_stage_set(None, "bench", STAGES)
    as_of = timezone.localdate() - timedelta(days=as_of_days_ago) if as_of_days_ago else None
    wall, cpu = time.perf_counter(), time.process_time()
    report = refresh_traits(as_of)
    return {
        "seconds": round(time.perf_counter() - wall, 2),
        "cpu_seconds": round(time.process_time() - cpu, 2),
        "timings": report["timings"],
        "customers": report["customers"],
        "buyers_in_window": report["buyers_in_window"],
        "rfm_layers": report["rfm_layers"],
        "stage_sets": report["stage_sets"],
        "computed_tags": report["computed_tags"],
    }


def _console_reads() -> dict:
    """What an operator waits for over the current traits (one run each after a warm-up; ms)."""
    from django.contrib.auth import get_user_model

    from siyu.customers.queries import list_customers
    from siyu.segments.queries import customer_list_query, filter_choices, traits_of
    from siyu.warehouse.summary import rebuild_customer_summary

    rebuild_customer_summary()
    user, _ = get_user_model().objects.get_or_create(
        username="bench-operator", defaults={"is_superuser": True}
    )
    cases = {
        "customer list filtered by RFM layer": lambda: list_customers(
            user, customer_list_query(rfm_layer="important_value")
        ),
        "customer list by computed tag and value layer": lambda: list_customers(
            user, customer_list_query(computed_tag="高价值", value_layer="top")
        ),
        "one customer's traits (profile card)": lambda: traits_of(1),
        "trait filter choices": filter_choices,
    }
    list_customers(user)
    timings = {}
    for name, call in cases.items():
        started = time.perf_counter()
        call()
        timings[name] = round((time.perf_counter() - started) * 1000)
    return timings


if __name__ == "__main__":
    child_main(_measure)
