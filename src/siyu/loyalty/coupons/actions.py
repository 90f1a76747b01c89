"""Every state change of coupons: templates (make, change, close), issuing (one coupon, or a segment's
members in bulk as a job), redemption at the till, voiding, expiry, and marking coupons used by imported
orders that carry their code.

Concurrency: the total quantity of a template is its `issued_count`, raised by a conditional UPDATE that
also takes the template row's lock, and the per-member limit is counted after it under that lock, so
concurrent issues neither pass the total nor give one member more than the limit (PostgreSQL and SQLite).
A redemption is a conditional UPDATE from "issued" to "used": of concurrent redemptions of one code exactly
one wins."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from siyu import warehouse
from siyu.core.actions import record_audit
from siyu.core.batches import chunked
from siyu.core.errors import PermissionDenied
from siyu.loyalty.coupons import discounts, labels
from siyu.loyalty.coupons.errors import (
    CouponError,
    CouponLimitReached,
    CouponNotFound,
    CouponNotUsable,
    TemplateClosed,
)
from siyu.loyalty.coupons.models import (
    COUPON_ROLES,
    Coupon,
    CouponSource,
    CouponStatus,
    CouponTemplate,
    DiscountKind,
    TemplateStatus,
    UsedVia,
    ValidityKind,
)
from siyu.staff.queries import has_role
from siyu.warehouse.orders import NOT_PURCHASE, is_purchase

log = logging.getLogger(__name__)

CODE_ATTEMPTS = 8  # a clash of two 60-bit codes is all but impossible; a retry makes it impossible
SEGMENT_BATCH = 2_000  # coupons written per transaction when issuing to a segment
SEGMENT_IN_REQUEST = 5_000  # a segment larger than this is issued by the server's worker, not in the request
MONEY_MAX = Decimal("9999999999.99")
MAX_PRODUCTS = 500


def _editor(actor) -> None:
    if actor is not None and not has_role(actor, COUPON_ROLES):
        raise PermissionDenied(_("Only an admin or an operator can manage coupons."))


def _template(template_id) -> CouponTemplate:
    try:
        return CouponTemplate.objects.get(pk=int(template_id))
    except (CouponTemplate.DoesNotExist, ValueError, TypeError, OverflowError):
        raise CouponNotFound(_("There is no coupon template %(template)s.") % {"template": template_id}) from None


# --- templates ------------------------------------------------------------------------------------------

# the words of a template's (and a redemption's) fields in their refusals
FIELD_WORDS = {
    "amount_off": gettext_lazy("The amount off"),
    "percent_off": gettext_lazy("The percent off"),
    "max_discount": gettext_lazy("The discount cap"),
    "min_spend": gettext_lazy("The minimum spend"),
    "order_amount": gettext_lazy("The order amount"),
    "valid_days": gettext_lazy("The days of validity"),
    "valid_from": gettext_lazy("The first day of validity"),
    "valid_until": gettext_lazy("The last day of validity"),
    "total_quantity": gettext_lazy("The total quantity"),
    "per_member_limit": gettext_lazy("The limit per member"),
}


def _money(value, what: str, *, required: bool = False, positive: bool = False) -> Decimal | None:
    if value in (None, ""):
        if required:
            raise CouponError(_("%(field)s is needed.") % {"field": FIELD_WORDS[what]})
        return None
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise CouponError(_("%(field)s must be an amount in yuan.") % {"field": FIELD_WORDS[what]}) from None
    if not amount.is_finite() or amount < 0 or amount > MONEY_MAX or amount != amount.quantize(discounts.CENT):
        raise CouponError(_("%(field)s must be an amount in yuan, with at most two decimals.") % {"field": FIELD_WORDS[what]})
    if positive and amount <= 0:
        raise CouponError(_("%(field)s must be more than 0.") % {"field": FIELD_WORDS[what]})
    return amount.quantize(discounts.CENT)


def _whole(value, what: str, low: int, high: int) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise CouponError(_("%(field)s must be a whole number.") % {"field": FIELD_WORDS[what]}) from None
    if not low <= number <= high:
        raise CouponError(_("%(field)s must be between %(low)s and %(high)s.")
                          % {"field": FIELD_WORDS[what], "low": low, "high": high})
    return number


def _when(value, what: str) -> dt.datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    if isinstance(value, dt.date):
        return timezone.make_aware(dt.datetime.combine(value, dt.time()))
    try:
        parsed = dt.datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise CouponError(_("%(field)s must be a date.") % {"field": FIELD_WORDS[what]}) from None
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


def checked_template(data: dict) -> dict:
    """The fields of a template from `data` (a form's or the API's), checked; CouponError says what is
    wrong. Keys: name, description, kind, amount_off, percent_off, max_discount, min_spend, products,
    validity, valid_from, valid_until, valid_days, total_quantity, per_member_limit, status."""
    name = str(data.get("name") or "").strip()
    if not name or len(name) > 100:
        raise CouponError(_("A coupon template needs a name of at most 100 characters."))
    kind = data.get("kind")
    if kind not in DiscountKind.values:
        raise CouponError(_("Choose amount off or percent off."))
    out = {"name": name, "description": str(data.get("description") or "").strip()[:2000], "kind": kind,
           "amount_off": None, "percent_off": None, "max_discount": None}  # fmt: skip
    if kind == DiscountKind.AMOUNT:
        out["amount_off"] = _money(data.get("amount_off"), "amount_off", required=True, positive=True)
    else:
        percent = _money(data.get("percent_off"), "percent_off", required=True, positive=True)
        if percent >= 100:
            raise CouponError(_("The percent off must be less than 100."))
        out["percent_off"] = percent
        out["max_discount"] = _money(data.get("max_discount"), "max_discount", positive=True)
    out["min_spend"] = _money(data.get("min_spend"), "min_spend") or Decimal("0.00")
    if kind == DiscountKind.AMOUNT and out["min_spend"] and out["amount_off"] > out["min_spend"]:
        raise CouponError(_("The amount off is more than the minimum spend."))
    products = data.get("products") or []
    if isinstance(products, str):
        products = [p for line in products.splitlines() for p in line.split(",")]
    products = sorted({str(p).strip() for p in products if str(p).strip()})
    if len(products) > MAX_PRODUCTS or any(len(p) > 200 for p in products):
        raise CouponError(_("At most %(most)s products of at most 200 characters each.") % {"most": MAX_PRODUCTS})
    out["products"] = products
    validity = data.get("validity") or ValidityKind.DAYS
    if validity not in ValidityKind.values:
        raise CouponError(_("Choose fixed dates or a number of days after issue."))
    out.update(validity=validity, valid_from=None, valid_until=None, valid_days=None)
    if validity == ValidityKind.DAYS:
        out["valid_days"] = _whole(data.get("valid_days"), "valid_days", 1, 3650)
        if out["valid_days"] is None:
            raise CouponError(_("How many days is a coupon valid after issue?"))
    else:
        out["valid_from"] = _when(data.get("valid_from"), "valid_from")
        out["valid_until"] = _when(data.get("valid_until"), "valid_until")
        if out["valid_until"] is None:
            raise CouponError(_("Until when are the coupons valid?"))
        if out["valid_from"] and out["valid_from"] >= out["valid_until"]:
            raise CouponError(_("The coupons' validity ends before it starts."))
    out["total_quantity"] = _whole(data.get("total_quantity"), "total_quantity", 1, 100_000_000)
    out["per_member_limit"] = _whole(data.get("per_member_limit"), "per_member_limit", 1, 10_000)
    status = data.get("status") or TemplateStatus.ACTIVE
    if status not in TemplateStatus.values:
        raise CouponError(_("A coupon template is issuing or closed."))
    out["status"] = status
    return out


def save_template(actor, data: dict, template_id: int | None = None) -> CouponTemplate:
    """Make a template (template_id None) or change one. Coupons already issued keep the expiry they were
    issued with; the discount, threshold and scope of a changed template apply to their later use."""
    _editor(actor)
    fields = checked_template(data)
    with transaction.atomic():
        if template_id is None:
            template = CouponTemplate.objects.create(created_by=actor, **fields)
        else:
            template = _template(template_id)
            template = CouponTemplate.objects.select_for_update().get(pk=template.pk)
            if fields["total_quantity"] is not None and fields["total_quantity"] < template.issued_count:
                raise CouponError(_("%(issued)s coupons are already issued: the total cannot be less.")
                                  % {"issued": template.issued_count})
            for name, value in fields.items():
                setattr(template, name, value)
            template.save()
        record_audit(actor, "coupon_template_saved", f"coupon_template:{template.pk}", name=template.name)
    return template


def set_template_status(actor, template_id: int, status: str) -> CouponTemplate:
    _editor(actor)
    if status not in TemplateStatus.values:
        raise CouponError(_("A coupon template is issuing or closed."))
    template = _template(template_id)
    CouponTemplate.objects.filter(pk=template.pk).update(status=status, updated_at=timezone.now())
    record_audit(actor, "coupon_template_status", f"coupon_template:{template.pk}", status=status)
    template.refresh_from_db()
    return template


# --- issuing --------------------------------------------------------------------------------------------


def _validity(template: CouponTemplate, now: dt.datetime) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(starts_at, expires_at) of a coupon issued from `template` at `now`."""
    if template.validity == ValidityKind.DAYS:
        return None, now + dt.timedelta(days=template.valid_days or 0)
    starts = template.valid_from if template.valid_from and template.valid_from > now else None
    return starts, template.valid_until


