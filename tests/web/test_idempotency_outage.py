"""An Idempotency-Key whose request the control plane's database went away under (PostgreSQL down for more
than a moment) is settled once the database answers again: a retry then replays the answer, or runs if the
request failed; never lands twice, and never stays "in progress" (docs/faults.md). The outage is simulated:
every write of a key's settlement fails while `down` is set; tests/workers/test_pg_down.py does it for real.
"""

from __future__ import annotations

import json

import pytest
from django.db import OperationalError
from django.test import Client

from customers.sample_brand import make_brand
from siyu.api.actions import create_token
from siyu.customers import actions
from siyu.customers.models import CustomerTag
from siyu.web import idempotency
from siyu.web.models import IdempotencyKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def outage(warehouse, monkeypatch):
    """The brand's operator's API client, and a switch: while `state["down"]`, settling a key fails as on a
    lost database. The background re-settler is not started (its work is done here by the next request)."""
    brand = make_brand(warehouse)
    state = {"down": False}
    write = idempotency._write

    def flaky_write(pk, settlement):
        if state["down"]:
            raise OperationalError("connection failed: Connection refused")
        write(pk, settlement)

    monkeypatch.setattr(idempotency, "_write", flaky_write)
    monkeypatch.setattr(idempotency, "SETTLE_PAUSE_SECONDS", 0)
    monkeypatch.setattr(idempotency, "_start_resettler", lambda: None)
    monkeypatch.setattr(idempotency, "_unsettled", {})
    client = Client(
        headers={"Authorization": f"Bearer {create_token(brand.operator, 'tests')}"},
        raise_request_exception=False,
    )
    return client, state


def tag(client, key, label="高价值"):
    return client.post(
        "/api/customers/1001/tags",
        data=json.dumps({"tag": label}),
        content_type="application/json",
        headers={"Idempotency-Key": key},
    )


def test_a_write_done_while_its_key_could_not_be_stored_is_answered_and_replayed_once_the_database_is_back(
    outage,
):
    client, state = outage
    state["down"] = True
    first = tag(client, "k-done")
    assert first.status_code == 200 and first.json()["changed"] == 1  # the work is done: the client is told
    # a resend while the database is away cannot replay yet: "still being processed", not a second landing
    again = tag(client, "k-done")
    assert again.status_code == 409 and "still being processed" in again.json()["detail"]
    state["down"] = False
    replay = tag(client, "k-done")
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert CustomerTag.objects.filter(customer_id=1001).count() == 1
    assert list(IdempotencyKey.objects.values_list("key", "status_code")) == [("k-done", 200)]


def test_a_write_cut_off_by_the_database_is_a_503_and_its_key_is_released_once_the_database_is_back(
    outage, monkeypatch
):
    client, state = outage
    add_tag = actions.add_tag

    def lost(*args, **kwargs):
        state["down"] = True  # the database goes away under the request
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(actions, "add_tag", lost)
    cut = tag(client, "k-cut")
    assert cut.status_code == 503 and cut["Retry-After"] == "5"
    assert "database" in cut.json()["detail"] or "数据库" in cut.json()["detail"]
    # the key is still "in progress" in the database: without the kept settlement a retry would get 409 for a day
    assert list(IdempotencyKey.objects.values_list("key", "status_code")) == [
        ("k-cut", idempotency.IN_PROGRESS)
    ]

    monkeypatch.setattr(actions, "add_tag", add_tag)
    state["down"] = False
    retried = tag(client, "k-cut")
    assert retried.status_code == 200 and retried.json()["changed"] == 1
    assert "Idempotent-Replayed" not in retried.headers
    assert tag(client, "k-cut").headers["Idempotent-Replayed"] == "true"
    assert CustomerTag.objects.filter(customer_id=1001).count() == 1
    assert idempotency.settle_left_over_keys() == 0


def test_settlements_are_kept_while_the_database_is_away_and_written_when_it_answers(outage):
    client, state = outage
    state["down"] = True
    tag(client, "k-1")
    tag(client, "k-2", "新客")
    assert IdempotencyKey.objects.filter(status_code=idempotency.IN_PROGRESS).count() == 2
    assert idempotency.settle_left_over_keys() == 2  # still down: kept, nothing lost
    state["down"] = False
    assert idempotency.settle_left_over_keys() == 0
    assert sorted(IdempotencyKey.objects.values_list("key", "status_code")) == [("k-1", 200), ("k-2", 200)]
