"""read_table: one entry point for CSV (UTF-8, UTF-8-BOM, GBK/GB18030, UTF-16) and Excel (XLSX/XLS) files."""

from __future__ import annotations

import codecs
import datetime as dt
import io
import itertools
import logging
import math
import re
import shutil
import tempfile
import xml.etree.ElementTree as ET
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from siyu.ingest.errors import ImportFailed
from siyu.ingest.readers.cells import clean_cell, clean_frame
from siyu.ingest.readers.limits import (
    EXCEL_MAX_ROWS,
    ImportLimits,
    check_archive,
    check_cells,
    check_header_width,
    import_limits,
    too_many_rows,
)
from siyu.ingest.timing import stage

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
    workbook = data.startswith(_ZIP) or data.startswith(_OLE2)
    limits = import_limits()
    if data.startswith(_ZIP):
        with stage("read: check the workbook's sizes"):
            check_archive(path.name, path, limits, _first_sheet_part)
    with stage("read: parse the workbook" if workbook else "read: decode and parse the CSV"):
        columnar = _read_xlsx_columnar(path, data) if data.startswith(_ZIP) else None
        if columnar is not None:
            headers, body, first_row = columnar
            encoding = "xlsx"
        else:
            if workbook:
                raw, first_row, encoding = _read_workbook(path, data, limits)
            else:
                raw, first_row, encoding = _read_csv(path.name, data, limits)
            if raw.height == 0:
                raise UnreadableFile(f"{path.name} has no header row")
            headers, body = list(raw.row(0)), raw.slice(1)
        check_cells(path.name, headers, body, first_row, limits)
    with stage("read: clean cells"):
        frame, columns = _finish(headers, body, first_row, path.name)
    return ReadResult(frame=frame, encoding=encoding, columns=columns)


def check_workbook(name: str, source) -> None:
    """The checks a workbook (a path or a binary file object holding a zip) passes before anything parses
    it (siyu.ingest.readers.limits.check_archive): for readers of uploads other than imports."""
    check_archive(name, source, import_limits(), _first_sheet_part)


# --- CSV -------------------------------------------------------------------------------------------------


