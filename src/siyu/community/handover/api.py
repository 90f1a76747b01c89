"""/api/community/handovers: start a 离职继承 of a resigned staff member's customers and groups, list every
handover (离职继承 and 在职转接 side by side), one handover's items with WeCom's outcome, and check the
outcomes now. Admin, operator and store manager accounts. Mounted by siyu.api.api as
`siyu.community.handover.api.router`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from django.contrib.auth import get_user_model
from django.http import HttpResponse
from ninja import Field, Path, Router, Schema

from siyu.community.handover import actions, queries
from siyu.community.handover.errors import HandoverError
from siyu.core.errors import PermissionDenied
from siyu.staff.models import Role
from siyu.staff.queries import has_role
from siyu.staff.roles import roles
from siyu.web.idempotency import IdempotencyKeyHeader, run_once
from siyu.web.schemas import LOOKUP_ERRORS, READ_ERRORS, WRITE_ERRORS

router = Router(tags=["community"])

HandoverIdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="handover id")]


class HandoverIn(Schema):
    handover_userid: str = Field(min_length=1, max_length=64, description="WeCom userid of the resigned member")
    takeover_user_id: int = Field(ge=1, description="the Siyu user (a staff member) who takes over")
    chat_ids: list[str] | None = Field(None, description="groups to pass on; none: the groups Siyu knows they owned")


class HandoverOut(Schema):
    kind: str = Field(description="resigned (离职继承) or on_job (在职转接)")
    handover_id: int | None
    handover_userid: str
    takeover_userid: str
    at: datetime
    customers: int
    groups: int
    accepted: int
    waiting: int
    refused: int


class ItemOut(Schema):
    kind: str = Field(description="customer or group")
    external_userid: str
    chat_id: str
    customer_id: int | None
    status: int | None = Field(description="WeCom's: 1 taken over, 2 waiting, 3 refused, 4 takeover full, 5 none")
    errcode: int | None
    refusal: str = Field(description="transfer_limit (two in 90 days), wecom (refused by WeCom) or empty")
    outcome: str = Field(description="accepted, waiting or refused")
    checked_at: datetime | None
    takeover_time: datetime | None
    owner_assigned: bool


class CheckOut(Schema):
    handovers: int
    checked: int
    accepted: int
    refused: int
    waiting: int
    owners_assigned: int


class HandoverCheckIn(Schema):
    pass


def _require(user) -> None:
    if not has_role(user, (Role.ADMIN, Role.OPERATOR, Role.MANAGER)):
        raise PermissionDenied("only an admin, operator or store manager can hand over customers")




@router.get("/community/handovers", response={200: list[HandoverOut], **READ_ERRORS},
            summary="Handovers: 离职继承 and 在职转接")  # fmt: skip
@roles(*actions.HANDOVER_ROLES)
def list_handovers(request):
    return queries.transfers_of_both_kinds()


@router.post("/community/handovers", response={201: HandoverOut, **WRITE_ERRORS},
             summary="Hand a resigned member's customers and groups to another")  # fmt: skip
@roles(*actions.HANDOVER_ROLES)
def start_handover(request, response: HttpResponse, body: HandoverIn, idempotency_key: IdempotencyKeyHeader):

    def run():
        takeover = get_user_model().objects.filter(pk=body.takeover_user_id, is_active=True).first()
        if takeover is None:
            raise HandoverError(f"no active user {body.takeover_user_id}")
        handover = actions.start_resigned_handover(request.auth, body.handover_userid, takeover, body.chat_ids)
        return next(r for r in queries.transfers_of_both_kinds() if r["handover_id"] == handover.pk)

    return run_once(request, response, idempotency_key, body, run, status=201)


@router.get("/community/handovers/{int:handover_id}/items", response={200: list[ItemOut], **LOOKUP_ERRORS},
            summary="A handover's customers and groups with WeCom's outcome")  # fmt: skip
@roles(*actions.HANDOVER_ROLES)
def handover_items(request, handover_id: HandoverIdPath):
    return [
        {"kind": i.kind, "external_userid": i.external_userid, "chat_id": i.chat_id, "customer_id": i.customer_id,
         "status": i.status, "errcode": i.errcode, "refusal": i.refusal, "outcome": queries.outcome_of(i),
         "checked_at": i.checked_at, "takeover_time": i.takeover_time, "owner_assigned": i.owner_assigned}
        for i in queries.items_of(handover_id)
    ]  # fmt: skip


@router.post("/community/handovers/check", response={200: CheckOut, **WRITE_ERRORS},
             summary="Ask WeCom for the outcome of open handovers now")  # fmt: skip
@roles(*actions.HANDOVER_ROLES)
def check(request, response: HttpResponse, body: HandoverCheckIn, idempotency_key: IdempotencyKeyHeader):
    return run_once(request, response, idempotency_key, {}, actions.check_handover_results)
