"""A small brand for the member centre tests: two customers landed the way the API lands orders and
events (phones, an official-account openid and a unionid), resolved by identity resolution; an SMS account
and an official account pointing at the providers' fakes."""

from __future__ import annotations

import datetime as dt

from siyu.identity.actions import resolve_identities
from siyu.ingest.actions import ingest_api_records

UTC = dt.UTC
PHONE_ONE = "13800138001"
PHONE_TWO = "13900139002"
OPENID_ONE = "oAbCdEfGhIjKlMnOpQrStUvWx01"
UNIONID_TWO = "uAbCdEfGhIjKlMnOpQrStUvWx02"
OPENID_TWO = "oAbCdEfGhIjKlMnOpQrStUvWx02"


def land_brand() -> dict:
    """Customer one: 张伟, phone one, two orders (¥299 + ¥88), openid one. Customer two: 李娜, phone two,
    unionid two. Returns {"one": customer_id, "two": customer_id}."""
    orders = [
        {"record_id": "SO-1", "order_id": "SO-1", "name": "张伟", "phone": PHONE_ONE, "id:openid": OPENID_ONE,
         "order_time": dt.datetime(2026, 3, 1, 10, tzinfo=UTC), "amount": "299.00", "status": "交易成功",
         "items": [{"product": "玫瑰精华水", "quantity": "1", "amount": "299.00"}]},
        {"record_id": "SO-2", "order_id": "SO-2", "name": "张伟", "phone": PHONE_ONE,
         "order_time": dt.datetime(2026, 4, 1, 10, tzinfo=UTC), "amount": "88.00", "status": "交易成功",
         "items": [{"product": "护手霜", "quantity": "1", "amount": "88.00"}]},
        {"record_id": "SO-3", "order_id": "SO-3", "name": "李娜", "phone": PHONE_TWO, "id:unionid": UNIONID_TWO,
         "order_time": dt.datetime(2026, 4, 2, 10, tzinfo=UTC), "amount": "58.00", "status": "交易成功",
         "items": [{"product": "面霜", "quantity": "1", "amount": "58.00"}]},
    ]  # fmt: skip
    ingest_api_records("shop", "order", orders)
    resolve_identities()
    from siyu.engagement.messaging.channel_actions import customers_with_phone

    return {"one": customers_with_phone(PHONE_ONE)[0][0], "two": customers_with_phone(PHONE_TWO)[0][0]}


def sent_code(fake) -> str:
    """The code in the last SMS a fake delivered."""
    last = fake.delivered[-1]
    return last["variables"]["code"] if "variables" in last else last["params"][0]
