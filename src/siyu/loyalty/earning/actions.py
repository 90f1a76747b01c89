"""Every change made by earn rules: the rules themselves (operators), points for purchases (the order earn
job, with its compensation on refunds), and points for activities within the daily limit.

The order earn job (`earn_for_orders`) reads, through Ibis, the warehouse orders whose row changed (an
import wrote it: `orders.updated_at`) or whose customer changed (`customer_map.resolved_at`) since the last
run's watermark:

- a purchase (siyu.warehouse.orders.is_purchase) earns floor(points per yuan × amount × the member's tier
  multiplier) as one ledger entry, key `order:<order key>` (the warehouse's order key names the platform,
  the shop where numbers repeat per shop, and the order number), a pending lot available `refund window`
  days (setting LOYALTY_REFUND_WINDOW_DAYS, 7) after it was paid, expiring as its rule says;
- an order that earned and is no longer a purchase (refunded, closed: a later import changed its status)
  has its entries reversed once (points.actions.reverse_points on its source_ref);
- an order whose amount changed is reversed and earns again (`<ref>#<n>`); so is one bought again after
  a refund;
- replaying the same orders changes nothing: OrderPoints remembers what each order earned and the ledger
  ignores a key it has seen.

Orders are lines of orders as imported: the product rules match an order line's product name or SKU.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.datatypes as idt
import pyarrow as pa
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from siyu import warehouse
from siyu.core.actions import record_audit
from siyu.core.batches import bulk_write_cache, chunked, db_values, insert_rows, select_in
from siyu.core.errors import PermissionDenied
from siyu.loyalty.earning.errors import EarnRuleError
from siyu.loyalty.earning.models import (
    ACTIVITIES,
    LIMITED,
    ActivityAward,
    DailyActivityTotal,
    EarnRule,
    EarnRun,
    Expiry,
    OrderPoints,
    RuleKind,
)
from siyu.loyalty.points import actions as points_actions
from siyu.loyalty.tiers import actions as tier_actions
from siyu.loyalty.tiers import queries as tier_queries
from siyu.loyalty.tiers.models import RULE_ROLES
from siyu.staff.queries import has_role
from siyu.warehouse.orders import is_purchase

log = logging.getLogger(__name__)
_UTC = idt.Timestamp(timezone="UTC")
CHUNK = 5000
# orders per transaction: a day's awards touch every leaf of the ledger's customer indexes, and each commit
# writes the pages it dirtied (SQLite: to the WAL, then again at the checkpoint); ten chunks a commit
# (docs/benchmarks.md, `siyu bench loyalty`)
COMMIT_ORDERS = 50_000
EDITABLE = ("name", "kind", "channel", "product", "points_per_yuan", "points", "expiry", "expiry_days", "active")
SOURCES = {RuleKind.FIRST_PURCHASE: "first_purchase", RuleKind.BIRTHDAY: "birthday", RuleKind.CHECKIN: "checkin",
           RuleKind.SURVEY: "survey"}  # fmt: skip


def refund_window_days() -> int:
    return settings.LOYALTY_REFUND_WINDOW_DAYS


def order_ref(order_key: str) -> str:
    """The ledger's source_ref of an order's points."""
    return f"order:{order_key}"


# --- rules ------------------------------------------------------------------------------------------------

# the words of an earn rule's numbers in its refusals
FIELD_WORDS = {
    "points": gettext_lazy("The rule's points"),
    "expiry_days": gettext_lazy("The days before earned points expire"),
}


def _may_edit(staff) -> None:
    if staff is not None and not has_role(staff, RULE_ROLES):
        raise PermissionDenied(_("Earn rules are set by admins and operators."))


def _clean(values: dict) -> dict:
    out = {k: v for k, v in values.items() if k in EDITABLE and v is not None}
    for field, size in (("name", 100), ("channel", 100), ("product", 200)):
        if field in out:
            out[field] = str(out[field]).strip()[:size]
    if "kind" in out and out["kind"] not in RuleKind.values:
        raise EarnRuleError(_("Unknown kind of earn rule."))
    if "expiry" in out and out["expiry"] not in Expiry.values:
        raise EarnRuleError(_("Unknown expiry of earned points."))
    if "points_per_yuan" in out:
        try:
            out["points_per_yuan"] = Decimal(str(out["points_per_yuan"]))
        except InvalidOperation as exc:
            raise EarnRuleError(_("Points per yuan is not a number.")) from exc
        if not out["points_per_yuan"].is_finite() or not (0 <= out["points_per_yuan"] <= 1000):
            raise EarnRuleError(_("Points per yuan must be between 0 and 1000."))
        out["points_per_yuan"] = out["points_per_yuan"].quantize(Decimal("0.01"))
    for field, high in (("points", 10**7), ("expiry_days", 36600)):
        if field in out and not (0 <= int(out[field]) <= high):
            raise EarnRuleError(_("%(field)s must be between 0 and %(high)s.") % {"field": FIELD_WORDS[field], "high": high})
    return out


def make_rule(staff, **values) -> EarnRule:
    _may_edit(staff)
    values = _clean(values)
    if not values.get("name") or not values.get("kind"):
        raise EarnRuleError(_("An earn rule needs a name and a kind."))
    rule = EarnRule.objects.create(created_by=staff if staff is not None and staff.is_authenticated else None,
                                   **values)  # fmt: skip
    record_audit(staff, "loyalty.earn_rule_made", f"earn_rule:{rule.pk}", name=rule.name, kind=rule.kind)
    return rule


def change_rule(staff, rule: EarnRule, **values) -> EarnRule:
    _may_edit(staff)
    values = _clean(values)
    if values.get("name") == "":
        raise EarnRuleError(_("An earn rule needs a name."))
    for field, value in values.items():
        setattr(rule, field, value)
    rule.save()
    record_audit(staff, "loyalty.earn_rule_changed", f"earn_rule:{rule.pk}", **{k: str(v) for k, v in values.items()})
    return rule


def disable_rule(staff, rule: EarnRule) -> EarnRule:
    return change_rule(staff, rule, active=False)


def expires_at(rule: EarnRule | None, earned_at: dt.datetime) -> dt.datetime | None:
    """When points earned at `earned_at` under `rule` expire (None: never). End of next year is the last
    instant of the following calendar year in the brand's time zone."""
    if rule is None or rule.expiry == Expiry.NEVER:
        return None
    if rule.expiry == Expiry.DAYS:
        return earned_at + dt.timedelta(days=rule.expiry_days)
    zone = ZoneInfo(settings.TIME_ZONE)
    year = earned_at.astimezone(zone).year + 2
    return dt.datetime(year, 1, 1, tzinfo=zone).astimezone(dt.UTC) - dt.timedelta(microseconds=1)


