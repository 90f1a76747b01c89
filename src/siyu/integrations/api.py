"""/api/integrations/subscriptions: outbound event subscriptions (admins only) — create (the signing secret
is in that answer only), list, change, delete, rotate the secret, send a test event; their deliveries with
every attempt, and redelivery."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from django.http import HttpResponse
from ninja import Field, Path, Query, Router, Schema

from siyu.integrations import actions, queries
from siyu.staff.models import Role
from siyu.staff.roles import roles
from siyu.web.idempotency import IdempotencyKeyHeader, run_once
from siyu.web.schemas import LOOKUP_ERRORS, READ_ERRORS, WRITE_ERRORS

router = Router(tags=["integrations"])

SubscriptionIdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="subscription id")]
DeliveryIdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="delivery id")]
EventType = Literal["customer.created", "customers.merged", "segment.entered", "segment.left", "order.imported",
                    "consent.changed", "points.changed"]  # fmt: skip


class SubscriptionIn(Schema):
    url: str = Field(min_length=1, max_length=500, description="an http(s) URL outside the private network")
    event_types: list[EventType] = Field(min_length=1)
    description: str = Field("", max_length=200)


class SubscriptionPatch(Schema):
    url: str | None = Field(None, min_length=1, max_length=500)
    event_types: list[EventType] | None = None
    description: str | None = Field(None, max_length=200)
    active: bool | None = None


class SubscriptionOut(Schema):
    id: int
    url: str
    event_types: list[str]
    description: str
    active: bool
    created_at: datetime
    secret_hint: str
    secret: str | None = Field(
        None, description="the signing secret: in the answer that made or rotated it only (null in a replay)"
    )


class AttemptOut(Schema):
    attempted_at: datetime
    status_code: int | None
    response_excerpt: str
    error: str
    duration_ms: int
    ok: bool


class DeliveryOut(Schema):
    id: int
    event_id: str
    event_type: str
    status: str
    failures: int
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    body: dict
    attempts: list[AttemptOut]


@router.get("/integrations/subscriptions", response={200: list[SubscriptionOut], **READ_ERRORS},
            summary="Event subscriptions")  # fmt: skip
def list_subscriptions(request):
    return [queries.subscription_dict(s) for s in queries.subscriptions(request.auth)]


@router.get("/integrations/subscriptions/{int:subscription_id}", response={200: SubscriptionOut, **LOOKUP_ERRORS},
            summary="One event subscription")  # fmt: skip
def get_subscription(request, subscription_id: SubscriptionIdPath):
    return queries.subscription_dict(queries.subscription(request.auth, subscription_id))


@router.post("/integrations/subscriptions", response={201: SubscriptionOut, **WRITE_ERRORS},
             summary="Subscribe a URL to event types")  # fmt: skip
@roles(Role.ADMIN)
def create_subscription(
    request, response: HttpResponse, body: SubscriptionIn, idempotency_key: IdempotencyKeyHeader
):
    def run():
        sub = actions.create_subscription(request.auth, body.url, list(body.event_types), body.description)
        return queries.subscription_dict(sub, with_secret=True)

    return run_once(request, response, idempotency_key, body, run, status=201, not_kept=("secret",))


@router.post("/integrations/subscriptions/{int:subscription_id}", response={200: SubscriptionOut, **WRITE_ERRORS},
             summary="Change an event subscription")  # fmt: skip
@roles(Role.ADMIN)
def update_subscription(request, response: HttpResponse, subscription_id: SubscriptionIdPath, body: SubscriptionPatch,
                        idempotency_key: IdempotencyKeyHeader):  # fmt: skip
    def run():
        sub = actions.update_subscription(
            request.auth, subscription_id, url=body.url,
            event_types=None if body.event_types is None else list(body.event_types),
            description=body.description, active=body.active,
        )  # fmt: skip
        return queries.subscription_dict(sub)

    return run_once(request, response, idempotency_key, {"id": subscription_id, **body.dict()}, run)


class SubscriptionDeletedOut(Schema):
    id: int
    deleted: bool


@router.delete("/integrations/subscriptions/{int:subscription_id}", response={200: SubscriptionDeletedOut, **WRITE_ERRORS},
               summary="Delete an event subscription and its delivery log")  # fmt: skip
@roles(Role.ADMIN)
def delete_subscription(request, response: HttpResponse, subscription_id: SubscriptionIdPath,
                        idempotency_key: IdempotencyKeyHeader):  # fmt: skip
    def run():
        actions.delete_subscription(request.auth, subscription_id)
        return {"id": subscription_id, "deleted": True}

    return run_once(request, response, idempotency_key, {"id": subscription_id}, run)


@router.post("/integrations/subscriptions/{int:subscription_id}/secret", response={200: SubscriptionOut, **WRITE_ERRORS},
             summary="Rotate the signing secret (the new one is in this answer only)")  # fmt: skip
@roles(Role.ADMIN)
def rotate_secret(request, response: HttpResponse, subscription_id: SubscriptionIdPath,
                  idempotency_key: IdempotencyKeyHeader):  # fmt: skip
    def run():
        return queries.subscription_dict(
            actions.rotate_secret(request.auth, subscription_id), with_secret=True
        )

    return run_once(request, response, idempotency_key, {"id": subscription_id}, run, not_kept=("secret",))


@router.post("/integrations/subscriptions/{int:subscription_id}/test", response={200: DeliveryOut, **WRITE_ERRORS},
             summary="Send a test event now")  # fmt: skip
@roles(Role.ADMIN)
def send_test(request, response: HttpResponse, subscription_id: SubscriptionIdPath,
              idempotency_key: IdempotencyKeyHeader):  # fmt: skip
    def run():
        return queries.delivery_dict(actions.send_test_event(request.auth, subscription_id))

    return run_once(request, response, idempotency_key, {"id": subscription_id}, run)


@router.get("/integrations/subscriptions/{int:subscription_id}/deliveries",
            response={200: list[DeliveryOut], **LOOKUP_ERRORS}, summary="A subscription's deliveries, newest first")  # fmt: skip
def list_deliveries(request, subscription_id: SubscriptionIdPath,
                    status: Annotated[Literal["pending", "delivered", "dead"] | None, Query()] = None):  # fmt: skip
    return [queries.delivery_dict(d) for d in queries.deliveries(request.auth, subscription_id, status or "")]


@router.post("/integrations/deliveries/{int:delivery_id}/redeliver", response={200: DeliveryOut, **WRITE_ERRORS},
             summary="Send a delivery again (same event id)")  # fmt: skip
@roles(Role.ADMIN)
def redeliver(
    request, response: HttpResponse, delivery_id: DeliveryIdPath, idempotency_key: IdempotencyKeyHeader
):
    def run():
        return queries.delivery_dict(actions.redeliver(request.auth, delivery_id))

    return run_once(request, response, idempotency_key, {"id": delivery_id}, run)
