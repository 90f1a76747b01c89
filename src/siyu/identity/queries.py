"""Read side of identity: who is whom, how they got merged, what the guard set aside, and exports."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import ibis
import pyarrow as pa

from siyu.core import pii
from siyu.identity.evidence import DECISION, fields_of, join_tree
from siyu.identity.guard import linking_identifiers
from siyu.warehouse import backend
from siyu.warehouse.exports import write_export
from siyu.warehouse.paging import page_of


def decisions_in_force() -> list[tuple[str, str, str]]:
    """(record_key_a, record_key_b, verdict) of the latest decision on every pair."""
    decisions = backend().table("match_decisions")
    latest = decisions.mutate(
        n=ibis.row_number().over(
            group_by=["record_key_a", "record_key_b"], order_by=ibis.desc(decisions.decided_at)
        )
    )
    rows = (
        latest.filter(latest.n == 0)
        .select("record_key_a", "record_key_b", "verdict")
        .to_pyarrow()
        .to_pylist()
    )
    return [(r["record_key_a"], r["record_key_b"], r["verdict"]) for r in rows]


REVIEW_RECORD_FIELDS = (
    "record_key", "source", "record_id", "name_masked", "phone_masked", "gender", "birthday", "province", "city",
    "district", "seen_at",
)  # fmt: skip


def review_entries() -> ibis.Table:
    """The review queue as entries, one per pair of customers (customer_a < customer_b): the best record
    pair between them (its evidence, probability, reason and pattern), how many record pairs connect
    them, whether it waits for a reviewer (`queued`; false: kept apart, only shared evidence), and what
    a `same` decision would change: customer_b (the newer id) is absorbed, its orders and spend move to
    customer_a. Pairs of customers a decision already covers (any of their record pairs decided since
    the last run) are left out: the next resolve run applies that decision."""
    con = backend()
    cands = con.table("match_candidates")
    decisions = con.table("match_decisions")
    decided = decisions.select(dl=decisions.record_key_a, dr=decisions.record_key_b).distinct()
    q = cands.left_join(decided, [cands.record_key_l == decided.dl, cands.record_key_r == decided.dr])
    q = q.select(
        *cands.columns,
        decided=decided.dl.notnull().cast("int8"),
        customer_a=ibis.least(cands.customer_id_l, cands.customer_id_r),
        customer_b=ibis.greatest(cands.customer_id_l, cands.customer_id_r),
    )
    q = q.mutate(queued=q.queued.fill_null(True), pattern=q.pattern.fill_null(""))
    pair = [q.customer_a, q.customer_b]
    best_first = ibis.window(
        group_by=pair,
        order_by=[ibis.desc(q.queued), ibis.desc(q.match_probability), q.record_key_l, q.record_key_r],
    )
    q = q.mutate(
        n=ibis.row_number().over(best_first),
        record_pairs=q.count().over(ibis.window(group_by=pair)),
        any_decided=q.decided.max().over(ibis.window(group_by=pair)),
    )
    best = q.filter((q.n == 0) & (q.any_decided == 0))
    summary = con.table("customer_summary").select("customer_id", "orders", "spend")
    sa = summary.rename(customer_a="customer_id", orders_a="orders", spend_a="spend")
    sb = summary.rename(customer_b="customer_id", orders_b="orders", spend_b="spend")
    best = best.left_join(sa, "customer_a").left_join(sb, "customer_b")
    return best.select(
        "customer_a", "customer_b", "record_key_l", "record_key_r", "customer_id_l", "customer_id_r",
        "match_probability", "fields", "reason", "pattern", "queued", "record_pairs",
        orders_a=best.orders_a.fill_null(0), spend_a=best.spend_a.fill_null(0),
        orders_moved=best.orders_b.fill_null(0), spend_moved=best.spend_b.fill_null(0),
    )  # fmt: skip


def _by_impact(entries: ibis.Table) -> ibis.Table:
    return entries.order_by(
        [
            ibis.desc(entries.spend_moved),
            ibis.desc(entries.orders_moved),
            ibis.desc(entries.match_probability),
            entries.customer_a,
            entries.customer_b,
        ]
    )


def review_counts() -> dict:
    """Pairs of customers waiting for a reviewer, kept apart (only shared evidence), and the record pairs
    behind them."""
    e = review_entries()
    row = e.aggregate(
        waiting=e.queued.cast("int64").sum(),
        kept_apart=(~e.queued).cast("int64").sum(),
        record_pairs=e.record_pairs.sum(),
    ).to_pyarrow().to_pylist()[0]
    return {k: int(v or 0) for k, v in row.items()}


def review_queue(page: int = 1, page_size: int = 50, pattern: str | None = None, kept_apart: bool = False) -> dict:
    """A page of review entries (one per pair of customers), those whose decision moves the most spend
    and orders first, each with both records (masked fields only) and the comparison level each field
    hit. `pattern`: only entries with this evidence pattern; `kept_apart`: the entries kept apart (only
    shared evidence) instead of those waiting."""
    con = backend()
    entries = review_entries()
    entries = entries.filter(~entries.queued if kept_apart else entries.queued)
    if pattern:
        entries = entries.filter(entries.pattern == pattern)
    total = int(entries.count().execute())
    rows = page_of(_by_impact(entries), page_size, (page - 1) * page_size).to_pyarrow().to_pylist()
    keys = sorted({r[k] for r in rows for k in ("record_key_l", "record_key_r")})
    records = con.table("records")
    found = records.filter(records.record_key.isin(keys)).select(*REVIEW_RECORD_FIELDS) if keys else None
    by_key = {r["record_key"]: r for r in found.to_pyarrow().to_pylist()} if found is not None else {}
    items = [
        {
            **{k: r[k] for k in ("record_key_l", "record_key_r", "customer_id_l", "customer_id_r", "reason")},
            "match_probability": r["match_probability"],
            "pattern": r["pattern"],
            "record_pairs": int(r["record_pairs"]),
            "left": by_key.get(r["record_key_l"], {}),
            "right": by_key.get(r["record_key_r"], {}),
            "evidence": json.loads(r["fields"] or "{}"),
            "impact": {
                "survivor_id": r["customer_a"],
                "absorbed_id": r["customer_b"],
                "customers_joined": 2,
                "orders_moved": int(r["orders_moved"]),
                "spend_moved": r["spend_moved"],
                "orders_after": int(r["orders_a"]) + int(r["orders_moved"]),
                "spend_after": r["spend_a"] + r["spend_moved"],
            },
        }
        for r in rows
    ]
    counts = review_counts()
    return {"total": total, "page": page, "page_size": page_size, "items": items, **counts}


def review_rules() -> list[dict]:
    """The review queue grouped by evidence pattern: each group is a rule an operator can apply to all of
    its entries at once (siyu.identity.actions.decide_by_rule). Per rule: its entries (pairs of
    customers), record pairs, how many customers fewer a `same` decision leaves (pairs chained through
    one customer count once), orders and spend moved, the range of match probabilities, and whether its
    entries wait for a reviewer. Waiting rules first, largest first."""
    entries = review_entries()
    groups = (
        entries.group_by(["pattern", "queued"])
        .aggregate(
            entries=entries.count(),
            record_pairs=entries.record_pairs.sum(),
            orders_moved=entries.orders_moved.sum(),
            spend_moved=entries.spend_moved.sum(),
            min_probability=entries.match_probability.min(),
            max_probability=entries.match_probability.max(),
        )
        .to_pyarrow()
        .to_pylist()
    )
    pairs = entries.select("pattern", "customer_a", "customer_b").to_pyarrow()
    fewer = _customers_fewer(
        pairs.column("pattern").to_pylist(), pairs.column("customer_a").to_pylist(), pairs.column("customer_b").to_pylist()
    )
    out = [{**g, "customers_fewer": fewer.get(g["pattern"], 0)} for g in groups]
    return sorted(out, key=lambda g: (not g["queued"], -g["entries"], g["pattern"]))


def _customers_fewer(patterns: list[str], a: list[int], b: list[int]) -> dict[str, int]:
    """Per pattern: customers merged away if all its pairs were decided `same` (union-find)."""
    parent: dict[tuple[str, int], tuple[str, int]] = {}

    def find(x):
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    fewer: dict[str, int] = {}
    for pattern, x, y in zip(patterns, a, b, strict=True):
        rx, ry = find((pattern, x)), find((pattern, y))
        if rx != ry:
            parent[ry] = rx
            fewer[pattern] = fewer.get(pattern, 0) + 1
    return fewer


def rule_entries(pattern: str) -> list[dict]:
    """The entries a rule decides: the best record pair of every pair of customers with this evidence
    pattern not yet decided."""
    entries = review_entries()
    rows = entries.filter(entries.pattern == pattern).select("record_key_l", "record_key_r", "match_probability")
    return rows.order_by(["record_key_l", "record_key_r"]).to_pyarrow().to_pylist()


def decisions_since_last_run() -> int:
    """Decisions not yet applied by a resolve run."""
    con = backend()
    runs = con.table("identity_runs")
    last = runs.started_at.max().execute()
    decisions = con.table("match_decisions")
    if last is None or last != last:
        return int(decisions.count().execute())
    return int(decisions.filter(decisions.decided_at >= last).count().execute())


def customer_evidence(customer_id: int, record_keys: list[str] | None = None) -> dict:
    """How this customer's records were joined (no PII: record keys, identifier types, match evidence):
    {"records": [record_key, oldest first], "joins": {record_key: {"parent": record_key, "how": …}}}.
    `how` is "identifier" (with the `id_types` the two records share), "match" or "auto_rule" (a scored
    link: match_probability, match_weight, fields), or "decision" (decided_by, decided_at, reason, rule).
    Identifier joins come from the identifiers that may link now (strong, not quarantined); the others
    from match_links, which the resolve runs keep (siyu.identity.actions._write_links).
    `record_keys`: the customer's record keys, oldest first, when the caller has read them already (the
    profile has: reading them again is another scan of `records`)."""

    con = backend()
    keys = list(record_keys) if record_keys is not None else [r["record_key"] for r in records_of(customer_id)]
    if len(keys) < 2:
        return {"records": keys, "joins": {}}
    wanted = ibis.memtable({"record_key": keys})
    held = con.table("quarantined_identifiers").select("id_type", "value_hash").to_pyarrow()
    ids = linking_identifiers(con, held).semi_join(wanted, "record_key").to_pyarrow()
    identifiers = list(
        zip(*(ids.column(c).to_pylist() for c in ("record_key", "id_type", "value_hash")), strict=True)
    )
    links_table = con.table("match_links")
    links = (
        links_table.semi_join(wanted.rename(record_key_l="record_key"), "record_key_l")
        .semi_join(wanted.rename(record_key_r="record_key"), "record_key_r")
        .order_by(["record_key_l", "record_key_r"])
        .to_pyarrow()
        .to_pylist()
    )
    decided = {}
    if any(link["how"] == DECISION for link in links):
        decisions = con.table("match_decisions")
        rows = decisions.filter(decisions.record_key_a.isin(keys) & decisions.record_key_b.isin(keys))
        for row in rows.order_by("decided_at").to_pyarrow().to_pylist():
            decided[(row["record_key_a"], row["record_key_b"])] = row  # the latest wins
    for link in links:
        link["fields"] = fields_of(link["fields"])
        p = link["match_probability"]
        link["match_weight"] = match_weight(p) if p is not None else None
        if link["how"] == DECISION:
            row = decided.get((link["record_key_l"], link["record_key_r"]), {})
            link.update({k: row.get(k) for k in ("decided_by", "decided_at", "reason", "rule")})
    return {"records": keys, "joins": join_tree(keys, identifiers, links)}


def match_weight(probability: float) -> float:
    """Splink's match weight: log2 of the odds the probability gives (capped where a float rounds to 1)."""
    p = min(max(probability, 1e-12), 1 - 1e-12)
    return round(math.log2(p / (1 - p)), 2)


