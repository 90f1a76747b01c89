"""Models of loyalty's coupons (gathered in siyu.loyalty.models): coupon templates (what a coupon takes off,
from what spend, on which products, for how long, how many) and the coupons issued from them, one row per
coupon with its code, holder, state and where it was used.

A template's `issued_count` is the number of coupons issued from it (voided ones included): the total limit
is enforced by a conditional UPDATE of that counter (siyu.loyalty.coupons.actions), so two concurrent issues
can never pass the last one twice."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from siyu.staff.models import Role

# Who makes templates, issues to segments and voids coupons
COUPON_ROLES = (Role.ADMIN, Role.OPERATOR)
# Who reads templates, their counts and a coupon looked up by code (a store manager at a till question)
COUPON_READERS = (Role.ADMIN, Role.OPERATOR, Role.MANAGER)


class DiscountKind(models.TextChoices):
    AMOUNT = "amount"  # `amount_off` yuan off
    PERCENT = "percent"  # `percent_off` % off, at most `max_discount` yuan


class ValidityKind(models.TextChoices):
    FIXED = "fixed"  # from `valid_from` to `valid_until`
    DAYS = "days"  # `valid_days` days from issue


class TemplateStatus(models.TextChoices):
    ACTIVE = "active"
    CLOSED = "closed"  # issues no more coupons; those issued stay usable


class CouponStatus(models.TextChoices):
    ISSUED = "issued"
    USED = "used"
    EXPIRED = "expired"
    VOID = "void"


class CouponSource(models.TextChoices):
    JOURNEY = "journey"
    SEGMENT = "segment"
    MALL = "mall"
    TIER = "tier"
    REFERRAL = "referral"
    CHECKIN = "checkin"
    MANUAL = "manual"


class UsedVia(models.TextChoices):
    REDEMPTION = "redemption"  # redeem_coupon: the till or another system through the API
    IMPORT = "import"  # an imported order carrying the code (match_coupon_orders)


class CouponTemplate(models.Model):
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=DiscountKind.choices)
    amount_off = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    percent_off = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)  # 15 = 15% off
    max_discount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)  # percent's cap
    min_spend = models.DecimalField(max_digits=12, decimal_places=2, default=0)  # threshold: spend at least
    # product ids, SKUs or product names the coupon applies to; empty: every product
    products = models.JSONField(default=list, blank=True)
    validity = models.CharField(max_length=8, choices=ValidityKind.choices, default=ValidityKind.DAYS)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    valid_days = models.PositiveIntegerField(null=True, blank=True)
    total_quantity = models.PositiveIntegerField(null=True, blank=True)  # None: no total limit
    per_member_limit = models.PositiveIntegerField(null=True, blank=True, default=1)  # None: no limit
    issued_count = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=8, choices=TemplateStatus.choices, default=TemplateStatus.ACTIVE,
                              db_index=True)  # fmt: skip
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return self.name


class Coupon(models.Model):
    """One coupon: `code` is what the customer shows at a till (12 characters without 0/O/1/I), unique and
    unguessable (drawn with `secrets`)."""

    code = models.CharField(max_length=16, unique=True)
    template = models.ForeignKey(CouponTemplate, on_delete=models.PROTECT, related_name="coupons")
    customer_id = models.BigIntegerField()
    status = models.CharField(max_length=8, choices=CouponStatus.choices, default=CouponStatus.ISSUED)
    issued_at = models.DateTimeField()
    starts_at = models.DateTimeField(null=True, blank=True)  # a fixed validity starting later than the issue
    expires_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)
    used_via = models.CharField(max_length=16, choices=UsedVia.choices, blank=True)
    order_ref = models.CharField(max_length=200, blank=True)  # the till's order number, or the order_key
    channel = models.CharField(max_length=64, blank=True)  # "till", or the imported order's source
    order_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    discount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    redeem_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    source = models.CharField(max_length=16, choices=CouponSource.choices)
    source_ref = models.CharField(max_length=200, blank=True)
    idempotency_key = models.CharField(max_length=200, unique=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=200, blank=True)
    # when an action last wrote the coupon (issued, used, expired, voided, given back): the instant of the
    # write, not of what it records (an imported order's coupon is used at the order's time). The warehouse
    # mirror reads the coupons changed since its last run by it; every status change sets it.
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["customer_id", "status"], name="coupon_wallet"),
            models.Index(fields=["template", "status"], name="coupon_template_status"),
            models.Index(fields=["status", "expires_at"], name="coupon_expiry"),
            models.Index(fields=["changed_at"], name="coupon_changed"),
        ]

    def __str__(self):
        return self.code
