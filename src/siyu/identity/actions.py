"""Identity resolution, deterministic stage: records that share a strong identifier are one customer.

The graph: every strong (record, id_type, value_hash) row of `identifiers` links its record to every other
record with the same (id_type, value_hash); a customer is a connected component. Masked phones and virtual
numbers are weak (`strong = false`) or absent, so they never link. Implementation (5M records / 8.5M
identifier rows in ~5 s on 2 cores): DuckDB numbers the records in age order and returns
(record number, 64-bit hash of the value, second hash) per identifier row; numpy sorts by value and chains
records sharing one; scipy's connected_components labels the records (siyu.identity.graph). Hashes only
code values within one run: two different values with equal first hashes are detected by the second hash
and the run falls back to exact string codes.

The guard (siyu.identity.guard). An identifier value is *quarantined* (listed in `quarantined_identifiers`
with its rule and reason, never used for linking) when the records carrying it cannot all be one person's:
too many distinct names on member-like records or on all records, too many records, a placeholder an older
import stored; and after the graph is built, a customer of too many names or values of one type is split at
the values that bridge it. Limits per identifier type in the setting `IDENTITY_GUARD`. The guard is
evaluated on all data at every full run; a value keeps the run_id (and time) of the run that first
quarantined it for as long as it stays quarantined.

Stable ids (siyu.identity.graph.assign_customer_ids). Every existing customer id has a *home*: the
component holding its oldest record. A component keeps the smallest id homed in it; the other ids homed
there are merged into it: one `merge_log` row each (survivor_id, absorbed_id, rule
`deterministic:<id_type>` naming the most specific identifier type that bridged the two clusters, evidence
JSON `{"shared_id_types": [...], "absorbed_records": n, "customer_records": n}`). Components without a
home id get new ids above every id the map or the merge log has ever held, in order of their oldest record
(earliest `seen_at`, then record_key; records without seen_at last). Splits: when a component falls apart
(an identifier got quarantined, a reviewer decided two records are different people), the id stays with
the part holding its oldest record; a part holding the oldest record of an id absorbed earlier takes that
id back (an undone merge restores the customer), other parts get new ids. Each split is a merge_log row
with rule `split` (survivor_id kept its id, absorbed_id took records); siyu.customers follows only the other
rows, each meaning "absorbed_id now lives on as survivor_id", to redirect old ids.

Probabilistic stage (siyu.identity.probabilistic): after the graph, Splink links the clusters that share no
strong identifier; merges it causes carry rule `probabilistic` and the match probability and field
comparisons as evidence; reviewers' decisions (`match_decisions`: `same` joins, `different` keeps apart)
are applied on every run, merges they cause carry rule `manual:decision`. Undecided pairs go to
`match_candidates`, the review queue.

Incremental runs (siyu.identity.incremental, the default after a first run): only the new records and the
customers they touch are resolved, with the model the last full run stored; `full=True` or a change the
incremental run cannot see (settings, decisions, removed records, a new quarantine) makes a full run.

Re-running on unchanged data changes nothing: no map, merge-log, quarantine or summary writes, only a new
`identity_runs` row.

On Spark (siyu.warehouse.engine() == "spark") the same steps run, with two of them in the engine: the
components are computed by siyu.warehouse.components.value_components over (record number,
id_type:value_hash) edges in a temporary table of the engine, and the driver receives one component label
per record (numbered as record_components numbers them) and the labels of the components with too many
distinct values to rule out of the giant split (_components_in_engine), never the identifier rows; the
probabilistic stage's features are computed by the executors (siyu.identity.spark_features), its model is
trained on the driver's private DuckDB from a sample of whole clusters (probabilistic.train_model), its
pairs are scored by Splink's Spark backend from the engine's features (probabilistic.predict_pairs_on_spark)
and stay a Spark DataFrame: the clusters are joined along them by the executors, per connected component
of the pairs (siyu.identity.spark_join: pair_components in the engine, join_clusters per component), and
the driver receives only the clusters that were joined, the links that joined them and the review rows
(_match_on_spark). Still in the driver on Spark: one label per record, id assignment and the merge log. On DuckDB everything stays as above: on one host the driver's graph is far faster than the engine's
rounds (docs/benchmarks.md, "Resolution on Spark").

All writes of a run happen in one warehouse transaction.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from dataclasses import replace as dataclass_replace
from datetime import UTC, datetime

import ibis
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from siyu.core.actions import record_audit
from siyu.core.errors import PermissionDenied
from siyu.core.progress import StepClock
from siyu.identity import queries
from siyu.identity.errors import IdentityError
from siyu.identity.evidence import AUTO_RULE, DECISION, MATCH, evidence_pattern, is_queued, rules_for_base
from siyu.identity.features import record_features, record_rows
from siyu.identity.graph import HashCollision, assign_customer_ids, record_components
from siyu.identity.guard import (
    GuardRule,
    crowded_components,
    linking_identifiers,
    quarantined_phone_records,
    split_giant_customers,
    values_limit,
)
from siyu.identity.guard import quarantine as find_quarantine
from siyu.identity.incremental import (
    IncrementalPlan,
    drop_temporary,
    hashed_keys,
    load_model,
    model_row,
    plan_incremental,
    settings_fingerprint,
    value_counts,
    without_values,
)
from siyu.identity.probabilistic import (
    HOUSEHOLD_RATE_KEY,
    MatchSettings,
    ProbabilisticResult,
    SplinkUntrainable,
    TrainedModel,
    blocking_keys,
    has_households,
    join_clusters,
    predict_new_pairs,
    predict_pairs,
    predict_pairs_on_spark,
    train_model,
)
from siyu.identity.spark_join import join_clusters_on_spark
from siyu.staff.queries import has_role
from siyu.warehouse import backend, engine, exclusive_writes, transaction, writer
from siyu.warehouse.append import replace_keyed
from siyu.warehouse.components import release_components, value_components
from siyu.warehouse.schema import TABLES, TS
from siyu.warehouse.summary import rebuild_customer_summary, refresh_customer_summary, string_hash

# The id type named in a merge's rule when several link the same clusters: the most specific first.
ID_TYPE_PRIORITY = (
    "unionid",
    "external_userid",
    "member_no",
    "phone",
    "email",
    "taobao_buyer",
    "alipay",
    "jd_account",
)

_STAGED_RECORDS = "_siyu_resolve_records"
_STAGED_EDGES = "_siyu_resolve_edges"
_MATCH_KEYS = "_siyu_resolve_match_keys"  # on Spark: the blocking keys computed by the executors
SAME, DIFFERENT = "same", "different"
_STEPS = 7


@dataclass
class ResolveReport:
    run_id: str
    records: int
    customers: int
    new_customers: int
    merges: int
    quarantined: int
    seconds: float
    splits: int = 0
    probabilistic: dict = field(default_factory=dict)
    cpu_seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    mode: str = "full"  # or "incremental"
    full_reason: str = ""  # why the run was not incremental
    compared_records: int = 0  # the records this run resolved (all of them in a full run)
    # customers whose summary an incremental run refreshed (None: all of them)
    refreshed_customers: list[int] | None = None
    # the quarantined values (masked), most records first (siyu.identity.queries.quarantine_entries)
    quarantined_identifiers: list[dict] = field(default_factory=list)
    # pairs of customers waiting for review, kept apart, and the record pairs behind them (review_counts)
    review: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        out = asdict(self)
        del out["refreshed_customers"]
        return out


class _FullRunNeeded(Exception):
    """An incremental run found what only a full run can settle (a giant customer to split)."""


def resolve_identities(
    progress=None,
    *,
    guard: GuardRule | None = None,
    match: MatchSettings | None = None,
    now: datetime | None = None,
    full: bool = False,
):
    """Resolve every record into a customer, keep ids stable, refresh customer_summary. Incremental
    (siyu.identity.incremental) unless `full` or the last run's state no longer holds."""
    try:
        return _resolve(progress, guard, match, now, full)
    except _FullRunNeeded as why:
        return _resolve(progress, guard, match, now, True, str(why))


