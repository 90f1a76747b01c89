from datetime import UTC, datetime

import pytest

from customers.sample_brand import make_brand
from siyu.core.errors import PermissionDenied
from siyu.core.models import AuditLog
from siyu.customers import actions
from siyu.customers.errors import CustomerNotFound
from siyu.customers.queries import get_profile, tag_groups, tags_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def brand(warehouse):
    return make_brand(warehouse)


def test_operator_profile_has_identities_orders_totals_in_clear_and_is_audited(brand):
    profile = get_profile(brand.operator, 1001)
    assert profile["pii_visible"] is True
    assert (profile["name"], profile["phone"], profile["email"]) == (
        "张三",
        "13812345678",
        "zhang.san@example.com",
    )
    assert profile["address"] == "浙江省杭州市西湖区文三路100号"
    assert [(i["source"], i["record_id"]) for i in profile["identities"]] == [
        ("taobao", "r1001"),
        ("wecom", "r1001"),
    ]
    assert all(i["phone"] == "13812345678" and i["name"] == "张三" for i in profile["identities"])
    orders = profile["orders"]
    assert [o["order_id"] for o in orders] == ["T3", "T2", "T1"]  # newest first
    assert orders[1]["amount"] == "80.50" and orders[1]["status_raw"] == "交易成功"
    assert [(i["product"], i["quantity"], i["amount"]) for i in orders[1]["items"]] == [
        ("精华", 1, "60.50"),
        ("小样", 2, "20.00"),
    ]
    assert orders[0]["status_class"] == "cancelled"
    assert profile["totals"] == {
        "first_purchase_at": datetime(2024, 3, 1, 10, tzinfo=UTC),
        "last_purchase_at": datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
        "orders": 2,
        "spend": "200.50",
        "aov": "100.25",
    }
    assert profile["acquisition_source"] == "taobao"
    assert profile["stage"] == "repeat"
    assert profile["owner"]["name"] == "王导购"
    audit = AuditLog.objects.get(action="view_pii")
    assert audit.actor == brand.operator and audit.target == "1001"


def test_profiles_opened_one_after_another_show_each_customers_own_records(brand):
    """The profile's queries are compiled once and run with each customer's id: every profile shows that
    customer's records, orders and events, never the previous one's."""
    for customer_id, sources, orders in (
        (1001, ["taobao", "wecom"], ["T3", "T2", "T1"]),
        (1002, ["jd"], ["J1"]),
        (1003, ["douyin"], []),
        (1001, ["taobao", "wecom"], ["T3", "T2", "T1"]),
    ):
        profile = get_profile(brand.operator, customer_id)
        assert profile["customer_id"] == customer_id
        assert [i["source"] for i in profile["identities"]] == sources
        assert [o["order_id"] for o in profile["orders"]] == orders
        events = [e for e in profile["timeline"] if e["kind"] == "event"]
        assert [e["event_type"] for e in events] == (["page_view"] if customer_id == 1001 else [])


def test_guide_sees_own_customer_masked_and_nothing_is_audited(brand):
    profile = get_profile(brand.guide1, 1001)
    assert profile["pii_visible"] is False
    assert (profile["name"], profile["phone"]) == ("张*", "138****5678")
    assert profile["email"] == "z***@example.com"
    assert profile["address"] == "浙江省杭州市****"
    for identity in profile["identities"]:
        assert identity["name"] == "张*" and identity["phone"] == "138****5678"
        assert "文三路" not in (identity["address"] or "")
    assert not AuditLog.objects.filter(action="view_pii").exists()


def test_guide_cannot_open_another_guides_customer(brand):
    with pytest.raises(PermissionDenied):
        get_profile(brand.guide1, 1002)
    with pytest.raises(PermissionDenied):
        get_profile(brand.guide1, 1004)  # nobody's customer


def test_manager_opens_customers_of_their_store_only(brand):
    assert get_profile(brand.manager, 1002)["customer_id"] == 1002
    with pytest.raises(PermissionDenied):
        get_profile(brand.manager, 1003)
    assert get_profile(brand.other_manager, 1003)["name"] == "王*"


def test_unknown_and_merged_customers(brand, warehouse):
    with pytest.raises(CustomerNotFound):
        get_profile(brand.operator, 999)
    warehouse.raw_connection().execute(
        "INSERT INTO merge_log VALUES ('run1', now(), 1001, 1500, 'phone', '')"
    )
    with pytest.raises(CustomerNotFound) as caught:
        get_profile(brand.operator, 1500)
    assert caught.value.merged_into == 1001 and "merged into customer 1001" in str(caught.value)


def test_tags_notes_consent_and_timeline(brand):
    op = brand.operator
    actions.add_tag(op, [1001], "金卡", group_name="会员等级")
    actions.add_tag(None, [1001], "高价值", source="import")
    actions.add_note(brand.guide1, 1001, "喜欢保湿类产品")
    actions.record_consent(op, 1001, "sms", "opt_in", "checkout", at=datetime(2024, 1, 1, tzinfo=UTC))
    actions.record_consent(
        brand.guide1, 1001, "sms", "opt_out", "wecom_chat", at=datetime(2024, 6, 1, tzinfo=UTC)
    )
    actions.record_consent(op, 1001, "wecom", "opt_in", "added_friend", at=datetime(2024, 2, 1, tzinfo=UTC))

    profile = get_profile(op, 1001)
    assert [(t["label"], t["source"]) for t in profile["tags"]] == [
        ("会员等级:金卡", "manual"),
        ("高价值", "import"),
    ]
    assert profile["consent"]["sms"]["status"] == "opt_out"
    assert profile["consent"]["sms"]["source"] == "wecom_chat"
    assert profile["consent"]["wecom"]["status"] == "opt_in"
    assert profile["notes"][0]["text"] == "喜欢保湿类产品" and profile["notes"][0]["author"] == "王导购"

    timeline = profile["timeline"]
    kinds = [entry["kind"] for entry in timeline]
    assert kinds.count("order") == 3 and kinds.count("event") == 1 and kinds.count("consent") == 3
    assert kinds[0] == "note"  # written just now
    times = [entry["at"] for entry in timeline]
    assert times == sorted(times, reverse=True)
    assert timeline[1]["kind"] == "consent" and timeline[1]["summary"] == "sms: opt_out"


def test_tag_groups_and_tags_of(brand):
    actions.add_tag(brand.operator, [1001, 1002], "会员等级:金卡")
    actions.add_tag(brand.operator, [1001], "高价值")
    groups = tag_groups()
    assert groups[0]["name"] == "会员等级"
    assert [(t["name"], t["customers"]) for t in groups[0]["tags"]] == [("金卡", 2)]
    assert groups[-1]["id"] is None and groups[-1]["tags"][0]["label"] == "高价值"
    assert [t["label"] for t in tags_of(1002)] == ["会员等级:金卡"]
