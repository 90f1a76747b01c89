"""/api/acquisition: live codes made, listed, changed and archived through the API against the fake WeCom,
with their adds, the routing preview, store codes and a guide's own code; idempotency keys on writes."""

from __future__ import annotations

import pytest
from acquisition_helpers import post_callback
from ninja import NinjaAPI
from ninja.testing import TestClient

from siyu.acquisition.api import router
from siyu.acquisition.errors import LiveCodeNotFound
from siyu.api.actions import create_token
from siyu.api.auth import auth
from siyu.core.errors import PermissionDenied, SiyuError

pytestmark = pytest.mark.django_db


def _api() -> NinjaAPI:
    """The router mounted as siyu.api mounts the domains' routers (the same error answers)."""
    api = NinjaAPI(auth=auth, urls_namespace="acquisition-test")
    for error, status in ((LiveCodeNotFound, 404), (PermissionDenied, 403), (SiyuError, 400)):
        api.add_exception_handler(error, lambda request, exc, status=status: api.create_response(
            request, {"detail": str(exc)}, status=status))  # fmt: skip
    api.add_router("", router)
    return api


@pytest.fixture(scope="module")
def api():
    return _api()


def _as(api, user):
    return TestClient(api, headers={"Authorization": f"Bearer {create_token(user, 'tests')}"})


def _key(n):
    return {"Idempotency-Key": f"k-{n}"}


def test_codes_through_the_api(warehouse, account, fake, team, api, corp_tags, client):
    ops = _as(api, team["ops"])
    g1, g2, b1 = (team[k].staff.pk for k in ("g1", "g2", "b1"))
    body = {"name": "包裹卡", "channel": "package_card", "campaign": "年货节", "welcome_text": "欢迎！",
            "auto_tags": ["渠道:包裹卡"], "cost": "1200.50", "daily_limit": 50,
            "staff": [{"staff_id": g1}, {"staff_id": b1, "backup": True}]}  # fmt: skip
    made = ops.post("/acquisition/codes", json=body, headers=_key(1))
    assert made.status_code == 201, made.content
    code = made.json()
    assert (code["status"], code["offered"], code["cost"], code["auto_tags"]) == (
        "active", ["guide1"], "1200.50", ["渠道:包裹卡"])  # fmt: skip
    assert fake.contact_ways[code["config_id"]]["state"] == code["state"]
    # the link to print (what WeCom's QR picture holds) beside the picture's own address
    assert code["qr_content"] == fake.add_links[code["config_id"]] != code["qr_url"]
    replay = ops.post("/acquisition/codes", json=body, headers=_key(1))
    assert replay.json()["id"] == code["id"] and len(fake.contact_ways) == 1

    changed = ops.patch(f"/acquisition/codes/{code['id']}", json={"staff": [{"staff_id": g2}]}, headers=_key(2))
    assert changed.status_code == 200 and changed.json()["offered"] == ["guide2"]
    assert changed.json()["qr_url"] == code["qr_url"] and changed.json()["name"] == "包裹卡"
    assert changed.json()["qr_content"] == code["qr_content"]  # the printed code keeps working

    post_callback(client, fake.scan(code["config_id"], "wm-new"))
    adds = ops.get(f"/acquisition/codes/{code['id']}/adds").json()
    assert adds["total"] == 1 and adds["items"][0]["staff_userid"] == "guide2"
    assert adds["items"][0]["welcome"] == "sent"
    routing = ops.get(f"/acquisition/codes/{code['id']}/routing").json()
    assert [(r["userid"], r["adds_today"], r["reason"]) for r in routing] == [("guide2", 1, "offered")]

    assert [c["id"] for c in ops.get("/acquisition/codes").json()] == [code["id"]]
    archived = ops.post(f"/acquisition/codes/{code['id']}/archive", headers=_key(3))
    assert archived.json()["status"] == "archived" and fake.contact_ways == {}
    assert ops.get("/acquisition/codes").json() == []
    assert ops.get("/acquisition/codes/999").status_code == 404


def test_what_the_api_refuses(warehouse, account, fake, team, api):
    ops = _as(api, team["ops"])
    long_state = {"name": "x", "staff": [{"staff_id": team["g4"].staff.pk}]}
    refused = ops.post("/acquisition/codes", json=long_state, headers=_key(4))
    assert refused.status_code == 400 and "WeCom userid" in refused.json()["detail"]
    too_many = {"name": "x", "staff": [{"staff_id": team["g1"].staff.pk}] * 101}
    assert ops.post("/acquisition/codes", json=too_many, headers=_key(5)).status_code == 422
    guide = _as(api, team["g1"])
    assert guide.get("/acquisition/codes").status_code == 403
    mine = guide.post("/acquisition/my-code", headers=_key(6))
    assert mine.status_code == 200 and mine.json()["kind"] == "guide" and mine.json()["offered"] == ["guide1"]


def test_store_codes_through_the_api(warehouse, account, fake, team, api):
    report = _as(api, team["ops"]).post("/acquisition/store-codes", json={"store_ids": [team["sh"].pk]},
                                        headers=_key(7)).json()  # fmt: skip
    assert len(report["created"]) == 1 and report["skipped"] == {}
