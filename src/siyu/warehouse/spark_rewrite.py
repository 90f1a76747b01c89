"""Erasure, retention and key rotation on the Spark warehouse: the functions of siyu.warehouse.erasure,
siyu.warehouse.retention and siyu.warehouse.ciphertexts, one for one, as copy-on-write rewrites of the
Parquet tables of siyu.warehouse.spark_store.

Parquet has no row-level UPDATE or DELETE, so `rewrite` finds the segments (directories of Parquet files) of
a table holding a matching row, writes their rows — the matching ones changed or left out — into one new
segment, and stages the table's new version: the untouched segments plus that one. Every table a call
touches is switched in by one commit (siyu.warehouse.spark_store.Transaction), so a reader sees the
warehouse wholly before or wholly after the erasure. The replaced segments stay on disk, unreferenced, until
`vacuum` deletes them once older than spark_store.RETAIN_SECONDS (one hour: a reader still on the previous
version can finish); `purge_replaced` deletes them at once, which an erasure does — an erased person's
old ciphertexts and hashes must not linger for an hour.
"""

from __future__ import annotations

import shutil

import pyarrow as pa
from pyspark.sql import functions as F

from siyu.core import pii
from siyu.warehouse import spark_store
from siyu.warehouse.connection import backend, exclusive_writes, transaction

# ---------------------------------------------------------------- reading and rewriting


def _session():
    """The session whose views show the warehouse as this thread sees it (its open transaction's, or the
    process's at the newest commit)."""
    return backend()._session


def _table(name: str):
    return _session().table(name)


def _flag(condition):
    return F.coalesce(condition, F.lit(False))


def _segments_with(tx, table: str, pick) -> list[str]:
    """The segments of `table` holding a row of `pick(frame)` (a filter or a semi-join of the table)."""
    segments = tx.table_segments(table)
    if not segments:
        return []
    marked = tx.frame(table).withColumn("_siyu_file", F.input_file_name())
    files = {r[0] for r in pick(marked).select("_siyu_file").distinct().collect()}
    return [s for s in segments if any(f"/{table}/{s}/" in f for f in files)]


def _replace_segments(tx, table: str, touched: list[str], out) -> None:
    """Stage `table` as its untouched segments plus one new segment of `out` (the touched ones' rows)."""
    kept = [s for s in tx.table_segments(table) if s not in touched]
    tx.set_segments(table, [*kept, spark_store.write_frame_segment(table, out)])
    replaced = tx.__dict__.setdefault("replaced", {})
    replaced.setdefault(table, []).extend(touched)


def rewrite(tx, table: str, hit, *, delete: bool = False, updates: dict | None = None) -> int:
    """Rewrite the segments of `table` that hold a row where `hit` (a Column) is true: those rows left out
    (`delete`) or with `updates` {column: Column} applied. Stages the new version in `tx`; returns the rows
    hit. Segments without a hit are kept as they are (an erasure rewrites the few holding the person)."""
    hit = _flag(hit)
    touched = _segments_with(tx, table, lambda frame: frame.filter(hit))
    if not touched:
        return 0
    rows = spark_store.frame_of(tx.session, table, touched)
    count = rows.filter(hit).count()
    if delete:
        out = rows.filter(~hit)
    else:
        updates = updates or {}
        out = rows.select(*[F.when(hit, updates[c]).otherwise(F.col(c)).alias(c) if c in updates else F.col(c)
                            for c in rows.columns])  # fmt: skip
    _replace_segments(tx, table, touched, out)
    return int(count)


def purge_replaced(replaced: dict[str, list[str]]) -> None:
    """Delete at once the segments an erasure replaced (rather than with vacuum, an hour later): their rows
    hold what was erased. A reader still on the previous version fails and reads again."""
    _, tables = spark_store.latest_commit()
    for table, segments in replaced.items():
        current = set(spark_store.read_version(table, tables[table])) if table in tables else set()
        for segment in segments:
            if segment not in current:
                shutil.rmtree(spark_store.segment_path(table, segment), ignore_errors=True)


def _in(column: str, values) -> object:
    return F.col(column).isin(list(values))


# ---------------------------------------------------------------- a person's records


