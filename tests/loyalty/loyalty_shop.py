"""A warehouse of orders as imports leave it, for the tiers and earning tests: orders with their lines, the
customer map, customer_orders kept equal to their join; a later import changes an order's status in place
(siyu.warehouse.append.update_orders), with a later `updated_at`."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pyarrow as pa

from siyu.warehouse.customer_orders import rebuild_on
from siyu.warehouse.schema import TABLES

STATUS_CLASS = {"paid": "purchase", "completed": "purchase", "refunded": "not_purchase", "closed": "not_purchase",
                "unpaid": "pending"}  # fmt: skip


class Shop:
    def __init__(self, connection, start: dt.datetime | None = None):
        self.connection = connection
        self.clock = itertools.count(1)
        self.start = start or dt.datetime(2026, 1, 5, 2, tzinfo=dt.UTC)
        self.mapped: set[str] = set()

    def _insert(self, table, rows):
        schema = TABLES[table].to_pyarrow()
        full = [{name: row.get(name) for name in schema.names} for row in rows]
        self.connection.backend().insert(table, pa.Table.from_pylist(full, schema=schema))

    def tick(self) -> dt.datetime:
        return self.start + dt.timedelta(minutes=next(self.clock))

    def buy(self, customer_id: int, order_id: str, amount, *, source="tmall", fmt="taobao", when=None,
            status="paid", lines=(), birthday=None) -> str:  # fmt: skip
        """An imported order; `lines`: (product, sku, amount)."""
        record_key = f"{source}|buyer{customer_id}"
        key = f"{fmt}||{order_id}"
        at = self.tick()
        if record_key not in self.mapped:
            self.mapped.add(record_key)
            self._insert("records", [{"record_key": record_key, "source": source, "format": fmt,
                                      "record_kind": "order", "record_id": f"buyer{customer_id}",
                                      "birthday": birthday, "seen_at": at, "imported_at": at}])  # fmt: skip
            self._insert("customer_map", [{"record_key": record_key, "customer_id": customer_id, "resolved_at": at}])
        self._insert("orders", [{"order_key": key, "source": source, "format": fmt, "order_id": order_id,
                                 "record_key": record_key, "status_raw": status, "status_class": STATUS_CLASS[status],
                                 "order_time": when or at, "paid_time": when or at, "amount": Decimal(str(amount)),
                                 "batch_id": f"b{at.timestamp()}", "updated_at": at}])  # fmt: skip
        if lines:
            self._insert("order_items", [{"order_key": key, "item_key": f"#{i}", "product": p, "sku": s, "quantity": 1,
                                          "amount": Decimal(str(a))} for i, (p, s, a) in enumerate(lines)])  # fmt: skip
        rebuild_on(self.connection.raw_connection())
        return key

    def set_status(self, order_key: str, status: str, amount=None) -> None:
        """A later import that changes the order's status (and amount)."""
        raw = self.connection.raw_connection()
        at = self.tick()
        raw.execute("UPDATE orders SET status_raw = ?, status_class = ?, updated_at = ?, amount = coalesce(?, amount)"
                    " WHERE order_key = ?", [status, STATUS_CLASS[status], at,
                                             None if amount is None else Decimal(str(amount)), order_key])  # fmt: skip
        rebuild_on(raw)

    def summary(self, rows: list[dict]) -> None:
        self._insert("customer_summary", rows)
