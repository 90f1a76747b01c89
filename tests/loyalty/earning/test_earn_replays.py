"""Replays change nothing: over random sequences of purchases, refunds, re-purchases and amount changes,
with the earn job run at random points (and again over everything), each member's points equal the rule
applied to the orders that are still purchases."""

from __future__ import annotations

import itertools
from decimal import ROUND_FLOOR, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.loyalty_shop import Shop
from siyu.loyalty.earning import actions
from siyu.loyalty.earning.models import RuleKind
from siyu.loyalty.points.queries import balance_of

pytestmark = pytest.mark.django_db(transaction=False)
EXAMPLES = itertools.count(1)

step = st.one_of(
    st.tuples(st.just("buy"), st.integers(1, 3), st.decimals("0", "500", places=2)),
    st.tuples(st.just("status"), st.integers(0, 20), st.sampled_from(["refunded", "paid", "closed", "unpaid"])),
    st.tuples(st.just("amount"), st.integers(0, 20), st.decimals("1", "500", places=2)),
    st.tuples(st.just("earn"), st.booleans(), st.just(None)),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=14))
def test_points_equal_the_rule_on_orders_still_purchased(warehouse, django_db_blocker, steps, tmp_path_factory):
    from django.conf import settings as dj

    from siyu.loyalty.earning.models import EarnRule, EarnRun, OrderPoints

    for model in (OrderPoints, EarnRun, EarnRule):
        model.objects.all().delete()
    # the ledger is append-only: each example has customers and orders of its own
    run = next(EXAMPLES)
    base = run * 10
    warehouse.close()
    dj.WAREHOUSE_PATH = tmp_path_factory.mktemp("wh") / "warehouse.duckdb"
    shop = Shop(warehouse)
    actions.make_rule(None, name="every yuan", kind=RuleKind.PER_YUAN, points_per_yuan="1.5")
    orders: list[tuple[str, int]] = []
    state: dict[str, tuple[str, Decimal]] = {}
    for kind, a, b in steps:
        if kind == "buy":
            key = shop.buy(base + a, f"E{run}-O{len(orders)}", b)
            orders.append((key, base + a))
            state[key] = ("paid", b)
        elif kind == "status" and orders:
            key = orders[a % len(orders)][0]
            shop.set_status(key, b)
            state[key] = (b, state[key][1])
        elif kind == "amount" and orders:
            key = orders[a % len(orders)][0]
            shop.set_status(key, state[key][0], amount=b)
            state[key] = (state[key][0], b)
        elif kind == "earn":
            actions.earn_for_orders(full=a)
    actions.earn_for_orders()
    actions.earn_for_orders(full=True)  # a replay of every order changes nothing
    for cid in {base + 1, base + 2, base + 3}:
        expected = sum(
            int((amount * Decimal("1.5")).to_integral_value(rounding=ROUND_FLOOR))
            for (key, owner) in orders
            if owner == cid
            for status, amount in [state[key]]
            if status == "paid"
        )
        b = balance_of(cid)
        assert b.available + b.pending == expected
