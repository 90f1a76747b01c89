"""`siyu bench ingest`: import + normalise every channel file of the demo brand into an empty warehouse;
reference in the same run: DuckDB's own read_csv of the same CSV files (all columns as text)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from siyu.benchmarks.common import child_main, demo_files, machine, run_child


def run(people: int) -> dict:
    started = time.perf_counter()
    _, manifest = demo_files(people)
    generated_s = time.perf_counter() - started
    files = [{"path": str(f.path), "format": f.format, "source": f.source, "rows": f.rows} for f in manifest.files]
    with tempfile.TemporaryDirectory(prefix="siyu-bench-") as tmp:
        ours = run_child(
            "siyu.benchmarks.ingest", {"files": files}, env={"SIYU_WAREHOUSE": str(Path(tmp) / "wh.duckdb")}
        )
    csv_files = [f for f in files if f["path"].endswith(".csv")]
    reference = run_child("siyu.benchmarks.ingest_reference", {"files": csv_files})
    rows = sum(f["rows_read"] for f in ours["files"])
    csv_rows = sum(f["rows_read"] for f in ours["files"] if f["file"].endswith(".csv"))
    csv_seconds = sum(f["seconds"] for f in ours["files"] if f["file"].endswith(".csv"))
    result = {
        "benchmark": "ingest",
        "people": people,
        "machine": machine(),
        "generate_seconds": round(generated_s, 1),
        "rows": rows,
        "seconds": ours["seconds"],
        "cpu_seconds": ours["cpu_seconds"],
        "rows_per_s": round(rows / ours["seconds"]),
        "peak_rss_mb": ours["peak_rss_mb"],
        "csv_rows_per_s": round(csv_rows / csv_seconds) if csv_seconds else None,
        "reference": {
            "what": "duckdb read_csv(all_varchar) of the same CSV files into a table",
            "rows_per_s": round(reference["rows"] / reference["seconds"]),
            "seconds": reference["seconds"],
            "peak_rss_mb": reference["peak_rss_mb"],
        },
        "per_file": [
            {k: f[k] for k in ("file", "format", "rows_read", "imported", "rejected", "seconds")} for f in ours["files"]
        ],
    }
    if result["csv_rows_per_s"]:
        result["slower_than_reference_x"] = round(result["reference"]["rows_per_s"] / result["csv_rows_per_s"], 2)
    return result


def _measure(files: list[dict]) -> dict:
    from siyu.ingest.actions import import_files

    started, cpu_started = time.perf_counter(), os.times()
    reports = []
    by_source: dict[tuple[str, str], list[str]] = {}
    for f in files:
        by_source.setdefault((f["source"], f["format"]), []).append(f["path"])
    for (source, fmt), paths in by_source.items():
        report = import_files(paths, source, fmt)
        reports += [r.__dict__ | {"rejections": []} for r in report.files]
    cpu = os.times()
    return {
        "seconds": round(time.perf_counter() - started, 2),
        # user+sys of every thread of the import: on a shared machine it says more than wall time
        "cpu_seconds": round(cpu.user - cpu_started.user + cpu.system - cpu_started.system, 1),
        "files": reports,
    }


if __name__ == "__main__":
    child_main(_measure)
