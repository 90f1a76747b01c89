"""/api/identity: review queue, decisions, manual merge, split and undo."""

import json

import pyarrow as pa
import pytest

from api.test_api_customers import client_for, post
from customers.sample_brand import make_brand
from siyu.identity.queries import records_of
from siyu.warehouse.schema import TABLES

pytestmark = pytest.mark.django_db


@pytest.fixture
def brand(warehouse):
    brand = make_brand(warehouse)
    a, b = records_of(1001)[0]["record_key"], records_of(1002)[0]["record_key"]
    row = {"run_id": "r1", "record_key_l": a, "record_key_r": b, "customer_id_l": 1001, "customer_id_r": 1002,
           "match_probability": 0.97, "fields": json.dumps({"phone": "same phone (visible prefix and tail)", "name": "same full name"}), "reason": "below the match threshold"}  # fmt: skip
    warehouse.backend().insert(
        "match_candidates", pa.Table.from_pylist([row], schema=TABLES["match_candidates"].to_pyarrow())
    )
    brand.keys = (a, b)
    return brand


def test_review_queue_shows_both_records_and_the_evidence_in_words(brand):
    page = client_for(brand.operator).get("/api/identity/review").json()
    assert page["total"] == 1
    [item] = page["items"]
    assert (item["customer_id_l"], item["customer_id_r"], item["match_probability"]) == (1001, 1002, 0.97)
    assert item["left"]["record_key"] == brand.keys[0] and item["right"]["source"]
    assert item["evidence"] == {"phone": "same phone (visible prefix and tail)", "name": "same full name"}
    assert client_for(brand.guide1).get("/api/identity/review").status_code == 403


def test_decisions_merge_split_and_undo_are_validated_and_stored(brand, warehouse):
    op = client_for(brand.operator)
    a, b = brand.keys
    r = post(op, "/api/identity/decisions", {"record_key_a": b, "record_key_b": a, "verdict": "same"}, "k1")
    assert r.status_code == 200 and r.json()["verdict"] == "same"
    assert (r.json()["record_key_a"], r.json()["record_key_b"]) == tuple(sorted((a, b)))
    replay = post(
        op, "/api/identity/decisions", {"record_key_a": b, "record_key_b": a, "verdict": "same"}, "k1"
    )
    assert replay.headers["Idempotent-Replayed"] == "true"

    assert (
        post(
            op, "/api/identity/merge", {"customer_id": 1001, "other_id": 1003, "reason": ""}, "k2"
        ).status_code
        == 422
    )
    assert (
        post(
            op,
            "/api/identity/merge",
            {"customer_id": 1001, "other_id": 1003, "reason": "same phone call"},
            "k3",
        ).status_code
        == 200
    )
    nul = post(op, "/api/identity/decisions", {"record_key_a": a, "record_key_b": "pos|x\u0000", "verdict": "same"}, "k7")
    assert nul.status_code == 422 and nul.json()["detail"][0]["loc"] == ["body"]  # refused before the database
    bad = post(op, "/api/identity/split", {"customer_id": 1001, "record_key": b, "reason": "not her"}, "k4")
    assert bad.status_code == 400 and "does not belong" in bad.json()["detail"]
    assert post(op, "/api/identity/undo", {"absorbed_id": 1002, "reason": "why"}, "k5").status_code == 400
    denied = post(
        client_for(brand.guide1),
        "/api/identity/merge",
        {"customer_id": 1001, "other_id": 1003, "reason": "x"},
        "k6",
    )
    assert denied.status_code == 403
    verdicts = (
        warehouse.raw_connection().execute("SELECT verdict, decided_by FROM match_decisions").fetchall()
    )
    assert verdicts == [("same", "op"), ("same", "op")]
