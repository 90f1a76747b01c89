"""What else a WeCom callback event sets off, after messaging recorded it as a warehouse event: the apps
above messaging (acquisition: an add through a live code; community: a group change) register a handler in
their AppConfig.ready(), so messaging names none of them.

A handler gets (event, account) as `channels.wecom.parse_callback_event` gives it and must be quick: an
add-contact event's `welcome_code` is valid for 20 seconds. A handler that sends the welcome message with the
code removes `welcome_code` from the event, so the account's default welcome message is not sent as well."""

from __future__ import annotations

import logging
from collections.abc import Callable

from siyu.engagement.errors import EngagementError

log = logging.getLogger(__name__)

_handlers: list[Callable[[dict, object], None]] = []


def register_wecom_event_handler(handler: Callable[[dict, object], None]) -> None:
    if handler not in _handlers:
        _handlers.append(handler)


def handle_wecom_event(event: dict, account) -> None:
    """Run every registered handler; one that fails (an EngagementError) is logged and the others still run."""
    for handler in list(_handlers):
        try:
            handler(event, account)
        except EngagementError as exc:
            log.warning("WeCom event %s: %s failed: %s", event.get("event_type"), handler.__qualname__, exc)
