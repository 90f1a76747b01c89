"""Read side of the chat archive: figures computed in the warehouse from `chat_messages` (Ibis), and the
rules, alerts and imports in the control plane.

Who is who follows lines.py: a sender is staff when `is_staff` (a company userid); a customer's id starts
with "wm" or "wo". A group's members are its current members when the group sync knows the group (the warehouse's
`group_members`: a member who never wrote is seen from their join, one who left is no longer counted), and
otherwise everyone the archive saw in the group (as a sender or a receiver: WeCom lists every other member of
the group in `tolist`)."""

from __future__ import annotations

import datetime as dt

import ibis
from django.conf import settings
from django.utils import timezone

from siyu import warehouse
from siyu.community.archive.lines import CUSTOMER_PREFIXES, NOT_CONVERSATION
from siyu.community.archive.models import ArchiveImport, SensitiveAlert, SensitiveRule
from siyu.privacy.registry import copy_word
from siyu.warehouse.localtime import local_time

ALERT_PAGE = 50


def _is_customer(column):
    return column.startswith(CUSTOMER_PREFIXES[0]) | column.startswith(CUSTOMER_PREFIXES[1])


def _messages():
    t = warehouse.backend().table("chat_messages")
    return t.filter(t.action == "send")


def _rows(expr) -> list[dict]:
    return expr.to_pyarrow().to_pylist()


# --- guide response times ---------------------------------------------------------------------------------


def response_times(start: dt.datetime | None = None, end: dt.datetime | None = None,
                   staff: list[str] | None = None) -> list[dict]:  # fmt: skip
    """Per staff member, how long customers waited in 1-on-1 chats for a reply: a wait starts with a
    customer's message that no earlier message of the staff member answered (a customer writing three
    times in a row waits from the first) and ends with the staff member's next message to them. Counted
    in seconds of clock time (business hours are not taken out); waits that began in [start, end).
    Returns [{"staff", "replies", "median_seconds", "p90_seconds", "unanswered"}] sorted by staff."""
    t = _messages()
    t = t.filter(t.room_id == "", t.recipients.length() == 1, ~t.msgtype.isin(list(NOT_CONVERSATION)))
    first = t.recipients[0]
    from_customer = ~t.is_staff & _is_customer(t.sender)
    to_customer = t.is_staff & _is_customer(first)
    t = t.filter(from_customer | to_customer).mutate(
        staff=ibis.ifelse(from_customer, first, t.sender),
        customer=ibis.ifelse(from_customer, t.sender, first),
        from_customer=from_customer,
    )
    if staff:
        t = t.filter(t.staff.isin(list(staff)))
    pair = ibis.window(group_by=[t.staff, t.customer], order_by=[t.sent_at, t.msgid], rows=(0, None))
    earlier = ibis.window(group_by=[t.staff, t.customer], order_by=[t.sent_at, t.msgid], rows=(None, 0))
    staff_at = ibis.ifelse(t.from_customer, ibis.null().cast(t.sent_at.type()), t.sent_at)
    t = t.mutate(replied_at=staff_at.min().over(pair), staff_messages_before=(~t.from_customer).cast("int64").sum().over(earlier))
    waits = (
        t.filter(t.from_customer)
        .group_by(["staff", "customer", "staff_messages_before"])
        .aggregate(waiting_since=lambda w: w.sent_at.min(), replied_at=lambda w: w.replied_at.min())
    )
    if start is not None:
        waits = waits.filter(waits.waiting_since >= start)
    if end is not None:
        waits = waits.filter(waits.waiting_since < end)
    seconds = (waits.replied_at.epoch_seconds() - waits.waiting_since.epoch_seconds()).cast("float64")
    waits = waits.mutate(seconds=seconds)
    answered = waits.replied_at.notnull()
    figures = waits.group_by("staff").aggregate(
        replies=answered.cast("int64").sum(),
        median_seconds=waits.seconds.quantile(0.5),
        p90_seconds=waits.seconds.quantile(0.9),
        unanswered=(~answered).cast("int64").sum(),
    )
    return _rows(figures.order_by("staff"))


# --- silent members ---------------------------------------------------------------------------------------


def _room_presence():
    """(room_id, member, spoke_at or NULL, seen_at) for every customer member of a group chat: in a group
    the sync knows, its current members (seen from their join) and what they wrote; elsewhere everyone the
    archive saw there."""
    t = _messages()
    t = t.filter(t.room_id != "")
    spoke = t.filter(~t.is_staff & _is_customer(t.sender)).select(
        "room_id", member=t.sender, spoke_at=t.sent_at, seen_at=t.sent_at
    )
    listed = t.select("room_id", "sent_at", member=t.recipients.unnest())
    listed = listed.filter(_is_customer(listed.member)).select(
        "room_id", "member", spoke_at=ibis.null().cast(listed.sent_at.type()), seen_at=listed.sent_at
    )
    seen = spoke.union(listed)
    stays = warehouse.backend().table("group_members")
    stays = stays.filter(~stays.is_staff)
    synced = stays.select(room_id=stays.chat_id).distinct()
    current = stays.filter(stays.left_at.isnull()).select(
        room_id=stays.chat_id, member=stays.member_id, spoke_at=ibis.null().cast(seen.spoke_at.type()),
        seen_at=stays.joined_at.cast(seen.seen_at.type()),
    )  # fmt: skip
    return (
        seen.anti_join(synced, "room_id")
        .union(seen.semi_join(current, ["room_id", "member"]))
        .union(current)
    )


