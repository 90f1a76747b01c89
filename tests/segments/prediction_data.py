"""A synthetic brand whose purchase process is known, written straight into the warehouse tables that
import + resolve fill (like traits_data.py).

Each customer joins on a day of the two years before AS_OF and buys, while alive, as a Poisson process of
rate λ per day; after each purchase they leave with probability p (the BG/NBD story). λ is 0.004 per day
(one purchase in ~8 months) for half the customers and 0.04 (one a month) for the other half, who all came
through the `wecom` channel; p is 0.1. So whether a customer buys in the next 30 days is predictable from
their history and channel: a model must find AUC well above 0.5. Purchases continue after AS_OF (they
are the labels of the holdout, and the leakage test adds more).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pyarrow as pa

from siyu.warehouse.schema import TABLES

AS_OF = date(2026, 6, 1)
CUTOFF = datetime(2026, 5, 31, 16, 0, tzinfo=UTC)  # 2026-06-01 00:00 Asia/Shanghai
HISTORY_DAYS = 730
FUTURE_DAYS = 60


def simulate(customers: int = 3000, seed: int = 11) -> dict[int, dict]:
    rng = np.random.default_rng(seed)
    start = CUTOFF - timedelta(days=HISTORY_DAYS)
    people = {}
    for cid in range(1, customers + 1):
        frequent = cid % 2 == 0
        rate = 0.04 if frequent else 0.004
        joined = rng.uniform(0, HISTORY_DAYS - 30)
        t, times = joined, []
        end = HISTORY_DAYS + FUTURE_DAYS
        while True:
            t += rng.exponential(1 / rate)
            if t >= end:
                break
            times.append(t)
            if rng.random() < 0.1:
                break
        value = rng.gamma(4, 25) + (50 if frequent else 0)
        people[cid] = {
            "source": "wecom" if frequent else ("tmall" if cid % 4 == 1 else "jd"),
            "seen": start + timedelta(days=joined),
            "purchases": [
                (start + timedelta(days=float(x)), Decimal(str(round(value * rng.uniform(0.6, 1.4), 2))))
                for x in times
            ],
        }
    return people


def _insert(con, table: str, rows: list[dict]) -> None:
    schema = TABLES[table].to_pyarrow()
    con.insert(
        table, pa.Table.from_pylist([{n: r.get(n) for n in schema.names} for r in rows], schema=schema)
    )


def write_people(con, people: dict[int, dict]) -> None:
    records, cmap, orders, items = [], [], [], []
    for cid, person in people.items():
        key = f"{person['source']}|r{cid}"
        records.append({"record_key": key, "source": person["source"], "record_id": f"r{cid}",
                        "seen_at": person["seen"], "imported_at": person["seen"]})  # fmt: skip
        cmap.append({"record_key": key, "customer_id": cid, "resolved_at": person["seen"]})
        for number, (when, amount) in enumerate(person["purchases"]):
            order_key = f"{person['source']}|o{cid}-{number}"
            orders.append({"order_key": order_key, "source": person["source"], "order_id": f"o{cid}-{number}",
                           "record_key": key, "status_class": "purchase", "order_time": when,
                           "amount": amount})  # fmt: skip
            items.append({"order_key": order_key, "item_key": "#0", "product": f"P{cid % 3}", "quantity": 1,
                          "amount": amount})  # fmt: skip
    for table, rows in (
        ("records", records),
        ("customer_map", cmap),
        ("orders", orders),
        ("order_items", items),
    ):
        if rows:
            _insert(con, table, rows)


def build_predicted_warehouse(path, customers: int = 2000) -> dict:
    """Write the synthetic brand into a new warehouse file at `path`, rebuild customer_summary and compute
    the current predictions as of CUTOFF (a template that tests copy: one computation per session)."""
    from django.test import override_settings

    from siyu.segments.prediction_actions import refresh_predictions
    from siyu.warehouse import connection
    from siyu.warehouse.summary import rebuild_customer_summary

    people = simulate(customers)
    connection.close()
    with override_settings(WAREHOUSE_PATH=path):
        try:
            write_people(connection.backend(), people)
            rebuild_customer_summary()
            report = refresh_predictions(now=CUTOFF)
        finally:
            connection.close()
    return {"people": people, "report": report, "path": path}


def buyers_between(people: dict, start: datetime, end: datetime) -> set[int]:
    return {cid for cid, p in people.items() if any(start <= when < end for when, _ in p["purchases"])}
