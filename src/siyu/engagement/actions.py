"""Every state change of engagement: channel accounts, the contact policy, enqueueing sends (through the
contact policy), delivering them, recovering after a crash, receipts and WeCom callbacks.

Delivery guarantee (docs/architecture.md, "Engagement"): a worker claims due rows in a transaction
(status `sending`), marks each group of rows `dispatched_at` just before calling the provider, then stores
the outcome. After a crash, `recover_interrupted_sends` puts claimed rows that were never dispatched back in
the queue (they never reached the provider) and treats dispatched ones by the provider: repeated when the
provider drops a repeat of the same idempotency key (webhook: effectively once), else failed as
`outcome unknown` and never repeated (at most once). So no row is ever passed twice to a provider that
cannot recognise the repeat.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import os
import socket
import time
from collections import Counter, defaultdict
from decimal import Decimal, InvalidOperation

import pyarrow as pa
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from siyu import warehouse
from siyu.core import pii
from siyu.core.actions import record_audit
from siyu.core.batches import cyclic_gc_paused
from siyu.core.errors import PermissionDenied
from siyu.core.tasks import schedule_once
from siyu.customers.queries import chunked
from siyu.engagement import content_queries, queries, scripts
from siyu.engagement.channels import ACCOUNT_FIELDS, ADAPTERS, ChannelAdapter
from siyu.engagement.channels.base import Outcome, Outgoing, ProviderError, failed
from siyu.engagement.channels.wecom import SEND_STATUS, WeComClient
from siyu.engagement.errors import ChannelNotConfigured, EngagementError, JourneyNotFound
from siyu.engagement.models import (
    CHANNEL_PROVIDERS,
    STAFF_DELIVERED,
    Channel,
    ChannelAccount,
    ContactPolicy,
    Send,
)
from siyu.engagement.policy import (
    CONSENT_CHANNEL,
    PENDING,
    Rules,
    SendRequest,
    after_quiet_hours,
    apply_contact_policy,
    as_utc,
    consent_in_force,
    consent_verdict,
    current_policy,
    in_quiet_hours,
    template_refusals_in_force,
    unconverted_rows,
)
from siyu.staff.models import Role
from siyu.staff.queries import role_of
from siyu.warehouse.append import append_new

log = logging.getLogger(__name__)

WORKER_ID = f"{socket.gethostname()}-{os.getpid()}"[:64]
BATCH = 500
MAX_ATTEMPTS = 6
BACKOFF_BASE = dt.timedelta(seconds=30)
BACKOFF_CAP = dt.timedelta(hours=1)
LEASE = dt.timedelta(minutes=15)  # a claim older than this belongs to a worker that died
RECEIPT_POLL_EVERY = dt.timedelta(minutes=10)
RECEIPT_POLL_FOR = dt.timedelta(days=3)
CUSTOMER_CHANNELS = {Channel.WECOM, Channel.SMS, Channel.EMAIL, Channel.WEBHOOK, Channel.OFFICIAL_ACCOUNT,
                     Channel.MINI_PROGRAM}  # fmt: skip


def _require_admin(actor) -> None:
    if actor is None:
        return
    if not (actor.is_superuser or role_of(actor) == Role.ADMIN):
        raise PermissionDenied("only an admin can change channel accounts and the contact policy")


def _user(actor):
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
        from siyu.engagement.journeys import attachable_material

        settings = {**settings, "welcome_material": attachable_material(settings["welcome_material"], "wecom",
                                                                        "the welcome message")}  # fmt: skip
    account = ChannelAccount.objects.filter(channel=channel).first() or ChannelAccount(channel=channel)
    kept = queries.account_secrets(account) if account.pk and account.provider == provider else {}
    kept.update({k: str(v) for k, v in secrets.items() if v not in (None, "")})
    account.provider = provider
    account.enabled = bool(enabled)
    account.settings = {k: str(v).strip() for k, v in settings.items() if v not in (None, "")}
    account.secrets = pii.encrypt_json(kept)
    account.updated_by = _user(actor)
    account.save()
    record_audit(actor, "configure_channel", target=channel, provider=provider, enabled=account.enabled)
    if channel == Channel.WECOM:
        from siyu.engagement.channel_actions import schedule_wecom_sync

        transaction.on_commit(schedule_wecom_sync)
    return account


def _int_in(value, low: int, high: int, what: str) -> int:
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
        policy.marketing_cap = _int_in(changes.pop("marketing_cap"), 0, 100, "the cap")
    if "marketing_cap_days" in changes:
        policy.marketing_cap_days = _int_in(changes.pop("marketing_cap_days"), 1, 365, "the cap window")
    if "max_delay_hours" in changes:
        policy.max_delay_hours = _int_in(changes.pop("max_delay_hours"), 1, 168, "the longest delay")
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
                _int_in(pair[0], 0, 100, "a channel cap"),
                _int_in(pair[1], 1, 365, "a cap window"),
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
    policy.updated_by = _user(actor)
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


def insert_rows(
    model,
    columns: list[str],
    rows: list[tuple],
    *,
    ignore_conflicts: bool = False,
    batch: int = 5_000,
    returning: tuple[str, ...] = (),
) -> list[tuple]:
    """Plain INSERTs of `rows` (values in the order of `columns`, already in database form: see
    `db_values`) with one executemany per batch: several times faster than `bulk_create` of model instances
    at a million rows (docs/benchmarks.md, `siyu bench dispatch`). `ignore_conflicts`: a row that breaks a
    unique constraint is skipped (ON CONFLICT DO NOTHING, SQLite and PostgreSQL). `returning`: columns of
    the rows really inserted to return (multi-row INSERT … RETURNING, in no particular order), [] without."""
    if not rows:
        return []
    quote = connection.ops.quote_name
    names = ", ".join(quote(model._meta.get_field(c).column) for c in columns)
    marks = f"({', '.join(['%s'] * len(columns))})"
    conflicts = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    table = quote(model._meta.db_table)
    # one transaction: on SQLite a commit per batch costs several times the inserts themselves
    with transaction.atomic(), connection.cursor() as cursor:
        if not returning:
            for start in range(0, len(rows), batch):
                cursor.executemany(f"INSERT INTO {table} ({names}) VALUES {marks}{conflicts}", rows[start : start + batch])
            return []
        out = []
        back = ", ".join(quote(model._meta.get_field(c).column) for c in returning)
        per = 30_000 // len(columns)  # bound parameters per statement: SQLite allows 32,766
        if connection.vendor == "sqlite":
            # SQLite's own placeholder: Django rewrites each %s of a statement by regex (1.1 s at a
            # million enrollments for 11M of them) and leaves ? as it is
            marks = f"({', '.join(['?'] * len(columns))})"
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            values = ", ".join([marks] * len(chunk))
            cursor.execute(
                f"INSERT INTO {table} ({names}) VALUES {values}{conflicts} RETURNING {back}",
                list(itertools.chain.from_iterable(chunk)),
            )
            out += cursor.fetchall()
        return out


def db_values(model, column: str):
    """A converter of Python values of a model field to their database form, remembering what it has
    converted (a batch repeats the same time, template and variables many times)."""
    field = model._meta.get_field(column)
    if field.get_internal_type() in (
        "CharField",
        "TextField",
        "BigIntegerField",
        "BooleanField",
        "SmallIntegerField",
        "PositiveSmallIntegerField",
        "IntegerField",
    ):
        return lambda value: value
    cache: dict = {}

    def convert(value):
        key = id(value) if isinstance(value, dict | list) else value
        if key not in cache:
            cache[key] = (value, field.get_db_prep_save(value, connection))
        return cache[key][1]

    return convert


_SEND_COLUMNS = ["idempotency_key", "channel", "customer_id", "member", "template", "subject", "content",
                 "variables", "priority", "marketing", "source", "source_id", "status", "reason", "scheduled_at",
                 "next_attempt_at", "attempts", "dispatched_at", "touch_written", "provider_message_id",
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
            r.content or "", variables_db, r.priority, r.marketing, r.source, r.source_id or "", d.status,
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
    with connection.cursor() as cursor:  # plain SQL: the ORM's preparation of each key costs more than the probe
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
        _store_sends(_fresh(requests), now, _user(actor), rules)
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
        ids = list(
            due.order_by("-priority", "next_attempt_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            Send.objects.filter(pk__in=ids).update(
                status=Send.Status.SENDING, claimed_at=at, claimed_by=WORKER_ID, dispatched_at=None,
                attempts=F("attempts") + 1,
            )  # fmt: skip
    return list(Send.objects.filter(pk__in=ids).order_by("pk")) if ids else []


def _apply(send: Send, outcome: Outcome, at: dt.datetime) -> None:
    if outcome.ok:
        send.status, send.sent_at, send.last_error = Send.Status.SENT, at, ""
        send.provider_message_id = outcome.provider_message_id[:100]
        send.next_attempt_at = None
    elif outcome.retryable and send.attempts < MAX_ATTEMPTS:
        send.status, send.last_error = Send.Status.FAILED_RETRYABLE, outcome.error
        send.next_attempt_at = at + _backoff(send.attempts, outcome.retry_after)
    else:
        send.status, send.last_error, send.next_attempt_at = Send.Status.FAILED_PERMANENT, outcome.error, None
        send.refused_template = outcome.refused  # recorded by _deliver_batch (TemplateRefusal)
        if outcome.retryable:
            send.last_error = f"gave up after {send.attempts} attempts: {outcome.error}"


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
    from siyu.engagement.task_actions import customer_variables  # it imports this module

    wanted = [
        s for s in sends if s.customer_id is not None and scripts.customer_placeholders(s.subject, s.content, s.variables)
    ]
    if not wanted:
        return {}
    values = customer_variables({s.customer_id for s in wanted})
    return {s.pk: values.get(s.customer_id, {}) for s in wanted}


def _attachments(sends: list[Send]) -> dict[int, list[dict] | str]:
    """{material id: [the attachment]} or {material id: why it cannot go now} for the sends' materials,
    checked at delivery: a buyer show whose consent was withdrawn since the enqueue is not sent."""
    from siyu.engagement.errors import ContentError
    from siyu.engagement.models import Material

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
    addresses = queries.addresses_for(customers, adapter.address_kind, **({"source": source} if source else {}))
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
    # The mark that makes a crash during the call visible (see the module docstring).
    Send.objects.filter(pk__in=[m.send_id for m in messages]).update(dispatched_at=at)
    try:
        outcomes = adapter.deliver(messages)
    except ProviderError as exc:
        outcomes = {m.send_id: exc.outcome() for m in messages}
    by_id = {s.pk: s for s in sends}
    for message in messages:
        _apply(by_id[message.send_id], outcomes.get(message.send_id) or failed("no answer", True), at)


def _deliver_batch(sends: list[Send], at: dt.datetime, adapters: dict) -> None:
    rules = Rules.of(current_policy())
    customer_ids = {s.customer_id for s in sends if s.customer_id is not None}
    latest = consent_in_force(customer_ids, {CONSENT_CHANNEL.get(s.channel) for s in sends})
    refused = template_refusals_in_force(customer_ids, {s.channel for s in sends})
    by_channel = defaultdict(list)
    for send in sends:
        # Checked again at send time: an opt-out recorded after the enqueue must still stop the send.
        verdict = (
            consent_verdict(latest, rules, send.customer_id, send.channel, send.marketing)
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
        else:
            by_channel[send.channel].append(send)
    for channel, group in by_channel.items():
        _deliver_channel(channel, group, at, adapters)
    Send.objects.bulk_update(sends, _OUTCOME_FIELDS, batch_size=500)
    write_touches([s for s in sends if s.status == Send.Status.SENT])
    refusals = [s for s in sends if getattr(s, "refused_template", False) and s.customer_id is not None]
    if refusals:
        from siyu.engagement.channel_actions import record_template_refusals

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


def _append_events(rows: list[dict]) -> int:
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
    written = _append_events(rows)
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
        {"event_type": "group_joined", "external_userid": member, "created": event["created"], "properties": detail}
        for member in props.get("members", [])
    ]


def record_wecom_events(events: list[dict], source: str) -> int:
    """Warehouse events from WeCom callbacks (siyu.engagement.channels.wecom.parse_callback_event). An
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
    return _append_events(rows)


