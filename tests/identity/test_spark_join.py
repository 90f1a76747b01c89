"""The probabilistic stage's join of clusters on Spark's executors (siyu.identity.spark_join) gives the
driver's join_clusters result: the same customers, links (in the same order), review rows and counts,
under the household guard, the ambiguity guard and reviewers' decisions."""

from __future__ import annotations

import ibis
import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from siyu.identity.probabilistic import MatchSettings, join_clusters
from siyu.identity.spark_join import join_clusters_on_spark

pytestmark = [pytest.mark.spark, pytest.mark.slow]


class _Features:
    """What join_clusters_on_spark reads of siyu.identity.spark_features.EngineFeatures."""

    def __init__(self, frame, filled: set[str]):
        self.frame = frame
        self._filled = filled

    def filled_columns(self) -> set[str]:
        return self._filled


def _brand(seed: int):
    """Feature rows of 60 clusters (two rows each, some with a different given name or birthday: two
    people of one household) and scored pairs between them, many chained through shared clusters."""
    rng = np.random.default_rng(seed)
    clusters = np.arange(60, dtype=np.int64) * 3  # labels need not be dense
    rows = []
    for i, c in enumerate(clusters):
        for j in range(2):
            rows.append({"unique_id": int(c) * 10 + j, "cluster": int(c), "given": f"g{i % 7}",
                         "birthday": f"19{80 + i % 5}-01-0{1 + j}" if i % 4 == 0 else f"19{80 + i % 5}-01-01",
                         "phone_full": None if i % 3 else f"139{i:08d}", "gender": None})  # fmt: skip
    features = pl.DataFrame(rows)
    pairs = []
    for _ in range(150):
        a, b = rng.choice(len(clusters), size=2, replace=False)
        ca, cb = int(clusters[a]), int(clusters[b])
        pairs.append({"unique_id_l": ca * 10, "unique_id_r": cb * 10 + 1, "cluster_l": ca, "cluster_r": cb,
                      "match_probability": float(rng.choice([0.999, 0.97, 0.96, 0.9, 0.85, rng.uniform(0.8, 1)])),
                      "field_name": str(rng.choice(["same full name", "same surname"])),
                      "field_phone": str(rng.choice(["no phone", "same phone tail"]))})  # fmt: skip
    labels = np.repeat(clusters, 5)  # five records per cluster
    forced = [(int(clusters[1]), int(clusters[40])), (int(clusters[2]), int(clusters[2]))]
    forbidden = {(int(clusters[5]), int(clusters[7]))}
    return features, pa.Table.from_pylist(pairs), labels, forced, forbidden


def _plain(result) -> dict:
    return {
        "labels": result.labels.tolist(),
        "links": result.links,
        "merges": result.merges,
        "review": result.review,
        "counts": [
            result.pairs_scored,
            result.links_above_threshold,
            result.blocked_by_guard,
            result.ambiguous,
            result.household_places,
            result.auto_linked,
        ],  # fmt: skip
    }


@pytest.mark.parametrize("seed", [1, 2])
def test_the_join_per_component_on_spark_is_the_drivers(spark_session, seed):
    features, pairs, labels, forced, forbidden = _brand(seed)
    match = MatchSettings()
    filled = {c for c in features.columns if features.get_column(c).null_count() < features.height}
    driver = join_clusters(labels, features, pairs, match, forced, forbidden, True, filled)
    con = ibis.pyspark.connect(spark_session)
    engine = join_clusters_on_spark(
        con,
        spark_session.createDataFrame(pairs),
        _Features(spark_session.createDataFrame(features.to_arrow()), filled),
        labels,
        match,
        forced,
        forbidden,
        True,
        filled,
    )
    expected, found = _plain(driver), _plain(engine)
    # the data exercises what must agree: joins, guard refusals, ambiguity, decisions, review rows
    assert len(set(driver.labels.tolist())) < len(set(labels.tolist()))
    assert (
        driver.blocked_by_guard and driver.review and any(link.get("forced") for _, _, link in driver.links)
    )
    for key in expected:
        assert found[key] == expected[key], key
