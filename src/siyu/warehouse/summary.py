"""`customer_summary`: the read model of one row per customer, rebuilt wholesale from
`customer_map` + `records` + `orders` (Ibis expressions only, so the same code runs on every backend).

Column rules (documented for the console, the API and exports):

- `record_count`: records mapped to the customer (`records` holds one row per record_key).
- `sources`: sorted distinct sources of those records.
- `acquisition_source`, `acquired_at`: the source and time of the customer's earliest record (`seen_at`) or
  order (`order_time`, any status); ties go to the alphabetically first source.
- Display identity (`name_*`, `phone_*`, `pii_record_key`): taken from the *best record*: a record with a full
  phone (phone_hash set and phone_kind not `masked`/`virtual`) beats one without; among those, the most
  recent (`seen_at`, then record_key). The name falls back to the most recent record that has one when the
  best record has none. `pii_record_key` is the record whose encrypted `pii` the profile shows; `pii` is a
  copy of it, so that a page of the list is shown in clear without reading `records`.
- `gender`, `birthday`, `owner_staff`: the most recent non-null value. `province`, `city`, `district` come
  together from the most recent record that has a province or a city (so they never mix two addresses).
- `tags`: sorted union of the records' tags.
- Purchases: orders with `status_class = 'purchase'` (one row per order_key). `orders`, `spend`,
  `first_purchase_at`, `last_purchase_at`; `aov` = spend / orders rounded half-up to the fen (NULL without
  purchases; `orders` and `spend` are 0 then).
- `stage` (as of `now`, default the rebuild time), the standard lifecycle (`lifecycle_stage`, thresholds in
  the setting `TRAITS["lifecycle"]`; the traits refresh uses the same rule):
  `lead` no purchase · `churned` last purchase more than 365 days ago · `dormant` more than 180 days ago ·
  otherwise by purchase count: `first_purchase` 1 · `repeat` 2–3 · `loyal` 4 or more.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import ibis
import ibis.expr.datatypes as dt
import pyarrow as pa
from django.conf import settings

from siyu.core.errors import SiyuError
from siyu.warehouse import customer_orders
from siyu.warehouse.append import replace_keyed
from siyu.warehouse.connection import backend, transaction, writer
from siyu.warehouse.orders import is_purchase
from siyu.warehouse.schema import MONEY, TABLES, TS

SUMMARY_TABLE = "customer_summary"
NON_FULL_PHONE_KINDS = ("masked", "virtual")


@dataclass(frozen=True)
class LifecycleRule:
    """Thresholds of the standard lifecycle; override with `TRAITS = {"lifecycle": {...}}` in settings."""

    dormant_days: int = 180  # last purchase more than this many days before: dormant
    churned_days: int = 365  # … more than this many days before: churned
    loyal_orders: int = 4  # purchases from which a recent buyer is loyal (2 up to this − 1: repeat)

    @classmethod
    def from_settings(cls) -> LifecycleRule:
        rule = cls(**(getattr(settings, "TRAITS", {}) or {}).get("lifecycle", {}))
        if not 0 < rule.dormant_days < rule.churned_days or rule.loyal_orders < 3:
            raise SiyuError(
                "TRAITS['lifecycle'] needs 0 < dormant_days < churned_days and loyal_orders >= 3, "
                f"not {rule}"
            )
        return rule


def lifecycle_stage(orders, last_purchase_at, as_of, rule: LifecycleRule | None = None):
    """The standard lifecycle stage (an Ibis string expression) from the number of purchases before
    `as_of`, the last one's time and the cut-off itself."""
    rule = rule or LifecycleRule.from_settings()
    return ibis.cases(
        (orders == 0, "lead"),
        (last_purchase_at < as_of - ibis.interval(days=rule.churned_days), "churned"),
        (last_purchase_at < as_of - ibis.interval(days=rule.dormant_days), "dormant"),
        (orders == 1, "first_purchase"),
        (orders < rule.loyal_orders, "repeat"),
        else_="loyal",
    )


_TIE_BITS = 20  # low bits of an ordering key: a hash of the record/order key, to break ties in a second
_FLAG_BIT = 54  # above 33 bits of epoch seconds (good until the year 2242) and the tie bits


def _order_key(con, ts, key):
    """An int64 that orders rows by time (second precision; NULL time = oldest), ties broken by a hash of
    `key` (deterministic, arbitrary). One integer instead of a (time, key) struct: DuckDB's arg_max on an
    int key is several times cheaper than on a struct with a string (measured at 5M records)."""
    seconds = ibis.greatest(ts.epoch_seconds().fill_null(0), 0).cast("int64")
    tie = (string_hash(con, key) & ((1 << _TIE_BITS) - 1)).cast("int64")
    return (seconds << _TIE_BITS) | tie


def string_hash(con, value):
    """A 64-bit non-cryptographic hash of a string column (uint64 on DuckDB, int64 elsewhere).

    On DuckDB this calls hash() directly: Ibis' own .hash() casts DuckDB's unsigned result through BIT to
    int64, which costs more than the hash itself.
    """
    if con.name == "duckdb":
        return _duckdb_hash(value)
    return value.hash()