# --- the worker's schedule ---------------------------------------------------------------------------------


def schedule_delivery(at: dt.datetime | None = None) -> None:
    """Make sure a delivery task will run at `at` (now when None), without piling up duplicates."""
    from siyu.engagement.tasks import deliver_outbox

    schedule_once(deliver_outbox, at)


# --- journeys ----------------------------------------------------------------------------------------------
# A tick (run_journeys) enrols the customers whose trigger fired, then moves every due enrollment on, a
# batch of one (journey, step) at a time, each batch in one transaction: its sends (through the contact
# policy, keyed by journey, enrollment and step), its hand-offs and the enrollments' new step together. A
# crash rolls the batch back; the next tick does it again and the keys make sure nothing is sent twice.

JOURNEY_BATCH = 50_000
MAX_ROUNDS = 200  # steps an enrollment may take in one tick (cycles need a wait, so this is a backstop)
EVENT_POLL = dt.timedelta(minutes=10)  # how often a wait-for-event looks again (an import ticks at once)
TRIGGER_POLL = dt.timedelta(hours=1)  # how often triggers are looked at when nothing else is due
JOURNEY_EDITORS = (Role.ADMIN, Role.OPERATOR)
_ENROLLMENT_COLUMNS = ["journey", "customer_id", "trigger_key", "holdout", "status", "step_id", "step_entered_at",
                       "due_at", "exited_at", "exit_reason", "entered_at"]  # fmt: skip