def _read_csv(name: str, data: bytes, limits: ImportLimits) -> tuple[pl.DataFrame, int, str]:
    buf, encoding = _to_utf8(name, data)
    # Leading blank lines: polars would take the column count from an empty first line.
    body = buf.lstrip(b"\r\n")
    skipped = buf[: len(buf) - len(body)].count(b"\n")
    newline = body.find(b"\n")  # find, not split: no copy of a 200 MB buffer
    header_line = body if newline < 0 else body[:newline]
    # Excel's "Unicode text" and some POS exports are tab-separated; headers never contain tabs.
    separator = "\t" if header_line.count(b"\t") > header_line.count(b",") else ","
    check_header_width(name, header_line, separator, limits)
    try:
        raw = pl.read_csv(
            io.BytesIO(body),
            has_header=False,
            infer_schema=False,  # all strings: order ids must never become numbers
            separator=separator,
            truncate_ragged_lines=True,  # extra fields past the header are dropped, short rows padded
            raise_if_empty=False,
            n_rows=limits.rows + 2,  # the header and one row past the limit: enough to refuse the file
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


def _read_workbook(path: Path, data: bytes, limits: ImportLimits) -> tuple[pl.DataFrame, int, str]:
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
        frames, height = [], 0
        row_limit = min(limits.rows, EXCEL_MAX_ROWS - 1) + 1  # data rows and the header
        for batch in batches:  # counted while read: a sheet past the limit is not read to its end
            height += len(batch)
            if height > row_limit:
                raise too_many_rows(path.name, None, limits.rows)
            frames.append(_text_columns(batch))
    except ImportFailed:
        raise
    except Exception as e:  # calamine raises its own error types for every kind of corruption
        what = "a zip archive but not an Excel workbook" if is_zip else "not a readable Excel workbook"
        raise UnreadableFile(f"{path.name} is {what} ({e})") from None
    del sheet, book  # calamine's copy of the cells is no longer needed
    return pl.concat(frames, how="diagonal"), first_row, encoding


_XLSX_BATCH = 100_000


# --- XLSX, columnar ---------------------------------------------------------------------------------------
#
# fastexcel (calamine underneath, like the reader above) builds Arrow columns in Rust: the 774k-row JD sheet
# loads in ≈12 s instead of ≈35 s through Python cell objects. It renders some cells differently (booleans,
# dates, tiny floats as text; duplicate and empty headers renamed; no first used row), so it is taken only
# when the result provably equals the calamine path's: every column holds one cell type (strict coercion),
# that type is text, a number or a boolean (rendered here exactly as _cell_text does), the headers were
# neither renamed nor generated, and the first used row is found in the sheet's XML. Anything else
# returns None and the file goes through _read_workbook.

_UNNAMED = re.compile(r"__UNNAMED__\d+")
_RENAMED = re.compile(r"(.*)_\d+")
# fastexcel's text for a header cell that is a boolean, a date or a float below 1e-4 differs from _cell_text.
_RISKY_HEADER = re.compile(r"(?i:true|false)|-0|-?0\.0000\d*|\d{4}-\d\d-\d\d.*|\d\d:\d\d:\d\d.*")


def _read_xlsx_columnar(path: Path, data: bytes) -> tuple[list[str | None], pl.DataFrame, int] | None:
    """(header cells, body as text columns, first used row) of the first sheet, or None (see above)."""
    if b"opendocument" in data[:200]:
        return None
    try:
        import fastexcel  # noqa: F401
    except ImportError:  # optional speed-up: the calamine path reads every workbook
        return None
    first_row = _xlsx_first_used_row(path)
    if first_row is None:
        return None
    logging.getLogger("fastexcel").setLevel(logging.ERROR)  # "falling back to string" for empty columns
    # A large sheet is parsed as two workbooks of half the rows each, on two threads (fastexcel releases
    # the GIL); each half must pass the same checks, and their columns must agree in type.
    halves = _sheet_halves(path)
    try:
        sources = halves[1] if halves else [path]
        with ThreadPoolExecutor(max_workers=len(sources)) as pool:
            loaded = list(pool.map(_load_first_sheet, sources))
    finally:
        if halves:
            shutil.rmtree(halves[0], ignore_errors=True)
    if any(part is None for part in loaded):
        return None
    names = loaded[0][0]
    if any(part[0] != names for part in loaded):
        return None
    taken = set(names)
    headers: list[str | None] = []
    for name in names:
        if _UNNAMED.fullmatch(name):
            return None  # an empty header cell (or a header literally named so): cannot tell apart
        renamed = _RENAMED.fullmatch(name)
        if (renamed and renamed.group(1) in taken) or _RISKY_HEADER.fullmatch(name):
            return None
        headers.append(name)
    batches = [batch for _, batch in loaded]
    del loaded
    columns = {}
    for j in range(len(names)):
        parts = [batch.column(j) for batch in batches]
        # in one read a column mixing these kinds fails strict coercion: so must its halves
        if len({_kind(part.type) for part in parts} - {"null"}) > 1:
            return None
        texts = [_arrow_text(part) for part in parts]
        if any(text is None for text in texts):
            return None
        columns[f"column_{j}"] = texts[0] if len(texts) == 1 else pl.concat(texts, rechunk=True)
    return headers, pl.DataFrame(columns, height=sum(batch.num_rows for batch in batches)), first_row


def _load_first_sheet(source: Path | bytes):
    """(column names, record batch) of the first sheet through fastexcel, or None where it cannot be
    taken as is (mixed types, an error cell, a column missing from the batch, a broken workbook)."""
    import fastexcel

    offered: list[str] = []

    def keep(column) -> bool:  # every column the sheet has, to notice one missing from the batch
        offered.append(column.name)
        return True

    try:
        batch = fastexcel.read_excel(source).load_sheet(
            0, header_row=0, schema_sample_rows=None, dtype_coercion="strict", eager=True, use_columns=keep
        )
    except Exception:  # mixed column types, an error cell, a broken workbook: the calamine path decides
        return None
    names = batch.schema.names
    if names != offered or not names:
        return None
    return names, batch


def _kind(kind) -> str:
    import pyarrow as pa

    if pa.types.is_null(kind):
        return "null"
    if pa.types.is_floating(kind) or pa.types.is_integer(kind):
        return "number"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return "text"
    return str(kind)


# Sheets whose XML is at least this large are split (JD's 774k-row export: 896 MB of XML).
_SPLIT_MIN_BYTES = 64 << 20
_ROW_START = re.compile(rb"<row[\s>/]")
_ANY_ROW_REF = b"r="


def _sheet_halves(path: Path) -> tuple[Path, list[Path]] | None:
    """The workbook as two workbooks (the sheet stored, not deflated) whose first sheets hold
    the rows up to the header row and then the first, or the second, half of the rows below it; None
    (read it whole) when the sheet is small or not laid out so that the halves read exactly as the whole:

    - the sheet's first <row> element holds a value (the header), so each half starts with the same rows;
    - no row or cell below the header carries an `r` reference (each half's rows count on from its
      header, as calamine numbers them in the whole sheet; referenced rows would land far below it);
    - the last row of the first half holds a value (calamine ends a sheet at its last used row, so a
      trailing empty row there would vanish and shift the row numbers of the second half).
    Streaming exporters (and the demo brand) write rows without references; Excel writes references, so
    its sheets are read whole, on one core. The sheet XML is inflated in chunks straight into the two
    workbooks, written beside the imported file in a private folder (the same cells as the file, not in
    memory: JD's 896 MB of XML would have doubled the import's peak); returns (folder, the two workbooks)
    and the caller removes the folder; None when the folder cannot be made."""
    folder = None
    try:
        with zipfile.ZipFile(path) as archive:
            part = _first_sheet_part(archive)
            if part is None or archive.getinfo(part).file_size < _SPLIT_MIN_BYTES:
                return None
            size = archive.getinfo(part).file_size
            others = [(info.filename, archive.read(info)) for info in archive.infolist() if info.filename != part]
            folder = Path(tempfile.mkdtemp(prefix=".siyu-halves-", dir=path.parent))  # mode 0700
            with archive.open(part) as stream:
                halves = _split_sheet(stream, size, others, part, folder)
    except (zipfile.BadZipFile, KeyError, OSError, ET.ParseError, RuntimeError, ValueError, EOFError, zlib.error):
        halves = None
    if halves is None:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        return None
    return folder, halves


_SPLIT_CHUNK = 16 << 20
_HOLD = 16  # bytes kept back from each chunk, so that no tag is missed across a chunk's end
_RECENT = 1 << 16  # a first half whose last row is longer than this is not split


def _split_sheet(stream, size: int, others: list[tuple[str, bytes]], part: str, folder: Path) -> list[Path] | None:
    held = b""
    while b"</row>" not in held and len(held) < 64 << 20:  # up to the end of the first row
        more = stream.read(_SPLIT_CHUNK)
        if not more:
            break
        held += more
    data_at, row_at = held.find(b"<sheetData>"), held.find(b"<row")
    header_end = held.find(b"</row>", row_at) if row_at >= 0 else -1
    if not 0 <= data_at < row_at < header_end:
        return None
    header_end += len(b"</row>")
    header = held[row_at:header_end]
    if b"<v>" not in header and b"<is>" not in header:
        return None
    first, second = _StoredBook(folder / "1.xlsx", others, part), _StoredBook(folder / "2.xlsx", others, part)
    first.write(held[:header_end])
    second.write(held[:header_end])
    middle = header_end + (size - header_end) // 2  # stream offset where the second half may start
    held, at, eof, halves = held[header_end:], header_end, False, [first]
    recent = b""  # the end of what the first half got so far (its last row may have begun there)
    while True:
        if not eof:
            more = stream.read(_SPLIT_CHUNK)
            eof = not more
            held += more
        limit = len(held) if eof else len(held) - _HOLD  # look at what starts before limit
        close = held.find(b"</sheetData>", 0, limit + _HOLD)
        body = close if close >= 0 else limit
        if held.find(_ANY_ROW_REF, 0, body + 1) >= 0:  # conservative: also text that reads "r="
            return None
        if len(halves) == 1 and (at + body > middle or close >= 0):
            found = _ROW_START.search(held, max(0, middle - at), body) if at + body > middle else None
            # the first row past the middle; in a short sheet (or before a large tail) the last row
            cut = found.start() if found is not None else held.rfind(b"<row", 0, body) if close >= 0 else -1
            if cut >= 0:
                before = recent + held[:cut]
                last_row = before.rfind(b"<row")  # the first half's last row: it must hold a value
                if last_row < 0 or (before.find(b"<v>", last_row) < 0 and before.find(b"<is>", last_row) < 0):
                    return None
                first.write(held[:cut])
                held, at = held[cut:], at + cut
                halves.append(second)
                continue
        if close >= 0:
            if len(halves) == 1:  # a single body row: nothing to split
                return None
            second.write(held[:close])
            tail = held[close:] + stream.read()
            first.write(tail)
            second.write(tail)
            return [first.close(), second.close()]
        if eof:
            return None  # no </sheetData>
        if len(halves) == 1:  # up to the last row begun: the cut may still fall there
            upto = held.rfind(b"<row", 0, limit)
            if upto <= 0:
                continue  # a row longer than a chunk: read on
            first.write(held[:upto])
            recent = held[upto - _RECENT : upto] if upto >= _RECENT else (recent + held[:upto])[-_RECENT:]
        else:
            upto = limit
            second.write(held[:upto])
        held, at = held[upto:], at + upto


class _StoredBook:
    """A workbook file: the other parts as they were, the sheet stored (no deflate)."""

    def __init__(self, path: Path, others: list[tuple[str, bytes]], part: str):
        self.path = path
        self.book = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED)
        for name, content in others:
            self.book.writestr(name, content)
        self.sheet = self.book.open(zipfile.ZipInfo(part, date_time=(1980, 1, 1, 0, 0, 0)), "w", force_zip64=True)

    def write(self, data: bytes) -> None:
        self.sheet.write(data)

    def close(self) -> Path:
        self.sheet.close()
        self.book.close()
        return self.path


