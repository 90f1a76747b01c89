"""A fake receiver of the generic signed webhook: checks the signature and the replay window, and accepts
each Idempotency-Key once (a repeat is answered 200 but not processed again)."""

from __future__ import annotations

import json
import time

from siyu.engagement.messaging.channels.webhook import verify_signature
from siyu.engagement.messaging.fakes import FakeServer


class FakeWebhookReceiver(FakeServer):
    def __init__(self, secret="webhook-secret"):
        super().__init__()
        self.secret = secret
        self.processed: dict[str, dict] = {}
        self.repeats = 0

    def answer(self, request):
        headers = request["headers"]
        if not verify_signature(self.secret, headers.get("x-siyu-timestamp", ""), request["body"],
                                headers.get("x-siyu-signature", ""), time.time()):  # fmt: skip
            return 401, {}, {"error": "bad signature or outside the replay window"}
        key = headers.get("idempotency-key", "")
        if key in self.processed:
            self.repeats += 1
        else:
            self.processed[key] = json.loads(request["body"])
        return 200, {"X-Request-Id": f"r-{len(self.processed)}"}, {"ok": True}
