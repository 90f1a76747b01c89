"""Loyalty's warehouse mirror: the control plane's loyalty rows become warehouse events and state tables, so
that segments, journeys and analytics (which sit below loyalty) read them through the warehouse (DESIGN.md §2).

One run (`mirror_loyalty`, job kind "loyalty_mirror"; the pipeline runs it after resolves, `siyu serve` every
MIRROR_EVERY):

- reads the rows changed since the stream's watermark (less MARGIN, for rows committed late) — points entries,
  tier changes, coupons issued and used, check-ins, mall redemptions — and appends one event each, keyed by
  the row (`loyalty|<kind>:<id>`), so a re-run adds nothing twice;
- appends the events of what is about to happen, each once: points_expiring (per lot, POINTS_EXPIRING_DAYS
  before it expires), coupon_expiring (per coupon, COUPON_EXPIRING_DAYS before), checkin_missed (a member
  whose streak was ≥ 2 and who did not check in yesterday, once per broken streak);
- replaces loyalty_members and loyalty_coupons whole (set-wise, in one transaction with the watermark).

Events name the customer's anchor record (siyu.warehouse.anchors); a customer identity resolution does not know
(yet) gets no event, and the next run after they are resolved writes it (its key is still new).
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from siyu.core.batches import chunked
from siyu.engagement.messaging.actions import append_events
from siyu.loyalty.checkin.models import Checkin
from siyu.loyalty.coupons.models import Coupon, CouponStatus, CouponTemplate
from siyu.loyalty.mall.models import MallRedemption
from siyu.loyalty.points.models import PointsEntry, PointsLot
from siyu.loyalty.points.queries import balances_of
from siyu.loyalty.tiers.models import MemberTier, Tier, TierChange
from siyu.warehouse import backend
from siyu.warehouse.anchors import anchor_record_keys
from siyu.warehouse.mirrors import arrow_rows, replace_state, watermark

STREAM = "loyalty"
SOURCE = "loyalty"
MARGIN = dt.timedelta(minutes=10)
MIRROR_EVERY = dt.timedelta(hours=1)
POINTS_EXPIRING_DAYS = 7
COUPON_EXPIRING_DAYS = 3
MISSED_LOOKBACK_DAYS = 3  # a streak broken this many days ago is still reported (a mirror that did not run)
# the coupons part's statuses as the warehouse names them (siyu.warehouse.schema "loyalty_coupons")
COUPON_STATUS = {CouponStatus.ISSUED: "unused", CouponStatus.USED: "used", CouponStatus.EXPIRED: "expired",
                 CouponStatus.VOID: "void"}  # fmt: skip


def _event(key: str, customer_id: int, event_type: str, at: dt.datetime, properties: dict) -> dict:
    return {"event_key": f"{SOURCE}|{key}", "customer_id": customer_id, "event_type": event_type,
            "occurred_at": at, "properties": properties}  # fmt: skip


def _since(rows, field: str, since: dt.datetime | None):
    return rows if since is None else rows.filter(**{f"{field}__gte": since})


def points_events(since: dt.datetime | None) -> list[dict]:
    """points_changed per entry since `since`: delta, source, and the member's balance after it (every lot's
    points, pending included: the sum of their entries up to this one)."""
    new = list(_since(PointsEntry.objects, "created_at", since).order_by("id").values(
        "id", "customer_id", "points", "source", "created_at"))  # fmt: skip
    if not new:
        return []
    first = new[0]["id"]
    out = []
    for chunk in chunked(sorted({e["customer_id"] for e in new})):
        before = dict(
            PointsEntry.objects.filter(customer_id__in=chunk, id__lt=first)
            .values("customer_id").annotate(total=Sum("points")).values_list("customer_id", "total")
        )  # fmt: skip
        rows = PointsEntry.objects.filter(customer_id__in=chunk, id__gte=first).order_by("id")
        running = {cid: int(before.get(cid) or 0) for cid in chunk}
        wanted = {e["id"] for e in new}
        for e in rows.values("id", "customer_id", "points", "source", "created_at"):
            running[e["customer_id"]] += e["points"]
            if e["id"] in wanted:
                out.append(_event(f"points:{e['id']}", e["customer_id"], "points_changed", e["created_at"],
                                  {"delta": e["points"], "source": e["source"], "balance": running[e["customer_id"]]}))  # fmt: skip
    return out


def tier_events(since: dt.datetime | None) -> list[dict]:
    """tier_changed per tier change since `since`: from, to (tier ids as text, "" for none) and their names."""
    rows = _since(TierChange.objects, "changed_at", since).select_related("from_tier", "to_tier").order_by("id")
    return [
        _event(f"tier:{c.pk}", c.customer_id, "tier_changed", c.changed_at,
               {"from": str(c.from_tier_id or ""), "to": str(c.to_tier_id or ""), "kind": c.kind,
                "from_name": c.from_tier.name if c.from_tier else "", "to_name": c.to_tier.name if c.to_tier else ""})
        for c in rows
    ]  # fmt: skip


def coupon_events(since: dt.datetime | None) -> list[dict]:
    """coupon_issued and coupon_used per coupon since `since` (template_id, coupon_id)."""
    out = []
    issued = _since(Coupon.objects, "issued_at", since).values("id", "customer_id", "template_id", "issued_at", "source")
    for c in issued:
        out.append(_event(f"coupon_issued:{c['id']}", c["customer_id"], "coupon_issued", c["issued_at"],
                          {"coupon_id": c["id"], "template_id": c["template_id"], "source": c["source"]}))  # fmt: skip
    used = Coupon.objects.filter(used_at__isnull=False)
    for c in _since(used, "used_at", since).values("id", "customer_id", "template_id", "used_at", "channel"):
        out.append(_event(f"coupon_used:{c['id']}", c["customer_id"], "coupon_used", c["used_at"],
                          {"coupon_id": c["id"], "template_id": c["template_id"], "channel": c["channel"]}))  # fmt: skip
    return out


def checkin_events(since: dt.datetime | None) -> list[dict]:
    """checked_in per check-in since `since` (streak; a make-up says so)."""
    rows = _since(Checkin.objects, "created_at", since).values("id", "customer_id", "day", "streak", "made_up", "created_at")
    return [
        _event(f"checkin:{c['id']}", c["customer_id"], "checked_in", c["created_at"],
               {"streak": c["streak"], "day": c["day"].isoformat(), "made_up": c["made_up"]})
        for c in rows
    ]  # fmt: skip


def mall_events(since: dt.datetime | None) -> list[dict]:
    rows = _since(MallRedemption.objects, "created_at", since).values(
        "id", "customer_id", "item_id", "quantity", "points", "created_at")  # fmt: skip
    return [
        _event(f"mall:{r['id']}", r["customer_id"], "mall_redeemed", r["created_at"],
               {"item_id": r["item_id"], "quantity": r["quantity"], "points": r["points"]})
        for r in rows
    ]  # fmt: skip


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
    """Append the events against their customers' anchor records; returns how many were new."""
    anchors = anchor_record_keys(backend(), {e["customer_id"] for e in events})
    rows = [{**{k: v for k, v in e.items() if k != "customer_id"}, "source": SOURCE,
             "record_key": anchors[e["customer_id"]]} for e in events if e["customer_id"] in anchors]  # fmt: skip
    return append_events(rows)


