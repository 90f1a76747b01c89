"""/api/loyalty/…: templates made and changed, a coupon issued to a customer and redeemed at the till with an
Idempotency-Key; a coupon that cannot be used answers 409 / 422 in words; the wallet."""

from __future__ import annotations

import pytest
from ninja import NinjaAPI
from ninja.testing import TestClient

from siyu.api.actions import create_token
from siyu.api.auth import auth
from siyu.core.errors import NotFound, PermissionDenied, SiyuError
from siyu.loyalty.coupons.api import router
from siyu.staff.actions import create_user

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def api():
    api = NinjaAPI(auth=auth, urls_namespace="coupons-test")
    for error, status in ((NotFound, 404), (PermissionDenied, 403), (SiyuError, 400)):
        api.add_exception_handler(error, lambda request, exc, status=status: api.create_response(
            request, {"detail": str(exc)}, status=status))  # fmt: skip
    api.add_router("", router)
    return api


def _as(api, user):
    return TestClient(api, headers={"Authorization": f"Bearer {create_token(user, 'tests')}"})


def test_templates_issue_redeem_and_wallet(api, warehouse):
    ops = _as(api, create_user("ops", "pw-ops-1", "operator"))
    body = {"name": "满100减20", "kind": "amount", "amount_off": "20", "min_spend": "100", "valid_days": 30,
            "products": ["SKU-1"]}  # fmt: skip
    made = ops.post("/loyalty/coupon-templates", json=body, headers={"Idempotency-Key": "t1"})
    assert made.status_code == 201, made.content
    template = made.json()
    assert (template["counts"]["issued"], template["stats"]["gmv"]) == (0, "0.00")
    assert ops.post("/loyalty/coupon-templates", json=body, headers={"Idempotency-Key": "t1"}).json()["id"] == template["id"]
    changed = ops.post(f"/loyalty/coupon-templates/{template['id']}", json={**body, "per_member_limit": 2},
                       headers={"Idempotency-Key": "t2"})  # fmt: skip
    assert changed.json()["per_member_limit"] == 2

    issue = {"template_id": template["id"], "customer_id": 42}
    first = ops.post("/loyalty/coupons", json=issue, headers={"Idempotency-Key": "i1"})
    assert first.status_code == 201, first.content
    replay = ops.post("/loyalty/coupons", json=issue, headers={"Idempotency-Key": "i1"})
    assert replay.json()["code"] == first.json()["code"]
    second = ops.post("/loyalty/coupons", json=issue, headers={"Idempotency-Key": "i2"}).json()
    over = ops.post("/loyalty/coupons", json=issue, headers={"Idempotency-Key": "i3"})
    assert over.status_code == 400 and "限领" in over.json()["detail"]

    code = first.json()["shown_code"]
    till = _as(api, create_user("cashier", "pw-c-1", "guide"))
    low = till.post("/loyalty/coupons/redeem", json={"code": code, "amount": "99", "products": ["SKU-1"]},
                    headers={"Idempotency-Key": "r0"})  # fmt: skip
    assert (low.status_code, low.json()["reason"]) == (422, "threshold")
    scope = till.post("/loyalty/coupons/redeem", json={"code": code, "amount": "150", "products": ["SKU-2"]},
                      headers={"Idempotency-Key": "r0"})  # fmt: skip
    assert (scope.status_code, scope.json()["reason"]) == (422, "scope")
    redeem = {"code": code, "amount": "150", "products": ["SKU-1"], "order_ref": "POS-1"}
    used = till.post("/loyalty/coupons/redeem", json=redeem, headers={"Idempotency-Key": "r1"})
    assert used.status_code == 200, used.content
    assert (used.json()["status"], used.json()["discount"]) == ("used", "20.00")
    assert till.post("/loyalty/coupons/redeem", json=redeem, headers={"Idempotency-Key": "r1"}).status_code == 200
    twice = till.post("/loyalty/coupons/redeem", json=redeem, headers={"Idempotency-Key": "r2"})
    assert (twice.status_code, twice.json()["reason"]) == (409, "used")
    assert twice.json()["detail"]  # in words
    unknown = till.post("/loyalty/coupons/redeem", json={**redeem, "code": "ZZZZ-ZZZZ-ZZZZ"},
                        headers={"Idempotency-Key": "r3"})  # fmt: skip
    assert unknown.status_code == 404

    wallet = till.get("/loyalty/customers/42/coupons").json()
    assert [c["code"] for c in wallet] == [second["code"], first.json()["code"]]  # usable first
    assert ops.get(f"/loyalty/coupons/{code.lower()}").json()["status"] == "used"
    listed = ops.get("/loyalty/coupon-templates").json()
    assert listed[0]["counts"] == {"issued": 2, "unused": 1, "used": 1, "expired": 0, "void": 0}
    stats = ops.get(f"/loyalty/coupon-templates/{template['id']}").json()["stats"]
    assert (stats["till_gmv"], stats["redemption_rate"]) == ("150.00", 0.5)

    # a guide neither makes templates nor issues
    assert till.post("/loyalty/coupons", json=issue, headers={"Idempotency-Key": "g1"}).status_code == 403
