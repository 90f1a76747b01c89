"""Acquisition's background tasks, run by `siyu serve`'s in-process worker: what follows an add through a
live code once its welcome message is out, and the routing refresh every 15 minutes."""

from __future__ import annotations

import logging

from django.utils import timezone
from django_tasks import task

from siyu.acquisition import actions
from siyu.core.errors import SiyuError

log = logging.getLogger(__name__)


@task()
def follow_code_add(add_id: int) -> dict:
    return actions.follow_code_add(add_id)


@task()
def refresh_live_code_routing() -> dict:
    """Push every code's routing where it changed, then come back in 15 minutes while codes are active
    (also when WeCom cannot be reached now: the next run tries again)."""
    try:
        report = actions.refresh_routing()
    except SiyuError as exc:  # no WeCom account (any more): say so and keep the schedule
        log.warning("live code routing not refreshed: %s", exc)
        report = {"error": str(exc)}
    actions.schedule_routing_refresh(timezone.now() + actions.ROUTING_EVERY)
    return report
