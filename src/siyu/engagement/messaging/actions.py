"""Every state change of engagement: channel accounts, the contact policy, enqueueing sends (through the
contact policy), delivering them, recovering after a crash, receipts and WeCom callbacks.

Delivery guarantee (docs/architecture.md, "Engagement"): a worker claims due rows in a transaction
(status `sending`), marks each group of rows `dispatched_at` just before calling the provider, then stores
the outcome. After a crash, `recover_interrupted_sends` puts claimed rows that were never dispatched back in
the queue (they never reached the provider) and treats dispatched ones by the provider: repeated when the
provider drops a repeat of the same idempotency key (webhook: effectively once), else failed as
`outcome unknown` and never repeated (at most once). So no row is ever passed twice to a provider that
cannot recognise the repeat.

Provider outages (docs/faults.md): a send its provider could not take (cannot connect, timeout, 5xx, 429,
the provider's "try later" codes) is retried with capped backoff until SIYU_SEND_RETRY_HOURS after its slot,
then fails with the reason `retry_window`. After BREAKER_FAILURES consecutive such failures the channel
account's circuit breaker opens (its state is on the ChannelAccount row, so every worker process sees it):
the account's other due sends are held, without using an attempt, and a single probe send goes every
BACKOFF_BASE… PROBE_CAP; the first answer closes the breaker and the held sends go. Held sends come back
through `_deliver_batch`, so consent, expiry and quiet hours are checked again when they finally go."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
from collections import Counter, defaultdict
from decimal import Decimal, InvalidOperation

import pyarrow as pa
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from siyu import warehouse
from siyu.core import pii
from siyu.core.actions import record_audit
from siyu.core.batches import db_values, insert_rows
from siyu.core.errors import PermissionDenied
from siyu.core.tasks import schedule_once
from siyu.customers.models import PERSONALISED, Consent
from siyu.engagement.content import queries as content_queries
from siyu.engagement.content import scripts
from siyu.engagement.content.models import Material
from siyu.engagement.content.queries import attachable_material, customer_variables
from siyu.engagement.errors import ChannelNotConfigured, ContentError, EngagementError
from siyu.engagement.messaging import queries
from siyu.engagement.messaging.channels import ACCOUNT_FIELDS, ADAPTERS, ChannelAdapter
from siyu.engagement.messaging.channels.base import Outcome, Outgoing, ProviderError, failed
from siyu.engagement.messaging.channels.wecom import SEND_STATUS, WeComClient
from siyu.engagement.messaging.models import (
    CHANNEL_PROVIDERS,
    STAFF_DELIVERED,
    Channel,
    ChannelAccount,
    ContactPolicy,
    Send,
    channels_of_account,
)
from siyu.engagement.messaging.policy import (
    CONSENT_CHANNEL,
    PENDING,
    Rules,
    SendRequest,
    after_quiet_hours,
    apply_contact_policy,
    consent_verdict,
    current_policy,
    in_quiet_hours,
    template_refusals_in_force,
)
from siyu.staff.models import Role
from siyu.staff.queries import has_role
from siyu.warehouse.append import append_new

log = logging.getLogger(__name__)

WORKER_ID = f"{socket.gethostname()}-{os.getpid()}"[:64]
BATCH = 500
BACKOFF_BASE = dt.timedelta(seconds=30)
BACKOFF_CAP = dt.timedelta(hours=1)
BREAKER_FAILURES = 5  # consecutive sends an account's provider could not take before its other sends wait
PROBE_CAP = dt.timedelta(minutes=5)  # the longest wait between two probes of an unreachable provider
PROBE_LEASE = dt.timedelta(minutes=2)  # a probe whose worker died frees the account after this
LEASE = dt.timedelta(minutes=15)  # a claim older than this belongs to a worker that died
RECEIPT_POLL_EVERY = dt.timedelta(minutes=10)
RECEIPT_POLL_FOR = dt.timedelta(days=3)
CUSTOMER_CHANNELS = {Channel.WECOM, Channel.SMS, Channel.EMAIL, Channel.WEBHOOK, Channel.OFFICIAL_ACCOUNT,
                     Channel.MINI_PROGRAM}  # fmt: skip


def _require_admin(actor) -> None:
    if actor is None:
        return
    if not has_role(actor, {Role.ADMIN}):
        raise PermissionDenied("only an admin can change channel accounts and the contact policy")


def user_or_none(actor):
    return actor if actor is not None and actor.is_authenticated else None


# --- channel accounts and the policy ---------------------------------------------------------------------


@transaction.atomic
def configure_account(
    actor, channel: str, provider: str, settings: dict, secrets: dict, enabled: bool = True
):
    """Create or change the account of a channel. A secret left empty keeps the stored one."""
    _require_admin(actor)
    if channel not in CHANNEL_PROVIDERS:
        raise EngagementError(f"unknown channel {channel!r}; choose one of {', '.join(CHANNEL_PROVIDERS)}")
    if provider not in CHANNEL_PROVIDERS[channel]:
        allowed = ", ".join(CHANNEL_PROVIDERS[channel])
        raise EngagementError(f"the {channel} channel takes one of these providers: {allowed}")
    setting_names, secret_names = ACCOUNT_FIELDS[provider]
    unknown = (set(settings) - set(setting_names)) | (set(secrets) - set(secret_names))
    if unknown:
        raise EngagementError(f"unknown fields for {provider}: {', '.join(sorted(unknown))}")
    if (settings.get("sync_every_hours") or "") != "":
        hours = str(settings["sync_every_hours"]).strip()
        try:
            valid = 1 <= float(hours) <= 24 * 30
        except ValueError:
            valid = False
        if not valid:
            raise EngagementError("sync_every_hours must be a number of hours between 1 and 720")
    if (settings.get("welcome_material") or "") != "":
        settings = {**settings, "welcome_material": attachable_material(settings["welcome_material"], "wecom",
                                                                        "the welcome message")}  # fmt: skip
    account = ChannelAccount.objects.filter(channel=channel).first() or ChannelAccount(channel=channel)
    kept = queries.account_secrets(account) if account.pk and account.provider == provider else {}
    kept.update({k: str(v) for k, v in secrets.items() if v not in (None, "")})
    account.provider = provider
    account.enabled = bool(enabled)
    account.settings = {k: str(v).strip() for k, v in settings.items() if v not in (None, "")}
    account.secrets = pii.encrypt_json(kept)
    account.updated_by = user_or_none(actor)
    account.outage_failures, account.outage_since, account.probe_at = 0, None, None  # try the new settings
    account.save()
    record_audit(actor, "configure_channel", target=channel, provider=provider, enabled=account.enabled)
    if channel == Channel.WECOM:
        from siyu.engagement.messaging.channel_actions import schedule_wecom_sync  # it imports this module

        transaction.on_commit(schedule_wecom_sync)
    return account


def whole_number(value, low: int, high: int, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise EngagementError(f"{what} must be a whole number") from exc
    if not low <= number <= high:
        raise EngagementError(f"{what} must be between {low} and {high}")
    return number


def _time(value, what: str) -> dt.time:
    if isinstance(value, dt.time):
        return value
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError as exc:
        raise EngagementError(f"{what} must be a time like 21:00") from exc


@transaction.atomic
def update_policy(actor, **changes) -> ContactPolicy:
    """Change the contact policy (admins). Fields as on ContactPolicy; anything not given stays."""
    _require_admin(actor)
    policy = current_policy(lock=True)
    for name in ("quiet_start", "quiet_end"):
        if name in changes:
            setattr(policy, name, _time(changes.pop(name), name.replace("_", " ")))
    if "marketing_cap" in changes:
        policy.marketing_cap = whole_number(changes.pop("marketing_cap"), 0, 100, "the cap")
    if "marketing_cap_days" in changes:
        policy.marketing_cap_days = whole_number(changes.pop("marketing_cap_days"), 1, 365, "the cap window")
    if "max_delay_hours" in changes:
        policy.max_delay_hours = whole_number(changes.pop("max_delay_hours"), 1, 168, "the longest delay")
    if "wecom_one_per_day" in changes:
        policy.wecom_one_per_day = bool(changes.pop("wecom_one_per_day"))
    if "holdout_percent" in changes:
        try:
            share = Decimal(str(changes.pop("holdout_percent"))).quantize(Decimal("0.01"))
        except InvalidOperation as exc:
            raise EngagementError("the holdout share must be a number") from exc
        if not Decimal(0) <= share <= Decimal(50):
            raise EngagementError("the holdout share must be between 0 and 50 percent")
        policy.holdout_percent = share
    if "channel_caps" in changes:
        caps = {}
        for channel, pair in (changes.pop("channel_caps") or {}).items():
            if channel not in CUSTOMER_CHANNELS or not isinstance(pair, list | tuple) or len(pair) != 2:
                raise EngagementError("a channel cap is a channel with [count, days]")
            caps[channel] = [
                whole_number(pair[0], 0, 100, "a channel cap"),
                whole_number(pair[1], 1, 365, "a cap window"),
            ]
        policy.channel_caps = caps
    if "consent_required_channels" in changes:
        channels = sorted(set(changes.pop("consent_required_channels") or []))
        if not set(channels) <= CUSTOMER_CHANNELS:
            raise EngagementError(
                "consent can be required on wecom, sms, email, webhook, official_account or mini_program"
            )
        policy.consent_required_channels = channels
    if changes:
        raise EngagementError(f"unknown policy fields: {', '.join(sorted(changes))}")
    policy.updated_by = user_or_none(actor)
    policy.save()
    record_audit(actor, "update_contact_policy", target="policy")
    return policy


# --- enqueue ---------------------------------------------------------------------------------------------


_CHANNELS, _SOURCES = frozenset(Channel.values), frozenset(Send.Source.values)  # enum .values builds a list
# Channels whose messages can carry a material of the library (variables["material_id"]).
ATTACHING_CHANNELS = frozenset({Channel.WECOM, Channel.WECOM_WELCOME})


def _check_request(request: SendRequest) -> None:
    key = (request.idempotency_key or "").strip()
    if not key or len(key) > 200:
        raise EngagementError("every send needs an idempotency key of 1 to 200 characters")
    request.idempotency_key = key
    if request.channel not in _CHANNELS:
        raise EngagementError(
            f"unknown channel {request.channel!r}; choose one of {', '.join(Channel.values)}"
        )
    if request.source not in _SOURCES:
        raise EngagementError(
            f"unknown source {request.source!r}; choose one of {', '.join(Send.Source.values)}"
        )
    if not -100 <= int(request.priority) <= 100:
        raise EngagementError("the priority must be between -100 and 100")
    if (
        len(request.content or "") > 10_000
        or len(request.subject or "") > 200
        or len(request.template or "") > 100
    ):
        raise EngagementError("the content is longer than 10,000 characters (subject 200, template 100)")
    if not isinstance(request.variables, dict):
        raise EngagementError("the variables must be an object of names to values")
    if "material_id" in request.variables and (
        request.channel not in ATTACHING_CHANNELS or type(request.variables["material_id"]) is not int
    ):
        raise EngagementError("material_id (a library material's id) goes only with WeCom messages")
    if request.channel == Channel.WECOM_APP and len(request.member or "") > 64:
        raise EngagementError("a WeCom member id has at most 64 characters")
    if request.send_at is not None and timezone.is_naive(request.send_at):
        raise EngagementError("the send time needs a time zone")


_SEND_COLUMNS = ["idempotency_key", "channel", "customer_id", "member", "template", "subject", "content",
                 "variables", "priority", "marketing", "personalised", "source", "source_id", "status", "reason",
                 "scheduled_at", "next_attempt_at", "attempts", "dispatched_at", "touch_written", "provider_message_id",
                 "record_key", "sender", "receipt", "last_error", "claimed_by", "created_by", "created_at"]  # fmt: skip


def _store_sends(requests: list[SendRequest], now: dt.datetime, created_by, rules: Rules) -> list:
    """Decide the requests (whose keys are new) and insert their rows; returns the decisions."""
    decisions = apply_contact_policy(requests, now, rules)
    to_variables, to_time = db_values(Send, "variables"), db_values(Send, "scheduled_at")
    created = db_values(Send, "created_at")(timezone.now())
    author = created_by.pk if created_by is not None else None
    rows, for_worker = [], False
    # A batch shares its variables and slot objects: converted again only when the object changes.
    variables = at = variables_db = slot = None
    for r, d in zip(requests, decisions, strict=True):
        if d.scheduled_at is not at:
            at, slot = d.scheduled_at, to_time(d.scheduled_at)
        if r.variables is not variables:
            variables, variables_db = r.variables, to_variables(r.variables or {})
        # a queued send the delivery worker takes; a staff-delivered one (a guide task) waits for the person
        due = d.status == Send.Status.QUEUED and r.channel not in STAFF_DELIVERED
        for_worker = for_worker or due
        rows.append((
            r.idempotency_key, r.channel, r.customer_id, r.member or "", r.template or "", r.subject or "",
            r.content or "", variables_db, r.priority, r.marketing, bool(r.personalised and r.marketing), r.source, r.source_id or "", d.status,
            d.reason, slot, slot if due else None, 0, None, False, "", "", "", "", "", "", author, created,
        ))  # fmt: skip
    insert_rows(Send, _SEND_COLUMNS, rows)
    outranked = [pk for d in decisions for pk in d.outranks]
    if outranked:
        Send.objects.filter(pk__in=outranked, status__in=PENDING).update(
            status=Send.Status.SUPPRESSED, reason="outranked", next_attempt_at=None
        )
    if for_worker:
        transaction.on_commit(schedule_delivery)
    return decisions


def _fresh(requests: list[SendRequest]) -> list[SendRequest]:
    """The requests whose idempotency key is in neither the outbox nor earlier in the list. Looked up by
    lists of keys: probes of the unique index cost the same however large the outbox has grown."""
    keys = [r.idempotency_key for r in requests]
    seen: set[str] = set()
    quote = connection.ops.quote_name
    select = f"SELECT {quote('idempotency_key')} FROM {quote(Send._meta.db_table)} WHERE {quote('idempotency_key')} IN "
    with (
        connection.cursor() as cursor
    ):  # plain SQL: the ORM's preparation of each key costs more than the probe
        for start in range(0, len(keys), 2_000):
            chunk = keys[start : start + 2_000]
            cursor.execute(select + f"({', '.join(['%s'] * len(chunk))})", chunk)
            seen.update(key for (key,) in cursor.fetchall())
    fresh = []
    for request in requests:
        if request.idempotency_key not in seen:
            seen.add(request.idempotency_key)
            fresh.append(request)
    return fresh


def enqueue_sends(requests: list[SendRequest], actor=None, now: dt.datetime | None = None) -> list[Send]:
    """Put sends in the outbox through the contact policy; one Send per request, in order. A request
    whose idempotency key is known returns the existing row and changes nothing."""
    now = now or timezone.now()
    for request in requests:
        _check_request(request)
    with transaction.atomic():
        rules = Rules.of(current_policy(lock=True))
        _store_sends(_fresh(requests), now, user_or_none(actor), rules)
    keys = [r.idempotency_key for r in requests]
    by_key: dict[str, Send] = {}
    for start in range(0, len(keys), 2_000):
        by_key.update(Send.objects.in_bulk(keys[start : start + 2_000], field_name="idempotency_key"))
    return [by_key[r.idempotency_key] for r in requests]


def enqueue_send_batch(requests: list[SendRequest], now: dt.datetime | None = None) -> Counter:
    """Like `enqueue_sends` for large batches (journeys, campaigns): stores the rows and returns how many
    were queued and suppressed per reason ("queued", "suppressed:<reason>", "repeated" for known keys)
    instead of reading the rows back."""
    now = now or timezone.now()
    for request in requests:
        _check_request(request)
    with transaction.atomic():
        rules = Rules.of(current_policy(lock=True))
        fresh = _fresh(requests)
        decisions = _store_sends(fresh, now, None, rules)
    counts = Counter(
        d.status if d.status == Send.Status.QUEUED else f"suppressed:{d.reason}" for d in decisions
    )
    if len(fresh) < len(requests):
        counts["repeated"] = len(requests) - len(fresh)
    return counts


def enqueue_send(request: SendRequest, actor=None, now: dt.datetime | None = None) -> Send:
    return enqueue_sends([request], actor=actor, now=now)[0]


# --- delivery --------------------------------------------------------------------------------------------


def _backoff(attempts: int, retry_after: float | None) -> dt.timedelta:
    wait = min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)
    return max(wait, dt.timedelta(seconds=retry_after or 0))


def _claim_due(at: dt.datetime, limit: int, only: list[int] | None = None) -> list[Send]:
    with transaction.atomic():
        current_policy(lock=True)  # no enqueue counts slots while rows change hands
        due = Send.objects.filter(status__in=PENDING, next_attempt_at__lte=at)
        if only is not None:
            due = due.filter(pk__in=only)
        ids = list(due.order_by("-priority", "next_attempt_at", "pk").values_list("pk", flat=True)[:limit])
        if ids:
            Send.objects.filter(pk__in=ids).update(
                status=Send.Status.SENDING, claimed_at=at, claimed_by=WORKER_ID, dispatched_at=None,
                attempts=F("attempts") + 1,
            )  # fmt: skip
    return list(Send.objects.filter(pk__in=ids).order_by("pk")) if ids else []


def retry_window() -> dt.timedelta:
    """How long after its slot a send the provider could not take is still retried (SIYU_SEND_RETRY_HOURS)."""
    return dt.timedelta(hours=float(django_settings.SEND_RETRY_HOURS))


def _give_up(send: Send, error: str) -> None:
    send.status, send.reason, send.next_attempt_at = Send.Status.FAILED_PERMANENT, "retry_window", None
    hours = retry_window().total_seconds() / 3600
    send.last_error = (
        f"gave up after {send.attempts} attempts within {hours:g} hours of its slot (SIYU_SEND_RETRY_HOURS): "
        f"{error}"
    )[:2000]


def _apply(send: Send, outcome: Outcome, at: dt.datetime) -> None:
    send.reason = ""
    deadline = send.scheduled_at + retry_window()
    if outcome.ok:
        send.status, send.sent_at, send.last_error = Send.Status.SENT, at, ""
        send.provider_message_id = outcome.provider_message_id[:100]
        send.next_attempt_at = None
    elif outcome.retryable and at < deadline:
        send.status, send.last_error = Send.Status.FAILED_RETRYABLE, outcome.error
        send.next_attempt_at = min(at + _backoff(send.attempts, outcome.retry_after), deadline)
    elif outcome.retryable:
        _give_up(send, outcome.error)
    else:
        send.status, send.last_error, send.next_attempt_at = Send.Status.FAILED_PERMANENT, outcome.error, None
        send.refused_template = outcome.refused  # recorded by _deliver_batch (TemplateRefusal)


def _hold(send: Send, until: dt.datetime, at: dt.datetime) -> None:
    """A send not given to a provider held as unreachable: back in the queue until the next probe, without
    using an attempt; failed once its retry window is over."""
    send.attempts -= 1  # not an attempt
    if at >= send.scheduled_at + retry_window():
        _give_up(send, "the provider could not be reached")
        return
    send.status = Send.Status.FAILED_RETRYABLE if send.attempts else Send.Status.QUEUED
    send.reason = "provider_down"
    send.next_attempt_at = min(until, send.scheduled_at + retry_window())


# --- the circuit breaker of a channel account (module docstring) ---


def _record_health(account_id: int, outcomes: list[Outcome], at: dt.datetime) -> dt.datetime | None:
    """Count what the provider did with a group of sends; the time of the next probe when the account is
    now held as unreachable, else None. Any answer (sent, or refused for good) closes the breaker."""
    reached = any(o.ok or not o.retryable for o in outcomes)
    with transaction.atomic():
        account = ChannelAccount.objects.select_for_update().get(pk=account_id)
        if reached:
            if account.outage_failures or account.probe_at or account.outage_since:
                ChannelAccount.objects.filter(pk=account_id).update(
                    outage_failures=0, outage_since=None, probe_at=None
                )
                if account.probe_at:
                    log.info("the %s provider answers again", account.channel)
                    Send.objects.filter(  # what waited for it goes now, not at its own backoff
                        channel__in=channels_of_account(account.channel), status__in=PENDING,
                        reason="provider_down", next_attempt_at__gt=at,
                    ).update(next_attempt_at=at)  # fmt: skip
            return None
        failures = account.outage_failures + len(outcomes)
        since = account.outage_since or at
        probe_at = None
        if failures >= BREAKER_FAILURES:
            probe_at = at + min(max(at - since, BACKOFF_BASE), PROBE_CAP)
            if account.probe_at is None:
                log.warning("the %s provider cannot be reached: its sends wait for a probe", account.channel)
        ChannelAccount.objects.filter(pk=account_id).update(
            outage_failures=failures, outage_since=since, probe_at=probe_at
        )
        return probe_at


def _call(adapter: ChannelAdapter, messages: list[Outgoing], at: dt.datetime) -> dict[int, Outcome]:
    # The mark that makes a crash during the call visible (see the module docstring).
    Send.objects.filter(pk__in=[m.send_id for m in messages]).update(dispatched_at=at)
    try:
        outcomes = adapter.deliver(messages)
    except ProviderError as exc:
        outcomes = {m.send_id: exc.outcome() for m in messages}
    return {m.send_id: outcomes.get(m.send_id) or failed("no answer", True) for m in messages}


def _deliver_guarded(
    adapter: ChannelAdapter, channel: str, messages: list[Outgoing], at: dt.datetime
) -> tuple[dict[int, Outcome], dt.datetime | None]:
    """Give the messages to the provider in growing groups (BREAKER_FAILURES, twice that, …; all at once for
    an adapter with `whole_batches`), stopping when its breaker opens; a single probe message when it is open
    and its probe is due, none before.
    Returns the outcomes of the messages given, and when the breaker is open, until when the rest wait."""
    account = queries.account_of(channel)
    if account is None:  # the adapter was built from it a moment ago
        return _call(adapter, messages, at), None
    size = len(messages) if adapter.whole_batches else BREAKER_FAILURES
    if account.probe_at is not None:
        won = at >= account.probe_at and ChannelAccount.objects.filter(
            pk=account.pk, probe_at__lte=at
        ).update(probe_at=at + PROBE_LEASE)  # one worker probes; the others wait for its answer
        if not won:
            later = ChannelAccount.objects.filter(pk=account.pk).values_list("probe_at", flat=True).first()
            return {}, max(later or at, at + dt.timedelta(seconds=1))
        size = 1
    outcomes: dict[int, Outcome] = {}
    start = 0
    while start < len(messages):
        group = messages[start : start + size]
        got = _call(adapter, group, at)
        outcomes.update(got)
        start += len(group)
        probe_at = _record_health(account.pk, list(got.values()), at)
        if probe_at is not None:
            return outcomes, probe_at
        size = len(messages) if adapter.whole_batches else size * 2
    return outcomes, None


_OUTCOME_FIELDS = ["status", "reason", "sent_at", "last_error", "provider_message_id", "next_attempt_at",
                   "record_key", "sender", "attempts"]  # fmt: skip


def _adapter(channel: str, adapters: dict) -> ChannelAdapter | ChannelNotConfigured:
    if channel not in adapters:
        try:
            adapters[channel] = queries.adapter_for(channel)
        except ChannelNotConfigured as exc:
            adapters[channel] = exc
    return adapters[channel]


def _customer_values(sends: list[Send]) -> dict[int, dict]:
    """{send id: the customer's values} for the sends that name a customer variable ({name}, {product}):
    filled at delivery from the warehouse, so the outbox never holds them in clear."""
    wanted = [
        s
        for s in sends
        if s.customer_id is not None and scripts.customer_placeholders(s.subject, s.content, s.variables)
    ]
    if not wanted:
        return {}
    values = customer_variables({s.customer_id for s in wanted})
    return {s.pk: values.get(s.customer_id, {}) for s in wanted}


def _attachments(sends: list[Send]) -> dict[int, list[dict] | str]:
    """{material id: [the attachment]} or {material id: why it cannot go now} for the sends' materials,
    checked at delivery: a buyer show whose consent was withdrawn since the enqueue is not sent."""

    ids = {s.variables.get("material_id") for s in sends if isinstance(s.variables, dict)} - {None}
    found = Material.objects.in_bulk([i for i in ids if isinstance(i, int)])
    out: dict[int, list[dict] | str] = {}
    for material_id in ids:
        material = found.get(material_id)
        try:
            if material is None:
                raise ContentError(f"no material {material_id}")
            out[material_id] = [content_queries.attachment_of(material)]
        except ContentError as exc:
            out[material_id] = str(exc)
    return out


def _deliver_channel(channel: str, sends: list[Send], at: dt.datetime, adapters: dict) -> None:
    adapter = _adapter(channel, adapters)
    if isinstance(adapter, ChannelNotConfigured):
        for send in sends:
            _apply(send, failed(str(adapter), retryable=True), at)
        return
    customers = [s.customer_id for s in sends if s.customer_id is not None]
    source = getattr(adapter, "address_source", None)  # openids: the import source of the app's followers
    addresses = queries.addresses_for(
        customers, adapter.address_kind, **({"source": source} if source else {})
    )
    personal = _customer_values(sends)
    materials = _attachments(sends) if channel in ATTACHING_CHANNELS else {}
    messages = []
    for send in sends:
        subject, content, variables = send.subject, send.content, send.variables
        attachments = materials.get(send.variables.get("material_id"), []) if materials else []
        if isinstance(attachments, str):  # never the text without the card it introduces
            _apply(send, failed(attachments, False), at)
            continue
        if send.pk in personal:
            subject, content, variables, unfilled = scripts.fill_message(
                subject, content, variables, personal[send.pk]
            )
            if unfilled:  # never a message with a hole where the customer's name should be
                _apply(send, failed(f"no value of {{{unfilled[0]}}} for this customer", False), at)
                continue
        if adapter.address_kind == "member":
            address = {"member": send.member}
        elif adapter.address_kind == "customer":
            address = {}
        elif send.customer_id in addresses:
            found = addresses[send.customer_id]
            send.record_key, address = found.record_key, found.fields
            send.sender = address.get("sender", "")[:64]
        else:
            _apply(send, failed(f"no {adapter.address_kind} address known for this customer", False), at)
            continue
        messages.append(
            Outgoing(send.pk, send.idempotency_key, send.customer_id, address, send.template, subject, content,
                     variables, attachments)
        )  # fmt: skip
    if not messages:
        return
    outcomes, held_until = _deliver_guarded(adapter, channel, messages, at)
    by_id = {s.pk: s for s in sends}
    for message in messages:
        send = by_id[message.send_id]
        outcome = outcomes.get(message.send_id)
        if outcome is None:  # held: the provider is held as unreachable
            _hold(send, held_until, at)
            continue
        if outcome.outcome_unknown and not adapter.idempotent:  # at most once, as after a crash
            outcome = failed(
                f"{outcome.error}; the outcome is unknown and the send is not repeated (this provider cannot "
                "recognise a repeat)",
                False,
            )
        _apply(send, outcome, at)
        if held_until is not None and send.status == Send.Status.FAILED_RETRYABLE:
            send.reason = "provider_down"


def _deliver_batch(sends: list[Send], at: dt.datetime, adapters: dict) -> None:
    rules = Rules.of(current_policy())
    customer_ids = {s.customer_id for s in sends if s.customer_id is not None}
    asked = {CONSENT_CHANNEL.get(s.channel) for s in sends}
    if any(s.personalised and s.marketing for s in sends):
        asked.add(PERSONALISED)
    latest = Consent.objects.in_force(customer_ids, asked)
    refused = template_refusals_in_force(customer_ids, {s.channel for s in sends})
    by_channel = defaultdict(list)
    for send in sends:
        # Checked again at send time: an opt-out recorded after the enqueue must still stop the send.
        verdict = (
            consent_verdict(latest, rules, send.customer_id, send.channel, send.marketing, send.personalised)
            if send.customer_id
            else ""
        )
        if not verdict and (send.customer_id, send.channel, send.template) in refused:
            verdict = "template_refused"
        if verdict:
            send.status, send.reason, send.next_attempt_at = Send.Status.SUPPRESSED, verdict, None
        elif (
            send.marketing and send.channel != Channel.WECOM_APP and at - send.scheduled_at > rules.max_delay
        ):
            send.status, send.reason, send.next_attempt_at = Send.Status.SUPPRESSED, "expired", None
        elif send.marketing and send.channel != Channel.WECOM_APP and in_quiet_hours(rules, at):
            send.status, send.next_attempt_at = Send.Status.QUEUED, after_quiet_hours(rules, at)
            send.attempts -= 1  # not an attempt
            send.reason = ""  # no longer waiting for its provider, if it was
        else:
            by_channel[send.channel].append(send)
    for channel, group in by_channel.items():
        _deliver_channel(channel, group, at, adapters)
    Send.objects.bulk_update(sends, _OUTCOME_FIELDS, batch_size=500)
    write_touches([s for s in sends if s.status == Send.Status.SENT])
    refusals = [s for s in sends if getattr(s, "refused_template", False) and s.customer_id is not None]
    if refusals:
        from siyu.engagement.messaging.channel_actions import (
            record_template_refusals,  # it imports this module
        )

        record_template_refusals(refusals, at)


def deliver_due_sends(
    now: dt.datetime | None = None,
    batch_size: int = BATCH,
    max_batches: int | None = None,
    only: list[int] | None = None,
) -> dict:
    """Deliver every due send, a batch at a time. Returns the number of sends per resulting status.
    `only`: just these sends (a welcome message, delivered while its 20-second code is valid)."""
    adapters: dict = {}
    totals: Counter = Counter()
    batches = 0
    try:
        while max_batches is None or batches < max_batches:
            at = now or timezone.now()
            sends = _claim_due(at, batch_size, only)
            if not sends:
                break
            batches += 1
            _deliver_batch(sends, at, adapters)
            totals.update(s.status for s in sends)
    finally:
        for adapter in adapters.values():
            if isinstance(adapter, ChannelAdapter):
                adapter.close()
    return dict(totals)


def write_touches(sends: list[Send]) -> int:
    """One `touches` row per sent message (keyed by send id, so writing again adds nothing)."""
    if not sends:
        return 0
    rows = pa.table(
        {
            "send_id": pa.array([s.pk for s in sends], pa.int64()),
            "customer_id": pa.array([s.customer_id for s in sends], pa.int64()),
            "channel": [s.channel for s in sends],
            "source": [s.source for s in sends],
            "source_id": [s.source_id or None for s in sends],
            "marketing": [s.marketing for s in sends],
            "template": [s.template or None for s in sends],
            "record_key": [s.record_key or None for s in sends],
            "sent_at": pa.array([s.sent_at for s in sends], pa.timestamp("us", tz="UTC")),
        }
    )
    with warehouse.transaction() as con:
        written = append_new(con, "touches", rows, ("send_id",)).num_rows
    Send.objects.filter(pk__in=[s.pk for s in sends]).update(touch_written=True)
    return written


def recover_interrupted_sends(
    now: dt.datetime | None = None, stale_after: dt.timedelta | None = None
) -> dict:
    """After a crash: claimed rows go back to the queue or fail as `outcome unknown` (module docstring);
    sent rows whose touch was not written get it. `stale_after=None`: every claimed row (at start-up)."""
    now = now or timezone.now()
    claimed = Send.objects.filter(status=Send.Status.SENDING)
    if stale_after is not None:
        claimed = claimed.filter(claimed_at__lt=now - stale_after)
    requeued = claimed.filter(dispatched_at__isnull=True).update(
        status=Send.Status.QUEUED, next_attempt_at=now, attempts=F("attempts") - 1, claimed_by=""
    )
    repeated = unknown = 0
    for channel in set(claimed.values_list("channel", flat=True)):
        account = queries.account_of(channel)
        adapter = ADAPTERS.get((channel, account.provider)) if account else None
        rows = claimed.filter(channel=channel, dispatched_at__isnull=False)
        if adapter is not None and adapter.idempotent:
            repeated += rows.update(status=Send.Status.QUEUED, next_attempt_at=now, claimed_by="")
        else:
            unknown += rows.update(
                status=Send.Status.FAILED_PERMANENT,
                next_attempt_at=None,
                last_error="interrupted after the provider was called; the outcome is unknown and the send is "
                "not repeated, since this provider cannot recognise a repeat (at most once)",
            )
    touched = write_touches(list(Send.objects.filter(status=Send.Status.SENT, touch_written=False)))
    result = {
        "requeued": requeued,
        "repeated": repeated,
        "outcome_unknown": unknown,
        "touches_written": touched,
    }
    if any(result.values()):
        log.warning("recovered interrupted sends: %s", result)
    return result


# --- receipts and callbacks --------------------------------------------------------------------------------


def append_events(rows: list[dict]) -> int:
    """Warehouse events (event_key, source, record_key, event_type, occurred_at, properties) appended once
    by their key; the count that were new. Used by the channels' callbacks and the apps they set off."""
    if not rows:
        return 0
    table = pa.table(
        {
            "event_key": [r["event_key"] for r in rows],
            "source": [r["source"] for r in rows],
            "record_key": [r.get("record_key") for r in rows],
            "event_type": [r["event_type"] for r in rows],
            "occurred_at": pa.array([r["occurred_at"] for r in rows], pa.timestamp("us", tz="UTC")),
            "properties": [json.dumps(r.get("properties") or {}, ensure_ascii=False) for r in rows],
            "batch_id": pa.array([None] * len(rows), pa.string()),
        }
    )
    seen, unique = set(), []
    for i, key in enumerate(table.column("event_key").to_pylist()):
        if key not in seen:
            seen.add(key)
            unique.append(i)
    with warehouse.transaction() as con:
        return append_new(con, "events", table.take(unique), ("event_key",)).num_rows


RECEIPT_EVENTS = {"delivered": "message_delivered", "failed": "message_failed", "replied": "message_replied"}


def record_receipts(receipts: list[tuple[Send, str, dt.datetime, dict]]) -> int:
    """(send, kind, at, details) with kind delivered | failed | replied: a warehouse event each; the send
    keeps the delivery result. Returns the events written (a repeated receipt writes nothing)."""
    rows = []
    for send, kind, at, details in receipts:
        if kind not in RECEIPT_EVENTS:
            raise EngagementError(f"unknown receipt {kind!r}; choose one of {', '.join(RECEIPT_EVENTS)}")
        rows.append(
            {
                "event_key": f"send:{send.pk}:{RECEIPT_EVENTS[kind]}",
                "source": "engagement",
                "record_key": send.record_key or None,
                "event_type": RECEIPT_EVENTS[kind],
                "occurred_at": at,
                "properties": {
                    "send_id": send.pk,
                    "customer_id": send.customer_id,
                    "channel": send.channel,
                    **details,
                },
            }
        )
    written = append_events(rows)
    for send, kind, _at, _details in receipts:
        if kind in ("delivered", "failed"):
            Send.objects.filter(pk=send.pk).update(receipt=kind)
    return written


def poll_wecom_receipts(now: dt.datetime | None = None) -> int:
    """Ask WeCom how each recent mass send went (get_groupmsg_send_result) and record the answers."""
    now = now or timezone.now()
    groups = queries.pending_wecom_receipts(before=now - RECEIPT_POLL_EVERY, since=now - RECEIPT_POLL_FOR)
    account = queries.account_of(Channel.WECOM)
    if not groups or account is None or not account.enabled:
        return 0
    settings, secrets = account.settings, queries.account_secrets(account)
    client = WeComClient(
        settings.get("corp_id", ""), secrets.get("contact_secret", ""), settings.get("base_url") or ""
    )
    receipts = []
    try:
        for (msgid, sender), sends in groups.items():
            try:
                results = client.get_groupmsg_send_result(msgid, sender)
            except ProviderError as exc:
                log.warning("WeCom send result of %s: %s", msgid, exc)
                continue
            status_of = {r.get("external_userid"): r for r in results}
            for send in sends:
                result = status_of.get(send.record_key.partition("|")[2]) or {}
                status = SEND_STATUS.get(result.get("status"), "not_sent")
                if status == "sent":
                    at = dt.datetime.fromtimestamp(result.get("send_time") or now.timestamp(), dt.UTC)
                    receipts.append((send, "delivered", at, {"wecom_status": status}))
                elif status != "not_sent":
                    receipts.append((send, "failed", now, {"wecom_status": status}))
            Send.objects.filter(pk__in=[s.pk for s in sends]).update(receipt_checked_at=now)
    finally:
        client.http.close()
    return record_receipts(receipts)


def _group_joins(event: dict) -> list[dict]:
    """A `group_joined` event (the journeys' trigger) for each member a customer-group update added: the
    group event itself names the group, not the people."""
    props = event["properties"]
    if event["event_type"] != "wecom_group_update" or props.get("update_detail") != "add_member":
        return []
    detail = {"chat_id": props.get("chat_id", ""), "join_scene": props.get("join_scene", "")}
    return [
        {
            "event_type": "group_joined",
            "external_userid": member,
            "created": event["created"],
            "properties": detail,
        }
        for member in props.get("members", [])
    ]


def record_wecom_events(events: list[dict], source: str) -> int:
    """Warehouse events from WeCom callbacks (siyu.engagement.messaging.channels.wecom.parse_callback_event). An
    "added" event has the key the WeCom importer gives it, so a later contact export adds no duplicate.
    A member who joined a customer group gets a `group_joined` event of their own."""
    rows = []
    for event in [e for given in events for e in (given, *_group_joins(given))]:
        occurred = dt.datetime.fromtimestamp(event["created"] or timezone.now().timestamp(), dt.UTC)
        if event["external_userid"]:
            record_key = f"{source}|{event['external_userid']}"
            key = f"{record_key}:{event['event_type']}"
            if event["event_type"] == "group_joined":
                key += f":{event['properties']['chat_id']}"
            if event["event_type"] != "wecom_contact_added":
                key += f":{event['created']}"
        else:
            record_key = None
            key = f"{source}|chat:{event['properties'].get('chat_id', '')}:{event['event_type']}:{event['created']}"
        rows.append(
            {
                "event_key": key,
                "source": source,
                "record_key": record_key,
                "event_type": event["event_type"],
                "occurred_at": occurred,
                "properties": event["properties"],
            }
        )
    return append_events(rows)


# --- the worker's schedule ---------------------------------------------------------------------------------


def schedule_delivery(at: dt.datetime | None = None) -> None:
    """Make sure a delivery task will run at `at` (now when None), without piling up duplicates."""
    from siyu.engagement.messaging.tasks import deliver_outbox  # the task module imports this one

    schedule_once(deliver_outbox, at)


# --- service messages the person asked for on screen ---------------------------------------------------


def send_service_sms(
    idempotency_key: str,
    phone: str,
    template: str,
    variables: dict,
    *,
    customer_id: int | None = None,
    source_id: str = "",
    recorded_variables: dict | None = None,
    now: dt.datetime | None = None,
) -> tuple[Send, Outcome]:
    """Send one SMS the person has just asked for on a screen (a sign-in code to the number they typed),
    now, through the SMS account's adapter. It is a service message: a marketing opt-out does not stop it
    and the contact policy's caps and quiet hours do not apply (the caller limits how often). It is still
    recorded, as a `Send` (marketing=False, source_id naming what sent it) with `recorded_variables`
    instead of the variables (a code is never stored in clear), and as a touch when the customer is known.
    Not retried: a late code is useless. Raises ChannelNotConfigured when no SMS account is set up."""
    now = now or timezone.now()
    adapter = queries.adapter_for(Channel.SMS)
    send = Send.objects.create(
        idempotency_key=idempotency_key[:200], channel=Channel.SMS, customer_id=customer_id, template=template,
        variables=recorded_variables if recorded_variables is not None else {}, marketing=False,
        source=Send.Source.MANUAL, source_id=source_id[:64], status=Send.Status.SENDING, scheduled_at=now,
        claimed_at=now, claimed_by=WORKER_ID, dispatched_at=now, attempts=1,
    )  # fmt: skip
    try:
        outgoing = Outgoing(send.pk, send.idempotency_key, customer_id, {"phone": phone}, template, "", "", variables)
        outcome = adapter.deliver([outgoing]).get(send.pk) or failed("the provider gave no answer", False)
    except ProviderError as exc:
        outcome = exc.outcome()
    finally:
        adapter.close()
    if outcome.ok:
        send.status, send.sent_at, send.provider_message_id = Send.Status.SENT, now, outcome.provider_message_id[:100]
    else:
        send.status, send.last_error = Send.Status.FAILED_PERMANENT, outcome.error
    send.save(update_fields=["status", "sent_at", "provider_message_id", "last_error"])
    if outcome.ok and customer_id is not None:
        try:
            write_touches([send])
        except Exception:  # noqa: BLE001 - the code went out; a busy warehouse leaves the touch to the sweep
            log.exception("writing the touch of service SMS %s failed", send.pk)
    return send, outcome


# --- erasure of a person (PIPL art. 47; siyu.privacy.erasure runs it) ----------------------------------------


def _sends_with_words(customer_id: int):
    from django.db.models import Q

    return Send.objects.filter(customer_id=customer_id).filter(
        ~Q(content="") | ~Q(subject="") | ~Q(variables={}) | ~Q(last_error=""))


def _transfers_of(person):
    from django.db.models import Q

    from siyu.engagement.messaging.models import WeComTransfer

    ids = {m for m in WeComTransfer.objects.exclude(external_userid="").values_list("external_userid", flat=True)
           if person.holds_id("external_userid", m)}  # fmt: skip
    found = WeComTransfer.objects.filter(Q(customer_id=person.customer_id) | Q(external_userid__in=sorted(ids)))
    return found.exclude(external_userid="")


def erase_person_sends(person, request) -> dict:
    """Messaging's part of erasing a person: what was sent to them loses its words (content, subject, the
    filled-in variables, the provider's error text); the sends stay with channel, status and times, so
    counts and caps do not change. Sends still waiting are stopped as opted out (the erasure records an
    opt-out of every channel). WeCom transfers of them lose their external_userid."""
    cid = person.customer_id
    with transaction.atomic():
        stopped = Send.objects.filter(customer_id=cid, status__in=[Send.Status.QUEUED, Send.Status.FAILED_RETRYABLE]
                                      ).update(status=Send.Status.SUPPRESSED, reason="opted_out", next_attempt_at=None)  # fmt: skip
        words = _sends_with_words(cid).update(content="", subject="", variables={}, last_error="")
        transfers = _transfers_of(person).update(external_userid="")
    return {"sends": words, "stopped": stopped, "transfers": transfers}


def person_sends_left(person) -> int:
    """What erase_person_sends removes that is still there (the erasure scan)."""
    return _sends_with_words(person.customer_id).count() + _transfers_of(person).count()
