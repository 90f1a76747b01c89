"""What of resolution still runs in the driver, and how much memory it takes there (issue 17): the demo brand
imported into a DuckDB warehouse, then the probabilistic stage's steps one after the other in this process,
each with its wall time and the growth of this process' resident memory at its peak (sampled every 20 ms:
polars and Splink's DuckDB allocate outside Python's tracemalloc).

    SIYU_HOME=… python -m siyu.benchmarks.resolve_driver PEOPLE   (prints one JSON object)
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import psutil


class _Peak:
    """The highest resident memory of this process while a block runs."""

    def __init__(self):
        self.process = psutil.Process()

    @contextmanager
    def measure(self, out: dict, name: str):
        start = self.process.memory_info().rss
        peak = [start]
        done = threading.Event()

        def sample():
            while not done.wait(0.02):
                peak[0] = max(peak[0], self.process.memory_info().rss)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        began = time.monotonic()
        try:
            yield
        finally:
            done.set()
            thread.join()
            peak[0] = max(peak[0], self.process.memory_info().rss)
            out[name] = {
                "seconds": round(time.monotonic() - began, 2),
                "peak_growth_mb": round((peak[0] - start) / 2**20, 1),
                "rss_after_mb": round(self.process.memory_info().rss / 2**20, 1),
            }


def run(people: int) -> dict:
    from siyu.benchmarks.common import demo_files, machine
    from siyu.identity.actions import _components, _linking, _stage_records
    from siyu.identity.features import record_features, record_rows
    from siyu.identity.guard import GuardRule
    from siyu.identity.guard import quarantine as find_quarantine
    from siyu.identity.probabilistic import MatchSettings, blocking_keys, join_clusters, predict_pairs
    from siyu.ingest.actions import import_files
    from siyu.warehouse import backend

    _, manifest = demo_files(people)
    for f in manifest.files:
        import_files([f.path], source=f.source, format=f.format)
    con = backend()
    match = MatchSettings()
    steps: dict = {}
    peak = _Peak()
    with peak.measure(steps, "stage records and collect identifier edges + record_components (numpy/scipy)"):
        staged, n_records, hk_unique = _stage_records(con)
        quarantine = find_quarantine(con, GuardRule.from_settings(), "bench")
        labels, links = _components(con, staged, n_records, hk_unique, _linking(con, quarantine, match))
        del links
    with peak.measure(steps, "record rows with PII to the driver (arrow)"):
        rows = record_rows(con, staged)
    with peak.measure(steps, "features: decrypt PII, normalise (polars)"):
        features = record_features(rows, labels, match.compare)
        keys = blocking_keys(features, match)
    with peak.measure(steps, "Splink train + predict (private in-process DuckDB, 3 GB limit)"):
        pairs, model = predict_pairs(features, match)
    with peak.measure(steps, "join clusters under the household guard, review rows (polars + Python)"):
        result = join_clusters(labels, features, pairs, match)
    return {
        "people": people,
        "records": n_records,
        "feature_rows": features.height,
        "features_mb": round(features.estimated_size() / 2**20, 1),
        "blocking_keys_mb": round(keys.estimated_size() / 2**20, 1),
        "scored_pairs": pairs.num_rows,
        "pairs_mb": round(pairs.nbytes / 2**20, 1),
        "review_rows": len(result.review),
        "clusters_joined": len(result.merges),
        "steps": steps,
        "peak_rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1),
        "machine": machine(),
        "load_average": os.getloadavg(),
    }


if __name__ == "__main__":
    import django

    people = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.project.settings")
    with tempfile.TemporaryDirectory(prefix="siyu-bench-driver-") as tmp:
        os.environ["SIYU_WAREHOUSE"] = str(Path(tmp) / "wh.duckdb")
        django.setup()
        result = run(people)
        print(json.dumps(result))
