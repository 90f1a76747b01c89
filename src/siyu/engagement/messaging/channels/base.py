"""What every adapter shares: the message it gets, the outcome it returns, and the errors it raises."""

from __future__ import annotations

from dataclasses import dataclass, field

from siyu.engagement.content import scripts


@dataclass
class Outgoing:
    """One send as an adapter sees it; `address` comes from siyu.engagement.messaging.queries.addresses_for."""

    send_id: int
    idempotency_key: str
    customer_id: int | None
    address: dict
    template: str = ""
    subject: str = ""
    content: str = ""
    variables: dict = field(default_factory=dict)
    # materials sent along (WeCom): siyu.engagement.content.queries.attachment_of
    attachments: list[dict] = field(default_factory=list)


@dataclass
class Outcome:
    ok: bool
    retryable: bool = False
    error: str = ""
    provider_message_id: str = ""
    retry_after: float | None = None  # seconds, when the provider said how long to wait
    # the recipient refused this template (WeChat 43101): recorded so that the policy stops the next one
    refused: bool = False
    # the request reached the provider but no answer came (a read timeout): it may have been sent
    outcome_unknown: bool = False


def sent(provider_message_id: str = "") -> Outcome:
    return Outcome(True, provider_message_id=provider_message_id)


def failed(error: str, retryable: bool, retry_after: float | None = None) -> Outcome:
    return Outcome(False, retryable=retryable, error=error[:2000], retry_after=retry_after)


class ProviderError(Exception):
    """A call that failed as a whole (every message of it gets this outcome)."""

    def __init__(
        self, message: str, retryable: bool, retry_after: float | None = None, *, outcome_unknown: bool = False
    ):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        # the request was sent and its answer never came: the provider may have acted on it
        self.outcome_unknown = outcome_unknown

    def outcome(self) -> Outcome:
        out = failed(str(self), self.retryable, self.retry_after)
        out.outcome_unknown = self.outcome_unknown
        return out


class ChannelAdapter:
    provider = ""
    # what the address of a customer is on this channel: phone | email | wecom | customer (none needed)
    address_kind = "customer"
    # True when the provider drops a repeat of the same idempotency key, so that a send interrupted by a
    # crash after the call may be repeated safely (siyu.engagement.messaging.actions.recover_interrupted_sends)
    idempotent = False
    # True when one call carries many messages as one thing the recipient side sees (a WeCom mass message:
    # one confirmation per staff member): the outbox then never splits a batch into smaller calls to watch
    # for an outage (siyu.engagement.messaging.actions._deliver_guarded), except for a single probe
    whole_batches = False

    def __init__(self, settings: dict, secrets: dict):
        self.settings = settings
        self.secrets = secrets

    def deliver(self, messages: list[Outgoing]) -> dict[int, Outcome]:
        """Send each message; {send_id: outcome}. A message missing from the answer failed retryably."""
        out = {}
        for message in messages:
            try:
                out[message.send_id] = self.deliver_one(message)
            except ProviderError as exc:
                out[message.send_id] = exc.outcome()
        return out

    def deliver_one(self, message: Outgoing) -> Outcome:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections (called when the worker is done with the adapter)."""


def render(text: str, variables: dict) -> str:
    """`{name}` placeholders filled from the variables in one pass (siyu.engagement.content.scripts.render); unknown
    placeholders stay as written."""
    return scripts.render(text, variables).text
