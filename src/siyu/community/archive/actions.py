"""State changes of the chat archive: importing an archive export into the warehouse (with the touches and
events its customer conversations make), sensitive-word rules, matching them on new messages (or again on
everything), the alerts their hits raise and the owner's notification, and handling an alert."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import ibis
import pyarrow as pa
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from siyu import warehouse
from siyu.community.archive import matching, rooms
from siyu.community.archive.errors import AlertNotFound, ArchiveError, RuleError, RuleNotFound
from siyu.community.archive.lines import ChatMessage, is_customer_id, is_staff_id, read_line
from siyu.community.archive.models import ArchiveImport, SensitiveAlert, SensitiveRule
from siyu.core.actions import record_audit
from siyu.core.errors import PermissionDenied
from siyu.engagement.messaging import queries as messaging_queries
from siyu.engagement.messaging.actions import enqueue_sends
from siyu.engagement.messaging.models import Channel
from siyu.engagement.messaging.policy import SendRequest
from siyu.staff.models import Role, StaffProfile
from siyu.staff.queries import has_role
from siyu.warehouse import erasure as warehouse_erasure
from siyu.warehouse.append import append, append_new
from siyu.warehouse.paging import page_of
from siyu.warehouse.schema import TABLES

BATCH_LINES = 10_000  # lines read, written and matched at a time: memory stays bounded on any file size
REJECTS_KEPT = 200  # refused lines listed in a report (all are counted)
CHAT_EVENT = "chat_message"  # a customer wrote in a chat (the events table)
CHAT_TOUCH_CHANNEL = "wecom_chat"  # a staff member wrote to a customer 1-on-1 (the touches table)
CHAT_TOUCH_SOURCE = "chat_archive"
NOTIFY_TEXT = "【敏感词提醒】群聊中有一条消息触发了规则「{rule}」：{excerpt}"
SCAN_BATCH = 20_000


# Who may manage the chat archive and its rules; who may read it and handle its alerts.
MANAGER_ROLES = (Role.ADMIN, Role.OPERATOR)
READER_ROLES = (Role.ADMIN, Role.OPERATOR, Role.MANAGER)


def _require_operator(actor) -> None:
    if actor is not None and not has_role(actor, MANAGER_ROLES):
        raise PermissionDenied("only an admin or operator can manage the chat archive and its rules")


def staff_userids() -> frozenset[str]:
    return frozenset(StaffProfile.objects.exclude(wecom_userid="").values_list("wecom_userid", flat=True))


def _source() -> str:
    account = messaging_queries.account_of(Channel.WECOM)
    return ((account.settings or {}).get("source") if account else None) or "wecom"


# --- import ------------------------------------------------------------------------------------------------


def _batches(path: Path, size: int) -> Iterator[list[tuple[int, str]]]:
    """(line number, text) of every non-blank line, `size` at a time; a line that is not UTF-8 is read with
    replacement characters (and then refused as not JSON, unless only its text was damaged)."""
    batch: list[tuple[int, str]] = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            text = raw.decode("utf-8", errors="replace").strip()
            if text.startswith("\ufeff"):
                text = text[1:]
            if not text:
                continue
            batch.append((number, text))
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch


def _message_table(rows: list[tuple[int, ChatMessage]], staff: frozenset, file_name: str) -> pa.Table:
    schema = TABLES["chat_messages"].to_pyarrow()
    return pa.Table.from_pylist(
        [
            {"msgid": m.msgid, "seq": m.seq, "action": m.action, "sender": m.sender,
             "is_staff": is_staff_id(m.sender, staff), "recipients": m.recipients, "room_id": m.room_id,
             "sent_at": m.sent_at, "msgtype": m.msgtype, "text": m.text, "source_file": file_name, "line": number}
            for number, m in rows
        ],  # fmt: skip
        schema=schema,
    )


def _customers_of_records(record_keys: list[str]) -> dict[str, int]:
    """{record key: customer id} of the records in the customer map. Read through this thread's warehouse
    backend, whose connection is the open import transaction's."""
    cmap = warehouse.backend().table("customer_map")
    keys = ibis.memtable(pa.table({"record_key": pa.array(record_keys, pa.string())}))
    found = keys.inner_join(cmap, "record_key")
    found = found.group_by("record_key").aggregate(customer_id=found.customer_id.min())
    return {r["record_key"]: r["customer_id"] for r in found.to_pyarrow().to_pylist()}


