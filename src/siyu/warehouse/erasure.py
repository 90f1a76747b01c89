"""Erasing one person from the warehouse (PIPL art. 47; siyu.privacy.erasure decides what and when).

What a person's records hold of them is made unreadable in place: the PII columns of `records` and
`customer_summary` (keyed hashes, masks, the encrypted `pii`) become NULL, their identifier rows and
blocking keys go, and every raw chunk holding one of their rows is decrypted, stripped of those rows and
encrypted again (a new nonce; the old ciphertext is gone with the row DuckDB rewrites). The records
themselves, `customer_map` and every order, item and event stay: aggregates keep their customer id.

Each function runs on the warehouse's engine: on DuckDB as UPDATE/DELETE by key inside one transaction; on
Spark as a copy-on-write rewrite of the Parquet segments holding the keys, every touched table switched in by
one commit, the replaced segments deleted at once (siyu.warehouse.spark_rewrite). Callers (siyu.privacy,
siyu.community.archive) do not care which.
"""

from __future__ import annotations

import io

import polars as pl

from siyu.core import pii
from siyu.warehouse.connection import engine, exclusive_writes, raw_connection, transaction

# The columns of `records` / `customer_summary` that hold or point at a person (the rest is what
# aggregates need: source, kind, store, province/city, times).
RECORD_PII = ("name_hash", "name_masked", "phone_hash", "phone_masked", "phone_tail", "phone_kind", "email_hash",
              "email_masked", "gender", "birthday", "district", "tags", "owner_staff", "pii")  # fmt: skip
SUMMARY_PII = ("name_masked", "name_hash", "phone_masked", "phone_tail", "phone_hash", "gender", "birthday",
               "district", "tags", "owner_staff", "pii_record_key", "pii")  # fmt: skip


ERASED = "erased"  # the id type joining an erased person's records


def _spark():
    """siyu.warehouse.spark_rewrite when the warehouse runs on Spark, else None."""
    if engine() != "spark":
        return None
    from siyu.warehouse import spark_rewrite

    return spark_rewrite


def _in(values) -> tuple[str, list]:
    values = list(values)
    return ", ".join("?" * len(values)), values


def record_keys_of(customer_id: int) -> list[str]:
    """The records resolved into this customer (customer_map)."""
    if (spark := _spark()) is not None:
        return spark.record_keys_of(customer_id)
    con = raw_connection()
    rows = con.execute(
        "SELECT record_key FROM customer_map WHERE customer_id = ? ORDER BY 1", [int(customer_id)]
    )
    return [r[0] for r in rows.fetchall()]


def records_pii(record_keys: list[str]) -> list[dict]:
    """Each record's hashes and decrypted `pii` JSON ({} once erased)."""
    if (spark := _spark()) is not None:
        return spark.records_pii(record_keys) if record_keys else []
    if not record_keys:
        return []
    marks, values = _in(record_keys)
    rows = (
        raw_connection()
        .execute(
            f"SELECT record_key, name_hash, phone_hash, email_hash, pii FROM records WHERE record_key IN ({marks})",
            values,
        )
        .fetchall()
    )
    return [{"record_key": k, "name_hash": n, "phone_hash": p, "email_hash": e,
             "pii": (pii.decrypt_json(bytes(c)) or {}) if c is not None else {}} for k, n, p, e, c in rows]  # fmt: skip


def identifier_hashes(record_keys: list[str]) -> list[tuple[str, str]]:
    """(id_type, value_hash) of the records' identifiers, orders' keys left out (they are no person's)."""
    if (spark := _spark()) is not None:
        return spark.identifier_hashes(record_keys, ERASED) if record_keys else []
    if not record_keys:
        return []
    marks, values = _in(record_keys)
    rows = (
        raw_connection()
        .execute(
            f"SELECT DISTINCT id_type, value_hash FROM identifiers WHERE record_key IN ({marks}) AND id_type NOT IN ('order', '{ERASED}')",
            values,
        )
        .fetchall()
    )
    return [(t, h) for t, h in rows if h]


