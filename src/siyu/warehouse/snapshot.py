"""The DuckDB warehouse's backup: a consistent copy made by the process that owns the file, row counts and
checksums per table, and putting a copy back.

`COPY FROM DATABASE` runs in one DuckDB transaction, so the copy is the state of one instant even if a
thread of the server appends meanwhile (MVCC); the backup job also holds the writers' turn so that no resolve
or import is half-way (siyu.pipeline.backup). Spark warehouses are backed up by their object store's own means
(docs/deployment.md).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings

from siyu.core.errors import SiyuError
from siyu.warehouse.connection import close, engine, raw_connection


def _duckdb_only() -> None:
    if engine() != "duckdb":
        raise SiyuError(
            "siyu backup copies a DuckDB warehouse; a Spark warehouse is backed up with its storage's own "
            "snapshots (docs/deployment.md)"
        )


def copy_warehouse(target: Path) -> None:
    """Write a consistent copy of the warehouse to the DuckDB file `target` (which must not exist)."""
    _duckdb_only()
    con = raw_connection()
    name = con.execute("SELECT current_database()").fetchone()[0]
    quoted = str(target).replace("'", "''")
    con.execute(f"ATTACH '{quoted}' AS siyu_snapshot")
    try:
        con.execute(f'COPY FROM DATABASE "{name}" TO siyu_snapshot')
    finally:
        con.execute("DETACH siyu_snapshot")


def table_checksums(con=None) -> dict[str, dict]:
    """Row count and an order-independent checksum (sum of row hashes) of every table of the warehouse,
    or of the DuckDB connection `con`."""
    con = con or raw_connection()
    names = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = 'main' ORDER BY table_name"
        ).fetchall()
    ]
    out = {}
    for name in names:
        rows, total = con.execute(
            f'SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0) FROM "{name}" t'
        ).fetchone()
        out[name] = {"rows": int(rows), "checksum": f"{int(total):x}"}
    return out


def file_checksums(path: Path) -> dict[str, dict]:
    """table_checksums of a warehouse file this process does not have open."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        return table_checksums(con)
    finally:
        con.close()


def put_back(copy: Path) -> None:
    """Make the DuckDB file `copy` this installation's warehouse (the process must own it: nothing else has
    it open). The next open brings its schema up to date (siyu.warehouse.upgrades)."""
    _duckdb_only()
    close()
    target = Path(settings.WAREHOUSE_PATH)
    Path(f"{target}.wal").unlink(missing_ok=True)
    partial = target.with_name(target.name + ".restoring")
    shutil.copyfile(copy, partial)
    partial.replace(target)