def record_keys_of(customer_id: int) -> list[str]:
    rows = (
        _table("customer_map").filter(F.col("customer_id") == int(customer_id)).select("record_key").collect()
    )
    return sorted(r[0] for r in rows)


def records_pii(record_keys: list[str]) -> list[dict]:
    rows = (
        _table("records")
        .filter(_in("record_key", record_keys))
        .select("record_key", "name_hash", "phone_hash", "email_hash", "pii")
        .collect()
    )
    return [{"record_key": k, "name_hash": n, "phone_hash": p, "email_hash": e,
             "pii": (pii.decrypt_json(bytes(c)) or {}) if c is not None else {}} for k, n, p, e, c in rows]  # fmt: skip


def identifier_hashes(record_keys: list[str], erased: str) -> list[tuple[str, str]]:
    rows = (
        _table("identifiers")
        .filter(_in("record_key", record_keys) & ~_in("id_type", ["order", erased]))
        .select("id_type", "value_hash")
        .distinct()
        .collect()
    )
    return [(t, h) for t, h in rows if h]


def raw_rows_of(record_keys: list[str]) -> dict[tuple[str, int], set[int]]:
    raw = _table("raw_rows").filter(_in("record_key", record_keys)).select("batch_id", "row_number")
    chunks = _table("raw_chunks").select("batch_id", "chunk_no", "first_row", "last_row")
    joined = raw.join(chunks, "batch_id").filter(
        (F.col("row_number") >= F.col("first_row")) & (F.col("row_number") <= F.col("last_row"))
    )
    found: dict[tuple[str, int], set[int]] = {}
    for batch_id, row_number, chunk_no in joined.select("batch_id", "row_number", "chunk_no").collect():
        found.setdefault((batch_id, int(chunk_no)), set()).add(int(row_number))
    return found


def batches_of(record_keys: list[str]) -> list[str]:
    rows = _table("raw_rows").filter(_in("record_key", record_keys)).select("batch_id").distinct().collect()
    return sorted(r[0] for r in rows)


def raw_chunk_payload(batch_id: str, chunk_no: int) -> bytes | None:
    rows = (
        _table("raw_chunks")
        .filter((F.col("batch_id") == batch_id) & (F.col("chunk_no") == int(chunk_no)))
        .select("payload")
        .limit(1)
        .collect()
    )
    return bytes(rows[0][0]) if rows else None


def chunks_of_batches(batch_ids) -> list[tuple[str, int]]:
    rows = _table("raw_chunks").filter(_in("batch_id", batch_ids)).select("batch_id", "chunk_no").collect()
    return sorted((b, int(c)) for b, c in rows)


def erase_records(customer_id: int, record_keys: list[str], value_hashes: list[str], *, record_pii, summary_pii,
                  erased: str, erased_hash: str, strip_chunk) -> dict:  # fmt: skip
    """siyu.warehouse.erasure.erase_records on Spark: every touched table rewritten and switched in by one
    commit; `strip_chunk(batch_id, chunk_no, rows)` gives the chunk's new row (first_row, last_row,
    payload), or None when no row is left, and the raw rows removed."""
    counts = {"raw_rows": 0, "raw_chunks": 0, "records": 0, "identifiers": 0, "summary": 0}
    with exclusive_writes(), transaction() as tx:
        touched = sorted(raw_rows_of(record_keys).items())
        fresh = []
        for (batch_id, chunk_no), rows in touched:
            kept, removed = strip_chunk(batch_id, chunk_no, rows)
            counts["raw_rows"] += removed
            counts["raw_chunks"] += 1
            if kept is not None:
                fresh.append({"batch_id": batch_id, "chunk_no": chunk_no, "first_row": kept[0],
                              "last_row": kept[1], "payload": kept[2]})  # fmt: skip
        if touched:
            pairs = F.concat_ws("\x1f", F.col("batch_id"), F.col("chunk_no").cast("string"))
            rewrite(tx, "raw_chunks", pairs.isin([f"{b}\x1f{c}" for (b, c), _ in touched]), delete=True)
            if fresh:
                tx.append_arrow(
                    "raw_chunks", pa.Table.from_pylist(fresh, schema=spark_store.arrow_schema("raw_chunks"))
                )
        mine = _in("record_key", record_keys)
        nulls = {c: F.lit(None) for c in record_pii}
        counts["records"] = rewrite(tx, "records", mine & F.col("pii").isNotNull(), updates=nulls)
        counts["identifiers"] = rewrite(
            tx, "identifiers", mine & ~_in("id_type", ["order", erased]), delete=True
        )
        records = tx.frame("records").filter(mine).select("record_key", "source")
        have = tx.frame("identifiers").filter(mine & (F.col("id_type") == erased)).select("record_key")
        missing = records.join(have, "record_key", "left_anti").collect()
        if missing:
            tx.append_arrow("identifiers", pa.table({
                "record_key": [r[0] for r in missing], "source": [r[1] for r in missing],
                "id_type": [erased] * len(missing), "value_hash": [erased_hash] * len(missing),
                "strong": [True] * len(missing),
            }))  # fmt: skip
        rewrite(tx, "match_keys", mine, delete=True)
        if value_hashes:
            rewrite(tx, "quarantined_identifiers", _in("value_hash", value_hashes), delete=True)
        summary_hit = (F.col("customer_id") == int(customer_id)) & (
            F.col("pii").isNotNull() | F.col("phone_hash").isNotNull() | F.col("name_hash").isNotNull()
        )
        counts["summary"] = rewrite(
            tx, "customer_summary", summary_hit, updates={c: F.lit(None) for c in summary_pii}
        )
        replaced = tx.__dict__.get("replaced", {})
    purge_replaced(replaced)
    return counts


