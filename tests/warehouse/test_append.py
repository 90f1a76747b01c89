"""The warehouse's batch writes that Ibis cannot express (DuckDB, the supported warehouse engine)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from siyu.warehouse.append import replace_all


def _flags(pairs: list[tuple[str, str, int, float]]) -> pa.Table:
    found = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    return pa.table({
        "chat_a": pa.array([p[0] for p in pairs], pa.string()), "chat_b": pa.array([p[1] for p in pairs], pa.string()),
        "shared": pa.array([p[2] for p in pairs], pa.int64()), "share": pa.array([p[3] for p in pairs], pa.float64()),
        "found_at": pa.array([found] * len(pairs), pa.timestamp("us", tz="UTC")),
    })  # fmt: skip


def _pairs(con) -> list[tuple]:
    return con.execute("SELECT chat_a, chat_b, shared, share FROM group_duplicates ORDER BY chat_a, chat_b").fetchall()


def test_replace_all_leaves_only_the_new_rows(warehouse):
    with warehouse.transaction() as con:
        assert replace_all(con, "group_duplicates", _flags([("A", "B", 3, 1.0), ("A", "C", 4, 0.5)])) == 0
    with warehouse.transaction() as con:
        assert replace_all(con, "group_duplicates", _flags([("D", "E", 5, 0.75)])) == 2
    assert _pairs(warehouse.raw_connection()) == [("D", "E", 5, 0.75)]
    with warehouse.transaction() as con:
        assert replace_all(con, "group_duplicates", _flags([])) == 1  # nothing found any more: nothing flagged
    assert _pairs(warehouse.raw_connection()) == []


def test_replace_all_is_undone_with_its_transaction(warehouse):
    with warehouse.transaction() as con:
        replace_all(con, "group_duplicates", _flags([("A", "B", 3, 1.0)]))
    with pytest.raises(RuntimeError):
        with warehouse.transaction() as con:
            replace_all(con, "group_duplicates", _flags([("D", "E", 5, 0.75)]))
            raise RuntimeError("the sync failed half-way")
    assert _pairs(warehouse.raw_connection()) == [("A", "B", 3, 1.0)]
