"""The building blocks every analytics page shares, as Ibis expressions over the warehouse (not executed).

- A *purchase* is an order that `siyu.warehouse.orders.is_purchase` holds for (closed, refunded and unpaid
  orders are not),
  with a time and an amount, of a resolved customer (its record is in `customer_map`). Its *channel* is
  the order's import source, its store the order's store.
- A customer's *acquisition channel* and *acquired_at* are `customer_summary.acquisition_source` /
  `acquired_at`: the source and time of the customer's earliest record or order.
- The *private domain* (私域): customers the brand can reach directly. From the data that exists today, a
  customer has joined it with their first record of kind `contact` (a WeCom contact: added a staff
  account) or `member` (a registered member, e.g. from the store POS); `joined_at` is that record's time.
  Nobody leaves it: a customer who deleted the staff member is still counted in it (the traffic map shows
  them as an outcome of their own, `contact_deleters`).
- A customer has *deleted the staff member* (删人/拉黑) by an instant when their latest WeCom contact event
  before it (`wecom_contact_added` / `wecom_contact_deleted`, of any of their records, as the WeCom callback
  records them) is a deletion by the customer (change type `del_follow_user`).
- A customer is *at a store* when any of their records carries that store.
- A *repeat buyer* (复购) of a period: a buyer with two or more purchases in it; the *repurchase rate* is
  repeat buyers ÷ buyers (`buyer_totals`).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import ibis

from siyu.analytics.filters import instant, zone
from siyu.warehouse import backend
from siyu.warehouse.events import event_property
from siyu.warehouse.localtime import local_time
from siyu.warehouse.orders import is_purchase

CONTACT, MEMBER = "contact", "member"
PRIVATE_RECORD_KINDS = (CONTACT, MEMBER)
REPEAT_PURCHASES = 2  # purchases in a period that make a buyer a repeat buyer (复购)
# Import formats whose buyers are the platforms' (公域); the others are the brand's own pools (私域).
PUBLIC_FORMATS = ("taobao", "jd", "douyin")


def left_join(left, right, key: str = "customer_id"):
    """A left join on one key that keeps a single key column."""
    return left.left_join(right, key).drop(f"{key}_right")


def purchases(con, *, start: datetime | None = None, end: datetime | None = None, channels=(), stores=()):
    """Purchases in [start, end) of the given channels and stores: customer_id, order_key, channel, store,
    order_time, amount."""
    # orders with their customer ids, kept by resolve and imports (siyu.warehouse.customer_orders)
    o = con.table("customer_orders")
    keep = [is_purchase(o), o.order_time.notnull(), o.amount.notnull()]
    if start is not None:
        keep.append(o.order_time >= instant(start))
    if end is not None:
        keep.append(o.order_time < instant(end))
    if channels:
        keep.append(o.source.isin(list(channels)))
    if stores:
        keep.append(o.store.isin(list(stores)))
    return o.filter(*keep).select("order_key", "store", "order_time", "amount", channel=o.source,
                                  customer_id=o.customer_id)  # fmt: skip


def buyer_totals(p, by=()):
    """Of purchases `p` (`purchases()`), per group of the `by` columns: buyers, repeat_buyers (two or
    more purchases), orders and gmv. The repurchase rate is repeat_buyers ÷ buyers."""
    per_buyer = p.group_by(["customer_id", *by]).aggregate(orders=p.count(), gmv=p.amount.sum())
    totals = {
        "buyers": per_buyer.count(),
        "repeat_buyers": per_buyer.count(where=per_buyer.orders >= REPEAT_PURCHASES),
        "orders": per_buyer.orders.sum(),
        "gmv": per_buyer.gmv.sum(),
    }
    return per_buyer.group_by(list(by)).aggregate(**totals) if by else per_buyer.aggregate(**totals)


def customers_at_stores(con, stores):
    """customer_id of every customer with a record at one of `stores`."""
    # records by customer, channel, kind and store, kept by resolve (siyu.warehouse.customer_orders)
    c = con.table("customer_channels")
    return c.filter(c.store.isin(list(stores))).select("customer_id").distinct()


def customers(con, *, channels=(), stores=(), acquired_from: datetime | None = None, acquired_to=None):
    """customer_id, channel (acquisition channel), acquired_at of the customers acquired in
    [acquired_from, acquired_to) through `channels`, with a record at one of `stores`."""
    cs = con.table("customer_summary")
    keep = [cs.acquired_at.notnull()]
    if acquired_from is not None:
        keep.append(cs.acquired_at >= instant(acquired_from))
    if acquired_to is not None:
        keep.append(cs.acquired_at < instant(acquired_to))
    if channels:
        keep.append(cs.acquisition_source.isin(list(channels)))
    out = cs.filter(*keep).select("customer_id", "acquired_at", channel=cs.acquisition_source)
    if stores:
        out = out.semi_join(customers_at_stores(con, stores), "customer_id")
    return out


def private_pool(con, *, end: datetime, stores=()):
    """Customers in the private domain before `end`: customer_id, joined_at, in_wecom (has a WeCom
    contact record), is_member (has a member record). `stores`: only joins recorded at those stores."""
    c = con.table("customer_channels")
    keep = [c.record_kind.isin(PRIVATE_RECORD_KINDS), c.first_seen < instant(end)]
    if stores:
        keep.append(c.store.isin(list(stores)))
    c = c.filter(*keep)
    return c.group_by("customer_id").aggregate(
        joined_at=c.first_seen.min(),
        in_wecom=(c.record_kind == CONTACT).any(),
        is_member=(c.record_kind == MEMBER).any(),
    )


# warehouse event types and the change type of a deletion by the customer, as the WeCom callback records
# them (siyu.engagement.messaging.actions.record_wecom_events; analytics cannot import messaging)
CONTACT_ADDED, CONTACT_DELETED = "wecom_contact_added", "wecom_contact_deleted"
CUSTOMER_DELETED_STAFF = "del_follow_user"


def contact_deleters(con, *, end: datetime):
    """customer_id of the customers whose latest WeCom contact event before `end` is one where they
    deleted (or blocked) the staff member."""
    e = con.table("events")
    e = e.filter(
        e.event_type.isin([CONTACT_ADDED, CONTACT_DELETED]), e.occurred_at < instant(end), e.record_key.notnull()
    )
    change = event_property(e, "change_type", lenient=True)  # one malformed row must not fail the page
    e = e.mutate(by_customer=(e.event_type == CONTACT_DELETED) & (change == CUSTOMER_DELETED_STAFF).fill_null(False))
    j = e.join(con.table("customer_map").select("record_key", "customer_id"), "record_key")
    latest = j.group_by("customer_id").aggregate(deleted=j.by_customer.argmax(j.occurred_at))
    return latest.filter(latest.deleted).select("customer_id")


def local(ts):
    """Wall-clock time in the configured TIME_ZONE."""
    return local_time(ts, zone())


def month_number(ts):
    """Months since year 0 of a UTC timestamp's local month (consecutive months differ by 1)."""
    lt = local(ts)
    return lt.year() * 12 + lt.month() - 1


