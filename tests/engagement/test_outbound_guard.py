"""No outbound request reaches the inside of the network (SSRF), checked on the address the socket connects
to; an admin's allow-list lets a host through; webhooks are signed per endpoint."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from siyu.engagement.messaging.channels import webhook
from siyu.engagement.messaging.channels.base import Outgoing
from siyu.engagement.messaging.channels.http import AddressRefused, HttpClient
from siyu.engagement.messaging.channels.webhook import WebhookAdapter
from siyu.engagement.messaging.fakes.webhook import FakeWebhookReceiver


class PlainServer:
    """A local HTTP server this test did not allow: it counts the requests that reach it."""

    def __init__(self):
        hits = self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def plain():
    server = PlainServer()
    yield server
    server.close()


def message(send_id=1):
    return Outgoing(send_id, f"key-{send_id}", send_id, {}, "", "", "hi", {})


@pytest.mark.parametrize(
    "address, kind",
    [
        ("127.0.0.1", "loopback"),
        ("[::1]", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("[fe80::1]", "link-local"),
        ("[fd12:3456::1]", "unique-local"),
        ("224.0.0.1", "multicast"),
        ("[ff02::1]", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("[::ffff:127.0.0.1]", "loopback"),  # an IPv4-mapped IPv6 address is judged as its IPv4 address
    ],
)
def test_each_inside_address_class_is_refused(address, kind):
    client = HttpClient(f"http://{address}:8080", timeout=2)
    with pytest.raises(AddressRefused) as refused:
        client.request("GET", "/latest/meta-data/")
    assert f"({kind})" in str(refused.value) and not refused.value.retryable
    assert "SIYU_OUTBOUND_ALLOWED_HOSTS" in str(refused.value)


def test_a_refused_loopback_request_never_reaches_the_server(plain):
    with pytest.raises(AddressRefused):
        HttpClient(f"http://127.0.0.1:{plain.port}").request("GET", "/admin")
    assert plain.hits == []


def test_a_name_resolving_to_a_private_address_is_refused(plain):
    # "localhost" is a real name resolving to loopback: refused on the address, not on the spelling
    with pytest.raises(AddressRefused) as refused:
        HttpClient(f"http://localhost:{plain.port}").request("GET", "/")
    assert "localhost" in str(refused.value)
    assert plain.hits == []


def test_dns_rebinding_is_judged_at_connect_time(monkeypatch):
    """A name that resolved to a public address when the endpoint was saved and to 10.0.0.5 now."""
    answers = iter(["93.184.216.34", "10.0.0.5"])
    real = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):
        if host == "hooks.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    assert socket.getaddrinfo("hooks.example.com", 80)[0][4][0] == "93.184.216.34"  # the check at save time
    with pytest.raises(AddressRefused) as refused:
        HttpClient("http://hooks.example.com").request("POST", "/", body=b"{}")
    assert "10.0.0.5 (private)" in str(refused.value)


def test_a_redirect_to_loopback_is_not_followed(plain):
    with FakeWebhookReceiver() as receiver:
        receiver.script(302, {}, {"Location": f"http://127.0.0.1:{plain.port}/steal"})
        outcome = WebhookAdapter({"url": receiver.url}, {"signing_secret": "s"}).deliver([message()])[1]
    assert not outcome.ok and "302" in outcome.error
    assert plain.hits == []


def test_a_webhook_to_the_metadata_address_fails_for_good_without_a_request():
    adapter = WebhookAdapter({"url": "http://169.254.169.254/latest/meta-data/"}, {"signing_secret": "s"})
    outcome = adapter.deliver([message()])[1]
    assert not outcome.ok and not outcome.retryable
    assert "169.254.169.254 (link-local)" in outcome.error


@pytest.mark.parametrize("entry", ["localhost", "127.0.0.0/8", "127.0.0.1"])
def test_the_admins_allow_list_lets_a_host_through(plain, settings, entry):
    settings.OUTBOUND_ALLOWED_HOSTS = [entry]
    response = HttpClient(f"http://localhost:{plain.port}").request("GET", "/allowed")
    assert response.status == 200 and plain.hits == ["/allowed"]


def test_the_allow_list_lets_only_its_hosts_through(plain, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["hooks.brand.internal", "10.2.0.0/16"]
    with pytest.raises(AddressRefused):
        HttpClient(f"http://127.0.0.1:{plain.port}").request("GET", "/")
    with pytest.raises(AddressRefused):
        HttpClient("http://10.3.0.1:80").request("GET", "/")
    assert plain.hits == []


def test_every_webhook_post_is_signed_with_its_endpoints_secret():
    with FakeWebhookReceiver(secret="endpoint-a-secret") as receiver:
        WebhookAdapter({"url": receiver.url}, {"signing_secret": "endpoint-a-secret"}).deliver([message(7)])
    request = receiver.requests[0]
    timestamp, body = request["headers"]["x-siyu-timestamp"], request["body"]
    assert abs(int(timestamp) - time.time()) < 600
    assert request["headers"]["x-siyu-signature"] == webhook.signature("endpoint-a-secret", timestamp, body)
    # HMAC-SHA256 over "<timestamp>.<body>": another endpoint's secret or a changed body does not verify
    assert not webhook.verify_signature("endpoint-b-secret", timestamp, body, request["headers"]["x-siyu-signature"], time.time())
    assert not webhook.verify_signature(
        "endpoint-a-secret", timestamp, body.replace(b"hi", b"ho"), request["headers"]["x-siyu-signature"], time.time()
    )
    assert json.loads(body)["idempotency_key"] == "key-7"


def test_a_stopped_fake_no_longer_opens_its_port():
    # the system hands a freed port to the next server, which this process did not start: the allowance
    # must end with the fake, or a later server on that port would be reachable (seen in a full-suite run)
    with FakeWebhookReceiver(secret="s") as receiver:
        port = int(receiver.url.rsplit(":", 1)[1])
    with pytest.raises(AddressRefused):
        HttpClient(f"http://127.0.0.1:{port}", timeout=2).request("GET", "/")