def raw_rows_of(record_keys: list[str]) -> dict[tuple[str, int], set[int]]:
    """{(batch_id, chunk_no): the row numbers of these records' raw rows in that chunk}."""
    if (spark := _spark()) is not None:
        return spark.raw_rows_of(record_keys) if record_keys else {}
    if not record_keys:
        return {}
    marks, values = _in(record_keys)
    rows = (
        raw_connection()
        .execute(
            f"SELECT r.batch_id, r.row_number, c.chunk_no FROM raw_rows r JOIN raw_chunks c ON c.batch_id = r.batch_id "
            f"AND r.row_number BETWEEN c.first_row AND c.last_row WHERE r.record_key IN ({marks})",
            values,
        )
        .fetchall()
    )
    found: dict[tuple[str, int], set[int]] = {}
    for batch_id, row_number, chunk_no in rows:
        found.setdefault((batch_id, int(chunk_no)), set()).add(int(row_number))
    return found


def batches_of(record_keys: list[str]) -> list[str]:
    """The import batches the records' raw rows came from (lineage stays after erasure)."""
    if (spark := _spark()) is not None:
        return spark.batches_of(record_keys) if record_keys else []
    if not record_keys:
        return []
    marks, values = _in(record_keys)
    rows = (
        raw_connection()
        .execute(f"SELECT DISTINCT batch_id FROM raw_rows WHERE record_key IN ({marks}) ORDER BY 1", values)
        .fetchall()
    )
    return [r[0] for r in rows]


def raw_chunk(batch_id: str, chunk_no: int) -> pl.DataFrame | None:
    if (spark := _spark()) is not None:
        payload = spark.raw_chunk_payload(batch_id, chunk_no)
    else:
        row = (
            raw_connection()
            .execute(
                "SELECT payload FROM raw_chunks WHERE batch_id = ? AND chunk_no = ?", [batch_id, chunk_no]
            )
            .fetchone()
        )
        payload = None if row is None else bytes(row[0])
    return None if payload is None else pl.read_ipc_stream(io.BytesIO(pii.decrypt(payload)))


def chunks_of_batches(batch_ids) -> list[tuple[str, int]]:
    if (spark := _spark()) is not None:
        return spark.chunks_of_batches(sorted(set(batch_ids)))
    marks, values = _in(sorted(set(batch_ids)))
    if not values:
        return []
    rows = (
        raw_connection()
        .execute(
            f"SELECT batch_id, chunk_no FROM raw_chunks WHERE batch_id IN ({marks}) ORDER BY 1, 2", values
        )
        .fetchall()
    )
    return [(b, int(c)) for b, c in rows]


