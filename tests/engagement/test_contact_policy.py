"""The contact policy on the enqueue path, one rule at a time, with the defaults."""

from __future__ import annotations

import datetime as dt

import pytest
from engagement_helpers import NOON
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.customers.actions import record_consent
from siyu.engagement.messaging.actions import enqueue_send, enqueue_sends, update_policy
from siyu.engagement.messaging.models import ContactPolicy, Send
from siyu.engagement.messaging.policy import SendRequest, holdout_share, holdout_shares

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)


def ask(key, customer=1, channel="webhook", at=NOON, **kw):
    return enqueue_send(SendRequest(key, channel, customer_id=customer, content="hi", **kw), now=at)


def test_defaults_are_the_documented_ones():
    from siyu.engagement.messaging.policy import current_policy

    policy = current_policy()
    assert (policy.quiet_start, policy.quiet_end) == (dt.time(21), dt.time(9))
    assert (policy.marketing_cap, policy.marketing_cap_days, policy.holdout_percent) == (2, 7, 5)
    assert policy.consent_required_channels == ["sms", "email"] and not policy.wecom_one_per_day
    assert policy.channel_caps == {} and policy.max_delay_hours == 24


def test_an_idempotency_key_enqueues_once(no_holdout):
    first = ask("k1")
    again = ask("k1")
    assert first.pk == again.pk and Send.objects.count() == 1
    both = enqueue_sends(
        [SendRequest("k2", "webhook", customer_id=1), SendRequest("k2", "webhook", customer_id=1)], now=NOON
    )
    assert both[0].pk == both[1].pk


def test_opt_out_per_channel_and_for_all(customers, no_holdout):
    record_consent(None, 1, "sms", "opt_out", "客服电话", at=NOON - DAY)
    sms = ask("a", channel="sms", template="SMS_1")
    assert (sms.status, sms.reason) == ("suppressed", "opted_out")
    record_consent(None, 2, "all", "opt_out", "退订", at=NOON - DAY)
    assert ask("b", customer=2).reason == "opted_out"
    assert ask("c", customer=2, marketing=False).reason == "opted_out"  # an opt-out stops every send


def test_marketing_sms_needs_an_opt_in(customers, no_holdout):
    assert ask("a", channel="sms").reason == "no_consent"
    assert ask("b", channel="sms", marketing=False).status == "queued"  # transactional
    record_consent(None, 1, "sms", "opt_in", "注册勾选", at=NOON - DAY)
    assert ask("c", channel="sms").status == "queued"


def test_quiet_hours_move_the_slot_to_nine_in_the_morning(no_holdout):
    late = dt.datetime(2026, 6, 2, 14, 30, tzinfo=dt.UTC)  # 22:30 in Shanghai
    send = ask("a", at=late)
    assert send.status == "queued" and send.scheduled_at == dt.datetime(2026, 6, 3, 1, 0, tzinfo=dt.UTC)
    early = dt.datetime(2026, 6, 2, 0, 30, tzinfo=dt.UTC)  # 08:30
    assert ask("b", customer=2, at=early).scheduled_at == dt.datetime(2026, 6, 2, 1, 0, tzinfo=dt.UTC)
    assert ask("c", customer=3, at=late, marketing=False).scheduled_at == late


def test_two_marketing_touches_a_week_across_channels(customers, no_holdout):
    record_consent(None, 1, "all", "opt_in", "注册", at=NOON - DAY)
    assert ask("a", channel="sms").status == "queued"
    assert ask("b", channel="email", at=NOON + DAY).status == "queued"
    third = ask("c", channel="wecom", at=NOON + 2 * DAY)
    assert (third.status, third.reason) == ("suppressed", "cap_global")
    assert ask("d", at=NOON + 7 * DAY).status == "queued"  # the first has left the window
    assert ask("e", marketing=False, at=NOON + 2 * DAY).status == "queued"


def test_a_channel_cap_on_top_of_the_global_one(no_holdout):
    update_policy(None, channel_caps={"webhook": [1, 30]})
    assert ask("a").status == "queued"
    assert ask("b", at=NOON + 10 * DAY).reason == "cap_channel"


def test_the_higher_priority_send_wins_the_cap(no_holdout):
    low1, low2 = ask("low1", priority=1), ask("low2", priority=1, at=NOON + DAY)
    high = ask("high", priority=5, at=NOON + 2 * DAY)
    assert high.status == "queued"
    low2.refresh_from_db()
    low1.refresh_from_db()
    assert (low2.status, low2.reason) == ("suppressed", "outranked") and low1.status == "queued"
    assert ask("same", priority=5, at=NOON + 2 * DAY).status == "queued"  # takes low1's slot
    low1.refresh_from_db()
    assert low1.reason == "outranked"
    assert ask("equal", priority=5, at=NOON + 2 * DAY).reason == "cap_global"  # equal priority never outranks
    # in one batch the higher priority is decided first
    batch = enqueue_sends(
        [SendRequest(f"b{i}", "webhook", customer_id=9, priority=p) for i, p in enumerate([0, 3, 1, 7])],
        now=NOON,
    )
    assert [s.status for s in batch] == ["suppressed", "queued", "suppressed", "queued"]