def _arrow_text(column) -> pl.Series | None:
    """One fastexcel column as the text _cell_text gives for its cells, or None for types not handled."""
    import pyarrow as pa

    series = pl.from_arrow(column)
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return series.cast(pl.String)
    if pa.types.is_null(kind):
        return pl.Series(values=[None] * len(series), dtype=pl.String)
    if pa.types.is_boolean(kind):
        return pl.select(pl.when(series).then(pl.lit("TRUE")).when(~series).then(pl.lit("FALSE"))).to_series()
    if pa.types.is_floating(kind) or pa.types.is_integer(kind):
        # the same function as the calamine path, once per distinct value (amounts repeat a lot)
        uniques = series.drop_nulls().unique()
        texts = pl.Series([_cell_text(v) for v in uniques.to_list()], dtype=pl.String)
        return series.replace_strict(uniques, texts, default=None, return_dtype=pl.String)
    return None  # dates and times: python-calamine's date/time/datetime choice is not reproduced here


_TAG = re.compile(rb"<(row|c)\b([^>]*?)(/?)>")
_ROW_REF = re.compile(rb"""\br\s*=\s*["'](\d+)["']""")
_CELL_REF = re.compile(rb"""\br\s*=\s*["'][A-Z]+(\d+)["']""")


def _xlsx_first_used_row(path: Path) -> int | None:
    """1-based row of the first cell with a value in the workbook's first sheet (calamine's range start),
    from the start of the sheet's XML; None when the XML is not laid out as expected."""
    try:
        with zipfile.ZipFile(path) as archive:
            part = _first_sheet_part(archive)
            if part is None:
                return None
            with archive.open(part) as stream:
                text = b""
                while True:
                    chunk = stream.read(1 << 20)
                    text += chunk
                    found = _first_valued_cell_row(text, final=not chunk)
                    if found is not None or not chunk:
                        return found or None
                    if len(text) > 64 << 20:  # a sheet that starts with megabytes of empty cells
                        return None
    except (zipfile.BadZipFile, KeyError, OSError, ET.ParseError):
        return None


