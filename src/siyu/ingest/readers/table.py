"""read_table: one entry point for CSV (UTF-8, UTF-8-BOM, GBK/GB18030, UTF-16) and Excel (XLSX/XLS) files."""

from __future__ import annotations

import codecs
import datetime as dt
import io
import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from siyu.ingest.errors import ImportFailed
from siyu.ingest.readers.cells import clean_cell, clean_frame

ROW_COLUMN = "__row__"  # spreadsheet row number: header = 1, first data row = 2

_ZIP = b"PK\x03\x04"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls (and other Office 97 files)
_SNIFF = 64 * 1024


class UnreadableFile(ImportFailed):
    """The file is not a table we can read (binary, empty, no header, broken workbook)."""


@dataclass
class ReadResult:
    frame: pl.DataFrame  # every column pl.String, plus ROW_COLUMN (Int64)
    encoding: str  # utf-8 | utf-8-sig | gb18030 | utf-16 | xlsx | xls | ods | <charset-normalizer guess>
    columns: list[str]  # cleaned headers, in file order, without ROW_COLUMN


def read_table(path: str | Path) -> ReadResult:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UnreadableFile(f"{path.name}: file not found ({path})") from None
    except OSError as e:
        raise UnreadableFile(f"{path.name}: cannot be read ({e.strerror or e})") from None
    if not data.strip(b" \t\r\n\x00"):
        raise UnreadableFile(f"{path.name} is empty")
    if data.startswith(_ZIP) or data.startswith(_OLE2):
        raw, first_row, encoding = _read_workbook(path, data)
    else:
        raw, first_row, encoding = _read_csv(path.name, data)
    frame, columns = _finish(raw, first_row, path.name)
    return ReadResult(frame=frame, encoding=encoding, columns=columns)


# --- CSV -------------------------------------------------------------------------------------------------


def _read_csv(name: str, data: bytes) -> tuple[pl.DataFrame, int, str]:
    buf, encoding = _to_utf8(name, data)
    # Leading blank lines: polars would take the column count from an empty first line.
    body = buf.lstrip(b"\r\n")
    skipped = buf[: len(buf) - len(body)].count(b"\n")
    newline = body.find(b"\n")  # find, not split: no copy of a 200 MB buffer
    header_line = body if newline < 0 else body[:newline]
    # Excel's "Unicode text" and some POS exports are tab-separated; headers never contain tabs.
    separator = "\t" if header_line.count(b"\t") > header_line.count(b",") else ","
    try:
        raw = pl.read_csv(
            io.BytesIO(body),
            has_header=False,
            infer_schema=False,  # all strings: order ids must never become numbers
            separator=separator,
            truncate_ragged_lines=True,  # extra fields past the header are dropped, short rows padded
            raise_if_empty=False,
        )
    except pl.exceptions.PolarsError as e:
        raise UnreadableFile(f"{name} could not be read as CSV: {str(e).splitlines()[0]}") from None
    return raw, skipped + 1, encoding


def _to_utf8(name: str, data: bytes) -> tuple[bytes, str]:
    """Bytes re-encoded as UTF-8 without BOM, and the encoding they were in."""
    if data.startswith(codecs.BOM_UTF8):
        body = data[len(codecs.BOM_UTF8) :]
        _check_text(name, body[:_SNIFF].decode("utf-8", errors="ignore"))
        return body, "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16", errors="replace")
        _check_text(name, text[:_SNIFF])
        return text.encode("utf-8"), "utf-16"
    # Binary files usually fail both strict decodes; NULs catch the rest before we guess.
    if b"\x00" in data[:_SNIFF]:
        raise UnreadableFile(f"{name} is not a CSV or Excel file (it contains binary data)")
    try:
        text = data.decode("utf-8")
        _check_text(name, text[:_SNIFF])
        return data, "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
        encoding = "gb18030"  # superset of GBK and GB2312, which Taobao and Excel-on-Windows write
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        best = from_bytes(data[: 4 * _SNIFF]).best()
        if best is None:
            raise UnreadableFile(f"{name} is not a CSV or Excel file (unknown text encoding)") from None
        encoding = best.encoding
        text = data.decode(encoding, errors="replace")
    _check_text(name, text[:_SNIFF])
    return text.encode("utf-8"), encoding


