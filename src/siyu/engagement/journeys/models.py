"""Journeys (SOP): definitions, enrollments, live counts per step and hand-offs to other domains."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings as django_settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Journey(models.Model):
    """An automated sequence of steps (SOP) a customer enters when its trigger fires. The trigger, goal and
    steps are JSON in the format of siyu.engagement.journeys.definitions (checked on save)."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", pgettext_lazy("status of a journey", "Running")
        PAUSED = "paused", _("Paused")

    class Reentry(models.TextChoices):
        ONCE = "once", _("Only once")
        AFTER_EXIT = "after_exit", _("Again after leaving")
        COOLDOWN = "cooldown", _("Again N days after leaving")

    class Audience(models.TextChoices):
        CUSTOMERS = "customers", _("Customers")
        GROUPS = "groups", _("Customer groups")

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    # who goes through it: customers (Enrollment) or customer groups (GroupEnrollment, a group SOP)
    audience = models.CharField(max_length=16, choices=Audience.choices, default=Audience.CUSTOMERS)
    groups = models.JSONField(default=dict, blank=True)  # a group journey's selector (definitions.py)
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
        ACTIVE = "active", _("In progress")
        EXITED = "exited", pgettext_lazy("an enrollment", "Left")

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
            models.Index(
                fields=["journey", "step_id"], name="enrollment_at_step", condition=Q(status="active")
            ),
            models.Index(fields=["journey", "due_at"], name="enrollment_due", condition=Q(status="active")),
            models.Index(fields=["journey", "customer_id"], name="enrollment_customer"),
        ]

    def __str__(self):
        return f"enrollment {self.pk}: customer {self.customer_id} in journey {self.journey_id} at {self.step_id}"


class GroupEnrollment(models.Model):
    """One customer group's pass through a group journey (a group SOP), for one fire of its trigger
    (`trigger_key` "once" or "run:<fire time>"): a group enrols once per fire. `group_id` is a
    siyu.community CustomerGroup's id (kept as a number, like Enrollment.customer_id). `messages` counts
    the group messages sent to it along the way."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="group_enrollments",
                                db_index=False)  # fmt: skip
    group_id = models.BigIntegerField()
    trigger_key = models.CharField(max_length=200)
    status = models.CharField(max_length=8, choices=Enrollment.Status.choices, default=Enrollment.Status.ACTIVE)
    step_id = models.CharField(max_length=32)
    step_entered_at = models.DateTimeField()
    due_at = models.DateTimeField()
    entered_at = models.DateTimeField()
    exited_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(max_length=16, blank=True)  # end | exit_step | dismissed | step_removed
    messages = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["journey", "group_id", "trigger_key"], name="group_enrollment_once")
        ]
        indexes = [
            models.Index(fields=["journey", "due_at"], name="group_enrollment_due", condition=Q(status="active")),
        ]

    def __str__(self):
        return f"group enrollment {self.pk}: group {self.group_id} in journey {self.journey_id} at {self.step_id}"


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
        GUIDE_TASK = "guide_task", _("Guide task")
        AWARD_POINTS = "award_points", _("Award points")

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
