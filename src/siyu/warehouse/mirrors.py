"""What the mirrors of control-plane state (loyalty, surveys) need of the warehouse: how far each has read
(its positions), the rows waiting for their customer, and the set-wise replacement of their state tables —
all in one transaction, so a reader sees one run's state or the last and a run that fails moves nothing.

A mirror reads what was *written* since its last run, never what a row says happened (an imported order's
coupon is used at the order's time, long before it was matched): append-only rows by primary key
(`Position.last_id`), rows whose status changes by a change stamp their actions write (`Position.last_stamp`).
A row whose customer customer_map does not know yet is kept in `Position.pending` (row id → since when) and
read again by id on the next runs, until its event is written or PENDING_DAYS pass (a customer merged away
before the mirror saw their row never maps again). An id below the last one read that was not there
(`Position.missing`: its transaction was still open, or rolled back — ids are drawn before commit) is looked
for again on the next runs for GAP_HOURS."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pyarrow as pa

from siyu.warehouse.anchors import anchor_record_keys
from siyu.warehouse.append import append, delete_where_in, replace_all
from siyu.warehouse.connection import backend, transaction
from siyu.warehouse.schema import TABLES

WATERMARKS = "mirror_watermarks"
PENDING = "mirror_pending"
PENDING_DAYS = 14
GAP_HOURS = 24
_TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Position:
    """How far one part of a mirror (e.g. "points" of "loyalty") has read."""

    last_id: int = 0  # append-only rows: the largest primary key read
    last_stamp: dt.datetime | None = None  # rows whose status changes: the latest change stamp read
    pending: dict[int, dt.datetime] = field(default_factory=dict)  # row id → first read without a customer
    missing: dict[int, dt.datetime] = field(default_factory=dict)  # id below last_id not read → since when
    recorded: bool = False  # read before (its first read has nothing in flight to wait for)

    def again(self) -> list[int]:
        """The ids to read again: rows waiting for their customer, ids not there yet."""
        return sorted(self.pending.keys() | self.missing.keys())


def watermark(stream: str) -> dt.datetime | None:
    """The instant of the last run of the mirror `stream`, or None when it never ran on this warehouse."""
    marks = backend().table(WATERMARKS)
    return marks.filter(marks.stream == stream).mirrored_at.max().to_pyarrow().as_py()


def positions(stream: str) -> dict[str, Position]:
    """{part: Position} of the mirror `stream` (parts it never recorded are absent: read from the start)."""
    con = backend()
    marks = con.table(WATERMARKS)
    mine = marks.filter(marks.stream.startswith(f"{stream}:")).select("stream", "last_id", "last_stamp")
    pending = con.table(PENDING)
    waiting = pending.filter(pending.stream.startswith(f"{stream}:")).to_pyarrow().to_pylist()
    by_part: dict[str, tuple[dict, dict]] = {}
    for row in waiting:
        pending, missing = by_part.setdefault(row["stream"].split(":", 1)[1], ({}, {}))
        (missing if row["missing"] else pending)[row["row_id"]] = row["since"]
    out = {}
    for row in mine.to_pyarrow().to_pylist():
        part = row["stream"].split(":", 1)[1]
        out[part] = Position(int(row["last_id"] or 0), row["last_stamp"], *by_part.pop(part, ({}, {})), recorded=True)
    for part, (pending, missing) in by_part.items():
        out[part] = Position(pending=pending, missing=missing)
    return out


def arrow_rows(table_name: str, rows: list[dict]) -> pa.Table:
    """`rows` (dicts by column name, missing columns null) as an Arrow table of the warehouse table's schema."""
    schema = TABLES[table_name].to_pyarrow()
    return pa.Table.from_pylist([{c: r.get(c) for c in schema.names} for r in rows], schema=schema)


