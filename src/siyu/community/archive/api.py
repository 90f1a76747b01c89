"""/api/community/…: the chat archive (import an export as a job), sensitive-word rules (CRUD, match again),
alerts (list, handle), and the figures computed from the archive (silent members, guide response times,
messages per group and day). Rules and imports: admin and operator; alerts and figures: also store
managers. Mounted by siyu.api.api as `siyu.community.archive.api.router`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from django.http import HttpResponse
from ninja import Field, File, Path, Query, Router, Schema
from ninja.files import UploadedFile

from siyu.community.archive import actions, queries
from siyu.community.archive.models import SensitiveAlert, SensitiveRule
from siyu.core.errors import PermissionDenied
from siyu.core.owner import submit_job
from siyu.staff.models import Role
from siyu.staff.queries import has_role
from siyu.staff.roles import roles
from siyu.web.idempotency import IdempotencyKeyHeader, run_once
from siyu.web.schemas import READ_ERRORS, WRITE_ERRORS

router = Router(tags=["community"])

RuleIdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="rule id")]
AlertIdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="alert id")]
GroupType = Literal["welfare", "vip", "product", "city", "other", "all"]


class RuleIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    kind: Literal["keyword", "regex"] = "keyword"
    pattern: str = Field(min_length=1, max_length=200, description="a keyword or a Python regular expression")
    group_types: list[GroupType] = Field(default_factory=list, description="group types watched; all: every group")
    one_on_one: bool = Field(False, description="also watch 1-on-1 chats")
    enabled: bool = True


class RuleOut(Schema):
    id: int
    name: str
    kind: str
    pattern: str
    group_types: list[str]
    one_on_one: bool
    enabled: bool
    updated_at: datetime


class RuleDeletedOut(Schema):
    deleted: int


class RescanIn(Schema):
    rule_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(
        default_factory=list, max_length=10_000, description="rules to match again; none: every enabled rule"
    )
    since: datetime | None = None


class RescanOut(Schema):
    rules: int
    scanned: int
    alerts: int


class AlertOut(Schema):
    id: int
    rule_id: int | None
    rule_name: str
    msgid: str
    room_id: str = Field(description='the group chat; "" for a 1-on-1 chat')
    sender: str
    excerpt: str
    sent_at: datetime
    owner_userid: str = Field(description="the group owner told by app message; empty: nobody")
    status: str = Field(description="open or handled")
    handled_by: str | None
    handled_at: datetime | None
    note: str


class AlertPageOut(Schema):
    items: list[AlertOut]
    total: int
    page: int


class HandleIn(Schema):
    note: str = Field("", max_length=300)


class ImportOut(Schema):
    job_id: str
    status: str
    result: dict | None


class SilentRoomOut(Schema):
    room_id: str
    members: int
    silent: int


class SilentMemberOut(Schema):
    room_id: str
    external_userid: str
    last_spoke_at: datetime | None
    first_seen_at: datetime


class SilentOut(Schema):
    days: int
    as_of: datetime
    rooms: list[SilentRoomOut]
    members: list[SilentMemberOut]


class ResponseTimeOut(Schema):
    staff: str = Field(description="the staff member's WeCom userid")
    replies: int
    median_seconds: float | None
    p90_seconds: float | None
    unanswered: int


class DailyCountOut(Schema):
    room_id: str
    day: date
    messages: int
    customer_messages: int
    speakers: int


def _require_operator(user) -> None:
    if not has_role(user, (Role.ADMIN, Role.OPERATOR)):
        raise PermissionDenied("only an admin or operator account can manage the chat archive and its rules")


def _require_reader(user) -> None:
    if not has_role(user, (Role.ADMIN, Role.OPERATOR, Role.MANAGER)):
        raise PermissionDenied("only an admin, operator or store manager can read the chat archive")


def rule_dict(rule: SensitiveRule) -> dict:
    return {"id": rule.pk, "name": rule.name, "kind": rule.kind, "pattern": rule.pattern,
            "group_types": rule.group_types, "one_on_one": rule.one_on_one, "enabled": rule.enabled,
            "updated_at": rule.updated_at}  # fmt: skip


def alert_dict(alert: SensitiveAlert) -> dict:
    return {"id": alert.pk, "rule_id": alert.rule_id, "rule_name": alert.rule_name, "msgid": alert.msgid,
            "room_id": alert.room_id, "sender": alert.sender, "excerpt": alert.excerpt, "sent_at": alert.sent_at,
            "owner_userid": alert.owner_userid, "status": alert.status,
            "handled_by": alert.handled_by.get_username() if alert.handled_by else None,
            "handled_at": alert.handled_at, "note": alert.note}  # fmt: skip


@router.get("/community/sensitive-rules", response={200: list[RuleOut], **READ_ERRORS}, summary="Sensitive-word rules")
@roles(*actions.READER_ROLES)
def list_rules(request):
    return [rule_dict(r) for r in queries.rules()]


@router.post("/community/sensitive-rules", response={201: RuleOut, **WRITE_ERRORS}, summary="Create a rule")
@roles(*actions.MANAGER_ROLES)
def create_rule(request, response: HttpResponse, body: RuleIn, idempotency_key: IdempotencyKeyHeader):

    def run():
        return rule_dict(actions.save_rule(request.auth, body.name, body.kind, body.pattern, body.group_types,
                                           body.one_on_one, body.enabled))  # fmt: skip

    return run_once(request, response, idempotency_key, body, run, status=201)


@router.put("/community/sensitive-rules/{int:rule_id}", response={200: RuleOut, **WRITE_ERRORS}, summary="Change a rule")
@roles(*actions.MANAGER_ROLES)
def put_rule(request, response: HttpResponse, rule_id: RuleIdPath, body: RuleIn,
             idempotency_key: IdempotencyKeyHeader):  # fmt: skip

    def run():
        return rule_dict(actions.save_rule(request.auth, body.name, body.kind, body.pattern, body.group_types,
                                           body.one_on_one, body.enabled, rule_id=rule_id))  # fmt: skip

    return run_once(request, response, idempotency_key, body, run)


@router.delete("/community/sensitive-rules/{int:rule_id}", response={200: RuleDeletedOut, **WRITE_ERRORS},
               summary="Delete a rule (its alerts stay)")  # fmt: skip
@roles(*actions.MANAGER_ROLES)
def delete_rule(request, response: HttpResponse, rule_id: RuleIdPath, idempotency_key: IdempotencyKeyHeader):

    def run():
        actions.delete_rule(request.auth, rule_id)
        return {"deleted": rule_id}

    return run_once(request, response, idempotency_key, {"rule_id": rule_id}, run)


@router.post("/community/sensitive-rules/rescan", response={200: RescanOut, **WRITE_ERRORS},
             summary="Match rules again on the archived messages")  # fmt: skip
@roles(*actions.MANAGER_ROLES)
def rescan(request, response: HttpResponse, body: RescanIn, idempotency_key: IdempotencyKeyHeader):
    return run_once(request, response, idempotency_key, body,
                    lambda: actions.rescan_messages(request.auth, body.rule_ids or None, body.since))  # fmt: skip


@router.get("/community/sensitive-alerts", response={200: AlertPageOut, **READ_ERRORS}, summary="Sensitive-word alerts")
@roles(*actions.READER_ROLES)
def list_alerts(request, status: Literal["open", "handled"] | None = None, room_id: str | None = None,
                page: Annotated[int, Query(ge=1, le=1_000_000)] = 1):  # fmt: skip
    found, total = queries.alerts(status, room_id, page)
    return {"items": [alert_dict(a) for a in found], "total": total, "page": page}


@router.post("/community/sensitive-alerts/{int:alert_id}/handle", response={200: AlertOut, **WRITE_ERRORS},
             summary="Mark an alert handled")  # fmt: skip
@roles(*actions.READER_ROLES)
def handle(request, response: HttpResponse, alert_id: AlertIdPath, body: HandleIn,
           idempotency_key: IdempotencyKeyHeader):  # fmt: skip
    return run_once(request, response, idempotency_key, {"alert_id": alert_id, **body.dict()},
                    lambda: alert_dict(actions.handle_alert(request.auth, alert_id, body.note)))  # fmt: skip


@router.post("/community/chat-archive/imports", response={202: ImportOut, **WRITE_ERRORS},
             summary="Import a chat-archive export (JSON lines) as a job")  # fmt: skip
@roles(*actions.MANAGER_ROLES)
def import_archive(request, response: HttpResponse, idempotency_key: IdempotencyKeyHeader,
                   file: UploadedFile = File(...)):  # noqa: B008 - Ninja's way of declaring a file  # fmt: skip

    def run():
        job = submit_job("chat_archive_import", {"path": actions.store_archive_upload(file)}, request.auth)
        return {"job_id": str(job.pk), "status": job.status, "result": job.result or None}

    return run_once(request, response, idempotency_key, {"file": file.name, "size": file.size}, run, status=202)


@router.get("/community/silent-members", response={200: SilentOut, **READ_ERRORS},
            summary="Group members silent for N days")  # fmt: skip
@roles(*actions.READER_ROLES)
def silent_members(request, days: Annotated[int, Query(ge=1, le=3650)] = 7, as_of: datetime | None = None,
                   room_id: Annotated[list[str] | None, Query()] = None):  # fmt: skip
    return queries.silent_members(days, as_of, room_id)


@router.get("/community/response-times", response={200: list[ResponseTimeOut], **READ_ERRORS},
            summary="Guides' response times in 1-on-1 chats")  # fmt: skip
@roles(*actions.READER_ROLES)
def response_times(request, start: datetime | None = None, end: datetime | None = None):
    return queries.response_times(start, end)


@router.get("/community/message-counts", response={200: list[DailyCountOut], **READ_ERRORS},
            summary="Messages per group chat and day")  # fmt: skip
@roles(*actions.READER_ROLES)
def message_counts(request, start: date | None = None, end: date | None = None,
                   room_id: Annotated[list[str] | None, Query()] = None):  # fmt: skip
    return queries.daily_message_counts(start, end, room_id)