def unresolved_records() -> int:
    """How many imported records are not in a customer yet (no resolve has run since they landed)."""
    con = backend()
    records = con.table("records").select("record_key")
    return int(records.anti_join(con.table("customer_map"), "record_key").count().execute())


def customer_id_for(record_key: str) -> int | None:
    cmap = backend().table("customer_map")
    found = cmap.filter(cmap.record_key == record_key).customer_id.to_pyarrow().to_pylist()
    return found[0] if found else None


def customers_with_identifier(id_type: str, value: str, record_keys=()) -> list[int]:
    """The customers whose records carry this identifier value (an `id:<type>` identifier: openid, unionid,
    member_no…; its keyed hash, namespaced by type as imports store it), or are one of `record_keys`.
    Sorted; several when the graph keeps those records apart."""
    value = (value or "").strip()
    if not value:
        return []
    con = backend()
    ids = con.table("identifiers")
    ids = ids.filter((ids.id_type == id_type) & (ids.value_hash == pii.keyed_hash(f"{id_type}:{value}")))
    cmap = con.table("customer_map")
    keys = ids.select("record_key")
    found = set(cmap.semi_join(keys, "record_key").customer_id.to_pyarrow().to_pylist())
    if record_keys:
        found |= set(cmap.filter(cmap.record_key.isin(list(record_keys))).customer_id.to_pyarrow().to_pylist())
    return sorted(found)


