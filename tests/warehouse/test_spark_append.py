"""The warehouse's batch writes (siyu.warehouse.append) leave the same tables on DuckDB and on Spark, and
Spark's versioned tables switch atomically: a transaction lands whole or not at all."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from siyu.warehouse.append import (
    append,
    append_new,
    delete_where_in,
    refresh_records,
    replace_all,
    replace_keyed,
    update_orders,
)
from warehouse.engines import table_rows

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2025, 3, 1, 10, 0, tzinfo=dt.UTC)
TS = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(18, 2)


def _orders(keys, status="交易成功", amount="10.00", batch="b1", paid=None) -> pa.Table:
    n = len(keys)
    return pa.table({
        "order_key": pa.array(keys, pa.string()), "source": ["tmall"] * n, "order_id": [k.split("|")[-1] for k in keys],
        "record_key": [f"tmall|{k}" for k in keys], "status_raw": [status] * n,
        "status_class": ["purchase" if status == "交易成功" else "pending"] * n,
        "order_time": pa.array([T0] * n, TS), "paid_time": pa.array([paid] * n, TS),
        "amount": pa.array([None if amount is None else Decimal(amount)] * n, MONEY), "batch_id": [batch] * n,
        "updated_at": pa.array([T0 + dt.timedelta(days=1 if batch != "b1" else 0)] * n, TS),
    })  # fmt: skip


def _records(keys, owner=None, tags=()) -> pa.Table:
    n = len(keys)
    return pa.table({
        "record_key": pa.array(keys, pa.string()), "source": ["wecom"] * n, "record_kind": ["contact"] * n,
        "owner_staff": pa.array([owner] * n, pa.string()), "tags": pa.array([list(tags)] * n, pa.list_(pa.string())),
        "seen_at": pa.array([T0] * n, TS), "city_tier": pa.array([1] * n, pa.int16()),
        "birthday": pa.array([dt.date(1990, 1, 2)] * n, pa.date32()), "pii": pa.array([b"\x00\x01"] * n, pa.binary()),
    })  # fmt: skip


def test_append_and_append_new_insert_each_key_once(engine_warehouse):
    with engine_warehouse.transaction() as con:
        assert append_new(con, "orders", _orders(["o|1", "o|2"]), ("order_key",)).to_pylist() == [
            {"order_key": "o|1"}, {"order_key": "o|2"}
        ]
        # within the same transaction the new rows are seen: only o|3 is new
        again = append_new(con, "orders", _orders(["o|2", "o|3"], batch="b2"), ("order_key",))
        assert again.column("order_key").to_pylist() == ["o|3"]
        assert append(con, "records", _records(["wecom|a"], owner="s1", tags=("VIP", "新客"))) == 1
    with engine_warehouse.transaction() as con:
        assert append_new(con, "orders", _orders(["o|1"]), ("order_key",)).num_rows == 0
    assert table_rows("orders", ["order_key", "batch_id", "amount", "order_time", "paid_time"]) == [
        ("o|1", "b1", Decimal("10.00"), dt.datetime(2025, 3, 1, 10), None),
        ("o|2", "b1", Decimal("10.00"), dt.datetime(2025, 3, 1, 10), None),
        ("o|3", "b2", Decimal("10.00"), dt.datetime(2025, 3, 1, 10), None),
    ]
    # columns the rows did not carry are NULL; lists, dates, small ints and bytes come back as written
    assert table_rows("records", ["record_key", "owner_staff", "tags", "city_tier", "birthday", "pii", "name_hash"]) == [
        ("wecom|a", "s1", ("VIP", "新客"), 1, dt.date(1990, 1, 2), b"\x00\x01", None)
    ]


def test_update_orders_changes_status_and_keeps_what_the_export_left_out(engine_warehouse):
    with engine_warehouse.transaction() as con:
        append(con, "orders", _orders(["o|1", "o|2", "o|3"], status="等待买家付款", amount="5.00"))
    paid = T0 + dt.timedelta(hours=2)
    later = pa.concat_tables([
        _orders(["o|1"], status="交易成功", amount=None, batch="b2", paid=paid),  # amount kept, paid time set
        _orders(["o|2"], status="等待买家付款", amount="5.00", batch="b2"),  # unchanged: not counted or touched
        _orders(["o|9"], status="交易成功", batch="b2"),  # not there: nothing to update
    ])  # fmt: skip
    with engine_warehouse.transaction() as con:
        assert update_orders(con, later) == 1
    assert table_rows("orders", ["order_key", "status_class", "amount", "paid_time", "batch_id"]) == [
        ("o|1", "purchase", Decimal("5.00"), dt.datetime(2025, 3, 1, 12), "b2"),
        ("o|2", "pending", Decimal("5.00"), None, "b1"),
        ("o|3", "pending", Decimal("5.00"), None, "b1"),
    ]


def test_refresh_records_updates_owner_and_tags_of_the_records_that_changed(engine_warehouse):
    with engine_warehouse.transaction() as con:
        append(con, "records", _records(["wecom|a", "wecom|b"], owner="s1", tags=("VIP",)))
    seen = pa.concat_tables([_records(["wecom|a"], owner="s2", tags=("VIP",)), _records(["wecom|b"], owner="s1", tags=("VIP",))])
    with engine_warehouse.transaction() as con:
        assert refresh_records(con, seen).to_pylist() == ["wecom|a"]
    assert table_rows("records", ["record_key", "owner_staff", "tags", "seen_at"]) == [
        ("wecom|a", "s2", ("VIP",), dt.datetime(2025, 3, 1, 10)),
        ("wecom|b", "s1", ("VIP",), dt.datetime(2025, 3, 1, 10)),
    ]


def _members(pairs) -> pa.Table:
    return pa.table({
        "segment_id": pa.array([p[0] for p in pairs], pa.int64()), "customer_id": pa.array([p[1] for p in pairs], pa.int64()),
        "entered_at": pa.array([T0] * len(pairs), TS),
    })  # fmt: skip


def test_delete_where_in_and_replace_keyed_and_replace_all(engine_warehouse):
    with engine_warehouse.transaction() as con:
        append(con, "segment_members", _members([(1, 10), (1, 11), (2, 10), (2, 12)]))
    with engine_warehouse.transaction() as con:
        assert delete_where_in(con, "segment_members", "customer_id", pa.array([10, 99], pa.int64()), where=("segment_id", 1)) == 1
        assert delete_where_in(con, "segment_members", "customer_id", pa.array([], pa.int64())) == 0
    assert table_rows("segment_members", ["segment_id", "customer_id"]) == [(1, 11), (2, 10), (2, 12)]
    with engine_warehouse.transaction() as con:
        assert replace_keyed(con, "segment_members", "customer_id", pa.array([10, 12], pa.int64()), _members([(3, 10)])) == 2
    assert table_rows("segment_members", ["segment_id", "customer_id"]) == [(1, 11), (3, 10)]
    with engine_warehouse.transaction() as con:
        assert replace_all(con, "segment_members", _members([(4, 40)])) == 2
        assert replace_all(con, "segment_members", _members([(5, 50), (5, 51)])) == 1
    assert table_rows("segment_members", ["segment_id", "customer_id"]) == [(5, 50), (5, 51)]


def test_a_failed_transaction_leaves_every_table_as_it_was(engine_warehouse):
    with engine_warehouse.transaction() as con:
        append(con, "orders", _orders(["o|1"]))
    with pytest.raises(RuntimeError):
        with engine_warehouse.transaction() as con:
            append(con, "orders", _orders(["o|2"]))
            replace_all(con, "segment_members", _members([(1, 1)]))
            update_orders(con, _orders(["o|1"], status="退款", batch="b2"))
            raise RuntimeError("the import failed half-way")
    assert table_rows("orders", ["order_key", "status_raw"]) == [("o|1", "交易成功")]
    assert table_rows("segment_members") == []


def test_ibis_inserts_and_overwrites_of_warehouse_tables_are_transactional(engine_warehouse):
    from siyu.warehouse import backend

    con = backend()
    con.insert("merge_log", pa.table({"run_id": ["r1"], "survivor_id": pa.array([1], pa.int64())}))
    with pytest.raises(RuntimeError):
        with engine_warehouse.transaction():
            backend().insert("merge_log", pa.table({"run_id": ["r2"]}))
            backend().create_table("match_keys", pa.table({"record_key": ["k"], "key_hash": pa.array([7], pa.int64())}), overwrite=True)
            raise RuntimeError("resolve failed")
    assert table_rows("merge_log", ["run_id", "survivor_id"]) == [("r1", 1)]
    assert table_rows("match_keys") == []


@pytest.mark.spark
def test_raw_connection_fails_loudly_on_spark(empty_spark_warehouse, settings):
    from siyu.warehouse import NotOnThisEngine, raw_connection

    with pytest.raises(NotOnThisEngine, match="DuckDB"):
        raw_connection()


@pytest.mark.spark
def test_spark_versions_switch_together_and_old_ones_go(empty_spark_warehouse, settings):
    from siyu.warehouse import spark_store

    with empty_spark_warehouse.transaction() as con:
        append(con, "orders", _orders(["o|1"]))
    before, tables = spark_store.latest_commit()
    with empty_spark_warehouse.transaction() as con:
        append(con, "orders", _orders(["o|2"]))
        append(con, "order_items", pa.table({"order_key": ["o|2"], "item_key": ["1"]}))
        delete_where_in(con, "orders", "order_key", pa.array(["o|1"]))
        # staged, not committed: the log has not moved
        assert spark_store.latest_commit()[0] == before
    after, now = spark_store.latest_commit()
    assert after == before + 1  # one commit switched both tables
    assert {t for t in now if now[t] != tables[t]} == {"orders", "order_items"}
    root = Path(settings.WAREHOUSE_LOCATION)
    # every table is at WAREHOUSE_LOCATION/<table>, its versions manifests naming parquet segments
    manifest = json.loads((root / "orders" / "_versions" / f"{now['orders']}.json").read_text())
    assert all(list((root / "orders" / s).glob("*.parquet")) for s in manifest["segments"])
    segments_before = {p.name for p in (root / "orders").glob("seg-*")}
    assert len(segments_before) == 3  # o|1's, o|2's, and the rewrite without o|1
    previous = json.loads((root / "orders" / "_versions" / f"{tables['orders']}.json").read_text())["segments"]
    # o|2's own segment was superseded inside the transaction and never committed: it goes; the last
    # commit's predecessor stays (a reader may still be on it)
    spark_store.vacuum(retain_seconds=0)
    assert {p.name for p in (root / "orders").glob("seg-*")} == {*previous, *manifest["segments"]}
    with empty_spark_warehouse.transaction() as con:
        append(con, "segment_members", _members([(1, 1)]))
    spark_store.vacuum(retain_seconds=0)
    assert {p.name for p in (root / "orders").glob("seg-*")} == set(manifest["segments"])
    assert table_rows("orders", ["order_key"]) == [("o|2",)]


@pytest.mark.spark
def test_another_process_sees_the_committed_tables(empty_spark_warehouse, settings):
    """A worker starting on the same location registers the tables from their files (the catalog is per
    process): a second session of this process stands for it."""
    from siyu.warehouse import backend, spark, spark_store

    with empty_spark_warehouse.transaction() as con:
        append(con, "orders", _orders(["o|1", "o|2"]))
    other = spark.session().newSession()
    spark_store.ensure_tables(other)
    assert sorted(r.order_key for r in other.table("orders").select("order_key").collect()) == ["o|1", "o|2"]
    assert backend().table("orders").count().execute() == 2


@pytest.mark.spark
def test_a_writer_whose_table_moved_under_it_fails_and_writes_nothing(empty_spark_warehouse, settings):
    from siyu.warehouse import backend, spark, spark_store

    backend()  # the tables exist
    slow = spark_store.Transaction.begin(spark.session())
    with empty_spark_warehouse.transaction() as con:  # another writer commits orders first
        append(con, "orders", _orders(["o|1"]))
    append(slow, "orders", _orders(["o|2"]))
    with pytest.raises(spark_store.StoreConflict):
        slow.commit()
    assert table_rows("orders", ["order_key"]) == [("o|1",)]


def test_a_mirror_run_replaces_its_state_and_moves_its_positions_together(engine_warehouse):
    """siyu.warehouse.mirrors.replace_state: the state tables, the watermarks and the pending rows in one
    transaction, read back by positions() the same on both engines."""
    from siyu.warehouse.mirrors import Position, arrow_rows, positions, replace_state, watermark

    coupons = arrow_rows("loyalty_coupons", [{"customer_id": 1, "coupon_id": 10, "status": "unused", "issued_at": T0}])
    parts = {"points": Position(last_id=7, pending={5: T0}), "coupons": Position(last_stamp=T0, missing={3: T0})}
    assert replace_state("loyalty", {"loyalty_coupons": coupons}, T0, parts) == {"loyalty_coupons": 1}
    later = T0 + dt.timedelta(hours=1)
    used = arrow_rows("loyalty_coupons", [{"customer_id": 1, "coupon_id": 10, "status": "used", "issued_at": T0}])
    replace_state("loyalty", {"loyalty_coupons": used}, later, {"points": Position(last_id=9)})
    assert table_rows("loyalty_coupons", ["coupon_id", "status"]) == [(10, "used")]
    assert watermark("loyalty").replace(tzinfo=None) == later.replace(tzinfo=None)
    now = positions("loyalty")
    assert (now["points"].last_id, now["points"].pending) == (9, {})
    assert now["coupons"].last_stamp.replace(tzinfo=None) == T0.replace(tzinfo=None)  # untouched by the second run
    assert {k: v.replace(tzinfo=None) for k, v in now["coupons"].missing.items()} == {3: T0.replace(tzinfo=None)}


def test_writers_of_two_processes_take_turns_through_the_lock_file(settings, tmp_path):
    """On Spark a writer holds the location's lock file for its turn (siyu.warehouse.connection.acquire_writes):
    another process cannot take it meanwhile, and can once it is released."""
    import subprocess
    import sys

    from siyu.warehouse import spark_store

    settings.WAREHOUSE_LOCATION = str(tmp_path / "warehouse-spark")
    probe = (
        "import fcntl, sys\n"
        "f = open(sys.argv[1], 'a+')\n"
        "try:\n    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB); print('took')\n"
        "except BlockingIOError:\n    print('busy')\n"
    )
    lock = str(Path(settings.WAREHOUSE_LOCATION) / "_writes.lock")
    assert spark_store.lock_writes(1.0)
    try:
        assert subprocess.run([sys.executable, "-c", probe, lock], capture_output=True, text=True).stdout.strip() == "busy"
    finally:
        spark_store.unlock_writes()
    assert subprocess.run([sys.executable, "-c", probe, lock], capture_output=True, text=True).stdout.strip() == "took"
