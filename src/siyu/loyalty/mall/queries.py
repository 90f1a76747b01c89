"""Read side of the rewards mall: items on sale for a member, redemptions, and the fulfilment list (the
shipping address decrypted only for roles that may see PII, masked otherwise)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import xlsxwriter
from django.db.models import Q, Sum
from django.utils import timezone

from siyu.core import pii
from siyu.core.spreadsheet import formula_safe_writer
from siyu.loyalty.mall.models import ItemStatus, MallItem, MallRedemption, RedemptionStatus
from siyu.staff.queries import can_view_pii


@dataclass(frozen=True)
class ItemForMember:
    item: MallItem
    redeemed: int  # how many this member holds
    may_redeem: int  # how many more this member may redeem now (stock and limit)


def on_sale(now=None):
    now = now or timezone.now()
    return (MallItem.objects.filter(status=ItemStatus.ON_SALE)
            .filter(Q(starts_at=None) | Q(starts_at__lte=now)).filter(Q(ends_at=None) | Q(ends_at__gt=now)))  # fmt: skip


def items_for(customer_id: int, now=None) -> list[ItemForMember]:
    """The items on sale now, with what this member may still redeem of each."""
    items = list(on_sale(now).order_by("points_price", "pk"))
    held = dict(MallRedemption.objects.filter(customer_id=customer_id, item__in=items)
                .exclude(status=RedemptionStatus.CANCELLED).values("item_id")
                .annotate(n=Sum("quantity")).values_list("item_id", "n"))  # fmt: skip
    out = []
    for item in items:
        redeemed = held.get(item.pk, 0)
        left = item.stock if item.per_member_limit is None else min(item.stock, item.per_member_limit - redeemed)
        out.append(ItemForMember(item=item, redeemed=redeemed, may_redeem=max(left, 0)))
    return out


def redemptions(*, status: str = "", item_id: int | None = None, customer_id: int | None = None):
    found = MallRedemption.objects.select_related("item")
    if status:
        found = found.filter(status=status)
    if item_id:
        found = found.filter(item_id=item_id)
    if customer_id:
        found = found.filter(customer_id=customer_id)
    return found.order_by("-created_at", "-pk")


def address_of(redemption: MallRedemption, user) -> dict | None:
    """The shipping address as the member entered it for roles that may see PII; masked for the others."""
    address = pii.decrypt_json(redemption.address_cipher) if redemption.address_cipher else None
    if address is None or can_view_pii(user):
        return address
    return {**address, "name": pii.mask_name(address.get("name")), "phone": pii.mask_phone(address.get("phone")),
            "detail": "****" if address.get("detail") else "", "postcode": ""}  # fmt: skip  (province, city, district kept)


def address_line(address: dict | None) -> str:
    if not address:
        return ""
    return "".join(address.get(f) or "" for f in ("province", "city", "district")) + (address.get("detail") or "")


# --- the fulfilment list ----------------------------------------------------------------------------------

FULFILMENT_COLUMNS = ("redemption_id", "redeemed_at", "item", "quantity", "customer_id", "recipient", "phone",
                      "address", "postcode", "cash", "status", "carrier", "tracking_no")  # fmt: skip


def fulfilment_rows(user, *, status: str = RedemptionStatus.TO_SHIP) -> list[dict]:
    """The gifts to ship (or of `status`), oldest first, with the address (masked for roles without PII)."""
    found = redemptions(status=status).filter(item__needs_address=True).order_by("created_at", "pk")
    rows = []
    for r in found:
        address = address_of(r, user) or {}
        rows.append({
            "redemption_id": r.pk, "redeemed_at": timezone.localtime(r.created_at).strftime("%Y-%m-%d %H:%M"),
            "item": r.item.name, "quantity": r.quantity, "customer_id": r.customer_id,
            "recipient": address.get("name") or "", "phone": address.get("phone") or "",
            "address": address_line(address), "postcode": address.get("postcode") or "", "cash": str(r.cash),
            "status": r.status, "carrier": r.carrier, "tracking_no": r.tracking_no,
        })  # fmt: skip
    return rows


def fulfilment_csv(rows: list[dict], headers: dict[str, str]) -> bytes:
    """UTF-8 with BOM (Excel reads the Chinese), one header row of `headers`' words, formula-safe cells."""
    out = io.StringIO()
    writer = formula_safe_writer(out, lineterminator="\r\n")
    writer.writerow([headers.get(c, c) for c in FULFILMENT_COLUMNS])
    for row in rows:
        writer.writerow([row[c] for c in FULFILMENT_COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def fulfilment_xlsx(rows: list[dict], headers: dict[str, str]) -> bytes:
    """One sheet; every cell written as text or a number, never as a formula."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    sheet = book.add_worksheet("fulfilment")
    for col, name in enumerate(FULFILMENT_COLUMNS):
        sheet.write_string(0, col, str(headers.get(name, name)))
    for i, row in enumerate(rows, start=1):
        for col, name in enumerate(FULFILMENT_COLUMNS):
            value = row[name]
            if isinstance(value, int) and name in ("redemption_id", "quantity"):  # ids beyond 2**53 stay text
                sheet.write_number(i, col, value)
            else:
                sheet.write_string(i, col, "" if value is None else str(value))
    book.close()
    return buffer.getvalue()
