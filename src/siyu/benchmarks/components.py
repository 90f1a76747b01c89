"""`siyu bench components --engine duckdb|spark --records N`: the connected components of an identifier
graph computed in the engine (siyu.warehouse.components), against the driver's numpy/scipy
record_components (siyu.identity.graph) on the same edges, each step in a child process of its own so that
its peak memory is its own, and their partitions compared.

The graph is shaped as resolution's: N records of N/2 people, each person with three identifier values, each
record carrying one of its person's values and, seven times in ten, a second (about 1.7 identifier rows
per record, as the demo brand has), so that a person's records are linked only where their values meet.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from siyu.benchmarks.common import child_main, machine, peak_rss_mb, run_child

SPARK_MASTER = "local[2]"
SPARK_DRIVER_MEMORY = os.environ.get("SIYU_BENCH_SPARK_MEMORY", "4g")


def graph(records: int, seed: int = 7) -> pa.Table:
    """(rid, value) edges of `records` records (module docstring)."""
    rng = np.random.default_rng(seed)
    people = max(1, records // 2)
    person = rng.integers(0, people, records)
    first = person * 3 + rng.integers(0, 3, records)
    second_rows = np.flatnonzero(rng.random(records) < 0.7)
    second = person[second_rows] * 3 + rng.integers(0, 3, len(second_rows))
    rid = np.concatenate([np.arange(records, dtype=np.int64), second_rows.astype(np.int64)])
    value = np.concatenate([first, second]).astype(np.int64)
    return pa.table({"rid": rid, "value": value})


def edges_file(records: int) -> Path:
    """The benchmark's edges as Parquet, generated once per size and kept in SIYU_HOME/bench."""
    from django.conf import settings

    out = Path(settings.SIYU_HOME) / "bench" / f"components-{records}.parquet"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(graph(records), out)
    return out


def run(people: int, engine: str = "duckdb", records: int | None = None) -> dict:
    records = records or people
    edges = edges_file(records)
    with tempfile.TemporaryDirectory(prefix="siyu-bench-components-") as tmp:
        engine_out, driver_out = Path(tmp) / "engine.parquet", Path(tmp) / "driver.parquet"
        base = {"DJANGO_SETTINGS_MODULE": "siyu.project.settings"}
        if engine == "spark":
            env = {
                **base,
                "SIYU_WAREHOUSE": SPARK_MASTER,
                "SIYU_WAREHOUSE_LOCATION": str(Path(tmp) / "spark"),
                "SIYU_SPARK_DRIVER_MEMORY": SPARK_DRIVER_MEMORY,
            }
        else:
            env = {**base, "SIYU_WAREHOUSE": str(Path(tmp) / "wh.duckdb")}
        in_engine = run_child(
            "siyu.benchmarks.components", {"step": "engine", "edges": str(edges), "out": str(engine_out)}, env
        )
        driver = run_child(
            "siyu.benchmarks.components",
            {"step": "driver", "edges": str(edges), "out": str(driver_out), "records": records},
            base,
        )
        same = _same_partition(engine_out, driver_out, records)
    return {
        "job": "components",
        "engine": engine,
        "records": records,
        "edges": pq.read_metadata(edges).num_rows,
        "machine": machine(),
        "load_average": os.getloadavg(),
        "engine_seconds": in_engine["seconds"],
        "engine_rounds": in_engine["rounds"],
        "engine_peak_rss_mb": in_engine["peak_rss_mb"],
        **(
            {
                "spark_jvm_peak_rss_mb": in_engine["jvm_peak_rss_mb"],
                "spark_driver_memory": SPARK_DRIVER_MEMORY,
            }
            if engine == "spark"
            else {}
        ),  # fmt: skip
        "engine_setup_seconds": in_engine["setup_seconds"],
        "driver_seconds": driver["seconds"],
        "driver_peak_rss_mb": driver["peak_rss_mb"],
        "components": driver["components"],
        "same_partition": same,
    }


def _same_partition(engine_out: Path, driver_out: Path, records: int) -> bool:
    """Whether the engine's labels (records of an edge) and the driver's (every record) partition the
    records alike: each engine label maps to one driver label and back."""
    eng = pq.read_table(engine_out)
    drv = pq.read_table(driver_out).column("component").to_numpy()
    labels = np.arange(records, dtype=np.int64)  # a record with no edge stands alone in both
    labels[eng.column("record").to_numpy()] = eng.column("component").to_numpy()
    pairs = np.unique(np.stack([labels, drv]), axis=1)
    return len(np.unique(pairs[0])) == pairs.shape[1] == len(np.unique(pairs[1]))


def _measure(step: str, edges: str, out: str, records: int | None = None) -> dict:
    if step == "driver":
        from siyu.identity.graph import record_components

        started = time.monotonic()
        table = pq.read_table(edges)
        labels = record_components(records, table.column("rid").to_numpy(), table.column("value").to_numpy())
        seconds = time.monotonic() - started
        pq.write_table(pa.table({"component": labels}), out)
        return {"seconds": round(seconds, 2), "components": int(len(np.unique(labels))),
                "peak_rss_mb": peak_rss_mb()}  # fmt: skip

    from siyu.warehouse import backend, engine
    from siyu.warehouse.components import value_components

    started = time.monotonic()
    con = backend()
    if engine() == "duckdb":
        con.raw_sql("SET threads = 2")
    # a first run on a small graph, so that the measured one finds the engine warm (Spark's JIT and first
    # planning took ~45 s of a 65 s run at 100,000 records)
    warm = Path(out).with_name("warm.parquet")
    pq.write_table(graph(10_000), warm)
    value_components(con.read_parquet(warm), record="rid", value="value")
    table = con.read_parquet(edges)
    setup = time.monotonic() - started
    stats: dict = {}
    started = time.monotonic()
    result = value_components(table, record="rid", value="value", stats=stats)
    seconds = time.monotonic() - started
    out_dict = {"seconds": round(seconds, 2), "rounds": stats["rounds"], "setup_seconds": round(setup, 2)}
    if engine() == "spark":
        session = con._session
        session.table(result.get_name()).write.parquet(out)
        out_dict["jvm_peak_rss_mb"] = _jvm_peak_rss_mb()
        from siyu.warehouse import spark

        spark.stop()
    else:
        pq.write_table(result.to_pyarrow(), out)
    return out_dict


def _jvm_peak_rss_mb() -> float | None:
    """The peak resident memory of the Spark JVM this process started (local mode)."""
    import psutil

    for child in psutil.Process().children(recursive=True):
        if "java" in child.name():
            with open(f"/proc/{child.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return round(int(line.split()[1]) / 1024, 1)
    return None


if __name__ == "__main__":
    child_main(_measure)
