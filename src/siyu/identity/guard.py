"""The guard: identifier values that are not one person's are taken out of linking (quarantined).

Every identifier type and every record kind is guarded. A strong value is quarantined, listed in
`quarantined_identifiers` with its rule and reason and never used for linking (by the deterministic graph,
nor as a full phone by the probabilistic stage), when
  member_names   the one-per-person records carrying it (kinds in `member_kinds`: a member card, a WeCom
                 contact, a row of a generic person table) have more than `max_member_names` distinct
                 names: a store landline typed into many member cards;
  member_records it is on more than `max_member_records` such records, whatever their names;
  names          the records carrying it (any kind: orders too) have more than `max_distinct_names`
                 distinct names: a shop phone typed as the buyer phone on walk-in orders. One buyer's many
                 orders carry one name (or a few: masked, remark, recipients of gifts), not many;
  records        it is on more than `max_records` records: a walk-in member card on every till sale;
  placeholder    an import from before values were checked stored a placeholder or filler as a strong
                 identifier (`**`, `-`, `0`, `13800138000`…, siyu.ingest.normalise.identifiers),
                 recognised by its keyed hash;
  customer       after the graph is built, a customer whose records carry more than `max_customer_names`
                 distinct names, or more than `max_customer_values` distinct values of one identifier
                 type, is split at the values that bridge it (split_giant_customers).
Limits are per identifier type: `per_type = {"phone": {"max_distinct_names": 8}, …}` overrides the
defaults for one type (settings IDENTITY_GUARD, see siyu.project.settings). Names are the keyed hashes of
the normalised names; a record without a name adds none.

The rules are evaluated on all data at every full run; a value keeps the time it was first quarantined
(`since`, and the run_id of that run) for as long as it stays quarantined. An incremental run checks only
the values its new records carry (`touched`): adding records can only put values into quarantine, and a
new quarantine makes the run a full one (siyu.identity.incremental).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import ibis
import numpy as np
import polars as pl
import pyarrow as pa
from django.conf import settings

from siyu.core import pii
from siyu.identity.graph import record_components
from siyu.ingest.normalise.identifiers import known_placeholders
from siyu.warehouse.schema import TABLES
from siyu.warehouse.summary import string_hash

# Types whose values one person rarely shares with the recipients of gifts: tighter name limits. A
# "landline" is a phone value that is a fixed line on a record: it belongs to a place (a home, a shop), so
# member cards of two different names on it are two people; other limits as for "phone".
_DEFAULT_PER_TYPE = {
    "landline": {"max_member_names": 1},
    "unionid": {"max_distinct_names": 5, "max_records": 200},
    "openid": {"max_distinct_names": 5, "max_records": 200},
    "external_userid": {"max_distinct_names": 5, "max_records": 200},
}
# Identifier types that are a record's own key (one order imported under two --source labels shares its
# order key): a customer holds one per order, so they do not count towards `max_customer_values`.
PER_RECORD_TYPES = ("order",)
LIMIT_NAMES = (
    "max_member_names",
    "max_member_records",
    "max_distinct_names",
    "max_records",
    "max_customer_values",
)


@dataclass(frozen=True)
class GuardRule:
    member_kinds: tuple[str, ...] = ("member", "contact", "generic")
    max_member_names: int = 5
    max_member_records: int = 20
    max_distinct_names: int = 10
    max_records: int = 1000
    max_customer_names: int = 30
    max_customer_values: int = 20
    per_type: dict[str, dict[str, int]] = field(default_factory=lambda: dict(_DEFAULT_PER_TYPE))

    @classmethod
    def from_settings(cls) -> GuardRule:
        overrides = dict(getattr(settings, "IDENTITY_GUARD", {}) or {})
        if "member_kinds" in overrides:
            overrides["member_kinds"] = tuple(overrides["member_kinds"])
        if "per_type" in overrides:
            per_type = {t: dict(v) for t, v in _DEFAULT_PER_TYPE.items()}
            for id_type, limits in overrides["per_type"].items():
                per_type.setdefault(id_type, {}).update(limits)
            overrides["per_type"] = per_type
        return cls(**overrides)

    def limit(self, id_type: str, name: str) -> int:
        if id_type == "landline" and name not in self.per_type.get("landline", {}):
            id_type = "phone"
        return int(self.per_type.get(id_type, {}).get(name, getattr(self, name)))

    def limit_expr(self, id_type: ibis.Value, name: str) -> ibis.Value:
        """The limit `name` of each row's identifier type (or "landline"), as an Ibis expression."""
        types = sorted({*self.per_type, "landline"})
        special = [(t, self.limit(t, name)) for t in types if self.limit(t, name) != getattr(self, name)]
        if not special:
            return ibis.literal(getattr(self, name))
        return ibis.cases(*[(id_type == t, v) for t, v in special], else_=getattr(self, name))


