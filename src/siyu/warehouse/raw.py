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
