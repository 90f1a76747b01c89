from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """A bearer token (only its sha256 is kept). `scopes` limit it to areas of the API (siyu.api.scopes);
    `expires_at` ends it (None: never); `revoked_at` ends it for good (the row stays, so the console's token
    page shows who revoked what when, with the audit log). The token's user's role still applies to
    everything it does."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=100, blank=True)
    scopes = models.JSONField(default=list, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