def _check_source(source: str) -> None:
    if source not in CouponSource.values:
        raise CouponError(_("A coupon's source is one of: %(sources)s.")
                          % {"sources": _(", ").join(str(labels.coupon_source_label(v)) for v in CouponSource.values)})


def issue_coupon(template_id: int, customer_id: int, *, key: str, source: str, source_ref: str = "",
                 now: dt.datetime | None = None) -> Coupon:  # fmt: skip
    """Issue one coupon of a template to a customer. Idempotent on `key`: a replay returns the coupon the key
    first issued and changes nothing. Raises TemplateClosed, CouponLimitReached (the total is issued, or the
    member holds the per-member limit), CouponNotFound."""
    key = str(key or "").strip()
    if not key or len(key) > 200:
        raise CouponError(_("Issuing a coupon needs an idempotency key of 1 to 200 characters."))
    _check_source(source)
    existing = Coupon.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    now = now or timezone.now()
    template = _template(template_id)
    if template.status != TemplateStatus.ACTIVE:
        raise TemplateClosed(_("The coupon template “%(name)s” is closed.") % {"name": template.name})
    if template.validity == ValidityKind.FIXED and template.valid_until and template.valid_until <= now:
        raise TemplateClosed(_("The coupons of “%(name)s” are no longer valid.") % {"name": template.name})
    starts_at, expires_at = _validity(template, now)
    for _attempt in range(CODE_ATTEMPTS):
        try:
            with transaction.atomic():
                # the conditional UPDATE takes the template row's lock: the issues of one template queue here
                room = Q(total_quantity__isnull=True) | Q(issued_count__lt=F("total_quantity"))
                taken = CouponTemplate.objects.filter(room, pk=template.pk, status=TemplateStatus.ACTIVE).update(
                    issued_count=F("issued_count") + 1
                )
                if not taken:
                    template.refresh_from_db()
                    if template.status != TemplateStatus.ACTIVE:
                        raise TemplateClosed(_("The coupon template “%(name)s” is closed.") % {"name": template.name})
                    raise CouponLimitReached(_("All %(total)s coupons of “%(name)s” are issued.")
                                             % {"total": template.total_quantity, "name": template.name})
                if template.per_member_limit is not None:
                    held = Coupon.objects.filter(template=template, customer_id=customer_id).count()
                    if held >= template.per_member_limit:
                        raise CouponLimitReached(
                            _("This member already has %(held)s coupon(s) of “%(name)s” (the limit is %(limit)s).")
                            % {"held": held, "name": template.name, "limit": template.per_member_limit}
                        )
                return Coupon.objects.create(
                    code=discounts.new_code(), template=template, customer_id=int(customer_id),
                    status=CouponStatus.ISSUED, issued_at=now, starts_at=starts_at, expires_at=expires_at,
                    source=source, source_ref=str(source_ref)[:200], idempotency_key=key, changed_at=timezone.now(),
                )  # fmt: skip
        except IntegrityError:
            existing = Coupon.objects.filter(idempotency_key=key).first()
            if existing is not None:  # the same key issued concurrently: that one stands
                return existing
            # else the code clashed with another coupon's: draw again
    raise CouponError(_("No free coupon code was found; try again."))


