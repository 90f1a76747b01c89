"""State changes that come from the channels themselves (the actions of the channel adapters, kept apart
from the outbox in `actions.py`):

- the WeCom external-contact sync: corporate tags, every staff member's customers (batch/get_by_user,
  paged), written into the warehouse through the importer's own path as one batch with lineage, resolved
  into customers, and their owner guide and WeCom tags brought into the customers app;
- editing a customer's WeCom corporate tags (`mark_wecom_tag`);
- WeCom welcome messages, sent from the add-contact callback while its code is valid;
- SMS delivery receipts and replies (Aliyun and Tencent Cloud pushes): receipts update the sends, replies
  become events, and an unsubscribe reply records an SMS opt-out;
- template refusals (WeChat 43101).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import unicodedata
from collections import defaultdict
from pathlib import Path

import ibis
import polars as pl
import pyarrow as pa
from django.utils import timezone

from siyu import warehouse
from siyu.core import pii
from siyu.core.actions import record_audit
from siyu.core.errors import PermissionDenied
from siyu.core.tasks import can_defer, next_waiting_run, schedule_lock
from siyu.core.timeutil import PLATFORM_TZ
from siyu.customers import actions as customer_actions
from siyu.customers import queries as customer_queries
from siyu.customers.actions import assign_owner
from siyu.customers.errors import CustomerError
from siyu.customers.models import Consent, CustomerTag
from siyu.engagement.errors import ChannelNotConfigured, EngagementError
from siyu.engagement.messaging import queries
from siyu.engagement.messaging.actions import append_events, deliver_due_sends, enqueue_send, record_receipts
from siyu.engagement.messaging.channels.base import ProviderError
from siyu.engagement.messaging.channels.wecom import DEFAULT_BASE_URL, WeComClient
from siyu.engagement.messaging.models import (
    Channel,
    ChannelAccount,
    Send,
    TemplateRefusal,
    WeComCorpTag,
    WeComTransfer,
)
from siyu.engagement.messaging.policy import SendRequest
from siyu.ingest.actions import write_prepared
from siyu.ingest.normalise.phone import normalise_phone
from siyu.ingest.prepare import prepare_frame
from siyu.ingest.sources.formats import FORMATS, map_columns
from siyu.staff.queries import ASSIGN_ROLES, has_role
from siyu.warehouse.append import refresh_records
from siyu.warehouse.summary import refresh_customer_summary

log = logging.getLogger(__name__)

SYNC_PATIENCE = 6  # a sync waits out 45009 / -1 up to six times (1 + 2 + … + 32 s) before failing
GENDERS = {1: "男", 2: "女"}
# The columns of WeCom's own customer export (siyu.ingest.sources.formats "wecom"): a sync writes exactly
# what importing that export would, so the two never disagree and a later export adds nothing twice.
EXPORT_COLUMNS = (
    "external_userid", "unionid", "客户名称", "客户备注", "性别", "添加人账号", "添加时间", "企业标签", "备注手机号",
    "备注企业",
)  # fmt: skip


# --- template refusals -----------------------------------------------------------------------------------


def record_template_refusals(sends: list[Send], at: dt.datetime) -> int:
    """WeChat said the customer refused the template of these sends (43101): remember it per customer,
    channel and template, so the contact policy suppresses the next send of that template."""
    made = 0
    for send in sends:
        _, created = TemplateRefusal.objects.update_or_create(
            customer_id=send.customer_id,
            channel=send.channel,
            template=send.template,
            defaults={"recorded_at": at, "source": f"WeChat 43101 on send {send.pk}"[:100]},
        )
        made += created
    return made


# --- WeCom external-contact sync ---------------------------------------------------------------------------


def wecom_account() -> tuple[ChannelAccount, dict]:
    account = queries.account_of(Channel.WECOM)
    if account is None or not account.enabled:
        raise ChannelNotConfigured("no enabled WeCom account: configure it under 触达 › 渠道账号")
    secrets = queries.account_secrets(account)
    if not account.settings.get("corp_id") or not secrets.get("contact_secret"):
        raise ChannelNotConfigured(
            "the WeCom account needs a corp id and the contact secret to sync contacts"
        )
    return account, secrets


def contact_client(account: ChannelAccount, secrets: dict, patience: int = 0) -> WeComClient:
    return WeComClient(
        account.settings["corp_id"],
        secrets["contact_secret"],
        account.settings.get("base_url") or DEFAULT_BASE_URL,
        patience=patience,
    )


def _mirror_corp_tags(groups: list[dict], now: dt.datetime) -> dict[str, str]:
    """Store WeCom's tag library (tag id ↔ Siyu tag); {tag id: label} of the tags in use."""
    labels: dict[str, str] = {}
    seen = set()
    for group in groups:
        group_name = (group.get("group_name") or "").strip()
        for tag in group.get("tag") or []:
            tag_id, name = str(tag.get("id") or ""), (tag.get("name") or "").strip()
            if not tag_id or not name:
                continue
            deleted = bool(tag.get("deleted") or group.get("deleted"))
            label = f"{group_name}:{name}" if group_name else name
            try:
                siyu_tag = None if deleted else customer_actions.ensure_tag(label)
            except CustomerError:  # a name Siyu cannot hold (over 100 characters): the tag is not mirrored
                log.warning("WeCom tag %s not mirrored: %r", tag_id, label)
                continue
            row, _ = WeComCorpTag.objects.update_or_create(
                wecom_id=tag_id,
                defaults={"group_name": group_name[:100], "name": name[:100], "deleted": deleted, "synced_at": now,
                          **({"tag": siyu_tag} if siyu_tag is not None else {})},
            )  # fmt: skip
            seen.add(tag_id)
            if not deleted:
                labels[tag_id] = label
    # a tag WeCom no longer lists at all was deleted there
    WeComCorpTag.objects.exclude(wecom_id__in=seen).update(deleted=True, synced_at=now)
    return labels


