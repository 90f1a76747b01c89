"""/api/segments: CRUD with idempotency keys, preview, refresh, members and changes."""

import json

import pytest
from django.test import Client

from segments.traits_data import write_brand
from siyu.api.actions import create_token
from siyu.staff.actions import create_user
from siyu.warehouse.summary import rebuild_customer_summary

pytestmark = pytest.mark.django_db
SHANGHAI = {"field": "province", "op": "=", "value": "上海"}


@pytest.fixture
def api(warehouse):
    write_brand(warehouse.backend())
    warehouse.raw_connection().execute(
        "UPDATE records SET province = '上海' WHERE record_key IN ('shop|r1', 'shop|r2')"
    )
    rebuild_customer_summary()
    return client_for(create_user("op", "pw-oper-1", "operator"))


def client_for(user) -> Client:
    return Client(headers={"Authorization": f"Bearer {create_token(user, 'tests')}"})


def write(client, method, path, body, key):
    return getattr(client, method)(
        path, data=json.dumps(body), content_type="application/json", headers={"Idempotency-Key": key}
    )


def test_create_preview_refresh_members_changes_delete(api):
    preview = api.post(
        "/api/segments/preview", data={"rule": SHANGHAI, "sample": 1}, content_type="application/json"
    )
    assert preview.status_code == 200
    assert (preview.json()["count"], [r["customer_id"] for r in preview.json()["sample"]]) == (2, [1])

    created = write(api, "post", "/api/segments", {"name": "上海", "rule": SHANGHAI}, "c1")
    assert created.status_code == 201, created.content
    segment = created.json()
    assert (segment["kind"], segment["refresh"], segment["member_count"]) == ("rule", "after_resolve", 2)  # at once
    replay = write(api, "post", "/api/segments", {"name": "上海", "rule": SHANGHAI}, "c1")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    sid = segment["id"]

    refreshed = write(api, "post", f"/api/segments/{sid}/refresh", {}, "r1")
    assert refreshed.json()["members"] == 2 and refreshed.json()["entered"] == 0  # entered when saved
    page = api.get(f"/api/segments/{sid}/members", {"page_size": 1, "page": 2}).json()
    assert (page["total"], page["pages"], page["items"][0]["customer_id"]) == (2, 2, 2)
    assert page["items"][0]["phone_masked"] is None or "*" in page["items"][0]["phone_masked"]
    changes = api.get(f"/api/segments/{sid}/changes").json()
    assert sorted((c["customer_id"], c["change"]) for c in changes["items"]) == [(1, "enter"), (2, "enter")]

    static = write(api, "put", f"/api/segments/{sid}", {"name": "上海", "customer_ids": [3]}, "p1")
    assert static.status_code == 200 and static.json()["kind"] == "static"
    write(api, "post", f"/api/segments/{sid}/refresh", {}, "r2")
    exits = api.get(f"/api/segments/{sid}/changes").json()["items"]
    assert sorted((c["customer_id"], c["change"]) for c in exits[:3]) == [
        (1, "exit"),
        (2, "exit"),
        (3, "enter"),
    ]

    assert [s["name"] for s in api.get("/api/segments").json()] == ["上海"]
    deleted = write(api, "delete", f"/api/segments/{sid}", {}, "d1")
    assert deleted.status_code == 200
    assert api.get(f"/api/segments/{sid}").status_code == 404


def test_bad_rules_and_lists_are_400_with_the_place(api):
    bad = write(api, "post", "/api/segments", {"name": "x", "rule": {"all": [{"spent": {}}]}}, "b1")
    assert bad.status_code == 400 and "rule.all[0].spent.at_least" in bad.json()["detail"]
    unknown = write(api, "post", "/api/segments", {"name": "x", "customer_ids": [1, 77]}, "b2")
    assert unknown.status_code == 400 and "not customers: 77" in unknown.json()["detail"]
    preview = api.post("/api/segments/preview", data={"rule": {"nope": 1}}, content_type="application/json")
    assert preview.status_code == 400 and "unknown condition 'nope'" in preview.json()["detail"]
    missing_key = api.post(
        "/api/segments", data={"name": "x", "rule": SHANGHAI}, content_type="application/json"
    )
    assert missing_key.status_code == 422


def test_guides_cannot_use_segments(api):
    guide = client_for(create_user("g1", "pw-guide-1", "guide"))
    assert guide.get("/api/segments").status_code == 403
    assert write(guide, "post", "/api/segments", {"name": "x", "rule": SHANGHAI}, "g").status_code == 403
