"""`siyu bench loyalty --members 1000000 --entries 20000000`: the points ledger at a brand's size, in a child
process with a fresh SIYU_HOME of its own (SIYU_HOME/bench/loyalty-home; the control plane's default
SQLite database, or DATABASE_URL's when set, and a warehouse of its own).

Measured, in one run:
(1) the earn job (siyu.loyalty.earning.actions.earn_for_orders) over a day's orders, one a member, in the
    warehouse: 97% paid, a fifth in the stores; rules 1 point a yuan, 2 in the stores, 3 on one product's
    lines, 200 for a first purchase (one member in five has no earlier purchase), a gold tier ×1.5 held by one
    member in ten; then the members' tiers (evaluate_tiers, reported apart) — target 1M orders' earn entries
    < 60 s; reference: DuckDB's own read of the same orders into Arrow;
(2) the ledger's bulk path alone (siyu.loyalty.points.actions.award_points_bulk), as many awards again, and
    the same awards replayed (nothing written); reference: raw sqlite3 executemany of the same lot rows into
    a table with no index but its rowid, and with only a unique key;
(3) the expiry run (expire_due_points) over the ledger: a tenth of the seeded lots are due, spread evenly
    over the ids (the worst case: every page of the lots holds some) — target 20M entries < 60 s;
(4) balance reads (balance_of) and history reads (history_of, first page) of 1,000 random members: p50/p95
    — target balance p95 < 20 ms; reference: the same balance from a plain row-store table of one balance
    per member (what a ledger that edits balances in place would read) in the same SQLite database;
peak RSS of the child.

The ledger of `entries` lots and their earn entries is written by set-wise SQL (not measured: it stands for
years of history), spread evenly over the members."""

from __future__ import annotations

import random
import shutil
import statistics
import time
from pathlib import Path

from siyu.benchmarks.common import child_main, machine, run_child

SEED_CHUNK = 2_000_000
READS = 1_000


def run(people: int | None = None, members: int = 1_000_000, entries: int = 20_000_000) -> dict:
    """`people` is the bench command's common argument; this benchmark sizes by members and entries."""
    from django.conf import settings

    home = Path(settings.SIYU_HOME) / "bench" / "loyalty-home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    result = run_child("siyu.benchmarks.loyalty", {"members": members, "entries": entries},
                       env={"SIYU_HOME": str(home), "SIYU_WAREHOUSE": ""})  # fmt: skip
    return {"benchmark": "loyalty", "members": members, "entries": entries, "machine": machine(), **result}


def _timed(fn):
    started = time.perf_counter()
    result = fn()
    return round(time.perf_counter() - started, 3), result


def _seed(members: int, entries: int, now) -> None:
    """`entries` lots of 100 points with their earn entries, a tenth of them past their expiry."""
    from django.db import connection, transaction

    from siyu.loyalty.points.models import PointsEntry, PointsLot

    lot, entry = PointsLot._meta.db_table, PointsEntry._meta.db_table
    field = PointsLot._meta.get_field("created_at")
    import datetime as dt

    created = field.get_db_prep_value(now - dt.timedelta(days=200), connection)
    past = field.get_db_prep_value(now - dt.timedelta(days=1), connection)
    future = field.get_db_prep_value(now + dt.timedelta(days=200), connection)
    for low in range(0, entries, SEED_CHUNK):
        high = min(low + SEED_CHUNK, entries)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT coalesce(max(id), 0) FROM {lot}")
            start = cursor.fetchone()[0]
            numbers = (
                f"WITH RECURSIVE n(i) AS (SELECT {low + 1} UNION ALL SELECT i + 1 FROM n WHERE i < {high}) "
                if connection.vendor == "sqlite"
                else f"WITH n(i) AS (SELECT generate_series({low + 1}, {high})) "
            )
            cursor.execute(
                f"{numbers}INSERT INTO {lot} (key, customer_id, points, remaining, source, source_ref, created_at, "
                f"available_at, expires_at) SELECT 'seed:' || i, (i % {members}) + 1, 100, 100, 'order', '', %s, %s, "
                f"CASE WHEN i % 10 = 0 THEN %s ELSE %s END FROM n"
                if connection.vendor == "sqlite"
                else f"INSERT INTO {lot} (key, customer_id, points, remaining, source, source_ref, created_at, "
                f"available_at, expires_at) {numbers}SELECT 'seed:' || i, mod(i, {members}) + 1, 100, 100, 'order', "
                f"'', %s, %s, CASE WHEN mod(i, 10) = 0 THEN %s ELSE %s END FROM n",
                [created, created, past, future],
            )
            cursor.execute(
                f"INSERT INTO {entry} (key, customer_id, lot_id, points, account, source, source_ref, reason, "
                f"created_at, shortfall) SELECT key, customer_id, id, 100, 'issued', 'order', '', 'order paid', "
                f"created_at, 0 FROM {lot} WHERE id > %s",
                [start],
            )


