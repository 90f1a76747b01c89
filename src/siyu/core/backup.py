"""The file mechanics of `siyu backup` / `siyu restore`: the control plane's snapshot, the files under
UPLOADS_DIR, the manifest of counts and checksums, the archive, and the key check.

An archive is a tar file holding
    manifest.json        what is inside, with a row count and checksum per table and a sha256 per file
    control.sqlite3      the SQLite control plane (sqlite3's online backup API: one consistent snapshot
                         while the server writes), or
    control.pgdump       the PostgreSQL control plane (`pg_dump --format=custom` in a REPEATABLE READ
                         snapshot exported by our own transaction, which also reads the manifest's checksums)
    warehouse.duckdb     the warehouse (siyu.warehouse.snapshot), or on Spark
    warehouse-spark/…    the table location's newest commit: its log entry, manifests and Parquet segments
    uploads/…            uploads, sealed rejected-row files, materials

The keys (SIYU_HOME/secrets or the SIYU_*_KEY variables) are never in the archive: an archive that held its
own key would make the encryption of the PII in it worthless. The operator keeps the keys elsewhere
(docs/deployment.md, "Backups"); the manifest holds a ciphertext made with the PII key and a keyed hash
made with the match key, so that a restore refuses to proceed under keys that cannot read the data.

Checksums are independent of row order (the sum of each row's sha256), so a table read back in another order
still compares equal; a control plane is compared only with one of the same engine.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from siyu.core import pii
from siyu.core.errors import SiyuError

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "control.sqlite3"
PGDUMP_FILE = "control.pgdump"
UPLOADS = "uploads"
KEY_CHECK_TEXT = b"siyu backup key check"


class BackupError(SiyuError):
    """A backup or restore that cannot go on (said in words)."""


# --- checksums ----------------------------------------------------------------------------------------------


def _rows_checksum(rows) -> tuple[int, str]:
    count, total = 0, 0
    for row in rows:
        count += 1
        total += int.from_bytes(hashlib.sha256(repr(tuple(_plain(v) for v in row)).encode()).digest()[:16])
    return count, f"{total % 2**128:032x}"


def _plain(value):
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def sqlite_tables(path: Path) -> dict[str, dict]:
    """Row count and checksum of every table of a SQLite file."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [
            r[0]
            for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        out = {}
        for name in names:
            count, checksum = _rows_checksum(con.execute(f'SELECT * FROM "{name}"'))
            out[name] = {"rows": count, "checksum": checksum}
        return out
    finally:
        con.close()


def database_tables() -> dict[str, dict]:
    """Row count and checksum of every table of the control plane Django is connected to."""
    out = {}
    with connection.cursor() as cursor:
        for name in sorted(connection.introspection.table_names(cursor)):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(name)}")
            count, checksum = _rows_checksum(iter(cursor.fetchone, None))
            out[name] = {"rows": count, "checksum": checksum}
    return out


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_files(root: Path) -> dict[str, dict]:
    """Every file under `root` by its relative path: size and sha256."""
    out = {}
    if not root.exists():
        return out
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[path.relative_to(root).as_posix()] = {
                "bytes": path.stat().st_size,
                "sha256": file_sha256(path),
            }
    return out


# --- the control plane -------------------------------------------------------------------------------------


def control_plane_engine() -> str:
    return "postgresql" if connection.vendor == "postgresql" else "sqlite"


def snapshot_control_plane(folder: Path) -> dict:
    """Write the control plane's snapshot into `folder`; returns its manifest part."""
    if control_plane_engine() == "sqlite":
        target = folder / SQLITE_FILE
        source = sqlite3.connect(str(settings.DATABASES["default"]["NAME"]), timeout=60)
        try:
            dest = sqlite3.connect(str(target))
            try:
                source.backup(dest)  # all pages in one step: one read transaction, one consistent state
                dest.execute("PRAGMA journal_mode=DELETE")  # one self-contained file in the archive
            finally:
                dest.close()
        finally:
            source.close()
        return {"engine": "sqlite", "file": SQLITE_FILE, "tables": sqlite_tables(target)}
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError(
            "pg_dump is not on PATH: install the PostgreSQL client tools to back up a PostgreSQL control plane"
        )
    target = folder / PGDUMP_FILE
    # one snapshot for the dump and the manifest: this transaction exports it, pg_dump reads in it, and the
    # counts and checksums are read in it too, so they describe exactly what was dumped
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        argv = [pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}"]
        _run([*argv, "--file", str(target), _pg_url()])
        tables = database_tables()
    return {"engine": "postgresql", "file": PGDUMP_FILE, "tables": tables}


