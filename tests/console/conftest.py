"""Fixtures for the console tests: staff of every role and a small warehouse of three customers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from siyu.warehouse.customer_orders import rebuild_on

UTC = dt.UTC


@pytest.fixture
def staff(db):
    from siyu.staff.actions import create_user, ensure_store

    store = ensure_store("SH01", "上海南京西路店", "上海")
    return {
        "admin": create_user("admin", "pw-admin-1", "admin"),
        "operator": create_user("operator", "pw-oper-1", "operator"),
        "manager": create_user("manager", "pw-mgr-1", "manager", store=store),
        "guide1": create_user("guide1", "pw-guide-1", "guide", store=store, display_name="小王"),
        "guide2": create_user("guide2", "pw-guide-2", "guide", store=store, display_name="小李"),
    }


def _login(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def admin_client(client, staff):
    return _login(client, staff["admin"])


@pytest.fixture
def operator_client(client, staff):
    return _login(client, staff["operator"])


@pytest.fixture
def guide1_client(client, staff):
    return _login(client, staff["guide1"])


def _ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


# customer_id -> what the warehouse holds about them
CUSTOMERS = {
    1001: {
        "name": "张伟",
        "phone": "+8613812345678",
        "province": "上海",
        "city": "上海市",
        "stage": "repeat",
        "records": [
            ("tmall_flagship", "taobao", "T-9001", "张*", "138****5678"),
            ("youzan_shop", "youzan", "Y-5001", "张伟", "138****5678"),
        ],
        "orders": [
            # (record index, order_id, status, status_class, time, amount, items[(product, sku, qty, amount)])
            (
                0,
                "T-9001",
                "交易成功",
                "purchase",
                "2026-03-01 02:00:00",
                "299.00",
                [("玫瑰精华水", "150ml", 1, "299.00")],
            ),
            (
                1,
                "Y-5001",
                "已完成",
                "purchase",
                "2026-06-18 06:30:00",
                "458.00",
                [("山茶花面霜", "50g", 1, "358.00"), ("旅行装小样", "", 2, "100.00")],
            ),
        ],
        "tags": ["高潜力"],
    },
    1002: {
        "name": "李娜",
        "phone": "+8613900001111",
        "province": "浙江",
        "city": "杭州市",
        "stage": "first_purchase",
        "records": [("store_pos", "pos", "M-0002", "李娜", "139****1111")],
        "orders": [
            (
                0,
                "P-0002",
                "已完成",
                "purchase",
                "2026-05-02 10:00:00",
                "120.50",
                [("护手霜", "", 1, "120.50")],
            )
        ],
        "tags": [],
    },
    1003: {
        "name": None,
        "phone": None,
        "province": "广东",
        "city": "深圳市",
        "stage": "lead",
        "records": [("douyin_shop", "douyin", "D-7003", "王*", "137****2222")],
        "orders": [],
        "tags": [],
    },
}


@pytest.fixture
def filled_warehouse(warehouse, staff):
    """Three unified customers; 1001 belongs to guide1 and bought on two channels, 1002 to guide2."""
    from siyu.core.pii import encrypt_json
    from siyu.customers import actions as customer_actions
    from siyu.customers.models import CustomerState

    con = warehouse.raw_connection()
    now = _ts("2026-07-01 00:00:00")
    for cid, c in CUSTOMERS.items():
        keys = []
        for index, (source, fmt, record_id, name_masked, phone_masked) in enumerate(c["records"]):
            key = f"{source}|{record_id}"
            keys.append(key)
            pii = encrypt_json({"name": c["name"] or name_masked, "phone": c["phone"] or phone_masked})
            con.execute(
                "INSERT INTO records (record_key, source, format, record_kind, record_id, batch_id, file_name,"
                " row_number, name_masked, phone_masked, phone_tail, province, city, pii, seen_at, imported_at)"
                " VALUES (?, ?, ?, 'order', ?, 'b1', 'f.csv', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    key,
                    source,
                    fmt,
                    record_id,
                    index + 2,
                    name_masked,
                    phone_masked,
                    phone_masked[-4:],
                    c["province"],
                    c["city"],
                    pii,
                    now,
                    now,
                ],
            )
            con.execute("INSERT INTO customer_map VALUES (?, ?, ?)", [key, cid, now])
        spend = Decimal(0)
        times = []
        for rec, order_id, status, cls, when, amount, items in c["orders"]:
            okey = f"{c['records'][rec][0]}|{order_id}"
            con.execute(
                "INSERT INTO orders (order_key, source, format, order_id, record_key, status_raw, status_class,"
                " order_time, paid_time, amount, batch_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'b1', ?)",
                [
                    okey,
                    c["records"][rec][0],
                    c["records"][rec][1],
                    order_id,
                    keys[rec],
                    status,
                    cls,
                    _ts(when),
                    _ts(when),
                    Decimal(amount),
                    now,
                ],
            )
            for i, (product, sku, qty, item_amount) in enumerate(items):
                con.execute(
                    "INSERT INTO order_items VALUES (?, ?, NULL, ?, ?, ?, ?)",
                    [okey, f"{okey}#{i}", product, sku, qty, Decimal(item_amount)],
                )
            spend += Decimal(amount)
            times.append(_ts(when))
        n = len(c["orders"])
        con.execute(
            "INSERT INTO customer_summary (customer_id, record_count, sources, acquisition_source, acquired_at,"
            " name_masked, phone_masked, phone_tail, province, city, first_purchase_at, last_purchase_at, orders,"
            " spend, aov, stage, tags, pii_record_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                cid,
                len(keys),
                sorted({r[0] for r in c["records"]}),
                c["records"][0][0],
                now,
                c["records"][-1][3],
                c["records"][-1][4],
                c["records"][-1][4][-4:],
                c["province"],
                c["city"],
                min(times) if times else None,
                max(times) if times else None,
                n,
                spend,
                (spend / n).quantize(Decimal("0.01")) if n else None,
                c["stage"],
                c["tags"],
                keys[-1],
            ],
        )
    rebuild_on(con)  # what resolve keeps beside the customer map
    sources = sorted({(r[0], r[1]) for c in CUSTOMERS.values() for r in c["records"]})
    for index, (source, fmt) in enumerate(sources):
        con.execute(
            "INSERT INTO import_batches (batch_id, source, format, file_name, started_at, finished_at, rows_read,"
            " imported, duplicates, rejected) VALUES (?, ?, ?, 'f.csv', ?, ?, 1, 1, 0, 0)",
            [f"b{index}", source, fmt, now, now],
        )
    CustomerState.objects.create(customer_id=1001, owner=staff["guide1"])
    CustomerState.objects.create(customer_id=1002, owner=staff["guide2"])
    customer_actions.sync_from_warehouse()  # imported tags -> control plane, as after an import
    return warehouse
