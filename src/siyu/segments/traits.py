"""Traits per customer as of a cut-off instant, as Ibis expressions (set-at-a-time; DuckDB now, the same
code on PostgreSQL or Spark). Only facts before the cut-off are read: orders by `order_time` (an order
without one is left out), events by `occurred_at`, records by `seen_at` (or `imported_at` when a record has
no time). Customer ids are today's (identity resolution is not replayed as of the past date). An order
counts as a purchase when its `status_class` is `purchase` (its status as last imported).

Definitions (the user guide repeats them for operators; settings `TRAITS`, see TraitSettings):

- Customers: everyone with a record, an order or an event before the cut-off.
- Day numbers: a time's calendar day in settings.TIME_ZONE (siyu.warehouse.localtime). The as-of day is
  the cut-off's day.
- Lifetime: `first_purchase_at`, `last_purchase_at`, `orders_total` (purchase orders), `spend_total`.
- Window: the `window_days` (365) before the cut-off. RFM, value layers, price sensitivity and AIPL look
  only at it. `recency_days` = as-of day − day of the last purchase; `frequency` = purchase orders and
  `monetary` = their amounts in the window. Customers without a purchase in the window have no RFM.
- Quintile scores 1–5 among the customers with a purchase in the window: score = 1 + ⌊5·b/n⌋, b the number
  of those n customers with a strictly worse value (larger recency, lower frequency, lower monetary).
  Equal values get equal scores; a score never falls as the value improves.
- R, F, M "high": score ≥ `rfm_high_score` (3: better than at least 40% of buyers). The eight layers by
  (R, F, M) high/low: important_value 重要价值客户 (H H H), important_develop 重要发展客户 (H L H),
  important_keep 重要保持客户 (L H H), important_win_back 重要挽留客户 (L L H), general_value 一般价值客户
  (H H L), general_develop 一般发展客户 (H L L), general_keep 一般保持客户 (L H L), general_win_back
  一般挽留客户 (L L L).
- Value layer by `monetary`: `top` 头部/钻石 when fewer than `value_top_share` (20%) of buyers in the window
  spent more, else `waist` 腰部 when fewer than `value_top_share + value_waist_share` (50%) did, else `tail`
  尾部. Equal spend, equal layer.
- Price sensitivity (the `orders` table has no discount column, so it is derived from order lines): a
  line is priced when it has a product (product_id, else sku, else name), a quantity ≥ 1 and an amount > 0;
  its unit price is amount / quantity; a product's reference price is the highest unit price it sold at
  (per source) in any purchase before the cut-off. An order's discount depth = 1 − Σ amount / Σ (reference
  × quantity) over its priced lines; it is discounted when the depth is ≥ `discount_min_depth` (1%).
  `priced_orders` (window orders with a priced line), `discount_order_share` = discounted / priced
  orders, `discount_depth` = mean depth of the discounted orders. Orders whose files carry no line amounts
  (Taobao, Youzan) are not priced.
- Lifecycle (standard, siyu.warehouse.summary.lifecycle_stage): lead, first_purchase, repeat, loyal,
  dormant, churned over all purchases before the cut-off; thresholds `TRAITS["lifecycle"]`.
- AIPL: `loyalty` ≥ `aipl_loyal_orders` (2) purchase orders in the window; `purchase` one; `interest` no
  purchase in the window but an event (of `interest_events`, default any) or a non-purchase order
  (unpaid, cancelled, refunded) in it; `aware` everyone else.
- Purchase cycle: the median gap in days between consecutive purchase days (all history before the
  cut-off; needs two purchase days). `next_purchase_due` = last purchase day + the cycle rounded half up;
  `due_in_days` = that date − the as-of day (negative: overdue).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import ibis
from django.conf import settings

from siyu.segments.errors import TraitsError
from siyu.segments.rules import RuleContext, compile_condition
from siyu.warehouse.localtime import local_time
from siyu.warehouse.orders import is_purchase
from siyu.warehouse.schema import TABLES, TS
from siyu.warehouse.summary import LifecycleRule, lifecycle_stage

TRAITS_TABLE = "customer_traits"
STAGES_TABLE = "customer_stages"
RUNS_TABLE = "trait_runs"
SECONDS_PER_DAY = 86_400
EPOCH = date(1970, 1, 1)
EARLIEST_AS_OF = date(1970, 1, 2)

# (R high, F high, M high) -> layer
RFM_LAYERS = {
    (True, True, True): "important_value",
    (True, False, True): "important_develop",
    (False, True, True): "important_keep",
    (False, False, True): "important_win_back",
    (True, True, False): "general_value",
    (True, False, False): "general_develop",
    (False, True, False): "general_keep",
    (False, False, False): "general_win_back",
}
VALUE_LAYERS = ("top", "waist", "tail")
LIFECYCLE_STAGES = ("lead", "first_purchase", "repeat", "loyal", "dormant", "churned")
AIPL_STAGES = ("aware", "interest", "purchase", "loyalty")


@dataclass(frozen=True)
class TraitSettings:
    """Override with `TRAITS = {...}` in settings (same keys; `lifecycle` is LifecycleRule's)."""

    window_days: int = 365
    rfm_high_score: int = 3
    value_top_share: float = 0.2
    value_waist_share: float = 0.3
    discount_min_depth: float = 0.01
    aipl_loyal_orders: int = 2
    interest_events: tuple[str, ...] = ()  # empty: every event type shows interest
    lifecycle: LifecycleRule = field(default_factory=LifecycleRule)

    @classmethod
    def from_settings(cls) -> TraitSettings:
        values = dict(getattr(settings, "TRAITS", {}) or {})
        values["lifecycle"] = LifecycleRule.from_settings()
        values["interest_events"] = tuple(values.get("interest_events") or ())
        try:
            chosen = cls(**values)
        except TypeError as exc:
            raise TraitsError(f"settings TRAITS: {exc}") from exc
        chosen.check()
        return chosen

    def check(self) -> None:
        problems = []
        if not (isinstance(self.window_days, int) and self.window_days >= 1):
            problems.append("window_days must be a whole number of days ≥ 1")
        if self.rfm_high_score not in (1, 2, 3, 4, 5):
            problems.append("rfm_high_score must be 1 to 5")
        if not (0 < self.value_top_share < 1 and 0 <= self.value_waist_share <= 1 - self.value_top_share):
            problems.append("value shares need 0 < value_top_share < 1 and top + waist ≤ 1")
        if not 0 < self.discount_min_depth < 1:
            problems.append("discount_min_depth must lie between 0 and 1")
        if not (isinstance(self.aipl_loyal_orders, int) and self.aipl_loyal_orders >= 2):
            problems.append("aipl_loyal_orders must be ≥ 2")
        if problems:
            raise TraitsError("settings TRAITS: " + "; ".join(problems))

    def as_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)


