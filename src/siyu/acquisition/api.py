"""/api/acquisition: live codes (渠道活码) — list, make, change, archive — with their adds and a preview of
whom WeCom offers now; store codes; a staff member's own code. Codes are made and changed by admin and
operator accounts; a staff member with a WeCom userid asks for their own code."""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal
from typing import Annotated, Literal

from django.http import HttpResponse
from ninja import Field, Path, Query, Router, Schema

from siyu.acquisition import actions, queries
from siyu.acquisition.models import LiveCode
from siyu.core.errors import PermissionDenied
from siyu.staff.models import Role
from siyu.staff.queries import has_role
from siyu.staff.roles import roles
from siyu.web.idempotency import IdempotencyKeyHeader, run_once
from siyu.web.schemas import LOOKUP_ERRORS, READ_ERRORS, WRITE_ERRORS

router = Router(tags=["acquisition"])

CodeIdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="live code id")]
Channel = Literal["store", "package_card", "receipt", "poster", "online_event", "shelf", "other"]
Hours = list[Annotated[list[str], Field(min_length=2, max_length=2)]]
RowId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class CodeStaffIn(Schema):
    staff_id: RowId = Field(description="a staff profile with a WeCom userid")
    backup: bool = Field(False, description="offered only when every primary is out")
    daily_limit: int | None = Field(None, ge=1, le=100_000, description="adds a day on this code (default: the code's)")
    schedule: dict[str, Hours] = Field(default_factory=dict,
                                       description='{"1".."7" (Monday 1): [["09:00", "18:00"], …]}; empty: any time')  # fmt: skip
    special_periods: list[dict] = Field(default_factory=list,
                                        description='[{"start": "YYYY-MM-DD", "end": …, "hours": [[…]]} or {…, "off": true}]')  # fmt: skip