# first steps whose outcome is the same for every enrollment: taken as the customers enter (`_enroll`)
_TAKEN_AT_ENTRY = frozenset({"send", "add_tag", "remove_tag", "guide_task", "award_points", "exit"})


def _require_journey_editor(actor) -> None:
    if actor is None or actor.is_superuser or role_of(actor) in JOURNEY_EDITORS:
        return
    raise PermissionDenied("only an admin or operator can change journeys")


def _percent(value, what: str, high: int) -> Decimal:
    try:
        share = Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation as exc:
        raise EngagementError(f"{what} must be a number") from exc
    if not Decimal(0) <= share <= Decimal(high):
        raise EngagementError(f"{what} must be between 0 and {high}")
    return share


def _check_segment_exists(trigger: dict, steps: list[dict]) -> None:
    from siyu.segments.models import Segment

    segment_id = trigger.get("segment_id")
    if segment_id is not None and not Segment.objects.filter(pk=segment_id).exists():
        raise EngagementError(f"segment {segment_id} does not exist")


@transaction.atomic
def save_journey(
    actor,
    *,
    name: str,
    trigger: dict,
    steps: list,
    journey_id: int | None = None,
    description: str = "",
    reentry: str = "once",
    reentry_days: int = 0,
    goal_days: int = 7,
    exit_on_goal: bool = True,
    priority: int = 0,
    holdout_percent=10,
    cost_per_send=0,
):
    """Create a journey (a draft) or change one. Once a journey has been activated its trigger and holdout
    share stay as they were (enrollments and the lift report depend on them), and a step where
    customers are waiting cannot be removed."""
    from siyu.engagement.journeys import check_steps, check_trigger
    from siyu.engagement.models import Enrollment, Journey

    _require_journey_editor(actor)
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise EngagementError("a journey needs a name of 1 to 100 characters")
    trigger, steps = check_trigger(trigger), check_steps(steps)
    _check_segment_exists(trigger, steps)
    if reentry not in Journey.Reentry.values:
        raise EngagementError(f"re-entry is one of {', '.join(Journey.Reentry.values)}")
    holdout = _percent(holdout_percent, "the holdout share", 50)
    try:
        cost = Decimal(str(cost_per_send)).quantize(Decimal("0.0001"))
    except InvalidOperation as exc:
        raise EngagementError("the cost per send must be a number") from exc
    if not Decimal(0) <= cost <= Decimal(1000):
        raise EngagementError("the cost per send must be between 0 and 1000 yuan")
    journey = (
        Journey() if journey_id is None else Journey.objects.select_for_update().filter(pk=journey_id).first()
    )
    if journey is None:
        raise JourneyNotFound(f"journey {journey_id} does not exist")
    if Journey.objects.filter(name=name).exclude(pk=journey.pk).exists():
        raise EngagementError(f"a journey named {name!r} exists already")
    if journey.activated_at is not None:
        if trigger != journey.trigger or holdout != journey.holdout_percent:
            raise EngagementError("the trigger and holdout share of a journey that has run cannot change")
        waiting = set(
            Enrollment.objects.filter(journey=journey, status=Enrollment.Status.ACTIVE).values_list(
                "step_id", flat=True
            )
        )
        missing = waiting - {s["id"] for s in steps}
        if missing:
            raise EngagementError(f"customers are waiting at step(s) {', '.join(sorted(missing))}; keep them")
    journey.name, journey.description = name, (description or "").strip()[:300]
    journey.trigger, journey.steps = trigger, steps
    journey.reentry, journey.reentry_days = reentry, _int_in(reentry_days, 0, 3650, "the re-entry days")
    journey.goal_days = _int_in(goal_days, 0, 365, "the goal days")
    journey.exit_on_goal = bool(exit_on_goal)
    journey.priority = _int_in(priority, -100, 100, "the priority")
    journey.holdout_percent, journey.cost_per_send = holdout, cost
    journey.updated_by = _user(actor)
    journey.save()
    record_audit(actor, "journey_saved", target=str(journey.pk), name=name)
    return journey


