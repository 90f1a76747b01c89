"""Request limits every screen and API route shares, checked before the body is read."""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

_MB = 1 << 20


def upload_limit_bytes() -> int:
    """The most one request may upload (settings UPLOAD_MAX_MB), files and fields together."""
    return int(settings.UPLOAD_MAX_MB * _MB)


def upload_too_large_message(size: int) -> str:
    return _(
        "This upload is %(size)s MB; at most %(limit)s MB can be uploaded at once. "
        "Import larger files with siyu import on the server."
    ) % {"size": _mb(size / _MB), "limit": _mb(settings.UPLOAD_MAX_MB)}


def _mb(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.2g}"


class UploadSizeLimitMiddleware:
    """Refuses (413) a request whose declared body is larger than UPLOAD_MAX_MB before anything reads it:
    placed before the CSRF check, which would parse (and spool to disk) a multipart body to find its token.
    Django reads no more than CONTENT_LENGTH of a body, so the declared length is the one that counts."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > upload_limit_bytes():
            message = upload_too_large_message(length)
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": message}, status=413)
            return render(request, "413.html", {"exception": message}, status=413)
        return self.get_response(request)
