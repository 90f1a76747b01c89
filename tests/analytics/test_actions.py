"""Channel spend (entered, imported, validated) and the groups page 8 compares."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from siyu.analytics import actions
from siyu.analytics.errors import InvalidCustomerList, InvalidSpend
from siyu.analytics.groups import group_from_file, group_from_request, group_from_segment, group_from_tag
from siyu.analytics.models import ChannelSpend
from siyu.analytics.queries import spend_by_channel
from siyu.core.errors import PermissionDenied

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(db):
    from siyu.staff.actions import create_user

    return create_user("op", "pw-op-1", "operator")


def test_spend_is_checked(operator):
    spend = actions.record_spend(operator, "douyin", "2026-03-01", "2026/3/31", "¥1,200.50", "千川")
    assert (spend.channel, spend.date_to, spend.amount) == ("douyin", date(2026, 3, 31), Decimal("1200.50"))
    for bad, message in [
        (("", "2026-03-01", "2026-03-02", "1"), "channel"),
        (("a b", "2026-03-01", "2026-03-02", "1"), "channel"),
        (("jd", "2026-03-05", "2026-03-02", "1"), "after"),
        (("jd", "2026-02-30", "2026-03-02", "1"), "date"),
        (("jd", "2026-03-01", "2026-03-02", "-1"), "between"),
        (("jd", "2026-03-01", "2026-03-02", "1.005"), "decimals"),
        (("jd", "2026-03-01", "2026-03-02", "abc"), "number"),
        (("douyin", "2026-03-31", "2026-04-30", "1"), "overlaps"),
    ]:
        with pytest.raises(InvalidSpend, match=message):
            actions.record_spend(operator, *bad)
    assert ChannelSpend.objects.count() == 1


def test_spend_needs_an_operator(db):
    from siyu.staff.actions import create_user

    guide = create_user("g", "pw-g-1", "guide")
    with pytest.raises(PermissionDenied):
        actions.record_spend(guide, "jd", "2026-03-01", "2026-03-02", "1")


def test_spend_csv_is_all_or_nothing(operator):
    good = "channel,date_from,date_to,amount,note\ntmall,2026-01-01,2026-01-31,3100,直通车\njd,2026-01-01,2026-01-10,100,\n"
    assert len(actions.import_spend_csv(operator, ("\ufeff" + good).encode())) == 2
    clash = "channel,date_from,date_to,amount\npos,2026-01-01,2026-01-31,1\ntmall,2026-01-20,2026-02-10,5\n"
    with pytest.raises(InvalidSpend, match="line 3: tmall already has spend"):
        actions.import_spend_csv(operator, clash.encode())
    with pytest.raises(InvalidSpend, match="missing amount"):
        actions.import_spend_csv(operator, b"channel,date_from,date_to\n")
    assert ChannelSpend.objects.count() == 2
    # 10 of tmall's 31 days fall in 1-10 January: 3100 × 10 / 31
    assert spend_by_channel(date(2026, 1, 1), date(2026, 1, 10)) == {
        "tmall": Decimal("1000.00"),
        "jd": Decimal("100.00"),
    }


def test_a_spend_file_may_head_its_columns_in_chinese(operator):
    # as the Chinese console names them ("列：渠道,开始日期,结束日期,金额[,备注]"), in GB18030 as Excel saves it
    text = "渠道,开始日期,结束日期,金额,备注\ndouyin,2026-02-01,2026-02-28,280,信息流\n"
    (spend,) = actions.import_spend_csv(operator, text.encode("gb18030"))
    assert (spend.channel, spend.amount, spend.note) == ("douyin", Decimal("280"), "信息流")


def test_groups_from_files_tags_and_the_segment_hook(operator, tmp_path, settings):
    settings.UPLOADS_DIR = tmp_path
    assert group_from_file("ids.csv", b"customer_id,name\n3,a\n1,b\n3,c\n").customer_ids == {1, 3}
    assert group_from_file("ids.txt", b"7\n8\n\n").customer_ids == {7, 8}
    with pytest.raises(InvalidCustomerList, match="item 2"):
        group_from_file("ids.csv", b"customer_id\n1\nabc\n")
    with pytest.raises(InvalidCustomerList, match="customer_id column"):
        group_from_file("ids.csv", b"a,b\n1,2\n")
    import xlsxwriter

    path = tmp_path / "ids.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["客户ID"])
    sheet.write_column(1, 0, [11, 12])
    book.close()
    assert group_from_file("ids.xlsx", path.read_bytes()).customer_ids == {11, 12}

    saved = actions.save_customer_list(operator, group_from_file("vip.csv", b"customer_id\n5\n6\n"))
    group = group_from_request(list_id=saved)
    assert (group.label, group.customer_ids) == ("vip.csv", {5, 6})
    with pytest.raises(InvalidCustomerList):
        group_from_request(list_id="../../etc/passwd")

    from siyu.customers.models import CustomerTag, Tag

    tag = Tag.objects.create(name="高潜力")
    CustomerTag.objects.bulk_create([CustomerTag(customer_id=i, tag=tag) for i in (1, 2)])
    assert group_from_tag("高潜力").customer_ids == {1, 2}
    with pytest.raises(InvalidCustomerList, match="no tag"):
        group_from_tag("不存在")
    with pytest.raises(InvalidCustomerList, match="no segment '1'"):
        group_from_segment(1)
    from siyu.segments.actions import refresh_segment, save_segment

    segment = save_segment(None, "高潜力人群", rule={"tag": "高潜力"}, materialise=False)
    with pytest.raises(InvalidCustomerList, match="not been refreshed yet"):
        group_from_segment(segment.pk)
    refresh_segment(segment.pk)  # this brand has no customer summary: no members
    assert group_from_segment(segment.pk).customer_ids == set()
    from siyu.warehouse import raw_connection

    raw_connection().execute(f"INSERT INTO segment_members VALUES ({segment.pk}, 1, now()), ({segment.pk}, 2, now())")
    group = group_from_request(segment=str(segment.pk))
    assert (group.kind, group.label, group.customer_ids) == ("segment", "高潜力人群", {1, 2})
