"""Data-subject requests (PIPL arts. 44–47): one queue of requests for a copy of, the deletion of or a
correction to what the brand holds about a person, with a due date, how the requester proved who they
are, and every step."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class DataRequest(models.Model):
    class Kind(models.TextChoices):
        ACCESS = "access", _("Copy of their data")
        DELETION = "deletion", _("Deletion")
        CORRECTION = "correction", _("Correction")

    class Source(models.TextChoices):
        MEMBER_CENTRE = "member_centre", _("Member centre")
        STAFF = "staff", _("Staff, on the customer's behalf")
        API = "api", _("API")

    class Status(models.TextChoices):
        OPEN = "open", _("Not started")
        IN_PROGRESS = "in_progress", _("Being handled")
        DONE = "done", _("Done")
        REFUSED = "refused", _("Refused")

    kind = models.CharField(max_length=16, choices=Kind.choices)
    customer_id = models.BigIntegerField(db_index=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    verification = models.CharField(max_length=200)  # how the requester proved who they are
    detail = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField()
    due_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "pk"]
        indexes = [models.Index(fields=["status", "due_at"], name="datarequest_queue")]


class DataRequestStep(models.Model):
    """One step of a request: opened, assigned, moved on, closed — who, when, and the note."""

    class Action(models.TextChoices):
        OPENED = "opened", _("Opened")
        ASSIGNED = "assigned", _("Assigned")
        STATUS = "status", _("Status changed")
        NOTE = "note", _("Note")
        COPIED = "copied", _("Copy downloaded")
        CORRECTED = "corrected", _("Profile corrected")
        ERASURE = "erasure", _("Erasure")
        SCAN = "scan", _("Erasure check")

    request = models.ForeignKey(DataRequest, on_delete=models.CASCADE, related_name="steps")
    action = models.CharField(max_length=16, choices=Action.choices)
    status = models.CharField(max_length=16, choices=DataRequest.Status.choices)  # the status after the step
    note = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
    # what an erasure step did ({"erased": {place: counts}}) or what a scan found ({"found": {place: n}}:
    # empty when nothing of the person is left)
    result = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["at", "pk"]


class Suppression(models.Model):
    """An erased person's identifier, as its keyed hash (siyu.core.pii.keyed_hash of the normalised phone,
    e-mail or `type:value` of a platform id): a later import drops rows carrying it
    (siyu.ingest.suppression), so the person does not come back as a contactable customer."""

    value_hash = models.CharField(max_length=64, unique=True)
    id_type = models.CharField(max_length=32)
    request = models.ForeignKey(DataRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField()
