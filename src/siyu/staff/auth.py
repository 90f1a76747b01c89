"""Signing in: throttling and lock-out (django-axes) and the audit log of every failure.

The console's login counts wrong passwords per username and client address; after settings.AXES_FAILURE_LIMIT
of them the username is locked out from that address for AXES_COOLOFF_TIME (a success resets the count). A
bad API token counts the same way under one name for all tokens (`API_TOKEN_NAME`), so an address that tries
tokens is locked out of the API without locking anyone's console login. Every failure and every refused
attempt during a lock-out is in the audit log (actions "login_failed", "login_locked_out",
"api_token_failed", "api_token_locked_out"), with the address and never the password or token.
"""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from axes.handlers.proxy import AxesProxyHandler
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.shortcuts import render

from siyu.core.actions import record_audit

API_TOKEN_NAME = "(API token)"  # the name bad tokens are counted under; not a valid username (spaces)


class LoginThrottleBackend(AxesStandaloneBackend):
    """Refuses a login that django-axes has locked out. Without a request (the CLI, `siyu createuser`,
    a script calling authenticate) there is no address to count against, so nothing is throttled."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_response(request, original_response=None, credentials=None):
    """The page a locked-out sign-in gets (429), in the console's words (settings.AXES_LOCKOUT_CALLABLE)."""
    context = {
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "minutes": round(settings.AXES_COOLOFF_TIME.total_seconds() / 60),
    }
    return render(request, "siyu/console/locked_out.html", context, status=429)


def client_address(request) -> str:
    """The address failures are counted against: REMOTE_ADDR, or behind the TLS proxy
    (settings.BEHIND_TLS_PROXY) the last address of X-Forwarded-For, the one the proxy appended (the ones
    before it are whatever the client sent)."""
    if settings.BEHIND_TLS_PROXY:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if forwarded[-1]:
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR", "")


@receiver(user_login_failed, dispatch_uid="siyu.staff.audit_login_failed")
def audit_login_failed(sender, credentials, request=None, **kwargs):
    """Every failed console sign-in (a wrong password, or any password while locked out)."""
    if request is None:
        return
    record_audit(
        None,
        "login_failed",
        str(credentials.get("username") or "")[:200],
        ip=client_address(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:200],
    )


@receiver(user_locked_out, dispatch_uid="siyu.staff.audit_locked_out")
def audit_locked_out(sender, request, username, ip_address, **kwargs):
    """The failure that reached the limit, and each attempt refused while the lock-out lasts."""
    if username == API_TOKEN_NAME:
        return  # recorded by api_token_failed
    record_audit(None, "login_locked_out", str(username or "")[:200], ip=ip_address,
                 minutes=round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))  # fmt: skip


def api_token_locked(request) -> bool:
    """Whether the request's address is locked out of token authentication."""
    return AxesProxyHandler.is_locked(request, {"username": API_TOKEN_NAME})


def api_token_failed(request, *, locked: bool) -> None:
    """A request with a bad token (or any token while its address is locked out): counted and audited."""
    if not locked:
        AxesProxyHandler.user_login_failed(sender=LoginThrottleBackend, credentials={"username": API_TOKEN_NAME},
                                           request=request)  # fmt: skip
        record_audit(None, "api_token_failed", request.path[:200], ip=client_address(request), method=request.method)
        locked = bool(getattr(request, "axes_locked_out", False))  # this failure reached the limit
    if locked:
        record_audit(None, "api_token_locked_out", request.path[:200], ip=client_address(request),
                     method=request.method, minutes=round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))  # fmt: skip
