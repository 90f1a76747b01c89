"""Batch writes into the warehouse on Spark: the functions of siyu.warehouse.append, one for one, on a
transaction of siyu.warehouse.spark_store (staged table versions, switched in together at commit).

An append adds a segment to the table's version; a delete or an update rewrites the table's surviving rows
into one new segment (Parquet has no row-level DELETE/UPDATE). Each returns what its DuckDB twin returns.
"""

from __future__ import annotations

import shutil

import pyarrow as pa
from pyspark.sql import functions as F

from siyu.warehouse.spark_store import (
    Transaction,
    conform,
    frame_of,
    segment_path,
    write_arrow_segment,
    write_frame_segment,
)


def _frame(tx: Transaction, rows: pa.Table):
    """Arrow rows as a DataFrame of the transaction's session (small inputs: keys, changed rows)."""
    return tx.session.createDataFrame(rows)


def append(tx: Transaction, table_name: str, rows: pa.Table) -> int:
    if rows.num_rows == 0:
        return 0
    tx.append_arrow(table_name, rows)
    return rows.num_rows


def append_new(tx: Transaction, table_name: str, rows: pa.Table, key: tuple[str, ...]) -> pa.Table:
    """Insert the rows whose key is not in the table yet (`rows` unique on key); return the inserted keys."""
    if rows.num_rows == 0:
        return pa.table({k: pa.array([], rows.schema.field(k).type) for k in key})
    segment = write_arrow_segment(table_name, rows)
    current = tx.frame(table_name)
    offered = frame_of(tx.session, table_name, [segment])
    keys = list(key)
    seen = offered.select(*keys).join(current.select(*keys), keys, "left_semi").limit(1).count()
    if seen == 0:  # usually none is there yet (a new export): the rows become a segment as they are
        tx.add_segment(table_name, segment)
        return rows.select(keys)
    fresh = offered.join(current.select(*keys).distinct(), keys, "left_anti")
    kept = write_frame_segment(table_name, fresh)
    tx.add_segment(table_name, kept)
    shutil.rmtree(segment_path(table_name, segment), ignore_errors=True)  # the candidate is nobody's now
    inserted = frame_of(tx.session, table_name, [kept]).select(*keys).toArrow()
    return inserted.cast(pa.schema([rows.schema.field(k) for k in keys]))


def _distinct(left, right):
    """SQL's IS DISTINCT FROM."""
    return ~left.eqNullSafe(right)


def update_orders(tx: Transaction, rows: pa.Table) -> int:
    """Later exports update an order's status (and amount/paid time); returns orders changed."""
    if rows.num_rows == 0:
        return 0
    wanted = ("order_key", "status_raw", "status_class", "amount", "paid_time", "batch_id", "updated_at")
    new = _frame(tx, conform("orders", rows).select(list(wanted)))
    new = new.select(*[F.col(c).alias(f"n_{c}") for c in wanted])
    orders = tx.frame("orders")
    j = orders.join(new, orders.order_key == new.n_order_key, "left")
    changed = j.n_order_key.isNotNull() & (
        _distinct(j.status_raw, j.n_status_raw) | _distinct(j.amount, j.n_amount)
    )
    count = j.filter(changed).count()
    if count == 0:
        return 0
    updates = {
        "status_raw": j.n_status_raw,
        "status_class": j.n_status_class,
        "amount": F.coalesce(j.n_amount, j.amount),
        "paid_time": F.coalesce(j.n_paid_time, j.paid_time),
        "batch_id": j.n_batch_id,
        "updated_at": j.n_updated_at,
    }
    out = j.select(
        *[F.when(changed, updates[c]).otherwise(j[c]).alias(c) if c in updates else j[c] for c in orders.columns]
    )
    tx.replace_with_frame("orders", out)
    return int(count)


def refresh_records(tx: Transaction, rows: pa.Table) -> pa.Array:
    """Update owner_staff and tags of records seen again (an API sync); returns the keys that changed."""
    if rows.num_rows == 0:
        return pa.array([], pa.string())
    new = _frame(tx, conform("records", rows.select(["record_key", "owner_staff", "tags"])).select(
        ["record_key", "owner_staff", "tags"]
    ))
    new = new.select(F.col("record_key").alias("n_key"), F.col("owner_staff").alias("n_owner"), F.col("tags").alias("n_tags"))
    records = tx.frame("records")
    j = records.join(new, records.record_key == new.n_key, "left")
    changed = j.n_key.isNotNull() & (_distinct(j.owner_staff, j.n_owner) | _distinct(j.tags, j.n_tags))
    keys = j.filter(changed).select("record_key").toArrow()
    if keys.num_rows:
        out = j.select(
            *[
                F.when(changed, j.n_owner).otherwise(j.owner_staff).alias(c)
                if c == "owner_staff"
                else F.when(changed, j.n_tags).otherwise(j.tags).alias(c)
                if c == "tags"
                else j[c]
                for c in records.columns
            ]
        )
        tx.replace_with_frame("records", out)
    return keys.column("record_key").combine_chunks().cast(pa.string())


def delete_where_in(tx: Transaction, table_name: str, column: str, values: pa.Array, *, where: tuple | None = None) -> int:
    """Delete the rows whose `column` is one of `values` (and `where[0] = where[1]` when given)."""
    if len(values) == 0:
        return 0
    table = tx.frame(table_name)
    hits = _frame(tx, pa.table({column: values})).distinct().withColumn("_siyu_hit", F.lit(True))
    j = table.join(hits, column, "left")
    doomed = j._siyu_hit.isNotNull()
    if where is not None:
        doomed = doomed & F.coalesce(j[where[0]] == F.lit(where[1]), F.lit(False))
    count = j.filter(doomed).count()
    if count:
        tx.replace_with_frame(table_name, j.filter(~doomed).select(*table.columns))
    return int(count)


def replace_keyed(tx: Transaction, table_name: str, key: str, keys: pa.Array, rows: pa.Table) -> int:
    deleted = delete_where_in(tx, table_name, key, keys)
    append(tx, table_name, rows)
    return deleted


def replace_all(tx: Transaction, table_name: str, rows: pa.Table) -> int:
    deleted = tx.frame(table_name).count()
    tx.set_segments(table_name, [write_arrow_segment(table_name, rows)] if rows.num_rows else [])
    return int(deleted)


def insert_frame(tx: Transaction, table_name: str, frame, *, overwrite: bool = False) -> None:
    """Add (or, with overwrite, make) the rows of a DataFrame of the transaction's session to a table."""
    segment = write_frame_segment(table_name, frame)
    if overwrite:
        tx.set_segments(table_name, [segment])
    else:
        tx.add_segment(table_name, segment)


def refresh_batch(tx: Transaction, batch_id: str, *, updated: bool, columns: tuple[str, ...], table: str) -> None:
    """siyu.warehouse.customer_orders.refresh_batch on Spark."""
    orders = tx.frame("orders").filter(F.col("batch_id") == batch_id)
    cmap = tx.frame("customer_map").select("record_key", "customer_id")
    rows = orders.join(cmap, "record_key").select(*columns)
    if updated:
        current = tx.frame(table)
        kept = current.join(orders.select("order_key").distinct(), "order_key", "left_anti")
        tx.replace_with_frame(table, kept.select(*columns).unionByName(rows))
    elif rows.limit(1).count():
        insert_frame(tx, table, rows)
