"""Helpers to put importer-shaped rows straight into the warehouse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest

from siyu.warehouse.schema import TABLES

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def h(value: str) -> str:
    """A stand-in for a keyed hash (tests never need the real key)."""
    return f"h:{value}"


class Rows:
    def __init__(self, connection):
        self.connection = connection

    def insert(self, table: str, rows: list[dict]) -> None:
        schema = TABLES[table].to_pyarrow()
        full = [{name: row.get(name) for name in schema.names} for row in rows]
        self.connection.backend().insert(table, pa.Table.from_pylist(full, schema=schema))

    def record(self, key: str, *, kind: str = "order", seen: int = 0, **fields) -> str:
        source, _, record_id = key.partition("|")
        row = {
            "record_key": key,
            "source": source,
            "format": fields.pop("format", "generic"),
            "record_kind": kind,
            "record_id": record_id,
            "seen_at": T0 + timedelta(days=seen),
            "imported_at": T0,
            **fields,
        }
        self.insert("records", [row])
        return key

    def ident(self, key: str, id_type: str, value: str, *, strong: bool = True) -> None:
        self.insert(
            "identifiers",
            [
                {
                    "record_key": key,
                    "source": key.partition("|")[0],
                    "id_type": id_type,
                    "value_hash": h(value),
                    "strong": strong,
                }
            ],
        )

    def order(self, key: str, *, order_key: str | None = None, amount="0", status="purchase", at=None):
        source, _, record_id = key.partition("|")
        self.insert(
            "orders",
            [
                {
                    "order_key": order_key or key,
                    "source": source,
                    "order_id": (order_key or key).partition("|")[2],
                    "record_key": key,
                    "status_class": status,
                    "order_time": at,
                    "amount": Decimal(amount),
                }
            ],
        )

    def customer_of(self, key: str) -> int | None:
        from siyu.identity.queries import customer_id_for

        return customer_id_for(key)

    def table(self, name: str) -> list[dict]:
        return self.connection.backend().table(name).to_pyarrow().to_pylist()


@pytest.fixture
def rows(warehouse):
    return Rows(warehouse)
