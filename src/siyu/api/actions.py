"""State changes of the API: tokens and idempotency records."""

from __future__ import annotations

import hashlib
import secrets

from django.utils import timezone

from siyu.api.models import ApiToken
from siyu.core.actions import record_audit

TOKEN_PREFIX = "siyu_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(user, name: str = "") -> str:
    """A new API token for `user`. Only its sha256 is stored: the returned value is shown once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, key_hash=hash_token(token), name=(name or "")[:100])
    record_audit(user, "create_api_token", target=user.get_username(), name=name)
    return token


def revoke_token(user, name: str) -> int:
    deleted, _ = ApiToken.objects.filter(user=user, name=name).delete()
    if deleted:
        record_audit(user, "revoke_api_token", target=user.get_username(), name=name)
    return deleted


def user_for_token(token: str):
    """The active user a token belongs to (None for an unknown token or an inactive user)."""
    if not token:
        return None
    found = ApiToken.objects.filter(key_hash=hash_token(token.strip())).select_related("user__staff").first()
    if found is None or not found.user.is_active:
        return None
    now = timezone.now()
    if found.last_used_at is None or (now - found.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
    return found.user