def _conversation_rows(messages: list[ChatMessage], staff: frozenset, source: str) -> tuple[list, list]:
    """(events, touches) of new messages: every customer message (a `send`, not a recall) is a `chat_message`
    event of the customer's WeCom record; every staff message to one customer in a 1-on-1 chat is a touch
    of channel `wecom_chat`."""
    events, touches = [], []
    for m in messages:
        if m.action != "send":
            continue
        if is_customer_id(m.sender, staff):
            events.append({
                "event_key": f"{source}|chat:{m.msgid}", "source": source, "record_key": f"{source}|{m.sender}",
                "event_type": CHAT_EVENT, "occurred_at": m.sent_at,
                "properties": json.dumps({"msgid": m.msgid, "room_id": m.room_id, "msgtype": m.msgtype,
                                          "to": m.recipients[:20]}, ensure_ascii=False),
                "batch_id": None,
            })  # fmt: skip
        elif (
            not m.room_id
            and is_staff_id(m.sender, staff)
            and len(m.recipients) == 1
            and is_customer_id(m.recipients[0], staff)
        ):
            touches.append({"record_key": f"{source}|{m.recipients[0]}", "msgid": m.msgid, "sent_at": m.sent_at})
    customers = {}
    if touches:
        customers = _customers_of_records(sorted({t["record_key"] for t in touches}))
    touch_rows = [
        {"send_id": None, "customer_id": customers.get(t["record_key"]), "channel": CHAT_TOUCH_CHANNEL,
         "source": CHAT_TOUCH_SOURCE, "source_id": t["msgid"], "marketing": False, "template": None,
         "record_key": t["record_key"], "sent_at": t["sent_at"]}
        for t in touches
    ]  # fmt: skip
    return events, touch_rows


def import_chat_archive(path, actor=None, source: str | None = None, progress=None,
                        batch_lines: int = BATCH_LINES) -> dict:  # fmt: skip
    """Import a chat-archive export (JSON lines, lines.py) into the warehouse's `chat_messages`, streamed
    `batch_lines` at a time. A message already imported (same msgid, in this file or an earlier one) is a
    duplicate and adds nothing; a line that is not a message is refused and reported with its file, line
    number and reason while the good lines land. New customer messages become `chat_message` events, new
    1-on-1 staff messages to a customer become touches, and the enabled sensitive-word rules are matched on
    the new messages (alerts and owner notifications). Returns the report (also kept as an ArchiveImport)."""
    _require_operator(actor)
    path = Path(path)
    if not path.is_file():
        raise ArchiveError(f"no such file: {path}")
    source = source or _source()
    staff = staff_userids()
    step = progress or (lambda *args, **kwargs: None)
    report = {"file": path.name, "lines": 0, "imported": 0, "duplicates": 0, "rejected": 0,
              "events": 0, "touches": 0, "alerts": 0, "rejected_lines": []}  # fmt: skip
    for batch in _batches(path, batch_lines):
        good: dict[str, tuple[int, ChatMessage]] = {}
        for number, text in batch:
            report["lines"] += 1
            message, reason = read_line(text)
            if message is None:
                report["rejected"] += 1
                if len(report["rejected_lines"]) < REJECTS_KEPT:
                    report["rejected_lines"].append({"file": path.name, "line": number, "reason": reason})
            elif message.msgid in good:
                report["duplicates"] += 1
            else:
                good[message.msgid] = (number, message)
        if not good:
            continue
        table = _message_table(list(good.values()), staff, path.name)
        with warehouse.transaction() as con:
            fresh = set(append_new(con, "chat_messages", table, ("msgid",)).column("msgid").to_pylist())
            new = [m for _, m in good.values() if m.msgid in fresh]
            events, touches = _conversation_rows(new, staff, source)
            if events:
                events_table = pa.Table.from_pylist(events, schema=TABLES["events"].to_pyarrow())
                report["events"] += append_new(con, "events", events_table, ("event_key",)).num_rows
            if touches:
                report["touches"] += append(con, "touches", pa.Table.from_pylist(touches, schema=TABLES["touches"].to_pyarrow()))
        report["imported"] += len(fresh)
        report["duplicates"] += len(good) - len(fresh)
        report["alerts"] += len(match_rules(new))
        step(report["lines"], None, f"{report['lines']:,} lines read, {report['imported']:,} messages imported")
    ArchiveImport.objects.create(
        file_name=path.name[:300], lines=report["lines"], imported=report["imported"],
        duplicates=report["duplicates"], rejected=report["rejected"], rejected_lines=report["rejected_lines"],
        imported_by=actor if getattr(actor, "is_authenticated", False) else None,
    )  # fmt: skip
    record_audit(actor, "import_chat_archive", target=path.name,
                 **{k: v for k, v in report.items() if isinstance(v, int)})  # fmt: skip
    return report


