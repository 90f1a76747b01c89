"""How Ibis reads the types of Spark's columns, where its default would change what the read code sees.

Spark's TIMESTAMP is an instant (shown in the session's time zone, which siyu.warehouse.spark sets to
UTC); Ibis 12 maps it to a timestamp without a time zone, so every instant read from Spark would come
back naive where DuckDB's TIMESTAMPTZ comes back in UTC, and the warehouse's UTC literals
(siyu.warehouse.schema.TS) would compare against a different type. `read_timestamps_as_utc()` maps it to
UTC timestamps, as the warehouse schema declares them. Spark's TIMESTAMP_NTZ (a wall-clock time) stays
naive.
"""

from __future__ import annotations

import functools

UTC_SESSION = "UTC"  # siyu.warehouse.spark's spark.sql.session.timeZone


@functools.cache
def read_timestamps_as_utc() -> None:
    """Install the mapping (once per process; needs pyspark, so called only where Spark is the engine)."""
    import ibis.expr.datatypes as dt
    from ibis.backends.pyspark import datatypes
    from pyspark.sql import types as pt

    datatypes._from_pyspark_dtypes[pt.TimestampType] = functools.partial(dt.Timestamp, timezone=UTC_SESSION)
