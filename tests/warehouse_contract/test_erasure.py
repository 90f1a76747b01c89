"""The customer's rights and the retention periods on both engines: erasing a person (PIPL art. 47) through
privacy's own erasers blanks the same PII columns and deletes the same rows on DuckDB and on Spark, after
which privacy's verification scan finds nothing on either; a retention purge deletes the same touches, chat
messages and raw rows on both.

Both change the warehouse for good, so each scenario runs on copies of the brand's DuckDB file and Spark
location (the read-side scenarios keep seeing the brand as built)."""

from __future__ import annotations

import dataclasses
import shutil
from contextlib import contextmanager
from datetime import timedelta

import pytest

from warehouse_contract.compare import assert_same, rows_of
from warehouse_contract.conftest import on

pytestmark = [pytest.mark.django_db, pytest.mark.spark, pytest.mark.slow]


@contextmanager
def _copy_of(brand, tmp_path, engine: str):
    """The warehouse is a copy of the brand's on `engine` while inside."""
    from siyu.warehouse import connection

    copy = dataclasses.replace(
        brand, duckdb_path=tmp_path / "copy.duckdb", spark_location=tmp_path / "copy-spark"
    )
    if engine == "duckdb":
        with on(brand, "duckdb"):
            connection.raw_connection().execute("CHECKPOINT")
        connection.close()
        shutil.copyfile(brand.duckdb_path, copy.duckdb_path)
    else:
        shutil.copytree(brand.spark_location, copy.spark_location)
    connection.close()  # the Spark views are registered again from the copy's log
    try:
        with on(copy, engine) as con:
            yield con
    finally:
        connection.close()


def _on_each_copy(brand, tmp_path_factory, scenario):
    answers = []
    for engine in ("duckdb", "spark"):
        with _copy_of(brand, tmp_path_factory.mktemp(engine), engine) as con:
            answers.append(scenario(con))
    return answers


def _eraser(name: str):
    from siyu.privacy.erasure import person_erasers

    return next(e for e in person_erasers() if e.name == name)


def _table_counts(con) -> dict[str, int]:
    from siyu.warehouse.schema import TABLES

    return {name: int(con.table(name).count().execute()) for name in sorted(TABLES)}


def _a_person_with_a_phone(brand) -> int:
    """The customer with the most records among those with a phone (several sources, several raw rows)."""
    with on(brand, "duckdb") as con:
        records, cmap = con.table("records"), con.table("customer_map")
        phoned = records.filter(records.phone_hash.notnull()).join(cmap, "record_key")
        top = phoned.group_by("customer_id").aggregate(n=phoned.count())
        return top.order_by([top.n.desc(), top.customer_id]).limit(1).customer_id.to_pyarrow().to_pylist()[0]


def test_erasing_a_person_leaves_the_same_warehouse_on_both_engines(contract_brand, tmp_path_factory):
    from siyu.privacy.erasure import person_of
    from siyu.warehouse import erasure as warehouse_erasure

    customer_id = _a_person_with_a_phone(contract_brand)

    def scenario(con):
        person = person_of(customer_id)
        who = {"records": person.record_keys, "identifiers": sorted(person.identifiers), "phones": sorted(person.phones),
               "texts": sorted(person.texts), "batches": sorted(person.batches)}  # fmt: skip
        warehouse, chat = _eraser("warehouse"), _eraser("chat_archive")
        found_before = warehouse.scan(person)
        orders = con.table("orders")
        money = orders.aggregate(n=orders.count(), total=orders.amount.sum()).to_pyarrow().to_pylist()
        erased = warehouse.erase(person, None)
        chat_counts = chat.erase(person, None)
        chat_counts.pop("alerts", None)  # control-plane rows: the first engine's run already changed them
        records = con.table("records").filter(con.table("records").record_key.isin(person.record_keys))
        summary = con.table("customer_summary")
        summary = summary.filter(summary.customer_id == customer_id)
        identifiers = con.table("identifiers")
        identifiers = identifiers.filter(identifiers.record_key.isin(person.record_keys))
        return {
            "who": who,
            "found_before": found_before,
            "erased": erased,
            "chat": chat_counts,
            "found_after": warehouse.scan(person),
            "chat_left": chat.scan(person),
            "again": warehouse.erase(person, None),  # nothing left to do
            "records": rows_of(records.select("record_key", "source", *warehouse_erasure.RECORD_PII)),
            "summary": rows_of(summary.select("customer_id", *warehouse_erasure.SUMMARY_PII)),
            "id_types": sorted(set(identifiers.id_type.to_pyarrow().to_pylist())),
            "keys_after": warehouse_erasure.record_keys_of(customer_id),
            "counts": _table_counts(con),
            "money_before": money,
            "money_after": orders.aggregate(n=orders.count(), total=orders.amount.sum())
            .to_pyarrow()
            .to_pylist(),
        }

    duckdb, spark = _on_each_copy(contract_brand, tmp_path_factory, scenario)
    assert duckdb["found_before"] > 0 and duckdb["who"]["records"] and duckdb["who"]["phones"]
    assert duckdb["erased"]["records"] == len(duckdb["who"]["records"]) and duckdb["erased"]["raw_rows"] > 0
    assert duckdb["found_after"] == 0 and duckdb["chat_left"] == 0
    assert all(v is None for r in duckdb["records"] + duckdb["summary"] for k, v in r.items()
               if k not in ("record_key", "source", "customer_id"))  # fmt: skip
    assert duckdb["id_types"] in (["erased"], ["erased", "order"])
    assert {k: v for k, v in duckdb["again"].items() if k != "raw_chunks"} == {
        "raw_rows": 0, "records": 0, "identifiers": 0, "summary": 0}  # fmt: skip
    assert (
        duckdb["keys_after"] == duckdb["who"]["records"] and duckdb["money_after"] == duckdb["money_before"]
    )
    assert_same(duckdb, spark, "erasure")


