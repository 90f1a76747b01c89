"""/api/loyalty/tiers…: list, make and change tier definitions; a member's tier with progress. Mounted by
siyu.api."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from django.http import HttpResponse
from ninja import Field, Path, Router, Schema

from siyu.loyalty.tiers import actions, queries
from siyu.loyalty.tiers.errors import TierNotFound
from siyu.loyalty.tiers.models import RULE_ROLES, Tier
from siyu.staff.roles import roles
from siyu.web.idempotency import IdempotencyKeyHeader, run_once
from siyu.web.schemas import LOOKUP_ERRORS, READ_ERRORS, WRITE_ERRORS

router = Router(tags=["loyalty-tiers"])
ID_MAX = 2**63 - 1
Id = Annotated[int, Path(ge=1, le=ID_MAX)]
Measure = Literal["spend", "orders", "points"]
Name = Annotated[str, Field(min_length=1, max_length=50)]


class TierOut(Schema):
    id: int
    name: str
    rank: int
    measure: str = Field(description="spend (yuan), orders (purchases) or points (earned) over the window")
    threshold: Decimal
    window_days: int
    multiplier: Decimal
    upgrade_coupon_template_id: int | None
    birthday_points: int
    active: bool
    members: int


class TierIn(Schema):
    name: Name
    rank: int = Field(..., ge=0, le=1000)
    measure: Measure = "spend"
    threshold: Decimal = Field(Decimal("0"), ge=0, le=10**12, decimal_places=2)
    window_days: int = Field(365, ge=1, le=3660)
    multiplier: Decimal = Field(Decimal("1"), ge=0, le=99, decimal_places=2)
    upgrade_coupon_template_id: int | None = Field(None, ge=1, le=ID_MAX)
    birthday_points: int = Field(0, ge=0, le=10**7)
    active: bool = True


class TierChangeIn(Schema):
    name: Name | None = None
    rank: int | None = Field(None, ge=0, le=1000)
    measure: Measure | None = None
    threshold: Decimal | None = Field(None, ge=0, le=10**12, decimal_places=2)
    window_days: int | None = Field(None, ge=1, le=3660)
    multiplier: Decimal | None = Field(None, ge=0, le=99, decimal_places=2)
    upgrade_coupon_template_id: int | None = Field(None, ge=1, le=ID_MAX)
    birthday_points: int | None = Field(None, ge=0, le=10**7)
    active: bool | None = None


class TierBriefOut(Schema):
    id: int
    name: str
    rank: int
    multiplier: Decimal


class MemberTierOut(Schema):
    customer_id: int
    tier: TierBriefOut | None
    next_tier: TierBriefOut | None
    measured: Decimal | None = Field(description="what the member has toward the next tier")
    needed: Decimal | None
    progress: float | None
    since: datetime | None
    review_on: date | None
    grace_until: date | None


def tier_dict(tier: Tier, members: int | None = None) -> dict:
    if members is None:
        members = tier.members.count()
    return {"id": tier.pk, "name": tier.name, "rank": tier.rank, "measure": tier.measure, "threshold": tier.threshold,
            "window_days": tier.window_days, "multiplier": tier.multiplier,
            "upgrade_coupon_template_id": tier.upgrade_coupon_template_id, "birthday_points": tier.birthday_points,
            "active": tier.active, "members": members}  # fmt: skip


def _brief(tier: Tier | None) -> dict | None:
    return None if tier is None else {"id": tier.pk, "name": tier.name, "rank": tier.rank, "multiplier": tier.multiplier}


def _tier(tier_id: int) -> Tier:
    tier = Tier.objects.filter(pk=tier_id).first()
    if tier is None:
        raise TierNotFound(f"no tier {tier_id}")
    return tier


@router.get("/loyalty/tiers", response={200: list[TierOut], **READ_ERRORS}, summary="Tier definitions, best first")
def list_tiers(request):
    return [tier_dict(r["tier"], r["members"]) for r in queries.members_per_tier()]


@router.post("/loyalty/tiers", response={201: TierOut, **WRITE_ERRORS}, summary="Make a tier")
@roles(*RULE_ROLES)
def make_tier(request, response: HttpResponse, body: TierIn, idempotency_key: IdempotencyKeyHeader):
    return run_once(request, response, idempotency_key, body,
                    lambda: tier_dict(actions.make_tier(request.auth, **body.dict()), 0), status=201)  # fmt: skip


@router.post("/loyalty/tiers/{tier_id}", response={200: TierOut, **WRITE_ERRORS}, summary="Change a tier")
@roles(*RULE_ROLES)
def change_tier(request, response: HttpResponse, tier_id: Id, body: TierChangeIn, idempotency_key: IdempotencyKeyHeader):
    def run():
        return tier_dict(actions.change_tier(request.auth, _tier(tier_id), **body.dict(exclude_unset=True)))

    return run_once(request, response, idempotency_key, body, run)


@router.get("/loyalty/members/{customer_id}/tier", response={200: MemberTierOut, **LOOKUP_ERRORS},
            summary="A member's tier, the next tier and the progress toward it")  # fmt: skip
def member_tier(request, customer_id: Id):
    view = queries.tier_of(customer_id)
    return {"customer_id": customer_id, "tier": _brief(view.tier), "next_tier": _brief(view.next_tier),
            "measured": view.measured, "needed": view.needed, "progress": view.progress, "since": view.since,
            "review_on": view.review_on, "grace_until": view.grace_until}  # fmt: skip
