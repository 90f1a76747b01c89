"""Acquisition quality: what each live code brought — not how many scanned, but how many stayed and bought.

Read from the warehouse's facts (Ibis expressions; no model of the control plane is needed: the caller
passes the codes as plain values, `state` → attributes):

    codes = {"bag-s1": {"code_id": 7, "channel": "bag_card", "campaign": "spring", "store": "S1",
                        "staff": "wangfang", "cost": Decimal("500")}, …}
    acquisition_quality(codes, as_of=now)  → {"code": [row…], "store": […], "staff": […], "channel": […],
                                              "campaign": […]}

Definitions (each figure is of people, not of events):

- An *add* is a `wecom_contact_added` event whose properties carry a code's `state` (WeCom returns the
  contact way's state on the add-contact callback). The person is the record's customer
  (`customer_map`); a record no resolve has reached yet counts as a person of its own until one does.
- **A person is attributed to their first add through any of the codes given** (earliest `occurred_at`,
  then event key): someone who adds a second staff member through another code later counts once, for the
  first code, its staff, store, channel and campaign. So pass all codes and read the rows you need; a
  subset would attribute people to the first add *within the subset*. A re-add after a delete is not a
  new add.
- The *staff* of an add is the one the event names (properties.staff, the member who was added); an add
  without one takes the code's `staff` when the code has a single one (a string).
- *Deleted within N days*: the first `wecom_contact_deleted` event of the person at or after the add
  (of the same staff member when both events name one) came no later than N×24 h after it. Either side
  may delete: `customer_deleted_N` counts those where the customer deleted the staff member
  (change_type `del_follow_user`: 删人/拉黑), the rest the staff member deleted the customer
  (`del_external_contact`).
- *Matured at N days*: added at least N days before `as_of`. *Retained at N days*: matured and not deleted
  within N days (a 3-day-old add is not yet known to be retained at 7). `retained`: not deleted by `as_of`.
  `retention_N` = retained_N ÷ matured_N.
- *Group joins / leaves*: people who joined a customer group (`group_joined` events) or left one
  (`group_left` events, or a customer-group update `wecom_group_update` with update_detail `del_member`
  naming them) at or after their add.
- *Buyers within N days* (7, 30, 90): the first purchase at or after the add came within N days of it.
  A purchase is what `siyu.warehouse.orders.is_purchase` holds for (refunded, closed and unpaid orders are
  not); an order before the add does not count. `gmv_N`: all the person's purchases within N days of the
  add.
- *Cost*: the codes' `cost` (yuan) summed over the row's codes — only when every one of them has a cost
  (otherwise None: a cost per customer over a partly costed set misleads). A staff row's cost is each
  code's cost split in proportion to the adds the code brought each staff member. `cost_per_retained` =
  cost ÷ retained, `cost_per_buyer` = cost ÷ buyers_90, `roi_90` = gmv_90 ÷ cost.

Events and orders after `as_of` are not read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import ibis
import pyarrow as pa
from django.utils.translation import gettext_lazy as _

from siyu.acquisition.errors import AcquisitionError
from siyu.warehouse import backend
from siyu.warehouse.events import event_list_property, event_property
from siyu.warehouse.orders import is_purchase
from siyu.warehouse.schema import TS

# warehouse event types read here (siyu.engagement.messaging.channels.wecom.CONTACT_EVENTS and
# siyu.engagement.messaging.actions.record_wecom_events write them)
CONTACT_ADDED = "wecom_contact_added"
CONTACT_DELETED = "wecom_contact_deleted"
CUSTOMER_DELETED_STAFF = "del_follow_user"  # the customer deleted (or blocked) the staff member
GROUP_JOINED = "group_joined"
GROUP_LEFT = "group_left"
GROUP_UPDATE = "wecom_group_update"
MEMBER_LEFT = "del_member"

DELETE_DAYS = (1, 7, 30)
RETAIN_DAYS = (7, 30)
PURCHASE_DAYS = (7, 30, 90)
DIMENSIONS = ("code", "store", "staff", "channel", "campaign")
CODE_ATTRIBUTES = ("code_id", "channel", "campaign", "store")

FEN = Decimal("0.01")

# the words an operator sees for each figure and dimension (column headers of a quality table)
DIMENSION_LABELS = {
    "code": _("Live code"),
    "store": _("Store"),
    "staff": _("Staff member"),
    "channel": _("Channel"),
    "campaign": _("Campaign"),
}
FIGURE_LABELS = {
    "adds": _("Added"),
    "deleted_1": _("Deleted within 1 day"),
    "deleted_7": _("Deleted within 7 days"),
    "deleted_30": _("Deleted within 30 days"),
    "customer_deleted_1": _("Customer deleted us within 1 day"),
    "customer_deleted_7": _("Customer deleted us within 7 days"),
    "customer_deleted_30": _("Customer deleted us within 30 days"),
    "retained": _("Still a contact"),
    "joined_group": _("Group joins"),
    "left_group": _("Group leaves"),
    "matured_7": _("Added 7+ days ago"),
    "matured_30": _("Added 30+ days ago"),
    "matured_90": _("Added 90+ days ago"),
    "retained_7": _("Kept 7 days"),
    "retained_30": _("Kept 30 days"),
    "retention_7": _("7-day retention"),
    "retention_30": _("30-day retention"),
    "buyers_7": _("Bought within 7 days"),
    "buyers_30": _("Bought within 30 days"),
    "buyers_90": _("Bought within 90 days"),
    "buyer_rate_90": _("Bought within 90 days (share)"),
    "gmv_7": _("GMV within 7 days"),
    "gmv_30": _("GMV within 30 days"),
    "gmv_90": _("GMV within 90 days"),
    "cost": _("Cost"),
    "cost_per_retained": _("Cost per retained customer"),
    "cost_per_buyer": _("Cost per buyer"),
    "roi_90": _("ROI at 90 days"),
}


def _money(value) -> Decimal:
    return Decimal(value or 0).quantize(FEN, rounding=ROUND_HALF_UP)


def _per(amount: Decimal | None, count: int) -> Decimal | None:
    if amount is None or not count:
        return None
    return (amount / count).quantize(FEN, rounding=ROUND_HALF_UP)


def _rate(part, whole) -> float | None:
    return round(part / whole, 4) if whole else None


def _cost(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        cost = Decimal(str(value))
    except InvalidOperation as exc:
        raise AcquisitionError(f"a code's cost must be an amount in yuan, not {value!r}") from exc
    if cost < 0 or not cost.is_finite():
        raise AcquisitionError(f"a code's cost cannot be {value!r}")
    return cost


def _at(value: datetime | None) -> datetime:
    value = value or datetime.now(UTC)
    if value.tzinfo is None:
        raise AcquisitionError("times must carry a zone (UTC in the warehouse)")
    return value.astimezone(UTC)


def _lit(moment: datetime):
    return ibis.literal(moment, type=TS)


DAY = 86_400  # seconds


def _seconds_between(earlier, later):
    """Whole seconds from one timestamp to another (NULL when either is)."""
    return later.epoch_seconds() - earlier.epoch_seconds()


def _prop(events, name):
    # lenient: one malformed properties string must not fail the whole page
    return event_property(events, name, lenient=True)


def _people(con, table):
    """`table` (with record_key) with `customer_id` (NULL before a resolve reached the record) and `person`:
    the customer, or the record itself while it has none."""
    cmap = con.table("customer_map").select("record_key", "customer_id")
    joined = table.left_join(cmap, "record_key").drop("record_key_right")
    person = joined.customer_id.cast("string").fill_null("record:" + joined.record_key)
    return joined.mutate(person=person)


def attributed_adds(con, states: Iterable[str], *, as_of: datetime, added_from=None, added_to=None):
    """One row per person first added through one of `states` by `as_of` (not executed): person,
    customer_id, state, staff (as the event names it; may be NULL), added_at, event_key.
    `added_from`/`added_to` keep only first adds in [added_from, added_to)."""
    e = con.table("events")
    e = e.filter(e.event_type == CONTACT_ADDED, e.occurred_at <= _lit(as_of), e.record_key.notnull())
    adds = e.select("event_key", "record_key", added_at=e.occurred_at, state=_prop(e, "state"),
                    staff=_prop(e, "staff"))  # fmt: skip
    adds = adds.filter(adds.state.isin(sorted(set(states))))
    adds = _people(con, adds)
    first = ibis.window(group_by="person", order_by=[adds.added_at, adds.event_key])
    adds = adds.mutate(nth=ibis.row_number().over(first))
    adds = adds.filter(adds.nth == 0).drop("nth", "record_key")
    # the window picks the first add before the range is applied: a person first added before the range
    # is not counted again for a later add inside it
    if added_from is not None:
        adds = adds.filter(adds.added_at >= _lit(_at(added_from)))
    if added_to is not None:
        adds = adds.filter(adds.added_at < _lit(_at(added_to)))
    return adds.mutate(staff=adds.staff.nullif(""))


def _first_deletes(con, adds, as_of: datetime):
    """person, deleted_at (the first delete at or after the add), by_customer (the customer deleted the
    staff member)."""
    e = con.table("events")
    e = e.filter(e.event_type == CONTACT_DELETED, e.occurred_at <= _lit(as_of), e.record_key.notnull())
    d = e.select("record_key", deleted_at=e.occurred_at, change_type=_prop(e, "change_type"),
                 deleted_staff=_prop(e, "staff").nullif(""))  # fmt: skip
    d = _people(con, d).drop("customer_id", "record_key")
    a = adds.select("person", "added_at", "staff")
    j = a.join(d, "person")
    same_staff = j.staff.isnull() | j.deleted_staff.isnull() | (j.staff == j.deleted_staff)
    j = j.filter(j.deleted_at >= j.added_at, same_staff)
    return j.group_by("person").aggregate(
        deleted_at=j.deleted_at.min(),
        by_customer=(j.change_type == CUSTOMER_DELETED_STAFF).argmin(j.deleted_at),
    )


def _group_people(con, adds, as_of: datetime):
    """person, joined_group, left_group: whether the person joined / left a customer group at or after
    their add."""
    e = con.table("events")
    e = e.filter(e.occurred_at <= _lit(as_of))
    joins = e.filter(e.event_type == GROUP_JOINED, e.record_key.notnull()).select(
        "occurred_at", "record_key", joined=ibis.literal(True), left=ibis.literal(False)
    )
    left_direct = e.filter(e.event_type == GROUP_LEFT, e.record_key.notnull()).select(
        "occurred_at", "record_key", joined=ibis.literal(False), left=ibis.literal(True)
    )
    updates = e.filter(e.event_type == GROUP_UPDATE)
    updates = updates.mutate(detail=_prop(updates, "update_detail"), members=event_list_property(updates, "members"))
    updates = updates.filter(updates.detail == MEMBER_LEFT, updates.members.notnull())
    # a group update names who left by external_userid; their record key is "<source>|<external_userid>"
    # as siyu.engagement.messaging.actions.record_wecom_events writes it
    leavers = updates.select("source", "occurred_at", member=updates.members.unnest())
    leavers = leavers.select(
        "occurred_at",
        record_key=leavers.source + "|" + leavers.member,
        joined=ibis.literal(False),
        left=ibis.literal(True),
    )
    moves = ibis.union(joins, left_direct, leavers.filter(leavers.record_key.notnull()))
    moves = _people(con, moves).drop("customer_id", "record_key")
    j = adds.select("person", "added_at").join(moves, "person")
    j = j.filter(j.occurred_at >= j.added_at)
    return j.group_by("person").aggregate(joined_group=j.joined.any(), left_group=j.left.any())


def _purchases_after(con, adds, as_of: datetime):
    """person, first_purchase_at (first purchase at or after the add) and gmv_N (purchases within N
    days of the add)."""
    o = con.table("customer_orders")
    o = o.filter(is_purchase(o), o.order_time.notnull(), o.amount.notnull(), o.order_time <= _lit(as_of))
    a = adds.filter(adds.customer_id.notnull()).select("person", "customer_id", "added_at")
    j = a.join(o.select("customer_id", "order_time", "amount"), "customer_id")
    j = j.filter(j.order_time >= j.added_at)
    after = _seconds_between(j.added_at, j.order_time)
    return j.group_by("person").aggregate(
        first_purchase_at=j.order_time.min(),
        **{f"gmv_{n}": j.amount.sum(where=after <= n * DAY) for n in PURCHASE_DAYS},
    )


def outcomes_per_add(con, adds, *, as_of: datetime):
    """One row per attributed person (not executed), from `attributed_adds`: person, customer_id, state,
    staff, added_at, deleted_at, by_customer, joined_group, left_group, first_purchase_at, gmv_7/30/90,
    and in seconds since the add: age (at `as_of`), deleted_after, bought_after."""
    out = adds
    for part in (
        _first_deletes(con, adds, as_of),
        _group_people(con, adds, as_of),
        _purchases_after(con, adds, as_of),
    ):
        out = out.left_join(part, "person").drop("person_right")
    # ages in seconds: comparing numbers is several times faster than adding intervals to zoned
    # timestamps (a calendar computation per row and figure), and N days here are N × 24 hours
    return out.mutate(
        age=_seconds_between(out.added_at, _lit(as_of)),
        deleted_after=_seconds_between(out.added_at, out.deleted_at),
        bought_after=_seconds_between(out.added_at, out.first_purchase_at),
    )


def code_attribution(con, codes: Mapping[str, Mapping], *, as_of: datetime | None = None):
    """Who came through which code (not executed): one row per resolved customer first added through one
    of `codes` by `as_of` — customer_id, state, code_id, channel, campaign, store, staff, added_at and
    deleted_at (the first delete after the add, NULL while they are still a contact). What the analytics
    pages (funnel, traffic map, channel ROI) join to their customers through a provider acquisition
    registers with them, since analytics sits below acquisition and cannot import it."""
    as_of = _at(as_of)
    code_rows, _costs = _code_table(codes)
    adds = attributed_adds(con, code_rows.column("state").to_pylist(), as_of=as_of)
    adds = adds.filter(adds.customer_id.notnull())
    t = adds.left_join(_first_deletes(con, adds, as_of), "person").drop("person_right")
    t = t.join(ibis.memtable(code_rows), "state")
    return t.select(
        "customer_id", "state", "code_id", "channel", "campaign", "store",
        staff=t.staff.fill_null(t.code_staff), added_at=t.added_at, deleted_at=t.deleted_at,
    )  # fmt: skip


def _figures(t) -> dict:
    """The aggregates of a group of outcome rows (`outcomes_per_add`)."""
    deleted_within = {n: t.deleted_after.notnull() & (t.deleted_after <= n * DAY) for n in DELETE_DAYS}
    by_customer = t.by_customer.fill_null(False)
    figures = {
        "adds": t.count(),
        **{f"deleted_{n}": t.count(where=deleted_within[n]) for n in DELETE_DAYS},
        **{f"customer_deleted_{n}": t.count(where=deleted_within[n] & by_customer) for n in DELETE_DAYS},
        "retained": t.count(where=t.deleted_after.isnull()),
        "joined_group": t.count(where=t.joined_group.fill_null(False)),
        "left_group": t.count(where=t.left_group.fill_null(False)),
    }
    for n in sorted({*RETAIN_DAYS, *PURCHASE_DAYS}):
        figures[f"matured_{n}"] = t.count(where=t.age >= n * DAY)
    for n in RETAIN_DAYS:
        kept = t.deleted_after.isnull() | (t.deleted_after > n * DAY)
        figures[f"retained_{n}"] = t.count(where=(t.age >= n * DAY) & kept)
    for n in PURCHASE_DAYS:
        figures[f"buyers_{n}"] = t.count(where=t.bought_after.notnull() & (t.bought_after <= n * DAY))
        figures[f"gmv_{n}"] = t[f"gmv_{n}"].sum()
    return figures


ZERO_FIGURES = {
    "adds": 0,
    **{f"deleted_{n}": 0 for n in DELETE_DAYS},
    **{f"customer_deleted_{n}": 0 for n in DELETE_DAYS},
    "retained": 0,
    "joined_group": 0,
    "left_group": 0,
    **{f"matured_{n}": 0 for n in sorted({*RETAIN_DAYS, *PURCHASE_DAYS})},
    **{f"retained_{n}": 0 for n in RETAIN_DAYS},
    **{f"buyers_{n}": 0 for n in PURCHASE_DAYS},
    **{f"gmv_{n}": Decimal("0.00") for n in PURCHASE_DAYS},
}


def _finish(row: dict, cost: Decimal | None) -> dict:
    for n in PURCHASE_DAYS:
        row[f"gmv_{n}"] = _money(row[f"gmv_{n}"])
    for n in RETAIN_DAYS:
        row[f"retention_{n}"] = _rate(row[f"retained_{n}"], row[f"matured_{n}"])
    row["buyer_rate_90"] = _rate(row["buyers_90"], row["adds"])
    row["cost"] = None if cost is None else _money(cost)
    row["cost_per_retained"] = _per(cost, row["retained"])
    row["cost_per_buyer"] = _per(cost, row["buyers_90"])
    row["roi_90"] = round(float(row["gmv_90"]) / float(cost), 4) if cost else None
    return row


def _code_table(codes: Mapping[str, Mapping]) -> tuple[pa.Table, dict[str, Decimal | None]]:
    states, attrs, default_staff, costs = [], defaultdict(list), [], {}
    for state, code in codes.items():
        if not state:
            raise AcquisitionError("a code without a state cannot be told apart from a plain add")
        states.append(state)
        for name in CODE_ATTRIBUTES:
            value = code.get(name)
            attrs[name].append(None if value is None else str(value))
        staff = code.get("staff")
        default_staff.append(staff if isinstance(staff, str) and staff else None)
        costs[state] = _cost(code.get("cost"))
    table = pa.table(
        {
            "state": pa.array(states, pa.string()),
            **{name: pa.array(attrs[name], pa.string()) for name in CODE_ATTRIBUTES},
            "code_staff": pa.array(default_staff, pa.string()),
        }
    )
    return table, costs


def acquisition_quality(
    codes: Mapping[str, Mapping],
    *,
    as_of: datetime | None = None,
    added_from: datetime | None = None,
    added_to: datetime | None = None,
    dimensions: Iterable[str] = DIMENSIONS,
    con=None,
) -> dict[str, list[dict]]:
    """The figures of the module docstring per code, store, staff, channel and campaign (the
    `dimensions` asked for). Each row: `key` (the code_id, store, staff, channel or campaign; None for codes
    without one), for the code rows also `state`, then the figures. Every code of `codes` has a row, and so
    has every store, channel and campaign they name, with zeros when nothing came; sorted by adds, most
    first, then key."""
    dimensions = tuple(dimensions)
    unknown = [d for d in dimensions if d not in DIMENSIONS]
    if unknown:
        raise AcquisitionError(f"unknown dimension {unknown[0]!r}; choose from {', '.join(DIMENSIONS)}")
    as_of = _at(as_of)
    con = con or backend()
    if not codes:
        return {d: [] for d in dimensions}
    code_rows, costs = _code_table(codes)
    code_of = {row["state"]: row for row in code_rows.to_pylist()}
    adds = attributed_adds(con, code_of, as_of=as_of, added_from=added_from, added_to=added_to)
    # The first add per person (a window over every add event) is read by each of the three outcome parts:
    # kept as a temporary table for the call. Every figure is a count or sum over people, each person in
    # one row, so the warehouse groups once by code and staff (the finest grain asked) and the other
    # dimensions, all attributes of a code, are sums of those cells. Measured at 500k adds and 1M orders:
    # 2.4 s on a busy 2-core machine, against 6-8 s recomputing the adds and grouping the people five ways.
    with adds.cache() as adds_once:
        t = outcomes_per_add(con, adds_once, as_of=as_of)
        cells = t.group_by(["state", "staff"]).aggregate(**_figures(t)).to_pyarrow().to_pylist()
    for cell in cells:
        # an add whose event names no staff member: the code's own, when it has a single one
        cell["staff"] = cell["staff"] or code_of[cell["state"]]["code_staff"]
    return {d: _rows(d, cells, codes, code_of, costs) for d in dimensions}


def _rows(dimension: str, cells: list[dict], codes, code_of, costs) -> list[dict]:
    column = "state" if dimension == "code" else dimension

    def key_of(cell):
        return cell["staff"] if dimension == "staff" else code_of[cell["state"]][column]

    found: dict = {}
    for cell in cells:
        row = found.setdefault(key_of(cell), dict(ZERO_FIGURES))
        for name in ZERO_FIGURES:
            row[name] += cell[name] or 0
    if dimension == "staff":
        keys = set(found) | {r["code_staff"] for r in code_of.values() if r["code_staff"]}
        cost_of = _staff_costs(cells, costs)
    else:
        keys = set(found) | {r[column] for r in code_of.values()}
        cost_of = {
            key: _group_cost(costs, [s for s, r in code_of.items() if r[column] == key]) for key in keys
        }
    rows = []
    for key in keys:
        figures = found.get(key, dict(ZERO_FIGURES))
        head = {"key": codes[key].get("code_id"), "state": key} if dimension == "code" else {"key": key}
        rows.append(_finish({**head, **figures}, cost_of.get(key)))
    rows.sort(key=lambda r: (-r["adds"], str(r["key"]) if r["key"] is not None else "\uffff"))
    return rows


def _group_cost(costs: Mapping[str, Decimal | None], states: list[str]) -> Decimal | None:
    if not states or any(costs.get(s) is None for s in states):
        return None
    return sum((costs[s] for s in states), Decimal(0))


def _staff_costs(cells: list[dict], costs: Mapping[str, Decimal | None]) -> dict[str, Decimal | None]:
    """Each code's cost split over its staff in proportion to the adds it brought each of them."""
    code_adds: dict[str, int] = defaultdict(int)
    for cell in cells:
        code_adds[cell["state"]] += cell["adds"]
    shares: dict = defaultdict(Decimal)
    uncosted = set()
    for cell in cells:
        cost = costs.get(cell["state"])
        if cost is None:
            uncosted.add(cell["staff"])
        elif cell["adds"]:
            shares[cell["staff"]] += cost * cell["adds"] / code_adds[cell["state"]]
    return {staff: (None if staff in uncosted else share) for staff, share in shares.items()}
