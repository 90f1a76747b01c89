"""Writing a warehouse query to a file a person opens: the checks and the writer every export shares
(siyu.segments.exports is the public entry point that names what can be exported)."""

from __future__ import annotations

from pathlib import Path

import ibis
import polars as pl
from django.conf import settings

from siyu.core.errors import SiyuError
from siyu.core.spreadsheet import FORMULA_STARTS, PLAIN_NUMBER
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


def formula_safe_columns(expr: ibis.Table) -> ibis.Table:
    """`expr` with every text column under siyu.core.spreadsheet.formula_safe's rule, computed by the engine:
    a text starting with = + - @, a tab or a carriage return that is not a plain number gets a leading
    apostrophe; numeric columns are left alone (a negative amount stays a number)."""
    plain_number = f"^(?:{PLAIN_NUMBER})$"
    changes = {}
    for name, dtype in expr.schema().items():
        if dtype.is_string():
            column = expr[name]
            risky = column.substr(0, 1).isin(list(FORMULA_STARTS)) & ~column.re_search(plain_number)
            changes[name] = risky.ifelse(ibis.literal("'") + column, column)
    return expr.mutate(**changes) if changes else expr


def write_export(expr, path: str | Path, local_times: tuple[str, ...] = ()) -> int:
    """Write the rows of Ibis expression `expr` to CSV or XLSX (by extension); returns how many. The
    `local_times` columns are written in settings.TIME_ZONE. A CSV of a query without such columns is
    written by DuckDB's COPY, without a round trip through Python. A CSV's text cells follow
    siyu.core.spreadsheet's rule (formula_safe_columns); an XLSX holds them as text cells, never formulas."""
    path = export_path(path)
    if path.suffix.lower() == ".csv":
        expr = formula_safe_columns(expr)
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
