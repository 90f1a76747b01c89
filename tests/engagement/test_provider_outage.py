"""A provider down for an hour (docs/faults.md): every send queued before and during the outage goes out
exactly once after it, none in quiet hours, and the provider sees a few probes meanwhile, not every send's
retries. Past SIYU_SEND_RETRY_HOURS a send fails with a reason operators can read."""

from __future__ import annotations

import datetime as dt
import socket
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from engagement_helpers import add_customers

from siyu.api.actions import create_token
from siyu.customers.actions import record_consent
from siyu.engagement.messaging.actions import configure_account, deliver_due_sends, enqueue_sends
from siyu.engagement.messaging.channels import http
from siyu.engagement.messaging.channels.wecom import WeComClient
from siyu.engagement.messaging.fakes.sms import FakeAliyunSms
from siyu.engagement.messaging.fakes.webhook import FakeWebhookReceiver
from siyu.engagement.messaging.fakes.wecom import FakeWeCom
from siyu.engagement.messaging.models import ChannelAccount, Send
from siyu.engagement.messaging.policy import SendRequest

pytestmark = pytest.mark.django_db
UTC = dt.UTC
SHANGHAI = ZoneInfo("Asia/Shanghai")
MINUTE = dt.timedelta(minutes=1)
START = dt.datetime(2026, 6, 2, 12, 30, tzinfo=UTC)  # 20:30 in Shanghai; quiet hours begin at 21:00


class FlakyReceiver(FakeWebhookReceiver):
    """The webhook receiver, answering 503 to everything while `down`."""

    down = False
    refused_while_down = 0

    def answer(self, request):
        if self.down:
            self.refused_while_down += 1
            return 503, {}, {"error": "service unavailable"}
        return super().answer(request)


def quiet(at: dt.datetime) -> bool:
    hour = at.astimezone(SHANGHAI).hour
    return hour >= 21 or hour < 9


def requests(prefix, customers, marketing):
    return [
        SendRequest(f"{prefix}{i}", "webhook", customer_id=c, content="hi", marketing=marketing)
        for i, c in enumerate(customers)
    ]


def test_an_hour_of_503_then_every_send_goes_once_none_in_quiet_hours(customers, no_holdout):
    with FlakyReceiver() as receiver:
        configure_account(None, "webhook", "webhook", {"url": receiver.url}, {"signing_secret": "webhook-secret"})
        first = requests("t-before-", [1, 2, 3, 4] * 3, False) + requests("m-before-", [1, 2, 3, 4], True)
        later = requests("t-during-", [1, 2, 3, 4] * 3, False) + requests("m-during-", [1, 2, 3, 4], True)
        enqueue_sends(first, now=START)
        receiver.down = True
        first_seen: dict[str, dt.datetime] = {}
        at = START
        ticks = [START + n * MINUTE for n in range(0, 180)]
        ticks += [dt.datetime(2026, 6, 3, 1, 0, tzinfo=UTC), dt.datetime(2026, 6, 3, 2, 0, tzinfo=UTC)]  # 9:00, 10:00
        for at in ticks:
            if at == START + 20 * MINUTE:
                enqueue_sends(later, now=at)  # queued during the outage
            if at == START + 60 * MINUTE:
                assert receiver.refused_while_down <= 20  # a few probes in an hour, not each send's retries
                assert ChannelAccount.objects.get(channel="webhook").probe_at is not None
                waiting = Send.objects.filter(reason="provider_down", marketing=False).count()
                assert waiting == 24  # shown as waiting for the provider (marketing: for the end of quiet hours)
                receiver.down = False  # it recovers
            deliver_due_sends(now=at)
            for key in receiver.processed:
                first_seen.setdefault(key, at)
    keys = {r.idempotency_key for r in first + later}
    assert set(receiver.processed) == keys and receiver.repeats == 0  # every send, each exactly once
    assert len(receiver.requests) == receiver.refused_while_down + len(keys)  # no request sent twice
    assert all(s.status == "sent" and s.reason == "" for s in Send.objects.all())
    for key, seen in first_seen.items():
        if key.startswith("m-"):
            assert not quiet(seen), (key, seen)  # marketing waits for the end of quiet hours
        else:
            assert seen <= START + 66 * MINUTE  # transactional: at the first probe after the recovery
    assert ChannelAccount.objects.get(channel="webhook").probe_at is None  # closed again


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_sms_provider_refusing_connections_for_an_hour_then_sends_each_once(customers, no_holdout, monkeypatch):
    port = free_port()
    http.allow_local_port("127.0.0.1", port)
    connects = []
    real = http.guarded_connection

    def counting(*args, **kwargs):
        connects.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(http, "guarded_connection", counting)
    configure_account(
        None, "sms", "aliyun",
        {"access_key_id": "LTAI-test", "sign_name": "私域测试", "base_url": f"http://127.0.0.1:{port}"},
        {"access_key_secret": "aliyun-secret"},
    )  # fmt: skip
    for cid in (1, 2, 3):
        record_consent(None, cid, "sms", "opt_in", "注册", at=START - dt.timedelta(days=1))
    sends = enqueue_sends(
        [SendRequest(f"s{i}", "sms", customer_id=c, template="SMS_100001", variables={"name": "会员"},
                     marketing=False) for i, c in enumerate([1, 2, 3] * 4)],
        now=START,
    )  # fmt: skip
    morning = dt.datetime(2026, 6, 3, 2, 0, tzinfo=UTC)
    for n in range(60):  # nothing listens on the port for an hour: connection refused
        deliver_due_sends(now=START + n * MINUTE)
    assert len(connects) <= 20 and Send.objects.filter(status="sent").count() == 0
    assert not Send.objects.filter(status="failed_permanent").exists()  # nothing given up, nothing lost
    sms = FakeAliyunSms(per_number_per_minute=100)
    sms.port = port
    with sms:
        for n in range(60, 120):
            deliver_due_sends(now=START + n * MINUTE)
        deliver_due_sends(now=morning)
    http.forget_local_port("127.0.0.1", port)
    assert sorted(d["phone"] for d in sms.delivered) == sorted(["13800000001", "13800000002", "13800000003"] * 4)
    assert all(s.status == "sent" for s in Send.objects.filter(pk__in=[s.pk for s in sends]))