def _schema() -> pa.Schema:
    return TABLES["quarantined_identifiers"].to_pyarrow()


def quarantine(
    con, guard: GuardRule, run_id: str, touched: ibis.Table | None = None, now: datetime | None = None
) -> pa.Table:
    """The identifier values the guard takes out of linking (rules above, all but `customer`); only among
    the (id_type, value_hash) rows of `touched` when given."""

    def strong_rows(*columns: str) -> ibis.Table:
        # each use projects first, so DuckDB scans only these columns (a shared filtered table would be
        # materialised whole as a CTE)
        ids = con.table("identifiers")
        rows = ids.select(
            "strong", "record_key", "id_type", "value_hash", *columns, h=string_hash(con, ids.value_hash)
        )
        rows = rows.filter(rows.strong & rows.value_hash.notnull() & rows.record_key.notnull())
        if touched is not None:
            rows = rows.semi_join(touched, ["id_type", "value_hash"])
        return rows

    # Values are counted by a 64-bit hash of value_hash (a quarter of the time of grouping the strings; the
    # value_hash of a namespaced value already tells its type): a collision only adds a candidate, whose
    # stats below are exact.
    counted = strong_rows()
    rows = counted.group_by("h").aggregate(rows=counted.count(), id_type=counted.id_type.arbitrary())
    all_records = con.table("records")
    fixed = all_records.filter((all_records.phone_kind == "landline") & all_records.phone_hash.notnull())
    fixed = fixed.select(h=string_hash(con, fixed.phone_hash))
    known = _known_placeholders(con)
    rows = rows.mutate(
        limit_type=ibis.ifelse((rows.id_type == "phone") & rows.h.isin(fixed.h), "landline", rows.id_type),
        placeholder=rows.h.isin(known.h),
    )
    # Only a value on more identifier rows than its type's smallest limit can break a rule: find those first.
    smallest = ibis.least(*(guard.limit_expr(rows.limit_type, name) for name in LIMIT_NAMES[:4]))
    crowded = rows.filter((rows.rows > smallest) | (rows.placeholder & (rows.rows > 1))).select(
        "h", "limit_type"
    )
    records = all_records.select("record_key", "source", "record_kind", "name_hash")
    keyed = strong_rows("value_masked")
    hits = keyed.join(crowded, "h").join(records, "record_key")
    member_like = hits.record_kind.isin(list(guard.member_kinds))
    stats = hits.group_by("id_type", "value_hash", "limit_type").aggregate(
        records=hits.record_key.nunique(),
        member_records=hits.record_key.nunique(where=member_like),
        member_names=hits.name_hash.nunique(where=member_like),
        names=hits.name_hash.nunique(),
        sources=hits.source.collect(distinct=True).sort(),
        hint=hits.value_masked.min(),
        example_record=hits.record_key.min(),
    )
    limits = {name: guard.limit_expr(stats.limit_type, name) for name in LIMIT_NAMES}
    stats = stats.mutate(**{f"limit_{k}": v for k, v in limits.items()})
    broken = (
        (stats.member_names > stats.limit_max_member_names)
        | (stats.member_records > stats.limit_max_member_records)
        | (stats.names > stats.limit_max_distinct_names)
        | (stats.records > stats.limit_max_records)
    )
    stats = stats.filter(broken | ((stats.records > 1) & stats.value_hash.isin(known.value_hash)))
    hints = {(r["id_type"], r["value_hash"]): r["known_hint"] for r in known.to_pyarrow().to_pylist()}
    found = []
    for row in stats.to_pyarrow().to_pylist():
        hint = hints.get((row["id_type"], row["value_hash"]))
        if hint is not None:  # a known placeholder is named as such, whatever limits it also broke
            reason = "a placeholder or filler stored by an earlier import"
            found.append({**row, "hint": hint, "rule": "placeholder", "limit": None, "reason": reason})
        else:
            found.append(_guard_row(row))
    return _as_quarantine(con, found, run_id, now)


