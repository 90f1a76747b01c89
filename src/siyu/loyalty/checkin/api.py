"""API of loyalty's checkin part, mounted by siyu.api."""

from ninja import Router

router = Router(tags=["loyalty-checkin"])
