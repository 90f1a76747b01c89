"""/api/loyalty/points: balance and history, manual adjustments by operators, burns at the till with an
Idempotency-Key; guides reach only their own customers; refusals in words."""

import pytest
from ninja.testing import TestClient

from siyu.api.actions import create_token
from siyu.api.api import api
from siyu.loyalty.points import actions

URL = "/loyalty/points/members"


def _as(user):
    return TestClient(api, headers={"Authorization": f"Bearer {create_token(user, 'tests')}"})


def _key(n):
    return {"Idempotency-Key": f"k-{n}"}


@pytest.fixture(autouse=True)
def _api_client_urls(settings):
    settings.ROOT_URLCONF = "siyu.project.urls"


def test_a_till_burn_spends_once_and_refuses_more_than_the_balance(owned):
    actions.award_points(1, 100, key="o1", reason="order paid", source="order")
    guide = _as(owned["guide"])
    burn = guide.post(f"{URL}/1/till-burns", json={"points": 30, "order_ref": "R-1"}, headers=_key(1))
    assert burn.status_code == 201, burn.content
    assert burn.json()["balance"]["available"] == 70
    again = guide.post(f"{URL}/1/till-burns", json={"points": 30, "order_ref": "R-1"}, headers=_key(1))
    assert again.status_code == 201 and again.json()["balance"]["available"] == 70
    too_much = guide.post(f"{URL}/1/till-burns", json={"points": 71}, headers=_key(2))
    assert too_much.status_code == 409
    assert "70 available" in too_much.json()["detail"]
    assert guide.post(f"{URL}/1/till-burns", json={"points": 0}, headers=_key(3)).status_code == 422
    history = guide.get(f"{URL}/1/history").json()
    assert [i["points"] for i in history["items"]] == [-30, 100]
    assert history["items"][0]["source"] == "till"


def test_guides_reach_only_their_own_customers(owned):
    actions.award_points(3, 100, key="o3", reason="order paid", source="order")
    guide = _as(owned["guide"])
    assert guide.get(f"{URL}/3").status_code == 403
    assert guide.get(f"{URL}/3/history").status_code == 403
    assert guide.post(f"{URL}/3/till-burns", json={"points": 1}, headers=_key(1)).status_code == 403
    assert _as(owned["ops"]).get(f"{URL}/3").json()["available"] == 100


def test_adjustments_are_for_operators_and_admins(owned):
    ops, guide = _as(owned["ops"]), _as(owned["guide"])
    made = ops.post(f"{URL}/2/adjustments", json={"delta": 50, "reason": "补偿"}, headers=_key(1))
    assert made.status_code == 201 and made.json()["balance"]["available"] == 50
    assert ops.post(f"{URL}/2/adjustments", json={"delta": 50, "reason": "补偿"}, headers=_key(1)).json()[
        "balance"]["available"] == 50  # fmt: skip
    assert guide.post(f"{URL}/2/adjustments", json={"delta": 5, "reason": "x"}, headers=_key(2)).status_code == 403
    taken = ops.post(f"{URL}/2/adjustments", json={"delta": -60, "reason": "更正"}, headers=_key(3))
    assert taken.status_code == 409
    assert ops.post(f"{URL}/2/adjustments", json={"delta": 0, "reason": "x"}, headers=_key(4)).status_code == 422
    assert ops.post(f"{URL}/999/adjustments", json={"delta": 5, "reason": "x"}, headers=_key(5)).status_code == 404
    balance = ops.get(f"{URL}/2").json()
    assert (balance["available"], balance["pending"]) == (50, 0)
