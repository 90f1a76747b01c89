from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
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
