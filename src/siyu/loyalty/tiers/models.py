"""Models of loyalty's tiers (gathered in siyu.loyalty.models): the tier definitions, each member's tier
state and the history of changes.

A member's tier is kept as state (not recomputed on every read) because a downgrade waits for the review
date and a grace period: the rule alone cannot say which tier a member holds."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models

from siyu.staff.models import Role

# Who defines tiers (and earn rules)
RULE_ROLES = (Role.ADMIN, Role.OPERATOR)


class TierMeasure(models.TextChoices):
    SPEND = "spend"  # yuan of purchases over the window
    ORDERS = "orders"  # purchases over the window
    POINTS = "points"  # points earned over the window (siyu.loyalty.points)


class Tier(models.Model):
    """A tier: reached when `measure` over the last `window_days` days reaches `threshold`. The lowest
    tier may have threshold 0 (every member holds it)."""

    name = models.CharField(max_length=50, unique=True)
    rank = models.PositiveSmallIntegerField(unique=True, help_text="higher ranks are better tiers")
    measure = models.CharField(max_length=10, choices=TierMeasure.choices, default=TierMeasure.SPEND)
    threshold = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    window_days = models.PositiveIntegerField(default=365)
    multiplier = models.DecimalField(max_digits=4, decimal_places=2, default=Decimal("1.00"))
    # benefits: a coupon template (siyu.loyalty.coupons) given on upgrade, points given on the birthday
    upgrade_coupon_template_id = models.PositiveBigIntegerField(null=True, blank=True)
    birthday_points = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["rank"]

    def __str__(self):
        return self.name


class MemberTier(models.Model):
    """A member's tier state: the tier held since `since`; at `review_on` the rule is checked again;
    a member who no longer meets it keeps the tier until `grace_until`."""

    customer_id = models.BigIntegerField(unique=True)
    tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.SET_NULL, related_name="members")
    since = models.DateTimeField()
    review_on = models.DateField(null=True, blank=True)
    grace_until = models.DateField(null=True, blank=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tier", "customer_id"])]


class TierChangeKind(models.TextChoices):
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"
    GRACE = "grace"  # kept past the review date for the grace period


class TierChange(models.Model):
    customer_id = models.BigIntegerField(db_index=True)
    kind = models.CharField(max_length=10, choices=TierChangeKind.choices)
    from_tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    to_tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    measured = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    changed_at = models.DateTimeField(db_index=True)
    coupon_id = models.PositiveBigIntegerField(null=True, blank=True)  # the upgrade's coupon, when given
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")  # fmt: skip

    class Meta:
        ordering = ["-changed_at", "-pk"]
