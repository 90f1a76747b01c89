"""`@roles(...)`: the staff roles an API route is for, declared on the route.

siyu.api.api.mount() hands the declaration to the route's authentication (siyu.api.auth), which ninja runs
before it reads the body: any other role gets 403 in words, never a 422 that tells it the body's shape. The
route itself checks the roles again when it runs (a router mounted some other way stays closed).
Pass the constant the action checks (e.g. `@roles(*JOURNEY_EDITORS)`), so the roles are named once. Checks
that scope data (a guide's own customers, a manager's store) stay in the actions."""

from __future__ import annotations

import functools
import types

from django.utils.translation import gettext as _

from siyu.core.errors import PermissionDenied
from siyu.staff.labels import ROLES as ROLE_WORDS
from siyu.staff.queries import has_role, role_of

ATTRIBUTE = "siyu_roles"


def roles(*allowed: str):
    """Declare the roles (siyu.staff.models.Role values) that may call the decorated API route."""
    assert allowed, "name at least one role"
    declared = frozenset(str(role) for role in allowed)
    assert declared <= set(ROLE_WORDS), f"unknown roles: {sorted(declared - set(ROLE_WORDS))}"

    def declare(view):
        check = _check

        def checked(request, *args, **kwargs):
            check(request.auth, declared)
            return view(request, *args, **kwargs)

        # the wrapper runs in the view's module globals (it names nothing global itself), so ninja resolves
        # the view's string annotations (`from __future__ import annotations`) where they were written
        checked = types.FunctionType(
            checked.__code__, view.__globals__, view.__name__, None, checked.__closure__
        )
        functools.update_wrapper(checked, view)
        setattr(checked, ATTRIBUTE, declared)
        return checked

    return declare


def _check(user, allowed: frozenset[str]) -> None:
    if not has_role(user, allowed):
        raise PermissionDenied(refusal(user, allowed))


def declared_roles(view) -> frozenset[str] | None:
    """The roles a route's view declared with @roles, or None."""
    return getattr(view, ATTRIBUTE, None)


def refusal(user, allowed: frozenset[str]) -> str:
    """Who may do this and what this account is, in words (Chinese first)."""
    names = "、".join(str(ROLE_WORDS[role]) for role in ROLE_WORDS if role in allowed)
    role = role_of(user)
    mine = str(ROLE_WORDS[role]) if role in ROLE_WORDS else _("no staff role")
    return _("Only %(roles)s may do this; this account is %(role)s.") % {"roles": names, "role": mine}
