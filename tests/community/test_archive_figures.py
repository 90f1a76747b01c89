"""Figures from the chat archive on the hand-written sample (tests/community/data/archive_sample.jsonl):
guide response times in 1-on-1 chats, silent group members, and messages per group and day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from siyu.community.archive import queries
from siyu.community.archive.actions import import_chat_archive
from siyu.staff.actions import create_user

SAMPLE = Path(__file__).parent / "data" / "archive_sample.jsonl"
T0 = dt.datetime(2025, 11, 24, 16, 0, tzinfo=dt.UTC)  # midnight of 25 November in Shanghai
pytestmark = pytest.mark.django_db


@pytest.fixture
def archive(warehouse, db):
    for userid in ("guide1", "guide2"):
        create_user(f"user-{userid}", f"pw-{userid}-12345", "guide", wecom_userid=userid)
    import_chat_archive(SAMPLE)
    return warehouse


def test_response_times_per_guide(archive):
    # guide1 answered Alice after 60 s (msg001→msg002), 180 s (the image msg003 → the weapp card msg016;
    # her consent "agree" msg018 is not a question), 120 s next day (msg024→msg025), and Bob after 300 s;
    # Alice's video (msg026) and Bob's chat record (msg020) wait unanswered. guide2 answered Carol's voice
    # after 1,800 s.
    figures = {r["staff"]: r for r in queries.response_times()}
    assert figures["guide1"]["replies"] == 4 and figures["guide1"]["unanswered"] == 2
    assert figures["guide1"]["median_seconds"] == pytest.approx(150.0)
    assert figures["guide1"]["p90_seconds"] == pytest.approx(264.0)  # interpolated: 180 + 0.7 × 120
    assert (figures["guide2"]["replies"], figures["guide2"]["median_seconds"], figures["guide2"]["unanswered"]) == (
        1, 1800.0, 0,
    )  # fmt: skip
    # a period: only the waits that began on the second day
    later = queries.response_times(start=T0 + dt.timedelta(days=1))
    assert [(r["staff"], r["replies"], r["median_seconds"], r["unanswered"]) for r in later] == [
        ("guide1", 1, 120.0, 1)
    ]


def test_silent_members_per_group(archive):
    # two days in, silent for a day: in wrRoom1 Alice spoke on day two (msg027), Bob last on day one and
    # Carol never (the robot and guide1 are not customers); in wrRoom2 Carol spoke on day one, Dave never
    found = queries.silent_members(days=1, as_of=T0 + dt.timedelta(days=2))
    assert found["rooms"] == [
        {"room_id": "wrRoom1", "members": 3, "silent": 2},
        {"room_id": "wrRoom2", "members": 2, "silent": 2},
    ]
    assert [(m["room_id"], m["external_userid"], m["last_spoke_at"]) for m in found["members"]] == [
        ("wrRoom1", "wmBob", T0 + dt.timedelta(seconds=3300)),
        ("wrRoom1", "woCarol", None),
        ("wrRoom2", "wmDave", None),
        ("wrRoom2", "woCarol", T0 + dt.timedelta(seconds=4100)),
    ]
    # someone seen for less than the N days is not silent yet
    early = queries.silent_members(days=1, as_of=T0 + dt.timedelta(hours=12))
    assert early["rooms"] == [{"room_id": "wrRoom1", "members": 3, "silent": 0},
                              {"room_id": "wrRoom2", "members": 2, "silent": 0}]  # fmt: skip


def test_messages_per_group_and_local_day(archive):
    counts = queries.daily_message_counts()
    day1, day2 = dt.date(2025, 11, 25), dt.date(2025, 11, 26)
    # the recall notice (msg012) is not a message of its own
    assert [(c["room_id"], c["day"], c["messages"], c["customer_messages"], c["speakers"]) for c in counts] == [
        ("wrRoom1", day1, 5, 2, 4),
        ("wrRoom1", day2, 1, 1, 1),
        ("wrRoom2", day1, 4, 2, 2),
    ]
    assert queries.daily_message_counts(start=day2, room_ids=["wrRoom1"])[0]["messages"] == 1


def test_a_synced_groups_members_are_its_current_members(archive):
    # the group sync knows wrRoom1: Bob left it, Erin joined ten days before and never wrote a word
    con = archive.raw_connection()
    con.executemany(
        "INSERT INTO group_members (chat_id, group_type, member_id, is_staff, joined_at, left_at) "
        "VALUES ('wrRoom1', 'welfare', ?, false, ?, ?)",
        [("wmAlice", T0 - dt.timedelta(days=30), None), ("woCarol", T0 - dt.timedelta(days=30), None),
         ("wmBob", T0 - dt.timedelta(days=30), T0 + dt.timedelta(days=1, hours=12)),
         ("wmErin", T0 - dt.timedelta(days=10), None)],
    )  # fmt: skip
    found = queries.silent_members(days=1, as_of=T0 + dt.timedelta(days=2))
    assert found["rooms"][0] == {"room_id": "wrRoom1", "members": 3, "silent": 2}
    assert [(m["room_id"], m["external_userid"]) for m in found["members"]] == [
        ("wrRoom1", "wmErin"), ("wrRoom1", "woCarol"), ("wrRoom2", "wmDave"), ("wrRoom2", "woCarol"),
    ]  # fmt: skip
