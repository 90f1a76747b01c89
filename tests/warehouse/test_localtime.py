"""Wall-clock time in a zone, computed in the warehouse: the fixed-offset shortcut and the ICU path give
what Python's zoneinfo gives, on either side of a zone's last offset change and in zones with daylight
saving time."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import ibis
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.warehouse.localtime import fixed_offset_since, local_time

ZONES = ("Asia/Shanghai", "Europe/Berlin", "UTC", "Asia/Kolkata", "America/New_York")
instants = st.datetimes(min_value=datetime(1950, 1, 1), max_value=datetime(2090, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC, microsecond=d.microsecond // 1000 * 1000)
)


def test_a_zone_is_shifted_only_since_its_last_offset_change():
    since, offset = fixed_offset_since("Asia/Shanghai")  # daylight saving time ended in September 1991
    assert since == datetime(1991, 12, 31, 16, tzinfo=UTC) and offset == 8 * 3600 * 1_000_000
    assert fixed_offset_since("Europe/Berlin") is None  # still changes twice a year


@pytest.fixture(scope="module")
def con():
    return ibis.duckdb.connect()


@settings(max_examples=60, deadline=None)
@given(st.lists(instants, min_size=1, max_size=30), st.sampled_from(ZONES))
def test_local_time_equals_zoneinfo(con, times, zone):
    table = ibis.memtable(pa.table({"ts": pa.array(times, pa.timestamp("us", tz="UTC"))}))
    got = con.execute(table.select(local=local_time(table.ts, zone)))["local"].tolist()
    expected = [t.astimezone(ZoneInfo(zone)).replace(tzinfo=None) for t in times]
    assert [g.to_pydatetime() for g in got] == expected
