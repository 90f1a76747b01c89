"""Messaging's state: channel accounts, the outbox (Send), the contact policy, template refusals, WeCom's
corporate tags and customer transfers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings as django_settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Channel(models.TextChoices):
    """Where a send goes. `wecom` is a mass message (add_msg_template) from the customer's staff contact;
    `wecom_app` is an app message to a staff member (a guide), not to a customer."""

    WECOM = "wecom", _("WeCom mass message")
    WECOM_APP = "wecom_app", _("WeCom app message")
    WECOM_WELCOME = "wecom_welcome", _("WeCom welcome message")
    OFFICIAL_ACCOUNT = "official_account", _("Official account template message")
    MINI_PROGRAM = "mini_program", _("Mini program subscription message")
    SMS = "sms", _("SMS")
    EMAIL = "email", pgettext_lazy("send channel", "Email")
    WEBHOOK = "webhook", _("Webhook")
    # A guide's 1-on-1 contact (a guide task): goes through the contact policy like every send, but a
    # person delivers it, so the worker never claims it; completing the task marks it sent.
    GUIDE = "guide", _("Guide 1-on-1")


# Channels a person delivers (siyu.engagement.guides.actions); the delivery worker leaves them alone.
STAFF_DELIVERED = frozenset({Channel.GUIDE})


class Provider(models.TextChoices):
    WECOM = "wecom", _("WeCom")
    ALIYUN = "aliyun", _("Aliyun SMS")
    TENCENT = "tencent", _("Tencent Cloud SMS")
    SMTP = "smtp", _("SMTP")
    WEBHOOK = "webhook", _("Webhook")
    WECHAT_OA = "wechat_oa", _("WeChat official account")
    WECHAT_MP = "wechat_mp", _("WeChat mini program")


# The providers each configurable channel may use; wecom_app uses the wecom account.
CHANNEL_PROVIDERS = {
    Channel.WECOM: (Provider.WECOM,),
    Channel.SMS: (Provider.ALIYUN, Provider.TENCENT),
    Channel.EMAIL: (Provider.SMTP,),
    Channel.WEBHOOK: (Provider.WEBHOOK,),
    Channel.OFFICIAL_ACCOUNT: (Provider.WECHAT_OA,),
    Channel.MINI_PROGRAM: (Provider.WECHAT_MP,),
}
ACCOUNT_OF = {Channel.WECOM_APP: Channel.WECOM, Channel.WECOM_WELCOME: Channel.WECOM}


def channels_of_account(account_channel: str) -> list[str]:
    """The send channels that go through the account of this channel (wecom: wecom, wecom_app, …)."""
    return [c for c in Channel.values if ACCOUNT_OF.get(c, c) == account_channel]


class ChannelAccount(models.Model):
    """One provider account per channel. `settings` holds what is not secret (corp id, sign name, host…);
    `secrets` is AES-GCM ciphertext (siyu.core.pii) of the secrets, never shown back in clear."""

    channel = models.CharField(
        max_length=16, unique=True, choices=[(c.value, c.label) for c in CHANNEL_PROVIDERS]
    )
    provider = models.CharField(max_length=16, choices=Provider.choices)
    enabled = models.BooleanField(default=True)
    settings = models.JSONField(default=dict, blank=True)
    secrets = models.BinaryField(null=True, blank=True)
    updated_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    updated_at = models.DateTimeField(auto_now=True)
    # The provider's circuit breaker (siyu.engagement.messaging.actions, "provider outages"): consecutive
    # sends it could not take, since when it is held as unreachable, and when the next single probe send may go.
    outage_failures = models.PositiveIntegerField(default=0)
    outage_since = models.DateTimeField(null=True, blank=True)
    probe_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.channel} ({self.provider})"


class Send(models.Model):
    """One message to one recipient: the outbox row. Its idempotency key makes every enqueue repeatable."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SUPPRESSED = "suppressed", _("Suppressed")
        SENDING = "sending", _("Sending")
        SENT = "sent", pgettext_lazy("status of a send", "Sent")
        FAILED_RETRYABLE = "failed_retryable", _("Failed, will retry")
        FAILED_PERMANENT = "failed_permanent", _("Failed")

    class Source(models.TextChoices):
        JOURNEY = "journey", _("Journey")
        CAMPAIGN = "campaign", _("Campaign")
        TASK = "task", _("Guide task")
        MANUAL = "manual", _("Manual")

    idempotency_key = models.CharField(max_length=200, unique=True)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    customer_id = models.BigIntegerField(null=True, blank=True)
    member = models.CharField(max_length=64, blank=True)  # WeCom userid of a staff recipient (wecom_app)
    template = models.CharField(max_length=100, blank=True)  # provider template (SMS) or subject line name
    subject = models.CharField(max_length=200, blank=True)
    content = models.TextField(blank=True)
    variables = models.JSONField(default=dict, blank=True)
    priority = models.SmallIntegerField(default=0)  # higher wins a contended cap
    marketing = models.BooleanField(default=True)  # transactional sends skip caps, quiet hours and holdouts
    # the targeting used profiling (segments, predictions): see `purpose` and the policy's docstring
    personalised = models.BooleanField(default=False)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    source_id = models.CharField(max_length=64, blank=True)  # the journey / campaign / task
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    reason = models.CharField(
        max_length=32, blank=True
    )  # why it was suppressed (siyu.engagement.messaging.policy)
    scheduled_at = models.DateTimeField()  # the slot the policy gave it (after quiet hours)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=64, blank=True)
    # Set just before the provider is called: a crash after it leaves the outcome unknown (see actions).
    dispatched_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    touch_written = models.BooleanField(default=False)
    provider_message_id = models.CharField(max_length=100, blank=True)
    record_key = models.CharField(max_length=200, blank=True)  # the warehouse record the address came from
    sender = models.CharField(
        max_length=64, blank=True
    )  # the staff member a WeCom mass message goes out from
    receipt = models.CharField(max_length=16, blank=True)  # delivered | failed, from provider receipts
    receipt_checked_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        # Partial indexes: a journey's sends are mostly suppressed, of customers, by no user, and an index
        # entry for each of those costs as much as the row (docs/benchmarks.md, `siyu bench dispatch`).
        indexes = [
            models.Index(
                fields=["status", "next_attempt_at"],
                name="send_due",
                condition=Q(next_attempt_at__isnull=False),
            ),
            models.Index(fields=["customer_id", "scheduled_at"], name="send_customer_time"),
            models.Index(
                fields=["member", "scheduled_at"], name="send_member_time", condition=Q(channel="wecom_app")
            ),
            models.Index(
                fields=["created_by"], name="send_created_by", condition=Q(created_by__isnull=False)
            ),
        ]

    def __str__(self):
        return f"send {self.pk} {self.channel} → {self.customer_id or self.member} ({self.status})"

    @property
    def purpose(self) -> str:
        """service | marketing_general | marketing_personalised (siyu.engagement.messaging.policy)."""
        return send_purpose(self.marketing, self.personalised)


