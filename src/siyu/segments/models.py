"""Definitions people edit (control plane); what they compute lives in the warehouse (`customer_traits`,
`customer_stages`). Rules are JSON in the format of `siyu.segments.rules`."""

import datetime

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class StageSet(models.Model):
    """A custom lifecycle: an ordered list of stages, each with a condition; the first that holds wins."""

    name = models.CharField(max_length=64, unique=True)
    label = models.CharField(max_length=100, blank=True)
    # [{"stage": "已拿证", "when": <condition>}, …], checked by siyu.segments.rules.check_stages
    stages = models.JSONField(default=list)
    # given when no stage's condition holds; blank: no stage
    default_stage = models.CharField(max_length=64, blank=True)
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class ComputedTag(models.Model):
    """A tag that the traits refresh gives every customer for whom `rule` holds (and takes away otherwise)."""

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    rule = models.JSONField(default=dict)  # a condition, checked by siyu.segments.rules.check_condition
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Segment(models.Model):
    """A set of customers (人群): given by a rule (siyu.segments.rules, scope "segment") or a static list of
    customer ids uploaded from a file. Its membership and enter/exit history live in the warehouse
    (`segment_members`, `segment_changes`), written by siyu.segments.actions.refresh_segment."""

    class Kind(models.TextChoices):
        RULE = "rule", _("Rule")
        STATIC = "static", _("Static list")

    class Refresh(models.TextChoices):
        AFTER_RESOLVE = "after_resolve", _("After every resolve")
        DAILY = "daily", _("Daily (the scheduled refresh)")
        MANUAL = "manual", _("Manual")

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.RULE)
    rule = models.JSONField(default=dict, blank=True)  # checked by rules.check_condition(scope="segment")
    static_ids = models.JSONField(default=list, blank=True)  # sorted customer ids of a static list
    # When the membership is refreshed besides on demand: "after_resolve" at the end of every resolve job,
    # "daily" by the scheduled refresh (RefreshSchedule), run by `siyu serve`'s worker.
    refresh = models.CharField(max_length=16, choices=Refresh.choices, default=Refresh.AFTER_RESOLVE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    member_count = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class RefreshSchedule(models.Model):
    """The daily refresh (one row, pk 1): at `at` (local time, settings.TIME_ZONE) `siyu serve`'s in-process
    worker recomputes the current traits (computed tags and stage sets with them), then refreshes the
    segments whose refresh is "daily" (siyu.segments.actions.run_scheduled_refresh)."""

    enabled = models.BooleanField(default=True)
    at = models.TimeField(default=datetime.time(3, 0))
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_result = models.JSONField(default=dict, blank=True)

    @classmethod
    def current(cls) -> "RefreshSchedule":
        schedule, _ = cls.objects.get_or_create(pk=1)
        return schedule
