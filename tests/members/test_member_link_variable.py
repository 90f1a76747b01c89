"""{member_link} in a message: delivery fills the recipient's own one-click sign-in link (registered by the
member centre in the content layer's variable registry), which signs that customer in; without a public
address configured the send fails saying so instead of going out with a dead link."""

from __future__ import annotations

import pytest
from django.utils import timezone

from siyu.engagement.messaging.actions import deliver_due_sends, enqueue_send
from siyu.engagement.messaging.policy import SendRequest
from siyu.members.auth import MEMBER_KEY

pytestmark = pytest.mark.django_db


def _send(key, customer_id):
    return enqueue_send(SendRequest(key, "sms", customer_id, template="SMS_100001",
                                    variables={"name": "{member_link}"}, marketing=False,
                                    send_at=timezone.now()))  # fmt: skip


def test_member_link_is_filled_at_delivery_and_signs_the_recipient_in(client, brand, aliyun, settings):
    settings.MEMBER_CENTRE_URL = "https://crm.example.cn/"
    send = _send("with-link", brand["one"])
    assert "t=" not in str(send.variables)  # the outbox never holds the link
    deliver_due_sends()
    link = aliyun.delivered[-1]["variables"]["name"]
    assert link.startswith("https://crm.example.cn/m/auth/link/?t=")
    client.get(link.removeprefix("https://crm.example.cn"))
    assert client.session[MEMBER_KEY]["customer_id"] == brand["one"]


def test_without_a_public_address_the_send_fails_in_words(brand, aliyun, settings, monkeypatch):
    settings.MEMBER_CENTRE_URL = ""
    monkeypatch.delenv("SIYU_PUBLIC_URL", raising=False)
    send = _send("without-address", brand["one"])
    deliver_due_sends()
    send.refresh_from_db()
    assert send.status == "failed_permanent" and "{member_link}" in send.last_error
    assert not aliyun.delivered
