"""One DuckDB warehouse per SIYU_HOME, opened once per process and owned by it.

DuckDB lets only one process open a database file for writing. `siyu serve` keeps it open for its whole
life; a CLI command that finds it taken raises WarehouseBusy and hands its work to the server instead
(see siyu.core.owner). Threads of the owning process share the database through cursors of one
connection, each thread with its own Ibis backend.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path

import duckdb
import ibis
import ibis.backends.duckdb
import ibis.expr.operations as ops
from django.conf import settings

from siyu.core.errors import DataPlaneBusy, SiyuError
from siyu.warehouse.schema import TABLES, ensure_schema

_lock = threading.Lock()
_root: duckdb.DuckDBPyConnection | None = None
_root_path: Path | None = None
_local = threading.local()
# Customer ids are dense integers minted from 1, so DuckDB can group by them in a perfect hash table (an
# array indexed by the id) up to 2^24 ids instead of its default 2^12. Measured: a segment rule's count
# over 10M orders ran about twice as fast (docs/benchmarks.md).
PERFECT_HASH_BITS = 24


class WarehouseBusy(DataPlaneBusy):
    """Another process (normally `siyu serve`) owns the warehouse file."""


def _open_root() -> duckdb.DuckDBPyConnection:
    global _root, _root_path
    path = Path(settings.WAREHOUSE_PATH)
    with _lock:
        if _root is not None and _root_path == path:
            return _root
        if _root is not None:
            _root.close()
        try:
            _root = duckdb.connect(str(path))
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise WarehouseBusy(f"the warehouse {path} is in use by another Siyu process") from exc
            raise
        _root_path = path
        _root.execute(f"SET GLOBAL perfect_ht_threshold = {PERFECT_HASH_BITS}")  # every cursor's queries
        _local.__dict__.clear()

        ensure_schema(_root)
        return _root


class NotOnThisEngine(SiyuError):
    """A DuckDB-only function was called while the warehouse runs on Spark (or the other way round)."""


def raw_connection() -> duckdb.DuckDBPyConnection:
    """This thread's DuckDB cursor (for the few backend-specific functions in siyu.warehouse). DuckDB only:
    on Spark it raises NotOnThisEngine (write through siyu.warehouse.append inside transaction())."""
    if engine() == "spark":
        raise NotOnThisEngine(
            "raw_connection() is the DuckDB warehouse's; the warehouse runs on Spark "
            f"({settings.WAREHOUSE_SPARK_MASTER}): write through siyu.warehouse.append inside transaction()"
        )
    root = _open_root()
    cursor = getattr(_local, "cursor", None)
    if cursor is None or getattr(_local, "root", None) is not root:
        cursor = root.cursor()
        _local.cursor = cursor
        _local.root = root
        _local.backend = None
    return cursor


def table_with_row_ids(name: str):
    """This thread's table `name` with a `row_id` column (WarehouseDuckDBBackend.table_with_row_ids), or
    None where the engine has no row ids (Spark)."""
    if engine() == "spark":
        return None
    return backend().table_with_row_ids(name)


def engine() -> str:
    """"duckdb" (the embedded default) or "spark" (SIYU_WAREHOUSE names a Spark master)."""
    return settings.WAREHOUSE_ENGINE


def warehouse_key() -> str:
    """Which warehouse this process works on (for caches of its figures): the DuckDB file, or Spark's master
    and table location."""
    if engine() == "spark":
        return f"spark:{settings.WAREHOUSE_SPARK_MASTER}:{settings.WAREHOUSE_LOCATION}"
    return f"duckdb:{settings.WAREHOUSE_PATH}"


def backend() -> ibis.BaseBackend:
    """This thread's Ibis backend over the warehouse (on Spark one for the process, which on a thread with
    a transaction open sees that transaction's staged writes: siyu.warehouse.spark_backend)."""
    if engine() == "spark":
        return _spark_backend()
    cursor = raw_connection()
    if getattr(_local, "backend", None) is None:
        _local.backend = WarehouseDuckDBBackend.from_connection(cursor)
    return _local.backend


COMPILED_QUERIES_KEPT = 256  # per thread's backend

# Bumped whenever a warehouse table is created, replaced, renamed or dropped through any thread's backend:
# the table expressions the backends keep are read again after that.
_table_generation = 0


