"""A small brand with hand-computed traits as of 2026-01-01 (Asia/Shanghai), written straight into the
warehouse tables that import + resolve fill. Every expected value in test_traits.py is worked out in the
comments here.

Window: the 365 days before 2026-01-01 00:00 local, i.e. purchases from 2025-01-01 local.
Buyers in the window (n = 5) and their scores (score = 1 + ⌊5·b/n⌋, b = buyers strictly worse):

    id  recency  R | freq  F | monetary  M | layer               value
    1        31  3 |    4  5 |      600  4 | important_value     waist (1 spent more)
    2         7  4 |    1  1 |     1000  5 | important_develop   top   (0 spent more)
    3       281  1 |    3  3 |      100  2 | general_keep        tail
    7       184  2 |    3  3 |      200  3 | important_keep      waist (2 < 0.5·5)
   10         1  5 |    1  1 |       10  1 | general_develop     tail
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pyarrow as pa

from siyu.warehouse.customer_orders import rebuild_customer_orders
from siyu.warehouse.schema import TABLES

AS_OF = date(2026, 1, 1)
SHANGHAI = ZoneInfo("Asia/Shanghai")
SOURCE = "shop"


def local(text: str) -> datetime:
    """A China local time (as platform exports give them), stored as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


# customer_id -> record seen at, purchases [(local time, amount, [(product, quantity, line amount)])],
# other orders [(local time, status_class)], events [(local time, type)]
BRAND = {
    # four purchases, day gaps 40, 30, 30 → cycle 30 (the median, not the mean 33.3); due 2025-12-31
    1: {
        "purchases": [
            ("2025-08-23 10:00", "100", [("P1", 1, "100")]),  # P1 at 100: its reference price
            ("2025-10-02 10:00", "100", [("P1", 2, "100")]),  # 50 a piece: depth 0.5, discounted
            ("2025-11-01 10:00", "200", [("P1", 2, "200")]),  # full price
            ("2025-12-01 10:00", "200", []),  # no lines: not priced
        ],
    },
    # one purchase in the window; the second is ten minutes after the cut-off
    2: {
        "purchases": [
            ("2025-12-25 12:00", "1000", [("P2", 1, "900"), ("P1", 1, "100")]),  # 1000 / 1100 listed
            ("2026-01-01 00:10", "500", [("P2", 1, "2000")]),  # after the cut-off: not even its price counts
        ],
    },
    # day gaps 10 and 15 → cycle 12.5, rounded half up to 13: due 2025-04-08
    3: {
        "purchases": [
            ("2025-03-01 09:00", "30", []),
            ("2025-03-11 09:00", "30", []),
            ("2025-03-26 09:00", "40", []),
        ],
    },
    # bought P2 at 1000 before the window (its reference price); churned; an old event
    4: {
        "purchases": [("2024-06-01 10:00", "1000", [("P2", 1, "1000")])],
        "events": [("2024-05-01 10:00", "member_registered")],
    },
    # no purchase, an event in the window: interest
    5: {"events": [("2025-12-20 10:00", "wecom_contact_added")]},
    # no purchase, a cancelled order in the window: interest
    6: {"others": [("2025-05-01 10:00", "not_purchase")]},
    # two orders on one day and one a month later: two purchase days, gap 30; 184 days ago: dormant;
    # its lines are not priced (no amount, no quantity)
    7: {
        "purchases": [
            ("2025-06-01 10:00", "80", [("P1", 1, "0")]),
            ("2025-06-01 15:00", "20", [("P1", 0, "20")]),
            ("2025-07-01 10:00", "100", []),
        ],
    },
    # known before the cut-off, buys only after it: a lead, aware
    8: {"purchases": [("2026-01-05 10:00", "200", [("P1", 1, "200")])]},
    # first seen after the cut-off: not a customer yet
    9: {"seen": "2026-02-01 10:00", "purchases": [("2026-02-01 10:00", "50", [])]},
    # bought at 23:30 on the last day before the cut-off: recency 1
    10: {"purchases": [("2025-12-31 23:30", "10", [])]},
}


def _insert(con, table: str, rows: list[dict]) -> None:
    schema = TABLES[table].to_pyarrow()
    con.insert(
        table, pa.Table.from_pylist([{n: r.get(n) for n in schema.names} for r in rows], schema=schema)
    )


def record_key(customer_id: int) -> str:
    return f"{SOURCE}|r{customer_id}"


def write_brand(con, brand: dict | None = None) -> None:
    """`con`: the warehouse's Ibis backend."""
    brand = BRAND if brand is None else brand
    records, cmap, orders, items, events = [], [], [], [], []
    for cid, person in brand.items():
        key = record_key(cid)
        seen = local(person.get("seen", "2024-01-01 10:00"))
        records.append({"record_key": key, "source": SOURCE, "record_id": f"r{cid}", "seen_at": seen,
                        "imported_at": seen})  # fmt: skip
        cmap.append({"record_key": key, "customer_id": cid, "resolved_at": seen})
        facts = [(when, amount, lines, "purchase") for when, amount, lines in person.get("purchases", [])]
        facts += [(when, "0", [], status) for when, status in person.get("others", [])]
        for number, (when, amount, lines, status) in enumerate(facts):
            order_key = f"{SOURCE}|o{cid}-{number}"
            orders.append({"order_key": order_key, "source": SOURCE, "order_id": f"o{cid}-{number}",
                           "record_key": key, "status_class": status, "order_time": local(when),
                           "amount": Decimal(amount)})  # fmt: skip
            for line, (product, quantity, line_amount) in enumerate(lines):
                items.append({"order_key": order_key, "item_key": f"#{line}", "product": product,
                              "quantity": quantity, "amount": Decimal(line_amount)})  # fmt: skip
        for number, (when, event_type) in enumerate(person.get("events", [])):
            events.append({"event_key": f"{SOURCE}|e{cid}-{number}", "source": SOURCE, "record_key": key,
                           "event_type": event_type, "occurred_at": local(when)})  # fmt: skip
    for table, rows in (("records", records), ("customer_map", cmap), ("orders", orders),
                        ("order_items", items), ("events", events)):  # fmt: skip
        if rows:
            _insert(con, table, rows)
    rebuild_customer_orders(con)  # what resolve keeps beside the customer map
