"""`siyu bench resolve`: import the demo brand, resolve identities, and score the customers against the
generator's ground truth (pairwise precision, recall, F1 over records); time and peak RSS of resolution."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from siyu.benchmarks.common import child_main, demo_files, machine, run_child


def run(people: int) -> dict:
    _, manifest = demo_files(people)
    files = [{"path": str(f.path), "format": f.format, "source": f.source, "rows": f.rows} for f in manifest.files]
    with tempfile.TemporaryDirectory(prefix="siyu-bench-") as tmp:
        env = {"SIYU_WAREHOUSE": str(Path(tmp) / "wh.duckdb")}
        imported = run_child("siyu.benchmarks.ingest", {"files": files}, env=env)
        resolved = run_child("siyu.benchmarks.resolve", {"ground_truth": str(manifest.ground_truth)}, env=env)
    return {
        "benchmark": "resolve",
        "people": people,
        "machine": machine(),
        "records": resolved["records"],
        "import_seconds": imported["seconds"],
        **{k: resolved[k] for k in ("seconds", "peak_rss_mb", "customers", "quarantined", "scores")},
        "target": "< 60 s, precision >= 0.999 (deterministic stage)",
    }


def pairwise_scores(con, ground_truth: str) -> dict:
    """Pairs of records put together by us (predicted) and by the generator (true)."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE scored AS
        SELECT g.person_id, m.customer_id
        FROM read_csv(?, header = true, all_varchar = true) g
        JOIN records r ON r.source = g.source AND r.record_id = g.record_id
        JOIN customer_map m USING (record_key)
        """,
        [ground_truth],
    )
    pairs = "sum(n * (n - 1) / 2)::HUGEINT"
    true_pairs, pred_pairs, both = con.execute(
        f"""
        SELECT (SELECT {pairs} FROM (SELECT count(*) n FROM scored GROUP BY person_id)),
               (SELECT {pairs} FROM (SELECT count(*) n FROM scored GROUP BY customer_id)),
               (SELECT {pairs} FROM (SELECT count(*) n FROM scored GROUP BY person_id, customer_id))
        """
    ).fetchall()[0]
    scored, persons = con.execute("SELECT count(*), count(DISTINCT person_id) FROM scored").fetchall()[0]
    precision = float(both) / float(pred_pairs) if pred_pairs else 1.0
    recall = float(both) / float(true_pairs) if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "records_scored": scored,
        "persons": persons,
        "true_pairs": int(true_pairs),
        "predicted_pairs": int(pred_pairs),
        "correct_pairs": int(both),
        "precision": round(precision, 5),
        "recall": round(recall, 5),
        "f1": round(f1, 5),
    }


def _measure(ground_truth: str) -> dict:
    from siyu.identity.actions import resolve_identities
    from siyu.warehouse import raw_connection

    started = time.perf_counter()
    report = resolve_identities()
    seconds = round(time.perf_counter() - started, 2)
    return {
        "seconds": seconds,
        "records": report.records,
        "customers": report.customers,
        "quarantined": report.quarantined,
        "scores": pairwise_scores(raw_connection(), ground_truth),
    }


if __name__ == "__main__":
    child_main(_measure)
