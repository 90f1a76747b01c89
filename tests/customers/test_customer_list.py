import pytest
from django.contrib.auth import get_user_model

from customers.sample_brand import make_brand
from siyu.core.errors import PermissionDenied
from siyu.core.models import AuditLog
from siyu.customers import actions
from siyu.customers.models import CustomerState
from siyu.customers.queries import list_customers

pytestmark = pytest.mark.django_db


def ids(page):
    return [row["customer_id"] for row in page.items]


@pytest.fixture
def brand(warehouse):
    return make_brand(warehouse)


def test_operator_sees_every_customer_in_clear_recent_buyers_first(brand):
    page = list_customers(brand.operator)
    assert (page.total, page.page, page.pages) == (4, 1, 1)
    assert ids(page) == [1001, 1002, 1004, 1003]  # 1003 never bought: last
    zhang = page.items[0]
    assert zhang["name"] == "张三" and zhang["phone"] == "13812345678"
    assert zhang["sources"] == ["taobao", "wecom"]
    assert (zhang["orders"], zhang["spend"]) == (2, "200.50")  # the closed order does not count
    assert zhang["province"] == "浙江" and zhang["city"] == "杭州" and zhang["stage"] == "repeat"
    assert zhang["owner"] == "王导购"
    assert page.items[2]["owner"] is None
    assert zhang["last_purchase_at"].isoformat() == "2024-05-01T09:30:00+00:00"
    audit = AuditLog.objects.get(action="view_pii_list")
    assert audit.actor == brand.operator and audit.detail["customer_ids"] == [1001, 1002, 1004, 1003]


def test_guide_sees_only_own_customers_masked(brand):
    page = list_customers(brand.guide1)
    assert ids(page) == [1001]
    assert page.items[0]["name"] == "张*" and page.items[0]["phone"] == "138****5678"
    assert not AuditLog.objects.filter(action="view_pii_list").exists()
    # searching for another guide's customer finds nothing
    assert list_customers(brand.guide1, q="13900001234").total == 0


def test_manager_sees_the_customers_of_their_stores_guides(brand):
    assert ids(list_customers(brand.manager)) == [1001, 1002]
    assert list_customers(brand.manager).items[1]["name"] == "李*"
    assert ids(list_customers(brand.other_manager)) == [1003]


def test_account_without_role_is_refused(brand):
    stranger = get_user_model().objects.create_user("stranger", password="x" * 10)
    with pytest.raises(PermissionDenied):
        list_customers(stranger)


@pytest.mark.parametrize(
    "q, expected",
    [
        ("1002", [1002]),  # customer id
        ("5678", [1001, 1003]),  # phone tail
        ("13812345678", [1001]),  # full phone
        ("138 1234 5678", [1001]),
        ("+86 138-1234-5678", [1001]),
        ("李四", [1002]),  # full name, matched by keyed hash
        (" 李四 ", [1002]),
        ("王", [1003]),  # masked-name prefix (王*)
        ("zhang.san@example.com", [1001]),
        ("Zhang.San@Example.com", [1001]),
        ("13812340000", []),
        ("no such person", []),
    ],
)
def test_search(brand, q, expected):
    assert ids(list_customers(brand.operator, q=q, order="id")) == expected


def test_search_finds_a_phone_held_by_any_record_of_the_customer(brand, warehouse):
    from siyu.core import pii

    warehouse.raw_connection().execute(
        "UPDATE records SET phone_hash = ? WHERE record_key = 'wecom|r1004'",
        [pii.keyed_hash("+8618800001111")],
    )
    assert ids(list_customers(brand.operator, q="18800001111")) == [1004]


def test_search_finds_a_corrected_phone_and_email(brand):
    """A correction (PIPL art. 46) is the person's word: the corrected phone or email finds them."""
    assert list_customers(brand.operator, q="13700137007").total == 0
    actions.correct_profile(brand.operator, 1003, {"phone": "137 0013 7007", "email": "Li.Si@Example.com"})
    assert ids(list_customers(brand.operator, q="13700137007")) == [1003]
    assert ids(list_customers(brand.operator, q="+86 137-0013-7007")) == [1003]
    assert ids(list_customers(brand.operator, q="li.si@example.com")) == [1003]
    actions.correct_profile(brand.operator, 1003, {"phone": "13600136006"})  # only the correction in force
    assert list_customers(brand.operator, q="13700137007").total == 0
    assert ids(list_customers(brand.operator, q="13600136006")) == [1003]


def test_filters_combine(brand):
    op = brand.operator
    assert ids(list_customers(op, source="wecom", order="id")) == [1001, 1004]
    assert ids(list_customers(op, province="浙江", order="id")) == [1001, 1003]
    assert ids(list_customers(op, stage="lead")) == [1003]
    assert ids(list_customers(op, province="浙江", source="douyin")) == [1003]
    assert ids(list_customers(op, q="5678", stage="repeat")) == [1001]
    assert list_customers(op, source="nowhere").total == 0


def test_tag_filter_by_label_name_or_id(brand):
    actions.add_tag(brand.operator, [1002, 1003], "金卡", group_name="会员等级")
    actions.add_tag(brand.operator, [1004], "金卡")  # same name, no group
    tag_id = actions.ensure_tag("会员等级:金卡").pk
    assert ids(list_customers(brand.operator, tag="会员等级:金卡", order="id")) == [1002, 1003]
    assert ids(list_customers(brand.operator, tag=str(tag_id), order="id")) == [1002, 1003]
    assert ids(list_customers(brand.operator, tag="金卡", order="id")) == [1002, 1003, 1004]
    assert ids(list_customers(brand.operator, tag="金卡", province="浙江")) == [1003]
    # the tag filter stays inside the user's scope
    assert ids(list_customers(brand.guide2, tag="金卡")) == [1002]
    assert list_customers(brand.operator, tag="没有这个标签").total == 0


