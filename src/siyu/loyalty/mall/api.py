"""/api/loyalty/mall/…: the items, a redemption on a member's behalf (Idempotency-Key; the key also makes
the redemption itself idempotent), and redemptions. Mounted by siyu.api."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from django.http import HttpResponse
from ninja import Field, Path, Query, Router, Schema

from siyu.loyalty.mall import actions, queries
from siyu.loyalty.mall.models import MALL_ROLES, MallItem, MallRedemption, RedemptionStatus
from siyu.staff.models import Role
from siyu.staff.roles import roles
from siyu.web.idempotency import IdempotencyKeyHeader, run_once
from siyu.web.schemas import LOOKUP_ERRORS, READ_ERRORS, WRITE_ERRORS

router = Router(tags=["loyalty-mall"])

Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
FRONT_ROLES = frozenset({*MALL_ROLES, Role.GUIDE})
Short = Annotated[str, Field(max_length=200)]


class MallItemOut(Schema):
    id: int
    name: str
    description: str
    kind: str
    points_price: int
    cash_price: Decimal
    coupon_template_id: int | None
    needs_address: bool
    stock: int
    per_member_limit: int | None
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None
    status: str


class MemberMallItemOut(MallItemOut):
    redeemed: int
    may_redeem: int


class ShippingAddressIn(Schema):
    name: Short
    phone: Short
    province: Short = ""
    city: Short = ""
    district: Short = ""
    detail: Short
    postcode: Short = ""


class RedeemIn(Schema):
    customer_id: int = Field(ge=1, le=2**63 - 1)
    item_id: int = Field(ge=1, le=2**63 - 1)
    quantity: int = Field(1, ge=1, le=actions.MAX_QUANTITY)
    address: ShippingAddressIn | None = None


class MallRedemptionOut(Schema):
    id: int
    item_id: int
    customer_id: int
    quantity: int
    points: int
    cash: Decimal
    status: str
    coupon_id: int | None
    carrier: str
    tracking_no: str
    created_at: dt.datetime
    has_address: bool


class RedemptionQuery(Schema):
    status: RedemptionStatus | None = None
    customer_id: int | None = Field(None, ge=1, le=2**63 - 1)
    item_id: int | None = Field(None, ge=1, le=2**63 - 1)
    limit: int = Field(100, ge=1, le=500)


def _item(item: MallItem) -> dict:
    return {f: getattr(item, f) for f in MallItemOut.model_fields if f != "id"} | {"id": item.pk}


def _redemption(r: MallRedemption) -> dict:
    return {"id": r.pk, "item_id": r.item_id, "customer_id": r.customer_id, "quantity": r.quantity, "points": r.points,
            "cash": r.cash, "status": r.status, "coupon_id": r.coupon_id, "carrier": r.carrier,
            "tracking_no": r.tracking_no, "created_at": r.created_at, "has_address": r.address_cipher is not None}  # fmt: skip


@router.get("/loyalty/mall/items", response={200: list[MallItemOut], **READ_ERRORS})
@roles(*FRONT_ROLES)
def list_items(request):
    return [_item(i) for i in MallItem.objects.all()[:500]]


@router.get("/loyalty/mall/members/{customer_id}/items", response={200: list[MemberMallItemOut], **LOOKUP_ERRORS})
@roles(*FRONT_ROLES)
def member_items(request, customer_id: Id):
    return [{**_item(x.item), "redeemed": x.redeemed, "may_redeem": x.may_redeem} for x in queries.items_for(customer_id)]


@router.post("/loyalty/mall/redemptions", response={201: MallRedemptionOut, **WRITE_ERRORS})
@roles(*FRONT_ROLES)
def redeem(request, response: HttpResponse, body: RedeemIn, idempotency_key: IdempotencyKeyHeader):

    def handler():
        made = actions.redeem_item(body.customer_id, body.item_id, key=f"api:{request.auth.pk}:{idempotency_key}",
                                   quantity=body.quantity, address=body.address.dict() if body.address else None,
                                   staff=request.auth)  # fmt: skip
        return _redemption(made)

    return run_once(request, response, idempotency_key, body, handler, status=201)


@router.get("/loyalty/mall/redemptions", response={200: list[MallRedemptionOut], **READ_ERRORS})
@roles(*FRONT_ROLES)
def list_redemptions(request, params: Query[RedemptionQuery]):
    found = queries.redemptions(status=params.status or "", item_id=params.item_id, customer_id=params.customer_id)
    return [_redemption(r) for r in found[: params.limit]]
