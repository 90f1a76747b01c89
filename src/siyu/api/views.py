"""The console's API token page (settings → API tokens, admins only): every token with its owner, scopes in
words, dates and state; a form that creates one for a staff member (the token shown on the answer only) and
a button that revokes one. Thin: siyu.api.actions and siyu.api.queries. Mounted in the console's namespace
by siyu.project.urls (the console and the API are faces side by side: neither imports the other)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from siyu.api import actions, labels, queries
from siyu.api.scopes import ScopeError
from siyu.staff.labels import ROLES
from siyu.staff.queries import display_name_of, role_of
from siyu.web.views import console_view, form_int


def _owner(user) -> str:
    role = role_of(user)
    return f"{display_name_of(user)}（{ROLES[role]}）" if role in ROLES else str(display_name_of(user))


def _state(token, now) -> str:
    if token.revoked_at:
        return _("Revoked")
    if token.expires_at and token.expires_at <= now:
        return _("Expired")
    return _("Valid")


def _page(request, form: dict, status: int = 200):
    now = timezone.now()
    rows = [
        {"token": t, "owner": _owner(t.user), "scopes": labels.scopes_label(t.scopes), "state": _state(t, now),
         "live": t.revoked_at is None}
        for t in queries.tokens(request.user)
    ]  # fmt: skip
    users = [(u.pk, _owner(u)) for u in queries.token_users(request.user)]
    context = {"rows": rows, "users": users, "scope_rows": labels.scope_choices(), "lifetimes": labels.LIFETIMES,
               "form": form}  # fmt: skip
    return render(request, "siyu/api/tokens.html", context, status=status)


def _form_errors(post) -> list[str]:
    errors = []
    if not post.get("name", "").strip():
        errors.append(_("Give the token a name that says what it is for, e.g. the shop system."))
    if not post.getlist("scopes"):
        errors.append(_("Choose at least one permission."))
    if post.get("expires_in", "") not in dict(labels.LIFETIMES):
        errors.append(_("Choose how long the token lasts."))
    if form_int(post.get("user")) is None:
        errors.append(_("Choose the staff member the token acts as."))
    return errors


@never_cache
@console_view
def tokens_page(request):
    queries.check_admin(request.user)  # before the form is read
    if request.method != "POST":
        return _page(request, {"expires_in": labels.DEFAULT_LIFETIME, "scopes": []})
    form = {"name": request.POST.get("name", ""), "user": form_int(request.POST.get("user")),
            "scopes": request.POST.getlist("scopes"), "expires_in": request.POST.get("expires_in", "")}  # fmt: skip
    errors = _form_errors(request.POST)
    if not errors:
        lifetime = actions.parse_lifetime(form["expires_in"]) if form["expires_in"] else None
        try:
            token, secret = actions.issue_token(
                request.user, form["user"], form["name"], form["scopes"], lifetime
            )
        except ScopeError as exc:
            errors.append(_("The token was not created: %(reason)s") % {"reason": exc})
        else:
            # the token is shown on this answer only: only its hash is kept
            context = {"secret": secret, "token": token, "owner": _owner(token.user),
                       "scopes": labels.scopes_label(token.scopes)}  # fmt: skip
            return render(request, "siyu/api/token_created.html", context)
    for error in errors:
        messages.error(request, error)
    return _page(request, form, status=400)


@require_POST
@console_view
def revoke(request, token_id: int):
    if actions.revoke_token_by_id(request.user, token_id):
        messages.success(request, _("The token was revoked: it no longer works."))
    else:
        messages.error(request, _("This token was already revoked."))
    return redirect("console:api_tokens")
