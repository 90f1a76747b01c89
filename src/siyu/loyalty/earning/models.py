"""Models of loyalty's earn rules (gathered in siyu.loyalty.models): the rules, the orders that earned
points (so that a refund reverses exactly what was earned, once), activity awards within the daily limit,
and the runs of the order earn job with their watermark."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models


class RuleKind(models.TextChoices):
    PER_YUAN = "per_yuan"  # points per yuan of a purchase (by channel, by product)
    FIRST_PURCHASE = "first_purchase"  # once per member, on their first purchase
    BIRTHDAY = "birthday"  # once a year, on the birthday
    CHECKIN = "checkin"  # a daily check-in
    SURVEY = "survey"  # a completed survey
    DAILY_LIMIT = "daily_limit"  # at most `points` a day per member across check-ins and surveys


# the activities award_for_activity takes; the ones the daily limit covers
ACTIVITIES = (RuleKind.FIRST_PURCHASE, RuleKind.BIRTHDAY, RuleKind.CHECKIN, RuleKind.SURVEY)
LIMITED = (RuleKind.CHECKIN, RuleKind.SURVEY)


class Expiry(models.TextChoices):
    END_OF_NEXT_YEAR = "end_of_next_year"
    DAYS = "days"
    NEVER = "never"


class EarnRule(models.Model):
    """An earn rule. per_yuan rules: `points_per_yuan` for purchases on `channel` (an order's source label
    or platform; blank: every channel) and, when `product` is set, for the order lines whose product name
    or SKU is `product`. The other kinds give `points`."""

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=RuleKind.choices)
    channel = models.CharField(max_length=100, blank=True)
    product = models.CharField(max_length=200, blank=True)
    points_per_yuan = models.DecimalField(max_digits=8, decimal_places=2, default=Decimal("0"))
    points = models.PositiveIntegerField(default=0)
    expiry = models.CharField(max_length=20, choices=Expiry.choices, default=Expiry.END_OF_NEXT_YEAR)
    expiry_days = models.PositiveIntegerField(default=365)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "channel", "product", "pk"]
        indexes = [models.Index(fields=["kind", "active"])]

    def __str__(self):
        return self.name


class OrderPoints(models.Model):
    """What an order earned: `source_ref` (order:<order key>) names the order's entries in the ledger.
    `generation` counts awards (an order refunded and bought again, or whose amount changed, earns anew under
    `<ref>#<generation>`); `reversed` is true while the last award stands reversed."""

    source_ref = models.CharField(max_length=300, unique=True)
    customer_id = models.BigIntegerField(db_index=True)
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    points = models.IntegerField()
    generation = models.PositiveIntegerField(default=1)
    reversed = models.BooleanField(default=False)
    updated_at = models.DateTimeField()


class ActivityAward(models.Model):
    """One award for an activity (key: the caller's idempotency key) and the day it counts against."""

    key = models.CharField(max_length=200, unique=True)
    customer_id = models.BigIntegerField()
    activity = models.CharField(max_length=20, choices=RuleKind.choices)
    day = models.DateField()
    points = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["customer_id", "day"])]


class DailyActivityTotal(models.Model):
    """Points a member got today from limited activities: raised by a conditional UPDATE, so two awards at
    once cannot pass the daily limit together."""

    customer_id = models.BigIntegerField()
    day = models.DateField()
    points = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer_id", "day"], name="loyalty_daily_activity_once")]


class EarnRun(models.Model):
    """A run of the order earn job: orders whose row changed after `since` up to `watermark` were read."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    since = models.DateTimeField(null=True, blank=True)
    watermark = models.DateTimeField(null=True, blank=True)
    orders = models.PositiveIntegerField(default=0)
    awarded = models.PositiveIntegerField(default=0)
    reversed = models.PositiveIntegerField(default=0)
    points = models.BigIntegerField(default=0)
    first_purchases = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0)

    class Meta:
        ordering = ["-started_at", "-pk"]
