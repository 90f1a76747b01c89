"""Handover's background task, run by `siyu serve`'s worker: following WeCom's outcome of the open handovers
(scheduled every CHECK_EVERY while a customer waits; it schedules itself again)."""

from __future__ import annotations

from django_tasks import task

from siyu.community.handover.actions import check_handover_results


@task()
def check_handovers() -> dict:
    return check_handover_results()
