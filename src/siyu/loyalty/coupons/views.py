"""Console pages of coupons: templates with their counts, making and changing a template, a template's page
(statistics, issue to a segment, recent coupons) and looking a coupon up by its code (and voiding it).
Thin: reads come from queries, changes go through actions, the words of codes from labels."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.core.errors import PermissionDenied
from siyu.loyalty.coupons import actions, discounts, labels, queries
from siyu.loyalty.coupons.errors import CouponError
from siyu.loyalty.coupons.models import COUPON_READERS, COUPON_ROLES, Coupon, CouponTemplate
from siyu.segments.models import Segment
from siyu.staff.queries import has_role
from siyu.web.views import console_view

FORM_FIELDS = ("name", "description", "kind", "amount_off", "percent_off", "max_discount", "min_spend", "products",
               "validity", "valid_from", "valid_until", "valid_days", "total_quantity", "per_member_limit", "status")  # fmt: skip


def _reader(request) -> None:
    if not has_role(request.user, COUPON_READERS):
        raise PermissionDenied("coupons are for admins, operators and store managers")


def _editor(request) -> None:
    if not has_role(request.user, COUPON_ROLES):
        raise PermissionDenied("only an admin or an operator can manage coupons")


def _offer(template: CouponTemplate) -> str:
    """What a template takes off, in words."""
    if template.kind == "amount":
        off = _("%(amount)s yuan off") % {"amount": template.amount_off}
    else:
        off = _("%(percent)s%% off") % {"percent": template.percent_off.normalize()}
        if template.max_discount:
            off += _(", at most %(amount)s yuan") % {"amount": template.max_discount}
    if template.min_spend:
        off = _("Spend %(amount)s yuan: ") % {"amount": template.min_spend} + off
    return off


def _validity(template: CouponTemplate) -> str:
    if template.validity == "days":
        return _("%(days)s days from issue") % {"days": template.valid_days}
    zone = timezone.get_current_timezone()
    start = template.valid_from.astimezone(zone).strftime("%Y-%m-%d") if template.valid_from else ""
    end = template.valid_until.astimezone(zone).strftime("%Y-%m-%d") if template.valid_until else ""
    return f"{start} – {end}" if start else _("until %(day)s") % {"day": end}


def _template_row(template: CouponTemplate, counts: dict | None = None) -> dict:
    return {"template": template, "offer": _offer(template), "validity": _validity(template),
            "kind": labels.discount_kind_label(template.kind), "status": labels.template_status_label(template.status),
            "counts": counts or {"issued": 0, "unused": 0, "used": 0, "expired": 0, "void": 0}}  # fmt: skip


def _coupon_row(coupon: Coupon) -> dict:
    return {"coupon": coupon, "code": discounts.shown_code(coupon.code),
            "status": labels.coupon_status_label(coupon.status), "source": labels.coupon_source_label(coupon.source),
            "used_via": labels.used_via_label(coupon.used_via)}  # fmt: skip


@console_view
def templates(request):
    _reader(request)
    counts = queries.counts_by_template()
    rows = [_template_row(t, counts.get(t.pk)) for t in queries.templates()]
    return render(request, "siyu/loyalty/coupon_templates.html", {"rows": rows, "can_edit": has_role(request.user, COUPON_ROLES)})


def _form_of(template: CouponTemplate | None) -> dict:
    if template is None:
        return {"kind": "amount", "validity": "days", "valid_days": 30, "per_member_limit": 1, "min_spend": "0",
                "status": "active"}  # fmt: skip
    zone = timezone.get_current_timezone()
    form = {name: getattr(template, name) for name in FORM_FIELDS}
    form["products"] = "\n".join(template.products)
    for name in ("valid_from", "valid_until"):
        form[name] = form[name].astimezone(zone).strftime("%Y-%m-%d") if form[name] else ""
    for name in ("amount_off", "percent_off", "max_discount", "min_spend"):
        form[name] = "" if form[name] is None else form[name]
    return form


@console_view
def template_edit(request, template_id: int | None = None):
    _editor(request)
    found = queries.template(template_id) if template_id is not None else None
    form, status = _form_of(found), 200
    if request.method == "POST":
        form = {name: request.POST.get(name, "").strip() for name in FORM_FIELDS}
        try:
            saved = actions.save_template(request.user, form, template_id)
        except CouponError as exc:
            messages.error(request, str(exc))
            status = 400
        else:
            messages.success(request, _("Coupon template saved."))
            return redirect("console:loyalty_coupon_template", template_id=saved.pk)
    return render(request, "siyu/loyalty/coupon_template_edit.html", {
        "form": form, "template": found, "kinds": list(labels.DISCOUNT_KINDS.items()),
        "validities": list(labels.VALIDITY_KINDS.items()), "statuses": list(labels.TEMPLATE_STATUSES.items()),
    }, status=status)  # fmt: skip


@console_view
def template(request, template_id: int):
    _reader(request)
    found = queries.template(template_id)
    stats = queries.template_stats(found.pk)
    return render(request, "siyu/loyalty/coupon_template.html", {
        "row": _template_row(found, stats), "stats": stats, "can_edit": has_role(request.user, COUPON_ROLES),
        "products": found.products, "coupons": [_coupon_row(c) for c in queries.recent_coupons(found.pk)],
        "segments": Segment.objects.order_by("name")[:200],
    })  # fmt: skip


@console_view
@require_POST
def template_issue(request, template_id: int):
    _editor(request)
    segment = request.POST.get("segment") or ""
    try:
        job = actions.issue_to_segment(request.user, template_id, int(segment) if segment.isdigit() else 0)
    except CouponError as exc:
        messages.error(request, str(exc))
    else:
        if job.status == job.Status.DONE:
            result = job.result
            messages.success(request, _("Issued %(issued)s coupons; %(already)s members already had today's, "
                                        "%(limit)s were at the limit, %(sold_out)s missed out as the coupons ran out.") % {
                "issued": result.get("issued", 0), "already": result.get("already", 0),
                "limit": result.get("at_limit", 0), "sold_out": result.get("sold_out", 0)})  # fmt: skip
        elif job.status == job.Status.FAILED:
            messages.error(request, job.error.splitlines()[0] if job.error else _("The issue failed."))
        else:
            messages.success(request, _("The coupons are being issued in the background."))
            return redirect("console:job", job_id=job.pk)
    return redirect("console:loyalty_coupon_template", template_id=template_id)


@console_view
def lookup(request):
    _reader(request)
    code = (request.GET.get("code") or "").strip()[:40]
    found = queries.coupon_by_code(code) if code else None
    return render(request, "siyu/loyalty/coupon_lookup.html", {
        "code": code, "row": _coupon_row(found) if found else None,
        "template_row": _template_row(found.template) if found else None,
        "can_void": found is not None and found.status == "issued" and has_role(request.user, COUPON_ROLES),
    })  # fmt: skip


@console_view
@require_POST
def void(request):
    _editor(request)
    code = (request.POST.get("code") or "").strip()[:40]
    try:
        voided = actions.void_coupon(request.user, code, request.POST.get("reason", ""))
    except CouponError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Coupon voided."))
        code = voided.code
    return redirect(f"{reverse('console:loyalty_coupon_lookup')}?{urlencode({'code': code})}")
