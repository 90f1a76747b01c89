"""Incremental resolution: after an import, resolve the new records and only the customers they touch.

A run is incremental (siyu.identity.actions.resolve_identities without `full=True`) when everything the
last run decided still holds, so that the new records are the only change:
- an earlier run exists, and the last full run stored its model under the same matching and guard
  settings (`identity_models.fingerprint`); with the probabilistic stage on, that run trained a model;
- no reviewer decision, manual merge, split or undo came after the last run;
- no record was removed, and the new records are at most MAX_NEW_SHARE of the known ones (beyond that
  the model is trained again on all data);
- the cardinality guard puts none of the identifier values the new records carry into quarantine (a
  new quarantine can split existing customers, which needs the whole graph).
Otherwise the run is full, and its report says why.

The working set: the new records (those without a customer_map row), and every record of each existing
customer that
- shares a linking identifier value with a new record, or
- holds a record sharing a blocking key with a new record: the keys of every compared record are stored
  as keyed 64-bit hashes in `match_keys`, so finding them decrypts nothing but the new records.
The full pipeline then runs on the working set alone. Existing customers stay whole (their records are
linked to one another, whatever linked them before), Splink scores only pairs with a new record using
the stored model and term frequencies, and a customer a new record joins to another is merged as in a
full run. Everything outside the working set is left as it is, so the time follows the new data.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import ibis
import numpy as np
import polars as pl
import pyarrow as pa

from siyu.core import pii
from siyu.identity.features import record_features, record_rows
from siyu.identity.guard import GuardRule, linking_identifiers, quarantine
from siyu.identity.probabilistic import MatchSettings, TrainedModel, blocking_keys

MAX_NEW_SHARE = 0.25
NEW_RECORDS = "_siyu_resolve_new"
WORKING_SET = "_siyu_resolve_working"


@dataclass
class IncrementalPlan:
    records: int  # known after this run
    new_records: int
    model: TrainedModel | None
    quarantine: pa.Table  # in force, unchanged by this run
    working: ibis.Table | None  # record_key of the working set (None: nothing new)
    changed_orders_customers: pa.Array  # customers whose orders changed since the last run (summary)


def settings_fingerprint(guard: GuardRule, match: MatchSettings) -> str:
    """What a stored model and the last run's clusters depend on (not threads or memory)."""
    matching = {k: v for k, v in asdict(match).items() if k not in ("threads", "memory_limit")}
    text = json.dumps({"guard": asdict(guard), "match": matching}, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def plan_incremental(con, guard: GuardRule, match: MatchSettings, run_id: str) -> IncrementalPlan | str:
    """The plan of an incremental run, or the reason a full run is needed."""
    runs = con.table("identity_runs")
    last = runs.order_by(ibis.desc(runs.started_at)).limit(1).to_pyarrow().to_pylist()
    if not last:
        return "no earlier run"
    last = last[0]
    stored = con.table("identity_models").to_pyarrow().to_pylist()
    if not stored or stored[0]["fingerprint"] != settings_fingerprint(guard, match):
        return "the matching or guard settings changed since the last full run"
    model = load_model(stored[0]) if match.enabled else None
    if match.enabled and model is None:
        return "the last full run trained no model"
    decisions = con.table("match_decisions")
    if decisions.filter(decisions.decided_at >= last["started_at"]).count().execute():
        return "decisions were made since the last run"

    records = con.table("records")
    new = records.filter(records.record_key.notnull()).select("record_key", "seen_at")
    new = new.anti_join(con.table("customer_map"), "record_key").distinct(on="record_key")
    con.drop_table(NEW_RECORDS, force=True)
    new = con.create_table(NEW_RECORDS, new, temp=True)
    n_new = int(new.count().execute())
    if int(records.count().execute()) < last["records"] + n_new:
        return "records were removed since the last run"
    if n_new > MAX_NEW_SHARE * max(last["records"], 1):
        return f"{n_new} new records are more than {MAX_NEW_SHARE:.0%} of the {last['records']} known: retraining"

    held = con.table("quarantined_identifiers").to_pyarrow()
    ids = con.table("identifiers")
    touched = ids.semi_join(new, "record_key").select("id_type", "value_hash").distinct()
    found = quarantine(con, guard, run_id, touched)
    known = set(zip(held.column("id_type").to_pylist(), held.column("value_hash").to_pylist(), strict=True))
    if any(key not in known for key in zip(found.column("id_type").to_pylist(), found.column("value_hash").to_pylist(), strict=True)):  # fmt: skip
        return "the new records put an identifier value into quarantine"

    changed = _changed_order_customers(con, last["started_at"])
    if n_new == 0:
        return IncrementalPlan(last["records"], 0, model, held, None, changed)
    customers = _linked_customers(con, new, held)
    if model is not None:
        customers = customers.union(_candidate_customers(con, new, match))
    cmap = con.table("customer_map")
    working = cmap.semi_join(customers, "customer_id").select("record_key").union(new.select("record_key"))
    con.drop_table(WORKING_SET, force=True)
    working = con.create_table(WORKING_SET, working, temp=True)
    return IncrementalPlan(last["records"] + n_new, n_new, model, held, working, changed)


def drop_temporary(con) -> None:
    for name in (NEW_RECORDS, WORKING_SET):
        con.drop_table(name, force=True)


def _linked_customers(con, new: ibis.Table, held: pa.Table) -> ibis.Table:
    """Existing customers holding a linking identifier value a new record carries."""
    strong = linking_identifiers(con, held)
    values = strong.semi_join(new, "record_key").select("id_type", "value_hash").distinct()
    sharing = strong.semi_join(values, ["id_type", "value_hash"]).select("record_key")
    cmap = con.table("customer_map")
    return cmap.semi_join(sharing, "record_key").select("customer_id")


def _candidate_customers(con, new: ibis.Table, match: MatchSettings) -> ibis.Table:
    """Existing customers holding a record that shares a blocking key with a new record."""
    numbered = new.mutate(rid=ibis.row_number())
    rows = record_rows(con, numbered)
    n = int(rows.column("rid").to_numpy().max()) + 1 if rows.num_rows else 0
    features = record_features(rows, np.arange(n, dtype=np.int64), match.compare)
    hashes = hashed_keys(blocking_keys(features, match)).select("key_hash").unique()
    keys = con.table("match_keys").semi_join(ibis.memtable(hashes.to_arrow()), "key_hash")
    cmap = con.table("customer_map")
    return cmap.semi_join(keys.select("record_key"), "record_key").select("customer_id")


def hashed_keys(keys: pl.DataFrame) -> pl.DataFrame:
    """(unique_id, key) -> (unique_id, key_hash): each distinct key hashed once."""
    distinct = keys.get_column("key").unique()
    table = pl.DataFrame(
        {"key": distinct, "key_hash": pl.Series(pii.keyed_hash64_many(distinct.to_list()), dtype=pl.Int64)}
    )
    return keys.join(table, on="key").select("unique_id", "key_hash")


def _changed_order_customers(con, since) -> pa.Array:
    """Customers with an order whose status or amount an import changed since `since`."""
    orders = con.table("orders")
    changed = orders.filter(orders.updated_at >= since).select("record_key")
    cmap = con.table("customer_map")
    ids = cmap.semi_join(changed, "record_key").select("customer_id").distinct()
    return ids.to_pyarrow().column("customer_id").combine_chunks()


# --- the stored model ------------------------------------------------------------------------------


def model_row(run_id: str, saved_at, fingerprint: str, model: TrainedModel | None) -> dict:
    """An identity_models row: Splink's settings and the term-frequency tables, encrypted (they hold
    names)."""
    row = {"run_id": run_id, "saved_at": saved_at, "fingerprint": fingerprint, "model": None}
    row["term_frequencies"] = None
    if model is not None:
        row["model"] = pii.encrypt(json.dumps(model.settings).encode())
        long = [
            pl.from_arrow(t).select(column=pl.lit(c), value=pl.col(c).cast(pl.String), tf=pl.col(f"tf_{c}"),
                                    total=pl.lit(model.tf_totals.get(c), dtype=pl.Int64))
            for c, t in model.term_frequencies.items()
        ]  # fmt: skip
        if long:
            row["term_frequencies"] = pii.encrypt(_parquet(pl.concat(long)))
    return row


def load_model(row: dict) -> TrainedModel | None:
    if row["model"] is None:
        return None
    model = TrainedModel(json.loads(pii.decrypt(row["model"])))
    if row["term_frequencies"] is not None:
        import io

        long = pl.read_parquet(io.BytesIO(pii.decrypt(row["term_frequencies"])))
        for (column,), part in long.group_by(["column"]):
            model.term_frequencies[column] = part.select(
                pl.col("value").alias(column), pl.col("tf").alias(f"tf_{column}")
            ).to_arrow()
            # a model stored before the totals were kept: inferred from the frequencies
            total = part.get_column("total").drop_nulls() if "total" in part.columns else None
            model.tf_totals[column] = (
                int(total[0]) if total is not None and total.len() else _inferred_total(part)
            )
    return model


def _inferred_total(part: pl.DataFrame) -> int:
    """The row count a column's frequencies were counted over, for a model stored without it: the smallest
    total that makes every frequency a whole count (the rarest value held by 1, 2, ... rows)."""
    tf = part.get_column("tf").drop_nulls().to_numpy()
    if not tf.size:
        return 0
    for rarest in range(1, 1001):
        total = round(rarest / tf.min())
        counts = tf * total
        if total and np.all(np.abs(counts - np.round(counts)) < 1e-6 * np.maximum(counts, 1)):
            return int(total)
    return round(1 / tf.min())


def value_counts(model: TrainedModel) -> dict[str, dict[str, int]]:
    """{column: {value: rows holding it}} of a model's term-frequency tables (the counts behind them)."""
    counts = {}
    for column, table in model.term_frequencies.items():
        total = model.tf_totals.get(column, 0)
        values = [None if v is None else str(v) for v in table.column(column).to_pylist()]
        counts[column] = {v: round(tf * total) for v, tf in zip(values, table.column(f"tf_{column}").to_pylist(), strict=True)
                          if v is not None and tf is not None}  # fmt: skip
    return counts


def without_values(model: TrainedModel, held: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Take an erased person's rows out of the model's term frequencies, in place: `held` is {column:
    {value: rows of theirs holding it}}; each value's count goes down by theirs (a value no one else holds
    goes), the column's total by all of theirs, and the frequencies are counted again. Returns {column:
    {value: count left}} of the person's values (0: gone), what the erasure scan checks."""
    counts = value_counts(model)
    left: dict[str, dict[str, int]] = {}
    for column, mine in held.items():
        if column not in model.term_frequencies or not mine:
            continue
        known = counts[column]
        taken = 0
        left[column] = {}
        for value, n in mine.items():
            before = known.get(value, 0)
            # their rows may be newer than the model (an incremental run): never below zero
            known[value] = max(before - n, 0)
            taken += before - known[value]
            left[column][value] = known[value]
        total = max(model.tf_totals.get(column, 0) - taken, 0)
        kept = {v: c for v, c in known.items() if c > 0}
        model.tf_totals[column] = total
        table = model.term_frequencies[column]
        model.term_frequencies[column] = pa.table({
            column: pa.array(list(kept), type=pa.string()),
            f"tf_{column}": pa.array([c / total for c in kept.values()] if total else [None] * len(kept), type=pa.float64()),
        }) if table.num_rows else table  # fmt: skip
    return left


def _parquet(frame: pl.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()
