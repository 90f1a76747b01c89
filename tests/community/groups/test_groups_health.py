"""Group health on a small hand-made example with exact figures: size over time, joins and leaves per
day, 退群率 per group and per type, members who left within 7 days of joining, GMV of members against
other customers (purchases only), and duplicate groups."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from siyu.community.groups.actions import flag_duplicate_groups, mirror_groups
from siyu.community.groups.models import DISMISSED_SCENE, CustomerGroup, GroupMember, GroupStatus
from siyu.community.groups.queries import (
    duplicate_groups,
    early_leavers,
    group_health,
    leave_rates,
    member_gmv,
    size_over_time,
)

pytestmark = pytest.mark.django_db
START, END = dt.date(2026, 3, 1), dt.date(2026, 3, 10)


def _at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"2026-{day}T04:00:00+00:00")  # noon in Shanghai


@pytest.fixture
def example(warehouse):
    a = CustomerGroup.objects.create(chat_id="A", name="静安福利群", group_type="welfare", owner_userid="o1")
    b = CustomerGroup.objects.create(chat_id="B", name="VIP群", group_type="vip", owner_userid="o1")
    c = CustomerGroup.objects.create(chat_id="C", name="已解散", group_type="welfare", status=GroupStatus.DISMISSED)
    stays = [
        (a, "o1", None, "02-01", None, True),
        (a, "wm1", 1, "02-20", None, False),
        (a, "wm2", 2, "02-25", "03-05", False),
        (a, "wm3", 3, "03-02", "03-04", False),  # left two days after joining
        (a, "wm4", 4, "03-03", None, False),
        (b, "wm1", 1, "03-01", None, False),
        (b, "wm5", 5, "03-06", "03-20", False),  # leaves after the window
        (b, "wm4", 4, "02-01", None, False),
        (c, "wm6", 6, "02-01", "03-08", False),  # closed by the dismissal: not a leave
    ]
    for group, member, cid, joined, left, staff in stays:
        GroupMember.objects.create(group=group, member_id=member, customer_id=cid, is_staff=staff, joined_at=_at(joined),
                                   left_at=_at(left) if left else None,
                                   quit_scene=DISMISSED_SCENE if group is c else (0 if left else None))  # fmt: skip
    mirror_groups([a.pk, b.pk, c.pk])
    con = warehouse.raw_connection()
    for cid in range(1, 9):
        con.execute("INSERT INTO customer_map VALUES (?, ?, now())", [f"k|{cid}", cid])
        con.execute("INSERT INTO customer_summary (customer_id) VALUES (?)", [cid])
    orders = [(1, "100.00", "purchase", "03-02"), (1, "50.00", "not_purchase", "03-03"),
              (2, "30.00", "purchase", "02-15"), (7, "80.00", "purchase", "03-05"), (3, "20.50", "purchase", "03-09")]  # fmt: skip
    for n, (cid, amount, status, day) in enumerate(orders):
        con.execute("INSERT INTO customer_orders (customer_id, order_key, source, status_class, order_time, amount) "
                    "VALUES (?, ?, 'shop', ?, ?, ?)", [cid, f"o{n}", status, _at(day), Decimal(amount)])  # fmt: skip
    return {"a": a, "b": b, "c": c}


def test_size_joins_and_leaves_per_day(example):
    days = {r["day"].isoformat()[5:]: (r["members"], r["joins"], r["leaves"]) for r in size_over_time(START, END)}
    assert days == {
        "03-01": (5, 1, 0), "03-02": (6, 1, 0), "03-03": (7, 1, 0), "03-04": (6, 0, 1), "03-05": (5, 0, 1),
        "03-06": (6, 1, 0), "03-07": (6, 0, 0), "03-08": (5, 0, 0), "03-09": (5, 0, 0), "03-10": (5, 0, 0),
    }  # fmt: skip
    only_a = size_over_time(START, END, chat_ids=["A"])
    assert [r["members"] for r in only_a][:5] == [2, 3, 4, 3, 2]


def test_leave_rate_per_group_and_per_type(example):
    per_group = {r["chat_id"]: r for r in leave_rates(START, END, by="group")}
    a = per_group["A"]
    assert (a["members_at_start"], a["joins"], a["leaves"], a["early_leaves"], a["members_at_end"]) == (2, 2, 2, 1, 2)
    assert a["leave_rate"] == 0.5
    assert (per_group["B"]["leaves"], per_group["B"]["leave_rate"], per_group["B"]["members_at_end"]) == (0, 0.0, 3)
    assert per_group["C"]["leaves"] == 0  # a dismissal is not a leave
    per_type = {r["group_type"]: r for r in leave_rates(START, END, by="type")}
    assert (per_type["welfare"]["leaves"], per_type["welfare"]["leave_rate"]) == (2, 0.4)
    assert per_type["vip"]["leave_rate"] == 0.0
    assert [r["chat_id"] for r in leave_rates(START, END, group_type="vip")] == ["B"]


def test_members_who_left_within_seven_days(example):
    assert early_leavers(START, END) == {"joins": 4, "early_leaves": 1, "share": 0.25, "customers": [3]}
    assert early_leavers(START, END, group_type="vip")["early_leaves"] == 0


def test_gmv_of_members_against_other_customers_counts_purchases_only(example):
    gmv = member_gmv(START, END)
    assert gmv["members"] == {"customers": 6, "buyers": 2, "gmv": Decimal("120.50"), "gmv_per_customer": Decimal("20.08")}
    assert gmv["others"] == {"customers": 2, "buyers": 1, "gmv": Decimal("80.00"), "gmv_per_customer": Decimal("40.00")}
    vip = member_gmv(START, END, group_type="vip")
    assert vip["members"]["customers"] == 3 and vip["members"]["gmv"] == Decimal("100.00")


def test_duplicate_groups_are_pairs_sharing_members(example):
    assert duplicate_groups(min_shared=2) == [{"chat_a": "A", "chat_b": "B", "shared": 2, "share": 1.0}]
    assert duplicate_groups() == []  # three shared members at least, by default
    health = group_health(START, END)
    assert health["early"]["early_leaves"] == 1 and len(health["size"]) == 10


def test_the_sync_flags_duplicate_groups_for_the_health_page(warehouse):
    groups = [CustomerGroup.objects.create(chat_id=c, name=c) for c in ("D", "E", "F")]
    for group, members in zip(groups, (["x1", "x2", "x3", "x4"], ["x1", "x2", "x3"], ["x4", "x5"]), strict=True):
        for member in members:
            GroupMember.objects.create(group=group, member_id=member, joined_at=_at("03-01"))
    mirror_groups([g.pk for g in groups])
    assert group_health(START, END)["duplicates"] == []  # nothing flagged before a sync looked
    assert flag_duplicate_groups() == 1
    assert group_health(START, END)["duplicates"] == [{"chat_a": "D", "chat_b": "E", "shared": 3, "share": 1.0}]
