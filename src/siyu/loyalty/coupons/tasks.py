"""The coupons' daily upkeep, run by `siyu serve`'s in-process worker: unused coupons past their expiry are
marked expired, and imported orders carrying codes mark their coupons used (each as a job, so it shows among
the jobs with its report). It queues itself again for the next day; `schedule_coupon_upkeep()` starts it
(the server calls it at start: not wired yet, see the branch's report)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django_tasks import task

from siyu.core.owner import submit_job
from siyu.core.tasks import schedule_once

UPKEEP_EVERY = dt.timedelta(days=1)


@task()
def coupon_upkeep() -> dict:
    try:
        expired = submit_job("coupon_expiry", {}, in_process=True)
        matched = submit_job("coupon_order_match", {}, in_process=True)
    finally:
        schedule_coupon_upkeep(timezone.now() + UPKEEP_EVERY)
    return {"expiry": expired.result, "matched": matched.result}


def schedule_coupon_upkeep(at: dt.datetime | None = None) -> bool:
    return schedule_once(coupon_upkeep, at)
