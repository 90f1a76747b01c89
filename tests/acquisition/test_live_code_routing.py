"""Staff routing of live codes: who WeCom offers now (weekly schedule and special periods, the daily add
limit, WeCom's 5,000 contacts, backups only when every primary is out), property-tested, and pushed to the
same contact way as the day goes on."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from acquisition_helpers import CORP, post_callback
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.acquisition import actions, queries
from siyu.acquisition.models import LiveCodeAdd
from siyu.acquisition.queries import Candidate, availability, choose_staff, on_duty
from siyu.acquisition.tasks import refresh_live_code_routing
from siyu.engagement.messaging.actions import configure_account
from siyu.engagement.messaging.channel_actions import land_wecom_contacts

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _coming_monday_at_10() -> dt.datetime:
    """A Monday 10:00 in Shanghai after today. The routing refresh a test's moment schedules is then never
    due by the real clock: the tests' immediate task backend would run a due one at once, at the real time
    (a fixed date broke the day it came)."""
    today = dt.datetime.now(SHANGHAI).date()
    monday = today + dt.timedelta(days=7 - today.weekday())
    return dt.datetime.combine(monday, dt.time(10), tzinfo=SHANGHAI)


MONDAY_10 = _coming_monday_at_10()

hours = st.sampled_from([["00:00", "24:00"], ["09:00", "18:00"], ["10:00", "12:00"], ["18:00", "22:00"]])
schedules = st.one_of(st.just({}), st.dictionaries(st.sampled_from([str(d) for d in range(1, 8)]),
                                                   st.lists(hours, max_size=2), max_size=7))  # fmt: skip
periods = st.lists(
    st.builds(lambda day, length, off, h: {"start": (MONDAY_10.date() + dt.timedelta(days=day)).isoformat(),
                                           "end": (MONDAY_10.date() + dt.timedelta(days=day + length)).isoformat(),
                                           **({"off": True} if off else {"hours": h})},
              st.integers(-3, 3), st.integers(0, 2), st.booleans(), st.lists(hours, max_size=2)),
    max_size=2,
)  # fmt: skip
candidates = st.lists(
    st.builds(Candidate, userid=st.uuids().map(str), backup=st.booleans(),
              daily_limit=st.one_of(st.none(), st.integers(1, 3)), schedule=schedules, special_periods=periods,
              adds_today=st.integers(0, 4), contacts=st.sampled_from([0, 1200, 4899, 4900, 5000])),
    max_size=8,
)  # fmt: skip
moments = st.integers(0, 7 * 24 * 60 - 1).map(lambda m: MONDAY_10 + dt.timedelta(minutes=m))


@settings(max_examples=300, deadline=None)
@given(candidates, moments)
def test_routing_offers_only_who_can_take_adds_and_backups_only_when_every_primary_is_out(people, local):
    chosen = choose_staff(people, local)
    able = {c.userid for c in people if availability(c, local) == "offered"}
    # never someone off schedule, at their daily limit or near 5,000 contacts
    assert set(chosen) <= able
    for person in people:
        if person.userid in chosen:
            assert on_duty(person.schedule, person.special_periods, local)
            assert person.daily_limit is None or person.adds_today < person.daily_limit
            assert person.contacts < queries.NEAR_CONTACT_LIMIT
    primaries = {c.userid for c in people if not c.backup} & able
    if primaries:  # every primary who can, and no backup
        assert set(chosen) == primaries
    else:  # backups only when every primary is out
        assert set(chosen) == able
    # never an empty list while anyone qualifies
    assert bool(chosen) == bool(able)


def test_a_special_period_replaces_the_weekly_schedule():
    week = {"1": [["09:00", "18:00"]]}
    assert on_duty(week, [], MONDAY_10) and not on_duty(week, [], MONDAY_10.replace(hour=19))
    assert not on_duty(week, [], MONDAY_10 + dt.timedelta(days=1))  # Tuesday is not in the schedule
    day = MONDAY_10.date().isoformat()
    assert not on_duty(week, [{"start": day, "end": day, "off": True}], MONDAY_10)
    late = [{"start": day, "end": day, "hours": [["18:00", "24:00"]]}]
    assert on_duty(week, late, MONDAY_10.replace(hour=23, minute=59)) and not on_duty(week, late, MONDAY_10)


@pytest.mark.django_db
def test_the_daily_limit_moves_adds_to_the_backup_until_the_next_day(warehouse, account, fake, team, client):
    code = actions.create_live_code(team["ops"], name="包裹卡", channel="package_card", daily_limit=1,
                                    staff=[team["g1"], {"staff": team["b1"], "backup": True}])  # fmt: skip
    assert fake.contact_ways[code.config_id]["user"] == ["guide1"]
    post_callback(client, fake.scan(code.config_id, "wm-a"))
    # the add counted against guide1's limit and WeCom now offers the backup on the same code
    assert fake.contact_ways[code.config_id]["user"] == ["backup1"]
    assert [(s["userid"], s["reason"]) for s in queries.staff_availability(code)] == [
        ("guide1", "daily_limit"), ("backup1", "offered")]  # fmt: skip
    tomorrow = dt.datetime.now(SHANGHAI) + dt.timedelta(days=1)
    assert actions.refresh_routing(tomorrow) == {"codes": 1, "updated": 1, "failed": {}}
    assert fake.contact_ways[code.config_id]["user"] == ["guide1"]


@pytest.mark.django_db
def test_off_schedule_and_near_5000_contacts_are_taken_out(warehouse, account, fake, team, monkeypatch):
    monday_morning = {"1": [["09:00", "18:00"]]}
    code = actions.create_live_code(
        team["ops"], name="海报", channel="poster", now=MONDAY_10,
        staff=[{"staff": team["g1"], "schedule": monday_morning}, team["g2"], {"staff": team["b1"], "backup": True}],
    )  # fmt: skip
    assert fake.contact_ways[code.config_id]["user"] == ["guide1", "guide2"]
    actions.refresh_routing(MONDAY_10.replace(hour=20))
    assert fake.contact_ways[code.config_id]["user"] == ["guide2"]
    # guide2's WeCom contacts (as landed in the warehouse) reach the near-full mark
    monkeypatch.setattr(queries, "NEAR_CONTACT_LIMIT", 2)
    items = [{"external_contact": {"external_userid": f"wm-{i}", "name": f"客{i}"},
              "follow_info": {"userid": "guide2", "createtime": 1_760_000_000 + i}} for i in range(2)]  # fmt: skip
    land_wecom_contacts(items, "wecom")
    assert queries.wecom_contact_counts(["guide1", "guide2"]) == {"guide2": 2}
    actions.refresh_routing(MONDAY_10.replace(hour=20))
    assert fake.contact_ways[code.config_id]["user"] == ["backup1"]


@pytest.mark.django_db
def test_adds_skip_verification_only_within_the_window(warehouse, account, fake, team):
    code = actions.create_live_code(team["ops"], name="门店", staff=[team["g1"]], verify_skip_from="09:00",
                                    verify_skip_until="21:00", now=MONDAY_10)  # fmt: skip
    assert fake.contact_ways[code.config_id]["skip_verify"] is True
    actions.refresh_routing(MONDAY_10.replace(hour=22))
    assert fake.contact_ways[code.config_id]["skip_verify"] is False
    actions.refresh_routing(MONDAY_10 + dt.timedelta(days=1))
    assert fake.contact_ways[code.config_id]["skip_verify"] is True


@pytest.mark.django_db
def test_the_routing_refresh_task_pushes_changes_and_survives_a_missing_account(warehouse, account, fake, team):
    code = actions.create_live_code(team["ops"], name="门店", staff=[team["g1"], team["g2"]])
    actions.update_live_code(team["ops"], code.pk, daily_limit=1)
    LiveCodeAdd.objects.create(code=code, staff_userid="guide1", external_userid="wm-x", added_at=timezone.now())
    result = refresh_live_code_routing.enqueue()
    assert result.return_value == {"codes": 1, "updated": 1, "failed": {}}
    assert fake.contact_ways[code.config_id]["user"] == ["guide2"]
    configure_account(None, "wecom", "wecom", {"corp_id": CORP, "base_url": fake.url}, {}, enabled=False)
    assert "no enabled WeCom account" in refresh_live_code_routing.enqueue().return_value["error"]
