"""`siyu bench resolve`: import the demo brand, resolve identities, and score the customers against the
generator's ground truth (pairwise precision, recall, F1 over records); time and peak RSS of resolution.

In the same run, on the same imported records: the deterministic stage alone, the whole resolution
(deterministic + probabilistic stage with the household guard), and Splink alone with sensible default
settings (siyu.benchmarks.splink_alone), each in its own child process so that each peak RSS is its own;
then the ceiling: the best any decision rule could do with the candidates the resolution can see.

Incremental resolution is measured first: the last lines of the Douyin export are held back as later
exports of new orders (LATER_SHARES of its lines), the rest is imported and resolved in a full run, then
each later file is imported and resolved incrementally; the full run on all records that follows is
their reference."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from siyu.benchmarks.common import child_main, demo_files, machine, run_child

LATER_SOURCE = "douyin"
LATER_SHARES = (0.01, 0.04)  # two later exports, each resolved incrementally in turn
# The whole resolution runs a second time linking pairs with only shared evidence from this probability
# (MatchSettings.shared_evidence_threshold): what that recall costs in merged households.
SHARED_EVIDENCE_THRESHOLD = 0.5


def run(people: int) -> dict:
    _, manifest = demo_files(people)
    files = [{"path": str(f.path), "format": f.format, "source": f.source, "rows": f.rows} for f in manifest.files]
    truth = str(manifest.ground_truth)

    def resolve(stage: str, **overrides) -> dict:
        args = {"ground_truth": truth, "stage": stage, "overrides": overrides}
        return run_child("siyu.benchmarks.resolve", args, env=env)

    with tempfile.TemporaryDirectory(prefix="siyu-bench-") as tmp:
        env = {"SIYU_WAREHOUSE": str(Path(tmp) / "wh.duckdb")}
        files, later = hold_back(files, LATER_SOURCE, LATER_SHARES, Path(tmp))
        imported = run_child("siyu.benchmarks.ingest", {"files": files}, env=env)
        before = resolve("all")
        incremental = []
        for part in later:
            imported["seconds"] += run_child("siyu.benchmarks.ingest", {"files": [part]}, env=env)["seconds"]
            incremental.append({"later_rows": part["rows"], **resolve("incremental")})
        resolved = resolve("all")
        shared = resolve("all", shared_evidence_threshold=SHARED_EVIDENCE_THRESHOLD)
        deterministic = resolve("deterministic")
        alone = resolve("splink-alone")
        ceiling = resolve("ceiling")
    keys = ("seconds", "peak_rss_mb", "customers", "scores")
    ceiling_recall = ceiling["scores"]["recall"]
    return {
        "benchmark": "resolve",
        "people": people,
        "machine": machine(),
        "records": resolved["records"],
        "import_seconds": imported["seconds"],
        **{k: resolved[k] for k in (*keys, "quarantined", "probabilistic", "timings")},
        "ceiling_ratio": round(resolved["scores"]["recall"] / ceiling_recall, 4),
        "household_safe_ceiling_ratio": round(resolved["scores"]["recall"] / ceiling["household_safe"]["recall"], 4),
        "with_shared_evidence": {
            "shared_evidence_threshold": SHARED_EVIDENCE_THRESHOLD,
            **{k: shared[k] for k in keys},
            "ceiling_ratio": round(shared["scores"]["recall"] / ceiling_recall, 4),
        },
        "deterministic_alone": {k: deterministic[k] for k in keys},
        "splink_alone": {k: alone[k] for k in keys},
        "ceiling": ceiling,
        "incremental": {
            "later_files": f"the last {sum(LATER_SHARES):.0%} of the {LATER_SOURCE} export's lines, in {len(later)} parts",
            "full_run_before": {k: before[k] for k in ("seconds", "records")},
            "runs": [
                {k: run[k] for k in (*keys, "later_rows", "records", "mode", "full_reason", "compared_records", "timings")}
                for run in incremental
            ],
        },
        "console_queries_ms": resolved["console_queries_ms"],
        "target": "at 100k and 1M people: recall >= 95% of the ceiling's at precision >= 0.995, no household "
                  "merged; < 5 min, F1 above and time at most Splink alone's",
    }


def pairwise_scores(con, ground_truth: str, mapping: str = "customer_map") -> dict:
    """Pairs of records put together by us (predicted) and by the generator (true). `mapping` is a table
    or view of (record_key, customer_id)."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE scored AS
        SELECT g.person_id, m.customer_id
        FROM read_csv(?, header = true, all_varchar = true) g
        JOIN records r ON r.source = g.source AND r.record_id = g.record_id
        JOIN {mapping} m USING (record_key)
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
        "households_merged": households_merged(con, ground_truth, mapping),
        "records_scored": scored,
        "persons": persons,
        "true_pairs": int(true_pairs),
        "predicted_pairs": int(pred_pairs),
        "correct_pairs": int(both),
        "precision": round(precision, 5),
        "recall": round(recall, 5),
        "f1": round(f1, 5),
    }


