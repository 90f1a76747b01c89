"""Guide tasks (导购任务) and the batches they are created in."""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from siyu.engagement.content.models import Material, Script
from siyu.engagement.messaging.models import Send


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
    # the audience was chosen by profiling (a segment, a journey that uses one): personalised marketing
    personalised = models.BooleanField(default=False)
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