def _resolve(progress, guard, match, now, full, full_reason: str = ""):
    started = time.monotonic()
    cpu_started = time.process_time()
    guard = guard or GuardRule.from_settings()
    match = match or MatchSettings.from_settings()
    now = now or datetime.now(UTC)
    run_id = f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    step = StepClock(progress, _STEPS)

    con = backend()
    try:
        # imports landing meanwhile (the API, in `siyu serve`) wait for this run, and it for a batch being
        # written: siyu.warehouse.connection.exclusive_writes
        with exclusive_writes(wait=3600), transaction():
            step(0, "reading records")
            if full:
                planned = full_reason or "a full run was asked for"
            else:
                planned = plan_incremental(con, guard, match, run_id)
            inc = planned if isinstance(planned, IncrementalPlan) else None
            reason = "" if inc else planned
            if inc is not None and inc.working is None:
                report = _nothing_new(con, inc, run_id, now, match)
            else:
                staged, n_records, hk_unique = _stage_records(con, inc.working if inc else None)

                step(1, "checking shared identifiers", "stage")
                quarantine = inc.quarantine if inc else find_quarantine(con, guard, run_id, now=now)

                step(2, "linking records", "guard")
                linking = _linking(con, quarantine, match)
                if engine() == "spark":
                    labels, crowded = _components_in_engine(con, staged, n_records, linking, values_limit(guard))
                else:
                    labels, links = _components(con, staged, n_records, hk_unique, linking)
                    crowded = crowded_components(labels, links, values_limit(guard))
                    del links
                labels, giants = split_giant_customers(con, staged, labels, crowded, linking, guard, run_id, now)
                if giants.num_rows:
                    if inc:
                        raise _FullRunNeeded("the new records made a customer too large: it is split")
                    quarantine = pa.concat_tables([quarantine, giants])
                old = _current_ids(staged, n_records)
                if inc:
                    labels = _keep_customers_whole(labels, old)

                step(3, "matching records without a shared identifier", "graph")
                if match.enabled:
                    new = (old < 0) if inc else None
                    # automatic rules only on a base no larger than the one they were measured on
                    base = inc.records if inc else n_records
                    rules = rules_for_base(match.auto_rules, base)
                    in_base = dataclass_replace(match, auto_rules=rules) if rules != match.auto_rules else match
                    matched = _match(con, staged, labels, in_base, inc.model if inc else None, new, quarantine)
                else:
                    matched = _apply_decisions(staged, labels, match)

                step(4, "assigning customer ids", "match")
                final = matched.labels if matched is not None else labels
                reclaim = {} if inc else _reclaimable(con, staged)
                plan = assign_customer_ids(final, old, _next_customer_id(con), reclaim)
                merges = _RunMerges(
                    merges=plan.merges,
                    staged=staged,
                    customer_id=plan.customer_id,
                    old=old,
                    labels=final,
                    det_labels=labels,
                    matched=matched,
                    run_id=run_id,
                    now=now,
                )
                merge_rows = _merge_rows(merges, strong=_linking(con, quarantine, match))
                merge_rows += _split_rows(plan, run_id, now)

                step(5, "writing the customer map", "assign")
                if merge_rows:
                    con.insert("merge_log", pa.Table.from_pylist(merge_rows, schema=_arrow("merge_log")))
                _write_match_state(con, staged, matched, guard, match, run_id, now, incremental=inc is not None)
                _write_links(con, staged, matched, run_id, now, incremental=inc is not None)
                if inc:
                    _update_customer_map(con, staged, plan.customer_id, old, now)
                    _update_candidates(con, staged, matched, plan.customer_id, run_id)
                else:
                    _write_customer_map(con, staged, plan.customer_id, old, now)
                    _write_quarantine(con, quarantine)
                    _write_candidates(con, staged, matched, plan.customer_id, run_id)

                step(6, "refreshing customer summary", "write")
                if inc:
                    absorbed = [a for _, a, _ in plan.merges]
                    touched = np.unique(np.concatenate([plan.customer_id, absorbed]).astype(np.int64))
                    changed = pa.concat_arrays([pa.array(touched), inc.changed_orders_customers.cast(pa.int64())])
                    refreshed = pc.unique(changed)
                    refresh_customer_summary(refreshed, now=now)
                    customers = int(con.table("customer_summary").count().execute())
                else:
                    customers = rebuild_customer_summary(now=now, in_transaction=True)
                step.finish("summary")

                report = ResolveReport(
                    run_id=run_id,
                    records=inc.records if inc else n_records,
                    customers=customers,
                    new_customers=plan.new_ids,
                    merges=len(plan.merges),
                    quarantined=quarantine.num_rows,
                    seconds=0.0,
                    splits=len(plan.splits),
                    probabilistic=_match_report(matched, match),
                    timings=step.timings,
                    mode="incremental" if inc else "full",
                    full_reason=reason,
                    compared_records=n_records,
                    refreshed_customers=refreshed.to_pylist() if inc else None,
                    quarantined_identifiers=queries.quarantine_entries(quarantine),
                    review=queries.review_counts(),
                )
            run_row = {
                "run_id": run_id,
                "started_at": now,
                "finished_at": datetime.now(UTC),
                "records": report.records,
                "customers": report.customers,
                "new_customers": report.new_customers,
                "merges": report.merges,
                "quarantined": report.quarantined,
                "mode": report.mode,
            }
            con.insert("identity_runs", pa.Table.from_pylist([run_row], schema=_arrow("identity_runs")))
    finally:
        con.drop_table(_STAGED_RECORDS, force=True)
        if engine() == "spark":
            con.drop_table(_MATCH_KEYS, force=True)
        drop_temporary(con)
    report.seconds = round(time.monotonic() - started, 3)
    report.cpu_seconds = round(time.process_time() - cpu_started, 3)
    if progress is not None:
        progress(_STEPS, _STEPS, f"{report.customers} customers")
    return report


def _nothing_new(con, inc: IncrementalPlan, run_id: str, now, match: MatchSettings) -> ResolveReport:
    """No new record: only the summary rows of customers whose orders an import changed."""
    refreshed = inc.changed_orders_customers
    if len(refreshed):
        refresh_customer_summary(refreshed, now=now)
    return ResolveReport(
        run_id=run_id,
        records=inc.records,
        customers=int(con.table("customer_summary").count().execute()),
        new_customers=0,
        merges=0,
        quarantined=inc.quarantine.num_rows,
        seconds=0.0,
        probabilistic=_match_report(None, match),
        mode="incremental",
        compared_records=0,
        refreshed_customers=refreshed.to_pylist(),
        quarantined_identifiers=queries.quarantine_entries(inc.quarantine),
        review=queries.review_counts(),
    )


# --- steps ---------------------------------------------------------------------------------------


def _arrow(table: str) -> pa.Schema:
    return TABLES[table].to_pyarrow()


def _stage_records(con, working: ibis.Table | None = None) -> tuple[ibis.Table, int, bool]:
    """One row per record_key (of the `working` set when given), numbered in age order (rid), with a 64-bit
    hash of the key (hk) and its current customer id. Returns (table, records, hk_is_unique)."""
    records = con.table("records")
    rows = records.filter(records.record_key.notnull()).select("record_key", "seen_at")
    if working is not None:
        rows = rows.semi_join(working, "record_key")
    staged = _number_records(con, rows)
    counts = staged.aggregate(n=staged.count(), keys=staged.hk.nunique()).to_pyarrow().to_pylist()[0]
    if counts["keys"] != counts["n"]:
        distinct = int(rows.record_key.nunique().execute())
        if distinct != counts["n"]:  # the importer wrote a record twice: keep its earliest sighting
            rows = rows.group_by("record_key").aggregate(seen_at=rows.seen_at.min())
            staged = _number_records(con, rows)
            counts = staged.aggregate(n=staged.count(), keys=staged.hk.nunique()).to_pyarrow().to_pylist()[0]
    return staged, int(counts["n"]), counts["keys"] == counts["n"]


