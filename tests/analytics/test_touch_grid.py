"""Page 9, touchpoint × lifecycle stage, on hand-computed touches.

Traits (current snapshot of 2026-03-31): 1 loyal, 2 first_purchase, 3 dormant; 4 has none (unknown).
Touches in March: 1 twice by guide task batch 5; 2 by SMS and 3 by WeCom from journey 7; 4 by a manual
SMS; 3 twice and 1 once in 1-on-1 WeCom chats (the chat archive's import: one touch per staff message,
numbered by its msgid). Left out: an app message to staff (wecom_app) and a campaign email in April.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from engagement.engagement_helpers import add_customers
from siyu.analytics.charts import charts_for
from siyu.analytics.filters import Filters
from siyu.analytics.queries import touch_grid
from siyu.community.archive.actions import import_chat_archive
from siyu.staff.actions import create_user
from siyu.warehouse.customer_orders import rebuild_on
from siyu.warehouse.schema import TABLES

pytestmark = pytest.mark.django_db
MARCH = Filters(date(2026, 3, 1), date(2026, 3, 31))


def insert(connection, table, rows):
    schema = TABLES[table].to_pyarrow()
    full = [{name: row.get(name) for name in schema.names} for row in rows]
    connection.backend().insert(table, pa.Table.from_pylist(full, schema=schema))


@pytest.fixture
def touched(warehouse, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    cut = datetime(2026, 3, 31, 16, tzinfo=UTC)
    insert(warehouse, "trait_runs", [{"as_of": cut, "current": True, "computed_at": cut, "customers": 3}])
    insert(warehouse, "customer_traits", [
        {"customer_id": 1, "as_of": cut, "lifecycle_stage": "loyal"},
        {"customer_id": 2, "as_of": cut, "lifecycle_stage": "first_purchase"},
        {"customer_id": 3, "as_of": cut, "lifecycle_stage": "dormant"},
    ])  # fmt: skip

    def touch(send_id, cid, channel, source, source_id, day):
        return {"send_id": send_id, "customer_id": cid, "channel": channel, "source": source,
                "source_id": source_id, "marketing": True, "sent_at": datetime(2026, *day, 4, tzinfo=UTC)}  # fmt: skip

    insert(warehouse, "touches", [
        touch(1, 1, "guide", "task", "5", (3, 2)),
        touch(2, 1, "guide", "task", "5", (3, 9)),
        touch(3, 2, "sms", "journey", "7", (3, 3)),
        touch(4, 3, "wecom", "journey", "7", (3, 4)),
        touch(5, 4, "sms", "manual", None, (3, 5)),
        touch(6, 2, "wecom_app", "journey", "7", (3, 6)),
        touch(7, 3, "email", "campaign", "9", (4, 2)),
        touch(None, 3, "wecom_chat", "chat_archive", "msg-a", (3, 11)),
        touch(None, 3, "wecom_chat", "chat_archive", "msg-b", (3, 12)),
        touch(None, 1, "wecom_chat", "chat_archive", "msg-c", (3, 12)),
    ])  # fmt: skip
    return warehouse


def test_the_grid_counts_customers_per_touchpoint_and_stage(touched):
    result = touch_grid(MARCH)
    assert result["stages"] == ["lead", "first_purchase", "repeat", "loyal", "dormant", "churned", "unknown"]
    grid = {
        r["touchpoint"]: {s: r[s] for s in result["stages"] if r[s]}
        for r in result["tables"]["touchpoint_stage"]
    }
    assert grid == {
        "wecom": {"dormant": 1},
        "wecom_chat": {"loyal": 1, "dormant": 1},
        "sms": {"first_purchase": 1, "unknown": 1},
        "email": {},
        "webhook": {},
        "guide": {"loyal": 1},
    }
    assert result["empty_cells"] == 6 * 6 - 5
    operations = [
        (r["operation"], r["operation_id"], {s: r[s] for s in result["stages"] if r[s]})
        for r in result["tables"]["operation_stage"]
    ]
    assert operations == [
        ("journey", "7", {"first_purchase": 1, "dormant": 1}),
        ("campaign", None, {}),  # no campaign reached anybody: its empty row is shown
        ("task", "5", {"loyal": 1}),
        ("manual", None, {"unknown": 1}),
        ("chat_archive", None, {"loyal": 1, "dormant": 1}),  # all chats one row, not one per message
    ]
    assert [(c["operation"], c["touchpoint"], c["stage"], c["touches"], c["customers"])
            for c in result["tables"]["touch_cells"]] == [
        ("journey", "sms", "first_purchase", 1, 1),
        ("journey", "wecom", "dormant", 1, 1),
        ("task", "guide", "loyal", 2, 1),
        ("manual", "sms", "unknown", 1, 1),
        ("chat_archive", "wecom_chat", "dormant", 2, 1),
        ("chat_archive", "wecom_chat", "loyal", 1, 1),
    ]  # fmt: skip


def test_the_heatmap_marks_empty_cells(touched):
    point_chart, operation_chart = charts_for(touch_grid(MARCH))
    heat = point_chart["option"]
    assert heat["series"][0]["type"] == "heatmap"
    assert len(heat["series"][0]["data"]) == 6 * 7  # every touchpoint × stage, zeros included
    zero_piece = heat["visualMap"]["pieces"][0]
    assert zero_piece["value"] == 0 and zero_piece["color"] == "#fca5a5"
    data = heat["series"][0]["data"]
    assert [0, 5, 0] in data and [3, 5, 1] in data  # guide (row 5): lead (column 0) nobody, loyal (3) one
    assert [3, 1, 1] in data  # WeCom chat 1-on-1 (row 1): loyal one
    assert len(operation_chart["option"]["yAxis"]["data"]) == 5
    assert point_chart["definition"] and operation_chart["definition"]


def test_a_store_filter_keeps_customers_of_the_store(touched):
    insert(touched, "records", [{"record_key": "pos|m1", "source": "pos", "store": "S1"}])
    insert(touched, "customer_map", [{"record_key": "pos|m1", "customer_id": 1}])
    rebuild_on(touched.raw_connection())  # as the resolve that mapped the record would
    result = touch_grid(Filters(date(2026, 3, 1), date(2026, 3, 31), stores=("S1",)))
    assert sum(r[s] for r in result["tables"]["touchpoint_stage"] for s in result["stages"]) == 2
    result = touch_grid(Filters(date(2026, 3, 1), date(2026, 3, 31), channels=("pos",)))
    assert [r["touchpoint"] for r in result["tables"]["touchpoint_stage"] if r["loyal"]] == ["wecom_chat", "guide"]


def test_messages_staff_wrote_in_the_chat_archive_reach_the_grid(warehouse, settings):
    """The real import of the community tests' archive sample: guide1 wrote three 1-on-1 messages to the one
    known customer (7, no traits: unknown stage); the others' touches have no customer yet."""
    settings.TIME_ZONE = "Asia/Shanghai"
    for userid in ("guide1", "guide2"):
        create_user(f"user-{userid}", f"pw-{userid}-12345", "guide", wecom_userid=userid)
    add_customers(warehouse.raw_connection(), [{"customer_id": 7, "wecom": ("wmAlice", "guide1")}])
    import_chat_archive(Path(__file__).parents[1] / "community" / "data" / "archive_sample.jsonl")
    result = touch_grid(Filters(date(2025, 11, 1), date(2025, 12, 31)))
    chats = next(r for r in result["tables"]["touchpoint_stage"] if r["touchpoint"] == "wecom_chat")
    assert {s: chats[s] for s in result["stages"] if chats[s]} == {"unknown": 1}
    chat_rows = [r for r in result["tables"]["operation_stage"] if r["operation"] == "chat_archive"]
    assert [(r["operation_id"], r["unknown"]) for r in chat_rows] == [(None, 1)]  # one row, not one per message
    assert [(c["touchpoint"], c["touches"], c["customers"]) for c in result["tables"]["touch_cells"]] == [
        ("wecom_chat", 3, 1),
    ]
