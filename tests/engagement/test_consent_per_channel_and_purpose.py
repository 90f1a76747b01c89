"""Every channel has its own consent, and the customer's choice about personalised marketing (PIPL art.
24): the contact policy honours both on every send path it is asked on (a direct send, a journey, guide
tasks, the delivery worker's re-check), and a service message still goes."""

from __future__ import annotations

import datetime as dt

import pytest
from engagement_helpers import NOON, add_customers

from siyu.customers.actions import record_consent
from siyu.customers.queries import CONSENT_CHANNELS
from siyu.engagement.journeys import actions as journey_actions
from siyu.engagement.journeys.definitions import uses_profiling
from siyu.engagement.messaging.actions import deliver_due_sends, enqueue_send
from siyu.engagement.messaging.models import CHANNEL_PROVIDERS, Channel, Send
from siyu.engagement.messaging.policy import CONSENT_CHANNEL, SendRequest

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
START = NOON - 2 * HOUR


@pytest.fixture
def people(warehouse, db, no_holdout):
    add_customers(warehouse.raw_connection(), [{"customer_id": i} for i in range(1, 6)])
    return warehouse


def ask(key, customer=1, channel="webhook", **kw):
    kw.setdefault("content", "hi")
    return enqueue_send(SendRequest(key, channel, customer_id=customer, **kw), now=NOON)


def test_every_channel_a_customer_can_be_sent_on_has_a_consent_of_its_own():
    for channel in [*Channel.values, *CHANNEL_PROVIDERS]:
        if channel == Channel.WECOM_APP:  # app messages reach staff, not customers
            assert CONSENT_CHANNEL[channel] is None
            continue
        assert CONSENT_CHANNEL[channel] in CONSENT_CHANNELS, channel
    assert CONSENT_CHANNEL["webhook"] == "webhook"


def test_an_opt_out_of_webhook_alone_stops_webhook_sends_and_not_sms(people):
    record_consent(None, 1, "webhook", "opt_out", "客服电话", at=NOON - DAY)
    record_consent(None, 1, "sms", "opt_in", "注册勾选", at=NOON - DAY)
    webhook = ask("w")
    assert (webhook.status, webhook.reason) == ("suppressed", "opted_out")
    assert ask("w-service", marketing=False).reason == "opted_out"  # an opt-out stops every send of it
    assert ask("s", channel="sms", template="SMS_1").status == "queued"
    assert ask("w2", customer=2).status == "queued"  # another customer's webhook is untouched


def test_an_opt_out_recorded_after_the_enqueue_stops_the_delivery(people):
    send = ask("w")
    assert send.status == "queued"
    record_consent(None, 1, "webhook", "opt_out", "会员中心")
    deliver_due_sends(now=NOON + HOUR)
    send.refresh_from_db()
    assert (send.status, send.reason) == ("suppressed", "opted_out")


def test_a_customer_who_refused_personalisation_gets_service_and_general_sends_only(people):
    record_consent(None, 1, "personalised", "opt_out", "会员中心", at=NOON - DAY)
    personalised = ask("p", personalised=True)
    assert (personalised.status, personalised.reason) == ("suppressed", "not_personalised")
    assert personalised.purpose == "marketing_personalised"
    general = ask("g")
    assert (general.status, general.purpose) == ("queued", "marketing_general")
    notice = ask("n", marketing=False, personalised=True, content="您的积分已到账")
    assert (notice.status, notice.purpose) == ("queued", "service")  # a service message is never refused for it
    assert ask("p2", customer=2, personalised=True).status == "queued"  # others did not refuse
    record_consent(None, 1, "personalised", "opt_in", "会员中心", at=NOON - HOUR)
    assert ask("p3", personalised=True).status == "queued"  # given back: allowed again


def test_a_refusal_recorded_after_the_enqueue_stops_a_personalised_delivery(people):
    send = ask("p", personalised=True)
    general = ask("g", customer=1, channel="webhook", content="新品上市")
    record_consent(None, 1, "personalised", "opt_out", "会员中心")
    deliver_due_sends(now=NOON + HOUR)
    send.refresh_from_db()
    general.refresh_from_db()
    assert (send.status, send.reason) == ("suppressed", "not_personalised")
    assert general.reason != "not_personalised"


