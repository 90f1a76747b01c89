import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import Client

from customers.sample_brand import make_staff
from siyu.api.actions import create_token
from siyu.core import pii

pytestmark = pytest.mark.django_db

ORDER = {
    "source": "miniprogram",
    "order_id": "MP-20240601-0001",
    "phone": "138 1234 5678",
    "member_no": "M0001",
    "identifiers": {"unionid": "o6_bmasdasdsad6_2sgVt7hMZOPfL"},
    "name": "张三",
    "order_time": "2024-06-01T20:15:00",
    "amount": "199.00",
    "status": "已支付",
    "store": "S1",
    "items": [{"product": "面霜", "sku": "FC-50", "quantity": 1, "amount": "199.00"}],
}


@pytest.fixture
def client(warehouse):
    brand = make_staff()
    return Client(headers={"Authorization": f"Bearer {create_token(brand.operator, 'shop')}"})


def table(warehouse, name, *columns):
    rows = warehouse.backend().table(name).select(*columns).to_pyarrow().to_pylist()
    return [tuple(row[c] for c in columns) for row in rows]


def push(client, path, body, key):
    return client.post(
        path, data=json.dumps(body), content_type="application/json", headers={"Idempotency-Key": key}
    )


def test_an_order_lands_in_the_warehouse_once(client, warehouse):
    first = push(client, "/api/orders", ORDER, "order-MP-1")
    assert first.status_code == 202, first.content
    assert first.json()["accepted"] and first.json()["id"] == "MP-20240601-0001"
    replay = push(client, "/api/orders", ORDER, "order-MP-1")
    assert replay.status_code == 202 and replay.json() == first.json()

    con = warehouse.raw_connection()
    orders = table(warehouse, "orders", "order_id", "amount", "order_time", "status_raw", "source")
    assert orders == [
        (
            "MP-20240601-0001",
            Decimal("199.00"),
            datetime(2024, 6, 1, 12, 15, tzinfo=UTC),
            "已支付",
            "miniprogram",
        )
    ]
    assert con.execute("SELECT product, quantity FROM order_items").fetchall() == [("面霜", 1)]
    # the buyer is findable by a keyed hash of the normalised phone; no clear phone is stored
    phone_hash = pii.keyed_hash("+8613812345678")
    assert con.execute("SELECT count(*) FROM identifiers WHERE value_hash = ?", [phone_hash]).fetchall() == [
        (1,)
    ]
    id_types = {row[0] for row in con.execute("SELECT id_type FROM identifiers").fetchall()}
    assert {"phone", "member_no", "unionid"} <= id_types
    raw = b"".join(bytes(row[0]) for row in con.execute("SELECT pii FROM records").fetchall())
    assert b"13812345678" not in raw

    changed = push(client, "/api/orders", {**ORDER, "amount": "1.00"}, "order-MP-1")
    assert changed.status_code == 409


def test_an_event_lands_in_the_warehouse(client, warehouse):
    body = {
        "source": "miniprogram",
        "event_type": "coupon_claimed",
        "occurred_at": "2024-06-02T08:00:00+08:00",
        "identifiers": {"phone": "13812345678", "unionid": "o6_x"},
        "properties": {"coupon": "618-20", "value": 20},
    }
    done = push(client, "/api/events", body, "event-1")
    assert done.status_code == 202, done.content
    rows = table(warehouse, "events", "event_type", "occurred_at", "properties")
    assert rows[0][:2] == ("coupon_claimed", datetime(2024, 6, 2, 0, 0, tzinfo=UTC))
    assert json.loads(rows[0][2]) == {"coupon": "618-20", "value": 20}


def test_pushes_are_checked(client, warehouse):
    anonymous = {k: v for k, v in ORDER.items() if k not in ("phone", "member_no", "identifiers")}
    refused = push(client, "/api/orders", anonymous, "no-id")
    assert refused.status_code == 400 and "who this is about" in refused.json()["detail"]
    assert push(client, "/api/orders", {**ORDER, "amount": "-5"}, "neg").status_code == 422
    assert push(client, "/api/orders", {**ORDER, "source": "bad source!"}, "src").status_code == 422
    assert warehouse.raw_connection().execute("SELECT count(*) FROM orders").fetchall() == [(0,)]


def test_only_admins_and_operators_push(warehouse):
    guide = make_staff().guide1
    client = Client(headers={"Authorization": f"Bearer {create_token(guide, 'x')}"})
    assert push(client, "/api/orders", ORDER, "g-order").status_code == 403
    assert warehouse.raw_connection().execute("SELECT count(*) FROM orders").fetchall() == [(0,)]


def test_events_and_orders_land_in_batches_once_each(client, warehouse):
    events = [
        {"source": "miniprogram", "event_type": "page_view", "event_id": f"ev-{i}",
         "occurred_at": "2024-06-01T20:15:00", "identifiers": {"phone": f"1381234{i:04d}"},
         "properties": {"page": "/p/1"}}
        for i in range(300)
    ] + [{"source": "pos", "event_type": "check_in", "event_id": "pos-1", "occurred_at": "2024-06-01T21:00:00",
          "identifiers": {"member_no": "M1"}}]  # fmt: skip
    first = push(client, "/api/events/batch", {"events": events}, "events-1")
    assert first.status_code == 202, first.content
    answer = first.json()
    assert answer["accepted"] == 301 and answer["ids"][:2] == ["ev-0", "ev-1"]
    assert {s: r["imported"] for s, r in answer["results"].items()} == {"miniprogram": 300, "pos": 1}
    assert push(client, "/api/events/batch", {"events": events}, "events-1").json() == answer  # a replay
    assert push(client, "/api/events/batch", {"events": events[:5]}, "events-1").status_code == 409  # another body
    # the same events under another key land nowhere twice
    again = push(client, "/api/events/batch", {"events": events[:10]}, "events-2")
    assert again.status_code == 202 and sum(r["imported"] for r in again.json()["results"].values()) == 0
    keys = [row[0] for row in table(warehouse, "events", "event_key")]
    assert len(keys) == len(set(keys)) == 301

    orders = [{**ORDER, "order_id": f"MP-{i}", "phone": f"1391234{i:04d}"} for i in range(20)]
    pushed = push(client, "/api/orders/batch", {"orders": orders}, "orders-1")
    assert pushed.status_code == 202, pushed.content
    assert pushed.json()["accepted"] == 20 and pushed.json()["results"]["miniprogram"]["orders_new"] == 20
    assert sorted(row[0] for row in table(warehouse, "orders", "order_id")) == sorted(o["order_id"] for o in orders)


def test_a_batch_is_checked_whole(client, warehouse):
    bad = [{"source": "miniprogram", "event_type": "page_view", "occurred_at": "2024-06-01T20:15:00",
            "identifiers": {}}]  # fmt: skip
    refused = push(client, "/api/events/batch", {"events": bad}, "bad-1")
    assert refused.status_code == 400
    assert push(client, "/api/events/batch", {"events": []}, "bad-2").status_code == 422
    assert table(warehouse, "events", "event_key") == []
