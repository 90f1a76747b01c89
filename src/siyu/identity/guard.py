"""The cardinality guard: identifier values too many people share are taken out of linking.

See siyu.identity.actions for the rules. An incremental run checks only the values its new records carry
(`touched`): adding records can only put values into quarantine, never take them out.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import pyarrow as pa
from django.conf import settings

from siyu.warehouse.schema import TABLES


@dataclass(frozen=True)
class GuardRule:
    guarded_types: tuple[str, ...] = ("phone", "email")
    member_kinds: tuple[str, ...] = ("member", "contact")
    max_member_records: int = 5
    max_distinct_names: int = 10

    @classmethod
    def from_settings(cls) -> GuardRule:
        overrides = dict(getattr(settings, "IDENTITY_GUARD", {}) or {})
        for key in ("guarded_types", "member_kinds"):
            if key in overrides:
                overrides[key] = tuple(overrides[key])
        return cls(**overrides)


def quarantine(con, guard: GuardRule, run_id: str, touched: ibis.Table | None = None) -> pa.Table:
    """The identifier values the cardinality guard takes out of linking (rules: siyu.identity.actions);
    only among the (id_type, value_hash) rows of `touched` when given."""
    schema = TABLES["quarantined_identifiers"].to_pyarrow()
    limit = min(guard.max_member_records, guard.max_distinct_names)
    if not guard.guarded_types:
        return schema.empty_table()
    ids = con.table("identifiers")
    guarded = ids.filter(
        ids.strong & ids.value_hash.notnull() & ids.id_type.isin(list(guard.guarded_types))
    ).select("record_key", "id_type", "value_hash")
    if touched is not None:
        guarded = guarded.semi_join(touched, ["id_type", "value_hash"])
    # Only a value on more than `limit` identifier rows can break a rule: find those cheaply first.
    crowded = guarded.group_by("id_type", "value_hash").aggregate(rows=guarded.count())
    crowded = crowded.filter(crowded.rows > limit).select("id_type", "value_hash")
    records = con.table("records").select("record_key", "source", "record_kind", "name_hash")
    hits = guarded.semi_join(crowded, ["id_type", "value_hash"]).join(records, "record_key")
    member_like = hits.record_kind.isin(list(guard.member_kinds))
    stats = hits.group_by("id_type", "value_hash").aggregate(
        records=hits.record_key.nunique(),
        member_records=hits.record_key.nunique(where=member_like),
        member_names=hits.name_hash.nunique(where=member_like),
        names=hits.name_hash.nunique(),
        sources=hits.source.collect(distinct=True).sort(),
    )
    too_many_members = (stats.member_records > guard.max_member_records) & (stats.member_names != 1)
    stats = stats.filter(too_many_members | (stats.names > guard.max_distinct_names))
    rows = stats.order_by(["id_type", "value_hash"]).to_pyarrow().to_pylist()

    old = con.table("quarantined_identifiers").select("id_type", "value_hash", "run_id").to_pyarrow()
    first_run = {(r["id_type"], r["value_hash"]): r["run_id"] for r in old.to_pylist()}
    out = []
    for row in rows:
        reasons = []
        if row["member_records"] > guard.max_member_records and row["member_names"] != 1:
            reasons.append(
                f"on {row['member_records']} member/contact records (limit {guard.max_member_records})"
                f" with {row['member_names'] or 'no'} different names"
            )
        if row["names"] > guard.max_distinct_names:
            reasons.append(
                f"on records with {row['names']} different names (limit {guard.max_distinct_names})"
            )
        key = (row["id_type"], row["value_hash"])
        out.append(
            {
                "run_id": first_run.get(key, run_id),
                "id_type": row["id_type"],
                "value_hash": row["value_hash"],
                "records": row["records"],
                "sources": ",".join(row["sources"] or []),
                "reason": "; ".join(reasons),
            }
        )
    return pa.Table.from_pylist(out, schema=schema)


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