def hashes_found(value_hashes: list[str], columns) -> dict[str, int]:
    found = {}
    for table, column in columns:
        n = _table(table).filter(_in(column, value_hashes)).count()
        if n:
            found[f"{table}.{column}"] = int(n)
    return found


def pii_left(record_keys: list[str], customer_id: int) -> dict[str, int]:
    found = {}
    if record_keys:
        n = _table("records").filter(_in("record_key", record_keys) & F.col("pii").isNotNull()).count()
        if n:
            found["records.pii"] = int(n)
    n = (
        _table("customer_summary")
        .filter((F.col("customer_id") == int(customer_id)) & F.col("pii").isNotNull())
        .count()
    )
    if n:
        found["customer_summary.pii"] = int(n)
    return found


# ---------------------------------------------------------------- the chat archive


def chat_members() -> list[str]:
    messages = _table("chat_messages")
    senders = messages.filter(~_flag(F.col("is_staff"))).select(F.col("sender").alias("member"))
    receivers = messages.select(F.explode("recipients").alias("member"))
    members = senders.unionByName(receivers).distinct()
    members = members.filter(F.col("member").startswith("wm") | F.col("member").startswith("wo"))
    return [m for (m,) in members.collect() if m]


def _texts() -> list[tuple[str, str]]:
    messages = _table("chat_messages").filter(F.col("text").isNotNull() & (F.col("text") != ""))
    return [(m, t) for m, t in messages.select("msgid", "text").collect()]


def anonymise_chat_members(member_ids: list[str], pseudonym: str, blank_text) -> dict:
    mentioned = sorted(msgid for msgid, text in _texts() if blank_text(text))
    ids = sorted(set(member_ids))
    counts = {"messages": 0, "texts": 0}
    if not ids and not mentioned:
        return counts
    wanted = F.array(*[F.lit(i) for i in ids]) if ids else F.array().cast("array<string>")
    received = F.arrays_overlap(F.col("recipients"), wanted)
    with exclusive_writes(), transaction() as tx:
        blank = (F.col("text") != "") & (
            _in("msgid", mentioned) | _in("sender", ids) | ((F.col("room_id") == "") & received)
        )
        counts["texts"] = rewrite(tx, "chat_messages", blank, updates={"text": F.lit("")})
        if ids:
            counts["messages"] = rewrite(
                tx, "chat_messages", _in("sender", ids) | received,
                updates={
                    "sender": F.when(_in("sender", ids), F.lit(pseudonym)).otherwise(F.col("sender")),
                    "recipients": F.transform(
                        "recipients", lambda r: F.when(r.isin(ids), F.lit(pseudonym)).otherwise(r)
                    ),
                },
            )  # fmt: skip
        replaced = tx.__dict__.get("replaced", {})
    purge_replaced(replaced)
    return counts


