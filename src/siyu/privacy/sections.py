"""What the domains below privacy hold about one person, registered by privacy itself (siyu.privacy.registry):
the profile (with corrections), the records in clear, the rows as imported (decrypted from the warehouse's
raw_chunks), orders, behaviour events, consents, tags, notes and the person's own privacy requests. The
domains above privacy register theirs in their own AppConfig.ready().

Every name and header here is a gettext message in the context COPY ("copy of personal data", the privacy
catalogue's Simplified Chinese; siyu.privacy.archive builds the copy in Chinese unless asked for English)."""

from __future__ import annotations

import json

from siyu.customers import labels as customer_labels
from siyu.customers import queries as customers
from siyu.customers.models import Consent, CustomerTag, Note
from siyu.privacy import labels
from siyu.privacy.models import DataRequest
from siyu.privacy.registry import PersonData, copy_word, register
from siyu.staff.queries import display_name_of
from siyu.warehouse.raw import raw_rows_of

_w = copy_word  # a word of the copy (translated when the copy is built, in the language it is built in)


def _word(table: dict, code):
    return str(table.get(code, code)) if code is not None else None


def profile(customer_id: int) -> list[dict]:
    found = customers.own_profile(customer_id)
    if found is None:
        return []
    return [{
        "customer_id": found["customer_id"], "name": found["name"], "phone": found["phone"], "email": found["email"],
        "address": found["address"], "gender": _word(customer_labels.GENDERS, found["gender"]),
        "birthday": found["birthday"], "province": found["province"], "city": found["city"],
        "district": found["district"], "orders": found["orders"], "spend": found["spend"],
        "corrected": _w(", ").join(str(_word(CORRECTED_FIELDS, f)) for f in found["corrected"]),
    }]  # fmt: skip


# the profile fields a correction may change (siyu.customers.models.ProfileCorrection), as the copy names them
CORRECTED_FIELDS = {"name": _w("Name"), "phone": _w("Phone"), "email": _w("Email"), "address": _w("Address"),
                    "gender": _w("Gender"), "birthday": _w("Birthday")}  # fmt: skip


def corrections(customer_id: int) -> list[dict]:
    return [{"field": _word(CORRECTED_FIELDS, c["field"]), "value": c["value"], "reason": c["reason"],
             "corrected_by": c["corrected_by"], "corrected_at": c["corrected_at"]}
            for c in customers.correction_history(customer_id)]  # fmt: skip


def records(customer_id: int) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "record_key"} for r in customers.person_records(customer_id)]


def rows_as_imported(customer_id: int) -> list[dict]:
    return [{"source": r["source"], "file_name": r["file_name"], "row_number": r["row_number"],
             "record_key": r["record_key"], "columns": r["columns"]}
            for r in raw_rows_of(customers.record_keys_of(customer_id))]  # fmt: skip


def orders(customer_id: int) -> list[dict]:
    return [{**{k: v for k, v in o.items() if k not in ("items", "status_class")},
             "items": "；".join(f"{i['product'] or i['product_id'] or ''} × {i['quantity'] or 1}"
                               + (f" ¥{i['amount']}" if i["amount"] else "") for i in o["items"])}
            for o in customers.person_orders(customer_id)]  # fmt: skip


def events(customer_id: int) -> list[dict]:
    return [{"source": e["source"], "event_type": _word(customer_labels.EVENT_TYPES, e["event_type"]),
             "occurred_at": e["occurred_at"], "properties": e["properties"]}
            for e in customers.person_events(customer_id)]  # fmt: skip


def consents(customer_id: int) -> list[dict]:
    return [{"channel": _word(customer_labels.CONSENT_CHANNELS, c.channel),
             "status": _word(customer_labels.CONSENT_STATUSES, c.status), "source": c.source,
             "recorded_at": c.recorded_at, "recorded_by": display_name_of(c.recorded_by) if c.recorded_by_id else None}
            for c in Consent.objects.filter(customer_id=customer_id).select_related("recorded_by__staff")
            .order_by("recorded_at", "pk")]  # fmt: skip