def segment_issue_key(segment_id: int, template_id: int, day: dt.date, customer_id: int) -> str:
    return f"segment:{segment_id}:{template_id}:{day.isoformat()}:{customer_id}"


def issue_to_members(template_id: int, customer_ids, *, key_of, source: str, source_ref: str = "",
                     now: dt.datetime | None = None, progress=None) -> dict:  # fmt: skip
    """Issue one coupon of a template to each customer (bulk): `key_of(customer_id)` is each coupon's key, so
    a replay issues nothing twice. Members at the per-member limit are skipped; when the total runs out the
    rest are skipped. Returns {"members", "issued", "already", "at_limit", "sold_out"}."""
    _check_source(source)
    now = now or timezone.now()
    template = _template(template_id)
    if template.status != TemplateStatus.ACTIVE:
        raise TemplateClosed(_("The coupon template “%(name)s” is closed.") % {"name": template.name})
    starts_at, expires_at = _validity(template, now)
    ids = sorted({int(c) for c in customer_ids})
    report = {"members": len(ids), "issued": 0, "already": 0, "at_limit": 0, "sold_out": 0}
    for n, batch in enumerate(chunked(ids, SEGMENT_BATCH)):
        keys = {cid: key_of(cid) for cid in batch}
        with transaction.atomic():
            locked = CouponTemplate.objects.select_for_update().get(pk=template.pk)
            # a no-op UPDATE takes the lock on SQLite too (select_for_update is ignored there)
            CouponTemplate.objects.filter(pk=template.pk).update(issued_count=F("issued_count"))
            if locked.status != TemplateStatus.ACTIVE:
                raise TemplateClosed(_("The coupon template “%(name)s” is closed.") % {"name": template.name})
            done = set(Coupon.objects.filter(idempotency_key__in=keys.values()).values_list("idempotency_key", flat=True))
            todo = [cid for cid in batch if keys[cid] not in done]
            written = timezone.now()
            report["already"] += len(batch) - len(todo)
            if locked.per_member_limit is not None and todo:
                held = dict(Coupon.objects.filter(template=template, customer_id__in=todo).values("customer_id")
                            .annotate(n=Count("pk")).values_list("customer_id", "n"))  # fmt: skip
                allowed = [cid for cid in todo if held.get(cid, 0) < locked.per_member_limit]
                report["at_limit"] += len(todo) - len(allowed)
                todo = allowed
            if locked.total_quantity is not None:
                room = max(locked.total_quantity - locked.issued_count, 0)
                report["sold_out"] += max(len(todo) - room, 0)
                todo = todo[:room]
            rows = [Coupon(code=discounts.new_code(), template_id=template.pk, customer_id=cid,
                           status=CouponStatus.ISSUED, issued_at=now, starts_at=starts_at, expires_at=expires_at,
                           source=source, source_ref=str(source_ref)[:200], idempotency_key=keys[cid],
                           changed_at=written)
                    for cid in todo]  # fmt: skip
            Coupon.objects.bulk_create(rows, batch_size=500)
            CouponTemplate.objects.filter(pk=template.pk).update(issued_count=F("issued_count") + len(rows))
            report["issued"] += len(rows)
        if progress is not None:
            progress(min((n + 1) * SEGMENT_BATCH, len(ids)), len(ids))
    return report


