"""Definitions people edit (control plane); what they compute lives in the warehouse (`customer_traits`,
`customer_stages`). Rules are JSON in the format of `siyu.segments.rules`."""

from django.conf import settings
from django.db import models


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
