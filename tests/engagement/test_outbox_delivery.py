"""The outbox worker: delivery through the adapters to the fake providers, retries with backoff, checks
repeated at send time, touches and receipts in the warehouse, and what a crash leaves behind."""

from __future__ import annotations

import datetime as dt

import pytest
from engagement_helpers import NOON

from siyu.customers.actions import record_consent
from siyu.engagement.messaging import actions
from siyu.engagement.messaging.actions import (
    configure_account,
    deliver_due_sends,
    enqueue_sends,
    recover_interrupted_sends,
)
from siyu.engagement.messaging.channels.aliyun import AliyunSmsAdapter
from siyu.engagement.messaging.channels.webhook import WebhookAdapter
from siyu.engagement.messaging.channels.wecom import WeComClient
from siyu.engagement.messaging.fakes.sms import FakeAliyunSms
from siyu.engagement.messaging.fakes.webhook import FakeWebhookReceiver
from siyu.engagement.messaging.fakes.wecom import FakeWeCom
from siyu.engagement.messaging.models import Send
from siyu.engagement.messaging.policy import SendRequest

pytestmark = pytest.mark.django_db
SECOND = dt.timedelta(seconds=1)


@pytest.fixture
def receiver(db):
    with FakeWebhookReceiver() as server:
        configure_account(
            None, "webhook", "webhook", {"url": server.url}, {"signing_secret": "webhook-secret"}
        )
        yield server


@pytest.fixture
def sms(db):
    with FakeAliyunSms(per_number_per_minute=100) as server:
        configure_account(
            None, "sms", "aliyun", {"access_key_id": "LTAI-test", "sign_name": "私域测试", "base_url": server.url},
            {"access_key_secret": "aliyun-secret"},
        )  # fmt: skip
        yield server


def webhook_sends(n, start=1, **kw):
    return enqueue_sends(
        [SendRequest(f"w{i}", "webhook", customer_id=i, content="hi", **kw) for i in range(start, start + n)],
        now=NOON,
    )


def sms_sends(customers_ids, **kw):
    for cid in customers_ids:
        record_consent(None, cid, "sms", "opt_in", "注册", at=NOON - dt.timedelta(days=1))
    return enqueue_sends(
        [
            SendRequest(
                f"s{c}", "sms", customer_id=c, template="SMS_100001", variables={"name": "会员"}, **kw
            )
            for c in customers_ids
        ],
        now=NOON,
    )


def statuses():
    return dict(Send.objects.values_list("idempotency_key", "status"))


def touches(warehouse):
    return (
        warehouse.raw_connection()
        .execute("SELECT send_id, customer_id, channel, source FROM touches ORDER BY send_id")
        .fetchall()
    )


def test_due_sends_are_delivered_and_touches_written(customers, no_holdout, receiver, sms):
    webhook_sends(2)
    sms_sends([1, 2, 3, 4])
    result = deliver_due_sends(now=NOON)
    assert result == {"sent": 5, "failed_permanent": 1}  # customer 4 has no phone
    assert Send.objects.get(idempotency_key="s4").last_error == "no phone address known for this customer"
    assert [d["phone"] for d in sms.delivered] == ["13800000001", "13800000002", "13800000003"]
    sent = Send.objects.get(idempotency_key="s1")
    assert sent.record_key == "shop|m1" and sent.sent_at == NOON and sent.touch_written
    assert [(t[1], t[2]) for t in touches(customers)] == [
        (1, "webhook"),
        (2, "webhook"),
        (1, "sms"),
        (2, "sms"),
        (3, "sms"),
    ]
    assert deliver_due_sends(now=NOON) == {}