def _number_records(con, rows: ibis.Table) -> ibis.Table:
    cmap = con.table("customer_map")
    numbered = rows.mutate(
        rid=ibis.row_number().over(order_by=[rows.seen_at.isnull(), rows.seen_at, rows.record_key]),
        hk=string_hash(con, rows.record_key),
    )
    staged = numbered.left_join(cmap, "record_key").select(
        rid=numbered.rid,
        record_key=numbered.record_key,
        hk=numbered.hk,
        old_cid=cmap.customer_id,
        old_resolved_at=cmap.resolved_at,
    )
    con.drop_table(_STAGED_RECORDS, force=True)
    return con.create_table(_STAGED_RECORDS, staged, temp=True)


def _linking(con, quarantine: pa.Table, match: MatchSettings) -> ibis.Table:
    """The identifier rows that link records: not quarantined, and not of a type the probabilistic stage
    weighs instead (MatchSettings.weighed_ids)."""
    strong = linking_identifiers(con, quarantine)
    if match.weighed_ids:
        strong = strong.filter(~strong.id_type.isin(match.weighed_ids))
    return strong


def _components(con, staged: ibis.Table, n_records: int, hk_unique: bool, strong: ibis.Table):
    """Component label per record, linked by the `strong` identifier rows (_linking). Fast path: records
    joined by a 64-bit hash of record_key (exact when the hashes of all record keys are distinct, which
    _stage_records checked) and values coded by a 64-bit hash, verified by a second hash; any value
    collision reruns with exact (string) codes."""
    if hk_unique:
        hashed = strong.select(
            hk=string_hash(con, strong.record_key),
            h1=string_hash(con, strong.id_type + ":" + strong.value_hash),
            h2=string_hash(con, strong.value_hash + "|" + strong.id_type),
        )
        hashed = hashed.view()  # close the anti-join chain before joining on a computed column
        numbered = staged.select(staged_hk=staged.hk, rid=staged.rid)
        linked = hashed.join(numbered, hashed.hk == numbered.staged_hk).select(
            rid=numbered.rid.cast("int32"), h1=hashed.h1, h2=hashed.h2
        )
        arrow = linked.to_pyarrow()
        rid, h1 = arrow.column("rid").to_numpy(), arrow.column("h1").to_numpy()
        try:
            return record_components(n_records, rid, h1, check=arrow.column("h2").to_numpy()), (rid, h1)
        except HashCollision:
            pass
        finally:
            del arrow
    linked = strong.join(staged.select("record_key", "rid"), "record_key")
    values = linked.select("id_type", "value_hash").distinct()
    values = values.mutate(vid=ibis.row_number())
    edges = linked.join(values, ["id_type", "value_hash"]).select(
        rid=linked.rid.cast("int32"), vid=values.vid.cast("int64")
    )
    arrow = edges.to_pyarrow()
    rid, vid = arrow.column("rid").to_numpy(), arrow.column("vid").to_numpy()
    return record_components(n_records, rid, vid), (rid, vid)


def _components_in_engine(
    con, staged: ibis.Table, n_records: int, strong: ibis.Table, limit: int
) -> tuple[np.ndarray, np.ndarray]:
    """_components computed where the identifiers are (siyu.warehouse.components.value_components, on
    Spark): the driver receives one component label per record, numbered as record_components numbers
    them (in order of each component's oldest record), and the labels of the components whose records
    carry more than `limit` distinct linking values (siyu.identity.guard.crowded_components, counted in
    the engine), instead of every identifier row."""
    linked = strong.join(staged.select("record_key", "rid"), "record_key")
    edges = linked.select(rid=linked.rid, value=linked.id_type + ":" + linked.value_hash)
    edges = con.create_table(_STAGED_EDGES, edges, temp=True, overwrite=True)
    comps = None
    try:
        comps = value_components(edges, record="rid", value="value")
        found = comps.to_pyarrow()
        joined = edges.join(comps, edges.rid == comps.record)
        counted = joined.group_by(joined.component).aggregate(n=joined.value.nunique())
        crowded = counted.filter(counted.n > limit).select("component").to_pyarrow()
    finally:
        if comps is not None:
            release_components(comps)
        con.drop_table(_STAGED_EDGES, force=True)
    smallest = np.arange(n_records, dtype=np.int64)  # a record without a linking value: alone
    smallest[found.column("record").to_numpy()] = found.column("component").to_numpy()
    _, labels = np.unique(smallest, return_inverse=True)
    labels = labels.astype(np.int64, copy=False)
    return labels, np.unique(labels[crowded.column("component").to_numpy().astype(np.int64)])


def _current_ids(staged: ibis.Table, n_records: int) -> np.ndarray:
    mapped = staged.filter(staged.old_cid.notnull()).select("rid", "old_cid").to_pyarrow()
    old = np.full(n_records, -1, dtype=np.int64)
    old[mapped.column("rid").to_numpy()] = mapped.column("old_cid").to_numpy()
    return old


def _next_customer_id(con) -> int:
    """Above every id ever handed out that the warehouse still remembers (map and merge log)."""
    cmap = con.table("customer_map")
    log = con.table("merge_log")
    highest = [
        cmap.customer_id.max().execute(),
        log.survivor_id.max().execute(),
        log.absorbed_id.max().execute(),
    ]
    return max([int(h) for h in highest if h is not None and not _is_nan(h)], default=0) + 1


def _is_nan(value) -> bool:
    return isinstance(value, float) and value != value


@dataclass(eq=False)
class _RunMerges:
    """What a run's merge_log rows are written from (_merge_rows): the ids it merged and its records."""

    # (survivor id, absorbed id, component) of siyu.identity.graph.Assignment
    merges: list[tuple[int, int, int]]
    staged: ibis.Table  # the run's records: rid (record number, in age order) and record_key
    customer_id: np.ndarray  # per record: its customer id after the run
    old: np.ndarray  # per record: its customer id before the run (-1: a new record)
    labels: np.ndarray  # per record: its final component
    det_labels: np.ndarray  # per record: its component by shared identifiers alone
    matched: ProbabilisticResult | None  # the probabilistic stage's joins (None: it did not run)
    run_id: str
    now: datetime


def _merge_rows(run: _RunMerges, *, strong: ibis.Table) -> list[dict]:
    """merge_log rows, one per absorbed id, naming the identifier types that bridged the clusters, or the
    probabilistic link (its match probability and field comparisons) or reviewer decision that did."""
    if not run.merges:
        return []
    id_types = _shared_id_types(run, _bridging_id_types(run, strong))
    links = _joining_links(run)
    evidence = _merge_evidence(run, id_types, links)
    return [
        {
            "run_id": run.run_id,
            "merged_at": run.now,
            "survivor_id": survivor,
            "absorbed_id": absorbed,
            "rule": _merge_rule(types, link),
            "evidence": json.dumps(ev, sort_keys=True),
        }
        for (survivor, absorbed, _), types, link, ev in zip(
            run.merges, id_types, links, evidence, strict=True
        )
    ]


