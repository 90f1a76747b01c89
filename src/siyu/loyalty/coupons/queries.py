"""The read side of coupons: a customer's wallet, a coupon by its code, templates with their counts, and per
template the issued / used / expired counts, redemption rate and the GMV of coupon orders."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import ibis
import pyarrow as pa
from django.db.models import Case, Count, F, IntegerField, Sum, Value, When

from siyu import warehouse
from siyu.loyalty.coupons.discounts import CENT, is_code, normalise_code
from siyu.loyalty.coupons.errors import CouponNotFound
from siyu.loyalty.coupons.models import Coupon, CouponStatus, CouponTemplate, TemplateStatus, UsedVia
from siyu.warehouse.orders import is_purchase


def wallet_of(customer_id: int) -> list[Coupon]:
    """The customer's coupons: usable first (soonest expiry first), then used, expired and voided ones."""
    rank = Case(When(status=CouponStatus.ISSUED, then=Value(0)), default=Value(1), output_field=IntegerField())
    return list(
        Coupon.objects.select_related("template").filter(customer_id=int(customer_id))
        .annotate(rank=rank).order_by("rank", F("expires_at").asc(nulls_last=True), "pk")
    )  # fmt: skip


def coupon_by_code(code: str) -> Coupon | None:
    """The coupon with this code (as typed or scanned: case, spaces and hyphens do not matter), or None."""
    found = normalise_code(code)
    if not is_code(found):  # not even the shape of a code (nor a NUL PostgreSQL would refuse)
        return None
    return Coupon.objects.select_related("template").filter(code=found).first()


def issuing_template(template_id: int) -> CouponTemplate | None:
    """The template with this id when it issues coupons (active), else None."""
    return CouponTemplate.objects.filter(pk=int(template_id), status=TemplateStatus.ACTIVE).first()


def issuing_templates() -> list[CouponTemplate]:
    return list(CouponTemplate.objects.filter(status=TemplateStatus.ACTIVE).order_by("name", "pk"))


def template_name(template_id) -> str:
    try:
        found = CouponTemplate.objects.filter(pk=int(template_id)).values_list("name", flat=True).first()
    except (ValueError, TypeError, OverflowError):
        found = None
    return found or "—"


def templates() -> list[CouponTemplate]:
    return list(CouponTemplate.objects.all())


def template(template_id: int) -> CouponTemplate:
    try:
        return CouponTemplate.objects.get(pk=int(template_id))
    except (CouponTemplate.DoesNotExist, ValueError, TypeError, OverflowError):
        raise CouponNotFound(f"no coupon template {template_id}") from None


def _empty_counts() -> dict:
    return {"issued": 0, "unused": 0, "used": 0, "expired": 0, "void": 0}


def counts_by_template(template_ids=None) -> dict[int, dict]:
    """{template id: {"issued", "unused", "used", "expired", "void"}} (issued counts every coupon)."""
    rows = Coupon.objects.all()
    if template_ids is not None:
        rows = rows.filter(template_id__in=list(template_ids))
    out: dict[int, dict] = defaultdict(_empty_counts)
    for row in rows.values("template_id", "status").annotate(n=Count("pk")).order_by():
        counts = out[row["template_id"]]
        counts["issued"] += row["n"]
        counts["unused" if row["status"] == CouponStatus.ISSUED else row["status"]] += row["n"]
    return dict(out)


def _imported_gmv(order_keys: list[str]) -> Decimal:
    """The amount of the imported purchases among `order_keys` (warehouse orders, Ibis)."""
    if not order_keys:
        return Decimal("0.00")
    orders = warehouse.backend().table("orders")
    keys = ibis.memtable(pa.table({"order_key": pa.array(sorted(set(order_keys)), pa.string())}))
    bought = orders.filter(is_purchase(orders)).semi_join(keys, "order_key")
    total = bought.amount.sum().to_pyarrow().as_py()
    return Decimal(total or 0).quantize(CENT)


def template_stats(template_id: int) -> dict:
    """A template's issued / unused / used / expired / voided counts, its redemption rate (used of those not
    voided), and the GMV of its coupon orders: imported purchases (warehouse orders, by the order key a
    matched coupon holds) plus the order amounts of till redemptions; with the discount given."""
    found = template(template_id)
    counts = counts_by_template([found.pk]).get(found.pk, _empty_counts())
    used = Coupon.objects.filter(template=found, status=CouponStatus.USED)
    till = used.filter(used_via=UsedVia.REDEMPTION).aggregate(gmv=Sum("order_amount"), off=Sum("discount"))
    imported = used.filter(used_via=UsedVia.IMPORT)
    imported_keys = list(imported.values_list("order_ref", flat=True))
    imported_off = imported.aggregate(off=Sum("discount"))["off"]
    till_gmv = Decimal(till["gmv"] or 0).quantize(CENT)
    import_gmv = _imported_gmv(imported_keys)
    live = counts["issued"] - counts["void"]
    return {
        **counts,
        "redemption_rate": (counts["used"] / live) if live else None,
        "till_gmv": till_gmv,
        "imported_gmv": import_gmv,
        "gmv": till_gmv + import_gmv,
        "discount": (Decimal(till["off"] or 0) + Decimal(imported_off or 0)).quantize(CENT),
    }


def recent_coupons(template_id: int, limit: int = 50) -> list[Coupon]:
    return list(Coupon.objects.filter(template_id=int(template_id)).order_by("-issued_at", "-pk")[:limit])
