"""/api/identity: the review queue of uncertain matches, review decisions, manual merge, split and undo.

Decisions are stored at once and applied by the next resolve run (`siyu resolve`, the console's resolve
button, or after the next import)."""

from __future__ import annotations

from typing import Annotated

from django.http import HttpResponse
from ninja import Query, Router

from siyu.api.idempotency import IdempotencyKeyHeader, run_once
from siyu.api.schemas import (
    DecisionIn,
    DecisionOut,
    ErrorOut,
    MergeIn,
    ReviewPageOut,
    SplitIn,
    UndoIn,
    ValidationErrorOut,
)
from siyu.core.errors import PermissionDenied
from siyu.identity import actions, queries
from siyu.staff.models import Role
from siyu.staff.queries import role_of

router = Router(tags=["identity"])

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 409: ErrorOut, 422: ValidationErrorOut}


def _require_reviewer(user) -> None:
    if not (user.is_superuser or role_of(user) in (Role.ADMIN, Role.OPERATOR)):
        raise PermissionDenied(
            "only an admin or operator account can review matches, merge or split customers"
        )


@router.get("/identity/review", response={200: ReviewPageOut, **ERRORS}, summary="Pairs waiting for review")
def review(
    request,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
):
    _require_reviewer(request.auth)
    return queries.review_queue(page, page_size)


def _decide(request, response, key, body, call):
    _require_reviewer(request.auth)
    return run_once(request, response, key, body, call)


@router.post("/identity/decisions", response={200: DecisionOut, **ERRORS}, summary="Same person or not")
def decide(request, response: HttpResponse, body: DecisionIn, idempotency_key: IdempotencyKeyHeader):
    return _decide(
        request, response, idempotency_key, body,
        lambda: actions.decide_match(request.auth, body.record_key_a, body.record_key_b, body.verdict, body.reason),
    )  # fmt: skip


@router.post("/identity/merge", response={200: DecisionOut, **ERRORS}, summary="Merge two customers")
def merge(request, response: HttpResponse, body: MergeIn, idempotency_key: IdempotencyKeyHeader):
    return _decide(
        request, response, idempotency_key, body,
        lambda: actions.merge_customers(request.auth, body.customer_id, body.other_id, body.reason),
    )  # fmt: skip


@router.post(
    "/identity/split", response={200: DecisionOut, **ERRORS}, summary="Split a record off a customer"
)
def split(request, response: HttpResponse, body: SplitIn, idempotency_key: IdempotencyKeyHeader):
    return _decide(
        request, response, idempotency_key, body,
        lambda: actions.split_customers(request.auth, body.customer_id, body.record_key, body.reason),
    )  # fmt: skip


@router.post("/identity/undo", response={200: DecisionOut, **ERRORS}, summary="Undo the merge of a customer")
def undo(request, response: HttpResponse, body: UndoIn, idempotency_key: IdempotencyKeyHeader):
    return _decide(
        request, response, idempotency_key, body,
        lambda: actions.undo_merge(request.auth, body.absorbed_id, body.reason),
    )  # fmt: skip
