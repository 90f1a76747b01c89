"""Loyalty's warehouse mirror: the control plane's loyalty rows become warehouse events and state tables, so
that segments, journeys and analytics (which sit below loyalty) read them through the warehouse (DESIGN.md §2).

One run (`mirror_loyalty`, job kind "loyalty_mirror"; the pipeline runs it after resolves, `siyu serve` every
MIRROR_EVERY):

- reads what was written since the last run, never by what a row says happened (a coupon an imported order
  used is used at the order's time; a tier review can run as of a past date), part by part (PARTS, positions in
  siyu.warehouse.mirrors): points entries, tier changes, coupons issued, check-ins and mall redemptions by
  primary key (ids not there yet — a transaction still open — are looked for again), coupons used by the
  change stamp every status change writes (Coupon.changed_at, read again MARGIN back) — and appends one event
  each, keyed by the row (`loyalty|<kind>:<id>`), so a re-run adds nothing twice;
- appends the events of what is about to happen, each once: points_expiring (per lot, POINTS_EXPIRING_DAYS
  before it expires), coupon_expiring (per coupon, COUPON_EXPIRING_DAYS before), checkin_missed (a member
  whose streak was ≥ 2 and who did not check in yesterday, once per broken streak);
- replaces loyalty_members and loyalty_coupons whole (set-wise, from grouped queries; in one transaction
  with the positions).

Events name the customer's anchor record (siyu.warehouse.anchors); a row of a customer identity resolution
does not know (yet) waits (the part's pending rows) and is written by the first run after they are resolved.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pyarrow as pa
from django.db.models import Case, CharField, Count, F, Max, Q, Sum, Value, When
from django.utils import timezone

from siyu.core.batches import chunked
from siyu.engagement.messaging.actions import append_events
from siyu.loyalty.checkin.models import Checkin
from siyu.loyalty.coupons.models import Coupon, CouponStatus, CouponTemplate
from siyu.loyalty.mall.models import MallRedemption
from siyu.loyalty.points.models import PointsEntry, PointsLot
from siyu.loyalty.points.queries import every_balance
from siyu.loyalty.tiers.models import MemberTier, Tier, TierChange
from siyu.warehouse import backend
from siyu.warehouse.anchors import anchor_record_keys
from siyu.warehouse.mirrors import Position, arrow_rows, mirror_part, positions, replace_state
from siyu.warehouse.schema import TABLES

STREAM = "loyalty"
SOURCE = "loyalty"
MARGIN = dt.timedelta(minutes=10)  # coupons used: a change stamp is read again this long (a late commit)
BATCH = 10_000  # rows read per page
MIRROR_EVERY = dt.timedelta(hours=1)
POINTS_EXPIRING_DAYS = 7
COUPON_EXPIRING_DAYS = 3
MISSED_LOOKBACK_DAYS = 3  # a streak broken this many days ago is still reported (a mirror that did not run)
# the coupons part's statuses as the warehouse names them (siyu.warehouse.schema "loyalty_coupons")
COUPON_STATUS = {CouponStatus.ISSUED: "unused", CouponStatus.USED: "used", CouponStatus.EXPIRED: "expired",
                 CouponStatus.VOID: "void"}  # fmt: skip


def _pages(rows, position: Position, fields: tuple[str, ...]) -> Iterator[list[dict]]:
    """`rows` (values of `fields`, "id" first) written after `position` and those it reads again (waiting for
    their customer, or not there yet), in pages of BATCH in id order."""
    for chunk in chunked(position.again()):
        page = list(rows.filter(pk__in=chunk).order_by("pk").values(*fields))
        if page:
            yield page
    after = position.last_id
    while page := list(rows.filter(pk__gt=after).order_by("pk").values(*fields)[:BATCH]):
        yield page
        after = page[-1]["id"]


def _event(key: str, customer_id: int, event_type: str, at: dt.datetime, properties: dict, row_id: int = 0,
           stamp: dt.datetime | None = None) -> dict:  # fmt: skip
    return {"event_key": f"{SOURCE}|{key}", "customer_id": customer_id, "event_type": event_type, "source": SOURCE,
            "occurred_at": at, "properties": properties, "row_id": row_id, "stamp": stamp}  # fmt: skip


def points_events(position: Position) -> Iterator[list[dict]]:
    """points_changed per entry written after `position`: delta, source, and the member's balance after it
    (every lot's points, pending included: the sum of their entries up to this one)."""
    for page in _pages(PointsEntry.objects, position, ("id", "customer_id", "points", "source", "created_at")):
        wanted = {e["id"] for e in page}
        first, last = min(wanted), max(wanted)
        out = []
        for chunk in chunked(sorted({e["customer_id"] for e in page})):
            before = dict(
                PointsEntry.objects.filter(customer_id__in=chunk, id__lt=first)
                .values("customer_id").annotate(total=Sum("points")).values_list("customer_id", "total")
            )  # fmt: skip
            running = {cid: int(before.get(cid) or 0) for cid in chunk}
            rows = PointsEntry.objects.filter(customer_id__in=chunk, id__gte=first, id__lte=last).order_by("id")
            for e in rows.values("id", "customer_id", "points", "source", "created_at"):
                running[e["customer_id"]] += e["points"]
                if e["id"] in wanted:
                    out.append(_event(f"points:{e['id']}", e["customer_id"], "points_changed", e["created_at"],
                                      {"delta": e["points"], "source": e["source"], "balance": running[e["customer_id"]]},
                                      e["id"]))  # fmt: skip
        yield out


def tier_events(position: Position) -> Iterator[list[dict]]:
    """tier_changed per tier change written after `position`: from, to (tier ids as text, "" for none) and
    their names (a change evaluated at a past date is read all the same: it is read by id)."""
    fields = ("id", "customer_id", "changed_at", "kind", "from_tier_id", "to_tier_id", "from_tier__name",
              "to_tier__name")  # fmt: skip
    for page in _pages(TierChange.objects, position, fields):
        yield [_event(f"tier:{c['id']}", c["customer_id"], "tier_changed", c["changed_at"],
                      {"from": str(c["from_tier_id"] or ""), "to": str(c["to_tier_id"] or ""), "kind": c["kind"],
                       "from_name": c["from_tier__name"] or "", "to_name": c["to_tier__name"] or ""}, c["id"])
               for c in page]  # fmt: skip


def coupon_issued_events(position: Position) -> Iterator[list[dict]]:
    """coupon_issued per coupon issued after `position` (template_id, coupon_id, source)."""
    fields = ("id", "customer_id", "template_id", "issued_at", "source")
    for page in _pages(Coupon.objects, position, fields):
        yield [_event(f"coupon_issued:{c['id']}", c["customer_id"], "coupon_issued", c["issued_at"],
                      {"coupon_id": c["id"], "template_id": c["template_id"], "source": c["source"]}, c["id"])
               for c in page]  # fmt: skip


def coupon_used_events(position: Position) -> Iterator[list[dict]]:
    """coupon_used per coupon used whose change stamp is at or after `position`'s (less MARGIN, for writes that
    committed late) and those waiting for their customer; occurred_at is when it was used (an imported
    order's time)."""
    used = Coupon.objects.filter(status=CouponStatus.USED)
    if position.last_stamp is not None:
        used = used.filter(changed_at__gte=position.last_stamp - MARGIN)
    fields = ("id", "customer_id", "template_id", "used_at", "channel", "changed_at")
    again = [list(Coupon.objects.filter(pk__in=chunk, status=CouponStatus.USED).values(*fields))
             for chunk in chunked(position.again())]  # fmt: skip
    for page in [*again, *chunked(used.order_by("pk").values(*fields).iterator(), BATCH)]:
        yield [_event(f"coupon_used:{c['id']}", c["customer_id"], "coupon_used", c["used_at"],
                      {"coupon_id": c["id"], "template_id": c["template_id"], "channel": c["channel"]}, c["id"],
                      c["changed_at"]) for c in page]  # fmt: skip


def checkin_events(position: Position) -> Iterator[list[dict]]:
    """checked_in per check-in written after `position` (streak; a make-up says so)."""
    for page in _pages(Checkin.objects, position, ("id", "customer_id", "day", "streak", "made_up", "created_at")):
        yield [_event(f"checkin:{c['id']}", c["customer_id"], "checked_in", c["created_at"],
                      {"streak": c["streak"], "day": c["day"].isoformat(), "made_up": c["made_up"]}, c["id"])
               for c in page]  # fmt: skip


def mall_events(position: Position) -> Iterator[list[dict]]:
    """mall_redeemed per redemption written after `position`."""
    fields = ("id", "customer_id", "item_id", "quantity", "points", "created_at")
    for page in _pages(MallRedemption.objects, position, fields):
        yield [_event(f"mall:{r['id']}", r["customer_id"], "mall_redeemed", r["created_at"],
                      {"item_id": r["item_id"], "quantity": r["quantity"], "points": r["points"]}, r["id"])
               for r in page]  # fmt: skip


# the parts of the stream: (name, the events written after a position, read by id or by change stamp)
PARTS = (("points", points_events, True), ("tiers", tier_events, True), ("coupons_issued", coupon_issued_events, True),
         ("coupons_used", coupon_used_events, False), ("checkins", checkin_events, True), ("mall", mall_events, True))  # fmt: skip


def coming_events(now: dt.datetime) -> list[dict]:
    """What is about to happen, each once (its key names the lot, the coupon or the broken streak):
    points_expiring, coupon_expiring, checkin_missed; occurred_at is `now`, when the mirror saw it coming."""
    out = []
    lots = PointsLot.objects.filter(
        remaining__gt=0, expires_at__gt=now, expires_at__lte=now + dt.timedelta(days=POINTS_EXPIRING_DAYS),
        available_at__lte=now)  # fmt: skip
    for lot in lots.values("id", "customer_id", "remaining", "expires_at"):
        out.append(_event(f"points_expiring:{lot['id']}", lot["customer_id"], "points_expiring", now,
                          {"points": lot["remaining"], "expires_on": timezone.localdate(lot["expires_at"]).isoformat()}))  # fmt: skip
    coupons = Coupon.objects.filter(
        status=CouponStatus.ISSUED, expires_at__gt=now,
        expires_at__lte=now + dt.timedelta(days=COUPON_EXPIRING_DAYS))  # fmt: skip
    for c in coupons.values("id", "customer_id", "template_id", "expires_at"):
        out.append(_event(f"coupon_expiring:{c['id']}", c["customer_id"], "coupon_expiring", now,
                          {"coupon_id": c["id"], "template_id": c["template_id"],
                           "expires_on": timezone.localdate(c["expires_at"]).isoformat()}))  # fmt: skip
    today = timezone.localdate(now)
    yesterday = today - dt.timedelta(days=1)
    last = (Checkin.objects.filter(day__gte=yesterday - dt.timedelta(days=MISSED_LOOKBACK_DAYS), day__lte=today)
            .values("customer_id").annotate(last=Max("day")))  # fmt: skip
    broken = {r["customer_id"]: r["last"] for r in last if r["last"] < yesterday}
    if broken:
        days = Checkin.objects.filter(customer_id__in=list(broken), day__in=set(broken.values()))
        for c in days.values("customer_id", "day", "streak"):
            if broken.get(c["customer_id"]) == c["day"] and c["streak"] >= 2:
                out.append(_event(f"checkin_missed:{c['customer_id']}:{c['day'].isoformat()}", c["customer_id"],
                                  "checkin_missed", now, {"streak": c["streak"], "last_day": c["day"].isoformat()}))  # fmt: skip
    return out


def write_events(events: list[dict]) -> int:
    """Append events against their customers' anchor records; returns how many were new (an event of a
    customer customer_map does not know is left out: what is about to happen is seen again next run)."""
    anchors = anchor_record_keys(backend(), {e["customer_id"] for e in events})
    rows = [{**{k: v for k, v in e.items() if k not in ("customer_id", "row_id", "stamp")},
             "record_key": anchors[e["customer_id"]]} for e in events if e["customer_id"] in anchors]  # fmt: skip
    return append_events(rows)


def member_rows(now: dt.datetime) -> dict[int, dict]:
    """One loyalty_members row per customer with points, a tier, a check-in or a coupon, by customer id: each
    source is one grouped query in the database; here they are only put side by side."""
    today = timezone.localdate(now)
    rows: dict[int, dict] = {}

    def row(cid: int) -> dict:
        found = rows.get(cid)
        if found is None:
            found = rows[cid] = {"customer_id": cid, "points_available": 0, "points_pending": 0,
                                 "points_expiring_30d": 0, "checkin_streak": 0, "coupons_held": 0,
                                 "coupons_used": 0, "updated_at": now}  # fmt: skip
        return found

    for b in every_balance(now).values_list("customer_id", "available", "pending", "expiring_30d"):
        row(b[0]).update(points_available=b[1] or 0, points_pending=b[2] or 0, points_expiring_30d=b[3] or 0)
    tiers = MemberTier.objects.values_list("customer_id", "tier_id", "tier__name", "tier__rank", "since")
    for cid, tier_id, name, rank, since in tiers.iterator(chunk_size=BATCH):
        found = row(cid)
        if tier_id is not None:
            found.update(tier_code=str(tier_id), tier_name=name, tier_rank=rank, tier_since=since)
    for cid, last in Checkin.objects.order_by().values("customer_id").annotate(last=Max("day")).values_list(
            "customer_id", "last"):  # fmt: skip
        row(cid)["last_checkin_on"] = last
    # the streak of a member who checked in today or yesterday: the streak their last day ends
    recent = Checkin.objects.filter(day__gte=today - dt.timedelta(days=1)).order_by("day")
    for cid, streak in recent.values_list("customer_id", "streak"):
        rows[cid]["checkin_streak"] = streak
    held = Count("id", filter=Q(status=CouponStatus.ISSUED))
    used = Count("id", filter=Q(status=CouponStatus.USED))
    coupons = Coupon.objects.order_by().values("customer_id").annotate(held=held, used=used)
    for cid, n_held, n_used in coupons.values_list("customer_id", "held", "used"):
        row(cid).update(coupons_held=n_held, coupons_used=n_used)
    return rows


def member_table(now: dt.datetime) -> pa.Table:
    rows = member_rows(now)
    return arrow_rows("loyalty_members", [rows[cid] for cid in sorted(rows)])


def coupon_table() -> pa.Table:
    """Every coupon as loyalty_coupons rows: one query, the status named in the database, read column-wise."""
    status = Case(*(When(status=k, then=Value(v)) for k, v in COUPON_STATUS.items()), default=F("status"),
                  output_field=CharField())  # fmt: skip
    names = ("customer_id", "coupon_id", "template_id", "template_name", "status", "issued_at", "used_at",
             "expires_at")  # fmt: skip
    rows = Coupon.objects.order_by("id").values_list(
        "customer_id", "id", "template_id", "template__name", status, "issued_at", "used_at", "expires_at")
    columns = list(zip(*rows.iterator(chunk_size=BATCH), strict=True)) or [()] * len(names)
    schema = TABLES["loyalty_coupons"].to_pyarrow()
    return pa.table([pa.array(col, schema.field(name).type) for name, col in zip(names, columns, strict=True)],
                    schema=schema)  # fmt: skip


def mirror_loyalty(now: dt.datetime | None = None) -> dict:
    """One run of the mirror (see the module's docstring). Returns the events seen and written, the rows
    waiting for their customer (and dropped after waiting too long), and the state rows."""
    now = now or timezone.now()
    at = positions(STREAM)
    report = {"events_seen": 0, "events_written": 0, "waiting": 0, "dropped": 0}
    parts = {}
    for name, events, by_id in PARTS:
        parts[name], done = mirror_part(at.get(name, Position()), events(at.get(name, Position())), append_events,
                                        now, by_id=by_id)  # fmt: skip
        for k in ("seen", "written", "waiting", "dropped"):
            report[k if k in ("waiting", "dropped") else f"events_{k}"] += done[k]
    coming = coming_events(now)
    report["events_seen"] += len(coming)
    report["events_written"] += write_events(coming)
    state = replace_state(STREAM, {"loyalty_members": member_table(now), "loyalty_coupons": coupon_table()}, now,
                          parts)  # fmt: skip
    return {**report, **state}


def run_mirror_job(job, progress) -> dict:
    """Job runner of kind `loyalty_mirror`."""
    return mirror_loyalty()


def schedule_mirror(at: dt.datetime | None = None) -> bool:
    """Make sure the mirror runs at `at` (now when None); it comes back every MIRROR_EVERY (siyu serve)."""
    from siyu.core.tasks import schedule_once
    from siyu.loyalty.tasks import mirror_loyalty_task  # the task module imports this one

    return schedule_once(mirror_loyalty_task, at)


def builder_tiers() -> list[list]:
    """[code, name, rank] of the active tiers, lowest first: the segment builder's and the journey editor's
    words for the warehouse's tier codes (registered in LoyaltyConfig.ready)."""
    return [[str(t.pk), t.name, t.rank] for t in Tier.objects.filter(active=True).order_by("rank")]


def builder_coupon_templates() -> list[list]:
    """[template id, name] of every coupon template (registered in LoyaltyConfig.ready)."""
    return [[t.pk, t.name] for t in CouponTemplate.objects.order_by("-pk")[:500]]
