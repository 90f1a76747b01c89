"""Rejected rows: the rows of an imported file that did not land, with their reasons and original cells.

One file per imported file, named by the label and the file's content (SHA-256): importing the same file
again under the same label replaces its rejected rows instead of adding a file per attempt. The rows are
PII (names, phones, addresses as exported), so the file is sealed with the PII key like the warehouse's
ciphertext (siyu.core.pii.write_sealed) and read only through `rejected_csv`: in clear for those who may see
PII, masked for others. Files older than `REJECTED_ROWS_RETENTION_DAYS` are deleted by `purge_expired`
(run by `siyu serve`'s worker every day and after each import).

The sealed file holds a JSON header chunk (file name, label, columns and what each column was read as),
then the rows, CHUNK_ROWS at a time, as JSON arrays `[file, row, column, reason, cell…]`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings

from siyu.core import pii
from siyu.core.spreadsheet import formula_safe_writer

CHUNK_ROWS = 10_000
SUFFIX = ".rejected"
FORMAT_VERSION = 1

# How each field's cells are shown to someone without the PII permission; a field not named here (and any
# column the import did not map, whose content nobody declared) is left out of the masked file.
_MASKS = {
    "name": pii.mask_name, "first_name": pii.mask_name, "last_name": pii.mask_name, "nickname": pii.mask_name,
    "phone": pii.mask_phone, "email": pii.mask_email, "address": pii.mask_address, "street": pii.mask_address,
    "record_id": pii.mask_identifier,
}  # fmt: skip
_CLEAR = {
    "order_id", "item_id", "order_time", "paid_time", "created_at", "amount", "item_amount", "product",
    "product_id", "sku", "quantity", "store", "status", "tags", "owner_staff", "gender", "province", "city",
    "district",
}  # fmt: skip


def folder() -> Path:
    return Path(settings.UPLOADS_DIR) / "rejected"


def retention() -> timedelta:
    return timedelta(days=settings.REJECTED_ROWS_RETENTION_DAYS)


def path_for(source: str, file_sha256: str | None, file_name: str) -> Path:
    """Where the rejected rows of this file imported under this label are kept (one per file and label)."""
    identity = f"{source}\0{file_sha256 or file_name}".encode()
    return folder() / f"{hashlib.sha256(identity).hexdigest()[:32]}{SUFFIX}"


def write_rejected(prepared) -> Path | None:
    """Seal the prepared file's rejected rows into its rejected-rows file (replacing an earlier attempt's);
    None, and any earlier file removed, when nothing was rejected."""
    path = path_for(prepared.source, prepared.file_sha256, prepared.path.name)
    if not prepared.rejected:
        path.unlink(missing_ok=True)  # this file imports cleanly now: an earlier attempt's rows are stale
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(prepared.columns)
    header = {
        "version": FORMAT_VERSION,
        "file": prepared.path.name,
        "source": prepared.source,
        "format": prepared.format,
        "file_sha256": prepared.file_sha256,
        "written_at": datetime.now(UTC).isoformat(),
        "rows": len(prepared.rejected),
        "columns": columns,
        "fields": {c: prepared.column_fields.get(c) for c in columns},
    }
    originals = (
        {r["__row__"]: r for r in prepared.rejected_frame.iter_rows(named=True)}
        if prepared.rejected_frame is not None
        else {}
    )

    def chunks() -> Iterator[bytes]:
        yield json.dumps(header, ensure_ascii=False).encode()
        rejections = prepared.rejected
        for start in range(0, len(rejections), CHUNK_ROWS):
            rows = []
            for rejection in rejections[start : start + CHUNK_ROWS]:
                original = originals.get(rejection.row, {})
                rows.append([
                    prepared.path.name, rejection.row, rejection.column, rejection.reason,
                    *(original.get(c) for c in columns),
                ])  # fmt: skip
            yield json.dumps(rows, ensure_ascii=False, default=str).encode()

    pii.write_sealed(path, chunks())
    return path


def read_header(path: Path) -> dict:
    return json.loads(next(pii.read_sealed(path)))


def rejected_csv(path: Path, *, masked: bool) -> Iterator[str]:
    """The file's rejected rows as CSV text (UTF-8 with a BOM for Excel), decrypted a chunk at a time:
    `file, row, column, reason` and the original columns; `masked`: PII fields masked and unmapped columns
    left out. A file written by a version before sealing (clear CSV) is read as it is, masked likewise
    by column name only (no field is known for it, so only file/row/column/reason remain)."""
    if not pii.is_sealed(path):
        yield from _legacy_csv(path, masked=masked)
        return
    chunks = pii.read_sealed(path)
    header = json.loads(next(chunks))
    columns, fields = header["columns"], header["fields"]
    shown = [i for i, c in enumerate(columns) if not masked or _shown_masked(fields.get(c))]
    masks = [_mask_of(fields.get(columns[i])) if masked else None for i in shown]
    buffer = io.StringIO()
    writer = formula_safe_writer(buffer)
    writer.writerow(["file", "row", "column", "reason", *(columns[i] for i in shown)])
    yield "\ufeff" + _drain(buffer)
    for chunk in chunks:
        for row in json.loads(chunk):
            cells = row[4:] + [None] * (len(columns) - len(row) + 4)  # a ragged legacy line
            values = [cells[i] if mask is None else mask(cells[i]) for i, mask in zip(shown, masks, strict=True)]
            writer.writerow([*row[:4], *values])
        yield _drain(buffer)


def _shown_masked(field: str | None) -> bool:
    return field is not None and (field in _CLEAR or field in _MASKS or field.startswith("id:"))


def _mask_of(field: str | None):
    if field in _CLEAR:
        return None
    return _MASKS.get(field, pii.mask_identifier)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _legacy_csv(path: Path, *, masked: bool) -> Iterator[str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        buffer = io.StringIO()
        writer = formula_safe_writer(buffer)
        for row in reader:
            writer.writerow(row if not masked else row[:4])
        yield "\ufeff" + _drain(buffer)


def seal_legacy(path: Path) -> None:
    """A clear CSV written before rejected rows were sealed: sealed in place (same name, same age)."""
    stat = path.stat()
    with path.open("rb") as handle:
        blocks = iter(lambda: handle.read(1 << 20), b"")
        pii.write_sealed(path, _legacy_chunks(path, blocks))
    os.utime(path, (stat.st_atime, stat.st_mtime))  # the retention counts from when it was written


def _legacy_chunks(path: Path, blocks) -> Iterator[bytes]:
    """A legacy CSV (`file, row, column, reason, cell…`) as a sealed rejected-rows file; no field is known
    for its columns, so its masked reading keeps only file, row, column and reason."""
    text = b"".join(blocks).decode("utf-8-sig")  # these files are small: read whole, once
    rows = list(csv.reader(io.StringIO(text)))
    head, body = (rows[0], rows[1:]) if rows else (["file", "row", "column", "reason"], [])
    yield json.dumps({
        "version": FORMAT_VERSION, "file": None, "source": None, "format": None, "file_sha256": None,
        "written_at": datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(), "rows": len(body),
        "columns": head[4:], "fields": {}, "legacy": True,
    }, ensure_ascii=False).encode()  # fmt: skip
    for start in range(0, len(body), CHUNK_ROWS):
        yield json.dumps([r for r in body[start : start + CHUNK_ROWS] if len(r) >= 4], ensure_ascii=False).encode()


def _sealed_files() -> Iterator[Path]:
    """The rejected-rows files (sealed, or clear CSVs of an older version), in name order."""
    if folder().is_dir():
        for path in sorted(folder().iterdir()):
            if path.is_file() and not path.name.startswith(".") and path.suffix in (SUFFIX, ".csv"):
                yield path


def purge_expired(now: float | None = None) -> dict:
    """Delete rejected-rows files older than the retention period; seal clear CSVs a version before this one
    left that are still within it. Returns what was done."""
    now = time.time() if now is None else now
    cut = now - retention().total_seconds()
    deleted, sealed = [], []
    for path in list(_sealed_files()):
        if path.stat().st_mtime < cut:
            path.unlink(missing_ok=True)
            deleted.append(path.name)
        elif path.suffix == ".csv" and not pii.is_sealed(path):
            seal_legacy(path)
            sealed.append(path.name)
    return {"deleted": len(deleted), "sealed": len(sealed), "files": deleted + sealed}


def expired(now: float | None = None) -> bool:
    """Whether purge_expired has anything to do (a cheap look at the folder)."""
    now = time.time() if now is None else now
    cut = now - retention().total_seconds()
    for path in _sealed_files():
        if path.stat().st_mtime < cut or (path.suffix == ".csv" and not pii.is_sealed(path)):
            return True
    return False


# --- key rotation (siyu.core.rotation) -----------------------------------------------------------


def sealed_count_by_key() -> dict[int, int]:
    counts: dict[int, int] = {}
    for path in _sealed_files():
        key_id = pii.sealed_key_id(path)
        if key_id is not None:
            counts[key_id] = counts.get(key_id, 0) + 1
    return counts


def reseal_batch(newest: int, limit: int) -> tuple[int, int]:
    """Seal again under key `newest` up to `limit` rejected-rows files sealed with an older key."""
    done = size = 0
    for path in _sealed_files():
        if done >= limit:
            break
        key_id = pii.sealed_key_id(path)
        if key_id is None or key_id == newest:
            continue
        try:
            pii.reseal(path)
        except FileNotFoundError:  # purged meanwhile
            continue
        done, size = done + 1, size + path.stat().st_size
    return done, size


def purge_before(cut_off: datetime, dry_run: bool = False) -> int:
    """Retention (siyu.core.retention): delete (or count) rejected-rows files last written before the cut-off."""
    removed = 0
    for path in list(_sealed_files()):
        try:
            if path.stat().st_mtime < cut_off.timestamp():
                if not dry_run:
                    path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed

def _rows(path: Path) -> tuple[dict | None, list[list]]:
    """A file's header (None: a legacy clear CSV) and rows (`[file, row, column, reason, cell…]`)."""
    if not pii.is_sealed(path):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return None, list(csv.reader(handle))[1:]
    chunks = pii.read_sealed(path)
    header = json.loads(next(chunks))
    return header, [row for chunk in chunks for row in json.loads(chunk)]