def member_rows(now: dt.datetime) -> list[dict]:
    """One loyalty_members row per customer with points, a tier, a check-in or a coupon."""
    today = timezone.localdate(now)
    ids = set(PointsLot.objects.values_list("customer_id", flat=True).distinct())
    tiers = {m.customer_id: m for m in MemberTier.objects.select_related("tier")}
    last = {r["customer_id"]: r["last"] for r in Checkin.objects.values("customer_id").annotate(last=Max("day"))}
    coupons = {r["customer_id"]: r for r in Coupon.objects.values("customer_id").annotate(
        held=Count("id", filter=Q(status=CouponStatus.ISSUED)), used=Count("id", filter=Q(status=CouponStatus.USED)))}  # fmt: skip
    ids |= set(tiers) | set(last) | set(coupons)
    streaks = {}
    alive = {cid: day for cid, day in last.items() if day >= today - dt.timedelta(days=1)}
    for chunk in chunked(sorted(alive)):
        recent = Checkin.objects.filter(customer_id__in=chunk, day__gte=today - dt.timedelta(days=1))
        for cid, day, streak in recent.values_list("customer_id", "day", "streak"):
            if alive[cid] == day:
                streaks[cid] = streak
    balances = balances_of(sorted(ids), now)
    rows = []
    for cid in sorted(ids):
        balance, member, held = balances[cid], tiers.get(cid), coupons.get(cid, {})
        tier = member.tier if member else None
        rows.append({
            "customer_id": cid, "points_available": balance.available, "points_pending": balance.pending,
            "points_expiring_30d": balance.expiring_30d,
            "tier_code": str(tier.pk) if tier else None, "tier_name": tier.name if tier else None,
            "tier_rank": tier.rank if tier else None, "tier_since": member.since if tier else None,
            "checkin_streak": streaks.get(cid, 0), "last_checkin_on": last.get(cid),
            "coupons_held": held.get("held", 0), "coupons_used": held.get("used", 0), "updated_at": now,
        })  # fmt: skip
    return rows


def coupon_rows() -> list[dict]:
    rows = Coupon.objects.values("id", "customer_id", "template_id", "template__name", "status", "issued_at",
                                 "used_at", "expires_at")  # fmt: skip
    return [{"customer_id": c["customer_id"], "coupon_id": c["id"], "template_id": c["template_id"],
             "template_name": c["template__name"], "status": COUPON_STATUS.get(c["status"], c["status"]),
             "issued_at": c["issued_at"], "used_at": c["used_at"], "expires_at": c["expires_at"]}
            for c in rows.iterator()]  # fmt: skip


def mirror_loyalty(now: dt.datetime | None = None) -> dict:
    """One run of the mirror (see the module's docstring). Returns the events written and the state rows."""
    now = now or timezone.now()
    mark = watermark(STREAM)
    since = mark - MARGIN if mark is not None else None
    events = [*points_events(since), *tier_events(since), *coupon_events(since), *checkin_events(since),
              *mall_events(since), *coming_events(now)]  # fmt: skip
    written = write_events(events)
    state = replace_state(STREAM, {"loyalty_members": arrow_rows("loyalty_members", member_rows(now)),
                                   "loyalty_coupons": arrow_rows("loyalty_coupons", coupon_rows())}, now)  # fmt: skip
    return {"events_seen": len(events), "events_written": written, **state}


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
