"""Temporary tables (what traits, segments and resolution compute into before they write) behave the same on
DuckDB and on Spark: computed once, read back, replaced, written into a warehouse table inside a transaction,
dropped, and private to the thread that made them."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest

from warehouse.engines import table_rows

pytestmark = pytest.mark.django_db


def _members(pairs) -> pa.Table:
    return pa.table({
        "segment_id": pa.array([s for s, _ in pairs], pa.int64()),
        "customer_id": pa.array([c for _, c in pairs], pa.int64()),
    })  # fmt: skip


def test_a_temporary_table_is_read_replaced_written_and_dropped(engine_warehouse):
    from siyu.warehouse import backend, transaction

    con = backend()
    rows = con.create_table("_siyu_test_new", _members([(1, 10), (1, 11), (2, 10)]), temp=True)
    assert rows.count().execute() == 3
    ones = con.create_table("_siyu_test_ones", rows.filter(rows.segment_id == 1), temp=True)
    with pytest.raises(Exception, match="exists"):
        con.create_table("_siyu_test_ones", rows, temp=True)
    ones = con.create_table("_siyu_test_ones", ones.mutate(customer_id=ones.customer_id + 100), temp=True,
                            overwrite=True)  # fmt: skip
    assert sorted(ones.customer_id.to_pyarrow().to_pylist()) == [110, 111]
    with transaction():  # the traits' pattern: a temporary table written into a warehouse table
        con.insert("segment_members", ones.select("segment_id", "customer_id"))
    assert table_rows("segment_members", ["segment_id", "customer_id"]) == [(1, 110), (1, 111)]
    con.drop_table("_siyu_test_ones", force=True)
    con.drop_table("_siyu_test_new", force=True)
    con.drop_table("_siyu_test_new", force=True)  # force: a missing table is no error
    with pytest.raises(Exception):  # noqa: B017 - each engine says "not found" its own way
        con.table("_siyu_test_new").count().execute()


def test_a_temporary_table_belongs_to_the_thread_that_made_it(engine_warehouse):
    from siyu.warehouse import backend

    seen, failures = {}, []

    def make(ids: list[int]) -> None:
        try:
            con = backend()
            table = con.create_table("_siyu_test_mine", _members([(1, i) for i in ids]), temp=True, overwrite=True)
            seen[ids[0]] = sorted(table.customer_id.to_pyarrow().to_pylist())
            con.drop_table("_siyu_test_mine", force=True)
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    first = threading.Thread(target=make, args=([1, 2],))
    second = threading.Thread(target=make, args=([7, 8, 9],))
    first.start(), second.start()
    first.join(), second.join()
    assert not failures
    assert seen == {1: [1, 2], 7: [7, 8, 9]}
