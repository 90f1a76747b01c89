"""The probabilistic stage's join of clusters computed on Spark's executors (issue 17).

probabilistic.join_clusters merges deterministic clusters along the scored pairs, best first, under the
household and ambiguity guards and the reviewers' decisions. That greedy order is global, but a merge can
only ever involve clusters that a chain of scored pairs or decisions connects: the evidence a guard
compares is a cluster's own (and grows only by merging), a decision names two clusters, the ambiguity guard
reads a cluster's partners. So the join runs per connected component of the graph whose nodes are clusters
and whose edges are the scored pairs and the decisions: the components are computed in the engine
(siyu.warehouse.components.pair_components), the pairs and the feature rows of the clusters they touch are
grouped by component (a cogroup), and each group runs join_clusters itself in a Python worker. Sorting the
links and review rows of all groups by the global order (decisions first, then probability, then the
clusters) gives exactly join_clusters' result over all pairs.

What comes to the driver: the clusters that were merged (and the root each joined), the links that merged
them (the merge log's evidence) and the review rows (the review queue), plus a few counts; never the
scored pairs nor the feature rows. The shared-evidence threshold (`MatchSettings.shared_evidence_threshold`,
off by default) reads every row at a pair's place, not only the component's: with it set the driver join
is used (siyu.identity.actions._match_on_spark).
"""

from __future__ import annotations

import json
import uuid

import numpy as np
import polars as pl
import pyarrow as pa

from siyu.identity.probabilistic import MatchSettings, ProbabilisticResult, join_clusters

SCORED, FORCED, FORBIDDEN = 0, 1, 2
_COUNTS = ("pairs_scored", "links_above_threshold", "blocked_by_guard", "ambiguous", "household_places")
_OUT = pa.schema(
    [("kind", pa.string()), ("a", pa.int64()), ("b", pa.int64()), ("payload", pa.string())]
    + [(c, pa.int64()) for c in _COUNTS]
)


def _group_join(
    left: pa.Table, right: pa.Table, match: MatchSettings, households: bool, filled: set[str]
) -> pa.Table:
    """Executor side: join_clusters over one component's pairs and decisions (`left`) and the feature
    rows of its clusters (`right`)."""
    kind = left.column("kind").to_numpy()
    a, b, order = (left.column(c).to_numpy() for c in ("cluster_l", "cluster_r", "order"))
    forced_at = np.flatnonzero(kind == FORCED)
    forced_at = forced_at[np.argsort(order[forced_at], kind="stable")]
    forced = [(int(a[i]), int(b[i])) for i in forced_at]
    forbidden = {(int(a[i]), int(b[i])) for i in np.flatnonzero(kind == FORBIDDEN)}
    scored = left.filter(pa.array(kind == SCORED)).drop_columns(["kind", "order", "component"])
    features = pl.from_arrow(right.drop_columns(["component"]))
    assert isinstance(features, pl.DataFrame)
    clusters = np.unique(np.concatenate([a, b]))
    result = join_clusters(clusters, features, scored, match, forced, forbidden, households, filled)
    rows = []
    for cluster, root in zip(clusters, result.labels, strict=True):
        if cluster != root:
            rows.append({"kind": "root", "a": int(cluster), "b": int(root)})
    best = {}  # each merged pair's probability unrounded: the global order sorts by it
    if scored.num_rows:
        frame = pl.from_arrow(scored.select(["cluster_l", "cluster_r", "match_probability"]))
        assert isinstance(frame, pl.DataFrame)
        frame = frame.group_by(
            a=pl.min_horizontal("cluster_l", "cluster_r"), b=pl.max_horizontal("cluster_l", "cluster_r")
        ).agg(pl.col("match_probability").max())
        best = {(x, y): p for x, y, p in frame.iter_rows()}
    forced_order = {}
    for rank, pair in enumerate(forced):
        forced_order.setdefault(pair, int(order[forced_at[rank]]))
    for x, y, link in result.links:
        key = [0, forced_order[(x, y)], 0, 0] if link.get("forced") else [1, -best[(x, y)], x, y]
        rows.append({"kind": "link", "a": x, "b": y, "payload": json.dumps({"link": link, "key": key})})
    for row in result.review:
        rows.append({"kind": "review", "payload": json.dumps(row)})
    counts = {c: getattr(result, c) for c in _COUNTS}
    rows.append({"kind": "counts", **counts})
    return pa.Table.from_pylist(rows, schema=_OUT)


