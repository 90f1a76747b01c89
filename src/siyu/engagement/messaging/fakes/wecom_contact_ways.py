"""The fake WeCom's 联系我 (contact ways, live codes) part, mixed into FakeWeCom (siyu.engagement.messaging.
fakes.wecom), whose state (`members`, `contacts`, …) it shares."""

from __future__ import annotations


class FakeContactWays:
    def routes(self) -> dict:
        """{path: (secret kind, handler)} of this part, added to the other parts' routes."""
        return {**getattr(super(), "routes", dict)()}
