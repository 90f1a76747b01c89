"""Concurrent spends on PostgreSQL never overdraw: 50 threads spend 10 points each from a balance of 100 (in
three lots); exactly 10 succeed and the books still hold. Runs only when DATABASE_URL is PostgreSQL."""

import threading

import pytest
from django.db import connection, connections

from siyu.loyalty.points import actions, queries
from siyu.loyalty.points.errors import InsufficientPoints

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrency is tested on PostgreSQL"),
]


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_spends_of_a_balance_for_ten_give_exactly_ten():
    for n, points in enumerate((40, 35, 25)):
        actions.award_points(7, points, key=f"o{n}", reason="order paid", source="order")
    start = threading.Barrier(50)
    outcomes: list[str] = []
    lock = threading.Lock()

    def spend(n: int) -> None:
        try:
            start.wait()
            try:
                actions.spend_points(7, 10, key=f"till:{n}", reason="till", source="till")
                outcome = "spent"
            except InsufficientPoints:
                outcome = "refused"
            with lock:
                outcomes.append(outcome)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=spend, args=(n,)) for n in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes).count("spent") == 10 and len(outcomes) == 50
    assert queries.balance_of(7).available == 0
    assert queries.lots_disagreeing_with_entries() == []
    assert sum(queries.trial_balance().values()) == 0
