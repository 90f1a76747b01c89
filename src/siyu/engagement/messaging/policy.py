"""The one contact policy. Every send, whatever its path (API, console, journeys, campaigns, guide tasks),
is enqueued by `siyu.engagement.messaging.actions.enqueue_sends`, which asks `apply_contact_policy` first.

Checks, in this order, for each request (the first that fails decides the reason):

1. ``no_recipient`` — a customer send without a customer, a ``wecom_app`` send without a staff member (a
   ``wecom_welcome`` needs only the staff member: the new contact is often not a customer yet).
2. ``opted_out`` — the latest consent record of the channel or of ``all`` is an opt-out (PIPL, 免打扰);
   every customer channel has its own consent channel (``CONSENT_CHANNEL``; ``wecom_welcome`` counts as
   ``wecom``, ``wecom_app`` reaches staff, not customers);
   ``not_personalised`` — a personalised marketing send (``purpose`` marketing_personalised: its targeting
   used profiling) to a customer whose latest ``personalised`` consent is an opt-out (PIPL art. 24);
   ``template_refused`` — the customer refused this message template (WeChat 43101) and has not opted in
   to the channel since (``TemplateRefusal``).
3. ``no_consent`` — a marketing send on a channel that needs an opt-in (default: sms, email) has none.
4. ``holdout_global`` / ``holdout_source`` — marketing only: a deterministic hash of the customer id (and of
   the journey/campaign for its own holdout) puts a share of customers out of reach.
5. quiet hours (default 21:00–09:00 local) — a marketing send whose slot falls inside them moves to the end
   of the quiet period (not suppressed).
6. caps, counted on slots — ``wecom_monthly`` / ``wecom_daily`` (WeCom's own limit on mass messages a
   customer receives: as many a month as the month has days, or one a day when the admin tightened it;
   every ``wecom`` send counts), ``cap_global`` (default 2 marketing sends per customer per 7 days, all
   channels), ``cap_channel`` (per-channel caps, none by default). A send that finds a cap full takes the
   place of the lowest-priority *pending* send in the way when its own priority is higher (that send is
   suppressed as ``outranked``); otherwise it is suppressed with the cap's reason.
7. ``wecom_app`` (app messages to staff): at most 30 a minute and 1,000 an hour to one member; WeCom drops
   what is above, so a full window moves the slot to the first free time instead of suppressing.

Requests of one batch are decided in descending priority, so the higher-priority one wins the cap.
Rolling caps are checked conservatively: a slot t is accepted when fewer than `cap` counted slots lie in
(t - W, t + W), which keeps every window of length W at or under the cap whatever order slots arrive in.

Group mass messages (企业群发 to customer groups, ``siyu.community.groups.actions.send_group_message``, also
run by group SOP journeys) do not go through the outbox (one WeCom task per group owner), but are decided
here too, by `decide_group_sends`, one decision per group; every group mass message counts as marketing:

1. ``quiet_hours`` — none goes out inside quiet hours: an operator's send is refused (with the time it may
   go), a journey's step waits for the end of the quiet period.
2. ``group_monthly`` / ``group_daily`` — WeCom's limit on the mass messages one customer group receives:
   as many in a calendar month as the month has days, or one a day when the admin tightened it (the same
   ``wecom_one_per_day`` switch as for customers). A group at its limit is left out of the message (WeCom
   would drop it silently); the other groups still get it.
3. consent — WeCom cannot leave one member out of a group message, so members' opt-outs do not refuse
   it: a customer who opted out of ``wecom`` or ``all`` (or has no opt-in where one is required) still
   sees messages of groups they stay in (leaving the group is how they stop them), is never counted as
   reached, and the operator is told how many such members the chosen groups hold
   (`group_member_verdicts`).

Transactional sends (``marketing=False``: order notices, verification codes) skip 3–6 except WeCom's limit.

A send's purpose (``Send.purpose``, from ``marketing`` and ``personalised``):

- ``service`` — ``marketing=False``: order, points and coupon notices, sign-in codes, replies to the customer,
  welcome messages, a guide's 1-on-1 reply. Only an opt-out of its channel (or ``all``) stops it.
- ``marketing_general`` — marketing whose audience was chosen without profiling: an event-triggered journey
  (an order, a points or coupon reminder, a live-code scan), an inactivity or birthday journey, everyone.
- ``marketing_personalised`` — marketing whose audience or path was chosen by profiling: a journey
  triggered by a segment (entry, segment_now, a schedule over a segment), a due-to-buy prediction or with a
  branch on a segment rule; guide tasks for a segment; an API send that says ``personalised``.
  Refused (``not_personalised``) for a customer who opted out of personalised marketing.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings
from django.db import connection
from django.utils.translation import gettext_lazy as _

from siyu.core.batches import SCAN_THRESHOLD, chunked, within_id_range
from siyu.customers.models import PERSONALISED, Consent
from siyu.engagement.messaging.models import Channel, ContactPolicy, Send, TemplateRefusal

UTC = dt.UTC
# the consent channel (siyu.customers.queries.CONSENT_CHANNELS) of each send channel; None: reaches staff
CONSENT_CHANNEL = {
    "wecom": "wecom", "sms": "sms", "email": "email", "webhook": "webhook", "wecom_app": None,
    "guide": "guide",  # a guide's 1-on-1 contact: the customer can opt out of it alone (or of `all`)
    "wecom_welcome": "wecom", "official_account": "official_account", "mini_program": "mini_program",
}  # fmt: skip
# statuses whose slot counts towards the caps (a failed or suppressed send reached nobody)
COUNTED = (Send.Status.QUEUED, Send.Status.SENDING, Send.Status.SENT, Send.Status.FAILED_RETRYABLE)
PENDING = (Send.Status.QUEUED, Send.Status.FAILED_RETRYABLE)
APP_LIMITS = ((dt.timedelta(minutes=1), 30), (dt.timedelta(hours=1), 1000))  # WeCom, per member
REFUSABLE_CHANNELS = {"official_account", "mini_program"}  # where a template can be refused (43101)
# Above this many customers a batch reads the consent and send tables whole instead of by id lists.

REASONS = {
    "no_recipient": _("no recipient"),
    "opted_out": _("opted out"),
    "not_personalised": _("the customer refused personalised marketing"),
    "no_consent": _("no opt-in recorded for this channel"),
    "holdout_global": _("in the global holdout"),
    "holdout_source": _("in the journey/campaign holdout"),
    "wecom_monthly": _("WeCom limit: mass messages this month"),
    "wecom_daily": _("WeCom limit: one mass message a day"),
    "cap_global": _("frequency cap across channels"),
    "cap_channel": _("frequency cap of the channel"),
    "outranked": _("a higher-priority send took the slot"),
    "expired": _("could not be sent in time"),
    "template_refused": _("the customer refused this template"),
    "quiet_hours": _("inside quiet hours"),
    "group_monthly": _("WeCom limit: group mass messages this month"),
    "group_daily": _("WeCom limit: one group mass message a day"),
    # not suppressions: a send waiting for its provider, and one that waited past SIYU_SEND_RETRY_HOURS
    "provider_down": _("the provider cannot be reached; waiting to retry"),
    "retry_window": _("the provider could not take it within the retry window; given up"),
}


@dataclass(slots=True)
class SendRequest:
    idempotency_key: str
    channel: str
    customer_id: int | None = None
    member: str = ""
    template: str = ""
    subject: str = ""
    content: str = ""
    variables: dict = field(default_factory=dict)
    priority: int = 0
    marketing: bool = True
    source: str = Send.Source.MANUAL
    source_id: str = ""
    source_holdout_percent: Decimal | float | None = None
    # the source's own holdout already decided (a journey enrollment's flag), instead of the hash
    held_out: bool | None = None
    send_at: dt.datetime | None = None
    # the targeting used profiling (a segment, a prediction): purpose marketing_personalised when marketing
    personalised: bool = False


@dataclass
class Decision:
    status: str  # queued | suppressed
    scheduled_at: dt.datetime
    reason: str = ""
    outranks: list[int] = field(default_factory=list)  # pending sends this one takes the slot of


@dataclass(frozen=True)
class Rules:
    """The policy row, read once per batch."""

    quiet_start: dt.time
    quiet_end: dt.time
    zone: ZoneInfo
    marketing_cap: int
    marketing_window: dt.timedelta
    channel_caps: dict
    wecom_one_per_day: bool
    holdout_percent: Decimal
    consent_required: frozenset
    max_delay: dt.timedelta

    @classmethod
    def of(cls, policy: ContactPolicy) -> Rules:
        return cls(
            quiet_start=policy.quiet_start,
            quiet_end=policy.quiet_end,
            zone=ZoneInfo(settings.TIME_ZONE),
            marketing_cap=policy.marketing_cap,
            marketing_window=dt.timedelta(days=policy.marketing_cap_days),
            channel_caps={
                c: (int(n), dt.timedelta(days=int(d))) for c, (n, d) in policy.channel_caps.items()
            },
            wecom_one_per_day=policy.wecom_one_per_day,
            holdout_percent=Decimal(policy.holdout_percent),
            consent_required=frozenset(policy.consent_required_channels),
            max_delay=dt.timedelta(hours=policy.max_delay_hours),
        )

    def horizon(self) -> dt.timedelta:
        """How far from a slot another slot can matter to a cap."""
        windows = [self.marketing_window, dt.timedelta(days=32), *(w for _, w in self.channel_caps.values())]
        return max(windows)


def current_policy(lock: bool = False) -> ContactPolicy:
    """The policy row (created with the defaults on first use). `lock`: hold it for the transaction, so
    that enqueues and claims that count slots run one at a time (PostgreSQL; SQLite serialises writers)."""
    ContactPolicy.objects.get_or_create(pk=1)
    query = ContactPolicy.objects.select_for_update() if lock else ContactPolicy.objects
    return query.get(pk=1)


# --- single rules ---------------------------------------------------------------------------------


def in_quiet_hours(rules: Rules, at: dt.datetime) -> bool:
    start, end = rules.quiet_start, rules.quiet_end
    if start == end:
        return False
    t = at.astimezone(rules.zone).time()
    return (t >= start or t < end) if start > end else (start <= t < end)


def after_quiet_hours(rules: Rules, at: dt.datetime) -> dt.datetime:
    """`at` itself outside quiet hours, else the end of the quiet period it falls in."""
    if not in_quiet_hours(rules, at):
        return at
    local = at.astimezone(rules.zone)
    day = local.date()
    if rules.quiet_start > rules.quiet_end and local.time() >= rules.quiet_start:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, rules.quiet_end, tzinfo=rules.zone).astimezone(UTC)


@functools.lru_cache(maxsize=1024)
def _holdout_seed(group: str) -> np.uint64:
    digest = hashlib.blake2b(group.encode(), digest_size=8, person=b"siyu-holdout").digest()
    return np.uint64(int.from_bytes(digest, "big"))


def holdout_shares(group: str, customer_ids) -> np.ndarray:
    """A stable number in [0, 1) per customer of a holdout group ("global", or "journey:7"): the same
    customer is always in or out of the same holdout. The group's hash seeds splitmix64's finaliser over
    the customer ids, one array operation for a whole batch (a hash per customer cost 2 s at a million)."""
    ids = np.asarray(customer_ids, dtype=np.int64).view(np.uint64)
    z = ids ^ _holdout_seed(group)
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / 2.0**53


def holdout_share(group: str, customer_id: int) -> float:
    return float(holdout_shares(group, [customer_id])[0])


def held_out(group: str, customer_ids, percent) -> np.ndarray:
    """Which of `customer_ids` (a boolean per id) fall in the `percent` holdout of `group`."""
    share = _as_float(percent or 0) / 100
    if share <= 0:
        return np.zeros(len(customer_ids), dtype=bool)
    return holdout_shares(group, customer_ids) < share


@functools.lru_cache(maxsize=256)
def _as_float(percent) -> float:
    """A share as a float, converted once per distinct value (the policy asks a million times a batch)."""
    return float(Decimal(str(percent)))


# --- what is known about the recipients -------------------------------------------------------------


@dataclass(eq=False)  # identity: two sends with equal fields are still two sends
class _Slot:
    send_id: int | None
    channel: str
    at: dt.datetime
    priority: int
    marketing: bool
    pending: bool


def unconverted_rows(query):
    """The rows of a `values_list` query without Django's converter per value, which costs more than the
    read itself at a million rows: on SQLite booleans come back as 0/1 and times naive (see `as_utc`)."""
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(10_000):
            yield from rows


def as_utc(value: dt.datetime) -> dt.datetime:
    """A time from `unconverted_rows` made aware (SQLite stores UTC without a zone)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def template_refusals_in_force(
    customer_ids: Iterable[int], channels: Iterable[str]
) -> set[tuple[int, str, str]]:
    """(customer, channel, template) of each refusal not followed by an opt-in of the channel."""
    wanted = {c for c in channels if c in REFUSABLE_CHANNELS}
    ids = set(customer_ids)
    if not wanted or not ids or not TemplateRefusal.objects.filter(channel__in=wanted).exists():
        return set()
    refusals = []
    for chunk in chunked(sorted(ids)):
        refusals += TemplateRefusal.objects.filter(channel__in=wanted, customer_id__in=chunk).values_list(
            "customer_id", "channel", "template", "recorded_at"
        )
    opt_ins: dict[tuple[int, str], dt.datetime] = {}
    refused_ids = sorted({r[0] for r in refusals})
    for chunk in chunked(refused_ids):
        for cid, channel, at in Consent.objects.filter(
            customer_id__in=chunk, channel__in=wanted, status=Consent.Status.OPT_IN
        ).values_list("customer_id", "channel", "recorded_at"):
            opt_ins[(cid, channel)] = max(at, opt_ins.get((cid, channel), at))
    return {
        (cid, channel, template)
        for cid, channel, template, at in refusals
        if opt_ins.get((cid, channel)) is None or opt_ins[(cid, channel)] <= at
    }


