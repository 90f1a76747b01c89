"""Console pages of live codes: the list of codes, and a code's page (its QR code, its staff and whom
WeCom offers now, and the latest adds). Codes are made and changed through siyu.acquisition.actions (the
API for now)."""

from __future__ import annotations

from django.shortcuts import render

from siyu.acquisition import labels, queries
from siyu.core.errors import PermissionDenied
from siyu.core.labels import label
from siyu.staff.models import Role
from siyu.staff.queries import has_role
from siyu.web.views import console_view


def _require(user) -> None:
    if not has_role(user, (Role.ADMIN, Role.OPERATOR)):
        raise PermissionDenied("only administrators and operators can see live codes")


@console_view
def code_list(request):
    _require(request.user)
    archived = request.GET.get("archived") == "1"
    rows = [
        {"code": code, "channel": label(labels.CHANNELS, code.channel), "kind": label(labels.KINDS, code.kind),
         "status": label(labels.STATUSES, queries.code_status(code)), "adds": code.add_count}
        for code in queries.list_codes(archived=archived)
    ]  # fmt: skip
    return render(request, "siyu/acquisition/codes.html", {"rows": rows, "archived": archived})


@console_view
def code_detail(request, code_id: int):
    _require(request.user)
    code = queries.get_code(code_id)
    staff = [{**row, "reason_label": label(labels.AVAILABILITY, row["reason"])}
             for row in queries.staff_availability(code)]  # fmt: skip
    adds = queries.code_adds(code, page=1)
    names = {row["userid"]: row["name"] for row in staff}
    recent = [{"add": a, "staff": names.get(a.staff_userid, a.staff_userid),
               "welcome": label(labels.WELCOME_OUTCOMES, a.welcome)} for a in adds["items"]]  # fmt: skip
    context = {
        "code": code,
        "channel": label(labels.CHANNELS, code.channel),
        "kind": label(labels.KINDS, code.kind),
        "status": label(labels.STATUSES, queries.code_status(code)),
        "tags": [t.label for t in code.auto_tags.all()],
        "staff": staff,
        "adds": recent,
        "add_total": adds["total"],
    }
    return render(request, "siyu/acquisition/code.html", context)
