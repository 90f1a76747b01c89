"""`siyu bench ingest`: import + normalise every channel file of the demo brand into an empty warehouse;
reference in the same run: the raw readers of the same files (siyu.benchmarks.ingest_reference): DuckDB's
read_csv for the CSV files, fastexcel's sheet load for the XLSX files. With `stages`, a second import of
the same files runs every stage one after the other (siyu.ingest.timing) and reports each."""

from __future__ import annotations

import os
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

from siyu.benchmarks.common import child_main, demo_files, machine, run_child


def _warehouse_env(tmp: str, engine: str) -> dict:
    """The child's SIYU_WAREHOUSE: an empty DuckDB file, or Spark in local mode over an empty location."""
    if engine == "spark":
        return {"SIYU_WAREHOUSE": "local[2]", "SIYU_WAREHOUSE_LOCATION": str(Path(tmp) / "warehouse-spark")}
    return {"SIYU_WAREHOUSE": str(Path(tmp) / "wh.duckdb")}


def run(people: int, stages: bool = False, engine: str = "duckdb") -> dict:
    started = time.perf_counter()
    _, manifest = demo_files(people)
    generated_s = time.perf_counter() - started
    files = [{"path": str(f.path), "format": f.format, "source": f.source, "rows": f.rows} for f in manifest.files]
    with tempfile.TemporaryDirectory(prefix="siyu-bench-") as tmp:
        ours = run_child("siyu.benchmarks.ingest", {"files": files}, env=_warehouse_env(tmp, engine))
    reference = run_child("siyu.benchmarks.ingest_reference", {"files": files})
    rows = sum(f["rows_read"] for f in ours["files"])
    csv_rows = sum(f["rows_read"] for f in ours["files"] if f["file"].endswith(".csv"))
    csv_seconds = sum(f["seconds"] for f in ours["files"] if f["file"].endswith(".csv"))
    xlsx_rows, xlsx_seconds = rows - csv_rows, ours["seconds"] - csv_seconds
    ref_csv, ref_xlsx = reference["csv"], reference["xlsx"]
    ref_seconds = ref_csv["seconds"] + ref_xlsx["seconds"]
    result = {
        "benchmark": "ingest",
        "engine": engine,
        "people": people,
        # Spark: starting the session and registering the tables, before the import's clock starts
        "engine_start_seconds": ours.get("engine_start_seconds"),
        "machine": machine(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "generate_seconds": round(generated_s, 1),
        "rows": rows,
        "seconds": ours["seconds"],
        "cpu_seconds": ours["cpu_seconds"],
        "rows_per_s": round(rows / ours["seconds"]),
        "peak_rss_mb": ours["peak_rss_mb"],
        "csv_rows_per_s": round(csv_rows / csv_seconds) if csv_seconds else None,
        "xlsx_rows_per_s": round(xlsx_rows / xlsx_seconds) if xlsx_rows and xlsx_seconds > 0 else None,
        "reference": {
            "what": "raw readers of the same files: CSV by duckdb read_csv(all_varchar) into a table; XLSX by "
            "fastexcel loading the first sheet into Arrow (DuckDB's excel extension needs a download)",
            "rows_per_s": round((ref_csv["rows"] + ref_xlsx["rows"]) / ref_seconds) if ref_seconds else None,
            "seconds": round(ref_seconds, 2),
            "csv_rows_per_s": round(ref_csv["rows"] / ref_csv["seconds"]) if ref_csv["seconds"] else None,
            "xlsx_rows_per_s": round(ref_xlsx["rows"] / ref_xlsx["seconds"]) if ref_xlsx["seconds"] else None,
            "peak_rss_mb": reference["peak_rss_mb"],
        },
        "per_file": [
            {k: f[k] for k in ("file", "format", "rows_read", "imported", "rejected", "seconds")} for f in ours["files"]
        ],
    }
    if result["csv_rows_per_s"] and result["reference"]["csv_rows_per_s"]:
        result["slower_than_reference_x"] = round(result["reference"]["csv_rows_per_s"] / result["csv_rows_per_s"], 2)
    if result["xlsx_rows_per_s"] and result["reference"]["xlsx_rows_per_s"]:
        result["xlsx_slower_than_reference_x"] = round(
            result["reference"]["xlsx_rows_per_s"] / result["xlsx_rows_per_s"], 2
        )
    if result["reference"]["rows_per_s"]:
        result["all_files_slower_than_reference_x"] = round(result["reference"]["rows_per_s"] / result["rows_per_s"], 2)
    if stages:
        with tempfile.TemporaryDirectory(prefix="siyu-bench-") as tmp:
            staged = run_child(
                "siyu.benchmarks.ingest",
                {"files": files, "stages": True},
                env=_warehouse_env(tmp, engine),
            )
        result["stages"] = {
            "what": "the same import with every stage run one after the other: wall and CPU seconds (all "
            "threads) of each stage summed over the files, and the rows of all files per second of it",
            "seconds": staged["seconds"],
            "cpu_seconds": staged["cpu_seconds"],
            "by_stage": [
                {
                    "stage": name,
                    "seconds": round(t["seconds"], 2),
                    "cpu_seconds": round(t["cpu_seconds"], 2),
                    "rows_per_s": round(rows / t["seconds"]) if t["seconds"] > 0 else None,
                    "rows_per_cpu_s": round(rows / t["cpu_seconds"]) if t["cpu_seconds"] > 0 else None,
                }
                for name, t in sorted(staged["stages"].items(), key=lambda kv: -kv[1]["cpu_seconds"])
            ],
        }
    return result


def _measure(files: list[dict], stages: bool = False) -> dict:
    from siyu.ingest import timing
    from siyu.ingest.actions import import_files
    from siyu.warehouse import backend

    engine_started = time.perf_counter()
    backend()  # open the warehouse (on Spark: start the session, register the tables)
    engine_start_seconds = round(time.perf_counter() - engine_started, 2)
    started, cpu_started = time.perf_counter(), os.times()
    reports = []
    by_source: dict[tuple[str, str], list[str]] = {}
    for f in files:
        by_source.setdefault((f["source"], f["format"]), []).append(f["path"])
    with timing.recording() if stages else nullcontext() as recorded:
        for (source, fmt), paths in by_source.items():
            report = import_files(paths, source, fmt)
            reports += [r.__dict__ | {"rejections": []} for r in report.files]
        recorded = dict(recorded or {})
    cpu = os.times()
    return {
        "seconds": round(time.perf_counter() - started, 2),
        # user+sys of every thread of the import: on a shared machine it says more than wall time
        "cpu_seconds": round(cpu.user - cpu_started.user + cpu.system - cpu_started.system, 1),
        "files": reports,
        "stages": recorded,
        "engine_start_seconds": engine_start_seconds,
    }


if __name__ == "__main__":
    child_main(_measure)