def test_retries_back_off_exponentially_then_give_up(customers, no_holdout, receiver):
    (send,) = webhook_sends(1)
    receiver.script(503, {"error": "down"}, times=2)
    deliver_due_sends(now=NOON)
    send.refresh_from_db()
    assert (send.status, send.attempts, send.next_attempt_at) == ("failed_retryable", 1, NOON + 30 * SECOND)
    assert deliver_due_sends(now=NOON + 10 * SECOND) == {}  # not due yet
    deliver_due_sends(now=NOON + 30 * SECOND)
    send.refresh_from_db()
    assert send.next_attempt_at == NOON + 90 * SECOND  # 30 s, then 60 s
    deliver_due_sends(now=NOON + 90 * SECOND)
    send.refresh_from_db()
    assert (send.status, send.attempts) == ("sent", 3)
    (third,) = webhook_sends(1, start=3)
    receiver.script(400, {"error": "bad payload"})
    deliver_due_sends(now=NOON)
    third.refresh_from_db()
    assert third.status == "failed_permanent" and third.attempts == 1
    (other,) = webhook_sends(1, start=2)
    receiver.script(503, {"error": "down"}, times=1000)
    at = NOON
    while at <= NOON + actions.retry_window():  # retried for SIYU_SEND_RETRY_HOURS (24) after its slot
        deliver_due_sends(now=at)
        other.refresh_from_db()
        assert other.status in ("failed_retryable", "queued") or at == NOON + actions.retry_window()  # queued: quiet hours
        at += actions.BACKOFF_CAP
    assert other.status == "failed_permanent" and other.reason == "retry_window"
    assert other.last_error.startswith("gave up after") and "within 24 hours of its slot" in other.last_error


def test_send_time_checks_opt_out_quiet_hours_and_expiry(customers, no_holdout, receiver):
    webhook_sends(3)
    record_consent(None, 1, "all", "opt_out", "回复TD", at=NOON)  # after the enqueue
    late = dt.datetime(2026, 6, 2, 14, 0, tzinfo=dt.UTC)  # 22:00 local: the worker was down until now
    deliver_due_sends(now=late)
    assert statuses() == {"w1": "suppressed", "w2": "queued", "w3": "queued"}
    assert Send.objects.get(idempotency_key="w2").next_attempt_at == dt.datetime(
        2026, 6, 3, 1, 0, tzinfo=dt.UTC
    )
    deliver_due_sends(now=dt.datetime(2026, 6, 3, 1, 0, tzinfo=dt.UTC))  # 23 h after the slot: still in time
    assert statuses() == {"w1": "suppressed", "w2": "sent", "w3": "sent"}
    (stale,) = webhook_sends(1, start=5)
    deliver_due_sends(now=NOON + dt.timedelta(hours=25))
    stale.refresh_from_db()
    assert (stale.status, stale.reason) == ("suppressed", "expired")
    assert len(receiver.processed) == 2


def test_a_channel_without_an_account_is_retried_later(customers, no_holdout):
    (send,) = webhook_sends(1)
    deliver_due_sends(now=NOON)
    send.refresh_from_db()
    assert send.status == "failed_retryable" and "no enabled account" in send.last_error


class Crash(BaseException):
    """Stands in for the process dying (not an Exception: nothing may catch it)."""


def crash_after(monkeypatch, adapter_class, calls: int):
    original = adapter_class.deliver_one
    made = []

    def deliver_one(self, message):
        if len(made) == calls:
            raise Crash
        made.append(message.send_id)
        return original(self, message)

    monkeypatch.setattr(adapter_class, "deliver_one", deliver_one)
    return made


def test_a_crash_and_restart_sends_nothing_twice_to_a_provider_without_idempotency(
    customers, no_holdout, receiver, sms, monkeypatch
):
    sms_sends([1, 2, 3])
    webhook_sends(2)
    made = crash_after(monkeypatch, AliyunSmsAdapter, 2)
    with pytest.raises(Crash):
        deliver_due_sends(now=NOON)
    assert set(statuses().values()) == {"sending"}
    monkeypatch.undo()
    # restart
    assert recover_interrupted_sends(now=NOON + SECOND) == {
        "requeued": 2, "repeated": 0, "outcome_unknown": 3, "touches_written": 0,
    }  # fmt: skip
    deliver_due_sends(now=NOON + SECOND)
    assert statuses() == {"s1": "failed_permanent", "s2": "failed_permanent", "s3": "failed_permanent",
                          "w1": "sent", "w2": "sent"}  # fmt: skip
    phones = [d["phone"] for d in sms.delivered]
    assert len(made) == 2 and len(phones) == len(set(phones)) == 2
    assert "outcome is unknown" in Send.objects.get(idempotency_key="s3").last_error
    assert len(receiver.processed) == 2 and receiver.repeats == 0


