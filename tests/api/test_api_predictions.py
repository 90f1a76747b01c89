"""/api/customers/{id}/predictions and /api/predictions/…, on the synthetic brand of
tests/segments/prediction_data.py (predicted once per session: the `predicted` fixture)."""

import json

import pytest
from django.test import Client

from segments.traits_data import write_brand
from siyu.api.actions import create_token
from siyu.customers.models import CustomerState
from siyu.staff.actions import create_user, ensure_store
from siyu.warehouse.summary import rebuild_customer_summary

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    return Client(headers={"Authorization": f"Bearer {create_token(user, 'tests')}"})


@pytest.fixture
def clients(db):
    store = ensure_store("SH01", "上海店", "上海")
    operator = create_user("op", "pw-oper-1", "operator")
    guide = create_user("g1", "pw-guide-1", "guide", store=store)
    CustomerState.objects.create(customer_id=2, owner=guide)
    return {"operator": client_for(operator), "guide": client_for(guide)}


def test_a_customers_predictions(predicted, clients):
    body = clients["operator"].get("/api/customers/2/predictions").json()
    assert body["customer_id"] == 2 and body["horizon_days"] == 30 and 0 < body["p_purchase"] < 1
    assert body["as_of"].startswith("2026-05-31T16:00:00")
    assert float(body["clv"]) > 0 and float(body["expected_aov"]) > 0 and 0 < body["p_alive"] <= 1
    # a guide sees the predictions of their own customers only
    assert clients["guide"].get("/api/customers/2/predictions").status_code == 200
    assert clients["guide"].get("/api/customers/4/predictions").status_code == 403
    other_day = clients["operator"].get("/api/customers/2/predictions", {"as_of": "2026-01-01"})
    assert other_day.status_code == 404 and "siyu predict --as-of 2026-01-01" in other_day.json()["detail"]


def test_calibration_and_runs(predicted, clients):
    api = clients["operator"]
    runs = api.get("/api/predictions/runs").json()
    assert len(runs) == 1 and runs[0]["current"] and runs[0]["customers"] == predicted["report"]["customers"]
    body = api.get("/api/predictions/calibration").json()
    check = body["report"]["calibration"]
    assert check["auc"] > 0.75 and len(check["lift"]) == 10 and check["reliability"]
    assert body["report"]["clv_calibration"]["by_repeat_purchases"]
    assert body["settings"]["horizon_days"] == 30
    assert clients["guide"].get("/api/predictions/calibration").status_code == 403


def test_before_any_prediction_the_api_says_how_to_compute_them(warehouse, clients):
    write_brand(warehouse.backend())
    rebuild_customer_summary()
    missing = clients["operator"].get("/api/customers/1/predictions")
    assert missing.status_code == 404 and "siyu predict" in missing.json()["detail"]
    assert clients["operator"].get("/api/predictions/calibration").status_code == 404


def test_a_refresh_is_a_job_for_the_server(warehouse, clients):
    write_brand(warehouse.backend())
    rebuild_customer_summary()
    post = clients["operator"].post(
        "/api/predictions/runs", data=json.dumps({"horizon_days": 14}), content_type="application/json",
        headers={"Idempotency-Key": "p-1"},
    )  # fmt: skip
    assert post.status_code == 202
    body = post.json()
    # the tests' task backend runs the job at once: this brand has too little history
    assert body["status"] == "failed"
    from siyu.core.models import Job

    job = Job.objects.get(pk=body["job_id"])
    assert job.kind == "predict" and job.params == {"horizon_days": 14} and "too little history" in job.error
    bad = clients["operator"].post(
        "/api/predictions/runs", data=json.dumps({"as_of": "2999-01-01"}), content_type="application/json",
        headers={"Idempotency-Key": "p-2"},
    )  # fmt: skip
    assert bad.status_code == 400 and "future" in bad.json()["detail"]
    guide = clients["guide"].post(
        "/api/predictions/runs",
        data="{}",
        content_type="application/json",
        headers={"Idempotency-Key": "p-3"},
    )
    assert guide.status_code == 403
