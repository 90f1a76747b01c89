"""Deleting warehouse rows past their retention period (siyu.core.retention), for the domains that own them.

On DuckDB a DELETE in one transaction; on Spark a copy-on-write rewrite of the Parquet segments holding old
rows, switched in by one commit (siyu.warehouse.spark_rewrite). The replaced segments are deleted by the
store's vacuum once older than its retention window (an hour)."""

from __future__ import annotations

import datetime as dt

from siyu.warehouse.connection import engine, exclusive_writes, raw_connection, transaction

# what may be aged out, and by which instant column: a table not here cannot be purged by age
AGED = {"touches": "sent_at", "chat_messages": "sent_at"}


def _exists(table: str) -> bool:
    return bool(
        raw_connection()
        .execute("SELECT 1 FROM information_schema.tables WHERE table_name = ?", [table])
        .fetchall()
    )


def delete_older_than(table: str, cut_off: dt.datetime, *, dry_run: bool = False) -> int:
    """Delete (or with dry_run count) the rows of an aged table whose instant is before the cut-off."""
    column = AGED[table]
    if engine() == "spark":
        from siyu.warehouse import spark_rewrite

        return spark_rewrite.delete_older_than(table, column, cut_off, dry_run=dry_run)
    if not _exists(table):
        return 0
    where = f"FROM {table} WHERE {column} < ?"
    if dry_run:
        return raw_connection().execute(f"SELECT count(*) {where}", [cut_off]).fetchone()[0]
    with exclusive_writes(), transaction() as con:
        removed = con.execute(f"SELECT count(*) {where}", [cut_off]).fetchone()[0]
        if removed:
            con.execute(f"DELETE {where}", [cut_off])
    return removed


def delete_raw_rows_before(cut_off: dt.datetime, *, dry_run: bool = False) -> int:
    """Delete the raw rows and their encrypted chunks (the original columns) of import batches finished
    before the cut-off; the records, identifiers and orders built from them stay. Returns raw rows removed."""
    if engine() == "spark":
        from siyu.warehouse import spark_rewrite

        return spark_rewrite.delete_raw_rows_before(cut_off, dry_run=dry_run)
    if not _exists("raw_rows") or not _exists("import_batches"):
        return 0
    old = "batch_id IN (SELECT batch_id FROM import_batches WHERE finished_at < ?)"
    if dry_run:
        return raw_connection().execute(f"SELECT count(*) FROM raw_rows WHERE {old}", [cut_off]).fetchone()[0]
    with exclusive_writes(), transaction() as con:
        removed = con.execute(f"SELECT count(*) FROM raw_rows WHERE {old}", [cut_off]).fetchone()[0]
        con.execute(f"DELETE FROM raw_rows WHERE {old}", [cut_off])
        con.execute(f"DELETE FROM raw_chunks WHERE {old}", [cut_off])
    return removed
