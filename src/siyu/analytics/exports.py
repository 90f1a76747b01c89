"""A page's tables as a file: CSV (one table, UTF-8 with BOM so that Excel reads Chinese) or XLSX (every
table on its own sheet). Columns are the code names the API uses."""

from __future__ import annotations

import io
from decimal import Decimal

import xlsxwriter

from siyu.analytics.errors import InvalidFilters
from siyu.core.spreadsheet import formula_safe_writer

FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _columns(rows: list[dict]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    return columns


def _cell(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list | dict):
        return str(value)
    return value


def export_page(result: dict, fmt: str, table: str | None = None) -> tuple[bytes, str]:
    """(file bytes, file name) of a page's result."""
    tables = result["tables"]
    stem = f"siyu-{result['page']}-{result['filters']['date_from']}-{result['filters']['date_to']}"
    if fmt == "csv":
        name = table or next(iter(tables))
        if name not in tables:
            raise InvalidFilters(f"no table {name!r} on this page; choose one of {', '.join(tables)}")
        rows = tables[name]
        out = io.StringIO()
        columns = _columns(rows) or ["empty"]
        writer = formula_safe_writer(out, lineterminator="\r\n")
        writer.writerow(columns)
        writer.writerows([row.get(c, "") for c in columns] for row in rows)
        return ("\ufeff" + out.getvalue()).encode("utf-8"), f"{stem}-{name}.csv"
    if fmt == "xlsx":
        buffer = io.BytesIO()
        book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
        for name, rows in tables.items():
            sheet = book.add_worksheet(name[:31])
            columns = _columns(rows)
            sheet.write_row(0, 0, columns)
            for i, row in enumerate(rows, start=1):
                sheet.write_row(i, 0, [_cell(row.get(c)) for c in columns])
        book.close()
        return buffer.getvalue(), f"{stem}.xlsx"
    raise InvalidFilters(f"export format must be one of {', '.join(FORMATS)}")