def _local_time(epoch) -> str | None:
    if not epoch:
        return None
    return dt.datetime.fromtimestamp(int(epoch), PLATFORM_TZ).strftime("%Y-%m-%d %H:%M:%S")


def contact_rows(items: list[dict], labels: dict[str, str]) -> list[dict]:
    """Rows shaped like WeCom's customer export, one per (customer, staff member). A customer's first row is
    the staff member who added them first (the owner guide), carrying the union of the corporate tags every
    staff member put on them; later rows keep each member's own tags (raw lineage)."""
    by_contact: dict[str, list[tuple[dict, dict]]] = defaultdict(list)
    for item in items:
        contact, follow = item.get("external_contact") or {}, item.get("follow_info") or {}
        if contact.get("external_userid") and follow.get("userid"):
            by_contact[contact["external_userid"]].append((contact, follow))
    rows = []
    for external_userid in sorted(by_contact):
        pairs = sorted(
            by_contact[external_userid], key=lambda p: (int(p[1].get("createtime") or 0), p[1]["userid"])
        )
        every_tag = sorted({labels[t] for _, f in pairs for t in f.get("tag_id") or [] if t in labels})
        for position, (contact, follow) in enumerate(pairs):
            own = sorted({labels[t] for t in follow.get("tag_id") or [] if t in labels})
            rows.append(
                {
                    "external_userid": external_userid,
                    "unionid": contact.get("unionid") or None,
                    "客户名称": contact.get("name") or None,
                    "客户备注": follow.get("remark") or None,
                    "性别": GENDERS.get(contact.get("gender")),
                    "添加人账号": follow["userid"],
                    "添加时间": _local_time(follow.get("createtime")),
                    "企业标签": "，".join(every_tag if position == 0 else own) or None,
                    "备注手机号": (follow.get("remark_mobiles") or [None])[0] or None,
                    "备注企业": follow.get("remark_corp_name") or None,
                }
            )
    return rows


