"""Live codes and what they brought (control plane).

A live code (渠道活码) is one WeCom contact way: a QR code printed once whose staff change behind it
(`update_contact_way`), and whose `state` comes back on every add, attributing the add to the code, its
channel and its campaign."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from siyu.engagement.content.models import Material
from siyu.engagement.messaging.models import WeComCorpTag
from siyu.staff.models import StaffProfile, Store


class LiveCode(models.Model):
    class Channel(models.TextChoices):
        # where the code is shown, as operators name it (labels.CHANNELS)
        STORE = "store"
        PACKAGE_CARD = "package_card"
        RECEIPT = "receipt"
        POSTER = "poster"
        ONLINE_EVENT = "online_event"
        SHELF = "shelf"
        OTHER = "other"

    class Kind(models.TextChoices):
        STAFF = "staff"  # a code for chosen staff members
        STORE = "store"  # one per store, with the store's guides
        GUIDE = "guide"  # a guide's personal code (single-person way)

    name = models.CharField(max_length=100)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.OTHER)
    campaign = models.CharField(max_length=100, blank=True)
    store = models.ForeignKey(Store, null=True, blank=True, on_delete=models.SET_NULL, related_name="live_codes")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.STAFF)
    state = models.CharField(max_length=30, unique=True)  # WeCom's `state`: ≤ 30 characters
    config_id = models.CharField(max_length=64, blank=True, db_index=True)
    # add_contact_way's `qr_code`: the URL of WeCom's *picture* of the QR, not what the QR holds
    qr_url = models.CharField(max_length=500, blank=True)
    # what that picture's QR holds (WeCom's add link), read once; what the QR image and posters print.
    # Empty while the picture could not be fetched or read: then nothing is printed
    qr_content = models.CharField(max_length=1000, blank=True)
    skip_verify = models.BooleanField(default=True)
    # local times between which adds skip verification; outside them the staff member confirms each add
    verify_skip_from = models.TimeField(null=True, blank=True)
    verify_skip_until = models.TimeField(null=True, blank=True)
    welcome_text = models.TextField(blank=True)
    welcome_material = models.ForeignKey(Material, null=True, blank=True, on_delete=models.SET_NULL,
                                         related_name="+")  # fmt: skip
    auto_tags = models.ManyToManyField(WeComCorpTag, blank=True, related_name="+")
    daily_limit = models.PositiveIntegerField(null=True, blank=True)  # adds per staff member a day (None: none)
    cost = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)  # yuan
    archived = models.BooleanField(default=False)
    # what WeCom offers now (the last users and skip_verify pushed), so a refresh pushes only changes
    routed_users = models.JSONField(default=list, blank=True)
    routed_skip_verify = models.BooleanField(default=True)
    routed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return self.name


class LiveCodeStaff(models.Model):
    """A staff member behind a code: when they take adds (a weekly schedule, special periods), how many a
    day, and whether only as a backup (offered when every primary is out)."""

    code = models.ForeignKey(LiveCode, on_delete=models.CASCADE, related_name="staff")
    staff = models.ForeignKey(StaffProfile, on_delete=models.CASCADE, related_name="live_codes")
    backup = models.BooleanField(default=False)
    daily_limit = models.PositiveIntegerField(null=True, blank=True)  # None: the code's
    # {"1".."7" (ISO weekday, Monday 1): [["09:00", "18:00"], …]}; empty: any time; a day not named: off
    schedule = models.JSONField(default=dict, blank=True)
    # [{"start": "2026-12-24", "end": "2026-12-26", "hours": [["10:00", "22:00"]]} or {…, "off": true}];
    # a period covering a day replaces that day's schedule
    special_periods = models.JSONField(default=list, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["code", "backup", "position", "pk"]
        constraints = [models.UniqueConstraint(fields=["code", "staff"], name="live_code_staff_once")]

    def __str__(self):
        return f"{self.code} · {self.staff}"


class LiveCodeAdd(models.Model):
    """A customer who added a staff member through a code (the add_external_contact callback)."""

    class Welcome(models.TextChoices):
        SENT = "sent"
        SUPPRESSED = "suppressed"  # the contact policy held it back (opted out)
        FAILED = "failed"
        NONE = "none"  # the code has no welcome message, or the event no welcome code

    code = models.ForeignKey(LiveCode, on_delete=models.CASCADE, related_name="adds")
    staff_userid = models.CharField(max_length=64)
    external_userid = models.CharField(max_length=64, db_index=True)
    added_at = models.DateTimeField(db_index=True)  # UTC, WeCom's CreateTime
    customer_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    welcome = models.CharField(max_length=12, choices=Welcome.choices, default=Welcome.NONE)
    send_id = models.BigIntegerField(null=True, blank=True)  # the welcome's Send

    class Meta:
        ordering = ["-added_at", "-pk"]
        constraints = [
            # WeCom resends a callback it got no answer to: the same add is recorded once
            models.UniqueConstraint(fields=["code", "staff_userid", "external_userid", "added_at"],
                                    name="live_code_add_once"),
        ]  # fmt: skip
        indexes = [models.Index(fields=["code", "staff_userid", "added_at"])]
