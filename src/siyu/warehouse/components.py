"""Connected components in the engine: which records are linked, without collecting the graph to the driver.

Identity resolution links records that share an identifier value: a bipartite graph of (record, value)
edges whose connected components are the customers (siyu.identity.graph.record_components does this in the
driver with numpy and scipy). Here the same partition is computed where the data lives, on DuckDB or on
Spark, and comes back as an Ibis table (record, component) with component = the smallest record id of the
record's component.

The algorithm (Kiveris et al., "Connected Components in MapReduce and Beyond", SoCC 2014) alternates two
set operations on the edges, each a group-by and a join, until the graph is a forest of stars whose centre
is its component's smallest node:
- large-star: every node u links each neighbour larger than itself to the smallest of u and its neighbours;
- small-star: every node u links itself and each neighbour smaller than itself to the smallest of those.
Both keep the components and shrink their diameter; the number of rounds grows as log² n at worst and,
measured, about as log n (docs/benchmarks.md). A value's records are first linked to the value's smallest
record (a star per value), so the rounds start from record-to-record edges no more numerous than the input.

Written once as Ibis expressions; what differs per engine is how a round's edges are materialised so that
the next round reads data rather than a plan growing with every round (_Rounds): a temporary table on
DuckDB; on Spark a persisted DataFrame, checkpointed every CHECKPOINT_EVERY rounds (to the session's
checkpoint directory, siyu.warehouse.spark) so that the lineage stays short. GraphFrames' connected
components would do the same on Spark, but its JVM package comes from a Maven repository that this project
cannot reach (only PyPI, npm and Debian are), and GraphX, which pyspark ships, has no Python API. A
recursive CTE on DuckDB propagates the minimum label one hop per step: a chain of a million records would
take a million steps.
"""

from __future__ import annotations

import uuid

import ibis
import ibis.expr.types as ir

# Spark: every few rounds a round's edges are checkpointed (written out, lineage cut) rather than only
# persisted; between checkpoints Spark's plan grows by one round each time.
CHECKPOINT_EVERY = 3
# A guard against a bug looping forever: log² of 10^12 nodes is about 1600; measured rounds are below 40.
MAX_ROUNDS = 2000


class ComponentsDidNotConverge(RuntimeError):
    """The rounds went on past MAX_ROUNDS (never seen; a graph would need far more than 2^40 nodes)."""


def value_components(
    edges: ir.Table, record: str = "record", value: str = "value", stats: dict | None = None
) -> ir.Table:
    """(record, component) for every record of the bipartite `edges` (a record column, a value column:
    records sharing a value are linked), component = the smallest record of its component. Records are
    integers or strings (any ordered type); a value of any type. Duplicate edges change nothing. The
    result is a temporary table (DuckDB) or a checkpointed temporary view (Spark) of the edges' backend.
    `stats`, when given, receives the number of rounds."""
    e = edges.select(record=edges[record], value=edges[value])
    e = e.filter(e.record.notnull() & e.value.notnull())
    roots = e.group_by("value").aggregate(root=e.record.min())
    linked = e.join(roots, "value")
    pairs = linked.select(u=linked.record, v=linked.root)
    return _components(e.select("record"), pairs, stats)


def pair_components(
    pairs: ir.Table, left: str = "left", right: str = "right", stats: dict | None = None
) -> ir.Table:
    """(record, component) for every record of the record↔record `pairs` (two columns of one type)."""
    p = pairs.select(u=pairs[left], v=pairs[right])
    p = p.filter(p.u.notnull() & p.v.notnull())
    nodes = p.select(record=p.u).union(p.select(record=p.v))
    return _components(nodes, p, stats)


def release_components(result: ir.Table) -> None:
    """Drop the result of value_components or pair_components from its backend (it stays until dropped,
    or until the connection or session ends)."""
    con = result._find_backend(use_default=False)
    name = result.get_name().split(".")[-1]
    if con.name == "pyspark":
        con._session.catalog.dropTempView(name)
    else:
        con.drop_table(name, force=True)


def _components(nodes: ir.Table, pairs: ir.Table, stats: dict | None) -> ir.Table:
    rounds = _Rounds.of(pairs)
    try:
        edges = rounds.keep(_oriented(pairs))
        n = 0
        while not _is_star_forest(edges):
            n += 1
            if n > MAX_ROUNDS:
                raise ComponentsDidNotConverge(f"no star forest after {MAX_ROUNDS} rounds")
            edges = rounds.keep(_small_star(rounds.keep(_large_star(edges))))
        if stats is not None:
            stats["rounds"] = n
        nodes = nodes.distinct()
        labelled = nodes.left_join(edges, nodes.record == edges.u)
        result = labelled.select(record=labelled.record, component=ibis.coalesce(labelled.v, labelled.record))
        return rounds.keep(result, final=True)
    finally:
        rounds.release()


def _oriented(pairs: ir.Table) -> ir.Table:
    """Each edge once, as (larger, smaller), without self-loops."""
    o = pairs.filter(pairs.u != pairs.v)
    return o.select(u=ibis.greatest(o.u, o.v), v=ibis.least(o.u, o.v)).distinct()


