"""/api/journeys: SOP journeys, their live counts per step and their lift report. Mounted by siyu.api.api."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from django.http import HttpResponse
from ninja import Field, Path, Router, Schema

from siyu.customers import queries as customer_queries
from siyu.engagement.journeys import actions, queries
from siyu.engagement.journeys.models import Journey
from siyu.staff.roles import roles
from siyu.web.idempotency import IdempotencyKeyHeader, run_once
from siyu.web.schemas import READ_ERRORS, WRITE_ERRORS, ErrorOut

router = Router(tags=["journeys"])

JourneyIdPath = Annotated[int, Path(ge=1, le=2**62)]


class JourneyIn(Schema):
    name: str = Field(max_length=100)
    description: str = Field("", max_length=300)
    trigger: dict = Field(
        description="see the user guide: event, segment, date, schedule, inactivity, segment_now"
    )
    steps: list[dict] = Field(description="steps with ids; wait, wait_window, wait_event, branch, split, send, "
                              "add_tag, remove_tag, guide_task, award_points, exit")  # fmt: skip
    reentry: Literal["once", "after_exit", "cooldown"] = "once"
    reentry_days: int = Field(0, ge=0, le=3650)
    goal_days: int = Field(
        7, ge=0, le=365, description="the goal: a purchase within this many days (0: none)"
    )
    exit_on_goal: bool = True
    priority: int = Field(0, ge=-100, le=100, description="its sends' priority in the contact policy")
    holdout_percent: float = Field(10, ge=0, le=50, description="the control share never contacted")
    cost_per_send: float = Field(0, ge=0, le=1000, description="yuan, for the cost per incremental order")
    audience: Literal["customers", "groups"] = Field(
        "customers", description="groups: a group SOP, whose enrollments are customer groups"
    )
    groups: dict | None = Field(None, description="a group SOP's groups: group_ids, group_type, store_id, "
                                "owner_userid (every one given must hold)")  # fmt: skip


class StepCountOut(Schema):
    step: dict
    entered: int
    holdout_entered: int
    waiting: int


class JourneyOut(Schema):
    id: int
    name: str
    description: str
    status: str
    trigger: dict
    steps: list[dict]
    reentry: str
    reentry_days: int
    goal_days: int
    exit_on_goal: bool
    priority: int
    holdout_percent: float
    cost_per_send: float
    activated_at: datetime | None
    enrolled: int
    active: int
    exited: int
    holdout: int
    goal_met: int
    step_counts: list[StepCountOut]
    audience: str
    groups: dict
    runs: int = Field(0, description="a group SOP: its trigger's fires")
    groups_entered: int = Field(0, description="a group SOP: groups that entered it")
    groups_reached: int = Field(0, description="a group SOP: groups sent at least one message")
    messages: int = Field(0, description="a group SOP: group messages sent, one per group and step")


class LiftGroupOut(Schema):
    customers: int
    converted: int
    orders: int
    gmv: float


class LiftOut(Schema):
    goal_days: int
    treated: LiftGroupOut
    holdout: LiftGroupOut
    sends: int
    treated_rate: float | None
    holdout_rate: float | None
    absolute_lift: float | None
    relative_lift: float | None
    ci_low: float | None = Field(description="95% interval of the absolute lift (Newcombe's hybrid score)")
    ci_high: float | None
    treated_gmv_per_customer: float | None
    holdout_gmv_per_customer: float | None
    gmv_lift_per_customer: float | None
    incremental_orders: float | None
    incremental_gmv: float | None
    cost: float
    cost_per_incremental_order: float | None


def journey_dict(journey) -> dict:
    return {
        "id": journey.pk, "name": journey.name, "description": journey.description, "status": journey.status,
        "trigger": journey.trigger, "steps": journey.steps, "reentry": journey.reentry,
        "reentry_days": journey.reentry_days, "goal_days": journey.goal_days, "exit_on_goal": journey.exit_on_goal,
        "priority": journey.priority, "holdout_percent": float(journey.holdout_percent),
        "cost_per_send": float(journey.cost_per_send), "activated_at": journey.activated_at,
        "audience": journey.audience, "groups": journey.groups or {},
        **queries.journey_summary(journey), "step_counts": queries.journey_step_counts(journey),
    }  # fmt: skip


@router.get("/journeys", response={200: list[JourneyOut], **READ_ERRORS}, summary="Journeys (SOP)")
@roles(*actions.JOURNEY_EDITORS)
def list_journeys(request):
    return [journey_dict(j) for j in Journey.objects.all()]


@router.post("/journeys", response={201: JourneyOut, **WRITE_ERRORS}, summary="Create a journey (a draft)")
@roles(*actions.JOURNEY_WRITERS)
def create_journey(request, response: HttpResponse, body: JourneyIn, idempotency_key: IdempotencyKeyHeader):
    def run():
        return journey_dict(actions.save_journey(request.auth, **body.dict()))

    return run_once(request, response, idempotency_key, body, run, status=201)


@router.get(
    "/journeys/{journey_id}", response={200: JourneyOut, **READ_ERRORS, 404: ErrorOut}, summary="A journey"
)
@roles(*actions.JOURNEY_EDITORS)
def get_journey(request, journey_id: JourneyIdPath):
    return journey_dict(queries.get_journey(journey_id))


@router.put("/journeys/{journey_id}", response={200: JourneyOut, **WRITE_ERRORS}, summary="Replace a journey")
@roles(*actions.JOURNEY_WRITERS)
def put_journey(
    request,
    response: HttpResponse,
    journey_id: JourneyIdPath,
    body: JourneyIn,
    idempotency_key: IdempotencyKeyHeader,
):
    def run():
        queries.get_journey(journey_id)
        return journey_dict(actions.save_journey(request.auth, journey_id=journey_id, **body.dict()))

    return run_once(request, response, idempotency_key, {"journey_id": journey_id, **body.dict()}, run)


@router.post(
    "/journeys/{journey_id}/activate", response={200: JourneyOut, **WRITE_ERRORS}, summary="Activate"
)
@roles(*actions.JOURNEY_WRITERS)
def activate_journey(
    request, response: HttpResponse, journey_id: JourneyIdPath, idempotency_key: IdempotencyKeyHeader
):
    def run():
        return journey_dict(actions.activate_journey(request.auth, journey_id))

    return run_once(request, response, idempotency_key, {"journey_id": journey_id}, run)


@router.post("/journeys/{journey_id}/pause", response={200: JourneyOut, **WRITE_ERRORS}, summary="Pause")
@roles(*actions.JOURNEY_WRITERS)
def pause_journey(
    request, response: HttpResponse, journey_id: JourneyIdPath, idempotency_key: IdempotencyKeyHeader
):
    def run():
        return journey_dict(actions.pause_journey(request.auth, journey_id))

    return run_once(request, response, idempotency_key, {"journey_id": journey_id}, run)


class JourneyDeletedOut(Schema):
    deleted: int


@router.delete(
    "/journeys/{journey_id}", response={200: JourneyDeletedOut, **WRITE_ERRORS}, summary="Delete a draft"
)
@roles(*actions.JOURNEY_WRITERS)
def delete_journey(
    request, response: HttpResponse, journey_id: JourneyIdPath, idempotency_key: IdempotencyKeyHeader
):
    def run():
        actions.delete_journey(request.auth, journey_id)
        return {"deleted": journey_id}

    return run_once(request, response, idempotency_key, {"journey_id": journey_id}, run)


@router.get("/journeys/{journey_id}/lift", response={200: LiftOut, **READ_ERRORS, 404: ErrorOut},
            summary="Goal conversion and GMV, treated vs holdout, with the lift")  # fmt: skip
@roles(*actions.JOURNEY_EDITORS)
def journey_lift(request, journey_id: JourneyIdPath):
    return queries.journey_lift(queries.get_journey(journey_id))


# --- WeCom customer contact: corporate tags and transfers ---------------------------------------------

CustomerIds = Annotated[
    list[customer_queries.CustomerId],
    Field(min_length=1, max_length=1000),
]
