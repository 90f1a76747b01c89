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


@pytest.fixture(autouse=True)
def no_quiet_hours(db):
    """Group mass messages are refused in quiet hours, and most of these tests send at the real time of
    day: quiet hours are off unless a test sets them (test_group_message_policy)."""
    from siyu.engagement.messaging.actions import update_policy

    update_policy(None, quiet_start="00:00", quiet_end="00:00")
