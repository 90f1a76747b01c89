"""The ledger's everyday behaviour: awards, spends in expiry order, pending lots, refunds, adjustments,
expiry; every test ends with the books checked."""

import datetime as dt

import pytest
from django.utils import timezone

from siyu.core.errors import PermissionDenied
from siyu.loyalty.points import actions, queries
from siyu.loyalty.points.errors import InsufficientPoints
from siyu.loyalty.points.models import PointsEntry

NOW = timezone.now()
DAY = dt.timedelta(days=1)


def books_balance():
    assert queries.lots_disagreeing_with_entries() == []
    assert sum(queries.trial_balance().values()) == 0


def award(cid, points, key, **kw):
    kw.setdefault("reason", "order paid")
    kw.setdefault("source", "order")
    return actions.award_points(cid, points, key=key, **kw)


def test_spends_take_the_soonest_expiring_lots_first(db):
    award(1, 100, "a", expires_at=NOW + 90 * DAY)
    award(1, 50, "b", expires_at=NOW + 10 * DAY)
    award(1, 30, "c")  # never expires: spent last
    entries = actions.spend_points(1, 120, key="s1", reason="mall", source="mall")
    assert [(e.lot.key, e.points) for e in entries] == [("b", -50), ("a", -70)]
    assert queries.balance_of(1).available == 60
    with pytest.raises(InsufficientPoints):
        actions.spend_points(1, 61, key="s2", reason="mall", source="mall")
    assert queries.balance_of(1).available == 60
    books_balance()


def test_a_replayed_award_or_spend_changes_nothing(db):
    first = award(1, 100, "order:1")
    assert award(1, 100, "order:1").pk == first.pk
    assert actions.award_points_bulk([{"customer_id": 1, "points": 100, "key": "order:1", "reason": "x",
                                       "source": "order"}]) == 0  # fmt: skip
    spent = actions.spend_points(1, 40, key="till:9", reason="till", source="till")
    again = actions.spend_points(1, 40, key="till:9", reason="till", source="till")
    assert [e.pk for e in spent] == [e.pk for e in again]
    assert queries.balance_of(1).available == 60
    books_balance()


def test_pending_points_cannot_be_spent_until_available(db):
    award(1, 100, "o1", available_at=NOW + 7 * DAY)
    balance = queries.balance_of(1)
    assert (balance.available, balance.pending) == (0, 100)
    with pytest.raises(InsufficientPoints):
        actions.spend_points(1, 10, key="s", reason="mall", source="mall")
    assert queries.balance_of(1, now=NOW + 8 * DAY).available == 100


def test_a_refund_takes_the_points_back_once(db):
    award(1, 100, "o1", source_ref="order:T1")
    award(1, 20, "c1", source="checkin")
    assert actions.reverse_points(source_ref="order:T1", key="refund:T1", reason="refund") == 1
    assert queries.balance_of(1).available == 20
    assert actions.reverse_points(source_ref="order:T1", key="refund:T1-again", reason="refund") == 0
    assert queries.balance_of(1).available == 20
    books_balance()


def test_a_refund_of_spent_points_takes_them_from_other_lots_then_records_the_shortfall(db):
    award(1, 100, "o1", source_ref="order:T1")
    actions.spend_points(1, 90, key="s", reason="mall", source="mall")
    award(1, 30, "c1", source="checkin")
    actions.reverse_points(source_ref="order:T1", key="refund", reason="refund")
    assert queries.balance_of(1).available == 0
    shortfall = PointsEntry.objects.get(key=f"refund:{PointsEntry.objects.get(key='o1').pk}").shortfall
    assert shortfall == 60
    books_balance()


def test_a_refund_may_leave_a_debt_when_the_setting_allows(db, settings):
    settings.LOYALTY_POINTS_REFUND_MAY_GO_NEGATIVE = True
    award(1, 100, "o1", source_ref="order:T1")
    actions.spend_points(1, 90, key="s", reason="mall", source="mall")
    actions.reverse_points(source_ref="order:T1", key="refund", reason="refund")
    assert queries.balance_of(1).available == -90
    award(1, 100, "o2")
    assert queries.balance_of(1).available == 10
    with pytest.raises(InsufficientPoints):
        actions.spend_points(1, 11, key="s2", reason="mall", source="mall")
    actions.spend_points(1, 10, key="s3", reason="mall", source="mall")
    books_balance()


def test_a_cancelled_spend_gives_the_points_back(db):
    award(1, 100, "o1")
    actions.spend_points(1, 60, key="m1", reason="mall", source="mall", source_ref="mall:7")
    assert actions.reverse_points(source_ref="mall:7", key="cancel:7", reason="cancelled") == 1
    assert queries.balance_of(1).available == 100
    books_balance()


def test_expiry_writes_one_entry_per_lot_and_only_once(db):
    award(1, 100, "a", expires_at=NOW - DAY)
    award(1, 50, "b", expires_at=NOW + DAY)
    award(2, 70, "c", expires_at=NOW - DAY)
    actions.spend_points(1, 30, key="s", reason="mall", source="mall")  # from "a": expires first
    assert actions.expire_due_points(NOW) == {"lots_expired": 2, "points_expired": 140}
    assert actions.expire_due_points(NOW) == {"lots_expired": 0, "points_expired": 0}
    assert queries.balance_of(1).available == 50
    assert queries.balance_of(2).available == 0
    books_balance()


def test_manual_adjustments_are_staff_only_audited_and_never_overdraw(staff):
    from siyu.core.models import AuditLog

    with pytest.raises(PermissionDenied):
        actions.adjust_points(staff["guide"], 1, 10, reason="goodwill", key="adj1")
    actions.adjust_points(staff["ops"], 1, 10, reason="goodwill", key="adj1")
    actions.adjust_points(staff["ops"], 1, 10, reason="goodwill", key="adj1")
    assert queries.balance_of(1).available == 10
    with pytest.raises(InsufficientPoints):
        actions.adjust_points(staff["ops"], 1, -11, reason="correction", key="adj2")
    actions.adjust_points(staff["admin"], 1, -4, reason="correction", key="adj3")
    assert queries.balance_of(1).available == 6
    assert AuditLog.objects.filter(action="points.adjust").count() == 2
    assert PointsEntry.objects.get(key="adj3").staff == staff["admin"]
    books_balance()
