"""Control-plane state of engagement: the outbox (one row per send), the channel accounts and the contact
policy. What was sent is also written to the warehouse (`touches`) for analytics; receipts come back as
warehouse `events`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings as django_settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    """Where a send goes. `wecom` is a mass message (add_msg_template) from the customer's staff contact;
    `wecom_app` is an app message to a staff member (a guide), not to a customer."""

    WECOM = "wecom", "企业微信群发"
    WECOM_APP = "wecom_app", "企业微信应用消息"
    WECOM_WELCOME = "wecom_welcome", "企业微信欢迎语"
    OFFICIAL_ACCOUNT = "official_account", "公众号模板消息"
    MINI_PROGRAM = "mini_program", "小程序订阅消息"
    SMS = "sms", "短信"
    EMAIL = "email", "邮件"
    WEBHOOK = "webhook", "Webhook"
    # A guide's 1-on-1 contact (a guide task): goes through the contact policy like every send, but a
    # person delivers it, so the worker never claims it; completing the task marks it sent.
    GUIDE = "guide", "导购一对一"


# Channels a person delivers (siyu.engagement.task_actions); the delivery worker leaves them alone.
STAFF_DELIVERED = frozenset({Channel.GUIDE})


class Provider(models.TextChoices):
    WECOM = "wecom", "企业微信"
    ALIYUN = "aliyun", "阿里云短信"
    TENCENT = "tencent", "腾讯云短信"
    SMTP = "smtp", "SMTP"
    WEBHOOK = "webhook", "Webhook"
    WECHAT_OA = "wechat_oa", "微信公众号"
    WECHAT_MP = "wechat_mp", "微信小程序"


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

    def __str__(self):
        return f"{self.channel} ({self.provider})"


class Send(models.Model):
    """One message to one recipient: the outbox row. Its idempotency key makes every enqueue repeatable."""

    class Status(models.TextChoices):
        QUEUED = "queued", "排队中"
        SUPPRESSED = "suppressed", "已拦截"
        SENDING = "sending", "发送中"
        SENT = "sent", "已发送"
        FAILED_RETRYABLE = "failed_retryable", "失败待重试"
        FAILED_PERMANENT = "failed_permanent", "失败"

    class Source(models.TextChoices):
        JOURNEY = "journey", "SOP"
        CAMPAIGN = "campaign", "活动"
        TASK = "task", "导购任务"
        MANUAL = "manual", "手动"

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
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    source_id = models.CharField(max_length=64, blank=True)  # the journey / campaign / task
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    reason = models.CharField(max_length=32, blank=True)  # why it was suppressed (siyu.engagement.policy)
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
                fields=["status", "next_attempt_at"], name="send_due", condition=Q(next_attempt_at__isnull=False)
            ),
            models.Index(fields=["customer_id", "scheduled_at"], name="send_customer_time"),
            models.Index(
                fields=["member", "scheduled_at"], name="send_member_time", condition=Q(channel="wecom_app")
            ),
            models.Index(fields=["created_by"], name="send_created_by", condition=Q(created_by__isnull=False)),
        ]

    def __str__(self):
        return f"send {self.pk} {self.channel} → {self.customer_id or self.member} ({self.status})"


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
# Scripts (话术) with {variable} placeholders (siyu.engagement.scripts), materials (images, links,
# mini-program cards, cases, UGC buyer shows) and guide tasks (1-on-1 contacts by a customer's guide).
# State changes: siyu.engagement.content_actions and siyu.engagement.task_actions.


class ScriptGroup(models.Model):
    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Script(models.Model):
    """A prepared message for staff (话术): text with {name}-style placeholders filled per customer."""

    group = models.ForeignKey(
        ScriptGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="scripts"
    )
    title = models.CharField(max_length=200)
    body = models.TextField()
    tags = models.CharField(max_length=300, blank=True)  # comma-separated (content_actions.clean_tags)
    archived = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-pk"]

    def __str__(self):
        return self.title


class Material(models.Model):
    """An image, link, mini-program card, case (案例) or UGC buyer show (买家秀). A buyer show belongs to a
    customer and may be used only while that customer's `ugc` consent is in force."""

    class Kind(models.TextChoices):
        IMAGE = "image", _("Image")
        LINK = "link", _("Link")
        MINI_PROGRAM = "mini_program", _("Mini-program card")
        CASE = "case", _("Case")
        UGC = "ugc", _("Buyer show")

    kind = models.CharField(max_length=16, choices=Kind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)  # description, the case's story, the buyer's own words
    tags = models.CharField(max_length=300, blank=True)
    url = models.CharField(max_length=500, blank=True)  # link
    image = models.CharField(max_length=300, blank=True)  # file under UPLOADS_DIR/materials (thumb of a card)
    appid = models.CharField(max_length=64, blank=True)  # mini-program card
    page_path = models.CharField(max_length=300, blank=True)  # mini-program card
    customer_id = models.BigIntegerField(null=True, blank=True, db_index=True)  # UGC: whose it is
    archived = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-pk"]

    def __str__(self):
        return f"{self.kind}: {self.title}"


