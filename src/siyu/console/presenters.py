"""Shape `customers.queries.get_profile()` output for the profile template.

The profile dict is the customers app's contract; this module is the one place that knows its inner
shape, accepts the reasonable variants (a tag as a string or a dict, consent as a list or a mapping…) and
computes what the page needs on top (identities grouped per channel, AOV when missing).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext_lazy as _

from siyu.customers.labels import timeline_words
from siyu.members.queries import loyalty_card_of
from siyu.privacy import labels as privacy_labels

IDENTITY_FIELDS = (
    ("record_id", _("Record ID")),
    ("name", _("Name")),
    ("phone", _("Phone")),
    ("email", _("Email")),
    ("gender", _("Gender")),
    ("birthday", _("Birthday")),
    ("address", _("Address")),
    ("store", _("Store")),
    ("owner_staff", _("Guide")),
)


def _first(mapping: dict, *keys, default=None):
    for key in keys:
        value = mapping.get(key)
        if value not in (None, ""):
            return value
    return default


def _region(item: dict) -> str:
    parts = [item.get(k) for k in ("province", "city", "district")]
    return " ".join(str(p) for p in parts if p)


def identities_by_channel(identities) -> list[dict]:
    groups: dict[str, dict] = {}
    for item in identities or []:
        if not isinstance(item, dict):
            continue
        source = str(_first(item, "source", "channel", default="?"))
        group = groups.setdefault(
            source,
            {"source": source, "format": _first(item, "format", "platform", default=""), "records": []},
        )
        fields = [(label, item[key]) for key, label in IDENTITY_FIELDS if item.get(key) not in (None, "")]
        region = _region(item)
        if region:
            fields.append((_("Region"), region))
        extra = item.get("identifiers") or item.get("ids") or []
        if isinstance(extra, dict):
            extra = [{"type": k, "value": v} for k, v in extra.items()]
        for ident in extra:
            if isinstance(ident, dict):
                fields.append(
                    (str(_first(ident, "type", "id_type", default="id")), _first(ident, "value", "masked"))
                )
        group["records"].append({"fields": fields, "seen_at": _first(item, "seen_at", "imported_at")})
    return list(groups.values())


def _items(order: dict) -> list[dict]:
    out = []
    for item in order.get("items") or []:
        if isinstance(item, dict):
            out.append(
                {
                    "product": _first(item, "product", "title", "name", default=""),
                    "sku": item.get("sku") or "",
                    "quantity": item.get("quantity"),
                    "amount": item.get("amount"),
                }
            )
    return out


def orders(orders_list) -> list[dict]:
    out = []
    for order in orders_list or []:
        if not isinstance(order, dict):
            continue
        out.append(
            {
                "source": _first(order, "source", "channel", default=""),
                "format": order.get("format") or "",
                "order_id": _first(order, "order_id", "order_key", default=""),
                "time": _first(order, "order_time", "paid_time", "time"),
                "status": _first(order, "status_raw", "status", "status_class", default=""),
                "status_class": order.get("status_class") or "",
                "amount": order.get("amount"),
                "store": order.get("store") or "",
                "guide": order.get("guide") or "",
                "items": _items(order),
            }
        )
    return out


def _decimal(value):
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def totals(profile: dict) -> dict:
    source = profile.get("totals") if isinstance(profile.get("totals"), dict) else profile
    spend = _decimal(_first(source, "spend", "gmv", "total_spend"))
    count = _first(source, "orders", "order_count")
    if isinstance(count, list):
        count = len(count)
    aov = _decimal(_first(source, "aov", "average_order_value"))
    if aov is None and spend is not None and count:
        aov = (spend / int(count)).quantize(Decimal("0.01"))
    return {
        "first_purchase_at": _first(source, "first_purchase_at", "first_purchase"),
        "last_purchase_at": _first(source, "last_purchase_at", "last_purchase"),
        "orders": count,
        "spend": spend,
        "aov": aov,
    }


def tags(tag_list) -> list[dict]:
    out = []
    for tag in tag_list or []:
        if isinstance(tag, dict):
            name = _first(tag, "name", "tag", "label", default="")
            group = tag.get("group") or ""
            label = tag.get("label") or (f"{group}:{name}" if group else str(name))
            out.append(
                {
                    "name": str(name),
                    "label": label,
                    "ref": str(tag["id"]) if tag.get("id") is not None else label,
                    "source": tag.get("source") or "",
                    "removable": tag.get("removable", True),
                }
            )
        elif tag not in (None, ""):
            out.append(
                {"name": str(tag), "label": str(tag), "ref": str(tag), "source": "", "removable": True}
            )
    return out


def owner(value) -> str:
    if value in (None, ""):
        return ""
    if isinstance(value, dict):
        return str(_first(value, "display_name", "name", "username", default=""))
    return str(value)


def consent(value) -> list[dict]:
    if not value:
        return []
    if isinstance(value, dict):
        rows = []
        for channel, item in value.items():
            if isinstance(item, dict):
                rows.append({"channel": channel, **item})
            else:
                rows.append({"channel": channel, "status": item})
        value = rows
    out = []
    for item in value:
        if isinstance(item, dict):
            out.append(
                {
                    "channel": item.get("channel") or "",
                    "status": item.get("status") or "",
                    "source": item.get("source") or "",
                    "recorded_at": _first(item, "recorded_at", "at"),
                }
            )
    return out


def notes(value) -> list[dict]:
    out = []
    for item in value or []:
        if isinstance(item, dict):
            author = item.get("author")
            if isinstance(author, dict):
                author = _first(author, "display_name", "name", "username", default="")
            out.append(
                {
                    "text": item.get("text") or "",
                    "author": author or "",
                    "at": _first(item, "created_at", "at"),
                }
            )
        elif item:
            out.append({"text": str(item), "author": "", "at": None})
    return out


def timeline(value) -> list[dict]:
    out = []
    for item in value or []:
        if isinstance(item, dict):
            out.append(
                {
                    "at": _first(item, "at", "time", "occurred_at", "created_at"),
                    "kind": _first(item, "kind", "type", "event_type", default=""),
                    "text": timeline_words(item),
                    "source": item.get("source") or "",
                }
            )
    return out


def profile_page(profile: dict) -> dict:
    identities = profile.get("identities") or []
    first_identity = next((i for i in identities if isinstance(i, dict)), {})
    name = _first(profile, "name", "name_masked") or _first(first_identity, "name", default="")
    phone = _first(profile, "phone", "phone_masked") or _first(first_identity, "phone", default="")
    region = _region(profile) or _region(first_identity)
    orders_list = orders(profile.get("orders"))
    return {
        "customer_id": profile.get("customer_id"),
        "name": name,
        "phone": phone,
        "region": region,
        "channels": identities_by_channel(identities),
        "orders": orders_list,
        "order_sources": sorted({o["source"] for o in orders_list if o["source"]}),
        "totals": totals(profile),
        "acquisition_source": _first(profile, "acquisition_source", "acquisition_channel", default=""),
        "acquired_at": profile.get("acquired_at"),
        "tags": tags(profile.get("tags")),
        "stage": profile.get("stage") or "",
        "owner": owner(profile.get("owner")),
        "consent": consent(profile.get("consent")),
        "notes": notes(profile.get("notes")),
        "timeline": timeline(profile.get("timeline")),
    }


def loyalty_card(customer_id: int) -> dict:
    """The loyalty card of the profile: points, tier, coupons, check-in, surveys answered, privacy requests."""
    card = loyalty_card_of(customer_id)
    return {
        "card": card,
        "requests": [{"kind": privacy_labels.label(privacy_labels.KINDS, r.kind), "at": r.requested_at,
                      "status": privacy_labels.label(privacy_labels.STATUSES, r.status)}
                     for r in card.privacy_requests],
    }  # fmt: skip