class _Rates:
    """The active per-yuan rules, ready to price orders."""

    def __init__(self):
        rules = list(EarnRule.objects.filter(kind=RuleKind.PER_YUAN, active=True).order_by("pk"))
        self.channel = [r for r in rules if not r.product]
        self.products: dict[str, list[EarnRule]] = {}
        for r in rules:
            if r.product:
                self.products.setdefault(r.product, []).append(r)

    @staticmethod
    def _pick(rules: list[EarnRule], source: str, fmt: str) -> EarnRule | None:
        specific = [r for r in rules if r.channel and r.channel in (source, fmt)]
        return specific[0] if specific else next((r for r in rules if not r.channel), None)

    def order_rule(self, source: str, fmt: str) -> EarnRule | None:
        return self._pick(self.channel, source, fmt)

    def product_rule(self, product: str | None, sku: str | None, source: str, fmt: str) -> EarnRule | None:
        rules = [*self.products.get(sku or "", []), *self.products.get(product or "", [])] if self.products else []
        return self._pick(rules, source, fmt) if rules else None

    def points(self, order: dict, lines: list[dict], multiplier: Decimal) -> tuple[int, EarnRule | None]:
        """(points, the rule whose expiry the points take) for one purchase."""
        amount = max(Decimal(order["amount"] or 0), Decimal(0))
        base = self.order_rule(order["source"], order["format"])
        raw, matched, rule = Decimal(0), Decimal(0), base
        for line in lines:
            found = self.product_rule(line["product"], line["sku"], order["source"], order["format"])
            if found is None or line["amount"] is None:
                continue
            line_amount = min(max(Decimal(line["amount"]), Decimal(0)), amount - matched)
            matched += line_amount
            raw += line_amount * found.points_per_yuan
            rule = rule or found
        if base is not None:
            raw += (amount - matched) * base.points_per_yuan
        return int((raw * multiplier).to_integral_value(rounding=ROUND_FLOOR)), rule