def fetch_wecom_contacts(client: WeComClient, progress=None) -> tuple[list[dict], list[str], list[dict]]:
    """(tag groups, staff members, items) as WeCom gives them."""
    groups = client.get_corp_tag_list()
    userids = client.get_follow_user_list()
    items: list[dict] = []
    for page in client.batch_get_by_user(userids):
        items.extend(page)
        if progress:
            progress(2, 6, f"{len(items):,} contacts read from WeCom")
    return groups, userids, items


def sync_wecom_contacts(progress=None, now: dt.datetime | None = None) -> dict:
    """Read every customer of every staff member from WeCom and land them as the WeCom importer would
    (`land_wecom_contacts`). A contact already known whose owner or tags changed in WeCom is updated in
    place; nothing else is written twice, so a re-sync of unchanged data writes nothing. The pipeline then
    resolves identities (new contacts link to the customers sharing a unionid)."""

    now = now or timezone.now()
    step = progress or (lambda *args: None)
    account, secrets = wecom_account()
    source = account.settings.get("source") or "wecom"
    client = contact_client(account, secrets, patience=SYNC_PATIENCE)
    try:
        step(0, 6, "reading WeCom's corporate tags and staff members")
        groups, userids, items = fetch_wecom_contacts(client, step)
        waited = client.limiter.waited
    finally:
        client.http.close()
    labels = _mirror_corp_tags(groups, now)
    report = {
        "staff_members": len(userids),
        "corp_tags": len(labels),
        "rate_limit_wait_seconds": round(waited, 3),
        **land_wecom_contacts(items, source, labels, now=now, progress=step),
    }
    if report["relations"]:
        record_audit(None, "sync_wecom_contacts", target=source,
                     **{k: v for k, v in report.items() if isinstance(v, int)})  # fmt: skip
        step(6, 6, f"{report['contacts']:,} WeCom contacts synced")
    return report


def corp_tag_labels() -> dict[str, str]:
    """{WeCom tag id: Siyu tag label} of the corporate tags as last synced (not deleted)."""
    return {t.wecom_id: t.label for t in WeComCorpTag.objects.filter(deleted=False).exclude(tag=None)}


def wecom_items_of_contact(contact: dict) -> list[dict]:
    """batch/get_by_user-shaped items ({external_contact, follow_info}, one per staff member following the
    customer) of one contact as `WeComClient.get_external_contact` gives it."""
    person = {k: v for k, v in contact.items() if k != "follow_user"}
    return [
        {"external_contact": person,
         "follow_info": {**{k: v for k, v in follow.items() if k != "tags"},
                         "tag_id": [t["tag_id"] for t in follow.get("tags") or [] if t.get("tag_id")]}}
        for follow in contact.get("follow_user") or []
    ]  # fmt: skip


def land_wecom_contacts(items: list[dict], source: str, labels: dict[str, str] | None = None,
                        now: dt.datetime | None = None, progress=None,
                        file_name: str = "wecom-api-sync") -> dict:  # fmt: skip
    """Land batch/get_by_user-shaped items as the WeCom importer would: one batch (raw rows with lineage,
    records keyed `<source>|<external_userid>`, `external_userid` and `unionid` identifiers, contact-added
    events); records already known whose owner or tags changed are updated in place, and the customers
    they belong to get their owner guides and WeCom tags in the customers app (tags WeCom took off are
    taken off). Give every staff member's item of a customer: the first adder becomes the owner. New
    records still need a resolve (the pipeline's) to become customers. `labels`: {tag id: Siyu label}
    (default: the synced tag library)."""
    now = now or timezone.now()
    step = progress or (lambda *args: None)
    labels = corp_tag_labels() if labels is None else labels
    rows = contact_rows(items, labels)
    report = {
        "contacts": len({r["external_userid"] for r in rows}),
        "relations": len(rows),
        "batch_id": None,
        "records_new": 0,
        "records_changed": 0,
        "duplicates": 0,
    }
    if not rows:
        return report

    step(3, 6, "writing the contacts into the warehouse")
    frame = pl.DataFrame(rows, schema={c: pl.String for c in EXPORT_COLUMNS}).with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("__row__")
    )
    fmt = FORMATS["wecom"]
    fields = map_columns(fmt, list(EXPORT_COLUMNS))
    prepared = prepare_frame(Path(file_name), source, fmt, fields, frame, list(EXPORT_COLUMNS), "api")
    changed_keys: list[pa.Array] = []
    written = write_prepared(
        prepared,
        also=lambda con: changed_keys.append(
            refresh_records(con, prepared.records.select(["record_key", "owner_staff", "tags"]))
        ),
    )
    changed = changed_keys[0].to_pylist() if changed_keys else []
    report.update(batch_id=written.batch_id, records_new=written.records_new, records_changed=len(changed),
                  duplicates=written.duplicates, imported=written.imported)  # fmt: skip

    if changed:
        step(5, 6, "updating owners and tags")
        ids = _customers_of(changed)
        if ids:
            with warehouse.transaction():
                warehouse_refresh_summary(ids, now)
            report["control_plane"] = customer_actions.sync_from_warehouse(ids)
    synced_keys = [f"{source}|{r['external_userid']}" for r in rows]
    report["tags_removed"] = _remove_stale_wecom_tags(_customers_of(synced_keys))
    return report