class LiveCodeChangeIn(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    channel: Channel | None = None
    campaign: str | None = Field(None, max_length=100)
    store_id: RowId | None = None
    staff: list[CodeStaffIn] | None = Field(None, min_length=1, max_length=100)
    skip_verify: bool | None = None
    verify_skip_from: time | None = Field(None, description="local time from which adds skip verification")
    verify_skip_until: time | None = None
    welcome_text: str | None = Field(None, max_length=4000)
    welcome_material_id: RowId | None = None
    auto_tags: list[str] | None = Field(None, description="WeCom corporate tags as 组名:标签")
    daily_limit: int | None = Field(None, ge=1, le=100_000, description="adds a day per staff member")
    cost: Decimal | None = Field(None, ge=0, max_digits=18, decimal_places=2, description="yuan")


class LiveCodeIn(LiveCodeChangeIn):
    name: str = Field(min_length=1, max_length=100)
    staff: list[CodeStaffIn] = Field(min_length=1, max_length=100)
    channel: Channel = "other"


class CodeStaffOut(Schema):
    staff_id: int
    name: str
    wecom_userid: str
    backup: bool
    daily_limit: int | None
    schedule: dict
    special_periods: list


class LiveCodeOut(Schema):
    id: int
    name: str
    kind: str = Field(description="staff, store or guide")
    channel: str
    campaign: str
    store_id: int | None
    state: str = Field(description="WeCom's state: comes back on every add through the code")
    config_id: str
    qr_url: str = Field(description="WeCom's picture of the QR (add_contact_way's qr_code): a picture, not what to print")
    qr_content: str = Field(description="what that QR holds, WeCom's add link: encode this to print the code; "
                                        "empty while WeCom's picture could not be read")  # fmt: skip
    skip_verify: bool
    verify_skip_from: time | None
    verify_skip_until: time | None
    welcome_text: str
    welcome_material_id: int | None
    auto_tags: list[str]
    daily_limit: int | None
    cost: str | None
    archived: bool
    status: str = Field(description="active, nobody_available or archived")
    offered: list[str] = Field(description="the WeCom userids WeCom offers now (as last pushed)")
    staff: list[CodeStaffOut]
    adds: int
    created_at: datetime


class AddOut(Schema):
    staff_userid: str
    external_userid: str
    added_at: datetime
    customer_id: int | None
    welcome: str = Field(description="sent, suppressed, failed or none")


class AddPageOut(Schema):
    items: list[AddOut]
    total: int
    page: int
    pages: int
    page_size: int


class RoutingOut(Schema):
    staff_id: int
    name: str
    userid: str
    backup: bool
    adds_today: int
    daily_limit: int | None
    contacts: int = Field(description="WeCom contacts Siyu knows (WeCom holds 5,000)")
    offered: bool
    reason: str = Field(description="offered, standby, off_schedule, daily_limit or near_contact_limit")


class StoreCodesIn(Schema):
    store_ids: list[RowId] = Field(min_length=1, max_length=1000)


class StoreCodesOut(Schema):
    created: list[int]
    updated: list[int]
    skipped: dict[str, str]


REQUIRED = {"name", "channel", "skip_verify", "staff", "auto_tags", "campaign", "welcome_text"}


def _require(user) -> None:
    if not has_role(user, (Role.ADMIN, Role.OPERATOR)):
        raise PermissionDenied("only an admin or operator account can use live codes")


def code_dict(code: LiveCode) -> dict:
    rows = list(code.staff.select_related("staff__user"))
    return {
        "id": code.pk, "name": code.name, "kind": code.kind, "channel": code.channel, "campaign": code.campaign,
        "store_id": code.store_id, "state": code.state, "config_id": code.config_id, "qr_url": code.qr_url,
        "qr_content": code.qr_content,
        "skip_verify": code.skip_verify, "verify_skip_from": code.verify_skip_from,
        "verify_skip_until": code.verify_skip_until, "welcome_text": code.welcome_text,
        "welcome_material_id": code.welcome_material_id, "auto_tags": [t.label for t in code.auto_tags.all()],
        "daily_limit": code.daily_limit, "cost": None if code.cost is None else str(code.cost),
        "archived": code.archived, "status": queries.code_status(code), "offered": list(code.routed_users),
        "staff": [{"staff_id": r.staff_id, "name": str(r.staff), "wecom_userid": r.staff.wecom_userid,
                   "backup": r.backup, "daily_limit": r.daily_limit, "schedule": r.schedule,
                   "special_periods": r.special_periods} for r in rows],
        "adds": code.adds.count(), "created_at": code.created_at,
    }  # fmt: skip


def _changes(body: LiveCodeChangeIn, only_set: bool) -> dict:
    given = body.dict(exclude_unset=only_set)
    out = {}
    for name, value in given.items():
        if name == "store_id":
            out["store"] = value
        elif name == "welcome_material_id":
            out["welcome_material"] = value
        elif name == "staff":
            out["staff"] = None if value is None else [
                {"staff": s["staff_id"], **{k: v for k, v in s.items() if k != "staff_id"}} for s in value
            ]
        else:
            out[name] = value
    # null for what a code cannot be without means "unchanged"
    return {k: v for k, v in out.items() if v is not None or k not in REQUIRED}


@router.get("/acquisition/codes", response={200: list[LiveCodeOut], **READ_ERRORS}, summary="Live codes")
@roles(*actions.EDITOR_ROLES)
def list_codes(request, archived: Annotated[bool, Query()] = False):
    return [code_dict(c) for c in queries.list_codes(archived=archived)]


@router.post("/acquisition/codes", response={201: LiveCodeOut, **WRITE_ERRORS}, summary="Make a live code")
@roles(*actions.EDITOR_ROLES)
def create_code(request, response: HttpResponse, body: LiveCodeIn, idempotency_key: IdempotencyKeyHeader):

    def run():
        return code_dict(actions.create_live_code(request.auth, **_changes(body, False)))

    return run_once(request, response, idempotency_key, body, run, status=201)


@router.get("/acquisition/codes/{int:code_id}", response={200: LiveCodeOut, **LOOKUP_ERRORS}, summary="One live code")
@roles(*actions.EDITOR_ROLES)
def get_code(request, code_id: CodeIdPath):
    return code_dict(queries.get_code(code_id))


@router.patch("/acquisition/codes/{int:code_id}", response={200: LiveCodeOut, **WRITE_ERRORS},
              summary="Change a live code (the printed QR code stays the same)")  # fmt: skip
@roles(*actions.EDITOR_ROLES)
def update_code(request, response: HttpResponse, code_id: CodeIdPath, body: LiveCodeChangeIn,
                idempotency_key: IdempotencyKeyHeader):  # fmt: skip

    def run():
        return code_dict(actions.update_live_code(request.auth, code_id, **_changes(body, True)))

    return run_once(request, response, idempotency_key, {"code_id": code_id, **body.dict(exclude_unset=True)}, run)


@router.post("/acquisition/codes/{int:code_id}/archive", response={200: LiveCodeOut, **WRITE_ERRORS},
             summary="Archive a live code (its contact way is deleted in WeCom)")  # fmt: skip
@roles(*actions.EDITOR_ROLES)
def archive_code(request, response: HttpResponse, code_id: CodeIdPath, idempotency_key: IdempotencyKeyHeader):

    def run():
        return code_dict(actions.archive_live_code(request.auth, code_id))

    return run_once(request, response, idempotency_key, {"code_id": code_id}, run)


@router.get("/acquisition/codes/{int:code_id}/adds", response={200: AddPageOut, **LOOKUP_ERRORS},
            summary="Who added through a live code")  # fmt: skip
@roles(*actions.EDITOR_ROLES)
def code_adds(request, code_id: CodeIdPath, page: Annotated[int, Query(ge=1, le=1_000_000)] = 1):
    found = queries.code_adds(queries.get_code(code_id), page)
    found["items"] = [{"staff_userid": a.staff_userid, "external_userid": a.external_userid, "added_at": a.added_at,
                       "customer_id": a.customer_id, "welcome": a.welcome} for a in found["items"]]  # fmt: skip
    return found


@router.get("/acquisition/codes/{int:code_id}/routing", response={200: list[RoutingOut], **LOOKUP_ERRORS},
            summary="Whom WeCom should offer on a live code now, and why not the others")  # fmt: skip
@roles(*actions.EDITOR_ROLES)
def code_routing(request, code_id: CodeIdPath):
    return queries.staff_availability(queries.get_code(code_id))


@router.post("/acquisition/store-codes", response={200: StoreCodesOut, **WRITE_ERRORS},
             summary="One live code per store with the store's guides")  # fmt: skip
@roles(*actions.EDITOR_ROLES)
def store_codes(request, response: HttpResponse, body: StoreCodesIn, idempotency_key: IdempotencyKeyHeader):

    def run():
        return actions.create_store_codes(request.auth, body.store_ids)

    return run_once(request, response, idempotency_key, body, run)


@router.post("/acquisition/my-code", response={200: LiveCodeOut, **WRITE_ERRORS},
             summary="The signed-in staff member's own code (made the first time)")  # fmt: skip
def my_code(request, response: HttpResponse, idempotency_key: IdempotencyKeyHeader):
    def run():
        return code_dict(actions.guide_code(request.auth, actor=request.auth))

    return run_once(request, response, idempotency_key, {}, run)
