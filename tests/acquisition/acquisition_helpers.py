"""Helpers shared by the acquisition tests: the WeCom account's callback settings and a sealed callback."""

from __future__ import annotations

from siyu.engagement.messaging.channels.wecom import WeComCallbackCrypto

AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP = "wx5823bf96d3bd56c7"
CALLBACK_TOKEN = "QDG6eK"


def post_callback(http, xml: str):
    """POST a decrypted callback the way WeCom does: sealed, to the console's callback URL."""
    body, signature = WeComCallbackCrypto(CALLBACK_TOKEN, AES_KEY, CORP).seal(xml, "1700000000", "nonce1")
    return http.post(f"/engagement/wecom/callback/?msg_signature={signature}&timestamp=1700000000&nonce=nonce1",
                     data=body, content_type="text/xml")  # fmt: skip