def restore_control_plane(folder: Path, part: dict) -> None:
    """Replace the control plane Django is connected to by the snapshot in `folder`."""
    here = control_plane_engine()
    if part["engine"] != here:
        raise BackupError(
            f"this backup holds a {part['engine']} control plane and this installation uses {here}: "
            "restore it into an installation of the same kind"
        )
    connection.close()
    if here == "sqlite":
        target = Path(settings.DATABASES["default"]["NAME"])
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        source = sqlite3.connect(f"file:{folder / SQLITE_FILE}?mode=ro", uri=True)
        try:
            dest = sqlite3.connect(str(target))
            try:
                source.backup(dest)
            finally:
                dest.close()
        finally:
            source.close()
        return
    pg_restore = shutil.which("pg_restore")
    if pg_restore is None:
        raise BackupError("pg_restore is not on PATH: install the PostgreSQL client tools")
    with connection.cursor() as cursor:  # an empty public schema: nothing of the fresh install is left
        cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    connection.close()
    _run(
        [
            pg_restore,
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--dbname",
            _pg_url(),
            str(folder / PGDUMP_FILE),
        ]
    )


def control_plane_tables() -> dict[str, dict]:
    if control_plane_engine() == "sqlite":
        connection.close()
        return sqlite_tables(Path(settings.DATABASES["default"]["NAME"]))
    return database_tables()


def _pg_url() -> str:
    db = settings.DATABASES["default"]
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    user = f"{db.get('USER')}@" if db.get("USER") else ""
    return f"postgresql://{user}{db.get('HOST') or ''}:{db.get('PORT') or 5432}/{db['NAME']}"


def _run(argv: list[str]) -> None:
    env = dict(os.environ)
    password = settings.DATABASES["default"].get("PASSWORD")
    if password:
        env["PGPASSWORD"] = password
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise BackupError(f"{Path(argv[0]).name} failed: {done.stderr.strip()[-2000:]}")


# --- uploads ----------------------------------------------------------------------------------------------


def snapshot_uploads(folder: Path) -> dict:
    """Copy UPLOADS_DIR into `folder`/uploads; returns the files' manifest part (from the copies)."""
    source = Path(settings.UPLOADS_DIR)
    target = folder / UPLOADS
    if source.exists():
        shutil.copytree(source, target, symlinks=False, ignore_dangling_symlinks=True)
    else:
        target.mkdir()
    return folder_files(target)


def restore_uploads(folder: Path) -> None:
    target = Path(settings.UPLOADS_DIR)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(folder / UPLOADS, target)


# --- keys ---------------------------------------------------------------------------------------------------


def key_check() -> dict:
    """What proves, at restore, that the keys there are the ones this data was written with."""
    return {"pii": pii.encrypt(KEY_CHECK_TEXT).hex(), "match": pii.keyed_hash(KEY_CHECK_TEXT.decode())}


def check_keys(check: dict) -> None:
    try:
        readable = pii.decrypt(bytes.fromhex(check["pii"])) == KEY_CHECK_TEXT
    except Exception:  # noqa: BLE001 - a wrong key fails authentication; any failure means the same
        readable = False
    if not readable:
        raise BackupError(
            "the PII key of this installation cannot read this backup: put the key the backup was made with "
            "into SIYU_HOME/secrets/pii_key (or SIYU_PII_KEY) before restoring (docs/deployment.md, Backups)"
        )
    if pii.keyed_hash(KEY_CHECK_TEXT.decode()) != check["match"]:
        raise BackupError(
            "the match key of this installation is not the one of this backup: put it into "
            "SIYU_HOME/secrets/match_key (or SIYU_MATCH_KEY) before restoring (docs/deployment.md, Backups)"
        )


# --- the archive --------------------------------------------------------------------------------------------


def write_archive(folder: Path, manifest: dict, out: Path) -> None:
    """Tar `folder` (plus its manifest) into `out`, atomically: a half-written archive never has its name."""
    (folder / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True))
    partial = out.with_name(out.name + ".partial")
    with tarfile.open(partial, "w") as tar:
        tar.add(folder / MANIFEST, arcname=MANIFEST)  # first: a reader learns what follows
        for path in sorted(folder.iterdir()):
            if path.name != MANIFEST:
                tar.add(path, arcname=path.name)
    with open(partial, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, out)


def read_archive(archive: Path, folder: Path) -> dict:
    """Unpack `archive` into `folder`; returns its manifest."""
    if not archive.is_file():
        raise BackupError(f"{archive} is not a file")
    try:
        with tarfile.open(archive, "r") as tar:
            tar.extractall(folder, filter="data")  # no absolute paths, no escaping links
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"{archive} is not a readable Siyu backup: {exc}") from exc
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{archive} has no manifest: it is not a Siyu backup") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(
            f"{archive} is a backup of format {manifest.get('format')}; this Siyu reads {FORMAT}"
        )
    return manifest


def differences(expected: dict, found: dict, what: str) -> list[str]:
    """What differs between two {name: {...}} parts of a manifest, in words."""
    out = []
    for name in sorted(set(expected) | set(found)):
        if name not in found:
            out.append(f"{what} {name}: missing")
        elif name not in expected:
            out.append(f"{what} {name}: not in the backup")
        elif expected[name] != found[name]:
            out.append(f"{what} {name}: {expected[name]} in the backup, {found[name]} restored")
    return out