def _first_run(trigger: dict, now: dt.datetime) -> dt.datetime:
    """The first time a schedule trigger runs: its time of day, today if still ahead, else tomorrow."""
    from zoneinfo import ZoneInfo

    from django.conf import settings

    zone = ZoneInfo(settings.TIME_ZONE)
    local = now.astimezone(zone)
    at = dt.datetime.combine(local.date(), dt.time.fromisoformat(trigger["at"]), tzinfo=zone)
    if at < local:
        at += dt.timedelta(days=1)
    return at.astimezone(dt.UTC)


@transaction.atomic
def activate_journey(actor, journey_id: int, now: dt.datetime | None = None):
    """Start (or resume) a journey: its trigger is evaluated from now on, paused enrollments go on."""
    from siyu.engagement.models import Journey

    _require_journey_editor(actor)
    now = now or timezone.now()
    journey = Journey.objects.select_for_update().filter(pk=journey_id).first()
    if journey is None:
        raise JourneyNotFound(f"journey {journey_id} does not exist")
    journey.status = Journey.Status.ACTIVE
    journey.activated_at = journey.activated_at or now
    if journey.trigger.get("type") == "schedule" and journey.next_run_at is None:
        journey.next_run_at = _first_run(journey.trigger, now)
    journey.save(update_fields=["status", "activated_at", "next_run_at", "updated_at"])
    record_audit(actor, "journey_activated", target=str(journey.pk))
    transaction.on_commit(schedule_journeys)
    return journey


