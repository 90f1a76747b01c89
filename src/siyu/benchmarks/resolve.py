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
        "console_queries_ms": resolved["console_queries_ms"],
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
        "console_queries_ms": console_query_times(),
    }


def console_query_times() -> dict:
    """What an operator waits for on the customer list and profile over the resolved base (one run each,
    after a warm-up page; milliseconds)."""
    from django.contrib.auth import get_user_model

    from siyu.customers.queries import get_profile, list_customers
    from siyu.warehouse import raw_connection

    user, _ = get_user_model().objects.get_or_create(username="bench-operator", defaults={"is_superuser": True})
    busiest, tail, province = raw_connection().execute(
        "SELECT customer_id, phone_tail, province FROM customer_summary WHERE phone_tail IS NOT NULL "
        "ORDER BY record_count DESC, customer_id LIMIT 1"
    ).fetchall()[0]
    cases = {
        "first page": lambda: list_customers(user),
        "phone tail search": lambda: list_customers(user, q=tail),
        "channel + province filter": lambda: list_customers(user, source="tmall", province=province),
        "page 1000": lambda: list_customers(user, page=1000),
        "profile of the customer with most records": lambda: get_profile(user, busiest),
    }
    list_customers(user)
    timings = {}
    for name, call in cases.items():
        started = time.perf_counter()
        call()
        timings[name] = round((time.perf_counter() - started) * 1000)
    return timings


if __name__ == "__main__":
    child_main(_measure)