def _encrypted_ipc(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_ipc_stream(buffer, compression="zstd")
    return pii.encrypt(buffer.getvalue())


def _strip_chunk(batch_id: str, chunk_no: int, rows: set[int]) -> tuple[tuple[int, int, bytes] | None, int]:
    """The raw chunk without these row numbers: ((first_row, last_row, payload encrypted anew) or None when
    no row is left, rows removed)."""
    frame = raw_chunk(batch_id, chunk_no)
    kept = frame.filter(~pl.col("__row__").is_in(sorted(rows)))
    removed = frame.height - kept.height
    if kept.height == 0:
        return None, removed
    rows_kept = kept.get_column("__row__")
    return (int(rows_kept.min()), int(rows_kept.max()), _encrypted_ipc(kept)), removed


def erase_records(customer_id: int, record_keys: list[str], value_hashes: list[str]) -> dict:
    """Make the person's PII unreadable in the warehouse, in one transaction: raw chunks re-encrypted
    without their rows (a chunk left empty is deleted), PII columns of their records and summary row
    blanked, their identifiers, blocking keys and quarantined values deleted, and one `erased` identifier
    per record keeps them one customer. Returns counts."""
    counts = {"raw_rows": 0, "raw_chunks": 0, "records": 0, "identifiers": 0, "summary": 0}
    if not record_keys:
        return counts
    erased_hash = pii.keyed_hash(f"{ERASED}:customer-{int(customer_id)}")
    if (spark := _spark()) is not None:
        return spark.erase_records(customer_id, record_keys, value_hashes, record_pii=RECORD_PII,
                                   summary_pii=SUMMARY_PII, erased=ERASED, erased_hash=erased_hash,
                                   strip_chunk=_strip_chunk)  # fmt: skip
    marks, keys = _in(record_keys)
    with exclusive_writes(), transaction() as con:
        for (batch_id, chunk_no), rows in sorted(raw_rows_of(record_keys).items()):
            kept, removed = _strip_chunk(batch_id, chunk_no, rows)
            counts["raw_rows"] += removed
            counts["raw_chunks"] += 1
            if kept is None:
                con.execute(
                    "DELETE FROM raw_chunks WHERE batch_id = ? AND chunk_no = ?", [batch_id, chunk_no]
                )
                continue
            first, last, payload = kept
            con.execute(
                "UPDATE raw_chunks SET payload = ?, first_row = ?, last_row = ? WHERE batch_id = ? AND chunk_no = ?",
                [payload, first, last, batch_id, chunk_no],
            )
        blank = ", ".join(f"{c} = NULL" for c in RECORD_PII)
        counts["records"] = con.execute(
            f"UPDATE records SET {blank} WHERE record_key IN ({marks}) AND pii IS NOT NULL", keys
        ).fetchone()[0]
        counts["identifiers"] = con.execute(
            f"DELETE FROM identifiers WHERE record_key IN ({marks}) AND id_type NOT IN ('order', '{ERASED}')",
            keys,
        ).fetchone()[0]
        # one strong identifier of no one's value keeps the records one customer through a full resolve
        # (without it each record becomes a customer of its own, and the opt-out stays on the old id)
        con.execute(
            f"INSERT INTO identifiers (record_key, source, id_type, value_hash, strong) SELECT r.record_key, r.source, "
            f"'{ERASED}', ?, true FROM records r WHERE r.record_key IN ({marks}) AND NOT EXISTS (SELECT 1 FROM "
            f"identifiers i WHERE i.record_key = r.record_key AND i.id_type = '{ERASED}')",
            [erased_hash, *keys],
        )
        con.execute(f"DELETE FROM match_keys WHERE record_key IN ({marks})", keys)
        if value_hashes:
            hash_marks, hashes = _in(value_hashes)
            con.execute(f"DELETE FROM quarantined_identifiers WHERE value_hash IN ({hash_marks})", hashes)
        blank = ", ".join(f"{c} = NULL" for c in SUMMARY_PII)
        counts["summary"] = con.execute(
            f"UPDATE customer_summary SET {blank} WHERE customer_id = ? AND (pii IS NOT NULL OR phone_hash IS NOT "
            "NULL OR name_hash IS NOT NULL)",
            [int(customer_id)],
        ).fetchone()[0]
    return counts


# Every column of the warehouse that holds a keyed hash of a person's value (what the scan searches).
HASH_COLUMNS = (("records", "name_hash"), ("records", "phone_hash"), ("records", "email_hash"),
                ("identifiers", "value_hash"), ("customer_summary", "name_hash"), ("customer_summary", "phone_hash"),
                ("quarantined_identifiers", "value_hash"))  # fmt: skip


def hashes_found(value_hashes: list[str]) -> dict[str, int]:
    """{"table.column": rows} where any of these keyed hashes is still stored."""
    if (spark := _spark()) is not None:
        return spark.hashes_found(sorted(set(value_hashes)), HASH_COLUMNS) if value_hashes else {}
    if not value_hashes:
        return {}
    marks, hashes = _in(sorted(set(value_hashes)))
    con = raw_connection()
    found = {}
    for table, column in HASH_COLUMNS:
        n = con.execute(f"SELECT count(*) FROM {table} WHERE {column} IN ({marks})", hashes).fetchone()[0]
        if n:
            found[f"{table}.{column}"] = n
    return found


def pii_left(record_keys: list[str], customer_id: int) -> dict[str, int]:
    """Rows of the person that still carry encrypted PII (records.pii, customer_summary.pii)."""
    if (spark := _spark()) is not None:
        return spark.pii_left(record_keys, customer_id)
    found = {}
    if record_keys:
        marks, keys = _in(record_keys)
        n = (
            raw_connection()
            .execute(f"SELECT count(*) FROM records WHERE record_key IN ({marks}) AND pii IS NOT NULL", keys)
            .fetchone()[0]
        )
        if n:
            found["records.pii"] = n
    n = (
        raw_connection()
        .execute(
            "SELECT count(*) FROM customer_summary WHERE customer_id = ? AND pii IS NOT NULL",
            [int(customer_id)],
        )
        .fetchone()[0]
    )
    if n:
        found["customer_summary.pii"] = n
    return found


# --- the chat archive (siyu.community.archive decides whose ids these are) ---------------------------------


def chat_members() -> list[str]:
    """Every customer id in `chat_messages` (as a sender or a receiver): whose they are is the caller's."""
    if (spark := _spark()) is not None:
        return spark.chat_members()
    con = raw_connection()
    rows = con.execute(
        "SELECT DISTINCT member FROM (SELECT sender AS member FROM chat_messages WHERE NOT is_staff UNION ALL "
        "SELECT unnest(recipients) AS member FROM chat_messages) WHERE member LIKE 'wm%' OR member LIKE 'wo%'"
    ).fetchall()
    return [m for (m,) in rows if m]


def anonymise_chat_members(member_ids: list[str], pseudonym: str, blank_text) -> dict:
    """In `chat_messages`, these customer ids become `pseudonym` (as the sender and among the receivers),
    and the text goes of what they sent, of the 1-on-1 messages they received and of every message
    `blank_text(text)` says holds them. The messages stay (counts and response times do not change)."""
    if (spark := _spark()) is not None:
        return spark.anonymise_chat_members(member_ids, pseudonym, blank_text)
    con = raw_connection()
    texts = con.execute("SELECT msgid, text FROM chat_messages WHERE text IS NOT NULL AND text <> ''")
    texts = texts.fetchall()
    mentioned = sorted(msgid for msgid, text in texts if blank_text(text))
    ids = sorted(set(member_ids))
    counts = {"messages": 0, "texts": 0}
    if not ids and not mentioned:
        return counts
    mine = "(sender IN (SELECT unnest(?::VARCHAR[])) OR list_has_any(recipients, ?::VARCHAR[]))"
    with exclusive_writes(), transaction() as tx:
        counts["texts"] = tx.execute(
            "UPDATE chat_messages SET text = '' WHERE text <> '' AND (msgid IN (SELECT unnest(?::VARCHAR[])) OR "
            "sender IN (SELECT unnest(?::VARCHAR[])) OR (room_id = '' AND list_has_any(recipients, ?::VARCHAR[])))",
            [mentioned, ids, ids],
        ).fetchone()[0]
        if ids:
            counts["messages"] = tx.execute(
                f"UPDATE chat_messages SET sender = CASE WHEN list_contains(?::VARCHAR[], sender) THEN ? ELSE sender "
                f"END, recipients = list_transform(recipients, lambda r: CASE WHEN list_contains(?::VARCHAR[], r) "
                f"THEN ? ELSE r END) WHERE {mine}",
                [ids, pseudonym, ids, pseudonym, ids, ids],
            ).fetchone()[0]
    return counts


def chat_texts_matching(matches) -> int:
    """Messages of `chat_messages` whose text `matches(text)` says holds a person (the erasure scan)."""
    if (spark := _spark()) is not None:
        return spark.chat_texts_matching(matches)
    rows = raw_connection().execute("SELECT text FROM chat_messages WHERE text IS NOT NULL AND text <> ''")
    return sum(1 for (text,) in rows.fetchall() if matches(text))
