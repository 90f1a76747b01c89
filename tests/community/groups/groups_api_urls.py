"""A URLconf mounting only the customer-groups router, as siyu.api.api will (the integrator mounts it
there): the same auth and error shapes."""

from django.urls import path
from ninja import NinjaAPI

from siyu.api.auth import auth
from siyu.community.groups.api import groups_router
from siyu.core.errors import NotFound, PermissionDenied, SiyuError

api = NinjaAPI(auth=auth, urls_namespace="groups_test_api")


def _error(status):
    def handler(request, exc):
        return api.create_response(request, {"detail": str(exc)}, status=status)

    return handler


api.add_exception_handler(PermissionDenied, _error(403))
api.add_exception_handler(NotFound, _error(404))
api.add_exception_handler(SiyuError, _error(400))
api.add_router("", groups_router)

urlpatterns = [path("api/", api.urls)]
