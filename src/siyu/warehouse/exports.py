"""Writing a warehouse query to a file a person opens: the checks and the writer every export shares
(siyu.segments.exports is the public entry point that names what can be exported)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from django.conf import settings

from siyu.core.errors import SiyuError
from siyu.warehouse.connection import backend

XLSX_MAX_ROWS = 1_048_575  # one sheet, minus the header row


def export_path(path: str | Path) -> Path:
    """The absolute output path, checked before any work is done."""
    path = Path(path).expanduser().resolve()
    if path.suffix.lower() not in (".csv", ".xlsx"):
        raise SiyuError(f"cannot export to {path.name}: the file name must end in .csv or .xlsx")
    if not path.parent.is_dir():
        raise SiyuError(f"cannot export to {path}: the folder {path.parent} does not exist")
    return path


def write_export(expr, path: str | Path, local_times: tuple[str, ...] = ()) -> int:
    """Write the rows of Ibis expression `expr` to CSV or XLSX (by extension); returns how many. The
    `local_times` columns are written in settings.TIME_ZONE. A CSV of a query without such columns is
    written by DuckDB's COPY, without a round trip through Python."""
    path = export_path(path)
    count = int(expr.count().execute())
    if path.suffix.lower() == ".xlsx" and count > XLSX_MAX_ROWS:
        raise SiyuError(f"{count} rows do not fit in one Excel sheet (at most {XLSX_MAX_ROWS}); export to .csv")
    if path.suffix.lower() == ".csv" and not local_times:
        backend().to_csv(expr, path)
        return count
    frame = pl.from_arrow(expr.to_pyarrow())
    frame = frame.with_columns(
        pl.col(name).dt.convert_time_zone(settings.TIME_ZONE).dt.strftime("%Y-%m-%d %H:%M:%S")
        for name in local_times
    )
    if path.suffix.lower() == ".csv":
        frame.write_csv(path)
    else:
        frame.write_excel(path, autofit=False)
    return count
