"""Check-in: once a member per local day (also when two requests race), streaks across days and month ends,
make-up cards that mend a streak, rewards by streak length paid in points and coupons, the calendar, the API
and the console page."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone
from ninja import NinjaAPI
from ninja.testing import TestClient

from siyu.api.actions import create_token
from siyu.api.auth import auth
from siyu.core.errors import NotFound, PermissionDenied, SiyuError
from siyu.loyalty.checkin import actions, queries
from siyu.loyalty.checkin.api import router
from siyu.loyalty.checkin.errors import AlreadyCheckedIn, MakeupNotAllowed, NoMakeupCard
from siyu.loyalty.coupons import actions as coupon_actions
from siyu.loyalty.coupons.queries import wallet_of
from siyu.loyalty.points.models import PointsEntry
from siyu.loyalty.points.queries import balance_of
from siyu.staff.actions import create_user

pytestmark = pytest.mark.django_db
D = dt.date


@pytest.fixture
def rules(ops):
    template = coupon_actions.save_template(None, {"name": "连签7天券", "kind": "amount", "amount_off": "10",
                                                   "min_spend": "50", "validity": "days", "valid_days": 30})  # fmt: skip
    actions.save_rule(ops, streak_day=1, points=5)
    actions.save_rule(ops, streak_day=3, points=10, makeup_cards=1)
    actions.save_rule(ops, streak_day=7, points=10, coupon_template_id=template.pk)
    return template


def _run(customer, first: D, days: int):
    return [actions.check_in(customer, day=first + dt.timedelta(days=n)) for n in range(days)]


def test_streaks_rewards_and_month_ends(rules):
    results = _run(42, D(2026, 1, 28), 8)  # 28 Jan … 4 Feb: across a month end
    assert [r.streak for r in results] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [r.points for r in results] == [5, 5, 10, 10, 10, 10, 10, 10]
    assert results[6].coupon is not None and results[6].coupon.template_id == rules.pk
    assert [c.pk for c in wallet_of(42)] == [results[6].coupon.pk]
    assert results[2].makeup_cards == 1 and queries.cards_held(42) == 1
    assert balance_of(42).available == sum(r.points for r in results) == 70
    assert set(PointsEntry.objects.filter(customer_id=42).values_list("source", flat=True)) == {"checkin"}
    # a missed day starts again at 1
    assert actions.check_in(42, day=D(2026, 2, 6)).streak == 1


def test_checking_in_twice_gives_nothing_twice(rules):
    first = actions.check_in(7, day=D(2026, 3, 1))
    again = actions.check_in(7, day=D(2026, 3, 1))
    assert (first.already, again.already, again.points, again.streak) == (False, True, 5, 1)
    assert balance_of(7).available == 5
    with pytest.raises(MakeupNotAllowed):
        actions.check_in(7, day=timezone.localdate() + dt.timedelta(days=1))


def test_today_is_the_local_day_in_shanghai(rules, settings):
    # 2026-03-01 17:30 UTC is already 2 March in Shanghai
    from unittest import mock

    with mock.patch("django.utils.timezone.now", return_value=dt.datetime(2026, 3, 1, 17, 30, tzinfo=dt.UTC)):
        assert actions.check_in(8).day == D(2026, 3, 2)


def test_make_up_cards_mend_the_streak(rules, ops):
    today = D(2026, 5, 10)
    for day in (5, 6, 8, 9):  # 7 May missed
        actions.check_in(9, day=D(2026, 5, day))
    with pytest.raises(NoMakeupCard):
        actions.make_up(9, D(2026, 5, 7), today=today)
    assert actions.grant_makeup_cards(ops, 9, 1, key="k1") == 1
    assert actions.grant_makeup_cards(ops, 9, 1, key="k1") == 0  # a retry grants nothing more
    row = actions.make_up(9, D(2026, 5, 7), today=today)
    assert row.made_up and row.streak == 3
    assert queries.current_streak(9, today) == 5  # 5,6,7(made up),8,9
    assert queries.cards_held(9) == 0
    assert actions.check_in(9, day=today).streak == 6
    with pytest.raises(MakeupNotAllowed):
        actions.make_up(9, D(2026, 4, 30), today=today)  # outside the window
    actions.grant_makeup_cards(ops, 9, 1)
    with pytest.raises(AlreadyCheckedIn):
        actions.make_up(9, D(2026, 5, 8), today=today)
    assert queries.cards_held(9) == 1  # the refused make-up kept its card
    with pytest.raises(PermissionDenied):
        actions.grant_makeup_cards(create_user("g1", "pw-g1-1", "guide"), 9, 1)


def test_calendar_of_a_month(rules):
    today = timezone.localdate()
    actions.check_in(11, day=today - dt.timedelta(days=1))
    month = queries.calendar_of(11, today.strftime("%Y-%m"), today=today)
    assert month.streak == 1 and not month.checked_today
    assert month.today_reward.streak == 2 and month.today_reward.points == 5
    assert month.next_reward.streak == 3 and month.next_reward.makeup_cards == 1
    actions.check_in(11, day=today)
    month = queries.calendar_of(11, today, today=today)
    assert month.checked_today and month.streak == 2
    by_day = {d.day: d for d in month.days}
    assert by_day[today].checked and by_day[today + dt.timedelta(days=1)].future if today.day < 28 else True
    with pytest.raises(ValueError):
        queries.parse_month("2026-13", today)


def _api():
    api = NinjaAPI(auth=auth, urls_namespace="checkin-test")
    for error, status in ((NotFound, 404), (PermissionDenied, 403), (SiyuError, 400)):
        api.add_exception_handler(error, lambda request, exc, status=status: api.create_response(
            request, {"detail": str(exc)}, status=status))  # fmt: skip
    api.add_router("", router)
    return api


def test_check_in_and_calendar_through_the_api(rules, ops):
    client = TestClient(_api(), headers={"Authorization": f"Bearer {create_token(ops, 'tests')}"})
    made = client.post("/loyalty/checkin/members/55/checkins", headers={"Idempotency-Key": "c1"})
    assert made.status_code == 200, made.content
    assert (made.json()["streak"], made.json()["points"], made.json()["already"]) == (1, 5, False)
    again = client.post("/loyalty/checkin/members/55/checkins", headers={"Idempotency-Key": "c2"})
    assert again.json()["already"] is True and balance_of(55).available == 5
    month = client.get("/loyalty/checkin/members/55/calendar")
    assert month.status_code == 200 and month.json()["checked_today"] is True
    assert client.get("/loyalty/checkin/members/55/calendar?month=nope").status_code == 422
    guide = create_user("g2", "pw-g2-1", "guide")
    as_guide = TestClient(_api(), headers={"Authorization": f"Bearer {create_token(guide, 'tests')}"})
    # a guide at a till checks a member in, but does not grant make-up cards
    assert as_guide.post("/loyalty/checkin/members/55/checkins", headers={"Idempotency-Key": "c3"}).json()["already"]
    assert as_guide.post("/loyalty/checkin/members/55/cards", json={"count": 1},
                         headers={"Idempotency-Key": "c4"}).status_code == 403
    cards = client.post("/loyalty/checkin/members/55/cards", json={"count": 2}, headers={"Idempotency-Key": "c5"})
    assert cards.json() == {"granted": 2, "held": 2}


def test_the_console_page(rules, ops, client):
    actions.check_in(77)
    client.force_login(ops)
    page = client.get("/loyalty/checkin/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert page.status_code == 200 and "77" in page.content.decode()
    made = client.post("/loyalty/checkin/", {"streak_day": "30", "points": "20"})
    assert made.status_code == 302
    rule = actions.CheckinRule.objects.get(streak_day=30)
    assert client.get(f"/loyalty/checkin/rules/{rule.pk}/").status_code == 200
    client.post(f"/loyalty/checkin/rules/{rule.pk}/", {"do": "delete"})
    assert not actions.CheckinRule.objects.filter(streak_day=30).exists()
    assert client.post("/loyalty/checkin/", {"do": "cards", "customer_id": "77", "count": "2"}).status_code == 302
    assert queries.cards_held(77) == 2


def test_a_refused_rule_is_told_in_chinese(rules, ops, client):
    """A second rule for a streak day is refused in the operator's words: Chinese, no English left in it."""
    client.force_login(ops)
    page = client.post("/loyalty/checkin/", {"streak_day": "1", "points": "8"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert page.status_code == 400
    told = [str(m) for m in get_messages(page.wsgi_request)]
    assert told == ["未保存：连续签到第 1 天已有规则。"]
    assert told[0] in page.content.decode()
    assert not re.search(r"[A-Za-z]", told[0])
    assert actions.CheckinRule.objects.get(streak_day=1).points == 5