def silent_members(days: int, as_of: dt.datetime | None = None, room_ids: list[str] | None = None,
                   limit: int = 1000) -> dict:  # fmt: skip
    """Customers seen in a group chat for at least `days` days who wrote nothing there in the last `days`
    days before `as_of` (now when None). Returns {"rooms": [{"room_id", "members", "silent"}],
    "members": [{"room_id", "external_userid", "last_spoke_at", "first_seen_at"}] (at most `limit`)}."""
    as_of = as_of or timezone.now()
    cutoff = as_of - dt.timedelta(days=int(days))
    p = _room_presence()
    if room_ids:
        p = p.filter(p.room_id.isin(list(room_ids)))
    p = p.filter(p.seen_at < as_of)
    members = p.group_by(["room_id", "member"]).aggregate(
        last_spoke_at=p.spoke_at.max(), first_seen_at=p.seen_at.min()
    )
    members = members.mutate(
        silent=(members.first_seen_at <= cutoff)
        & (members.last_spoke_at.isnull() | (members.last_spoke_at < cutoff))
    )
    rooms = members.group_by("room_id").aggregate(
        members=members.count(), silent=members.silent.cast("int64").sum()
    )
    quiet = members.filter(members.silent).order_by(["room_id", "member"]).limit(limit)
    return {
        "days": int(days),
        "as_of": as_of,
        "rooms": _rows(rooms.order_by("room_id")),
        "members": _rows(quiet.select("room_id", "last_spoke_at", "first_seen_at", external_userid=quiet.member)),
    }


# --- messages per room and day ----------------------------------------------------------------------------


def daily_message_counts(start: dt.date | None = None, end: dt.date | None = None,
                         room_ids: list[str] | None = None) -> list[dict]:  # fmt: skip
    """Messages per group chat and local day (settings.TIME_ZONE) in [start, end]: [{"room_id", "day",
    "messages", "customer_messages", "speakers"}]."""
    t = _messages()
    t = t.filter(t.room_id != "")
    if room_ids:
        t = t.filter(t.room_id.isin(list(room_ids)))
    t = t.mutate(day=local_time(t.sent_at, settings.TIME_ZONE).date())
    if start is not None:
        t = t.filter(t.day >= start)
    if end is not None:
        t = t.filter(t.day <= end)
    counts = t.group_by(["room_id", "day"]).aggregate(
        messages=t.count(),
        customer_messages=(~t.is_staff & _is_customer(t.sender)).cast("int64").sum(),
        speakers=t.sender.nunique(),
    )
    return _rows(counts.order_by(["room_id", "day"]))


def message_count() -> int:
    return int(warehouse.backend().table("chat_messages").count().to_pyarrow().as_py())


# --- control plane ------------------------------------------------------------------------------------------


def rules() -> list[SensitiveRule]:
    return list(SensitiveRule.objects.all())


def alerts(status: str | None = None, room_id: str | None = None, page: int = 1,
           page_size: int = ALERT_PAGE) -> tuple[list[SensitiveAlert], int]:  # fmt: skip
    found = SensitiveAlert.objects.select_related("handled_by")
    if status:
        found = found.filter(status=status)
    if room_id:
        found = found.filter(room_id=room_id)
    total = found.count()
    start = (max(page, 1) - 1) * page_size
    return list(found[start : start + page_size]), total


def recent_imports(limit: int = 20) -> list[ArchiveImport]:
    return list(ArchiveImport.objects.all()[:limit])


def person_messages(customer_id: int) -> list[dict]:
    """The archived messages of one customer, oldest first, for the person's copy of their data: what they
    sent (1-on-1 and in groups) and what staff sent them 1-on-1 — not other people's words in a group. The
    archive keys people by external_userid and the warehouse keeps only its keyed hash, so the customer's
    ids are found by hashing the archive's customer ids (a person's messages are few; the ids are distinct)."""
    from siyu.core import pii
    from siyu.customers.queries import identifier_hashes_of

    hashes = identifier_hashes_of(int(customer_id), ("external_userid",))
    if not hashes:
        return []
    t = warehouse.backend().table("chat_messages")
    senders = t.filter(~t.is_staff & _is_customer(t.sender)).select(member=t.sender)
    direct = t.filter(t.room_id == "")
    receivers = direct.select(member=direct.recipients.unnest())
    candidates = senders.union(receivers, distinct=True).to_pyarrow().column("member").to_pylist()
    # the warehouse hashes an id with its type (siyu.ingest.prepare: ids of two types never collide)
    mine = sorted(m for m in candidates if m and pii.keyed_hash(f"external_userid:{m}") in hashes)
    if not mine:
        return []
    received = t.recipients.intersect(ibis.literal(mine, type="array<string>")).length() > 0
    found = t.filter(t.sender.isin(mine) | ((t.room_id == "") & received)).order_by([t.sent_at, t.seq])
    return [{"sent_at": r["sent_at"], "from_me": copy_word("Yes") if r["sender"] in mine else copy_word("No"), "sender": r["sender"],
             "room_id": r["room_id"], "msgtype": r["msgtype"], "text": r["text"], "action": r["action"]}
            for r in _rows(found.select("sent_at", "seq", "sender", "room_id", "msgtype", "text", "action"))]  # fmt: skip