def test_erasure_on_spark_keeps_the_segments_without_the_person(contract_brand, tmp_path):
    """Copy-on-write rewrites only the Parquet segments holding the person; the replaced ones are deleted
    at once (their files held the erased values), the others are the same files as before."""
    from siyu.privacy.erasure import person_of
    from siyu.warehouse import spark_store

    customer_id = _a_person_with_a_phone(contract_brand)
    with _copy_of(contract_brand, tmp_path, "spark"):
        _, before = spark_store.latest_commit()
        untouched = {t: set(spark_store.read_version(t, v)) for t, v in before.items()}
        _eraser("warehouse").erase(person_of(customer_id), None)
        _, after = spark_store.latest_commit()
        changed = sorted(t for t in after if after[t] != before[t])
        assert {"records", "identifiers", "customer_summary", "raw_chunks"} <= set(changed)
        assert "orders" not in changed and "customer_map" not in changed
        for table in changed:
            gone = untouched[table] - set(spark_store.read_version(table, after[table]))
            assert gone, table
            assert not any(spark_store.segment_path(table, s).exists() for s in gone), table


def test_retention_deletes_the_same_rows_on_both_engines(contract_brand, tmp_path_factory):
    from siyu.warehouse.retention import delete_older_than, delete_raw_rows_before

    with on(contract_brand, "duckdb") as con:
        touches = con.table("touches")
        first, last = (
            touches.aggregate(a=touches.sent_at.min(), b=touches.sent_at.max())
            .to_pyarrow()
            .to_pylist()[0]
            .values()
        )
        batches = con.table("import_batches")
        finished = batches.finished_at.max().to_pyarrow().as_py()
    assert first is not None and first < last, "the brand has touches over time"
    cut_off = first + (last - first) / 2

    def scenario(con):
        out = {}
        for table in ("touches", "chat_messages"):
            dry = delete_older_than(table, cut_off, dry_run=True)
            out[table] = {"dry": dry, "deleted": delete_older_than(table, cut_off), "again": delete_older_than(table, cut_off),
                          "oldest": con.table(table).sent_at.min().to_pyarrow().as_py()}  # fmt: skip
        dry = delete_raw_rows_before(finished + timedelta(seconds=1), dry_run=True)
        out["raw"] = {"dry": dry, "deleted": delete_raw_rows_before(finished + timedelta(seconds=1))}
        out["counts"] = _table_counts(con)
        return out

    duckdb, spark = _on_each_copy(contract_brand, tmp_path_factory, scenario)
    assert duckdb["touches"]["deleted"] == duckdb["touches"]["dry"] > 0 and duckdb["touches"]["again"] == 0
    assert duckdb["touches"]["oldest"] >= cut_off
    assert duckdb["raw"]["deleted"] == duckdb["raw"]["dry"] > 0
    assert (
        duckdb["counts"]["raw_rows"] == duckdb["counts"]["raw_chunks"] == 0
        and duckdb["counts"]["records"] > 0
    )
    assert_same(duckdb, spark, "retention")
