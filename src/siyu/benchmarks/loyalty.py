"""`siyu bench loyalty --members 1000000 --entries 20000000`: the points ledger at a brand's size, in a child
process with a fresh SIYU_HOME of its own (SIYU_HOME/bench/loyalty-home; the control plane's default
SQLite database, or DATABASE_URL's when set).

Measured, in one run:
(1) a day's orders earn points: one award per order (orders = members, one a member) through
    siyu.loyalty.points.actions.award_points_bulk — entries/s; target 1M < 60 s; then the same day again
    (every key a replay: nothing written);
(2) the expiry run (expire_due_points) over a ledger of `entries` earn entries (lots), a tenth of them due —
    target 20M entries < 60 s;
(3) balance reads (balance_of) and history reads (history_of, first page) of 1,000 random members: p50/p95
    — target balance p95 < 20 ms;
(4) the reference: the same balance read from a plain row-store table of one balance per member (what a
    ledger that edits balances in place would read) in the same SQLite database;
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
                f"available_at, expires_at) {numbers}SELECT 'seed:' || i, (i % {members}) + 1, 100, 100, 'order', "
                f"'', %s, %s, CASE WHEN i % 10 = 0 THEN %s ELSE %s END FROM n",
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


def _measure(members: int, entries: int) -> dict:
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from siyu.loyalty.points import actions, queries

    call_command("migrate", interactive=False, verbosity=0)
    now = timezone.now()
    seed_s, _ = _timed(lambda: _seed(members, entries, now))
    rng = random.Random(7)
    day = [
        {"customer_id": cid, "points": rng.randrange(1, 500), "key": f"order:{cid}:today", "reason": "order paid",
         "source": "order", "source_ref": f"T{cid}", "available_at": now + _days(7), "expires_at": now + _days(365)}
        for cid in range(1, members + 1)
    ]  # fmt: skip
    earn_s, earned = _timed(lambda: actions.award_points_bulk(day))
    replay_s, replayed = _timed(lambda: actions.award_points_bulk(day))
    day.clear()  # the rows are not needed any more
    expiry_s, expired = _timed(lambda: actions.expire_due_points(now))
    ids = [rng.randrange(1, members + 1) for _ in range(READS)]
    queries.balance_of(ids[0])  # the first query of a process warms its connection
    balance = _reads(queries.balance_of, ids)
    history = _reads(lambda cid: list(queries.history_of(cid).object_list), ids)
    reference = _row_store_reference(members, ids) if connection.vendor == "sqlite" else None
    return {
        "database": connection.vendor,
        "seed_seconds (not measured: history)": seed_s,
        "earn_entries": earned,
        "earn_seconds": earn_s,
        "earn_entries_per_second": round(earned / earn_s) if earn_s else None,
        "earn_replay_seconds": replay_s,
        "earn_replay_written": replayed,
        "expiry_seconds": expiry_s,
        "expiry_lots_expired": expired["lots_expired"],
        "expiry_over_entries": entries + earned,
        "balance_read": balance,
        "history_read": history,
        "row_store_balance_read (reference)": reference,
    }


def _days(n: int):
    import datetime as dt

    return dt.timedelta(days=n)


if __name__ == "__main__":
    child_main(_measure)
