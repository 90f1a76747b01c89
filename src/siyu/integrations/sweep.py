"""Events of changes made in the warehouse, read from the warehouse's own logs since a cursor.

Segment enter/exit (segment_changes), merges (merge_log) and imported orders (orders of import_batches) are
written in warehouse transactions, which no control-plane transaction can share. Rather than each domain
recording them after its warehouse commit (a crash in between would lose them), this sweep reads the logs
themselves: what is committed there is found, however the writer ended. Each row becomes an event with a key
derived from the row (siyu.outbox's dedupe_key), so reading a row again adds nothing; the cursor moves to
the newest time seen and each read starts OVERLAP earlier, for rows committed late with an earlier time
(a refresh stamps its rows when it starts). The first sweep only sets the cursors: history is not sent.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from siyu.integrations.models import SweepCursor
from siyu.outbox.actions import record_outbound_events
from siyu.warehouse import backend

OVERLAP = dt.timedelta(minutes=10)
CHANGES = {"enter": "segment.entered", "exit": "segment.left"}


def _utc(value) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _iso(value) -> str:
    return _utc(value).astimezone(dt.UTC).isoformat()


def _segment_events(con, since):
    t = con.table("segment_changes")
    rows = t.filter(t.changed_at > since).to_pyarrow().to_pylist()
    events = [
        (CHANGES[r["change"]], r["customer_id"], {"segment_id": r["segment_id"]},
         f"segment:{r['segment_id']}:{r['customer_id']}:{r['change']}:{_iso(r['changed_at'])}", r["changed_at"])
        for r in rows if r["change"] in CHANGES
    ]  # fmt: skip
    return events, max((r["changed_at"] for r in rows), default=None)


def _merge_events(con, since):
    t = con.table("merge_log")
    rows = t.filter((t.merged_at > since) & (t.rule != "split")).to_pyarrow().to_pylist()
    events = [
        ("customers.merged", r["survivor_id"], {"survivor_id": r["survivor_id"], "absorbed_id": r["absorbed_id"]},
         f"customers.merged:{r['run_id']}:{r['absorbed_id']}", r["merged_at"])
        for r in rows
    ]  # fmt: skip
    return events, max((r["merged_at"] for r in rows), default=None)


def _order_events(con, since):
    batches = con.table("import_batches")
    batches = batches.filter(batches.finished_at > since).select("batch_id", "finished_at")
    orders = con.table("orders").select("order_key", "source", "batch_id")
    owners = con.table("customer_orders").select("order_key", "customer_id")
    joined = orders.join(batches, "batch_id").left_join(owners, "order_key")
    rows = joined.select("order_key", "source", "finished_at", "customer_id").to_pyarrow().to_pylist()
    events = [
        ("order.imported", r["customer_id"], {"order_key": r["order_key"], "source": r["source"]},
         f"order.imported:{r['order_key']}", r["finished_at"])
        for r in rows
    ]  # fmt: skip
    return events, max((r["finished_at"] for r in rows), default=None)


READERS = {"segment_changes": _segment_events, "merge_log": _merge_events, "orders": _order_events}


def sweep_warehouse(now: dt.datetime | None = None) -> int:
    """Record the events of warehouse changes since each cursor; returns how many rows were offered."""
    now = now or timezone.now()
    con = None
    offered = 0
    for name, read in READERS.items():
        cursor = SweepCursor.objects.filter(name=name).first()
        if cursor is None:  # the first sweep: start from now, do not send the history
            SweepCursor.objects.create(name=name, position=now)
            continue
        con = con or backend()
        events, newest = read(con, cursor.position - OVERLAP)
        offered += record_outbound_events([(*e[:4], _utc(e[4])) for e in events], notify=False)
        if newest is not None and _utc(newest) > cursor.position:
            cursor.position = _utc(newest)
            cursor.save(update_fields=["position"])
    return offered
