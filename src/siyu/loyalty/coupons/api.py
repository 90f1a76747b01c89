"""/api/loyalty/…: coupon templates (list, make, change), issuing a coupon to a customer, redeeming one at
the till and a customer's wallet. Mounted by siyu.api.api (`router`). A coupon that cannot be used is a 409
(used, expired, voided) or a 422 (not valid yet, below the threshold, out of scope), with the reason in words."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.http import HttpResponse
from ninja import Field, Path, Router, Schema
from ninja.responses import Status

from siyu.loyalty.coupons import actions, discounts, queries
from siyu.loyalty.coupons.errors import CouponNotFound, CouponNotUsable
from siyu.loyalty.coupons.models import COUPON_READERS, COUPON_ROLES, Coupon, CouponTemplate
from siyu.staff.roles import roles
from siyu.web.idempotency import IdempotencyKeyHeader, run_once
from siyu.web.schemas import LOOKUP_ERRORS, READ_ERRORS, WRITE_ERRORS

router = Router(tags=["loyalty-coupons"])

ID_MAX = 2**63 - 1
Id = Annotated[int, Path(ge=1, le=ID_MAX)]
CustomerId = Annotated[int, Path(ge=1, le=ID_MAX)]
Money = Annotated[Decimal, Field(ge=0, le=Decimal("9999999999.99"), max_digits=12, decimal_places=2)]
# the reasons a redemption is refused, by answer: the coupon's state (409) or the order (422)
CONFLICT_REASONS = ("used", "expired", "void")


class CouponTemplateIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=2000)
    kind: Literal["amount", "percent"]
    amount_off: Money | None = Field(None, description="yuan off (kind amount)")
    percent_off: Annotated[Decimal, Field(gt=0, lt=100, max_digits=5, decimal_places=2)] | None = Field(
        None, description="percent off (kind percent): 15 is 15% off")
    max_discount: Money | None = Field(None, description="the most a percent-off coupon takes off, yuan")
    min_spend: Money = Field(Decimal("0"), description="the order must reach this amount, yuan")
    products: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=500, description="product ids, SKUs or names; empty: every product")
    validity: Literal["fixed", "days"] = "days"
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    valid_days: int | None = Field(None, ge=1, le=3650)
    total_quantity: int | None = Field(None, ge=1, le=100_000_000)
    per_member_limit: int | None = Field(1, ge=1, le=10_000)
    status: Literal["active", "closed"] = "active"


class CouponStatsOut(Schema):
    issued: int
    unused: int
    used: int
    expired: int
    void: int
    redemption_rate: float | None
    gmv: Decimal = Field(description="the GMV of coupon orders: imported purchases plus till redemptions")
    imported_gmv: Decimal
    till_gmv: Decimal
    discount: Decimal


class CouponTemplateOut(Schema):
    id: int
    name: str
    description: str
    kind: str
    amount_off: Decimal | None
    percent_off: Decimal | None
    max_discount: Decimal | None
    min_spend: Decimal
    products: list[str]
    validity: str
    valid_from: datetime | None
    valid_until: datetime | None
    valid_days: int | None
    total_quantity: int | None
    per_member_limit: int | None
    issued_count: int
    status: str
    created_at: datetime
    counts: dict[str, int] = Field(description="coupons by state: issued, unused, used, expired, void")


class CouponTemplateDetailOut(CouponTemplateOut):
    stats: CouponStatsOut


class CouponIssueIn(Schema):
    template_id: int = Field(ge=1, le=ID_MAX)
    customer_id: int = Field(ge=1, le=ID_MAX)
    source: Literal["manual", "journey", "segment", "mall", "tier", "referral", "checkin"] = "manual"
    source_ref: str = Field("", max_length=200)


class CouponRedeemIn(Schema):
    code: str = Field(min_length=1, max_length=40, description="as printed or scanned; case and hyphens do not matter")
    order_ref: str = Field("", max_length=200)
    amount: Money | None = Field(None, description="the order amount before the coupon, yuan")
    products: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(None, max_length=500)
    channel: str = Field("till", min_length=1, max_length=64)


class CouponOut(Schema):
    code: str
    shown_code: str
    template_id: int
    template_name: str
    customer_id: int
    status: str
    issued_at: datetime
    starts_at: datetime | None
    expires_at: datetime | None
    used_at: datetime | None
    order_ref: str
    channel: str
    order_amount: Decimal | None
    discount: Decimal | None
    source: str
    source_ref: str


class CouponRefusedOut(Schema):
    detail: str | list[dict[str, Any]]
    reason: str | None = Field(None, description="used, expired, void, not_started, threshold, amount_needed, scope")


def _counts(template: CouponTemplate, counts: dict) -> dict:
    return counts.get(template.pk) or {"issued": 0, "unused": 0, "used": 0, "expired": 0, "void": 0}


def template_dict(template: CouponTemplate, counts: dict) -> dict:
    return {**{f: getattr(template, f) for f in (
        "name", "description", "kind", "amount_off", "percent_off", "max_discount", "min_spend", "products",
        "validity", "valid_from", "valid_until", "valid_days", "total_quantity", "per_member_limit",
        "issued_count", "status", "created_at")}, "id": template.pk, "counts": _counts(template, counts)}  # fmt: skip


def coupon_dict(coupon: Coupon) -> dict:
    return {"code": coupon.code, "shown_code": discounts.shown_code(coupon.code), "template_id": coupon.template_id,
            "template_name": coupon.template.name, "customer_id": coupon.customer_id, "status": coupon.status,
            "issued_at": coupon.issued_at, "starts_at": coupon.starts_at, "expires_at": coupon.expires_at,
            "used_at": coupon.used_at, "order_ref": coupon.order_ref, "channel": coupon.channel,
            "order_amount": coupon.order_amount, "discount": coupon.discount, "source": coupon.source,
            "source_ref": coupon.source_ref}  # fmt: skip


def _detail(template: CouponTemplate) -> dict:
    return {**template_dict(template, queries.counts_by_template([template.pk])),
            "stats": queries.template_stats(template.pk)}  # fmt: skip


@router.get("/loyalty/coupon-templates", response={200: list[CouponTemplateOut], **READ_ERRORS},
            summary="Coupon templates with their counts")  # fmt: skip
@roles(*COUPON_READERS)
def list_templates(request):
    counts = queries.counts_by_template()
    return [template_dict(t, counts) for t in queries.templates()]


@router.post("/loyalty/coupon-templates", response={201: CouponTemplateDetailOut, **WRITE_ERRORS},
             summary="Make a coupon template")  # fmt: skip
@roles(*COUPON_ROLES)
def create_template(request, response: HttpResponse, body: CouponTemplateIn, idempotency_key: IdempotencyKeyHeader):
    return run_once(request, response, idempotency_key, body,
                    lambda: _detail(actions.save_template(request.auth, body.model_dump())), status=201)  # fmt: skip


@router.get("/loyalty/coupon-templates/{template_id}", response={200: CouponTemplateDetailOut, **LOOKUP_ERRORS},
            summary="A coupon template with its statistics")  # fmt: skip
@roles(*COUPON_READERS)
def get_template(request, template_id: Id):
    return _detail(queries.template(template_id))


@router.post("/loyalty/coupon-templates/{template_id}", response={200: CouponTemplateDetailOut, **WRITE_ERRORS},
             summary="Change a coupon template")  # fmt: skip
@roles(*COUPON_ROLES)
def update_template(request, response: HttpResponse, template_id: Id, body: CouponTemplateIn,
                    idempotency_key: IdempotencyKeyHeader):  # fmt: skip
    return run_once(request, response, idempotency_key, body,
                    lambda: _detail(actions.save_template(request.auth, body.model_dump(), template_id)))  # fmt: skip


@router.post("/loyalty/coupons", response={201: CouponOut, **WRITE_ERRORS}, summary="Issue a coupon to a customer")
@roles(*COUPON_ROLES)
def issue(request, response: HttpResponse, body: CouponIssueIn, idempotency_key: IdempotencyKeyHeader):

    def run():
        coupon = actions.issue_coupon(body.template_id, body.customer_id, key=f"api:{request.auth.pk}:{idempotency_key}",
                                      source=body.source, source_ref=body.source_ref)  # fmt: skip
        return coupon_dict(coupon)

    return run_once(request, response, idempotency_key, body, run, status=201)


@router.post("/loyalty/coupons/redeem",
             response={200: CouponOut, **WRITE_ERRORS, 409: CouponRefusedOut, 422: CouponRefusedOut},
             summary="Redeem a coupon at the till")  # fmt: skip
def redeem(request, response: HttpResponse, body: CouponRedeemIn, idempotency_key: IdempotencyKeyHeader):
    def run():
        coupon = actions.redeem_coupon(body.code, key=f"api:{request.auth.pk}:{idempotency_key}",
                                       order_ref=body.order_ref, amount=body.amount, channel=body.channel,
                                       products=body.products)  # fmt: skip
        return coupon_dict(coupon)

    try:
        return run_once(request, response, idempotency_key, body, run)
    except CouponNotUsable as exc:
        return Status(409 if exc.reason in CONFLICT_REASONS else 422, {"detail": str(exc), "reason": exc.reason})


@router.get("/loyalty/coupons/{code}", response={200: CouponOut, **LOOKUP_ERRORS}, summary="A coupon by its code")
@roles(*COUPON_READERS)
def get_coupon(request, code: Annotated[str, Path(min_length=1, max_length=40)]):
    coupon = queries.coupon_by_code(code)
    if coupon is None:
        raise CouponNotFound("no coupon has this code")
    return coupon_dict(coupon)


@router.get("/loyalty/customers/{customer_id}/coupons", response={200: list[CouponOut], **READ_ERRORS},
            summary="A customer's coupon wallet: usable first, soonest expiry first")  # fmt: skip
def wallet(request, customer_id: CustomerId):
    return [coupon_dict(c) for c in queries.wallet_of(customer_id)]

