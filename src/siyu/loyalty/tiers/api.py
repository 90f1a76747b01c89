"""API of loyalty's tiers part, mounted by siyu.api."""

from ninja import Router

router = Router(tags=["loyalty-tiers"])
