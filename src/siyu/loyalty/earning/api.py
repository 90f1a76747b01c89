"""/api/loyalty/earn-rules…: list, make, change and disable earn rules. Mounted by siyu.api."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from django.http import HttpResponse
from ninja import Field, Path, Router, Schema

from siyu.loyalty.earning import actions, queries
from siyu.loyalty.earning.errors import EarnRuleNotFound
from siyu.loyalty.earning.models import EarnRule
from siyu.loyalty.tiers.models import RULE_ROLES
from siyu.staff.roles import roles
from siyu.web.idempotency import IdempotencyKeyHeader, run_once
from siyu.web.schemas import READ_ERRORS, WRITE_ERRORS

router = Router(tags=["loyalty-earning"])
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
Kind = Literal["per_yuan", "first_purchase", "birthday", "checkin", "survey", "daily_limit"]
ExpiryName = Literal["end_of_next_year", "days", "never"]


class EarnRuleOut(Schema):
    id: int
    name: str
    kind: str
    channel: str = Field(description="an order's source label or platform; empty: every channel")
    product: str = Field(description="an order line's product name or SKU; empty: every product")
    points_per_yuan: Decimal
    points: int = Field(description="points of a bonus, check-in or survey; the most a day for daily_limit")
    expiry: str
    expiry_days: int
    active: bool
    updated_at: datetime


class EarnRuleIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    kind: Kind
    channel: str = Field("", max_length=100)
    product: str = Field("", max_length=200)
    points_per_yuan: Decimal = Field(Decimal("0"), ge=0, le=1000, decimal_places=2)
    points: int = Field(0, ge=0, le=10**7)
    expiry: ExpiryName = "end_of_next_year"
    expiry_days: int = Field(365, ge=0, le=36600)
    active: bool = True


class EarnRuleChangeIn(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    channel: str | None = Field(None, max_length=100)
    product: str | None = Field(None, max_length=200)
    points_per_yuan: Decimal | None = Field(None, ge=0, le=1000, decimal_places=2)
    points: int | None = Field(None, ge=0, le=10**7)
    expiry: ExpiryName | None = None
    expiry_days: int | None = Field(None, ge=0, le=36600)
    active: bool | None = None


def rule_dict(rule: EarnRule) -> dict:
    return {f: getattr(rule, f) for f in ("name", "kind", "channel", "product", "points_per_yuan", "points", "expiry",
                                          "expiry_days", "active", "updated_at")} | {"id": rule.pk}  # fmt: skip


def _rule(rule_id: int) -> EarnRule:
    rule = EarnRule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise EarnRuleNotFound(f"no earn rule {rule_id}")
    return rule


@router.get("/loyalty/earn-rules", response={200: list[EarnRuleOut], **READ_ERRORS}, summary="Earn rules")
def list_rules(request, active_only: bool = False):
    return [rule_dict(r) for r in queries.rules(include_inactive=not active_only)]


@router.post("/loyalty/earn-rules", response={201: EarnRuleOut, **WRITE_ERRORS}, summary="Make an earn rule")
@roles(*RULE_ROLES)
def make_rule(request, response: HttpResponse, body: EarnRuleIn, idempotency_key: IdempotencyKeyHeader):
    return run_once(request, response, idempotency_key, body,
                    lambda: rule_dict(actions.make_rule(request.auth, **body.dict())), status=201)  # fmt: skip


@router.post("/loyalty/earn-rules/{rule_id}", response={200: EarnRuleOut, **WRITE_ERRORS}, summary="Change an earn rule")
@roles(*RULE_ROLES)
def change_rule(request, response: HttpResponse, rule_id: Id, body: EarnRuleChangeIn,
                idempotency_key: IdempotencyKeyHeader):  # fmt: skip
    def run():
        return rule_dict(actions.change_rule(request.auth, _rule(rule_id), **body.dict(exclude_unset=True)))

    return run_once(request, response, idempotency_key, body, run)


@router.delete("/loyalty/earn-rules/{rule_id}", response={200: EarnRuleOut, **WRITE_ERRORS},
               summary="Stop using an earn rule (it stays listed)")  # fmt: skip
@roles(*RULE_ROLES)
def disable_rule(request, response: HttpResponse, rule_id: Id, idempotency_key: IdempotencyKeyHeader):
    return run_once(request, response, idempotency_key, {"rule_id": rule_id},
                    lambda: rule_dict(actions.disable_rule(request.auth, _rule(rule_id))))  # fmt: skip
