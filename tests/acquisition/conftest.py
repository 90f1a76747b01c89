"""Fixtures for acquisition: the fake WeCom with staff members, a WeCom account pointing at it (callbacks
configured), and guides with WeCom userids in a store."""

import pytest

from siyu.engagement.messaging.channels.wecom import WeComClient
from siyu.engagement.messaging.fakes.wecom import FakeWeCom

AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP = "wx5823bf96d3bd56c7"
CALLBACK_TOKEN = "QDG6eK"


@pytest.fixture(autouse=True)
def _fresh_clients():
    WeComClient._tokens.clear()
    WeComClient._limiters.clear()
    yield
    WeComClient._tokens.clear()
    WeComClient._limiters.clear()


@pytest.fixture
def fake():
    with FakeWeCom(corp_id=CORP) as server:
        server.members.update({"guide1", "guide2", "guide3", "backup1"})
        server.add_tag_group("渠道", {"tag-store": "门店", "tag-card": "包裹卡"})
        yield server


@pytest.fixture
def client(fake):
    return WeComClient(CORP, "contact-secret", fake.url)