def consent_verdict(
    latest: dict, rules: Rules, customer_id: int, channel: str, marketing: bool, personalised: bool = False
) -> str:
    """ "" when the customer may be contacted on `channel`, else `opted_out` / `not_personalised` /
    `no_consent`. `latest` is Consent.objects.in_force of the channels (and PERSONALISED if asked)."""
    consent_channel = CONSENT_CHANNEL.get(channel)
    specific = latest.get((customer_id, consent_channel)) if consent_channel else None
    overall = latest.get((customer_id, "all"))
    if Consent.Status.OPT_OUT in (specific, overall):
        return "opted_out"
    if marketing and personalised and latest.get((customer_id, PERSONALISED)) == Consent.Status.OPT_OUT:
        return "not_personalised"
    if marketing and channel in rules.consent_required and Consent.Status.OPT_IN not in (specific, overall):
        return "no_consent"
    return ""


def _slots(customer_ids: set[int], members: set[str], start: dt.datetime, end: dt.datetime):
    """The counted slots of these customers and members between `start` and `end`."""
    base = Send.objects.filter(status__in=COUNTED, scheduled_at__gt=start, scheduled_at__lt=end)
    fields = ("pk", "customer_id", "member", "channel", "scheduled_at", "priority", "marketing", "status")
    by_customer: dict[int, list[_Slot]] = defaultdict(list)
    by_member: dict[str, list[_Slot]] = defaultdict(list)

    def add(rows):
        for pk, cid, member, channel, at, priority, marketing, status in rows:
            slot = _Slot(pk, channel, as_utc(at), priority, bool(marketing), status in PENDING)
            if channel == Channel.WECOM_APP:
                if member in members:
                    by_member[member].append(slot)
            elif cid in customer_ids:
                by_customer[cid].append(slot)

    if len(customer_ids) > SCAN_THRESHOLD:
        add(unconverted_rows(within_id_range(base, customer_ids).values_list(*fields)))
    else:
        for chunk in chunked(sorted(customer_ids)):
            add(unconverted_rows(base.filter(customer_id__in=chunk).values_list(*fields)))
    for chunk in chunked(sorted(members)):
        add(unconverted_rows(base.filter(channel=Channel.WECOM_APP, member__in=chunk).values_list(*fields)))
    return by_customer, by_member


