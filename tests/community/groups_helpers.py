"""Shared set-up of the customer-group tests: a fake WeCom, its account, staff and known customers."""

from __future__ import annotations

import pytest

from siyu.core import pii
from siyu.engagement.messaging.actions import configure_account
from siyu.engagement.messaging.channels.wecom import WeComClient
from siyu.engagement.messaging.fakes.wecom import FakeWeCom

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@pytest.fixture(autouse=True)
def _fresh_clients():
    WeComClient._tokens.clear()
    WeComClient._limiters.clear()
    yield
    WeComClient._tokens.clear()
    WeComClient._limiters.clear()


@pytest.fixture
def fake():
    with FakeWeCom() as server:
        yield server


@pytest.fixture
def account(fake, db):
    return configure_account(None, "wecom", "wecom", {"corp_id": fake.corp_id, "base_url": fake.url},
                             {"contact_secret": "contact-secret", "callback_token": "tok123",
                              "callback_aes_key": AES_KEY})  # fmt: skip


def know_customers(warehouse, by_record: dict[str, int], by_unionid: dict[str, int] = ()) -> None:
    """Customer-map rows (record key -> customer) and unionid identifiers of records of other sources."""
    con = warehouse.raw_connection()
    for key, cid in by_record.items():
        con.execute("INSERT INTO customer_map VALUES (?, ?, now())", [key, cid])
    for unionid, cid in dict(by_unionid).items():
        key = f"mini|{unionid}"
        con.execute("INSERT INTO customer_map VALUES (?, ?, now())", [key, cid])
        con.execute("INSERT INTO identifiers (record_key, source, id_type, value_hash, strong) VALUES (?, 'mini', "
                    "'unionid', ?, true)", [key, pii.keyed_hash(unionid)])  # fmt: skip
