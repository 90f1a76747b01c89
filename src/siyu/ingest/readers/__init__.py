"""Read a channel export (CSV in any of the usual encodings, XLSX, XLS) into an all-string polars frame.

Every cell is cleaned of export quirks (Excel guards, apostrophes, Douyin's leading tab, `-`/`null` for
missing) so later stages see values, never the platforms' tricks. Nothing is parsed as a number here: order
ids stay strings.
"""

from __future__ import annotations

from siyu.ingest.readers.cells import NULL_TOKENS, clean_cell, clean_cells
from siyu.ingest.readers.limits import LimitExceeded
from siyu.ingest.readers.table import ROW_COLUMN, ReadResult, UnreadableFile, check_workbook, read_table

__all__ = [
    "NULL_TOKENS",
    "LimitExceeded",
    "ROW_COLUMN",
    "ReadResult",
    "UnreadableFile",
    "clean_cell",
    "check_workbook",
    "clean_cells",
    "read_table",
]
