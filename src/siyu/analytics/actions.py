"""Every change analytics makes: channel spend entered, imported or deleted. Each checks the caller's role
and the rows, and writes an audit log entry."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import date
from decimal import Decimal, InvalidOperation

from django.db import transaction

from siyu.analytics.errors import InvalidSpend
from siyu.analytics.groups import list_path
from siyu.analytics.models import ChannelSpend
from siyu.core.actions import record_audit
from siyu.staff.queries import check_analytics_access

MAX_AMOUNT = Decimal("999999999999.99")
CHANNEL_NAME = re.compile(r"^[\w.\-]{1,100}$")
SPEND_CSV_COLUMNS = ("channel", "date_from", "date_to", "amount")
# The Chinese headings a spend file may use instead (as the Chinese console names the columns)
SPEND_CSV_HEADINGS = {
    "渠道": "channel",
    "开始日期": "date_from",
    "结束日期": "date_to",
    "金额": "amount",
    "备注": "note",
}


def _as_date(value, name: str) -> date:
    if isinstance(value, date):
        return value
    text = str(value or "").strip().replace("/", "-")
    try:
        year, month, day = (int(part) for part in text.split("-"))
        return date(year, month, day)
    except (ValueError, TypeError) as exc:
        raise InvalidSpend(f"{name} must be a date like 2026-01-31, not {text[:40]!r}") from exc


def _as_amount(value) -> Decimal:
    text = str(value if value is not None else "").strip().replace(",", "").replace("¥", "").replace("￥", "")
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:
        raise InvalidSpend(f"amount must be a number of yuan, not {text[:40]!r}") from exc
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
        raise InvalidSpend(f"amount must be between 0 and {MAX_AMOUNT} yuan")
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidSpend("amount has more than two decimals (fen)")
    return amount.quantize(Decimal("0.01"))


def _checked_spend(channel, date_from, date_to, amount, note) -> ChannelSpend:
    channel = str(channel or "").strip()
    if not CHANNEL_NAME.match(channel):
        raise InvalidSpend(
            "channel must be the source name used at import (letters, digits, _ . -), e.g. tmall or douyin"
        )
    start, end = _as_date(date_from, "date_from"), _as_date(date_to, "date_to")
    if start > end:
        raise InvalidSpend(f"date_from {start} is after date_to {end}")
    if (end - start).days > 3660:
        raise InvalidSpend("a spend period is at most ten years long")
    note = str(note or "").strip()
    if len(note) > 200:
        raise InvalidSpend("note is longer than 200 characters")
    return ChannelSpend(channel=channel, date_from=start, date_to=end, amount=_as_amount(amount), note=note)


def _check_no_overlap(spend: ChannelSpend, pending: list[ChannelSpend]) -> None:
    clash = ChannelSpend.objects.filter(
        channel=spend.channel, date_from__lte=spend.date_to, date_to__gte=spend.date_from
    ).first()
    clash = clash or next(
        (
            p
            for p in pending
            if p.channel == spend.channel and p.date_from <= spend.date_to and p.date_to >= spend.date_from
        ),
        None,
    )
    if clash is not None:
        raise InvalidSpend(
            f"{spend.channel} already has spend for {clash.date_from}–{clash.date_to}, which overlaps "
            f"{spend.date_from}–{spend.date_to}: counting both would count money twice"
        )


def record_spend(user, channel, date_from, date_to, amount, note: str = "") -> ChannelSpend:
    check_analytics_access(user)
    spend = _checked_spend(channel, date_from, date_to, amount, note)
    with transaction.atomic():
        _check_no_overlap(spend, [])
        spend.created_by = user
        spend.save()
        record_audit(
            user, "analytics.spend_recorded", spend.pk, channel=spend.channel, amount=str(spend.amount)
        )
    return spend


def delete_spend(user, spend_id: int) -> bool:
    check_analytics_access(user)
    deleted, _ = ChannelSpend.objects.filter(pk=spend_id).delete()
    if deleted:
        record_audit(user, "analytics.spend_deleted", spend_id)
    return bool(deleted)


def import_spend_csv(user, content: bytes) -> list[ChannelSpend]:
    """Spend rows from a CSV with the columns channel,date_from,date_to,amount[,note] (or their Chinese
    headings, SPEND_CSV_HEADINGS; UTF-8, with or without BOM, or GB18030): all rows are saved, or none
    when any row is wrong (the error names it)."""
    check_analytics_access(user)
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("gb18030", errors="replace")
    reader = csv.DictReader(io.StringIO(text))
    header = [SPEND_CSV_HEADINGS.get(h.strip(), h.strip()) for h in reader.fieldnames or []]
    missing = [c for c in SPEND_CSV_COLUMNS if c not in header]
    if missing:
        raise InvalidSpend(
            f"the spend file needs the columns {', '.join(SPEND_CSV_COLUMNS)}[, note]; missing {', '.join(missing)}"
        )
    pending: list[ChannelSpend] = []
    for line, row in enumerate(reader, start=2):
        row = {SPEND_CSV_HEADINGS.get((k or "").strip(), (k or "").strip()): v for k, v in row.items()}
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        try:
            spend = _checked_spend(
                row["channel"], row["date_from"], row["date_to"], row["amount"], row.get("note")
            )
            _check_no_overlap(spend, pending)
        except InvalidSpend as exc:
            raise InvalidSpend(f"line {line}: {exc}") from exc
        spend.created_by = user
        pending.append(spend)
    if not pending:
        raise InvalidSpend("the spend file has no rows")
    with transaction.atomic():
        ChannelSpend.objects.bulk_create(pending)
        record_audit(user, "analytics.spend_imported", "", rows=len(pending))
    return pending


def save_customer_list(user, group) -> str:
    """Keep a list of customer ids (a `CustomerGroup` from an upload or the API) for page 8 and its
    exports; returns its id."""

    check_analytics_access(user)
    list_id = uuid.uuid4().hex
    path = list_path(list_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    label = re.sub(r"[\r\n]", " ", group.label)[:200]
    path.write_text(
        label + "\n" + "\n".join(str(i) for i in sorted(group.customer_ids)) + "\n", encoding="utf-8"
    )
    record_audit(
        user, "analytics.customer_list_saved", list_id, name=label, customers=len(group.customer_ids)
    )
    return list_id