@ibis.udf.scalar.builtin(name="hash")
def _duckdb_hash(value: str) -> dt.uint64:
    """DuckDB's hash()."""


def _pick(con, which: str, value, key, where=None):
    """`value` on the row with the smallest (`which="min"`) or largest int `key`.

    DuckDB: its arg_min/arg_max hash aggregates. (Ibis compiles argmin/argmax to ordered aggregates, which
    sort every group: ~5 s per column at 5M records.) Other backends: Ibis' argmin/argmax.
    """
    if con.name == "duckdb":
        return _duckdb_arg(f"arg_{which}", value.type(), key.type())(value, key, where=where)
    return value.argmin(key, where=where) if which == "min" else value.argmax(key, where=where)


@functools.cache
def _duckdb_arg(name: str, value_type: dt.DataType, key_type: dt.DataType):
    def arg(value, key):  # the signature Ibis needs for a builtin aggregate
        ...

    return ibis.udf.agg.builtin(arg, name=name, signature=((value_type, key_type), value_type))


_MAX_SOURCE_BITS = 62


def _known_sources(con) -> list[str]:
    records = con.table("records")
    known = records.filter(records.source.notnull()).select("source").distinct()
    return sorted(known.to_pyarrow().column("source").to_pylist())


def customer_summary_expr(
    con=None, *, now: datetime | None = None, sources: list[str] | None = None, customer_ids=None
) -> ibis.Table:
    """The customer_summary rows as an Ibis expression (not executed); only the customers in the table
    `customer_ids` (column customer_id) when given.

    `sources`: every distinct records.source (looked up when not given). With at most 62 of them a
    customer's sources are gathered as a bit mask (an integer aggregate) and turned into the sorted list
    afterwards, about 2 CPU-seconds cheaper at 5M records than a distinct list aggregate.
    """
    con = con or backend()
    now = now or datetime.now(UTC)
    now_lit = ibis.literal(now, type=TS)
    if sources is None:
        sources = _known_sources(con)
    # a bit per source, OR-ed per customer (DuckDB's bit_or: cheaper than collecting distinct strings);
    # Ibis cannot compile the bit_or aggregate for Spark, which collects the sources instead
    use_mask = len(sources) <= _MAX_SOURCE_BITS and con.name == "duckdb"

    cmap = con.table("customer_map").select("record_key", "customer_id")
    if customer_ids is not None:
        cmap = cmap.semi_join(customer_ids, "customer_id")
    records = con.table("records").select(
        "record_key",
        "source",
        "seen_at",
        "name_masked",
        "name_hash",
        "phone_masked",
        "phone_tail",
        "phone_hash",
        "phone_kind",
        "gender",
        "birthday",
        "province",
        "city",
        "district",
        "owner_staff",
        "tags",
        "pii",
    )
    if use_mask:
        bits = ibis.memtable(
            {"source": sources, "source_bit": [1 << i for i in range(len(sources))]},
            schema={"source": "string", "source_bit": "int64"},
        )
        records = records.left_join(bits, "source")
    rec = records.join(cmap, "record_key")
    recent = _order_key(con, rec.seen_at, rec.record_key)
    full_phone = rec.phone_hash.notnull() & ~rec.phone_kind.fill_null("").isin(NON_FULL_PHONE_KINDS)
    best = recent | ibis.ifelse(full_phone, 1 << _FLAG_BIT, 0).cast("int64")
    has_place = rec.province.notnull() | rec.city.notnull()

    def latest(value, where):
        return _pick(con, "max", value, recent, where=where)

    per_record = rec.group_by("customer_id").aggregate(
        record_count=rec.count(),
        sources=rec.source_bit.bit_or() if use_mask else rec.source.collect(distinct=True).sort(),
        rec_first_at=rec.seen_at.min(),
        rec_first_source=_pick(con, "min", rec.source, recent, where=rec.seen_at.notnull()),
        best=_pick(
            con,
            "max",
            ibis.struct(
                {
                    "name_masked": rec.name_masked,
                    "name_hash": rec.name_hash,
                    "phone_masked": rec.phone_masked,
                    "phone_tail": rec.phone_tail,
                    "phone_hash": rec.phone_hash,
                    "record_key": rec.record_key,
                    "pii": rec.pii,
                }
            ),
            best,
        ),
        named=latest(
            ibis.struct({"name_masked": rec.name_masked, "name_hash": rec.name_hash}),
            rec.name_masked.notnull(),
        ),
        gender=latest(rec.gender, rec.gender.notnull()),
        birthday=latest(rec.birthday, rec.birthday.notnull()),
        owner_staff=latest(rec.owner_staff, rec.owner_staff.notnull()),
        place=latest(
            ibis.struct({"province": rec.province, "city": rec.city, "district": rec.district}), has_place
        ),
    )

    with_tags = con.table("records").select("record_key", "tags")
    with_tags = with_tags.filter(with_tags.tags.length() > 0).join(cmap, "record_key")
    tagged = with_tags.select("customer_id", tag=with_tags.tags.unnest())
    per_tag = tagged.group_by("customer_id").aggregate(tags=tagged.tag.collect(distinct=True).sort())

    orders = con.table("orders").select(
        "order_key", "record_key", "source", "status_class", "order_time", "amount"
    )
    o = orders.join(cmap, "record_key")
    bought = is_purchase(o)
    per_order = o.group_by("customer_id").aggregate(
        order_first_at=o.order_time.min(),
        order_first_source=_pick(
            con, "min", o.source, _order_key(con, o.order_time, o.order_key), where=o.order_time.notnull()
        ),
        orders=o.count(where=bought),
        spend=o.amount.sum(where=bought),
        first_purchase_at=o.order_time.min(where=bought),
        last_purchase_at=o.order_time.max(where=bought),
    )

    j = per_record.left_join(per_order, "customer_id").left_join(per_tag, "customer_id")
    n_orders = j.orders.fill_null(0)
    spend = j.spend.fill_null(Decimal("0")).cast(MONEY)
    # Half-up rounding in whole fen, exact (no floating point): (2·cents + n) // (2·n).
    cents = (spend * 100).cast("int64")
    aov_cents = (cents * 2 + n_orders) // (n_orders * 2)
    aov = ibis.ifelse(n_orders > 0, aov_cents.cast(MONEY) * ibis.literal(Decimal("0.01")), ibis.null())
    stage = lifecycle_stage(n_orders, j.last_purchase_at, now_lit)
    rec_at, ord_at = j.rec_first_at, j.order_first_at
    acquisition_source = ibis.cases(
        (ord_at.isnull(), j.rec_first_source),
        (rec_at.isnull(), j.order_first_source),
        (rec_at <= ord_at, j.rec_first_source),
        else_=j.order_first_source,
    )
    out = j.select(
        customer_id=j.customer_id,
        record_count=j.record_count,
        sources=_mask_to_list(j.sources, sources) if use_mask else j.sources,
        acquisition_source=acquisition_source,
        acquired_at=ibis.least(rec_at, ord_at),
        name_masked=ibis.ifelse(
            j.best["name_masked"].notnull(), j.best["name_masked"], j.named["name_masked"]
        ),
        name_hash=ibis.ifelse(j.best["name_masked"].notnull(), j.best["name_hash"], j.named["name_hash"]),
        phone_masked=j.best["phone_masked"],
        phone_tail=j.best["phone_tail"],
        phone_hash=j.best["phone_hash"],
        gender=j.gender,
        birthday=j.birthday,
        province=j.place["province"],
        city=j.place["city"],
        district=j.place["district"],
        first_purchase_at=j.first_purchase_at,
        last_purchase_at=j.last_purchase_at,
        orders=n_orders,
        spend=spend,
        aov=aov,
        stage=stage,
        tags=j.tags.fill_null(ibis.literal([], type="array<string>")),
        owner_staff=j.owner_staff,
        pii_record_key=j.best["record_key"],
        pii=j.best["pii"],
    )
    schema = TABLES[SUMMARY_TABLE]
    return out.select(*[out[name].cast(dtype).name(name) for name, dtype in schema.items()])


