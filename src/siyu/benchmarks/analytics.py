"""`siyu bench analytics`: import and resolve the demo brand once (kept in SIYU_HOME/bench; the
deterministic stage only: the queries' cost is in the orders, and the full resolution of 1M people needs
more memory than a shared 2-core machine leaves, see docs/benchmarks.md), then time
each analytics page's query over it: a warm-up call, then the best and the median of three calls, with
the default filters (the last 90 days; cohorts the last 365) and with one channel chosen."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from siyu.benchmarks.common import child_main, demo_files, machine, run_child

RUNS = 3
TARGET_MS = 2000


def run(people: int, orders_per_buyer: float = 2.0) -> dict:
    warehouse, prepared = prepared_warehouse(people, orders_per_buyer)
    env = {"SIYU_WAREHOUSE": str(warehouse)}
    timed = run_child("siyu.benchmarks.analytics", {}, env=env)
    return {
        "benchmark": "analytics",
        "people": people,
        "orders_per_buyer": orders_per_buyer,
        "machine": machine(),
        **prepared,
        **timed,
        "target": f"each page's query < {TARGET_MS} ms",
    }


def prepared_warehouse(people: int, orders_per_buyer: float = 2.0) -> tuple[Path, dict]:
    """The demo brand imported and resolved (deterministic stage) into a warehouse kept in SIYU_HOME/bench
    (built once per size; `siyu bench load` starts from a copy of it), and the seconds it took when it was
    built by this call (empty when it was there already)."""
    out, manifest = demo_files(people, orders_per_buyer=orders_per_buyer)
    warehouse = Path(out) / "analytics-warehouse.duckdb"
    env = {"SIYU_WAREHOUSE": str(warehouse)}
    prepared = {}
    if not (Path(out) / "analytics-warehouse.ready").exists():
        warehouse.unlink(missing_ok=True)
        files = [
            {"path": str(f.path), "format": f.format, "source": f.source, "rows": f.rows}
            for f in manifest.files
        ]
        imported = run_child("siyu.benchmarks.ingest", {"files": files}, env=env)
        resolved = run_child(
            "siyu.benchmarks.resolve",
            {"ground_truth": str(manifest.ground_truth), "stage": "deterministic"},
            env=env,
        )
        prepared = {"import_seconds": imported["seconds"], "resolve_seconds": resolved["seconds"]}
        (Path(out) / "analytics-warehouse.ready").write_text("ok")
    return warehouse, prepared


def _time(call) -> dict:
    call()  # warm-up: the first call also opens the file and reads the table metadata
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return {"best_ms": round(min(times)), "median_ms": round(statistics.median(times))}


def _measure() -> dict:
    from siyu.analytics import queries
    from siyu.analytics.filters import default_days, parse_filters
    from siyu.analytics.groups import group_from_ids
    from siyu.warehouse import backend

    con = backend()
    orders = con.table("orders")
    sizes = {
        "orders": orders.count().to_pyarrow().as_py(),
        "purchases": orders.filter(orders.status_class == "purchase").count().to_pyarrow().as_py(),
        "customers": con.table("customer_summary").count().to_pyarrow().as_py(),
        "records": con.table("records").count().to_pyarrow().as_py(),
    }
    cs = con.table("customer_summary")
    sample = cs.filter(cs.customer_id % 10 == 0).customer_id.to_pyarrow().to_pylist()  # a 10% group
    group = group_from_ids(sample, label="every tenth customer")
    pages = {}
    for channels in ((), ("tmall",)):
        for page, query in queries.PAGES.items():
            f = parse_filters(channels=list(channels), default_days=default_days(page))
            args = (f, group) if page == "repurchase" else (f,)
            label = page if not channels else f"{page} (tmall)"
            pages[label] = _time(lambda query=query, args=args: query(*args))
    slowest = max(pages.values(), key=lambda t: t["median_ms"])
    return {**sizes, "group_size": len(sample), "pages": pages, "slowest_median_ms": slowest["median_ms"]}


if __name__ == "__main__":
    child_main(_measure)
