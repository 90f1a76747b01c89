"""Key rotation's warehouse part on both engines (siyu.warehouse.ciphertexts): re-encrypting every PII
column under a new key leaves the same counts per key on DuckDB and on Spark, on copies of the brand."""

from __future__ import annotations

import pytest

from warehouse_contract.compare import assert_same
from warehouse_contract.test_erasure import _a_person_with_a_phone, _on_each_copy

pytestmark = [pytest.mark.django_db, pytest.mark.spark, pytest.mark.slow]


def test_key_rotation_reencrypts_the_same_ciphertexts_on_both_engines(
    contract_brand, tmp_path_factory, settings
):
    """Key rotation's warehouse part (siyu.warehouse.ciphertexts): after a new key is added, each PII column
    is re-encrypted under it in batches until none is left under an older key — the same counts per key on
    both engines, and the person's PII decrypts to the same values as before."""
    import secrets

    from siyu.core import pii
    from siyu.warehouse import ciphertexts
    from siyu.warehouse import erasure as warehouse_erasure

    customer_id = _a_person_with_a_phone(contract_brand)
    reloaded = dict(pii._reloaded_ring)
    old = dict(pii._ring_hex())
    newest = max(old) + 1
    settings.PII_KEY_RING = {**old, newest: secrets.token_hex(32)}
    pii._reloaded_ring.clear()
    pii._clear_caches()

    def counts():
        return {f"{t}.{c}": ciphertexts.count_by_key(t, c) for t, c in ciphertexts.COLUMNS}

    def scenario(con):
        keys = warehouse_erasure.record_keys_of(customer_id)
        values = warehouse_erasure.records_pii(keys)
        before, done = counts(), {}
        for table, column in ciphertexts.COLUMNS:
            done[f"{table}.{column}"] = 0
            while count := ciphertexts.reencrypt_batch(table, column, newest, 1000)[0]:
                done[f"{table}.{column}"] += count  # DuckDB in batches of 1000, Spark in larger ones
        return {
            "before": before,
            "done": done,
            "after": counts(),
            "same_pii": warehouse_erasure.records_pii(keys) == values,
        }

    try:
        duckdb, spark = _on_each_copy(contract_brand, tmp_path_factory, scenario)
    finally:
        pii._reloaded_ring.update(reloaded)
        pii._clear_caches()
    assert duckdb["same_pii"] and sum(duckdb["done"].values()) > 1000
    assert all(set(by_key) <= {newest} for by_key in duckdb["after"].values())
    assert sum(duckdb["after"]["records.pii"].values()) == sum(duckdb["before"]["records.pii"].values()) > 0
    assert_same(duckdb, spark, "key rotation")
