"""Points for activities: check-ins and surveys within the member's daily limit, the birthday bonus once a
year (birthday from the warehouse's customer profile), with the tier's birthday gift."""

from __future__ import annotations

import datetime as dt

import pytest

from siyu.loyalty.earning import actions
from siyu.loyalty.earning.models import RuleKind
from siyu.loyalty.points.queries import balance_of
from siyu.loyalty.tiers import actions as tier_actions
from siyu.loyalty.tiers.models import MemberTier

pytestmark = pytest.mark.django_db


def rule(**values):
    return actions.make_rule(None, name=values["kind"], **values)


def test_no_rule_no_points(db):
    assert actions.award_for_activity(1, "survey", key="survey:1") is None


def test_daily_limit_across_activities(db):
    rule(kind=RuleKind.CHECKIN, points=10)
    rule(kind=RuleKind.SURVEY, points=30)
    rule(kind=RuleKind.DAILY_LIMIT, points=50)
    day1 = dt.datetime(2026, 3, 2, 2, tzinfo=dt.UTC)
    assert actions.award_for_activity(1, "checkin", key="checkin:1:d1", now=day1).points == 10
    assert actions.award_for_activity(1, "survey", key="survey:1", now=day1).points == 30
    assert actions.award_for_activity(1, "survey", key="survey:2", now=day1).points == 10  # what fits
    assert actions.award_for_activity(1, "survey", key="survey:3", now=day1) is None
    # a replay returns the same entry and changes nothing
    assert actions.award_for_activity(1, "survey", key="survey:2", now=day1).points == 10
    assert balance_of(1).available == 50
    day2 = day1 + dt.timedelta(days=1)
    assert actions.award_for_activity(1, "checkin", key="checkin:1:d2", now=day2).points == 10
    assert actions.award_for_activity(2, "survey", key="survey:4", now=day1).points == 30  # another member


def test_birthday_once_a_year(shop):
    rule(kind=RuleKind.BIRTHDAY, points=88)
    gold = tier_actions.make_tier(None, name="金卡", rank=1, threshold="0", birthday_points=200)
    shop.summary([{"customer_id": 1, "birthday": dt.date(1990, 5, 20)},
                  {"customer_id": 2, "birthday": dt.date(1990, 5, 21)},
                  {"customer_id": 3, "birthday": dt.date(1992, 2, 29)}])  # fmt: skip
    MemberTier.objects.create(customer_id=1, tier=gold, since=shop.start)
    report = actions.award_birthdays(dt.date(2026, 5, 20))
    assert report == {"birthdays": 1, "bonuses": 1, "tier_gifts": 1}
    actions.award_birthdays(dt.date(2026, 5, 20))  # the job again the same day
    assert balance_of(1).available == 288 and balance_of(2).available == 0
    actions.award_birthdays(dt.date(2027, 5, 20))
    assert balance_of(1).available == 576  # next year again
    actions.award_birthdays(dt.date(2026, 2, 28))  # born on 29 February: the 28th in other years
    assert balance_of(3).available == 88


def test_unknown_activity_is_refused(db):
    from siyu.loyalty.earning.errors import EarnRuleError  # noqa: PLC0415

    with pytest.raises(EarnRuleError):
        actions.award_for_activity(1, "dance", key="x")
