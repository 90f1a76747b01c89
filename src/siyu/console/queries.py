"""Read side of the console pages that no domain app owns: dashboard counts and filter choices.

Warehouse reads are Ibis expressions over `siyu.warehouse.backend()` (no SQL here), so they run on every
supported backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.core.cache import cache

from siyu.analytics.facts import PURCHASE
from siyu.core.models import Job

CACHE_SECONDS = 300



@dataclass
class DashboardCounts:
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


def _data_version() -> str:
    """Changes whenever a job (import, resolve…) finishes, so cached figures never outlive the data."""
    last = (
        Job.objects.filter(finished_at__isnull=False)
        .order_by("-finished_at")
        .values("pk", "finished_at")
        .first()
    )
    return f"{last['pk']}:{last['finished_at'].timestamp()}" if last else "none"


def _cached(name: str, compute):
    from django.conf import settings

    key = f"siyu.console:{name}:{settings.WAREHOUSE_PATH}:{_data_version()}"
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
    from siyu.warehouse import backend

    con = backend()
    summary = con.table("customer_summary")
    records = con.table("records")
    orders = con.table("orders")
    batches = con.table("import_batches")
    # GMV counts purchases only (siyu.analytics.facts): not closed, refunded or unpaid orders
    purchased = orders.filter(orders.status_class == PURCHASE)
    gmv = _scalar(purchased.amount.sum(), Decimal(0))
    return DashboardCounts(
        customers=int(_scalar(summary.count())),
        records=int(_scalar(records.count())),
        orders=int(_scalar(orders.count())),
        gmv=Decimal(str(gmv)),
        last_import=None,
        last_batch_at=_scalar(batches.finished_at.max(), None),
    )


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
    from siyu.customers.models import Tag
    from siyu.segments.queries import filter_choices as trait_choices

    sources, provinces, stages = _cached("choices", _warehouse_choices)
    tags = sorted(str(tag) for tag in Tag.objects.select_related("group")[:1000])  # "组名:标签" or "标签"
    traits = _cached("trait_choices", trait_choices)
    return FilterChoices(sources=sources, tags=tags, provinces=provinces, stages=stages, traits=traits)


def _warehouse_choices() -> tuple[list[str], list[str], list[str]]:
    from siyu.warehouse import backend

    con = backend()
    summary = con.table("customer_summary")
    batches = con.table("import_batches")  # one row per imported file: cheap, unlike `records`
    return _distinct(batches.source), _distinct(summary.province), _distinct(summary.stage)
