"""Subscriptions of outside URLs to event types, their deliveries and each delivery attempt."""

from django.conf import settings
from django.db import models

from siyu.core import pii
from siyu.outbox.models import OutboundEvent


class Subscription(models.Model):
    url = models.URLField(max_length=500)
    event_types = models.JSONField(default=list)  # siyu.outbox.actions.EVENT_TYPES
    description = models.CharField(max_length=200, blank=True)
    # the HMAC-SHA256 key, generated when the subscription is made and shown once; signing needs it in clear,
    # so it is kept as pii.encrypt ciphertext under the PII key ring (re-encrypted by `siyu keys rotate`, as
    # the channel accounts' credentials are) and read through `secret`
    secret_cipher = models.BinaryField()
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def secret(self) -> str:
        return pii.decrypt(bytes(self.secret_cipher)).decode()

    @secret.setter
    def secret(self, value: str) -> None:
        self.secret_cipher = pii.encrypt(value.encode())


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        DEAD = "dead"  # every retry failed (or the address was refused): only a redelivery sends it again

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries")
    # null for a test event, or once retention removed the event (its body is in `body` all the same)
    event = models.ForeignKey(OutboundEvent, null=True, blank=True, on_delete=models.SET_NULL)
    event_uuid = models.UUIDField()  # the id receivers de-duplicate on (the event's, or the test event's own)
    event_type = models.CharField(max_length=40)
    body = models.JSONField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    failures = models.PositiveSmallIntegerField(default=0)  # failed attempts since made or redelivered
    # when the next attempt is due; a worker that claims it moves it on by a lease, so a worker that dies
    # mid-attempt leaves it due again (at least once; receivers drop the repeated event id)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event"], name="integrations_one_delivery_per_event"
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)  # null: no HTTP answer
    response_excerpt = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    ok = models.BooleanField(default=False)

    class Meta:
        ordering = ["-attempted_at", "-id"]


class SweepCursor(models.Model):
    """How far the warehouse sweep (siyu.integrations.sweep) has read one warehouse log."""

    name = models.CharField(max_length=40, primary_key=True)
    position = models.DateTimeField()
    # the highest customer id announced (cursor "customer_ids": new ids are handed out above every earlier one)
    last_id = models.BigIntegerField(null=True, blank=True)