# --- the order earn job -----------------------------------------------------------------------------------


def _changed_orders(since: dt.datetime | None, customer_ids: Iterable[int] | None = None):
    """The orders (with their customer) whose row or customer changed after `since` (all: None)."""
    con = warehouse.backend()
    orders, cmap = con.table("orders"), con.table("customer_map")
    j = orders.join(cmap, orders.record_key == cmap.record_key)
    if since is not None:
        at = ibis.literal(since, type=_UTC)
        j = j.filter((j.updated_at > at) | (j.resolved_at > at))
    if customer_ids is not None:
        j = j.filter(j.customer_id.isin(list(customer_ids)))
    return j.select("order_key", "source", "format", "customer_id", "order_time", "paid_time", "amount",
                    purchase=is_purchase(j))  # fmt: skip


def _watermark() -> dt.datetime | None:
    con = warehouse.backend()
    orders, cmap = con.table("orders"), con.table("customer_map")
    row = ibis.memtable({"x": [1]}).select(
        o=orders.updated_at.max().as_scalar(), m=cmap.resolved_at.max().as_scalar()
    ).to_pyarrow().to_pylist()[0]
    marks = [v for v in (row["o"], row["m"]) if v is not None]
    return max(marks) if marks else None


def _lines_of(order_keys: pa.Array) -> dict[str, list[dict]]:
    con = warehouse.backend()
    items = con.table("order_items")
    wanted = ibis.memtable(pa.table({"order_key": order_keys}))
    rows = items.semi_join(wanted, "order_key").select("order_key", "product", "sku", "amount")
    lines: dict[str, list[dict]] = {}
    for r in rows.to_pyarrow().to_pylist():
        lines.setdefault(r["order_key"], []).append(r)
    return lines


def _first_purchases(customer_ids: list[int]) -> dict[int, str]:
    """{customer_id: the order key of the member's first purchase} (siyu.warehouse.orders.is_purchase)."""
    if not customer_ids:
        return {}
    con = warehouse.backend()
    co = con.table("customer_orders")
    wanted = ibis.memtable(pa.table({"customer_id": pa.array(customer_ids, pa.int64())}))
    bought = co.filter(is_purchase(co)).semi_join(wanted, "customer_id")
    first = bought.group_by("customer_id").aggregate(order_key=bought.order_key.argmin(bought.order_time))
    return {r["customer_id"]: r["order_key"] for r in first.to_pyarrow().to_pylist()}


def earn_for_orders(*, full: bool = False, now: dt.datetime | None = None, progress=None) -> dict:
    """Points for the purchases imported since the last run, and reversals for orders no longer purchases
    (module doc). `full`: read every order again (changes nothing already earned). Then the tiers of the
    members touched are evaluated."""
    with bulk_write_cache():  # one large page cache for the whole run, not one per chunk
        return _earn_for_orders(full, now, progress)


