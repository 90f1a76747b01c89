"""Content: script groups, scripts (话术) and materials."""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ScriptGroup(models.Model):
    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Script(models.Model):
    """A prepared message for staff (话术): text with {name}-style placeholders filled per customer."""

    group = models.ForeignKey(
        ScriptGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="scripts"
    )
    title = models.CharField(max_length=200)
    body = models.TextField()
    tags = models.CharField(max_length=300, blank=True)  # comma-separated (content_actions.clean_tags)
    archived = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-pk"]

    def __str__(self):
        return self.title


class Material(models.Model):
    """An image, link, mini-program card, case (案例) or UGC buyer show (买家秀). A buyer show belongs to a
    customer and may be used only while that customer's `ugc` consent is in force."""

    class Kind(models.TextChoices):
        IMAGE = "image", _("Image")
        LINK = "link", _("Link")
        MINI_PROGRAM = "mini_program", _("Mini-program card")
        CASE = "case", _("Case")
        UGC = "ugc", _("Buyer show")

    kind = models.CharField(max_length=16, choices=Kind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)  # description, the case's story, the buyer's own words
    tags = models.CharField(max_length=300, blank=True)
    url = models.CharField(max_length=500, blank=True)  # link
    image = models.CharField(max_length=300, blank=True)  # file under UPLOADS_DIR/materials (thumb of a card)
    appid = models.CharField(max_length=64, blank=True)  # mini-program card
    page_path = models.CharField(max_length=300, blank=True)  # mini-program card
    customer_id = models.BigIntegerField(null=True, blank=True, db_index=True)  # UGC: whose it is
    archived = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-pk"]

    def __str__(self):
        return f"{self.kind}: {self.title}"
