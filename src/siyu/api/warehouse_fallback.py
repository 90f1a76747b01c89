"""STOPGAP until `siyu.ingest.actions.ingest_api_records` exists: append API orders/events to the warehouse.

`siyu.api.ingest.ingest_api_records` calls the real ingest when it is there and this module only when it is
not. It writes the same tables an import writes (records, identifiers, orders, order_items, events) through
Ibis, in one warehouse transaction, with a minimal normalisation (phone -> +86…, email lower-case). It does
not resolve identities: the new record joins a customer at the next `siyu resolve`.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime

import pyarrow as pa

from siyu import warehouse
from siyu.core import pii
from siyu.warehouse.schema import TABLES

_SEPARATORS = re.compile(r"[\s\-()]")
_CN_MOBILE = re.compile(r"1\d{10}")
_PURCHASED = (
    "交易成功",
    "已完成",
    "完成",
    "已签收",
    "已收货",
    "completed",
    "complete",
    "paid",
    "success",
    "已付款",
    "已支付",
)
_CANCELLED = ("关闭", "取消", "退款", "closed", "cancel", "refund")


def normalise_phone(raw: str | None) -> tuple[str | None, str | None]:
    """-> (normalised value, kind). Chinese mobiles become +86XXXXXXXXXXX."""
    if not raw or not raw.strip():
        return None, None
    compact = _SEPARATORS.sub("", raw.strip())
    for prefix in ("+86", "0086"):
        if compact.startswith(prefix):
            compact = compact[len(prefix) :]
    if len(compact) == 13 and compact.startswith("86"):
        compact = compact[2:]
    if _CN_MOBILE.fullmatch(compact):
        return "+86" + compact, "mobile"
    return raw.strip(), "other"


def classify_status(status: str | None) -> str:
    text = (status or "").strip().lower()
    if any(word in text for word in _CANCELLED):
        return "cancelled"
    if any(word in text for word in _PURCHASED):
        return "purchase"
    return "pending"


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def _append(backend, name: str, rows: list[dict]) -> None:
    if not rows:
        return
    schema = TABLES[name].to_pyarrow()
    table = pa.Table.from_pylist([{col: row.get(col) for col in schema.names} for row in rows], schema=schema)
    backend.insert(name, table)


def _identity_rows(source: str, row: dict, record_key: str) -> tuple[dict, list[dict]]:
    """Record columns for who the row is about, and its identifiers."""
    phone, phone_kind = normalise_phone(row.get("phone"))
    email = (row.get("email") or "").strip().lower() or None
    name = (row.get("name") or "").strip() or None
    address = (row.get("address") or "").strip() or None
    identifiers = []
    if phone:
        identifiers.append(("phone", phone))
    if email:
        identifiers.append(("email", email))
    for key, value in row.items():
        if key.startswith("id:") and value not in (None, ""):
            identifiers.append((key[3:], str(value).strip()))
    record = {
        "name_hash": pii.keyed_hash(name),
        "name_masked": pii.mask_name(name),
        "phone_hash": pii.keyed_hash(phone),
        "phone_masked": pii.mask_phone(phone),
        "phone_tail": phone[-4:] if phone and phone_kind == "mobile" else None,
        "phone_kind": phone_kind,
        "email_hash": pii.keyed_hash(email),
        "email_masked": pii.mask_email(email),
        "store": row.get("store"),
        "owner_staff": row.get("guide"),
        "pii": pii.encrypt_json({"name": name, "phone": phone, "email": email, "address": address}),
    }
    id_rows = [
        {
            "record_key": record_key,
            "source": source,
            "id_type": id_type,
            "value_hash": pii.keyed_hash(value),
            "strong": True,
        }
        for id_type, value in identifiers
    ]
    return record, id_rows


def append_api_records_until_ingest_is_wired(source: str, kind: str, rows: list[dict]) -> dict:
    now = datetime.now(UTC)
    batch_id = f"api-{uuid.uuid4().hex}"
    records, identifiers, orders, items, events = [], [], [], [], []
    for row in rows:
        if kind == "order":
            record_id = row["order_id"]
        else:
            record_id = row.get("record_id") or row.get("event_id") or uuid.uuid4().hex
        record_key = f"{source}|{record_id}"
        identity, id_rows = _identity_rows(source, row, record_key)
        seen_at = _utc(row.get("order_time") or row.get("occurred_at"))
        records.append(
            {
                "record_key": record_key,
                "source": source,
                "format": "api",
                "record_kind": kind,
                "record_id": record_id,
                "batch_id": batch_id,
                "seen_at": seen_at,
                "imported_at": now,
                **identity,
            }
        )
        identifiers.extend(id_rows)
        if kind == "order":
            order_key = f"{source}|{row['order_id']}"
            orders.append(
                {
                    "order_key": order_key,
                    "source": source,
                    "format": "api",
                    "order_id": row["order_id"],
                    "record_key": record_key,
                    "status_raw": row.get("status"),
                    "status_class": classify_status(row.get("status")),
                    "order_time": seen_at,
                    "paid_time": _utc(row.get("paid_time")),
                    "amount": row.get("amount"),
                    "store": row.get("store"),
                    "guide": row.get("guide"),
                    "batch_id": batch_id,
                    "updated_at": now,
                }
            )
            for number, item in enumerate(row.get("items") or [], start=1):
                items.append({"order_key": order_key, "item_key": f"{order_key}|{number}", **item})
        else:
            events.append(
                {
                    "event_key": f"{source}|{row.get('event_id') or record_id}",
                    "source": source,
                    "record_key": record_key,
                    "event_type": row["event_type"],
                    "occurred_at": seen_at,
                    "properties": json.dumps(row.get("properties") or {}, ensure_ascii=False, default=str),
                    "batch_id": batch_id,
                }
            )
    backend = warehouse.backend()
    with warehouse.transaction():
        _append(backend, "records", records)
        _append(backend, "identifiers", identifiers)
        _append(backend, "orders", orders)
        _append(backend, "order_items", items)
        _append(backend, "events", events)
    return {
        "batch_id": batch_id,
        "records": len(records),
        "orders": len(orders),
        "order_items": len(items),
        "events": len(events),
        "resolved": False,
        "writer": "api stopgap (siyu.ingest.actions.ingest_api_records not found)",
    }
