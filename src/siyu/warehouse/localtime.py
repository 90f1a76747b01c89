"""Wall-clock time in a named time zone, for grouping by hour, weekday or month.

Ibis casts between time zones without converting (DuckDB keeps the instant and extracts fields in the
session's zone), so this is a backend function: `timezone(zone, timestamptz)` returns the local
wall-clock TIMESTAMP on DuckDB and on PostgreSQL alike (Spark would use from_utc_timestamp).
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt

_UTC = dt.Timestamp(timezone="UTC")
_LOCAL = dt.Timestamp()


@ibis.udf.scalar.builtin(name="timezone", signature=((dt.string, _UTC), _LOCAL))
def _timezone(zone, ts):
    """DuckDB's / PostgreSQL's timezone(zone, timestamptz)."""


def local_time(ts, zone: str):
    """`ts` (a UTC timestamp column) as wall-clock time in `zone` (a naive timestamp)."""
    return _timezone(ibis.literal(zone), ts)
