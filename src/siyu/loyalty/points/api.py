"""/api/loyalty/points: a member's points balance and history, manual adjustments (operators and admins) and
burns at the till. Guides and managers reach only the customers they see (siyu.customers.queries)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from django.http import HttpResponse
from ninja import Field, Path, Query, Router, Schema
from ninja.errors import HttpError

from siyu.customers.queries import check_access, require_customers
from siyu.loyalty.points import actions, queries
from siyu.loyalty.points.errors import InsufficientPoints
from siyu.staff.roles import roles
from siyu.web.idempotency import IdempotencyKeyHeader, run_once
from siyu.web.schemas import LOOKUP_ERRORS, WRITE_ERRORS

router = Router(tags=["loyalty-points"])

CustomerIdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="customer id")]
Text = Annotated[str, Field(min_length=1, max_length=200)]


class PointsBalanceOut(Schema):
    customer_id: int
    available: int = Field(description="spendable now")
    pending: int = Field(description="earned, spendable once the order's refund window has passed")
    expiring_30d: int = Field(description="of the member's points, what expires within 30 days")
    expiring_90d: int


class PointsEntryOut(Schema):
    created_at: datetime
    points: int = Field(description="+ earned or given back, - spent, expired or taken back")
    source: str
    source_label: str
    kind_label: str
    reason: str
    source_ref: str
    expires_at: datetime | None
    available_at: datetime | None
    shortfall: int = Field(description="points a refund could not take back (already spent)")


class PointsHistoryOut(Schema):
    items: list[PointsEntryOut]
    page: int
    pages: int
    total: int


class PointsAdjustmentIn(Schema):
    delta: int = Field(ge=-1_000_000_000, le=1_000_000_000, description="points to add (+) or take (-), not 0")
    reason: Text


class PointsTillBurnIn(Schema):
    points: int = Field(ge=1, le=1_000_000_000)
    order_ref: str = Field("", max_length=200, description="the till's receipt or order number")
    reason: str = Field("", max_length=200)


class PointsMovedOut(Schema):
    customer_id: int
    points: int = Field(description="the change written (negative: taken)")
    balance: PointsBalanceOut


def _balance(customer_id: int) -> dict:
    return {"customer_id": customer_id, **queries.balance_of(customer_id).__dict__}


@router.get("/loyalty/points/members/{int:customer_id}", response={200: PointsBalanceOut, **LOOKUP_ERRORS},
            summary="A member's points balance")  # fmt: skip
def points_balance(request, customer_id: CustomerIdPath):
    check_access(request.auth, customer_id)
    return _balance(customer_id)


@router.get("/loyalty/points/members/{int:customer_id}/history", response={200: PointsHistoryOut, **LOOKUP_ERRORS},
            summary="A member's points history, newest first")  # fmt: skip
def points_history(request, customer_id: CustomerIdPath, page: Annotated[int, Query(ge=1, le=1_000_000)] = 1):
    check_access(request.auth, customer_id)
    current = queries.history_of(customer_id, page)
    items = [
        {**line.__dict__, "kind_label": line.account_label} for line in current.object_list
    ]
    return {"items": items, "page": current.number, "pages": current.paginator.num_pages,
            "total": current.paginator.count}  # fmt: skip


@router.post("/loyalty/points/members/{int:customer_id}/adjustments",
             response={201: PointsMovedOut, **WRITE_ERRORS}, summary="Adjust a member's points by hand")  # fmt: skip
@roles(*actions.ADJUST_ROLES)
def adjust(request, response: HttpResponse, customer_id: CustomerIdPath, body: PointsAdjustmentIn,
           idempotency_key: IdempotencyKeyHeader):  # fmt: skip
    user = request.auth
    if body.delta == 0:
        raise HttpError(422, "an adjustment adds or takes at least one point")

    def run():
        require_customers([customer_id])
        try:
            actions.adjust_points(user, customer_id, body.delta, reason=body.reason,
                                  key=f"api-adjust:{user.pk}:{idempotency_key}")  # fmt: skip
        except InsufficientPoints as exc:
            raise HttpError(409, f"the member has {exc.available} points available: {-body.delta} cannot be taken") from exc
        return {"customer_id": customer_id, "points": body.delta, "balance": _balance(customer_id)}

    return run_once(request, response, idempotency_key, {"customer_id": customer_id, **body.model_dump()}, run, status=201)


@router.post("/loyalty/points/members/{int:customer_id}/till-burns",
             response={201: PointsMovedOut, **WRITE_ERRORS}, summary="Spend a member's points at the till")  # fmt: skip
def till_burn(request, response: HttpResponse, customer_id: CustomerIdPath, body: PointsTillBurnIn,
              idempotency_key: IdempotencyKeyHeader):  # fmt: skip
    user = request.auth
    check_access(user, customer_id)

    def run():
        try:
            actions.spend_points(customer_id, body.points, key=f"till:{user.pk}:{idempotency_key}",
                                 reason=body.reason or "till", source="till", source_ref=body.order_ref,
                                 staff=user)  # fmt: skip
        except InsufficientPoints as exc:
            raise HttpError(
                409, f"not enough points: the member has {exc.available} available, {body.points} were asked for"
            ) from exc
        return {"customer_id": customer_id, "points": -body.points, "balance": _balance(customer_id)}

    return run_once(request, response, idempotency_key, {"customer_id": customer_id, **body.model_dump()}, run, status=201)