def _earn_for_orders(full: bool, now: dt.datetime | None, progress) -> dict:
    started = time.monotonic()
    now = now or timezone.now()
    last = EarnRun.objects.exclude(finished_at=None).exclude(watermark=None).first()
    since = None if full or last is None else last.watermark
    run = EarnRun.objects.create(started_at=now, since=since)
    watermark = _watermark()
    # in customer order: each transaction then touches one range of the ledger's customer indexes (lots by
    # customer, entries by customer) instead of every leaf of them (docs/benchmarks.md)
    table = _changed_orders(since).to_pyarrow().sort_by([("customer_id", "ascending"), ("order_key", "ascending")])
    rates = _Rates()
    first_rule = EarnRule.objects.filter(kind=RuleKind.FIRST_PURCHASE, active=True).order_by("pk").first()
    window = dt.timedelta(days=refund_window_days())
    touched: set[int] = set()
    for group in range(0, table.num_rows, COMMIT_ORDERS):
        # the warehouse and tier reads once per group (each read costs 20-40 ms whatever its size)
        reads = _group_reads(table.slice(group, COMMIT_ORDERS), rates, first_rule)
        with transaction.atomic():
            for start in range(group, min(group + COMMIT_ORDERS, table.num_rows), CHUNK):
                _earn_chunk(table.slice(start, CHUNK), reads, rates, first_rule, window, now, run, touched)
        if progress is not None:
            progress(min(group + COMMIT_ORDERS, table.num_rows), table.num_rows, "earning points")
    run.orders = table.num_rows
    run.watermark = watermark or since
    run.finished_at = timezone.now()
    run.seconds = round(time.monotonic() - started, 3)
    run.save()
    report = {"orders": run.orders, "awarded": run.awarded, "reversed": run.reversed, "points": run.points,
              "first_purchases": run.first_purchases, "seconds": run.seconds}  # fmt: skip
    if touched:
        report["tiers"] = tier_actions.evaluate_tiers(sorted(touched), now=now)
    return report


_ORDER_POINTS_COLUMNS = ["source_ref", "customer_id", "amount", "points", "generation", "reversed", "updated_at"]


def _group_reads(group: pa.Table, rates: _Rates, first_rule) -> tuple[dict, dict, dict]:
    """(order lines by order key when product rules exist, tier multipliers and first purchases of the
    buyers) of a group of orders."""
    lines = _lines_of(group.column("order_key")) if rates.products else {}
    purchase = group.column("purchase").to_pylist()
    buyers = sorted({cid for cid, p in zip(group.column("customer_id").to_pylist(), purchase, strict=True) if p})
    multipliers = {}
    for part in chunked(buyers, CHUNK):  # sparse ids go as parameters: SQLite caps a statement's variables
        multipliers.update(tier_queries.multipliers_of(part))
    firsts = _first_purchases(buyers) if first_rule is not None and first_rule.points > 0 else {}
    return lines, multipliers, firsts