def _known_placeholders(con) -> ibis.Table:
    """(id_type, value_hash, known_hint, h) of the placeholders and fillers an import from before the
    validity checks may have stored as strong identifiers, for the types the warehouse holds (the values
    are hashed: recognised by the keyed hashes of the known ones)."""
    types = con.table("identifiers").select("id_type").distinct().to_pyarrow().column(0).to_pylist()
    candidates = known_placeholders([t for t in types if t])
    table = pa.table(
        {
            "id_type": pa.array([t for t, _, _ in candidates], pa.string()),
            "value_hash": pa.array(pii.keyed_hash_many([v for _, v, _ in candidates]), pa.string()),
            "known_hint": pa.array([h for _, _, h in candidates], pa.string()),
        }
    )
    known = ibis.memtable(table)
    return known.mutate(h=string_hash(con, known.value_hash))


def _guard_row(row: dict) -> dict:
    """A quarantine row for a value that broke a limit: the first rule it broke names it."""
    checks = [
        ("member_names", row["member_names"], row["limit_max_member_names"],
         "on {n} member/contact records with {v} different names (limit {limit})"),
        ("member_records", row["member_records"], row["limit_max_member_records"],
         "on {v} member/contact records (limit {limit})"),
        ("names", row["names"], row["limit_max_distinct_names"], "on records with {v} different names (limit {limit})"),
        ("records", row["records"], row["limit_max_records"], "on {v} records (limit {limit})"),
    ]  # fmt: skip
    broken = [(rule, value, limit, text) for rule, value, limit, text in checks if value > limit]
    reason = "; ".join(
        text.format(v=value, limit=limit, n=row["member_records"]) for _, value, limit, text in broken
    )
    rule, _, limit, _ = broken[0]
    return {**row, "rule": rule, "limit": limit, "reason": reason}


def _as_quarantine(con, found: list[dict], run_id: str, now: datetime | None) -> pa.Table:
    """Rows for quarantined_identifiers, one per value (the first rule wins), each keeping the run and time
    that first quarantined it; hints filled in for values imported before hints were kept."""
    old = con.table("quarantined_identifiers").select("id_type", "value_hash", "run_id", "since").to_pyarrow()
    first = {(r["id_type"], r["value_hash"]): r for r in old.to_pylist()}
    out: dict[tuple[str, str], dict] = {}
    for row in found:
        key = (row["id_type"], row["value_hash"])
        if key in out:
            continue
        earlier = first.get(key, {})
        out[key] = {
            "run_id": earlier.get("run_id") or run_id,
            "id_type": row["id_type"],
            "value_hash": row["value_hash"],
            "records": row["records"],
            "sources": ",".join(row["sources"] or []),
            "reason": row["reason"],
            "rule": row["rule"],
            "names": row["names"],
            "rule_limit": row["limit"],
            "value_hint": row.get("hint"),
            "example_record": row.get("example_record"),
            "since": earlier.get("since") or now,
        }
    rows = [out[k] for k in sorted(out)]
    _fill_hints(con, rows)
    return pa.Table.from_pylist(rows, schema=_schema())


def _fill_hints(con, rows: list[dict]) -> None:
    """Phones and e-mails imported before identifiers kept a masked form: the mask the record shows."""
    for id_type, column in (("phone", "phone"), ("email", "email")):
        wanted = [r for r in rows if r["value_hint"] is None and r["id_type"] == id_type]
        if not wanted:
            continue
        records = con.table("records")
        found = (
            records.filter(records[f"{column}_hash"].isin([r["value_hash"] for r in wanted]))
            .group_by(value_hash=records[f"{column}_hash"])
            .aggregate(hint=records[f"{column}_masked"].min())
            .to_pyarrow()
            .to_pylist()
        )
        hints = {r["value_hash"]: r["hint"] for r in found}
        for r in wanted:
            r["value_hint"] = hints.get(r["value_hash"])


def linking_identifiers(con, quarantine: pa.Table) -> ibis.Table:
    """Strong identifier rows that may link: (record_key, id_type, value_hash)."""
    ids = con.table("identifiers")
    strong = ids.filter(ids.strong & ids.value_hash.notnull() & ids.record_key.notnull())
    strong = strong.select("record_key", "id_type", "value_hash")
    if quarantine.num_rows:
        strong = strong.anti_join(
            ibis.memtable(quarantine.select(["id_type", "value_hash"])), ["id_type", "value_hash"]
        )
    return strong


