"""Recording events for outside systems: the one function every domain calls (record_outbound_event)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable

from django.db import transaction
from django.utils import timezone

from siyu.outbox.models import OutboundEvent

EVENT_TYPES = (
    "customer.created",
    "customers.merged",
    "segment.entered",
    "segment.left",
    "order.imported",
    "consent.changed",
    "points.changed",
)

# Called (after the recording transaction commits) when events were recorded: siyu.integrations registers
# the scheduling of its delivery task here in AppConfig.ready() (this app cannot import it: DESIGN.md §7).
_listeners: list[Callable[[], None]] = []


def on_events_recorded(listener: Callable[[], None]) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def _notify() -> None:
    for listener in _listeners:
        listener()


def record_outbound_event(
    type: str,
    customer_id: int | None,
    payload: dict,
    *,
    key: str = "",
    occurred_at: dt.datetime | None = None,
) -> None:
    """Record one event in the caller's transaction. `key`: what makes a repeat of the same change the same
    event (defaults to a new id: every call is a new event). `payload`: the minimal facts, ids only."""
    record_outbound_events([(type, customer_id, payload, key)], occurred_at=occurred_at)


def record_outbound_events(
    events: Iterable[tuple], *, occurred_at: dt.datetime | None = None, notify: bool = True
) -> int:
    """Record many events (type, customer_id, payload, key[, occurred_at]) at once; a key recorded before is
    skipped. Returns how many rows were offered. `notify`: tell the listeners (not when the delivery task
    itself records, which fans out next anyway)."""
    default_at = occurred_at or timezone.now()
    rows = []
    for type_, customer_id, payload, key, *when in events:
        at = when[0] if when else default_at
        if type_ not in EVENT_TYPES:
            raise ValueError(f"unknown outbound event type {type_!r}")
        event_id = uuid.uuid4()
        rows.append(
            OutboundEvent(
                id=event_id, type=type_, customer_id=customer_id, payload=payload, occurred_at=at,
                dedupe_key=(key or f"{type_}:{event_id}")[:200],
            )
        )  # fmt: skip
    if not rows:
        return 0
    for start in range(0, len(rows), 2000):
        OutboundEvent.objects.bulk_create(rows[start : start + 2000], ignore_conflicts=True)
    if notify:
        transaction.on_commit(_notify)
    return len(rows)
