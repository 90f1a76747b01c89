"""Read side of journeys: trigger candidates, goals, lift and live counts."""

from __future__ import annotations

import datetime as dt

import ibis
import pyarrow as pa
from django.db.models import Count, Min, Q, Sum

from siyu import warehouse
from siyu.engagement.errors import JourneyNotFound
from siyu.engagement.journeys.definitions import ORDER_PLACED
from siyu.engagement.journeys.models import Enrollment, GroupEnrollment, Journey, StepCount
from siyu.engagement.messaging.models import Send
from siyu.segments.errors import TraitsNotComputed
from siyu.segments.membership import rule_members
from siyu.segments.queries import snapshot_cutoff
from siyu.warehouse.events import with_properties
from siyu.warehouse.orders import is_purchase

# --- journeys ------------------------------------------------------------------------------------------

TS = "timestamp('UTC', 6)"


def _ts(value: dt.datetime):
    return ibis.literal(value, type=TS)


def _ids_table(columns: dict) -> ibis.Table:
    return ibis.memtable(pa.table(columns))


def _purchases(con) -> ibis.Table:
    """customer_id, order_key, trigger_key, order_time, amount of every purchase order. `trigger_key` names
    the order in enrollments: its key from before orders were keyed by platform where it has one
    (siyu.warehouse.upgrades), so that an upgrade does not let the same order in again."""
    orders = con.table("orders")
    orders = orders.filter(is_purchase(orders)).select(
        "order_key",
        "record_key",
        "order_time",
        "amount",
        trigger_key=orders.legacy_key.fill_null(orders.order_key),
    )
    return orders.join(con.table("customer_map").select("record_key", "customer_id"), "record_key").drop(
        "record_key"
    )


def _event_facts(con, event: str, wanted: dict | None = None) -> ibis.Table:
    """customer_id, fact_key, at of the facts named `event` (journeys.ORDER_PLACED: purchase orders), of
    the events whose properties hold `wanted`."""

    if event == ORDER_PLACED:
        purchases = _purchases(con)
        return purchases.select(
            "customer_id", fact_key="order:" + purchases.trigger_key, at=purchases.order_time
        )
    events = con.table("events")
    events = with_properties(events.filter(events.event_type == event), wanted or {})
    events = events.join(con.table("customer_map").select("record_key", "customer_id"), "record_key")
    return events.select("customer_id", fact_key="event:" + events.event_key, at=events.occurred_at)


def _local_date(now: dt.datetime) -> dt.date:
    from zoneinfo import ZoneInfo

    from django.conf import settings

    return now.astimezone(ZoneInfo(settings.TIME_ZONE)).date()


