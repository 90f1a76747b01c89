"""What the mirrors of control-plane state (loyalty, surveys) need of the warehouse: their watermarks and the
set-wise replacement of their state tables, in one transaction so a reader sees one run's state or the last."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from siyu.warehouse.append import append, delete_where_in, replace_all
from siyu.warehouse.connection import backend, transaction
from siyu.warehouse.schema import TABLES

WATERMARKS = "mirror_watermarks"


def watermark(stream: str) -> dt.datetime | None:
    """The instant of the last run of the mirror `stream`, or None when it never ran on this warehouse."""
    marks = backend().table(WATERMARKS)
    rows = marks.filter(marks.stream == stream).mirrored_at.max().to_pyarrow().as_py()
    return rows


def arrow_rows(table_name: str, rows: list[dict]) -> pa.Table:
    """`rows` (dicts by column name, missing columns null) as an Arrow table of the warehouse table's schema."""
    schema = TABLES[table_name].to_pyarrow()
    return pa.Table.from_pylist([{c: r.get(c) for c in schema.names} for r in rows], schema=schema)


def replace_state(stream: str, tables: dict[str, pa.Table], mirrored_at: dt.datetime) -> dict[str, int]:
    """Replace every row of each state table by the given rows and move the stream's watermark to
    `mirrored_at`, all in one transaction. Returns the rows written per table."""
    with transaction() as con:
        for name, rows in tables.items():
            replace_all(con, name, rows)
        delete_where_in(con, WATERMARKS, "stream", pa.array([stream]))
        append(con, WATERMARKS, pa.table({"stream": [stream], "mirrored_at": pa.array([mirrored_at], pa.timestamp("us", tz="UTC"))}))
    return {name: rows.num_rows for name, rows in tables.items()}
