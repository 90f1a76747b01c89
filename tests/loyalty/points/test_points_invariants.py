"""Invariants of the ledger under random sequences of awards, spends, refunds, expiry, adjustments and
merges (hypothesis): every lot's remaining equals the sum of its entries, the books balance, no balance is
negative (the default refund rule), and replaying any operation with its key changes nothing."""

import datetime as dt
import itertools

from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siyu.loyalty.points import actions, queries
from siyu.loyalty.points.errors import InsufficientPoints
from siyu.loyalty.points.models import PointsEntry, PointsLot

CUSTOMERS = (1, 2, 3)
RUNS = itertools.count()

award = st.tuples(st.just("award"), st.sampled_from(CUSTOMERS), st.integers(1, 200), st.sampled_from("ABCDE"),
                   st.sampled_from([None, -2, 3, 40]), st.booleans())  # fmt: skip
spend = st.tuples(st.just("spend"), st.sampled_from(CUSTOMERS), st.integers(1, 150), st.sampled_from("vwxyz"))
refund = st.tuples(st.just("refund"), st.sampled_from("ABCDE"), st.sampled_from("pq"))
expire = st.tuples(st.just("expire"), st.sampled_from([0, 5, 50]))
adjust = st.tuples(st.just("adjust"), st.sampled_from(CUSTOMERS), st.integers(-100, 100).filter(bool),
                   st.sampled_from("jk"))  # fmt: skip
merge = st.tuples(st.just("merge"), st.sampled_from(CUSTOMERS), st.sampled_from(CUSTOMERS), st.booleans())
operations = st.lists(st.one_of(award, spend, refund, expire, adjust, merge), min_size=1, max_size=25)


def _apply(op, staff, con, now):
    kind = op[0]
    if kind == "award":
        _, cid, points, ref, expires_in, pending = op
        expires = None if expires_in is None else now + dt.timedelta(days=expires_in)
        available = now + dt.timedelta(days=1) if pending else None
        actions.award_points(cid, points, key=f"award:{cid}:{ref}", reason="order paid", source="order",
                             source_ref=f"order:{ref}", expires_at=expires, available_at=available)  # fmt: skip
    elif kind == "spend":
        _, cid, points, key = op
        try:
            actions.spend_points(cid, points, key=f"spend:{cid}:{key}", reason="mall", source="mall")
        except InsufficientPoints:
            pass
    elif kind == "refund":
        actions.reverse_points(source_ref=f"order:{op[1]}", key=f"refund:{op[1]}:{op[2]}", reason="refund")
    elif kind == "expire":
        actions.expire_due_points(now + dt.timedelta(days=op[1]))
    elif kind == "adjust":
        _, cid, delta, key = op
        try:
            actions.adjust_points(staff, cid, delta, reason="correction", key=f"adjust:{cid}:{key}")
        except InsufficientPoints:
            pass
    elif kind == "merge":
        _, survivor, absorbed, undo = op
        if survivor == absorbed:
            return
        run = f"run{next(RUNS)}"
        con.execute("INSERT INTO merge_log VALUES (?, now(), ?, ?, ?, '{}')",
                    [run, survivor, absorbed, "split" if undo else "deterministic:phone"])  # fmt: skip
        actions.follow_merges(run)


def _state():
    return (PointsEntry.objects.count(), sorted(PointsLot.objects.values_list("id", "remaining")))


def _check_books():
    assert queries.lots_disagreeing_with_entries() == []
    assert sum(queries.trial_balance().values()) == 0
    for cid, balance in queries.balances_of(CUSTOMERS).items():
        assert balance.available >= 0 and balance.pending >= 0, (cid, balance)
        entries = sum(PointsEntry.objects.filter(customer_id=cid).values_list("points", flat=True))
        assert balance.available + balance.pending == entries


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_the_books_hold_under_any_sequence(customers, staff, ops):
    # a fresh ledger for each example (entries are never deleted otherwise: PROTECT, hence the raw delete)
    PointsEntry.objects.all()._raw_delete(PointsEntry.objects.db)
    PointsLot.objects.all()._raw_delete(PointsLot.objects.db)
    now = timezone.now()
    for op in ops:
        _apply(op, staff["ops"], customers, now)
        _check_books()
        if op[0] not in ("expire", "merge"):  # replays: the same key again changes nothing
            before = _state()
            _apply(op, staff["ops"], customers, now)
            assert _state() == before, op
