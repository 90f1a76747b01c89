"""Both resolution stages on Spark, on a demo brand imported from its platform exports: the connected
components of the identifier graph computed in the engine (siyu.warehouse.components) partition the records
as the driver's record_components does, and Splink's Spark backend scores the same pairs as its DuckDB
backend with the same trained model."""

from __future__ import annotations

import csv
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import ibis
import numpy as np
import polars as pl
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


def test_features_on_the_executors_are_the_drivers(brand, spark_session, settings):
    """The comparison features computed by Spark's executors (records repartitioned by cluster, the
    features code per partition) are the driver's rows, one per distinct (cluster, features), with a
    quarantined phone left out and the same hashed blocking keys; the driver collects only what it asks."""
    from siyu.identity.incremental import hashed_keys
    from siyu.identity.probabilistic import blocking_keys
    from siyu.identity.spark_features import EngineFeatures
    from siyu.warehouse import backend

    con = brand.backend()
    staged, n, _ = _stage_records(con)
    cmap = dict(brand.raw_connection().execute("SELECT record_key, customer_id FROM customer_map").fetchall())
    keys = staged.select("rid", "record_key").to_pyarrow()
    labels = np.zeros(n, dtype=np.int64)
    labels[keys.column("rid").to_numpy()] = [cmap[k] for k in keys.column("record_key").to_pylist()]
    shared = np.arange(0, n, 7, dtype=np.int64)  # as if these records' phones were quarantined
    rows = record_rows(con, staged)
    at = rows.schema.get_field_index("phone_kind")
    unshared = pc.invert(pc.is_in(rows.column("rid"), value_set=pa.array(shared)))
    rows = rows.set_column(at, "phone_kind", pc.if_else(unshared, rows.column("phone_kind"), None))
    new = np.zeros(n, dtype=bool)
    new[n // 2 :] = True
    driver = record_features(rows, labels, new=new)
    records = con.table("records").to_pyarrow()

    settings.WAREHOUSE_ENGINE = "spark"
    spark = backend()
    spark.create_table("records", records, temp=True, overwrite=True)
    on_spark = spark.create_table("staged_for_test", keys, temp=True, overwrite=True)
    features = EngineFeatures.compute(spark, on_spark, labels, new=new, unshared_phone=shared)
    try:
        assert features.count() == driver.height > 1000
        engine = features.training_sample(10**9)
        assert engine.drop("records").equals(driver.drop("records"))
        assert engine.get_column("records").to_list() == driver.get_column("records").to_list()
        # a sample keeps whole clusters, about the size asked
        sample = features.training_sample(driver.height // 4)
        sizes = driver.group_by("cluster").len()
        picked = sample.group_by("cluster").len()
        assert picked.join(sizes, on="cluster").filter(pl.col("len") != pl.col("len_right")).is_empty()
        assert driver.height // 8 < sample.height < driver.height // 2
        some = driver.get_column("cluster").unique().to_numpy()[:25]
        subset = features.rows_of_clusters(some)
        assert subset.drop("records").equals(driver.filter(pl.col("cluster").is_in(some)).drop("records"))
        assert features.filled_columns() == {
            c for c in driver.columns if driver.get_column(c).null_count() < driver.height
        }
        match = MatchSettings()
        expected = hashed_keys(blocking_keys(driver.filter(pl.col("is_new")), match))
        hashed = pl.from_arrow(features.hashed_keys(match, new_only=True).toArrow())
        assert sorted(hashed.iter_rows()) == sorted(expected.iter_rows()) and hashed.height
    finally:
        features.release()
        spark.drop_table("records", force=True)
        spark.drop_table("staged_for_test", force=True)


SURNAMES, GIVEN = "赵钱孙李周吴郑王冯陈", "伟芳娜敏静丽强磊军洋"


def _chain_export(path) -> Path:
    """A generic till export of 40 people, each sharing a phone or a member number with the next: every
    value is on two records of two names (within every value limit), yet together they are one customer of
    40 names, which the guard splits (max_customer_names, 30)."""
    rows = [
        [f"T{n:03d}", SURNAMES[n // 10] + GIVEN[n % 10], f"1390000{n // 2:04d}", f"CARD{(n + 1) // 2:04d}"]
        for n in range(40)
    ]
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["单号", "姓名", "手机号", "会员卡"], *rows])
    return path


def _kiosk_export(path) -> Path:
    """Two records that share no identifier: a kiosk sign-up with the full phone, and one with the phone
    masked (weak: it links nothing) and the same rare name and birthday. Only the probabilistic stage can
    join them (in a 300-person brand alone it does; beside this test's till chain it scores them below the
    threshold, so here they are two customers: whichever, both engines must agree)."""
    rows = [["K1", "欧阳明哲", "13912345678", "1988-03-14"], ["K2", "欧阳明哲", "139****5678", "1988-03-14"]]
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["单号", "姓名", "手机号", "生日"], *rows])
    return path