def _bridging_id_types(run: _RunMerges, strong: ibis.Table) -> dict[int, set[str]]:
    """Existing customer id -> the types of its identifier values that bridge: values whose records belong
    to more than one existing cluster (a new record counts as a cluster of its own), in the merged
    components."""
    comps = np.unique([c for _, _, c in run.merges])
    rids = np.flatnonzero(np.isin(run.labels, comps)).astype(np.int64)
    wanted = _staged_rows(run.staged, rids)
    links = strong.join(wanted, "record_key").select("rid", "id_type", "value_hash").to_pyarrow()
    link_rid = links.column("rid").to_numpy()
    cluster = np.where(run.old[link_rid] >= 0, run.old[link_rid], -(link_rid + 1))
    groups: dict[tuple[str, str], set[int]] = defaultdict(set)
    for member, id_type, value in zip(
        cluster.tolist(),
        links.column("id_type").to_pylist(),
        links.column("value_hash").to_pylist(),
        strict=True,
    ):
        groups[(id_type, value)].add(member)
    types_by_id: dict[int, set[str]] = defaultdict(set)
    for (id_type, _), members in groups.items():
        if len(members) > 1:
            for member in members:
                if member >= 0:
                    types_by_id[member].add(id_type)
    return types_by_id


def _shared_id_types(run: _RunMerges, bridging: dict[int, set[str]]) -> list[list[str]]:
    """Per merge, the identifier types that bridged it, the most specific first: the absorbed id's, else
    those of every id its survivor absorbed (a cluster reached through another one)."""
    by_survivor: dict[int, set[str]] = defaultdict(set)
    for survivor, absorbed, _ in run.merges:
        by_survivor[survivor] |= bridging.get(absorbed, set())
    return [
        sorted(bridging.get(absorbed) or by_survivor[survivor], key=_type_rank)
        for survivor, absorbed, _ in run.merges
    ]


def _joining_links(run: _RunMerges) -> list[dict | None]:
    """Per merge, the probabilistic link or reviewer decision that joined the two ids (their oldest records
    lie in different components by shared identifiers; {} when the link is not known), None where shared
    identifiers did."""
    det_home = _home_labels(run.old, run.det_labels) if run.matched is not None else {}
    links: list[dict | None] = []
    for survivor, absorbed, _ in run.merges:
        home_a, home_s = det_home.get(absorbed), det_home.get(survivor)
        if home_a == home_s:
            links.append(None)
        else:
            links.append(run.matched.merges.get(home_a) or run.matched.merges.get(home_s) or {})
    return links


def _merge_evidence(run: _RunMerges, id_types: list[list[str]], links: list[dict | None]) -> list[dict]:
    """Per merge, its evidence: the identifier types shared, the records on each side, the oldest record of
    each id (what undoing the merge keeps apart: siyu.identity.actions.undo_merge) and, for a link, its
    match probability and field comparisons."""
    sizes = _counts(run.customer_id)
    old_sizes = _counts(run.old[run.old >= 0])
    oldest = _oldest_records(run.staged, run.old, {i for m in run.merges for i in m[:2]})
    out = []
    for (survivor, absorbed, _), types, link in zip(run.merges, id_types, links, strict=True):
        evidence = {
            "shared_id_types": types,
            "absorbed_records": old_sizes[absorbed],
            "customer_records": sizes[survivor],
            "survivor_record": oldest.get(survivor),
            "absorbed_record": oldest.get(absorbed),
        }
        if link is not None:
            evidence.update({k: v for k, v in link.items() if k in ("match_probability", "fields")})
        out.append(evidence)
    return out


def _merge_rule(id_types: list[str], link: dict | None) -> str:
    if link is None:
        return "deterministic:" + (id_types[0] if id_types else "unknown")
    return "manual:decision" if link.get("forced") else "probabilistic"


def _counts(ids: np.ndarray) -> dict[int, int]:
    """How many records each id has."""
    return dict(zip(*(a.tolist() for a in np.unique(ids, return_counts=True)), strict=True))


def _staged_rows(staged, rids: np.ndarray) -> ibis.Table:
    """(rid, record_key) of the given record numbers."""
    rids = np.asarray(rids, dtype=np.int64)
    return staged.semi_join(ibis.memtable(pa.table({"rid": rids})), "rid").select("rid", "record_key")


