"""The home (概览): what an operator should do today. Administrators and operators see the key figures
against the period before, what needs a person and what changed since yesterday; a store manager the
figures of their store (the brand's when the data names no store of theirs) and their guides' overdue
tasks; a guide their own tasks."""

from urllib.parse import urlencode

from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from siyu.console import queries
from siyu.staff.models import ANALYTICS_ROLES, Role
from siyu.staff.queries import can_import, role_of
from siyu.web.views import console_view, forbidden


def _figures(figures: dict, can_analyse: bool, range_query: str) -> list[dict]:
    """The four key figures as the home shows them, each linking to the page that explains it (the
    analytics pages over the same days) when the user may open it."""

    def page(name, *args):
        if not can_analyse:
            return ""
        url = reverse(name, args=args)
        return f"{url}?{range_query}" if args else url

    buyers = figures["buyers"].now
    return [
        {"name": "customers", "label": _("Customers"), "kind": "count", "href": page("console:customers"),
         "note": _("unified across channels, at the end of the period")},
        {"name": "private_pool", "label": _("Private-domain pool"), "kind": "count",
         "href": page("console:analytics", "funnel"),
         "note": _("customers who added a WeCom account or became members")},
        {"name": "gmv", "label": _("GMV"), "kind": "money", "href": page("console:analytics", "gmv_tree"),
         "note": _("purchases only: closed, refunded and unpaid orders left out")},
        {"name": "repurchase_rate", "label": _("Repurchase rate"), "kind": "rate",
         "href": page("console:analytics", "repurchase"),
         "note": ngettext("of %(buyers)s buyer: with two or more purchases in the period",
                          "of %(buyers)s buyers: with two or more purchases in the period", buyers)
         % {"buyers": f"{buyers:,}"}},
    ]  # fmt: skip


def _days(value) -> int:
    return (
        int(value) if str(value or "").isdigit() and int(value) in queries.PERIODS else queries.DEFAULT_PERIOD
    )


@console_view
def dashboard(request):
    user = request.user
    role = role_of(user)
    if role is None:
        return forbidden(
            request, _("This account has no staff role yet; ask an administrator to give it one.")
        )
    if role == Role.GUIDE:
        return render(request, "siyu/console/home_guide.html", {"role": role, **queries.guide_home(user)})
    manager = role == Role.MANAGER
    stores = queries.store_scope(user) if manager else ()
    period = queries.home_period(_days(request.GET.get("days")), stores)
    context = {
        "role": role,
        "can_import": can_import(user),
        "can_analyse": user.is_superuser or role in ANALYTICS_ROLES,
        "period": period,
        "previous": period.previous(),
        "periods": queries.PERIODS,
        "store_scoped": bool(stores),
    }
    can_analyse = context["can_analyse"]
    range_query = urlencode({"date_from": period.date_from, "date_to": period.date_to})
    figures = queries.key_figures(period)
    context["figures"] = [{**f, "t": figures[f["name"]]} for f in _figures(figures, can_analyse, range_query)]
    if manager:
        context.update(queries.store_home(user))
        return render(request, "siyu/console/dashboard.html", context)
    since = queries.since_yesterday()
    segments = queries.segment_changes(since)
    needs = queries.needs(user)
    context.update(
        counts=queries.dashboard_counts(),
        needs=needs,
        overdue_tasks=needs.overdue_tasks,
        since=since,
        segments=segments[: queries.SHOWN_SEGMENTS],
        more_segments=max(0, len(segments) - queries.SHOWN_SEGMENTS),
        journeys=queries.running_journeys(),
        jobs=queries.last_jobs(),
    )
    return render(request, "siyu/console/dashboard.html", context)
