"""Read side of the privacy request queue."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet
from django.utils import timezone

from siyu.privacy.actions import CLOSED, require_queue_role
from siyu.privacy.errors import RequestNotFound
from siyu.privacy.models import DataRequest

MAX_PAGE_SIZE = 200


def is_overdue(request: DataRequest, now: dt.datetime | None = None) -> bool:
    return request.status not in CLOSED and request.due_at < (now or timezone.now())


def queue(user, status: str = "", overdue: bool = False, customer_id: int | None = None) -> QuerySet:
    """The queue as `user` may see it (admins and operators), soonest due first; `status` "" = every
    status; `overdue`: open ones past their due date."""
    require_queue_role(user)
    found = DataRequest.objects.select_related("assigned_to", "requested_by")
    if status in DataRequest.Status.values:
        found = found.filter(status=status)
    if overdue:
        found = found.exclude(status__in=CLOSED).filter(due_at__lt=timezone.now())
    if customer_id:
        found = found.filter(customer_id=customer_id)
    return found.order_by("due_at", "pk")


def queue_counts(user) -> dict[str, int]:
    require_queue_role(user)
    counts = {s: DataRequest.objects.filter(status=s).count() for s in DataRequest.Status.values}
    counts["overdue"] = DataRequest.objects.exclude(status__in=CLOSED).filter(due_at__lt=timezone.now()).count()
    return counts


def request_for(user, request_id: int) -> DataRequest:
    require_queue_role(user)
    try:
        return DataRequest.objects.select_related("assigned_to", "requested_by").get(pk=request_id)
    except DataRequest.DoesNotExist as exc:
        raise RequestNotFound(f"no privacy request {request_id}") from exc


def steps_of(request: DataRequest) -> list:
    return list(request.steps.select_related("actor").order_by("at", "pk"))


def requests_of_customer(customer_id: int) -> list[DataRequest]:
    """A customer's own requests (the member centre shows them their status)."""
    return list(DataRequest.objects.filter(customer_id=customer_id).order_by("-requested_at", "-pk")[:20])