def warehouse_refresh_summary(customer_ids: list[int], now: dt.datetime) -> None:
    refresh_customer_summary(pa.array(customer_ids, pa.int64()), now=now)


def _customers_of(record_keys: list[str]) -> list[int]:
    if not record_keys:
        return []
    con = warehouse.backend()
    keys = ibis.memtable(pa.table({"record_key": pa.array(sorted(set(record_keys)), pa.string())}))
    cmap = con.table("customer_map")
    rows = cmap.semi_join(keys, "record_key").select("customer_id").distinct().to_pyarrow()
    return sorted(rows.column("customer_id").to_pylist())


def _remove_stale_wecom_tags(customer_ids: list[int]) -> int:
    """Take off the imported WeCom tags that no record of the customer carries any more (WeCom took
    them off). Tags an operator added by hand stay."""
    wecom_tags = {t.wecom_id: t for t in WeComCorpTag.objects.exclude(tag=None).select_related("tag__group")}
    if not customer_ids or not wecom_tags:
        return 0
    by_tag_pk = {row.tag.pk: row.tag for row in wecom_tags.values()}
    links = defaultdict(set)  # tag pk -> customers having it as an imported tag
    for start in range(0, len(customer_ids), 2_000):
        chunk = customer_ids[start : start + 2_000]
        for cid, tag_pk in CustomerTag.objects.filter(
            customer_id__in=chunk, tag_id__in=by_tag_pk, source=CustomerTag.Source.IMPORT
        ).values_list("customer_id", "tag_id"):
            links[tag_pk].add(cid)
    if not links:
        return 0
    con = warehouse.backend()
    ids = ibis.memtable(pa.table({"customer_id": pa.array(customer_ids, pa.int64())}))
    cs = con.table("customer_summary").semi_join(ids, "customer_id")
    carried = defaultdict(set)
    for row in cs.select("customer_id", "tags").to_pyarrow().to_pylist():
        carried[row["customer_id"]] = set(row["tags"] or [])
    removed = 0
    for tag_pk, holders in links.items():
        label = str(by_tag_pk[tag_pk])
        stale = sorted(c for c in holders if label not in carried.get(c, set()))
        if stale:
            removed += customer_actions.remove_tag(None, stale, str(tag_pk))
    return removed


def run_wecom_sync(progress) -> dict:
    """The WeCom contact sync as a job runs it (siyu.pipeline resolves what it brought); schedules the next
    run when the account asks for a periodic sync."""
    try:
        return sync_wecom_contacts(progress)
    except ProviderError as exc:
        raise EngagementError(f"WeCom refused the sync: {exc}") from exc
    finally:
        schedule_wecom_sync()


