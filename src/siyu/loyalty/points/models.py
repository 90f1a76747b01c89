"""Models of loyalty's points part (gathered in siyu.loyalty.models): the ledger.

A **lot** is points earned together (one award, one transfer in from a merged customer): its `points`, when
they become spendable (`available_at`: pending until then, e.g. until an order's refund window closes) and
when they expire (`expires_at`, never when empty). An **entry** is one change of one lot, append-only: it
is never edited or deleted. Each entry is a double-entry posting between the member's lot and a counter
account (`account`: issued, redeemed, expired, reversed, adjusted, transferred): the lot moves by `points`,
the counter account by `-points`, so over all accounts the books sum to zero (queries.trial_balance).

`PointsLot.remaining` is a cache of the sum of its entries' points, written in the same transaction as every
entry of that lot (actions.py, conditional UPDATEs); tests check it equals the entries. Balances are sums of
the remaining of a member's lots (available: `available_at` passed; pending: not yet); nothing else holds a
balance."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Source(models.TextChoices):
    """Where a change came from (the vocabulary other parts pass as `source`; labels in labels.py)."""

    ORDER = "order"
    CHECKIN = "checkin"
    SURVEY = "survey"
    REFERRAL = "referral"
    JOURNEY = "journey"
    MANUAL = "manual"
    MALL = "mall"
    TILL = "till"
    TIER = "tier"
    BIRTHDAY = "birthday"
    FIRST_PURCHASE = "first_purchase"
    MERGE = "merge"
    EXPIRY = "expiry"


class Account(models.TextChoices):
    """The counter account of an entry (the other side of the double entry)."""

    ISSUED = "issued"  # points awarded to a member
    REDEEMED = "redeemed"  # points a member spent
    EXPIRED = "expired"  # points that expired unspent
    REVERSED = "reversed"  # awards taken back (a refund, a cancelled redemption given back)
    ADJUSTED = "adjusted"  # manual adjustments by staff
    TRANSFERRED = "transferred"  # moved between customers along identity merges and splits


class PointsLot(models.Model):
    key = models.CharField(max_length=200, unique=True)  # the key of the entry that opened it
    customer_id = models.BigIntegerField()
    points = models.IntegerField()  # earned (or transferred in) when opened
    remaining = models.IntegerField()  # cache: the sum of its entries' points (see the module's docstring)
    source = models.CharField(max_length=16, choices=Source.choices)
    source_ref = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()
    available_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    # a lot opened by a merge: the absorbed customer and the lot its points came from (undone by a split)
    merged_from = models.BigIntegerField(null=True, blank=True)
    origin = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="transfers",
                               db_index=False)  # partial index below: only merged lots have one  # fmt: skip

    class Meta:
        indexes = [
            models.Index(fields=["customer_id", "expires_at"], name="points_lot_customer"),
            models.Index(fields=["expires_at"], condition=Q(remaining__gt=0), name="points_lot_expiring"),
            # the lots a merge moved points to (_current_lots, unmerges); an award (nearly every lot) has none
            models.Index(fields=["origin"], condition=Q(origin__isnull=False), name="points_lot_origin"),
        ]

    def __str__(self):
        return f"lot {self.pk} of #{self.customer_id}: {self.remaining}/{self.points}"


class PointsEntry(models.Model):
    key = models.CharField(max_length=200, unique=True)  # idempotency: a replay finds it and changes nothing
    customer_id = models.BigIntegerField()
    lot = models.ForeignKey(PointsLot, on_delete=models.PROTECT, related_name="entries", db_index=False)
    points = models.IntegerField()  # + to the member's lot, - from it; the counter account moves by -points
    account = models.CharField(max_length=16, choices=Account.choices)
    source = models.CharField(max_length=16, choices=Source.choices)
    source_ref = models.CharField(max_length=200, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+", db_index=False)  # fmt: skip
    created_at = models.DateTimeField()
    # a compensating entry names the entry it reverses (a refund takes back an award once)
    reverses = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversals",
                                 db_index=False)  # partial index below: only reversals have one  # fmt: skip
    # a reversal that could not take everything back (already spent, no other points, no debt allowed)
    shortfall = models.IntegerField(default=0)
    merged_from = models.BigIntegerField(null=True, blank=True)  # a transfer entry of a merge (or its undo)

    class Meta:
        indexes = [
            models.Index(fields=["customer_id", "-id"], name="points_entry_history"),
            models.Index(fields=["source_ref"], condition=~Q(source_ref=""), name="points_entry_ref"),
            models.Index(fields=["created_at"], name="points_entry_created"),
            # the reversals of an entry (reverse_points: reversed once); an award (nearly every entry) has none
            models.Index(fields=["reverses"], condition=Q(reverses__isnull=False), name="points_entry_reverses"),
        ]

    def __str__(self):
        return f"{self.points:+d} #{self.customer_id} ({self.source}, {self.account})"