def test_wecom_monthly_and_daily_limits(no_holdout):
    ContactPolicy.objects.filter(pk=1).update(marketing_cap=100)
    june = [
        ask(f"m{i}", channel="wecom", marketing=False, at=NOON + dt.timedelta(hours=i)) for i in range(31)
    ]
    assert sum(s.status == "queued" for s in june) == 30 and june[-1].reason == "wecom_monthly"
    update_policy(None, wecom_one_per_day=True)
    assert ask("d1", customer=2, channel="wecom").status == "queued"
    assert ask("d2", customer=2, channel="wecom", at=NOON + dt.timedelta(hours=3)).reason == "wecom_daily"
    assert ask("d3", customer=2, channel="wecom", at=NOON + DAY).status == "queued"


def test_app_messages_to_a_member_are_spread_under_wecom_limits():
    sends = enqueue_sends(
        [
            SendRequest(f"t{i}", "wecom_app", member="guide1", content="任务", marketing=False)
            for i in range(65)
        ],
        now=NOON,
    )
    slots = sorted(s.scheduled_at for s in sends)
    assert all(s.status == "queued" for s in sends)
    for slot in slots:
        assert sum(abs(other - slot) < dt.timedelta(minutes=1) for other in slots) <= 30
    assert slots[-1] >= NOON + dt.timedelta(minutes=2)
    assert enqueue_send(SendRequest("nobody", "wecom_app"), now=NOON).reason == "no_recipient"


def test_global_and_source_holdouts_are_deterministic_shares():
    shares = [holdout_share("global", cid) for cid in range(1, 20_001)]
    assert 0.045 < sum(s < 0.05 for s in shares) / len(shares) < 0.055
    sends = enqueue_sends([SendRequest(f"g{c}", "webhook", customer_id=c) for c in range(1, 401)], now=NOON)
    held = {s.customer_id for s in sends if s.reason == "holdout_global"}
    assert held == {c for c in range(1, 401) if holdout_share("global", c) < 0.05} and held
    journey = enqueue_sends(
        [SendRequest(f"j{c}", "webhook", customer_id=c, source="journey", source_id="7", source_holdout_percent=10,
                     marketing=True, send_at=NOON + 8 * DAY) for c in range(1, 401)],
        now=NOON,
    )  # fmt: skip
    in_journey_holdout = {s.customer_id for s in journey if s.reason == "holdout_source"}
    assert in_journey_holdout == {
        c for c in range(1, 401) if c not in held and holdout_share("journey:7", c) < 0.1
    }
    assert all(s.reason != "holdout_global" for s in enqueue_sends(
        [SendRequest(f"t{c}", "webhook", customer_id=c, marketing=False) for c in held], now=NOON))  # fmt: skip
    # two holdouts of the same size are independent draws: about 5% of 5% are in both
    both = sum(holdout_share("global", c) < 0.05 and holdout_share("journey:7", c) < 0.05 for c in range(1, 100_001))
    assert 150 < both < 350


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=20), st.lists(st.integers(min_value=1, max_value=2**63 - 1), max_size=50))
def test_holdout_shares_of_a_batch_are_each_customers_own_share(group, ids):
    shares = holdout_shares(group, ids)
    assert ((shares >= 0) & (shares < 1)).all()
    # the same customer gets the same share alone, in any batch and in any order
    assert shares.tolist() == [holdout_share(group, c) for c in ids]
    assert holdout_shares(group, ids[::-1]).tolist() == shares.tolist()[::-1]


def test_bad_requests_are_refused():
    from siyu.engagement.errors import EngagementError

    for request in (
        SendRequest("", "webhook", customer_id=1),
        SendRequest("k", "fax", customer_id=1),
        SendRequest("k", "webhook", customer_id=1, source="nowhere"),
        SendRequest("k", "webhook", customer_id=1, priority=500),
        SendRequest("k", "webhook", customer_id=1, send_at=dt.datetime(2026, 1, 1)),
        SendRequest("k", "sms", customer_id=1, template="T", variables={"material_id": 1}),  # WeCom only
        SendRequest("k", "wecom", customer_id=1, content="x", variables={"material_id": "1"}),
    ):
        with pytest.raises(EngagementError):
            enqueue_send(request, now=NOON)