def sync_interval() -> dt.timedelta | None:
    account = queries.account_of(Channel.WECOM)
    if account is None or not account.enabled:
        return None
    try:
        hours = float(account.settings.get("sync_every_hours") or 0)
    except ValueError:
        return None
    return dt.timedelta(hours=hours) if hours > 0 else None


def schedule_wecom_sync(now: dt.datetime | None = None) -> dt.datetime | None:
    """Queue the next scheduled sync (`sync_every_hours` of the WeCom account) unless one is waiting.
    Returns when it will run (None: no schedule)."""
    from siyu.engagement.messaging.tasks import run_scheduled_wecom_sync  # the task module imports this one

    every = sync_interval()
    if every is None or not can_defer():
        return None
    with schedule_lock(run_scheduled_wecom_sync):  # processes starting together leave one waiting run
        waiting = next_waiting_run(run_scheduled_wecom_sync)
        if waiting is not None:
            return waiting
        at = (now or timezone.now()) + every
        run_scheduled_wecom_sync.using(run_after=at).enqueue()
    return at


def mark_wecom_tag(actor, customer_ids: list[int], label: str, remove: bool = False) -> dict:
    """Put a WeCom corporate tag on customers (or take it off) in WeCom itself (mark_tag, as each
    customer's owner staff member sees them) and in Siyu. The tag must be in WeCom's library (synced)."""
    corp = [
        t for t in WeComCorpTag.objects.filter(deleted=False).select_related("tag__group") if t.label == label
    ]
    if not corp:
        raise EngagementError(f"{label!r} is not a WeCom corporate tag (sync WeCom contacts first)")
    try:
        ids = sorted({int(i) for i in customer_ids})
    except (TypeError, ValueError) as exc:
        raise EngagementError("customer ids must be whole numbers") from exc
    if actor is not None:
        customer_queries.check_access(actor, ids)
    account, secrets = wecom_account()
    source = account.settings.get("source") or "wecom"
    contacts = queries.addresses_for(ids, "wecom")
    client = contact_client(account, secrets)
    marked, failed = [], {}
    try:
        for cid in ids:
            found = contacts.get(cid)
            if (
                found is None
                or not found.fields.get("sender")
                or not found.record_key.startswith(source + "|")
            ):
                failed[cid] = "not a WeCom contact"
                continue
            tag_ids = [corp[0].wecom_id]
            try:
                client.mark_tag(found.fields["sender"], found.fields["external_userid"],
                                add=[] if remove else tag_ids, remove=tag_ids if remove else [])  # fmt: skip
            except ProviderError as exc:
                failed[cid] = str(exc)
                continue
            marked.append(cid)
    finally:
        client.http.close()
    if marked:
        if remove:
            customer_actions.remove_tag(actor, marked, str(corp[0].tag.pk))
        else:
            customer_actions.add_tag(actor, marked, label, source=CustomerTag.Source.IMPORT)
    return {"marked": len(marked), "failed": failed}


# --- WeCom customer transfer (在职继承) ---------------------------------------------------------------------

TRANSFER_WINDOW = dt.timedelta(days=90)
TRANSFERS_IN_WINDOW = 2


def transfer_limit_reached(external_userids, now: dt.datetime) -> set[str]:
    """The customers Siyu already transferred TRANSFERS_IN_WINDOW times within TRANSFER_WINDOW before `now`
    (在职 and 离职继承 alike: WeCom counts both): a further transfer is refused without asking WeCom."""
    wanted = sorted(set(external_userids))
    counts: dict[str, int] = defaultdict(int)
    for start in range(0, len(wanted), 2_000):
        for ext in WeComTransfer.objects.filter(
            transferred_at__gt=now - TRANSFER_WINDOW, external_userid__in=wanted[start : start + 2_000]
        ).values_list("external_userid", flat=True):
            counts[ext] += 1
    return {ext for ext, n in counts.items() if n >= TRANSFERS_IN_WINDOW}


