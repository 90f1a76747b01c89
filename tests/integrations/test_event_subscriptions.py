"""Outbound event subscriptions: each event is delivered once, signed; a failing receiver is retried at the
backoff times, then given up; nothing is lost when the process dies between the change and the delivery;
private addresses are refused; admins manage it all through the API."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from siyu.api.actions import create_token
from siyu.core.errors import PermissionDenied
from siyu.engagement.messaging.channels.http import allow_local_port, forget_local_port
from siyu.engagement.messaging.channels.webhook import verify_signature
from siyu.integrations import actions
from siyu.integrations.errors import IntegrationError
from siyu.integrations.models import Delivery
from siyu.loyalty.points.actions import award_points
from siyu.outbox.actions import EVENT_TYPES, record_outbound_event, record_outbound_events
from siyu.outbox.models import OutboundEvent
from siyu.staff.actions import create_user

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


class Receiver:
    """An HTTP receiver in this process answering `status` (a list is answered in turn), after `delay`
    seconds."""

    def __init__(self):
        self.requests, self.status, self.delay = [], 200, 0.0
        received = self.requests
        me = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body,
                                 "at": time.monotonic()})  # fmt: skip
                time.sleep(me.delay)
                answer = b'{"ok":true}' if me.status < 300 else b"receiver broke"
                try:
                    self.send_response(me.status)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up waiting (a slow receiver)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    allow_local_port("127.0.0.1", server.server.server_address[1])
    yield server
    forget_local_port("127.0.0.1", server.server.server_address[1])
    server.close()


@pytest.fixture
def admin(db):
    return create_user("boss", "pw-boss-1", "admin")


def _verified(request, secret, now):
    h = request["headers"]
    return verify_signature(
        secret, h["x-siyu-timestamp"], request["body"], h["x-siyu-signature"], now=now.timestamp()
    )


def test_each_event_type_is_delivered_once_signed(receiver, admin):
    sub = actions.create_subscription(admin, receiver.url, list(EVENT_TYPES))
    assert sub.secret.startswith("whsec_") and len(sub.secret) > 30
    award_points(7, 50, key="order-1", reason="order", source="order")  # the points ledger records its event
    record_outbound_events(
        [(t, 7, {"fact": t}, f"k:{t}") for t in EVENT_TYPES if t != "points.changed"], occurred_at=T0
    )
    record_outbound_events(
        [("segment.entered", 7, {"fact": "again"}, "k:segment.entered")]
    )  # a repeat: nothing
    actions.deliver_events(T0)
    actions.deliver_events(T0 + dt.timedelta(hours=1))  # nothing twice
    bodies = [json.loads(r["body"]) for r in receiver.requests]
    assert sorted(b["type"] for b in bodies) == sorted(EVENT_TYPES)
    assert len({b["id"] for b in bodies}) == len(EVENT_TYPES)
    assert all(_verified(r, sub.secret, T0) for r in receiver.requests)
    assert not _verified(receiver.requests[0], "whsec_wrong", T0)
    points = next(b for b in bodies if b["type"] == "points.changed")
    assert points["customer_id"] == 7 and points["data"]["delta"] == 50
    assert receiver.requests[0]["headers"]["x-siyu-event-id"] == bodies[0]["id"]
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}


def test_a_subscription_gets_only_its_types(receiver, admin):
    actions.create_subscription(admin, receiver.url, ["segment.left"])
    record_outbound_event("segment.entered", 1, {"segment_id": 3})
    record_outbound_event("segment.left", 1, {"segment_id": 3})
    actions.deliver_events(T0)
    assert [json.loads(r["body"])["type"] for r in receiver.requests] == ["segment.left"]


def test_a_failing_receiver_is_retried_at_the_backoff_times_then_given_up(receiver, admin):
    receiver.status = 500
    actions.create_subscription(admin, receiver.url, ["consent.changed"])
    record_outbound_event("consent.changed", 3, {"channel": "sms", "status": "opted_out"})
    now = T0
    actions.deliver_events(now)
    waits = []
    for wait in actions.BACKOFF:
        delivery = Delivery.objects.get()
        waits.append(delivery.next_attempt_at - now)
        actions.deliver_events(now + wait - dt.timedelta(seconds=1))  # not due yet: nothing sent
        now = now + wait
        actions.deliver_events(now)
    assert (
        waits
        == list(actions.BACKOFF)
        == [
            dt.timedelta(minutes=1),
            dt.timedelta(minutes=5),
            dt.timedelta(minutes=30),
            dt.timedelta(hours=2),
            dt.timedelta(hours=12),
        ]
    )
    delivery = Delivery.objects.get()
    assert delivery.status == "dead" and len(receiver.requests) == 6
    attempts = list(delivery.attempts.order_by("attempted_at"))
    assert [a.status_code for a in attempts] == [500] * 6
    assert attempts[0].response_excerpt == "receiver broke" and attempts[0].attempted_at == T0
    # the admin redelivers once the receiver is fixed: the same event id, delivered
    receiver.status = 200
    actions.redeliver(admin, delivery.pk, now=now)
    actions.deliver_events(now)
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and len(receiver.requests) == 7
    ids = {json.loads(r["body"])["id"] for r in receiver.requests}
    assert ids == {str(delivery.event_uuid)}


def test_a_crash_between_the_change_and_the_delivery_loses_nothing(receiver, admin):
    actions.create_subscription(admin, receiver.url, ["points.changed"])
    award_points(
        9, 10, key="a-1", reason="gift", source="manual"
    )  # committed; the worker dies before sending
    assert OutboundEvent.objects.filter(fanned_out_at__isnull=True).count() == 1
    actions.fan_out(T0)
    delivery = Delivery.objects.get()
    assert actions._claim(delivery, T0)  # a worker took it, then died mid-attempt
    actions.deliver_due(T0 + dt.timedelta(minutes=1))  # still leased to the dead worker
    assert receiver.requests == []
    actions.deliver_events(T0 + actions.LEASE)  # the next worker run after the lease
    assert len(receiver.requests) == 1 and Delivery.objects.get().status == "delivered"


def test_a_change_rolled_back_sends_nothing(receiver, admin):
    from django.db import transaction

    actions.create_subscription(admin, receiver.url, ["points.changed"])
    with pytest.raises(RuntimeError), transaction.atomic():
        award_points(9, 10, key="b-1", reason="gift", source="manual")
        raise RuntimeError("the change fails after the event was written")
    actions.deliver_events(T0)
    assert receiver.requests == [] and not OutboundEvent.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/hook",
        "http://127.0.0.1:9/hook",
        "http://[::1]/x",
        "http://169.254.169.254/latest",
        "ftp://example.com/x",
    ],
)
def test_a_subscription_to_a_private_address_is_refused(admin, url):
    with pytest.raises(IntegrationError, match="cannot be used"):
        actions.create_subscription(admin, url, ["consent.changed"])


def test_an_admin_allowed_host_is_accepted(admin, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["10.0.0.0/8"]
    assert actions.create_subscription(admin, "http://10.0.0.5/hook", ["consent.changed"]).pk


def test_only_admins_manage_subscriptions(db, receiver):
    ops = create_user("ops", "pw-ops-1", "operator")
    with pytest.raises(PermissionDenied):
        actions.create_subscription(ops, receiver.url, ["consent.changed"])


def _api(client, user, method, path, body=None, key="k1"):
    headers = {"Authorization": f"Bearer {create_token(user, 'tests')}", "Idempotency-Key": key}
    call = getattr(client, method)
    if body is None:
        return call(path, headers=headers)
    return call(path, data=json.dumps(body), content_type="application/json", headers=headers)


def test_the_api_creates_tests_lists_and_redelivers(client, receiver, admin):
    made = _api(client, admin, "post", "/api/integrations/subscriptions",
                {"url": receiver.url, "event_types": ["consent.changed"], "description": "CRM"})  # fmt: skip
    assert made.status_code == 201, made.content
    secret, sub_id = made.json()["secret"], made.json()["id"]
    again = _api(client, admin, "post", "/api/integrations/subscriptions",
                 {"url": receiver.url, "event_types": ["consent.changed"], "description": "CRM"})  # fmt: skip
    assert again.json()["id"] == sub_id  # the same idempotency key: no second subscription
    listed = _api(client, admin, "get", "/api/integrations/subscriptions").json()
    assert listed[0]["secret"] is None and listed[0]["secret_hint"] == "…" + secret[-4:]
    tested = _api(client, admin, "post", f"/api/integrations/subscriptions/{sub_id}/test", key="t1").json()
    assert tested["status"] == "delivered" and tested["attempts"][0]["status_code"] == 200
    assert verify_signature(
        secret,
        receiver.requests[0]["headers"]["x-siyu-timestamp"],
        receiver.requests[0]["body"],
        receiver.requests[0]["headers"]["x-siyu-signature"],
        now=dt.datetime.now(dt.UTC).timestamp(),
    )
    deliveries = _api(client, admin, "get", f"/api/integrations/subscriptions/{sub_id}/deliveries").json()
    assert [d["event_type"] for d in deliveries] == ["test"]
    again = _api(
        client, admin, "post", f"/api/integrations/deliveries/{deliveries[0]['id']}/redeliver", key="r1"
    )
    assert again.status_code == 200 and again.json()["status"] == "pending"
    refused = _api(client, admin, "post", "/api/integrations/subscriptions",
                   {"url": "http://192.168.1.1/x", "event_types": ["consent.changed"]}, key="k2")  # fmt: skip
    assert refused.status_code == 400 and "inside the network" in refused.json()["detail"]
    ops = create_user("ops", "pw-ops-1", "operator")
    assert _api(client, ops, "get", "/api/integrations/subscriptions").status_code == 403


def test_the_console_page_adds_a_subscription_shows_its_secret_once_and_logs_a_test(client, receiver, admin):
    client.force_login(admin)
    page = client.get("/settings/integrations/")
    assert page.status_code == 200 and "事件订阅" in page.content.decode()
    made = client.post(
        "/settings/integrations/", {"url": receiver.url, "event_types": ["consent.changed", "points.changed"]}
    )
    from siyu.integrations.models import Subscription

    sub = Subscription.objects.get()
    assert sub.secret in made.content.decode() and "只显示这一次" in made.content.decode()
    client.post(f"/settings/integrations/{sub.pk}/do/", {"action": "test"})
    log = client.get(f"/settings/integrations/{sub.pk}/").content.decode()
    assert sub.secret not in log and "测试事件" in log and "应答 200" in log and "已送达" in log
    ops = create_user("ops", "pw-ops-1", "operator")
    client.force_login(ops)
    assert client.get("/settings/integrations/").status_code == 403


def test_warehouse_changes_are_found_by_the_sweep_once_each_even_after_a_crash(receiver, admin, warehouse):
    """Segment enter/exit, merges and imported orders live in the warehouse: the sweep reads them from its
    logs, so a writer that died after its warehouse commit loses nothing, and reading again sends nothing twice."""
    from siyu.integrations.sweep import sweep_warehouse
    from siyu.warehouse import backend
    from siyu.warehouse.mirrors import arrow_rows

    sub = actions.create_subscription(admin, receiver.url, list(EVENT_TYPES))
    con = backend()
    old = T0 - dt.timedelta(days=1)
    con.insert("segment_changes", arrow_rows("segment_changes", [
        {"segment_id": 1, "customer_id": 5, "change": "enter", "changed_at": old}]))  # fmt: skip
    sweep_warehouse(T0)  # the first sweep sets its cursors: history is not sent
    t1 = T0 + dt.timedelta(minutes=3)
    con.insert("segment_changes", arrow_rows("segment_changes", [
        {"segment_id": 1, "customer_id": 5, "change": "exit", "changed_at": t1},
        {"segment_id": 2, "customer_id": 6, "change": "enter", "changed_at": t1}]))  # fmt: skip
    con.insert("merge_log", arrow_rows("merge_log", [
        {"run_id": "r1", "merged_at": t1, "survivor_id": 6, "absorbed_id": 8, "rule": "phone"},
        {"run_id": "r1", "merged_at": t1, "survivor_id": 6, "absorbed_id": 9, "rule": "split"}]))  # fmt: skip
    con.insert("import_batches", arrow_rows("import_batches", [
        {"batch_id": "b1", "source": "youzan", "started_at": t1, "finished_at": t1}]))  # fmt: skip
    con.insert(
        "orders", arrow_rows("orders", [{"order_key": "youzan:o1", "source": "youzan", "batch_id": "b1"}])
    )
    con.insert(
        "customer_orders", arrow_rows("customer_orders", [{"customer_id": 6, "order_key": "youzan:o1"}])
    )
    # the writers "crashed" after their warehouse commits: nothing was recorded in the control plane
    assert not OutboundEvent.objects.exists()
    sweep_warehouse(t1 + dt.timedelta(minutes=1))
    sweep_warehouse(t1 + dt.timedelta(minutes=2))  # read again (the overlap): nothing new
    actions.deliver_events(t1 + dt.timedelta(minutes=2))
    bodies = sorted((json.loads(r["body"]) for r in receiver.requests), key=lambda b: b["type"])
    assert [(b["type"], b["customer_id"], b["data"]) for b in bodies] == [
        ("customers.merged", 6, {"survivor_id": 6, "absorbed_id": 8}),
        ("order.imported", 6, {"order_key": "youzan:o1", "source": "youzan"}),
        ("segment.entered", 6, {"segment_id": 2}),
        ("segment.left", 5, {"segment_id": 1}),
    ]
    assert all(_verified(r, sub.secret, t1 + dt.timedelta(minutes=2)) for r in receiver.requests)
    assert bodies[2]["occurred_at"] == "2026-03-01T09:03:00Z"


def test_a_consent_change_is_delivered_with_no_personal_data(receiver, admin, warehouse):
    from siyu.customers.actions import record_consent
    from siyu.warehouse import backend
    from siyu.warehouse.mirrors import arrow_rows

    backend().insert(
        "customer_summary", arrow_rows("customer_summary", [{"customer_id": 42, "record_count": 1}])
    )
    sub = actions.create_subscription(admin, receiver.url, ["consent.changed"])
    record_consent(None, 42, "sms", "opt_out", "短信回复 TD")
    actions.deliver_events(T0)
    (request,) = receiver.requests
    body = json.loads(request["body"])
    assert body["type"] == "consent.changed" and body["customer_id"] == 42
    assert {k: body["data"][k] for k in ("channel", "status")} == {"channel": "sms", "status": "opt_out"}
    assert "短信回复" not in request["body"].decode()  # the free-text source stays in Siyu
    assert _verified(request, sub.secret, T0)


def test_every_kind_of_points_change_records_one_event(db):
    from siyu.loyalty.points.actions import expire_due_points, reverse_points, spend_points

    award_points(5, 100, key="o-1", reason="order", source="order", source_ref="order:1",
                 expires_at=T0 + dt.timedelta(days=30))  # fmt: skip
    award_points(5, 40, key="o-2", reason="order", source="order", source_ref="order:2",
                 expires_at=T0 - dt.timedelta(days=1))  # fmt: skip
    spend_points(5, 30, key="till-1", reason="till", source="mall")
    spend_points(5, 30, key="till-1", reason="till", source="mall")  # a replay: no second event
    reverse_points(source_ref="order:1", key="refund-1", reason="refund")
    expire_due_points(T0)
    from siyu.loyalty.points.models import PointsEntry

    events = list(OutboundEvent.objects.filter(type="points.changed", customer_id=5))
    # a receiver summing the deltas holds the ledger's balance: award, award, spend, refund, expiry
    assert sum(e.payload["delta"] for e in events) == sum(
        PointsEntry.objects.filter(customer_id=5).values_list("points", flat=True)
    )
    assert sorted(e.payload["source"] for e in events) == sorted(
        ["order", "order", "mall", "order", "expiry"]
    )


def test_a_paused_subscription_receives_nothing_and_resumes(receiver, admin):
    sub = actions.create_subscription(admin, receiver.url, ["segment.left"])
    actions.update_subscription(admin, sub.pk, active=False)
    record_outbound_event("segment.left", 1, {"segment_id": 3})
    actions.deliver_events(T0)
    actions.update_subscription(admin, sub.pk, active=True)
    record_outbound_event("segment.left", 2, {"segment_id": 3})
    actions.deliver_events(T0)
    assert [json.loads(r["body"])["customer_id"] for r in receiver.requests] == [2]
    with pytest.raises(IntegrationError):
        actions.update_subscription(admin, sub.pk, url="http://192.168.0.1/x")


def test_retention_removes_finished_deliveries_before_the_cut_off_and_keeps_waiting_ones(receiver, admin, settings):
    from siyu.core import retention
    from siyu.integrations.models import DeliveryAttempt

    actions.create_subscription(admin, receiver.url, ["segment.left", "segment.entered"])
    record_outbound_event("segment.left", 1, {"segment_id": 3})
    actions.deliver_events(T0)  # delivered at T0
    receiver.status = 500
    record_outbound_event("segment.entered", 1, {"segment_id": 3})
    actions.deliver_events(T0)  # failed at T0: waiting for its retry
    assert sorted(Delivery.objects.values_list("status", flat=True)) == ["delivered", "pending"]
    Delivery.objects.update(created_at=T0)
    settings.EVENT_DELIVERIES_RETENTION_DAYS = 30
    later = T0 + dt.timedelta(days=31)
    counted = {k["kind"]: k for k in retention.enforce(later, dry_run=True)["kinds"]}["event_deliveries"]
    assert counted["removed"] == 1 and Delivery.objects.count() == 2
    retention.enforce(later)
    assert list(Delivery.objects.values_list("status", flat=True)) == ["pending"]
    assert DeliveryAttempt.objects.filter(delivery__status="delivered").count() == 0
    assert retention.enforce(T0 + dt.timedelta(days=29), dry_run=True)["removed"] == 0
