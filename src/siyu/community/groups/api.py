"""/api/community/…: customer groups (list, detail, members, type/tags/store), group health, group codes,
group welcome templates and group mass messages. Mounted by siyu.api.api (`groups_router`)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from django.http import HttpResponse
from ninja import Field, Path, Query, Router, Schema

from siyu.community.groups import actions, queries
from siyu.community.groups.errors import GroupNotFound
from siyu.community.groups.models import (
    HEALTH_ROLES,
    CustomerGroup,
    GroupCode,
    GroupMessage,
    GroupWelcomeTemplate,
)
from siyu.core.errors import PermissionDenied
from siyu.staff.queries import has_role
from siyu.staff.roles import roles
from siyu.web.idempotency import IdempotencyKeyHeader, run_once
from siyu.web.schemas import LOOKUP_ERRORS, READ_ERRORS, WRITE_ERRORS

router = Router(tags=["community"])
groups_router = router  # the name siyu.api.api mounts

GroupTypeName = Literal["welfare", "vip", "product", "city", "other"]
MAX_PAGE_SIZE = 200
ID_MAX = 2**62  # within SQLite's and PostgreSQL's bigint
Id = Annotated[int, Path(ge=1, le=ID_MAX)]
ItemId = Annotated[int, Field(ge=1, le=ID_MAX)]


class CustomerGroupOut(Schema):
    id: int
    chat_id: str
    name: str
    owner_userid: str
    owner_user_id: int | None = Field(description="the Siyu user who owns the group in WeCom, when known")
    store_id: int | None
    group_type: str
    tags: list[str]
    status: str
    member_count: int
    created_at: datetime | None
    dismissed_at: datetime | None
    synced_at: datetime | None


class GroupPageOut(Schema):
    items: list[CustomerGroupOut]
    total: int
    page: int
    page_size: int


class CustomerGroupIn(Schema):
    group_type: GroupTypeName | None = None
    tags: list[Annotated[str, Field(max_length=50)]] | None = Field(None, max_length=20)
    store_id: int | None = Field(None, ge=0, le=ID_MAX, description="0 clears the store")


class GroupMemberOut(Schema):
    member_id: str = Field(description="a staff userid or a customer's external_userid")
    is_staff: bool
    customer_id: int | None
    joined_at: datetime | None
    join_scene: int | None = Field(description="1 invited, 2 invitation link, 3 QR code")
    inviter: str
    left_at: datetime | None
    quit_scene: int | None = Field(description="0 left, 1 removed, 9 the group was dismissed")


class GroupMemberPageOut(Schema):
    items: list[GroupMemberOut]
    total: int
    page: int
    page_size: int


class DayOut(Schema):
    day: date
    members: int
    joins: int
    leaves: int


class LeaveRateOut(Schema):
    chat_id: str | None = None
    group_type: str
    members_at_start: int
    joins: int
    leaves: int
    early_leaves: int
    members_at_end: int
    leave_rate: float | None


class EarlyOut(Schema):
    joins: int
    early_leaves: int
    share: float | None
    customers: list[int] = Field(default_factory=list, description="early leavers known as customers (not on the health page)")


class GmvSideOut(Schema):
    customers: int
    buyers: int
    gmv: Decimal
    gmv_per_customer: Decimal | None


class GmvOut(Schema):
    members: GmvSideOut
    others: GmvSideOut


class DuplicateOut(Schema):
    chat_a: str
    chat_b: str
    shared: int
    share: float


class HealthOut(Schema):
    start: date
    end: date
    size: list[DayOut]
    by_type: list[LeaveRateOut]
    by_group: list[LeaveRateOut]
    early: EarlyOut
    gmv: GmvOut
    duplicates: list[DuplicateOut]


class GroupCodeOut(Schema):
    id: int
    name: str
    config_id: str
    qr_url: str
    state: str
    group_type: str
    group_ids: list[int]
    auto_create_room: bool
    room_base_name: str
    room_base_id: int
    rotate_at: int
    archived_at: datetime | None
    created_at: datetime


class GroupCodeIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    group_ids: list[ItemId] = Field(..., min_length=1, max_length=5)
    state: str = Field("", max_length=30, description="comes back with every join (WeCom's state)")
    remark: str = Field("", max_length=30)
    group_type: GroupTypeName | Literal[""] = ""
    auto_create_room: bool = True
    room_base_name: str = Field("", max_length=40)
    room_base_id: int = Field(1, ge=1, le=1_000_000)
    rotate_at: int = Field(actions.ROTATE_AT, ge=2, le=200, description="move on from a group at this size")


class GroupCodeChangeIn(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    group_ids: list[ItemId] | None = Field(None, min_length=1, max_length=5)
    state: str | None = Field(None, max_length=30)
    remark: str | None = Field(None, max_length=30)
    auto_create_room: bool | None = None
    room_base_name: str | None = Field(None, max_length=40)
    rotate_at: int | None = Field(None, ge=2, le=200)


class TemplateOut(Schema):
    id: int
    name: str
    text: str
    material_id: int | None
    template_id: str
    updated_at: datetime


class TemplateIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    text: str = Field("", max_length=4000)
    material_id: int | None = Field(None, ge=1, le=ID_MAX)


class MessageIn(Schema):
    group_ids: list[ItemId] = Field(..., min_length=1, max_length=2000)
    text: str = Field("", max_length=4000)
    material_id: int | None = Field(None, ge=1, le=ID_MAX)


class MessageOut(Schema):
    id: int
    group_ids: list[int]
    msgids: dict[str, str] = Field(description="owner userid → WeCom's msgid (the owner confirms it in WeCom)")
    failures: dict[str, str]
    refused: dict[str, str] = Field(
        description="chat id → why the contact policy left that group out (group_daily, group_monthly, quiet_hours)"
    )
    refused_text: str = Field(description="the same, in the operator's language (empty when no group was left out)")
    customers_reached: int = Field(description="identified customers in the groups sent to who may be messaged")
    customers_opted_out: int = Field(description="identified customers in them who opted out: not counted as reached")
    created_at: datetime
    sent_at: datetime


def group_dict(group: CustomerGroup) -> dict:
    return {"id": group.pk, "chat_id": group.chat_id, "name": group.name, "owner_userid": group.owner_userid,
            "owner_user_id": group.owner.user_id if group.owner else None, "store_id": group.store_id,
            "group_type": group.group_type, "tags": list(group.tags or []), "status": group.status,
            "member_count": group.member_count, "created_at": group.created_at, "dismissed_at": group.dismissed_at,
            "synced_at": group.synced_at}  # fmt: skip


def code_dict(code: GroupCode) -> dict:
    return {"id": code.pk, "name": code.name, "config_id": code.config_id, "qr_url": code.qr_url, "state": code.state,
            "group_type": code.group_type, "group_ids": [g.pk for g in code.current_groups()],
            "auto_create_room": code.auto_create_room, "room_base_name": code.room_base_name,
            "room_base_id": code.room_base_id, "rotate_at": code.rotate_at, "archived_at": code.archived_at,
            "created_at": code.created_at}  # fmt: skip


def template_dict(t: GroupWelcomeTemplate) -> dict:
    return {"id": t.pk, "name": t.name, "text": t.text, "material_id": t.material_id, "template_id": t.template_id,
            "updated_at": t.updated_at}  # fmt: skip


def message_dict(m: GroupMessage) -> dict:
    return {"id": m.pk, "group_ids": sorted(m.groups.values_list("pk", flat=True)), "msgids": m.msgids,
            "failures": m.failures, "refused": m.refused, "refused_text": actions.refusal_text(m),
            "customers_reached": m.customers_reached, "customers_opted_out": m.customers_opted_out,
            "created_at": m.created_at, "sent_at": m.sent_at}  # fmt: skip


def _group(user, group_id: int) -> CustomerGroup:
    try:
        return queries.group_for(user, group_id)
    except CustomerGroup.DoesNotExist as exc:
        raise GroupNotFound(f"no customer group {group_id}") from exc


def _code(code_id: int) -> GroupCode:
    code = GroupCode.objects.filter(pk=code_id).first()
    if code is None:
        raise GroupNotFound(f"no group code {code_id}")
    return code


def _managers_only(user) -> None:
    if not has_role(user, HEALTH_ROLES):
        raise PermissionDenied("group codes, welcome messages and health are for admins, operators and managers")


Page = Annotated[int, Query(ge=1, le=1_000_000)]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]


@router.get("/community/groups", response={200: GroupPageOut, **READ_ERRORS}, summary="Customer groups you may see")
def list_groups(request, group_type: GroupTypeName | None = None, store_id: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
                search: Annotated[str, Query(max_length=100)] = "", include_dismissed: bool = False,
                page: Page = 1, page_size: PageSize = 50):  # fmt: skip
    groups = queries.groups_for(request.auth, group_type or "", store_id, search, include_dismissed)
    total = groups.count()
    items = groups[(page - 1) * page_size : page * page_size]
    return {"items": [group_dict(g) for g in items], "total": total, "page": page, "page_size": page_size}


@router.get("/community/groups/health", response={200: HealthOut, **READ_ERRORS},
            summary="Group health: size, joins and leaves, leave rates, early leavers, member GMV, duplicates")  # fmt: skip
def group_health(request, start: date | None = None, end: date | None = None, group_type: GroupTypeName | None = None):
    _managers_only(request.auth)
    return queries.group_health(start, end, group_type=group_type or "")


@router.get("/community/groups/{group_id}", response={200: CustomerGroupOut, **LOOKUP_ERRORS}, summary="A customer group")
def get_group(request, group_id: Id):
    return group_dict(_group(request.auth, group_id))


@router.post("/community/groups/{group_id}", response={200: CustomerGroupOut, **WRITE_ERRORS},
             summary="Set a group's type, tags or store")  # fmt: skip
@roles(*actions.MANAGING_ROLES)
def update_group(request, response: HttpResponse, group_id: Id, body: CustomerGroupIn, idempotency_key: IdempotencyKeyHeader):
    def run():
        group = _group(request.auth, group_id)
        return group_dict(actions.update_group(request.auth, group, body.group_type, body.tags, body.store_id))

    return run_once(request, response, idempotency_key, body, run)


@router.get("/community/groups/{group_id}/members", response={200: GroupMemberPageOut, **LOOKUP_ERRORS},
            summary="A group's members (current, or every stay with left ones)")  # fmt: skip
def group_members(request, group_id: Id, current_only: bool = True, page: Page = 1, page_size: PageSize = 100):
    stays = queries.members_of(_group(request.auth, group_id), current_only)
    total = stays.count()
    items = stays[(page - 1) * page_size : page * page_size].values(*GroupMemberOut.model_fields)
    return {"items": list(items), "total": total, "page": page, "page_size": page_size}


@router.get("/community/group-codes", response={200: list[GroupCodeOut], **READ_ERRORS}, summary="Live group codes")
def list_codes(request):
    _managers_only(request.auth)
    return [code_dict(c) for c in queries.live_codes()]


@router.post("/community/group-codes", response={201: GroupCodeOut, **WRITE_ERRORS},
             summary="Create a group code (a WeCom join way over up to 5 groups)")  # fmt: skip
@roles(*actions.MANAGING_ROLES)
def create_code(request, response: HttpResponse, body: GroupCodeIn, idempotency_key: IdempotencyKeyHeader):
    def run():
        data = body.dict()
        return code_dict(actions.create_group_code(request.auth, data.pop("name"), data.pop("group_ids"), **data))

    return run_once(request, response, idempotency_key, body, run, status=201)


@router.get("/community/group-codes/{code_id}", response={200: GroupCodeOut, **LOOKUP_ERRORS}, summary="A group code")
def get_code(request, code_id: Id):
    _managers_only(request.auth)
    return code_dict(_code(code_id))


@router.post("/community/group-codes/{code_id}", response={200: GroupCodeOut, **WRITE_ERRORS},
             summary="Change a group code (its printed QR image stays valid)")  # fmt: skip
@roles(*actions.MANAGING_ROLES)
def update_code(request, response: HttpResponse, code_id: Id, body: GroupCodeChangeIn, idempotency_key: IdempotencyKeyHeader):
    def run():
        data = body.dict()
        group_ids = data.pop("group_ids")
        return code_dict(actions.update_group_code(request.auth, _code(code_id), group_ids=group_ids, **data))

    return run_once(request, response, idempotency_key, body, run)


@router.delete("/community/group-codes/{code_id}", response={200: GroupCodeOut, **WRITE_ERRORS},
               summary="Archive a group code (its join way is deleted in WeCom)")  # fmt: skip
@roles(*actions.MANAGING_ROLES)
def archive_code(request, response: HttpResponse, code_id: Id, idempotency_key: IdempotencyKeyHeader):
    return run_once(request, response, idempotency_key, {"code_id": code_id},
                    lambda: code_dict(actions.archive_group_code(request.auth, _code(code_id))))  # fmt: skip


@router.get("/community/group-welcome-templates", response={200: list[TemplateOut], **READ_ERRORS},
            summary="Group welcome messages")  # fmt: skip
def list_templates(request):
    _managers_only(request.auth)
    return [template_dict(t) for t in queries.welcome_templates()]


@router.post("/community/group-welcome-templates", response={201: TemplateOut, **WRITE_ERRORS},
             summary="Create a group welcome message (registered in WeCom)")  # fmt: skip
@roles(*actions.MANAGING_ROLES)
def create_template(request, response: HttpResponse, body: TemplateIn, idempotency_key: IdempotencyKeyHeader):
    def run():
        return template_dict(actions.save_group_welcome_template(request.auth, body.name, body.text, body.material_id))

    return run_once(request, response, idempotency_key, body, run, status=201)


def _template(template_id: int) -> GroupWelcomeTemplate:
    template = queries.welcome_templates().filter(pk=template_id).first()
    if template is None:
        raise GroupNotFound(f"no group welcome message {template_id}")
    return template


@router.post("/community/group-welcome-templates/{template_id}", response={200: TemplateOut, **WRITE_ERRORS},
             summary="Change a group welcome message")  # fmt: skip
@roles(*actions.MANAGING_ROLES)
def update_template(request, response: HttpResponse, template_id: Id, body: TemplateIn,
                    idempotency_key: IdempotencyKeyHeader):  # fmt: skip
    def run():
        return template_dict(actions.save_group_welcome_template(
            request.auth, body.name, body.text, body.material_id, template=_template(template_id)))

    return run_once(request, response, idempotency_key, body, run)


class WelcomeDeletedOut(Schema):
    deleted: int


@router.delete("/community/group-welcome-templates/{template_id}", response={200: WelcomeDeletedOut, **WRITE_ERRORS},
               summary="Delete a group welcome message (in WeCom too)")  # fmt: skip
@roles(*actions.MANAGING_ROLES)
def delete_template(request, response: HttpResponse, template_id: Id, idempotency_key: IdempotencyKeyHeader):
    def run():
        actions.delete_group_welcome_template(request.auth, _template(template_id))
        return {"deleted": template_id}

    return run_once(request, response, idempotency_key, {"template_id": template_id}, run)


@router.post("/community/group-messages", response={201: MessageOut, **WRITE_ERRORS},
             summary="A mass message to customer groups (one WeCom task per owner, for their chosen groups)")  # fmt: skip
def send_group_message(request, response: HttpResponse, body: MessageIn, idempotency_key: IdempotencyKeyHeader):
    def run():
        for group_id in body.group_ids:
            _group(request.auth, group_id)  # a guide names only groups they can see
        return message_dict(actions.send_group_message(request.auth, body.group_ids, body.text, body.material_id))

    return run_once(request, response, idempotency_key, body, run, status=201)
