"""The warehouse's tables on Spark: versioned Parquet under settings.WAREHOUSE_LOCATION, switched atomically.

Parquet files cannot be updated or deleted row by row, and a reader must never see half of a write. So a
table is a list of immutable *segments* (directories of Parquet files), and a *version* of the table is a
small manifest naming its segments:

    <location>/_log/00000000000000000042.json   commit 42: {"tables": {table: version id, …}} (every table)
    <location>/<table>/_versions/<version>.json  {"segments": ["seg-…", …]}
    <location>/<table>/seg-<id>/part-….parquet   rows

An append adds a segment to the table's last version (nothing is rewritten); a delete or an update writes the
surviving rows into one new segment. Either way the new version is *staged* (manifest written, nothing
points at it) until its transaction commits: every table version the transaction staged is switched in by
one commit file, created with an atomic link (no two writers can create the same commit number, and the
file is complete when it appears). Readers resolve tables through the latest commit, so they see every
table of a transaction as before it or as after it. A killed transaction leaves only unreferenced manifests
and segments, removed by `vacuum` once they are older than RETAIN_SECONDS (running transactions and readers
still reading an old version keep theirs until then).

Each table is registered in the Spark session's in-memory catalog as a temporary view over its current
version's segments (read with the schema declared in siyu.warehouse.schema, so columns added since a
segment was written read as NULL). Every process registers them from the log when it starts and again
when the log has moved (`sync`): another worker's commit is seen by the next query. A transaction works on
a child session (SparkSession.newSession: same SparkContext, own views) whose views show the transaction's
staged versions, so other threads keep reading the committed tables meanwhile.

Writers: a commit checks that no table it writes was committed by someone else since the transaction
began; if one was, it fails with WarehouseBusy and nothing of it is visible (optimistic concurrency, as
Delta Lake does). Writers in one process take turns (siyu.warehouse.connection.acquire_writes); writers in
several processes on one host take turns through a lock file; across hosts the commit check is the guard.

The location is a POSIX directory (a local disk, or a shared mount such as NFS that every Spark executor
and Siyu process sees at the same path). Object stores (s3a://, abfss://) have no atomic create-if-absent
through this code and are not supported by the write side yet.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings

from siyu.core.errors import DataPlaneBusy, SiyuError

LOG = "_log"
VERSIONS = "_versions"
# Versions and segments no longer current are deleted once this old (a reader of the last version has
# this long to finish; a transaction that runs longer than this in another process could lose its staged
# segments, so it is generous).
RETAIN_SECONDS = 3600.0
KEEP_LOG = 20  # commit files kept beyond the retention window (the newest holds every table's version)


class StoreConflict(DataPlaneBusy):
    """Another writer committed a table this transaction writes after the transaction began."""


class UnsupportedLocation(SiyuError):
    pass


def root() -> Path:
    location = str(settings.WAREHOUSE_LOCATION)
    if location.startswith("file://"):
        location = location[len("file://") :]
    elif "://" in location:
        raise UnsupportedLocation(
            f"SIYU_WAREHOUSE_LOCATION={location}: the Spark warehouse's writes need a directory (a local disk or a "
            "shared mount every executor sees); object stores are not supported yet"
        )
    return Path(location).resolve()


def _uri(path: Path) -> str:
    return "file://" + str(path)


def _new_id(prefix: str) -> str:
    return f"{prefix}{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------- the commit log


def _log_dir() -> Path:
    return root() / LOG


def latest_commit() -> tuple[int, dict[str, str]]:
    """(number, {table: version}) of the newest commit; (0, {}) for a new location."""
    log = _log_dir()
    try:
        names = [n for n in os.listdir(log) if n.endswith(".json") and not n.startswith(".")]
    except FileNotFoundError:
        return 0, {}
    if not names:
        return 0, {}
    newest = max(names)
    with open(log / newest, encoding="utf-8") as handle:
        return int(newest[:-5]), json.load(handle)["tables"]


def _write_commit(number: int, tables: dict[str, str]) -> bool:
    """Create commit `number` atomically; False when another writer created it first."""
    log = _log_dir()
    log.mkdir(parents=True, exist_ok=True)
    tmp = log / f".{uuid.uuid4().hex}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump({"tables": tables, "at": datetime.now(UTC).isoformat()}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(tmp, log / f"{number:020d}.json")  # fails if it exists: one writer per number
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink()


# ---------------------------------------------------------------- versions and segments


def _table_dir(table: str) -> Path:
    return root() / table


def read_version(table: str, version: str) -> list[str]:
    with open(_table_dir(table) / VERSIONS / f"{version}.json", encoding="utf-8") as handle:
        return json.load(handle)["segments"]


def write_version(table: str, segments: list[str]) -> str:
    """A new (staged) version of `table` made of `segments`; returns its id."""
    version = _new_id("v")
    folder = _table_dir(table) / VERSIONS
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{version}.tmp"
    tmp.write_text(json.dumps({"table": table, "segments": segments}), encoding="utf-8")
    os.replace(tmp, folder / f"{version}.json")
    return version


def segment_path(table: str, segment: str) -> Path:
    return _table_dir(table) / segment


def new_segment(table: str) -> tuple[str, Path]:
    name = _new_id("seg-")
    return name, _table_dir(table) / name


def arrow_schema(table: str) -> pa.Schema:
    from siyu.warehouse.schema import TABLES

    return TABLES[table].to_pyarrow()


def spark_schema(table: str):
    from ibis.backends.pyspark.datatypes import PySparkSchema

    from siyu.warehouse.schema import TABLES

    return PySparkSchema.from_ibis(TABLES[table])


def conform(table: str, rows: pa.Table) -> pa.Table:
    """`rows` with the table's columns in order and types (columns it lacks are NULL, as DuckDB's INSERT BY
    NAME fills them; a column the table does not have is an error)."""
    schema = arrow_schema(table)
    extra = set(rows.column_names) - set(schema.names)
    if extra:
        raise SiyuError(f"{table} has no column(s) {sorted(extra)}")
    columns = [
        rows.column(f.name).cast(f.type) if f.name in rows.column_names else pa.nulls(rows.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def write_arrow_segment(table: str, rows: pa.Table) -> str:
    """Write Arrow rows as a new segment (from this process, with pyarrow); returns the segment's name."""
    name, folder = new_segment(table)
    folder.mkdir(parents=True)
    pq.write_table(conform(table, rows), folder / "part-0.parquet", compression="zstd")
    return name


