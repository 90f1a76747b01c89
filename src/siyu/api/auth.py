"""API authentication: `Authorization: Bearer <token>` for scripts, the console's session for the browser."""

from ninja.security import HttpBearer, SessionAuth

from siyu.api.actions import user_for_token


class ApiTokenAuth(HttpBearer):
    def authenticate(self, request, token):
        user = user_for_token(token)
        if user is not None:
            request.user = user
        return user


class ConsoleSessionAuth(SessionAuth):
    """The logged-in console user (CSRF-checked on writes, as for every session form)."""


auth = [ApiTokenAuth(), ConsoleSessionAuth()]