def households_merged(con, ground_truth: str, mapping: str = "customer_map") -> int | None:
    """Households (the generator's persons.csv beside the ground truth) two of whose members are put in
    one customer; None when the data has no households."""
    from siyu.demo.generate import PERSONS_FILE

    persons = Path(ground_truth).with_name(PERSONS_FILE)
    if not persons.exists():
        return None
    return con.execute(
        f"""
        SELECT count(DISTINCT household) FROM (
            SELECT m.customer_id, p.household
            FROM read_csv(?, header = true, all_varchar = true) g
            JOIN read_csv(?, header = true, all_varchar = true) p USING (person_id)
            JOIN records r ON r.source = g.source AND r.record_id = g.record_id
            JOIN {mapping} m USING (record_key)
            WHERE p.household IS NOT NULL
            GROUP BY 1, 2 HAVING count(DISTINCT g.person_id) > 1)
        """,
        [ground_truth, str(persons)],
    ).fetchone()[0]


def hold_back(
    files: list[dict], source: str, shares: tuple[float, ...], out_dir: Path
) -> tuple[list[dict], list[dict]]:
    """Split the CSV export of `source` at order boundaries (where the first column, the order id,
    changes): the files to import first (that export's first lines in place of it) and the later files,
    one per share of its lines, in order."""
    [export] = [f for f in files if f["source"] == source]
    lines = Path(export["path"]).read_bytes().splitlines(keepends=True)
    header, data = lines[0], lines[1:]

    def order_boundary(cut: int) -> int:
        while 0 < cut < len(data) and data[cut].split(b",", 1)[0] == data[cut - 1].split(b",", 1)[0]:
            cut += 1
        return cut

    starts, left = [], sum(shares)
    for share in shares:
        starts.append(order_boundary(int(len(data) * (1 - left))))
        left -= share
    bounds = [0, *starts, len(data)]
    parts = []
    for i, (start, end) in enumerate(zip(bounds, bounds[1:], strict=False)):
        path = out_dir / f"{Path(export['path']).stem}_{i}.csv"
        path.write_bytes(header + b"".join(data[start:end]))
        parts.append({**export, "path": str(path), "rows": end - start})
    return [parts[0] if f is export else f for f in files], parts[1:]


def _measure(ground_truth: str, stage: str, overrides: dict | None = None) -> dict:
    from siyu.identity.actions import resolve_identities
    from siyu.identity.probabilistic import MatchSettings
    from siyu.warehouse import raw_connection

    if stage == "splink-alone":
        return _splink_alone(ground_truth)
    if stage == "ceiling":
        return _ceiling(ground_truth)
    started = time.perf_counter()
    match = MatchSettings.from_settings(enabled=stage != "deterministic", **(overrides or {}))
    report = resolve_identities(match=match, full=stage != "incremental")
    seconds = round(time.perf_counter() - started, 2)
    return {
        "seconds": seconds,
        "mode": report.mode,
        "full_reason": report.full_reason,
        "compared_records": report.compared_records,
        "records": report.records,
        "customers": report.customers,
        "quarantined": report.quarantined,
        "probabilistic": report.probabilistic,
        "timings": report.timings,
        "scores": pairwise_scores(raw_connection(), ground_truth),
        "console_queries_ms": console_query_times() if stage == "all" else {},
    }


