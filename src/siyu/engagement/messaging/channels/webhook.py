"""Generic signed webhook: a JSON POST to the brand's own endpoint.

Headers: `X-Siyu-Timestamp` (Unix seconds), `X-Siyu-Signature: v1=<hex HMAC-SHA256(secret,
"<timestamp>.<body>")>` and `Idempotency-Key` (the send's key). A receiver verifies the signature, refuses
timestamps outside its replay window (default 5 minutes) and drops a repeated Idempotency-Key — which makes
a repeat after a crash harmless, so this adapter is `idempotent`. Answers: 2xx sent; 408, 425, 429 and 5xx
retried (honouring Retry-After); any other status is permanent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from siyu.engagement.messaging.channels.base import ChannelAdapter, Outcome, Outgoing, failed, render, sent
from siyu.engagement.messaging.channels.http import HttpClient

REPLAY_WINDOW = 300
RETRYABLE_STATUS = {408, 425, 429}


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str, timestamp: str, body: bytes, given: str, now: float, window: int = REPLAY_WINDOW
) -> bool:
    """What a receiver checks (our own receipts endpoint and the fake server use it too)."""
    try:
        age = abs(now - int(timestamp))
    except (TypeError, ValueError):
        return False
    return age <= window and hmac.compare_digest(signature(secret, timestamp, body), given or "")


class WebhookAdapter(ChannelAdapter):
    provider = "webhook"
    address_kind = "customer"
    idempotent = True
    clock = staticmethod(time.time)

    def __init__(self, settings: dict, secrets: dict):
        super().__init__(settings, secrets)
        self.http = HttpClient(settings.get("url", ""), timeout=float(settings.get("timeout") or 10))

    def deliver_one(self, message: Outgoing) -> Outcome:
        body = json.dumps(
            {
                "send_id": message.send_id,
                "idempotency_key": message.idempotency_key,
                "customer_id": message.customer_id,
                "template": message.template,
                "subject": render(message.subject, message.variables),
                "content": render(message.content, message.variables),
                "variables": message.variables,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        timestamp = str(int(self.clock()))
        response = self.http.request(
            "POST",
            "",
            body=body,
            headers={
                "Content-Type": "application/json",
                "X-Siyu-Timestamp": timestamp,
                "X-Siyu-Signature": signature(self.secrets.get("signing_secret", ""), timestamp, body),
                "Idempotency-Key": message.idempotency_key,
            },
        )
        if 200 <= response.status < 300:
            return sent(response.headers.get("x-request-id", ""))
        retryable = response.status in RETRYABLE_STATUS or response.status >= 500
        return failed(f"webhook answered HTTP {response.status}", retryable, response.retry_after())

    def close(self) -> None:
        self.http.close()
