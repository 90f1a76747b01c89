"""The quarantined identifiers page: what the guard keeps out of linking and what imports did not take as
identifiers, in Chinese words, for administrators and operators only."""

import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from django.urls import reverse

from siyu.warehouse.schema import TABLES


@pytest.fixture
def quarantine(filled_warehouse, warehouse):
    rows = [
        {"run_id": "r1", "id_type": "phone", "value_hash": "hash-of-landline", "records": 44, "sources": "pos,youzan",
         "reason": "on 44 member/contact records with 44 different names (limit 5)", "rule": "member_names",
         "names": 44, "rule_limit": 5, "value_hint": "021****8888", "example_record": "store_pos|M-0002",
         "since": datetime(2026, 12, 1, 2, 30, tzinfo=UTC)},
        {"run_id": "r1", "id_type": "alipay", "value_hash": "hash-of-stars", "records": 4922, "sources": "tmall",
         "reason": "a placeholder or filler stored by an earlier import", "rule": "placeholder", "names": 4000,
         "rule_limit": None, "value_hint": "**", "example_record": None, "since": datetime(2026, 12, 2, tzinfo=UTC)},
    ]  # fmt: skip
    con = warehouse.backend()
    con.insert(
        "quarantined_identifiers",
        pa.Table.from_pylist(rows, schema=TABLES["quarantined_identifiers"].to_pyarrow()),
    )
    batch = {"batch_id": "b1", "source": "tmall", "format": "taobao", "file_name": "tb.csv",
             "not_identifiers": json.dumps([{"column": "买家支付宝账号", "id_type": "alipay", "reason": "placeholder", "records": 2605}])}  # fmt: skip
    con.insert("import_batches", pa.Table.from_pylist([batch], schema=TABLES["import_batches"].to_pyarrow()))


def test_operators_see_quarantined_values_in_words(operator_client, quarantine):
    page = operator_client.get(reverse("console:identity_quarantine"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "隔离的标识" in html
    # most records first; type in words, masked value, reason in words, when, an example customer
    assert html.index("支付宝账号") < html.index("手机号")
    assert "021****8888" in html and "<code>**</code>" in html
    assert "出现在 44 个不同姓名的会员或联系人记录上（上限 5 个）" in html
    assert "早先的导入把占位符或填充值当作了标识" in html
    assert "2026-12-01 10:30" in html  # since, in Asia/Shanghai
    assert reverse("console:customer", args=[1002]) in html
    assert "hash-of" not in html  # no hashes on screen
    # what imports did not take as identifiers
    assert "买家支付宝账号" in html and "占位符或填充值" in html and "2,605" in html
    assert "member_names" not in html and "placeholder" not in html


def test_guides_may_not_see_it(guide1_client, quarantine):
    assert guide1_client.get(reverse("console:identity_quarantine")).status_code == 403


def test_the_page_is_linked_from_the_navigation_and_empty_when_nothing_is_quarantined(
    admin_client, filled_warehouse
):
    html = admin_client.get(reverse("console:identity_quarantine")).content.decode()
    assert "没有被隔离的标识。" in html and "目前导入的标识值都合理。" in html
    assert (
        reverse("console:identity_quarantine")
        in admin_client.get(reverse("console:dashboard")).content.decode()
    )


def test_an_import_report_says_which_values_were_not_identifiers(admin_client, staff):
    from siyu.core.models import Job

    entry = {"column": "买家支付宝账号", "id_type": "alipay", "reason": "placeholder", "records": 2605}
    job = Job.objects.create(
        kind="import",
        status="done",
        created_by=staff["admin"],
        result={"rows_read": 2605, "imported": 2605, "duplicates": 0, "rejected": 0,
                "files": [{"file": "/x/tb.csv", "format": "taobao", "rows_read": 2605, "imported": 2605,
                           "duplicates": 0, "rejected": 0, "error": None, "not_identifiers": [entry]}]},
    )  # fmt: skip
    html = admin_client.get(reverse("console:job", args=[job.pk])).content.decode()
    assert "tb.csv：买家支付宝账号 列中有 2,605 个值不是标识：占位符或填充值" in html
    assert reverse("console:identity_quarantine") in html
