"""/api/identity/review in words, with what deciding changes; rules previewed and decided in one call; a
profile's joins."""

import json

import pyarrow as pa
import pytest

from api.test_api_customers import client_for, post
from customers.sample_brand import make_brand
from siyu.warehouse.schema import TABLES

pytestmark = pytest.mark.django_db

MASKED_PHONE = {"phone": "same phone (visible prefix and tail)", "name": "same surname and length", "address": "no address"}  # fmt: skip
PATTERN = "below|name=same surname and length;phone=same phone (visible prefix and tail)"
SHARED_PATTERN = "shared|address=same street (visible part);name=same surname and length"


def _insert(warehouse, table: str, rows: list[dict]) -> None:
    schema = TABLES[table].to_pyarrow()
    warehouse.backend().insert(table, pa.Table.from_pylist([{n: r.get(n) for n in schema.names} for r in rows], schema=schema))


@pytest.fixture
def brand(warehouse):
    brand = make_brand(warehouse)
    _insert(warehouse, "match_candidates", [
        {"run_id": "r1", "record_key_l": "douyin|r1003", "record_key_r": "jd|r1002", "customer_id_l": 1003,
         "customer_id_r": 1002, "match_probability": 0.96, "fields": json.dumps(MASKED_PHONE),
         "reason": "below the match threshold", "pattern": PATTERN, "queued": True},
        {"run_id": "r1", "record_key_l": "jd|r1002", "record_key_r": "pos|r1004", "customer_id_l": 1002,
         "customer_id_r": 1004, "match_probability": 0.94, "fields": json.dumps(MASKED_PHONE),
         "reason": "below the match threshold", "pattern": PATTERN, "queued": True},
        {"run_id": "r1", "record_key_l": "douyin|r1003", "record_key_r": "taobao|r1001", "customer_id_l": 1003,
         "customer_id_r": 1001, "match_probability": 0.89,
         "fields": json.dumps({"name": "same surname and length", "address": "same street (visible part)", "phone": "no phone"}),
         "reason": "below the match threshold", "pattern": SHARED_PATTERN, "queued": False},
    ])  # fmt: skip
    return brand


def test_entries_carry_words_weight_and_what_a_decision_moves(brand):
    page = client_for(brand.operator).get("/api/identity/review").json()
    assert (page["total"], page["waiting"], page["kept_apart"]) == (2, 2, 1)
    first, second = page["items"]
    # 1004's 300 yuan move to 1002 in the second most likely pair: it comes first
    assert first["impact"] == {"survivor_id": 1002, "absorbed_id": 1004, "customers_joined": 2, "orders_moved": 1,
                               "spend_moved": "300.00", "orders_after": 2, "spend_after": "399.00"}  # fmt: skip
    assert second["impact"]["absorbed_id"] == 1003 and second["impact"]["spend_moved"] == "0.00"
    assert first["match_weight"] == pytest.approx(3.97, abs=0.01)  # log2(0.94 / 0.06)
    assert first["reason_words"] == "把握不够，系统没有自动合并"
    assert first["rule_words"] == "打码手机号相同（前三位和后四位一致）、同姓、姓名字数相同（名字被打码）"
    words = {w["field"]: (w["words"], w["kind"]) for w in first["evidence_words"]}
    assert words["手机"] == ("打码手机号相同（前三位和后四位一致）", "agrees")
    assert words["姓名"] == ("同姓、姓名字数相同（名字被打码）", "shared")
    assert words["地址"] == ("一方没有地址", "missing")
    kept = client_for(brand.operator).get("/api/identity/review", {"kept_apart": True}).json()
    assert [i["pattern"] for i in kept["items"]] == [SHARED_PATTERN]
    assert client_for(brand.guide1).get("/api/identity/review/rules").status_code == 403


