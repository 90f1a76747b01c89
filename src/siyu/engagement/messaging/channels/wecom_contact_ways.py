"""WeCom's 联系我 API (contact ways: the live codes), mixed into WeComClient (siyu.engagement.messaging.
channels.wecom), which provides `call`."""

from __future__ import annotations


class ContactWayCalls:
    pass
