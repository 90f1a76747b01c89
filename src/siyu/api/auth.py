"""API authentication: `Authorization: Bearer <token>` for scripts, the console's session for the browser."""

from django.utils.translation import gettext as _
from ninja.errors import HttpError
from ninja.security import HttpBearer, SessionAuth

from siyu.api.actions import user_for_token
from siyu.staff.auth import api_token_failed, api_token_locked


class ApiTokenAuth(HttpBearer):
    """A bearer token; an address that sent settings.AXES_FAILURE_LIMIT bad tokens is refused (429) for
    AXES_COOLOFF_TIME, whatever token it sends (siyu.staff.auth), and every failure is audited."""

    def authenticate(self, request, token):
        if api_token_locked(request):
            api_token_failed(request, locked=True)
            raise HttpError(429, _("Too many requests with a wrong API token from this address; try again later."))
        user = user_for_token(token)
        if user is None:
            api_token_failed(request, locked=False)
            return None
        request.user = user
        return user


class ConsoleSessionAuth(SessionAuth):
    """The logged-in console user (CSRF-checked on writes, as for every session form)."""


auth = [ApiTokenAuth(), ConsoleSessionAuth()]