@transaction.atomic
def pause_journey(actor, journey_id: int):
    """Stop a journey: no one enters, enrolled customers stay at their step until it is activated again."""
    from siyu.engagement.models import Journey

    _require_journey_editor(actor)
    updated = Journey.objects.filter(pk=journey_id).update(
        status=Journey.Status.PAUSED, updated_at=timezone.now()
    )
    if not updated:
        raise JourneyNotFound(f"journey {journey_id} does not exist")
    record_audit(actor, "journey_paused", target=str(journey_id))
    return Journey.objects.get(pk=journey_id)


@transaction.atomic
def delete_journey(actor, journey_id: int) -> None:
    """Delete a journey that never ran (a draft); one that ran is paused instead, to keep its report."""
    from siyu.engagement.models import Journey

    _require_journey_editor(actor)
    journey = Journey.objects.filter(pk=journey_id).first()
    if journey is None:
        raise JourneyNotFound(f"journey {journey_id} does not exist")
    if journey.activated_at is not None:
        raise EngagementError("a journey that has run cannot be deleted; pause it")
    journey.delete()
    record_audit(actor, "journey_deleted", target=str(journey_id))


def _bump_counts(journey_id: int, step_id: str, treated: int, holdout: int) -> None:
    from siyu.engagement.models import StepCount

    if not treated and not holdout:
        return
    count, _ = StepCount.objects.get_or_create(journey_id=journey_id, step_id=step_id)
    StepCount.objects.filter(pk=count.pk).update(
        entered=F("entered") + treated, holdout_entered=F("holdout_entered") + holdout
    )


def _blocked_customers(journey, customer_ids: list[int], now: dt.datetime) -> set[int]:
    """Of the candidates: those the journey's re-entry rule keeps out (already in it, or in it before)."""
    from siyu.engagement.models import Enrollment

    query = Enrollment.objects.filter(journey=journey)
    fields = ("customer_id", "status", "exited_at")
    if len(customer_ids) > 20_000:
        wanted = set(customer_ids)
        rows = (r for r in query.values_list(*fields).iterator(50_000) if r[0] in wanted)
    else:
        rows = (
            r
            for chunk in chunked(sorted(customer_ids))
            for r in query.filter(customer_id__in=chunk).values_list(*fields)
        )
    cooldown = dt.timedelta(days=journey.reentry_days)
    blocked = set()
    for customer_id, status, exited_at in rows:
        if (
            status == Enrollment.Status.ACTIVE
            or journey.reentry == "once"
            or (journey.reentry == "cooldown" and exited_at is not None and exited_at > now - cooldown)
        ):
            blocked.add(customer_id)
    return blocked


def _used_trigger_keys(journey, keys: list[str]) -> set[str]:
    """Of the candidates' trigger keys: those that enrolled someone in the journey before."""
    from siyu.engagement.models import Enrollment

    query = Enrollment.objects.filter(journey=journey)
    if len(keys) > 20_000:
        wanted = set(keys)
        return {k for k in query.values_list("trigger_key", flat=True).iterator(50_000) if k in wanted}
    used: set[str] = set()
    for chunk in chunked(keys):
        used.update(query.filter(trigger_key__in=chunk).values_list("trigger_key", flat=True))
    return used


def enroll_triggered(journey, now: dt.datetime | None = None, report: Counter | None = None) -> int:
    """Enrol the customers the journey's trigger lets in now (siyu.engagement.queries.trigger_candidates),
    minus those its re-entry rule keeps out; each at the first step, due now (or past it, see `_enroll`),
    and in the holdout by a deterministic hash of customer and journey (siyu.engagement.policy.held_out).
    What the first step did is added to `report`. Returns how many entered."""
    now = now or timezone.now()
    with cyclic_gc_paused():
        return _enroll(journey, queries.trigger_candidates(journey, now), now, Counter() if report is None else report)


def _entry_state(first: dict, following: str | None, at) -> dict:
    """The state columns of a new enrollment: at the first step, due now; or, when the first step is taken
    as they enter (see `_enroll`), where that step leaves them (`following`: the step after it in the
    list). `at`: now, in database form."""
    from siyu.engagement.models import Enrollment

    state = {"status": Enrollment.Status.ACTIVE, "step_id": first["id"], "step_entered_at": at, "due_at": at,
             "exited_at": None, "exit_reason": ""}  # fmt: skip
    if first["type"] in _TAKEN_AT_ENTRY:  # the outcome _run_step gives these steps
        outcome = ("exit", "exit_step") if first["type"] == "exit" else ("goto", first.get("next", following))
        state.update(_outcome_changes(*outcome, at))
    return state