def _first_valued_cell_row(text: bytes, final: bool) -> int | None:
    """The 1-based row of the first <c> with <v> or <is> in `text` (rows without r="" count on from the
    previous one, as calamine does); 0 when the XML is odd; None to read on."""
    row = 0
    for match in _TAG.finditer(text):
        tag, attrs, closed = match.groups()
        if tag == b"row":
            ref = _ROW_REF.search(attrs)
            row = int(ref.group(1)) if ref else row + 1
            continue
        if closed:  # <c …/>: a styled empty cell
            continue
        end = text.find(b"</c>", match.end())
        if end < 0:
            return 0 if final else None
        inner = text[match.end() : end]
        if b"<v>" not in inner and b"<is>" not in inner:
            if b"<v" in inner or b":v" in inner or b":is" in inner:
                return 0  # <v/>, prefixed tags: not what this scan is checked against
            continue
        ref = _CELL_REF.search(attrs)
        return int(ref.group(1)) if ref else row
    return 0 if final else None


_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _first_sheet_part(archive: zipfile.ZipFile) -> str | None:
    """The zip member of the workbook's first sheet (the one fastexcel's index 0 and calamine read)."""
    book = ET.fromstring(archive.read("xl/workbook.xml"))
    sheet = next((e for e in book.iter() if e.tag.endswith("}sheet") or e.tag == "sheet"), None)
    if sheet is None:
        return None
    rel_id = sheet.get(f"{{{_REL_NS}}}id")
    rels = ET.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    target = next((e.get("Target") for e in rels if e.get("Id") == rel_id), None)
    if not target:
        return None
    part = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    return part if part in archive.namelist() else None


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


def _finish(
    raw_headers: list[str | None], raw_body: pl.DataFrame, first_row: int, name: str
) -> tuple[pl.DataFrame, list[str]]:
    """Clean the header cells and the body (the rows below the header, one column per header cell)."""
    headers = [clean_cell(h.replace("\ufeff", "")) if h is not None else None for h in raw_headers]
    if all(h is None for h in headers):
        raise UnreadableFile(f"{name} has no header row (the first row is empty)")
    raw = raw_body
    body = clean_frame(raw).with_columns(
        pl.int_range(first_row + 1, first_row + 1 + raw.height, dtype=pl.Int64).alias(ROW_COLUMN)
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
