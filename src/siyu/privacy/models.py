"""Data-subject requests (PIPL arts. 44–47): one queue of requests for a copy of, the deletion of or a
correction to what the brand holds about a person, with a due date, how the requester proved who they
are, and every step."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class DataRequest(models.Model):
    class Kind(models.TextChoices):
        ACCESS = "access", "查阅复制"
        DELETION = "deletion", "删除"
        CORRECTION = "correction", "更正"

    class Source(models.TextChoices):
        MEMBER_CENTRE = "member_centre", "会员中心"
        STAFF = "staff", "员工代客户提交"
        API = "api", "接口"

    class Status(models.TextChoices):
        OPEN = "open", "待处理"
        IN_PROGRESS = "in_progress", "处理中"
        DONE = "done", "已完成"
        REFUSED = "refused", "已拒绝"

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
        OPENED = "opened", "提交"
        ASSIGNED = "assigned", "指派"
        STATUS = "status", "状态变更"
        NOTE = "note", "备注"
        COPIED = "copied", "导出副本"
        CORRECTED = "corrected", "更正资料"
        ERASURE = "erasure", "执行删除"
        SCAN = "scan", "删除核验"

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