def issue_to_segment(actor, template_id: int, segment_id: int, *, day: dt.date | None = None):
    """Issue a coupon of a template to every member of a segment (the stored memberships), at most once per
    segment, template and day (each member's coupon is keyed by them). Runs as a job ("coupon_segment_issue"):
    in this process for a small segment, by the server's worker for a large one. Returns the Job; its result
    is issue_to_members' report."""
    from siyu.core.owner import submit_job  # a job's runner: core.owner knows no domain
    from siyu.core.tasks import can_defer
    from siyu.segments.queries import get_segment, member_ids

    _editor(actor)
    template = _template(template_id)
    if template.status != TemplateStatus.ACTIVE:
        raise TemplateClosed(_("The coupon template “%(name)s” is closed.") % {"name": template.name})
    segment = get_segment(segment_id)
    day = day or timezone.localdate()
    size = int(member_ids(segment.pk).count().execute())
    params = {"template_id": template.pk, "segment_id": segment.pk, "day": day.isoformat()}
    record_audit(actor, "coupon_segment_issue", f"coupon_template:{template.pk}", segment=segment.pk, members=size)
    large = size > SEGMENT_IN_REQUEST and can_defer()
    return submit_job("coupon_segment_issue", params, actor, in_process=False if large else None)


def run_segment_issue_job(job, progress) -> dict:
    """Job runner of kind "coupon_segment_issue" (params template_id, segment_id, day)."""
    from siyu.segments.queries import member_ids

    params = job.params
    segment_id, template_id = int(params["segment_id"]), int(params["template_id"])
    day = dt.date.fromisoformat(params["day"])
    ids = member_ids(segment_id).to_pyarrow().column("customer_id").to_pylist()
    return issue_to_members(template_id, ids, key_of=lambda cid: segment_issue_key(segment_id, template_id, day, cid),
                            source=CouponSource.SEGMENT, source_ref=f"segment:{segment_id}", progress=progress)  # fmt: skip