def records_of(customer_id: int) -> list[dict]:
    """The customer's records (no PII beyond masks), oldest first."""
    con = backend()
    cmap = con.table("customer_map")
    records = con.table("records")
    mine = records.semi_join(cmap.filter(cmap.customer_id == customer_id), "record_key")
    mine = mine.select(
        "record_key",
        "source",
        "format",
        "record_kind",
        "record_id",
        "name_masked",
        "phone_masked",
        "email_masked",
        "province",
        "city",
        "store",
        "owner_staff",
        "seen_at",
        "imported_at",
    ).order_by(["seen_at", "record_key"])
    return mine.to_pyarrow().to_pylist()


def merge_history(customer_id: int) -> list[dict]:
    """merge_log rows that shaped this customer: ids merged into it (and, recursively, into those), and
    the merge that absorbed it if it was absorbed. Oldest first."""
    log = backend().table("merge_log")
    found: dict[tuple, dict] = {}

    def fetch(expr) -> list[dict]:
        rows = expr.to_pyarrow().to_pylist()
        for row in rows:
            found[(row["run_id"], row["survivor_id"], row["absorbed_id"])] = row
        return rows

    fetch(log.filter(log.absorbed_id == customer_id))
    wanted, frontier = {customer_id}, {customer_id}
    while frontier:  # one query per generation of merges
        rows = fetch(log.filter(log.survivor_id.isin(sorted(frontier))))
        frontier = {row["absorbed_id"] for row in rows} - wanted
        wanted |= frontier
    return sorted(
        found.values(), key=lambda r: (r["merged_at"], r["run_id"], r["survivor_id"], r["absorbed_id"])
    )


