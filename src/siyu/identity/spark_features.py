"""The comparison features of the probabilistic stage computed on Spark's executors (issue 17).

On DuckDB the driver builds the features of every record (siyu.identity.features.record_features). On
Spark the records, with their deterministic label joined as `cluster`, are repartitioned by cluster and
each partition runs the same code (features.clustered_features) in an Arrow UDF (`mapInArrow`): a cluster
lives in one partition, so the "one row per distinct (cluster, features)" folding is the driver's. The
result is a persisted DataFrame of the session (memory, spilling to Spark's local directories), never a
warehouse table; the driver collects only what it needs of it: a bounded training sample of whole
clusters (training_sample), the rows of the clusters the scored pairs touch (rows_of_clusters), and
aggregates (filled_columns, pairs_within).

The executors decrypt the PII: the PII and match keys travel in the task closures (pii.keys_hex →
pii.use_keys in the Python worker). In local mode the workers are processes of the driver's host; on a
cluster the keys cross the network to the executors, which should then run with Spark's RPC encryption
(docs/architecture.md, "Resolution on Spark").
"""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Iterator

import numpy as np
import polars as pl
import pyarrow as pa

from siyu.core import pii
from siyu.identity import generic_fields as generic
from siyu.identity.features import RECORD_COLUMNS, clustered_features

# Records per partition of the feature UDF: each partition's records, decrypted and normalised by polars,
# are in one Python worker at once (about 1.9 GB per million records in the driver, docs/benchmarks.md),
# so 200,000 records keep a worker near 400 MB.
RECORDS_PER_PARTITION = 200_000


def _partition_features(
    batches: Iterator[pa.RecordBatch], compare: tuple[str, ...], keys: dict[str, str], schema: pa.Schema
) -> Iterator[pa.RecordBatch]:
    """Executor side: the features of one partition's records (whole clusters)."""
    pii.use_keys(keys)
    batches = list(batches)
    if not batches or not sum(b.num_rows for b in batches):
        return
    out = clustered_features(pa.Table.from_batches(batches), compare)
    yield from out.to_arrow().select(schema.names).cast(schema).to_batches()


def _partition_keys(batches: Iterator[pa.RecordBatch], match, keys: dict[str, str]) -> Iterator[pa.RecordBatch]:
    """Executor side: the hashed blocking keys (rid, key_hash) of feature rows (siyu.identity.incremental
    .hashed_keys of probabilistic.blocking_keys)."""
    from siyu.identity.incremental import hashed_keys
    from siyu.identity.probabilistic import blocking_keys

    pii.use_keys(keys)
    for batch in batches:
        if not batch.num_rows:
            continue
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        hashed = hashed_keys(blocking_keys(frame, match)).rename({"unique_id": "rid"})
        table = hashed.select(pl.col("rid").cast(pl.Int64), pl.col("key_hash").cast(pl.Int64)).to_arrow()
        yield from table.to_batches()


def _arrow_schema(compare: tuple[str, ...], flagged: bool, record_types: pa.Schema) -> pa.Schema:
    """The features' schema, from the same code over no record."""
    empty = record_types.empty_table().append_column("cluster", pa.array([], pa.int64()))
    if flagged:
        empty = empty.append_column("is_new", pa.array([], pa.bool_()))
    out = clustered_features(empty, compare).to_arrow()
    fields = []
    for f in out.schema:
        kind = f.type
        if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            kind = pa.string()
        elif pa.types.is_integer(kind):
            kind = pa.int64()
        fields.append(pa.field(f.name, kind))
    return pa.schema(fields)