def _customer_of_kiosk_records() -> dict[str, int]:
    from siyu.warehouse import backend

    con = backend()
    records = con.table("records").filter(lambda t: t.source == "kiosk").select("record_key", "record_id")
    joined = records.join(con.table("customer_map"), "record_key")
    return {r["record_id"]: r["customer_id"] for r in joined.to_pyarrow().to_pylist()}


def _map_rows() -> list[tuple]:
    from warehouse.engines import table_rows

    return table_rows("customer_map", ["record_key", "customer_id"])


@pytest.mark.django_db
def test_spark_resolves_in_the_engine_and_gives_duckdbs_customers(spark_session, settings, tmp_path, monkeypatch):
    """A demo brand with a giant customer to split and probabilistic merges, resolved in full and then
    incrementally after more records land: on Spark the components come from the engine and the pairs
    from Splink's Spark backend (no identifier row collected for the driver's graph, no pair scored on the
    driver's DuckDB), with DuckDB's customer map after both runs."""
    from siyu.identity import actions
    from siyu.warehouse import connection

    calls: Counter = Counter()

    def counted(name):
        real = getattr(actions, name)

        def spy(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(actions, name, spy)

    names = ("value_components", "predict_pairs_on_spark", "_components", "predict_pairs", "predict_new_pairs",
             "record_features", "join_clusters", "join_clusters_on_spark")  # fmt: skip
    for name in names:
        counted(name)
    # what the driver collects of the features the executors computed: (rows collected, rows in all)
    from siyu.identity.spark_features import EngineFeatures

    collected: list[tuple[str, int, int]] = []

    def collecting(name):
        real = getattr(EngineFeatures, name)

        def spy(self, *args, **kwargs):
            rows = real(self, *args, **kwargs)
            collected.append((name, rows.height, self.count()))
            return rows

        monkeypatch.setattr(EngineFeatures, name, spy)

    collecting("rows_of_clusters")
    collecting("training_sample")

    manifest = generate_brand(tmp_path / "brand", people=300, seed=11)
    # the Youzan orders land between the runs: their buyers' names and phones give new pairs to score
    [later] = [f for f in manifest.files if f.source == "youzan"]
    first_files = [f for f in manifest.files if f is not later]
    chain = _chain_export(tmp_path / "till.csv")
    mapping = {"单号": "record_id", "姓名": "name", "手机号": "phone", "会员卡": "id:member_no"}
    kiosk = _kiosk_export(tmp_path / "kiosk.csv")
    kiosk_mapping = {"单号": "record_id", "姓名": "name", "手机号": "phone", "生日": "birthday"}
    kiosk_customers: dict[str, dict[str, int]] = {}
    results = {}
    for engine in ("duckdb", "spark"):
        connection.close()
        calls.clear()
        settings.WAREHOUSE_ENGINE = engine
        settings.WAREHOUSE_PATH = tmp_path / "warehouse.duckdb"
        settings.WAREHOUSE_SPARK_MASTER = "local[2]"
        settings.WAREHOUSE_LOCATION = str(tmp_path / "warehouse-spark")
        for f in first_files:
            import_files([Path(f.path)], f.source, f.format)
        import_files([chain], source="till", format="generic", mapping=mapping)
        import_files([kiosk], source="kiosk", format="generic", mapping=kiosk_mapping)
        full = resolve_identities(match=MatchSettings.from_settings(), full=True)
        after_full = _map_rows()
        kiosk_customers[engine] = _customer_of_kiosk_records()
        import_files([Path(later.path)], later.source, later.format)
        incremental = resolve_identities(match=MatchSettings.from_settings())
        results[engine] = (full, after_full, incremental, _map_rows(), dict(calls))
    connection.close()

    duck_full, duck_map, duck_inc, duck_map_2, duck_calls = results["duckdb"]
    spark_full, spark_map, spark_inc, spark_map_2, spark_calls = results["spark"]
    # the brand exercises what differs: a giant split, probabilistic joins, an incremental run with new pairs
    assert [q["rule"] for q in duck_full.quarantined_identifiers].count("customer") >= 1
    assert duck_full.probabilistic["clusters_joined"] > 0
    assert duck_inc.mode == "incremental" and duck_inc.probabilistic["clusters_joined"] > 0
    assert duck_calls == {"_components": 2, "predict_pairs": 1, "predict_new_pairs": 1, "record_features": 2,
                          "join_clusters": 2}  # fmt: skip
    # on Spark the driver builds no features (the executors do), and neither the scored pairs nor any
    # feature row come to it to join the clusters (the executors join them per component of the pairs);
    # it trains on a sample (here all rows: fewer than the cap) in the full run only
    assert spark_calls == {"value_components": 2, "predict_pairs_on_spark": 2, "join_clusters_on_spark": 2}
    assert [name for name, _, _ in collected] == ["training_sample"]
    [(_, sample, rows)] = collected
    assert sample == rows <= actions.TRAINING_SAMPLE_ROWS, collected
    assert spark_map == duck_map and spark_map_2 == duck_map_2 and duck_map_2 != duck_map
    # the two kiosk records, which share no identifier, get the same customers on both engines
    assert kiosk_customers["spark"] == kiosk_customers["duckdb"] and len(kiosk_customers["duckdb"]) == 2
    for field in ("customers", "merges", "splits", "quarantined", "mode"):
        assert getattr(spark_full, field) == getattr(duck_full, field), field
        assert getattr(spark_inc, field) == getattr(duck_inc, field), field
    for key in ("pairs_scored", "links", "clusters_joined", "to_review"):
        assert spark_full.probabilistic[key] == duck_full.probabilistic[key], key
        assert spark_inc.probabilistic[key] == duck_inc.probabilistic[key], key


@pytest.mark.django_db
def test_labelled_public_data_gives_the_same_customers_on_spark(spark_session, settings, tmp_path):
    """FEBRL 1 (public, labelled; generic fields compared: first and last names, birthday, address…), with
    a labels file of known pairs to learn m from: Spark's customers are DuckDB's. On Spark the features of
    the generic fields come from the executors, the generic blocking rules are decided over the engine's
    rows, and the driver builds features only of the labelled records' clusters."""
    from siyu.benchmarks.datasets import DATASETS, truth, unpack
    from siyu.identity import actions
    from siyu.warehouse import connection

    dataset = DATASETS["febrl1"]
    paths = unpack(dataset, tmp_path)
    people = truth(dataset)
    pairs = people.group_by("person_id").agg(pl.col("record_id").sort()).filter(pl.col("record_id").list.len() == 2)
    labels = tmp_path / "labels.csv"
    labels.write_text("source_a,record_id_a,source_b,record_id_b\n" + "".join(
        f"{dataset.files[0].source},{a},{dataset.files[0].source},{b}\n" for a, b in pairs.get_column("record_id").to_list()[:60]
    ))  # fmt: skip
    built: list[int] = []
    real = actions.record_features

    def spy(rows, *args, **kwargs):
        built.append(rows.num_rows)
        return real(rows, *args, **kwargs)

    results = {}
    for engine in ("duckdb", "spark"):
        connection.close()
        built.clear()
        settings.WAREHOUSE_ENGINE = engine
        settings.WAREHOUSE_PATH = tmp_path / "warehouse.duckdb"
        settings.WAREHOUSE_LOCATION = str(tmp_path / "warehouse-spark")
        for f, path in zip(dataset.files, paths, strict=True):
            assert not import_files([path], source=f.source, format="generic", mapping=f.mapping).files[0].error
        actions.record_features = spy
        try:
            report = resolve_identities(match=MatchSettings(compare=dataset.compare, labels=str(labels)), full=True)
        finally:
            actions.record_features = real
        results[engine] = (report, _map_rows(), list(built))
    connection.close()

    (duck, duck_map, duck_built), (spark, spark_map, spark_built) = results["duckdb"], results["spark"]
    assert duck.probabilistic["clusters_joined"] > 300  # the duplicates are found by matching alone
    assert spark_map == duck_map
    for key in ("pairs_scored", "links", "clusters_joined", "to_review"):
        assert spark.probabilistic[key] == duck.probabilistic[key], key
    assert duck_built == [1000]  # every record on DuckDB; on Spark only the 60 labelled pairs' clusters
    assert len(spark_built) == 1 and spark_built[0] <= 120
