"""API of loyalty's earning part, mounted by siyu.api."""

from ninja import Router

router = Router(tags=["loyalty-earning"])