class WarehouseDuckDBBackend(ibis.backends.duckdb.Backend):
    """Ibis' DuckDB backend keeping the expression of each warehouse table (siyu.warehouse.schema.TABLES):
    Ibis reads a table's schema with a query on every `table(name)`, some 3 CPU-ms under the GIL, and a
    customer profile asks for ~17 tables (docs/benchmarks.md). A warehouse table's columns change only when
    the file is opened (ensure_schema, before this backend exists) or when the table is created again through
    a backend, which makes every backend read it anew."""

    def table(self, name, /, *, database=None):
        if database is not None or name not in TABLES:
            return super().table(name, database=database)
        tables = self.__dict__.setdefault("_siyu_tables", {})
        generation = _table_generation
        cached = tables.get(name)
        if cached is not None and cached[0] == generation:
            return cached[1]
        expr = super().table(name)
        tables[name] = (generation, expr)
        return expr

    def table_with_row_ids(self, name: str):
        """Warehouse table `name` with DuckDB's row ids as a column `row_id` (kept like table()): a page
        of a large table ordered by a few columns is cheapest as `row_id IN (the page's row ids)`, which
        DuckDB reads by position, rather than reading every column of every matching row to sort them
        (docs/benchmarks.md)."""
        tables = self.__dict__.setdefault("_siyu_row_id_tables", {})
        generation = _table_generation
        cached = tables.get(name)
        if cached is not None and cached[0] == generation:
            return cached[1]
        if name not in TABLES:
            raise SiyuError(f"{name} is not a warehouse table")
        expr = self.sql(f'SELECT rowid AS row_id, * FROM "{name}"')
        tables[name] = (generation, expr)
        return expr

    def compile(self, expr, /, *, limit=None, params=None, pretty=False):
        """The SQL of `expr`, compiled once per expression (equal expressions: the same query asked again,
        as the list's count is on every page): Ibis takes some 10 CPU-ms under the GIL to compile a query of
        the console. Expressions over in-memory tables (lists of ids) are compiled each time, not kept."""
        if params or pretty:
            return super().compile(expr, limit=limit, params=params, pretty=pretty)
        op = expr.op()
        key = (op, limit)
        compiled = self.__dict__.setdefault("_siyu_compiled", OrderedDict())
        sql = compiled.get(key)
        if sql is not None:
            compiled.move_to_end(key)
            return sql
        sql = super().compile(expr, limit=limit)
        if not op.find(ops.InMemoryTable):
            compiled[key] = sql
            while len(compiled) > COMPILED_QUERIES_KEPT:
                compiled.popitem(last=False)
        return sql

    def _to_duckdb_relation(self, expr, /, *, params=None, limit=None, **kwargs):
        """With `params` (ibis.param values: a customer id, a search's hash), the SQL is compiled once per
        expression with a marker in each parameter's place and run as a prepared statement with the values:
        a profile's queries differ only in the customer id, and compiling each anew took some 40 CPU-ms
        under the GIL per profile (docs/benchmarks.md)."""
        sql, values = (None, None) if kwargs or not params else self._parametrised(expr.as_table(), params, limit)
        if sql is None:
            return super()._to_duckdb_relation(expr, params=params, limit=limit, **kwargs)
        self._run_pre_execute_hooks(expr)
        return self.con.sql(sql, params=values)

    def _parametrised(self, table_expr, params, limit) -> tuple[str | None, list | None]:
        """(SQL with $1, $2… in the parameters' places, their values), or (None, None) for a parameter of a
        type without a marker."""
        ordered = sorted(params.items(), key=lambda item: item[0].op().counter)
        for param, _value in ordered:
            if not (param.type().is_integer() or param.type().is_string()):
                return None, None
        op = table_expr.op()
        key = ("params", op, limit, tuple(param.op() for param, _ in ordered))
        compiled = self.__dict__.setdefault("_siyu_compiled", OrderedDict())
        sql = compiled.get(key)
        if sql is not None:
            compiled.move_to_end(key)
        else:
            markers = {param: _marker(param.type(), i) for i, (param, _) in enumerate(ordered)}
            sql = super().compile(table_expr, limit=limit, params=markers)
            for i, (param, _) in enumerate(ordered):
                sql, found = _MARKER_PATTERNS[param.type().is_integer()](i).subn(f"${i + 1}", sql)
                if not found:
                    return None, None
            if not op.find(ops.InMemoryTable):
                compiled[key] = sql
                while len(compiled) > COMPILED_QUERIES_KEPT:
                    compiled.popitem(last=False)
        return sql, [value for _, value in ordered]

    def create_table(self, name, /, obj=None, **kwargs):
        _changed(name)
        try:
            return super().create_table(name, obj, **kwargs)
        finally:
            _changed(name)

    def drop_table(self, name, /, **kwargs):
        _changed(name)
        return super().drop_table(name, **kwargs)

    def rename_table(self, old_name, new_name):
        _changed(old_name)
        _changed(new_name)
        return super().rename_table(old_name, new_name)


# What stands in a compiled query for the i-th parameter until it is replaced by $i+1: an integer or a string
# no query of the console holds.
_INT_MARKER = 7_318_000_000_000_000
_MARKER_PATTERNS = {
    True: lambda i: re.compile(rf"(?<![\w.]){_INT_MARKER + i}(?![\w.])"),
    False: lambda i: re.compile(rf"'siyuparam{i}marker'"),
}


