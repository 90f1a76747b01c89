"""Read side of messaging: channel accounts, customers' addresses, the outbox."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import pyarrow as pa
from django.db.models import Count, Min, Q

from siyu import warehouse
from siyu.core import pii
from siyu.customers.queries import corrections_of_many
from siyu.engagement.errors import ChannelNotConfigured
from siyu.engagement.messaging.channels import ADAPTERS, ChannelAdapter
from siyu.engagement.messaging.models import (
    ACCOUNT_OF,
    ChannelAccount,
    Send,
    WeComCorpTag,
    channels_of_account,
)
from siyu.ingest.normalise.phone import normalise_phone
from siyu.privacy.registry import copy_word

MAX_PAGE_SIZE = 200


def account_of(channel: str) -> ChannelAccount | None:
    return ChannelAccount.objects.filter(channel=ACCOUNT_OF.get(channel, channel)).first()


def account_secrets(account: ChannelAccount) -> dict:
    return pii.decrypt_json(account.secrets) or {} if account.secrets else {}


def wecom_corp_tag_labels() -> list[str]:
    """The labels (组名:标签) of WeCom's corporate tag library as last synced, for marking customers."""

    return sorted({t.label for t in WeComCorpTag.objects.filter(deleted=False)})


def wecom_ready() -> bool:
    """Whether the WeCom account can call the customer-contact API (tags, transfers, sync)."""
    account = account_of("wecom")
    return bool(
        account and account.enabled and account.settings.get("corp_id")
        and account_secrets(account).get("contact_secret")
    )  # fmt: skip


def adapter_for(channel: str) -> ChannelAdapter:
    account = account_of(channel)
    if account is None or not account.enabled:
        raise ChannelNotConfigured(f"no enabled account for the {channel} channel")
    adapter = ADAPTERS.get((channel, account.provider))
    if adapter is None:
        raise ChannelNotConfigured(f"{account.provider} cannot send on the {channel} channel")
    return adapter(dict(account.settings), account_secrets(account))


def account_summary(account: ChannelAccount) -> dict:
    """What the console and API show: settings, and which secrets are set (never their values)."""
    return {
        "channel": account.channel,
        "provider": account.provider,
        "enabled": account.enabled,
        "settings": dict(account.settings),
        "secrets_set": sorted(k for k, v in account_secrets(account).items() if v),
        "updated_at": account.updated_at,
        # its provider is held as unreachable (the circuit breaker in actions): sends wait for a probe
        "unreachable_since": account.outage_since if account.probe_at else None,
    }


# --- addresses -----------------------------------------------------------------------------------------


@dataclass
class Address:
    record_key: str
    fields: dict


def addresses_for(customer_ids: list[int], kind: str, source: str | None = None) -> dict[int, Address]:
    """The address of each customer on a channel kind (phone | email | wecom | openid), from the customer's
    most recently seen record that has one in full; for phone and email, a correction in force (PIPL art. 46,
    siyu.customers.actions.correct_profile) wins over the records (its record_key is "": no record holds
    it). Customers without one are missing from the answer.
    `openid`: the record ids of the import `source` holding the official account's or mini program's
    followers are their openids (openids are per app, so the account names its source)."""
    if kind in ("customer", "member") or not customer_ids:
        return {}
    if kind == "openid" and not source:
        return {}
    con = warehouse.backend()
    wanted = ibis.memtable(pa.table({"customer_id": pa.array(sorted(set(customer_ids)), pa.int64())}))
    records = con.table("records")
    if kind == "phone":
        records = records.filter(records.phone_kind == "mobile")
    elif kind == "email":
        records = records.filter(records.email_masked.notnull())
    elif kind == "wecom":
        records = records.filter((records.format == "wecom") & records.record_id.notnull())
    elif kind == "openid":
        records = records.filter((records.source == source) & records.record_id.notnull())
    cmap = con.table("customer_map").inner_join(wanted, "customer_id")
    rows = (
        cmap.inner_join(records, "record_key")
        .select("customer_id", "record_key", "record_id", "owner_staff", "pii", "seen_at")
        .order_by([ibis.desc("seen_at"), "record_key"])
        .to_pyarrow()
        .to_pylist()
    )
    found: dict[int, Address] = {}
    for row in rows:
        cid = row["customer_id"]
        if cid in found:
            continue
        if kind == "openid":
            found[cid] = Address(row["record_key"], {"openid": row["record_id"]})
            continue
        if kind == "wecom":
            found[cid] = Address(
                row["record_key"], {"external_userid": row["record_id"], "sender": row["owner_staff"] or ""}
            )
            continue
        value = (pii.decrypt_json(row["pii"]) or {}).get(kind) if row["pii"] else None
        if value and "*" not in value:
            found[cid] = Address(row["record_key"], {kind: value})
    if kind in ("phone", "email"):
        for cid, fixed in corrections_of_many(customer_ids, fields=(kind,)).items():
            value = fixed.get(kind)
            if kind == "phone" and not _is_mobile(value):
                found.pop(cid, None)  # the person's phone is a landline now: no text message reaches it
            elif value:
                found[cid] = Address("", {kind: value})
    return found


