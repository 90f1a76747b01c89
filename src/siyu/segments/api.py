"""/api/segments: segment definitions (a rule or a static list of customer ids), a live preview of a rule,
an on-demand refresh, and the stored members and enter/exit history. Admin and operator accounts only;
member rows are masked (no clear PII)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from django.http import HttpResponse
from ninja import Field, Path, Query, Router, Schema

from siyu.core.errors import PermissionDenied
from siyu.customers.queries import CustomerId
from siyu.segments import actions, queries
from siyu.segments.models import Segment
from siyu.staff.models import Role
from siyu.staff.queries import has_role
from siyu.staff.roles import roles
from siyu.web.idempotency import IdempotencyKeyHeader, run_once
from siyu.web.schemas import LOOKUP_ERRORS, WRITE_ERRORS

router = Router(tags=["segments"])

SegmentIdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="segment id")]
Page = Annotated[int, Query(ge=1, le=1_000_000)]
PageSize = Annotated[int, Query(ge=1, le=queries.SEGMENT_PAGE_MAX)]


class SegmentIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=300)
    rule: dict[str, Any] | None = Field(None, description="a rule tree (see the user guide); or customer_ids")
    customer_ids: list[CustomerId] | None = Field(None, description="a static list; or rule")
    refresh: Literal["after_resolve", "daily", "manual"] = "after_resolve"


class SegmentOut(Schema):
    id: int
    name: str
    description: str
    kind: str = Field(description="rule or static")
    rule: dict[str, Any]
    static_count: int
    refresh: str = Field(description="after_resolve, daily (stored; no scheduler yet) or manual")
    refreshed_at: datetime | None
    member_count: int | None = Field(description="members at the last refresh")
    updated_at: datetime


class PreviewIn(Schema):
    rule: dict[str, Any]
    sample: int = Field(10, ge=0, le=100)


class MemberOut(Schema):
    customer_id: int
    name_masked: str | None
    phone_masked: str | None
    province: str | None
    city: str | None
    orders: int | None
    spend: str
    last_purchase_at: datetime | None


class PreviewOut(Schema):
    count: int
    sample: list[MemberOut]
    seconds: float


class MemberPageOut(Schema):
    items: list[MemberOut]
    total: int
    page: int
    pages: int
    page_size: int


class ChangeOut(Schema):
    customer_id: int
    change: str = Field(description="enter or exit")
    changed_at: datetime


class ChangePageOut(Schema):
    items: list[ChangeOut]
    total: int
    page: int
    pages: int
    page_size: int


class RefreshOut(Schema):
    segment_id: int
    members: int
    entered: int
    exited: int
    seconds: float


class EmptyIn(Schema):
    pass


class SegmentDeletedOut(Schema):
    # its own name: OpenAPI components are keyed by class name, and analytics has a DeletedOut too
    deleted: int = Field(description="the deleted segment's id")


def _require(user) -> None:
    if not has_role(user, (Role.ADMIN, Role.OPERATOR)):
        raise PermissionDenied("only an admin or operator account can use segments")


def segment_dict(segment: Segment) -> dict:
    return {
        "id": segment.pk,
        "name": segment.name,
        "description": segment.description,
        "kind": segment.kind,
        "rule": segment.rule,
        "static_count": len(segment.static_ids or []),
        "refresh": segment.refresh,
        "refreshed_at": segment.refreshed_at,
        "member_count": segment.member_count,
        "updated_at": segment.updated_at,
    }


@router.get("/segments", response={200: list[SegmentOut], **LOOKUP_ERRORS}, summary="Segments")
@roles(*actions.EDITOR_ROLES)
def list_segments(request):
    return [segment_dict(s) for s in Segment.objects.all()]


@router.post("/segments", response={201: SegmentOut, **WRITE_ERRORS}, summary="Create a segment")
@roles(*actions.EDITOR_ROLES)
def create_segment(request, response: HttpResponse, body: SegmentIn, idempotency_key: IdempotencyKeyHeader):

    def run():
        saved = actions.save_segment(
            request.auth, body.name, rule=body.rule, customer_ids=body.customer_ids,
            description=body.description, refresh=body.refresh,
        )  # fmt: skip
        return segment_dict(saved)

    return run_once(request, response, idempotency_key, body, run, status=201)


@router.post(
    "/segments/preview", response={200: PreviewOut, **WRITE_ERRORS}, summary="Count a rule's members now"
)
@roles(*actions.EDITOR_ROLES)
def preview(request, body: PreviewIn):
    """Nothing is written, so no Idempotency-Key is needed."""
    return queries.preview_segment(body.rule, body.sample)


@router.get("/segments/{segment_id}", response={200: SegmentOut, **LOOKUP_ERRORS}, summary="One segment")
@roles(*actions.EDITOR_ROLES)
def get_segment(request, segment_id: SegmentIdPath):
    return segment_dict(queries.get_segment(segment_id))


@router.put("/segments/{segment_id}", response={200: SegmentOut, **WRITE_ERRORS}, summary="Replace a segment")
@roles(*actions.EDITOR_ROLES)
def put_segment(
    request,
    response: HttpResponse,
    segment_id: SegmentIdPath,
    body: SegmentIn,
    idempotency_key: IdempotencyKeyHeader,
):

    def run():
        saved = actions.save_segment(
            request.auth, body.name, rule=body.rule, customer_ids=body.customer_ids,
            description=body.description, refresh=body.refresh, segment_id=segment_id,
        )  # fmt: skip
        return segment_dict(saved)

    return run_once(request, response, idempotency_key, body, run)


@router.delete(
    "/segments/{segment_id}", response={200: SegmentDeletedOut, **WRITE_ERRORS}, summary="Delete a segment"
)
@roles(*actions.EDITOR_ROLES)
def delete_segment(
    request, response: HttpResponse, segment_id: SegmentIdPath, idempotency_key: IdempotencyKeyHeader
):

    def run():
        actions.delete_segment(request.auth, segment_id)
        return {"deleted": segment_id}

    return run_once(request, response, idempotency_key, {"segment_id": segment_id}, run)


@router.post(
    "/segments/{segment_id}/refresh",
    response={200: RefreshOut, **WRITE_ERRORS},
    summary="Refresh the members now",
)
@roles(*actions.EDITOR_ROLES)
def refresh(
    request,
    response: HttpResponse,
    segment_id: SegmentIdPath,
    body: EmptyIn,
    idempotency_key: IdempotencyKeyHeader,
):
    """Runs in the request (the server owns the warehouse); returns how many entered and left."""
    queries.get_segment(segment_id)
    return run_once(request, response, idempotency_key, {"segment_id": segment_id},
                    lambda: actions.refresh_segment(segment_id))  # fmt: skip


@router.get(
    "/segments/{segment_id}/members", response={200: MemberPageOut, **LOOKUP_ERRORS}, summary="Stored members"
)
@roles(*actions.EDITOR_ROLES)
def members(request, segment_id: SegmentIdPath, page: Page = 1, page_size: PageSize = 50):
    queries.get_segment(segment_id)
    return queries.segment_members_page(segment_id, page, page_size)


@router.get(
    "/segments/{segment_id}/changes",
    response={200: ChangePageOut, **LOOKUP_ERRORS},
    summary="Enter/exit history",
)
@roles(*actions.EDITOR_ROLES)
def changes(request, segment_id: SegmentIdPath, page: Page = 1, page_size: PageSize = 50):
    queries.get_segment(segment_id)
    return queries.segment_changes_page(segment_id, page, page_size)
