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

import weakref

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from ibis.backends.pyspark import Backend


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

    def create_table(self, name, /, obj=None, *, schema=None, database=None, temp=None, overwrite=False, **kwargs):
        if not self._is_warehouse_table(name, database) or temp:
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


def _arrow(obj) -> pa.Table:
    if isinstance(obj, pa.Table):
        return obj
    if hasattr(obj, "to_arrow"):  # polars
        return obj.to_arrow()
    if hasattr(obj, "to_pyarrow"):
        return obj.to_pyarrow()
    return pa.Table.from_pandas(obj, preserve_index=False) if hasattr(obj, "columns") else pa.Table.from_pylist(obj)
