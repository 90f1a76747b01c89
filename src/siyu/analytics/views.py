"""Console pages of analytics: one view draws every page (filters, charts with their definitions, tables,
CSV/XLSX export); channel spend and customer lists are changed through `siyu.analytics.actions`."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import messages
from django.db.models import Count, Max
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from siyu.analytics import actions, queries
from siyu.analytics.charts import charts_for
from siyu.analytics.definitions import COMMON, DEFINITIONS, PAGE_TITLES
from siyu.analytics.errors import AnalyticsError
from siyu.analytics.exports import CONTENT_TYPES, export_page
from siyu.analytics.facts import filter_choices, last_purchase_day
from siyu.analytics.filters import default_days, default_today, parse_filters
from siyu.analytics.groups import group_from_file, group_from_request
from siyu.analytics.labels import column_label, factor_label, value_label
from siyu.analytics.models import ChannelSpend
from siyu.ingest.labels import source_labels
from siyu.segments.models import Segment
from siyu.staff.queries import check_analytics_access
from siyu.web.cache import cached
from siyu.web.views import console_view

RATE_WORDS = ("rate", "share", "conversion", "_to_")
# Tables whose every number is in yuan, whatever its column is named (a factor's contribution to the change)
MONEY_TABLES = ("contributions",)
TABLE_TITLES = {
    "funnel": gettext_lazy("Funnel (acquired in the range)"),
    "pool": gettext_lazy("User pool (acquired before the range ends)"),
    "factors": gettext_lazy("Factors"),
    "contributions": gettext_lazy("Contributions to the GMV change (yuan)"),
    "counts": gettext_lazy("Counts behind the factors"),
    "retention_by_month": gettext_lazy("Retention by first-purchase month"),
    "ltv_by_month": gettext_lazy("LTV by first-purchase month (yuan)"),
    "retention_by_channel": gettext_lazy("Retention by acquisition channel"),
    "ltv_by_channel": gettext_lazy("LTV by acquisition channel (yuan)"),
    "channels": gettext_lazy("Channels"),
    "links": gettext_lazy("Flows"),
    "closed_share": gettext_lazy("Sold while stores are closed"),
    "weekday_hour_orders": gettext_lazy("Orders by weekday and hour"),
    "hour_orders_by_channel": gettext_lazy("Orders by hour, per channel"),
    "repurchase": gettext_lazy("Repurchase rate"),
    "touchpoint_stage": gettext_lazy("Customers reached by touchpoint and lifecycle stage"),
    "operation_stage": gettext_lazy("Customers reached by operation and lifecycle stage"),
    "touch_cells": gettext_lazy("Touches and customers per operation, touchpoint and stage"),
    "code_funnel": gettext_lazy("Funnel through live codes (added in the range)"),
    "code_channels": gettext_lazy("Live codes by channel (added in the range)"),
    "code_campaigns": gettext_lazy("Live codes by campaign (added in the range)"),
}


def filters_from(data, page: str):
    today = default_today(page)
    if today is None and not data.get("date_to"):  # the last day with a purchase, once per data version
        today = cached("analytics:last_purchase_day", last_purchase_day)
    return parse_filters(
        data.get("date_from"),
        data.get("date_to"),
        data.getlist("channel"),
        data.getlist("store"),
        default_days=default_days(page),
        today=today,
    )


def run_page(page: str, f, data) -> dict | None:
    """The page's result for these filters (once per data version: siyu.web.cache); None on page 8
    while no group is chosen. Not cached: a group by tag (tags change without a job)."""
    if page == "repurchase" and data.get("tag"):
        return _run_page(page, f, data)
    inputs = [repr(f)] + [f"{k}={data.get(k)}" for k in ("open_hour", "close_hour", "list", "segment")]
    if page == "channel_roi":  # the spend operators enter changes without a job
        inputs.append(str(ChannelSpend.objects.aggregate(n=Count("pk"), last=Max("pk"))))
    return cached(f"analytics:{page}:{'|'.join(inputs)}", lambda: _run_page(page, f, data))


def _run_page(page: str, f, data) -> dict | None:
    if page == "sales_by_hour":
        return queries.sales_by_hour(f, data.get("open_hour"), data.get("close_hour"))
    if page == "repurchase":
        group = group_from_request(data.get("list"), data.get("tag"), data.get("segment"))
        return queries.repurchase(f, group) if group else None
    return queries.PAGES[page](f)


def _is_rate(table: str, column: str) -> bool:
    if table in MONEY_TABLES:
        return False
    if column.endswith("_rate"):
        return True
    return any(word in column for word in RATE_WORDS) or (
        table.startswith("retention") and column[1:].isdigit()
    )


def _shown(table: str, column: str, value, sources: dict[str, str]) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    words = value_label(table, column, value, sources)
    if words is not None:
        return str(words)
    if isinstance(value, float) and _is_rate(table, column):
        return f"{value:.2%}"
    if isinstance(value, Decimal) or (isinstance(value, float) and table in MONEY_TABLES):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def display_tables(result: dict) -> list[dict]:
    """The page's tables as the console shows them: columns and codes in words (siyu.analytics.labels),
    numbers formatted."""
    sources = source_labels()
    out = []
    for name, rows in result["tables"].items():
        columns = list(rows[0]) if rows else []
        out.append(
            {
                "name": name,
                "title": TABLE_TITLES.get(name, name),
                "columns": [column_label(name, c) for c in columns],
                "rows": [[_shown(name, c, row.get(c), sources) for c in columns] for row in rows],
            }
        )
    return out


@console_view
def analytics_index(request):
    check_analytics_access(request.user)
    return redirect("console:analytics", page="funnel")


@console_view
def analytics_page(request, page: str):
    if page not in queries.PAGES:
        raise Http404
    check_analytics_access(request.user)
    error = None
    try:
        f = filters_from(request.GET, page)
        result = run_page(page, f, request.GET)
    except AnalyticsError as exc:
        error = str(exc)
        f = parse_filters(default_days=default_days(page))
        result = None
    fmt = request.GET.get("format")
    if fmt and result is not None:
        try:
            content, name = export_page(result, fmt, request.GET.get("table"))
        except AnalyticsError as exc:
            error = str(exc)
        else:
            response = HttpResponse(content, content_type=CONTENT_TYPES[fmt])
            response["Content-Disposition"] = f'attachment; filename="{name}"'
            return response
    query = request.GET.copy()
    query.pop("format", None)
    query.pop("table", None)
    context = {
        "page": page,
        "pages": list(PAGE_TITLES.items()),
        "title": PAGE_TITLES[page],
        "common_definition": COMMON,
        "page_definition": DEFINITIONS[page],
        "filters": f,
        "choices": cached("analytics:filter_choices", filter_choices),
        "result": result,
        "charts": charts_for(result) if result else [],
        "tables": display_tables(result) if result else [],
        "error": error,
        "query": query.urlencode(),
        "request_data": request.GET,
    }
    if page == "channel_roi":
        context["spends"] = ChannelSpend.objects.all()[:500]
    if page == "repurchase":

        context["segments"] = Segment.objects.filter(refreshed_at__isnull=False)
    if page == "formula" and result:
        context["factor_cards"] = [
            {
                "factor": row["factor"],
                "label": factor_label(row["factor"]),
                "available": row["available"],
                "value": _shown("factors", row["factor"], row["value"], {}),
                "previous": _shown("factors", row["factor"], row["previous"], {}),
            }
            for row in result["tables"]["factors"]
        ]
    if page == "sales_by_hour":
        opening, closing = queries.store_hours()
        context["store_hours"] = result["store_hours"] if result else {"open": opening, "close": closing}
    return render(request, "siyu/analytics/page.html", context)


def _back_to(page: str, query: str = "") -> str:
    url = reverse("console:analytics", kwargs={"page": page})
    return f"{url}?{query}" if query else url


@console_view
@require_POST
def spend_add(request):
    data = request.POST
    try:
        actions.record_spend(
            request.user,
            data.get("channel"),
            data.get("date_from"),
            data.get("date_to"),
            data.get("amount"),
            data.get("note"),
        )
    except AnalyticsError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Spend saved."))
    return redirect(_back_to("channel_roi", data.get("query", "")))


@console_view
@require_POST
def spend_import(request):
    upload = request.FILES.get("file")
    try:
        if upload is None:
            raise AnalyticsError("choose a CSV file of spend rows")
        saved = actions.import_spend_csv(request.user, upload.read())
    except AnalyticsError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("%(count)d spend rows imported.") % {"count": len(saved)})
    return redirect(_back_to("channel_roi", request.POST.get("query", "")))


@console_view
@require_POST
def spend_delete(request, spend_id: int):
    actions.delete_spend(request.user, spend_id)
    return redirect(_back_to("channel_roi", request.POST.get("query", "")))


@console_view
@require_POST
def customer_list_upload(request):
    upload = request.FILES.get("file")
    query = request.POST.get("query", "")
    try:
        if upload is None:
            raise AnalyticsError("choose a file of customer ids")
        check_analytics_access(request.user)
        group = group_from_file(upload.name, upload.read())
        list_id = actions.save_customer_list(request.user, group)
    except AnalyticsError as exc:
        messages.error(request, str(exc))
        return redirect(_back_to("repurchase", query))
    kept = "&".join(p for p in query.split("&") if p and not p.startswith(("list=", "tag=")))
    return redirect(_back_to("repurchase", f"{kept}&list={list_id}" if kept else f"list={list_id}"))