def _earn_chunk(chunk: pa.Table, reads: tuple[dict, dict, dict], rates: _Rates, first_rule, window, now,
                run: EarnRun, touched: set) -> None:  # fmt: skip
    orders = chunk.to_pylist()
    amount_db, at_db = db_values(OrderPoints, "amount"), db_values(OrderPoints, "updated_at")
    refs = [order_ref(o["order_key"]) for o in orders]
    lines, multipliers, firsts = reads
    with transaction.atomic():
        # what each order earned before, as plain tuples (a replay of a day's orders reads them all);
        # model instances only for the orders that change
        held_rows = select_in(OrderPoints, ["source_ref", "reversed", "amount", "id"], "source_ref", refs,
                              for_update=True)  # fmt: skip
        # amount as the driver gives it (SQLite: a float or an int): Decimal of its shortest repr
        known = {r[0]: (r[0], bool(r[1]), Decimal(str(r[2])), r[3]) for r in held_rows}
        to_change = [order for order, ref in zip(orders, refs, strict=True) if ref in known and (
            (not order["purchase"] and not known[ref][1])
            or (order["purchase"] and (known[ref][1] or known[ref][2] != Decimal(order["amount"] or 0))))]  # fmt: skip
        loaded = {p.source_ref: p for p in OrderPoints.objects.filter(
            source_ref__in=[order_ref(o["order_key"]) for o in to_change])} if to_change else {}  # fmt: skip
        awards, fresh, changed = [], [], []
        for order, ref in zip(orders, refs, strict=True):
            if ref in known and ref not in loaded:
                continue  # a replay: it earned (or stands reversed) as it is
            held = loaded.get(ref)
            amount = Decimal(order["amount"] or 0)
            if not order["purchase"]:
                if held is not None and not held.reversed:
                    _reverse(held, now)
                    changed.append(held)
                    run.reversed += 1
                    touched.add(held.customer_id)
                continue
            cid = order["customer_id"]
            points, rule = rates.points(order, lines.get(order["order_key"], []), multipliers.get(cid, Decimal(1)))
            earned_at = order["paid_time"] or order["order_time"] or now
            key = ref
            if held is None:
                fresh.append((ref, cid, amount_db(amount), points, 1, False, at_db(now)))
            else:
                if not held.reversed:  # the amount changed: what it earned is reversed, it earns anew
                    _reverse(held, now)
                    run.reversed += 1
                held.generation += 1
                held.reversed, held.amount, held.points, held.customer_id, held.updated_at = False, amount, points, cid, now
                key = f"{ref}#{held.generation}"
                changed.append(held)
            touched.add(cid)
            common = {"source": "order", "source_ref": ref, "available_at": earned_at + window}
            if points > 0:
                awards.append({"customer_id": cid, "points": points, "key": key, "reason": "purchase",
                               "expires_at": expires_at(rule, earned_at), **common})  # fmt: skip
            if firsts.get(cid) == order["order_key"]:
                awards.append({"customer_id": cid, "points": first_rule.points, "key": f"first_purchase:{cid}",
                               "reason": "first purchase", "expires_at": expires_at(first_rule, earned_at),
                               **common, "source": "first_purchase"})  # fmt: skip
        if awards:
            new = points_actions.award_points_bulk(awards)
            run.awarded += new
            run.points += sum(a["points"] for a in awards)
            run.first_purchases += sum(1 for a in awards if a["source"] == "first_purchase")
        insert_rows(OrderPoints, _ORDER_POINTS_COLUMNS, fresh)
        if changed:
            OrderPoints.objects.bulk_update(changed, ["generation", "reversed", "amount", "points", "customer_id",
                                                      "updated_at"], batch_size=1000)  # fmt: skip


def _reverse(held: OrderPoints, now: dt.datetime) -> None:
    points_actions.reverse_points(source_ref=held.source_ref, key=f"reverse:{held.source_ref}#{held.generation}",
                                  reason="order refunded or no longer a purchase")  # fmt: skip
    held.reversed, held.updated_at = True, now


def run_earn_job(job, progress) -> dict:
    """Job runner for kind "loyalty_earn" (params: full)."""
    return earn_for_orders(full=bool((job.params or {}).get("full")), progress=progress)


# --- activities -------------------------------------------------------------------------------------------


def _activity_rule(activity: str) -> EarnRule | None:
    return EarnRule.objects.filter(kind=activity, active=True, points__gt=0).order_by("-points", "pk").first()


def daily_limit() -> int | None:
    """Points a member may get a day from check-ins and surveys together (None: no limit)."""
    cap = EarnRule.objects.filter(kind=RuleKind.DAILY_LIMIT, active=True).order_by("points").first()
    return cap.points if cap is not None else None


