"""Journeys triggered by loyalty's events (tier changed to a tier, points or a coupon about to expire, a
broken check-in streak): written to the warehouse against each customer's anchor record, as the loyalty
mirror writes them; a journey enrols exactly the customers whose events match, once each."""

from __future__ import annotations

import datetime as dt

import pytest
from engagement_helpers import NOON, add_customers

from siyu.engagement.errors import EngagementError
from siyu.engagement.journeys import actions as journey_actions
from siyu.engagement.journeys import definitions
from siyu.engagement.journeys.models import Enrollment
from siyu.engagement.messaging.actions import append_events
from siyu.warehouse import backend
from siyu.warehouse.anchors import anchor_record_keys

pytestmark = pytest.mark.django_db
HOUR = dt.timedelta(hours=1)
START = NOON - 2 * HOUR
SEND = {"id": "hello", "type": "send", "channel": "webhook", "content": "你好"}


@pytest.fixture
def base(warehouse, db, no_holdout):
    add_customers(warehouse.raw_connection(), [{"customer_id": i, "phone": f"1380000{i:04d}"} for i in range(1, 11)])
    return warehouse


def loyalty_events(rows: list[tuple[int, str, dict]], at=START + HOUR) -> int:
    anchors = anchor_record_keys(backend(), [cid for cid, _, _ in rows])
    return append_events([
        {"event_key": f"loyalty:{event_type}:{cid}:{n}", "source": "loyalty", "record_key": anchors[cid],
         "event_type": event_type, "occurred_at": at, "properties": properties}
        for n, (cid, event_type, properties) in enumerate(rows)
    ])  # fmt: skip


def test_the_anchor_record_is_the_customers_smallest_record_key(base):
    con = base.raw_connection()
    con.execute("INSERT INTO customer_map VALUES ('aaa|first', 3, now())")
    anchors = anchor_record_keys(backend(), [3, 4, 4, 999])
    assert anchors == {3: "aaa|first", 4: "shop|m4"}  # 999 is no customer


def test_loyalty_triggers_enrol_the_customers_of_matching_events(base):
    loyalty_events([
        (1, "tier_changed", {"from": "silver", "to": "gold"}), (2, "tier_changed", {"from": "gold", "to": "silver"}),
        (3, "points_expiring", {"points": 120, "expires_on": "2026-06-09"}),
        (4, "coupon_expiring", {"template_id": 10, "expires_on": "2026-06-05"}),
        (5, "coupon_expiring", {"template_id": 11, "expires_on": "2026-06-05"}),
        (6, "checkin_missed", {"streak": 4}),
    ])  # fmt: skip
    cases = [
        ({"type": "event", "event": "tier_changed"}, {1, 2}),
        ({"type": "event", "event": "tier_changed", "with": {"to": "gold"}}, {1}),
        ({"type": "event", "event": "points_expiring"}, {3}),
        ({"type": "event", "event": "coupon_expiring"}, {4, 5}),
        ({"type": "event", "event": "coupon_expiring", "with": {"template_id": 10}}, {4}),
        ({"type": "event", "event": "checkin_missed"}, {6}),
    ]
    for n, (trigger, expected) in enumerate(cases):
        journey = journey_actions.save_journey(None, name=f"j{n}", trigger=trigger, steps=[SEND], holdout_percent=0)
        journey = journey_actions.activate_journey(None, journey.pk, now=START)
        journey_actions.enroll_triggered(journey, NOON)
        assert set(Enrollment.objects.filter(journey=journey).values_list("customer_id", flat=True)) == expected
        assert journey_actions.enroll_triggered(journey, NOON + HOUR) == 0  # each event once


def test_loyalty_triggers_are_offered_in_words():
    from django.utils import translation

    from siyu.engagement.journeys.labels import JOURNEY_EVENTS

    assert set(definitions.LOYALTY_EVENTS) <= set(JOURNEY_EVENTS)
    with translation.override("zh-hans"):
        assert str(JOURNEY_EVENTS["tier_changed"]) == "会员等级变动"
        assert str(JOURNEY_EVENTS["checkin_missed"]) == "连续签到中断"
    with pytest.raises(EngagementError, match="not a property name"):
        definitions.check_trigger({"type": "event", "event": "tier_changed", "with": {"To": "gold"}})


def test_the_editor_starts_a_journey_on_a_change_to_one_tier(base, client):
    from siyu.loyalty.tiers.actions import make_tier
    from siyu.staff.actions import create_user

    gold = make_tier(None, name="金卡", rank=2, measure="spend", threshold="2000", window_days=365)
    create_user("ops", "pw-oper-1", "operator")
    client.login(username="ops", password="pw-oper-1")
    form = {"trigger_type": "event", "trigger_event": "tier_changed", "trigger_tier": str(gold.pk),
            "trigger_max_age_days": "3", "reentry": "once", "reentry_days": "0", "goal_days": "7",
            "priority": "1", "holdout_percent": "0", "cost_per_send": "0", "steps_json": "[]"}  # fmt: skip
    assert "金卡" in client.get("/engagement/journeys/new/").content.decode()
    client.post("/engagement/journeys/new/", {**form, "name": "升金卡礼"})
    journey = journey_actions.Journey.objects.get(name="升金卡礼")
    assert journey.trigger["with"] == {"to": str(gold.pk)}
    assert f'value="{gold.pk}" selected' in client.get(f"/engagement/journeys/{journey.pk}/edit/").content.decode()
