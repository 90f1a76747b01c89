"""State changes of the shared web base: idempotency records."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from siyu.web.models import IdempotencyKey


def purge_expired_idempotency_keys(now=None) -> int:
    """Forget idempotency keys older than settings.IDEMPOTENCY_KEY_TTL; returns how many were deleted."""
    cutoff = (now or timezone.now()) - settings.IDEMPOTENCY_KEY_TTL
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