def _marker(dtype, i: int):
    return _INT_MARKER + i if dtype.is_integer() else f"siyuparam{i}marker"


def _changed(name: str) -> None:
    global _table_generation
    if name in TABLES:
        with _lock:
            _table_generation += 1


_spark_ibis = None


def _spark_backend() -> ibis.BaseBackend:
    """One Ibis backend over this process's Spark session (siyu.warehouse.spark), shared by threads; its
    views show the newest commit of the warehouse's tables (siyu.warehouse.spark_store)."""
    global _spark_ibis
    from siyu.warehouse import spark, spark_store
    from siyu.warehouse.spark_backend import WarehouseSparkBackend

    session = spark.session()
    with _lock:
        if _spark_ibis is None or _spark_ibis._session is not session:
            ensure_schema(session)
            _spark_ibis = WarehouseSparkBackend.from_session(session)
        backend = _spark_ibis
    spark_store.sync(session)  # another worker (or this process) may have committed since
    return backend


def current_spark_transaction():
    """This thread's open Spark transaction (siyu.warehouse.spark_store.Transaction), or None."""
    return getattr(_local, "spark_tx", None)


# Writers whose transactions can touch the same rows take turns (DuckDB fails the second writer of a row
# with "Conflict on tuple deletion" instead of waiting): an import batch that updates orders replaces their
# customer_orders rows, which a resolve running beside it (the worker resolving after an import, while the
# API takes more orders) replaces too. Held for the whole transaction: a DuckDB transaction conflicts with
# any write committed after it began.
_writes = threading.Lock()
WRITE_WAIT_SECONDS = 120.0


def acquire_writes(wait: float | None = None) -> None:
    """Take the writers' turn (release_writes gives it back); WarehouseBusy after `wait` seconds. On Spark
    the turn is also taken among the processes of this host (a lock file beside the tables)."""
    wait = WRITE_WAIT_SECONDS if wait is None else wait
    started = time.monotonic()
    if not _writes.acquire(timeout=wait):
        raise WarehouseBusy(f"the warehouse has been busy writing for {wait:g} s (a resolve?); try again shortly")
    if engine() == "spark":
        from siyu.warehouse import spark_store

        try:
            if not spark_store.lock_writes(max(0.0, wait - (time.monotonic() - started))):
                raise WarehouseBusy(
                    f"another process has been writing the warehouse for {wait:g} s (a resolve?); try again shortly"
                )
        except BaseException:
            _writes.release()
            raise


def release_writes() -> None:
    from siyu.warehouse import spark_store

    spark_store.unlock_writes()  # nothing when this process holds no lock file
    _writes.release()


@contextmanager
def exclusive_writes(wait: float | None = None):
    """Hold the writers' turn for a block (see acquire_writes)."""
    acquire_writes(wait)
    try:
        yield
    finally:
        release_writes()


@contextmanager
def transaction():
    """All-or-nothing: a killed or failed import leaves no partial batch. Yields the handle the write
    functions of siyu.warehouse.append take (DuckDB: the cursor; Spark: the transaction). On Spark a
    transaction opened inside another on the same thread joins it."""
    if engine() == "spark" and current_spark_transaction() is not None:
        yield current_spark_transaction()
        return
    con = begin()
    try:
        yield con
    except BaseException:
        rollback(con)
        raise
    else:
        commit(con)


def begin():
    """Open a transaction on this thread (transaction() does it for a block; an import's writer thread
    does it by hand across calls); returns its handle."""
    if engine() == "spark":
        from siyu.warehouse import spark, spark_store

        if current_spark_transaction() is not None:
            raise SiyuError("this thread already has a warehouse transaction open")
        _spark_backend()  # the tables exist and the views are current
        tx = spark_store.Transaction.begin(spark.session())
        _local.spark_tx = tx
        return tx
    con = raw_connection()
    con.execute("BEGIN TRANSACTION")
    return con


def commit(handle) -> None:
    if engine() == "spark":
        try:
            handle.commit()
        finally:
            _local.spark_tx = None
        return
    handle.execute("COMMIT")


def rollback(handle) -> None:
    if engine() == "spark":
        try:
            handle.rollback()
        finally:
            _local.spark_tx = None
        return
    handle.execute("ROLLBACK")


def writer():
    """The handle of this thread's open transaction for the write functions of siyu.warehouse.append
    (DuckDB: this thread's cursor, which holds the transaction; Spark: the open transaction)."""
    if engine() == "spark":
        tx = current_spark_transaction()
        if tx is None:
            raise SiyuError("a write on the Spark warehouse needs an open transaction (siyu.warehouse.transaction())")
        return tx
    return raw_connection()


def close() -> None:
    """Release the warehouse file (tests, and handing ownership over)."""
    global _root, _root_path, _spark_ibis
    with _lock:
        if _root is not None:
            _root.close()
        _root = None
        _spark_ibis = None
        _root_path = None
        _local.__dict__.clear()
