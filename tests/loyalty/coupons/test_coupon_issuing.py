"""Issuing beyond one coupon: to a segment's members (bulk, once per segment, template and day; limits
kept), from a journey's "issue coupon" step (once per enrollment, never to the holdout), and templates
checked as an operator makes them."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from coupon_helpers import make_template
from django.contrib.messages import get_messages

from siyu.engagement.errors import EngagementError
from siyu.engagement.journeys import actions as journey_actions
from siyu.engagement.journeys import definitions
from siyu.engagement.journeys.models import Enrollment
from siyu.engagement.messaging.actions import db_values, insert_rows
from siyu.engagement.messaging.policy import held_out
from siyu.loyalty.coupons import actions
from siyu.loyalty.coupons.errors import CouponError
from siyu.loyalty.coupons.models import Coupon, CouponTemplate
from siyu.segments.models import Segment
from siyu.staff.actions import create_user

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 3, 2, 4, 0, tzinfo=dt.UTC)


def _segment(warehouse, ids) -> Segment:
    segment = Segment.objects.create(name="高价值会员", kind="static", rule={})
    con = warehouse.raw_connection()
    for cid in ids:
        con.execute("INSERT INTO segment_members VALUES (?, ?, ?)", [segment.pk, cid, NOW])
    return segment


def test_issue_to_a_segment_once_a_day_within_the_limits(warehouse):
    ops = create_user("ops", "pw-ops-1", "operator")
    segment = _segment(warehouse, range(1, 31))
    template = make_template(total_quantity=25, per_member_limit=1)
    actions.issue_coupon(template.pk, 1, key="earlier", source="manual")  # member 1 already holds one
    day = dt.date(2026, 3, 2)

    job = actions.issue_to_segment(ops, template.pk, segment.pk, day=day)
    assert job.status == "done", job.error
    assert job.result == {"members": 30, "issued": 24, "already": 0, "at_limit": 1, "sold_out": 5}
    assert Coupon.objects.filter(template=template).count() == 25
    assert Coupon.objects.filter(source="segment", source_ref=f"segment:{segment.pk}").count() == 24
    template.refresh_from_db()
    assert template.issued_count == 25

    again = actions.issue_to_segment(ops, template.pk, segment.pk, day=day)
    assert (again.result["issued"], again.result["already"]) == (0, 24)

    guide = create_user("g", "pw-g-1", "guide")
    with pytest.raises(Exception, match="仅限管理员和运营"):
        actions.issue_to_segment(guide, template.pk, segment.pk, day=day)


def test_a_repeat_the_next_day_gives_members_another_within_their_limit(warehouse):
    segment = _segment(warehouse, range(1, 6))
    template = make_template(per_member_limit=2)
    for day in (dt.date(2026, 3, 2), dt.date(2026, 3, 3), dt.date(2026, 3, 4)):
        actions.issue_to_segment(None, template.pk, segment.pk, day=day)
    assert Coupon.objects.filter(template=template).count() == 10  # 2 each: the third day was at the limit


def _enrol(journey, ids) -> None:
    held = held_out(f"journey:{journey.pk}", list(ids), journey.holdout_percent).tolist()
    rows = [(journey.pk, cid, f"test:{cid}", h, "active", journey.steps[0]["id"], NOW, NOW, None, "", NOW)
            for cid, h in zip(ids, held, strict=True)]  # fmt: skip
    for column in ("step_entered_at", "due_at", "entered_at"):
        index = journey_actions._ENROLLMENT_COLUMNS.index(column)
        convert = db_values(Enrollment, column)
        rows = [(*r[:index], convert(r[index]), *r[index + 1 :]) for r in rows]
    insert_rows(Enrollment, journey_actions._ENROLLMENT_COLUMNS, rows)


def test_a_journey_step_issues_a_coupon_once_and_not_to_the_holdout(warehouse):
    template = make_template(per_member_limit=None)
    journey = journey_actions.save_journey(None, name="新客券", trigger={"type": "event", "event": "order_placed"},
                                           steps=[{"id": "coupon", "type": "issue_coupon", "template": template.pk}],
                                           holdout_percent=50)  # fmt: skip
    journey = journey_actions.activate_journey(None, journey.pk, now=NOW)
    ids = list(range(1, 21))
    _enrol(journey, ids)
    held = set(Enrollment.objects.filter(holdout=True).values_list("customer_id", flat=True))
    assert 0 < len(held) < 20
    journey_actions.run_journeys(now=NOW)
    issued = Coupon.objects.filter(template=template)
    assert set(issued.values_list("customer_id", flat=True)) == set(ids) - held
    assert set(issued.values_list("source", flat=True)) == {"journey"}
    # the step taken again (enrollments put back) issues nothing twice
    Enrollment.objects.update(status="active", step_id="coupon", due_at=NOW)
    journey_actions.run_journeys(now=NOW + dt.timedelta(hours=1))
    assert issued.count() == 20 - len(held)


def test_the_journey_step_names_an_issuing_template():
    closed = make_template(status="closed")
    for step in ({"type": "issue_coupon"}, {"type": "issue_coupon", "template": closed.pk},
                 {"type": "issue_coupon", "template": 999_999}):  # fmt: skip
        with pytest.raises(EngagementError):
            definitions.check_steps([step])


@pytest.mark.parametrize("fields, words", [
    ({"name": ""}, "须填写名称"),
    ({"kind": "amount", "amount_off": ""}, "须填写减免金额"),
    ({"kind": "amount", "amount_off": "-5"}, "减免金额须为以元计的金额"),
    ({"kind": "amount", "amount_off": "120", "min_spend": "100"}, "减免金额超过了最低消费"),
    ({"kind": "percent", "percent_off": "100"}, "折扣百分比须小于 100"),
    ({"kind": "percent", "percent_off": "12.345"}, "最多两位小数"),
    ({"validity": "days", "valid_days": ""}, "有效天数"),
    ({"validity": "fixed", "valid_from": "2026-03-10", "valid_until": "2026-03-01"}, "失效日期须晚于生效日期"),
    ({"total_quantity": "0"}, "发放总量须在 1 到 100000000 之间"),
])  # fmt: skip
def test_templates_are_checked(fields, words):
    with pytest.raises(CouponError, match=words):
        make_template(**fields)


def test_the_total_cannot_go_below_what_is_issued():
    template = make_template(total_quantity=5, per_member_limit=None)
    for n in range(3):
        actions.issue_coupon(template.pk, n, key=f"k{n}", source="manual")
    data = {"name": template.name, "kind": "amount", "amount_off": "20", "min_spend": "100", "valid_days": 30,
            "total_quantity": 2}  # fmt: skip
    with pytest.raises(CouponError, match="已发放 3 张优惠券"):
        actions.save_template(None, data, template.pk)


def test_a_refused_template_form_is_told_in_chinese(db, client):
    """An amount off above the minimum spend is refused in the operator's words: Chinese, no English in it."""
    client.force_login(create_user("ops", "pw-ops-1", "operator"))
    form = {"name": "满100减120", "kind": "amount", "amount_off": "120", "min_spend": "100", "validity": "days",
            "valid_days": "30", "status": "active"}  # fmt: skip
    page = client.post("/loyalty/coupons/new/", form, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert page.status_code == 400
    told = [str(m) for m in get_messages(page.wsgi_request)]
    assert told == ["减免金额超过了最低消费。"]
    assert told[0] in page.content.decode()
    assert not re.search(r"[A-Za-z]", told[0])
    assert not CouponTemplate.objects.exists()
