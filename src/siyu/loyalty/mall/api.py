"""API of loyalty's mall part, mounted by siyu.api."""

from ninja import Router

router = Router(tags=["loyalty-mall"])
