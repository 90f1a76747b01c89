"""The daily refresh of traits and segments: when it runs next, what it refreshes, the waiting task that
`siyu serve`'s worker picks up, and the console form that sets it."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from segments.test_segments import CUT, brand  # noqa: F401 - the fixture
from siyu.core.errors import PermissionDenied
from siyu.segments.actions import (
    next_refresh_at,
    run_scheduled_refresh,
    save_refresh_schedule,
    save_segment,
    schedule_refresh,
)
from siyu.segments.models import RefreshSchedule, Segment

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_next_refresh_is_today_before_the_time_and_tomorrow_after_it():
    at = time(3, 0)
    before = datetime(2026, 3, 10, 2, 59, tzinfo=SHANGHAI)
    assert next_refresh_at(at, before, "Asia/Shanghai") == datetime(2026, 3, 10, 3, 0, tzinfo=SHANGHAI)
    on_time = datetime(2026, 3, 10, 3, 0, tzinfo=SHANGHAI)
    assert next_refresh_at(at, on_time, "Asia/Shanghai") == datetime(2026, 3, 11, 3, 0, tzinfo=SHANGHAI)
    # 03:00 in Shanghai is 19:00 UTC the day before
    assert next_refresh_at(at, datetime(2026, 3, 10, 18, 0, tzinfo=UTC), "Asia/Shanghai") == datetime(
        2026, 3, 10, 19, 0, tzinfo=UTC
    )


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.times(),
)
def test_the_next_refresh_is_the_first_later_instant_showing_the_time(now, at):
    at = at.replace(second=0, microsecond=0)
    when = next_refresh_at(at, now, "Asia/Shanghai")  # no DST: every wall-clock time exists once a day
    assert now < when <= now + timedelta(days=1)
    assert when.astimezone(SHANGHAI).time() == at


@given(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
    st.times(),
)
def test_the_next_refresh_is_within_a_day_across_dst_changes(now, at):
    when = next_refresh_at(at.replace(second=0, microsecond=0), now, "Europe/Berlin")
    assert now < when <= now + timedelta(days=1, hours=1)


@pytest.mark.django_db
def test_the_daily_refresh_recomputes_traits_and_the_daily_segments_only(brand, admin_user):  # noqa: F811
    shanghai = {"field": "province", "op": "=", "value": "上海"}
    save_segment(admin_user, "daily", rule=shanghai, refresh="daily", materialise=False)
    save_segment(admin_user, "after", rule=shanghai, refresh="after_resolve", materialise=False)
    later = CUT + timedelta(days=3)
    report = run_scheduled_refresh(now=later)
    assert report["traits"]["as_of"] == later.isoformat()
    assert report["segments"]["daily"]["members"] == 2
    assert "after" not in report["segments"]
    assert Segment.objects.get(name="daily").member_count == 2
    assert Segment.objects.get(name="after").refreshed_at is None
    schedule = RefreshSchedule.current()
    assert schedule.last_run_at == later and schedule.last_result["segments"]["daily"]["members"] == 2


@pytest.mark.django_db
def test_the_daily_refresh_runs_as_a_job(brand, admin_user):  # noqa: F811
    from siyu.core.models import Job
    from siyu.segments.tasks import scheduled_refresh

    save_segment(admin_user, "daily", rule={"field": "province", "op": "=", "value": "上海"}, refresh="daily")
    result = scheduled_refresh.call()
    job = Job.objects.get(pk=result["job"])
    assert job.kind == "scheduled_refresh" and job.status == Job.Status.DONE
    assert job.result["segments"]["daily"]["members"] == 2


@pytest.mark.django_db
def test_an_off_schedule_does_nothing(brand, admin_user):  # noqa: F811
    from siyu.core.models import Job
    from siyu.segments.tasks import scheduled_refresh

    save_refresh_schedule(admin_user, enabled=False, at=time(4, 30))
    assert scheduled_refresh.call() == {"skipped": "the daily refresh is off"}
    assert not Job.objects.filter(kind="scheduled_refresh").exists()


@pytest.fixture
def database_tasks(settings):
    """The task backend `siyu serve` uses (a table its worker polls) instead of the tests' immediate one
    (django-tasks re-reads TASKS when the setting changes)."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.mark.django_db(transaction=True)
def test_one_waiting_task_follows_the_schedule(database_tasks, admin_user):
    from django_tasks import task_backends
    from django_tasks_db.models import DBTaskResult

    from siyu.segments.tasks import scheduled_refresh

    assert task_backends["default"].supports_defer
    waiting = DBTaskResult.objects.filter(task_path=scheduled_refresh.module_path, status="READY")
    now = datetime(2026, 3, 10, 1, 0, tzinfo=SHANGHAI)
    assert schedule_refresh(now) == datetime(2026, 3, 10, 3, 0, tzinfo=SHANGHAI)
    schedule_refresh(now)
    assert [t.run_after for t in waiting.all()] == [datetime(2026, 3, 10, 3, 0, tzinfo=SHANGHAI)]
    save_refresh_schedule(admin_user, enabled=True, at=time(5, 15))  # moves the waiting task
    (task,) = waiting.all()
    assert task.run_after.astimezone(SHANGHAI).time() == time(5, 15)
    save_refresh_schedule(admin_user, enabled=False, at=time(5, 15))
    assert not waiting.exists()


@pytest.mark.django_db
def test_only_editors_change_the_schedule(django_user_model):
    from siyu.staff.actions import create_user
    from siyu.staff.models import Role

    guide = create_user("guide-x", "pw-123456789", Role.GUIDE)
    with pytest.raises(PermissionDenied):
        save_refresh_schedule(guide, enabled=True, at=time(2, 0))
    assert RefreshSchedule.current().at == time(3, 0)