def write_frame_segment(table: str, frame) -> str:
    """Write a Spark DataFrame as a new segment (by Spark's executors), conformed like `conform`: columns it
    lacks are NULL, a column the table does not have is an error."""
    from pyspark.sql import functions as F

    columns = _spark_columns(table)
    extra = set(frame.columns) - {c for c, _ in columns}
    if extra:
        raise SiyuError(f"{table} has no column(s) {sorted(extra)}")
    name, folder = new_segment(table)
    ordered = frame.select(*[(frame[c] if c in frame.columns else F.lit(None)).cast(t).alias(c) for c, t in columns])
    ordered.write.option("compression", "zstd").parquet(_uri(folder))
    return name


def _spark_columns(table: str):
    schema = spark_schema(table)
    return [(f.name, f.dataType) for f in schema.fields]


def frame_of(session, table: str, segments: list[str]):
    """A Spark DataFrame over `segments` of `table`, with the declared schema."""
    schema = spark_schema(table)
    paths = [_uri(_table_dir(table) / s) for s in segments] or [_uri(_empty_file(table))]
    return session.read.schema(schema).parquet(*paths)


def _empty_file(table: str) -> Path:
    """A Parquet file of no rows with the table's columns (an empty version reads it: a view over a file is
    several times cheaper to make than one over an empty in-memory frame)."""
    path = _table_dir(table) / "_empty" / "part-0.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{uuid.uuid4().hex}.tmp"
        pq.write_table(arrow_schema(table).empty_table(), tmp)
        os.replace(tmp, path)
    return path


# ---------------------------------------------------------------- the session's views


_views_lock = threading.Lock()
_registered: dict[int, tuple[int, dict[str, str]]] = {}  # id(session) -> (commit, {table: version})


def register(session, tables: dict[str, str], *, only: set[str] | None = None) -> None:
    """(Re)point the session's temporary view of each table at the given version."""
    for table, version in tables.items():
        if only is not None and table not in only:
            continue
        frame_of(session, table, read_version(table, version)).createOrReplaceTempView(table)


def sync(session) -> int:
    """Point this session's views at the newest commit when another writer (or this process) moved it;
    returns the commit number now shown."""
    number, tables = latest_commit()
    with _views_lock:
        seen_number, seen = _registered.get(id(session), (-1, {}))
        if seen_number == number:
            return number
        changed = {t for t, v in tables.items() if seen.get(t) != v}
        register(session, tables, only=changed)
        _registered[id(session)] = (number, tables)
    return number


def forget(session) -> None:
    with _views_lock:
        _registered.pop(id(session), None)


