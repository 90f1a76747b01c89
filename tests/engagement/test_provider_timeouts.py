"""A provider that takes the request and then hangs: the send is never delivered twice. A provider that drops
repeats of an idempotency key (the webhook) gets the send again later, once processed; one that cannot (SMS)
gets it once, and the send fails as `outcome unknown` instead of being repeated (docs/faults.md)."""

from __future__ import annotations

import datetime as dt

import pytest
from engagement_helpers import NOON

from siyu.customers.actions import record_consent
from siyu.engagement.messaging.actions import configure_account, deliver_due_sends, enqueue_sends
from siyu.engagement.messaging.channels.aliyun import AliyunSmsAdapter
from siyu.engagement.messaging.channels.webhook import WebhookAdapter
from siyu.engagement.messaging.fakes.sms import FakeAliyunSms
from siyu.engagement.messaging.fakes.webhook import FakeWebhookReceiver
from siyu.engagement.messaging.policy import SendRequest

pytestmark = pytest.mark.django_db
HANG = 2.0  # seconds the fake waits before answering: beyond the client's timeout below
TIMEOUT = 0.3


@pytest.fixture(autouse=True)
def short_timeouts(monkeypatch):
    """The adapters wait TIMEOUT seconds for an answer instead of their 10 s."""
    for adapter in (AliyunSmsAdapter, WebhookAdapter):
        real_init = adapter.__init__

        def init(self, settings, secrets, real_init=real_init):
            real_init(self, settings, secrets)
            self.http.timeout = TIMEOUT

        monkeypatch.setattr(adapter, "__init__", init)


def test_a_hanging_webhook_receiver_gets_the_send_again_later_and_processes_it_once(customers, no_holdout):
    with FakeWebhookReceiver() as receiver:
        configure_account(
            None, "webhook", "webhook", {"url": receiver.url}, {"signing_secret": "webhook-secret"}
        )
        (send,) = enqueue_sends([SendRequest("w1", "webhook", customer_id=1, content="hi")], now=NOON)
        receiver.answer_delay = HANG
        deliver_due_sends(now=NOON)
        send.refresh_from_db()
        assert send.status == "failed_retryable" and "did not answer in time" in send.last_error
        assert send.next_attempt_at > NOON  # retried later, not at once
        receiver.answer_delay = 0
        deliver_due_sends(now=send.next_attempt_at)
        send.refresh_from_db()
        assert send.status == "sent"
        assert list(receiver.processed) == ["w1"] and receiver.repeats == 1  # the repeat was dropped


def test_a_hanging_sms_provider_sends_once_and_the_send_is_not_repeated(customers, no_holdout):
    with FakeAliyunSms(per_number_per_minute=100) as sms:
        configure_account(
            None, "sms", "aliyun", {"access_key_id": "LTAI-test", "sign_name": "私域测试", "base_url": sms.url},
            {"access_key_secret": "aliyun-secret"},
        )  # fmt: skip
        record_consent(None, 1, "sms", "opt_in", "注册", at=NOON - dt.timedelta(days=1))
        (send,) = enqueue_sends(
            [SendRequest("s1", "sms", customer_id=1, template="SMS_100001", variables={"name": "会员"})],
            now=NOON,
        )
        sms.answer_delay = HANG
        deliver_due_sends(now=NOON)
        send.refresh_from_db()
        assert send.status == "failed_permanent"
        assert "the outcome is unknown and the send is not repeated" in send.last_error
        sms.answer_delay = 0
        assert deliver_due_sends(now=NOON + dt.timedelta(hours=1)) == {}  # nothing due: never repeated
        assert [d["phone"] for d in sms.delivered] == ["13800000001"]
