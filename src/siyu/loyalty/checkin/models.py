"""Check-in's tables: the reward rules by streak length, each member's check-in days and their make-up cards."""

from __future__ import annotations

from django.conf import settings
from django.db import models

# Make-up cards mend a missed day within this many days before today.
MAKEUP_WINDOW_DAYS = 7
# Who edits the rules and grants make-up cards.
CHECKIN_ROLES = frozenset({"admin", "operator"})


class CheckinRule(models.Model):
    """The reward of a streak length. From day `streak_day` of a streak on, each check-in earns `points`
    (the rule with the longest streak_day not above the streak decides); on day `streak_day` exactly the
    member also gets a coupon of `coupon_template_id` and `makeup_cards` make-up cards."""

    streak_day = models.PositiveIntegerField(unique=True)
    points = models.PositiveIntegerField(default=0)
    coupon_template_id = models.PositiveBigIntegerField(null=True, blank=True)
    makeup_cards = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["streak_day"]


class Checkin(models.Model):
    """One member's check-in on one local (Asia/Shanghai) day; `made_up` when a make-up card filled it."""

    customer_id = models.BigIntegerField()
    day = models.DateField()
    made_up = models.BooleanField(default=False)
    streak = models.PositiveIntegerField(help_text="the streak this day ends (mended by later make-ups)")
    points = models.PositiveIntegerField(default=0)
    coupon_id = models.BigIntegerField(null=True, blank=True)
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer_id", "day"], name="loyalty_checkin_once_a_day")]
        indexes = [models.Index(fields=["day"], name="loyalty_checkin_day")]


class MakeupCard(models.Model):
    """A make-up card a member holds until it fills a missed day (`used_for`)."""

    customer_id = models.BigIntegerField(db_index=True)
    source = models.CharField(max_length=16)  # "rule" | "staff"
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")  # fmt: skip
    granted_at = models.DateTimeField(auto_now_add=True)
    key = models.CharField(max_length=200, unique=True)
    used_at = models.DateTimeField(null=True, blank=True)
    used_for = models.DateField(null=True, blank=True)
