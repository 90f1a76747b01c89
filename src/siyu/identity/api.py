"""/api/identity: the review queue of uncertain matches, review decisions, manual merge, split and undo.

Decisions are stored at once and applied by the next resolve run (`siyu resolve`, the console's resolve
button, or after the next import)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from django.http import HttpResponse
from ninja import Query, Router

from siyu.identity import actions, labels, queries
from siyu.identity.evidence import parse_pattern
from siyu.identity.schemas import (
    DecisionIn,
    DecisionOut,
    MergeIn,
    QuarantinePageOut,
    ReviewPageOut,
    ReviewRuleOut,
    RuleDecisionIn,
    RuleDecisionOut,
    SplitIn,
    UndoIn,
)
from siyu.staff.roles import roles
from siyu.web.idempotency import IdempotencyKeyHeader, run_once
from siyu.web.schemas import ErrorOut, ValidationErrorOut

router = Router(tags=["identity"])

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 409: ErrorOut, 422: ValidationErrorOut}


def _money(value) -> str:
    return str(Decimal(value or 0).quantize(Decimal("0.01")))


def _review_item(item: dict) -> dict:
    """A review entry with its evidence, reason and rule in words (siyu.identity.labels)."""
    impact = item["impact"]
    return {
        **item,
        "match_weight": queries.match_weight(item["match_probability"]),
        "reason_words": labels.reason_words(item["reason"]),
        "rule_words": labels.rule_words(item["pattern"]) if item["pattern"] else "",
        "evidence_words": labels.evidence_words(item["evidence"]),
        "impact": {**impact, "spend_moved": _money(impact["spend_moved"]), "spend_after": _money(impact["spend_after"])},
    }


@router.get(
    "/identity/review",
    response={200: ReviewPageOut, **ERRORS},
    summary="Pairs of customers waiting for review, those whose decision moves the most spend first",
)
@roles(*actions.DECIDER_ROLES)
def review(
    request,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    pattern: Annotated[str | None, Query(max_length=2000, description="only this rule's entries")] = None,
    kept_apart: Annotated[bool, Query(description="the pairs kept apart instead of those waiting")] = False,
):
    page_ = queries.review_queue(page, page_size, pattern=pattern, kept_apart=kept_apart)
    return {**page_, "items": [_review_item(i) for i in page_["items"]]}


@router.get(
    "/identity/review/rules",
    response={200: list[ReviewRuleOut], **ERRORS},
    summary="The review queue grouped by evidence: rules that decide many pairs at once, with a preview",
)
@roles(*actions.DECIDER_ROLES)
def review_rules(request):
    return [
        {
            **r,
            "words": labels.rule_words(r["pattern"]),
            "reason_words": labels.reason_words(parse_pattern(r["pattern"])[0]),
            "spend_moved": _money(r["spend_moved"]),
        }
        for r in queries.review_rules()
        if r["pattern"]
    ]


@router.get(
    "/identity/quarantine",
    response={200: QuarantinePageOut, **ERRORS},
    summary="Identifier values the guard keeps out of linking (shared by too many records or names), most records first",
)
@roles(*actions.DECIDER_ROLES)
def quarantine(
    request,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
):
    result = queries.quarantine_page(page, page_size)
    items = [labels.quarantined_in_words(item) for item in result["items"]]
    return {"total": result["total"], "page": page, "page_size": page_size, "items": items}


@router.post(
    "/identity/review/rules/decide",
    response={200: RuleDecisionOut, **ERRORS},
    summary="Decide every pair of customers with a rule's evidence (one recorded decision each)",
)
@roles(*actions.DECIDER_ROLES)
def decide_rule(request, response: HttpResponse, body: RuleDecisionIn, idempotency_key: IdempotencyKeyHeader):
    def run():
        done = actions.decide_by_rule(request.auth, body.pattern, body.verdict, body.reason)
        return {**done, "words": labels.rule_words(body.pattern)}

    return _decide(request, response, idempotency_key, body, run)


def _decide(request, response, key, body, call):
    return run_once(request, response, key, body, call)


@router.post("/identity/decisions", response={200: DecisionOut, **ERRORS}, summary="Same person or not")
@roles(*actions.DECIDER_ROLES)
def decide(request, response: HttpResponse, body: DecisionIn, idempotency_key: IdempotencyKeyHeader):
    return _decide(
        request, response, idempotency_key, body,
        lambda: actions.decide_match(request.auth, body.record_key_a, body.record_key_b, body.verdict, body.reason),
    )  # fmt: skip


@router.post("/identity/merge", response={200: DecisionOut, **ERRORS}, summary="Merge two customers")
@roles(*actions.DECIDER_ROLES)
def merge(request, response: HttpResponse, body: MergeIn, idempotency_key: IdempotencyKeyHeader):
    return _decide(
        request, response, idempotency_key, body,
        lambda: actions.merge_customers(request.auth, body.customer_id, body.other_id, body.reason),
    )  # fmt: skip


@router.post(
    "/identity/split", response={200: DecisionOut, **ERRORS}, summary="Split a record off a customer"
)
@roles(*actions.DECIDER_ROLES)
def split(request, response: HttpResponse, body: SplitIn, idempotency_key: IdempotencyKeyHeader):
    return _decide(
        request, response, idempotency_key, body,
        lambda: actions.split_customers(request.auth, body.customer_id, body.record_key, body.reason),
    )  # fmt: skip


@router.post("/identity/undo", response={200: DecisionOut, **ERRORS}, summary="Undo the merge of a customer")
@roles(*actions.DECIDER_ROLES)
def undo(request, response: HttpResponse, body: UndoIn, idempotency_key: IdempotencyKeyHeader):
    return _decide(
        request, response, idempotency_key, body,
        lambda: actions.undo_merge(request.auth, body.absorbed_id, body.reason),
    )  # fmt: skip
