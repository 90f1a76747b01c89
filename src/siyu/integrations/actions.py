"""State changes of outbound event subscriptions: saving subscriptions, fanning recorded events out to them,
delivering what is due (signed, retried with backoff, every attempt logged), test events and redeliveries.

Delivery is at least once: an event becomes one Delivery per subscription in the transaction that marks it
fanned out (siyu.outbox), and a Delivery is marked delivered only after the receiver answered 2xx; a worker
that dies in between sends it again later with the same event id, which receivers de-duplicate on.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
import uuid

from django.db import transaction
from django.utils import timezone

from siyu.core.actions import record_audit
from siyu.core.errors import PermissionDenied
from siyu.core.tasks import schedule_once
from siyu.engagement.messaging.channels.base import ProviderError
from siyu.engagement.messaging.channels.http import AddressRefused, HttpClient, destination_refused
from siyu.engagement.messaging.channels.webhook import signature
from siyu.integrations.errors import IntegrationError, NotFound
from siyu.integrations.models import Delivery, DeliveryAttempt, Subscription
from siyu.outbox.actions import EVENT_TYPES
from siyu.outbox.models import OutboundEvent
from siyu.staff.queries import is_admin

# waits after the 1st, 2nd… failed attempt; after the last one fails the delivery is dead
BACKOFF = (
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=12),
)
LEASE = dt.timedelta(minutes=5)  # a claimed attempt not finished by then is due again (its worker died)
TIMEOUT = 10.0
MAX_ANSWER = 1 << 20
EXCERPT = 500
BATCH = 200
TEST_EVENT = "test"


def _admin(actor) -> None:
    if not is_admin(actor):
        raise PermissionDenied("only an admin can change event subscriptions")


def _clean(url: str, event_types: list[str]) -> tuple[str, list[str]]:
    url = (url or "").strip()
    why = destination_refused(url)
    if why:
        raise IntegrationError(f"this address cannot be used: {why}")
    unknown = sorted(set(event_types) - set(EVENT_TYPES))
    if unknown:
        raise IntegrationError(f"unknown event types: {', '.join(unknown)}")
    if not event_types:
        raise IntegrationError("choose at least one event type")
    return url, [t for t in EVENT_TYPES if t in event_types]


def create_subscription(actor, url: str, event_types: list[str], description: str = "") -> Subscription:
    """A new subscription with a generated signing secret (shown to the admin once, on this answer)."""
    _admin(actor)
    url, types = _clean(url, event_types)
    with transaction.atomic():
        sub = Subscription.objects.create(
            url=url, event_types=types, description=description.strip()[:200],
            secret="whsec_" + secrets.token_urlsafe(32), created_by=actor,
        )  # fmt: skip
        record_audit(actor, "subscription.create", f"subscription:{sub.pk}", url=url, event_types=types)
    return sub


def update_subscription(actor, subscription_id: int, *, url=None, event_types=None, description=None,
                        active=None) -> Subscription:  # fmt: skip
    _admin(actor)
    sub = _get(subscription_id)
    if url is not None or event_types is not None:  # pausing needs no lookup of an unchanged address
        sub.url, sub.event_types = _clean(
            sub.url if url is None else url, sub.event_types if event_types is None else event_types
        )
    if description is not None:
        sub.description = description.strip()[:200]
    if active is not None:
        sub.active = bool(active)
    with transaction.atomic():
        sub.save()
        record_audit(actor, "subscription.update", f"subscription:{sub.pk}",
                     url=sub.url, event_types=sub.event_types, active=sub.active)  # fmt: skip
    return sub


def rotate_secret(actor, subscription_id: int) -> Subscription:
    """A new signing secret (shown once); the old one stops signing at once."""
    _admin(actor)
    sub = _get(subscription_id)
    with transaction.atomic():
        sub.secret = "whsec_" + secrets.token_urlsafe(32)
        sub.save(update_fields=["secret", "updated_at"])
        record_audit(actor, "subscription.rotate_secret", f"subscription:{sub.pk}")
    return sub


def delete_subscription(actor, subscription_id: int) -> None:
    _admin(actor)
    sub = _get(subscription_id)
    with transaction.atomic():
        record_audit(actor, "subscription.delete", f"subscription:{sub.pk}", url=sub.url)
        sub.delete()


def _get(subscription_id: int) -> Subscription:
    try:
        return Subscription.objects.get(pk=subscription_id)
    except Subscription.DoesNotExist:
        raise NotFound(f"no event subscription {subscription_id}") from None


def event_body(event_id, type_: str, occurred_at: dt.datetime, customer_id, data: dict) -> dict:
    return {
        "id": str(event_id),
        "type": type_,
        "occurred_at": occurred_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "customer_id": customer_id,
        "data": data,
    }


# --- fan-out and delivery ----------------------------------------------------------------------------------


def fan_out(now: dt.datetime | None = None) -> int:
    """Turn recorded events not fanned out yet into one Delivery per active subscription that wants them, and
    mark them fanned out, in one transaction (a repeat after a crash finds them marked). Returns deliveries made."""
    now = now or timezone.now()
    made = 0
    while True:
        with transaction.atomic():
            events = list(
                OutboundEvent.objects.filter(fanned_out_at__isnull=True).order_by("recorded_at", "id")[:BATCH]
            )
            if not events:
                return made
            subs = list(Subscription.objects.filter(active=True))
            rows = [
                Delivery(
                    subscription=sub,
                    event=event,
                    event_uuid=event.id,
                    event_type=event.type,
                    body=event_body(
                        event.id, event.type, event.occurred_at, event.customer_id, event.payload
                    ),
                    next_attempt_at=now,
                    created_at=now,
                )  # fmt: skip
                for event in events
                for sub in subs
                if event.type in sub.event_types
            ]
            Delivery.objects.bulk_create(rows, ignore_conflicts=True)
            OutboundEvent.objects.filter(pk__in=[e.pk for e in events]).update(fanned_out_at=now)
            made += len(rows)


def _claim(delivery: Delivery, now: dt.datetime) -> bool:
    """Take the delivery for this worker (another one, or a later run, sees it due only after LEASE)."""
    return bool(
        Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.PENDING,
                                next_attempt_at=delivery.next_attempt_at).update(next_attempt_at=now + LEASE)
    )  # fmt: skip


def deliver_due(now: dt.datetime | None = None, clock=time.monotonic) -> dict:
    """Attempt every pending delivery that is due at `now`."""
    now = now or timezone.now()
    counts = {"delivered": 0, "failed": 0, "dead": 0}
    due = list(
        Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
        .select_related("subscription")
        .order_by("next_attempt_at", "id")[:BATCH]
    )
    for delivery in due:
        if not _claim(delivery, now):
            continue
        outcome = attempt(delivery, now, clock=clock)
        counts[outcome] += 1
    return counts


def attempt(delivery: Delivery, now: dt.datetime, *, clock=time.monotonic) -> str:
    """POST the delivery once, log the attempt and move the delivery on: "delivered", "failed" (retried at
    the next backoff time) or "dead"."""
    sub = delivery.subscription
    body = json.dumps(delivery.body, ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = str(int(now.timestamp()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Siyu-Events/1",
        "X-Siyu-Timestamp": timestamp,
        "X-Siyu-Signature": signature(sub.secret, timestamp, body),
        "X-Siyu-Event-Id": str(delivery.event_uuid),
        "X-Siyu-Event-Type": delivery.event_type,
        "Idempotency-Key": str(delivery.event_uuid),
    }
    client = HttpClient(sub.url, timeout=TIMEOUT)
    started = clock()
    status_code, excerpt, error, refused = None, "", "", False
    try:
        response = client.request("POST", "", body=body, headers=headers, max_bytes=MAX_ANSWER)
        status_code = response.status
        excerpt = response.body[:EXCERPT].decode("utf-8", "replace")
    except AddressRefused as exc:
        error, refused = str(exc), True
    except ProviderError as exc:
        error = str(exc)
    finally:
        client.close()
    duration = max(0, int((clock() - started) * 1000))
    ok = status_code is not None and 200 <= status_code < 300
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery, attempted_at=now, status_code=status_code, response_excerpt=excerpt[:EXCERPT],
            error=error[:500], duration_ms=duration, ok=ok,
        )  # fmt: skip
        if ok:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
                Delivery.Status.DELIVERED,
                now,
                None,
            )
            outcome = "delivered"
        else:
            delivery.failures += 1
            if refused or delivery.failures > len(BACKOFF):
                delivery.status, delivery.next_attempt_at = Delivery.Status.DEAD, None
                outcome = "dead"
            else:
                delivery.next_attempt_at = now + BACKOFF[delivery.failures - 1]
                outcome = "failed"
        delivery.save(update_fields=["status", "delivered_at", "next_attempt_at", "failures"])
    return outcome


def redeliver(actor, delivery_id: int, now: dt.datetime | None = None) -> Delivery:
    """Send a delivery again now (a dead one, or one delivered that the receiver lost), with the same event
    id and a fresh retry schedule."""
    _admin(actor)
    now = now or timezone.now()
    try:
        delivery = Delivery.objects.select_related("subscription").get(pk=delivery_id)
    except Delivery.DoesNotExist:
        raise NotFound(f"no delivery {delivery_id}") from None
    with transaction.atomic():
        delivery.status, delivery.failures, delivery.next_attempt_at = Delivery.Status.PENDING, 0, now
        delivery.save(update_fields=["status", "failures", "next_attempt_at"])
        record_audit(actor, "subscription.redeliver", f"subscription:{delivery.subscription_id}",
                     delivery=delivery.pk)  # fmt: skip
    transaction.on_commit(schedule_delivery_soon)
    return delivery


def send_test_event(actor, subscription_id: int, now: dt.datetime | None = None) -> Delivery:
    """A `test` event to the subscription now (its outcome is in the delivery log at once)."""
    _admin(actor)
    sub = _get(subscription_id)
    now = now or timezone.now()
    event_id = uuid.uuid4()
    delivery = Delivery.objects.create(
        subscription=sub, event=None, event_uuid=event_id, event_type=TEST_EVENT,
        body=event_body(event_id, TEST_EVENT, now, None, {"message": "a test event from Siyu"}),
        next_attempt_at=now + LEASE, created_at=now,
    )  # fmt: skip
    attempt(delivery, now)
    delivery.refresh_from_db()
    return delivery


# --- the worker's schedule ---------------------------------------------------------------------------------


def deliver_events(now: dt.datetime | None = None) -> dict:
    """One run of the delivery task: fan out, deliver what is due."""
    made = fan_out(now)
    return {"fanned_out": made, **deliver_due(now)}


def next_due_time() -> dt.datetime | None:
    return (
        Delivery.objects.filter(status=Delivery.Status.PENDING)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )


def schedule_delivery(at: dt.datetime | None = None) -> None:
    from siyu.integrations.tasks import deliver_events_task  # the task module imports this one

    schedule_once(deliver_events_task, at)


def schedule_delivery_soon() -> None:
    """After events were recorded: run the delivery task now when a subscription may want them."""
    if Subscription.objects.filter(active=True).exists():
        schedule_delivery()


def purge_finished_deliveries(cut_off, dry_run: bool) -> int:
    """Retention (siyu.core.retention): deliveries made before the cut-off that are over (delivered or given
    up), with their attempts; a delivery still waiting to be retried is kept whatever its age."""
    old = Delivery.objects.filter(created_at__lt=cut_off).exclude(status=Delivery.Status.PENDING)
    if dry_run:
        return old.count()
    return old.delete()[1].get(Delivery._meta.label, 0)
