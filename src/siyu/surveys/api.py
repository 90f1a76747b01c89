"""API of surveys, mounted by siyu.api."""

from ninja import Router

router = Router(tags=["surveys"])
