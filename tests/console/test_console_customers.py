"""Login, dashboard, customer list and profile pages of the console."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def text_of(response) -> str:
    return response.content.decode()


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/customers/",
        "/customers/1001/",
        "/import/",
        "/jobs/",
        "/jobs/00000000-0000-0000-0000-000000000000/",
    ],
)
def test_every_page_needs_a_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_login_page_is_chinese_and_logs_in_and_out(client, staff):
    page = client.get("/login/")
    assert page.status_code == 200
    assert "登录" in text_of(page)
    assert "htmx.min.js" in text_of(page)
    response = client.post("/login/", {"username": "operator", "password": "pw-oper-1"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    response = client.post("/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_shows_an_error(client, staff):
    page = client.post("/login/", {"username": "operator", "password": "nope"})
    assert page.status_code == 200
    assert "用户名和密码不匹配" in text_of(page)


def test_dashboard_counts(admin_client, filled_warehouse):
    page = text_of(admin_client.get("/"))
    assert re.search(r'data-stat="customers">3<', page)
    assert re.search(r'data-stat="records">4<', page)
    assert re.search(r'data-stat="orders">3<', page)
    assert "¥877.50" in page


def test_dashboard_gmv_leaves_out_closed_refunded_and_unpaid_orders(admin_client, filled_warehouse):
    from siyu.warehouse import raw_connection

    orders = [("tmall_flagship|T-9002", "交易关闭", "not_purchase", 1000), ("tmall_flagship|T-9003", "退款成功", "not_purchase", 2000),
              ("tmall_flagship|T-9004", "等待买家付款", "pending", 4000)]  # fmt: skip
    for key, status, cls, amount in orders:
        raw_connection().execute(
            "INSERT INTO orders (order_key, source, format, order_id, record_key, status_raw, status_class, order_time,"
            " amount, batch_id, updated_at) VALUES (?, 'tmall_flagship', 'taobao', ?, 'tmall_flagship|T-9001', ?, ?,"
            " now(), ?, 'b2', now())",
            [key, key.split("|")[1], status, cls, amount],
        )
    page = text_of(admin_client.get("/"))
    assert re.search(r'data-stat="orders">6<', page)
    assert "¥877.50" in page  # the three purchases only


def test_dashboard_on_an_empty_warehouse_invites_an_import(admin_client, warehouse):
    page = text_of(admin_client.get("/"))
    assert 'data-stat="customers">0<' in page
    assert reverse("console:import") in page


def test_guide_dashboard_counts_only_their_customers(guide1_client, filled_warehouse):
    page = text_of(guide1_client.get("/"))
    assert re.search(r'data-stat="my_customers">1<', page)
    assert 'data-stat="gmv"' not in page
    assert reverse("console:import") not in page  # no import link in the navigation


def test_list_shows_every_customer_to_an_operator_with_clear_phones(operator_client, filled_warehouse):
    page = text_of(operator_client.get("/customers/"))
    for cid in (1001, 1002, 1003):
        assert f'data-customer-id="{cid}"' in page
    assert "张伟" in page and "李娜" in page
    assert "13812345678" in page  # operators see PII
    row = page[page.index('data-customer-id="1001"') :].split("</tr>")[0]
    # the channels by their names, not the sources' code names (tmall_flagship, youzan_shop)
    assert '<span class="chip">淘宝 / 天猫</span>' in row and '<span class="chip">有赞</span>' in row
    assert "复购" in page  # stage label in Chinese
    assert "¥757.00" in page


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"q": "张伟"}, {1001}),
        ({"q": "1111"}, {1002}),
        ({"q": "1003"}, {1003}),
        ({"source": "store_pos"}, {1002}),
        ({"province": "广东"}, {1003}),
        ({"stage": "repeat"}, {1001}),
        ({"tag": "高潜力"}, {1001}),
    ],
)
def test_list_search_and_filters(admin_client, filled_warehouse, query, expected):
    page = text_of(admin_client.get("/customers/", query))
    shown = {int(x) for x in re.findall(r'data-customer-id="(\d+)"', page)}
    assert shown == expected


def test_list_filter_choices_come_from_the_data(admin_client, filled_warehouse):
    page = text_of(admin_client.get("/customers/"))
    assert '<option value="douyin_shop"' in page
    assert '<option value="浙江"' in page
    assert '<option value="高潜力"' in page


def test_list_paginates(admin_client, filled_warehouse, monkeypatch):
    from siyu.console.views import customers

    monkeypatch.setattr(customers, "PAGE_SIZE", 2)
    first = text_of(admin_client.get("/customers/", {"stage": ""}))
    assert len(re.findall(r'data-customer-id="', first)) == 2
    assert 'rel="next"' in first and "page=2" in first
    second = text_of(admin_client.get("/customers/", {"page": 2}))
    assert len(re.findall(r'data-customer-id="', second)) == 1
    assert 'rel="prev"' in second


def test_guide_sees_only_own_customers_with_masked_phones(guide1_client, filled_warehouse):
    page = text_of(guide1_client.get("/customers/"))
    shown = {int(x) for x in re.findall(r'data-customer-id="(\d+)"', page)}
    assert shown == {1001}
    assert "138****5678" in page
    assert "13812345678" not in page
    assert "李娜" not in page


def test_guide_gets_403_on_another_guides_customer(guide1_client, filled_warehouse):
    response = guide1_client.get("/customers/1002/")
    assert response.status_code == 403
    assert "403" in text_of(response)
    assert "李娜" not in text_of(response)


def test_guide_profile_is_masked(guide1_client, filled_warehouse):
    page = text_of(guide1_client.get("/customers/1001/"))
    assert "138****5678" in page
    assert "13812345678" not in page


def test_unknown_customer_is_404(admin_client, filled_warehouse):
    response = admin_client.get("/customers/999999/")
    assert response.status_code == 404
    assert "404" in text_of(response)


def test_profile_shows_orders_of_two_channels(admin_client, filled_warehouse):
    response = admin_client.get("/customers/1001/")
    assert response.status_code == 200
    page = text_of(response)
    assert "张伟" in page and "13812345678" in page
    # orders across channels, with their items
    assert 'data-source="tmall_flagship"' in page and 'data-source="youzan_shop"' in page
    assert "T-9001" in page and "Y-5001" in page
    assert "玫瑰精华水" in page and "山茶花面霜" in page and "旅行装小样" in page
    # totals: 2 orders, 757.00 spent, AOV 378.50, first and last purchase (Asia/Shanghai)
    assert re.search(r'data-stat="orders">2<', page)
    assert re.search(r'data-stat="spend">¥757.00<', page)
    assert re.search(r'data-stat="aov">¥378.50<', page)
    assert "2026-03-01" in page and "2026-06-18" in page
    # identities per channel, acquisition channel, stage, owner, tags
    assert "每个渠道的身份" in page
    assert "高潜力" in page
    assert "guide1" in page or "小王" in page


def test_profile_tags_add_and_remove(admin_client, filled_warehouse):
    from siyu.customers.models import CustomerTag

    response = admin_client.post("/customers/1002/tags/", {"tag": "VIP", "op": "add"})
    assert response.status_code == 302 and response["Location"].startswith("/customers/1002/")
    assert CustomerTag.objects.filter(customer_id=1002, tag__name="VIP").exists()
    assert "VIP" in text_of(admin_client.get("/customers/1002/"))
    admin_client.post("/customers/1002/tags/", {"tag": "VIP", "op": "remove"})
    assert not CustomerTag.objects.filter(customer_id=1002, tag__name="VIP").exists()


def test_profile_note(guide1_client, filled_warehouse):
    from siyu.customers.models import Note

    response = guide1_client.post("/customers/1001/notes/", {"text": "喜欢玫瑰香型，周末到店"})
    assert response.status_code == 302
    assert Note.objects.filter(customer_id=1001, text="喜欢玫瑰香型，周末到店").exists()
    assert "喜欢玫瑰香型" in text_of(guide1_client.get("/customers/1001/"))
    # and not on someone else's customer
    assert guide1_client.post("/customers/1002/notes/", {"text": "x"}).status_code == 403
    assert not Note.objects.filter(customer_id=1002).exists()


def test_profile_records_a_consent_and_the_refusal_of_personalised_marketing(guide1_client, filled_warehouse):
    from siyu.customers.models import Consent

    page = guide1_client.get("/customers/1001/").content.decode()
    assert 'value="webhook"' in page and 'value="personalised"' in page  # every channel and the choice
    answer = guide1_client.post("/customers/1001/consent/", {"channel": "webhook", "status": "opt_out",
                                                             "source": "门店电话"})  # fmt: skip
    assert answer.status_code == 302
    consent = Consent.objects.get(customer_id=1001, channel="webhook")
    assert (consent.status, consent.source, consent.recorded_by.username) == ("opt_out", "门店电话", "guide1")
    guide1_client.post("/customers/1001/consent/", {"channel": "personalised", "status": "opt_out",
                                                    "source": "门店电话"})  # fmt: skip
    response = guide1_client.get("/customers/1001/")
    assert 'id="personalised" data-refused="1"' in response.content.decode()
    # a source is required, and not on someone else's customer
    assert guide1_client.post("/customers/1001/consent/", {"channel": "sms", "status": "opt_out"}).status_code == 400
    denied = guide1_client.post("/customers/1002/consent/", {"channel": "sms", "status": "opt_out", "source": "x"})
    assert denied.status_code == 403 and not Consent.objects.filter(customer_id=1002).exists()


def test_bulk_tags_add_and_remove(admin_client, filled_warehouse):
    from siyu.customers.models import CustomerTag

    response = admin_client.post(
        "/customers/bulk-tags/",
        {"customer_ids": ["1001", "1002"], "tag": "双十一", "op": "add", "next": "/customers/?stage=repeat"},
    )
    assert response.status_code == 302 and response["Location"] == "/customers/?stage=repeat"
    assert set(CustomerTag.objects.filter(tag__name="双十一").values_list("customer_id", flat=True)) == {
        1001,
        1002,
    }
    page = text_of(admin_client.get("/customers/?stage=repeat"))
    assert "2 位客户" in page  # the confirmation message
    admin_client.post("/customers/bulk-tags/", {"customer_ids": ["1001"], "tag": "双十一", "op": "remove"})
    assert set(CustomerTag.objects.filter(tag__name="双十一").values_list("customer_id", flat=True)) == {1002}


def test_bulk_tags_of_a_guide_skip_other_guides_customers(guide1_client, filled_warehouse):
    from siyu.customers.models import CustomerTag

    guide1_client.post(
        "/customers/bulk-tags/", {"customer_ids": ["1001", "1002"], "tag": "回访", "op": "add"}
    )
    assert set(CustomerTag.objects.filter(tag__name="回访").values_list("customer_id", flat=True)) == {1001}
    page = text_of(guide1_client.get("/customers/"))
    assert "跳过" in page


def test_bulk_tags_need_a_selection(admin_client, filled_warehouse):
    response = admin_client.post("/customers/bulk-tags/", {"tag": "x", "op": "add"})
    assert response.status_code == 302
    assert "请选择客户" in text_of(admin_client.get("/customers/"))


def test_assign_owner(admin_client, filled_warehouse, staff):
    from siyu.customers.models import CustomerState

    response = admin_client.post("/customers/1003/owner/", {"owner": staff["guide2"].pk})
    assert response.status_code == 302
    assert CustomerState.objects.get(customer_id=1003).owner == staff["guide2"]
    # the profile's owner picker starts at the current owner, not at "nobody"
    page = admin_client.get("/customers/1003/").content.decode()
    assert f'<option value="{staff["guide2"].pk}" selected>' in page


def test_guide_cannot_assign_owners(guide1_client, filled_warehouse, staff):
    assert guide1_client.post("/customers/1001/owner/", {"owner": staff["guide1"].pk}).status_code == 403
    assert "分配归属" not in text_of(guide1_client.get("/customers/1001/"))


def test_empty_list_explains_what_to_do(admin_client, warehouse):
    page = text_of(admin_client.get("/customers/"))
    assert "还没有客户" in page


def test_switching_to_english_changes_the_headings(admin_client, filled_warehouse):
    assert "<h1>客户</h1>" in text_of(admin_client.get("/customers/"))
    response = admin_client.post("/i18n/setlang/", {"language": "en", "next": "/customers/"})
    assert response.status_code == 302 and response["Location"] == "/customers/"
    page = text_of(admin_client.get("/customers/"))
    assert "<h1>Customers</h1>" in page
    assert 'lang="en"' in page
    assert "Repeat" in page
    admin_client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert "<h1>客户</h1>" in text_of(admin_client.get("/customers/"))


def test_a_merged_customer_id_is_404_with_a_link_to_the_survivor(admin_client, filled_warehouse):
    import datetime as dt

    filled_warehouse.raw_connection().execute(
        "INSERT INTO merge_log VALUES ('run-1', ?, 1001, 1500, 'phone', '')", [dt.datetime.now(dt.UTC)]
    )
    response = admin_client.get("/customers/1500/")
    assert response.status_code == 404
    assert 'href="/customers/1001/"' in text_of(response)


def test_manager_dashboard_counts_the_stores_customers(client, staff, filled_warehouse):
    client.force_login(staff["manager"])
    page = text_of(client.get("/"))
    assert re.search(r'data-stat="my_customers">2<', page)  # guide1's and guide2's
    assert "本店客户" in page


def test_an_account_without_a_role_is_refused(client, filled_warehouse):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_user("nobody", password="x"))
    assert client.get("/").status_code == 403
    assert client.get("/customers/").status_code == 403
    assert client.get("/import/").status_code == 403


def test_error_pages_render_without_a_request_context():
    from django.template.loader import render_to_string

    assert "500" in render_to_string("500.html")
    assert "404" in render_to_string("404.html")
    assert "403" in render_to_string("403.html")


def test_list_filters_on_current_traits(admin_client, warehouse):
    """The list's filters on the current traits (RFM layer, value layer, AIPL stage, computed tag) narrow
    the console's list as they do the API's, together with the customer filters."""
    from segments.traits_data import write_brand
    from siyu.segments.actions import refresh_traits
    from siyu.warehouse.summary import rebuild_customer_summary

    write_brand(warehouse.backend())
    rebuild_customer_summary()

    def shown(**filters) -> set[int]:
        page = text_of(admin_client.get("/customers/", filters))
        return {int(x) for x in re.findall(r'data-customer-id="(\d+)"', page)}

    assert shown(rfm_layer="important_value") == set()  # no traits computed yet: no one passes
    refresh_traits(now=dt.datetime(2025, 12, 31, 16, 0, tzinfo=dt.UTC))
    assert shown(rfm_layer="important_value") == {1}
    assert shown(value_layer="waist") == {1, 7}
    assert shown(aipl_stage="interest") == {5, 6}
    assert shown(aipl_stage="interest", q="5") == {5}
    assert shown(value_layer=" ", q="7") == {7}  # a blank filter is no filter
