"""Group health at its edges: local days begin at local midnight, a stay over before the window is not a
member at its start, an early leave is one within 7 × 24 hours of joining, and a customer in very many
groups (a tester) does not make groups look like duplicates."""

from __future__ import annotations

import datetime as dt

import pytest

from siyu.community.groups.actions import mirror_groups
from siyu.community.groups.models import CustomerGroup, GroupMember
from siyu.community.groups.queries import duplicate_groups, early_leavers, leave_rates, size_over_time

pytestmark = pytest.mark.django_db
START, END = dt.date(2026, 3, 1), dt.date(2026, 3, 3)


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{text}+00:00")


def _stays(group: CustomerGroup, stays: list[tuple[str, str, str | None]]) -> None:
    for member, joined, left in stays:
        GroupMember.objects.create(group=group, member_id=member, joined_at=_utc(joined),
                                   left_at=_utc(left) if left else None, quit_scene=0 if left else None)  # fmt: skip


def test_days_are_local_days_and_earlier_stays_count_at_the_start(warehouse):
    group = CustomerGroup.objects.create(chat_id="A", name="A", group_type="welfare")
    _stays(group, [
        ("gone", "2026-02-01T04:00:00", "2026-02-10T04:00:00"),  # came and went before the window
        ("stayer", "2026-02-01T04:00:00", None),
        ("late", "2026-02-28T16:30:00", None),  # 00:30 on 1 March in Shanghai
        ("night", "2026-03-01T15:59:59", "2026-03-02T16:00:00"),  # joined 1 March, left 3 March (local)
    ])  # fmt: skip
    mirror_groups([group.pk])
    days = [(r["day"], r["members"], r["joins"], r["leaves"]) for r in size_over_time(START, END)]
    assert days == [(dt.date(2026, 3, 1), 3, 2, 0), (dt.date(2026, 3, 2), 3, 0, 0), (dt.date(2026, 3, 3), 2, 0, 1)]
    (rates,) = leave_rates(START, END)
    assert (rates["members_at_start"], rates["joins"], rates["leaves"], rates["members_at_end"]) == (1, 2, 1, 2)


def test_an_early_leave_is_one_within_seven_times_24_hours(warehouse):
    group = CustomerGroup.objects.create(chat_id="A", name="A")
    _stays(group, [
        ("exactly", "2026-03-01T04:00:00", "2026-03-08T04:00:00"),
        ("a_second_more", "2026-03-01T04:00:00", "2026-03-08T04:00:01"),
    ])  # fmt: skip
    mirror_groups([group.pk])
    assert early_leavers(START, END)["early_leaves"] == 1
    assert leave_rates(START, dt.date(2026, 3, 10))[0]["early_leaves"] == 1


def test_a_customer_in_more_than_fifty_groups_is_left_out_of_duplicates(warehouse):
    groups = [CustomerGroup.objects.create(chat_id=f"G{n:02d}", name=f"G{n}") for n in range(51)]
    for group in groups:
        _stays(group, [("tester", "2026-03-01T04:00:00", None)])
    for member in ("x1", "x2", "x3"):  # G00 and G01 share three real customers
        for group in groups[:2]:
            _stays(group, [(member, "2026-03-01T04:00:00", None)])
    mirror_groups([g.pk for g in groups])
    # the tester still counts in each group's size: 3 shared of 4
    assert duplicate_groups() == [{"chat_a": "G00", "chat_b": "G01", "shared": 3, "share": 0.75}]
