"""Fast chunked writers for the platform files.

CSV: lines are assembled with polars expressions so that each platform's quirks (``="…"`` Excel guards, tabs
inside quotes, a trailing comma, CRLF, BOM, GB18030) are written byte-exactly, chunk by chunk.

XLSX: xlsxwriter costs ~5 µs per cell, too slow for millions of rows, so the sheet XML is assembled with
polars (inline strings, cells without references) and streamed into a zip whose other parts come from an
empty xlsxwriter workbook. Cells of one row appear in order, so readers place them by position.
"""

from __future__ import annotations

import io
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import polars as pl
import xlsxwriter

CHUNK_ROWS = 100_000
# A sheet holds 1,048,576 rows including the header; keep a margin.
XLSX_MAX_ROWS = 1_000_000

_SPECIAL = [",", '"', "\r", "\n"]


def _quoted(c: pl.Expr) -> pl.Expr:
    return pl.lit('"') + c.str.replace_all('"', '""', literal=True) + pl.lit('"')


def _csv_columns(chunk: pl.DataFrame, modes: dict[str, str]) -> list[pl.Expr]:
    exprs = []
    for name in chunk.columns:
        c = pl.col(name)
        mode = modes.get(name, "auto")
        if mode == "quote":
            e = _quoted(c)
        elif mode == "auto" and chunk[name].str.contains_any(_SPECIAL).any():
            e = pl.when(c.str.contains_any(_SPECIAL)).then(_quoted(c)).otherwise(c)
        else:  # "raw" (already formatted) or nothing to quote
            e = c
        exprs.append(e.alias(name))
    return exprs


def write_csv(
    path: Path,
    df: pl.DataFrame,
    *,
    encoding: str = "utf-8",
    bom: bool = False,
    crlf: bool = False,
    trailing_comma: bool = False,
    modes: dict[str, str] | None = None,
) -> int:
    """Write a frame of string columns; `modes` maps a column to "raw" (written verbatim) or "quote"
    (always quoted); other columns are quoted where needed. Returns the number of data rows."""
    modes = modes or {}
    eol = "\r\n" if crlf else "\n"
    header = ",".join(df.columns) + ("," if trailing_comma else "") + eol
    with open(path, "wb") as fh:
        if bom:
            fh.write("\ufeff".encode())
        fh.write(header.encode(encoding))
        for start in range(0, df.height, CHUNK_ROWS):
            chunk = df.slice(start, CHUNK_ROWS)
            out = chunk.select(_csv_columns(chunk, modes))
            if trailing_comma:  # an empty last column gives every line a final comma
                out = out.with_columns(pl.lit("").alias("_trailing"))
            buf = io.BytesIO()
            out.write_csv(buf, include_header=False, quote_style="never", line_terminator=eol, null_value="")
            data = buf.getvalue()
            if encoding.replace("-", "").lower() not in ("utf8",):
                data = data.decode("utf-8").encode(encoding)
            fh.write(data)
    return df.height


@lru_cache(maxsize=1)
def _xlsx_template() -> tuple[list[tuple[str, bytes]], str, str]:
    """Parts of an empty workbook, and the sheet XML split around its (empty) sheetData."""
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"constant_memory": True})
    wb.set_properties({"created": datetime(2026, 1, 1), "author": "Siyu demo"})  # same bytes for a seed
    wb.add_worksheet("Sheet1")
    wb.close()
    parts = []
    sheet = ""
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        for name in z.namelist():
            if name == "xl/worksheets/sheet1.xml":
                sheet = z.read(name).decode("utf-8")
            else:
                parts.append((name, z.read(name)))
    head, tail = sheet.split("<sheetData/>")
    return parts, head, tail


def _entry(name: str) -> zipfile.ZipInfo:
    """A zip entry with a fixed timestamp, so that a seed gives the same bytes."""
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    # The level of an entry given as a ZipInfo: `_compresslevel` up to Python 3.12, `compress_level` after.
    for attr in ("compress_level", "_compresslevel"):
        if hasattr(zipfile.ZipInfo, attr):
            setattr(info, attr, 1)
            break
    return info


def _col_letter(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def _xml_text(c: pl.Expr) -> pl.Expr:
    return (
        c.str.replace_all("&", "&amp;", literal=True)
        .str.replace_all("<", "&lt;", literal=True)
        .str.replace_all(">", "&gt;", literal=True)
    )


def _xlsx_cells(chunk: pl.DataFrame) -> list[pl.Expr]:
    """One expression per column rendering its cell XML; the first opens and the last closes the row."""
    exprs = []
    last = len(chunk.columns) - 1
    for i, (name, dtype) in enumerate(chunk.schema.items()):
        c = pl.col(name)
        if dtype.is_numeric():
            e = (pl.lit("<c><v>") + c.cast(pl.Utf8) + pl.lit("</v></c>")).fill_null("<c/>")
        else:
            if chunk[name].str.contains_any(["&", "<", ">"]).any():
                c = _xml_text(c)
            e = (pl.lit('<c t="inlineStr"><is><t>') + c + pl.lit("</t></is></c>")).fill_null("<c/>")
        if i == 0:
            e = pl.lit("<row>") + e
        if i == last:
            e = e + pl.lit("</row>")
        exprs.append(e.alias(f"c{i}"))
    return exprs


def write_xlsx(path: Path, df: pl.DataFrame) -> int:
    """Write string and numeric columns to the first sheet of an XLSX file. Returns data rows."""
    if df.height > XLSX_MAX_ROWS:
        raise ValueError(f"{df.height} rows do not fit one sheet; split the frame first")
    parts, head, tail = _xlsx_template()
    dim = f"A1:{_col_letter(len(df.columns) - 1)}{df.height + 1}"
    head = head.replace('<dimension ref="A1"/>', f'<dimension ref="{dim}"/>')
    header_cells = "".join(
        '<c t="inlineStr"><is><t>' + c.replace("&", "&amp;").replace("<", "&lt;") + "</t></is></c>"
        for c in df.columns
    )
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, data in parts:
            z.writestr(_entry(name), data)
        with z.open(_entry("xl/worksheets/sheet1.xml"), "w", force_zip64=True) as fh:
            fh.write((head + "<sheetData><row>" + header_cells + "</row>\n").encode("utf-8"))
            # Deflate (which releases the GIL) runs in a thread while polars renders the next chunk.
            with ThreadPoolExecutor(max_workers=1) as pool:
                pending = None
                for start in range(0, df.height, CHUNK_ROWS):
                    chunk = df.slice(start, CHUNK_ROWS)
                    # Cells are separated by a space (whitespace between elements is insignificant in XML).
                    buf = io.BytesIO()
                    chunk.select(_xlsx_cells(chunk)).write_csv(
                        buf, separator=" ", quote_style="never", include_header=False, line_terminator="\n"
                    )
                    if pending is not None:
                        pending.result()
                    pending = pool.submit(fh.write, buf.getvalue())
                if pending is not None:
                    pending.result()
            fh.write(("</sheetData>" + tail).encode("utf-8"))
    return df.height
