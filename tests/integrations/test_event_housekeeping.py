"""Outbound events are purged once old and finished; subscriptions' signing secrets are ciphertext at rest
(existing ones encrypted by a migration, re-encrypted by key rotation); a slow receiver delays only itself."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from django.db import connection

from integrations.test_event_subscriptions import T0, Receiver, _verified
from siyu.core import pii, retention, rotation
from siyu.engagement.messaging.channels.http import allow_local_port, forget_local_port
from siyu.integrations import actions
from siyu.integrations.models import Delivery, DeliveryAttempt, Subscription
from siyu.outbox.actions import record_outbound_event
from siyu.outbox.models import OutboundEvent
from siyu.staff.actions import create_user


def _serve():
    server = Receiver()
    allow_local_port("127.0.0.1", server.server.server_address[1])
    return server


def _stop(server):
    forget_local_port("127.0.0.1", server.server.server_address[1])
    server.close()


@pytest.fixture
def receiver():
    server = _serve()
    yield server
    _stop(server)


@pytest.fixture
def slow():
    server = _serve()
    yield server
    _stop(server)


@pytest.fixture
def admin(db):
    return create_user("boss", "pw-boss-1", "admin")


def _removed(now, **kw):
    return {k["kind"]: k["removed"] for k in retention.enforce(now, **kw)["kinds"]}["outbound_events"]


def test_retention_removes_old_finished_events_and_keeps_waiting_ones(receiver, admin, settings):
    actions.create_subscription(admin, receiver.url, ["segment.left", "segment.entered"])
    record_outbound_event("segment.left", 1, {"segment_id": 3}, key="delivered")
    record_outbound_event("points.changed", 1, {"delta": 5}, key="wanted-by-no-one")
    actions.deliver_events(T0)
    receiver.status = 500
    record_outbound_event("segment.entered", 1, {"segment_id": 3}, key="waiting")
    actions.deliver_events(T0)  # failed: waiting for its retry
    record_outbound_event("segment.entered", 2, {"segment_id": 3}, key="not-fanned-out")
    OutboundEvent.objects.update(recorded_at=T0)
    settings.OUTBOUND_EVENTS_RETENTION_DAYS = 30
    later = T0 + dt.timedelta(days=31)

    assert _removed(T0 + dt.timedelta(days=29), dry_run=True) == 0
    assert _removed(later, dry_run=True) == 2 and OutboundEvent.objects.count() == 4
    assert _removed(later) == 2
    assert set(OutboundEvent.objects.values_list("dedupe_key", flat=True)) == {"waiting", "not-fanned-out"}
    # the deliveries have a period of their own (none here): the delivered one stays, with its body
    delivered = Delivery.objects.get(status="delivered")
    assert delivered.event is None and delivered.body["type"] == "segment.left"
    assert Delivery.objects.count() == 2 and DeliveryAttempt.objects.count() == 2
    assert _removed(later) == 0


def test_the_signing_secret_is_ciphertext_at_rest(receiver, admin):
    sub = actions.create_subscription(admin, receiver.url, ["segment.entered"])
    secret = sub.secret
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM integrations_subscription")
        stored = cursor.fetchall()
    assert (
        secret.startswith("whsec_")
        and secret not in repr(stored)
        and secret.encode() not in repr(stored).encode()
    )
    cipher = bytes(Subscription.objects.get().secret_cipher)
    assert pii.key_id_of(cipher) == pii.current_key_id() and pii.decrypt(cipher).decode() == secret
    rotated = actions.rotate_secret(admin, sub.pk).secret
    assert rotated != secret and Subscription.objects.get().secret == rotated
    record_outbound_event("segment.entered", 1, {"segment_id": 3})
    actions.deliver_events(T0)
    assert _verified(receiver.requests[0], rotated, T0)


@pytest.mark.django_db(transaction=True)
def test_a_migration_encrypts_the_secrets_stored_in_clear():
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("integrations", "0001_initial")])
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO integrations_subscription (url, event_types, description, secret, active, created_at, "
            "updated_at) VALUES ('https://crm.example.com/h', '[]', '', 'whsec_old-clear-secret', %s, %s, %s)",
            [True, T0, T0],
        )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    sub = Subscription.objects.get()
    assert (
        sub.secret == "whsec_old-clear-secret"
        and pii.key_id_of(bytes(sub.secret_cipher)) == pii.current_key_id()
    )
    with connection.cursor() as cursor:
        columns = [
            c.name
            for c in connection.introspection.get_table_description(cursor, "integrations_subscription")
        ]
    assert "secret" not in columns


def test_key_rotation_re_encrypts_the_signing_secrets(receiver, admin, warehouse, settings, tmp_path, ring_file):
    # rotation walks every store: this test's own uploads and warehouse, not files other tests sealed under
    # the session's key (this ring's key 0 is another one)
    settings.UPLOADS_DIR = tmp_path / "uploads"
    sub = actions.create_subscription(admin, receiver.url, ["segment.entered"])
    secret = sub.secret
    assert rotation.key_status()["stores"]["integrations.Subscription secret_cipher"] == {"0": 1}
    assert rotation.add_key() == 1
    report = rotation.reencrypt_all()
    assert report["stores"]["integrations.Subscription secret_cipher"] == 1
    assert pii.key_id_of(bytes(Subscription.objects.get().secret_cipher)) == 1
    rotation.retire_key(0)  # nothing is left under key 0
    assert Subscription.objects.get().secret == secret
    record_outbound_event("segment.entered", 1, {"segment_id": 3})
    actions.deliver_events(T0)
    assert _verified(receiver.requests[0], secret, T0)


def test_a_slow_receiver_delays_only_its_own_subscription(receiver, slow, admin, monkeypatch):
    monkeypatch.setattr(actions, "TIMEOUT", 1.5)
    slow.delay = 4.0  # answers long after the per-request timeout
    slow_sub = actions.create_subscription(admin, slow.url, ["segment.entered"])  # made first: its due first
    actions.create_subscription(admin, receiver.url, ["segment.entered"])
    for customer in (1, 2, 3):
        record_outbound_event("segment.entered", customer, {"segment_id": 3})
    started = time.monotonic()
    result = actions.deliver_events(T0)
    elapsed = time.monotonic() - started

    # the fast receiver had all three before the slow one's first request timed out (not after its timeouts)
    assert len(receiver.requests) == 3 and max(r["at"] for r in receiver.requests) - started < 1.2
    assert elapsed < 3.5  # one timeout for the slow receiver, not one per delivery
    assert len(slow.requests) == 1
    assert result["delivered"] == 3 and result["failed"] == 1 and result["held"] == 2
    waiting = Delivery.objects.filter(subscription=slow_sub).order_by("id")
    first, *held = waiting
    attempt = first.attempts.get()
    assert attempt.status_code is None and "did not answer" in attempt.error and first.failures == 1
    retry = T0 + actions.BACKOFF[0]
    assert first.next_attempt_at == retry
    # the others wait for the same retry, with no attempt made or failure counted
    assert [(d.status, d.failures, d.next_attempt_at, d.attempts.count()) for d in held] == [
        ("pending", 0, retry, 0)
    ] * 2
    slow.delay = 0
    assert actions.deliver_events(retry)["delivered"] == 3 and len(slow.requests) == 4


def test_a_customer_that_first_appears_is_announced_once(receiver, admin, warehouse):
    """A resolve hands out new ids above every earlier one: the sweep announces each id above the highest
    it announced, once, and never an existing customer that gained records."""
    from siyu.integrations.sweep import sweep_warehouse
    from siyu.warehouse import backend
    from siyu.warehouse.mirrors import arrow_rows

    actions.create_subscription(admin, receiver.url, ["customer.created"])
    con = backend()

    def resolved(at, *pairs):
        rows = [{"record_key": key, "customer_id": cid, "resolved_at": at} for key, cid in pairs]
        con.insert("customer_map", arrow_rows("customer_map", rows))

    resolved(T0 - dt.timedelta(days=1), ("crm:a", 1), ("crm:b", 2))
    sweep_warehouse(T0)  # the first sweep notes the highest id: existing customers are not announced
    t1 = T0 + dt.timedelta(minutes=3)
    resolved(t1, ("crm:c", 2), ("crm:d", 3), ("tmall:d", 3), ("crm:e", 4))
    sweep_warehouse(t1 + dt.timedelta(minutes=1))
    sweep_warehouse(t1 + dt.timedelta(minutes=2))  # read again: nothing new
    t2 = t1 + dt.timedelta(hours=1)
    resolved(t2, ("crm:f", 5))
    sweep_warehouse(t2 + dt.timedelta(minutes=1))
    actions.deliver_events(t2 + dt.timedelta(minutes=1))
    bodies = sorted((json.loads(r["body"]) for r in receiver.requests), key=lambda b: b["customer_id"])
    assert [(b["type"], b["customer_id"], b["data"], b["occurred_at"]) for b in bodies] == [
        ("customer.created", 3, {}, "2026-03-01T09:03:00Z"),
        ("customer.created", 4, {}, "2026-03-01T09:03:00Z"),
        ("customer.created", 5, {}, "2026-03-01T10:03:00Z"),
    ]
