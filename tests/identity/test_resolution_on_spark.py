"""Both resolution stages on Spark, on a demo brand imported from its platform exports: the connected
components of the identifier graph computed in the engine (siyu.warehouse.components) partition the records
as the driver's record_components does, and Splink's Spark backend scores the same pairs as its DuckDB
backend with the same trained model."""

from __future__ import annotations

import shutil
from collections import defaultdict

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from siyu.demo.generate import generate_brand
from siyu.identity.actions import _linking, _stage_records, resolve_identities
from siyu.identity.features import record_features, record_rows
from siyu.identity.graph import record_components
from siyu.identity.guard import GuardRule
from siyu.identity.guard import quarantine as find_quarantine
from siyu.identity.probabilistic import MatchSettings, predict_pairs, predict_pairs_on_spark
from siyu.ingest.actions import import_files
from siyu.warehouse.components import value_components

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def brand_template(tmp_path_factory):
    """A 1,000-person demo brand imported through the real importers and resolved by identifiers alone,
    kept as a warehouse file each test copies."""
    from django.conf import settings

    from siyu.warehouse import connection

    folder = tmp_path_factory.mktemp("brand")
    manifest = generate_brand(folder / "files", people=1000, seed=3)
    saved = settings.WAREHOUSE_PATH
    connection.close()
    settings.WAREHOUSE_PATH = folder / "template.duckdb"
    try:
        for f in manifest.files:
            import_files([f.path], source=f.source, format=f.format)
        resolve_identities(match=MatchSettings(enabled=False))
    finally:
        connection.close()
        settings.WAREHOUSE_PATH = saved
    return folder / "template.duckdb"


@pytest.fixture
def brand(brand_template, warehouse, settings, tmp_path):
    warehouse.close()
    shutil.copy(brand_template, settings.WAREHOUSE_PATH)
    return warehouse


def _identifier_edges(con):
    """(rid, value) of every identifier row that links records in resolution (siyu.identity.actions), and
    the number of records."""
    staged, n_records, _ = _stage_records(con)
    strong = _linking(con, find_quarantine(con, GuardRule.from_settings(), "test"), MatchSettings())
    linked = strong.join(staged.select("record_key", "rid"), "record_key")
    edges = linked.select(rid=linked.rid, value=linked.id_type + ":" + linked.value_hash)
    return edges.to_pyarrow(), n_records


def _partition(labels) -> set[frozenset]:
    groups = defaultdict(set)
    for record, label in enumerate(labels):
        groups[label].add(record)
    return {frozenset(g) for g in groups.values()}


def _engine_labels(table: ibis.Table, n_records: int) -> np.ndarray:
    """Per record, its component in the engine's answer; a record with no linking identifier alone."""
    result = value_components(table, record="rid", value="value").to_pyarrow()
    labels = np.arange(n_records, dtype=np.int64)
    labels[result.column("record").to_numpy()] = result.column("component").to_numpy()
    return labels


def test_components_in_duckdb_and_in_spark_are_the_drivers(brand, spark_session, settings):
    edges, n_records = _identifier_edges(brand.backend())
    codes = pc.dictionary_encode(edges.column("value")).combine_chunks().indices.to_numpy()
    driver = _partition(record_components(n_records, edges.column("rid").to_numpy(), codes))
    assert len(driver) < n_records * 0.9  # identifiers do link records here

    duck = brand.backend()
    on_duckdb = _engine_labels(duck.create_table("edges", edges, temp=True), n_records)
    assert _partition(on_duckdb) == driver
    assert all(on_duckdb[min(c)] == min(c) for c in driver)  # each labelled by its smallest record

    settings.WAREHOUSE_ENGINE = "spark"
    from siyu.warehouse import backend

    spark = backend()
    on_spark = _engine_labels(
        spark.create_view("identity_edges", ibis.memtable(edges), overwrite=True), n_records
    )
    assert np.array_equal(on_spark, on_duckdb)


def test_splink_on_spark_scores_the_pairs_duckdb_scores(brand, spark_session):
    con = brand.backend()
    staged, n, _ = _stage_records(con)
    cmap = dict(brand.raw_connection().execute("SELECT record_key, customer_id FROM customer_map").fetchall())
    keys = staged.select("rid", "record_key").to_pyarrow()
    labels = np.zeros(n, dtype=np.int64)
    labels[keys.column("rid").to_numpy()] = [cmap[k] for k in keys.column("record_key").to_pylist()]
    features = record_features(record_rows(con, staged), labels)
    match = MatchSettings()

    on_duckdb, model = predict_pairs(features, match)
    on_spark = predict_pairs_on_spark(features, model, match, session=spark_session)

    def rows(table: pa.Table) -> dict:
        return {(r.pop("unique_id_l"), r.pop("unique_id_r")): r for r in table.to_pylist()}

    duck, spark = rows(on_duckdb), rows(on_spark)
    assert len(duck) > 100 and set(spark) == set(duck)
    for pair, scored in duck.items():
        other = spark[pair]
        assert abs(other.pop("match_probability") - scored.pop("match_probability")) <= 1e-9, pair
        assert other == scored  # clusters and the level of every compared field