def quarantined() -> list[dict]:
    """Identifier values the cardinality guard keeps out of linking (hashes only)."""
    table = backend().table("quarantined_identifiers")
    return table.order_by(["id_type", "value_hash"]).to_pyarrow().to_pylist()


QUARANTINE_FIELDS = (
    "id_type", "value_hint", "records", "names", "sources", "rule", "rule_limit", "reason", "since", "example_record",
)  # fmt: skip


def quarantine_entries(table: pa.Table | None = None, limit: int | None = 100) -> list[dict]:
    """Quarantined values as a report lists them: masked, most records first (no hashes), times as ISO
    text. `table`: a run's quarantine (default: the one in force)."""
    if table is None:
        table = backend().table("quarantined_identifiers").to_pyarrow()
    rows = sorted(table.to_pylist(), key=lambda r: (-(r["records"] or 0), r["id_type"], r["value_hash"]))
    out = []
    for row in rows[:limit] if limit else rows:
        entry = {k: row.get(k) for k in QUARANTINE_FIELDS}
        entry["sources"] = [s for s in (entry["sources"] or "").split(",") if s]
        entry["since"] = entry["since"].isoformat() if entry["since"] is not None else None
        out.append(entry)
    return out


def quarantined_count() -> int:
    """How many identifier values the guard keeps out of linking now."""
    return int(backend().table("quarantined_identifiers").count().execute())


def quarantine_page(page: int = 1, page_size: int = 50) -> dict:
    """One page of the quarantine list (most records first) and the count of values in it."""
    table = backend().table("quarantined_identifiers")
    total = quarantined_count()
    ordered = page_of(table.order_by([ibis.desc("records"), "id_type", "value_hash"]), page_size, (page - 1) * page_size)
    items = quarantine_entries(ordered.to_pyarrow(), limit=None)
    examples = [i["example_record"] for i in items if i["example_record"]]
    cmap = backend().table("customer_map")
    found = cmap.filter(cmap.record_key.isin(examples)).to_pyarrow().to_pylist() if examples else []
    customer_of = {r["record_key"]: r["customer_id"] for r in found}
    for item in items:
        item["example_customer"] = customer_of.get(item["example_record"])
    return {"total": total, "page": page, "items": items}


def values_not_identifiers() -> list[dict]:
    """What imports left out of the identifiers, summed per source, column, type and reason (from the
    batches' reports: siyu.ingest.normalise.identifiers)."""
    batches = backend().table("import_batches")
    rows = batches.filter(batches.not_identifiers.notnull()).select("source", "not_identifiers").to_pyarrow()
    totals: dict[tuple, int] = defaultdict(int)
    for row in rows.to_pylist():
        for entry in json.loads(row["not_identifiers"]):
            totals[(row["source"], entry["column"], entry["id_type"], entry["reason"])] += entry["records"]
    return [
        {"source": k[0], "column": k[1], "id_type": k[2], "reason": k[3], "records": n}
        for k, n in sorted(totals.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1]))
    ]


def identities_expr() -> ibis.Table:
    """`source, record_id, customer_id`, one row per distinct source record, ordered."""
    con = backend()
    records = con.table("records")
    cmap = con.table("customer_map")
    joined = records.left_join(cmap, "record_key")
    rows = joined.select(
        source=joined.source, record_id=joined.record_id, customer_id=joined.customer_id
    ).distinct()
    return rows.order_by(["source", "record_id", "customer_id"])


def export_identities(path: str | Path) -> int:
    """Write `source,record_id,customer_id` to CSV or XLSX (by extension); returns the number of rows."""
    return write_export(identities_expr(), path)


def person_merges(customer_id: int) -> list[dict]:
    """The merges that shaped this customer, for the person's copy of their data (siyu.privacy.registry)."""
    return [{"merged_at": r["merged_at"], "survivor_id": r["survivor_id"], "absorbed_id": r["absorbed_id"],
             "rule": r["rule"], "evidence": r["evidence"], "run_id": r["run_id"]}
            for r in merge_history(int(customer_id))]  # fmt: skip
