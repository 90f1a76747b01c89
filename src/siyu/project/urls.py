import sys

from django.contrib import admin
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.urls import include, path
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.views import defaults

from siyu.api import urls as api_pages
from siyu.api.api import api
from siyu.console import urls as console

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("m/", include("siyu.members.urls")),
    # the console, with the API's token page in its namespace (the two faces import neither the other)
    path(
        "",
        include(
            (
                [*console.urlpatterns, path("settings/api-tokens/", include(api_pages.urlpatterns))],
                console.app_name,
            )
        ),
    ),
]


def not_found(request, exception=None):
    """A 404 under /api/ answers in JSON, as the API's own 404s do ({"detail": …}): a path no route matches
    (an id that is no whole number, e.g. -1 where a route takes digits) is still an answer a client parses."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _("No such address: %(path)s") % {"path": request.path}}, status=404)
    return defaults.page_not_found(request, exception)


handler404 = not_found


def server_error(request):
    """A control-plane database that does not answer (PostgreSQL restarting or down, a connection dropped) is
    a 503 saying so, with Retry-After, not a bare 500: a client retries, an operator reloads (docs/faults.md).
    Nothing here touches the database (no session, no template context)."""
    if isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        message = _(
            "The database does not answer right now (it may be restarting). Try again in a few seconds."
        )
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": message}, status=503)
        else:
            page = f'<!doctype html><meta charset="utf-8"><title>503</title><p>{escape(message)}</p>'
            response = HttpResponse(page, status=503, content_type="text/html; charset=utf-8")
        response["Retry-After"] = "5"
        return response
    return defaults.server_error(request)


handler500 = server_error