def test_a_crash_during_a_webhook_call_is_repeated_and_the_receiver_drops_the_repeat(
    customers, no_holdout, receiver, monkeypatch
):
    webhook_sends(3)
    crash_after(monkeypatch, WebhookAdapter, 2)
    with pytest.raises(Crash):
        deliver_due_sends(now=NOON)
    monkeypatch.undo()
    assert recover_interrupted_sends(now=NOON)["repeated"] == 3
    deliver_due_sends(now=NOON)
    assert set(statuses().values()) == {"sent"}
    assert sorted(receiver.processed) == ["w1", "w2", "w3"] and receiver.repeats == 2
    assert [t[0] for t in touches(customers)] == sorted(Send.objects.values_list("pk", flat=True))


def test_a_crash_after_sending_but_before_the_touch_is_repaired(customers, no_holdout, receiver, monkeypatch):
    webhook_sends(2)
    monkeypatch.setattr(actions, "write_touches", lambda sends: (_ for _ in ()).throw(Crash()))
    with pytest.raises(Crash):
        deliver_due_sends(now=NOON)
    monkeypatch.undo()
    assert set(statuses().values()) == {"sent"} and touches(customers) == []
    assert recover_interrupted_sends(now=NOON)["touches_written"] == 2
    assert recover_interrupted_sends(now=NOON)["touches_written"] == 0
    assert len(touches(customers)) == 2


def test_wecom_mass_sends_and_their_results_come_back_as_events(customers, no_holdout):
    WeComClient._tokens.clear()
    with FakeWeCom() as wecom:
        for staff, ext in (("guide1", "wm-one"), ("guide1", "wm-two"), ("guide2", "wm-three")):
            wecom.add_contact(staff, ext)
        configure_account(None, "wecom", "wecom", {"corp_id": wecom.corp_id, "base_url": wecom.url},
                          {"contact_secret": "contact-secret"})  # fmt: skip
        enqueue_sends(
            [SendRequest(f"q{c}", "wecom", customer_id=c, content="新品") for c in (1, 2, 3, 4)], now=NOON
        )
        deliver_due_sends(now=NOON)
        assert statuses() == {"q1": "sent", "q2": "sent", "q3": "sent", "q4": "failed_permanent"}
        assert sorted(m["sender"] for m in wecom.mass.values()) == ["guide1", "guide2"]
        assert Send.objects.get(idempotency_key="q1").sender == "guide1"
        written = actions.poll_wecom_receipts(now=NOON + dt.timedelta(minutes=11))
        assert written == 3 and set(
            Send.objects.filter(channel="wecom").values_list("receipt", flat=True)
        ) == {"delivered", ""}
        events = (
            customers.raw_connection()
            .execute("SELECT record_key, event_type FROM events ORDER BY record_key")
            .fetchall()
        )
        assert events == [("wecom|wm-one", "message_delivered"), ("wecom|wm-three", "message_delivered"),
                          ("wecom|wm-two", "message_delivered")]  # fmt: skip
        assert actions.poll_wecom_receipts(now=NOON + dt.timedelta(minutes=30)) == 0
    WeComClient._tokens.clear()


