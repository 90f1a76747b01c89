"""What member sign-in stores: the SMS one-time codes (hashed: never the code or the phone in clear) and
a record of every sign-in (who, how, from where)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class SmsCode(models.Model):
    """One code sent to one phone. `phone_hash` is the keyed hash of the normalised number
    (siyu.core.pii.keyed_hash); `code_hash` an HMAC of phone and code with the server's key. A code is
    good for CODE_LIFETIME, for MAX_ATTEMPTS tries, once (siyu.members.actions)."""

    phone_hash = models.CharField(max_length=64)
    code_hash = models.CharField(max_length=128)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)
    sent = models.BooleanField(default=False)  # the provider accepted it
    send_id = models.BigIntegerField(null=True, blank=True)  # the outbox row that records it (messaging)

    class Meta:
        indexes = [
            models.Index(fields=["phone_hash", "created_at"], name="smscode_phone_time"),
            models.Index(fields=["ip", "created_at"], name="smscode_ip_time"),
        ]


class MemberSignIn(models.Model):
    """A sign-in to the member centre: the customer (or, for a person not resolved yet, the record landed
    for them), the method and where from. Kept for the customer's own access request and for abuse
    reviews."""

    class Method(models.TextChoices):
        SMS = "sms", _("SMS code")
        WECHAT = "wechat", _("WeChat authorisation")
        LINK = "link", _("One-tap sign-in link")

    customer_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    record_key = models.CharField(max_length=200, blank=True)
    method = models.CharField(max_length=8, choices=Method.choices)
    ip = models.GenericIPAddressField(null=True, blank=True)
    signed_in_at = models.DateTimeField()
