"""Acquisition quality on a hand-made warehouse, every figure computed by hand below.

As of 2026-06-01 00:00 UTC. Codes (state → attributes):

    bag-s1    code 1  bag_card  spring  S1  staff wang         cost ¥300
    till-s1   code 2  receipt   spring  S1  staff wang + li    cost ¥100
    shelf-s2  code 3  shelf     -       S2  staff zhao         no cost
    unused    code 4  bag_card  summer  S2  staff zhao         cost ¥50, nobody came

People (records wecom|eN, customer N):

    c1  bag-s1 05-01 (wang). Joins a group 05-02. Buys 05-03 ¥100, 05-20 ¥50. A delete of another staff
        member (zhou) 05-04 is not a delete of this add.
    c2  bag-s1 05-01 (wang). Bought 04-20 ¥80 — before the add, not counted. Deletes wang 05-09, 8 days
        after the add (删人): counts within 30 days, not within 7.
    c3  till-s1 05-02 (li), then bag-s1 05-05 (wang): attributed to the first add, till-s1 and li.
        Refunded order 05-03 ¥200 (not a purchase); buys 05-25 ¥60 (23 days: within 30, not 7). Joins a
        group 05-03, leaves it 05-06 (a group update naming the member). 05-02 + 30 days is after the
        cut-off: not matured at 30 days.
    c4  till-s1 05-10 (wang); wang deletes the customer 6 hours later (within 1 day, not by the customer).
    c5  shelf-s2 05-28 (the event names no staff: the code's zhao); buys 05-29 ¥30. 4 days old.
    e6  shelf-s2 05-15 (zhao), a record no resolve has reached: counted as a person of its own.
    c9  two records: shelf-s2 05-11 through one, bag-s1 05-12 through the other: one person, shelf-s2.
        Leaves a group 05-20 (a group_left event of the other record).
    c7  added through a state no code has; c8 added through bag-s1 after the cut-off: neither counts.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from siyu.acquisition.errors import AcquisitionError
from siyu.acquisition.quality import acquisition_quality
from siyu.warehouse.append import append
from siyu.warehouse.customer_orders import rebuild_customer_orders
from siyu.warehouse.schema import TABLES

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
CODES = {
    "bag-s1": {"code_id": 1, "channel": "bag_card", "campaign": "spring", "store": "S1", "staff": "wang",
               "cost": Decimal("300")},
    "till-s1": {"code_id": 2, "channel": "receipt", "campaign": "spring", "store": "S1",
                "staff": ["wang", "li"], "cost": "100"},
    "shelf-s2": {"code_id": 3, "channel": "shelf", "campaign": None, "store": "S2", "staff": "zhao",
                 "cost": None},
    "unused": {"code_id": 4, "channel": "bag_card", "campaign": "summer", "store": "S2", "staff": "zhao",
               "cost": 50},
}  # fmt: skip


def at(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-{text}").replace(tzinfo=UTC)


class Warehouse:
    def __init__(self, connection):
        self.connection = connection
        self.events: list[dict] = []

    def rows(self, table: str, rows: list[dict]) -> None:
        schema = TABLES[table].to_pyarrow()
        full = pa.Table.from_pylist([{n: r.get(n) for n in schema.names} for r in rows], schema=schema)
        with self.connection.transaction() as con:
            append(con, table, full)

    def person(self, customer_id: int, *records: str) -> None:
        self.rows(
            "customer_map",
            [{"record_key": f"wecom|{r}", "customer_id": customer_id, "resolved_at": AS_OF} for r in records],
        )

    def event(self, record: str | None, event_type: str, when: str, **properties) -> None:
        self.events.append(
            {
                "event_key": f"{record}:{event_type}:{when}:{len(self.events)}",
                "source": "wecom",
                "record_key": f"wecom|{record}" if record else None,
                "event_type": event_type,
                "occurred_at": at(when),
                "properties": json.dumps(properties, ensure_ascii=False),
            }
        )

    def added(self, record: str, state: str, when: str, staff: str = "") -> None:
        self.event(record, "wecom_contact_added", when, change_type="add_external_contact", state=state,
                   staff=staff)  # fmt: skip

    def deleted(self, record: str, when: str, staff: str, by_customer: bool) -> None:
        change = "del_follow_user" if by_customer else "del_external_contact"
        self.event(record, "wecom_contact_deleted", when, change_type=change, staff=staff, state="")

    def order(self, customer_record: str, key: str, when: str, amount: str, status="purchase") -> None:
        self.rows(
            "orders",
            [
                {
                    "order_key": f"shop|{key}",
                    "source": "shop",
                    "order_id": key,
                    "record_key": f"wecom|{customer_record}",
                    "status_class": status,
                    "order_time": at(when),
                    "amount": Decimal(amount),
                }
            ],
        )

    def done(self) -> None:
        self.rows("events", self.events)
        rebuild_customer_orders(self.connection.backend())


@pytest.fixture
def brand(warehouse):
    w = Warehouse(warehouse)
    for n in (1, 2, 3, 4, 5, 7, 8):
        w.person(n, f"e{n}")
    w.person(9, "e9a", "e9b")

    w.added("e1", "bag-s1", "05-01 04:00:00", "wang")
    w.event("e1", "group_joined", "05-02 04:00:00", chat_id="wrOgA", join_scene="3")
    w.order("e1", "o1", "05-03 04:00:00", "100")
    w.order("e1", "o2", "05-20 04:00:00", "50")
    w.deleted("e1", "05-04 04:00:00", staff="zhou", by_customer=True)

    w.order("e2", "o3", "04-20 04:00:00", "80")
    w.added("e2", "bag-s1", "05-01 04:00:00", "wang")
    w.deleted("e2", "05-09 04:00:00", staff="wang", by_customer=True)

    w.added("e3", "till-s1", "05-02 04:00:00", "li")
    w.added("e3", "bag-s1", "05-05 04:00:00", "wang")
    w.order("e3", "o4", "05-03 04:00:00", "200", status="not_purchase")
    w.order("e3", "o5", "05-25 04:00:00", "60")
    w.event("e3", "group_joined", "05-03 04:00:00", chat_id="wrOgA", join_scene="3")
    w.event(None, "wecom_group_update", "05-06 04:00:00", chat_id="wrOgA", update_detail="del_member",
            member_count="1", members=["e3"])  # fmt: skip

    w.added("e4", "till-s1", "05-10 04:00:00", "wang")
    w.deleted("e4", "05-10 10:00:00", staff="wang", by_customer=False)

    w.added("e5", "shelf-s2", "05-28 04:00:00")
    w.order("e5", "o6", "05-29 04:00:00", "30")

    w.added("e6", "shelf-s2", "05-15 04:00:00", "zhao")

    w.added("e9b", "shelf-s2", "05-11 04:00:00", "zhao")
    w.added("e9a", "bag-s1", "05-12 04:00:00", "wang")
    w.event("e9a", "group_left", "05-20 04:00:00", chat_id="wrOgB")

    # an event whose properties are not JSON is skipped, not a failed page
    w.event("e5", "wecom_contact_added", "05-29 05:00:00")
    w.events[-1]["properties"] = "{not json"

    w.added("e7", "not-a-code", "05-05 04:00:00", "wang")
    w.added("e8", "bag-s1", "06-02 04:00:00", "wang")
    w.done()
    return w


def by_key(rows):
    return {r["key"]: r for r in rows}


def figures(row, *names):
    return {n: row[n] for n in names}


def test_per_code(brand):
    codes = by_key(acquisition_quality(CODES, as_of=AS_OF)["code"])
    assert list(codes) == [3, 1, 2, 4]  # most adds first
    bag, till, shelf, unused = codes[1], codes[2], codes[3], codes[4]
    assert bag["state"] == "bag-s1"
    assert bag == {
        "key": 1,
        "state": "bag-s1",
        "adds": 2,
        "deleted_1": 0,
        "deleted_7": 0,
        "deleted_30": 1,  # c2 after 8 days
        "customer_deleted_1": 0,
        "customer_deleted_7": 0,
        "customer_deleted_30": 1,
        "retained": 1,
        "joined_group": 1,
        "left_group": 0,
        "matured_7": 2,
        "matured_30": 2,
        "matured_90": 0,
        "retained_7": 2,
        "retained_30": 1,
        "buyers_7": 1,
        "buyers_30": 1,
        "buyers_90": 1,  # c2's order before the add is not a first purchase after it
        "gmv_7": Decimal("100.00"),
        "gmv_30": Decimal("150.00"),
        "gmv_90": Decimal("150.00"),
        "retention_7": 1.0,
        "retention_30": 0.5,
        "buyer_rate_90": 0.5,
        "cost": Decimal("300.00"),
        "cost_per_retained": Decimal("300.00"),
        "cost_per_buyer": Decimal("300.00"),
        "roi_90": 0.5,
    }
    # c3 counts for till-s1 only (first add); c4 deleted within a day by the staff member
    assert figures(till, "adds", "deleted_1", "deleted_7", "deleted_30", "customer_deleted_30", "retained") == {
        "adds": 2, "deleted_1": 1, "deleted_7": 1, "deleted_30": 1, "customer_deleted_30": 0, "retained": 1,
    }  # fmt: skip
    assert figures(till, "joined_group", "left_group", "matured_7", "matured_30", "retained_7", "retained_30") == {
        "joined_group": 1, "left_group": 1, "matured_7": 2, "matured_30": 0, "retained_7": 1, "retained_30": 0,
    }  # fmt: skip
    # the refunded order is not a purchase; the one 23 days after the add counts within 30, not 7
    assert figures(till, "buyers_7", "buyers_30", "buyers_90", "gmv_7", "gmv_30", "gmv_90") == {
        "buyers_7": 0, "buyers_30": 1, "buyers_90": 1,
        "gmv_7": Decimal("0.00"), "gmv_30": Decimal("60.00"), "gmv_90": Decimal("60.00"),
    }  # fmt: skip
    assert (till["retention_7"], till["retention_30"]) == (0.5, None)
    assert (till["cost"], till["cost_per_retained"], till["cost_per_buyer"], till["roi_90"]) == (
        Decimal("100.00"), Decimal("100.00"), Decimal("100.00"), 0.6,
    )  # fmt: skip
    # c5 (4 days old), the unresolved record e6, and c9 whose first add was through this code
    assert figures(shelf, "adds", "retained", "matured_7", "retained_7", "buyers_7", "gmv_90", "left_group") == {
        "adds": 3, "retained": 3, "matured_7": 2, "retained_7": 2, "buyers_7": 1, "gmv_90": Decimal("30.00"),
        "left_group": 1,
    }  # fmt: skip
    assert (shelf["cost"], shelf["cost_per_retained"], shelf["cost_per_buyer"], shelf["roi_90"]) == (
        None, None, None, None,
    )  # fmt: skip
    assert (unused["adds"], unused["cost"], unused["cost_per_retained"], unused["roi_90"]) == (
        0, Decimal("50.00"), None, 0.0,
    )  # fmt: skip


def test_per_store_channel_and_campaign(brand):
    result = acquisition_quality(CODES, as_of=AS_OF, dimensions=("store", "channel", "campaign"))
    s1 = by_key(result["store"])["S1"]
    assert figures(s1, "adds", "deleted_1", "deleted_7", "deleted_30", "retained", "joined_group", "left_group") == {
        "adds": 4, "deleted_1": 1, "deleted_7": 1, "deleted_30": 2, "retained": 2, "joined_group": 2,
        "left_group": 1,
    }  # fmt: skip
    assert figures(s1, "retained_7", "retained_30", "buyers_7", "buyers_30", "gmv_30", "cost") == {
        "retained_7": 3, "retained_30": 1, "buyers_7": 1, "buyers_30": 2, "gmv_30": Decimal("210.00"),
        "cost": Decimal("400.00"),
    }  # fmt: skip
    assert (s1["cost_per_retained"], s1["cost_per_buyer"], s1["roi_90"]) == (
        Decimal("200.00"), Decimal("200.00"), 0.525,
    )  # fmt: skip
    # S2 holds a code without a cost: no cost figures for the store
    s2 = by_key(result["store"])["S2"]
    assert (s2["adds"], s2["cost"], s2["cost_per_retained"]) == (3, None, None)

    channels = by_key(result["channel"])
    assert {k: (r["adds"], r["cost"]) for k, r in channels.items()} == {
        "shelf": (3, None), "bag_card": (2, Decimal("350.00")), "receipt": (2, Decimal("100.00")),
    }  # fmt: skip
    campaigns = result["campaign"]
    assert [(r["key"], r["adds"], r["cost"]) for r in campaigns] == [
        ("spring", 4, Decimal("400.00")), (None, 3, None), ("summer", 0, Decimal("50.00")),
    ]  # fmt: skip


def test_per_staff_the_staff_member_who_was_added(brand):
    staff = acquisition_quality(CODES, as_of=AS_OF, dimensions=("staff",))["staff"]
    assert [(r["key"], r["adds"], r["retained"], r["buyers_90"]) for r in staff] == [
        ("wang", 3, 1, 1),  # c1, c2 (bag-s1) and c4 (till-s1)
        ("zhao", 3, 3, 1),  # c5 through the code's own staff, e6, c9
        ("li", 1, 1, 1),  # c3 through till-s1
    ]
    costs = {r["key"]: (r["cost"], r["cost_per_retained"]) for r in staff}
    # bag-s1's ¥300 all to wang; till-s1's ¥100 half to wang and half to li (one add each); shelf-s2 no cost
    assert costs == {
        "wang": (Decimal("350.00"), Decimal("350.00")),
        "li": (Decimal("50.00"), Decimal("50.00")),
        "zhao": (None, None),
    }


def test_adds_in_a_range_keep_the_first_add(brand):
    # c3's second add (05-05, bag-s1) is inside the range, but c3 was first added before it
    codes = by_key(acquisition_quality(CODES, as_of=AS_OF, added_from=at("05-04 00:00:00"))["code"])
    assert {k: r["adds"] for k, r in codes.items()} == {1: 0, 2: 1, 3: 3, 4: 0}


def test_nothing_after_the_cut_off_is_read(brand):
    codes = by_key(acquisition_quality(CODES, as_of=at("05-09 00:00:00"))["code"])
    # c2's delete (05-09 04:00) and c1's second order (05-20) have not happened yet
    assert (codes[1]["adds"], codes[1]["deleted_30"], codes[1]["retained"]) == (2, 0, 2)
    assert codes[1]["gmv_30"] == Decimal("100.00")
    assert codes[2]["adds"] == 1  # c4 is added on 05-10
    assert codes[3]["adds"] == 0


def test_no_codes_no_rows_and_bad_input_is_refused(warehouse):
    assert acquisition_quality({}, as_of=AS_OF) == {
        d: [] for d in ("code", "store", "staff", "channel", "campaign")
    }
    with pytest.raises(AcquisitionError, match="cost"):
        acquisition_quality({"s": {"code_id": 1, "cost": "a lot"}}, as_of=AS_OF)
    with pytest.raises(AcquisitionError, match="dimension"):
        acquisition_quality(CODES, as_of=AS_OF, dimensions=("city",))
    with pytest.raises(AcquisitionError, match="zone"):
        acquisition_quality(CODES, as_of=datetime(2026, 6, 1))


def test_an_empty_warehouse_gives_every_code_a_row_of_zeros(warehouse):
    codes = acquisition_quality(CODES, as_of=AS_OF)["code"]
    assert [(r["key"], r["adds"], r["gmv_90"]) for r in codes] == [
        (1, 0, Decimal("0.00")), (2, 0, Decimal("0.00")), (3, 0, Decimal("0.00")), (4, 0, Decimal("0.00")),
    ]  # fmt: skip


def test_every_figure_and_dimension_has_chinese_words(warehouse):
    from django.utils import translation

    from siyu.acquisition.quality import DIMENSION_LABELS, FIGURE_LABELS

    row = acquisition_quality(CODES, as_of=AS_OF, dimensions=("store",))["store"][0]
    assert set(row) - {"key", "state"} == set(FIGURE_LABELS)
    with translation.override("zh-hans"):
        words = [str(w) for w in (*FIGURE_LABELS.values(), *DIMENSION_LABELS.values())]
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in w) for w in words), words


def test_who_came_through_which_code_for_the_analytics_pages(brand):
    from siyu.acquisition.quality import code_attribution

    rows = (
        code_attribution(brand.connection.backend(), CODES, as_of=AS_OF).order_by("customer_id").to_pyarrow()
    )
    got = [
        (r["customer_id"], r["code_id"], r["channel"], r["staff"], r["deleted_at"]) for r in rows.to_pylist()
    ]
    # resolved customers only (e6 has none yet); code ids as the caller gave them, as text
    assert got == [
        (1, "1", "bag_card", "wang", None),
        (2, "1", "bag_card", "wang", at("05-09 04:00:00")),
        (3, "2", "receipt", "li", None),
        (4, "2", "receipt", "wang", at("05-10 10:00:00")),
        (5, "3", "shelf", "zhao", None),
        (9, "3", "shelf", "zhao", None),
    ]