def store_archive_upload(upload) -> str:
    """Keep an uploaded export under UPLOADS_DIR/<uuid>/ (with its sanitised name) for the import job;
    returns its path."""
    folder = Path(settings.UPLOADS_DIR) / uuid.uuid4().hex
    folder.mkdir(parents=True, exist_ok=False)
    target = folder / (get_valid_filename(Path(upload.name or "").name) or "chat-archive.jsonl")
    with target.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    return str(target)


def run_chat_archive_import_job(job, progress) -> dict:
    """Job runner of kind `chat_archive_import` (params: {"path": the export file, "source": optional})."""
    params = job.params or {}
    if not params.get("path"):
        raise ArchiveError("the job names no archive file")
    return import_chat_archive(params["path"], job.created_by, params.get("source"), progress=progress)


# --- sensitive-word rules -------------------------------------------------------------------------------


def save_rule(actor, name: str, kind: str, pattern: str, group_types=(), one_on_one: bool = False,
              enabled: bool = True, rule_id: int | None = None) -> SensitiveRule:  # fmt: skip
    """Create (or, with rule_id, change) a rule; a bad or too slow regular expression is refused
    (matching.checked_pattern)."""
    _require_operator(actor)
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise RuleError("a rule needs a name of 1 to 100 characters", "no_name")
    fields = {
        "name": name, "kind": kind, "pattern": matching.checked_pattern(kind, pattern),
        "group_types": matching.checked_group_types(group_types), "one_on_one": bool(one_on_one),
        "enabled": bool(enabled),
    }  # fmt: skip
    if not fields["group_types"] and not fields["one_on_one"]:
        raise RuleError("choose the group types or 1-on-1 chats the rule watches", "no_scope")
    if rule_id is None:
        rule = SensitiveRule.objects.create(created_by=actor if getattr(actor, "is_authenticated", False) else None,
                                            **fields)  # fmt: skip
    else:
        rule = SensitiveRule.objects.filter(pk=rule_id).first()
        if rule is None:
            raise RuleNotFound(f"no sensitive-word rule {rule_id}")
        for key, value in fields.items():
            setattr(rule, key, value)
        rule.save()
    record_audit(actor, "save_sensitive_rule", target=str(rule.pk), kind=kind, pattern=rule.pattern)
    return rule


def delete_rule(actor, rule_id: int) -> None:
    """Delete a rule; its alerts stay (with the rule's name) for the audit."""
    _require_operator(actor)
    deleted, _ = SensitiveRule.objects.filter(pk=rule_id).delete()
    if not deleted:
        raise RuleNotFound(f"no sensitive-word rule {rule_id}")
    record_audit(actor, "delete_sensitive_rule", target=str(rule_id))


def match_rules(messages: list[ChatMessage], rules: list[SensitiveRule] | None = None) -> list[SensitiveAlert]:
    """Match the enabled rules (or the given ones) on these messages (sends only; a recall notice has no
    words): an alert per (rule, message) hit not raised before, and an app message through the outbox to the
    owner of each group where one was raised. Returns the new alerts."""
    rules = [r for r in (rules if rules is not None else SensitiveRule.objects.filter(enabled=True)) if r.enabled]
    candidates = [m for m in messages if m.action == "send" and m.text]
    if not rules or not candidates:
        return []
    types = rooms.types_of(m.room_id for m in candidates)
    hits = []
    for m in candidates:
        for rule in rules:
            if not matching.watches(rule.group_types, rule.one_on_one, m.room_id, types.get(m.room_id)):
                continue
            found = matching.find(rule.kind, rule.pattern, m.text)
            if found is not None:
                hits.append((rule, m, matching.excerpt(m.text[: matching.MATCHED_TEXT], found)))
    if not hits:
        return []
    owners = rooms.owners_of(m.room_id for _, m, _ in hits)
    made = []
    for rule, m, words in hits:
        try:
            with transaction.atomic():
                alert = SensitiveAlert.objects.create(
                    rule=rule, rule_name=rule.name, msgid=m.msgid, room_id=m.room_id, sender=m.sender,
                    excerpt=words[:300], sent_at=m.sent_at, owner_userid=owners.get(m.room_id, ""),
                )  # fmt: skip
        except IntegrityError:  # raised before (a re-run of the rules)
            continue
        made.append(alert)
    _notify_owners(made)
    return made


def _notify_owners(alerts: list[SensitiveAlert]) -> int:
    """An app message (Channel wecom_app) to the group owner of each alert, through the one contact
    policy's outbox; alerts of chats without a known owner are on the audit page only."""
    requests = [
        SendRequest(
            idempotency_key=f"sensitive-alert:{a.pk}", channel=Channel.WECOM_APP, member=a.owner_userid,
            content=NOTIFY_TEXT.format(rule=a.rule_name, excerpt=a.excerpt[:200]), marketing=False, priority=50,
            source_id=f"sensitive_alert:{a.pk}",
        )  # fmt: skip
        for a in alerts
        if a.owner_userid
    ]
    if requests:
        enqueue_sends(requests)
    return len(requests)


