"""The warehouse's backend-specific functions, each on each engine, against values worked out by hand
(the contract suite's Spark session; these read no brand data)."""

from __future__ import annotations

from datetime import UTC, datetime

import ibis
import pyarrow as pa
import pytest

from siyu.warehouse.schema import TS
from warehouse_contract.conftest import on

pytestmark = [pytest.mark.django_db, pytest.mark.spark, pytest.mark.slow]
ENGINES = ["duckdb", "spark"]


@pytest.mark.parametrize("engine", ENGINES)
def test_local_time_is_the_wall_clock_of_the_zone(contract_brand, engine):
    from siyu.warehouse.localtime import local_time

    instants = [datetime(2026, 3, 31, 17, 0, tzinfo=UTC), datetime(1985, 7, 1, 12, 0, tzinfo=UTC),
                datetime(2026, 7, 1, 12, 0, tzinfo=UTC)]  # fmt: skip
    t = ibis.memtable(pa.table({"n": [0, 1, 2], "ts": pa.array(instants, pa.timestamp("us", tz="UTC"))}))
    t = t.mutate(ts=t.ts.cast(TS))
    with on(contract_brand, engine) as con:
        shanghai = t.select("n", local=local_time(t.ts, "Asia/Shanghai"))
        new_york = t.select("n", local=local_time(t.ts, "America/New_York"))
        got = {z: {r["n"]: r["local"] for r in con.to_pyarrow(e).to_pylist()}
               for z, e in (("sh", shanghai), ("ny", new_york))}  # fmt: skip
    assert got["sh"] == {0: datetime(2026, 4, 1, 1, 0), 1: datetime(1985, 7, 1, 20, 0), 2: datetime(2026, 7, 1, 20, 0)}
    # daylight saving time: New York is UTC-4 from 8 March 2026 and in July 1985
    assert got["ny"] == {0: datetime(2026, 3, 31, 13, 0), 1: datetime(1985, 7, 1, 8, 0), 2: datetime(2026, 7, 1, 8, 0)}


@pytest.mark.parametrize("engine", ENGINES)
def test_event_properties_read_as_text(contract_brand, engine):
    from siyu.warehouse.events import event_property, with_properties

    props = ['{"code_id": 5, "name": "门店"}', '{"code_id": "5"}', '{"name": "x"}', "{}"]
    events = ibis.memtable(pa.table({"n": [0, 1, 2, 3], "properties": props}))
    with on(contract_brand, engine) as con:
        rows = con.to_pyarrow(events.select("n", code=event_property(events, "code_id"),
                                            name=event_property(events, "name"))).to_pylist()  # fmt: skip
        fives = con.to_pyarrow(with_properties(events, {"code_id": 5}).select("n")).column("n").to_pylist()
    assert sorted((r["n"], r["code"], r["name"]) for r in rows) == [
        (0, "5", "门店"), (1, "5", None), (2, None, "x"), (3, None, None)
    ]  # fmt: skip
    assert sorted(fives) == [0, 1]


@pytest.mark.parametrize("engine", ENGINES)
def test_lenient_and_list_properties(contract_brand, engine):
    from siyu.warehouse.events import event_list_property, event_property

    props = ['{"state": "c1", "members": ["wm1", "wm2"]}', "not json", '{"members": []}', "{}"]
    events = ibis.memtable(pa.table({"n": [0, 1, 2, 3], "properties": props}))
    with on(contract_brand, engine) as con:
        rows = con.to_pyarrow(events.select("n", state=event_property(events, "state", lenient=True),
                                            members=event_list_property(events, "members"))).to_pylist()  # fmt: skip
    assert sorted((r["n"], r["state"], r["members"]) for r in rows) == [
        (0, "c1", ["wm1", "wm2"]), (1, None, None), (2, None, []), (3, None, None)
    ]  # fmt: skip


@pytest.mark.parametrize("engine", ENGINES)
def test_a_page_of_rows(contract_brand, engine):
    from siyu.warehouse.paging import page_of

    t = ibis.memtable(pa.table({"n": list(range(10)), "label": [f"r{i}" for i in range(10)]}))
    with on(contract_brand, engine) as con:
        pages = [con.to_pyarrow(page_of(t.order_by(ibis.desc("n")), 4, offset)).to_pylist() for offset in (0, 4, 8)]
    assert [[r["n"] for r in p] for p in pages] == [[9, 8, 7, 6], [5, 4, 3, 2], [1, 0]]
    assert all(set(r) == {"n", "label"} for p in pages for r in p)


@pytest.mark.parametrize("engine", ENGINES)
def test_instants_read_in_utc(contract_brand, engine):
    with on(contract_brand, engine) as con:
        orders = con.table("orders")
        assert orders.schema()["order_time"].timezone == "UTC"
        first = con.to_pyarrow(orders.order_by(["order_time", "order_key"]).limit(1).order_time).to_pylist()[0]
    assert first.tzinfo is not None and first.utcoffset().total_seconds() == 0


def test_the_rows_as_imported_read_the_same_on_both_engines(contract_brand):
    """siyu.warehouse.raw (the person's copy's "rows as imported", siyu.privacy.sections): the raw rows of
    some records and their original columns, decrypted from raw_chunks, on DuckDB and on Spark."""
    from siyu.warehouse.raw import raw_row, raw_rows_of

    with on(contract_brand, "duckdb") as con:
        raw = con.table("raw_rows")
        sample = con.to_pyarrow(
            raw.filter(raw.record_key.notnull()).order_by(["batch_id", "row_number"]).select("record_key").limit(3)
        )
        keys = sample.column("record_key").to_pylist()
        duckdb_rows = raw_rows_of(keys)
    with on(contract_brand, "spark"):
        spark_rows = raw_rows_of(keys)
        first = spark_rows[0]
        one = raw_row(first["batch_id"], first["row_number"])
    assert len(keys) == 3 and {r["record_key"] for r in duckdb_rows} == set(keys)
    assert all(r["columns"] for r in duckdb_rows)  # decrypted: the file's own columns
    assert spark_rows == duckdb_rows
    assert one == first["columns"]