def trigger_candidates(journey, now: dt.datetime) -> pa.Table:
    """customer_id, trigger_key of the customers the journey's trigger lets in now, earliest fact first
    (siyu.engagement.journeys.definitions for what each trigger means). Nothing is written."""
    con = warehouse.backend()
    trigger = journey.trigger
    kind = trigger["type"]
    since = journey.activated_at or now
    empty = pa.table({"customer_id": pa.array([], pa.int64()), "trigger_key": pa.array([], pa.string())})
    summary = con.table("customer_summary")
    if kind == "event":
        facts = _event_facts(con, trigger["event"], trigger.get("with"))
        start = max(since, now - dt.timedelta(days=trigger["max_age_days"]))
        facts = facts.filter((facts.at >= _ts(start)) & (facts.at <= _ts(now)))
        expr = facts.order_by(["at", "fact_key"]).select("customer_id", trigger_key=facts.fact_key)
    elif kind == "segment":
        changes = con.table("segment_changes")
        start = (
            since
            if journey.trigger_checked_at is None
            else max(since, journey.trigger_checked_at - dt.timedelta(days=1))
        )
        changes = changes.filter(
            (changes.segment_id == trigger["segment_id"]) & (changes.change == trigger["change"])
            & (changes.changed_at >= _ts(start)) & (changes.changed_at <= _ts(now))
        )  # fmt: skip
        key = (
            f"segment:{trigger['segment_id']}:{trigger['change']}:" + changes.customer_id.cast("string") + ":"
            + changes.changed_at.epoch_seconds().cast("string")
        )  # fmt: skip
        expr = changes.order_by(["changed_at", "customer_id"]).select("customer_id", trigger_key=key)
    elif kind == "segment_now":
        if journey.trigger_checked_at is not None:
            return empty  # a one-shot campaign takes the members at its activation only
        members = con.table("segment_members")
        members = members.filter(members.segment_id == trigger["segment_id"])
        expr = members.order_by("customer_id").select(
            "customer_id", trigger_key="now:" + members.customer_id.cast("string")
        )
    elif kind == "schedule":
        if journey.next_run_at is None or journey.next_run_at > now:
            return empty
        if trigger["segment_id"] is None:
            base = summary.select("customer_id")
        else:
            members = con.table("segment_members")
            base = members.filter(members.segment_id == trigger["segment_id"]).select("customer_id")
        run = journey.next_run_at.isoformat()
        expr = base.order_by("customer_id").select(
            "customer_id", trigger_key=f"schedule:{run}:" + base.customer_id.cast("string")
        )
    elif kind == "inactivity":
        last = summary.last_purchase_at
        cut = now - dt.timedelta(days=trigger["days"])
        lapsed = summary.filter(last.notnull() & (last <= _ts(cut)))
        key = (
            f"inactive:{trigger['days']}:" + lapsed.customer_id.cast("string") + ":"
            + lapsed.last_purchase_at.epoch_seconds().cast("string")
        )  # fmt: skip
        expr = lapsed.order_by("customer_id").select("customer_id", trigger_key=key)
    elif trigger["date"] == "birthday":
        target = _local_date(now) + dt.timedelta(days=trigger["days_before"])
        born = summary.filter(
            summary.birthday.notnull()
            & (summary.birthday.month() == target.month)
            & (summary.birthday.day() == target.day)
        )
        expr = born.order_by("customer_id").select(
            "customer_id", trigger_key=f"birthday:{target.year}:" + born.customer_id.cast("string")
        )
    else:  # due_to_buy: the traits' purchase-cycle due date is near or past

        try:
            cutoff = snapshot_cutoff()
        except TraitsNotComputed:
            return empty
        traits = con.table("customer_traits")
        due = traits.filter(
            (traits.as_of == cutoff)
            & traits.due_in_days.notnull()
            & (traits.due_in_days <= trigger["days_before"])
        ).select("customer_id")
        due = due.join(summary.select("customer_id", "last_purchase_at"), "customer_id")
        due = due.filter(due.last_purchase_at.notnull())
        key = (
            "due:"
            + due.customer_id.cast("string")
            + ":"
            + due.last_purchase_at.epoch_seconds().cast("string")
        )
        expr = due.order_by("customer_id").select("customer_id", trigger_key=key)
    table = expr.to_pyarrow()
    return table.select(["customer_id", "trigger_key"]).cast(empty.schema)


def enrollments_with_fact(rows: list[tuple[int, int, dt.datetime]], event: str, now: dt.datetime) -> set[int]:
    """Of (enrollment id, customer id, since) rows: the enrollments whose customer had the fact `event`
    after `since` (and not after now)."""
    if not rows:
        return set()
    con = warehouse.backend()
    waiting = _ids_table({
        "enrollment_id": pa.array([r[0] for r in rows], pa.int64()),
        "customer_id": pa.array([r[1] for r in rows], pa.int64()),
        "since": pa.array([r[2] for r in rows], pa.timestamp("us", tz="UTC")),
    })  # fmt: skip
    facts = _event_facts(con, event)
    facts = facts.filter(facts.at <= _ts(now))
    joined = waiting.join(facts, "customer_id")
    hit = joined.filter(joined.at > joined.since).select("enrollment_id").distinct()
    return set(hit.enrollment_id.to_pyarrow().to_pylist())


def customers_matching_rule(rule: dict, customer_ids: list[int], now: dt.datetime) -> set[int]:
    """Of `customer_ids`: those for whom the segment rule holds now (siyu.segments.membership)."""

    if not customer_ids:
        return set()
    con = warehouse.backend()
    wanted = _ids_table({"customer_id": pa.array(sorted(set(customer_ids)), pa.int64())})
    members = rule_members(con, rule, now).semi_join(wanted, "customer_id")
    return set(members.customer_id.to_pyarrow().to_pylist())


def _enrollment_table(rows) -> ibis.Table:
    return _ids_table({
        "enrollment_id": pa.array([r[0] for r in rows], pa.int64()),
        "customer_id": pa.array([r[1] for r in rows], pa.int64()),
        "entered_at": pa.array([r[2] for r in rows], pa.timestamp("us", tz="UTC")),
        "holdout": pa.array([bool(r[3]) for r in rows] if rows and len(rows[0]) > 3 else [False] * len(rows)),
    })  # fmt: skip


def _goal_orders(rows, goal_days: int, now: dt.datetime) -> ibis.Table:
    """enrollment_id, customer_id, holdout, order_key, order_time, amount: the purchases each enrollment
    made within goal_days of entering (and before now)."""
    con = warehouse.backend()
    entered = _enrollment_table(rows)
    purchases = _purchases(con)
    joined = entered.join(purchases, "customer_id")
    end = joined.entered_at + ibis.interval(days=goal_days)
    return joined.filter(
        (joined.order_time >= joined.entered_at) & (joined.order_time < end) & (joined.order_time <= _ts(now))
    )