# ---------------------------------------------------------------- transactions


_open_lock = threading.Lock()
_staged_segments: dict[int, set[tuple[str, str]]] = {}  # transaction id -> (table, segment) it wrote


@dataclass
class Transaction:
    """One transaction's view of the warehouse: the commit it started from and the versions it staged."""

    parent: object  # the process's SparkSession
    base_number: int
    base: dict[str, str]
    staged: dict[str, str] = field(default_factory=dict)  # table -> staged version
    segments: dict[str, list[str]] = field(default_factory=dict)  # table -> segments as of this transaction
    session: object = None  # child session whose views show the staged versions
    done: bool = False

    @classmethod
    def begin(cls, parent) -> Transaction:
        number, tables = latest_commit()
        tx = cls(parent=parent, base_number=number, base=dict(tables))
        tx.session = parent.newSession()
        tx.session.conf.set("spark.sql.session.timeZone", "UTC")
        register(tx.session, tx.base)
        with _open_lock:
            _staged_segments[id(tx)] = set()
        return tx

    # reading

    def table_segments(self, table: str) -> list[str]:
        if table not in self.segments:
            version = self.staged.get(table) or self.base.get(table)
            if version is None:
                raise SiyuError(f"the warehouse has no table {table}")
            self.segments[table] = read_version(table, version)
        return self.segments[table]

    def frame(self, table: str):
        """The table as this transaction sees it (its own staged writes included)."""
        return frame_of(self.session, table, self.table_segments(table))

    # writing

    def _note(self, table: str, segments: list[str]) -> None:
        with _open_lock:
            _staged_segments[id(self)].update((table, s) for s in segments)

    def set_segments(self, table: str, segments: list[str]) -> None:
        """Stage a new version of `table` made of `segments`, visible to this transaction at once."""
        self._check_open()
        self._note(table, segments)
        self.staged[table] = write_version(table, segments)
        self.segments[table] = list(segments)
        frame_of(self.session, table, segments).createOrReplaceTempView(table)

    def add_segment(self, table: str, segment: str) -> None:
        self.set_segments(table, [*self.table_segments(table), segment])

    def append_arrow(self, table: str, rows: pa.Table) -> None:
        if rows.num_rows:
            self.add_segment(table, write_arrow_segment(table, rows))

    def replace_with_frame(self, table: str, frame) -> None:
        """Stage `frame` (a DataFrame of this transaction's session) as the table's only rows."""
        self.set_segments(table, [write_frame_segment(table, frame)])

    def _check_open(self) -> None:
        if self.done:
            raise SiyuError("this warehouse transaction has ended")

    # ending

    def commit(self) -> int | None:
        """Switch every staged version in at once; returns the commit number (None: nothing to commit)."""
        self._check_open()
        try:
            if not self.staged:
                return None
            number, tables = self.base_number, self.base
            while True:
                if number != self.base_number:
                    moved = {t for t in self.staged if tables.get(t) != self.base.get(t)}
                    if moved:
                        raise StoreConflict(
                            f"another writer changed {', '.join(sorted(moved))} while this transaction ran; "
                            "nothing of it was written — try again"
                        )
                if _write_commit(number + 1, {**tables, **self.staged}):
                    number += 1
                    break
                number, tables = latest_commit()
            sync(self.parent)
            vacuum(set(self.staged))
            return number
        finally:
            self._close()

    def rollback(self) -> None:
        """Forget the staged versions (their files go now; a killed process's go with `vacuum`)."""
        if self.done:
            return
        try:
            with _open_lock:
                mine = _staged_segments.get(id(self), set())
                others = set().union(*(v for k, v in _staged_segments.items() if k != id(self)))
            _, current = latest_commit()
            keep = _referenced_segments(set(self.staged), [current, self.base])
            for table, version in self.staged.items():
                (_table_dir(table) / VERSIONS / f"{version}.json").unlink(missing_ok=True)
            for table, segment in mine - others:
                if segment not in keep.get(table, set()):
                    shutil.rmtree(_table_dir(table) / segment, ignore_errors=True)
        finally:
            self._close()

    def _close(self) -> None:
        self.done = True
        with _open_lock:
            _staged_segments.pop(id(self), None)
        self.session = None  # its views go with it


# ---------------------------------------------------------------- clean-up


def _referenced_segments(tables: set[str], states: list[dict[str, str]]) -> dict[str, set[str]]:
    keep: dict[str, set[str]] = {t: set() for t in tables}
    for state in states:
        for table in tables:
            version = state.get(table)
            if version is None:
                continue
            try:
                keep[table].update(read_version(table, version))
            except FileNotFoundError:
                pass
    return keep


