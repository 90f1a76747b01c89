"""Every change of the points ledger (models.py explains lots, entries and the double entry).

Rules this module keeps:
- Append-only: an entry is never edited or deleted; a lot's `remaining` changes only in the transaction
  that writes the entries moving it, by a conditional UPDATE (`remaining >= taken`), so two concurrent
  spends can never take the same points (PostgreSQL: the lots are also locked with SELECT … FOR UPDATE;
  SQLite: transactions are IMMEDIATE, one writer at a time).
- Idempotent: every entry has a unique key built from the caller's key; replaying a call with the same key
  returns what the first call wrote and writes nothing.
- Spends take the soonest-expiring available lots first (lots that never expire last, then oldest first).
- Refunds (reverse_points) take an award back from its own lot (or from where a merge moved it). Points of
  it that were already spent are taken from the member's other lots (soonest-expiring first, pending ones
  after available ones). What still cannot be taken back is, by default, recorded on the compensating entry
  as its `shortfall` (the balance never goes negative). With the setting
  `LOYALTY_POINTS_REFUND_MAY_GO_NEGATIVE = True` the shortfall is charged to the refunded lot instead, which
  then holds a negative remaining (a debt the member's later points cover before they can be spent).
- Merges (follow_merges): the absorbed customer's open lots move to the survivor with transfer entries
  (`merged_from`); a split that gives the absorbed id back moves what is left of them back.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import CharField, F, IntegerField, Sum, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from siyu import warehouse
from siyu.core.actions import record_audit
from siyu.core.batches import bulk_write_cache, cyclic_gc_paused, db_values, insert_rows
from siyu.core.errors import PermissionDenied
from siyu.loyalty.points.errors import InsufficientPoints, InvalidPoints
from siyu.loyalty.points.models import Account, PointsEntry, PointsLot, Source
from siyu.outbox.actions import record_outbound_event, record_outbound_events
from siyu.staff.models import Role
from siyu.staff.queries import has_role

ADJUST_ROLES = (Role.ADMIN, Role.OPERATOR)
SPEND_RETRIES = 3
EXPIRY_CHUNK = 2_000_000  # lot ids per expiry transaction
# Source.values builds its list anew from the enum on every call: half the time of a million bulk awards
_SOURCES = frozenset(Source.values)


def _check(points: int, source: str) -> None:
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise InvalidPoints(f"points must be a whole number above zero, not {points!r}")
    if source not in _SOURCES:
        raise InvalidPoints(f"unknown points source {source!r}")


def refund_may_go_negative() -> bool:
    return settings.LOYALTY_POINTS_REFUND_MAY_GO_NEGATIVE


# --- earning ------------------------------------------------------------------------------------------------


def award_points(
    customer_id: int,
    points: int,
    *,
    key: str,
    reason: str,
    source: str,
    source_ref: str = "",
    staff=None,
    expires_at: dt.datetime | None = None,
    available_at: dt.datetime | None = None,
    _account: str = Account.ISSUED,
) -> PointsEntry:
    """Open a lot of `points` for the customer (pending until `available_at` when that is in the future,
    expiring at `expires_at`, never when None). Idempotent on `key`: a replay returns the first entry."""
    _check(points, source)
    found = PointsEntry.objects.filter(key=key).first()
    if found is not None:
        return found
    now = timezone.now()
    try:
        with transaction.atomic():
            lot = PointsLot.objects.create(
                key=key, customer_id=customer_id, points=points, remaining=points, source=source,
                source_ref=source_ref, created_at=now, available_at=available_at or now, expires_at=expires_at,
            )  # fmt: skip
            record_outbound_event("points.changed", customer_id, {"delta": points, "source": source, "entry_key": key},
                                  key=f"points.changed:{key}")  # fmt: skip
            return PointsEntry.objects.create(
                key=key, customer_id=customer_id, lot=lot, points=points, account=_account, source=source,
                source_ref=source_ref, reason=reason[:200], staff=staff, created_at=now,
            )  # fmt: skip
    except IntegrityError:  # the same key, written meanwhile by a concurrent call
        return PointsEntry.objects.get(key=key)


_LOT_COLUMNS = ["key", "customer_id", "points", "remaining", "source", "source_ref", "created_at", "available_at",
                "expires_at"]  # fmt: skip
_ENTRY_COLUMNS = ["key", "customer_id", "lot", "points", "account", "source", "source_ref", "reason", "staff",
                  "created_at", "shortfall"]  # fmt: skip


def award_points_bulk(rows: list[dict]) -> int:
    """Many awards at once (the fast path for a day's orders): each row has award_points' fields
    (customer_id, points, key, reason, source, source_ref, staff, expires_at, available_at). Plain multi-row
    INSERTs of the lots (ON CONFLICT DO NOTHING on the unique key, so replays are skipped) and of the
    entries of the lots really inserted, in one transaction. Returns how many entries were new."""
    with cyclic_gc_paused(), bulk_write_cache():
        return _award_bulk(rows)


def _award_bulk(rows: list[dict]) -> int:
    now = timezone.now()
    at = db_values(PointsLot, "created_at")
    when = db_values(PointsLot, "available_at")
    until = db_values(PointsLot, "expires_at")
    stamp = at(now)
    lots, by_key = [], {}
    for row in rows:
        _check(row["points"], row["source"])
        key = row["key"]
        if key in by_key:
            continue
        by_key[key] = row
        available, expires = row.get("available_at"), row.get("expires_at")
        lots.append((
            key, row["customer_id"], row["points"], row["points"], row["source"], row.get("source_ref", ""),
            stamp, when(available) if available is not None else stamp,
            until(expires) if expires is not None else None,
        ))  # fmt: skip
    if not lots:
        return 0
    with transaction.atomic():
        new = insert_rows(PointsLot, _LOT_COLUMNS, lots, ignore_conflicts=True, returning=("id", "key"))
        entries = []
        for lot_id, key in new:
            row = by_key[key]
            staff = row.get("staff")
            entries.append((
                key, row["customer_id"], lot_id, row["points"], Account.ISSUED, row["source"],
                row.get("source_ref", ""), (row.get("reason") or "")[:200], getattr(staff, "pk", staff), stamp, 0,
            ))  # fmt: skip
        # in customer order: the history index (customer, id) is the one a day's awards touch all over
        entries.sort(key=lambda e: e[1])
        insert_rows(PointsEntry, _ENTRY_COLUMNS, entries)
        record_outbound_events(("points.changed", e[1], {"delta": e[3], "source": e[5], "entry_key": e[0]},
                                f"points.changed:{e[0]}") for e in entries)  # fmt: skip
    return len(new)


# --- spending -----------------------------------------------------------------------------------------------


def _entry_keys(key: str, n: int) -> list[str]:
    """The keys of the entries of one multi-lot operation: the caller's key, then key#2, key#3…"""
    return [key] + [f"{key}#{i}" for i in range(2, n + 1)]


def _replayed(key: str) -> list[PointsEntry] | None:
    first = PointsEntry.objects.filter(key=key).first()
    if first is None:
        return None
    entries, i = [first], 2
    while (more := PointsEntry.objects.filter(key=f"{key}#{i}").first()) is not None:
        entries.append(more)
        i += 1
    return entries


def _spend_order():
    return (F("expires_at").asc(nulls_last=True), "id")


def _take(lots: list[tuple[int, int]], points: int) -> list[tuple[int, int]]:
    """(lot id, points taken) from lots (id, remaining) in order until `points` are covered."""
    taken, left = [], points
    for lot_id, remaining in lots:
        if left <= 0:
            break
        if remaining <= 0:
            continue
        part = min(remaining, left)
        taken.append((lot_id, part))
        left -= part
    return taken


def _debit_lots(taken: list[tuple[int, int]]) -> bool:
    """Take the points from the lots; False (nothing may be kept: the caller rolls back) when a lot no
    longer holds them."""
    for lot_id, part in taken:
        if not PointsLot.objects.filter(pk=lot_id, remaining__gte=part).update(remaining=F("remaining") - part):
            return False
    return True


class _LotChanged(Exception):
    pass


def _debit(customer_id, points, *, key, account, source, source_ref, reason, staff) -> list[PointsEntry]:
    _check(points, source)
    replay = _replayed(key)
    if replay is not None:
        return replay
    for _attempt in range(SPEND_RETRIES):
        try:
            with transaction.atomic():
                now = timezone.now()
                lots = list(
                    PointsLot.objects.select_for_update()
                    .filter(customer_id=customer_id, available_at__lte=now)
                    .exclude(remaining=0)
                    .order_by(*_spend_order())
                    .values_list("id", "remaining")
                )
                available = sum(r for _, r in lots)
                if available < points:
                    raise InsufficientPoints(customer_id, points, max(available, 0))
                taken = _take(lots, points)
                if not _debit_lots(taken):
                    raise _LotChanged
                record_outbound_event("points.changed", customer_id, {"delta": -points, "source": source,
                                      "entry_key": key}, key=f"points.changed:{key}")  # fmt: skip
                return PointsEntry.objects.bulk_create([
                    PointsEntry(key=k, customer_id=customer_id, lot_id=lot_id, points=-part, account=account,
                                source=source, source_ref=source_ref, reason=reason[:200], staff=staff,
                                created_at=now)
                    for k, (lot_id, part) in zip(_entry_keys(key, len(taken)), taken, strict=True)
                ])  # fmt: skip
        except _LotChanged:
            continue
        except IntegrityError:  # the same key, written meanwhile by a concurrent call
            replay = _replayed(key)
            if replay is not None:
                return replay
            raise
    raise InsufficientPoints(customer_id, points, 0)


def spend_points(
    customer_id: int, points: int, *, key: str, reason: str, source: str, source_ref: str = "", staff=None
) -> list[PointsEntry]:
    """Spend `points` of the customer's available points (pending lots are not spendable), soonest-expiring
    lots first: one entry per lot touched. Raises InsufficientPoints. Idempotent on `key`."""
    return _debit(customer_id, points, key=key, account=Account.REDEEMED, source=source, source_ref=source_ref,
                  reason=reason, staff=staff)  # fmt: skip


def adjust_points(staff, customer_id: int, delta: int, *, reason: str, key: str) -> list[PointsEntry]:
    """A manual adjustment by an operator or admin, audited: `delta` > 0 opens a lot (never expiring),
    `delta` < 0 takes points as a spend does (never below zero: InsufficientPoints)."""
    if not has_role(staff, ADJUST_ROLES):
        raise PermissionDenied("only operators and admins adjust points")
    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
        raise InvalidPoints(f"an adjustment is a whole number of points other than zero, not {delta!r}")
    if not reason.strip():
        raise InvalidPoints("an adjustment needs a reason")
    replay = _replayed(key)
    if replay is not None:
        return replay
    with transaction.atomic():
        if delta > 0:
            entries = [award_points(customer_id, delta, key=key, reason=reason, source=Source.MANUAL, staff=staff,
                                    _account=Account.ADJUSTED)]  # fmt: skip
        else:
            entries = _debit(customer_id, -delta, key=key, account=Account.ADJUSTED, source=Source.MANUAL,
                             source_ref="", reason=reason, staff=staff)  # fmt: skip
        record_audit(staff, "points.adjust", f"customer:{customer_id}", delta=delta, reason=reason, key=key)
    return entries


# --- refunds ------------------------------------------------------------------------------------------------

_REVERSIBLE = (Account.ISSUED, Account.REDEEMED, Account.ADJUSTED)


def _current_lots(lot_id: int) -> list[int]:
    """The lot and, along merges, the lots its points were moved to (where they are now)."""
    out, todo = [], [lot_id]
    while todo:
        current = todo.pop(0)
        out.append(current)
        todo += list(PointsLot.objects.filter(origin_id=current).order_by("id").values_list("id", flat=True))
    return out


def _reverse_award(entry: PointsEntry, key: str, reason: str, now) -> list[PointsEntry]:
    """Compensating entries of an award: from its own lot (and the lots merges moved it to), then the other
    lots of the customer holding it now; what is left is a shortfall (or a debt on the lot holding the award
    now, when the setting allows)."""
    chain = _current_lots(entry.lot_id)
    lots = {
        lot_id: (cid, remaining)
        for lot_id, cid, remaining in PointsLot.objects.filter(pk__in=chain).values_list("id", "customer_id", "remaining")
    }
    last = chain[-1]
    left, written = entry.points, {}
    for lot_id in chain:
        cid, remaining = lots[lot_id]
        part = max(0, min(remaining, left))
        if part and not _debit_lots([(lot_id, part)]):
            raise _LotChanged
        left -= part
        if part or lot_id in (entry.lot_id, last):
            written[lot_id] = (cid, part)
    holder = lots[last][0]
    if left > 0:  # already spent: from the holder's other lots, available ones before pending ones
        others = list(
            PointsLot.objects.filter(customer_id=holder, remaining__gt=0)
            .exclude(pk__in=chain)
            .order_by(*_spend_order())
            .values_list("id", "remaining", "available_at")
        )
        ready = [(i, r) for i, r, a in others if a <= now] + [(i, r) for i, r, a in others if a > now]
        for lot_id, part in _take(ready, left):
            if not _debit_lots([(lot_id, part)]):
                raise _LotChanged
            left -= part
            written[lot_id] = (holder, part)
    shortfall = 0
    if left > 0:
        if refund_may_go_negative():
            PointsLot.objects.filter(pk=last).update(remaining=F("remaining") - left)
            written[last] = (holder, written[last][1] + left)
        else:
            shortfall = left
    entries = [
        PointsEntry(key=f"{key}:{entry.pk}" + (f":{n}" if n else ""), customer_id=cid, lot_id=lot_id, points=-part,
                    account=Account.REVERSED, source=entry.source, source_ref=entry.source_ref, reason=reason[:200],
                    created_at=now, reverses=entry, shortfall=shortfall if n == 0 else 0)
        for n, (lot_id, (cid, part)) in enumerate(written.items())
    ]  # fmt: skip
    record_outbound_events(("points.changed", e.customer_id, {"delta": e.points, "source": e.source,
                            "entry_key": e.key}, f"points.changed:{e.key}") for e in entries)  # fmt: skip
    return PointsEntry.objects.bulk_create(entries)


def _reverse_spend(entry: PointsEntry, key: str, reason: str, now) -> list[PointsEntry]:
    """A cancelled spend gives the points back to the lot they came from (an expired lot expires them again
    at the next expiry run)."""
    PointsLot.objects.filter(pk=entry.lot_id).update(remaining=F("remaining") - entry.points)
    record_outbound_event("points.changed", entry.customer_id, {"delta": -entry.points, "source": entry.source,
                          "entry_key": f"{key}:{entry.pk}"}, key=f"points.changed:{key}:{entry.pk}")  # fmt: skip
    return PointsEntry.objects.bulk_create([
        PointsEntry(key=f"{key}:{entry.pk}", customer_id=entry.customer_id, lot_id=entry.lot_id,
                    points=-entry.points, account=Account.REVERSED, source=entry.source,
                    source_ref=entry.source_ref, reason=reason[:200], created_at=now, reverses=entry)
    ])  # fmt: skip


def reverse_points(*, source_ref: str, key: str, reason: str) -> int:
    """Compensating entries for every entry with `source_ref` not yet reversed: an award is taken back (a
    refunded order, see the module's docstring for points already spent), a spend is given back (a cancelled
    mall redemption). Reversing again (with any key) changes nothing. Returns how many entries were
    reversed."""
    if not source_ref:
        raise InvalidPoints("a reversal names the source_ref whose entries it reverses")
    for _attempt in range(SPEND_RETRIES):
        try:
            with transaction.atomic():
                now = timezone.now()
                targets = list(
                    # the exclude lets SQLite use the partial index points_entry_ref (30 ms a reversal without it
                    # at 120k entries, a scan of the ledger)
                    PointsEntry.objects.filter(source_ref=source_ref, account__in=_REVERSIBLE, reverses__isnull=True)
                    .exclude(source_ref="")
                    .exclude(reversals__isnull=False)
                    .order_by("id")
                )
                # lock the customers' lots first, in id order, so that concurrent spends wait for us
                customers = sorted({e.customer_id for e in targets})
                list(PointsLot.objects.select_for_update().filter(customer_id__in=customers).order_by("id")
                     .values_list("id"))  # fmt: skip
                for entry in targets:
                    if entry.points > 0:
                        _reverse_award(entry, key, reason, now)
                    else:
                        _reverse_spend(entry, key, reason, now)
                return len(targets)
        except _LotChanged:
            continue
    raise InvalidPoints("the lots kept changing while the reversal ran; try again")


# --- expiry -------------------------------------------------------------------------------------------------


def _insert_from(model, columns: list[str], queryset) -> int:
    """INSERT INTO model (columns) SELECT … of `queryset` (its values in the order of `columns`), built by
    the ORM: one statement on the database, no rows through Python."""
    quote = connection.ops.quote_name
    names = ", ".join(quote(model._meta.get_field(c).column) for c in columns)
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {quote(model._meta.db_table)} ({names}) {sql}", params)
        return cursor.rowcount


def expire_due_points(now: dt.datetime | None = None, progress=None) -> dict:
    """Expire what is left of every lot whose `expires_at` has passed: one expiry entry per lot (key
    `expiry:<lot>:<run>`), the lots emptied in the same transaction. Set-wise (INSERT … SELECT and one
    UPDATE per range of lot ids), never a lot at a time."""
    with cyclic_gc_paused(), bulk_write_cache():
        return _expire(now or timezone.now(), progress)


def _expire(now: dt.datetime, progress) -> dict:
    stamp = now.strftime("%Y%m%dT%H%M%S%f")
    bounds = PointsLot.objects.order_by("-id").values_list("id", flat=True).first() or 0
    expired = points = 0
    for low in range(0, bounds + 1, EXPIRY_CHUNK):
        with transaction.atomic():
            due = PointsLot.objects.filter(id__gte=low, id__lt=low + EXPIRY_CHUNK, expires_at__lte=now,
                                           remaining__gt=0)  # fmt: skip
            if connection.vendor != "sqlite":  # PostgreSQL: hold them while the entries are written
                list(due.select_for_update().values_list("id"))
            select = due.annotate(
                k=Concat(Value("expiry:"), Cast("id", CharField()), Value(f":{stamp}"), output_field=CharField()),
                p=F("remaining") * Value(-1, output_field=IntegerField()),
                acc=Value(Account.EXPIRED, output_field=CharField()),
                src=Value(Source.EXPIRY, output_field=CharField()),
                ref=Value("", output_field=CharField()),
                why=Value("expired", output_field=CharField()),
                at=Value(now, output_field=PointsEntry._meta.get_field("created_at")),
                short=Value(0, output_field=IntegerField()),
            ).values_list("k", "customer_id", "id", "p", "acc", "src", "ref", "why", "at", "short")
            # in customer order: the history index (customer, id) takes them along, not all over
            select = select.order_by("customer_id", "id")
            n = _insert_from(
                PointsEntry,
                ["key", "customer_id", "lot", "points", "account", "source", "source_ref", "reason", "created_at",
                 "shortfall"],
                select,
            )  # fmt: skip
            if n:
                points += due.aggregate(s=Sum("remaining"))["s"] or 0
                due.update(remaining=0)
                made = PointsEntry.objects.filter(lot_id__gte=low, lot_id__lt=low + EXPIRY_CHUNK, key__endswith=f":{stamp}",
                                                  account=Account.EXPIRED).values_list("key", "customer_id", "points")  # fmt: skip
                record_outbound_events(("points.changed", c, {"delta": p, "source": Source.EXPIRY, "entry_key": k},
                                        f"points.changed:{k}") for k, c, p in made.iterator())  # fmt: skip
            expired += n
        if progress is not None:
            progress(min(low + EXPIRY_CHUNK, bounds), bounds, "expiring points")
    return {"lots_expired": expired, "points_expired": points}


def run_expiry_job(job, progress) -> dict:
    """Job runner for kind "points_expiry"."""
    return expire_due_points(progress=progress)


# --- identity merges and splits -----------------------------------------------------------------------------


def _move_lot(lot: PointsLot, to_customer: int, *, run_id: str, direction: str, merged_from: int,
              into: PointsLot | None, now) -> None:  # fmt: skip
    """Move what is left of `lot` to `to_customer`: a transfer entry out of it and one into `into` (an
    existing lot: an undone merge gives them back) or a new lot (a merge)."""
    amount = lot.remaining
    base = f"{direction}:{run_id}:{lot.pk}"
    PointsLot.objects.filter(pk=lot.pk).update(remaining=F("remaining") - amount)
    if into is None:
        into = PointsLot.objects.create(
            key=f"{base}:in", customer_id=to_customer, points=amount, remaining=amount, source=lot.source,
            source_ref=lot.source_ref, created_at=now, available_at=lot.available_at, expires_at=lot.expires_at,
            merged_from=merged_from, origin=lot,
        )  # fmt: skip
    else:
        PointsLot.objects.filter(pk=into.pk).update(remaining=F("remaining") + amount)
    common = {"account": Account.TRANSFERRED, "source": Source.MERGE, "merged_from": merged_from,
              "created_at": now, "reason": direction}  # fmt: skip
    PointsEntry.objects.bulk_create([
        PointsEntry(key=f"{base}:out", customer_id=lot.customer_id, lot_id=lot.pk, points=-amount, **common),
        PointsEntry(key=f"{base}:in", customer_id=to_customer, lot_id=into.pk, points=amount, **common),
    ])  # fmt: skip


def _merge_ledger(run_id: str, survivor: int, absorbed: int, now) -> int:
    lots = list(PointsLot.objects.select_for_update().filter(customer_id=absorbed).exclude(remaining=0).order_by("id"))
    moved = 0
    for lot in lots:
        if PointsEntry.objects.filter(key=f"merge:{run_id}:{lot.pk}:out").exists():
            continue
        _move_lot(lot, survivor, run_id=run_id, direction="merge", merged_from=absorbed, into=None, now=now)
        moved += 1
    return moved


def _unmerge_ledger(run_id: str, survivor: int, absorbed: int, now) -> int:
    lots = list(
        PointsLot.objects.select_for_update()
        .filter(customer_id=survivor, merged_from=absorbed, origin__isnull=False)
        .exclude(remaining=0)
        .select_related("origin")
        .order_by("id")
    )
    moved = 0
    for lot in lots:
        if lot.origin.customer_id != absorbed or PointsEntry.objects.filter(key=f"unmerge:{run_id}:{lot.pk}:out").exists():
            continue
        _move_lot(lot, absorbed, run_id=run_id, direction="unmerge", merged_from=absorbed, into=lot.origin, now=now)
        moved += 1
    return moved


def follow_merges(run_id: str) -> dict:
    """Carry points along the merges and splits of an identity run (merge_log rows of `run_id`), by these
    rules: on a merge of `absorbed` into `survivor`, every open lot of the absorbed customer moves to the
    survivor (a transfer entry out of it and a new lot `merged_from = absorbed` with the same availability
    and expiry, `origin` = the lot it came from); on a split that gives the absorbed id back (an undone
    merge) what is left of those lots moves back into their origin lots. Points the survivor spent meanwhile
    stay spent (they were the member's). Following the same run again changes nothing."""
    log = warehouse.backend().table("merge_log")
    rows = log.filter(log.run_id == run_id).select("survivor_id", "absorbed_id", "rule").to_pyarrow().to_pylist()
    moved = returned = 0
    now = timezone.now()
    with transaction.atomic():
        for row in rows:
            if row["rule"] == "split":
                returned += _unmerge_ledger(run_id, row["survivor_id"], row["absorbed_id"], now)
            else:
                moved += _merge_ledger(run_id, row["survivor_id"], row["absorbed_id"], now)
    return {"points_lots_moved": moved, "points_lots_returned": returned}


# --- erasure of a person (PIPL art. 47; siyu.privacy.erasure runs it) ----------------------------------------


def _reasons_written(person):
    return PointsEntry.objects.filter(customer_id=person.customer_id, source=Source.MANUAL).exclude(reason="")


def erase_person_reasons(person, request) -> dict:
    """The ledger's part of erasing a person: the reasons staff typed on their manual adjustments (free text
    about the person) go; every entry and lot stays, so balances and the ledger's totals do not change."""
    return {"reasons": _reasons_written(person).update(reason="")}


def person_reasons_left(person) -> int:
    """What erase_person_reasons removes that is still there (the erasure scan)."""
    return _reasons_written(person).count()
