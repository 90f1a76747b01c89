"""customer_summary on a hand-computed example (customer_map written directly, no resolution)."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa

from siyu.warehouse.schema import TABLES
from siyu.warehouse.summary import rebuild_customer_summary

NOW = datetime(2025, 7, 1, tzinfo=UTC)


def day(month, d, year=2025):
    return datetime(year, month, d, tzinfo=UTC)


def insert(warehouse, table, rows):
    schema = TABLES[table].to_pyarrow()
    full = [{name: row.get(name) for name in schema.names} for row in rows]
    warehouse.backend().insert(table, pa.Table.from_pylist(full, schema=schema))


def record(key, seen, **fields):
    return {
        "record_key": key,
        "source": key.partition("|")[0],
        "record_id": key.partition("|")[2],
        "seen_at": seen,
        **fields,
    }


def order(order_key, record_key, at, amount, status="purchase"):
    return {
        "order_key": order_key,
        "source": order_key.partition("|")[0],
        "record_key": record_key,
        "status_class": status,
        "order_time": at,
        "amount": Decimal(amount),
    }


def build(warehouse):
    records = [
        # customer 1: three records from three sources
        record(
            "pos|M1",
            day(1, 1),
            record_kind="member",
            name_masked="张*",
            name_hash="n1",
            phone_masked="138****0001",
            phone_tail="0001",
            phone_hash="p1",
            phone_kind="mobile",
            gender="female",
            birthday=date(1990, 5, 1),
            province="上海市",
            city="上海市",
            district="黄浦区",
            tags=["vip", "a"],
            owner_staff="guide-1",
        ),
        record(
            "youzan|Y1",
            day(3, 1),
            name_masked="张*",
            name_hash="n1",
            phone_masked="138****0001",
            phone_tail="0001",
            phone_hash="p1",
            phone_kind="mobile",
            province="浙江省",
            city="杭州市",
            district="西湖区",
            tags=["a"],
        ),
        # the newest record has only a masked phone: not the best record, but the newest address
        record(
            "tmall|T1",
            day(6, 1),
            name_masked="张**",
            name_hash="n2",
            phone_masked="138****0001",
            phone_tail="0001",
            phone_kind="masked",
            province="浙江省",
            city="宁波市",
        ),
        # customer 2: two tiny purchases (AOV rounds half up), customer 3: a lead
        record("jd|J1", day(2, 1)),
        record("wecom|W1", day(2, 2), name_masked="李*", name_hash="n3", tags=[]),
        # customers 4..7: one per remaining stage
        record("jd|J4", day(1, 1, 2024)),
        record("jd|J5", day(1, 1, 2023)),
        record("jd|J6", day(1, 1)),
        record("jd|J7", day(1, 1)),
    ]
    insert(warehouse, "records", records)
    cmap = {"pos|M1": 1, "youzan|Y1": 1, "tmall|T1": 1, "jd|J1": 2, "wecom|W1": 3}
    cmap.update({"jd|J4": 4, "jd|J5": 5, "jd|J6": 6, "jd|J7": 7})
    insert(
        warehouse,
        "customer_map",
        [{"record_key": k, "customer_id": v, "resolved_at": NOW} for k, v in cmap.items()],
    )
    orders = [
        order("youzan|Y1", "youzan|Y1", day(3, 1), "100.00"),
        order("youzan|Y1b", "youzan|Y1", day(4, 1), "0.01"),
        order("tmall|T1", "tmall|T1", day(6, 1), "50.00"),
        # an order older than every record acquired the customer; not a purchase, so no spend
        order("tmall|T0", "tmall|T1", day(12, 1, 2024), "999.00", status="not_purchase"),
        order("jd|J1a", "jd|J1", day(4, 1), "0.02"),
        order("jd|J1b", "jd|J1", day(5, 1), "0.03"),
        order("jd|J4", "jd|J4", day(10, 1, 2024), "10.00"),  # 273 days before NOW: dormant
        *[order(f"jd|J5-{n}", "jd|J5", day(6, n + 1, 2024), "10.00") for n in range(4)],  # > 365: churned
        *[order(f"jd|J6-{n}", "jd|J6", day(6, n + 1), "25.00") for n in range(4)],  # loyal
        order("jd|J7", "jd|J7", day(6, 30), "9.99"),  # first_purchase
        order("jd|J7x", "jd|J7", day(6, 30), "5.00", status="pending"),
    ]
    insert(warehouse, "orders", orders)


def test_summary_totals_stages_and_display_fields(warehouse):
    build(warehouse)
    assert rebuild_customer_summary(now=NOW) == 7
    rows = {
        r["customer_id"]: r for r in warehouse.backend().table("customer_summary").to_pyarrow().to_pylist()
    }

    one = rows[1]
    assert one["record_count"] == 3
    assert one["sources"] == ["pos", "tmall", "youzan"]
    assert (one["acquisition_source"], one["acquired_at"]) == ("tmall", day(12, 1, 2024))
    assert (one["orders"], one["spend"], one["aov"]) == (3, Decimal("150.01"), Decimal("50.00"))
    assert (one["first_purchase_at"], one["last_purchase_at"]) == (day(3, 1), day(6, 1))
    assert one["stage"] == "repeat"
    # best record: the newest one with a full phone (youzan|Y1)
    assert (one["pii_record_key"], one["name_masked"], one["name_hash"]) == ("youzan|Y1", "张*", "n1")
    assert (one["phone_masked"], one["phone_tail"], one["phone_hash"]) == ("138****0001", "0001", "p1")
    # most recent non-null values; the address comes whole from the newest record that has one
    assert (one["gender"], one["birthday"], one["owner_staff"]) == ("female", date(1990, 5, 1), "guide-1")
    assert (one["province"], one["city"], one["district"]) == ("浙江省", "宁波市", None)
    assert one["tags"] == ["a", "vip"]

    two = rows[2]
    assert (two["orders"], two["spend"], two["aov"], two["stage"]) == (
        2,
        Decimal("0.05"),
        Decimal("0.03"),
        "repeat",
    )
    assert (two["acquisition_source"], two["acquired_at"]) == ("jd", day(2, 1))

    three = rows[3]
    assert (three["orders"], three["spend"], three["aov"], three["stage"]) == (
        0,
        Decimal("0.00"),
        None,
        "lead",
    )
    assert (three["first_purchase_at"], three["last_purchase_at"]) == (None, None)
    assert (three["name_masked"], three["tags"], three["pii_record_key"]) == ("李*", [], "wecom|W1")

    assert {cid: rows[cid]["stage"] for cid in (4, 5, 6, 7)} == {
        4: "dormant",
        5: "churned",
        6: "loyal",
        7: "first_purchase",
    }
    assert (rows[6]["orders"], rows[6]["spend"], rows[6]["aov"]) == (4, Decimal("100.00"), Decimal("25.00"))
    assert (rows[7]["orders"], rows[7]["spend"]) == (1, Decimal("9.99"))


def test_summary_is_replaced_and_keeps_the_schema(warehouse):
    build(warehouse)
    rebuild_customer_summary(now=NOW)
    warehouse.raw_connection().execute("DELETE FROM customer_map WHERE customer_id > 1")
    assert rebuild_customer_summary(now=NOW) == 1
    con = warehouse.backend()
    expected = con.create_table("expected_summary", schema=TABLES["customer_summary"], temp=True)
    assert con.table("customer_summary").schema() == expected.schema()


def test_summary_without_the_source_bitmask_gives_the_same_lists(warehouse, monkeypatch):
    from siyu.warehouse import summary

    build(warehouse)
    rebuild_customer_summary(now=NOW)
    fast = warehouse.backend().table("customer_summary").order_by("customer_id").to_pyarrow()
    monkeypatch.setattr(summary, "_MAX_SOURCE_BITS", 0)
    rebuild_customer_summary(now=NOW)
    slow = warehouse.backend().table("customer_summary").order_by("customer_id").to_pyarrow()
    assert fast.equals(slow)
