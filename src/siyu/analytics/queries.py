"""The analytics pages' numbers. One function per page, taking `Filters`, returning a dict:

    {"page": name, "filters": {...}, "tables": {table name: [row dicts]}, ...page-specific keys}

Each computes its aggregates in the warehouse (Ibis; results are small) and the ratios in Python. Money is
`Decimal` in yuan (rounded half-up to the fen), rates are floats in [0, 1] rounded to 4 places, and a
rate whose denominator is zero is None. Definitions: `siyu.analytics.definitions` and the user guides.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import ibis
from django.conf import settings

from siyu.analytics import facts, live_codes
from siyu.analytics.errors import InvalidFilters
from siyu.analytics.facts import left_join, local, month_number, month_number_of, month_of, rows
from siyu.analytics.filters import Filters, instant
from siyu.analytics.models import ChannelSpend
from siyu.segments.errors import TraitsNotComputed
from siyu.segments.queries import snapshot_cutoff
from siyu.segments.traits import LIFECYCLE_STAGES
from siyu.warehouse import backend

FEN = Decimal("0.01")
ALL = "(all)"  # the row of every channel together
WEEKDAYS = 7
HOURS = 24
MAX_COHORT_MONTHS = 36


def money(value) -> Decimal:
    return Decimal(value or 0).quantize(FEN, rounding=ROUND_HALF_UP)


def per(amount, count) -> Decimal | None:
    """Money per unit (AOV, CAC, LTV): None when there are no units."""
    if not count:
        return None
    return (Decimal(amount or 0) / Decimal(count)).quantize(FEN, rounding=ROUND_HALF_UP)


def rate(part, whole) -> float | None:
    if not whole:
        return None
    return round(float(part or 0) / float(whole), 4)


def _page(name: str, f: Filters, **content) -> dict:
    return {"page": name, "filters": f.as_dict(), **content}


# --- 1. funnel and user pool ----------------------------------------------------------------------

FUNNEL_STAGES = ("acquired", "joined", "converted", "repeat")


def funnel(f: Filters) -> dict:
    """Per acquisition channel: customers acquired in the range → joined the private domain → bought after
    joining → bought at least twice (each stage within the one before, counted up to the range's end);
    `pool`: the same stages for every customer acquired before the range's end."""
    con = backend()
    cust = facts.customers(con, channels=f.channels, stores=f.stores, acquired_to=f.end)
    pool = facts.private_pool(con, end=f.end).select("customer_id", "joined_at")
    bought = left_join(facts.purchases(con, end=f.end), pool)
    per_customer = bought.group_by("customer_id").aggregate(
        orders=bought.count(), after_join=bought.count(where=bought.order_time >= bought.joined_at)
    )
    c = left_join(left_join(cust, pool), per_customer)
    joined = c.joined_at.notnull()
    converted = joined & (c.after_join.fill_null(0) >= 1)
    repeat = converted & (c.orders.fill_null(0) >= 2)
    in_range = c.acquired_at >= instant(f.start)
    counts = rows(
        c.group_by("channel").aggregate(
            acquired=c.count(where=in_range),
            joined=c.count(where=in_range & joined),
            converted=c.count(where=in_range & converted),
            repeat=c.count(where=in_range & repeat),
            pool_acquired=c.count(),
            pool_joined=c.count(where=joined),
            pool_converted=c.count(where=converted),
            pool_repeat=c.count(where=repeat),
        )
    )
    counts.sort(key=lambda r: r["channel"])
    total = {key: sum(r[key] for r in counts) for key in counts[0] if key != "channel"} if counts else {}

    table = [{"channel": r["channel"], **stage_rates(r, "")} for r in counts]
    pool_table = [{"channel": r["channel"], **stage_rates(r, "pool_")} for r in counts]
    if counts:
        table.append({"channel": ALL, **stage_rates(total, "")})
        pool_table.append({"channel": ALL, **stage_rates(total, "pool_")})
    tables = {"funnel": table, "pool": pool_table}
    code_counts = live_codes.funnel_counts(con, f)
    if code_counts:
        stages = live_codes.CODE_FUNNEL_STAGES
        code_total = {stage: sum(r[stage] for r in code_counts) for stage in stages}
        tables["code_funnel"] = [
            {"code_channel": r["code_channel"], **stage_rates(r, "", stages)} for r in code_counts
        ] + [{"code_channel": ALL, **stage_rates(code_total, "", stages)}]
    return _page("funnel", f, tables=tables)


def stage_rates(row: dict, prefix: str, stages: tuple[str, ...] = FUNNEL_STAGES) -> dict:
    """A funnel row: each stage's count (`row[prefix + stage]`), and between two stages the rate and the
    number lost."""
    values = [row.get(prefix + stage, 0) for stage in stages]
    out = dict(zip(stages, values, strict=True))
    for i, (a, b) in enumerate(zip(stages, stages[1:], strict=False)):
        out[f"{a}_to_{b}"] = rate(values[i + 1], values[i])
        out[f"lost_{a}_to_{b}"] = values[i] - values[i + 1]
    return out


# --- 2. GMV tree --------------------------------------------------------------------------------

GMV_FACTORS = ("base", "conversion", "frequency", "aov")


def logarithmic_mean(a: float, b: float) -> float:
    """(a − b) / (ln a − ln b). When a and b are close the two logs cancel (ln a may even equal ln b):
    then ln(a / b) = log1p((a − b) / b), which is exact for a small ratio."""
    if a == b:
        return a
    d = math.log(a) - math.log(b)
    if abs(d) < 1e-3:
        d = math.log1p((a - b) / b)
    return (a - b) / d


def lmdi_contributions(before: dict, after: dict) -> dict | None:
    """LMDI-I: how much of the change of GMV = base × conversion × frequency × aov each factor made.
    Contribution of x = L(GMV₁, GMV₀) · ln(x₁ / x₀), where L is the logarithmic mean; they add up to
    GMV₁ − GMV₀ exactly. None when a period has no GMV (a factor would be 0 and its log undefined)."""
    g0, g1 = float(before["gmv"] or 0), float(after["gmv"] or 0)
    if g0 <= 0 or g1 <= 0:
        return None
    weight = logarithmic_mean(g1, g0)
    return {x: weight * math.log(float(after[x]) / float(before[x])) for x in GMV_FACTORS}


def _gmv_factors(gmv, orders, buyers, base) -> dict:
    return {
        "gmv": money(gmv),
        "orders": orders,
        "buyers": buyers,
        "base": base,
        "conversion": rate(buyers, base),
        "frequency": round(orders / buyers, 4) if buyers else None,
        "aov": per(gmv, orders),
        "spend_per_buyer": per(gmv, buyers),
    }


def _exact_factors(gmv, orders, buyers, base) -> dict:
    """Unrounded factors for the decomposition."""
    if not (orders and buyers and base):
        return {"gmv": 0}
    return {
        "gmv": float(gmv),
        "base": float(base),
        "conversion": buyers / base,
        "frequency": orders / buyers,
        "aov": float(gmv) / orders,
    }


def gmv_tree(f: Filters) -> dict:
    """GMV = customer base × conversion × purchase frequency × AOV, this range against the one before,
    with each factor's LMDI contribution to the change; per channel and for all channels together."""
    con = backend()
    prev = f.previous()
    p = facts.purchases(con, start=prev.start, end=f.end, channels=f.channels, stores=f.stores)
    p = p.mutate(period=(p.order_time >= instant(f.start)).cast("int8"))
    c = con.table("customer_channels")  # the customers' records by channel, kind and store
    keep = [c.first_seen < instant(f.end)]
    if f.channels:
        keep.append(c.source.isin(list(f.channels)))
    if f.stores:
        keep.append(c.store.isin(list(f.stores)))
    known = c.filter(*keep).select("customer_id", seen_at=c.first_seen, channel=c.source)

    def measure(keys: list[str]) -> dict:
        per_period = rows(
            p.group_by([*keys, "period"]).aggregate(
                gmv=p.amount.sum(), orders=p.count(), buyers=p.customer_id.nunique()
            )
        )
        first = known.group_by(["customer_id", *keys]).aggregate(first_seen=known.seen_at.min())
        bases = rows(
            first.group_by(keys).aggregate(
                base_after=first.count(), base_before=first.count(where=first.first_seen < instant(prev.end))
            )
            if keys
            else first.aggregate(
                base_after=first.count(), base_before=first.count(where=first.first_seen < instant(prev.end))
            )
        )
        out: dict = defaultdict(lambda: {"periods": {}, "base": {0: 0, 1: 0}})
        for row in bases:
            key = row.get("channel", ALL)
            out[key]["base"] = {0: row["base_before"], 1: row["base_after"]}
        for row in per_period:
            out[row.get("channel", ALL)]["periods"][row["period"]] = row
        return out

    measured = measure(["channel"])
    measured.update(measure([]))
    table, contributions = [], []
    for channel in sorted(measured, key=lambda c: (c == ALL, c)):
        m = measured[channel]
        values = {}
        exact = {}
        for period in (0, 1):
            row = m["periods"].get(period, {})
            args = (row.get("gmv") or 0, row.get("orders", 0), row.get("buyers", 0), m["base"][period])
            values[period] = _gmv_factors(*args)
            exact[period] = _exact_factors(*args)
        change = lmdi_contributions(exact[0], exact[1])
        table.append(
            {
                "channel": channel,
                **{f"{k}_before": v for k, v in values[0].items()},
                **{k: v for k, v in values[1].items()},
                "gmv_change": values[1]["gmv"] - values[0]["gmv"],
            }
        )
        contributions.append(
            {
                "channel": channel,
                "gmv_change": float(values[1]["gmv"] - values[0]["gmv"]),
                "decomposed": change is not None,
                **{x: (round(change[x], 2) if change else None) for x in GMV_FACTORS},
                "driver": max(change, key=lambda x: abs(change[x])) if change else None,
            }
        )
    return _page(
        "gmv_tree",
        f,
        previous=prev.as_dict(),
        tables={"factors": table, "contributions": contributions},
    )


# --- 3. the private-domain formula ---------------------------------------------------------------

FORMULA_FACTORS = ("retained_base", "referral_rate", "conversion_rate", "aov", "repurchase_rate")
REFERRAL_MISSING = (
    "no referral data is collected yet: referral links and live codes that record who brought whom are "
    "not built, and the channel exports carry no referrer"
)


def _private_domain_period(con, f: Filters, start, end) -> dict:
    pool = facts.private_pool(con, end=end, stores=f.stores).select("customer_id")
    p = facts.purchases(con, start=start, end=end, channels=f.channels).semi_join(pool, "customer_id")
    totals = rows(facts.buyer_totals(p))[0]
    retained = facts.scalar(pool.count())
    return {
        "retained_base": retained,
        "buyers": totals["buyers"],
        "repeat_buyers": totals["repeat_buyers"],
        "orders": totals["orders"] or 0,
        "gmv": money(totals["gmv"]),
        "conversion_rate": rate(totals["buyers"], retained),
        "aov": per(totals["gmv"], totals["orders"]),
        "repurchase_rate": rate(totals["repeat_buyers"], totals["buyers"]),
        "referral_rate": None,
    }


def formula(f: Filters) -> dict:
    """留量 × 裂变率 × 转化率 × 客单价 × 复购率 for the range and the range before."""
    con = backend()
    prev = f.previous()
    now = _private_domain_period(con, f, f.start, f.end)
    before = _private_domain_period(con, f, prev.start, prev.end)
    table = []
    for factor in FORMULA_FACTORS:
        available = factor != "referral_rate"
        table.append(
            {
                "factor": factor,
                "value": now[factor],
                "previous": before[factor],
                "available": available,
                "reason": None if available else REFERRAL_MISSING,
            }
        )
    counts = [
        {"measure": key, "value": now[key], "previous": before[key]}
        for key in ("buyers", "repeat_buyers", "orders", "gmv")
    ]
    return _page("formula", f, previous=prev.as_dict(), tables={"factors": table, "counts": counts})


# --- 4. cohorts and LTV --------------------------------------------------------------------------


def cohorts(f: Filters) -> dict:
    """Customers by the month of their first purchase (in the chosen channels and stores), for first
    months within the range: the share who bought in each later month, and cumulative GMV per customer
    (LTV), up to the range's end; also by acquisition channel."""
    con = backend()
    p = facts.purchases(con, end=f.end, channels=f.channels, stores=f.stores)
    p = p.mutate(month=month_number(p.order_time))
    first = p.group_by("customer_id").aggregate(first_month=p.month.min())
    first_from, last = month_number_of(f.date_from), month_number_of(f.date_to)
    first_from = max(first_from, last - MAX_COHORT_MONTHS + 1)
    first = first.filter(first.first_month >= first_from, first.first_month <= last)
    cs = con.table("customer_summary")
    cohort = left_join(first, cs.select("customer_id", acquired_via=cs.acquisition_source))
    # the cohorts' purchases, one row per customer and month: the cells count rows instead of distinct
    # customers (at 10M orders the per-purchase distinct count took seconds; docs/benchmarks.md)
    j = p.join(cohort, "customer_id")
    monthly = j.group_by(["customer_id", "first_month", "acquired_via", "month"]).aggregate(gmv=j.amount.sum())
    monthly = monthly.mutate(offset=monthly.month - monthly.first_month)
    cells = rows(
        monthly.group_by(["first_month", "acquired_via", "offset"]).aggregate(
            active=monthly.count(), gmv=monthly.gmv.sum()
        )
    )
    # everyone bought in their first month: a cohort's size is its active customers at offset 0
    sizes = [{**row, "size": row["active"]} for row in cells if row["offset"] == 0]

    def curves(key) -> list[dict]:
        size: dict = defaultdict(int)
        first_of: dict = {}
        for row in sizes:
            size[key(row)] += row["size"]
            first_of[key(row)] = min(first_of.get(key(row), row["first_month"]), row["first_month"])
        active: dict = defaultdict(int)
        gmv: dict = defaultdict(Decimal)
        for row in cells:
            active[key(row), row["offset"]] += row["active"]
            gmv[key(row), row["offset"]] += Decimal(row["gmv"])
        out = []
        for k in sorted(size, key=str):
            horizon = last - first_of[k]  # months this cohort (its earliest customers) can be seen for
            cumulative = Decimal(0)
            retention, ltv = [], []
            for offset in range(horizon + 1):
                cumulative += gmv.get((k, offset), Decimal(0))
                retention.append(rate(active.get((k, offset), 0), size[k]))
                ltv.append(per(cumulative, size[k]))
            out.append({"cohort": k, "customers": size[k], "retention": retention, "ltv": ltv})
        return out

    by_month = curves(lambda row: month_of(row["first_month"]))
    by_channel = curves(lambda row: row["acquired_via"] or "")
    return _page(
        "cohorts",
        f,
        cohorts_by_month=by_month,
        cohorts_by_channel=by_channel,
        tables={
            "retention_by_month": _flatten(by_month, "retention"),
            "ltv_by_month": _flatten(by_month, "ltv"),
            "retention_by_channel": _flatten(by_channel, "retention"),
            "ltv_by_channel": _flatten(by_channel, "ltv"),
        },
    )


def _flatten(curves: list[dict], what: str) -> list[dict]:
    width = max((len(c[what]) for c in curves), default=0)
    return [
        {
            "cohort": c["cohort"],
            "customers": c["customers"],
            **{f"m{i}": (c[what][i] if i < len(c[what]) else None) for i in range(width)},
        }
        for c in curves
    ]


# --- 5. channel ROI / CAC -------------------------------------------------------------------------


def spend_by_channel(date_from, date_to, channels=()) -> dict[str, Decimal]:
    """Spend per channel in [date_from, date_to]: a spend row counts in proportion to the days of it that
    fall in the range (its amount spread evenly over its days)."""

    spends = ChannelSpend.objects.filter(date_from__lte=date_to, date_to__gte=date_from)
    if channels:
        spends = spends.filter(channel__in=channels)
    out: dict[str, Decimal] = defaultdict(Decimal)
    for s in spends:
        overlap = (min(s.date_to, date_to) - max(s.date_from, date_from)).days + 1
        days = (s.date_to - s.date_from).days + 1
        out[s.channel] += s.amount * overlap / days
    return {channel: money(amount) for channel, amount in out.items()}


def channel_roi(f: Filters) -> dict:
    """Per channel: spend in the range (entered or imported; a spend row that overlaps the range counts in
    proportion to the days it overlaps) against the customers acquired through it in the range and all
    their GMV up to the range's end: CAC, ROI, payback month."""
    con = backend()
    spend = spend_by_channel(f.date_from, f.date_to, f.channels)
    acquired = facts.customers(
        con, channels=f.channels, stores=f.stores, acquired_from=f.start, acquired_to=f.end
    ).rename(acquired_via="channel")
    p = facts.purchases(con, end=f.end).select("customer_id", "order_time", "amount")
    j = p.join(acquired, "customer_id")
    j = j.mutate(offset=month_number(j.order_time) - month_number(j.acquired_at))
    monthly = rows(j.group_by(["acquired_via", "offset"]).aggregate(gmv=j.amount.sum()))
    acquired_counts = {
        r["acquired_via"]: r["n"]
        for r in rows(acquired.group_by("acquired_via").aggregate(n=acquired.count()))
    }
    buyers = {
        r["acquired_via"]: r["n"]
        for r in rows(j.group_by("acquired_via").aggregate(n=j.customer_id.nunique()))
    }
    gmv_by_offset: dict = defaultdict(dict)
    for row in monthly:
        gmv_by_offset[row["acquired_via"]][row["offset"]] = Decimal(row["gmv"])
    table = []
    for channel in sorted(set(spend) | set(acquired_counts)):
        cost = spend.get(channel)
        n = acquired_counts.get(channel, 0)
        offsets = gmv_by_offset.get(channel, {})
        gmv = money(sum(offsets.values(), Decimal(0)))
        payback = None
        if cost:
            cumulative = Decimal(0)
            for offset in sorted(offsets):
                cumulative += offsets[offset]
                if cumulative >= cost:
                    payback = offset
                    break
        roi = round(float(gmv) / float(cost), 4) if cost else None
        table.append(
            {
                "channel": channel,
                "spend": cost,
                "acquired": n,
                "buyers": buyers.get(channel, 0),
                "gmv": gmv,
                "cac": per(cost, n) if cost is not None else None,
                "roi": roi,
                "payback_month": payback,
                "paid_back": payback is not None,
                "below_spend": roi is not None and roi < 1,
            }
        )
    return _page("channel_roi", f, tables={"channels": table, **live_codes.roi_tables(f)})


# --- 6. traffic map -----------------------------------------------------------------------------

NOT_JOINED = "not_joined"
POOLS = ("wecom", "member", "wecom_and_member", NOT_JOINED)
WECOM_POOLS = ("wecom", "wecom_and_member")
DELETED = "deleted"
OUTCOMES = ("bought_after_joining", "not_bought_after_joining", DELETED)


def traffic_map(f: Filters) -> dict:
    """Customers acquired in the range: acquisition channel (public or private pool) → the private pools
    they joined by the range's end → (for WeCom contacts first added through a live code: the code's
    channel) → whether they bought after joining, or deleted the staff member, as Sankey links."""
    con = backend()
    cust = facts.customers(
        con, channels=f.channels, stores=f.stores, acquired_from=f.start, acquired_to=f.end
    )
    pool = facts.private_pool(con, end=f.end)
    p = facts.purchases(con, end=f.end).select("customer_id", "order_time")
    c = left_join(cust, pool)
    bought = p.join(c.filter(c.joined_at.notnull()).select("customer_id", "joined_at"), "customer_id")
    bought = bought.filter(bought.order_time >= bought.joined_at).select("customer_id").distinct()
    deleters = facts.contact_deleters(con, end=f.end)
    c = c.mutate(bought=c.customer_id.isin(bought.customer_id), deleted=c.customer_id.isin(deleters.customer_id))
    pool_name = c.in_wecom.fill_null(False).ifelse(
        c.is_member.fill_null(False).ifelse("wecom_and_member", "wecom"),
        c.is_member.fill_null(False).ifelse("member", NOT_JOINED),
    )
    c = c.mutate(pool=pool_name)
    coded = live_codes.code_channel_of_customers(con, f)
    if coded is None:
        c = c.mutate(code_channel=ibis.null("string"))
    else:
        c = left_join(c, coded)
    counts = rows(
        c.group_by(["channel", "pool", "code_channel", "bought", "deleted"]).aggregate(customers=c.count())
    )
    kinds = facts.channel_kinds(con)
    links: dict = defaultdict(int)
    for row in counts:
        source = f"channel:{row['channel']}"
        target = f"pool:{row['pool']}"
        links[source, target] += row["customers"]
        if row["pool"] == NOT_JOINED:
            continue
        in_wecom = row["pool"] in WECOM_POOLS
        if in_wecom and row["code_channel"] is not None:
            code = f"code:{row['code_channel']}"
            links[target, code] += row["customers"]
            target = code
        if in_wecom and row["deleted"]:
            outcome = DELETED
        else:
            outcome = OUTCOMES[0] if row["bought"] else OUTCOMES[1]
        links[target, f"outcome:{outcome}"] += row["customers"]
    nodes = sorted({n for pair in links for n in pair})
    table = [{"source": s, "target": t, "customers": v} for (s, t), v in sorted(links.items())]
    return _page(
        "traffic_map",
        f,
        nodes=[
            {
                "name": n,
                "level": n.partition(":")[0],
                "value": n.partition(":")[2],
                "kind": kinds.get(n.partition(":")[2], "private") if n.startswith("channel:") else None,
            }
            for n in nodes
        ],
        tables={"links": table},
    )


# --- 7. sales by hour and weekday -----------------------------------------------------------------


def store_hours(open_hour=None, close_hour=None) -> tuple[int, int]:
    default_open, default_close = getattr(settings, "ANALYTICS_STORE_HOURS", (10, 22))
    opening = default_open if open_hour in (None, "") else open_hour
    closing = default_close if close_hour in (None, "") else close_hour
    try:
        opening, closing = int(opening), int(closing)
    except (TypeError, ValueError) as exc:
        raise InvalidFilters("store hours must be whole hours from 0 to 24") from exc
    if not (0 <= opening < closing <= HOURS):
        raise InvalidFilters(f"stores must open before they close, within 0–24 (got {opening}–{closing})")
    return opening, closing


def sales_by_hour(f: Filters, open_hour=None, close_hour=None) -> dict:
    """Purchases in the range by local weekday × hour, per channel; the share of each channel's orders and
    GMV placed while stores are closed (outside [open, close))."""
    opening, closing = store_hours(open_hour, close_hour)
    con = backend()
    p = facts.purchases(con, start=f.start, end=f.end, channels=f.channels, stores=f.stores)
    lt = local(p.order_time)
    p = p.mutate(weekday=lt.day_of_week.index(), hour=lt.hour())
    cells = rows(p.group_by(["channel", "weekday", "hour"]).aggregate(orders=p.count(), gmv=p.amount.sum()))
    grid = [[0] * HOURS for _ in range(WEEKDAYS)]
    hourly: dict = defaultdict(lambda: [0] * HOURS)
    per_channel: dict = defaultdict(
        lambda: {"orders": 0, "gmv": Decimal(0), "closed_orders": 0, "closed_gmv": Decimal(0)}
    )
    for row in cells:
        grid[row["weekday"]][row["hour"]] += row["orders"]
        hourly[row["channel"]][row["hour"]] += row["orders"]
        for key in (row["channel"], ALL):
            totals = per_channel[key]
            totals["orders"] += row["orders"]
            totals["gmv"] += Decimal(row["gmv"])
            if not opening <= row["hour"] < closing:
                totals["closed_orders"] += row["orders"]
                totals["closed_gmv"] += Decimal(row["gmv"])
    table = [
        {
            "channel": channel,
            "orders": t["orders"],
            "gmv": money(t["gmv"]),
            "closed_orders": t["closed_orders"],
            "closed_gmv": money(t["closed_gmv"]),
            "closed_order_share": rate(t["closed_orders"], t["orders"]),
            "closed_gmv_share": rate(t["closed_gmv"], t["gmv"]),
        }
        for channel, t in sorted(per_channel.items(), key=lambda item: (item[0] == ALL, item[0]))
    ]
    heat = [{"weekday": d, **{f"h{h:02d}": grid[d][h] for h in range(HOURS)}} for d in range(WEEKDAYS)]
    by_hour = [
        {"channel": ch, **{f"h{h:02d}": v for h, v in enumerate(values)}}
        for ch, values in sorted(hourly.items())
    ]
    return _page(
        "sales_by_hour",
        f,
        store_hours={"open": opening, "close": closing},
        tables={"closed_share": table, "weekday_hour_orders": heat, "hour_orders_by_channel": by_hour},
    )


# --- 8. repurchase of a chosen group ------------------------------------------------------------


def _two_proportion_p_value(k1: int, n1: int, k2: int, n2: int) -> float | None:
    """Two-sided p-value of a two-proportion z-test (normal approximation)."""
    if not (n1 and n2):
        return None
    pooled = (k1 + k2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return None
    z = (k1 / n1 - k2 / n2) / math.sqrt(variance)
    return round(math.erfc(abs(z) / math.sqrt(2)), 4)


def repurchase(f: Filters, group) -> dict:
    """Repurchase rate in the range (buyers with two or more purchases / buyers) of a chosen group of
    customers (`siyu.analytics.groups.CustomerGroup`) against the whole base and the rest of it."""
    con = backend()
    ids = facts.ids_table(group.customer_ids)
    p = facts.purchases(con, start=f.start, end=f.end, channels=f.channels, stores=f.stores)
    per_buyer = p.group_by("customer_id").aggregate(orders=p.count())
    per_buyer = per_buyer.mutate(in_group=per_buyer.customer_id.isin(ids.customer_id))
    repeat = per_buyer.orders >= facts.REPEAT_PURCHASES
    t = rows(
        per_buyer.aggregate(
            buyers=per_buyer.count(),
            repeat_buyers=per_buyer.count(where=repeat),
            group_buyers=per_buyer.count(where=per_buyer.in_group),
            group_repeat_buyers=per_buyer.count(where=per_buyer.in_group & repeat),
        )
    )[0]
    cs = con.table("customer_summary")
    found = facts.scalar(cs.filter(cs.customer_id.isin(ids.customer_id)).count())
    rest_buyers = t["buyers"] - t["group_buyers"]
    rest_repeat = t["repeat_buyers"] - t["group_repeat_buyers"]
    group_rate = rate(t["group_repeat_buyers"], t["group_buyers"])
    base_rate = rate(t["repeat_buyers"], t["buyers"])
    table = [
        {
            "population": "group",
            "buyers": t["group_buyers"],
            "repeat_buyers": t["group_repeat_buyers"],
            "repurchase_rate": group_rate,
        },
        {
            "population": "rest",
            "buyers": rest_buyers,
            "repeat_buyers": rest_repeat,
            "repurchase_rate": rate(rest_repeat, rest_buyers),
        },
        {
            "population": "base",
            "buyers": t["buyers"],
            "repeat_buyers": t["repeat_buyers"],
            "repurchase_rate": base_rate,
        },
    ]
    return _page(
        "repurchase",
        f,
        group={"kind": group.kind, "label": group.label, "size": len(group.customer_ids), "found": found},
        lift_points=round((group_rate - base_rate) * 100, 2)
        if group_rate is not None and base_rate is not None
        else None,
        p_value=_two_proportion_p_value(
            t["group_repeat_buyers"], t["group_buyers"], rest_repeat, rest_buyers
        ),
        tables={"repurchase": table},
    )


# --- 9. touchpoint × lifecycle stage ------------------------------------------------------------

# Where a customer can be reached (the `touches` channels; wecom_app messages go to staff, not customers;
# wecom_chat: a staff member wrote to the customer 1-on-1, from the chat archive's import).
TOUCHPOINTS = ("wecom", "wecom_chat", "sms", "email", "webhook", "guide")
OPERATION_KINDS = ("journey", "campaign", "task", "manual")
# touches whose source_id names a single message, not an operation: one row for all of them (the chat
# archive's import numbers each staff message by its msgid)
CHAT_ARCHIVE = "chat_archive"
UNNUMBERED_SOURCES = (CHAT_ARCHIVE,)
UNKNOWN_STAGE = "unknown"


def _current_stages(con):
    """customer_id, stage of the current traits snapshot (empty when traits were never computed)."""

    traits = con.table("customer_traits")
    try:
        cutoff = snapshot_cutoff()
    except TraitsNotComputed:
        return traits.filter(ibis.literal(False)).select("customer_id", stage=traits.lifecycle_stage)
    return traits.filter(traits.as_of == cutoff).select("customer_id", stage=traits.lifecycle_stage)


# kind of operation -> a function naming its operations (ids -> names): the domains that run operations
# sit above analytics and register here (siyu.engagement.apps), so analytics imports none of them
_OPERATION_NAMERS: dict[str, object] = {}


def register_operation_names(kind: str, names_of) -> None:
    _OPERATION_NAMERS[kind] = names_of


def _operation_labels(kind_ids: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """A readable name for each operation where its domain names it (a guide-task batch's name); else its
    id."""
    names = {}
    for kind, names_of in _OPERATION_NAMERS.items():
        ids = [int(i) for k, i in kind_ids if k == kind and i and i.isdigit()]
        names[kind] = names_of(ids) if ids else {}
    return {(k, i): names.get(k, {}).get(int(i)) if i and i.isdigit() and int(i) in names.get(k, {}) else (i or "")
            for k, i in kind_ids}  # fmt: skip


def touch_grid(f: Filters) -> dict:
    """Customers reached in the range, by operation (journey, campaign, guide-task batch, manual send),
    touchpoint and lifecycle stage, from the recorded touches; every touchpoint × stage cell is present,
    so a combination nobody reached shows as 0."""

    con = backend()
    t = con.table("touches")
    t = t.filter(
        t.sent_at >= instant(f.start), t.sent_at < instant(f.end), t.customer_id.notnull(),
        t.channel.isin(list(TOUCHPOINTS)),
    )  # fmt: skip
    if f.channels:
        c = con.table("customer_channels")
        t = t.semi_join(c.filter(c.source.isin(list(f.channels))).select("customer_id"), "customer_id")
    if f.stores:
        t = t.semi_join(facts.customers_at_stores(con, f.stores), "customer_id")
    t = left_join(t, _current_stages(con))
    numbered = t.source.isin(list(UNNUMBERED_SOURCES)).ifelse(ibis.literal(""), t.source_id.fill_null(""))
    t = t.mutate(stage=t.stage.fill_null(UNKNOWN_STAGE), source_id=numbered)
    cells = rows(
        t.group_by(["source", "source_id", "channel", "stage"]).aggregate(
            touches=t.count(), customers=t.customer_id.nunique()
        )
    )
    by_point = rows(t.group_by(["channel", "stage"]).aggregate(customers=t.customer_id.nunique()))
    by_operation = rows(
        t.group_by(["source", "source_id", "stage"]).aggregate(customers=t.customer_id.nunique())
    )
    stages = [*LIFECYCLE_STAGES, UNKNOWN_STAGE]
    point_grid = {p: dict.fromkeys(stages, 0) for p in TOUCHPOINTS}
    for row in by_point:
        point_grid[row["channel"]][row["stage"] if row["stage"] in stages else UNKNOWN_STAGE] += row[
            "customers"
        ]
    operations: dict[tuple[str, str], dict] = {}
    for row in by_operation:
        key = (row["source"], row["source_id"])
        grid = operations.setdefault(key, dict.fromkeys(stages, 0))
        grid[row["stage"] if row["stage"] in stages else UNKNOWN_STAGE] += row["customers"]
    for kind in OPERATION_KINDS:  # a kind of operation that reached nobody still gets its (empty) row
        if not any(k == kind for k, _ in operations):
            operations[(kind, "")] = dict.fromkeys(stages, 0)
    labels = _operation_labels(set(operations))
    order = {k: i for i, k in enumerate(OPERATION_KINDS)}
    operation_rows = [
        {"operation": kind, "operation_id": oid or None, "label": labels.get((kind, oid)) or None, **grid}
        for (kind, oid), grid in sorted(
            operations.items(), key=lambda item: (order.get(item[0][0], 9), item[0][1])
        )
    ]
    empty = sum(1 for p in TOUCHPOINTS for s in LIFECYCLE_STAGES if point_grid[p][s] == 0)
    return _page(
        "touch_grid",
        f,
        stages=stages,
        empty_cells=empty,
        tables={
            "touchpoint_stage": [{"touchpoint": p, **point_grid[p]} for p in TOUCHPOINTS],
            "operation_stage": operation_rows,
            "touch_cells": sorted(
                (
                    {
                        "operation": c["source"],
                        "operation_id": c["source_id"] or None,
                        "touchpoint": c["channel"],
                        "stage": c["stage"],
                        "touches": c["touches"],
                        "customers": c["customers"],
                    }
                    for c in cells
                ),
                key=lambda c: (
                    order.get(c["operation"], 9),
                    c["operation_id"] or "",
                    c["touchpoint"],
                    c["stage"],
                ),
            ),  # fmt: skip
        },
    )


# --- the home's key figures ----------------------------------------------------------------------


def latest_day() -> date | None:
    """The local day of the latest purchase or of the latest new customer (None: no data yet). The home's
    period ends on it, so that the customers at its end are all of them and an old import still shows
    figures. Read from customer_summary (one row per customer), not from the orders."""
    summary = backend().table("customer_summary")
    latest = summary.aggregate(purchase=summary.last_purchase_at.max(), acquired=summary.acquired_at.max())
    days = [facts.local_day(t) for t in rows(latest)[0].values() if t is not None]
    return max(days) if days else None


def stores_with_data(names) -> tuple[str, ...]:
    """Those of the store `names` that some customer's record carries (a store's name or code)."""
    names = sorted({n for n in names if n})
    if not names:
        return ()
    c = backend().table("customer_channels")
    found = c.filter(c.store.isin(names)).select("store").distinct()
    return tuple(sorted(r["store"] for r in rows(found)))


def key_figures(f: Filters) -> dict:
    """The figures of the home for the range and for the range of the same length before it: customers
    and private-pool size at each range's end (customers acquired, joined, before it), GMV, buyers and
    repurchase rate within each (`facts.buyer_totals`). `f.stores`: customers with a record at those
    stores, joins recorded there, purchases made there. One aggregate query per table (customer_summary,
    customer_channels, customer_orders), each giving both ranges."""
    con = backend()
    since = instant(f.start)
    c = facts.customers(con, acquired_to=f.end, stores=f.stores)
    customers = rows(c.aggregate(now=c.count(), before=c.count(where=c.acquired_at < since)))[0]
    pool = facts.private_pool(con, end=f.end, stores=f.stores)
    joined = rows(pool.aggregate(now=pool.count(), before=pool.count(where=pool.joined_at < since)))[0]
    p = facts.purchases(con, start=f.previous().start, end=f.end, stores=f.stores)
    p = p.mutate(current=p.order_time >= since)
    periods = {r["current"]: r for r in rows(facts.buyer_totals(p, by=("current",)))}
    now, before = (periods.get(k) or {"buyers": 0, "repeat_buyers": 0, "gmv": 0} for k in (True, False))
    return {
        "customers": {"now": int(customers["now"]), "before": int(customers["before"])},
        "private_pool": {"now": int(joined["now"]), "before": int(joined["before"])},
        "gmv": {"now": money(now["gmv"]), "before": money(before["gmv"])},
        "buyers": {"now": int(now["buyers"]), "before": int(before["buyers"])},
        "repurchase_rate": {
            "now": rate(now["repeat_buyers"], now["buyers"]),
            "before": rate(before["repeat_buyers"], before["buyers"]),
        },
    }


PAGES = {
    "funnel": funnel,
    "gmv_tree": gmv_tree,
    "formula": formula,
    "cohorts": cohorts,
    "channel_roi": channel_roi,
    "traffic_map": traffic_map,
    "sales_by_hour": sales_by_hour,
    "repurchase": repurchase,
    "touch_grid": touch_grid,
}