def buyers_since(since: dt.datetime, now: dt.datetime) -> set[int]:
    """Customers with a purchase order in [since, now]."""
    purchases = _purchases(warehouse.backend())
    recent = purchases.filter((purchases.order_time >= _ts(since)) & (purchases.order_time <= _ts(now)))
    return set(recent.select("customer_id").distinct().customer_id.to_pyarrow().to_pylist())


def goal_reached(
    rows: list[tuple[int, int, dt.datetime]], goal_days: int, now: dt.datetime
) -> dict[int, dt.datetime]:
    """{enrollment id: its first goal purchase time} for the (id, customer, entered_at) rows that made one."""
    if not rows or not goal_days:
        return {}
    orders = _goal_orders(rows, goal_days, now)
    first = orders.group_by("enrollment_id").aggregate(at=orders.order_time.min()).to_pyarrow().to_pylist()
    return {r["enrollment_id"]: r["at"] for r in first}


def _wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / denominator
    return centre - half, centre + half


def lift_numbers(treated: dict, holdout: dict, cost: float, z: float = 1.959964) -> dict:
    """Lift of treated over holdout from {"customers", "converted", "orders", "gmv"} of each group.

    The interval of the difference in conversion rates is Newcombe's hybrid score interval (method 10 of
    Newcombe 1998: the Wilson score intervals of both rates combined), 95% by default. Incremental orders
    are (orders per treated customer − orders per holdout customer) × treated customers; cost per
    incremental order is `cost` divided by them (None when there are none)."""
    n1, n2 = treated["customers"], holdout["customers"]
    p1 = treated["converted"] / n1 if n1 else None
    p2 = holdout["converted"] / n2 if n2 else None
    out = {
        "treated_rate": p1, "holdout_rate": p2, "absolute_lift": None, "relative_lift": None,
        "ci_low": None, "ci_high": None,
        "treated_gmv_per_customer": treated["gmv"] / n1 if n1 else None,
        "holdout_gmv_per_customer": holdout["gmv"] / n2 if n2 else None,
        "gmv_lift_per_customer": None, "incremental_orders": None, "incremental_gmv": None,
        "cost": cost, "cost_per_incremental_order": None,
    }  # fmt: skip
    if p1 is None or p2 is None:
        return out
    l1, u1 = _wilson(treated["converted"], n1, z)
    l2, u2 = _wilson(holdout["converted"], n2, z)
    diff = p1 - p2
    out["absolute_lift"] = diff
    out["relative_lift"] = diff / p2 if p2 else None
    out["ci_low"] = diff - ((p1 - l1) ** 2 + (u2 - p2) ** 2) ** 0.5
    out["ci_high"] = diff + ((u1 - p1) ** 2 + (p2 - l2) ** 2) ** 0.5
    gmv_lift = treated["gmv"] / n1 - holdout["gmv"] / n2
    out["gmv_lift_per_customer"] = gmv_lift
    out["incremental_gmv"] = gmv_lift * n1
    incremental = (treated["orders"] / n1 - holdout["orders"] / n2) * n1
    out["incremental_orders"] = incremental
    out["cost_per_incremental_order"] = cost / incremental if incremental > 0 else None
    return out


def journey_lift(journey, now: dt.datetime | None = None) -> dict:
    """Goal conversion and GMV per customer, treated vs holdout, with the lift (lift_numbers). The unit is
    the customer, not the entry: a customer who entered twice is one observation (the holdout is fixed per
    customer and journey, so their entries are not independent). A customer converts when they made a
    purchase within the journey's goal days of one of their entries; an order counts once however many
    entries' windows hold it. Treated means assigned to be contacted (intention to treat): a treated
    customer whose sends the contact policy suppressed (opt-out, caps, global holdout) still counts."""

    now = now or dt.datetime.now(dt.UTC)
    rows = list(
        Enrollment.objects.filter(journey=journey).values_list("pk", "customer_id", "entered_at", "holdout")
    )
    groups = {
        held: {"customers": len({r[1] for r in rows if bool(r[3]) == held}), "converted": 0, "orders": 0,
               "gmv": 0.0}
        for held in (True, False)
    }  # fmt: skip
    if rows and journey.goal_days:
        orders = _goal_orders(rows, journey.goal_days, now)
        orders = orders.select("holdout", "customer_id", "order_key", "amount").distinct()
        per = orders.group_by("holdout").aggregate(
            converted=orders.customer_id.nunique(),
            orders=orders.order_key.nunique(),
            gmv=orders.amount.sum(),
        )
        for row in per.to_pyarrow().to_pylist():
            group = groups[bool(row["holdout"])]
            group.update(converted=row["converted"], orders=row["orders"], gmv=float(row["gmv"] or 0))
    # what the journey spends: sends made or still to be made (a retryable failure is tried again); not
    # the suppressed ones, nor those a provider refused for good
    sent = (
        Send.objects.filter(source=Send.Source.JOURNEY, source_id=str(journey.pk))
        .exclude(status__in=(Send.Status.SUPPRESSED, Send.Status.FAILED_PERMANENT))
        .count()
    )
    cost = float(journey.cost_per_send) * sent
    return {
        "goal_days": journey.goal_days,
        "treated": groups[False],
        "holdout": groups[True],
        "sends": sent,
        **lift_numbers(groups[False], groups[True], cost),
    }


