"""The read side of the points ledger: balances (derived from the lots' remaining, which the entries
write), earnings in a period, a member's history, the liability."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.paginator import Paginator
from django.db.models import Case, IntegerField, Q, Sum, When
from django.utils import timezone

from siyu.core.batches import chunked
from siyu.loyalty.points import labels
from siyu.loyalty.points.models import Account, PointsEntry, PointsLot

HISTORY_PAGE = 20


@dataclass(frozen=True)
class Balance:
    available: int = 0  # spendable now (negative only where a refund rule allowed a debt)
    pending: int = 0  # earned, spendable once their lots become available
    expiring_30d: int = 0  # of the available and pending, what expires within 30 days
    expiring_90d: int = 0


def _sums(now: dt.datetime):
    def within(days):
        return Sum(
            Case(
                When(Q(expires_at__lte=now + dt.timedelta(days=days), remaining__gt=0), then="remaining"),
                default=0,
                output_field=IntegerField(),
            )
        )

    return {
        "available": Sum(Case(When(available_at__lte=now, then="remaining"), default=0, output_field=IntegerField())),
        "pending": Sum(Case(When(available_at__gt=now, then="remaining"), default=0, output_field=IntegerField())),
        "expiring_30d": within(30),
        "expiring_90d": within(90),
    }


def _balance(row: dict) -> Balance:
    return Balance(*(int(row.get(k) or 0) for k in ("available", "pending", "expiring_30d", "expiring_90d")))


def balance_of(customer_id: int, now: dt.datetime | None = None) -> Balance:
    now = now or timezone.now()
    open_lots = PointsLot.objects.filter(customer_id=customer_id).exclude(remaining=0)
    return _balance(open_lots.aggregate(**_sums(now)))


def balances_of(customer_ids, now: dt.datetime | None = None) -> dict[int, Balance]:
    """Every asked customer's balance (zero for a customer without points)."""
    now = now or timezone.now()
    ids = list(dict.fromkeys(customer_ids))
    out = {cid: Balance() for cid in ids}
    for chunk in chunked(ids):
        rows = (
            PointsLot.objects.filter(customer_id__in=chunk)
            .exclude(remaining=0)
            .values("customer_id")
            .annotate(**_sums(now))
        )
        for row in rows:
            out[row["customer_id"]] = _balance(row)
    return out


def every_balance(now: dt.datetime | None = None):
    """Every customer with a lot: {customer_id, available, pending, expiring_30d, expiring_90d} (one grouped
    query; a customer whose lots are all empty has zeros)."""
    now = now or timezone.now()
    return PointsLot.objects.order_by().values("customer_id").annotate(**_sums(now))


def points_earned_between(customer_ids, start: dt.datetime, end: dt.datetime) -> dict[int, int]:
    """Points awarded (account issued, less what refunds took back of them) in [start, end), per customer."""
    ids = list(dict.fromkeys(customer_ids))
    out = dict.fromkeys(ids, 0)
    for chunk in chunked(ids):
        rows = (
            PointsEntry.objects.filter(customer_id__in=chunk, created_at__gte=start, created_at__lt=end)
            .filter(Q(account=Account.ISSUED) | Q(account=Account.REVERSED, reverses__account=Account.ISSUED))
            .values("customer_id")
            .annotate(n=Sum("points"))
        )
        for row in rows:
            out[row["customer_id"]] = int(row["n"] or 0)
    return out


@dataclass(frozen=True)
class HistoryLine:
    created_at: dt.datetime
    points: int
    source: str
    source_label: str
    account_label: str
    reason: str
    source_ref: str
    staff: str
    expires_at: dt.datetime | None
    available_at: dt.datetime | None
    shortfall: int


def history_of(customer_id: int, page: int = 1, per_page: int = HISTORY_PAGE):
    """A page (django Paginator page, newest first) of the customer's entries as HistoryLine."""
    entries = (
        PointsEntry.objects.filter(customer_id=customer_id)
        .select_related("lot", "staff")
        .order_by("-id")
    )
    pages = Paginator(entries, per_page)
    current = pages.get_page(page)
    current.object_list = [_line(e) for e in current.object_list]
    return current


