"""Reading raw rows back: decrypt the chunk that holds a row (lineage → original columns)."""

from __future__ import annotations

import io

import polars as pl

from siyu.core import pii
from siyu.warehouse.connection import raw_connection


def raw_row(batch_id: str, row_number: int) -> dict | None:
    """All original columns of one imported row, as the file had them (after cell cleaning)."""
    con = raw_connection()
    found = con.execute(
        "SELECT payload FROM raw_chunks WHERE batch_id = ? AND ? BETWEEN first_row AND last_row",
        [batch_id, row_number],
    ).fetchall()
    for (payload,) in found:
        frame = pl.read_ipc_stream(io.BytesIO(pii.decrypt(bytes(payload))))
        match = frame.filter(pl.col("__row__") == row_number)
        if match.height:
            return {k: v for k, v in match.row(0, named=True).items() if k != "__row__"}
    return None


def raw_rows_of(record_keys) -> list[dict]:
    """Every imported raw row of these records, with its original columns decrypted: [{"batch_id",
    "source", "file_name", "row_number", "record_key", "columns": {column: value}}], in import order. Each
    chunk holding one of them is decrypted once (a person's rows are few; a chunk holds up to CHUNK_ROWS)."""
    keys = sorted({k for k in record_keys if k})
    if not keys:
        return []
    con = raw_connection()
    rows = con.execute(
        "SELECT batch_id, source, file_name, row_number, record_key, chunk_no FROM raw_rows "
        "WHERE list_contains(?, record_key) ORDER BY batch_id, row_number",
        [keys],
    ).fetchall()
    wanted: dict[tuple[str, int], set[int]] = {}
    for batch_id, _source, _file, row_number, _key, chunk_no in rows:
        wanted.setdefault((batch_id, chunk_no), set()).add(row_number)
    columns: dict[tuple[str, int], dict] = {}
    for (batch_id, chunk_no), numbers in wanted.items():
        for (payload,) in con.execute(
            "SELECT payload FROM raw_chunks WHERE batch_id = ? AND chunk_no = ?", [batch_id, chunk_no]
        ).fetchall():
            frame = pl.read_ipc_stream(io.BytesIO(pii.decrypt(bytes(payload))))
            for row in frame.filter(pl.col("__row__").is_in(sorted(numbers))).iter_rows(named=True):
                columns[(batch_id, row["__row__"])] = {k: v for k, v in row.items() if k != "__row__"}
    return [
        {"batch_id": b, "source": s, "file_name": f, "row_number": n, "record_key": k,
         "columns": columns[(b, n)] if (b, n) in columns else (raw_row(b, n) or {})}  # rows kept before chunk_no
        for b, s, f, n, k, _c in rows
    ]  # fmt: skip