def _enroll(journey, candidates, now: dt.datetime, report: Counter) -> int:
    """Enrol the candidates (see `enroll_triggered`). A first step that does the same for everyone (a
    send, a tag, a hand-off, an exit) is taken in the same transaction as the customers enter: their rows
    are written past it at once instead of written, read back and moved on by the tick, which was a third
    of a 1M dispatch (docs/benchmarks.md)."""
    from siyu.engagement.journeys import following_ids
    from siyu.engagement.models import Enrollment, Journey
    from siyu.engagement.policy import held_out

    ids = candidates.column("customer_id").to_pylist()
    keys = candidates.column("trigger_key").to_pylist()
    blocked = _blocked_customers(journey, ids, now) if ids else set()
    used = _used_trigger_keys(journey, keys) if ids else set()
    first = journey.steps[0]
    following = following_ids(journey.steps)[first["id"]]
    at = db_values(Enrollment, "due_at")(now)
    state = _entry_state(first, following, at)
    state_values = tuple(state[c] for c in _ENROLLMENT_COLUMNS[4:10])
    held = held_out(f"{Send.Source.JOURNEY}:{journey.pk}", ids, journey.holdout_percent).tolist()
    rows, taken, journey_id = [], set(), journey.pk
    for customer_id, key, in_holdout in zip(ids, keys, held, strict=True):
        if customer_id in blocked or customer_id in taken or key in used:
            continue  # one entry per customer per evaluation: the earliest fact not used before
        taken.add(customer_id)
        rows.append((journey_id, customer_id, key[:200], in_holdout, *state_values, at))
    at_entry = first["type"] in _TAKEN_AT_ENTRY
    with transaction.atomic():
        entered, holdout = 0, 0
        for start in range(0, len(rows), JOURNEY_BATCH):
            new = insert_rows(Enrollment, _ENROLLMENT_COLUMNS, rows[start : start + JOURNEY_BATCH],
                              ignore_conflicts=True, returning=("id", "customer_id", "holdout"))  # fmt: skip
            entered, holdout = entered + len(new), holdout + sum(bool(r[2]) for r in new)
            if at_entry and new:
                batch = sorted((pk, cid, bool(in_holdout), None) for pk, cid, in_holdout in new)
                _run_step(journey, first, following, batch, now, report)
                report["steps_taken"] += len(batch)
        _bump_counts(journey.pk, first["id"], entered - holdout, holdout)
        if at_entry and state["status"] == Enrollment.Status.ACTIVE:  # moved on to the next step
            _bump_counts(journey.pk, state["step_id"], entered - holdout, holdout)
        changes = {"trigger_checked_at": now}
        if journey.trigger.get("type") == "schedule" and journey.next_run_at and journey.next_run_at <= now:
            step = dt.timedelta(days=journey.trigger["every_days"])
            upcoming = journey.next_run_at
            while upcoming <= now:
                upcoming += step
            changes["next_run_at"] = upcoming
        Journey.objects.filter(pk=journey.pk).update(**changes)
        for name, value in changes.items():
            setattr(journey, name, value)
    return entered


def _step_requests(journey, step: dict, rows) -> list[SendRequest]:
    from siyu.engagement.journeys import send_key

    journey_id, step_id, channel = journey.pk, step["id"], step["channel"]
    variables = step.get("variables", {})
    if step.get("material"):  # the material goes along (ATTACHING_CHANNELS)
        variables = {**variables, "material_id": step["material"]}
    texts = (step.get("template", ""), step.get("subject", ""), step.get("content", ""))
    shared = (journey.priority, True, Send.Source.JOURNEY, str(journey_id), journey.holdout_percent)
    # Positional, in SendRequest's field order (key, channel, customer, member, template, subject, content,
    # variables, priority, marketing, source, source_id, holdout share, held_out): 1.3 s a million against
    # 2.0 s with keywords. held_out is the enrollment's control group, fixed when it entered.
    return [
        SendRequest(send_key(journey_id, pk, step_id), channel, cid, "", *texts, variables, *shared, held)
        for pk, cid, held, _entered in rows
    ]


def _write_handoffs(journey, step: dict, rows, now: dt.datetime) -> int:
    from siyu.engagement.models import Handoff

    if step["type"] == "guide_task":
        kind, payload = Handoff.Kind.GUIDE_TASK, {"title": step["title"], "script": step.get("script", "")}
    else:
        kind, payload = (
            Handoff.Kind.AWARD_POINTS,
            {"points": step["points"], "reason": step.get("reason", "")},
        )
    convert = db_values(Handoff, "payload")
    at = db_values(Handoff, "created_at")(now)
    data = convert(payload)
    handoffs = [
        (f"journey:{journey.pk}:{pk}:{step['id']}", kind, journey.pk, cid, data, at)
        for pk, cid, held, _entered in rows
        if not held
    ]
    insert_rows(Handoff, ["idempotency_key", "kind", "journey", "customer_id", "payload", "created_at"], handoffs,
                ignore_conflicts=True)  # fmt: skip
    return len(handoffs)