def _reserve(customer_id: int, day: dt.date, wanted: int, cap: int) -> int:
    """Raise the member's total for the day by up to `wanted` within `cap`; returns what was granted.
    Compare-and-set on the total, so concurrent awards never pass the cap together."""
    DailyActivityTotal.objects.get_or_create(customer_id=customer_id, day=day)
    for _attempt in range(20):
        used = DailyActivityTotal.objects.filter(customer_id=customer_id, day=day).values_list("points", flat=True)[0]
        grant = min(wanted, cap - used)
        if grant <= 0:
            return 0
        if DailyActivityTotal.objects.filter(customer_id=customer_id, day=day, points=used).update(
            points=F("points") + grant
        ):
            return grant
    return 0


def award_for_activity(customer_id: int, activity: str, *, key: str, source_ref: str = "", now: dt.datetime | None = None):
    """Points for an activity ("survey", "first_purchase", "birthday", "checkin") as the earn rules say,
    check-ins and surveys within the member's daily limit (a partial award when only part fits). Returns the
    ledger entry, or None when no rule applies or the limit is reached. Idempotent on `key`."""
    if activity not in ACTIVITIES:
        raise EarnRuleError(_("Unknown activity for earning points."))
    now = now or timezone.now()
    done = ActivityAward.objects.filter(key=key).first()
    rule = _activity_rule(activity)
    if done is None and rule is None:
        return None
    try:
        with transaction.atomic():
            if done is None:
                points = rule.points
                day = timezone.localdate(now)
                cap = daily_limit() if activity in LIMITED else None
                if cap is not None:
                    points = _reserve(customer_id, day, points, cap)
                    if points <= 0:
                        return None
                done = ActivityAward.objects.create(key=key, customer_id=customer_id, activity=activity, day=day,
                                                    points=points)  # fmt: skip
            return points_actions.award_points(done.customer_id, done.points, key=key, reason=activity,
                                               source=SOURCES[done.activity], source_ref=source_ref,
                                               expires_at=expires_at(rule, now))  # fmt: skip
    except IntegrityError:  # the same key at the same moment: the other award stands
        done = ActivityAward.objects.get(key=key)
        return points_actions.award_points(done.customer_id, done.points, key=key, reason=activity,
                                           source=SOURCES[done.activity], source_ref=source_ref)  # fmt: skip


def _birthdays_on(day: dt.date) -> list[int]:
    """Customers whose birthday (the profile the warehouse holds, customer_summary) falls on `day`; those
    born on 29 February celebrate on the 28th in other years."""
    con = warehouse.backend()
    cs = con.table("customer_summary")
    born = cs.filter(cs.birthday.notnull())
    match = (born.birthday.month() == day.month) & (born.birthday.day() == day.day)
    if day.month == 2 and day.day == 28 and not _leap(day.year):
        match = match | ((born.birthday.month() == 2) & (born.birthday.day() == 29))
    return [r["customer_id"] for r in born.filter(match).select("customer_id").to_pyarrow().to_pylist()]


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def award_birthdays(day: dt.date | None = None) -> dict:
    """The birthday bonus (earn rule) and the tier's birthday gift, once a year per member."""
    day = day or timezone.localdate()
    ids = _birthdays_on(day)
    given = gifts = 0
    for cid in ids:
        if award_for_activity(cid, RuleKind.BIRTHDAY, key=f"birthday:{cid}:{day.year}") is not None:
            given += 1
    for cid, points in tier_queries.birthday_points_of(ids).items():
        points_actions.award_points(cid, points, key=f"tier_birthday:{cid}:{day.year}", reason="tier birthday gift",
                                    source="birthday")  # fmt: skip
        gifts += 1
    return {"birthdays": len(ids), "bonuses": given, "tier_gifts": gifts}


def run_birthday_job(job, progress) -> dict:
    """Job runner for kind "loyalty_birthdays"."""
    return award_birthdays()


def last_run() -> EarnRun | None:
    return EarnRun.objects.exclude(finished_at=None).first()

