"""Console pages of the points ledger: the overview (the liability and the latest entries) and a customer's
ledger with a manual adjustment form. Thin: reads from queries, changes through actions."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from siyu.core.errors import PermissionDenied
from siyu.customers.queries import check_access
from siyu.loyalty.points import actions, queries
from siyu.loyalty.points.errors import InsufficientPoints, InvalidPoints
from siyu.staff.models import Role
from siyu.staff.queries import has_role
from siyu.web.views import console_view

LIABILITY_ROLES = (Role.ADMIN, Role.OPERATOR, Role.MANAGER)


def _page_number(request) -> int:
    page = request.GET.get("page") or "1"
    return int(page) if page.isdigit() and 0 < int(page) < 1_000_000 else 1


@console_view
def points_overview(request):
    if not has_role(request.user, LIABILITY_ROLES):
        raise PermissionDenied("the points liability is for admins, operators and store managers")
    return render(request, "siyu/loyalty/points/overview.html", {
        "liability": queries.liability(), "recent": queries.recent_entries(50),
    })  # fmt: skip


@console_view
def customer_points(request, customer_id: int):
    check_access(request.user, customer_id)
    history = queries.history_of(customer_id, _page_number(request))
    return render(request, "siyu/loyalty/points/customer.html", {
        "customer_id": customer_id, "balance": queries.balance_of(customer_id), "history": history,
        "can_adjust": has_role(request.user, actions.ADJUST_ROLES), "form_key": uuid.uuid4().hex,
    })  # fmt: skip


@console_view
def customer_points_adjust(request, customer_id: int):
    if request.method != "POST":
        return redirect("console:loyalty_points_customer", customer_id=customer_id)
    check_access(request.user, customer_id)
    text = (request.POST.get("delta") or "").strip()
    reason = (request.POST.get("reason") or "").strip()[:200].replace("\x00", "")
    key = (request.POST.get("key") or "").strip()[:100] or uuid.uuid4().hex
    try:
        delta = int(text)
    except ValueError:
        messages.error(request, _("Enter a whole number of points, for example 100 or -50."))
        return redirect("console:loyalty_points_customer", customer_id=customer_id)
    try:
        actions.adjust_points(request.user, customer_id, delta, reason=reason,
                              key=f"console-adjust:{request.user.pk}:{key}")  # fmt: skip
    except InsufficientPoints as exc:
        messages.error(request, _("Not enough points: the member has %(n)s available.") % {"n": exc.available})
    except InvalidPoints:
        messages.error(request, _("Give a number of points other than zero and a reason."))
    else:
        messages.success(request, _("Points adjusted."))
    return redirect("console:loyalty_points_customer", customer_id=customer_id)
