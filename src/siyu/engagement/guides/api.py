"""/api/task-batches, /api/tasks, /api/guide-report: guide tasks. Admins, operators and store managers
create them (from a segment or a list); a guide reads and completes only their own tasks (403 on
another's); customers are masked. Every write takes an Idempotency-Key. Mounted by siyu.api.api."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from django.http import HttpResponse
from ninja import Field, Path, Query, Router, Schema

from siyu.core.timeutil import as_platform_time
from siyu.customers.queries import CustomerId
from siyu.engagement.guides import actions as task_actions
from siyu.engagement.guides import queries as task_queries
from siyu.staff.roles import roles
from siyu.web.idempotency import IdempotencyKeyHeader, run_once
from siyu.web.schemas import LOOKUP_ERRORS, READ_ERRORS, WRITE_ERRORS, ErrorOut

router = Router(tags=["guide tasks"])

Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
Outcome = Literal["reached", "no_answer", "declined", "purchase_intent"]


class BatchIn(Schema):
    script_id: int = Field(ge=1, le=2**63 - 1)
    due_at: datetime = Field(description="when the contacts should be made by; naive = Asia/Shanghai")
    segment_id: int | None = Field(
        None, ge=1, le=2**63 - 1, description="a refreshed segment; or customer_ids"
    )
    customer_ids: list[CustomerId] | None = Field(None, max_length=100_000)
    assign: Literal["owner", "capacity"] = "owner"
    store: str | None = Field(None, max_length=64, description="capacity: the store code")
    max_open: int | None = Field(None, ge=1, le=10_000, description="capacity: open tasks per guide at most")
    variables: dict[str, str] = Field(default_factory=dict, description="defaults for placeholders")
    material_id: int | None = Field(None, ge=1, le=2**63 - 1)
    name: str = Field("", max_length=200)


class BatchOut(Schema):
    id: int
    name: str
    script: str | None
    assign: str
    store: str | None
    due_at: datetime
    segment_id: int | None
    source: str
    source_id: str
    open: int
    done: int
    suppressed: int
    counts: dict[str, Any] = Field(description="at creation: open, suppressed by reason, unknown customers")
    created_at: datetime


class MaterialRefOut(Schema):
    id: int
    kind: str
    usable: bool
    title: str | None = None
    url: str | None = None
    appid: str | None = None
    page_path: str | None = None
    reason: str | None = None


class TaskOut(Schema):
    id: int
    batch_id: int
    batch: str
    customer_id: int
    customer_name: str | None = Field(description="masked")
    customer_phone: str | None = Field(description="masked")
    guide_id: int | None
    guide: str | None
    status: str
    reason: str = Field(description="why suppressed (contact policy or assignment); empty otherwise")
    message: str = Field(description="the script rendered for this customer")
    missing_variables: list[str]
    material: MaterialRefOut | None
    due_at: datetime
    overdue: bool
    contacted_at: datetime | None
    outcome: str
    note: str


class TaskPageOut(Schema):
    items: list[TaskOut]
    total: int
    page: int
    pages: int
    page_size: int


class CompleteIn(Schema):
    outcome: Outcome
    note: str = Field("", max_length=2_000)


class ReassignIn(Schema):
    task_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(min_length=1, max_length=100_000)
    guide_id: int = Field(ge=1, le=2**63 - 1, description="the guide who takes the open tasks")
    transfer_customers: bool = Field(False, description="also make that guide the customers' owner")


class ReportRowOut(Schema):
    guide_id: int
    guide: str | None
    tasks: int
    open: int
    overdue: int
    done: int
    suppressed: int
    cancelled: int
    reached: int
    no_answer: int
    declined: int
    purchase_intent: int
    completion_rate: float | None = Field(description="done ÷ (tasks − suppressed − cancelled)")
    tasks_with_purchase: int = Field(description="done tasks followed by a purchase within `days`")
    purchase_rate: float | None
    orders: int
    gmv: str = Field(description="yuan")


class ReportOut(Schema):
    date_from: date
    date_to: date
    days: int
    batch_id: int | None
    items: list[ReportRowOut]


@router.post("/task-batches", response={201: BatchOut, **WRITE_ERRORS}, summary="Create guide tasks")
@roles(*task_actions.TASK_CREATORS)
def create_batch(request, response: HttpResponse, body: BatchIn, idempotency_key: IdempotencyKeyHeader):
    def run():
        batch = task_actions.create_guide_tasks(
            request.auth,
            script=body.script_id,
            due_at=as_platform_time(body.due_at),
            customer_ids=body.customer_ids,
            segment_id=body.segment_id,
            assign=body.assign,
            store=body.store,
            max_open=body.max_open,
            variables=body.variables,
            material=body.material_id,
            name=body.name,
            idempotency_key=f"api:{request.auth.pk}:{idempotency_key.strip()}"[:200],
        )
        return task_queries.list_batches(request.auth, batch_id=batch.pk)[0]

    return run_once(request, response, idempotency_key, body, run, status=201)


@router.get("/task-batches", response={200: list[BatchOut], **READ_ERRORS}, summary="Task batches")
def list_batches(request):
    return task_queries.list_batches(request.auth)


@router.post(
    "/task-batches/{batch_id}/cancel",
    response={200: dict[str, int], **WRITE_ERRORS},
    summary="Cancel open tasks",
)
@roles(*task_actions.TASK_CREATORS)
def cancel_batch(request, response: HttpResponse, batch_id: Id, idempotency_key: IdempotencyKeyHeader):
    def run():
        return {"cancelled": task_actions.cancel_batch(request.auth, batch_id)}

    return run_once(request, response, idempotency_key, {"batch_id": batch_id}, run)


@router.post(
    "/tasks/reassign",
    response={200: dict[str, int], **WRITE_ERRORS},
    summary="Give open tasks to another guide",
)
@roles(*task_actions.TASK_CREATORS)
def reassign_tasks(request, response: HttpResponse, body: ReassignIn, idempotency_key: IdempotencyKeyHeader):
    def run():
        moved = task_actions.reassign_tasks(
            request.auth, body.task_ids, body.guide_id, transfer_customers=body.transfer_customers
        )
        return {"moved": moved}

    return run_once(request, response, idempotency_key, body, run)


@router.get("/tasks", response={200: TaskPageOut, **READ_ERRORS}, summary="Tasks (a guide: their own)")
def list_tasks(
    request,
    status: Literal["open", "done", "suppressed", "cancelled"] | None = None,
    batch_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=task_queries.MAX_PAGE_SIZE)] = 50,
):
    return task_queries.list_tasks(
        request.auth, status=status, batch_id=batch_id, page=page, page_size=page_size
    )


@router.get("/tasks/{task_id}", response={200: TaskOut, **LOOKUP_ERRORS}, summary="One task")
def get_task(request, task_id: Id):
    task = task_queries.get_task(request.auth, task_id)
    customer = task_queries.masked_customers([task.customer_id]).get(task.customer_id)
    return task_queries.task_dict(task, customer)


@router.post(
    "/tasks/{task_id}/complete", response={200: TaskOut, **WRITE_ERRORS}, summary="Record the contact"
)
def complete_task(
    request, response: HttpResponse, task_id: Id, body: CompleteIn, idempotency_key: IdempotencyKeyHeader
):
    def run():
        task = task_actions.complete_task(request.auth, task_id, body.outcome, body.note)
        task = task_queries.get_task(request.auth, task.pk)
        customer = task_queries.masked_customers([task.customer_id]).get(task.customer_id)
        return task_queries.task_dict(task, customer)

    return run_once(request, response, idempotency_key, body, run)


@router.get(
    "/guide-report",
    response={200: ReportOut, **READ_ERRORS, 400: ErrorOut},
    summary="Completion and purchases per guide",
)
def guide_report(
    request,
    date_from: date | None = None,
    date_to: date | None = None,
    days: Annotated[int, Query(ge=1, le=365, description="purchase window after the contact")] = 7,
    batch_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
):
    report = task_queries.guide_report(
        request.auth, date_from=date_from, date_to=date_to, days=days, batch_id=batch_id
    )
    return {**report, "items": [{**r, "gmv": str(r["gmv"])} for r in report["items"]]}
