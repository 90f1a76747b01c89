"""Helpers for the content-library and guide-task tests: people, purchases and touches in the warehouse,
and a store with guides."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa

from siyu import warehouse
from siyu.warehouse.customer_orders import rebuild_customer_orders
from siyu.warehouse.schema import TABLES

UTC = dt.UTC
# 10:00 in Shanghai on a Tuesday: outside quiet hours
NOON = dt.datetime(2026, 6, 2, 2, 0, tzinfo=UTC)


def insert(table: str, rows: list[dict]) -> None:
    schema = TABLES[table].to_pyarrow()
    full = [{name: row.get(name) for name in schema.names} for row in rows]
    warehouse.backend().insert(table, pa.Table.from_pylist(full, schema=schema))


def add_people(people: list[tuple[int, str | None, str | None]]) -> None:
    """(customer_id, masked name, gender M/F/None) rows of customer_summary."""
    insert(
        "customer_summary",
        [
            {"customer_id": cid, "name_masked": name, "gender": gender, "phone_masked": f"138****{cid:04d}",
             "record_count": 1}
            for cid, name, gender in people
        ],
    )  # fmt: skip


def add_purchase(customer_id: int, key: str, when: dt.datetime, amount: str, product: str | None = None,
                 status: str = "purchase") -> None:  # fmt: skip
    insert("customer_map", [{"record_key": key, "customer_id": customer_id, "resolved_at": when}])
    insert(
        "orders",
        [{"order_key": key, "record_key": key, "source": "shop", "order_id": key, "status_class": status,
          "order_time": when, "amount": Decimal(amount)}],
    )  # fmt: skip
    if product:
        insert("order_items", [{"order_key": key, "item_key": f"{key}:1", "product": product, "quantity": 1}])
    rebuild_customer_orders(warehouse.backend())  # as the resolve that linked the order would


def touches() -> list[dict]:
    t = warehouse.backend().table("touches")
    return t.order_by("send_id").to_pyarrow().to_pylist()