PURPOSES = ("service", "marketing_general", "marketing_personalised")


def send_purpose(marketing: bool, personalised: bool) -> str:
    """A send's purpose from its two flags: a service message is never personalised marketing."""
    if not marketing:
        return "service"
    return "marketing_personalised" if personalised else "marketing_general"


def _default_consent_channels():
    return ["sms", "email"]


class ContactPolicy(models.Model):
    """The one contact policy (a single row, pk=1), edited by admins. Defaults in docs/user-guide.*."""

    quiet_start = models.TimeField(default=dt.time(21, 0))
    quiet_end = models.TimeField(default=dt.time(9, 0))
    marketing_cap = models.PositiveSmallIntegerField(default=2)
    marketing_cap_days = models.PositiveSmallIntegerField(default=7)
    # {"sms": [1, 7]}: at most 1 marketing sms per customer per 7 days, on top of the global cap
    channel_caps = models.JSONField(default=dict, blank=True)
    # WeCom: a customer gets at most as many mass messages a month as the month has days; an admin can
    # tighten it in WeCom to one a day, and must then say so here.
    wecom_one_per_day = models.BooleanField(default=False)
    holdout_percent = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("5.00"))
    # channels where a marketing send needs a recorded opt-in (not just the absence of an opt-out)
    consent_required_channels = models.JSONField(default=_default_consent_channels, blank=True)
    # a marketing send that could not go out within this many hours of its slot is dropped (expired)
    max_delay_hours = models.PositiveSmallIntegerField(default=24)
    updated_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    updated_at = models.DateTimeField(auto_now=True)


# --- content library and guide tasks ---------------------------------------------------------------------
# Scripts (话术) with {variable} placeholders (siyu.engagement.content.scripts), materials (images, links,
# mini-program cards, cases, UGC buyer shows) and guide tasks (1-on-1 contacts by a customer's guide).
# State changes: siyu.engagement.content.actions and siyu.engagement.guides.actions.


class TemplateRefusal(models.Model):
    """A customer refused one message template (WeChat 43101: a mini-program subscribe message they did not
    authorise, or an official-account template they blocked). In force until a later opt-in of the channel
    is recorded; the contact policy suppresses sends of that template as `template_refused`."""

    customer_id = models.BigIntegerField(db_index=True)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    template = models.CharField(max_length=100)
    source = models.CharField(max_length=100)
    recorded_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer_id", "channel", "template"], name="template_refusal_once"
            )
        ]


class WeComCorpTag(models.Model):
    """WeCom's corporate tag library as last synced: WeCom's tag id ↔ the Siyu tag `组名:标签`. Lets a sync take
    off the tags WeCom no longer has on a customer, and `mark_wecom_tag` find the WeCom id of a tag."""

    wecom_id = models.CharField(max_length=100, unique=True)  # WeCom's tag id
    group_name = models.CharField(max_length=100)
    name = models.CharField(max_length=100)
    tag = models.ForeignKey("customers.Tag", null=True, blank=True, on_delete=models.SET_NULL)
    deleted = models.BooleanField(default=False)
    synced_at = models.DateTimeField()

    @property
    def label(self) -> str:
        return f"{self.group_name}:{self.name}" if self.group_name else self.name


class WeComTransfer(models.Model):
    """A customer handed from one staff member to another through WeCom (在职继承, transfer_customer).
    WeCom allows a customer at most two transfers in 90 days; these rows let Siyu refuse a third before
    asking (transfers made outside Siyu are refused by WeCom itself)."""

    customer_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    external_userid = models.CharField(max_length=100, db_index=True)
    handover_userid = models.CharField(max_length=64)
    takeover_userid = models.CharField(max_length=64)
    transferred_at = models.DateTimeField()
    transferred_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