def quarantined_phone_records(con, staged: ibis.Table, quarantine: pa.Table) -> np.ndarray:
    """Record numbers (staged rid) whose own phone is quarantined: the probabilistic stage must not
    compare it as a full phone either."""
    phones = quarantine.filter(pa.compute.equal(quarantine.column("id_type"), "phone"))
    if not phones.num_rows:
        return np.zeros(0, dtype=np.int64)
    records = con.table("records").select("record_key", "phone_hash")
    bad = records.semi_join(
        ibis.memtable(pa.table({"phone_hash": phones.column("value_hash")})), "phone_hash"
    )
    rids = staged.semi_join(bad, "record_key").select("rid").to_pyarrow()
    return rids.column("rid").to_numpy().astype(np.int64)


# --- no giant customer ---------------------------------------------------------------------------


def values_limit(guard: GuardRule) -> int:
    """The smallest `max_customer_values` of any identifier type: a component with no more distinct
    linking values than this cannot break a values limit."""
    per_type = (v.get("max_customer_values", guard.max_customer_values) for v in guard.per_type.values())
    return min([guard.max_customer_values, *per_type])


def crowded_components(labels: np.ndarray, links: tuple[np.ndarray, np.ndarray], limit: int) -> np.ndarray:
    """The labels of the components whose (record number, value code) `links` carry more than `limit`
    distinct values, in the driver (the engine's counterpart: siyu.identity.actions._components_in_engine)."""
    rid, value = links
    comp = labels[rid]
    rows = np.bincount(comp, minlength=int(labels.max()) + 1 if len(labels) else 0)
    crowded = rows[comp] > limit
    if not crowded.any():  # distinct values per component, where there are enough rows for too many
        return np.zeros(0, dtype=np.int64)
    pairs = np.unique(np.stack([comp[crowded], np.asarray(value)[crowded].astype(np.int64, copy=False)]), axis=1)
    distinct = np.bincount(pairs[0], minlength=len(rows))
    return np.flatnonzero(distinct > limit)


def split_giant_customers(
    con,
    staged: ibis.Table,
    labels: np.ndarray,
    crowded: np.ndarray,
    linking: ibis.Table,
    guard: GuardRule,
    run_id: str,
    now=None,
) -> tuple[np.ndarray, pa.Table]:
    """Components (customers of the deterministic graph) whose records carry more than
    `max_customer_names` distinct names or more than `max_customer_values` distinct values of one type
    are split at the values that bridge them: repeatedly, the value on records with the most distinct
    names (then the most records) is taken out and the component's records are linked again without it,
    until every part is within the limits. Returns the new labels and the quarantine rows of the values
    taken out (reason: the customer they made).

    `linking` is the identifier rows that linked the graph (record_key, id_type, value_hash); `crowded` the
    labels of the components with more distinct linking values than the smallest values limit
    (values_limit; crowded_components, or counted in the engine): with the components' sizes they rule out
    almost every component at once (one with no more records than the names limit and no more distinct
    values than the smallest values limit cannot break either); only the rest is read from the warehouse."""
    labels = np.asarray(labels, dtype=np.int64)
    if not len(labels):
        return labels, _schema().empty_table()
    sizes = np.bincount(labels)
    candidates = sizes > guard.max_customer_names
    candidates[np.asarray(crowded, dtype=np.int64)] = True
    in_candidate = candidates[labels]
    if not in_candidate.any():
        return labels, _schema().empty_table()
    rids = np.flatnonzero(in_candidate)
    frame = _component_rows(con, staged, rids, linking)
    frame = frame.with_columns(comp=pl.Series(labels[frame.get_column("rid").to_numpy()]))
    giants = _giants(frame, guard)
    if not giants:
        return labels, _schema().empty_table()

    labels = labels.copy()
    next_label = int(labels.max()) + 1
    taken: list[dict] = []
    for comp in giants:
        part = frame.filter(pl.col("comp") == comp)
        new_labels, removed = _split_component(part, guard)
        for local in np.unique(new_labels[:, 1]):
            members = new_labels[new_labels[:, 1] == local, 0]
            labels[members] = next_label
            next_label += 1
        taken += removed
    return labels, _as_quarantine(con, taken, run_id, now)


