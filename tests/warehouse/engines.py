"""Reading a warehouse table back the same way on DuckDB and on Spark, to hold them equal."""

from __future__ import annotations

import datetime as dt


def _plain(value):
    """A value as both engines give it back: instants as naive UTC, whole lists as tuples."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    return value


def table_rows(name: str, columns: list[str] | None = None) -> list[tuple]:
    """Every row of a warehouse table (the engine's backend), sorted, compared column by column."""
    from siyu.warehouse import backend

    table = backend().table(name)
    data = table.to_pyarrow()
    columns = columns or data.column_names
    rows = [tuple(_plain(row[c]) for c in columns) for row in data.to_pylist()]
    return sorted(rows, key=lambda r: tuple((v is None, str(v)) for v in r))
