"""The loyalty mirror: control-plane rows become warehouse events and state tables; running it again adds
nothing; what it writes is what segments and journeys see (a points change in a segment, a tier change
enrolling a journey)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.loyalty_shop import Shop
from siyu.engagement.journeys import actions as journey_actions
from siyu.engagement.journeys.models import Enrollment
from siyu.loyalty import mirror
from siyu.loyalty.checkin.actions import check_in
from siyu.loyalty.checkin.models import Checkin
from siyu.loyalty.coupons import actions as coupon_actions
from siyu.loyalty.points.actions import award_points, spend_points
from siyu.loyalty.tiers import actions as tier_actions
from siyu.segments.actions import checked_rule
from siyu.segments.membership import rule_members

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)
NOW = dt.datetime(2026, 3, 10, 4, 0, tzinfo=dt.UTC)  # 12:00 in Shanghai


@pytest.fixture
def shop(warehouse, db, settings):
    from siyu.engagement.messaging.actions import update_policy

    update_policy(None, holdout_percent=0)  # every enrolled customer is treated
    settings.TIME_ZONE = "Asia/Shanghai"
    shop = Shop(warehouse, start=NOW - 30 * DAY)
    for cid in range(1, 6):
        key = f"member|m{cid}"
        shop._insert("records", [{"record_key": key, "source": "member", "record_id": f"m{cid}", "seen_at": shop.start}])
        shop._insert("customer_map", [{"record_key": key, "customer_id": cid, "resolved_at": shop.start}])
    shop.summary([{"customer_id": cid} for cid in range(1, 6)])
    return shop


def events(warehouse, event_type=None) -> list[tuple]:
    sql = "SELECT m.customer_id, e.event_type, e.properties FROM events e JOIN customer_map m USING (record_key)"
    rows = warehouse.raw_connection().execute(sql + " WHERE e.source = 'loyalty' ORDER BY e.event_key").fetchall()
    return [r for r in rows if event_type is None or r[1] == event_type]


def members(warehouse, rule, now=NOW) -> list[int]:
    return sorted(rule_members(warehouse.backend(), checked_rule(rule), now).customer_id.to_pyarrow().to_pylist())


def test_mirroring_twice_adds_nothing_and_keeps_the_same_state(shop):
    award_points(1, 300, key="a1", reason="下单", source="order", available_at=NOW - 10 * DAY)
    spend_points(1, 100, key="s1", reason="兑换", source="mall")
    template = coupon_actions.save_template(None, {"name": "满100减20", "kind": "amount", "amount_off": "20",
                                                   "min_spend": "100", "validity": "days", "valid_days": 30})  # fmt: skip
    coupon_actions.issue_coupon(template.pk, 2, key="c1", source="journey")
    check_in(3)
    first = mirror.mirror_loyalty(now=NOW)
    assert first["events_written"] == first["events_seen"] >= 4
    state = shop.connection.raw_connection().execute(
        "SELECT customer_id, points_available, coupons_held FROM loyalty_members ORDER BY 1").fetchall()
    assert state == [(1, 200, 0), (2, 0, 1), (3, 0, 0)]
    changed = events(shop.connection, "points_changed")
    assert [(c, json.loads(p)["balance"]) for c, _, p in changed] == [(1, 300), (1, 200)]
    again = mirror.mirror_loyalty(now=NOW + dt.timedelta(minutes=5))
    assert again["events_written"] == 0 and again["loyalty_members"] == 3
    assert len(events(shop.connection)) == first["events_written"]


def test_a_points_change_shows_in_a_segment_after_the_mirror(shop):
    rule = {"points": {"at_least": 100}}
    award_points(1, 500, key="a1", reason="下单", source="order", available_at=NOW - DAY)
    assert members(shop.connection, rule) == []  # not mirrored yet: the warehouse does not know
    mirror.mirror_loyalty(now=NOW)
    assert members(shop.connection, rule) == [1]
    spend_points(1, 450, key="s1", reason="兑换", source="mall")
    mirror.mirror_loyalty(now=NOW + DAY)
    assert members(shop.connection, rule) == []


def test_a_tier_change_enrolls_a_journey_of_that_tier(shop, settings):
    settings.LOYALTY_TIER_REVIEW_DAYS = 365
    settings.LOYALTY_TIER_GRACE_DAYS = 30
    silver = tier_actions.make_tier(None, name="银卡", rank=1, measure="spend", threshold="500", window_days=365)
    tier_actions.make_tier(None, name="金卡", rank=2, measure="spend", threshold="2000", window_days=365)
    trigger = {"type": "event", "event": "tier_changed", "with": {"to": str(silver.pk)}}
    journey = journey_actions.save_journey(None, name="升银卡", trigger=trigger, holdout_percent=0,
                                           steps=[{"id": "hi", "type": "send", "channel": "webhook", "content": "恭喜"}])  # fmt: skip
    journey = journey_actions.activate_journey(None, journey.pk, now=NOW - DAY)
    shop.buy(1, "A1", "600", when=NOW - 2 * DAY)
    shop.buy(2, "B1", "2500", when=NOW - 2 * DAY)
    tier_actions.evaluate_tiers(now=NOW - dt.timedelta(hours=1))
    mirror.mirror_loyalty(now=NOW)
    assert {c for c, _, _ in events(shop.connection, "tier_changed")} == {1, 2}
    journey_actions.enroll_triggered(journey, NOW)
    assert list(Enrollment.objects.filter(journey=journey).values_list("customer_id", flat=True)) == [1]
    assert members(shop.connection, {"tier": {"rank_at_least": 2}}) == [2]


def test_what_is_about_to_happen_is_written_once(shop):
    award_points(1, 80, key="soon", reason="签到", source="checkin", available_at=NOW - DAY, expires_at=NOW + 5 * DAY)
    award_points(1, 70, key="later", reason="签到", source="checkin", available_at=NOW - DAY, expires_at=NOW + 40 * DAY)
    template = coupon_actions.save_template(None, {"name": "满100减20", "kind": "amount", "amount_off": "20",
                                                   "min_spend": "100", "validity": "days", "valid_days": 2})  # fmt: skip
    coupon_actions.issue_coupon(template.pk, 2, key="c1", source="journey", now=NOW - DAY)  # expires in a day
    today = dt.date(2026, 3, 10)
    check_in(3, day=today - 3 * DAY)
    check_in(3, day=today - 2 * DAY)  # a streak of 2, then nothing yesterday
    check_in(4, day=today - 2 * DAY)  # a streak of 1: nothing to miss
    check_in(5, day=today - DAY)  # still going
    mirror.mirror_loyalty(now=NOW)
    expiring = events(shop.connection, "points_expiring")
    assert [(c, json.loads(p)["points"]) for c, _, p in expiring] == [(1, 80)]
    assert [c for c, _, _ in events(shop.connection, "coupon_expiring")] == [2]
    assert [c for c, _, _ in events(shop.connection, "checkin_missed")] == [3]
    assert members(shop.connection, {"checkin": {"streak_at_least": 1}}) == [5]
    assert mirror.mirror_loyalty(now=NOW + dt.timedelta(hours=1))["events_written"] == 0


def test_the_builder_and_the_editor_name_tiers_and_coupon_templates(shop):
    from siyu.segments.queries import loyalty_choices

    silver = tier_actions.make_tier(None, name="银卡", rank=1, measure="spend", threshold="500", window_days=365)
    template = coupon_actions.save_template(None, {"name": "满100减20", "kind": "amount", "amount_off": "20",
                                                   "min_spend": "100", "validity": "days", "valid_days": 30})  # fmt: skip
    choices = loyalty_choices()
    assert choices["tiers"] == [[str(silver.pk), "银卡", 1]]
    assert choices["coupon_templates"] == [[template.pk, "满100减20"]]


# --- what was written since the last run, whatever time it says (issue 16's mirror defects) ---------------


def _template(valid_days=60):
    return coupon_actions.save_template(None, {"name": "满100减20", "kind": "amount", "amount_off": "20",
                                               "min_spend": "0", "validity": "days", "valid_days": valid_days})  # fmt: skip


def test_a_coupon_an_old_imported_order_used_is_mirrored_as_used(shop):
    coupon = coupon_actions.issue_coupon(_template().pk, 2, key="c1", source="journey", now=NOW - 40 * DAY)
    mirror.mirror_loyalty(now=NOW)
    assert events(shop.connection, "coupon_used") == []
    # an order placed 20 days ago, imported today, carries the code: the coupon is used at the order's time
    shop._insert("orders", [{"order_key": "taobao||O1", "source": "tmall", "format": "taobao", "order_id": "O1",
                             "record_key": "member|m2", "status_raw": "paid", "status_class": "purchase",
                             "order_time": NOW - 20 * DAY, "paid_time": NOW - 20 * DAY, "amount": Decimal("150"),
                             "batch_id": "b1", "updated_at": NOW, "coupon_code": coupon.code}])  # fmt: skip
    assert coupon_actions.match_coupon_orders(now=NOW)["used"] == 1
    mirror.mirror_loyalty(now=NOW + dt.timedelta(hours=1))
    assert [(c, json.loads(p)["coupon_id"]) for c, _, p in events(shop.connection, "coupon_used")] == [(2, coupon.pk)]
    state = shop.connection.raw_connection().execute("SELECT status, epoch(used_at) FROM loyalty_coupons").fetchall()
    assert state == [("used", (NOW - 20 * DAY).timestamp())]


def test_a_coupon_redeemed_with_a_past_time_and_an_expiry_are_mirrored(shop):
    template = _template()
    used = coupon_actions.issue_coupon(template.pk, 2, key="c1", source="journey", now=NOW - 40 * DAY)
    old = coupon_actions.issue_coupon(_template(valid_days=10).pk, 3, key="c2", source="journey", now=NOW - 40 * DAY)
    mirror.mirror_loyalty(now=NOW)
    coupon_actions.redeem_coupon(used.code, key="till-offline", now=NOW - 3 * DAY)  # a till that was offline
    assert coupon_actions.expire_coupons(now=NOW) == 1
    mirror.mirror_loyalty(now=NOW + dt.timedelta(hours=1))
    assert [c for c, _, _ in events(shop.connection, "coupon_used")] == [2]
    state = shop.connection.raw_connection().execute(
        "SELECT coupon_id, status FROM loyalty_coupons ORDER BY 1").fetchall()
    assert state == [(used.pk, "used"), (old.pk, "expired")]


def test_a_tier_change_evaluated_at_a_past_date_is_mirrored(shop, settings):
    settings.LOYALTY_TIER_REVIEW_DAYS = 365
    settings.LOYALTY_TIER_GRACE_DAYS = 30
    silver = tier_actions.make_tier(None, name="银卡", rank=1, measure="spend", threshold="500", window_days=365)
    mirror.mirror_loyalty(now=NOW)
    shop.buy(1, "A1", "600", when=NOW - 9 * DAY)
    tier_actions.evaluate_tiers(now=NOW - 7 * DAY)  # a review run late, as of a week ago
    mirror.mirror_loyalty(now=NOW + dt.timedelta(hours=1))
    assert [(c, json.loads(p)["to"]) for c, _, p in events(shop.connection, "tier_changed")] == [(1, str(silver.pk))]


def test_rows_committed_long_after_their_time_are_mirrored(shop):
    later = timezone.now() + dt.timedelta(hours=2)
    mirror.mirror_loyalty(now=later)  # a run that already passed the time these rows will say
    award_points(1, 300, key="a1", reason="下单", source="order", available_at=NOW - DAY)
    check_in(3)
    mirror.mirror_loyalty(now=later + dt.timedelta(hours=1))
    assert [c for c, _, _ in events(shop.connection, "points_changed")] == [1]
    assert [c for c, _, _ in events(shop.connection, "checked_in")] == [3]


def test_an_id_committed_after_a_larger_one_is_still_mirrored(shop):
    """Ids are drawn before commit: a transaction still open while the mirror reads a larger id commits
    its smaller id later (PostgreSQL under concurrency)."""
    mirror.mirror_loyalty(now=NOW)
    late = Checkin.objects.create(customer_id=4, day=dt.date(2026, 3, 1), streak=1)
    Checkin.objects.filter(pk=late.pk).update(id=late.pk + 1)  # id n+1 commits first …
    mirror.mirror_loyalty(now=NOW + dt.timedelta(hours=1))
    Checkin.objects.create(id=late.pk, customer_id=5, day=dt.date(2026, 3, 1), streak=1)  # … then id n
    mirror.mirror_loyalty(now=NOW + dt.timedelta(hours=2))
    assert sorted(c for c, _, _ in events(shop.connection, "checked_in")) == [4, 5]


def test_an_event_of_a_customer_not_resolved_yet_is_written_once_they_are(shop):
    award_points(9, 50, key="a9", reason="下单", source="order", available_at=NOW - DAY)  # 9: not in customer_map
    award_points(1, 20, key="a1", reason="下单", source="order", available_at=NOW - DAY)
    first = mirror.mirror_loyalty(now=NOW)
    assert first["waiting"] == 1 and [c for c, _, _ in events(shop.connection, "points_changed")] == [1]
    award_points(1, 30, key="a1b", reason="下单", source="order", available_at=NOW - DAY)
    assert mirror.mirror_loyalty(now=NOW + dt.timedelta(hours=1))["waiting"] == 1  # still unknown: still kept
    shop._insert("records", [{"record_key": "member|m9", "source": "member", "record_id": "m9", "seen_at": NOW}])
    shop._insert("customer_map", [{"record_key": "member|m9", "customer_id": 9, "resolved_at": NOW}])
    again = mirror.mirror_loyalty(now=NOW + dt.timedelta(hours=2))
    assert again["waiting"] == 0 and again["events_written"] == 1
    changed = [(c, json.loads(p)["balance"]) for c, _, p in events(shop.connection, "points_changed")]
    assert sorted(changed) == [(1, 20), (1, 50), (9, 50)]
    assert mirror.mirror_loyalty(now=NOW + dt.timedelta(hours=3))["events_written"] == 0
