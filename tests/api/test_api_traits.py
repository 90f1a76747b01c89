"""/api/customers/{id}/traits, /api/traits/… and the trait filters of /api/customers."""

import json
from datetime import UTC, datetime

import pytest
from django.test import Client

from segments.traits_data import write_brand
from siyu.api.actions import create_token
from siyu.customers.models import CustomerState
from siyu.segments.actions import refresh_traits
from siyu.staff.actions import create_user, ensure_store
from siyu.warehouse.summary import rebuild_customer_summary

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(warehouse):
    write_brand(warehouse.backend())
    rebuild_customer_summary()
    store = ensure_store("SH01", "上海店", "上海")
    operator = create_user("op", "pw-oper-1", "operator")
    guide = create_user("g1", "pw-guide-1", "guide", store=store)
    CustomerState.objects.create(customer_id=1, owner=guide)
    return {"operator": client_for(operator), "guide": client_for(guide)}


def client_for(user) -> Client:
    return Client(headers={"Authorization": f"Bearer {create_token(user, 'tests')}"})


def write(client, method, path, body, key):
    return getattr(client, method)(
        path, data=json.dumps(body), content_type="application/json", headers={"Idempotency-Key": key}
    )


def test_traits_of_a_customer_now_and_as_of_a_day(people):
    api = people["operator"]
    missing = api.get("/api/customers/1/traits")
    assert missing.status_code == 404 and "not been computed yet" in missing.json()["detail"]

    started = write(api, "post", "/api/traits/runs", {"as_of": "2026-01-01"}, "run-1")
    assert started.status_code == 202
    body = started.json()
    assert body["status"] == "done" and body["result"]["customers"] == 9
    replay = write(api, "post", "/api/traits/runs", {"as_of": "2026-01-01"}, "run-1")
    assert replay.json() == body and replay["Idempotent-Replayed"] == "true"

    traits = api.get("/api/customers/1/traits", {"as_of": "2026-01-01"}).json()
    assert (traits["rfm_layer"], traits["monetary"], traits["r_score"], traits["value_layer"]) == (
        "important_value", "600.00", 3, "waist",
    )  # fmt: skip
    assert traits["as_of"].startswith("2025-12-31T16:00:00") and traits["next_purchase_due"] == "2025-12-31"
    assert traits["stages"] == {} and traits["computed_tags"] == []
    not_yet = api.get("/api/customers/9/traits", {"as_of": "2026-01-01"})  # first seen in February
    assert not_yet.status_code == 404 and "not in this traits snapshot" in not_yet.json()["detail"]
    other_day = api.get("/api/customers/1/traits", {"as_of": "2025-01-01"})
    assert other_day.status_code == 404 and "siyu traits --as-of 2025-01-01" in other_day.json()["detail"]
    assert [r["current"] for r in api.get("/api/traits/runs").json()] == [False]


def test_future_days_are_refused_before_a_job_starts(people):
    refused = write(people["operator"], "post", "/api/traits/runs", {"as_of": "2999-01-01"}, "k")
    assert refused.status_code == 400 and "in the future" in refused.json()["detail"]


def test_guides_see_their_own_customers_traits_and_change_nothing(people):
    refresh_traits()
    guide = people["guide"]
    assert guide.get("/api/customers/1/traits").json()["orders_total"] == 4
    assert guide.get("/api/customers/2/traits").status_code == 403
    assert write(guide, "post", "/api/traits/runs", {}, "k").status_code == 403
    rule = {"rule": {"field": "frequency", "op": ">=", "value": 2}}
    assert write(guide, "put", "/api/traits/computed-tags/复购", rule, "k2").status_code == 403


def test_definitions_are_checked_stored_and_deleted(people):
    api = people["operator"]
    bad = write(
        api, "put", "/api/traits/computed-tags/复购", {"rule": {"field": "x", "op": "=", "value": 1}}, "k1"
    )
    assert bad.status_code == 400 and "unknown field 'x'" in bad.json()["detail"]
    saved = write(
        api,
        "put",
        "/api/traits/computed-tags/复购",
        {"rule": {"field": "frequency", "op": ">=", "value": 2}},
        "k2",
    )
    assert saved.status_code == 200 and saved.json()["rule"]["op"] == ">="
    stage_set = {
        "label": "学员",
        "stages": [{"stage": "在学", "when": {"bought": {"product_name": "P2"}}}],
        "default_stage": "其他",
    }
    assert write(api, "put", "/api/traits/stage-sets/school", stage_set, "k3").status_code == 200
    assert [s["name"] for s in api.get("/api/traits/stage-sets").json()] == ["school"]
    assert [t["name"] for t in api.get("/api/traits/computed-tags").json()] == ["复购"]

    refresh_traits(now=datetime(2025, 12, 31, 16, 0, tzinfo=UTC))
    one = api.get("/api/customers/1/traits").json()
    assert one["computed_tags"] == ["复购"] and one["stages"] == {"school": "其他"}
    assert api.get("/api/customers/2/traits").json()["stages"] == {"school": "在学"}

    assert write(api, "delete", "/api/traits/stage-sets/school", {}, "k4").json() == {"deleted": "school"}
    gone = write(api, "delete", "/api/traits/stage-sets/school", {}, "k5")
    assert gone.status_code == 404 and "no stage set 'school'" in gone.json()["detail"]


def test_customer_list_filters_on_current_traits(people):
    api = people["operator"]
    assert api.get("/api/customers", {"rfm_layer": "important_value"}).json()["total"] == 0  # not computed
    write(
        api,
        "put",
        "/api/traits/computed-tags/复购",
        {"rule": {"field": "frequency", "op": ">=", "value": 2}},
        "k",
    )
    refresh_traits(now=datetime(2025, 12, 31, 16, 0, tzinfo=UTC))

    def ids(**filters):
        return sorted(r["customer_id"] for r in api.get("/api/customers", filters).json()["items"])

    assert ids(rfm_layer="important_value") == [1]
    assert ids(value_layer="waist") == [1, 7]
    assert ids(aipl_stage="interest") == [5, 6]
    assert ids(computed_tag="复购") == [1, 3, 7]
    assert ids(computed_tag="复购", value_layer="tail") == [3]
    assert ids(rfm_layer="no-such-layer") == []
