from datetime import UTC, datetime

import pytest

from customers.sample_brand import make_brand
from siyu.core.errors import PermissionDenied
from siyu.customers import actions
from siyu.customers.errors import CustomerError, CustomerNotFound
from siyu.customers.models import CustomerState, CustomerTag, Tag, TagGroup
from siyu.customers.queries import consent_of, is_opted_out, list_customers, tags_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def brand(warehouse):
    return make_brand(warehouse)


def labels(customer_id):
    return [t["label"] for t in tags_of(customer_id)]


def test_bulk_tagging_is_idempotent(brand):
    op = brand.operator
    assert actions.add_tag(op, [1001, 1002, 1003], "金卡", group_name="会员等级") == 3
    assert actions.add_tag(op, [1001, 1002, 1003, 1004], "会员等级:金卡") == 1  # only 1004 is new
    assert CustomerTag.objects.count() == 4 and TagGroup.objects.count() == 1 and Tag.objects.count() == 1
    assert actions.remove_tag(op, [1001, 1002], "会员等级:金卡") == 2
    assert actions.remove_tag(op, [1001, 1002], "金卡", group_name="会员等级") == 0
    assert actions.remove_tag(op, [1001], "从未有过的标签") == 0
    assert labels(1003) == ["会员等级:金卡"] and labels(1001) == []


def test_tagging_an_unknown_customer_changes_nothing(brand):
    with pytest.raises(CustomerNotFound):
        actions.add_tag(brand.operator, [1001, 424242], "高价值")
    assert CustomerTag.objects.count() == 0


def test_guide_tags_and_notes_only_their_own_customers(brand):
    assert actions.add_tag(brand.guide1, [1001], "爱聊天") == 1
    actions.add_note(brand.guide1, 1001, "周末到店")
    with pytest.raises(PermissionDenied):
        actions.add_tag(brand.guide1, [1001, 1002], "爱聊天")
    with pytest.raises(PermissionDenied):
        actions.add_note(brand.guide1, 1002, "不是我的客户")
    with pytest.raises(PermissionDenied):
        actions.remove_tag(brand.guide2, [1001], "爱聊天")
    assert labels(1001) == ["爱聊天"] and labels(1002) == []
    assert actions.add_tag(brand.manager, [1001, 1002], "门店活动") == 2
    with pytest.raises(PermissionDenied):
        actions.add_tag(brand.manager, [1003], "门店活动")


def test_bad_input_is_refused_with_a_reason(brand):
    with pytest.raises(CustomerError, match="empty"):
        actions.add_tag(brand.operator, [1001], "  ")
    with pytest.raises(CustomerError, match="channel"):
        actions.record_consent(brand.operator, 1001, "carrier_pigeon", "opt_in", "form")
    with pytest.raises(CustomerError, match="status"):
        actions.record_consent(brand.operator, 1001, "sms", "maybe", "form")
    with pytest.raises(CustomerError, match="source"):
        actions.record_consent(brand.operator, 1001, "sms", "opt_in", "")
    with pytest.raises(CustomerError, match="empty"):
        actions.add_note(brand.operator, 1001, "   ")


def test_latest_consent_wins(brand):
    op = brand.operator
    actions.record_consent(op, 1001, "sms", "opt_in", "checkout", at=datetime(2024, 3, 1, tzinfo=UTC))
    assert not is_opted_out(1001, "sms")
    actions.record_consent(op, 1001, "sms", "opt_out", "replied TD", at=datetime(2024, 4, 1, tzinfo=UTC))
    assert is_opted_out(1001, "sms") and consent_of(1001)["sms"]["source"] == "replied TD"
    # a late-arriving older record is kept as history but does not override
    actions.record_consent(op, 1001, "sms", "opt_in", "old form", at=datetime(2024, 2, 1, tzinfo=UTC))
    assert consent_of(1001)["sms"]["status"] == "opt_out"
    # an opt-out from every channel stops WeCom too, until the customer opts in again
    actions.record_consent(op, 1001, "all", "opt_out", "hotline", at=datetime(2024, 5, 1, tzinfo=UTC))
    assert is_opted_out(1001, "wecom")
    actions.record_consent(op, 1001, "wecom", "opt_in", "added_friend", at=datetime(2024, 6, 1, tzinfo=UTC))
    assert not is_opted_out(1001, "wecom") and is_opted_out(1001, "sms")


def test_assigning_owners(brand):
    assert actions.assign_owner(brand.operator, [1004], brand.guide2) == 1
    assert [r["customer_id"] for r in list_customers(brand.guide2).items] == [1002, 1004]
    assert actions.assign_owner(brand.operator, [1004], brand.guide2) == 0
    with pytest.raises(PermissionDenied):
        actions.assign_owner(brand.guide1, [1001], brand.guide2)
    with pytest.raises(PermissionDenied):
        actions.assign_owner(brand.manager, [1001], brand.guide3)  # a guide of another store
    with pytest.raises(PermissionDenied):
        actions.assign_owner(brand.manager, [1003], brand.guide1)  # a customer of another store
    assert actions.assign_owner(brand.manager, [1001, 1002], brand.guide1, lock=True) == 1
    assert set(CustomerState.objects.filter(owner=brand.guide1).values_list("customer_id", flat=True)) == {
        1001,
        1002,
    }
    assert CustomerState.objects.get(customer_id=1002).owner_locked


def test_sync_from_warehouse_brings_imported_tags_and_owners(brand):
    CustomerState.objects.all().delete()
    CustomerState.objects.create(customer_id=1002, owner=brand.guide3, owner_locked=True)
    actions.add_tag(brand.operator, [1001], "高价值")  # already tagged by hand

    result = actions.sync_from_warehouse()

    assert result["tag_groups_created"] == 1 and result["tags_created"] == 2  # 会员等级:金卡/银卡
    assert result["customer_tags_added"] == 2
    assert labels(1001) == ["会员等级:金卡", "高价值"] and labels(1002) == ["会员等级:银卡"]
    group = TagGroup.objects.get(name="会员等级")
    assert sorted(group.tags.values_list("name", flat=True)) == ["金卡", "银卡"]
    assert Tag.objects.get(name="高价值").group is None
    assert CustomerTag.objects.get(customer_id=1001, tag__name="金卡").source == "import"
    assert CustomerTag.objects.get(customer_id=1001, tag__name="高价值").source == "manual"
    # "wang" is guide1's WeCom userid; "李导购" is guide2's display name but 1002's owner is locked
    assert CustomerState.objects.get(customer_id=1001).owner == brand.guide1
    assert CustomerState.objects.get(customer_id=1002).owner == brand.guide3
    assert result["owners_set"] == 1 and result["owners_locked_kept"] == 1
    assert result["unmatched_owner_staff"] == ["nobody"]
    assert not CustomerState.objects.filter(customer_id=1004).exists()

    again = actions.sync_from_warehouse()
    assert (again["customer_tags_added"], again["owners_set"], again["tags_created"]) == (0, 0, 0)


def test_sync_leaves_an_ambiguous_display_name_alone(brand):
    from siyu.staff.actions import create_user

    create_user("g4", "pw-guide-4", "guide", display_name="李导购")
    CustomerState.objects.filter(customer_id=1002).delete()
    result = actions.sync_from_warehouse()
    assert result["ambiguous_owner_staff"] == ["李导购"]
    assert not CustomerState.objects.filter(customer_id=1002, owner__isnull=False).exists()
