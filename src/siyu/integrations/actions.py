"""State changes of outbound event subscriptions: saving subscriptions, fanning recorded events out to them,
delivering what is due (signed, retried with backoff, every attempt logged), test events and redeliveries.

Delivery is at least once: an event becomes one Delivery per subscription in the transaction that marks it
fanned out (siyu.outbox), and a Delivery is marked delivered only after the receiver answered 2xx; a worker
that dies in between sends it again later with the same event id, which receivers de-duplicate on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

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
TIMEOUT = 5.0  # per request (connect, and each read of the answer): a slow receiver is a failed attempt
PARALLEL = 8  # subscriptions delivered to at once (each one's deliveries in order)
MAX_ANSWER = 1 << 20
EXCERPT = 500
BATCH = 200
TEST_EVENT = "test"

log = logging.getLogger(__name__)


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
        sub.save(update_fields=["secret_cipher", "updated_at"])
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


@dataclass(frozen=True)
class Answer:
    """What one POST of a delivery got back."""

    status_code: int | None  # None: no HTTP answer (timed out, connection failed or refused)
    excerpt: str
    error: str
    refused: bool  # the SSRF guard refused the address (never retried)
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def silent(self) -> bool:
        """The receiver did not answer at all (slow, hanging or down)."""
        return self.status_code is None and not self.refused


def deliver_due(now: dt.datetime | None = None, clock=time.monotonic) -> dict:
    """Attempt every pending delivery that is due at `now`: one subscription's deliveries in order, up to
    PARALLEL subscriptions at once (threads doing only the HTTP; every attempt is recorded here, in this
    thread, as its answer comes in). A receiver that does not answer within TIMEOUT holds up only its own
    subscription: its other deliveries claimed in this run wait for that one's retry time (no attempt is
    made or counted for them), so a hanging endpoint costs one TIMEOUT per run and delays no one else."""
    now = now or timezone.now()
    counts = {"delivered": 0, "failed": 0, "dead": 0, "held": 0}
    due = list(
        Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
        .select_related("subscription")
        .order_by("next_attempt_at", "id")[:BATCH]
    )
    claimed: dict[int, list[Delivery]] = {}
    for delivery in due:
        if _claim(delivery, now):
            claimed.setdefault(delivery.subscription_id, []).append(delivery)
    if not claimed:
        return counts
    answers: queue.Queue = queue.Queue()
    timeout = TIMEOUT

    def send_in_turn(deliveries: list[Delivery], secret: str) -> None:
        """One subscription's deliveries, in order, on one connection; after a silent receiver the rest is
        handed back unsent (answer None). Claimed deliveries not reported are due again after LEASE."""
        client = HttpClient(deliveries[0].subscription.url, timeout=timeout)
        try:
            for i, delivery in enumerate(deliveries):
                answer = post(client, delivery, secret, now, clock=clock)
                answers.put((delivery, answer))
                if answer.silent:
                    for rest in deliveries[i + 1 :]:
                        answers.put((rest, None))
                    return
        except Exception:
            log.exception("delivering events to subscription %s failed", deliveries[0].subscription_id)
        finally:
            client.close()
            answers.put(None)  # this subscription is done

    with ThreadPoolExecutor(
        max_workers=min(PARALLEL, len(claimed)), thread_name_prefix="siyu-events"
    ) as pool:
        for deliveries in claimed.values():
            pool.submit(send_in_turn, deliveries, deliveries[0].subscription.secret)
        running, held_until = len(claimed), {}
        while running:
            item = answers.get()
            if item is None:
                running -= 1
                continue
            delivery, answer = item
            if answer is None:  # held back behind a silent receiver: due when that one is retried
                Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.PENDING).update(
                    next_attempt_at=held_until[delivery.subscription_id]
                )
                counts["held"] += 1
                continue
            counts[record_attempt(delivery, now, answer)] += 1
            if answer.silent:
                held_until[delivery.subscription_id] = delivery.next_attempt_at or now + BACKOFF[0]
    return counts


def post(
    client: HttpClient, delivery: Delivery, secret: str, now: dt.datetime, *, clock=time.monotonic
) -> Answer:
    """POST the delivery once, signed with `secret` (no database access: delivery threads call this)."""
    body = json.dumps(delivery.body, ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = str(int(now.timestamp()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Siyu-Events/1",
        "X-Siyu-Timestamp": timestamp,
        "X-Siyu-Signature": signature(secret, timestamp, body),
        "X-Siyu-Event-Id": str(delivery.event_uuid),
        "X-Siyu-Event-Type": delivery.event_type,
        "Idempotency-Key": str(delivery.event_uuid),
    }
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
    return Answer(status_code, excerpt, error, refused, max(0, int((clock() - started) * 1000)))


def attempt(delivery: Delivery, now: dt.datetime, *, clock=time.monotonic) -> str:
    """POST the delivery once, log the attempt and move the delivery on: "delivered", "failed" (retried at
    the next backoff time) or "dead"."""
    client = HttpClient(delivery.subscription.url, timeout=TIMEOUT)
    try:
        answer = post(client, delivery, delivery.subscription.secret, now, clock=clock)
    finally:
        client.close()
    return record_attempt(delivery, now, answer)


def record_attempt(delivery: Delivery, now: dt.datetime, answer: Answer) -> str:
    """Log an attempt's answer and move the delivery on: "delivered", "failed" or "dead"."""
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery, attempted_at=now, status_code=answer.status_code,
            response_excerpt=answer.excerpt[:EXCERPT], error=answer.error[:500], duration_ms=answer.duration_ms,
            ok=answer.ok,
        )  # fmt: skip
        if answer.ok:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
                Delivery.Status.DELIVERED,
                now,
                None,
            )
            outcome = "delivered"
        else:
            delivery.failures += 1
            if answer.refused or delivery.failures > len(BACKOFF):
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


def purge_finished_events(cut_off, dry_run: bool) -> int:
    """Retention (siyu.core.retention): outbound events recorded before the cut-off, fanned out and with no
    delivery still waiting; an event not fanned out yet, or with a delivery waiting to be retried, is kept.
    Their deliveries stay (they carry the event's body) until their own period removes them."""
    old = OutboundEvent.objects.filter(recorded_at__lt=cut_off, fanned_out_at__isnull=False).exclude(
        pk__in=Delivery.objects.filter(status=Delivery.Status.PENDING, event__isnull=False).values("event_id")
    )
    if dry_run:
        return old.count()
    return old.delete()[1].get(OutboundEvent._meta.label, 0)