# --- redemption, void, expiry ---------------------------------------------------------------------------


def _refuse(reason: str):
    raise CouponNotUsable(str(labels.not_usable_label(reason)), reason)


def coupon_by_code(code: str) -> Coupon:
    code = discounts.normalise_code(code)
    found = Coupon.objects.select_related("template").filter(code=code).first() if discounts.is_code(code) else None
    if found is None:
        raise CouponNotFound(str(labels.not_usable_label("unknown")))
    return found


def usable_check(coupon: Coupon, *, amount: Decimal | None, products: list[str] | None, now: dt.datetime) -> None:
    """Raise CouponNotUsable with the reason `coupon` cannot be used now on such an order."""
    if coupon.status != CouponStatus.ISSUED:
        _refuse(coupon.status)
    if coupon.expires_at is not None and coupon.expires_at <= now:
        _refuse("expired")
    if coupon.starts_at is not None and coupon.starts_at > now:
        _refuse("not_started")
    template = coupon.template
    if template.min_spend and template.min_spend > 0:
        if amount is None:
            _refuse("amount_needed")
        if Decimal(amount) < template.min_spend:
            _refuse("threshold")
    if not discounts.in_scope(template.products, products):
        _refuse("scope")


def redeem_coupon(code: str, *, key: str, order_ref: str = "", amount: Decimal | None = None, channel: str = "till",
                  products: list[str] | None = None, now: dt.datetime | None = None) -> Coupon:  # fmt: skip
    """Use a coupon on an order: its validity, threshold (`amount`, yuan) and scope (`products`: the order's
    product ids, SKUs or names) are checked, then it is marked used with the order and its discount. Only
    one use ever, even under concurrent redemptions; a replay with the same `key` returns the coupon.
    Raises CouponNotUsable (reason in words), CouponNotFound."""
    key = str(key or "").strip()
    if not key or len(key) > 200:
        raise CouponError(_("Redeeming a coupon needs an idempotency key of 1 to 200 characters."))
    replay = Coupon.objects.select_related("template").filter(redeem_key=key).first()
    if replay is not None:
        return replay
    now = now or timezone.now()
    if amount is not None:
        amount = _money(amount, "order_amount")
    coupon = coupon_by_code(code)
    usable_check(coupon, amount=amount, products=products, now=now)
    template = coupon.template
    discount = (discounts.discount_for(template.kind, amount, amount_off=template.amount_off,
                                       percent_off=template.percent_off, max_discount=template.max_discount)
                if amount is not None else None)  # fmt: skip
    try:
        with transaction.atomic():
            won = Coupon.objects.filter(pk=coupon.pk, status=CouponStatus.ISSUED).update(
                status=CouponStatus.USED, used_at=now, used_via=UsedVia.REDEMPTION, order_ref=str(order_ref)[:200],
                channel=str(channel or "till")[:64], order_amount=amount, discount=discount, redeem_key=key,
                changed_at=timezone.now(),
            )  # fmt: skip
    except IntegrityError:
        won = 0
    if not won:
        replay = Coupon.objects.select_related("template").filter(redeem_key=key).first()
        if replay is not None:
            return replay
        _refuse("used")
    coupon.refresh_from_db()
    return coupon


def void_coupon(actor, code: str, reason: str = "") -> Coupon:
    """Void an unused coupon (it can no longer be used); a used, expired or voided one is refused."""
    _editor(actor)
    coupon = coupon_by_code(code)
    changed = Coupon.objects.filter(pk=coupon.pk, status=CouponStatus.ISSUED).update(
        status=CouponStatus.VOID, voided_at=timezone.now(), void_reason=str(reason or "")[:200],
        changed_at=timezone.now(),
    )
    if not changed:
        raise CouponError(_("Only an unused coupon can be voided (this one is %(status)s).")
                          % {"status": labels.coupon_status_label(coupon.status)})
    record_audit(actor, "coupon_voided", f"coupon:{coupon.pk}", reason=str(reason or "")[:200])
    coupon.refresh_from_db()
    return coupon


