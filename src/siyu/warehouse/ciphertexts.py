"""The warehouse's PII ciphertext columns, for key rotation (siyu.core.rotation): how many are under each
key, and re-encrypting a batch of those under an older key in one short transaction. On Spark the same by a
copy-on-write rewrite of the Parquet segments holding them (siyu.warehouse.spark_rewrite; the replaced
segments, with the old ciphertexts, go with the store's vacuum an hour later)."""

from __future__ import annotations

import pyarrow as pa

from siyu.core import pii
from siyu.warehouse.connection import engine, exclusive_writes, raw_connection, transaction

# (table, column) of every column holding siyu.core.pii ciphertext (schema.TABLES: the "binary" ones)
COLUMNS = (
    ("raw_chunks", "payload"),
    ("records", "pii"),
    ("customer_summary", "pii"),
    ("identity_models", "model"),
    ("identity_models", "term_frequencies"),
)
_MIN_MARKED = len(pii.KEY_MARK) + 1 + 12 + 16


def _spark():
    """siyu.warehouse.spark_rewrite when the warehouse runs on Spark, else None."""
    if engine() != "spark":
        return None
    from siyu.warehouse import spark_rewrite

    return spark_rewrite


def _key_expr(column: str) -> str:
    return (
        f"CASE WHEN octet_length({column}) >= {_MIN_MARKED} AND {column}[1:{len(pii.KEY_MARK)}] = $mark "
        f"THEN hex({column}[{len(pii.KEY_MARK) + 1}:{len(pii.KEY_MARK) + 1}]) ELSE '00' END"
    )


def _exists(table: str) -> bool:
    return bool(
        raw_connection()
        .execute("SELECT 1 FROM information_schema.tables WHERE table_name = ?", [table])
        .fetchall()
    )


def count_by_key(table: str, column: str) -> dict[int, int]:
    if (spark := _spark()) is not None:
        return spark.count_by_key(table, column, pii.KEY_MARK, _MIN_MARKED)
    if not _exists(table):
        return {}
    rows = (
        raw_connection()
        .execute(
            f"SELECT {_key_expr(column)} AS k, count(*) FROM {table} WHERE {column} IS NOT NULL GROUP BY k",
            {"mark": pii.KEY_MARK},
        )
        .fetchall()
    )
    return {int(k, 16): n for k, n in rows}


def reencrypt_batch(table: str, column: str, newest: int, limit: int) -> tuple[int, int]:
    """Re-encrypt up to `limit` ciphertexts of table.column not under key `newest`; (count, bytes)."""
    if (spark := _spark()) is not None:
        return spark.reencrypt_batch(table, column, newest, limit, pii.KEY_MARK, _MIN_MARKED)
    if not _exists(table):
        return 0, 0
    with exclusive_writes(), transaction() as con:
        rows = con.execute(
            f"SELECT rowid, {column} FROM {table} WHERE {column} IS NOT NULL AND {_key_expr(column)} <> $key "
            f"LIMIT {int(limit)}",
            {"mark": pii.KEY_MARK, "key": f"{newest:02X}"},
        ).fetchall()
        if not rows:
            return 0, 0
        fresh = [pii.reencrypt(bytes(value)) for _, value in rows]
        update = pa.table(
            {"rid": pa.array([r for r, _ in rows], pa.int64()), "value": pa.array(fresh, pa.large_binary())}
        )
        con.register("_reencrypted", update)
        try:
            con.execute(
                f"UPDATE {table} SET {column} = _reencrypted.value FROM _reencrypted WHERE {table}.rowid = _reencrypted.rid"
            )
        finally:
            con.unregister("_reencrypted")
    return len(rows), sum(len(v) for v in fresh)


def register() -> None:
    from functools import partial

    from siyu.core.rotation import register_ciphertexts

    for table, column in COLUMNS:
        register_ciphertexts(
            f"warehouse {table}.{column}",
            partial(count_by_key, table, column),
            partial(reencrypt_batch, table, column),
        )