def join_clusters_on_spark(
    con,
    pairs,
    features,
    labels: np.ndarray,
    match: MatchSettings,
    forced: list[tuple[int, int]] = (),
    forbidden: set[tuple[int, int]] = frozenset(),
    households: bool = True,
    filled: set[str] | None = None,
) -> ProbabilisticResult:
    """probabilistic.join_clusters with `pairs` a Spark DataFrame of scored pairs (predict_pairs_on_spark
    with as_frame) and `features` the engine's features (siyu.identity.spark_features.EngineFeatures); the
    same result. `con`: the warehouse's Ibis backend (Spark)."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    from siyu.warehouse.components import pair_components, release_components

    session = con._session
    name = f"siyu_pairs_{uuid.uuid4().hex[:12]}"
    pairs.createOrReplaceGlobalTempView(name)
    comps = None
    try:
        scored = (
            session.table(f"global_temp.{name}")
            .withColumn("kind", F.lit(SCORED))
            .withColumn("order", F.lit(0).cast("long"))
        )
        decided = [(int(x), int(y), FORCED, i) for i, (x, y) in enumerate(forced)]
        decided += [(int(x), int(y), FORBIDDEN, 0) for x, y in sorted(forbidden)]
        if decided:
            table = pa.table(
                {
                    "cluster_l": pa.array([d[0] for d in decided], pa.int64()),
                    "cluster_r": pa.array([d[1] for d in decided], pa.int64()),
                    "kind": pa.array([d[2] for d in decided], pa.int32()),
                    "order": pa.array([d[3] for d in decided], pa.int64()),
                }
            )
            scored = scored.unionByName(session.createDataFrame(table), allowMissingColumns=True)
        left = scored.withColumns({c: F.col(c).cast("long") for c in ("cluster_l", "cluster_r")})
        edges_view = f"siyu_pair_edges_{uuid.uuid4().hex[:12]}"
        left.select("cluster_l", "cluster_r").createOrReplaceTempView(edges_view)
        try:
            comps = pair_components(con.table(edges_view), "cluster_l", "cluster_r")
        finally:
            session.catalog.dropTempView(edges_view)
        component = session.table(comps.get_name().split(".")[-1])

        def labelled(cluster: str):  # fresh attributes on each side: the cogroup's keys are not ambiguous
            return component.select(F.col("record").alias(cluster), F.col("component").alias("component"))

        left = left.join(labelled("cluster_l"), "cluster_l")
        rows = features.frame.join(labelled("cluster"), "cluster")
        filled = set(filled if filled is not None else features.filled_columns())

        def udf(left: pa.Table, right: pa.Table) -> pa.Table:  # two parameters: Spark passes no key
            return _group_join(left, right, match, households, filled)

        out = (
            left.groupBy("component")
            .cogroup(rows.groupBy("component"))
            .applyInArrow(udf, from_arrow_schema(_OUT))
            .localCheckpoint(eager=True)
        )
        try:
            counts = (
                out.filter(F.col("kind") == "counts").agg(*[F.sum(c).alias(c) for c in _COUNTS]).collect()[0]
            )
            found = out.filter(F.col("kind") != "counts").select("kind", "a", "b", "payload").toArrow()
        finally:
            out.unpersist()
    finally:
        if comps is not None:
            release_components(comps)
        session.catalog.dropGlobalTempView(name)
    return _result(labels, found, {c: int(counts[c] or 0) for c in _COUNTS})


def _result(labels: np.ndarray, found: pa.Table, counts: dict) -> ProbabilisticResult:
    """The groups' outputs as one ProbabilisticResult, in join_clusters' global order."""
    result = ProbabilisticResult(labels=labels, **counts)
    kind = found.column("kind").to_numpy(zero_copy_only=False)
    roots = found.filter(pa.array(kind == "root"))
    if roots.num_rows:
        unique_labels = np.unique(labels)
        mapped = unique_labels.copy()
        at = np.searchsorted(unique_labels, roots.column("a").to_numpy())
        mapped[at] = roots.column("b").to_numpy()
        result.labels = mapped[np.searchsorted(unique_labels, labels)]
    links = []
    for row in found.filter(pa.array(kind == "link")).to_pylist():
        payload = json.loads(row["payload"])
        link = payload["link"]
        if "pair" in link:
            link["pair"] = tuple(link["pair"])
        links.append((payload["key"], row["a"], row["b"], link))
    links.sort(key=lambda item: item[0])
    result.links = [(a, b, link) for _, a, b, link in links]
    for a, b, link in result.links:
        result.merges.setdefault(b, link)
        result.merges.setdefault(a, link)
    result.auto_linked = sum(1 for _, _, link in result.links if link.get("auto_rule"))
    review = [json.loads(p) for p in found.filter(pa.array(kind == "review")).column("payload").to_pylist()]
    review.sort(key=lambda r: (-r["match_probability"], r["cluster_l"], r["cluster_r"]))
    result.review = review
    return result