def tags(customer_id: int) -> list[dict]:
    return [{"group": link.tag.group.name if link.tag.group_id else "", "tag": link.tag.name, "source": link.source,
             "tagged_at": link.created_at}
            for link in CustomerTag.objects.filter(customer_id=customer_id).select_related("tag__group")
            .order_by("created_at", "pk")]  # fmt: skip


def notes(customer_id: int) -> list[dict]:
    return [{"text": n.text, "author": display_name_of(n.author) if n.author_id else None, "created_at": n.created_at}
            for n in Note.objects.filter(customer_id=customer_id).select_related("author__staff").order_by("created_at", "pk")]  # fmt: skip


def privacy_requests(customer_id: int) -> list[dict]:
    return [{"kind": labels.label(labels.KINDS, r.kind), "status": labels.label(labels.STATUSES, r.status),
             "requested_at": r.requested_at, "due_at": r.due_at, "closed_at": r.closed_at}
            for r in DataRequest.objects.filter(customer_id=customer_id).order_by("requested_at", "pk")]  # fmt: skip


def register_sections() -> None:
    """Called by PrivacyConfig.ready()."""
    for data in (
        PersonData("profile", _w("Profile"), profile, {
            "customer_id": _w("Customer ID"), "name": _w("Name"), "phone": _w("Phone"), "email": _w("Email"),
            "address": _w("Address"), "gender": _w("Gender"), "birthday": _w("Birthday"), "province": _w("Province"),
            "city": _w("City"), "district": _w("District"), "orders": _w("Orders"), "spend": _w("Spend"),
            "corrected": _w("Fields corrected")}, order=10),
        PersonData("corrections", _w("Profile corrections"), corrections, {
            "field": _w("Field"), "value": _w("Corrected value"), "reason": _w("Reason"),
            "corrected_by": _w("Handled by"), "corrected_at": _w("Corrected at")}, order=15),
        PersonData("records", _w("Records from each channel"), records, {
            "source": _w("Source"), "record_kind": _w("Record kind"), "record_id": _w("Record ID"), "name": _w("Name"),
            "phone": _w("Phone"), "email": _w("Email"), "address": _w("Address"), "province": _w("Province"),
            "city": _w("City"), "district": _w("District"), "store": _w("Store"), "owner_staff": _w("Guide"),
            "seen_at": _w("First seen")}, order=20),
        PersonData("rows_as_imported", _w("Rows as imported"), rows_as_imported, {
            "source": _w("Source"), "file_name": _w("File name"), "row_number": _w("Row number"),
            "record_key": _w("Record"), "columns": _w("Original content")}, order=25),
        PersonData("orders", _w("Orders placed"), orders, {
            "order_id": _w("Order number"), "source": _w("Source"), "status_raw": _w("Order status"),
            "order_time": _w("Ordered at"), "paid_time": _w("Paid at"), "amount": _w("Amount"), "store": _w("Store"),
            "guide": _w("Guide"), "items": _w("Products")}, order=30),
        PersonData("events", _w("Behaviour events"), events, {
            "source": _w("Source"), "event_type": _w("Event"), "occurred_at": _w("Happened at"),
            "properties": _w("Details")}, order=35),
        PersonData("consents", _w("Consents and opt-outs"), consents, {
            "channel": _w("Channel"), "status": _w("Status"), "source": _w("Source"), "recorded_at": _w("Recorded at"),
            "recorded_by": _w("Recorded by")}, order=40),
        PersonData("tags", _w("Tags"), tags, {"group": _w("Tag group"), "tag": _w("Tag"), "source": _w("Source"),
                                              "tagged_at": _w("Tagged at")}, order=50),
        PersonData("notes", _w("Staff notes"), notes, {"text": _w("Text"), "author": _w("Author"),
                                                        "created_at": _w("Time")}, order=55),
        PersonData("privacy_requests", _w("Personal information requests"), privacy_requests, {
            "kind": _w("Kind"), "status": _w("Status"), "requested_at": _w("Submitted at"), "due_at": _w("Due at"),
            "closed_at": _w("Completed at")}, order=90),
    ):  # fmt: skip
        register(data)


def jsonable(value):
    """A value as the archive's JSON and CSV write it (dates as ISO text, decimals as text)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def cell(value) -> str | int | float | None:
    """A value as one CSV cell: nested values as JSON text."""
    value = jsonable(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value