def _large_star(edges: ir.Table) -> ir.Table:
    """Each neighbour w > u of every node u linked to m(u) = min(u, neighbours of u); as (w, m(u))."""
    both = edges.select("u", "v").union(edges.select(u=edges.v, v=edges.u), distinct=False)
    smallest = both.group_by("u").aggregate(m=both.v.min())
    smallest = smallest.select(node=smallest.u, m=ibis.least(smallest.u, smallest.m))
    joined = both.join(smallest, both.u == smallest.node)
    larger = joined.filter(joined.v > joined.u)
    return larger.select(u=larger.v, v=larger.m).distinct()


def _small_star(edges: ir.Table) -> ir.Table:
    """Every node u and its neighbours smaller than itself linked to the smallest of them; edges are
    (larger, smaller), so u's smaller neighbours are the v of its rows."""
    smallest = edges.group_by("u").aggregate(m=edges.v.min())
    smallest = smallest.select(node=smallest.u, m=smallest.m)
    joined = edges.join(smallest, edges.u == smallest.node)
    neighbours = joined.filter(joined.v != joined.m).select(u=joined.v, v=joined.m)
    itself = smallest.select(u=smallest.node, v=smallest.m)
    return neighbours.union(itself).distinct()


def _is_star_forest(edges: ir.Table) -> bool:
    """Every node has at most one edge to a smaller node and no centre has one: each (u, v) then links u to
    the smallest node of its component (all of a star's nodes are larger than its centre)."""
    stats = edges.aggregate(n=edges.count(), children=edges.u.nunique())
    row = stats.execute().iloc[0]
    if int(row["n"]) != int(row["children"]):
        return False
    centres = edges.select(c=edges.v).distinct()
    nested = centres.semi_join(edges, centres.c == edges.u)
    return int(nested.count().execute()) == 0


class _Rounds:
    """Materialises each round's edges in the engine and drops them when no longer read: a round reads
    only the one before it, and the result is independent of them all."""

    def __init__(self, con):
        self.con = con
        self.prefix = f"_siyu_cc_{uuid.uuid4().hex[:10]}"
        self.serial = 0
        self.live: list[str] = []  # rounds' tables, oldest first
        self.final: str | None = None

    @staticmethod
    def of(expr: ir.Table) -> _Rounds:
        con = expr._find_backend(use_default=False)
        if con.name == "pyspark":
            return _SparkRounds(con)
        if con.name == "duckdb":
            return _DuckDBRounds(con)
        raise NotImplementedError(f"connected components on the {con.name} backend")

    def keep(self, expr: ir.Table, final: bool = False) -> ir.Table:
        name = f"{self.prefix}_{self.serial}"
        self.serial += 1
        table = self._write(name, expr, final)
        if final:
            self.final = name
        else:
            self.live.append(name)
            while len(self.live) > 2:  # the one before the newest may still be read by the caller
                self._drop(self.live.pop(0))
        return table

    def release(self) -> None:
        while self.live:
            self._drop(self.live.pop())

    def _write(self, name: str, expr: ir.Table, final: bool) -> ir.Table:  # pragma: no cover
        raise NotImplementedError

    def _drop(self, name: str) -> None:  # pragma: no cover
        raise NotImplementedError


class _DuckDBRounds(_Rounds):
    """Each round, and the result, a temporary table of the edges' connection."""

    def _write(self, name: str, expr: ir.Table, final: bool) -> ir.Table:
        return self.con.create_table(name, expr, temp=True)

    def _drop(self, name: str) -> None:
        self.con.drop_table(name, force=True)


class _SparkRounds(_Rounds):
    """Each round a persisted DataFrame under a temporary view; every CHECKPOINT_EVERY rounds, and the
    result, a checkpoint instead (reliable when the session has a checkpoint directory, else local), which
    cuts the plan so that planning a round does not grow with the rounds before it."""

    def __init__(self, con):
        super().__init__(con)
        self.session = con._session
        self.frames: dict[str, object] = {}

    def _checkpoint(self, df):
        try:
            reliable = bool(self.session.sparkContext.getCheckpointDir())
        except Exception:  # Spark Connect has no SparkContext: its checkpoints are its own
            reliable = True
        return df.checkpoint(eager=True) if reliable else df.localCheckpoint(eager=True)

    def _write(self, name: str, expr: ir.Table, final: bool) -> ir.Table:
        from pyspark import StorageLevel

        self.con._run_pre_execute_hooks(expr)  # registers in-memory tables the expression reads
        df = self.session.sql(self.con.compile(expr))
        df = df.persist(StorageLevel.MEMORY_AND_DISK)
        if final or self.serial % CHECKPOINT_EVERY == 0:
            # computed once into the cache, then written from it (a checkpoint alone computes it twice)
            cached, df = df, self._checkpoint(df)
            cached.unpersist()
        else:
            df.count()
        df.createOrReplaceTempView(name)
        self.frames[name] = df
        return self.con.table(name)

    def _drop(self, name: str) -> None:
        df = self.frames.pop(name, None)
        if df is not None:
            df.unpersist()
        self.session.catalog.dropTempView(name)