def expire_coupons(now: dt.datetime | None = None) -> int:
    """Mark unused coupons past their expiry expired; returns how many. Idempotent."""
    now = now or timezone.now()
    return Coupon.objects.filter(status=CouponStatus.ISSUED, expires_at__lte=now).update(
        status=CouponStatus.EXPIRED, changed_at=timezone.now()
    )


def run_expire_coupons_job(job, progress) -> dict:
    """Job runner of kind "coupon_expiry"."""
    return {"expired": expire_coupons()}


# --- imported orders carrying a code --------------------------------------------------------------------


def _coupon_orders() -> list[dict]:
    """Imported orders that carry a coupon code (orders.coupon_code), with their status class."""
    orders = warehouse.backend().table("orders")
    if "coupon_code" not in orders.columns:
        return []
    carrying = orders.filter(orders.coupon_code.notnull() & (orders.coupon_code != ""))
    return (carrying.select("order_key", "source", "coupon_code", "order_time", "amount",
                            purchase=is_purchase(carrying), not_purchase=carrying.status_class == NOT_PURCHASE)
            .to_pyarrow().to_pylist())  # fmt: skip


def match_coupon_orders(now: dt.datetime | None = None) -> dict:
    """Mark coupons used by the imported purchases (siyu.warehouse.orders.is_purchase) carrying their code,
    with the order's key, source, amount and time. Idempotent: a coupon already used is left alone. A coupon
    an imported order used whose order is now refunded or closed is unused again (when still valid).
    Returns {"orders", "used", "restored"}."""
    now = now or timezone.now()
    rows = _coupon_orders()
    report = {"orders": len(rows), "used": 0, "restored": 0}
    by_code: dict[str, dict] = {}
    for row in rows:
        code = discounts.normalise_code(row["coupon_code"])
        if discounts.is_code(code) and row["purchase"]:
            earlier = by_code.get(code)
            if earlier is None or (row["order_time"] or now) < (earlier["order_time"] or now):
                by_code[code] = row  # two orders with one code: the earlier used it
    for batch in chunked(sorted(by_code), 1000):
        for coupon in Coupon.objects.filter(code__in=batch, status__in=(CouponStatus.ISSUED, CouponStatus.EXPIRED)):
            row = by_code[coupon.code]
            used_at = row["order_time"] or now
            if coupon.expires_at is not None and used_at > coupon.expires_at:
                continue  # placed after the coupon expired
            amount = row["amount"]
            template = coupon.template
            discount = (discounts.discount_for(template.kind, amount, amount_off=template.amount_off,
                                               percent_off=template.percent_off, max_discount=template.max_discount)
                        if amount is not None else None)  # fmt: skip
            report["used"] += Coupon.objects.filter(pk=coupon.pk, status=coupon.status).update(
                status=CouponStatus.USED, used_at=used_at, used_via=UsedVia.IMPORT, order_ref=row["order_key"],
                channel=str(row["source"] or "")[:64], order_amount=amount, discount=discount,
                changed_at=timezone.now(),
            )  # fmt: skip
    refunded = [r["order_key"] for r in rows if r["not_purchase"]]
    for batch in chunked(refunded, 1000):
        for coupon in Coupon.objects.filter(status=CouponStatus.USED, used_via=UsedVia.IMPORT, order_ref__in=batch):
            back = CouponStatus.ISSUED if coupon.expires_at is None or coupon.expires_at > now else CouponStatus.EXPIRED
            report["restored"] += Coupon.objects.filter(pk=coupon.pk, status=CouponStatus.USED).update(
                status=back, used_at=None, used_via="", order_ref="", channel="", order_amount=None, discount=None,
                changed_at=timezone.now(),
            )
    return report


def run_match_coupon_orders_job(job, progress) -> dict:
    """Job runner of kind "coupon_order_match"."""
    return match_coupon_orders()



# --- erasure of a person (PIPL art. 47; siyu.privacy.erasure runs it) ----------------------------------------


def _void_reasons(person):
    return Coupon.objects.filter(customer_id=person.customer_id).exclude(void_reason="")


def erase_person_reasons(person, request) -> dict:
    """Coupons' part of erasing a person: the reasons staff wrote on voiding their coupons go; the coupons
    stay (issued, used and discount totals do not change; a code is no one's identifier)."""
    return {"void_reasons": _void_reasons(person).update(void_reason="")}


def person_reasons_left(person) -> int:
    """What erase_person_reasons removes that is still there (the erasure scan)."""
    return _void_reasons(person).count()