class EngineFeatures:
    """The features of every record as a persisted Spark DataFrame (`frame`), and what the driver asks
    of them. Release with release()."""

    def __init__(self, frame, session):
        self.frame = frame
        self.session = session
        self._views: list[str] = []

    @classmethod
    def compute(
        cls,
        con,
        staged,
        labels: np.ndarray,
        compare: tuple[str, ...] = (),
        new: np.ndarray | None = None,
        unshared_phone: np.ndarray | None = None,
    ) -> EngineFeatures:
        """The features of the `staged` records (an Ibis table of the Spark backend with rid and
        record_key), `labels[rid]` their deterministic cluster, `new[rid]` their is_new flag; the records
        whose rid is in `unshared_phone` are compared without their phone (it is quarantined)."""
        from pyspark import StorageLevel
        from pyspark.sql import functions as F
        from pyspark.sql.pandas.types import from_arrow_schema

        session = con._session
        records = con.table("records").select("record_key", *RECORD_COLUMNS)
        rows = staged.select("rid", "record_key").join(records, "record_key").select("rid", *RECORD_COLUMNS)
        con._run_pre_execute_hooks(rows)
        frame = session.sql(con.compile(rows))
        n = len(labels)
        label_table = {"rid": np.arange(n, dtype=np.int64), "cluster": labels.astype(np.int64, copy=False)}
        if new is not None:
            label_table["is_new"] = new.astype(bool, copy=False)
        if unshared_phone is not None and len(unshared_phone):
            shared = np.zeros(n, dtype=bool)
            shared[unshared_phone] = True
            label_table["shared_phone"] = shared
        clusters = session.createDataFrame(pa.table(label_table))
        frame = frame.join(clusters, "rid")
        if "shared_phone" in label_table:
            frame = frame.withColumn(
                "phone_kind", F.when(F.col("shared_phone"), F.lit(None)).otherwise(F.col("phone_kind"))
            ).drop("shared_phone")
        partitions = max(
            int(session.conf.get("spark.sql.shuffle.partitions")), math.ceil(n / RECORDS_PER_PARTITION)
        )
        frame = frame.repartition(partitions, "cluster")
        record_types = pa.schema(
            [pa.field("rid", pa.int64())]
            + [f for f in rows.schema().to_pyarrow() if f.name in RECORD_COLUMNS]
        )
        schema = _arrow_schema(compare, new is not None, record_types)
        udf = functools.partial(_partition_features, compare=compare, keys=pii.keys_hex(), schema=schema)
        features = frame.mapInArrow(udf, from_arrow_schema(schema)).persist(StorageLevel.MEMORY_AND_DISK)
        features.count()
        return cls(features, session)

    def count(self) -> int:
        return self.frame.count()

    def clusters_at_least(self, n: int) -> bool:
        return self.frame.select("cluster").distinct().limit(n).count() >= n

    def any_new(self) -> bool:
        return bool(self.frame.filter("is_new").limit(1).count())

    def filled_columns(self) -> set[str]:
        """The columns at least one feature row has a value in."""
        from pyspark.sql import functions as F

        counts = self.frame.agg(*[F.count(F.col(c)).alias(c) for c in self.frame.columns]).collect()[0]
        return {c for c in self.frame.columns if counts[c]}

    def pairs_within(self, columns: tuple[str, ...]) -> int:
        """generic.pairs_within over the engine's rows."""
        from pyspark.sql import functions as F

        if any(c not in self.frame.columns for c in columns):
            return 0
        rows = self.frame
        for c in columns:
            rows = rows.filter(F.col(c).isNotNull())
        sizes = rows.groupBy(*columns).count()
        total = sizes.agg(F.sum(F.col("count") * (F.col("count") - 1) / 2).alias("n")).collect()[0]["n"]
        return int(total or 0)

    def hashed_keys(self, match, new_only: bool = False):
        """The hashed blocking keys (rid, key_hash) of the rows (of the new rows, `new_only`), a Spark
        DataFrame computed on the executors."""
        from pyspark.sql.types import LongType, StructField, StructType

        rows = self.frame.filter("is_new") if new_only else self.frame
        udf = functools.partial(_partition_keys, match=match, keys=pii.keys_hex())
        schema = StructType([StructField("rid", LongType()), StructField("key_hash", LongType())])
        return rows.mapInArrow(udf, schema)

    def training_sample(self, limit: int, keep: set[int] = frozenset()) -> pl.DataFrame:
        """Feature rows of whole clusters, about `limit` of them: all rows when there are no more, else the
        clusters a hash of the label picks at the rate that gives `limit`, and the clusters in `keep`."""
        from pyspark.sql import functions as F

        total = self.count()
        if total <= limit:
            return self._collect(self.frame)
        per_million = int(limit / total * 1_000_000)
        picked = F.pmod(F.xxhash64(F.col("cluster")), F.lit(1_000_000)) < per_million
        if keep:
            picked = picked | F.col("cluster").isin(sorted(keep))
        return self._collect(self.frame.filter(picked))

    def rows_of_clusters(self, clusters: np.ndarray, places_of: np.ndarray | None = None) -> pl.DataFrame:
        """The feature rows of `clusters`, and, given `places_of` (unique ids), every row at the place
        (probabilistic.PLACE) of those rows."""
        from siyu.identity.probabilistic import PLACE

        if not len(clusters):
            return self._collect(self.frame.limit(0))
        wanted = self.session.createDataFrame(pa.table({"cluster": np.unique(clusters).astype(np.int64)}))
        rows = self.frame.join(wanted, "cluster", "left_semi")
        if places_of is not None and len(places_of) and set(PLACE) <= set(self.frame.columns):
            ids = self.session.createDataFrame(pa.table({"unique_id": np.unique(places_of).astype(np.int64)}))
            places = self.frame.join(ids, "unique_id", "left_semi").select(*PLACE).dropna().distinct()
            at = self.frame.join(places, list(PLACE), "left_semi")
            rows = rows.unionByName(at, allowMissingColumns=False).distinct()
        return self._collect(rows.select(*self.frame.columns))

    def view(self) -> str:
        """A global temporary view of the features (readable from a child session: Splink's)."""
        name = f"siyu_features_{uuid.uuid4().hex[:12]}"
        self.frame.createOrReplaceGlobalTempView(name)
        self._views.append(name)
        return f"global_temp.{name}"

    def _collect(self, frame) -> pl.DataFrame:
        out = pl.from_arrow(frame.toArrow())
        assert isinstance(out, pl.DataFrame)
        return out.sort("unique_id")

    def release(self) -> None:
        for name in self._views:
            self.session.catalog.dropGlobalTempView(name)
        self._views.clear()
        self.frame.unpersist()


def generic_rules(features: EngineFeatures, match) -> list[str]:
    """probabilistic.splink_settings' blocking rules of generic fields, decided over the engine's rows."""
    fields = generic.generic_fields(match.compare)
    keys = generic.blocking_keys(fields)
    filled = features.filled_columns()
    return [
        " AND ".join(f"l.{c} = r.{c}" for c in key)
        for key in keys
        if filled.issuperset(key) and features.pairs_within(key) <= generic.MAX_BLOCK_PAIRS
    ]