def cutoff_of(as_of: date | None, now: datetime | None = None) -> datetime:
    """The cut-off instant (UTC): `now` without a date, else the start of `as_of` in settings.TIME_ZONE.
    A date after today is refused: traits of the future would read facts not yet there."""
    now = now or datetime.now(UTC)
    if as_of is None:
        return now
    zone = ZoneInfo(settings.TIME_ZONE)
    if as_of > now.astimezone(zone).date():
        raise TraitsError(f"--as-of {as_of} is in the future; give a date up to today")
    if as_of < EARLIEST_AS_OF:
        raise TraitsError(f"--as-of {as_of}: give a date from {EARLIEST_AS_OF}")
    return datetime.combine(as_of, time(0), tzinfo=zone).astimezone(UTC)


def day_number(ts, zone: str):
    """A time's calendar day in `zone` as days since 1970-01-01 (the wall-clock time's epoch seconds)."""
    return (local_time(ts, zone).epoch_seconds() // SECONDS_PER_DAY).cast("int64")


def as_date(day):
    return (ibis.literal(EPOCH) + day.as_interval("D")).cast("date")


@dataclass
class Facts:
    """The facts before one cut-off, each with its customer_id."""

    cutoff: datetime
    cutoff_day: int
    orders: ibis.Table  # every order (any status) before the cut-off
    purchases: ibis.Table  # purchase orders, with `day`
    purchase_items: ibis.Table  # lines of purchase orders
    events: ibis.Table
    known: ibis.Table  # customer ids with a record seen before the cut-off
    group_stays: ibis.Table  # customers' stays in WeCom customer groups that began before the cut-off

    def rule_context(self) -> RuleContext:
        return RuleContext(self.cutoff, self.purchases, self.purchase_items, self.events,
                           group_stays=self.group_stays)  # fmt: skip


def facts_before(con, cutoff: datetime, *, materialize_orders: str | None = None) -> Facts:
    """The facts before `cutoff`. `materialize_orders`: a temporary table name to compute the orders (with
    their customer ids) into once, instead of joining them in every trait's subquery (the caller drops it;
    ~1.5 s less at 3.5M orders)."""
    cut = ibis.literal(cutoff, type=TS)
    zone = settings.TIME_ZONE
    cmap = con.table("customer_map").select("record_key", "customer_id")
    # orders with their customer ids, kept by resolve and imports (siyu.warehouse.customer_orders)
    orders = con.table("customer_orders")
    orders = orders.filter(orders.order_time < cut).select(
        "order_key", "source", "store", "status_class", "order_time", "amount", "customer_id"
    )
    if materialize_orders:
        orders = con.create_table(materialize_orders, orders, temp=True, overwrite=True)
    purchases = orders.filter(is_purchase(orders))
    purchases = purchases.mutate(day=day_number(purchases.order_time, zone))
    items = con.table("order_items").select("order_key", "product_id", "sku", "product", "quantity", "amount")
    items = items.rename(item_amount="amount").join(
        purchases.select("order_key", "customer_id", "source", "store", "order_time"), "order_key"
    )
    events = con.table("events")
    events = events.filter(events.occurred_at < cut).select("record_key", "event_type", "occurred_at", "properties")
    events = events.join(cmap, "record_key").drop("record_key")
    stays = con.table("group_members")  # written by the group sync (siyu.community.groups)
    group_stays = stays.filter(stays.customer_id.notnull() & (stays.joined_at < cut)).select(
        "customer_id", "group_type", "joined_at", "left_at"
    )
    records = con.table("records")
    seen = ibis.coalesce(records.seen_at, records.imported_at)
    known = records.filter(seen < cut).select("record_key").join(cmap, "record_key").select("customer_id")
    return Facts(
        cutoff=cutoff,
        cutoff_day=(cutoff.astimezone(ZoneInfo(zone)).date() - EPOCH).days,
        orders=orders,
        purchases=purchases,
        purchase_items=items,
        events=events,
        known=known,
        group_stays=group_stays,
    )


def base_traits_expr(facts: Facts, ts: TraitSettings) -> ibis.Table:
    """One row per customer: every trait except the rule-given ones (computed tags, custom stages)."""
    cut = ibis.literal(facts.cutoff, type=TS)
    window_start = ibis.literal(facts.cutoff - timedelta(days=ts.window_days), type=TS)
    p = facts.purchases

    people = (
        facts.known.union(facts.orders.select("customer_id"))
        .union(facts.events.select("customer_id"))
        .distinct()
    )
    lifetime = p.group_by("customer_id").aggregate(
        first_purchase_at=p.order_time.min(),
        last_purchase_at=p.order_time.max(),
        orders_total=p.count(),
        spend_total=p.amount.sum(),
        last_day=p.day.max(),
    )
    rfm = _rfm(p.filter(p.order_time >= window_start), facts.cutoff_day, ts)
    cycle = _purchase_cycle(p)
    discounts = _discounts(facts.purchase_items, window_start, ts)
    interest = _interest(facts, window_start, ts)

    j = (
        people.left_join(lifetime, "customer_id")
        .left_join(rfm, "customer_id")
        .left_join(cycle, "customer_id")
        .left_join(discounts, "customer_id")
        .left_join(interest, "customer_id")
    )
    orders_total = j.orders_total.fill_null(0)
    frequency = j.frequency.fill_null(0)
    due_day = j.last_day + (j.purchase_cycle_days + 0.5).floor().cast("int64")
    out = j.select(
        customer_id=j.customer_id,
        as_of=cut,
        first_purchase_at=j.first_purchase_at,
        last_purchase_at=j.last_purchase_at,
        orders_total=orders_total,
        spend_total=j.spend_total.fill_null(0),
        recency_days=j.recency_days,
        frequency=frequency,
        monetary=j.monetary.fill_null(0),
        r_score=j.r_score,
        f_score=j.f_score,
        m_score=j.m_score,
        rfm_layer=j.rfm_layer,
        value_layer=j.value_layer,
        priced_orders=j.priced_orders.fill_null(0),
        discount_order_share=j.discount_order_share,
        discount_depth=j.discount_depth,
        lifecycle_stage=lifecycle_stage(orders_total, j.last_purchase_at, cut, ts.lifecycle),
        aipl_stage=ibis.cases(
            (frequency >= ts.aipl_loyal_orders, "loyalty"),
            (frequency >= 1, "purchase"),
            (j.interested.fill_null(False), "interest"),
            else_="aware",
        ),
        purchase_cycle_days=j.purchase_cycle_days,
        next_purchase_due=as_date(due_day),
        due_in_days=due_day - facts.cutoff_day,
    )
    schema = TABLES[TRAITS_TABLE]
    return out.select(
        *[out[name].cast(dtype).name(name) for name, dtype in schema.items() if name in out.columns]
    )


def _rfm(window: ibis.Table, cutoff_day: int, ts: TraitSettings) -> ibis.Table:
    per = window.group_by("customer_id").aggregate(
        frequency=window.count(), monetary=window.amount.sum().fill_null(0), last_in_window=window.day.max()
    )
    per = per.mutate(recency_days=cutoff_day - per.last_in_window)
    n = per.count().as_scalar()

    def score(worse_first):
        # ibis.rank() is 0-based: the number of rows strictly before in the order, i.e. strictly worse
        return (ibis.rank().over(order_by=worse_first) * 5 // n + 1).cast("int16")

    scored = per.mutate(
        r_score=score(ibis.desc(per.recency_days)),
        f_score=score(per.frequency),
        m_score=score(per.monetary),
        spent_more=ibis.rank().over(order_by=ibis.desc(per.monetary)),
    )
    high = ts.rfm_high_score
    r, f, m = scored.r_score >= high, scored.f_score >= high, scored.m_score >= high
    layer = ibis.cases(
        *[((r == rh) & (f == fh) & (m == mh), name) for (rh, fh, mh), name in RFM_LAYERS.items()]
    )
    value = ibis.cases(
        (scored.spent_more < n * ts.value_top_share, "top"),
        (scored.spent_more < n * (ts.value_top_share + ts.value_waist_share), "waist"),
        else_="tail",
    )
    return scored.select(
        "customer_id", "frequency", "monetary", "recency_days", "r_score", "f_score", "m_score",
        rfm_layer=layer, value_layer=value,
    )  # fmt: skip


def _purchase_cycle(p: ibis.Table) -> ibis.Table:
    # Gaps between a customer's purchases in day order; the zero gaps of orders on one day drop out, so
    # what is left are the gaps between consecutive purchase days (no DISTINCT pass needed).
    gaps = p.select("customer_id", gap=p.day - p.day.lag().over(group_by=p.customer_id, order_by=p.day))
    gaps = gaps.filter(gaps.gap > 0)
    return gaps.group_by("customer_id").aggregate(purchase_cycle_days=gaps.gap.median().cast("float64"))


def _discounts(items: ibis.Table, window_start, ts: TraitSettings) -> ibis.Table:
    product = ibis.coalesce(items.product_id, items.sku, items.product)
    priced = items.filter((items.quantity >= 1) & (items.item_amount > 0) & product.notnull())
    priced = priced.mutate(
        product_key=ibis.coalesce(priced.product_id, priced.sku, priced.product),
        paid=priced.item_amount.cast("float64"),
    )
    priced = priced.mutate(unit=priced.paid / priced.quantity)
    reference = priced.group_by("source", "product_key").aggregate(reference=priced.unit.max())
    lines = priced.filter(priced.order_time >= window_start).join(reference, ["source", "product_key"])
    orders = lines.group_by("customer_id", "order_key").aggregate(
        listed=(lines.reference * lines.quantity).sum(), paid=lines.paid.sum()
    )
    orders = orders.mutate(depth=(1 - orders.paid / orders.listed).round(4))
    discounted = orders.depth >= ts.discount_min_depth
    per = orders.group_by("customer_id").aggregate(
        priced_orders=orders.count(),
        discounted_orders=orders.count(where=discounted),
        discount_depth=orders.depth.mean(where=discounted).round(4),
    )
    return per.select(
        "customer_id",
        "priced_orders",
        "discount_depth",
        discount_order_share=(per.discounted_orders / per.priced_orders).round(4),
    )


def _interest(facts: Facts, window_start, ts: TraitSettings) -> ibis.Table:
    events = facts.events.filter(facts.events.occurred_at >= window_start)
    if ts.interest_events:
        events = events.filter(events.event_type.isin(list(ts.interest_events)))
    orders = facts.orders
    tried = orders.filter((orders.order_time >= window_start) & ~is_purchase(orders))
    return (
        events.select("customer_id")
        .union(tried.select("customer_id"))
        .distinct()
        .mutate(interested=ibis.literal(True))
    )


def with_computed_tags(base: ibis.Table, tags: list[tuple[str, dict]], ctx: RuleContext) -> ibis.Table:
    """`base` plus `computed_tags`: the names, sorted, of the tags whose rule holds for the customer."""
    if not tags:
        return base.mutate(computed_tags=ibis.literal([], type="array<string>"))
    given = ibis.array(
        [
            ibis.ifelse(compile_condition(rule, base, ctx), name, ibis.null("string"))
            for name, rule in sorted(tags)
        ]
    )
    return base.mutate(computed_tags=given.filter(lambda tag: tag.notnull()))


def stages_expr(traits: ibis.Table, stage_sets: list[dict], ctx: RuleContext) -> ibis.Table | None:
    """customer_stages rows: per stage set, the first stage whose condition holds (else the default)."""
    parts = []
    for stage_set in stage_sets:
        branches = [(compile_condition(s["when"], traits, ctx), s["stage"]) for s in stage_set["stages"]]
        default = stage_set.get("default_stage") or None
        stage = ibis.cases(*branches, else_=ibis.literal(default, type="string"))
        rows = traits.select("customer_id", "as_of", stage_set=ibis.literal(stage_set["name"]), stage=stage)
        parts.append(rows.filter(rows.stage.notnull()))
    if not parts:
        return None
    return ibis.union(*parts) if len(parts) > 1 else parts[0]