# --- caps -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cap:
    reason: str
    limit: int
    window: dt.timedelta | None = None  # rolling window, or None for a calendar period
    period: str = ""  # "month" | "day" (local calendar)
    channel: str = ""  # only slots of this channel count
    marketing_only: bool = True

    def counts(self, slot: _Slot) -> bool:
        return (not self.marketing_only or slot.marketing) and (
            not self.channel or slot.channel == self.channel
        )

    def in_way(self, slot: _Slot, at: dt.datetime, zone: ZoneInfo) -> bool:
        if self.window is not None:
            return abs(slot.at - at) < self.window
        mine, theirs = at.astimezone(zone), slot.at.astimezone(zone)
        if self.period == "day":
            return mine.date() == theirs.date()
        return (mine.year, mine.month) == (theirs.year, theirs.month)


def _caps_for(rules: Rules, request: SendRequest, at: dt.datetime) -> list[_Cap]:
    caps = []
    if request.channel == Channel.WECOM:
        if rules.wecom_one_per_day:
            caps.append(_Cap("wecom_daily", 1, period="day", channel="wecom", marketing_only=False))
        else:
            local = at.astimezone(rules.zone)
            days = calendar.monthrange(local.year, local.month)[1]
            caps.append(_Cap("wecom_monthly", days, period="month", channel="wecom", marketing_only=False))
    if request.marketing:
        caps.append(_Cap("cap_global", rules.marketing_cap, window=rules.marketing_window))
        if request.channel in rules.channel_caps:
            limit, window = rules.channel_caps[request.channel]
            caps.append(_Cap("cap_channel", limit, window=window, channel=request.channel))
    return caps


