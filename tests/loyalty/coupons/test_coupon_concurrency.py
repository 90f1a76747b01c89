"""Concurrent issues and redemptions on PostgreSQL (threads, each its own connection): a code is used once
however many tills try it at the same moment; the total and per-member limits hold. SQLite serialises
writers, so these run on PostgreSQL only (`make test` runs tests/loyalty there)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from coupon_helpers import make_template
from django.db import connection, connections

from siyu.loyalty.coupons import actions
from siyu.loyalty.coupons.errors import CouponLimitReached, CouponNotUsable
from siyu.loyalty.coupons.models import Coupon

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite serialises writers; PostgreSQL only"),
]
THREADS = 24


def _together(n: int, work) -> list:
    """Run work(i) for i in range(n) on n threads released at once; each result or the exception raised."""
    start = threading.Barrier(n)

    def run(i):
        try:
            start.wait()
            return work(i)
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test counts
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_one_code_is_used_once_under_concurrent_redemptions():
    template = make_template(min_spend="0")
    code = actions.issue_coupon(template.pk, 1, key="k", source="manual").code
    outcomes = _together(THREADS, lambda i: actions.redeem_coupon(code, key=f"till-{i}", amount=Decimal("50"),
                                                                   order_ref=f"T{i}"))  # fmt: skip
    won = [o for o in outcomes if isinstance(o, Coupon)]
    refused = [o for o in outcomes if isinstance(o, CouponNotUsable)]
    assert (len(won), len(refused)) == (1, THREADS - 1), outcomes
    coupon = Coupon.objects.get(code=code)
    assert (coupon.status, coupon.order_ref) == ("used", won[0].order_ref)


def test_limits_hold_under_concurrent_issues():
    total = make_template(name="限量10张", total_quantity=10, per_member_limit=None)
    outcomes = _together(THREADS, lambda i: actions.issue_coupon(total.pk, 100 + i, key=f"t{i}", source="manual"))
    assert sum(isinstance(o, Coupon) for o in outcomes) == 10
    assert sum(isinstance(o, CouponLimitReached) for o in outcomes) == THREADS - 10
    total.refresh_from_db()
    assert total.issued_count == Coupon.objects.filter(template=total).count() == 10

    each = make_template(name="每人1张", per_member_limit=1)
    outcomes = _together(THREADS, lambda i: actions.issue_coupon(each.pk, 7, key=f"m{i}", source="manual"))
    assert sum(isinstance(o, Coupon) for o in outcomes) == 1
    assert Coupon.objects.filter(template=each, customer_id=7).count() == 1

    # the same key from every thread: one coupon, every thread answered with it
    same = make_template(name="同一键", per_member_limit=None)
    outcomes = _together(THREADS, lambda i: actions.issue_coupon(same.pk, 8, key="one-key", source="manual"))
    assert {o.pk for o in outcomes if isinstance(o, Coupon)} == {Coupon.objects.get(idempotency_key="one-key").pk}
    assert all(isinstance(o, Coupon) for o in outcomes), outcomes
