"""Uploaded files kept for their jobs: UPLOADS_DIR/<32 hexadecimal characters>/<file name> (the console's
imports, the chat archive's uploads). Each holds people's rows as exported, in clear, until it is deleted;
erasure (siyu.privacy.erasure) deletes the ones holding a person once no waiting job needs them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
from django.conf import settings

from siyu.ingest.errors import ImportFailed
from siyu.ingest.readers.table import ROW_COLUMN, read_table

_UPLOAD_FOLDER = re.compile(r"[0-9a-f]{32}")
_TABLES = (".csv", ".txt", ".tsv", ".xlsx", ".xls", ".ods")


def upload_files() -> Iterator[Path]:
    """Every uploaded file, in name order."""
    root = Path(settings.UPLOADS_DIR)
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and _UPLOAD_FOLDER.fullmatch(folder.name):
            for path in sorted(folder.iterdir()):
                if path.is_file() and not path.name.startswith("."):
                    yield path


def _rows(path: Path) -> Iterator[list]:
    """The file's rows as lists of cells: a table read as an import reads it, any other file line by line
    (a chat archive export is JSON lines); a table that cannot be read is searched as text."""
    if path.suffix.lower() in _TABLES:
        try:
            frame = read_table(path).frame.drop(ROW_COLUMN, strict=False)
        except ImportFailed:
            pass
        else:
            yield from (list(row) for row in frame.iter_rows())
            return
    with path.open("r", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            yield [line]


# counts the rows of a table that match, at once (the same test as `matches`, vectorised)
RowsMatching = Callable[[pl.DataFrame], int]


def holds(path: Path, matches: Callable[[list], bool], rows_matching: RowsMatching | None = None) -> bool:
    """Whether any row of the file `matches`; a table is tested with `rows_matching` when given (a large
    upload is then searched in one vectorised pass, not row by row in Python)."""
    if rows_matching is not None and path.suffix.lower() in _TABLES:
        try:
            frame = read_table(path).frame.drop(ROW_COLUMN, strict=False)
        except ImportFailed:
            pass
        else:
            return rows_matching(frame) > 0
    return any(matches(row) for row in _rows(path))


def delete_files_holding(matches: Callable[[list], bool], keep: set[str],
                         rows_matching: RowsMatching | None = None) -> list[str]:  # fmt: skip
    """Delete the uploaded files holding a row that `matches`, except those named in `keep` (a waiting job's);
    an upload folder left empty goes too. Returns the deleted files' names."""
    deleted = []
    for path in list(upload_files()):
        if str(path) in keep or not holds(path, matches, rows_matching):
            continue
        path.unlink(missing_ok=True)
        deleted.append(path.name)
        if not any(path.parent.iterdir()):
            path.parent.rmdir()
    return deleted


def files_holding(matches: Callable[[list], bool], rows_matching: RowsMatching | None = None) -> list[Path]:
    return [path for path in upload_files() if holds(path, matches, rows_matching)]
