"""Read side of the console pages that no domain app owns: the home (key figures, what needs a person,
what changed), the data counts and filter choices. The domains' facts come from their own queries.

Warehouse reads are Ibis expressions over `siyu.warehouse.backend()` (no SQL here), so they run on every
supported backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.utils import timezone

from siyu.analytics import queries as analytics_queries
from siyu.analytics.filters import parse_filters
from siyu.core.models import Job
from siyu.customers.models import Tag
from siyu.customers.queries import list_customers
from siyu.engagement.guides import queries as task_queries
from siyu.engagement.guides.models import GuideTask
from siyu.engagement.journeys import queries as journey_queries
from siyu.engagement.journeys.models import Journey
from siyu.engagement.messaging import queries as messaging_queries
from siyu.identity import queries as identity_queries
from siyu.segments import queries as segment_queries
from siyu.segments.models import Segment
from siyu.segments.queries import filter_choices as trait_choices
from siyu.staff.models import Store
from siyu.staff.queries import store_of
from siyu.warehouse import backend, warehouse_key
from siyu.warehouse.orders import is_purchase
from siyu.web.cache import data_version

CACHE_SECONDS = 300


@dataclass
class DashboardCounts:
    """What the warehouse holds: customers, imported records and orders, GMV of every purchase to date."""

    customers: int
    records: int
    orders: int
    gmv: Decimal
    last_import: Job | None
    last_batch_at: object = None


def _scalar(expr, default=0):
    value = expr.execute()
    if value is None:
        return default
    try:
        if value != value:  # NaN from an empty aggregate
            return default
    except TypeError:
        pass
    return value


def _cached(name: str, compute):
    key = f"siyu.console:{name}:{warehouse_key()}:{data_version()}"
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, CACHE_SECONDS)
    return value


def dashboard_counts() -> DashboardCounts:
    counts = _cached("dashboard", _warehouse_counts)
    counts.last_import = Job.objects.filter(kind="import").select_related("created_by").first()
    return counts


def _warehouse_counts() -> DashboardCounts:
    con = backend()
    summary = con.table("customer_summary")
    records = con.table("records")
    orders = con.table("orders")
    batches = con.table("import_batches")
    # one pass over the orders; GMV counts purchases only (siyu.analytics.facts), not closed, refunded or
    # unpaid orders
    totals = orders.aggregate(
        orders=orders.count(), gmv=orders.amount.sum(where=is_purchase(orders))
    )
    totals = totals.to_pyarrow().to_pylist()[0]
    return DashboardCounts(
        customers=int(_scalar(summary.count())),
        records=int(_scalar(records.count())),
        orders=int(totals["orders"] or 0),
        gmv=Decimal(str(totals["gmv"] or 0)),
        last_import=None,
        last_batch_at=_scalar(batches.finished_at.max(), None),
    )


# --- the home: key figures against the period before, what needs a person, what changed -----------

PERIODS = (7, 30, 90)  # days the home's period switch offers
DEFAULT_PERIOD = 30
FAILED_JOBS_DAYS = 7  # a failed job older than this is no longer news
SHOWN_SEGMENTS = 8
SHOWN_JOURNEYS = 5


@dataclass
class Trend:
    """A figure now and in the period before. `change`: relative (0.1 = +10%), or in percentage points
    for a rate; None when there is nothing to compare with (no previous data). `direction`: up, down,
    flat or None."""

    now: object
    before: object
    change: float | None
    direction: str | None


def trend(now, before, *, rate: bool = False) -> Trend:
    if now is None or before is None or (not rate and not before):
        return Trend(now, before, None, None)
    change = (float(now) - float(before)) * 100 if rate else (float(now) - float(before)) / float(before)
    change = round(change, 4)
    direction = "up" if change > 0 else "down" if change < 0 else "flat"
    return Trend(now, before, change, direction)


def home_period(days: int, stores=()):
    """The home's period: `days` days up to the latest day with data (siyu.analytics.queries.latest_day;
    today when there is none), as analytics `Filters` for those stores."""
    days = days if days in PERIODS else DEFAULT_PERIOD
    last = _cached("latest_day", lambda: analytics_queries.latest_day() or "none")
    return parse_filters(default_days=days, today=None if last == "none" else last, stores=list(stores))


def key_figures(f) -> dict[str, Trend]:
    """Customers, private-pool size, GMV and repurchase rate of the period against the one before."""
    stores = ",".join(f.stores)
    figures = _cached(f"home:{f.date_from}:{f.date_to}:{stores}", lambda: analytics_queries.key_figures(f))
    return {
        name: trend(figures[name]["now"], figures[name]["before"], rate=name == "repurchase_rate")
        for name in ("customers", "private_pool", "gmv", "buyers", "repurchase_rate")
    }


def store_scope(user) -> tuple[str, ...]:
    """The store names (or codes) of a store manager's store that the imported data carries; empty when
    it carries neither, and then the manager's home shows the brand's figures."""
    store = Store.objects.filter(pk=store_of(user)).first()
    if store is None:
        return ()
    return _cached(
        f"store_scope:{store.pk}", lambda: analytics_queries.stores_with_data((store.name, store.code))
    )


@dataclass
class Needs:
    """What waits for a person: pairs of customers to review, quarantined identifiers, sends a provider
    refused for good, guide tasks past due and background jobs that failed in the last days."""

    review: int
    quarantined: int
    failed_sends: int
    overdue_tasks: int
    failed_jobs: int


def needs(user) -> Needs:
    return Needs(
        # the queue changes with every resolve (a job) and every decision since the last one
        review=_cached(
            f"review:{identity_queries.decisions_since_last_run()}",
            lambda: identity_queries.review_counts()["waiting"],
        ),
        quarantined=_cached("quarantined", identity_queries.quarantined_count),
        failed_sends=messaging_queries.failed_send_count(),
        overdue_tasks=task_queries.open_task_counts(user)["overdue"],
        failed_jobs=failed_job_count(),
    )


def failed_job_count(now: datetime | None = None) -> int:
    since = (now or timezone.now()) - timedelta(days=FAILED_JOBS_DAYS)
    return Job.objects.filter(status=Job.Status.FAILED, created_at__gte=since).count()


def since_yesterday(now: datetime | None = None) -> datetime:
    """The start of yesterday, local time."""
    today = timezone.localtime(now or timezone.now()).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=1)


def segment_changes(since: datetime) -> list[dict]:
    """Segments whose members changed since `since`, most changed first: the segment, its members now (at
    its last refresh) and before `since`, who entered and who left, and whether it grew, shrank or kept
    its size (up, down, flat)."""
    changed = segment_queries.membership_changes_since(since)
    out = []
    for segment in Segment.objects.filter(pk__in=list(changed)):
        entered, exited = changed[segment.pk]["entered"], changed[segment.pk]["exited"]
        net = entered - exited
        now = segment.member_count or 0
        out.append({"segment": segment, "members": now, "before": now - net, "entered": entered,
                    "exited": exited, "direction": "up" if net > 0 else "down" if net < 0 else "flat"})  # fmt: skip
    return sorted(
        out, key=lambda r: (-abs(r["members"] - r["before"]), -r["entered"] - r["exited"], r["segment"].name)
    )


def running_journeys(limit: int = SHOWN_JOURNEYS) -> dict:
    """The journeys running now (highest priority first, at most `limit`) with their lift, as the journey's
    lift page computes it (siyu.engagement.journeys.queries.journey_lift), and how many run in all."""
    running = Journey.objects.filter(status=Journey.Status.ACTIVE)
    shown = [
        {
            "journey": j,
            "lift": _cached(f"journey_lift:{j.pk}", lambda j=j: journey_queries.journey_lift(j)),
        }
        for j in running[:limit]
    ]
    return {"total": running.count(), "shown": shown}


def last_jobs() -> dict[str, Job | None]:
    """The latest import and the latest resolve."""
    return {
        kind: Job.objects.filter(kind=kind).select_related("created_by").first()
        for kind in ("import", "resolve")
    }


def store_home(user) -> dict:
    """What a store manager's home adds to the figures: the store's customers (those its guides look
    after) and its guides' overdue tasks."""
    return {
        "my_customers": list_customers(user, page_size=1).total,
        "overdue_tasks": task_queries.open_task_counts(user)["overdue"],
    }


