"""What every console view shares: login, and turning domain errors into pages. Who may do what is
siyu.staff.queries's (has_role)."""

from __future__ import annotations

import functools
import logging

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.shortcuts import render

from siyu.core.errors import DataPlaneBusy, NotFound, PermissionDenied

logger = logging.getLogger("siyu.console")

def form_int(value, default: int | None = None) -> int | None:
    """A whole number a form field holds (digits only, under 12 of them), else `default`."""
    value = (value or "").strip()
    return int(value) if value.isdigit() and len(value) < 12 else default


def forbidden(request, message: str = "", *, english_only: bool = False):
    """The 403 page. `english_only`: the message comes from a domain error (English), so it is shown only
    when the console is in English."""
    return render(request, "403.html", {"exception": message, "english_only": english_only}, status=403)


def not_found(request, message: str = ""):
    return render(request, "404.html", {"exception": message}, status=404)


def console_view(view):
    """Login required; PermissionDenied -> 403 page, NotFound (a customer, a segment…) -> 404 page, a busy
    warehouse -> 503."""

    @login_required
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except (PermissionDenied, DjangoPermissionDenied) as exc:
            return forbidden(request, str(exc), english_only=True)
        except NotFound as exc:
            context = {"exception": str(exc), "english_only": True, "merged_into": getattr(exc, "merged_into", None)}
            return render(request, "404.html", context, status=404)
        except DataPlaneBusy as exc:
            return render(
                request, "siyu/console/busy.html", {"exception": str(exc), "english_only": True}, status=503
            )

    return wrapper
