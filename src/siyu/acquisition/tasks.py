"""Acquisition's background tasks, run by `siyu serve`'s in-process worker: what follows an add through a
live code once its welcome message is out, and the routing refresh every 15 minutes."""

from __future__ import annotations

from django.utils import timezone
from django_tasks import task

from siyu.acquisition import actions


@task()
def follow_code_add(add_id: int) -> dict:
    return actions.follow_code_add(add_id)


@task()
def refresh_live_code_routing() -> dict:
    """Push every code's routing where it changed, then come back in 15 minutes while codes are active."""
    report = actions.refresh_routing()
    actions.schedule_routing_refresh(timezone.now() + actions.ROUTING_EVERY)
    return report
