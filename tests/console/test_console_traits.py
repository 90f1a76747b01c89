"""The profile's 画像 (traits) card and the trait filters of the customer list, on the hand-computed brand
of tests/segments/traits_data.py."""

from datetime import UTC, datetime

import pytest

from segments.traits_data import write_brand
from siyu.customers.models import CustomerState
from siyu.segments.actions import refresh_traits, save_computed_tag, save_stage_set
from siyu.warehouse.summary import rebuild_customer_summary

pytestmark = pytest.mark.django_db

AS_OF_MIDNIGHT = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)  # 2026-01-01 00:00 in Shanghai


@pytest.fixture
def brand(warehouse, staff):
    write_brand(warehouse.backend())
    rebuild_customer_summary(now=AS_OF_MIDNIGHT)
    CustomerState.objects.create(customer_id=1, owner=staff["guide1"])
    return warehouse


@pytest.fixture
def traits(brand, staff):
    save_computed_tag(staff["admin"], "高价值", {"field": "m_score", "op": ">=", "value": 4})
    save_stage_set(staff["admin"], "school", [{"stage": "在学", "when": {"bought": {}}}])
    refresh_traits(now=AS_OF_MIDNIGHT)


def test_the_card_says_when_traits_were_not_computed(admin_client, brand):
    page = admin_client.get("/customers/1/").content.decode()
    assert "画像" in page and "尚未计算画像" in page


def test_the_card_shows_every_trait_in_chinese(admin_client, traits):
    page = admin_client.get("/customers/1/").content.decode()
    card = page[page.index('id="traits"') : page.index('id="tags"')]
    for text in ("重要价值客户", "R3 F5 M4", "腰部", "忠诚 (L)", "30 天", "2025-12-31", "已逾期 1 天",
                 "33%", "平均优惠 50%", "高价值", "在学", "计算时间 2026-01-01 00:00"):  # fmt: skip
        assert text in card, text
    assert 'data-trait="lifecycle_stage"><span class="stage stage-loyal">' in card


def test_a_guide_sees_the_card_of_their_own_customer(guide1_client, traits):
    assert "重要价值客户" in guide1_client.get("/customers/1/").content.decode()
    assert guide1_client.get("/customers/2/").status_code == 403


def test_a_customer_without_purchases_in_the_window(admin_client, traits):
    page = admin_client.get("/customers/5/").content.decode()
    assert "365 天内无购买" in page and "兴趣 (I)" in page


def test_the_card_in_english(admin_client, traits):
    admin_client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    page = admin_client.get("/customers/2/").content.decode()
    assert "Persona" in page and "Important customer to develop" in page and "Top (diamond)" in page
    admin_client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})


def test_list_filters_on_traits(admin_client, traits):
    page = admin_client.get("/customers/", {"rfm_layer": "important_value"}).content.decode()
    assert 'data-total="1"' in page and "/customers/1/" in page
    assert '<option value="important_value" selected>重要价值客户</option>' in page
    page = admin_client.get("/customers/", {"computed_tag": "高价值", "value_layer": "top"}).content.decode()
    assert 'data-total="1"' in page and "/customers/2/" in page
    assert '<option value="高价值" selected>高价值</option>' in page
    page = admin_client.get("/customers/", {"aipl_stage": "interest"}).content.decode()
    assert 'data-total="2"' in page