def guide_home(user, limit: int = 8) -> dict:
    """A guide's home: their customers, their open tasks (overdue, due today) and the next ones due."""
    return {
        "my_customers": list_customers(user, page_size=1).total,
        "tasks": task_queries.open_task_counts(user),
        "next_tasks": task_queries.list_tasks(user, status=GuideTask.Status.OPEN, page_size=limit)["items"],
    }


def _distinct(column, limit: int = 500) -> list[str]:
    table = column.name("value").as_table().filter(lambda t: t.value.notnull() & (t.value != ""))
    values = table.distinct().order_by("value").limit(limit).execute()["value"].tolist()
    return [str(v) for v in values]


@dataclass
class FilterChoices:
    sources: list[str]
    tags: list[str]
    provinces: list[str]
    stages: list[str]
    traits: dict[str, list[str]]  # siyu.segments.queries.LIST_FILTERS name -> values in the current traits


def filter_choices() -> FilterChoices:
    sources, provinces, stages = _cached("choices", _warehouse_choices)
    tags = sorted(str(tag) for tag in Tag.objects.select_related("group")[:1000])  # "组名:标签" or "标签"
    traits = _cached("trait_choices", trait_choices)
    return FilterChoices(sources=sources, tags=tags, provinces=provinces, stages=stages, traits=traits)


def _warehouse_choices() -> tuple[list[str], list[str], list[str]]:
    con = backend()
    summary = con.table("customer_summary")
    batches = con.table("import_batches")  # one row per imported file: cheap, unlike `records`
    return _distinct(batches.source), _distinct(summary.province), _distinct(summary.stage)