def _check_text(name: str, sample: str) -> None:
    controls = sum(1 for ch in sample if ch < " " and ch not in "\t\r\n")
    if "\x00" in sample or controls > max(2, len(sample) // 100):
        raise UnreadableFile(f"{name} is not a CSV or Excel file (it contains binary data)")


# --- Excel -----------------------------------------------------------------------------------------------


def _read_workbook(path: Path, data: bytes) -> tuple[pl.DataFrame, int, str]:
    from python_calamine import CalamineWorkbook

    is_zip = data.startswith(_ZIP)
    try:
        book = CalamineWorkbook.from_path(str(path))
        encoding = "xls" if not is_zip else ("ods" if b"opendocument" in data[:200] else "xlsx")
        for sheet_name in book.sheet_names:
            sheet = book.get_sheet_by_name(sheet_name)
            if sheet.start is not None and any(v not in ("", None) for row in sheet.iter_rows() for v in row):
                break
        else:
            raise UnreadableFile(f"{path.name} has no data in any sheet")
        first_row = sheet.start[0] + 1
        # iter_rows starts at the sheet's first row (its columns already start at the first used one);
        # converting 100k rows at a time keeps only one slice of Python cell objects alive (JD's 774k-row
        # export: peak 2.0 GB instead of 2.8 GB).
        rows = itertools.islice(sheet.iter_rows(), first_row - 1, None)
        batches = iter(lambda: list(itertools.islice(rows, _XLSX_BATCH)), [])
        frames = [_text_columns(batch) for batch in batches]
    except UnreadableFile:
        raise
    except Exception as e:  # calamine raises its own error types for every kind of corruption
        what = "a zip archive but not an Excel workbook" if is_zip else "not a readable Excel workbook"
        raise UnreadableFile(f"{path.name} is {what} ({e})") from None
    del sheet, book  # calamine's copy of the cells is no longer needed
    return pl.concat(frames, how="diagonal"), first_row, encoding


_XLSX_BATCH = 100_000


def _text_columns(rows: list[list]) -> pl.DataFrame:
    width = max(len(r) for r in rows)
    if any(len(r) != width for r in rows):
        rows = [r + [None] * (width - len(r)) for r in rows]
    columns = {}
    for j, values in enumerate(zip(*rows, strict=True)):  # C-level transpose
        if set(map(type, values)) != {str}:  # text-only columns (most) need no conversion
            values = [_cell_text(v) for v in values]
        columns[f"column_{j}"] = pl.Series(values, dtype=pl.String)
    return pl.DataFrame(columns)


def _cell_text(v: object) -> str | None:
    """A cell as the text a person sees: 13812345678 not 13812345678.0, dates as ISO."""
    if v is None or type(v) is str:
        return v
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float):
        if math.isfinite(v) and v.is_integer():
            return str(int(v))
        return repr(v)
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, dt.date):  # a date-only cell (number format without time)
        return v.isoformat()
    if isinstance(v, dt.time):
        return v.strftime("%H:%M:%S")
    return str(v)


# --- shared ----------------------------------------------------------------------------------------------


def _finish(raw: pl.DataFrame, first_row: int, name: str) -> tuple[pl.DataFrame, list[str]]:
    if raw.height == 0:
        raise UnreadableFile(f"{name} has no header row")
    headers = [clean_cell(h.replace("\ufeff", "")) if h is not None else None for h in raw.row(0)]
    if all(h is None for h in headers):
        raise UnreadableFile(f"{name} has no header row (the first row is empty)")
    body = clean_frame(raw.slice(1)).with_columns(
        pl.int_range(first_row + 1, first_row + raw.height, dtype=pl.Int64).alias(ROW_COLUMN)
    )
    keep: list[tuple[str, str]] = []  # (raw column, final name)
    taken = {ROW_COLUMN}
    non_empty = body.select(pl.col(c).is_not_null().any() for c in raw.columns).row(0)
    for j, (col, header, has_data) in enumerate(zip(raw.columns, headers, non_empty, strict=True)):
        if header is None:
            if not has_data:
                continue  # the empty column after a trailing comma
            header = f"column_{j + 1}"
        final, n = header, 1
        while final in taken:
            n += 1
            final = f"{header}_{n}"
        taken.add(final)
        keep.append((col, final))
    frame = body.select([pl.col(c).alias(f) for c, f in keep] + [pl.col(ROW_COLUMN)])
    data_cols = [f for _, f in keep]
    if data_cols:  # blank lines and rows of only `-` carry nothing; their row numbers are skipped
        frame = frame.filter(pl.any_horizontal(pl.col(c).is_not_null() for c in data_cols))
    return frame, data_cols