def replace_state(stream: str, tables: dict[str, pa.Table], mirrored_at: dt.datetime,
                  parts: dict[str, Position] | None = None) -> dict[str, int]:  # fmt: skip
    """Replace every row of each state table by the given rows and move the stream's watermark to
    `mirrored_at` and its parts' positions (and rows pending) to `parts`, all in one transaction. Returns the
    rows written per table."""
    parts = parts or {}
    names = [f"{stream}:{part}" for part in parts]
    with transaction() as con:
        for name, rows in tables.items():
            replace_all(con, name, rows)
        delete_where_in(con, WATERMARKS, "stream", pa.array([stream, *names], pa.string()))
        append(con, WATERMARKS, pa.table({
            "stream": pa.array([stream, *names], pa.string()),
            "mirrored_at": pa.array([mirrored_at] * (len(names) + 1), _TS),
            "last_id": pa.array([None, *(p.last_id for p in parts.values())], pa.int64()),
            "last_stamp": pa.array([None, *(p.last_stamp for p in parts.values())], _TS),
        }))  # fmt: skip
        delete_where_in(con, PENDING, "stream", pa.array(names, pa.string()))
        waiting = [(name, row_id, since, missing) for name, p in zip(names, parts.values(), strict=True)
                   for missing, rows in ((False, p.pending), (True, p.missing)) for row_id, since in sorted(rows.items())]  # fmt: skip
        append(con, PENDING, pa.table({
            "stream": pa.array([w[0] for w in waiting], pa.string()),
            "row_id": pa.array([w[1] for w in waiting], pa.int64()),
            "since": pa.array([w[2] for w in waiting], _TS),
            "missing": pa.array([w[3] for w in waiting], pa.bool_()),
        }))  # fmt: skip
    return {name: rows.num_rows for name, rows in tables.items()}


WRITE_BATCH = 100_000  # events appended per warehouse transaction


def mirror_part(position: Position, batches: Iterable[list[dict]], append_events: Callable[[list[dict]], int],
                now: dt.datetime, *, by_id: bool = True) -> tuple[Position, dict[str, int]]:  # fmt: skip
    """Write one part's events against their customers' anchor records (siyu.warehouse.anchors) and return
    the part's next Position with what happened: {"seen", "written", "waiting", "dropped"}.

    `batches` yields lists of events read after `position` (and its pending rows, read again): each an event
    (event_key, source, event_type, occurred_at, properties) with `customer_id`, `row_id` (the row's primary
    key) and, for rows whose status changes (`by_id` False), `stamp` (the change stamp read) instead of ids in
    order (ids skipped are then looked for again: Position.missing). `append_events` appends events
    once by key (siyu.engagement.messaging.actions.append_events, which the warehouse may not import). An
    event whose customer customer_map does not know waits in the position's pending rows; one waiting
    PENDING_DAYS is dropped (counted)."""
    last_id, last_stamp = position.last_id, position.last_stamp
    pending: dict[int, dt.datetime] = {}
    report = {"seen": 0, "written": 0, "waiting": 0, "dropped": 0}
    buffer: list[dict] = []

    def flush():
        anchors = anchor_record_keys(backend(), {e["customer_id"] for e in buffer})
        rows = []
        for e in buffer:
            record_key = anchors.get(e["customer_id"])
            if record_key is None:
                since = position.pending.get(e["row_id"], now)
                if since > now - dt.timedelta(days=PENDING_DAYS):
                    pending[e["row_id"]] = since
                else:
                    report["dropped"] += 1
                continue
            rows.append({k: v for k, v in e.items() if k not in _INTERNAL} | {"record_key": record_key})
        report["written"] += append_events(rows)
        buffer.clear()

    seen: set[int] = set()
    for events in batches:
        for e in events:
            seen.add(e["row_id"])
            last_id = max(last_id, e["row_id"])
            if e.get("stamp") is not None and (last_stamp is None or e["stamp"] > last_stamp):
                last_stamp = e["stamp"]
        report["seen"] += len(events)
        buffer.extend(events)
        if len(buffer) >= WRITE_BATCH:
            flush()
    flush()
    report["waiting"] = len(pending)
    missing = {}
    if by_id and position.recorded:
        recent = now - dt.timedelta(hours=GAP_HOURS)
        missing = {i: since for i, since in position.missing.items() if i not in seen and since > recent}
        missing.update((i, now) for i in range(position.last_id + 1, last_id) if i not in seen)
    return Position(last_id, last_stamp, pending, missing), report


_INTERNAL = {"customer_id", "row_id", "stamp"}