def record_wecom_transfer(actor, customer_id, external_userid: str, handover: str, takeover: str,
                          at: dt.datetime) -> WeComTransfer:  # fmt: skip
    """Remember a transfer WeCom accepted to make (it counts towards the two-in-90-days limit)."""
    return WeComTransfer.objects.create(
        customer_id=customer_id, external_userid=external_userid, handover_userid=handover, takeover_userid=takeover,
        transferred_at=at, transferred_by=actor if getattr(actor, "is_authenticated", False) else None,
    )  # fmt: skip


def transfer_wecom_customers(actor, customer_ids: list[int], to_user, message: str = "", now=None) -> dict:
    """Hand customers to another guide in WeCom (transfer_customer) and make that guide their owner in
    Siyu. WeCom allows a customer at most two transfers in 90 days: a customer Siyu already transferred
    twice in that window is refused here without asking WeCom, and WeCom's own per-customer refusals
    (transfers made elsewhere) are reported. Returns {"transferred": [...], "refused": {customer: why}}."""

    now = now or timezone.now()
    if actor is not None and not has_role(actor, ASSIGN_ROLES):

        raise PermissionDenied("only an admin, operator or store manager can transfer customers")
    takeover = getattr(getattr(to_user, "staff", None), "wecom_userid", "") or ""
    if not takeover:
        raise EngagementError("the receiving guide has no WeCom userid")
    try:
        ids = sorted({int(i) for i in customer_ids})
    except (TypeError, ValueError) as exc:
        raise EngagementError("customer ids must be whole numbers") from exc
    if actor is not None:
        customer_queries.check_access(actor, ids)
    account, secrets = wecom_account()
    contacts = queries.addresses_for(ids, "wecom")
    limited = transfer_limit_reached(
        [c.fields["external_userid"] for c in contacts.values() if c.fields.get("external_userid")], now
    )
    refused: dict[int, str] = {}
    by_handover: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for cid in ids:
        found = contacts.get(cid)
        if found is None or not found.fields.get("sender"):
            refused[cid] = "not a WeCom contact of any staff member"
        elif found.fields["sender"] == takeover:
            refused[cid] = "already with this guide"
        elif found.fields["external_userid"] in limited:
            refused[cid] = "transferred twice in the last 90 days (WeCom's limit)"
        else:
            by_handover[found.fields["sender"]].append((cid, found.fields["external_userid"]))
    transferred = []
    client = contact_client(account, secrets)
    try:
        for handover, pairs in by_handover.items():
            for start in range(0, len(pairs), 100):
                chunk = pairs[start : start + 100]
                try:
                    codes = client.transfer_customer(handover, takeover, [e for _, e in chunk], message)
                except ProviderError as exc:
                    refused.update({cid: str(exc) for cid, _ in chunk})
                    continue
                for cid, ext in chunk:
                    code = codes.get(ext, -1)
                    if code != 0:
                        refused[cid] = f"WeCom refused the transfer (errcode {code})"
                        continue
                    record_wecom_transfer(actor, cid, ext, handover, takeover, now)
                    transferred.append(cid)
    finally:
        client.http.close()
    if transferred:
        assign_owner(actor, transferred, to_user)
        record_audit(actor, "transfer_wecom_customers", target=takeover, customers=len(transferred))
    return {"transferred": transferred, "refused": refused}


# --- WeCom welcome messages ---------------------------------------------------------------------------------


def customer_of_record(record_key: str) -> int | None:
    cmap = warehouse.backend().table("customer_map")
    rows = cmap.filter(cmap.record_key == record_key).select("customer_id").limit(1).to_pyarrow().to_pylist()
    return rows[0]["customer_id"] if rows else None


