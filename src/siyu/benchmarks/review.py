"""`siyu bench review`: how much of the demo brand's resolution is left to a reviewer, and how right the
automatic rules are, against the generator's ground truth.

Imports the demo brand (`--people`, `--seed`), resolves it in a full run, and reports: customers; pairs of
customers waiting for review (the target: at most 2% of customers at 20,000 people) and the record pairs
behind them; the pairs kept apart because only what a household shares agrees, and how many of those are
really one person; the waiting entries per reason and per evidence pattern (largest first), each with the
share that is one person; every automatic rule's links and their precision (a link is right when its two
records are one person); and, in the same run, the resolution without automatic rules for reference
(pairwise precision and recall of both, siyu.benchmarks.resolve.pairwise_scores)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from siyu.benchmarks.common import child_main, demo_files, machine, run_child

TARGET_SHARE = 0.02


def run(people: int, seed: int = 7) -> dict:
    _, manifest = demo_files(people, seed=seed)
    files = [{"path": str(f.path), "format": f.format, "source": f.source, "rows": f.rows} for f in manifest.files]
    truth = str(manifest.ground_truth)
    with tempfile.TemporaryDirectory(prefix="siyu-bench-") as tmp:
        env = {"SIYU_WAREHOUSE": str(Path(tmp) / "wh.duckdb")}
        run_child("siyu.benchmarks.ingest", {"files": files}, env=env)
        without = run_child("siyu.benchmarks.review", {"ground_truth": truth, "auto_rules": False}, env=env)
        measured = run_child("siyu.benchmarks.review", {"ground_truth": truth, "auto_rules": True}, env=env)
    waiting = measured["review"]["waiting"]
    return {
        "benchmark": "review",
        "people": people,
        "seed": seed,
        "machine": machine(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        **measured,
        "waiting_share_of_customers": round(waiting / measured["customers"], 4) if measured["customers"] else None,
        "target": f"pairs of customers waiting for review <= {TARGET_SHARE:.0%} of customers (at 20,000 people); "
        "every automatic rule's precision >= 0.995",
        "without_auto_rules": {k: without[k] for k in ("customers", "scores", "review", "seconds")},
    }


def _measure(ground_truth: str, auto_rules: bool) -> dict:
    from siyu.identity.actions import resolve_identities
    from siyu.identity.probabilistic import MatchSettings

    match = MatchSettings.from_settings() if auto_rules else MatchSettings.from_settings(auto_rules=())
    started = time.perf_counter()
    report = resolve_identities(match=match, full=True)
    seconds = round(time.perf_counter() - started, 2)
    return {"records": report.records, "customers": report.customers, "seconds": seconds, **measure(ground_truth)}


def measure(ground_truth: str) -> dict:
    """The review queue and the links of the warehouse as it is (after `siyu demo`, say), scored against
    the demo brand's ground truth."""
    import polars as pl

    from siyu.benchmarks.resolve import pairwise_scores
    from siyu.identity import queries
    from siyu.identity.evidence import reason_class
    from siyu.identity.labels import rule_words
    from siyu.warehouse import raw_connection

    con = raw_connection()
    person = con.execute(
        """
        SELECT r.record_key, g.person_id FROM records r
        JOIN read_csv(?, header = true, all_varchar = true) g ON g.source = r.source AND g.record_id = r.record_id
        """,
        [ground_truth],
    ).pl()
    entries = pl.from_arrow(queries.review_entries().to_pyarrow())
    entries = (
        entries.join(person.rename({"record_key": "record_key_l", "person_id": "pl"}), on="record_key_l", how="left")
        .join(person.rename({"record_key": "record_key_r", "person_id": "pr"}), on="record_key_r", how="left")
        .with_columns(one_person=pl.col("pl") == pl.col("pr"), why=pl.col("reason").map_elements(reason_class, pl.String))
    )
    waiting, kept = entries.filter(pl.col("queued")), entries.filter(~pl.col("queued"))

    def table(frame: pl.DataFrame, by: str, top: int | None = None) -> list[dict]:
        grouped = frame.group_by(by).agg(entries=pl.len(), one_person=pl.col("one_person").mean().round(4))
        rows = grouped.sort(["entries", by], descending=[True, False]).to_dicts()
        return rows[:top] if top else rows

    patterns = table(waiting, "pattern", 12)
    for row in patterns:
        row["rule"] = rule_words(row["pattern"])
    links = pl.from_arrow(con.execute("SELECT * FROM match_links").to_arrow_table())
    links = (
        links.join(person.rename({"record_key": "record_key_l", "person_id": "pl"}), on="record_key_l", how="left")
        .join(person.rename({"record_key": "record_key_r", "person_id": "pr"}), on="record_key_r", how="left")
        .with_columns(right=pl.col("pl") == pl.col("pr"))
    )
    rules = (
        links.filter(pl.col("how") == "auto_rule")
        .group_by("rule")
        .agg(links=pl.len(), wrong=(~pl.col("right")).sum(), precision=pl.col("right").mean().round(4))
        .sort("rule")
        .to_dicts()
    )
    scored = links.filter(pl.col("how") == "match")
    timings = {}
    for name, call in (("review page 1", lambda: queries.review_queue(1, 30)), ("rules", queries.review_rules)):
        started = time.perf_counter()
        call()
        timings[name] = round((time.perf_counter() - started) * 1000)
    return {
        "console_queries_ms": timings,
        "customers": int(con.execute("SELECT count(*) FROM customer_summary").fetchone()[0]),
        "scores": pairwise_scores(con, ground_truth),
        "review": {
            **queries.review_counts(),
            "waiting_one_person": round(float(waiting["one_person"].mean() or 0), 4),
            "kept_apart_one_person": round(float(kept["one_person"].mean() or 0), 4),
            "waiting_by_reason": table(waiting, "why"),
            "waiting_by_pattern": patterns,
        },
        "links": {
            "match": {"links": scored.height, "precision": round(float(scored["right"].mean() or 0), 4)},
            "auto_rules": rules,
        },
    }


if __name__ == "__main__":
    child_main(_measure)
