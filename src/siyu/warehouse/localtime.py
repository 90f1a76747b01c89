"""Wall-clock time in a named time zone, for grouping by hour, weekday or month.

Ibis casts between time zones without converting (DuckDB keeps the instant and extracts fields in the
session's zone), so this is a backend function: `timezone(zone, timestamptz)` returns the local
wall-clock TIMESTAMP on DuckDB and on PostgreSQL alike; on Spark, `from_utc_timestamp(ts, zone)` does
(its session time zone is UTC, siyu.warehouse.spark), with daylight saving time, at Spark's own cost.

DuckDB computes `timezone()` through ICU, which costs about 1 s per 9M rows. A zone that has kept one UTC
offset for years (Asia/Shanghai since 1992) is instead shifted by that offset in integer arithmetic for
the instants in that stretch, which is ten times faster with the same result; earlier instants, and
zones that still change their offset (daylight saving time), go through `timezone()`.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.datatypes as dt

from siyu.warehouse.connection import engine

_UTC = dt.Timestamp(timezone="UTC")
_LOCAL = dt.Timestamp()
_LAST_YEAR = 2100  # the offsets are checked up to here


@ibis.udf.scalar.builtin(name="timezone", signature=((dt.string, _UTC), _LOCAL))
def _timezone(zone, ts):
    """DuckDB's / PostgreSQL's timezone(zone, timestamptz)."""


@ibis.udf.scalar.builtin(name="epoch_us", signature=((_UTC,), dt.int64))
def _epoch_us(ts):
    """DuckDB's epoch_us(timestamptz): microseconds since 1970-01-01 UTC."""


@ibis.udf.scalar.builtin(name="make_timestamp", signature=((dt.int64,), _LOCAL))
def _make_timestamp(micros):
    """DuckDB's make_timestamp(bigint): the TIMESTAMP that many microseconds after 1970-01-01."""


@ibis.udf.scalar.builtin(name="from_utc_timestamp", signature=((_UTC, dt.string), _LOCAL))
def _from_utc_timestamp(ts, zone):
    """Spark's from_utc_timestamp(timestamp, zone)."""


@functools.cache
def fixed_offset_since(zone: str) -> tuple[datetime, int] | None:
    """(the instant from which `zone` keeps one UTC offset through 2100, that offset in microseconds), or
    None when its offset still changes (daylight saving time). Offsets are compared on the 1st and the
    15th of every month."""
    tz = ZoneInfo(zone)

    def same_all_year(year: int) -> bool:
        return all(datetime(year, m, d, tzinfo=tz).utcoffset() == last for m in range(1, 13) for d in (1, 15))

    last = datetime(_LAST_YEAR, 1, 1, tzinfo=tz).utcoffset()
    year = _LAST_YEAR
    while year > 1900 and same_all_year(year):
        year -= 1
    if year == _LAST_YEAR:
        return None
    since = datetime(year + 1, 1, 1, tzinfo=tz).astimezone(UTC)
    return since, int(last.total_seconds()) * 1_000_000


def local_time(ts, zone: str):
    """`ts` (a UTC timestamp column) as wall-clock time in `zone` (a naive timestamp)."""
    if engine() == "spark":
        return _from_utc_timestamp(ts, ibis.literal(zone))
    through_icu = _timezone(ibis.literal(zone), ts)
    fixed = fixed_offset_since(zone)
    if fixed is None:
        return through_icu
    since, offset = fixed
    shifted = _make_timestamp(_epoch_us(ts) + offset)
    return ibis.ifelse(ts >= ibis.literal(since, type=_UTC), shifted, through_icu)
