"""Reading API tokens for the console's token page (admins only); never the token itself, which is not kept."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from siyu.api.models import ApiToken
from siyu.core.errors import PermissionDenied
from siyu.staff.queries import is_admin


def check_admin(user) -> None:
    """PermissionDenied unless `user` is an admin (the token page, before it reads a form)."""
    if not is_admin(user):
        raise PermissionDenied("only an admin can see API tokens")


def tokens(user) -> list[ApiToken]:
    """Every token, live, expired or revoked, newest first, with its user."""
    check_admin(user)
    return list(ApiToken.objects.select_related("user__staff").order_by("-created_at", "-pk"))


def token_users(user) -> list:
    """The active staff members a token may act as (their role still applies), by name."""
    check_admin(user)
    users = get_user_model().objects.filter(is_active=True).select_related("staff")
    staff = [u for u in users if getattr(u, "staff", None) is not None or u.is_superuser]
    return sorted(
        staff, key=lambda u: (getattr(u, "staff", None) and u.staff.display_name) or u.get_username()
    )