def _is_mobile(phone: str | None) -> bool:
    normal = normalise_phone(phone) if phone else None
    return normal is not None and normal.kind == "mobile"


# --- the outbox ----------------------------------------------------------------------------------------


def next_due_time() -> dt.datetime | None:
    return Send.objects.filter(status__in=(Send.Status.QUEUED, Send.Status.FAILED_RETRYABLE)).aggregate(
        at=Min("next_attempt_at")
    )["at"]


def list_sends(
    *,
    status: str | None = None,
    channel: str | None = None,
    reason: str | None = None,
    source: str | None = None,
    customer_id: int | None = None,
    page: int = 1,
    page_size: int = 50,
) -> dict:
    query = Send.objects.all()
    for name, value in (("status", status), ("channel", channel), ("reason", reason), ("source", source)):
        if value:
            query = query.filter(**{name: value})
    if customer_id is not None:
        query = query.filter(customer_id=customer_id)
    page_size = max(1, min(int(page_size), MAX_PAGE_SIZE))
    total = query.count()
    pages = max(1, -(-total // page_size))
    page = max(1, min(int(page), pages))
    items = list(query.order_by("-created_at", "-pk")[(page - 1) * page_size : page * page_size])
    return {"items": items, "total": total, "page": page, "pages": pages, "page_size": page_size}


def outbox_counts() -> dict:
    """Sends per status, and suppressions per reason."""
    by_status = dict(Send.objects.values_list("status").annotate(n=Count("pk")).order_by())
    by_reason = dict(
        Send.objects.filter(status=Send.Status.SUPPRESSED)
        .values_list("reason")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {"by_status": by_status, "by_reason": by_reason}


def unreachable_providers() -> list[dict]:
    """Channel accounts whose provider is held as unreachable (siyu.engagement.messaging.actions, the
    circuit breaker): since when, the next probe, and how many sends wait for it."""
    out = []
    for account in ChannelAccount.objects.filter(probe_at__isnull=False).order_by("channel"):
        waiting = Send.objects.filter(
            channel__in=channels_of_account(account.channel),
            status__in=(Send.Status.QUEUED, Send.Status.FAILED_RETRYABLE),
            reason="provider_down",
        ).count()
        out.append({"channel": account.channel, "provider": account.provider, "since": account.outage_since,
                    "probe_at": account.probe_at, "waiting": waiting})  # fmt: skip
    return out


def failed_send_count() -> int:
    """Sends a provider refused for good: nobody retries them, a person has to look."""
    return Send.objects.filter(status=Send.Status.FAILED_PERMANENT).count()


def pending_wecom_receipts(before: dt.datetime, since: dt.datetime) -> dict[tuple[str, str], list[Send]]:
    """WeCom mass sends whose per-customer result is not known yet, grouped by (msgid, sender)."""
    rows = Send.objects.filter(
        Q(receipt_checked_at__isnull=True) | Q(receipt_checked_at__lt=before),
        channel="wecom",
        status=Send.Status.SENT,
        receipt="",
        sent_at__gte=since,
    ).exclude(provider_message_id="")
    groups: dict[tuple[str, str], list[Send]] = {}
    for send in rows:
        groups.setdefault((send.provider_message_id, send.sender), []).append(send)
    return groups


def person_sends(customer_id: int) -> list[dict]:
    """Every message to the customer (queued, suppressed, sent or failed), oldest first, with its words, for
    the person's copy of their data (siyu.privacy.registry)."""
    sends = Send.objects.filter(customer_id=int(customer_id)).order_by("scheduled_at", "pk")
    return [{"channel": s.get_channel_display(), "source": s.get_source_display(), "marketing": copy_word("Yes") if s.marketing else copy_word("No"),
             "template": s.template, "subject": s.subject, "content": s.content, "variables": s.variables,
             "status": s.get_status_display(), "scheduled_at": s.scheduled_at, "sent_at": s.sent_at} for s in sends]  # fmt: skip
