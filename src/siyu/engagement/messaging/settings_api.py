"""/api/contact-policy and /api/channel-accounts: what the console's policy and channel pages show and change,
with the same permissions and the same actions (siyu.engagement.messaging.actions): anyone who may import
(admins, operators) reads the policy, only admins change it; only admins read and change channel accounts.
A secret is never returned: a set one shows as a mask. Mounted by siyu.api.api in the `engagement` area."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from django.http import HttpResponse
from ninja import Field, Path, Router, Schema

from siyu.core.errors import NotFound, PermissionDenied
from siyu.engagement.messaging import actions, queries
from siyu.engagement.messaging.models import ChannelAccount
from siyu.engagement.messaging.policy import current_policy
from siyu.staff.models import Role
from siyu.staff.queries import can_import
from siyu.staff.roles import roles
from siyu.web.idempotency import IdempotencyKeyHeader, run_once
from siyu.web.schemas import LOOKUP_ERRORS, READ_ERRORS, WRITE_ERRORS

router = Router(tags=["engagement"])

SECRET_MASK = "********"
CustomerChannel = Literal["wecom", "sms", "email", "webhook", "official_account", "mini_program"]
AccountChannel = Annotated[CustomerChannel, Path(description="the channel whose account this is")]
# a wall-clock time without a zone (OpenAPI's `time` format demands an offset, which the policy has none of)
ClockTime = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM, platform time")]
ProviderName = Literal["wecom", "aliyun", "tencent", "smtp", "webhook", "wechat_oa", "wechat_mp"]


class ContactPolicyOut(Schema):
    quiet_start: str = Field(description="HH:MM, platform time (Asia/Shanghai)")
    quiet_end: str = Field(description="HH:MM, platform time (Asia/Shanghai)")
    marketing_cap: int = Field(description="marketing sends per customer per window, all channels")
    marketing_cap_days: int
    channel_caps: dict[str, list[int]] = Field(description="channel → [count, days], on top of the global cap")
    wecom_one_per_day: bool
    holdout_percent: Decimal
    consent_required_channels: list[str]
    max_delay_hours: int
    updated_at: datetime | None


class ContactPolicyIn(Schema):
    """Only the fields given change; the rules are the console's (siyu.engagement.messaging.actions)."""

    quiet_start: ClockTime | None = None
    quiet_end: ClockTime | None = None
    marketing_cap: int | None = Field(None, ge=0, le=100)
    marketing_cap_days: int | None = Field(None, ge=1, le=365)
    channel_caps: dict[CustomerChannel, Annotated[list[int], Field(min_length=2, max_length=2)]] | None = None
    wecom_one_per_day: bool | None = None
    holdout_percent: Decimal | None = Field(None, ge=0, le=50, max_digits=5, decimal_places=2)
    consent_required_channels: list[CustomerChannel] | None = Field(None, max_length=6)
    max_delay_hours: int | None = Field(None, ge=1, le=168)


def policy_dict(policy) -> dict:
    return {
        "quiet_start": policy.quiet_start.strftime("%H:%M"), "quiet_end": policy.quiet_end.strftime("%H:%M"),
        "marketing_cap": policy.marketing_cap,
        "marketing_cap_days": policy.marketing_cap_days, "channel_caps": dict(policy.channel_caps or {}),
        "wecom_one_per_day": policy.wecom_one_per_day, "holdout_percent": policy.holdout_percent,
        "consent_required_channels": list(policy.consent_required_channels or []),
        "max_delay_hours": policy.max_delay_hours, "updated_at": policy.updated_at,
    }  # fmt: skip


@router.get("/contact-policy", response={200: ContactPolicyOut, **READ_ERRORS}, summary="The contact policy")
def get_policy(request):
    if not can_import(request.auth):
        raise PermissionDenied("only admins and operators can see the contact policy")
    return policy_dict(current_policy())


@router.post("/contact-policy", response={200: ContactPolicyOut, **WRITE_ERRORS},
             summary="Change the contact policy (admins; only the fields given change)")  # fmt: skip
@roles(Role.ADMIN)
def change_policy(request, response: HttpResponse, body: ContactPolicyIn, idempotency_key: IdempotencyKeyHeader):
    def run():
        changes = {k: v for k, v in body.dict(exclude_unset=True).items() if v is not None}
        return policy_dict(actions.update_policy(request.auth, **changes))

    return run_once(request, response, idempotency_key, body, run)


class ChannelAccountOut(Schema):
    channel: str
    provider: str
    enabled: bool
    settings: dict[str, str]
    secrets: dict[str, str] = Field(description=f"the secrets that are set, each shown as {SECRET_MASK}")
    updated_at: datetime | None


class ChannelAccountIn(Schema):
    """As the console's form: `settings` replace the stored ones (a setting left out is cleared); a secret
    left out or empty keeps the stored one. The fields each provider takes are in the user guide."""

    provider: ProviderName
    enabled: bool = True
    settings: dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=dict, max_length=40)  # fmt: skip
    secrets: dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=4000)]] = Field(
        default_factory=dict, max_length=20)  # fmt: skip


def account_dict(account: ChannelAccount) -> dict:
    summary = queries.account_summary(account)
    return {
        "channel": summary["channel"], "provider": summary["provider"], "enabled": summary["enabled"],
        "settings": {k: str(v) for k, v in summary["settings"].items()},
        "secrets": {name: SECRET_MASK for name in summary["secrets_set"]}, "updated_at": summary["updated_at"],
    }  # fmt: skip


@router.get("/channel-accounts", response={200: list[ChannelAccountOut], **READ_ERRORS},
            summary="The channel accounts (admins; secrets masked)")  # fmt: skip
@roles(Role.ADMIN)
def list_accounts(request):
    return [account_dict(a) for a in ChannelAccount.objects.order_by("channel")]


@router.get("/channel-accounts/{channel}", response={200: ChannelAccountOut, **LOOKUP_ERRORS},
            summary="One channel's account (admins; secrets masked)")  # fmt: skip
@roles(Role.ADMIN)
def get_account(request, channel: AccountChannel):
    account = ChannelAccount.objects.filter(channel=channel).first()
    if account is None:
        raise NotFound(f"the {channel} channel has no account yet")
    return account_dict(account)


@router.post("/channel-accounts/{channel}", response={200: ChannelAccountOut, **WRITE_ERRORS},
             summary="Create or change a channel's account (admins)")  # fmt: skip
@roles(Role.ADMIN)
def configure_account(request, response: HttpResponse, channel: AccountChannel, body: ChannelAccountIn,
                      idempotency_key: IdempotencyKeyHeader):  # fmt: skip

    def run():
        account = actions.configure_account(request.auth, channel, body.provider, dict(body.settings),
                                            dict(body.secrets), enabled=body.enabled)  # fmt: skip
        return account_dict(account)

    return run_once(request, response, idempotency_key, {"channel": channel, **body.dict()}, run)
