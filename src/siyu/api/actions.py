"""State changes of the API: tokens (with scopes and an expiry)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

from django.contrib.auth import get_user_model
from django.utils import timezone

from siyu.api.models import ApiToken
from siyu.api.scopes import ALL, ScopeError, parse_scopes
from siyu.core.actions import record_audit
from siyu.core.errors import PermissionDenied
from siyu.staff.queries import is_admin, role_of

TOKEN_PREFIX = "siyu_"
MAX_LIFETIME_DAYS = 3650


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_lifetime(text: str) -> dt.timedelta:
    """`90d`, `12h`, `4w` or `1y` (a plain number is days) -> a lifetime; ScopeError in words."""
    match = re.fullmatch(r"\s*(\d{1,5})\s*([hdwy]?)\s*", str(text or "").lower())
    if not match:
        raise ScopeError(f"an expiry is a number of hours, days, weeks or years like 90d, 12h, 4w, 1y; not {text!r}")
    number, unit = int(match[1]), match[2] or "d"
    lifetime = {"h": dt.timedelta(hours=number), "d": dt.timedelta(days=number), "w": dt.timedelta(weeks=number),
                "y": dt.timedelta(days=365 * number)}[unit]  # fmt: skip
    if not dt.timedelta(hours=1) <= lifetime <= dt.timedelta(days=MAX_LIFETIME_DAYS):
        raise ScopeError(f"a token lives between 1 hour and {MAX_LIFETIME_DAYS} days")
    return lifetime


def create_token(user, name: str = "", scopes=None, expires_in: dt.timedelta | None = None, actor=None) -> str:
    """A new API token for `user`. Only its sha256 is stored: the returned value is shown once. Without
    `scopes` it may do everything its user may (`*`); without `expires_in` it does not expire."""
    scopes = [ALL] if scopes is None else parse_scopes(scopes)
    expires_at = timezone.now() + expires_in if expires_in else None
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, key_hash=hash_token(token), name=(name or "")[:100], scopes=scopes,
                            expires_at=expires_at)  # fmt: skip
    record_audit(actor or user, "create_api_token", target=user.get_username(), name=name, scopes=scopes,
                 expires_at=expires_at.isoformat() if expires_at else None)  # fmt: skip
    return token


def revoke_token(user, name: str, actor=None) -> int:
    """Revoke `user`'s live tokens named `name` (`siyu token revoke`); the rows stay, marked revoked."""
    live = ApiToken.objects.filter(user=user, name=name, revoked_at__isnull=True)
    revoked = live.update(revoked_at=timezone.now())
    if revoked:
        record_audit(actor or user, "revoke_api_token", target=user.get_username(), name=name)
    return revoked


def issue_token(actor, user_id: int, name: str, scopes, expires_in: dt.timedelta | None) -> tuple[ApiToken, str]:
    """A new token for the active staff user `user_id` (the console's form): admins only, with a name and
    at least one scope (ScopeError in words). Returns the stored row and the token, to be shown once."""
    if not is_admin(actor):
        raise PermissionDenied("only an admin can create API tokens")
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or not role_of(user):
        raise ScopeError("choose an active staff member the token acts as")
    name = (name or "").strip()
    if not name:
        raise ScopeError("give the token a name that says what it is for (e.g. the shop system)")
    token = create_token(user, name, scopes=list(scopes or ()), expires_in=expires_in, actor=actor)
    return ApiToken.objects.get(key_hash=hash_token(token)), token


def revoke_token_by_id(actor, token_id: int) -> int:
    """Revoke one token (the console's button): admins only. 0 when there is no such live token."""
    if not is_admin(actor):
        raise PermissionDenied("only an admin can revoke API tokens")
    token = ApiToken.objects.filter(pk=token_id, revoked_at__isnull=True).select_related("user").first()
    if token is None:
        return 0
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    record_audit(actor, "revoke_api_token", target=token.user.get_username(), name=token.name)
    return 1


def token_for(token: str) -> ApiToken | None:
    """The stored live token of an active user (None for an unknown or revoked token or an inactive user); expired ones
    included (the caller says so in words). Marks it used at most once a minute."""
    if not token:
        return None
    live = ApiToken.objects.filter(key_hash=hash_token(token.strip()), revoked_at__isnull=True)
    found = live.select_related("user__staff").first()
    if found is None or not found.user.is_active:
        return None
    now = timezone.now()
    if found.last_used_at is None or (now - found.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
    return found


def user_for_token(token: str):
    """The active user a live token belongs to (None for an unknown, expired or inactive one)."""
    found = token_for(token)
    if found is None or (found.expires_at is not None and found.expires_at <= timezone.now()):
        return None
    return found.user