def _percentiles(samples: list[float]) -> dict:
    samples = sorted(samples)
    return {
        "p50_ms": round(statistics.median(samples) * 1000, 2),
        "p95_ms": round(samples[int(len(samples) * 0.95) - 1] * 1000, 2),
    }


def _reads(fn, ids) -> dict:
    times = []
    for cid in ids:
        started = time.perf_counter()
        fn(cid)
        times.append(time.perf_counter() - started)
    return _percentiles(times)


def _row_store_reference(members: int, ids) -> dict:
    """One balance per member in a plain table with its primary key: the floor of a balance read."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_balances (customer_id bigint PRIMARY KEY, balance integer)")
        cursor.execute(
            "INSERT INTO bench_balances SELECT customer_id, sum(remaining) FROM loyalty_pointslot "
            "GROUP BY customer_id"
        )

    def read(cid):
        with connection.cursor() as cursor:
            cursor.execute("SELECT balance FROM bench_balances WHERE customer_id = %s", [cid])
            return cursor.fetchone()

    return _reads(read, ids)


WAREHOUSE_SQL = """
CREATE OR REPLACE TEMP TABLE gen_members AS
SELECT m + 1 AS cid, hash(m, 'past') % 10 < 8 AS bought_before, hash(m, 'chan') % 5 = 0 AS in_store,
       hash(m, 'status') % 100 < 97 AS paid
FROM range({members}) t(m);

INSERT INTO customer_map SELECT 'bench|' || cid, cid, TIMESTAMP '{before}' FROM gen_members;

CREATE OR REPLACE TEMP TABLE gen_lines AS
SELECT cid, line, hash(cid, line, 'product') % 40 AS product, 1 + (hash(cid, line, 'qty') % 10 = 0)::INT AS quantity
FROM gen_members, range(2) l(line) WHERE line = 0 OR hash(cid, 'two') % 3 = 0;

INSERT INTO order_items (order_key, item_key, product_id, product, sku, quantity, amount)
SELECT 'bench:o' || cid, '#' || line, 'P' || product, '商品' || product, 'SKU' || product, quantity,
       ((29 + product * 17) * quantity)::DECIMAL(18, 2)
FROM gen_lines;

-- today's orders: one a member, 97% paid (the rest closed), a fifth in the stores
INSERT INTO orders (order_key, source, format, order_id, record_key, status_class, order_time, paid_time, amount,
                    batch_id, updated_at)
SELECT 'bench:o' || m.cid, CASE WHEN in_store THEN 'pos_store' ELSE 'tmall' END,
       CASE WHEN in_store THEN 'pos' ELSE 'tmall' END, 'o' || m.cid, 'bench|' || m.cid,
       CASE WHEN paid THEN 'purchase' ELSE 'not_purchase' END,
       TIMESTAMP '{today}' + to_seconds(hash(m.cid, 'at') % 36000), TIMESTAMP '{today}' + to_seconds(hash(m.cid, 'at') % 36000),
       l.amount, 'bench', TIMESTAMP '{today}' + INTERVAL 11 HOUR
FROM gen_members m JOIN (SELECT order_key, sum(amount) AS amount FROM order_items GROUP BY 1) l
     ON l.order_key = 'bench:o' || m.cid;

-- an earlier purchase of four members in five (their first-purchase bonus is behind them), imported before
-- the previous run of the earn job
INSERT INTO orders (order_key, source, format, order_id, record_key, status_class, order_time, paid_time, amount,
                    batch_id, updated_at)