def _splink_alone(ground_truth: str) -> dict:
    """Every record its own row, clustered by Splink alone (no deterministic graph, no guard)."""
    import numpy as np
    import pyarrow as pa

    from siyu.benchmarks.splink_alone import cluster_records
    from siyu.identity.features import RECORD_COLUMNS, record_features
    from siyu.warehouse import backend, raw_connection

    started = time.perf_counter()
    con = backend()
    rows = con.table("records").select("record_key", *RECORD_COLUMNS).to_pyarrow()
    n = rows.num_rows
    numbered = rows.drop(["record_key"]).append_column("rid", pa.array(np.arange(n, dtype=np.int64)))
    features = record_features(numbered, np.arange(n, dtype=np.int64))
    ids, codes = cluster_records(features)
    label = np.arange(n, dtype=np.int64) + n  # records with nothing to compare stay alone
    label[ids] = codes
    seconds = round(time.perf_counter() - started, 2)
    raw = raw_connection()
    raw.register("splink_alone_map", pa.table({"record_key": rows.column("record_key"), "customer_id": label}))
    return {
        "seconds": seconds,
        "records": n,
        "customers": int(len(np.unique(label))),
        "scores": pairwise_scores(raw, ground_truth, "splink_alone_map"),
    }


def _ceiling(ground_truth: str) -> dict:
    """The best any decision rule could do with the candidates this resolution can see: two records are
    joined exactly when the ground truth says they are one person and they share a linking identifier or
    one of the probabilistic stage's blocking keys (siyu.identity.probabilistic.blocking_keys). A target
    above this recall needs more evidence in the records, or candidates found by other keys.

    `household_safe`: the same without the candidates that only a place finds (a surname at a street)
    unless their full names agree: what perfect decisions reach linking no pair whose only evidence is
    what a household shares (MatchSettings.shared_evidence_threshold None)."""
    import numpy as np
    import polars as pl
    import pyarrow as pa
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from siyu.identity.features import RECORD_COLUMNS, record_features
    from siyu.identity.probabilistic import BLOCKING_KEYS, PLACE, MatchSettings, blocking_keys
    from siyu.warehouse import backend, raw_connection

    con, raw = backend(), raw_connection()
    rows = con.table("records").select("record_key", "source", "record_id", *RECORD_COLUMNS[1:]).to_pyarrow()
    n = rows.num_rows
    rid = pa.array(np.arange(n, dtype=np.int64))
    features = record_features(rows.drop(["record_key", "record_id"]).append_column("rid", rid), np.arange(n))
    keys = blocking_keys(features, MatchSettings.from_settings()).select(rid="unique_id", key="key")
    records = pl.from_arrow(rows.select(["record_key", "source", "record_id"]).append_column("rid", rid))
    truth = pl.read_csv(ground_truth, infer_schema=False)
    person = records.join(truth, on=["source", "record_id"], how="left").select("rid", "person_id")
    shared = pl.from_arrow(
        raw.execute("SELECT record_key, id_type || ':' || value_hash AS key FROM identifiers").to_arrow_table()
    ).join(records.select("record_key", "rid"), on="record_key").select("rid", "key")

    def scores(keys: pl.DataFrame, name: str) -> dict:
        links = pl.concat([keys, shared]).join(person, on="rid").drop_nulls("person_id")
        # each record to the first record of its person under the same key: one edge per record and key
        links = links.with_columns(first=pl.col("rid").min().over("key", "person_id"))
        links = links.filter(pl.col("rid") != pl.col("first"))
        edges = (np.ones(links.height), (links["rid"].to_numpy(), links["first"].to_numpy()))
        _, label = connected_components(coo_matrix(edges, shape=(n, n)), directed=False)
        raw.register(name, pa.table({"record_key": rows.column("record_key"), "customer_id": label}))
        return pairwise_scores(raw, ground_truth, name)

    place = f"{BLOCKING_KEYS.index(PLACE)}\x1f"
    named = features.drop_nulls(["district", "street_key", "name_full"]).select(
        rid="unique_id", key=pl.concat_str([pl.lit("named"), "district", "street_key", "name_full"], separator="\x1f")
    )
    safe = pl.concat([keys.filter(~pl.col("key").str.starts_with(place)), named])
    return {"scores": scores(keys, "ceiling_map"), "household_safe": scores(safe, "safe_ceiling_map")}


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
