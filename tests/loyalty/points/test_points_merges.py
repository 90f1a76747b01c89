"""Identity merges carry ledgers by explicit rules (the absorbed customer's open lots move to the survivor)
and a split that gives the absorbed id back undoes it; following a run twice changes nothing."""

import datetime as dt

from django.utils import timezone

from siyu.loyalty.points import actions, queries
from siyu.loyalty.points.models import PointsLot

NOW = timezone.now()


def _log(con, run, survivor, absorbed, rule="deterministic:phone"):
    con.execute("INSERT INTO merge_log VALUES (?, now(), ?, ?, ?, '{}')", [run, survivor, absorbed, rule])


def books_balance():
    assert queries.lots_disagreeing_with_entries() == []
    assert sum(queries.trial_balance().values()) == 0


def test_a_merge_moves_the_points_and_an_undo_gives_them_back(customers):
    actions.award_points(1, 100, key="a", reason="order paid", source="order")
    actions.award_points(2, 40, key="b", reason="order paid", source="order", expires_at=NOW + dt.timedelta(days=5))
    actions.award_points(2, 25, key="c", reason="order paid", source="order",
                         available_at=NOW + dt.timedelta(days=3), source_ref="order:T9")  # fmt: skip
    _log(customers, "run1", 1, 2)
    assert actions.follow_merges("run1") == {"points_lots_moved": 2, "points_lots_returned": 0}
    assert actions.follow_merges("run1") == {"points_lots_moved": 0, "points_lots_returned": 0}
    survivor = queries.balance_of(1)
    assert (survivor.available, survivor.pending, survivor.expiring_30d) == (140, 25, 40)
    assert queries.balance_of(2).available == 0
    moved = PointsLot.objects.get(key__startswith="merge:run1", points=40)
    assert (moved.merged_from, moved.expires_at) == (2, NOW + dt.timedelta(days=5))
    # the survivor spends some of the merged points (soonest-expiring first: the absorbed customer's)
    actions.spend_points(1, 30, key="s", reason="mall", source="mall")
    # a refund of the absorbed customer's order takes the points back from where the merge moved them
    assert actions.reverse_points(source_ref="order:T9", key="refund", reason="refund") == 1
    assert queries.balance_of(1).pending == 0
    _log(customers, "run2", 1, 2, rule="split")
    assert actions.follow_merges("run2") == {"points_lots_moved": 0, "points_lots_returned": 1}
    assert queries.balance_of(2).available == 10  # 40 moved, 30 spent by the survivor: spent stays spent
    assert queries.balance_of(1).available == 100
    books_balance()
