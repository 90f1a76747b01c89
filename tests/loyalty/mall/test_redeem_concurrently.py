"""THE TEST THE ISSUE NAMES: on PostgreSQL, 200 concurrent redemptions of the last 10 items give exactly 10
redemptions, stock 0, exactly 10 members charged points and nobody charged without an item. Each redemption
runs in its own thread with its own connection. And one member's limit holds under concurrency. On SQLite
(one writer at a time) the same story runs one after another."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from mall_helpers import ADDRESS, give_points, make_item

from siyu.loyalty.mall import actions
from siyu.loyalty.mall.errors import LimitReached, OutOfStock
from siyu.loyalty.mall.models import MallRedemption
from siyu.loyalty.points.errors import InsufficientPoints
from siyu.loyalty.points.models import PointsEntry
from siyu.loyalty.points.queries import balances_of

MEMBERS = 200
PRICE = 100
ON_POSTGRES = connection.vendor == "postgresql"
# PostgreSQL's default max_connections is 100: 200 threads take turns on at most this many connections
WORKERS = 80


def _redeem_in_own_connection(customer_id: int, item_id: int, start: threading.Barrier, key: str, address=ADDRESS):
    try:
        start.wait()
        actions.redeem_item(customer_id, item_id, key=key, address=address)
        return "ok"
    except (OutOfStock, LimitReached, InsufficientPoints) as exc:
        return type(exc).__name__
    finally:
        connections.close_all()


def _charged(customers) -> set[int]:
    return set(PointsEntry.objects.filter(customer_id__in=customers, source="mall", points__lt=0)
               .values_list("customer_id", flat=True))  # fmt: skip


def _check_the_last_ten(item, customers, outcomes):
    item.refresh_from_db()
    made = MallRedemption.objects.filter(item=item)
    assert outcomes.count("ok") == 10 and made.count() == 10
    assert item.stock == 0
    winners = set(made.values_list("customer_id", flat=True))
    assert len(winners) == 10 and _charged(customers) == winners  # nobody charged without an item
    balances = balances_of(customers)
    assert all(balances[c].available == (0 if c in winners else PRICE) for c in customers)


@pytest.mark.skipif(not ON_POSTGRES, reason="concurrency needs PostgreSQL (DATABASE_URL)")
@pytest.mark.django_db(transaction=True)
def test_200_concurrent_redemptions_of_the_last_10_items(staff):
    item = make_item(staff["ops"], stock=10, points_price=PRICE)
    customers = list(range(1000, 1000 + MEMBERS))
    for c in customers:
        give_points(c, PRICE)
    start = threading.Barrier(WORKERS)
    began = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as pool:
        outcomes = list(pool.map(lambda c: _redeem_in_own_connection(c, item.pk, start, f"race:{c}")
                                 if c < 1000 + WORKERS else _redeem_in_own_connection(c, item.pk, _NoBarrier(), f"race:{c}"),
                                 customers))  # fmt: skip
    seconds = time.perf_counter() - began
    print(f"\n200 concurrent redemptions of the last 10 items: {seconds:.2f} s, {outcomes.count('ok')} redeemed")
    _check_the_last_ten(item, customers, outcomes)
    assert set(outcomes) == {"ok", "OutOfStock"}


class _NoBarrier:
    def wait(self):
        return None


@pytest.mark.skipif(not ON_POSTGRES, reason="concurrency needs PostgreSQL (DATABASE_URL)")
@pytest.mark.django_db(transaction=True)
def test_one_members_limit_holds_under_concurrency(staff):
    item = make_item(staff["ops"], stock=50, points_price=10, per_member_limit=2)
    give_points(7, 1000)
    start = threading.Barrier(20)
    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(lambda n: _redeem_in_own_connection(7, item.pk, start, f"limit:{n}"), range(20)))
    assert outcomes.count("ok") == 2 and outcomes.count("LimitReached") == 18
    item.refresh_from_db()
    assert item.stock == 48 and balances_of([7])[7].available == 980
    # the same key sent twice at once: one redemption
    start = threading.Barrier(10)
    other = make_item(staff["ops"], name="帆布袋", stock=50, points_price=10)
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda n: _redeem_in_own_connection(7, other.pk, start, "same-key"), range(10)))
    assert MallRedemption.objects.filter(item=other).count() == 1 and balances_of([7])[7].available == 970


@pytest.mark.django_db
def test_the_last_10_items_one_after_another(staff):
    """The same story on any database, sequentially: 200 members ask for the last 10 items."""
    item = make_item(staff["ops"], stock=10, points_price=PRICE)
    customers = list(range(2000, 2000 + MEMBERS))
    for c in customers:
        give_points(c, PRICE)
    outcomes = []
    for c in customers:
        try:
            actions.redeem_item(c, item.pk, key=f"seq:{c}", address=ADDRESS)
            outcomes.append("ok")
        except OutOfStock:
            outcomes.append("OutOfStock")
    _check_the_last_ten(item, customers, outcomes)
