"""A small brand with hand-computed numbers (tests/analytics/test_pages.py says what each is).

Times are UTC; the console's zone is Asia/Shanghai (UTC+8), so 04:00Z is noon local. Customer ids:

    1  tmall buy 2026-01-10 ¥100; WeCom contact 02-01; tmall 03-05 ¥200; youzan 03-20 ¥300
    2  douyin buy 03-02 ¥150; douyin 04-01 01:00 local ¥999 (after March)
    3  POS member 03-03 at S1; POS sale 03-10 ¥80 at S1
    4  WeCom contact 03-15, never buys
    5  tmall buy 02-10 ¥50; tmall 03-08 ¥120 closed (not a purchase)
    6  jd buys 03-25 23:30 local ¥60 and 03-26 09:00 local ¥40; POS member 03-27
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from siyu.analytics.filters import Filters
from siyu.warehouse.schema import TABLES

MARCH = Filters(datetime(2026, 3, 1).date(), datetime(2026, 3, 31).date())


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Brand:
    def __init__(self, connection):
        self.connection = connection

    def insert(self, table: str, rows: list[dict]) -> None:
        schema = TABLES[table].to_pyarrow()
        full = [{name: row.get(name) for name in schema.names} for row in rows]
        self.connection.backend().insert(table, pa.Table.from_pylist(full, schema=schema))

    def record(
        self, customer_id: int, key: str, when: str, *, kind="order", fmt="generic", store=None
    ) -> str:
        source = key.partition("|")[0]
        self.insert(
            "records",
            [
                {
                    "record_key": key,
                    "source": source,
                    "format": fmt,
                    "record_kind": kind,
                    "record_id": key.partition("|")[2],
                    "store": store,
                    "seen_at": at(when),
                    "imported_at": at(when),
                }
            ],
        )
        self.insert(
            "customer_map", [{"record_key": key, "customer_id": customer_id, "resolved_at": at(when)}]
        )
        return key

    def buy(
        self,
        customer_id: int,
        key: str,
        when: str,
        amount: str,
        *,
        status="purchase",
        fmt="generic",
        store=None,
    ):
        self.record(customer_id, key, when, fmt=fmt, store=store)
        self.insert(
            "orders",
            [
                {
                    "order_key": key,
                    "source": key.partition("|")[0],
                    "order_id": key.partition("|")[2],
                    "record_key": key,
                    "status_class": status,
                    "order_time": at(when),
                    "amount": Decimal(amount),
                    "store": store,
                }
            ],
        )

    def summarise(self) -> None:
        from siyu.warehouse.summary import rebuild_customer_summary

        rebuild_customer_summary(now=at("2026-04-01 00:00:00"))


def fill_brand(b: Brand) -> Brand:
    b.buy(1, "tmall|t1", "2026-01-10 04:00:00", "100", fmt="taobao")
    b.record(1, "wecom|w1", "2026-02-01 04:00:00", kind="contact", fmt="wecom")
    b.buy(1, "tmall|t2", "2026-03-05 04:00:00", "200", fmt="taobao")
    b.buy(1, "youzan|y1", "2026-03-20 04:00:00", "300", fmt="youzan")
    b.buy(2, "douyin|d1", "2026-03-02 04:00:00", "150", fmt="douyin")
    b.buy(2, "douyin|d2", "2026-03-31 17:00:00", "999", fmt="douyin")
    b.record(3, "pos|m3", "2026-03-03 04:00:00", kind="member", fmt="pos", store="S1")
    b.buy(3, "pos|s3", "2026-03-10 04:00:00", "80", fmt="pos", store="S1")
    b.record(4, "wecom|w4", "2026-03-15 04:00:00", kind="contact", fmt="wecom")
    b.buy(5, "tmall|t5", "2026-02-10 04:00:00", "50", fmt="taobao")
    b.buy(5, "tmall|t6", "2026-03-08 04:00:00", "120", status="not_purchase", fmt="taobao")
    b.buy(6, "jd|j1", "2026-03-25 15:30:00", "60", fmt="jd")
    b.buy(6, "jd|j2", "2026-03-26 01:00:00", "40", fmt="jd")
    b.record(6, "pos|m6", "2026-03-27 04:00:00", kind="member", fmt="pos")
    b.summarise()
    return b


@pytest.fixture
def brand(warehouse, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    return fill_brand(Brand(warehouse))