def test_a_stage_set_by_hand_wins_over_the_computed_one(brand):
    CustomerState.objects.filter(customer_id=1003).update(lifecycle_override="loyal")
    assert ids(list_customers(brand.operator, stage="loyal")) == [1003]
    assert list_customers(brand.operator, stage="lead").total == 0
    assert list_customers(brand.operator, q="1003").items[0]["stage"] == "loyal"


def test_pages_cover_everyone_once(warehouse):
    brand = make_brand(warehouse, extra=120)
    seen = []
    for number in (1, 2, 3):
        page = list_customers(brand.operator, page=number, page_size=50)
        assert (page.total, page.pages, page.page) == (124, 3, number)
        seen += ids(page)
    assert len(seen) == 124 and len(set(seen)) == 124
    assert seen[:2] == [1001, 1002]  # bought most recently
    assert seen[2:5] == [2119, 2118, 2117]
    assert list_customers(brand.operator, page=4, page_size=50).items == []
    by_id = list_customers(brand.operator, page=2, page_size=10, order="id")
    assert ids(by_id) == list(range(2006, 2016))
    assert list_customers(brand.operator, page_size=10_000).page_size == 200


def test_a_guides_pages_hold_their_own_customers_once_in_order_masked(warehouse):
    """A guide's list is a page of the ids they own (read by row id on DuckDB): every page in the list's
    order, each of their customers once, nobody else's, masked."""
    brand = make_brand(warehouse, extra=120)
    CustomerState.objects.bulk_create(CustomerState(customer_id=2000 + n, owner=brand.guide1) for n in range(60))
    pages = [list_customers(brand.guide1, page=number, page_size=25) for number in (1, 2, 3)]
    assert [(p.total, p.pages) for p in pages] == [(61, 3)] * 3
    seen = [i for p in pages for i in ids(p)]
    assert seen == [1001, *range(2059, 1999, -1)]  # the most recent buyer first, then by last purchase
    assert pages[1].items[0]["name"] == "客****" and pages[1].items[0]["phone"] == "150****0035"  # 2035
    assert pages[0].items[0]["name"] == "张*"
    assert ids(list_customers(brand.guide1, page=2, page_size=10, order="id")) == list(range(2009, 2019))
    assert list_customers(brand.guide1, page=4, page_size=25).items == []
    # a search by a name the summary does not show reads the records; still only the guide's own
    assert ids(list_customers(brand.guide1, q="客户034")) == [2034]
    assert list_customers(brand.guide1, q="客户100").total == 0  # another's (nobody's) customer
    found = list_customers(brand.operator, q="客户100")
    assert ids(found) == [2100] and found.items[0]["name"] == "客户100"


def test_whatever_is_typed_into_the_filters_gets_an_answer(brand):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=80, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(text=st.text(max_size=20), field=st.sampled_from(["q", "source", "tag", "province", "stage"]))
    def search(text, field):
        page = list_customers(brand.operator, **{field: text})
        assert 0 <= page.total <= 4 and len(page.items) == page.total

    search()


def test_a_page_in_clear_reads_the_summarys_copy_of_pii_not_the_records(brand, warehouse):
    """The summary keeps its display record's encrypted PII (built by the rebuild): showing a page of
    customers in clear does not look for them among every record."""
    from siyu.customers.queries import get_profile
    from siyu.warehouse.summary import rebuild_customer_summary

    rebuild_customer_summary()
    raw = warehouse.raw_connection()
    assert raw.execute(
        "SELECT count(*) FROM customer_summary s JOIN records r ON r.record_key = s.pii_record_key"
        " WHERE s.pii = r.pii"
    ).fetchall() == [(4,)]
    raw.execute("UPDATE records SET pii = NULL")  # were they read, names and phones would show masked
    zhang = list_customers(brand.operator).items[0]
    assert (zhang["name"], zhang["phone"]) == ("张三", "13812345678")
    profile = get_profile(brand.operator, 1001)
    assert (profile["name"], profile["phone"]) == ("张三", "13812345678")
    # masking by role is unchanged: the guide's page shows masks only
    assert list_customers(brand.guide1).items[0]["name"] == "张*"


def test_a_summary_without_the_copy_reads_the_records(brand, warehouse):
    """A summary row without the copy (written before it existed) still shows the clear PII."""
    warehouse.raw_connection().execute("UPDATE customer_summary SET pii = NULL")
    zhang = list_customers(brand.operator).items[0]
    assert (zhang["name"], zhang["phone"]) == ("张三", "13812345678")


def test_a_warehouse_from_before_the_copy_gets_it_when_opened(brand, warehouse):
    from siyu.warehouse.summary import rebuild_customer_summary

    rebuild_customer_summary()
    raw = warehouse.raw_connection()
    raw.execute("ALTER TABLE customer_summary DROP COLUMN pii")
    raw.execute("DELETE FROM warehouse_upgrades WHERE name = 'summary_pii'")
    warehouse.close()

    raw = warehouse.raw_connection()  # opening it upgrades it
    assert raw.execute(
        "SELECT count(*) FROM customer_summary s JOIN records r ON r.record_key = s.pii_record_key"
        " WHERE s.pii = r.pii"
    ).fetchall() == [(4,)]
    (report,), = raw.execute("SELECT report FROM warehouse_upgrades WHERE name = 'summary_pii'").fetchall()
    assert '"customers": 4' in report
    raw.execute("UPDATE records SET pii = NULL")
    assert list_customers(brand.operator).items[0]["name"] == "张三"