def rows_matching(matches) -> int:
    """How many rejected rows, over every file, `matches(cells)` picks (the erasure scan)."""
    return sum(sum(1 for row in _rows(path)[1] if matches(row[4:])) for path in _sealed_files())


def erase_rows(matches) -> dict:
    """Rewrite every rejected-rows file without the rows whose cells `matches(cells)` picks (PIPL erasure;
    siyu.privacy.erasure): sealed again with a fresh nonce per chunk, or deleted when no row is left. A file
    keeps its age (the retention counts from when it was written). Returns {"files", "rows"} changed."""
    files = rows = 0
    for path in list(_sealed_files()):
        header, body = _rows(path)
        kept = [row for row in body if not matches(row[4:])]
        if len(kept) == len(body):
            continue
        files, rows = files + 1, rows + len(body) - len(kept)
        if not kept:
            path.unlink(missing_ok=True)
            continue
        stat = path.stat()
        if header is None:  # a legacy clear CSV: sealed now, with only the rows kept
            header = {"version": FORMAT_VERSION, "file": None, "source": None, "format": None, "file_sha256": None,
                      "written_at": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(), "columns": [],
                      "fields": {}, "legacy": True}  # fmt: skip
        header = {**header, "rows": len(kept)}

        def chunks(header=header, kept=kept) -> Iterator[bytes]:
            yield json.dumps(header, ensure_ascii=False).encode()
            for start in range(0, len(kept), CHUNK_ROWS):
                yield json.dumps(kept[start : start + CHUNK_ROWS], ensure_ascii=False, default=str).encode()

        pii.write_sealed(path, chunks())
        os.utime(path, (stat.st_atime, stat.st_mtime))
    return {"files": files, "rows": rows}
