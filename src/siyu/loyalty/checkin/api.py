"""/api/loyalty/checkin/…: check a member in on their behalf (a till, a guide's app), make up a missed day,
grant make-up cards, and a member's month. Mounted by siyu.api."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from django.http import HttpResponse
from ninja import Field, Path, Query, Router, Schema
from ninja.errors import HttpError

from siyu.loyalty.checkin import actions, queries
from siyu.loyalty.checkin.models import CHECKIN_ROLES
from siyu.staff.models import Role
from siyu.staff.roles import roles
from siyu.web.idempotency import IdempotencyKeyHeader, run_once
from siyu.web.schemas import LOOKUP_ERRORS, WRITE_ERRORS

router = Router(tags=["loyalty-checkin"])

CustomerId = Annotated[int, Path(ge=1, le=2**63 - 1)]
# who checks a member in on their behalf: the check-in roles and store staff at a till
FRONT_ROLES = frozenset({*CHECKIN_ROLES, Role.MANAGER, Role.GUIDE})


class CheckinOut(Schema):
    customer_id: int
    day: dt.date
    streak: int
    points: int
    coupon_code: str | None
    makeup_cards: int = Field(description="make-up cards this check-in granted")
    already: bool = Field(description="the member had already checked in that day: nothing was given again")


class MakeupIn(Schema):
    day: dt.date


class MadeUpOut(Schema):
    customer_id: int
    day: dt.date
    streak: int


class CardsIn(Schema):
    count: int = Field(1, ge=1, le=actions.MAX_CARDS_AT_ONCE)


class CardsOut(Schema):
    granted: int
    held: int


class RewardOut(Schema):
    streak: int
    points: int
    coupon_template_id: int | None
    makeup_cards: int


class CalendarDayOut(Schema):
    day: dt.date
    checked: bool
    made_up: bool
    can_make_up: bool
    future: bool


class CalendarOut(Schema):
    customer_id: int
    month: dt.date
    streak: int
    checked_today: bool
    today_reward: RewardOut
    next_reward: RewardOut | None
    cards: int
    points_this_month: int
    days: list[CalendarDayOut]


class MonthQuery(Schema):
    month: str | None = Field(None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM; this month when left out")


def _reward(r) -> dict | None:
    return None if r is None else {"streak": r.streak, "points": r.points, "coupon_template_id": r.coupon_template_id,
                                   "makeup_cards": r.makeup_cards}  # fmt: skip


@router.post("/loyalty/checkin/members/{customer_id}/checkins", response={200: CheckinOut, **WRITE_ERRORS})
@roles(*FRONT_ROLES)
def check_in(request, customer_id: CustomerId, response: HttpResponse, idempotency_key: IdempotencyKeyHeader):

    def handler():
        result = actions.check_in(customer_id, staff=request.auth)
        return {"customer_id": customer_id, "day": result.day, "streak": result.streak, "points": result.points,
                "coupon_code": result.coupon.code if result.coupon else None, "makeup_cards": result.makeup_cards,
                "already": result.already}  # fmt: skip

    return run_once(request, response, idempotency_key, {"customer_id": customer_id}, handler)


@router.post("/loyalty/checkin/members/{customer_id}/make-ups", response={200: MadeUpOut, **WRITE_ERRORS})
@roles(*FRONT_ROLES)
def make_up(request, customer_id: CustomerId, body: MakeupIn, response: HttpResponse, idempotency_key: IdempotencyKeyHeader):

    def handler():
        row = actions.make_up(customer_id, body.day, staff=request.auth)
        return {"customer_id": customer_id, "day": row.day, "streak": row.streak}

    return run_once(request, response, idempotency_key, {"customer_id": customer_id, **body.dict()}, handler)


@router.post("/loyalty/checkin/members/{customer_id}/cards", response={200: CardsOut, **WRITE_ERRORS})
@roles(*CHECKIN_ROLES)
def grant_cards(request, customer_id: CustomerId, body: CardsIn, response: HttpResponse, idempotency_key: IdempotencyKeyHeader):
    def handler():
        granted = actions.grant_makeup_cards(request.auth, customer_id, body.count, key=f"api:{idempotency_key}")
        return {"granted": granted, "held": queries.cards_held(customer_id)}

    return run_once(request, response, idempotency_key, {"customer_id": customer_id, **body.dict()}, handler)


@router.get("/loyalty/checkin/members/{customer_id}/calendar", response={200: CalendarOut, **LOOKUP_ERRORS})
@roles(*FRONT_ROLES)
def calendar(request, customer_id: CustomerId, params: Query[MonthQuery]):
    try:
        month = queries.calendar_of(customer_id, params.month)
    except ValueError as exc:
        raise HttpError(422, str(exc)) from exc
    return {"customer_id": customer_id, "month": month.month, "streak": month.streak,
            "checked_today": month.checked_today, "today_reward": _reward(month.today_reward),
            "next_reward": _reward(month.next_reward), "cards": month.cards,
            "points_this_month": month.points_this_month,
            "days": [d.__dict__ for d in month.days]}  # fmt: skip
