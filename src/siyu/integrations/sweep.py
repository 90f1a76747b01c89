"""Events of changes made in the warehouse, read from the warehouse's own logs since a cursor.

Segment enter/exit (segment_changes), merges (merge_log) and imported orders (orders of import_batches) are
written in warehouse transactions, which no control-plane transaction can share. Rather than each domain
recording them after its warehouse commit (a crash in between would lose them), this sweep reads the logs
themselves: what is committed there is found, however the writer ended. Each row becomes an event with a key
derived from the row (siyu.outbox's dedupe_key), so reading a row again adds nothing; the cursor moves to
the newest time seen and each read starts OVERLAP earlier, for rows committed late with an earlier time
(a refresh stamps its rows when it starts). The first sweep only sets the cursors: history is not sent.

New customers (customer.created) have no log of their own (customer_map rows are rewritten by every resolve),
but identity resolution hands out each new id above every id it ever handed out
(siyu.identity.actions._next_customer_id): the cursor "customer_ids" keeps the highest id announced, and an id
above it in customer_map is a customer that appeared since. (An id merged away before the sweep read it is
not announced; its records are in the survivor, which the customers.merged event names.)
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
NEW_CUSTOMERS = "customer_ids"


def _new_customers(con, now) -> int:
    """customer.created for each customer id above the highest one announced; the first sweep only notes
    the highest id there is."""
    cmap = con.table("customer_map")
    cursor = SweepCursor.objects.filter(name=NEW_CUSTOMERS).first()
    if cursor is None:
        highest = cmap.customer_id.max().execute()
        highest = 0 if highest is None or highest != highest else int(highest)  # empty: None (or NaN)
        SweepCursor.objects.create(name=NEW_CUSTOMERS, position=now, last_id=highest)
        return 0
    new = cmap.filter(cmap.customer_id > (cursor.last_id or 0))
    rows = new.group_by("customer_id").aggregate(first_seen=new.resolved_at.min()).to_pyarrow().to_pylist()
    if not rows:
        return 0
    offered = record_outbound_events(
        [("customer.created", r["customer_id"], {}, f"customer.created:{r['customer_id']}",
          _utc(r["first_seen"] or now)) for r in rows],
        notify=False,
    )  # fmt: skip
    cursor.last_id, cursor.position = max(r["customer_id"] for r in rows), now
    cursor.save(update_fields=["last_id", "position"])
    return offered


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
    offered += _new_customers(con or backend(), now)
    return offered
