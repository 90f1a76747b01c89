"""API of loyalty's coupons part, mounted by siyu.api."""

from ninja import Router

router = Router(tags=["loyalty-coupons"])