def journey_step_counts(journey) -> list[dict]:
    """Per step: how many reached it (treated, holdout) and how many are at it now."""

    reached = {c.step_id: c for c in StepCount.objects.filter(journey=journey)}
    rows = GroupEnrollment if journey.audience == Journey.Audience.GROUPS else Enrollment
    now_at = dict(
        rows.objects.filter(journey=journey, status=Enrollment.Status.ACTIVE)
        .values_list("step_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    out = []
    for step in journey.steps:
        count = reached.get(step["id"])
        out.append({
            "step": step,
            "entered": count.entered if count else 0,
            "holdout_entered": count.holdout_entered if count else 0,
            "waiting": now_at.get(step["id"], 0),
        })  # fmt: skip
    return out


def group_journey_summary(journey) -> dict:
    """A group SOP's figures: groups reached, runs (trigger fires), group messages sent, groups on their way."""
    rows = GroupEnrollment.objects.filter(journey=journey)
    figures = rows.aggregate(enrolled=Count("pk"), groups=Count("group_id", distinct=True),
                             runs=Count("trigger_key", distinct=True), messages=Sum("messages"))  # fmt: skip
    active = rows.filter(status=Enrollment.Status.ACTIVE).count()
    reached = rows.filter(messages__gt=0).values("group_id").distinct().count()
    return {"enrolled": figures["enrolled"], "active": active, "exited": figures["enrolled"] - active,
            "groups_entered": figures["groups"], "groups_reached": reached, "runs": figures["runs"],
            "messages": figures["messages"] or 0, "holdout": 0, "goal_met": 0}  # fmt: skip


def group_journey_runs(journey, limit: int = 20) -> list[dict]:
    """The latest fires of a group SOP: when, groups entered, groups sent to, messages, groups still going."""
    rows = (GroupEnrollment.objects.filter(journey=journey).values("trigger_key")
            .annotate(started=Min("entered_at"), groups=Count("pk"), sent=Sum("messages"),
                      reached=Count("pk", filter=Q(messages__gt=0)),
                      active=Count("pk", filter=Q(status=Enrollment.Status.ACTIVE)))
            .order_by("-started")[:limit])  # fmt: skip
    return [{**r, "sent": r["sent"] or 0} for r in rows]


def journey_summary(journey) -> dict:
    if journey.audience == Journey.Audience.GROUPS:
        return group_journey_summary(journey)
    # two counts that each read one index (enrollment_customer, the active-only enrollment_at_step)
    enrolled = Enrollment.objects.filter(journey=journey).count()
    active = Enrollment.objects.filter(journey=journey, status=Enrollment.Status.ACTIVE).count()
    return {
        "enrolled": enrolled,
        "active": active,
        "exited": enrolled - active,
        "holdout": Enrollment.objects.filter(journey=journey, holdout=True).count(),
        "goal_met": Enrollment.objects.filter(journey=journey, goal_met_at__isnull=False).count(),
    }


def next_journey_due() -> dt.datetime | None:
    """The earliest time a tick has something to do: a due enrollment or a scheduled trigger."""

    due = Enrollment.objects.filter(
        status=Enrollment.Status.ACTIVE, journey__status=Journey.Status.ACTIVE
    ).aggregate(at=Min("due_at"))["at"]
    scheduled = Journey.objects.filter(status=Journey.Status.ACTIVE, next_run_at__isnull=False).aggregate(
        at=Min("next_run_at")
    )["at"]
    groups_due = GroupEnrollment.objects.filter(
        status=Enrollment.Status.ACTIVE, journey__status=Journey.Status.ACTIVE
    ).aggregate(at=Min("due_at"))["at"]
    times = [t for t in (due, scheduled, groups_due) if t is not None]
    return min(times) if times else None


def get_journey(journey_id):
    journey = Journey.objects.filter(pk=journey_id).first() if str(journey_id).isdigit() else None
    if journey is None:
        raise JourneyNotFound(f"journey {journey_id} does not exist")
    return journey
