"""Fixtures of the customer-group tests: a fake WeCom, its account (with callbacks), known customers."""

from __future__ import annotations

import pytest

from siyu.engagement.messaging.actions import configure_account
from siyu.engagement.messaging.fakes.wecom import FakeWeCom

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@pytest.fixture
def fake():
    with FakeWeCom() as server:
        yield server


@pytest.fixture
def account(fake, db):
    return configure_account(None, "wecom", "wecom", {"corp_id": fake.corp_id, "base_url": fake.url},
                             {"contact_secret": "contact-secret", "callback_token": "tok123",
                              "callback_aes_key": AES_KEY})  # fmt: skip
