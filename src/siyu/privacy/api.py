"""API of privacy, mounted by siyu.api."""

from ninja import Router

router = Router(tags=["privacy"])