def _fit_caps(
    rules: Rules, request: SendRequest, at: dt.datetime, slots: list[_Slot], caps: list[_Cap] | None = None
) -> tuple[str, list[_Slot]]:
    """("", the pending slots to outrank) when the request fits at `at`, else (reason, [])."""
    caps = _caps_for(rules, request, at) if caps is None else caps
    if not slots and all(cap.limit >= 1 for cap in caps):
        return "", []  # nothing in the way (most customers of a large batch)
    outranked: list[_Slot] = []
    for cap in caps:
        in_way = [s for s in slots if s not in outranked and cap.counts(s) and cap.in_way(s, at, rules.zone)]
        excess = len(in_way) - cap.limit + 1
        if excess <= 0:
            continue
        weaker = sorted(
            (s for s in in_way if s.pending and s.send_id is not None and s.priority < request.priority),
            key=lambda s: (s.priority, -s.at.timestamp()),
        )
        if len(weaker) < excess:
            return cap.reason, []
        outranked.extend(weaker[:excess])
    return "", outranked


def _first_free_app_slot(at: dt.datetime, slots: list[_Slot]) -> dt.datetime:
    """The first time from `at` at which one more app message keeps the member under WeCom's limits."""
    candidates = sorted({at, *(s.at + w for s in slots for w, _ in APP_LIMITS if s.at + w > at)})
    for candidate in candidates:
        if all(sum(abs(s.at - candidate) < w for s in slots) < limit for w, limit in APP_LIMITS):
            return candidate
    return candidates[-1]  # unreachable: the last candidate is a full window after every slot


