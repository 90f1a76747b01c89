"""API authentication: `Authorization: Bearer <token>` for scripts, the console's session for the browser.

Ninja runs these before it reads the body, so a token that expired or lacks the scope of the route is
refused (401/403, in words) before anything it sent is parsed or validated. So is a user whose role the
route does not declare (siyu.staff.roles): a guide gets 403 from an operators' route, whatever its body.
Only an admitted request's texts are then checked for a NUL character (422, `refuse_nul_text`)."""

import json
import re

from django.utils import formats, timezone
from django.utils.translation import gettext as _
from ninja.errors import HttpError, ValidationError
from ninja.security import HttpBearer, SessionAuth

from siyu.api.actions import token_for
from siyu.api.scopes import READ, access_for, allows
from siyu.staff.auth import api_token_failed, api_token_locked
from siyu.staff.queries import has_role
from siyu.staff.roles import refusal


def check_roles(user, roles: frozenset[str] | None) -> None:
    """403 in words when the route declares its roles (siyu.staff.roles) and the user has none of them."""
    if roles is not None and not has_role(user, roles):
        raise HttpError(403, refusal(user, roles))


# a JSON text escapes NUL as \u0000; preceded by an even number of backslashes it is that escape, not the
# text "\u0000" (an escaped backslash, then "u0000")
_JSON_NUL = re.compile(r"(?:^|[^\\])(?:\\\\)*\\u0000")
_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")


def _has_nul(name: str, values: list[str]) -> bool:
    return any("\x00" in text for text in [name, *values])


def refuse_nul_text(request) -> None:
    """A 422 (ninja's ValidationError, as a field the API's validation refused) when a path or a query
    parameter, a form field or a text of the JSON body (a key or a value, at any depth) holds a NUL
    character: neither PostgreSQL nor the warehouse's SQL takes one, so it would end in a 500 (seen: a
    chat-archive room filter on DuckDB, a sensitive-word rule's pattern on PostgreSQL). One check for every
    route instead of one per field, run by the authentication once the user and the role are admitted and
    before Ninja parses the body: a caller who may not use the route is told so (401/403), not about its
    texts. Ninja parses a body as JSON whatever its Content-Type (and in UTF-16 or UTF-32 too), so every
    non-form body is read as JSON text would be; a raw NUL there is no JSON (Ninja answers 400)."""
    match = request.resolver_match
    path = match.kwargs.items() if match is not None else ()
    bad = [["path", name] for name, value in path if isinstance(value, str) and "\x00" in value]
    bad += [["query", name] for name, values in request.GET.lists() if _has_nul(name, values)]
    if request.content_type in _FORMS:
        bad += [["form", name] for name, values in request.POST.lists() if _has_nul(name, values)]
    elif request.body:
        try:
            text = request.body.decode(json.detect_encoding(request.body), "surrogatepass")
        except UnicodeDecodeError:
            text = ""  # no JSON: Ninja answers 400 when it reads it
        if "\\u0000" in text and _JSON_NUL.search(text):
            bad.append(["body"])
    if bad:
        message = _("A text may not contain a NUL character.")
        raise ValidationError([{"loc": loc, "msg": message, "type": "value_error"} for loc in bad])


def admit(request, user, roles: frozenset[str] | None) -> None:
    """What every authentication checks once it knows the user, before Ninja parses the body: the route's
    declared roles (403), then the request's texts (422 for a NUL character)."""
    check_roles(user, roles)
    refuse_nul_text(request)


class ApiTokenAuth(HttpBearer):
    """A bearer token, for the routes of one area (siyu.api.scopes; None: routes outside every area).
    An address that sent settings.AXES_FAILURE_LIMIT bad tokens is refused (429) for AXES_COOLOFF_TIME,
    whatever token it sends (siyu.staff.auth), and every failure is audited. An expired token gets 401, a
    token without the scope of the route 403, and so does a user whose role the route does not declare."""

    def __init__(self, area: str | None = None, roles: frozenset[str] | None = None):
        super().__init__()
        self.area = area
        self.roles = roles

    def authenticate(self, request, token):
        if api_token_locked(request):
            api_token_failed(request, locked=True)
            raise HttpError(429, _("Too many requests with a wrong API token from this address; try again later."))
        found = token_for(token)
        if found is None:
            api_token_failed(request, locked=False)
            return None
        if found.expires_at is not None and found.expires_at <= timezone.now():
            when = formats.date_format(timezone.localtime(found.expires_at), "Y-m-d H:i")
            raise HttpError(401, _("This API token expired on %(when)s; ask an admin for a new one.") % {"when": when})
        access = access_for(request.method)
        if not allows(found.scopes, self.area, access):
            if access == READ:
                message = _("This API token may not read %(area)s; it needs the scope %(scope)s.")
            else:
                message = _("This API token may not change %(area)s; it needs the scope %(scope)s.")
            area = self.area or _("this part of the API")
            raise HttpError(403, message % {"area": area, "scope": f"{self.area}:{access}" if self.area else "*"})
        admit(request, found.user, self.roles)
        request.user = found.user
        request.api_token = found
        return found.user


class ConsoleSessionAuth(SessionAuth):
    """The logged-in console user (CSRF-checked on writes, as for every session form), with one of the
    route's declared roles (403 otherwise)."""

    def __init__(self, roles: frozenset[str] | None = None):
        super().__init__()
        self.roles = roles

    def authenticate(self, request, key):
        user = super().authenticate(request, key)
        if user is not None:
            admit(request, user, self.roles)
        return user


def auth_for(area: str | None, roles: frozenset[str] | None = None):
    """The authentication of one area's routes: a token with its scope, or a console session; with the
    route's declared roles (siyu.staff.roles), a user of another role is refused too."""
    return [ApiTokenAuth(area, roles), ConsoleSessionAuth(roles)]


auth = auth_for(None)  # routes mounted outside every area: a console session or a token with every scope
