"""The fake WeCom's 客户群 (customer groups, join ways, group messages, group transfer) part, mixed into
FakeWeCom (siyu.engagement.messaging.fakes.wecom), whose state (`members`, `contacts`, …) it shares."""

from __future__ import annotations


class FakeGroupChats:
    def routes(self) -> dict:
        """{path: (secret kind, handler)} of this part, added to the other parts' routes."""
        return {**getattr(super(), "routes", dict)()}