def _holdouts(requests: list[SendRequest], customer_ids: set[int], rules: Rules) -> tuple[set, dict]:
    """The batch's customers in the global holdout, and per (source group, share) of the requests that
    bring no decided flag, those in the source's holdout: one array operation per group."""

    def members(group: str, ids: list[int], percent) -> set[int]:
        ids = np.asarray(ids, dtype=np.int64)  # once: held_out takes the array as it is
        return set(ids[held_out(group, ids, percent)].tolist())

    in_global = members("global", list(customer_ids), rules.holdout_percent)
    asked: dict[tuple, list[int]] = defaultdict(list)
    for r in requests:
        if r.held_out is None and r.source_holdout_percent and r.customer_id is not None:
            asked[(f"{r.source}:{r.source_id}", r.source_holdout_percent)].append(r.customer_id)
    return in_global, {key: members(key[0], ids, key[1]) for key, ids in asked.items()}


# --- the function every enqueue goes through ---------------------------------------------------------


def apply_contact_policy(requests: list[SendRequest], now: dt.datetime, rules: Rules) -> list[Decision]:
    """One decision per request (same order). Reads consent and the slots already taken; writes nothing
    (siyu.engagement.messaging.actions.enqueue_sends stores the decisions)."""
    customer_ids = {r.customer_id for r in requests if r.customer_id is not None}
    members = {r.member for r in requests if r.channel == Channel.WECOM_APP and r.member}
    starts = [max(r.send_at or now, now) for r in requests] or [now]
    horizon = rules.horizon() + dt.timedelta(hours=2)  # + the furthest a quiet-hours move can shift a slot
    asked = {CONSENT_CHANNEL.get(r.channel) for r in requests}
    if any(r.personalised and r.marketing for r in requests):
        asked.add(PERSONALISED)
    latest = Consent.objects.in_force(customer_ids, asked)
    refused = template_refusals_in_force(customer_ids, {r.channel for r in requests})
    by_customer, by_member = _slots(customer_ids, members, min(starts) - horizon, max(starts) + horizon * 2)
    in_global, in_source = _holdouts(requests, customer_ids, rules)

    decisions: list[Decision | None] = [None] * len(requests)
    order = sorted(range(len(requests)), key=lambda i: -requests[i].priority)
    # a batch shares a few start times, channels and months: each computed once
    moved: dict[dt.datetime, dt.datetime] = {}
    caps_of: dict[tuple, list[_Cap]] = {}
    for i in order:
        request, at = requests[i], starts[i]
        if request.channel == Channel.WECOM_APP:
            if not request.member:
                decisions[i] = Decision("suppressed", at, "no_recipient")
                continue
            slots = by_member[request.member]
            at = _first_free_app_slot(at, slots)
            slots.append(_Slot(None, request.channel, at, request.priority, request.marketing, True))
            decisions[i] = Decision("queued", at)
            continue
        cid = request.customer_id
        if cid is None and request.channel == Channel.WECOM_WELCOME and request.member:
            # a welcome message answers a contact who just added a staff member: often not a customer yet
            decisions[i] = Decision("queued", at)
            continue
        if cid is None:
            decisions[i] = Decision("suppressed", at, "no_recipient")
            continue
        reason = consent_verdict(latest, rules, cid, request.channel, request.marketing, request.personalised)
        if not reason and (cid, request.channel, request.template) in refused:
            reason = "template_refused"
        if not reason and request.marketing:
            if cid in in_global:
                reason = "holdout_global"
            elif request.held_out or (
                request.held_out is None
                and request.source_holdout_percent
                and cid
                in in_source[(f"{request.source}:{request.source_id}", request.source_holdout_percent)]
            ):
                reason = "holdout_source"
            else:
                if at not in moved:
                    moved[at] = after_quiet_hours(rules, at)
                at = moved[at]
        if reason:
            decisions[i] = Decision("suppressed", at, reason)
            continue
        slots = by_customer[cid] if cid in by_customer else []
        month = at.astimezone(rules.zone).strftime("%Y-%m") if request.channel == Channel.WECOM else ""
        key = (request.channel, request.marketing, month)
        if key not in caps_of:
            caps_of[key] = _caps_for(rules, request, at)
        reason, outranked = _fit_caps(rules, request, at, slots, caps_of[key])
        if reason:
            decisions[i] = Decision("suppressed", at, reason)
            continue
        for slot in outranked:
            slots.remove(slot)
        if cid not in by_customer:
            by_customer[cid] = slots
        slots.append(_Slot(None, request.channel, at, request.priority, request.marketing, True))
        decisions[i] = Decision("queued", at, outranks=[s.send_id for s in outranked])
    return decisions