def month_of(number: int) -> str:
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


def month_number_of(day) -> int:
    return day.year * 12 + day.month - 1


def channel_kinds(con=None) -> dict[str, str]:
    """Each source: "public" when all its records come from a platform format, else "private"."""
    con = con or backend()
    r = con.table("records")
    pairs = r.select("source", "format").distinct().to_pyarrow().to_pylist()
    kinds: dict[str, str] = {}
    for row in pairs:
        public = row["format"] in PUBLIC_FORMATS
        kinds[row["source"]] = (
            "public" if public and kinds.get(row["source"], "public") == "public" else "private"
        )
    return kinds


def last_purchase_day():
    """The local date of the latest purchase, or None."""
    o = backend().table("orders")
    latest = o.filter(is_purchase(o)).order_time.max().to_pyarrow().as_py()
    return None if latest is None else local_day(latest)


def local_day(moment: datetime):
    """The local date (settings.TIME_ZONE) of a UTC instant read from the warehouse."""
    return moment.astimezone(ZoneInfo(zone())).date()


def filter_choices() -> dict:
    """The channels and stores the filter form offers."""
    con = backend()
    o = con.table("orders")
    r = con.table("records")
    channels = r.select("source").distinct().to_pyarrow().column("source").to_pylist()
    stores = o.filter(o.store.notnull()).select("store").distinct().to_pyarrow().column("store").to_pylist()
    member_stores = r.filter(r.record_kind == MEMBER, r.store.notnull()).select("store").distinct()
    stores += member_stores.to_pyarrow().column("store").to_pylist()
    return {"channels": sorted(c for c in channels if c), "stores": sorted(set(stores))}


def scalar(expr):
    return expr.to_pyarrow().as_py()


def rows(expr) -> list[dict]:
    return expr.to_pyarrow().to_pylist()


def ids_table(customer_ids) -> ibis.Table:
    import pyarrow as pa

    return ibis.memtable(pa.table({"customer_id": pa.array(sorted(set(customer_ids)), pa.int64())}))
