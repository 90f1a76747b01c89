"""Tiers: upgrade at once when a higher rule is met (with the upgrade coupon, once), downgrade only at the
review date and after the grace period, progress toward the next tier, multipliers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from siyu.loyalty.coupons.models import Coupon
from siyu.loyalty.tiers import actions, queries
from siyu.loyalty.tiers.models import TierChange

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)


@pytest.fixture
def tiers(settings):
    settings.LOYALTY_TIER_REVIEW_DAYS = 365
    settings.LOYALTY_TIER_GRACE_DAYS = 30
    silver = actions.make_tier(None, name="银卡", rank=1, measure="spend", threshold="500", window_days=365)
    gold = actions.make_tier(None, name="金卡", rank=2, measure="spend", threshold="2000", window_days=365,
                             multiplier="2")  # fmt: skip
    return silver, gold


def test_upgrade_at_once(shop, tiers):
    silver, gold = tiers
    shop.buy(1, "A1", "600")
    shop.buy(2, "B1", "100")
    now = shop.tick() + DAY
    report = actions.evaluate_tiers(now=now)
    assert report["upgrades"] == 1
    assert queries.tier_of(1, now=now).tier == silver
    assert queries.tier_of(2, now=now).tier is None
    shop.buy(1, "A2", "1500")
    actions.evaluate_tiers([1], now=now + DAY)  # months before the review date: up at once
    view = queries.tier_of(1, now=now + DAY)
    assert view.tier == gold and view.next_tier is None
    assert queries.multipliers_of([1, 2]) == {1: Decimal("2.00"), 2: Decimal("1")}


def test_progress_toward_the_next_tier(shop, tiers):
    shop.buy(1, "A1", "250")
    view = queries.tier_of(1, now=shop.tick())
    assert view.tier is None and view.next_tier.name == "银卡"
    assert (view.measured, view.needed, view.progress) == (Decimal("250"), Decimal("500"), 0.5)


def test_downgrade_only_after_review_and_grace(shop, tiers):
    silver, gold = tiers
    start = shop.start
    shop.buy(1, "A1", "2500", when=start)
    actions.evaluate_tiers(now=start + DAY)
    assert queries.tier_of(1).tier == gold
    review = queries.tier_of(1).review_on
    # a year later the purchase has left the window; before the review date nothing moves
    actions.evaluate_tiers(now=start + 364 * DAY - DAY)
    assert queries.tier_of(1).tier == gold
    at_review = dt.datetime.combine(review, dt.time(4), tzinfo=dt.UTC)
    actions.evaluate_tiers(now=at_review)
    state = queries.tier_of(1)
    assert state.tier == gold and state.grace_until == review + 30 * DAY  # kept in grace
    actions.evaluate_tiers(now=at_review + 29 * DAY)
    assert queries.tier_of(1).tier == gold
    actions.evaluate_tiers(now=at_review + 30 * DAY)
    assert queries.tier_of(1).tier is None  # nothing met any more
    kinds = list(TierChange.objects.filter(customer_id=1).order_by("changed_at").values_list("kind", flat=True))
    assert kinds == ["upgrade", "grace", "downgrade"]


def test_meeting_the_rule_again_in_grace_keeps_the_tier(shop, tiers):
    silver, gold = tiers
    start = shop.start
    shop.buy(1, "A1", "600", when=start)
    actions.evaluate_tiers(now=start + DAY)
    review = queries.tier_of(1).review_on
    at_review = dt.datetime.combine(review, dt.time(4), tzinfo=dt.UTC)
    actions.evaluate_tiers(now=at_review)
    assert queries.tier_of(1).grace_until is not None
    shop.buy(1, "A2", "600", when=at_review + 2 * DAY)
    actions.evaluate_tiers(now=at_review + 3 * DAY)
    state = queries.tier_of(1)
    assert state.tier == silver and state.grace_until is None and state.review_on > review
    actions.evaluate_tiers(now=at_review + 40 * DAY)
    assert queries.tier_of(1).tier == silver


def test_upgrade_gives_the_tiers_coupon_once(shop, tiers):
    from loyalty.coupons.coupon_helpers import make_template  # noqa: PLC0415 - the coupons part's helper

    silver, gold = tiers
    template = make_template()
    actions.change_tier(None, gold, upgrade_coupon_template_id=template.pk)
    shop.buy(1, "A1", "2500")
    now = shop.tick()
    assert actions.evaluate_tiers(now=now)["coupons"] == 1
    actions.evaluate_tiers(now=now)
    assert Coupon.objects.filter(customer_id=1, template=template).count() == 1


def test_members_per_tier(shop, tiers):
    shop.buy(1, "A1", "600")
    shop.buy(2, "B1", "3000")
    shop.buy(3, "C1", "700")
    actions.evaluate_tiers(now=shop.tick())
    assert [(r["tier"].name, r["members"]) for r in queries.members_per_tier()] == [("金卡", 1), ("银卡", 2)]


def test_points_tier(shop, settings):
    from siyu.loyalty.points.actions import award_points  # noqa: PLC0415

    tier = actions.make_tier(None, name="积分达人", rank=1, measure="points", threshold="100", window_days=30)
    award_points(7, 150, key="t1", reason="test", source="manual")
    actions.evaluate_tiers([7])
    assert queries.tier_of(7).tier == tier
