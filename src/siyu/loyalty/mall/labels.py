"""The words operators read in the rewards mall: item kinds and statuses, redemption statuses, the fulfilment
list's column headers. English msgids, Chinese in loyalty's catalogue."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from siyu.core.labels import label

ITEM_KINDS = {"coupon": _("Coupon"), "gift": _("Physical gift"), "points_cash": _("Points + cash")}
ITEM_STATUSES = {"draft": _("Draft"), "on_sale": _("On sale"), "off_sale": _("Off sale")}
REDEMPTION_STATUSES = {
    "issued": _("Coupon issued"),
    "to_ship": _("To ship"),
    "shipped": _("Shipped"),
    "to_collect": _("To collect at a store"),
    "collected": _("Collected"),
    "cancelled": _("Cancelled"),
}
FULFILMENT_HEADERS = {
    "redemption_id": _("Redemption number"),
    "redeemed_at": _("Redeemed at"),
    "item": _("Mall item"),
    "quantity": _("Quantity"),
    "customer_id": _("Customer number"),
    "recipient": _("Consignee"),
    "phone": _("Phone"),
    "address": _("Shipping address"),
    "postcode": _("Postcode"),
    "cash": _("Cash (yuan)"),
    "status": _("Status"),
    "carrier": _("Carrier"),
    "tracking_no": _("Tracking number"),
}


def item_kind_label(value) -> str:
    return label(ITEM_KINDS, value)


def item_status_label(value) -> str:
    return label(ITEM_STATUSES, value)


def redemption_status_label(value) -> str:
    return label(REDEMPTION_STATUSES, value)


def fulfilment_headers() -> dict[str, str]:
    return {k: str(v) for k, v in FULFILMENT_HEADERS.items()}
