"""Points for purchases: per yuan by channel and product, the tier multiplier, the first purchase bonus,
pending until the refund window passes, and the refund bug class (buy, refund → points reversed; the refund
imported twice → reversed once; buy, refund, buy again)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from siyu.loyalty.earning import actions
from siyu.loyalty.earning.models import RuleKind
from siyu.loyalty.points.queries import balance_of
from siyu.loyalty.tiers import actions as tier_actions

pytestmark = pytest.mark.django_db


def rule(**values):
    values.setdefault("name", values.get("kind", "rule"))
    return actions.make_rule(None, **values)


def total(cid):
    b = balance_of(cid)
    return b.available + b.pending


def test_per_yuan_by_channel(shop):
    rule(kind=RuleKind.PER_YUAN, points_per_yuan="1")
    rule(kind=RuleKind.PER_YUAN, channel="pos_store", points_per_yuan="2")
    shop.buy(1, "A1", "99.90", source="tmall")
    shop.buy(2, "P1", "50.00", source="pos_store", fmt="pos")
    actions.earn_for_orders()
    assert total(1) == 99  # floor of 99.90 × 1
    assert total(2) == 100  # the store channel earns double


def test_per_yuan_by_product_line(shop):
    rule(kind=RuleKind.PER_YUAN, points_per_yuan="1")
    rule(kind=RuleKind.PER_YUAN, product="SKU-TEA", points_per_yuan="3")
    shop.buy(1, "A1", "150", lines=[("绿茶礼盒", "SKU-TEA", "100"), ("杯子", "SKU-CUP", "50")])
    actions.earn_for_orders()
    assert total(1) == 3 * 100 + 50


def test_tier_multiplier_applies(shop):
    rule(kind=RuleKind.PER_YUAN, points_per_yuan="1")
    tier_actions.make_tier(None, name="金卡", rank=2, measure="spend", threshold="1000", multiplier="1.5")
    shop.buy(1, "A1", "1200")
    shop.buy(2, "B1", "1200")
    tier_actions.evaluate_tiers()  # both are gold now
    shop.buy(1, "A2", "100")
    actions.earn_for_orders()
    # earn runs after the tier was reached: every order of the run earns at the member's multiplier
    assert total(1) == int(Decimal("1300") * Decimal("1.5"))


def test_points_are_pending_until_the_refund_window_passes(shop, settings):
    settings.LOYALTY_REFUND_WINDOW_DAYS = 7
    rule(kind=RuleKind.PER_YUAN, points_per_yuan="1")
    shop.buy(1, "A1", "100", when=timezone.now() - dt.timedelta(days=1))
    shop.buy(1, "A0", "30", when=timezone.now() - dt.timedelta(days=30))
    actions.earn_for_orders()
    b = balance_of(1)
    assert (b.available, b.pending) == (30, 100)


def test_end_of_next_year_expiry(shop, settings):
    r = rule(kind=RuleKind.PER_YUAN, points_per_yuan="1")
    when = dt.datetime(2026, 12, 31, 17, tzinfo=dt.UTC)  # already 1 January 2027 in Shanghai
    assert actions.expires_at(r, when).astimezone(dt.timezone(dt.timedelta(hours=8))).date() == dt.date(2028, 12, 31)


def test_first_purchase_bonus_once(shop):
    rule(kind=RuleKind.PER_YUAN, points_per_yuan="1")
    rule(kind=RuleKind.FIRST_PURCHASE, points=50)
    shop.buy(1, "A1", "10")
    actions.earn_for_orders()
    assert total(1) == 60
    shop.buy(1, "A2", "10")
    actions.earn_for_orders()
    actions.earn_for_orders(full=True)
    assert total(1) == 70  # the second order earns no bonus, a replay of everything adds nothing


def test_buy_then_refund_reverses_the_points(shop):
    rule(kind=RuleKind.PER_YUAN, points_per_yuan="1")
    key = shop.buy(1, "A1", "100")
    shop.buy(1, "A2", "20")
    actions.earn_for_orders()
    assert total(1) == 120
    shop.set_status(key, "refunded")
    report = actions.earn_for_orders()
    assert report["reversed"] == 1
    assert total(1) == 20


def test_refund_imported_twice_is_reversed_once(shop):
    rule(kind=RuleKind.PER_YUAN, points_per_yuan="1")
    shop.buy(1, "A0", "40")
    key = shop.buy(1, "A1", "100")
    actions.earn_for_orders()
    shop.set_status(key, "refunded")
    actions.earn_for_orders()
    shop.set_status(key, "closed")  # the refund again, in a later export
    assert actions.earn_for_orders()["reversed"] == 0
    actions.earn_for_orders(full=True)
    assert total(1) == 40


def test_buy_refund_rebuy(shop):
    rule(kind=RuleKind.PER_YUAN, points_per_yuan="1")
    key = shop.buy(1, "A1", "100")
    actions.earn_for_orders()
    shop.set_status(key, "refunded")
    actions.earn_for_orders()
    shop.buy(1, "A2", "100")  # bought again: a new order
    actions.earn_for_orders()
    assert total(1) == 100
    shop.set_status(key, "paid")  # the platform undid the refund of the first order
    actions.earn_for_orders()
    assert total(1) == 200
    shop.set_status(key, "refunded")
    actions.earn_for_orders()
    assert total(1) == 100


def test_a_lower_amount_earns_anew(shop):
    rule(kind=RuleKind.PER_YUAN, points_per_yuan="1")
    key = shop.buy(1, "A1", "100")
    actions.earn_for_orders()
    shop.set_status(key, "paid", amount="60")  # a partial refund
    actions.earn_for_orders()
    assert total(1) == 60


def test_an_unpaid_order_earns_nothing(shop):
    rule(kind=RuleKind.PER_YUAN, points_per_yuan="1")
    key = shop.buy(1, "A1", "100", status="unpaid")
    actions.earn_for_orders()
    assert total(1) == 0
    shop.set_status(key, "paid")
    actions.earn_for_orders()
    assert total(1) == 100