def _run_step(journey, step: dict, following: str | None, rows, now: dt.datetime, report: Counter):
    """What happens to a batch of enrollments (pk, customer_id, holdout, step_entered_at: None unless the
    step waits) at `step`: a list of (outcome, pks), outcome ("goto", step id | None) / ("due", time) /
    ("exit", reason)."""
    from zoneinfo import ZoneInfo

    from django.conf import settings

    from siyu.customers.actions import MAX_BULK, add_tag, remove_tag
    from siyu.engagement import journeys

    kind = step["type"]
    default = step.get("next", following)
    pks = [r[0] for r in rows]
    if kind == "exit":
        return [(("exit", "exit_step"), pks)]
    if kind in ("wait", "wait_window"):
        out: dict = defaultdict(list)
        zone = ZoneInfo(settings.TIME_ZONE)
        for pk, _cid, _held, entered in rows:
            if kind == "wait":
                target = entered + journeys.wait_duration(step)
            else:
                target = journeys.window_opens(step, now, zone)
            out[("goto", default) if target <= now else ("due", target)].append(pk)
        return list(out.items())
    if kind == "wait_event":
        hit = queries.enrollments_with_fact([(r[0], r[1], r[3]) for r in rows], step["event"], now)
        timeout = dt.timedelta(hours=step["timeout_hours"])
        out = defaultdict(list)
        for pk, _cid, _held, entered in rows:
            if pk in hit:
                out[("goto", default)].append(pk)
            elif entered + timeout <= now:
                out[("goto", step.get("timeout_next", default))].append(pk)
            else:
                out[("due", min(entered + timeout, now + EVENT_POLL))].append(pk)
        return list(out.items())
    if kind == "branch":
        matching = queries.customers_matching_rule(step["rule"], [r[1] for r in rows], now)
        yes = [r[0] for r in rows if r[1] in matching]
        no = [r[0] for r in rows if r[1] not in matching]
        return [(("goto", step.get("then", default)), yes), (("goto", step.get("else", default)), no)]
    if kind == "split":
        out = defaultdict(list)
        for pk, *_rest in rows:
            out[("goto", journeys.split_path(step, journeys.split_share(journey.pk, pk, step["id"])))].append(
                pk
            )
        return list(out.items())
    if kind == "send":
        report.update(enqueue_send_batch(_step_requests(journey, step, rows), now=now))
    elif kind in ("add_tag", "remove_tag"):
        ids = sorted({r[1] for r in rows})
        change = add_tag if kind == "add_tag" else remove_tag
        for start in range(0, len(ids), MAX_BULK):
            report[kind] += change(None, ids[start : start + MAX_BULK], step["tag"])
    else:  # guide_task, award_points: handed over, holdout excepted
        report[step["type"]] += _write_handoffs(journey, step, rows, now)
    return [(("goto", default), pks)]


def _outcome_changes(action: str, value, now) -> dict:
    """The enrollment columns an outcome of a step (see _run_step) writes; going past the last step is
    leaving the journey at its end."""
    from siyu.engagement.models import Enrollment

    if action == "goto" and value is None:
        action, value = "exit", "end"
    if action == "goto":
        return {"step_id": value, "step_entered_at": now, "due_at": now}
    if action == "due":
        return {"due_at": value}
    return {"status": Enrollment.Status.EXITED, "exited_at": now, "exit_reason": value}


def _move(journey, step_id: str, outcomes, rows, now: dt.datetime) -> None:
    """Store the outcomes of one batch `rows` taken at `step_id` (see _run_step)."""
    from siyu.engagement.models import Enrollment

    first_pk, last_pk = rows[0][0], rows[-1][0]
    held_pks = {r[0] for r in rows if r[2]}

    due = Enrollment.objects.filter(
        journey=journey, step_id=step_id, status=Enrollment.Status.ACTIVE, due_at__lte=now
    )
    outcomes = [(outcome, pks) for outcome, pks in outcomes if pks]
    uniform = len(outcomes) == 1
    for (action, value), pks in outcomes:
        changes = _outcome_changes(action, value, now)
        if uniform:  # every due row of the batch's pk range: one statement
            due.filter(pk__gte=first_pk, pk__lte=last_pk).update(**changes)
        else:
            for chunk in chunked(pks):
                Enrollment.objects.filter(pk__in=chunk).update(**changes)
        if "step_id" in changes:  # they reached another step
            held = len(held_pks) if uniform else sum(pk in held_pks for pk in pks)
            _bump_counts(journey.pk, changes["step_id"], len(pks) - held, held)