def chat_texts_matching(matches) -> int:
    return sum(1 for _, text in _texts() if matches(text))


# ---------------------------------------------------------------- retention


def delete_older_than(table: str, column: str, cut_off, *, dry_run: bool = False) -> int:
    old = F.col(column) < F.lit(cut_off)
    if dry_run:
        return int(_table(table).filter(old).count())
    with exclusive_writes(), transaction() as tx:
        return rewrite(tx, table, old, delete=True)


def delete_raw_rows_before(cut_off, *, dry_run: bool = False) -> int:
    batches = (
        _table("import_batches").filter(F.col("finished_at") < F.lit(cut_off)).select("batch_id").collect()
    )
    batch_ids = sorted(r[0] for r in batches)
    if not batch_ids:
        return 0
    if dry_run:
        return int(_table("raw_rows").filter(_in("batch_id", batch_ids)).count())
    with exclusive_writes(), transaction() as tx:
        removed = rewrite(tx, "raw_rows", _in("batch_id", batch_ids), delete=True)
        rewrite(tx, "raw_chunks", _in("batch_id", batch_ids), delete=True)
    return removed


# ---------------------------------------------------------------- key rotation (siyu.warehouse.ciphertexts)


# A rewrite costs the segments it touches whatever the number of ciphertexts changed in them, so a batch on
# Spark is at least this many (the rotation job asks for 500, DuckDB's UPDATE by row id being cheap per
# row): a table of 10M records is re-encrypted in 50 commits, each batch held in the driver (~40 MB).
SPARK_ROTATION_BATCH = 200_000


def _key_of(column: str, mark: bytes, min_length: int):
    """The key id (two hex digits) a ciphertext of `column` was written with; "00" for one made before key
    ids (as siyu.core.pii.key_id_of)."""
    c = F.col(column)
    marked = (F.length(c) >= min_length) & (F.substring(c, 1, len(mark)) == F.lit(bytearray(mark)))
    return F.when(marked, F.hex(F.substring(c, len(mark) + 1, 1))).otherwise(F.lit("00"))


def count_by_key(table: str, column: str, mark: bytes, min_length: int) -> dict[int, int]:
    frame = _table(table).filter(F.col(column).isNotNull())
    rows = frame.groupBy(_key_of(column, mark, min_length).alias("k")).count().collect()
    return {int(k, 16): int(n) for k, n in rows}


def reencrypt_batch(
    table: str, column: str, newest: int, limit: int, mark: bytes, min_length: int
) -> tuple[int, int]:
    """Up to max(`limit`, SPARK_ROTATION_BATCH) distinct ciphertexts of table.column not under key `newest`
    re-encrypted (in the driver) and written back by a rewrite of the segments holding them (joined on the
    old ciphertext: a copy of one, as customer_summary.pii is of a record's, gets the same new one). Returns
    (rows changed, their bytes)."""
    from pyspark.sql.functions import broadcast

    with exclusive_writes(), transaction() as tx:
        stale = F.col(column).isNotNull() & (_key_of(column, mark, min_length) != f"{newest:02X}")
        old = (
            tx.frame(table)
            .filter(stale)
            .select(F.col(column).alias("_old"))
            .distinct()
            .limit(max(int(limit), SPARK_ROTATION_BATCH))
            .collect()
        )
        if not old:
            return 0, 0
        pairs = [(bytes(o), pii.reencrypt(bytes(o))) for (o,) in old]
        mapping = tx.session.createDataFrame(pa.table({
            "_old": pa.array([o for o, _ in pairs], pa.binary()), "_new": pa.array([n for _, n in pairs], pa.binary()),
        }))  # fmt: skip
        touched = _segments_with(
            tx,
            table,
            lambda frame: frame.join(broadcast(mapping), frame[column] == mapping._old, "left_semi"),
        )
        rows = spark_store.frame_of(tx.session, table, touched)
        joined = rows.join(broadcast(mapping), rows[column] == mapping._old, "left")
        changed = int(joined.filter(F.col("_new").isNotNull()).count())
        out = joined.select(
            *[F.coalesce(F.col("_new"), rows[c]).alias(c) if c == column else rows[c] for c in rows.columns]
        )
        _replace_segments(tx, table, touched, out)
    return changed, sum(len(n) for _, n in pairs)