def _component_rows(con, staged: ibis.Table, rids: np.ndarray, linking: ibis.Table) -> pl.DataFrame:
    """(rid, name_hash, source, record_key) and its linking identifiers (id_type, value_hash, value_masked;
    null for a record without any) of the given records."""
    wanted = staged.semi_join(ibis.memtable(pa.table({"rid": rids})), "rid").select("rid", "record_key")
    records = con.table("records").select("record_key", "name_hash", "source")
    base = wanted.join(records, "record_key")
    ids = con.table("identifiers").semi_join(wanted, "record_key")
    links = ids.semi_join(linking.semi_join(wanted, "record_key"), ["record_key", "id_type", "value_hash"])
    links = links.group_by("record_key", "id_type", "value_hash").aggregate(value_masked=links.value_masked.min())
    rows = base.left_join(links, "record_key").select(
        "rid", "record_key", "name_hash", "source", "id_type", "value_hash", "value_masked"
    )
    return pl.from_arrow(rows.to_pyarrow())


def _giants(frame: pl.DataFrame, guard: GuardRule, by: str = "comp") -> list[int]:
    """The labels (column `by`) of the groups of `frame` that carry too many names or values of a type."""
    names = frame.group_by(by).agg(pl.col("name_hash").drop_nulls().n_unique().alias("n"))
    over = set(names.filter(pl.col("n") > guard.max_customer_names).get_column(by).to_list())
    values = frame.drop_nulls("value_hash").filter(~pl.col("id_type").is_in(PER_RECORD_TYPES))
    values = values.group_by(by, "id_type").agg(pl.col("value_hash").n_unique().alias("n"))
    for label, id_type, n in values.iter_rows():
        if n > guard.limit(id_type, "max_customer_values"):
            over.add(label)
    return sorted(over)


def _split_component(part: pl.DataFrame, guard: GuardRule) -> tuple[np.ndarray, list[dict]]:
    """Take bridging values out of one giant component until its parts are within the limits. Returns
    (rid, part label) pairs and the quarantine rows of the values taken out, in the order taken."""
    rids = np.unique(part.get_column("rid").to_numpy())
    n = len(rids)
    part = part.with_columns(local=pl.Series(np.searchsorted(rids, part.get_column("rid").to_numpy())))
    names = part.select("local", "name_hash").unique()
    links = part.drop_nulls("value_hash").with_columns(
        vid=pl.struct("id_type", "value_hash").rank("dense").cast(pl.Int64) - 1
    )
    labels = np.zeros(n, dtype=np.int64)
    next_label = 1
    removed: list[int] = []
    taken: list[dict] = []
    over = [0]
    while over:
        for label in over:
            members = np.flatnonzero(labels == label)
            active = links.filter(pl.col("local").is_in(members) & ~pl.col("vid").is_in(removed))
            if active.height == 0:
                continue
            # the hub: the value on records with the most distinct names, then the most records
            hub = (
                active.group_by("vid", "id_type", "value_hash")
                .agg(
                    names=pl.col("name_hash").drop_nulls().n_unique(),
                    records=pl.col("local").n_unique(),
                    sources=pl.col("source").unique().sort(),
                    hint=pl.col("value_masked").min(),
                    example_record=pl.col("record_key").min(),
                )
                .sort(["names", "records", "id_type", "value_hash"], descending=[True, True, False, False])
                .row(0, named=True)
            )
            removed.append(hub["vid"])
            whole = (
                names.filter(pl.col("local").is_in(members)).get_column("name_hash").drop_nulls().n_unique()
            )
            taken.append(
                {
                    **{k: hub[k] for k in ("id_type", "value_hash", "records", "names", "sources", "hint")},
                    "example_record": hub["example_record"],
                    "rule": "customer",
                    "limit": guard.max_customer_names,
                    "reason": f"joined {len(members)} records with {whole} different names into one customer",
                }
            )
            edges = active.filter(pl.col("vid") != hub["vid"])
            comp = record_components(
                n, edges.get_column("local").to_numpy(), edges.get_column("vid").to_numpy()
            )
            _, parts = np.unique(comp[members], return_inverse=True)
            labels[members] = next_label + parts
            next_label += int(parts.max()) + 1
        check = names.with_columns(
            label=pl.Series(labels[names.get_column("local").to_numpy()]),
            value_hash=pl.lit(None, pl.String),
            id_type=pl.lit(None, pl.String),
        )
        active = links.filter(~pl.col("vid").is_in(removed))
        active = active.with_columns(label=pl.Series(labels[active.get_column("local").to_numpy()]))
        over_names = _giants(check, guard, "label")
        over_values = _giants(active, guard, "label")
        over = sorted(set(over_names) | set(over_values))
        if len(removed) >= len(links.get_column("vid").unique()):
            break  # nothing left to take out
    return np.stack([rids, labels], axis=1), taken
