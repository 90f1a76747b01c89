"""/api/analytics: every analytics page's numbers as JSON or as a CSV/XLSX file, channel spend, and customer
lists for page 8. Administrators and operators only, like the console pages."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.http import HttpResponse
from ninja import Field, Path, Query, Router, Schema

from siyu.analytics import actions, queries
from siyu.analytics.errors import InvalidCustomerList
from siyu.analytics.exports import CONTENT_TYPES, export_page
from siyu.analytics.filters import default_days, default_today, parse_filters
from siyu.analytics.groups import group_from_ids, group_from_request
from siyu.analytics.models import ChannelSpend
from siyu.staff.models import ANALYTICS_ROLES
from siyu.staff.roles import roles
from siyu.web.idempotency import IdempotencyKeyHeader, run_once
from siyu.web.schemas import ErrorOut, ValidationErrorOut

router = Router(tags=["analytics"])

Page = Literal[
    "funnel", "gmv_tree", "formula", "cohorts", "channel_roi", "traffic_map", "sales_by_hour", "repurchase",
    "touch_grid",
]
Names = Annotated[list[Annotated[str, Field(max_length=200)]], Query(max_length=100)]
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 422: ValidationErrorOut}
WRITE_ERRORS = {**ERRORS, 404: ErrorOut, 409: ErrorOut}


class PageOut(Schema):
    page: str
    filters: dict[str, Any]
    tables: dict[str, list[dict[str, Any]]] = Field(description="the page's tables, as on the console")
    details: dict[str, Any] = Field(
        description="the page's other numbers (group, store hours, Sankey nodes…)"
    )


class PageFilters(Schema):
    date_from: date | None = Field(
        None, description="first day (local); default: 90 days (cohorts 365) to date_to"
    )
    date_to: date | None = Field(
        None, description="last day (local); default: the day of the latest purchase"
    )
    channel: Names = Field(default_factory=list, description="import sources; none: all")
    store: Names = Field(default_factory=list, description="stores; none: all")
    open_hour: int | None = Field(None, ge=0, le=23, description="sales_by_hour: stores open at (whole hour)")
    close_hour: int | None = Field(
        None, ge=1, le=24, description="sales_by_hour: stores close at (whole hour)"
    )
    list: str | None = Field(
        None, max_length=32, description="repurchase: a customer list id (POST /analytics-customer-lists)"
    )
    tag: str | None = Field(None, max_length=201, description="repurchase: everyone with this tag")
    segment: int | None = Field(
        None, ge=1, le=2**63 - 1, description="repurchase: a segment's members at its last refresh"
    )


def _result(page: str, q: PageFilters) -> dict:
    f = parse_filters(
        q.date_from, q.date_to, q.channel, q.store, default_days=default_days(page), today=default_today(page)
    )
    if page == "sales_by_hour":
        return queries.sales_by_hour(f, q.open_hour, q.close_hour)
    if page == "repurchase":
        group = group_from_request(q.list, q.tag, q.segment)
        if group is None:

            raise InvalidCustomerList("repurchase needs a group: list=<customer list id>, tag=<tag> or segment=<segment id>")
        return queries.repurchase(f, group)
    return queries.PAGES[page](f)


@router.get("/analytics/{page}", response={200: PageOut, **ERRORS}, summary="One analytics page's numbers")
@roles(*ANALYTICS_ROLES)
def analytics_page(request, page: Annotated[Page, Path()], q: Query[PageFilters]):
    result = _result(page, q)
    details = {k: v for k, v in result.items() if k not in ("page", "filters", "tables")}
    return {
        "page": result["page"],
        "filters": result["filters"],
        "tables": result["tables"],
        "details": details,
    }


@router.get(
    "/analytics/{page}/export",
    response={200: bytes, **ERRORS},
    summary="One analytics page as CSV (one table) or XLSX (every table)",
    openapi_extra={
        "responses": {
            200: {
                "content": {
                    t.split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
                    for t in CONTENT_TYPES.values()
                }
            }
        }
    },
)
@roles(*ANALYTICS_ROLES)
def export_analytics_page(
    request,
    page: Annotated[Page, Path()],
    q: Query[PageFilters],
    format: Annotated[Literal["csv", "xlsx"], Query()] = "csv",
    table: Annotated[str | None, Query(max_length=100)] = None,
):
    content, name = export_page(_result(page, q), format, table)
    response = HttpResponse(content, content_type=CONTENT_TYPES[format])
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class SpendIn(Schema):
    channel: str = Field(min_length=1, max_length=100)
    date_from: date
    date_to: date
    amount: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    note: str = Field("", max_length=200)


class SpendOut(Schema):
    id: int
    channel: str
    date_from: date
    date_to: date
    amount: Decimal
    note: str


def _spend_out(spend: ChannelSpend) -> dict:
    return {
        "id": spend.pk,
        "channel": spend.channel,
        "date_from": spend.date_from,
        "date_to": spend.date_to,
        "amount": spend.amount,
        "note": spend.note,
    }


@router.get("/analytics-spend", response={200: list[SpendOut], **ERRORS}, summary="Channel spend rows")
@roles(*ANALYTICS_ROLES)
def list_spend(request):
    return [_spend_out(s) for s in ChannelSpend.objects.all()]


@router.post("/analytics-spend", response={201: SpendOut, **WRITE_ERRORS}, summary="Add a channel spend row")
@roles(*ANALYTICS_ROLES)
def add_spend(request, response: HttpResponse, body: SpendIn, idempotency_key: IdempotencyKeyHeader):
    def run():
        spend = actions.record_spend(
            request.auth, body.channel, body.date_from, body.date_to, body.amount, body.note
        )
        return _spend_out(spend)

    return run_once(request, response, idempotency_key, body, run, status=201)


class SpendDeletedOut(Schema):
    deleted: bool


@router.delete(
    "/analytics-spend/{spend_id}", response={200: SpendDeletedOut, **WRITE_ERRORS}, summary="Delete a spend row"
)
@roles(*ANALYTICS_ROLES)
def delete_spend(
    request,
    response: HttpResponse,
    spend_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    idempotency_key: IdempotencyKeyHeader,
):
    return run_once(
        request,
        response,
        idempotency_key,
        {"spend_id": spend_id},
        lambda: {"deleted": actions.delete_spend(request.auth, spend_id)},
    )


class CustomerListIn(Schema):
    name: str = Field("list", max_length=200)
    customer_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(min_length=1, max_length=1_000_000)


class CustomerListOut(Schema):
    list_id: str
    customers: int


@router.post(
    "/analytics-customer-lists",
    response={201: CustomerListOut, **WRITE_ERRORS},
    summary="Keep a list of customer ids to compare on the repurchase page (list=<list_id>)",
)
@roles(*ANALYTICS_ROLES)
def add_customer_list(
    request, response: HttpResponse, body: CustomerListIn, idempotency_key: IdempotencyKeyHeader
):
    def run():
        group = group_from_ids(body.customer_ids, label=body.name or "list")
        list_id = actions.save_customer_list(request.auth, group)
        return {"list_id": list_id, "customers": len(group.customer_ids)}

    return run_once(request, response, idempotency_key, body, run, status=201)
