"""/api/loyalty: tiers and earn rules made, listed, changed and disabled through the API (idempotent writes,
operators only), and a member's tier with progress."""

from __future__ import annotations

import pytest
from ninja import NinjaAPI
from ninja.testing import TestClient

from siyu.api.actions import create_token
from siyu.api.auth import auth
from siyu.core.errors import NotFound, PermissionDenied, SiyuError
from siyu.loyalty.earning.api import router as earning_router
from siyu.loyalty.tiers.api import router as tiers_router
from siyu.staff.actions import create_user

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def api():
    api = NinjaAPI(auth=auth, urls_namespace="loyalty-earning-test")
    for error, status in ((NotFound, 404), (PermissionDenied, 403), (SiyuError, 400)):
        api.add_exception_handler(error, lambda request, exc, status=status: api.create_response(
            request, {"detail": str(exc)}, status=status))  # fmt: skip
    api.add_router("", tiers_router)
    api.add_router("", earning_router)
    return api


def _as(api, user):
    return TestClient(api, headers={"Authorization": f"Bearer {create_token(user, 'tests')}"})


def test_tiers_and_rules_through_the_api(api, shop):
    ops = _as(api, create_user("ops2", "pw-ops-2", "operator"))
    guide = _as(api, create_user("g9", "pw-g9-1", "guide"))
    body = {"name": "金卡", "rank": 2, "measure": "spend", "threshold": "1000", "multiplier": "1.5"}
    made = ops.post("/loyalty/tiers", json=body, headers={"Idempotency-Key": "t1"})
    assert made.status_code == 201, made.content
    again = ops.post("/loyalty/tiers", json=body, headers={"Idempotency-Key": "t1"})
    assert again.json()["id"] == made.json()["id"]
    assert ops.post("/loyalty/tiers", json=body, headers={"Idempotency-Key": "t2"}).status_code == 400  # same name
    assert guide.post("/loyalty/tiers", json={**body, "name": "x", "rank": 5},
                      headers={"Idempotency-Key": "t3"}).status_code == 403  # fmt: skip
    tier_id = made.json()["id"]
    changed = ops.post(f"/loyalty/tiers/{tier_id}", json={"threshold": "500"}, headers={"Idempotency-Key": "t4"})
    assert changed.json()["threshold"] == "500.00"
    assert ops.post("/loyalty/tiers/999999", json={}, headers={"Idempotency-Key": "t5"}).status_code == 404
    assert [t["name"] for t in ops.get("/loyalty/tiers").json()] == ["金卡"]

    shop.buy(1, "A1", "250")
    member = ops.get("/loyalty/members/1/tier").json()
    assert member["tier"] is None and member["next_tier"]["name"] == "金卡" and member["progress"] == 0.5

    rule = {"name": "天猫每元1分", "kind": "per_yuan", "channel": "tmall", "points_per_yuan": "1"}
    r = ops.post("/loyalty/earn-rules", json=rule, headers={"Idempotency-Key": "r1"})
    assert r.status_code == 201, r.content
    rid = r.json()["id"]
    assert ops.post(f"/loyalty/earn-rules/{rid}", json={"points_per_yuan": "2"},
                    headers={"Idempotency-Key": "r2"}).json()["points_per_yuan"] == "2.00"  # fmt: skip
    assert ops.delete(f"/loyalty/earn-rules/{rid}", headers={"Idempotency-Key": "r3"}).json()["active"] is False
    assert ops.get("/loyalty/earn-rules?active_only=true").json() == []
    assert ops.post("/loyalty/earn-rules", json={**rule, "name": "a\x00b"},
                    headers={"Idempotency-Key": "r4"}).status_code == 422  # fmt: skip
