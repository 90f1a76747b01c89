"""The segment pages: list, builder with the live count (htmx), the segment page with members, history and
export, and who may use them."""

from datetime import UTC, datetime

import pytest

from segments.traits_data import write_brand
from siyu.segments.models import Segment
from siyu.warehouse.summary import rebuild_customer_summary

pytestmark = pytest.mark.django_db
NOW = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)
RULE = '{"field": "province", "op": "=", "value": "上海"}'


@pytest.fixture
def brand(warehouse, staff):
    write_brand(warehouse.backend())
    warehouse.raw_connection().execute(
        "UPDATE records SET province = '上海' WHERE record_key IN ('shop|r1', 'shop|r2')"
    )
    rebuild_customer_summary(now=NOW)
    return warehouse


def test_the_builder_counts_live_and_names_the_bad_part(operator_client, brand):
    page = operator_client.get("/segments/new/").content.decode()
    assert "新建人群" in page and 'hx-post="/segments/preview/"' in page
    live = operator_client.post("/segments/preview/", {"rule": RULE}).content.decode()
    assert "2 位客户符合" in live and 'href="/customers/1/"' in live
    bad = operator_client.post("/segments/preview/", {"rule": '{"all": [{"spent": {}}]}'}).content.decode()
    assert "rule.all[0].spent.at_least" in bad
    broken = operator_client.post("/segments/preview/", {"rule": "{"}).content.decode()
    assert "not valid JSON" in broken


def test_the_point_and_click_builder_offers_every_rule_field_with_its_operators(operator_client, brand):
    import json
    import re

    from siyu.segments import rules

    page = operator_client.get("/segments/new/").content.decode()
    assert "data-rule-builder" in page and "segment_builder.js" in page
    catalog = json.loads(re.search(r'<script id="rule-catalog" type="application/json">(.*?)</script>', page, re.S)[1])
    offered = {f["name"]: f for f in catalog["fields"]}
    every = {**rules.FIELDS, **rules.PROFILE_FIELDS, **rules.PREDICTION_FIELDS}
    assert offered.keys() == every.keys()
    assert all(set(f["ops"]) == rules.OPS[every[name]] for name, f in offered.items())
    # coded fields offer their codes under the console's words; the known channels come from the imports
    assert ["important_value", "重要价值客户"] in offered["rfm_layer"]["choices"]
    assert catalog["sources"] == [["shop", "shop"]] and catalog["text"]["not"] == "不满足"
    # a rule the builder writes is one the server takes
    written = {"all": [{"field": "value_layer", "op": "in", "value": ["top"]},
                       {"not": {"bought": {"within_days": 60, "at_least": 1, "source": "shop"}}}]}  # fmt: skip
    assert "位客户符合" in operator_client.post("/segments/preview/", {"rule": json.dumps(written)}).content.decode()


def test_save_refresh_members_history_export_delete(operator_client, brand):
    refused = operator_client.post("/segments/new/", {"name": "上海", "kind": "rule", "rule": "[]",
                                                      "refresh": "after_resolve"})  # fmt: skip
    assert refused.status_code == 400 and "a condition is one object" in refused.content.decode()
    saved = operator_client.post(
        "/segments/new/", {"name": "上海", "kind": "rule", "rule": RULE, "refresh": "manual"}
    )
    segment = Segment.objects.get(name="上海")
    assert saved.status_code == 302 and saved["Location"] == f"/segments/{segment.pk}/"
    operator_client.post(f"/segments/{segment.pk}/refresh/")
    page = operator_client.get(f"/segments/{segment.pk}/").content.decode()
    assert "成员 (2)" in page and "进入" in page and "导出 CSV" in page
    assert "上海" in operator_client.get("/segments/").content.decode()
    export = operator_client.get(f"/segments/{segment.pk}/export/?format=csv")
    body = b"".join(export.streaming_content).decode()
    assert body.splitlines()[0].startswith("customer_id,entered_at") and len(body.splitlines()) == 3
    operator_client.post(f"/segments/{segment.pk}/delete/")
    assert not Segment.objects.exists()


def test_a_static_list_upload_reports_bad_ids(operator_client, brand):
    from django.core.files.uploadedfile import SimpleUploadedFile

    def upload(content: bytes):
        return operator_client.post("/segments/new/", {
            "name": "名单", "kind": "static", "refresh": "manual", "rule": "",
            "file": SimpleUploadedFile("ids.csv", content),
        })  # fmt: skip

    bad = upload(b"customer_id\n1\nx9\n")
    assert bad.status_code == 400 and "line 3: &#x27;x9&#x27;" in bad.content.decode()
    unknown = upload(b"customer_id\n1\n404\n")
    assert unknown.status_code == 400 and "not customers: 404" in unknown.content.decode()
    assert upload(b"customer_id\n1\n2\n").status_code == 302
    assert Segment.objects.get(name="名单").static_ids == [1, 2]


def test_guides_cannot_open_segments(guide1_client, brand):
    assert guide1_client.get("/segments/").status_code == 403
    assert guide1_client.post("/segments/preview/", {"rule": RULE}).status_code == 403


def test_the_daily_refresh_is_set_on_the_segments_page(operator_client, staff, brand):
    from datetime import time

    from django.test import Client

    from siyu.segments.models import RefreshSchedule

    page = operator_client.get("/segments/").content.decode()
    assert "每日刷新" in page and 'value="03:00"' in page
    operator_client.post("/segments/schedule/", {"at": "05:30"})  # the box unticked: off
    schedule = RefreshSchedule.current()
    assert schedule.at == time(5, 30) and not schedule.enabled
    operator_client.post("/segments/schedule/", {"at": "06:00", "enabled": "1"})
    assert RefreshSchedule.current().enabled and RefreshSchedule.current().at == time(6, 0)
    bad = operator_client.post("/segments/schedule/", {"at": "25:99", "enabled": "1"}, follow=True)
    assert "HH:MM" in bad.content.decode() and RefreshSchedule.current().at == time(6, 0)
    guide = Client()
    guide.force_login(staff["guide1"])
    assert guide.post("/segments/schedule/", {"at": "01:00", "enabled": "1"}).status_code == 403
    assert RefreshSchedule.current().at == time(6, 0)