def test_past_the_retry_window_a_send_fails_with_the_reason_shown(customers, no_holdout, settings, client, team):
    settings.SEND_RETRY_HOURS = 2
    noon = dt.datetime(2026, 6, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    client.force_login(team["admin"])
    with FlakyReceiver() as receiver:
        receiver.down = True
        configure_account(None, "webhook", "webhook", {"url": receiver.url}, {"signing_secret": "webhook-secret"})
        sends = enqueue_sends(requests("t", [1, 2, 3, 4] * 2, False), now=noon)
        for n in range(0, 60, 5):
            deliver_due_sends(now=noon + n * MINUTE)
        page = client.get("/engagement/outbox/").content.decode()
        assert 'data-outage="webhook"' in page and "的服务商自" in page and "8 条发送正在等待" in page
        assert "服务商无法连接，等待重试" in page
        assert 'data-unreachable="webhook"' in client.get("/engagement/channels/").content.decode()
        api = Client(headers={"Authorization": f"Bearer {create_token(team['admin'], 'tests')}"})
        listed = api.get("/api/sends", {"channel": "webhook"}).json()["items"]
        assert {s["status"] for s in listed} == {"queued", "failed_retryable"}  # held / probed and failed
        assert {(s["reason"], s["reason_text"]) for s in listed} == {("provider_down", "服务商无法连接，等待重试")}
        for n in range(60, 130, 5):
            deliver_due_sends(now=noon + n * MINUTE)
        assert not receiver.processed
    rows = Send.objects.filter(pk__in=[s.pk for s in sends])
    assert {(s.status, s.reason) for s in rows} == {("failed_permanent", "retry_window")}
    assert all("within 2 hours of its slot (SIYU_SEND_RETRY_HOURS)" in s.last_error for s in rows)
    page = client.get("/engagement/outbox/").content.decode()
    assert "在重试时限内服务商一直无法接收，已放弃发送" in page


def test_a_wecom_mass_message_is_not_split_to_watch_for_an_outage(customers, no_holdout):
    """A guide confirms each mass message in WeCom: the breaker's growing groups must not turn one batch
    for a guide into several messages to confirm."""
    WeComClient._tokens.clear()
    add_customers(customers.raw_connection(), [{"customer_id": c, "wecom": (f"wm-{c}", "guide1")}
                                                for c in range(11, 23)])  # fmt: skip
    with FakeWeCom() as wecom:
        for c in range(11, 23):
            wecom.add_contact("guide1", f"wm-{c}")
        configure_account(None, "wecom", "wecom", {"corp_id": wecom.corp_id, "base_url": wecom.url},
                          {"contact_secret": "contact-secret"})  # fmt: skip
        enqueue_sends([SendRequest(f"q{c}", "wecom", customer_id=c, content="新品") for c in range(11, 23)],
                      now=START)  # fmt: skip
        assert deliver_due_sends(now=START) == {"sent": 12}
        assert len(wecom.mass) == 1  # one mass message for guide1 to confirm, not 5 + 7
    WeComClient._tokens.clear()
