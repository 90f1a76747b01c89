"""The community routers mounted on a NinjaAPI of their own, as siyu.api.api will mount them (the integrator
adds them there), so that the tests can call them before that."""

from django.urls import path
from ninja import NinjaAPI

from siyu.api.auth import auth
from siyu.community.archive.api import router as archive_router
from siyu.community.handover.api import router as handover_router
from siyu.core.errors import NotFound, PermissionDenied, SiyuError

api = NinjaAPI(auth=auth, urls_namespace="community-test-api")


def _error(status):
    def handler(request, exc):
        return api.create_response(request, {"detail": str(exc)}, status=status)

    return handler


api.add_exception_handler(PermissionDenied, _error(403))
api.add_exception_handler(NotFound, _error(404))
api.add_exception_handler(SiyuError, _error(400))
api.add_router("", archive_router)
api.add_router("", handover_router)

urlpatterns = [path("api/", api.urls)]