def test_a_rule_is_previewed_then_decided_in_one_call(brand, warehouse):
    op = client_for(brand.operator)
    rules = {r["pattern"]: r for r in op.get("/api/identity/review/rules").json()}
    rule = rules[PATTERN]
    assert (rule["entries"], rule["customers_fewer"], rule["orders_moved"], rule["spend_moved"], rule["queued"]) == (
        2, 2, 1, "300.00", True)  # fmt: skip
    assert rules[SHARED_PATTERN]["queued"] is False
    assert rule["words"] == "打码手机号相同（前三位和后四位一致）、同姓、姓名字数相同（名字被打码）"

    denied = post(client_for(brand.guide1), "/api/identity/review/rules/decide", {"pattern": PATTERN, "verdict": "same"}, "g1")
    assert denied.status_code == 403
    done = post(op, "/api/identity/review/rules/decide", {"pattern": PATTERN, "verdict": "different", "reason": "不同城市"}, "k1")
    assert done.status_code == 200
    assert (done.json()["decided"], done.json()["verdict"], done.json()["decided_by"]) == (2, "different", "op")
    replay = post(op, "/api/identity/review/rules/decide", {"pattern": PATTERN, "verdict": "different", "reason": "不同城市"}, "k1")
    assert replay.headers["Idempotent-Replayed"] == "true"
    rows = warehouse.raw_connection().execute("SELECT verdict, reason, rule, decided_by FROM match_decisions").fetchall()
    assert rows == [("different", "不同城市", PATTERN, "op")] * 2
    again = post(op, "/api/identity/review/rules/decide", {"pattern": PATTERN, "verdict": "same"}, "k2")
    assert again.status_code == 400 and "no pair" in again.json()["detail"]
    assert op.get("/api/identity/review").json()["waiting"] == 0


def test_the_profile_says_how_each_record_joined(brand, warehouse):
    _insert(warehouse, "identifiers", [
        {"record_key": "taobao|r1001", "source": "taobao", "id_type": "phone", "value_hash": "hash-1", "strong": True},
        {"record_key": "wecom|r1001", "source": "wecom", "id_type": "phone", "value_hash": "hash-1", "strong": True},
    ])  # fmt: skip
    body = client_for(brand.guide1).get("/api/customers/1001").json()
    assert body["joins"] == [
        {"record_key": "wecom|r1001", "joined_to": "taobao|r1001", "how": "identifier", "words": "手机号相同",
         "id_types": ["phone"], "match_probability": None, "match_weight": None, "fields": {}, "agreed": [],
         "rule": None, "decided_by": None, "decided_at": None, "reason": ""}
    ]  # fmt: skip
    assert "hash-1" not in json.dumps(body)
    _insert(warehouse, "match_links", [
        {"run_id": "r1", "record_key_l": "jd|r1002", "record_key_r": "pos|r1004", "how": "auto_rule",
         "rule": "masked_phone_and_surname", "match_probability": 0.96, "fields": json.dumps(MASKED_PHONE)},
    ])  # fmt: skip
    warehouse.raw_connection().execute("UPDATE customer_map SET customer_id = 1002 WHERE record_key = 'pos|r1004'")
    [join] = client_for(brand.operator).get("/api/customers/1002").json()["joins"]
    assert (join["how"], join["joined_to"], join["rule"], join["match_probability"]) == (
        "auto_rule", "jd|r1002", "masked_phone_and_surname", 0.96)  # fmt: skip
    assert join["words"] == "按自动规则“打码手机号相同（前三位和后四位一致）、同姓、姓名字数相同（名字被打码）”合并"
    assert join["agreed"] == ["打码手机号相同（前三位和后四位一致）", "同姓、姓名字数相同（名字被打码）"]


def test_the_quarantine_list_in_words_for_reviewers_only(brand, warehouse):
    from datetime import UTC, datetime

    _insert(warehouse, "quarantined_identifiers", [
        {"run_id": "r1", "id_type": "phone", "value_hash": "hash-of-landline", "records": 44, "sources": "pos,youzan",
         "rule": "member_names", "names": 44, "rule_limit": 5, "value_hint": "021****8888",
         "example_record": "taobao|r1001", "since": datetime(2026, 12, 1, 2, 30, tzinfo=UTC)},
        {"run_id": "r1", "id_type": "alipay", "value_hash": "hash-of-stars", "records": 4922, "sources": "tmall",
         "rule": "placeholder", "names": 4000, "value_hint": "**", "since": datetime(2026, 12, 2, tzinfo=UTC)},
    ])  # fmt: skip
    response = client_for(brand.operator).get("/api/identity/quarantine?page_size=1")
    assert response.status_code == 200
    body = response.json()
    assert (body["total"], body["page"], body["page_size"]) == (2, 1, 1)
    [first] = body["items"]  # most records first
    assert (first["type_words"], first["value_hint"], first["records"]) == ("支付宝账号", "**", 4922)
    assert first["reason_words"] == "早先的导入把占位符或填充值当作了标识"
    second = client_for(brand.operator).get("/api/identity/quarantine?page=2&page_size=1").json()["items"][0]
    assert (second["sources"], second["example_customer"]) == (["pos", "youzan"], 1001)
    assert "出现在 44 个不同姓名的会员或联系人记录上（上限 5 个）" in second["reason_words"]
    assert "hash-of" not in response.content.decode()
    assert client_for(brand.guide1).get("/api/identity/quarantine").status_code == 403
