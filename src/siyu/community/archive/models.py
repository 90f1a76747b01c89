"""Models of this part of community (gathered in siyu.community.models): sensitive-word rules, the alerts
their hits raise, and a record of each chat-archive import. The messages themselves are in the warehouse
(`chat_messages`)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class SensitiveRule(models.Model):
    """A keyword (found anywhere in a message's text, case-insensitively) or a regular expression (Python
    syntax), watched in the group chats of the chosen types (`group_types`: type codes such as welfare, vip,
    product, city, other, or "all") and, when `one_on_one`, in 1-on-1 chats."""

    class Kind(models.TextChoices):
        KEYWORD = "keyword", _("Keyword")
        REGEX = "regex", _("Regular expression")

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.KEYWORD)
    pattern = models.CharField(max_length=500)
    group_types = models.JSONField(default=list, blank=True)
    one_on_one = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self):
        return self.name


class SensitiveAlert(models.Model):
    """A message a rule matched: one per (rule, message), so matching again raises nothing twice."""

    class Status(models.TextChoices):
        OPEN = "open", _("Not handled")
        HANDLED = "handled", _("Handled")

    rule = models.ForeignKey(SensitiveRule, null=True, on_delete=models.SET_NULL, related_name="alerts")
    rule_name = models.CharField(max_length=100)  # kept when the rule is deleted
    msgid = models.CharField(max_length=128)
    room_id = models.CharField(max_length=128, blank=True)
    sender = models.CharField(max_length=128)
    excerpt = models.CharField(max_length=300)
    sent_at = models.DateTimeField()
    owner_userid = models.CharField(max_length=64, blank=True)  # the group owner told (blank: nobody)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    handled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")  # fmt: skip
    handled_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-sent_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["rule", "msgid"], name="sensitive_alert_once")]
        indexes = [models.Index(fields=["status", "sent_at"], name="sensitive_alert_status")]


class ArchiveImport(models.Model):
    """One import of an archive export: its counts and the lines it refused (at most REJECTS_KEPT, each
    {"file", "line", "reason"})."""

    file_name = models.CharField(max_length=300)
    lines = models.BigIntegerField(default=0)
    imported = models.BigIntegerField(default=0)
    duplicates = models.BigIntegerField(default=0)
    rejected = models.BigIntegerField(default=0)
    rejected_lines = models.JSONField(default=list, blank=True)
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")  # fmt: skip
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-imported_at", "-pk"]
