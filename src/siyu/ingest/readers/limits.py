"""The limits an imported file must stay within (settings IMPORT_MAX_*): a zip bomb, a sheet of millions of
rows, thousands of columns or a cell of megabytes is refused with a message naming the file and the limit.

Checked in three places, each before any row of the file lands:
- before a workbook is parsed, from the zip's own directory (`check_archive`): the sizes its parts declare
  and how many times each inflates; then the first sheet is inflated once as a stream, without parsing it,
  to count its rows (`<row>` elements) and to hold the part to the size it declared (Python's zip reader
  stops at the declared size and checks the CRC, so a part that lies about its size is refused as broken);
- while a file is parsed: a CSV's header line is counted before polars parses it, and polars stops one row
  past the limit; the calamine path counts rows batch by batch;
- on the parsed cells, before they are cleaned (`check_cells`): rows, columns and the longest cell.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from dataclasses import dataclass

import polars as pl
from django.conf import settings
from django.utils.translation import gettext as _

from siyu.ingest.errors import ImportFailed

EXCEL_MAX_ROWS = 1_048_576  # a sheet of Excel (and WPS) holds at most this many rows, header included
RATIO_FLOOR_BYTES = 1 << 20  # parts smaller than this are not held to the compression ratio
_MB = 1 << 20
_SCAN_CHUNK = 4 << 20
_ROW_TAG = re.compile(rb"<row[\s>/]")


class LimitExceeded(ImportFailed):
    """A file beyond one of the import limits; nothing of it was written."""


@dataclass(frozen=True)
class ImportLimits:
    uncompressed_bytes: int
    compression_ratio: float
    rows: int
    columns: int
    cell_chars: int


def import_limits() -> ImportLimits:
    """The limits in force (settings IMPORT_MAX_*)."""
    return ImportLimits(
        uncompressed_bytes=int(settings.IMPORT_MAX_UNCOMPRESSED_MB * _MB),
        compression_ratio=float(settings.IMPORT_MAX_COMPRESSION_RATIO),
        rows=int(settings.IMPORT_MAX_ROWS),
        columns=int(settings.IMPORT_MAX_COLUMNS),
        cell_chars=int(settings.IMPORT_MAX_CELL_CHARS),
    )


def megabytes(size: int | float) -> str:
    """A size as people read it: 1,024 MB, 3.7 MB, 0.5 MB."""
    value = size / _MB
    return f"{value:,.0f} MB" if value >= 10 else f"{value:,.1f} MB"


def too_many_rows(name: str, rows: int | None, limit: int) -> LimitExceeded:
    if rows is None:
        text = _("%(name)s has more than %(limit)s rows; at most %(limit)s rows are imported from one file. "
                 "Split the file.")  # fmt: skip
    else:
        text = _("%(name)s has %(rows)s rows; at most %(limit)s rows are imported from one file. Split the file.")  # fmt: skip
    return LimitExceeded(text % {"name": name, "rows": f"{rows or 0:,}", "limit": f"{limit:,}"})


def too_many_columns(name: str, columns: int, limit: int) -> LimitExceeded:
    return LimitExceeded(
        _("%(name)s has %(columns)s columns; at most %(limit)s columns are read.")
        % {"name": name, "columns": f"{columns:,}", "limit": f"{limit:,}"}
    )


def check_header_width(name: str, header_line: bytes, separator: str, limits: ImportLimits) -> None:
    """A CSV's header line, before it is parsed: more fields than the column limit is refused at once (a
    20,000-column file used to take half a minute for 100 rows). Separators inside quotes count too, so the
    count is an upper bound; the parsed width is checked again in check_cells."""
    fields = header_line.count(separator.encode()) + 1
    if fields > limits.columns and _quoted_width(header_line, separator) > limits.columns:
        raise too_many_columns(name, _quoted_width(header_line, separator), limits.columns)


def _quoted_width(header_line: bytes, separator: str) -> int:
    import csv
    import io

    text = header_line.decode("utf-8", errors="replace")
    return len(next(csv.reader(io.StringIO(text), delimiter=separator), []))


def check_archive(name: str, path, limits: ImportLimits, first_sheet) -> None:
    """A workbook's zip, before it is parsed (see the module's docstring). Raises LimitExceeded, or
    ImportFailed for a part whose size or CRC does not match what the zip declares. `first_sheet(archive)`
    names the zip member of the first sheet (the one the readers read)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return  # not a zip after all: the readers say what it is
    with archive:
        infos = archive.infolist()
        declared = sum(info.file_size for info in infos)
        if declared > limits.uncompressed_bytes:
            raise LimitExceeded(
                _("%(name)s unpacks to %(size)s; at most %(limit)s is read from one workbook.")  # fmt: skip
                % {"name": name, "size": megabytes(declared), "limit": megabytes(limits.uncompressed_bytes)}
            )
        for info in infos:
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size >= RATIO_FLOOR_BYTES and ratio > limits.compression_ratio:
                raise LimitExceeded(
                    _("%(name)s is compressed %(ratio)s times (%(packed)s unpack to %(size)s): not an export "
                      "of a platform but a zip bomb; at most %(limit)s times is read.")  # fmt: skip
                    % {"name": name, "ratio": f"{ratio:,.0f}", "packed": megabytes(info.compress_size),
                       "size": megabytes(info.file_size), "limit": f"{limits.compression_ratio:,.0f}"}  # fmt: skip
                )
        try:
            part = first_sheet(archive)
        except (KeyError, ValueError, SyntaxError, zipfile.BadZipFile):  # ET.ParseError is a SyntaxError
            part = None  # not laid out as a workbook: the readers say what it is
        if part:
            _scan_sheet(name, archive, archive.getinfo(part), limits)


