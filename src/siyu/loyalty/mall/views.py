"""Console pages of the rewards mall: items (list, make, edit), redemptions (ship with a tracking number,
hand over at a till, cancel) and the fulfilment list as CSV or XLSX. Thin: changes go through mall.actions,
reads through mall.queries; the address is decrypted only for roles that may see PII."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.core.errors import PermissionDenied
from siyu.loyalty.coupons.models import CouponTemplate
from siyu.loyalty.mall import actions, labels, queries
from siyu.loyalty.mall.errors import ItemNotFound, MallError
from siyu.loyalty.mall.models import MALL_ROLES, ItemKind, ItemStatus, MallItem, RedemptionStatus
from siyu.staff.queries import has_role
from siyu.web.views import console_view, form_int

PAGE_SIZE = 100


def _require(request) -> None:
    if not has_role(request.user, MALL_ROLES):
        raise PermissionDenied("the mall is managed by admins, operators and store managers")



def _when(value):
    value = (value or "").strip()
    if not value:
        return None
    try:
        return timezone.make_aware(datetime.fromisoformat(value))
    except ValueError as exc:
        raise MallError(f"not a time: {value!r}") from exc


def _item_fields(post) -> dict:
    try:
        cash = Decimal((post.get("cash_price") or "0").strip() or "0")
    except InvalidOperation as exc:
        raise MallError("the cash price is a number of yuan") from exc
    return {"name": post.get("name", ""), "description": post.get("description", ""), "kind": post.get("kind", ""),
            "points_price": form_int(post.get("points_price"), 0), "cash_price": cash,
            "coupon_template_id": form_int(post.get("coupon_template_id")), "needs_address": post.get("needs_address") == "on",
            "stock": form_int(post.get("stock"), 0), "per_member_limit": form_int(post.get("per_member_limit")),
            "starts_at": _when(post.get("starts_at")), "ends_at": _when(post.get("ends_at")),
            "status": post.get("status", ItemStatus.DRAFT)}  # fmt: skip


def _choices() -> dict:
    return {"kinds": [(k, labels.item_kind_label(k)) for k in ItemKind.values],
            "statuses": [(s, labels.item_status_label(s)) for s in ItemStatus.values],
            "templates": CouponTemplate.objects.order_by("-pk")[:200]}  # fmt: skip


def _item_row(item: MallItem) -> dict:
    return {"item": item, "kind": labels.item_kind_label(item.kind), "status": labels.item_status_label(item.status)}


@console_view
def items(request):
    _require(request)
    form, status = {}, 200
    if request.method == "POST":
        form = request.POST
        try:
            item = actions.save_item(request.user, **_item_fields(request.POST))
        except MallError as exc:
            messages.error(request, _("Not saved: %(reason)s") % {"reason": str(exc)})
            status = 400
        else:
            messages.success(request, _("Mall item saved."))
            return redirect("console:loyalty_mall_item", item_id=item.pk)
    return render(request, "siyu/loyalty/mall_items.html", {
        "rows": [_item_row(i) for i in MallItem.objects.all()[:500]], "form": form, **_choices(),
    }, status=status)  # fmt: skip


@console_view
def item(request, item_id: int):
    _require(request)
    found = MallItem.objects.filter(pk=item_id).first()
    if found is None:
        raise ItemNotFound(f"no mall item {item_id}")
    status = 200
    if request.method == "POST":
        try:
            actions.save_item(request.user, item_id=found.pk, **_item_fields(request.POST))
        except MallError as exc:
            messages.error(request, _("Not saved: %(reason)s") % {"reason": str(exc)})
            status = 400
        else:
            messages.success(request, _("Mall item saved."))
            return redirect("console:loyalty_mall_item", item_id=found.pk)
    local = {f: timezone.localtime(getattr(found, f)).strftime("%Y-%m-%dT%H:%M") if getattr(found, f) else ""
             for f in ("starts_at", "ends_at")}  # fmt: skip
    return render(request, "siyu/loyalty/mall_item.html", {
        "row": _item_row(found), "local": local, **_choices(),
        "redemptions": [_redemption_row(r, request.user) for r in queries.redemptions(item_id=found.pk)[:50]],
    }, status=status)  # fmt: skip


def _redemption_row(r, user) -> dict:
    address = queries.address_of(r, user)
    return {"r": r, "status": labels.redemption_status_label(r.status), "address": address,
            "address_line": queries.address_line(address)}  # fmt: skip


@console_view
def redemptions(request):
    _require(request)
    status = request.GET.get("status") or ""
    status = status if status in RedemptionStatus.values else ""
    page = form_int(request.GET.get("page"), 1) or 1
    found = queries.redemptions(status=status)
    total = found.count()
    rows = [_redemption_row(r, request.user) for r in found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]]
    return render(request, "siyu/loyalty/mall_redemptions.html", {
        "rows": rows, "total": total, "page": page, "pages": max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
        "statuses": [(s, labels.redemption_status_label(s)) for s in RedemptionStatus.values], "status": status,
    })  # fmt: skip


@console_view
def redemption_change(request, redemption_id: int):
    """POST: ship (tracking number), hand over at a till, or cancel; back to the redemptions."""
    _require(request)
    if request.method == "POST":
        do = request.POST.get("do")
        try:
            if do == "ship":
                actions.mark_shipped(request.user, redemption_id, tracking_no=request.POST.get("tracking_no", ""),
                                     carrier=request.POST.get("carrier", ""))  # fmt: skip
                messages.success(request, _("Marked as shipped."))
            elif do == "collect":
                actions.mark_collected(request.user, redemption_id)
                messages.success(request, _("Handed over."))
            elif do == "cancel":
                actions.cancel_redemption(request.user, redemption_id, reason=request.POST.get("reason", ""))
                messages.success(request, _("Redemption cancelled: the stock and the points are back."))
        except MallError as exc:
            messages.error(request, _("Not done: %(reason)s") % {"reason": str(exc)})
    back = request.POST.get("status") or ""
    url = redirect("console:loyalty_mall_redemptions")
    if back in RedemptionStatus.values:
        url["Location"] += f"?status={back}"
    return url


@console_view
def fulfilment(request, fmt: str):
    """The fulfilment list (gifts to ship, or of ?status=) as a CSV or XLSX file."""
    _require(request)
    status = request.GET.get("status") or RedemptionStatus.TO_SHIP
    status = status if status in RedemptionStatus.values else RedemptionStatus.TO_SHIP
    rows = queries.fulfilment_rows(request.user, status=status)
    for row in rows:
        row["status"] = labels.redemption_status_label(row["status"])
    headers = labels.fulfilment_headers()
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    if fmt == "xlsx":
        body, kind = queries.fulfilment_xlsx(rows, headers), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        body, kind = queries.fulfilment_csv(rows, headers), "text/csv; charset=utf-8"
    response = HttpResponse(body, content_type=kind)
    response["Content-Disposition"] = f'attachment; filename="siyu-mall-fulfilment-{status}-{stamp}.{fmt}"'
    return response
