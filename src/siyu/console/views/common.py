"""What every console view shares: login, who may do what, and turning domain errors into pages."""

from __future__ import annotations

import functools
import logging

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.shortcuts import render

from siyu.core.errors import PermissionDenied
from siyu.customers.errors import CustomerNotFound
from siyu.staff.models import Role
from siyu.staff.queries import role_of

logger = logging.getLogger("siyu.console")

# Who may import channel files, run identity resolution and follow those jobs.
IMPORT_ROLES = {Role.ADMIN, Role.OPERATOR}
# Who may change a customer's owner guide.
ASSIGN_ROLES = {Role.ADMIN, Role.OPERATOR, Role.MANAGER}


def is_admin(user) -> bool:
    return bool(user.is_authenticated and (user.is_superuser or role_of(user) == Role.ADMIN))


def can_import(user) -> bool:
    return is_admin(user) or role_of(user) in IMPORT_ROLES


def can_assign_owner(user) -> bool:
    return is_admin(user) or role_of(user) in ASSIGN_ROLES


def forbidden(request, message: str = "", *, english_only: bool = False):
    """The 403 page. `english_only`: the message comes from a domain error (English), so it is shown only
    when the console is in English."""
    return render(request, "403.html", {"exception": message, "english_only": english_only}, status=403)


def not_found(request, message: str = ""):
    return render(request, "404.html", {"exception": message}, status=404)


def console_view(view):
    """Login required; PermissionDenied -> 403 page, CustomerNotFound -> 404 page, a busy warehouse -> 503."""

    @login_required
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        from siyu.warehouse import WarehouseBusy

        try:
            return view(request, *args, **kwargs)
        except (PermissionDenied, DjangoPermissionDenied) as exc:
            return forbidden(request, str(exc), english_only=True)
        except CustomerNotFound as exc:
            context = {"exception": str(exc), "english_only": True, "merged_into": exc.merged_into}
            return render(request, "404.html", context, status=404)
        except WarehouseBusy as exc:
            return render(
                request, "siyu/console/busy.html", {"exception": str(exc), "english_only": True}, status=503
            )

    return wrapper