def _scan_sheet(name: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ImportLimits) -> None:
    """Inflate the sheet as a stream (never more than it declares) and count its <row> elements."""
    row_limit = min(limits.rows, EXCEL_MAX_ROWS - 1) + 1  # data rows plus the header row
    rows, tail = 0, b""
    try:
        with archive.open(info) as stream:
            while rows <= row_limit and (chunk := stream.read(_SCAN_CHUNK)):
                data = tail + chunk
                rows += len(_ROW_TAG.findall(data))  # a tag is 5 bytes: one cut by a chunk's end is in `tail`
                tail = data[-4:]
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        raise ImportFailed(
            _("%(name)s is a broken workbook: its sheet does not unpack as the file declares (%(error)s).")
            % {"name": name, "error": e}
        ) from None
    if rows > row_limit:
        if row_limit == EXCEL_MAX_ROWS:
            raise LimitExceeded(
                _("%(name)s has more rows than an Excel sheet can hold (%(limit)s): it was not written by Excel "
                  "or a platform export and is not read.") % {"name": name, "limit": f"{EXCEL_MAX_ROWS:,}"}  # fmt: skip
            )
        raise too_many_rows(name, None, limits.rows)


def check_cells(name: str, headers: list, body: pl.DataFrame, first_row: int, limits: ImportLimits) -> None:
    """The parsed cells (header row and body, all text), before they are cleaned: rows, columns and the
    longest cell; the message names the row of the first cell too long."""
    if body.height > limits.rows:
        raise too_many_rows(name, body.height, limits.rows)
    if len(headers) > limits.columns:
        raise too_many_columns(name, len(headers), limits.columns)
    long_header = next((h for h in headers if h is not None and len(h) > limits.cell_chars), None)
    if long_header is not None:
        raise _cell_too_long(name, first_row, len(long_header), limits)
    if body.width == 0 or body.height == 0:
        return
    lengths = body.select(pl.max_horizontal(pl.all().str.len_chars()).alias("longest")).to_series()
    longest = lengths.max()
    if longest is not None and longest > limits.cell_chars:
        at = int(lengths.arg_max())
        raise _cell_too_long(name, first_row + 1 + at, int(longest), limits)


def _cell_too_long(name: str, row: int, chars: int, limits: ImportLimits) -> LimitExceeded:
    return LimitExceeded(
        _("%(name)s, row %(row)s: a cell of %(chars)s characters; at most %(limit)s characters are read from "
          "one cell.")  # fmt: skip
        % {"name": name, "row": f"{row:,}", "chars": f"{chars:,}", "limit": f"{limits.cell_chars:,}"}
    )