class TaskBatch(models.Model):
    """One request to create guide tasks: who (a segment or a list), which script, how assigned."""

    class Assign(models.TextChoices):
        OWNER = "owner", _("Owner guide")
        CAPACITY = "capacity", _("By capacity")

    name = models.CharField(max_length=200)
    script = models.ForeignKey(Script, null=True, on_delete=models.SET_NULL, related_name="batches")
    # shown with every task; a buyer show only while its customer's consent is in force
    material = models.ForeignKey(
        Material, null=True, blank=True, on_delete=models.SET_NULL, related_name="batches"
    )
    segment_id = models.BigIntegerField(null=True, blank=True)
    assign = models.CharField(max_length=16, choices=Assign.choices, default=Assign.OWNER)
    store = models.ForeignKey(
        "staff.Store", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    max_open = models.PositiveIntegerField(null=True, blank=True)  # capacity: open tasks per guide at most
    due_at = models.DateTimeField()
    variables = models.JSONField(default=dict, blank=True)  # defaults for placeholders (e.g. product)
    source = models.CharField(max_length=16, default="task")  # what the touches count under
    source_id = models.CharField(max_length=64, blank=True)
    idempotency_key = models.CharField(max_length=200, unique=True, null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)  # tasks per status and reason, at creation
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return self.name


class GuideTask(models.Model):
    """A 1-on-1 contact a guide is asked to make. Its outbox row (`send`, channel `guide`) holds the
    contact-policy decision and becomes a touch when the guide records the contact."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")
        SUPPRESSED = "suppressed", _("Suppressed")
        CANCELLED = "cancelled", _("Cancelled")

    class Outcome(models.TextChoices):
        REACHED = "reached", _("Reached")
        NO_ANSWER = "no_answer", _("No answer")
        DECLINED = "declined", _("Declined")
        PURCHASE_INTENT = "purchase_intent", _("Purchase intent")

    batch = models.ForeignKey(TaskBatch, on_delete=models.CASCADE, related_name="tasks")
    customer_id = models.BigIntegerField(db_index=True)
    guide = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="guide_tasks",
    )  # fmt: skip
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    reason = models.CharField(max_length=32, blank=True)  # why suppressed (policy.REASONS, TASK_REASONS)
    message = models.TextField(blank=True)  # the script rendered for this customer
    missing_variables = models.JSONField(default=list, blank=True)
    due_at = models.DateTimeField()
    send = models.OneToOneField(Send, null=True, blank=True, on_delete=models.SET_NULL, related_name="task")
    contacted_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "customer_id"], name="guide_task_once_per_batch")
        ]
        indexes = [models.Index(fields=["guide", "status"], name="guide_task_guide_status")]

    def __str__(self):
        return f"task {self.pk} → {self.customer_id} ({self.status})"


# --- journeys (SOP) ------------------------------------------------------------------------------------


class Journey(models.Model):
    """An automated sequence of steps (SOP) a customer enters when its trigger fires. The trigger, goal and
    steps are JSON in the format of siyu.engagement.journeys (checked on save)."""

    class Status(models.TextChoices):
        DRAFT = "draft", "草稿"
        ACTIVE = "active", "运行中"
        PAUSED = "paused", "已暂停"

    class Reentry(models.TextChoices):
        ONCE = "once", "只进入一次"
        AFTER_EXIT = "after_exit", "结束后可再次进入"
        COOLDOWN = "cooldown", "结束满 N 天后可再次进入"

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    trigger = models.JSONField(default=dict)
    steps = models.JSONField(default=list)
    reentry = models.CharField(max_length=16, choices=Reentry.choices, default=Reentry.ONCE)
    reentry_days = models.PositiveSmallIntegerField(default=0)
    # the goal: a purchase within goal_days of entering (0: no goal)
    goal_days = models.PositiveSmallIntegerField(default=7)
    exit_on_goal = models.BooleanField(default=True)
    priority = models.SmallIntegerField(default=0)  # the priority of its sends in the contact policy
    holdout_percent = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("10.00"))
    # what one send costs (yuan), for the cost per incremental order of the lift report
    cost_per_send = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    activated_at = models.DateTimeField(null=True, blank=True)  # first activation: triggers look from here
    trigger_checked_at = models.DateTimeField(null=True, blank=True)  # the last trigger evaluation
    next_run_at = models.DateTimeField(null=True, blank=True)  # schedule triggers: the next run
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["-priority", "name"]

    def __str__(self):
        return self.name


class Enrollment(models.Model):
    """One customer's pass through a journey. `trigger_key` names the fact that let them in (an order, an
    event, a segment change, a date…), unique per journey, so evaluating a trigger twice enrols nobody
    twice. Due enrollments (status active, due_at ≤ now) are what a tick works on."""

    class Status(models.TextChoices):
        ACTIVE = "active", "进行中"
        EXITED = "exited", "已结束"

    # no index of its own: the composite indexes below start with the journey
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="enrollments", db_index=False)
    customer_id = models.BigIntegerField()
    trigger_key = models.CharField(max_length=200)
    holdout = models.BooleanField(default=False)  # in the journey's control group: never contacted
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    step_id = models.CharField(max_length=32)  # the step it is at (or exited from)
    step_entered_at = models.DateTimeField()
    due_at = models.DateTimeField()
    entered_at = models.DateTimeField()
    exited_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(max_length=16, blank=True)  # end | exit_step | goal | paused
    goal_met_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["journey", "trigger_key"], name="enrollment_trigger_once")
        ]
        indexes = [
            # Active rows only: what a tick (in id order per step), the live counts and the next due time
            # read. Most enrollments of a large campaign leave at once, and index entries for the exited
            # rows cost ~1.5 s a million.
            models.Index(fields=["journey", "step_id"], name="enrollment_at_step", condition=Q(status="active")),
            models.Index(fields=["journey", "due_at"], name="enrollment_due", condition=Q(status="active")),
            models.Index(fields=["journey", "customer_id"], name="enrollment_customer"),
        ]

    def __str__(self):
        return f"enrollment {self.pk}: customer {self.customer_id} in journey {self.journey_id} at {self.step_id}"


class StepCount(models.Model):
    """How many enrollments reached each step of a journey (holdout apart): the console's live counts."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="step_counts")
    step_id = models.CharField(max_length=32)
    entered = models.BigIntegerField(default=0)
    holdout_entered = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["journey", "step_id"], name="step_count_once")]


class Handoff(models.Model):
    """Work a journey hands to another part of Siyu that is not built here: a guide task (for the guide-task
    list) or points to award (for the points ledger). Each row is written once per enrollment and step
    (`idempotency_key`); the consumer marks it `consumed_at` when it has taken it."""

    class Kind(models.TextChoices):
        GUIDE_TASK = "guide_task", "导购任务"
        AWARD_POINTS = "award_points", "发放积分"

    idempotency_key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    journey = models.ForeignKey(Journey, null=True, on_delete=models.SET_NULL, related_name="handoffs")
    customer_id = models.BigIntegerField()
    payload = models.JSONField(default=dict)  # guide task: title, script; points: amount, reason
    created_at = models.DateTimeField()
    consumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["kind", "consumed_at"], name="handoff_pending")]


# --- channel adapters: template refusals, WeCom contact sync -----------------------------------------------


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
            models.UniqueConstraint(fields=["customer_id", "channel", "template"], name="template_refusal_once")
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
