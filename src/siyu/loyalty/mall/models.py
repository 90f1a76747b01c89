"""The rewards mall's tables: items with their stock, limits and windows, and redemptions (with the shipping
address of a gift, encrypted)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

# Who makes and edits items, ships, cancels and exports the fulfilment list.
MALL_ROLES = frozenset({"admin", "operator", "manager"})


class ItemKind(models.TextChoices):
    COUPON = "coupon"  # a coupon of a template, issued at once
    GIFT = "gift"  # a physical gift, shipped to the address the member entered
    POINTS_CASH = "points_cash"  # points plus cash paid at fulfilment or at the till


class ItemStatus(models.TextChoices):
    DRAFT = "draft"
    ON_SALE = "on_sale"
    OFF_SALE = "off_sale"


class MallItem(models.Model):
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=ItemKind.choices)
    points_price = models.PositiveIntegerField()
    cash_price = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    coupon_template_id = models.PositiveBigIntegerField(null=True, blank=True)
    needs_address = models.BooleanField(default=False)
    stock = models.IntegerField(default=0)
    per_member_limit = models.PositiveIntegerField(null=True, blank=True)  # None: no limit
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=ItemStatus.choices, default=ItemStatus.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [models.CheckConstraint(condition=models.Q(stock__gte=0), name="loyalty_mall_stock_not_negative")]


class RedemptionStatus(models.TextChoices):
    ISSUED = "issued"  # a coupon item: the coupon is in the wallet
    TO_SHIP = "to_ship"
    SHIPPED = "shipped"
    TO_COLLECT = "to_collect"  # collected (and cash paid) at a store's till
    COLLECTED = "collected"
    CANCELLED = "cancelled"


class MallRedemption(models.Model):
    item = models.ForeignKey(MallItem, on_delete=models.PROTECT, related_name="redemptions")
    customer_id = models.BigIntegerField(db_index=True)
    key = models.CharField(max_length=200, unique=True)
    quantity = models.PositiveIntegerField(default=1)
    points = models.PositiveIntegerField()
    cash = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    cash_paid_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=RedemptionStatus.choices)
    coupon_id = models.BigIntegerField(null=True, blank=True)
    address_cipher = models.BinaryField(null=True, blank=True)  # siyu.core.pii.encrypt_json(address)
    carrier = models.CharField(max_length=50, blank=True)
    tracking_no = models.CharField(max_length=64, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["item", "customer_id"], name="loyalty_mall_item_member"),
                   models.Index(fields=["status", "created_at"], name="loyalty_mall_status")]  # fmt: skip

    @property
    def source_ref(self) -> str:
        """What the ledger's entries of this redemption carry (reverse_points finds them by it)."""
        return f"mall:{self.pk}"