def vacuum(tables: set[str] | None = None, *, retain_seconds: float | None = None) -> dict[str, int]:
    """Delete versions and segments of `tables` (all when None) that no commit of the last `retain_seconds`
    (and no transaction open in this process) names, once they are that old; and commit files past the
    window (the newest KEEP_LOG stay). Returns what was deleted."""
    retain = RETAIN_SECONDS if retain_seconds is None else retain_seconds
    horizon = time.time() - retain
    log = _log_dir()
    commits = sorted(n for n in os.listdir(log) if n.endswith(".json") and not n.startswith(".")) if log.exists() else []
    states, old_commits = [], []
    for i, name in enumerate(reversed(commits)):
        path = log / name
        recent = i < 2 or path.stat().st_mtime >= horizon
        if recent:
            with open(path, encoding="utf-8") as handle:
                states.append(json.load(handle)["tables"])
        elif i >= KEEP_LOG:
            old_commits.append(path)
    if tables is None:
        tables = {p.name for p in root().iterdir() if p.is_dir() and not p.name.startswith("_")}
    with _open_lock:
        in_flight = set().union(set(), *_staged_segments.values())
    keep_versions = {(t, s[t]) for s in states for t in tables if t in s}
    keep = _referenced_segments(tables, states)
    deleted = {"versions": 0, "segments": 0, "commits": 0}
    for table in tables:
        folder = _table_dir(table)
        versions = folder / VERSIONS
        if versions.exists():
            for manifest in versions.iterdir():
                version = manifest.name.removesuffix(".json")
                if (table, version) in keep_versions or manifest.name.startswith("."):
                    continue
                if manifest.stat().st_mtime < horizon:
                    manifest.unlink(missing_ok=True)
                    deleted["versions"] += 1
                else:  # a version still in its retention: its segments stay too
                    try:
                        keep[table].update(read_version(table, version))
                    except FileNotFoundError:
                        pass
        for segment in folder.glob("seg-*"):
            if segment.name in keep[table] or (table, segment.name) in in_flight:
                continue
            if segment.stat().st_mtime < horizon:
                shutil.rmtree(segment, ignore_errors=True)
                deleted["segments"] += 1
    for path in old_commits:
        path.unlink(missing_ok=True)
        deleted["commits"] += 1
    return deleted


# ---------------------------------------------------------------- schema


def ensure_tables(session) -> list[str]:
    """Create every declared table the location does not have yet (as an empty version, all in one commit)
    and register the session's views from the newest commit. Returns the tables created."""
    from siyu.warehouse.schema import TABLES

    root().mkdir(parents=True, exist_ok=True)
    session.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    created: list[str] = []
    while True:
        number, tables = latest_commit()
        missing = [t for t in TABLES if t not in tables]
        if not missing:
            break
        fresh = {t: write_version(t, []) for t in missing}
        if _write_commit(number + 1, {**tables, **fresh}):
            created = missing
            if "orders" in missing:  # a new warehouse holds nothing to upgrade (siyu.warehouse.upgrades)
                _record_upgrades_applied(number + 1)
            break
    forget(session)
    sync(session)
    return created


def _record_upgrades_applied(after: int) -> None:
    from siyu.warehouse.upgrades import TABLE, UPGRADES

    number, tables = latest_commit()
    now = datetime.now(UTC)
    rows = pa.table(
        {
            "name": list(UPGRADES),
            "applied_at": pa.array([now] * len(UPGRADES), pa.timestamp("us", tz="UTC")),
            "report": [json.dumps({"skipped": "new warehouse"})] * len(UPGRADES),
        }
    )
    segment = write_arrow_segment(TABLE, rows)
    _write_commit(number + 1, {**tables, TABLE: write_version(TABLE, [segment])})


# ---------------------------------------------------------------- writers' turn among processes

_lock_file = None


def lock_writes(wait: float) -> bool:
    """Take the lock file of the location (writers of every process on this host — or on hosts sharing a
    mount whose locks work across them — take turns); False after `wait` seconds. The caller holds the
    process's own writers' lock, so one thread per process gets here."""
    import fcntl

    global _lock_file
    path = root() / "_writes.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - held until unlock_writes
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            _lock_file = handle
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                handle.close()
                return False
            time.sleep(0.05)


def unlock_writes() -> None:
    import fcntl

    global _lock_file
    if _lock_file is not None:
        handle, _lock_file = _lock_file, None
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()
