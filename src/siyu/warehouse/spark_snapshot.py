"""The Spark warehouse's backup: the files of one commit of the table location (siyu.warehouse.spark_store),
row counts and checksums per table computed by Spark, and putting a copy back.

A commit names one version of every table, and a version names immutable segments: copying the newest
commit's file, its versions' manifests and their segments copies the warehouse as of that commit, whatever
is written after (a later commit only adds files; the files copied are never changed). The backup job also
holds the writers' turn — on Spark a lock file of the location every writing process on the host takes — so
the commit copied is the one the control plane's snapshot agrees with (siyu.pipeline.backup).

The copy is a folder laid out like a location holding that one commit (as number 1). Putting it back copies
its segments and manifests into this installation's location and switches them in with one new commit, so a
reader sees the old warehouse or the restored one, never a mixture.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from siyu.warehouse import spark_store


def copy_location(target: Path) -> dict[str, str]:
    """Copy the newest commit of the warehouse into the folder `target` (which must not exist); returns the
    commit's {table: version}."""
    number, tables = spark_store.latest_commit()
    source = spark_store.root()
    target.mkdir(parents=True)
    for table, version in sorted(tables.items()):
        folder = target / table / spark_store.VERSIONS
        folder.mkdir(parents=True)
        shutil.copy2(source / table / spark_store.VERSIONS / f"{version}.json", folder / f"{version}.json")
        for segment in spark_store.read_version(table, version):
            shutil.copytree(source / table / segment, target / table / segment)
    log = target / spark_store.LOG
    log.mkdir()
    (log / f"{1:020d}.json").write_text(
        json.dumps({"tables": tables, "from_commit": number}), encoding="utf-8"
    )
    return tables


def _copied_tables(copy: Path) -> dict[str, str]:
    with open(copy / spark_store.LOG / f"{1:020d}.json", encoding="utf-8") as handle:
        return json.load(handle)["tables"]


def put_back(copy: Path) -> None:
    """Make the copied commit in the folder `copy` this installation's warehouse: its files copied into the
    location (next to what is there), then one commit switches every table to its copied version. What the
    location held before is left unreferenced, for vacuum."""
    tables = _copied_tables(copy)
    location = spark_store.root()
    location.mkdir(parents=True, exist_ok=True)
    for table, version in tables.items():
        versions = location / table / spark_store.VERSIONS
        versions.mkdir(parents=True, exist_ok=True)
        manifest = copy / table / spark_store.VERSIONS / f"{version}.json"
        for segment in json.loads(manifest.read_text(encoding="utf-8"))["segments"]:
            if not (location / table / segment).exists():
                shutil.copytree(copy / table / segment, location / table / segment)
        tmp = versions / f".{version}.restoring"
        shutil.copyfile(manifest, tmp)
        os.replace(tmp, versions / f"{version}.json")
    while True:
        number, current = spark_store.latest_commit()
        if spark_store._write_commit(number + 1, {**current, **tables}):  # the store's atomic create
            break


def table_checksums() -> dict[str, dict]:
    """Row count and an order-independent checksum (sum of each row's 64-bit xxhash) of every table of the
    warehouse's newest commit, computed by Spark."""
    from pyspark.sql import functions as F

    from siyu.warehouse import spark
    from siyu.warehouse.connection import backend

    backend()  # the session's views show the newest commit
    session = spark.session()
    _, tables = spark_store.latest_commit()
    out = {}
    for name in sorted(tables):
        frame = session.table(name)
        row = frame.agg(
            F.count(F.lit(1)).alias("n"),
            F.coalesce(
                F.sum(F.xxhash64(*[F.col(c) for c in frame.columns]).cast("decimal(38,0)")), F.lit(0)
            ).alias("s"),
        ).collect()[0]
        out[name] = {"rows": int(row["n"]), "checksum": f"{int(row['s']):x}"}
    return out