def _mask_to_list(mask, sources: list[str]):
    if not sources:
        return ibis.literal([], type="array<string>")
    picked = ibis.array(
        [ibis.ifelse((mask & (1 << i)) != 0, source, ibis.null("string")) for i, source in enumerate(sources)]
    )
    return picked.filter(lambda item: item.notnull())


def rebuild_customer_summary(*, now: datetime | None = None, in_transaction: bool = False) -> int:
    """Replace `customer_summary`, `customer_orders` and `customer_channels` (siyu.warehouse.customer_orders),
    the read models of the resolved customers; returns the summary's row count.

    Runs in its own warehouse transaction unless the caller already holds one (`in_transaction=True`,
    e.g. resolve_identities, so that the map and the summary change together).
    """
    con = backend()
    expr = customer_summary_expr(con, now=now)
    if in_transaction:
        table = con.create_table(SUMMARY_TABLE, expr, overwrite=True)
        customer_orders.rebuild_customer_orders(con)
    else:
        with transaction():
            table = con.create_table(SUMMARY_TABLE, expr, overwrite=True)
            customer_orders.rebuild_customer_orders(con)
    return int(table.count().execute())


def refresh_customer_summary(customer_ids: pa.Array, *, now: datetime | None = None) -> int:
    """Rebuild the summary rows (and customer_orders and customer_channels rows) of these customers only (an
    incremental resolve run): rows of ids that no longer hold records (absorbed by a merge) are dropped. Call
    inside the caller's warehouse transaction. Returns the rows written."""
    con = backend()
    ids = ibis.memtable(pa.table({"customer_id": customer_ids.cast(pa.int64())}))
    rows = customer_summary_expr(con, now=now, customer_ids=ids).to_pyarrow()
    replace_keyed(writer(), SUMMARY_TABLE, "customer_id", customer_ids, rows)
    customer_orders.refresh_customers(con, writer(), customer_ids)
    return rows.num_rows