def _advance_due(
    journeys_by_id: dict, now: dt.datetime, batch: int, report: Counter, crash_after=None
) -> None:
    from siyu.engagement.journeys import following_ids
    from siyu.engagement.models import Enrollment

    active = Enrollment.objects.filter(
        status=Enrollment.Status.ACTIVE, due_at__lte=now, journey_id__in=list(journeys_by_id)
    )
    batches = 0
    for _round in range(MAX_ROUNDS):
        groups = list(active.values_list("journey_id", "step_id").distinct().order_by())
        if not groups:
            return
        for journey_id, step_id in groups:
            journey = journeys_by_id[journey_id]
            steps = {s["id"]: s for s in journey.steps}
            following = following_ids(journey.steps)
            # only waits read the entry time: the driver parses a time column for every row it returns
            timed = steps.get(step_id, {}).get("type") in ("wait", "wait_event")
            fields = ("pk", "customer_id", "holdout", *(("step_entered_at",) if timed else ()))
            after = 0  # batches in id order from where the last one ended: rows that stay (a wait) are not read again
            while True:
                query = (
                    active.filter(journey_id=journey_id, step_id=step_id, pk__gt=after)
                    .order_by("pk")
                    .values_list(*fields)[:batch]
                )
                rows = [
                    (pk, cid, bool(held), as_utc(at[0]) if at else None)
                    for pk, cid, held, *at in unconverted_rows(query)
                ]
                if not rows:
                    break
                after = rows[-1][0]
                with transaction.atomic(), cyclic_gc_paused():
                    if step_id not in steps:  # the step was removed while nobody was waiting at it
                        outcomes = [(("exit", "step_removed"), [r[0] for r in rows])]
                    else:
                        outcomes = _run_step(journey, steps[step_id], following[step_id], rows, now, report)
                    _move(journey, step_id, outcomes, rows, now)
                report["steps_taken"] += len(rows)
                batches += 1
                if crash_after is not None and batches >= crash_after:
                    raise SystemExit("simulated crash")  # tests: a process dying between two batches


def check_goals(journeys_by_id: dict, now: dt.datetime, batch: int = JOURNEY_BATCH) -> int:
    """Mark enrollments that made the goal purchase (within goal_days of entering); with exit_on_goal
    the active ones leave the journey. Returns how many reached the goal."""
    from siyu.engagement.models import Enrollment

    reached = 0
    for journey in journeys_by_id.values():
        if not journey.goal_days:
            continue
        since = now - dt.timedelta(days=journey.goal_days)
        buyers = queries.buyers_since(since, now)  # usually few: look at their enrollments only
        if not buyers:
            continue
        open_rows = Enrollment.objects.filter(
            journey=journey, goal_met_at__isnull=True, entered_at__gte=since
        )
        if len(buyers) > 20_000:
            candidates = [
                r
                for r in open_rows.values_list("pk", "customer_id", "entered_at").iterator(50_000)
                if r[1] in buyers
            ]
        else:
            candidates = [
                row
                for chunk in chunked(sorted(buyers))
                for row in open_rows.filter(customer_id__in=chunk).values_list(
                    "pk", "customer_id", "entered_at"
                )
            ]
        for start in range(0, len(candidates), batch):
            rows = candidates[start : start + batch]
            met = queries.goal_reached(rows, journey.goal_days, now)
            with transaction.atomic():
                for pk, at in met.items():
                    Enrollment.objects.filter(pk=pk).update(goal_met_at=at)
                if journey.exit_on_goal and met:
                    for chunk in chunked(sorted(met)):
                        Enrollment.objects.filter(pk__in=chunk, status=Enrollment.Status.ACTIVE).update(
                            status=Enrollment.Status.EXITED, exited_at=now, exit_reason="goal"
                        )
            reached += len(met)
    return reached


def run_journeys(
    now: dt.datetime | None = None, batch: int = JOURNEY_BATCH, crash_after: int | None = None
) -> dict:
    """One tick of every active journey: enrol by trigger, take the due steps, check goals."""
    from siyu.engagement.models import Journey

    now = now or timezone.now()
    journeys = {j.pk: j for j in Journey.objects.filter(status=Journey.Status.ACTIVE)}
    report: Counter = Counter()
    clock = time.perf_counter()
    seconds = {}
    for journey in journeys.values():
        report["enrolled"] += enroll_triggered(journey, now, report)
    seconds["triggers"], clock = round(time.perf_counter() - clock, 3), time.perf_counter()
    _advance_due(journeys, now, batch, report, crash_after)
    seconds["steps"], clock = round(time.perf_counter() - clock, 3), time.perf_counter()
    from siyu.engagement.task_actions import create_tasks_from_handoffs  # it imports this module

    report["guide_task_handoffs"] = create_tasks_from_handoffs(now)
    report["goals"] = check_goals(journeys, now)
    seconds["goals"] = round(time.perf_counter() - clock, 3)
    return {**report, "seconds": seconds}


def run_journeys_after_resolve() -> dict:
    """The tick at the end of a resolve job (new orders and events now have customers). Resolution has
    committed by then, so a failure is reported in the job's result instead of failing it."""
    try:
        return run_journeys()
    except Exception as exc:  # noqa: BLE001 - the resolve succeeded; say what went wrong with journeys
        log.exception("running journeys after resolve failed")
        return {"error": f"{type(exc).__name__}: {exc}"}


def schedule_journeys(at: dt.datetime | None = None) -> None:
    """Make sure a journey tick will run at `at` (now when None), without piling up duplicates."""
    from siyu.engagement.tasks import tick_journeys

    schedule_once(tick_journeys, at)