def test_customer_variables_are_filled_at_delivery_and_a_hole_is_never_sent(customers, no_holdout, receiver):
    customers.raw_connection().execute(
        "UPDATE customer_summary SET name_masked = '张*', gender = 'F' WHERE customer_id = 1"
    )  # customer 2 has no name on record
    enqueue_sends(
        [
            SendRequest(f"p{c}", "webhook", customer_id=c, subject="{name}", content="亲爱的{name}，{tip}",
                        variables={"tip": "{name}的新品到了", "code": 7})
            for c in (1, 2)
        ],  # fmt: skip
        now=NOON,
    )
    assert deliver_due_sends(now=NOON) == {"sent": 1, "failed_permanent": 1}
    (payload,) = receiver.processed.values()
    assert (payload["subject"], payload["content"]) == ("张女士", "亲爱的张女士，张女士的新品到了")
    assert payload["variables"] == {"tip": "张女士的新品到了", "code": 7}
    failed = Send.objects.get(idempotency_key="p2")
    assert failed.status == "failed_permanent" and failed.last_error == "no value of {name} for this customer"
    # the outbox keeps the template, not the customer's values
    assert Send.objects.get(idempotency_key="p1").content == "亲爱的{name}，{tip}"


PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
GIF_BYTES = b"GIF89a" + b"\x00" * 32


def test_wecom_sends_carry_library_materials_checked_again_at_delivery(customers, no_holdout, settings, tmp_path):
    from siyu.engagement.content.actions import save_material

    settings.UPLOADS_DIR = tmp_path
    WeComClient._tokens.clear()
    card = save_material(None, kind="mini_program", title="新品小程序", appid="wx0123456789abcdef",
                         page_path="pages/new/index", image=PNG_BYTES)  # fmt: skip
    link = save_material(None, kind="link", title="新品页", body="春季新品", url="https://example.com/new")
    record_consent(None, 3, "ugc", "opt_in", "评价授权")
    show = save_material(None, kind="ugc", title="买家秀", customer_id=3, image=PNG_BYTES)
    gif = save_material(None, kind="image", title="动图", image=GIF_BYTES)
    with FakeWeCom() as wecom:
        for staff, ext in (("guide1", "wm-one"), ("guide1", "wm-two"), ("guide2", "wm-three"), ("guide2", "wm-four")):
            wecom.add_contact(staff, ext)
        configure_account(None, "wecom", "wecom", {"corp_id": wecom.corp_id, "base_url": wecom.url},
                          {"contact_secret": "contact-secret"})  # fmt: skip
        materials = {1: card.pk, 2: card.pk, 3: show.pk, 4: gif.pk}
        enqueue_sends([SendRequest(f"a{c}", "wecom", customer_id=c, content="新品上市",
                                   variables={"material_id": m}) for c, m in materials.items()]
                      + [SendRequest("a5", "wecom", customer_id=2, content="看看", variables={"material_id": link.pk},
                                     marketing=False)], now=NOON)  # fmt: skip
        record_consent(None, 3, "ugc", "opt_out", "撤回授权")  # after the enqueue, before the delivery
        deliver_due_sends(now=NOON)
        done = dict(Send.objects.values_list("idempotency_key", "status"))
        assert done == {"a1": "sent", "a2": "sent", "a3": "failed_permanent", "a4": "failed_permanent", "a5": "sent"}
        assert "consent" in Send.objects.get(idempotency_key="a3").last_error  # the buyer show is withheld
        assert "JPG and PNG" in Send.objects.get(idempotency_key="a4").last_error
        by_text = {tuple(a["msgtype"] for a in m["attachments"]): m for m in wecom.mass.values()}
        mini = by_text[("miniprogram",)]["attachments"][0]["miniprogram"]
        assert (mini["title"], mini["appid"], mini["page"]) == ("新品小程序", "wx0123456789abcdef", "pages/new/index")
        assert wecom.media[mini["pic_media_id"]]["data"] == PNG_BYTES  # the card's picture, uploaded
        assert len(wecom.media) == 1  # once for both customers of guide1
        assert by_text[("link",)]["attachments"][0]["link"] == {"title": "新品页", "url": "https://example.com/new",
                                                               "desc": "春季新品"}  # fmt: skip
    WeComClient._tokens.clear()
