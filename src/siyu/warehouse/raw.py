"""Reading raw rows back: decrypt the chunk that holds a row (lineage → original columns). Through the
warehouse's Ibis backend, so on either engine (DuckDB or Spark: tests/warehouse_contract)."""

from __future__ import annotations

import io

import polars as pl

from siyu.core import pii
from siyu.warehouse.connection import backend


def _columns(payload, numbers) -> dict[int, dict]:
    """The rows `numbers` of one encrypted chunk: row number -> original columns."""
    frame = pl.read_ipc_stream(io.BytesIO(pii.decrypt(bytes(payload))))
    return {
        row["__row__"]: {k: v for k, v in row.items() if k != "__row__"}
        for row in frame.filter(pl.col("__row__").is_in(sorted(numbers))).iter_rows(named=True)
    }


def raw_row(batch_id: str, row_number: int) -> dict | None:
    """All original columns of one imported row, as the file had them (after cell cleaning)."""
    con = backend()
    chunks = con.table("raw_chunks")
    found = con.to_pyarrow(
        chunks.filter(
            (chunks.batch_id == batch_id) & (chunks.first_row <= row_number) & (chunks.last_row >= row_number)
        ).select("payload")
    )
    for payload in found.column("payload").to_pylist():
        match = _columns(payload, [row_number])
        if row_number in match:
            return match[row_number]
    return None


def raw_rows_of(record_keys) -> list[dict]:
    """Every imported raw row of these records, with its original columns decrypted: [{"batch_id",
    "source", "file_name", "row_number", "record_key", "columns": {column: value}}], in import order. Each
    chunk holding one of them is decrypted once (a person's rows are few; a chunk holds up to CHUNK_ROWS)."""
    keys = sorted({k for k in record_keys if k})
    if not keys:
        return []
    con = backend()
    raw = con.table("raw_rows")
    rows = con.to_pyarrow(
        raw.filter(raw.record_key.isin(keys))
        .select("batch_id", "source", "file_name", "row_number", "record_key", "chunk_no")
        .order_by(["batch_id", "row_number"])
    ).to_pylist()
    wanted: dict[tuple[str, int], set[int]] = {}
    for row in rows:
        if row["chunk_no"] is not None:
            wanted.setdefault((row["batch_id"], row["chunk_no"]), set()).add(row["row_number"])
    columns: dict[tuple[str, int], dict] = {}
    if wanted:
        chunks = con.table("raw_chunks")
        found = con.to_pyarrow(
            chunks.filter(
                chunks.batch_id.isin(sorted({b for b, _ in wanted}))
                & chunks.chunk_no.isin(sorted({c for _, c in wanted}))
            ).select("batch_id", "chunk_no", "payload")
        ).to_pylist()
        for chunk in found:
            numbers = wanted.get((chunk["batch_id"], chunk["chunk_no"]))
            if numbers:
                for n, values in _columns(chunk["payload"], numbers).items():
                    columns[(chunk["batch_id"], n)] = values
    return [
        {"batch_id": r["batch_id"], "source": r["source"], "file_name": r["file_name"],
         "row_number": r["row_number"], "record_key": r["record_key"],
         "columns": columns[(r["batch_id"], r["row_number"])] if (r["batch_id"], r["row_number"]) in columns
         else (raw_row(r["batch_id"], r["row_number"]) or {})}  # rows kept before chunk_no: by their row range
        for r in rows
    ]  # fmt: skip
