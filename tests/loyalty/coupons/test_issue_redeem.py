"""Issuing and redeeming coupons: limits, validity, threshold, scope, the percent cap, void and expiry."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from coupon_helpers import make_template
from django.utils import timezone

from siyu.loyalty.coupons import actions, discounts, queries
from siyu.loyalty.coupons.errors import CouponError, CouponLimitReached, CouponNotUsable, TemplateClosed

pytestmark = pytest.mark.django_db


def test_issue_is_idempotent_and_the_code_is_readable():
    template = make_template()
    first = actions.issue_coupon(template.pk, 7, key="k1", source="manual")
    again = actions.issue_coupon(template.pk, 7, key="k1", source="manual")
    assert again.pk == first.pk and again.code == first.code
    assert discounts.is_code(first.code)
    template.refresh_from_db()
    assert template.issued_count == 1
    # valid 30 days from issue
    assert abs((first.expires_at - first.issued_at) - dt.timedelta(days=30)) < dt.timedelta(seconds=1)


def test_per_member_and_total_limits():
    template = make_template(per_member_limit=2, total_quantity=3)
    actions.issue_coupon(template.pk, 1, key="a", source="manual")
    actions.issue_coupon(template.pk, 1, key="b", source="manual")
    with pytest.raises(CouponLimitReached):
        actions.issue_coupon(template.pk, 1, key="c", source="manual")
    actions.issue_coupon(template.pk, 2, key="d", source="manual")
    with pytest.raises(CouponLimitReached):
        actions.issue_coupon(template.pk, 3, key="e", source="manual")
    template.refresh_from_db()
    assert template.issued_count == 3  # refused issues took nothing


def test_a_closed_template_issues_nothing():
    template = make_template()
    actions.set_template_status(None, template.pk, "closed")
    with pytest.raises(TemplateClosed):
        actions.issue_coupon(template.pk, 1, key="a", source="manual")


def test_threshold_and_amount_off():
    template = make_template()
    coupon = actions.issue_coupon(template.pk, 1, key="a", source="manual")
    with pytest.raises(CouponNotUsable) as refused:
        actions.redeem_coupon(coupon.code, key="r1", amount=Decimal("99.99"))
    assert refused.value.reason == "threshold"
    with pytest.raises(CouponNotUsable) as refused:
        actions.redeem_coupon(coupon.code, key="r1")
    assert refused.value.reason == "amount_needed"
    used = actions.redeem_coupon(discounts.shown_code(coupon.code).lower(), key="r1", amount=Decimal("100"),
                                 order_ref="T-1")  # fmt: skip
    assert (used.status, used.discount, used.order_amount, used.order_ref, used.channel) == (
        "used", Decimal("20.00"), Decimal("100.00"), "T-1", "till")
    # a replay of the same redemption answers the same; another is refused in words
    assert actions.redeem_coupon(coupon.code, key="r1", amount=Decimal("100")).pk == coupon.pk
    with pytest.raises(CouponNotUsable) as refused:
        actions.redeem_coupon(coupon.code, key="r2", amount=Decimal("100"))
    assert refused.value.reason == "used"


def test_percent_off_is_capped():
    template = make_template(kind="percent", percent_off="15", max_discount="30", min_spend="0")
    coupon = actions.issue_coupon(template.pk, 1, key="a", source="manual")
    used = actions.redeem_coupon(coupon.code, key="r", amount=Decimal("1000"))
    assert used.discount == Decimal("30.00")  # 15% of 1000 is 150, capped at 30
    small = make_template(name="八五折", kind="percent", percent_off="15", max_discount="30", min_spend="0")
    coupon = actions.issue_coupon(small.pk, 1, key="b", source="manual")
    assert actions.redeem_coupon(coupon.code, key="r2", amount=Decimal("99.99")).discount == Decimal("14.99")


def test_product_scope():
    template = make_template(products="SKU-1\nSKU-2", min_spend="0")
    coupon = actions.issue_coupon(template.pk, 1, key="a", source="manual")
    for products in (None, ["SKU-9"]):
        with pytest.raises(CouponNotUsable) as refused:
            actions.redeem_coupon(coupon.code, key="r", amount=Decimal("50"), products=products)
        assert refused.value.reason == "scope"
    assert actions.redeem_coupon(coupon.code, key="r", amount=Decimal("50"), products=["SKU-9", "SKU-2"]).status == "used"


def test_fixed_validity_not_yet_and_expired():
    now = timezone.now()
    template = make_template(validity="fixed", valid_from=now + dt.timedelta(days=1),
                             valid_until=now + dt.timedelta(days=10), min_spend="0")  # fmt: skip
    coupon = actions.issue_coupon(template.pk, 1, key="a", source="manual", now=now)
    with pytest.raises(CouponNotUsable) as refused:
        actions.redeem_coupon(coupon.code, key="r", amount=Decimal("50"), now=now)
    assert refused.value.reason == "not_started"
    later = now + dt.timedelta(days=11)
    with pytest.raises(CouponNotUsable) as refused:
        actions.redeem_coupon(coupon.code, key="r", amount=Decimal("50"), now=later)
    assert refused.value.reason == "expired"
    assert actions.expire_coupons(later) == 1
    assert actions.expire_coupons(later) == 0
    coupon.refresh_from_db()
    assert coupon.status == "expired"
    with pytest.raises(TemplateClosed):  # a template whose fixed dates are past issues no more
        actions.issue_coupon(template.pk, 2, key="b", source="manual", now=later)


def test_void_and_wallet_order():
    soon = make_template(name="soon", valid_days=3, min_spend="0")
    late = make_template(name="late", valid_days=60, min_spend="0")
    gone = make_template(name="gone", valid_days=10, min_spend="0")
    c_late = actions.issue_coupon(late.pk, 5, key="l", source="manual")
    c_soon = actions.issue_coupon(soon.pk, 5, key="s", source="manual")
    c_gone = actions.issue_coupon(gone.pk, 5, key="g", source="manual")
    actions.void_coupon(None, c_gone.code, "错发")
    with pytest.raises(CouponError):
        actions.void_coupon(None, c_gone.code)
    with pytest.raises(CouponNotUsable) as refused:
        actions.redeem_coupon(c_gone.code, key="r", amount=Decimal("10"))
    assert refused.value.reason == "void"
    assert [c.pk for c in queries.wallet_of(5)] == [c_soon.pk, c_late.pk, c_gone.pk]
