"""API of loyalty's points part, mounted by siyu.api."""

from ninja import Router

router = Router(tags=["loyalty-points"])
