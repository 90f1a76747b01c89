"""The warehouse's backup: a consistent copy, row counts and checksums per table, and putting a copy back —
on DuckDB here, on Spark in siyu.warehouse.spark_snapshot (each function below runs on the engine in use).

DuckDB: the copy is made by the process that owns the file. `COPY FROM DATABASE` runs in one DuckDB
transaction, so the copy is the state of one instant even if a thread of the server appends meanwhile
(MVCC). Spark: the copy is the files of the table location's newest commit. Either way the backup job also
holds the writers' turn (on Spark, the location's lock file every writing process takes) so that no resolve
or import is half-way and no commit lands between the warehouse's copy and the control plane's
(siyu.pipeline.backup).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings

from siyu.core.errors import SiyuError
from siyu.warehouse.connection import close, engine, raw_connection

# what a backup's copy of the warehouse is called in its archive, per engine (a file, or a folder)
COPY_NAMES = {"duckdb": "warehouse.duckdb", "spark": "warehouse-spark"}


def copy_name() -> str:
    return COPY_NAMES[engine()]


def check_same_engine(copy_engine: str) -> None:
    if copy_engine != engine():
        raise SiyuError(
            f"this backup holds a {copy_engine} warehouse and this installation's runs on {engine()} "
            "(SIYU_WAREHOUSE): restore it where the warehouse runs on the same engine"
        )


def copy_warehouse(target: Path) -> None:
    """Write a consistent copy of the warehouse to `target` (which must not exist): the DuckDB file, or on
    Spark a folder holding the newest commit's files."""
    if engine() == "spark":
        from siyu.warehouse import spark_snapshot

        spark_snapshot.copy_location(target)
        return
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
    or of the DuckDB connection `con`. On Spark, of the newest commit (checksums: sums of Spark's xxhash64,
    comparable only with another Spark warehouse's)."""
    if con is None and engine() == "spark":
        from siyu.warehouse import spark_snapshot

        return spark_snapshot.table_checksums()
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


def put_back(copy: Path, copy_engine: str = "duckdb") -> None:
    """Make the copy `copy` (made on `copy_engine`) this installation's warehouse (the process must own it:
    nothing else has it open). The next open brings its schema up to date (siyu.warehouse.upgrades)."""
    check_same_engine(copy_engine)
    if engine() == "spark":
        from siyu.warehouse import spark_snapshot

        spark_snapshot.put_back(copy)
        close()  # the next backend() registers the restored tables
        return
    close()
    target = Path(settings.WAREHOUSE_PATH)
    Path(f"{target}.wal").unlink(missing_ok=True)
    partial = target.with_name(target.name + ".restoring")
    shutil.copyfile(copy, partial)
    partial.replace(target)