def test_which_journeys_choose_by_profiling():
    send = [{"id": "s", "type": "send", "channel": "webhook", "content": "x"}]
    branch = [{"id": "b", "type": "branch", "rule": {}, "then": "s", "else": "s"}, *send]
    assert uses_profiling({"type": "segment", "segment_id": 1, "change": "enter"}, send)
    assert uses_profiling({"type": "segment_now", "segment_id": 1}, send)
    assert uses_profiling({"type": "schedule", "segment_id": 1, "every_days": 7, "at": "10:00"}, send)
    assert uses_profiling({"type": "date", "date": "due_to_buy", "days_before": 0}, send)
    assert uses_profiling({"type": "event", "event": "order_placed"}, branch)
    assert not uses_profiling({"type": "event", "event": "points_expiring"}, send)
    assert not uses_profiling({"type": "schedule", "segment_id": None, "every_days": 7, "at": "10:00"}, send)
    assert not uses_profiling({"type": "date", "date": "birthday", "days_before": 0}, send)


def _journey(trigger):
    journey = journey_actions.save_journey(
        None, name="测试旅程", trigger=trigger, holdout_percent=0,
        steps=[{"id": "hello", "type": "send", "channel": "webhook", "content": "你好"}],
    )  # fmt: skip
    return journey_actions.activate_journey(None, journey.pk, now=START)


def test_a_segment_journey_skips_who_refused_personalisation_and_an_event_journey_does_not(people):
    from siyu.segments.models import Segment

    segment = Segment.objects.create(name="高价值", rule={"field": "orders_total", "op": ">", "value": 0})
    people.raw_connection().executemany(
        "INSERT INTO segment_members VALUES (?, ?, ?)", [(segment.pk, c, START) for c in (1, 2)]
    )
    record_consent(None, 1, "personalised", "opt_out", "会员中心", at=START - DAY)
    journey = _journey({"type": "segment_now", "segment_id": segment.pk})
    report = journey_actions.run_journeys(now=NOON)
    sends = {s.customer_id: s for s in Send.objects.filter(source="journey", source_id=str(journey.pk))}
    assert (sends[1].status, sends[1].reason, sends[1].purpose) == (
        "suppressed", "not_personalised", "marketing_personalised"
    )
    assert sends[2].status == "queued"
    assert report["suppressed:not_personalised"] == 1


def test_guide_tasks_for_a_segment_are_personalised_and_for_a_list_are_not(shoppers, warehouse):
    from django.utils import timezone

    from siyu.engagement.content.actions import save_script
    from siyu.engagement.guides.actions import create_guide_tasks
    from siyu.engagement.guides.models import GuideTask
    from siyu.segments.models import Segment

    script = save_script(shoppers["ops"], title="回访", body="{name}您好", group="复购")
    segment = Segment.objects.create(
        name="高价值", rule={"field": "orders_total", "op": ">", "value": 0}, refreshed_at=timezone.now()
    )
    warehouse.raw_connection().executemany(
        "INSERT INTO segment_members VALUES (?, ?, ?)", [(segment.pk, c, START) for c in (1, 2)]
    )
    record_consent(None, 1, "personalised", "opt_out", "会员中心", at=START - DAY)
    due = NOON + 2 * DAY
    by_segment = create_guide_tasks(shoppers["ops"], script=script, due_at=due, segment_id=segment.pk, now=NOON)
    tasks = {t.customer_id: t for t in GuideTask.objects.filter(batch=by_segment)}
    assert (tasks[1].status, tasks[1].reason) == ("suppressed", "not_personalised")
    assert tasks[2].status == "open"
    by_list = create_guide_tasks(shoppers["ops"], script=script, due_at=due, customer_ids=[1], now=NOON)
    assert GuideTask.objects.get(batch=by_list, customer_id=1).status == "open"