SELECT 'bench:p' || cid, 'tmall', 'tmall', 'p' || cid, 'bench|' || cid, 'purchase',
       TIMESTAMP '{before}' - INTERVAL 100 DAY, TIMESTAMP '{before}' - INTERVAL 100 DAY, 99.00, 'bench',
       TIMESTAMP '{before}'
FROM gen_members WHERE bought_before;
"""


def _warehouse(members: int, now) -> dict:
    """The day's orders (one a member) and four members in five's earlier purchase, in DuckDB (SQL here is
    the benchmark's own fixture), with the previous earn run's watermark before today."""
    import datetime as dt

    from siyu.cli import migrate_quietly
    from siyu.loyalty.earning.models import EarnRun
    from siyu.warehouse import raw_connection
    from siyu.warehouse.customer_orders import rebuild_on

    migrate_quietly()
    before = (now - dt.timedelta(days=1)).replace(tzinfo=None)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    raw = raw_connection()
    raw.execute(WAREHOUSE_SQL.format(members=members, before=before, today=today))
    rebuild_on(raw)
    raw.execute("CHECKPOINT")
    EarnRun.objects.create(started_at=now - dt.timedelta(days=1), finished_at=now - dt.timedelta(days=1),
                           watermark=now - dt.timedelta(days=1) + dt.timedelta(seconds=1))  # fmt: skip
    return {
        "orders_today": raw.execute("SELECT count(*) FROM orders WHERE order_key LIKE 'bench:o%'").fetchall()[0][0],
        "orders_before": raw.execute("SELECT count(*) FROM orders WHERE order_key LIKE 'bench:p%'").fetchall()[0][0],
        "order_lines": raw.execute("SELECT count(*) FROM order_items").fetchall()[0][0],
    }


def _rules(members: int, now) -> None:
    """Per-yuan rules (1 a yuan, 2 in the stores, 3 on one product line), a first-purchase bonus, and a gold
    tier (×1.5) held by one member in ten."""
    from siyu.loyalty.earning import actions as earning
    from siyu.loyalty.earning.models import RuleKind
    from siyu.loyalty.tiers import actions as tiers
    from siyu.loyalty.tiers.models import MemberTier

    earning.make_rule(None, name="每元1分", kind=RuleKind.PER_YUAN, points_per_yuan="1")
    earning.make_rule(None, name="门店双倍", kind=RuleKind.PER_YUAN, channel="pos_store", points_per_yuan="2")
    earning.make_rule(None, name="商品7三倍", kind=RuleKind.PER_YUAN, product="SKU7", points_per_yuan="3")
    earning.make_rule(None, name="首单", kind=RuleKind.FIRST_PURCHASE, points=200)
    gold = tiers.make_tier(None, name="金卡", rank=2, measure="spend", threshold="100000", multiplier="1.5")
    MemberTier.objects.bulk_create(
        [MemberTier(customer_id=cid, tier=gold, since=now) for cid in range(1, members + 1, 10)], batch_size=5000
    )


def _duckdb_read_reference(now) -> dict:
    """DuckDB's own read of the day's orders with their customers into Arrow: what any earn job reads."""
    from siyu.warehouse import raw_connection

    raw = raw_connection()
    started = time.perf_counter()
    table = raw.execute(
        "SELECT o.order_key, o.source, o.format, m.customer_id, o.order_time, o.paid_time, o.amount, "
        "o.status_class = 'purchase' AS purchase FROM orders o JOIN customer_map m USING (record_key) "
        "WHERE o.updated_at > ? OR m.resolved_at > ?",
        [(now - _days(1)).replace(tzinfo=None)] * 2,
    ).fetch_arrow_table()
    return {"rows": table.num_rows, "seconds": round(time.perf_counter() - started, 3)}


def _sqlite_insert_reference(home: Path, rows: list[tuple]) -> dict:
    """The ceiling of a ledger write here: the same lot rows by raw sqlite3 executemany into a table with
    no index but its rowid (one transaction, the project's PRAGMAs), and again with a unique text key."""
    import sqlite3

    out = {}
    for name, unique in (("no_index", ""), ("unique_key", " UNIQUE")):
        path = home / f"reference-{name}.sqlite3"
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute(f"CREATE TABLE lots (id INTEGER PRIMARY KEY, key varchar(200){unique}, customer_id bigint, "
                    "points integer, remaining integer, source varchar(16), source_ref varchar(200), "
                    "created_at datetime, available_at datetime, expires_at datetime)")  # fmt: skip
        started = time.perf_counter()
        con.execute("BEGIN")
        con.executemany("INSERT INTO lots (key, customer_id, points, remaining, source, source_ref, created_at, "
                        "available_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)  # fmt: skip
        con.execute("COMMIT")
        seconds = time.perf_counter() - started
        con.close()
        path.unlink()
        out[name] = {"rows": len(rows), "seconds": round(seconds, 3), "rows_per_second": round(len(rows) / seconds)}
    return out


def _measure(members: int, entries: int) -> dict:
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from siyu.loyalty.earning import actions as earning
    from siyu.loyalty.points import actions, queries

    call_command("migrate", interactive=False, verbosity=0)
    now = timezone.now()
    seed_s, _ = _timed(lambda: _seed(members, entries, now))
    warehouse_s, orders = _timed(lambda: _warehouse(members, now))
    _rules(members, now)
    # (1) the earn job over the day's orders: read, priced by the rules, tier multipliers, first purchases,
    # ledger entries, what each order earned; then the members' tiers
    job_s, job = _timed(lambda: earning.earn_for_orders(now=now))
    reference_read = _duckdb_read_reference(now)
    rng = random.Random(7)
    day = [
        {"customer_id": cid, "points": rng.randrange(1, 500), "key": f"bulk:{cid}:today", "reason": "order paid",
         "source": "order", "source_ref": f"T{cid}", "available_at": now + _days(7), "expires_at": now + _days(365)}
        for cid in range(1, members + 1)
    ]  # fmt: skip
    # (2) the ledger's bulk path alone, the same number of awards
    earn_s, earned = _timed(lambda: actions.award_points_bulk(day))
    replay_s, replayed = _timed(lambda: actions.award_points_bulk(day))
    stamp = now.isoformat(sep=" ")
    reference_rows = [(r["key"], r["customer_id"], r["points"], r["points"], "order", r["source_ref"], stamp, stamp,
                       stamp) for r in day]  # fmt: skip
    day.clear()
    reference_insert = _sqlite_insert_reference(Path(settings.SIYU_HOME), reference_rows)
    reference_rows.clear()
    total = _entries_in_ledger()
    expiry_s, expired = _timed(lambda: actions.expire_due_points(now))
    ids = [rng.randrange(1, members + 1) for _ in range(READS)]
    queries.balance_of(ids[0])  # the first query of a process warms its connection
    balance = _reads(queries.balance_of, ids)
    history = _reads(lambda cid: list(queries.history_of(cid).object_list), ids)
    reference = _row_store_reference(members, ids) if connection.vendor == "sqlite" else None
    return {
        "database": connection.vendor,
        "seed_seconds (not measured: history)": seed_s,
        "warehouse_seconds (not measured: the day's orders)": warehouse_s,
        **orders,
        "earn_job_seconds": job_s,
        "earn_job_seconds_before_tiers": job["seconds"],
        "earn_job_tier_seconds": round(job_s - job["seconds"], 3),
        "earn_job_entries": job["awarded"],
        "earn_job_first_purchases": job["first_purchases"],
        "earn_job_points": job["points"],
        "earn_job_orders_per_second": round(job["orders"] / job_s) if job_s else None,
        "duckdb_read_of_the_orders (reference)": reference_read,
        "bulk_entries": earned,
        "bulk_seconds": earn_s,
        "bulk_entries_per_second": round(earned / earn_s) if earn_s else None,
        "bulk_replay_seconds": replay_s,
        "bulk_replay_written": replayed,
        "sqlite_executemany_of_the_same_lots (reference)": reference_insert,
        "expiry_seconds": expiry_s,
        "expiry_lots_expired": expired["lots_expired"],
        "expiry_over_entries": total,
        "balance_read": balance,
        "history_read": history,
        "row_store_balance_read (reference)": reference,
    }


def _entries_in_ledger() -> int:
    from siyu.loyalty.points.models import PointsEntry

    return PointsEntry.objects.count()


def _days(n: int):
    import datetime as dt

    return dt.timedelta(days=n)


if __name__ == "__main__":
    child_main(_measure)
