"""/api/sends: enqueue a send through the contact policy, read the outbox and a customer's sends (with
their suppressions); /api/wecom: corporate tags and customer transfers. Mounted by siyu.api.api."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from django.http import HttpResponse
from ninja import Field, Path, Query, Router, Schema

from siyu.core.errors import PermissionDenied
from siyu.core.timeutil import as_platform_time
from siyu.customers import queries as customer_queries
from siyu.engagement.errors import EngagementError
from siyu.engagement.messaging import actions, queries
from siyu.engagement.messaging.channel_actions import mark_wecom_tag as mark
from siyu.engagement.messaging.channel_actions import transfer_wecom_customers as transfer
from siyu.engagement.messaging.models import Send
from siyu.engagement.messaging.policy import REASONS, SendRequest
from siyu.staff.models import Role
from siyu.staff.queries import ASSIGN_ROLES, has_role
from siyu.staff.roles import roles
from siyu.web.idempotency import IdempotencyKeyHeader, run_once
from siyu.web.schemas import READ_ERRORS, WRITE_ERRORS, ErrorOut

router = Router(tags=["engagement"])

ChannelName = Literal["wecom", "wecom_app", "sms", "email", "webhook", "official_account", "mini_program"]
OUTBOX_ROLES = {Role.ADMIN, Role.OPERATOR}


class SendIn(Schema):
    channel: ChannelName
    customer_id: int | None = Field(
        None, ge=1, le=customer_queries.CUSTOMER_ID_MAX, description="the recipient"
    )
    member: str = Field("", max_length=64, description="WeCom userid of a staff recipient (wecom_app only)")
    template: str = Field("", max_length=100, description="SMS template code / id, or a template name")
    subject: str = Field("", max_length=200)
    content: str = Field(
        "", max_length=10_000, description="text; {name} placeholders are filled from variables"
    )
    variables: dict[str, str | int | float | list[str]] = Field(default_factory=dict)
    priority: int = Field(0, ge=-100, le=100, description="higher wins a contended frequency cap")
    marketing: bool = Field(
        True, description="false for transactional sends (no caps, quiet hours, holdouts)"
    )
    personalised: bool = Field(
        False,
        description="a marketing send whose audience was chosen by profiling (segments, predictions): "
        "refused for customers who opted out of personalised marketing",
    )
    source: Literal["journey", "campaign", "task", "manual"] = "manual"
    source_id: str = Field("", max_length=64)
    source_holdout_percent: float | None = Field(None, ge=0, le=50, description="the source's own holdout")
    send_at: datetime | None = Field(
        None, description="not before this time (default now); naive = Asia/Shanghai"
    )


class SendOut(Schema):
    id: int
    idempotency_key: str
    channel: str
    customer_id: int | None
    member: str
    template: str
    priority: int
    marketing: bool
    purpose: Literal["service", "marketing_general", "marketing_personalised"]
    source: str
    source_id: str
    status: str
    reason: str = Field(description="why it was suppressed; empty otherwise")
    reason_text: str
    scheduled_at: datetime
    attempts: int
    sent_at: datetime | None
    last_error: str
    created_at: datetime


class SendPageOut(Schema):
    items: list[SendOut]
    total: int
    page: int
    pages: int
    page_size: int


def send_dict(send: Send) -> dict:
    return {
        "id": send.pk,
        "idempotency_key": send.idempotency_key,
        "channel": send.channel,
        "customer_id": send.customer_id,
        "member": send.member,
        "template": send.template,
        "priority": send.priority,
        "marketing": send.marketing,
        "purpose": send.purpose,
        "source": send.source,
        "source_id": send.source_id,
        "status": send.status,
        "reason": send.reason,
        "reason_text": str(REASONS.get(send.reason, "")),
        "scheduled_at": send.scheduled_at,
        "attempts": send.attempts,
        "sent_at": send.sent_at,
        "last_error": send.last_error,
        "created_at": send.created_at,
    }


def _page(result: dict) -> dict:
    return {**result, "items": [send_dict(s) for s in result["items"]]}


def check_can_send(user, customer_id: int | None) -> None:
    """Admins and operators send to anyone; managers and guides only to the customers they can see."""
    if customer_id is None:
        if not has_role(user, OUTBOX_ROLES):
            raise PermissionDenied("only an admin or operator can message staff members")
        return
    customer_queries.check_access(user, [customer_id])
    customer_queries.require_customers([customer_id])


@router.post(
    "/sends", response={201: SendOut, **WRITE_ERRORS}, summary="Enqueue a send through the contact policy"
)
def enqueue_send(request, response: HttpResponse, body: SendIn, idempotency_key: IdempotencyKeyHeader):
    def run():
        check_can_send(request.auth, body.customer_id)
        send_request = SendRequest(
            # the outbox key is unique across users; the API key is unique per user
            idempotency_key=f"api:{request.auth.pk}:{idempotency_key.strip()}"[:200],
            **body.dict(exclude={"send_at"}),
            send_at=as_platform_time(body.send_at),
        )
        return send_dict(actions.enqueue_send(send_request, actor=request.auth))

    return run_once(request, response, idempotency_key, body, run, status=201)


@router.get("/sends", response={200: SendPageOut, **READ_ERRORS}, summary="The outbox, filtered")
def list_sends(
    request,
    status: Literal["queued", "suppressed", "sending", "sent", "failed_retryable", "failed_permanent"]
    | None = None,
    channel: ChannelName | None = None,
    reason: Annotated[str | None, Query(max_length=32)] = None,
    source: Literal["journey", "campaign", "task", "manual"] | None = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=queries.MAX_PAGE_SIZE)] = 50,
):
    if not has_role(request.auth, OUTBOX_ROLES):
        raise PermissionDenied("only an admin or operator can read the whole outbox")
    return _page(
        queries.list_sends(
            status=status, channel=channel, reason=reason, source=source, page=page, page_size=page_size
        )
    )


@router.get(
    "/customers/{customer_id}/sends",
    response={200: SendPageOut, **READ_ERRORS, 404: ErrorOut},
    summary="A customer's sends and suppressions",
)
def customer_sends(
    request,
    customer_id: Annotated[int, Path(ge=1, le=customer_queries.CUSTOMER_ID_MAX)],
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=queries.MAX_PAGE_SIZE)] = 50,
):
    customer_queries.check_access(request.auth, [customer_id])
    customer_queries.require_customers([customer_id])
    return _page(queries.list_sends(customer_id=customer_id, page=page, page_size=page_size))


# --- WeCom customer contact: corporate tags and transfers ---------------------------------------------

CustomerIds = Annotated[
    list[customer_queries.CustomerId],
    Field(min_length=1, max_length=1000),
]


class WeComTagIn(Schema):
    customer_ids: CustomerIds
    label: str = Field(..., min_length=1, max_length=201, description="组名:标签 of a synced corporate tag")
    remove: bool = Field(False, description="take the tag off instead")


class WeComTagOut(Schema):
    marked: int
    failed: dict[str, str] = Field(description="customer id → why WeCom did not take it")


@router.post("/wecom/tags", response={200: WeComTagOut, **WRITE_ERRORS},
             summary="Mark (or remove) a WeCom corporate tag on customers, in WeCom and in Siyu")  # fmt: skip
def mark_wecom_tag(request, response: HttpResponse, body: WeComTagIn, idempotency_key: IdempotencyKeyHeader):
    def run():
        result = mark(request.auth, body.customer_ids, body.label, remove=body.remove)
        return {"marked": result["marked"], "failed": {str(k): v for k, v in result["failed"].items()}}

    return run_once(request, response, idempotency_key, body, run)


class WeComTransferIn(Schema):
    customer_ids: CustomerIds
    to_user_id: int = Field(..., ge=1, description="the user id of the guide who takes the customers over")
    message: str = Field("", max_length=200, description="what WeCom shows the customers")


class WeComTransferOut(Schema):
    transferred: list[int]
    refused: dict[str, str] = Field(description="customer id → why it was not transferred")


@router.post("/wecom/transfers", response={200: WeComTransferOut, **WRITE_ERRORS},
             summary="Transfer customers to another guide in WeCom (在职继承) and make them the owner")  # fmt: skip
@roles(*ASSIGN_ROLES)
def transfer_wecom_customers(
    request, response: HttpResponse, body: WeComTransferIn, idempotency_key: IdempotencyKeyHeader
):
    from django.contrib.auth import get_user_model


    def run():
        guide = get_user_model().objects.filter(pk=body.to_user_id, is_active=True).first()
        if guide is None:
            raise EngagementError(f"no active user {body.to_user_id}")
        result = transfer(request.auth, body.customer_ids, guide, message=body.message)
        return {
            "transferred": result["transferred"],
            "refused": {str(k): v for k, v in result["refused"].items()},
        }

    return run_once(request, response, idempotency_key, body, run)
