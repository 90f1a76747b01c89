"""The contact policy's rules for customer-group mass messages, as pure decisions: WeCom's per-group limit
counted in the local calendar month (or day), and quiet hours deferring every group."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from siyu.engagement.messaging.policy import Rules, decide_group_sends, group_limit

UTC = dt.UTC


def _rules(one_per_day=False, quiet=(dt.time(21), dt.time(9))) -> Rules:
    return Rules(quiet_start=quiet[0], quiet_end=quiet[1], zone=ZoneInfo("Asia/Shanghai"), marketing_cap=2,
                 marketing_window=dt.timedelta(days=7), channel_caps={}, wecom_one_per_day=one_per_day,
                 holdout_percent=Decimal(0), consent_required=frozenset(), max_delay=dt.timedelta(hours=24))  # fmt: skip


def test_the_limit_is_the_number_of_days_of_the_local_month_or_one_a_day():
    assert group_limit(_rules(), dt.datetime(2026, 2, 10, 4, tzinfo=UTC)) == ("group_monthly", 28, "month")
    # 2026-01-31 17:00 UTC is already 1 February in Shanghai
    assert group_limit(_rules(), dt.datetime(2026, 1, 31, 17, tzinfo=UTC)) == ("group_monthly", 28, "month")
    assert group_limit(_rules(one_per_day=True), dt.datetime(2026, 2, 10, 4, tzinfo=UTC)) == (
        "group_daily",
        1,
        "day",
    )


def test_messages_are_counted_in_the_local_month_and_a_full_group_is_suppressed():
    now = dt.datetime(2026, 4, 20, 2, tzinfo=UTC)  # 10:00 in Shanghai
    april = [dt.datetime(2026, 4, 1, 2, tzinfo=UTC) + dt.timedelta(days=d) for d in range(29)]
    late_march_utc = dt.datetime(2026, 3, 31, 16, 30, tzinfo=UTC)  # 00:30 on 1 April in Shanghai: counts
    early_march = dt.datetime(2026, 3, 31, 15, 30, tzinfo=UTC)  # 23:30 on 31 March in Shanghai: does not
    decisions = decide_group_sends(
        {"full": [*april, late_march_utc], "room": [*april, early_march]}, now, _rules()
    )
    assert (decisions["full"].status, decisions["full"].reason) == ("suppressed", "group_monthly")
    assert decisions["room"].status == "queued"


def test_one_a_day_counts_the_local_day():
    now = dt.datetime(2026, 4, 20, 2, tzinfo=UTC)
    yesterday_evening = dt.datetime(2026, 4, 19, 12, tzinfo=UTC)  # 20:00 on the 19th in Shanghai
    this_morning = dt.datetime(2026, 4, 20, 0, 30, tzinfo=UTC)  # 08:30 on the 20th
    decisions = decide_group_sends(
        {"a": [yesterday_evening], "b": [this_morning]}, now, _rules(one_per_day=True)
    )
    assert decisions["a"].status == "queued"
    assert (decisions["b"].status, decisions["b"].reason) == ("suppressed", "group_daily")


def test_quiet_hours_defer_every_group_to_their_end_whatever_its_count():
    night = dt.datetime(2026, 4, 20, 14, tzinfo=UTC)  # 22:00 in Shanghai
    decisions = decide_group_sends({"a": [], "b": [night - dt.timedelta(hours=1)]}, night, _rules())
    assert {d.status for d in decisions.values()} == {"deferred"}
    assert decisions["a"].reason == "quiet_hours"
    assert decisions["a"].scheduled_at == dt.datetime(2026, 4, 21, 1, tzinfo=UTC)  # 09:00 the next morning
    # quiet hours of equal start and end are off
    off = _rules(quiet=(dt.time(0), dt.time(0)))
    assert decide_group_sends({"a": []}, night, off)["a"].status == "queued"
