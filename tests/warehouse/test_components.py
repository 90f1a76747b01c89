"""Connected components in the engine (siyu.warehouse.components): the same partition as the driver's
siyu.identity.graph.record_components, each component labelled by its smallest record, on DuckDB and on
Spark, over generated graphs of every shape resolution meets."""

from __future__ import annotations

from collections import defaultdict

import ibis
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siyu.identity.graph import record_components
from siyu.warehouse.components import pair_components, release_components, value_components


@st.composite
def shapes(draw) -> list[tuple[int, int]]:
    """(record, value) edges of one shape, records and values numbered from 0."""
    kind = draw(st.sampled_from(["chain", "star", "singletons", "giant", "random", "duplicates"]))
    n = draw(st.integers(1, 40))
    if kind == "chain":  # record i and i+1 share value i: the longest diameter
        return [(i, i) for i in range(n)] + [(i + 1, i) for i in range(n - 1)]
    if kind == "star":  # one value on every record (a shared store phone below the guard)
        return [(i, 0) for i in range(n)]
    if kind == "singletons":  # every record a value of its own
        return [(i, i) for i in range(n)]
    if kind == "giant":  # a random spanning tree: one component of all the records
        return [(i, i) for i in range(n)] + [(i, draw(st.integers(0, i - 1))) for i in range(1, n)]
    edges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n)), min_size=1, max_size=3 * n))
    if kind == "duplicates":
        edges = edges + edges[: len(edges) // 2] + edges[:1] * 3
    return edges


@st.composite
def graphs(draw) -> tuple[np.ndarray, np.ndarray]:
    """Several shapes side by side, record ids shuffled and spread out (the smallest record of a component
    is not the first the shape made), values of each shape its own."""
    parts = draw(st.lists(shapes(), min_size=1, max_size=4))
    records, values, offset = [], [], 0
    for i, edges in enumerate(parts):
        size = max(r for r, _ in edges) + 1
        records += [offset + r for r, _ in edges]
        values += [i * 1000 + v for _, v in edges]
        offset += size
    ids = np.array(draw(st.permutations(range(offset))), dtype=np.int64) * 7 + 3
    return ids[np.array(records)], np.array(values, dtype=np.int64)


def _partition(labels: dict) -> set[frozenset]:
    groups = defaultdict(set)
    for record, label in labels.items():
        groups[label].add(record)
    return {frozenset(g) for g in groups.values()}


def reference(records: np.ndarray, values: np.ndarray) -> set[frozenset]:
    """The driver's partition (siyu.identity.graph.record_components), over the records of the edges."""
    ids, dense = np.unique(records, return_inverse=True)
    labels = record_components(len(ids), dense, values)
    return _partition(dict(zip(ids.tolist(), labels.tolist(), strict=True)))


def in_engine(con, records: np.ndarray, values: np.ndarray) -> dict[int, int]:
    edges = con.create_view("edges", ibis.memtable(pa.table({"rid": records, "vid": values})), overwrite=True)
    result = value_components(edges, record="rid", value="vid").to_pyarrow()
    return dict(zip(result.column("record").to_pylist(), result.column("component").to_pylist(), strict=True))


def check(labels: dict[int, int], records: np.ndarray, values: np.ndarray) -> None:
    assert set(labels) == set(records.tolist())  # every record of an edge, once
    assert _partition(labels) == reference(records, values)
    for component in _partition(labels):
        assert {labels[r] for r in component} == {min(component)}  # labelled by its smallest record


@given(graphs())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_duckdb_components_are_the_drivers_partition(graph):
    records, values = graph
    con = ibis.duckdb.connect()
    try:
        check(in_engine(con, records, values), records, values)
    finally:
        con.disconnect()


def test_a_long_chain_of_record_pairs_is_one_component():
    con = ibis.duckdb.connect()
    n = 3000
    order = np.random.default_rng(5).permutation(n)
    pairs = con.create_table("pairs", pa.table({"a": order[:-1], "b": order[1:]}))
    stats = {}
    result = pair_components(pairs, left="a", right="b", stats=stats).to_pyarrow()
    assert result.num_rows == n and set(result.column("component").to_pylist()) == {0}
    assert stats["rounds"] < 40  # a chain is resolved in a few dozen rounds, not in n steps


def test_records_are_compared_as_strings_too():
    con = ibis.duckdb.connect()
    edges = con.create_table(
        "edges", pa.table({"record": ["tmall|9", "pos|1", "jd|3", "jd|4"], "value": ["p1", "p1", "e", "x"]})
    )
    result = value_components(edges).to_pyarrow().to_pylist()
    assert sorted((r["record"], r["component"]) for r in result) == [
        ("jd|3", "jd|3"), ("jd|4", "jd|4"), ("pos|1", "pos|1"), ("tmall|9", "pos|1")
    ]  # fmt: skip


def test_only_its_result_stays_in_the_connection():
    con = ibis.duckdb.connect()
    edges = con.create_table("edges", pa.table({"record": [1, 2, 3, 4], "value": [1, 1, 2, 2]}))
    first = value_components(edges)
    second = value_components(edges)
    left = sorted(t for t in con.list_tables() if t.startswith("_siyu_cc_"))
    assert left == sorted(t.get_name().split(".")[-1] for t in (first, second))


@pytest.mark.spark
@pytest.mark.slow
@given(st.lists(graphs(), min_size=1, max_size=6))
@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_spark_components_equal_duckdbs_and_the_drivers(spark_warehouse, many):
    """Several graphs side by side in one Spark run (a run costs seconds, whatever its size)."""
    records, values, offset = [], [], 0
    for i, (r, v) in enumerate(many):
        records.append(r + offset)
        values.append(v + i * 10**6)
        offset = int((r + offset).max()) + 1
    records, values = np.concatenate(records), np.concatenate(values)
    on_spark = in_engine(spark_warehouse, records, values)
    check(on_spark, records, values)
    assert on_spark == in_engine(ibis.duckdb.connect(), records, values)


@pytest.mark.spark
@pytest.mark.slow
def test_spark_leaves_only_its_result_behind(spark_warehouse, spark_session):
    edges = spark_warehouse.create_view(
        "edges_chain",
        ibis.memtable(pa.table({"record": list(range(50)), "value": [i // 2 for i in range(50)]})),
    )

    def views() -> set[str]:
        return {t.name for t in spark_session.catalog.listTables() if t.name.startswith("_siyu_cc_")}

    before = views()
    result = value_components(edges)
    assert result.count().execute() == 50
    assert views() - before == {result.get_name()}
    release_components(result)
    assert views() == before


@pytest.mark.slow
def test_the_benchmark_finds_the_engines_partition_equal_to_the_drivers():
    from siyu.benchmarks.components import run

    result = run(0, engine="duckdb", records=2000)
    assert result["same_partition"] and result["records"] == 2000
    assert 0 < result["components"] < 2000 and result["engine_rounds"] >= 0


def test_a_released_result_leaves_nothing_behind():
    con = ibis.duckdb.connect()
    edges = con.create_table("edges", pa.table({"record": [1, 2, 3], "value": [1, 1, 2]}))
    release_components(value_components(edges))
    assert not [t for t in con.list_tables() if t.startswith("_siyu_cc_")]