def send_welcome_message(event: dict, account: ChannelAccount) -> Send | None:
    """The add-contact callback carried a WelcomeCode: put the account's welcome text and material in the
    outbox (the contact policy sees it: an opted-out customer gets none) and deliver it at once, since the
    code is valid for 20 seconds. None when neither is configured or the event has no code."""
    text = (account.settings.get("welcome_text") or "").strip()
    material = account.settings.get("welcome_material")
    code = event.get("welcome_code") or ""
    if not (text or material) or not code or event.get("event_type") != "wecom_contact_added":
        return None
    source = account.settings.get("source") or "wecom"
    send = enqueue_send(
        SendRequest(
            idempotency_key=f"wecom-welcome:{code}"[:200],
            channel=Channel.WECOM_WELCOME,
            customer_id=customer_of_record(f"{source}|{event['external_userid']}"),
            member=(event["properties"].get("staff") or "")[:64],
            content=text,
            variables={
                "welcome_code": code,
                "external_userid": event["external_userid"],
                **({"material_id": int(material)} if material else {}),
            },  # fmt: skip
            marketing=False,
            priority=100,
        )
    )
    if send.status == Send.Status.QUEUED:
        deliver_due_sends(only=[send.pk])
        send.refresh_from_db()
    return send


# --- SMS delivery receipts and replies ------------------------------------------------------------------------

# Replies that mean "stop": the carriers' and brands' usual unsubscribe words, compared after NFKC,
# case folding and dropping spaces and punctuation; a reply containing 退订 / 拒收 / 取消订阅 counts too.
UNSUBSCRIBE_WORDS = frozenset({"TD", "T", "N", "R", "退订", "退", "拒收", "取消订阅", "STOP", "UNSUBSCRIBE"})
UNSUBSCRIBE_PHRASES = ("退订", "拒收", "取消订阅")
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def is_unsubscribe(text: str | None) -> bool:
    cleaned = _NOT_WORD.sub("", unicodedata.normalize("NFKC", text or "")).upper()
    return cleaned in UNSUBSCRIBE_WORDS or any(p in cleaned for p in UNSUBSCRIBE_PHRASES)


def _platform_time(text, default: dt.datetime) -> dt.datetime:
    if isinstance(text, int | float) and text > 0:
        return dt.datetime.fromtimestamp(text, dt.UTC)
    try:
        return (
            dt.datetime.strptime(str(text), "%Y-%m-%d %H:%M:%S")
            .replace(tzinfo=PLATFORM_TZ)
            .astimezone(dt.UTC)
        )
    except ValueError:
        return default


def record_sms_receipts(provider: str, reports: list[dict], now: dt.datetime | None = None) -> dict:
    """Delivery reports pushed by Aliyun (SmsReport) or Tencent Cloud (status callback): each names the
    send by the id the provider gave it (Aliyun BizId + our OutId; Tencent SerialNo `sid`). A report for
    no send of ours is counted and ignored. Returns {"matched", "unknown", "events"}."""
    now = now or timezone.now()
    wanted = []
    for report in reports:
        if provider == "aliyun":
            message_id, out_id = str(report.get("biz_id") or ""), str(report.get("out_id") or "")
            ok = report.get("success") in (True, "true", "True")
            code, at = report.get("err_code") or "", _platform_time(report.get("report_time"), now)
        else:
            message_id, out_id = str(report.get("sid") or ""), ""
            ok = str(report.get("report_status") or "").upper() == "SUCCESS"
            code, at = report.get("errmsg") or "", _platform_time(report.get("user_receive_time"), now)
        wanted.append((message_id, out_id, ok, code, at))
    sends = {s.provider_message_id: s for s in Send.objects.filter(
        channel=Channel.SMS, provider_message_id__in=[w[0] for w in wanted if w[0]])}  # fmt: skip
    receipts, unknown = [], 0
    for message_id, out_id, ok, code, at in wanted:
        send = sends.get(message_id)
        if send is None or (out_id and out_id != str(send.pk)):  # Aliyun echoes OutId: both must agree
            unknown += 1
            continue
        receipts.append((send, "delivered" if ok else "failed", at, {"provider": provider, "code": code}))
    events = record_receipts(receipts)
    return {"matched": len(receipts), "unknown": unknown, "events": events}


