"""`siyu bench scale`: the pipeline's stages at several sizes of the demo brand, on one engine, and how each
stage's time grows with the number of people.

For each size N (`--people 100000 1000000 3000000`): the demo brand's export files (generated once per
size, kept in SIYU_HOME/bench), then in a fresh SIYU_HOME of its own (SIYU_HOME/bench/scale-<engine>-<N>),
each stage in a child process of its own (so its peak memory is its own): import every file; resolve (both
stages, full); traits (the customer summary rebuilt, then RFM, stages, value layers); a segment (a rule over
traits and orders, materialised); every analytics page's query (the median of three calls). The growth of
each stage between two sizes is the exponent k of time ∝ N^k (1 linear; log(t2/t1) / log(N2/N1)), and
over all sizes the least-squares slope of log t against log N; of wall time and of CPU time (user + system
of every thread: steadier than wall time when other work shares the machine).

`--engine spark` runs the same children with SIYU_WAREHOUSE=local[2] (Spark in local mode on this host)
and the tables under the run's home. A stage the Spark data plane cannot run yet is reported with its
error, and the stages after it are not run (they read what it writes).
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import time
from itertools import pairwise
from pathlib import Path

from siyu.benchmarks.common import child_main, demo_files, machine, run_child

STAGES = ("import", "resolve", "traits", "segments", "analytics")
# A segment an operator would make: recent, frequent buyers (traits and orders both read).
RULE = {
    "all": [{"field": "r_score", "op": ">=", "value": 3}, {"bought": {"within_days": 365, "at_least": 2}}]
}
SPARK_MASTER = "local[2]"


def run(people: list[int], engine: str = "duckdb") -> dict:
    from django.conf import settings

    sizes = []
    for n in sorted(people):
        started = time.perf_counter()
        out, manifest = demo_files(n)
        generated = round(time.perf_counter() - started, 1)
        files = [
            {"path": str(f.path), "format": f.format, "source": f.source, "rows": f.rows}
            for f in manifest.files
        ]
        home = Path(settings.SIYU_HOME) / "bench" / f"scale-{engine}-{n}"
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        env = {"SIYU_HOME": str(home), "SIYU_WAREHOUSE": SPARK_MASTER if engine == "spark" else ""}
        if engine == "spark":
            env["SIYU_WAREHOUSE_LOCATION"] = str(home / "warehouse-spark")
            env.setdefault("SIYU_SPARK_DRIVER_MEMORY", os.environ.get("SIYU_SPARK_DRIVER_MEMORY", "4g"))
        stages, failed = {}, None
        for stage in STAGES:
            try:
                stages[stage] = run_child("siyu.benchmarks.scale", {"stage": stage, "files": files}, env=env)
            except RuntimeError as exc:
                failed = {"stage": stage, "error": _last_error(str(exc))}
                break
        sizes.append({"people": n, "rows": sum(f["rows"] for f in files), "generate_seconds": generated,
                      "stages": stages, "failed": failed})  # fmt: skip
        shutil.rmtree(home, ignore_errors=True)  # a 3M run's warehouse is many GB
    return {
        "benchmark": "scale",
        "engine": engine,
        "machine": machine(),
        "load_average": os.getloadavg(),
        "sizes": sizes,
        "growth": growth(sizes),
        "cpu_growth": growth(sizes, "cpu_seconds"),
    }


def growth(sizes: list[dict], measure: str = "seconds") -> dict:
    """Per stage: the exponent k of t ∝ N^k between each pair of consecutive sizes, and the least-squares
    slope over all of them. `measure`: wall "seconds", or "cpu_seconds" (steadier on a shared machine)."""
    result = {}
    for stage in STAGES:
        points = [(s["people"], s["stages"][stage].get(measure, 0)) for s in sizes if stage in s["stages"]]
        points = [(n, t) for n, t in points if t > 0]
        if len(points) < 2:
            continue
        steps = [round(math.log(t2 / t1) / math.log(n2 / n1), 2) for (n1, t1), (n2, t2) in pairwise(points)]
        fit = statistics.linear_regression([math.log(n) for n, _ in points], [math.log(t) for _, t in points])
        result[stage] = {"between_sizes": steps, "fitted": round(fit.slope, 2)}
    return result


def _last_error(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else text[:300]


def _measure(stage: str, files: list[dict]) -> dict:
    from siyu.cli import migrate_quietly

    migrate_quietly()
    started, cpu = time.perf_counter(), time.process_time()
    detail = STAGE_RUNNERS[stage](files)
    return {"seconds": round(time.perf_counter() - started, 2), "cpu_seconds": round(time.process_time() - cpu, 1),
            **detail}  # fmt: skip


def _import(files: list[dict]) -> dict:
    from siyu.ingest.actions import import_files

    by_source: dict[tuple[str, str], list[str]] = {}
    for f in files:
        by_source.setdefault((f["source"], f["format"]), []).append(f["path"])
    rows = 0
    for (source, fmt), paths in by_source.items():
        rows += sum(r.imported for r in import_files(paths, source, fmt).files)
    return {"rows_landed": rows}


def _resolve(files: list[dict]) -> dict:
    from siyu.identity.actions import resolve_identities
    from siyu.identity.probabilistic import MatchSettings

    report = resolve_identities(match=MatchSettings.from_settings(), full=True)
    return {"records": report.records, "customers": report.customers}


def _traits(files: list[dict]) -> dict:
    from siyu.segments.actions import refresh_traits
    from siyu.warehouse.summary import rebuild_customer_summary

    started = time.perf_counter()
    rebuild_customer_summary()
    summary = round(time.perf_counter() - started, 2)
    report = refresh_traits()
    return {"summary_seconds": summary, "customers": report["customers"]}


def _segments(files: list[dict]) -> dict:
    from siyu.segments.actions import refresh_segment, save_segment

    segment = save_segment(None, "scale", rule=RULE, materialise=False)
    return {"members": refresh_segment(segment.pk)["members"]}


def _analytics(files: list[dict]) -> dict:
    from siyu.benchmarks import analytics

    measured = analytics._measure()
    return {"pages": len(measured["pages"]), "slowest_median_ms": measured["slowest_median_ms"],
            "sum_of_medians_ms": sum(p["median_ms"] for p in measured["pages"].values())}  # fmt: skip


STAGE_RUNNERS = {"import": _import, "resolve": _resolve, "traits": _traits, "segments": _segments,
                 "analytics": _analytics}  # fmt: skip

if __name__ == "__main__":
    child_main(_measure)
