"""/api/privacy/requests: the privacy request queue — list (admins and operators), open one on a
customer's behalf (any staff account that may act on the customer; source `api`), move one on, download
the copy an access request asks for, carry out a correction request, and erase the customer of a deletion
request (admins and operators, as on the console)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from django.http import HttpResponse
from ninja import Field, Path, Query, Router, Schema

from siyu.privacy import actions, queries
from siyu.privacy.models import DataRequest
from siyu.staff.roles import roles
from siyu.web.idempotency import IdempotencyKeyHeader, run_once
from siyu.web.schemas import LOOKUP_ERRORS, READ_ERRORS, WRITE_ERRORS, ErrorOut

router = Router(tags=["privacy"])

RequestIdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="privacy request id")]
Kind = Literal["access", "deletion", "correction"]
Status = Literal["open", "in_progress", "done", "refused"]


class PrivacyRequestIn(Schema):
    customer_id: int = Field(ge=1, le=2**63 - 1)
    kind: Kind
    verification: str = Field(min_length=1, max_length=200, description="how the requester proved who they are")
    detail: str = Field("", max_length=2000)


class PrivacyRequestStatusIn(Schema):
    status: Status
    note: str = Field("", max_length=2000, description="required to close (done or refused)")


class PrivacyRequestStepOut(Schema):
    action: str
    status: str
    note: str
    at: datetime


class PrivacyRequestOut(Schema):
    id: int
    kind: str
    customer_id: int
    source: str
    verification: str
    detail: str
    status: str
    requested_at: datetime
    due_at: datetime
    overdue: bool
    closed_at: datetime | None
    steps: list[PrivacyRequestStepOut]


def request_dict(request: DataRequest) -> dict:
    return {
        "id": request.pk, "kind": request.kind, "customer_id": request.customer_id, "source": request.source,
        "verification": request.verification, "detail": request.detail, "status": request.status,
        "requested_at": request.requested_at, "due_at": request.due_at, "overdue": queries.is_overdue(request),
        "closed_at": request.closed_at,
        "steps": [{"action": s.action, "status": s.status, "note": s.note, "at": s.at} for s in queries.steps_of(request)],
    }  # fmt: skip


@router.get("/privacy/requests", response={200: list[PrivacyRequestOut], **READ_ERRORS}, summary="Privacy requests")
def list_requests(request, status: Annotated[Status | None, Query()] = None,
                  overdue: Annotated[bool, Query()] = False):  # fmt: skip
    return [request_dict(r) for r in queries.queue(request.auth, status or "", overdue)[:500]]


@router.get("/privacy/requests/{int:request_id}", response={200: PrivacyRequestOut, **LOOKUP_ERRORS},
            summary="One privacy request")  # fmt: skip
def get_request(request, request_id: RequestIdPath):
    return request_dict(queries.request_for(request.auth, request_id))


@router.post("/privacy/requests", response={201: PrivacyRequestOut, **WRITE_ERRORS},
             summary="Open a privacy request on a customer's behalf")  # fmt: skip
def open_request(request, response: HttpResponse, body: PrivacyRequestIn, idempotency_key: IdempotencyKeyHeader):
    def run():
        opened = actions.open_request(customer_id=body.customer_id, kind=body.kind, source="api",
                                      verification=body.verification, requested_by=request.auth,
                                      detail=body.detail)  # fmt: skip
        return request_dict(opened)

    return run_once(request, response, idempotency_key, body, run, status=201)


class PrivacyCorrectionIn(Schema):
    """The corrected values; a field left out (or empty) stays as it is."""

    name: str | None = Field(None, max_length=300)
    phone: str | None = Field(None, max_length=300)
    email: str | None = Field(None, max_length=300)
    address: str | None = Field(None, max_length=300)
    gender: str | None = Field(None, max_length=300, description="男/女 (M/F)")
    birthday: str | None = Field(None, max_length=300, description="YYYY-MM-DD")
    note: str = Field("", max_length=500)


class PrivacyCorrectionOut(Schema):
    corrected: list[str]
    request: PrivacyRequestOut


@router.get("/privacy/requests/{int:request_id}/copy", response={200: bytes, 400: ErrorOut, **LOOKUP_ERRORS},
            summary="Download the copy an access request asks for (a ZIP)",
            openapi_extra={"responses": {200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}}},
            description="Everything held about the request's customer: a JSON of everything and a CSV per part, "
                        "Chinese headers. Built for this download, never stored; a step of the request, audited. "
                        "Admins and operators.")  # fmt: skip
def download_copy(request, request_id: RequestIdPath):
    name, content, _summary = actions.copy_of_person(request.auth, request_id=request_id)
    response = HttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


@router.post("/privacy/requests/{int:request_id}/corrections", response={200: PrivacyCorrectionOut, **WRITE_ERRORS},
             summary="Correct the customer's profile for a correction request")  # fmt: skip
@roles(*actions.QUEUE_ROLES)
def correct_profile(request, response: HttpResponse, request_id: RequestIdPath, body: PrivacyCorrectionIn,
                    idempotency_key: IdempotencyKeyHeader):  # fmt: skip
    def run():
        changes = {k: v for k, v in body.dict().items() if k != "note" and v}
        changed = actions.correct_for_request(request.auth, request_id, changes, body.note)
        return {"corrected": changed, "request": request_dict(queries.request_for(request.auth, request_id))}

    return run_once(request, response, idempotency_key, {"request_id": request_id, **body.dict()}, run)


@router.post("/privacy/requests/{int:request_id}/status", response={200: PrivacyRequestOut, **WRITE_ERRORS},
             summary="Move a privacy request on")  # fmt: skip
@roles(*actions.QUEUE_ROLES)
def change_status(request, response: HttpResponse, request_id: RequestIdPath, body: PrivacyRequestStatusIn,
                  idempotency_key: IdempotencyKeyHeader):  # fmt: skip
    def run():
        return request_dict(actions.advance_request(request.auth, request_id, body.status, body.note))

    return run_once(request, response, idempotency_key, {"request_id": request_id, **body.dict()}, run)


class ErasureOut(Schema):
    job_id: str
    job_status: str = Field(description="queued when handed to the worker; done or failed when run at once")
    clean: bool | None = Field(description="the scan found nothing of the person left (null until it ran)")
    found: dict[str, int] = Field(description="what the scan still found, per place")
    error: str | None
    request: PrivacyRequestOut


@router.post("/privacy/requests/{int:request_id}/erase", response={200: ErasureOut, **WRITE_ERRORS},
             summary="Erase the customer of a deletion request, then scan")  # fmt: skip
@roles(*actions.QUEUE_ROLES)
def erase(request, response: HttpResponse, request_id: RequestIdPath, idempotency_key: IdempotencyKeyHeader):
    def run():
        job = actions.request_erasure(request.auth, request_id)
        result = job.result or {}
        return {"job_id": str(job.pk), "job_status": job.status, "clean": result.get("clean"),
                "found": result.get("found") or {}, "error": job.error or None,
                "request": request_dict(queries.request_for(request.auth, request_id))}  # fmt: skip

    return run_once(request, response, idempotency_key, {"request_id": request_id, "erase": True}, run)