def customers_with_phone(phone: str) -> tuple[list[int], str | None]:
    """The customers whose mobile number this is (by its keyed hash), and one record holding it (None when
    only a correction says so). A customer's phone is what their records hold in full, unless they corrected
    it (PIPL art. 46, siyu.customers.actions.correct_profile): then it is the corrected number only — the
    person's own word beats what a channel sent, for sign-in and SMS replies alike (docs/privacy.md)."""

    normal = normalise_phone(phone)
    if normal is None or normal.kind != "mobile":
        return [], None
    phone_hash = pii.keyed_hash(normal.value)
    con = warehouse.backend()
    records = con.table("records")
    records = records.filter(records.phone_hash == phone_hash)
    rows = (
        records.inner_join(con.table("customer_map"), "record_key")
        .select("customer_id", "record_key")
        .order_by("record_key")
        .to_pyarrow()
        .to_pylist()
    )
    by_records = {r["customer_id"] for r in rows}
    corrected = customer_queries.corrected_hashes("phone", by_records)
    found = {cid for cid in by_records if corrected.get(cid, phone_hash) == phone_hash}
    found |= customer_queries.corrected_to("phone", phone_hash)
    record_key = next((r["record_key"] for r in rows if r["customer_id"] in found), None)
    return sorted(found), record_key


def record_sms_replies(provider: str, replies: list[dict], now: dt.datetime | None = None) -> dict:
    """Replies pushed by Aliyun (SmsUp) or Tencent Cloud (reply callback): each becomes a `message_replied`
    event of the customers holding that number; an unsubscribe reply (TD, T, 退订 …) records an SMS
    opt-out for each of them, with the provider and the reply time as its source and time, which the
    contact policy honours on every later send."""
    now = now or timezone.now()
    rows, opted_out, unknown = [], 0, 0
    for reply in replies:
        if provider == "aliyun":
            phone, text = str(reply.get("phone_number") or ""), str(reply.get("content") or "")
            at = _platform_time(reply.get("send_time"), now)
        else:
            nation = str(reply.get("nationcode") or "86")
            phone = str(reply.get("mobile") or "")
            phone = phone if nation == "86" else f"+{nation}{phone}"
            text, at = str(reply.get("text") or ""), _platform_time(reply.get("time"), now)
        at = min(at, now)  # a provider clock ahead of ours must not date an opt-out in the future
        customers, record_key = customers_with_phone(phone)
        if not customers:
            unknown += 1
            continue
        unsubscribe = is_unsubscribe(text)
        digest = hashlib.sha256(f"{provider}|{phone}|{at.isoformat()}|{text}".encode()).hexdigest()[:32]
        rows.append(
            {
                "event_key": f"sms-reply:{digest}",
                "source": "engagement",
                "record_key": record_key,
                "event_type": "message_replied",
                "occurred_at": at,
                "properties": {
                    "channel": "sms",
                    "provider": provider,
                    "customer_ids": customers,
                    "text": text[:500],
                    "unsubscribe": unsubscribe,
                },
            }  # fmt: skip
        )
        if unsubscribe:
            for cid in customers:
                if _sms_opted_out(cid):
                    continue
                customer_actions.record_consent(
                    None,
                    cid,
                    "sms",
                    Consent.Status.OPT_OUT,
                    f"SMS reply {text.strip()[:40]!r} ({provider})",
                    at=at,
                )
                opted_out += 1
    written = append_events(rows)
    return {"replies": len(replies), "events": written, "opted_out": opted_out, "unknown": unknown}


def _sms_opted_out(customer_id: int) -> bool:
    latest = (
        Consent.objects.filter(customer_id=customer_id, channel="sms").order_by("-recorded_at", "-pk").first()
    )
    return latest is not None and latest.status == Consent.Status.OPT_OUT


def parse_push(body: bytes) -> list[dict]:
    """A provider's push body: a JSON array of reports, or one object (Tencent's reply)."""
    try:
        data = json.loads(body or b"[]")
    except ValueError as exc:
        raise EngagementError("the push is not JSON") from exc
    items = data if isinstance(data, list) else [data]
    if not all(isinstance(i, dict) for i in items):
        raise EngagementError("the push is not a list of objects")
    return items
