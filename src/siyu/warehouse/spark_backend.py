"""Ibis' PySpark backend, with the warehouse's tables written through siyu.warehouse.spark_store.

Code written against Ibis (`con.insert("merge_log", rows)`, `con.create_table("customer_map", rows,
overwrite=True)`) runs on Spark unchanged: a warehouse table (siyu.warehouse.schema.TABLES) is a view over
a versioned Parquet table, so these calls stage a new version in this thread's transaction (or, outside one,
in a transaction of their own) instead of Spark's INSERT into the view. Other names keep Ibis' behaviour.

One backend serves the process, as the DuckDB backend serves a thread: on a thread with a transaction open
it queries that transaction's session (which shows the transaction's staged writes, as a DuckDB cursor sees
its own uncommitted rows); elsewhere the process's session, whose views show the last commit.
"""

from __future__ import annotations

import itertools
import re
import threading
import weakref

import ibis
import ibis.expr.operations as ops
import ibis.expr.schema as sch
import ibis.expr.types as ir
import pyarrow as pa
from ibis.backends.pyspark import Backend
from ibis.backends.pyspark.datatypes import PySparkType

_temp_serial = itertools.count(1)


class WarehouseSparkBackend(Backend):
    @property
    def _session(self):
        from siyu.warehouse.connection import current_spark_transaction

        tx = current_spark_transaction()
        if tx is not None and tx.parent is self._process_session:
            return tx.session
        return self._process_session

    @_session.setter
    def _session(self, session) -> None:
        self._process_session = session

    def _register_in_memory_tables(self, expr) -> None:
        # per session: a memtable registered in a transaction's session is unknown to the process's
        by_session = self.__dict__.setdefault("_memtables_by_session", weakref.WeakKeyDictionary())
        seen = by_session.setdefault(self._session, weakref.WeakSet())
        for memtable in self._verify_in_memory_tables_are_unique(expr):
            if memtable not in seen:
                self._register_in_memory_table(memtable)
                seen.add(memtable)

    @classmethod
    def from_session(cls, session) -> WarehouseSparkBackend:
        if ibis.options.pyspark is None:  # what ibis.pyspark.connect does first (its compiler reads them)
            cls.register_options()
        backend = cls(session)
        backend.reconnect()
        return backend

    def _is_warehouse_table(self, name: str, database) -> bool:
        from siyu.warehouse.schema import TABLES

        return database is None and name in TABLES

    def _write(self, name: str, obj, *, overwrite: bool) -> None:
        from siyu.warehouse import spark_append
        from siyu.warehouse.connection import transaction

        with transaction() as tx:
            if isinstance(obj, ir.Table):
                self._run_pre_execute_hooks(obj)  # in the transaction's session (see _session)
                frame = tx.session.sql(self.compile(obj))
                spark_append.insert_frame(tx, name, frame, overwrite=overwrite)
                return
            rows = _arrow(obj)
            if overwrite:
                spark_append.replace_all(tx, name, rows)
            else:
                spark_append.append(tx, name, rows)

    # A temporary table, as DuckDB has them (a cursor's own, gone with it; Ibis' PySpark backend has none):
    # the rows computed now and kept (persisted) under a *global* temporary view, so that a transaction's
    # session (siyu.warehouse.spark_store) sees it as the process's session does; its view name is unique
    # to the thread, as DuckDB's temporary tables are to a cursor, while code keeps using its own name.
    def _temps(self) -> dict[str, tuple[str, object]]:
        local = self.__dict__.setdefault("_temp_local", threading.local())
        if not hasattr(local, "tables"):
            local.tables = {}
        return local.tables

    def _create_temp(self, name: str, obj, schema, overwrite: bool) -> ir.Table:
        from pyspark import StorageLevel

        if name in self._temps() and not overwrite:
            raise ibis.common.exceptions.IbisError(f"the temporary table {name} exists")
        if isinstance(obj, ir.Table):
            self._run_pre_execute_hooks(obj)
            frame = self._session.sql(self.compile(obj))
        elif _is_spark_frame(obj):  # a DataFrame computed in the engine (siyu.identity.spark_features)
            frame = obj
        else:
            rows = sch.schema(schema).to_pyarrow().empty_table() if obj is None else _arrow(obj)
            frame = self._session.createDataFrame(rows)
        frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
        frame.count()  # computed now, as a DuckDB temporary table is: later reads do not recompute it
        if name in self._temps():  # replaced only now: the new rows may have been computed from the old
            self._drop_temp(name)
        view = f"_siyu_temp_{next(_temp_serial)}_{re.sub(r'[^0-9A-Za-z_]', '_', name)}"
        frame.createOrReplaceGlobalTempView(view)
        self._temps()[name] = (view, frame)
        return self.table(name)

    def _drop_temp(self, name: str) -> None:
        view, frame = self._temps().pop(name)
        self._session.catalog.dropGlobalTempView(view)
        frame.unpersist()

    def table(self, name, /, *, database=None):
        temp = self._temps().get(name) if database is None else None
        if temp is None:
            return super().table(name, database=database)
        view, frame = temp
        # Ibis would make global_temp the current database to read the schema, which Spark refuses
        schema = sch.Schema({f.name: PySparkType.to_ibis(f.dataType) for f in frame.schema.fields})
        namespace = ops.Namespace(catalog=None, database="global_temp")
        return ops.DatabaseTable(view, schema=schema, source=self, namespace=namespace).to_expr()

    def drop_table(self, name, /, *, database=None, force=False):
        if database is None and name in self._temps():
            return self._drop_temp(name)
        return super().drop_table(name, database=database, force=force)

    def create_table(self, name, /, obj=None, *, schema=None, database=None, temp=None, overwrite=False, **kwargs):
        if temp and database is None:
            return self._create_temp(name, obj, schema, overwrite)
        if not self._is_warehouse_table(name, database):
            return super().create_table(
                name, obj, schema=schema, database=database, temp=temp, overwrite=overwrite, **kwargs
            )
        if not overwrite:
            raise ibis.common.exceptions.IbisError(f"the warehouse table {name} exists (use overwrite=True)")
        if obj is None:
            from siyu.warehouse.spark_store import arrow_schema

            obj = arrow_schema(name).empty_table()
        self._write(name, obj, overwrite=True)
        return self.table(name)

    def insert(self, name, /, obj, *, database=None, overwrite=False):
        if not self._is_warehouse_table(name, database):
            return super().insert(name, obj, database=database, overwrite=overwrite)
        self._write(name, obj, overwrite=overwrite)
        return None

    def truncate_table(self, name, /, *, database=None):
        if not self._is_warehouse_table(name, database):
            return super().truncate_table(name, database=database)
        from siyu.warehouse.spark_store import arrow_schema

        self._write(name, arrow_schema(name).empty_table(), overwrite=True)
        return None


def _is_spark_frame(obj) -> bool:
    from pyspark.sql import DataFrame

    return isinstance(obj, DataFrame)


def _arrow(obj) -> pa.Table:
    if isinstance(obj, pa.Table):
        return obj
    if hasattr(obj, "to_arrow"):  # polars
        return obj.to_arrow()
    if hasattr(obj, "to_pyarrow"):
        return obj.to_pyarrow()
    return pa.Table.from_pandas(obj, preserve_index=False) if hasattr(obj, "columns") else pa.Table.from_pylist(obj)
