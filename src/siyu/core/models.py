import uuid

from django.conf import settings
from django.db import models


class Job(models.Model):
    """Long work that needs the warehouse (import, resolve…). Whoever owns the warehouse runs it; the
    requester follows `progress_*` here, which every process can read."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=32)
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress_done = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(default=0)
    message = models.CharField(max_length=500, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # the process running it (a ProcessLease id): while that lease lives the job is not interrupted
    worker = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)  # runs started (a lost worker's job runs again)

    class Meta:
        ordering = ["-created_at"]

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


class ProcessLease(models.Model):
    """A live Siyu process that runs jobs (`siyu worker`, `siyu serve` with its worker, a CLI command running
    a job itself), renewed by the process every few seconds (siyu.core.leases). Whatever it runs is its own
    while the lease is fresh; a lease not renewed for settings.WORKER_LEASE belongs to a process that died,
    and any other process takes its jobs back (siyu.core.actions.recover_lost_work). It is also how a CLI
    command on any host learns that workers are there to hand its jobs to."""

    class Role(models.TextChoices):
        WORKER = "worker"  # `siyu worker`
        SERVE = "serve"  # `siyu serve` with its in-process worker
        COMMAND = "command"  # a CLI command running a job in its own process

    id = models.CharField(max_length=64, primary_key=True)  # also the django-tasks worker id
    role = models.CharField(max_length=16, choices=Role.choices)
    host = models.CharField(max_length=200)
    pid = models.IntegerField()
    started_at = models.DateTimeField()
    renewed_at = models.DateTimeField(db_index=True)
    # set on the one live worker that made sure of the periodic tasks (siyu.console.workers.ensure_schedules)
    scheduled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["started_at"]

    def __str__(self):
        return f"{self.role} {self.id}"


class AuditLog(models.Model):
    """Who saw or exported PII, and other sensitive acts."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=64, db_index=True)
    target = models.CharField(max_length=200, blank=True, db_index=True)
    detail = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at"]
