"""The review queue in the operator's words, decided pair by pair or by rule, and the profile's account
of why its records are one customer."""

import json
import re

import pyarrow as pa
import pytest
from django.urls import reverse

from siyu.identity.evidence import pattern_id
from siyu.warehouse.schema import TABLES

MASKED_PHONE = {"phone": "same phone (visible prefix and tail)", "name": "same surname and length",
                "address": "no address", "birthday": "no birthday"}  # fmt: skip
SHARED_ONLY = {"phone": "no phone", "name": "same surname and length", "address": "same street (visible part)"}
PATTERN = "below|name=same surname and length;phone=same phone (visible prefix and tail)"
SHARED_PATTERN = "shared|address=same street (visible part);name=same surname and length"
# what must never reach a page: the model's level labels, reason codes, field names
CODES = ("same phone", "same surname", "below the match threshold", "no address", "phone_full", "conflict:")


def _insert(warehouse, table: str, rows: list[dict]) -> None:
    schema = TABLES[table].to_pyarrow()
    full = [{name: row.get(name) for name in schema.names} for row in rows]
    warehouse.backend().insert(table, pa.Table.from_pylist(full, schema=schema))


@pytest.fixture
def queue(filled_warehouse, warehouse):
    _insert(warehouse, "match_candidates", [
        {"run_id": "r1", "record_key_l": "douyin_shop|D-7003", "record_key_r": "tmall_flagship|T-9001",
         "customer_id_l": 1003, "customer_id_r": 1001, "match_probability": 0.95, "fields": json.dumps(MASKED_PHONE),
         "reason": "below the match threshold", "pattern": PATTERN, "queued": True},
        {"run_id": "r1", "record_key_l": "store_pos|M-0002", "record_key_r": "tmall_flagship|T-9001",
         "customer_id_l": 1002, "customer_id_r": 1001, "match_probability": 0.90, "fields": json.dumps(MASKED_PHONE),
         "reason": "below the match threshold", "pattern": PATTERN, "queued": True},
        {"run_id": "r1", "record_key_l": "douyin_shop|D-7003", "record_key_r": "store_pos|M-0002",
         "customer_id_l": 1003, "customer_id_r": 1002, "match_probability": 0.89, "fields": json.dumps(SHARED_ONLY),
         "reason": "below the match threshold", "pattern": SHARED_PATTERN, "queued": False},
    ])  # fmt: skip


def _decisions(warehouse):
    con = warehouse.raw_connection()
    return con.execute("SELECT record_key_a, record_key_b, verdict, decided_by, rule FROM match_decisions").fetchall()


def test_the_queue_speaks_chinese_and_puts_the_largest_move_first(admin_client, queue):
    html = admin_client.get(reverse("console:identity_review")).content.decode()
    assert "2 对客户可能是同一人" in html
    assert "打码手机号相同（前三位和后四位一致）" in html and "同姓、姓名字数相同（名字被打码）" in html
    assert "把握不够，系统没有自动合并" in html
    # 1002's order moves to 1001 in the less likely pair: it comes first; 1003 has no orders to move
    assert html.index("#1002 的 1 笔订单") < html.index("#1003 的 0 笔订单")
    assert "并入 #1001，合并后共 3 笔订单" in html
    assert not [code for code in CODES if code in html], "codes on the page"
    # the rule, its size and its preview, and the pairs kept apart with the reason
    assert "按证据批量判定" in html and "全部是同一人（2 对）" in html and "客户减少 2 位" in html
    assert "1 对客户保持分开" in html and "同一街道（地址可见部分相同）" in html