def _line(entry: PointsEntry) -> HistoryLine:
    return HistoryLine(
        created_at=entry.created_at,
        points=entry.points,
        source=entry.source,
        source_label=labels.source_label(entry.source),
        account_label=labels.account_label(entry.account),
        reason=labels.reason_label(entry.reason, entry.source),
        source_ref=entry.source_ref,
        staff=entry.staff.get_username() if entry.staff_id else "",
        expires_at=entry.lot.expires_at if entry.points > 0 else None,
        available_at=entry.lot.available_at if entry.points > 0 else None,
        shortfall=entry.shortfall,
    )


def recent_entries(limit: int = 30) -> list[tuple[int, HistoryLine]]:
    entries = PointsEntry.objects.select_related("lot", "staff").order_by("-id")[:limit]
    return [(e.customer_id, _line(e)) for e in entries]


@dataclass(frozen=True)
class Liability:
    outstanding: int  # available + pending
    available: int
    pending: int
    expiring_30d: int
    expiring_90d: int
    members: int  # with a balance
    issued: int  # in the period (positive numbers)
    redeemed: int
    expired: int
    reversed: int
    adjusted: int
    shortfall: int  # refunds that could not take their points back


def liability(start: dt.datetime | None = None, end: dt.datetime | None = None, now=None) -> Liability:
    """The points the brand owes: outstanding (available + pending), what expires in the next 30 / 90 days,
    and the movements of the period [start, end) (the last 30 days by default)."""
    now = now or timezone.now()
    end = end or now
    start = start or end - dt.timedelta(days=30)
    lots = PointsLot.objects.exclude(remaining=0)
    balance = _balance(lots.aggregate(**_sums(now)))
    members = lots.filter(remaining__gt=0).values("customer_id").distinct().count()
    moved = dict(
        PointsEntry.objects.filter(created_at__gte=start, created_at__lt=end)
        .values("account")
        .annotate(n=Sum("points"))
        .values_list("account", "n")
    )
    short = PointsEntry.objects.filter(created_at__gte=start, created_at__lt=end, shortfall__gt=0).aggregate(
        n=Sum("shortfall")
    )["n"]
    return Liability(
        outstanding=balance.available + balance.pending,
        available=balance.available,
        pending=balance.pending,
        expiring_30d=balance.expiring_30d,
        expiring_90d=balance.expiring_90d,
        members=members,
        issued=int(moved.get(Account.ISSUED) or 0),
        redeemed=-int(moved.get(Account.REDEEMED) or 0),
        expired=-int(moved.get(Account.EXPIRED) or 0),
        reversed=-int(moved.get(Account.REVERSED) or 0),
        adjusted=int(moved.get(Account.ADJUSTED) or 0),
        shortfall=int(short or 0),
    )


def trial_balance() -> dict[str, int]:
    """The books: every account's balance. The members' lots hold the sum of all entries; each counter
    account holds minus the sum of its entries; together they are zero."""
    accounts = {
        account: -int(n or 0)
        for account, n in PointsEntry.objects.values("account").annotate(n=Sum("points")).values_list("account", "n")
    }
    accounts["members"] = int(PointsLot.objects.aggregate(n=Sum("remaining"))["n"] or 0)
    return accounts


def lots_disagreeing_with_entries() -> list[int]:
    """Lots whose cached remaining is not the sum of their entries (always empty; tests check it)."""
    sums = dict(PointsEntry.objects.values("lot_id").annotate(n=Sum("points")).values_list("lot_id", "n"))
    return [pk for pk, remaining in PointsLot.objects.values_list("id", "remaining") if sums.get(pk, 0) != remaining]


def person_points(customer_id: int) -> list[dict]:
    """Every points entry of the customer, oldest first, for the person's copy of their data."""
    entries = PointsEntry.objects.filter(customer_id=int(customer_id)).select_related("lot", "staff").order_by("id")
    return [{"created_at": line.created_at, "points": line.points, "source": line.source_label,
             "account": line.account_label, "reason": line.reason, "source_ref": line.source_ref, "staff": line.staff,
             "expires_at": line.expires_at} for line in (_line(e) for e in entries)]  # fmt: skip