def _stored_messages(since: dt.datetime | None) -> Iterator[list[ChatMessage]]:
    con = warehouse.backend()
    t = con.table("chat_messages")
    t = t.filter(t.action == "send", t.text.notnull(), t.text != "")
    if since is not None:
        t = t.filter(t.sent_at >= since)
    t = t.select("msgid", "action", "sender", "recipients", "room_id", "sent_at", "msgtype", "text")
    offset = 0
    while True:
        # page_of: a bare offset on Spark leaves Ibis' row number in the rows (siyu.warehouse.paging)
        page = page_of(t.order_by("msgid"), SCAN_BATCH, offset).to_pyarrow().to_pylist()
        if not page:
            return
        yield [ChatMessage(r["msgid"], r["action"], r["sender"], r["recipients"] or [], r["room_id"] or "",
                           r["sent_at"], r["msgtype"], r["text"]) for r in page]  # fmt: skip
        offset += SCAN_BATCH


def rescan_messages(actor=None, rule_ids: list[int] | None = None, since: dt.datetime | None = None) -> dict:
    """Match the rules again on the archived messages (all, or those sent since `since`): a rule added or
    changed later finds what was said before it. Alerts already raised are not raised again."""
    _require_operator(actor)
    rules = list(SensitiveRule.objects.filter(enabled=True, **({"pk__in": rule_ids} if rule_ids else {})))
    scanned = alerts = 0
    for page in _stored_messages(since):
        scanned += len(page)
        alerts += len(match_rules(page, rules))
    record_audit(actor, "rescan_sensitive_rules", target=",".join(str(r.pk) for r in rules),
                 scanned=scanned, alerts=alerts)  # fmt: skip
    return {"rules": len(rules), "scanned": scanned, "alerts": alerts}


def handle_alert(actor, alert_id: int, note: str = "", now: dt.datetime | None = None) -> SensitiveAlert:
    """Mark an alert handled by this person (an admin, operator or store manager)."""
    if actor is not None and not has_role(actor, READER_ROLES):
        raise PermissionDenied("only an admin, operator or store manager can handle sensitive-word alerts")
    alert = SensitiveAlert.objects.filter(pk=alert_id).first()
    if alert is None:
        raise AlertNotFound(f"no sensitive-word alert {alert_id}")
    if alert.status != SensitiveAlert.Status.HANDLED:
        alert.status = SensitiveAlert.Status.HANDLED
        alert.handled_by = actor if getattr(actor, "is_authenticated", False) else None
        alert.handled_at = now or timezone.now()
        alert.note = (note or "").strip()[:300]
        alert.save(update_fields=["status", "handled_by", "handled_at", "note"])
        record_audit(actor, "handle_sensitive_alert", target=str(alert.pk))
    return alert


# --- erasure of a person (PIPL art. 47; siyu.privacy.erasure runs it) ----------------------------------------


def _archive_ids(person) -> list[str]:
    """The person's customer ids as the archive has them (their external_userids)."""
    return sorted(m for m in warehouse_erasure.chat_members() if person.holds_id("external_userid", m))


def _mentions(person):
    return lambda text: person.matches([text])


def erase_person_messages(person, request) -> dict:
    """The chat archive's part of erasing a person: their archive ids become one pseudonym of no one (a
    customer-like id, so the conversations and their response times still count), the text goes of what
    they sent, of the 1-on-1 messages they received and of any message holding their phone, e-mail or
    platform id; sensitive-word alerts on their messages lose the excerpt and the sender."""
    ids = _archive_ids(person)
    pseudonym = person.pseudonym("wm-")  # customer-like (wm…): the archive still counts a customer
    counts = warehouse_erasure.anonymise_chat_members(ids, pseudonym, _mentions(person))
    alerts = SensitiveAlert.objects.filter(sender__in=ids) if ids else SensitiveAlert.objects.none()
    counts["alerts"] = alerts.update(sender=pseudonym, excerpt="")
    return counts


def person_messages_left(person) -> int:
    """What erase_person_messages removes that is still there (the erasure scan): the person's archive ids
    anywhere in the archive or its alerts, and message texts holding their identifiers."""
    ids = _archive_ids(person)
    left = len(ids) + (SensitiveAlert.objects.filter(sender__in=ids).count() if ids else 0)
    if person.phones or person.texts:
        left += warehouse_erasure.chat_texts_matching(_mentions(person))
    return left