def _first_records(old: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(existing customer ids, the record number of each one's oldest record): records are in age order."""
    rids = np.flatnonzero(old >= 0)
    ids, first = np.unique(old[rids], return_index=True)
    return ids, rids[first]


def _oldest_records(staged, old: np.ndarray, ids: set[int]) -> dict[int, str]:
    """Customer id -> record_key of its oldest record, for the given existing ids."""
    all_ids, first = _first_records(old)
    wanted = np.isin(all_ids, np.fromiter(ids, dtype=np.int64, count=len(ids)))
    pick = dict(zip(first[wanted].tolist(), all_ids[wanted].tolist(), strict=True))
    if not pick:
        return {}
    found = _staged_rows(staged, np.array(list(pick))).to_pyarrow().to_pylist()
    return {pick[r["rid"]]: r["record_key"] for r in found}


def _reclaimable(con, staged) -> dict[int, int]:
    """Record number -> absorbed id, for the oldest record of every id a merge absorbed (latest merge of
    each id): the id comes back when that record's component stands alone again (an undone merge)."""
    log = con.table("merge_log")
    merges = log.filter(~log.rule.startswith("split"))
    latest = merges.mutate(
        n=ibis.row_number().over(group_by="absorbed_id", order_by=ibis.desc(merges.merged_at))
    )
    latest = latest.filter(latest.n == 0)
    record = latest.evidence.cast("json")["absorbed_record"].unwrap_as("string")
    rows = latest.select(absorbed_id=latest.absorbed_id, record_key=record)
    rows = rows.filter(rows.record_key.notnull())
    found = rows.join(staged.select("record_key", "rid"), "record_key").select("rid", "absorbed_id")
    return {r["rid"]: r["absorbed_id"] for r in found.to_pyarrow().to_pylist()}


def _split_rows(plan, run_id: str, now) -> list[dict]:
    """A merge_log row per split: `survivor_id` kept its id, records moved to `absorbed_id` (rule
    `split`, siyu.customers never follows these rows to redirect an id)."""
    return [
        {
            "run_id": run_id,
            "merged_at": now,
            "survivor_id": old_id,
            "absorbed_id": new_id,
            "rule": "split",
            "evidence": json.dumps({"records_moved": n}),
        }
        for old_id, new_id, n in plan.splits
    ]


def _home_labels(old: np.ndarray, det_labels: np.ndarray) -> dict[int, int]:
    """Each existing customer id -> the deterministic component of its oldest record."""
    ids, first = _first_records(old)
    return dict(zip(ids.tolist(), det_labels[first].tolist(), strict=True))


def _type_rank(id_type: str) -> tuple[int, str]:
    try:
        return (ID_TYPE_PRIORITY.index(id_type), id_type)
    except ValueError:
        return (len(ID_TYPE_PRIORITY), id_type)


def _match(
    con,
    staged: ibis.Table,
    labels: np.ndarray,
    match: MatchSettings,
    model: TrainedModel | None = None,
    new: np.ndarray | None = None,
    quarantine: pa.Table | None = None,
) -> ProbabilisticResult:
    """The probabilistic stage (siyu.identity.probabilistic) over every record that has something to
    compare, with the reviewers' decisions applied. With a stored `model` (an incremental run) only pairs
    with a `new` record are scored, else a model is trained on these records. The result carries the
    blocking keys of the compared rows (only the new ones in an incremental run) to store. A record whose
    phone is quarantined is compared without it."""
    if engine() == "spark":
        return _match_on_spark(con, staged, labels, match, model, new, quarantine)
    shared = quarantined_phone_records(con, staged, quarantine) if quarantine is not None else None
    rows = _without_shared_phones(record_rows(con, staged), shared)
    decisions = queries.decisions_in_force()
    labelled_keys, rid_of_label = _labelled_keys(staged, match, model, decisions)
    representatives = dict.fromkeys(rid_of_label.values()) if labelled_keys else None
    features = record_features(rows, labels, match.compare, representatives, new)
    keys = blocking_keys(features.filter(pl.col("is_new")) if new is not None else features, match)
    labelled = _labelled_table(labelled_keys, rid_of_label, representatives) if labelled_keys else None
    if features.get_column("cluster").n_unique() < 2 and not decisions:
        return ProbabilisticResult(labels=labels, model=model, keys=keys)
    forced, forbidden, decided_pairs = _decided_clusters(staged, labels, decisions)
    started = time.monotonic()
    pairs = None
    if model is not None:
        if features.get_column("is_new").any():
            pairs = predict_new_pairs(features, model, match)
    else:
        try:
            pairs, model = predict_pairs(_with_training_clusters(features, forced), match, labelled)
        except SplinkUntrainable:
            pass
    result = join_clusters(labels, features, pairs, match, forced, forbidden, has_households(model))
    result.model, result.keys, result.decided_pairs = model, keys, decided_pairs
    result.seconds = round(time.monotonic() - started, 3)
    return result


# On Spark the model is trained on the driver from about this many feature rows of whole clusters (all of
# them when there are fewer): at 300,000 people (777,000 rows) the driver's features took 1.8 GB and
# Splink's training fitted its 3 GB DuckDB limit, while u needs only ~2,000 rows (2M sampled pairs) and m
# the pairs inside clusters, of which 500,000 rows hold hundreds of thousands (docs/benchmarks.md,
# "Resolution on Spark").
TRAINING_SAMPLE_ROWS = 500_000


def _match_on_spark(
    con,
    staged: ibis.Table,
    labels: np.ndarray,
    match: MatchSettings,
    model: TrainedModel | None = None,
    new: np.ndarray | None = None,
    quarantine: pa.Table | None = None,
) -> ProbabilisticResult:
    """_match with the features computed on Spark's executors (siyu.identity.spark_features), never all
    collected: the driver trains on a sample of whole clusters (TRAINING_SAMPLE_ROWS), Splink's Spark
    backend scores the pairs from the engine's features, and join_clusters gets only the rows of the
    clusters the scored pairs and the decisions touch (and the rows at their places, which the
    shared-evidence threshold reads). The blocking keys to store are hashed by the executors and stay in
    the engine (a temporary table, _MATCH_KEYS)."""
    from siyu.identity.spark_features import EngineFeatures

    shared = quarantined_phone_records(con, staged, quarantine) if quarantine is not None else None
    decisions = queries.decisions_in_force()
    labelled_keys, rid_of_label = _labelled_keys(staged, match, model, decisions)
    features = EngineFeatures.compute(con, staged, labels, match.compare, new, shared)
    try:
        # checkpointed: cut from the features' lineage, so that releasing them does not recompute the keys
        keys_frame = features.hashed_keys(match, new_only=new is not None).localCheckpoint(eager=True)
        keys = con.create_table(_MATCH_KEYS, keys_frame, temp=True, overwrite=True)
        if not features.clusters_at_least(2) and not decisions:
            return ProbabilisticResult(labels=labels, model=model, keys=keys)
        forced, forbidden, decided_pairs = _decided_clusters(staged, labels, decisions)
        started = time.monotonic()
        pairs = None
        # the join in the engine reads a pair's component only; the shared-evidence threshold reads the
        # rows at its place too, so with it the pairs come to the driver's join (siyu.identity.spark_join)
        in_engine = match.shared_evidence_threshold is None
        if model is not None:
            if features.any_new():
                pairs = predict_pairs_on_spark(features, model, match, new_only=True, as_frame=in_engine)
        else:
            keep = {int(c) for pair in forced for c in pair}
            labelled = None
            if labelled_keys:
                keep |= {int(labels[rid]) for rid in rid_of_label.values()}
                labelled = _labelled_pairs(con, staged, labels, match, labelled_keys, rid_of_label, shared)
            sample = features.training_sample(TRAINING_SAMPLE_ROWS, keep)
            training = _with_training_clusters(sample, forced)
            try:  # trained on the driver's DuckDB, scored by Splink's Spark backend
                model = train_model(training, match, labelled)
                pairs = predict_pairs_on_spark(features, model, match, as_frame=in_engine)
            except SplinkUntrainable:
                pass
        filled = features.filled_columns()
        if in_engine and pairs is not None:
            try:
                result = join_clusters_on_spark(
                    con, pairs, features, labels, match, forced, forbidden, has_households(model), filled
                )
            finally:
                pairs.unpersist()
        else:
            result = _join_in_driver(labels, features, pairs, match, forced, forbidden, model, filled)
    finally:
        features.release()
    result.model, result.keys, result.decided_pairs = model, keys, decided_pairs
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _join_in_driver(labels, features, pairs, match, forced, forbidden, model, filled) -> ProbabilisticResult:
    """join_clusters in the driver from the rows of the clusters the collected `pairs` (or, without pairs,
    the decisions) touch."""
    touched = [np.array([c for pair in (*forced, *forbidden) for c in pair], dtype=np.int64)]
    places_of = None
    if pairs is not None and pairs.num_rows:
        touched += [pairs.column(c).to_numpy() for c in ("cluster_l", "cluster_r")]
        if match.shared_evidence_threshold is not None:
            places_of = pairs.column("unique_id_l").to_numpy()
    subset = features.rows_of_clusters(np.concatenate(touched), places_of)
    return join_clusters(labels, subset, pairs, match, forced, forbidden, has_households(model), filled)


def _labelled_keys(staged, match: MatchSettings, model, decisions) -> tuple[list, dict[str, int]]:
    """The labelled record-key pairs a full run trains with (the labels file, and then the reviewers'
    `same` decisions too), and the rid of each record they name."""
    labelled_keys = _read_labels(match.labels) if match.labels and model is None else []
    if labelled_keys:
        labelled_keys += [(a, b) for a, b, verdict in decisions if verdict == SAME]
    return labelled_keys, _rids_of(staged, {k for pair in labelled_keys for k in pair})


def _labelled_pairs(con, staged, labels, match, labelled_keys, rid_of_label, shared) -> pa.Table:
    """The labelled record pairs as pairs of feature rows (unique ids), from the features the driver
    computes of the labelled records' clusters only (a cluster's rows decide which row stands for a
    record)."""
    clusters = np.unique(np.array([labels[rid] for rid in rid_of_label.values()], dtype=np.int64))
    rids = np.flatnonzero(np.isin(labels, clusters))
    rows = _without_shared_phones(record_rows(con, _staged_rows(staged, rids)), shared)
    representatives = dict.fromkeys(rid_of_label.values())
    record_features(rows, labels, match.compare, representatives)
    return _labelled_table(labelled_keys, rid_of_label, representatives)


def _without_shared_phones(rows: pa.Table, shared) -> pa.Table:
    """The records' rows with no phone on the records whose phone is quarantined (`shared`, their rids)."""
    if shared is None or not len(shared):
        return rows
    at = rows.schema.get_field_index("phone_kind")
    unshared = pc.invert(pc.is_in(rows.column("rid"), value_set=pa.array(shared)))
    return rows.set_column(at, "phone_kind", pc.if_else(unshared, rows.column("phone_kind"), None))


def _labelled_table(labelled_keys, rid_of_label: dict[str, int], representatives: dict) -> pa.Table:
    """The labelled record pairs as Splink's labels: pairs of the feature rows (unique ids) standing for
    their records (record_features fills `representatives`)."""
    uid = {key: representatives.get(rid) for key, rid in rid_of_label.items()}
    known = [(uid.get(a), uid.get(b)) for a, b in labelled_keys]
    known = [(a, b) for a, b in known if a is not None and b is not None and a != b]
    return pa.table(
        {
            "source_dataset_l": ["records"] * len(known), "unique_id_l": [a for a, _ in known],
            "source_dataset_r": ["records"] * len(known), "unique_id_r": [b for _, b in known],
        }
    )  # fmt: skip


def _decided_clusters(staged, labels: np.ndarray, decisions):
    """The clusters reviewers' decisions join (`same`) and keep apart (`different`), and the record keys
    of the decision behind each joined pair of clusters."""
    rid_of = _rids_of(staged, {k for a, b, _ in decisions for k in (a, b)})
    forced, forbidden, keys = [], set(), {}
    for a, b, verdict in decisions:
        if a in rid_of and b in rid_of:
            pair = (int(labels[rid_of[a]]), int(labels[rid_of[b]]))
            if verdict == SAME:
                forced.append(pair)
                keys.setdefault(pair, (a, b))
            else:
                forbidden.add((min(pair), max(pair)))
    return forced, forbidden, keys


def _with_training_clusters(features: pl.DataFrame, forced: list[tuple[int, int]]) -> pl.DataFrame:
    """The features with `train_cluster`: the deterministic clusters joined along the reviewers' `same`
    decisions, so that every decided pair teaches the model what a match looks like (m is learnt from
    the pairs inside a label; siyu.identity.probabilistic.predict_pairs)."""
    if not forced:
        return features
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for a, b in forced:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    clusters = features.get_column("cluster").unique().to_list()
    roots = {c: find(c) for c in clusters}
    return features.with_columns(train_cluster=pl.col("cluster").replace_strict(roots, return_dtype=pl.Int64))


def _apply_decisions(staged, labels: np.ndarray, match: MatchSettings) -> ProbabilisticResult | None:
    """Without the probabilistic stage the reviewers' decisions still apply (manual merges, splits, undos)."""
    decisions = queries.decisions_in_force()
    if not decisions:
        return None
    forced, forbidden, decided_pairs = _decided_clusters(staged, labels, decisions)
    empty = pl.DataFrame({"cluster": []}, schema={"cluster": pl.Int64})
    result = join_clusters(labels, empty, None, match, forced, forbidden)
    result.decided_pairs = decided_pairs
    return result


def _rids_of(staged, keys: set[str]) -> dict[str, int]:
    if not keys:
        return {}
    found = staged.filter(staged.record_key.isin(sorted(keys))).select("record_key", "rid").to_pyarrow()
    return {r["record_key"]: r["rid"] for r in found.to_pylist()}


def _read_labels(path: str) -> list[tuple[str, str]]:
    """Pairs of record keys from a CSV with columns record_key_a,record_key_b or
    source_a,record_id_a,source_b,record_id_b (every row: the two records are one person)."""
    import polars as pl


    try:
        frame = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise IdentityError(f"cannot read the labels file {path}: {exc}") from exc
    if {"record_key_a", "record_key_b"} <= set(frame.columns):
        a, b = frame.get_column("record_key_a"), frame.get_column("record_key_b")
    elif {"source_a", "record_id_a", "source_b", "record_id_b"} <= set(frame.columns):
        a = frame.select(pl.col("source_a") + "|" + pl.col("record_id_a")).to_series()
        b = frame.select(pl.col("source_b") + "|" + pl.col("record_id_b")).to_series()
    else:
        raise IdentityError(
            "the labels file needs the columns record_key_a,record_key_b or source_a,record_id_a,source_b,record_id_b"
        )
    return [(x, y) for x, y in zip(a.to_list(), b.to_list(), strict=True) if x and y]


def _match_report(matched: ProbabilisticResult | None, match: MatchSettings) -> dict:
    if matched is None:
        return {"enabled": match.enabled, "ran": False}
    return {
        "enabled": match.enabled,
        "ran": matched.model is not None,
        "match_threshold": match.match_threshold,
        "review_threshold": match.review_threshold,
        "shared_evidence_threshold": match.shared_evidence_threshold,
        "pairs_scored": matched.pairs_scored,
        "links": matched.links_above_threshold,
        "clusters_joined": len(matched.merges),
        "blocked_by_guard": matched.blocked_by_guard,
        "ambiguous": matched.ambiguous,
        "held_at_household_places": matched.household_places,
        "auto_linked": matched.auto_linked,
        "to_review": len(matched.review),
        "seconds": matched.seconds,
        # generic data only: the share of same-surname pairs at one address with other first names
        "household_rate": (matched.model.settings.get(HOUSEHOLD_RATE_KEY) if matched.model else None),
    }


def _candidate_rows(
    staged, matched: ProbabilisticResult | None, customer_id: np.ndarray, run_id: str
) -> pa.Table:
    """This run's undecided pairs, each with its evidence pattern and whether it waits for a reviewer
    (siyu.identity.evidence: a pair whose only agreement is what a household shares is kept apart).
    Left out: pairs already decided, pairs now in one customer, and pairs between two customers a
    `different` decision keeps apart (deciding them would change nothing)."""
    schema = _arrow("match_candidates")
    review = matched.review if matched is not None else []
    if not review:
        return schema.empty_table()
    rids = np.array(sorted({r[k] for r in review for k in ("unique_id_l", "unique_id_r")}), dtype=np.int64)
    key_of = {r["rid"]: r["record_key"] for r in _staged_rows(staged, rids).to_pyarrow().to_pylist()}
    decisions = queries.decisions_in_force()
    decided = {(a, b) for a, b, _ in decisions}
    # customers a `different` decision keeps apart: any other pair of their records is decided too
    rid_of = _rids_of(staged, {k for a, b, verdict in decisions if verdict == DIFFERENT for k in (a, b)})
    apart = {
        frozenset((int(customer_id[rid_of[a]]), int(customer_id[rid_of[b]])))
        for a, b, verdict in decisions
        if verdict == DIFFERENT and a in rid_of and b in rid_of
    }
    rows = []
    for r in review:
        a, b = sorted((key_of[r["unique_id_l"]], key_of[r["unique_id_r"]]))
        cid_a, cid_b = int(customer_id[r["unique_id_l"]]), int(customer_id[r["unique_id_r"]])
        if (a, b) in decided or cid_a == cid_b or frozenset((cid_a, cid_b)) in apart:
            continue
        pattern = evidence_pattern(r["fields"], r["reason"])
        rows.append(
            {
                "run_id": run_id,
                "record_key_l": a,
                "record_key_r": b,
                "customer_id_l": cid_a if a == key_of[r["unique_id_l"]] else cid_b,
                "customer_id_r": cid_b if a == key_of[r["unique_id_l"]] else cid_a,
                "match_probability": float(r["match_probability"]),
                "fields": json.dumps(r["fields"], sort_keys=True),
                "reason": r["reason"],
                "pattern": pattern,
                "queued": is_queued(pattern),
            }
        )
    return pa.Table.from_pylist(rows, schema=schema)


def _link_rows(staged, matched: ProbabilisticResult | None, run_id: str, now) -> pa.Table:
    """The joins this run made between deterministic clusters, as record pairs with their evidence:
    a scored link (its match probability and the level of each compared field), a link an automatic rule
    made, or a reviewer's `same` decision. What a profile shows for the records no identifier joins."""
    schema = _arrow("match_links")
    if matched is None or not matched.links:
        return schema.empty_table()
    rids = {uid for _, _, link in matched.links if "pair" in link for uid in link["pair"]}
    key_of = {}
    if rids:
        found = _staged_rows(staged, np.array(sorted(rids), dtype=np.int64)).to_pyarrow().to_pylist()
        key_of = {r["rid"]: r["record_key"] for r in found}
    rows = []
    for a, b, link in matched.links:
        if link.get("forced"):
            keys = matched.decided_pairs.get((a, b))
            how, rule, probability, fields = DECISION, None, None, None
        else:
            keys = tuple(key_of.get(uid) for uid in link["pair"])
            how = AUTO_RULE if link.get("auto_rule") else MATCH
            rule, probability, fields = link.get("auto_rule"), link["match_probability"], link["fields"]
        if not keys or None in keys:
            continue
        left, right = sorted(keys)
        rows.append(
            {
                "run_id": run_id,
                "linked_at": now,
                "record_key_l": left,
                "record_key_r": right,
                "how": how,
                "rule": rule,
                "match_probability": probability,
                "fields": json.dumps(fields, sort_keys=True) if fields is not None else None,
            }
        )
    return pa.Table.from_pylist(rows, schema=schema)


def _write_links(con, staged, matched, run_id: str, now, incremental: bool) -> None:
    """A full run replaces match_links (unless it made the same links again), an incremental run adds its
    own: the links between records of existing customers stay as the run that made them stored them."""
    table = _link_rows(staged, matched, run_id, now)
    if incremental:
        if table.num_rows:
            con.insert("match_links", table)
        return

    cols = ["record_key_l", "record_key_r", "how", "rule", "match_probability", "fields"]
    old = con.table("match_links").select(*cols)
    new = ibis.memtable(table).select(*cols)
    same = int(old.count().execute()) == table.num_rows and not int(new.difference(old).count().execute())
    if not same:
        con.insert("match_links", table, overwrite=True)


def _write_candidates(con, staged, matched, customer_id: np.ndarray, run_id: str) -> None:
    """Replace the review queue with this run's undecided pairs."""
    table = _candidate_rows(staged, matched, customer_id, run_id)
    if con.table("match_candidates").count().execute() or table.num_rows:
        con.insert("match_candidates", table, overwrite=True)


def _update_candidates(con, staged, matched, customer_id: np.ndarray, run_id: str) -> None:
    """An incremental run's review queue: the earlier pairs with their customers as the (already updated)
    customer_map has them, less pairs now in one customer, plus this run's pairs."""
    fresh = _candidate_rows(staged, matched, customer_id, run_id)
    queue = con.table("match_candidates")
    cmap = con.table("customer_map").select("record_key", "customer_id")
    left = cmap.rename(record_key_l="record_key", cid_l="customer_id")
    right = cmap.rename(record_key_r="record_key", cid_r="customer_id")
    earlier = queue.join(left, "record_key_l").join(right, "record_key_r")
    earlier = earlier.filter(earlier.cid_l != earlier.cid_r).mutate(
        customer_id_l=earlier.cid_l, customer_id_r=earlier.cid_r
    )
    earlier = earlier.select(*_arrow("match_candidates").names).to_pyarrow().cast(_arrow("match_candidates"))
    if fresh.num_rows:
        again = set(
            zip(
                fresh.column("record_key_l").to_pylist(),
                fresh.column("record_key_r").to_pylist(),
                strict=True,
            )
        )
        keep = [(a, b) not in again for a, b in zip(earlier.column("record_key_l").to_pylist(), earlier.column("record_key_r").to_pylist(), strict=True)]  # fmt: skip
        earlier = earlier.filter(pa.array(keep, type=pa.bool_()))
    if earlier.num_rows != int(queue.count().execute()) or fresh.num_rows:
        con.insert("match_candidates", pa.concat_tables([earlier, fresh]), overwrite=True)


def _write_customer_map(con, staged: ibis.Table, customer_id: np.ndarray, old: np.ndarray, now) -> None:
    """Replace customer_map when anything changed; a record whose id is unchanged keeps its resolved_at."""
    cmap = con.table("customer_map")
    orphans = int(cmap.anti_join(staged, "record_key").count().execute())
    if orphans == 0 and np.array_equal(customer_id, old):
        return
    assigned = ibis.memtable(
        pa.table({"rid": np.arange(len(customer_id), dtype=np.int64), "customer_id": customer_id})
    )
    now_lit = ibis.literal(now, type=TS)
    joined = staged.join(assigned, "rid")
    unchanged = joined.old_cid.notnull() & (joined.old_cid == joined.customer_id)
    rows = joined.select(
        record_key=joined.record_key,
        customer_id=joined.customer_id,
        resolved_at=ibis.ifelse(unchanged, joined.old_resolved_at, now_lit).cast(TS),
    )
    con.create_table("customer_map", rows, overwrite=True)


def _update_customer_map(con, staged: ibis.Table, customer_id: np.ndarray, old: np.ndarray, now) -> None:
    """An incremental run's map writes: only records that are new or changed customer."""
    changed = np.flatnonzero(customer_id != old)
    if not len(changed):
        return
    keys = _staged_rows(staged, changed).to_pyarrow()
    rows = pa.table(
        {
            "record_key": keys.column("record_key"),
            "customer_id": pa.array(customer_id[keys.column("rid").to_numpy()], type=pa.int64()),
            "resolved_at": pa.array(
                [now] * keys.num_rows, type=_arrow("customer_map").field("resolved_at").type
            ),
        }
    )
    replace_keyed(writer(), "customer_map", "record_key", rows.column("record_key"), rows)


def _keep_customers_whole(labels: np.ndarray, old: np.ndarray) -> np.ndarray:
    """Components that also link the records of each existing customer (an incremental run sees only the
    new records' links, not whatever joined a customer's records before)."""
    rids = np.flatnonzero(old >= 0)
    if not len(rids):
        return labels
    n = len(labels)
    values = np.concatenate([labels, old[rids] + labels.max() + 1])
    return record_components(n, np.concatenate([np.arange(n, dtype=np.int64), rids]), values)


def _write_match_state(con, staged, matched, guard, match, run_id: str, now, incremental: bool) -> None:
    """Store the blocking keys of the compared rows (added to in an incremental run, replaced in a full
    one) and, in a full run, the model and the settings it was trained under."""
    keys = matched.keys if matched is not None else None
    if isinstance(keys, ibis.Table):  # on Spark: hashed by the executors (_match_on_spark)
        if not incremental or int(keys.count().execute()):
            rows = staged.join(keys, "rid").select("record_key", "key_hash")
            con.insert("match_keys", rows, overwrite=not incremental)
    elif keys is not None and keys.height:
        hashed = ibis.memtable(hashed_keys(keys).rename({"unique_id": "rid"}).to_arrow())
        rows = staged.join(hashed, "rid").select("record_key", "key_hash")
        con.insert("match_keys", rows, overwrite=not incremental)
    elif not incremental and con.table("match_keys").count().execute():
        con.insert("match_keys", _arrow("match_keys").empty_table(), overwrite=True)
    if not incremental:
        model = matched.model if matched is not None else None
        row = model_row(run_id, now, settings_fingerprint(guard, match), model)
        con.insert(
            "identity_models", pa.Table.from_pylist([row], schema=_arrow("identity_models")), overwrite=True
        )


def _write_quarantine(con, quarantine: pa.Table) -> None:
    def rows(table: pa.Table) -> list[tuple]:
        return sorted(tuple(r.values()) for r in table.select(quarantine.column_names).to_pylist())

    if rows(con.table("quarantined_identifiers").to_pyarrow()) == rows(quarantine):
        return
    con.insert("quarantined_identifiers", quarantine, overwrite=True)


# --- decisions: review, manual merge, undo ---------------------------------------------------------

DECIDER_ROLES = ("admin", "operator")


def _check_decider(actor) -> None:
    if actor is not None and not has_role(actor, DECIDER_ROLES):
        raise PermissionDenied("only administrators and operators can merge or split customers")


def _check_verdict(verdict: str) -> None:
    if verdict not in (SAME, DIFFERENT):
        raise IdentityError(f"verdict must be {SAME!r} or {DIFFERENT!r}, not {verdict!r}")


def decide_match(actor, record_key_a: str, record_key_b: str, verdict: str, reason: str = "",
                 match_probability: float | None = None) -> dict:  # fmt: skip
    """Record that two records are the same person (`same`) or not (`different`). Applied by every later
    resolve run; the latest decision on a pair is in force."""

    _check_decider(actor)
    _check_verdict(verdict)
    a, b = sorted((_record_key(record_key_a), _record_key(record_key_b)))
    if a == b:
        raise IdentityError("a record is always the same person as itself")
    records = backend().table("records")
    known = set(records.filter(records.record_key.isin([a, b])).record_key.to_pyarrow().to_pylist())
    if missing := {a, b} - known:
        raise IdentityError(f"no such record: {', '.join(sorted(missing))}")
    row = {
        "record_key_a": a,
        "record_key_b": b,
        "verdict": verdict,
        "reason": reason.strip(),
        "match_probability": match_probability,
        "decided_by": getattr(actor, "username", None),
        "decided_at": datetime.now(UTC),
    }
    with transaction():
        backend().insert("match_decisions", pa.Table.from_pylist([row], schema=_arrow("match_decisions")))
    record_audit(actor, "identity_decision", f"{a} ~ {b}", verdict=verdict, reason=row["reason"])
    return row


def decide_by_rule(actor, pattern: str, verdict: str, reason: str = "") -> dict:
    """Decide at once every review entry (a pair of customers) whose evidence pattern is `pattern`
    (siyu.identity.evidence.evidence_pattern; the rules the review page lists): one decision per entry, on
    its best record pair, each naming the rule, who and when. Applied by the next resolve run."""

    _check_decider(actor)
    _check_verdict(verdict)
    entries = queries.rule_entries(pattern)
    if not entries:
        raise IdentityError("no pair of customers waiting for a decision has this evidence")
    now = datetime.now(UTC)
    rows = [
        {
            "record_key_a": e["record_key_l"],
            "record_key_b": e["record_key_r"],
            "verdict": verdict,
            "reason": reason.strip(),
            "match_probability": e["match_probability"],
            "decided_by": getattr(actor, "username", None),
            "decided_at": now,
            "rule": pattern,
        }
        for e in entries
    ]
    with transaction():
        backend().insert("match_decisions", pa.Table.from_pylist(rows, schema=_arrow("match_decisions")))
    record_audit(actor, "identity_rule_decision", "review rule", rule=pattern, verdict=verdict, pairs=len(rows),
                 reason=reason.strip())  # fmt: skip
    return {
        "pattern": pattern,
        "verdict": verdict,
        "decided": len(rows),
        "decided_by": rows[0]["decided_by"],
        "decided_at": now,
    }


def merge_customers(actor, customer_id: int, other_id: int, reason: str) -> dict:
    """Manual merge: the two customers are one person (their oldest records are decided `same`)."""
    return decide_match(actor, *_representatives(customer_id, other_id), SAME, _reason(reason))


def _record_key(value: str) -> str:
    """Record keys are `source|record id` text: one with a control character (a NUL byte) names no record
    and must not reach a query."""

    if any(ord(c) < 32 for c in value):
        raise IdentityError(f"no such record: {value!r}")
    return value


def split_customers(actor, customer_id: int, record_key: str, reason: str) -> dict:
    """Manual split: `record_key` (and the records linked to it by identifiers or by other evidence) is
    not the person of the customer's oldest record."""

    (first,) = _representatives(customer_id)
    if queries.customer_id_for(_record_key(record_key)) != customer_id:
        raise IdentityError(f"record {record_key} does not belong to customer {customer_id}")
    return decide_match(actor, first, record_key, DIFFERENT, _reason(reason))


def undo_merge(actor, absorbed_id: int, reason: str) -> dict:
    """Undo the latest merge that absorbed `absorbed_id`: its records and the survivor's are decided
    `different`; the next resolve run gives the absorbed records their old id back."""

    rows = [
        r
        for r in queries.merge_history(absorbed_id)
        if r["absorbed_id"] == absorbed_id and r["rule"] != "split"
    ]
    if not rows:
        raise IdentityError(f"customer {absorbed_id} was never merged into another")
    evidence = json.loads(rows[-1]["evidence"] or "{}")
    if not evidence.get("absorbed_record") or not evidence.get("survivor_record"):
        raise IdentityError("this merge predates undo support: split the records instead")
    return decide_match(
        actor, evidence["survivor_record"], evidence["absorbed_record"], DIFFERENT, _reason(reason)
    )


def _reason(reason: str) -> str:
    if not (reason or "").strip():
        raise IdentityError("say why: a manual merge or split needs a reason")
    return reason


def _representatives(*customer_ids: int) -> list[str]:
    out = []
    for cid in customer_ids:
        records = queries.records_of(cid)
        if not records:
            raise IdentityError(f"no customer {cid}")
        out.append(records[0]["record_key"])
    return out


# --- erasure of a person (PIPL art. 47; siyu.privacy.erasure runs it) ----------------------------------------


def _stored_model(con) -> tuple[dict | None, TrainedModel | None]:
    stored = con.table("identity_models").to_pyarrow().to_pylist()
    return (stored[0], load_model(stored[0])) if stored else (None, None)


def _person_tf_values(con, record_keys: list[str], model: TrainedModel) -> dict[str, dict[str, int]]:
    """{column: {value: rows}} of the person's records in the model's term-frequency columns. Every record is
    a row of its own (a full run folds a cluster's equal rows into one): at least what the model counted."""
    numbered = ibis.memtable({"rid": list(range(len(record_keys))), "record_key": list(record_keys)})
    rows = record_rows(con, numbered)
    if not rows.num_rows:
        return {}
    compare = MatchSettings.from_settings().compare
    features = record_features(rows, np.arange(len(record_keys), dtype=np.int64), compare)
    held = {}
    for column in model.term_frequencies:
        if column in features.columns:
            values = features.get_column(column).drop_nulls().cast(pl.String).value_counts()
            held[column] = dict(zip(values.get_column(column).to_list(), values.get_column("count").to_list(),
                                    strict=True))  # fmt: skip
    return {c: v for c, v in held.items() if v}


def erase_person_values(person, request) -> dict:
    """Identity's part of erasing a person: the stored model's term-frequency tables hold the values of
    names, nicknames, districts and generic fields the last full run counted; the person's rows are taken
    out of them (siyu.identity.incremental.without_values): a value only they held goes, a shared one is
    counted without them. It reads their records' values, so it runs before the warehouse's part blanks
    them; what is left of each value is kept on `person` for the scan (in memory, for the job)."""
    counts = {"values": 0, "removed": 0}
    person.held["identity_model"] = {}
    if not person.record_keys:
        return counts
    with exclusive_writes(wait=3600), transaction():
        con = backend()
        stored, model = _stored_model(con)
        if model is None or not model.term_frequencies:
            return counts
        held = _person_tf_values(con, person.record_keys, model)
        if not held:
            return counts
        left = without_values(model, held)
        row = model_row(stored["run_id"], stored["saved_at"], stored["fingerprint"], model)
        con.insert(
            "identity_models", pa.Table.from_pylist([row], schema=_arrow("identity_models")), overwrite=True
        )
    person.held["identity_model"] = left
    counts["values"] = sum(len(v) for v in left.values())
    counts["removed"] = sum(1 for v in left.values() for n in v.values() if n == 0)
    return counts


def person_values_left(person) -> int:
    """The erasure scan: the person's values the stored model still counts beyond what others hold (a value
    only they held must be gone)."""
    left = person.held.get("identity_model") or {}
    if not left:
        return 0
    _, model = _stored_model(backend())
    if model is None:
        return 0
    counts = value_counts(model)
    return sum(1 for column, values in left.items() for value, n in values.items()
               if counts.get(column, {}).get(value, 0) > n)  # fmt: skip