def test_a_rule_decides_all_its_pairs_with_who_and_which_rule(admin_client, staff, queue, warehouse):
    from django.test import Client

    url = reverse("console:identity_decide_rule")
    rule = pattern_id(PATTERN)
    guide = Client()
    guide.force_login(staff["guide1"])
    assert guide.post(url, {"rule": rule, "verdict": "same"}).status_code == 403
    assert _decisions(warehouse) == []
    response = admin_client.post(url, {"rule": rule, "verdict": "same"}, follow=True)
    html = response.content.decode()
    assert "已按规则“打码手机号相同（前三位和后四位一致）、同姓、姓名字数相同（名字被打码）”把 2 对客户判为同一人" in html
    assert sorted(_decisions(warehouse)) == [
        ("douyin_shop|D-7003", "tmall_flagship|T-9001", "same", "admin", PATTERN),
        ("store_pos|M-0002", "tmall_flagship|T-9001", "same", "admin", PATTERN),
    ]
    # decided pairs leave the queue at once; the decisions wait for the next resolution
    assert "全部是同一人（2 对）" not in html and "已有 2 个判定，将在下次身份识别时生效。" in html
    again = admin_client.post(url, {"rule": rule, "verdict": "same"}, follow=True).content.decode()
    assert "这类证据已经没有等待判定的客户对。" in again and len(_decisions(warehouse)) == 2


def test_only_one_rule_filters_the_queue(admin_client, queue):
    html = admin_client.get(reverse("console:identity_review"), {"rule": pattern_id(PATTERN)}).content.decode()
    assert "只看这类证据的配对" in html and html.count('class="card review-pair"') == 2
    kept = admin_client.get(reverse("console:identity_review"), {"rule": pattern_id(SHARED_PATTERN), "kept": "1"})
    assert kept.content.decode().count('class="card review-pair"') == 1


@pytest.fixture
def joined(filled_warehouse, warehouse):
    """1001's two records joined by a scored link; nothing else links them."""
    _insert(warehouse, "match_links", [
        {"run_id": "r1", "record_key_l": "tmall_flagship|T-9001", "record_key_r": "youzan_shop|Y-5001",
         "how": "match", "match_probability": 0.9991,
         "fields": json.dumps({"phone": "same phone (visible prefix and tail)", "name": "same surname and length",
                               "address": "no address"})},
    ])  # fmt: skip


def _joins_card(html: str) -> str:
    return re.search(r'<section class="card joins" id="joins">(.*?)</section>', html, re.S).group(1)


def test_the_profile_says_which_match_joined_each_record(operator_client, joined):
    card = _joins_card(operator_client.get(reverse("console:customer", args=[1001])).content.decode())
    assert "为什么这些记录是同一位客户" in card
    # each record by its channel's name, not the source's code name (youzan_shop, tmall_flagship)
    assert "有赞 订单 Y-5001 · 张伟" in card and "淘宝 / 天猫 订单 T-9001 · 张伟" in card
    assert "按下面的信息匹配合并" in card and "匹配概率 0.9991，权重 10.1" in card
    assert "一致的信息" in card and "打码手机号相同（前三位和后四位一致）" in card
    assert not [code for code in CODES if code in card]


def test_the_evidence_is_masked_for_a_role_without_pii(guide1_client, joined):
    card = _joins_card(guide1_client.get(reverse("console:customer", args=[1001])).content.decode())
    # (the fixture's Youzan record is stored unmasked; the Tmall one is masked as platforms do)
    assert "淘宝 / 天猫 订单 T-9001 · 张*" in card and "13812345678" not in card


def test_an_identifier_join_names_the_identifier_type_never_its_value(operator_client, filled_warehouse, warehouse):
    _insert(warehouse, "identifiers", [
        {"record_key": "tmall_flagship|T-9001", "source": "tmall_flagship", "id_type": "phone", "value_hash": "hash-of-phone", "strong": True},
        {"record_key": "youzan_shop|Y-5001", "source": "youzan_shop", "id_type": "phone", "value_hash": "hash-of-phone", "strong": True},
    ])  # fmt: skip
    html = operator_client.get(reverse("console:customer", args=[1001])).content.decode()
    card = _joins_card(html)
    assert "手机号相同" in card and "hash-of-phone" not in html
    single = operator_client.get(reverse("console:customer", args=[1002])).content.decode()
    assert "这位客户只有一条记录。" in _joins_card(single)
