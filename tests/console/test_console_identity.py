"""The match review page and manual merge / split / undo on the profile."""

import json

import pyarrow as pa
import pytest
from django.urls import reverse

from siyu.warehouse.schema import TABLES


@pytest.fixture
def queue(filled_warehouse, warehouse):
    row = {"run_id": "r1", "record_key_l": "douyin_shop|D-7003", "record_key_r": "store_pos|M-0002",
           "customer_id_l": 1003, "customer_id_r": 1002, "match_probability": 0.93,
           "fields": json.dumps({"phone": "different phones", "name": "same surname and length"}), "reason": "below the match threshold"}  # fmt: skip
    warehouse.backend().insert(
        "match_candidates", pa.Table.from_pylist([row], schema=TABLES["match_candidates"].to_pyarrow())
    )


def _decisions(warehouse):
    return (
        warehouse.raw_connection()
        .execute("SELECT record_key_a, record_key_b, verdict FROM match_decisions")
        .fetchall()
    )


def test_review_page_lists_pairs_side_by_side_and_records_a_verdict(admin_client, queue, warehouse):
    page = admin_client.get(reverse("console:identity_review"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "身份核对" in html and "D-7003" in html and "M-0002" in html and "匹配概率 0.930" in html
    response = admin_client.post(
        reverse("console:identity_decide"),
        {"record_key_a": "douyin_shop|D-7003", "record_key_b": "store_pos|M-0002", "verdict": "different"},
    )
    assert response.status_code == 302
    assert _decisions(warehouse) == [("douyin_shop|D-7003", "store_pos|M-0002", "different")]


def test_guides_cannot_review_or_merge(guide1_client, queue, warehouse):
    assert guide1_client.get(reverse("console:identity_review")).status_code == 403
    response = guide1_client.post(
        reverse("console:customer_identity", args=[1001]), {"op": "merge", "other_id": 1002, "reason": "x"}
    )
    assert response.status_code == 403
    assert (
        "identity-history" not in guide1_client.get(reverse("console:customer", args=[1001])).content.decode()
    )
    assert _decisions(warehouse) == []


def test_profile_merge_needs_a_reason_then_is_stored(operator_client, filled_warehouse, warehouse):
    profile = operator_client.get(reverse("console:customer", args=[1001])).content.decode()
    assert "合并与拆分" in profile and "没有合并或拆分记录。" in profile
    url = reverse("console:customer_identity", args=[1001])
    operator_client.post(url, {"op": "merge", "other_id": 1002, "reason": " "})
    assert _decisions(warehouse) == []
    operator_client.post(url, {"op": "merge", "other_id": 1002, "reason": "同一手机号来电确认"})
    assert [v for _, _, v in _decisions(warehouse)] == ["same"]
