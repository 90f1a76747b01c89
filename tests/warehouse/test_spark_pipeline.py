"""The pipeline after an import — resolution (both stages), the customer summary, traits, a segment — gives
the same customers, ids, traits and members on Spark as on DuckDB, from the demo brand's real-format exports."""

from __future__ import annotations

from pathlib import Path

import pytest

from warehouse.engines import table_rows

pytestmark = [pytest.mark.django_db, pytest.mark.spark, pytest.mark.slow]

PEOPLE = 300
RULE = {"all": [{"field": "r_score", "op": ">=", "value": 3}, {"bought": {"within_days": 365, "at_least": 1}}]}
# columns written with the time of the run (the current snapshot is "as of" now), not computed from the facts
VOLATILE = {"resolved_at", "computed_at", "updated_at", "refreshed_at", "entered_at", "changed_at", "as_of"}
# ciphertexts: each engine's import encrypts with nonces of its own (the summary's copy is checked against its
# record's instead)
CIPHERTEXTS = {"pii"}


def _run_pipeline() -> dict[str, object]:
    from siyu.identity.actions import resolve_identities
    from siyu.identity.probabilistic import MatchSettings
    from siyu.segments.actions import refresh_segment, refresh_traits, save_segment
    from siyu.segments.traits import TRAITS_TABLE
    from siyu.warehouse.schema import TABLES
    from siyu.warehouse.summary import rebuild_customer_summary

    resolved = resolve_identities(match=MatchSettings.from_settings(), full=True)
    rebuild_customer_summary()
    refresh_traits()
    segment = save_segment(None, f"recent buyers {resolved.run_id}", rule=RULE, materialise=False)
    refreshed = refresh_segment(segment.pk)

    def rows(table: str) -> list[tuple]:
        return table_rows(table, [c for c in TABLES[table].names if c not in VOLATILE | CIPHERTEXTS])

    record_pii = dict(table_rows("records", ["record_key", "pii"]))

    return {
        "customers": resolved.customers,
        "customer_map": rows("customer_map"),
        "customer_summary": rows("customer_summary"),
        "summary_pii_is_its_records": all(
            pii == record_pii[key] for key, pii in table_rows("customer_summary", ["pii_record_key", "pii"])
        ),
        "traits": rows(TRAITS_TABLE),
        "members": sorted(r[1] for r in table_rows("segment_members", ["segment_id", "customer_id"])
                          if r[0] == segment.pk),  # fmt: skip
        "entered": refreshed["entered"],
    }


def test_the_pipeline_gives_the_same_customers_traits_and_members_on_both_engines(spark_session, settings, tmp_path):
    from siyu.demo.generate import generate_brand
    from siyu.ingest.actions import import_files
    from siyu.warehouse import connection

    manifest = generate_brand(tmp_path / "brand", people=PEOPLE, seed=11)
    results = {}
    for engine in ("duckdb", "spark"):
        connection.close()
        settings.WAREHOUSE_ENGINE = engine
        settings.WAREHOUSE_PATH = tmp_path / "warehouse.duckdb"
        settings.WAREHOUSE_SPARK_MASTER = "local[2]"
        settings.WAREHOUSE_LOCATION = str(tmp_path / "warehouse-spark")
        for f in manifest.files:
            import_files([Path(f.path)], f.source, f.format)
        results[engine] = _run_pipeline()
    connection.close()
    duck, spark = results["duckdb"], results["spark"]
    assert duck["customers"] > PEOPLE // 2 and duck["members"]  # the brand resolved and the rule found buyers
    assert duck["summary_pii_is_its_records"]
    for name in duck:
        assert spark[name] == duck[name], name