# --- group mass messages (customer groups) -------------------------------------------------------------------


def group_limit(rules: Rules, at: dt.datetime) -> tuple[str, int, str]:
    """(reason, limit, period "month" | "day") of WeCom's limit on the mass messages one customer group
    receives. WeCom's 创建企业群发 (add_msg_template,
    https://developer.work.weixin.qq.com/document/path/92135): each customer / customer group receives at
    most as many enterprise mass messages in a calendar month as the month has days; beyond it the group
    silently gets nothing. `wecom_one_per_day`: the admin tightened it to one a day (DESIGN §6)."""
    if rules.wecom_one_per_day:
        return "group_daily", 1, "day"
    local = at.astimezone(rules.zone)
    return "group_monthly", calendar.monthrange(local.year, local.month)[1], "month"


def decide_group_sends(
    history: dict[str, list[dt.datetime]], now: dt.datetime, rules: Rules
) -> dict[str, Decision]:
    """One decision per group (key: its chat id) for a group mass message at `now`: ``queued``, or
    ``deferred`` to the end of quiet hours (reason ``quiet_hours``), or ``suppressed`` at WeCom's limit.
    `history`: the times of the earlier group mass messages each group was sent (the caller reads them;
    messaging cannot import community). Writes nothing."""
    if in_quiet_hours(rules, now):
        later = after_quiet_hours(rules, now)
        return {chat: Decision("deferred", later, "quiet_hours") for chat in history}
    reason, limit, period = group_limit(rules, now)
    mine = now.astimezone(rules.zone)

    def same_period(at: dt.datetime) -> bool:
        theirs = at.astimezone(rules.zone)
        if period == "day":
            return theirs.date() == mine.date()
        return (theirs.year, theirs.month) == (mine.year, mine.month)

    decisions = {}
    for chat, times in history.items():
        used = sum(1 for at in times if same_period(at))
        decisions[chat] = Decision("suppressed", now, reason) if used >= limit else Decision("queued", now)
    return decisions


def group_member_verdicts(customer_ids: Iterable[int], rules: Rules) -> dict[int, str]:
    """{customer: "" when a group mass message may count them as reached, else why not} for identified
    customers in the chosen groups: the `wecom` channel's marketing consent (an opt-out of wecom or all,
    no opt-in where the policy requires one)."""
    ids = set(customer_ids)
    latest = Consent.objects.in_force(ids, {"wecom"}) if ids else {}
    return {cid: consent_verdict(latest, rules, cid, Channel.WECOM, marketing=True) for cid in ids}
