"""Console pages of live codes: the list, a code's page (its QR code — what WeCom's own QR picture holds,
or words saying it is not available yet —, posters to print, whom WeCom offers
now and why not the others, the adds and what they brought), the form that makes or changes a code, store
codes, acquisition quality across codes, and a guide's own code on their phone. Every change goes through
siyu.acquisition.actions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.acquisition import actions, labels, posters, queries
from siyu.acquisition.forms import form_data, initial_of, read_code_form, staff_rows
from siyu.acquisition.models import LiveCode
from siyu.acquisition.quality import DIMENSION_LABELS, DIMENSIONS, FIGURE_LABELS, acquisition_quality
from siyu.core.errors import PermissionDenied, SiyuError
from siyu.core.labels import label
from siyu.engagement.content.queries import attachable_materials
from siyu.engagement.messaging.models import WeComCorpTag
from siyu.staff.models import Role, Store
from siyu.staff.queries import has_role, names_of_wecom_users
from siyu.web.views import console_view, not_found

POSTER_FORMATS = {"png": "image/png", "pdf": "application/pdf"}
QUALITY_DAYS = 90  # the quality page's default range: adds of the last 90 days


def _require(user) -> None:
    if not has_role(user, (Role.ADMIN, Role.OPERATOR)):
        raise PermissionDenied("only administrators and operators can see live codes")


def _require_print(user, code: LiveCode) -> None:
    """Operators print any code; a guide prints their own personal code."""
    if has_role(user, (Role.ADMIN, Role.OPERATOR)):
        return
    profile = getattr(user, "staff", None)
    if code.kind == LiveCode.Kind.GUIDE and profile is not None and code.staff.filter(staff=profile).exists():
        return
    raise PermissionDenied("only administrators and operators can print this code")


def _failed(request, exc: SiyuError) -> None:
    """An error the form could not catch first (WeCom refused, the account is missing): said in words, the
    action's own English detail kept for an English console."""
    if str(exc).startswith("WeCom refused"):
        messages.error(request, _("WeCom refused the change, so nothing was changed. Check the WeCom account and "
                                  "the staff members' WeCom accounts, then try again."))  # fmt: skip
    else:
        messages.error(request, _("The code could not be saved. Check the WeCom account on the channels page."))
    if translation_is_english():
        messages.error(request, str(exc))


def translation_is_english() -> bool:
    return (get_language() or "").startswith("en")


# --- the list and a code's page ------------------------------------------------------------------------


@console_view
def code_list(request):
    _require(request.user)
    archived = request.GET.get("archived") == "1"
    rows = [
        {"code": code, "channel": label(labels.CHANNELS, code.channel), "kind": label(labels.KINDS, code.kind),
         "status": label(labels.STATUSES, queries.code_status(code)), "adds": code.add_count}
        for code in queries.list_codes(archived=archived)
    ]  # fmt: skip
    return render(request, "siyu/acquisition/codes.html", {"rows": rows, "archived": archived})


def format_figure(name: str, value) -> str:
    if value is None:
        return "—"
    if name.startswith(("retention_", "buyer_rate_")):
        return f"{value * 100:.1f}%"
    if name.startswith(("gmv_", "cost")):
        return f"¥{Decimal(value):,.2f}"
    if name.startswith("roi_"):
        return f"{value:.2f}"
    return f"{value:,}"


def figure_cells(row: dict) -> list[dict]:
    return [{"name": name, "label": words, "value": format_figure(name, row.get(name))}
            for name, words in FIGURE_LABELS.items()]  # fmt: skip


def _code_quality(code: LiveCode) -> list[dict] | None:
    rows = acquisition_quality(queries.codes_for_quality(), dimensions=("code",))["code"]
    row = next((r for r in rows if r["key"] == code.pk), None)
    return figure_cells(row) if row else None


def poster_choices(code: LiveCode, staff: list[dict]) -> dict:
    return {
        "presets": [{"name": name, "label": size.label} for name, size in posters.PRESETS.items()],
        "staff": [{"pk": row["staff_id"], "name": row["name"]} for row in staff],
    }


def qr_ready(code: LiveCode) -> bool:
    """The code has what WeCom's QR picture holds, read now if it was not yet (it is what is printed)."""
    return bool(code.qr_content) or actions.read_code_qr(code)


def qr_unavailable(request, code: LiveCode) -> HttpResponse:
    """Said instead of a QR or poster when WeCom's QR picture could not be read: never a wrong QR."""
    operator = has_role(request.user, (Role.ADMIN, Role.OPERATOR))
    back = reverse("console:acquisition_code", args=[code.pk]) if operator else reverse("console:acquisition_my_code")
    response = render(request, "siyu/acquisition/qr_unavailable.html", {"code": code, "back": back}, status=503)
    response["Retry-After"] = "60"
    return response


@console_view
def code_detail(request, code_id: int):
    _require(request.user)
    code = queries.get_code(code_id)
    has_qr = qr_ready(code)
    staff = [{**row, "reason_label": label(labels.AVAILABILITY, row["reason"])}
             for row in queries.staff_availability(code)]  # fmt: skip
    page = request.GET.get("page", "1")
    adds = queries.code_adds(code, page=min(int(page), 1_000_000) if page.isdigit() and int(page) > 0 else 1)
    names = {row["userid"]: row["name"] for row in staff}
    names.update({u: n for u, n in names_of_wecom_users({a.staff_userid for a in adds["items"]}).items() if u not in names})
    customers = queries.customers_of_adds(adds["items"])
    recent = [{"add": a, "staff": names.get(a.staff_userid, a.staff_userid), "customer_id": customers.get(a.pk),
               "welcome": label(labels.WELCOME_OUTCOMES, a.welcome)} for a in adds["items"]]  # fmt: skip
    context = {
        "code": code,
        "has_qr": has_qr,
        "channel": label(labels.CHANNELS, code.channel),
        "kind": label(labels.KINDS, code.kind),
        "status": label(labels.STATUSES, queries.code_status(code)),
        "tags": [t.label for t in code.auto_tags.all()],
        "staff": staff,
        "adds": recent,
        "add_total": adds["total"],
        "add_page": adds["page"],
        "add_pages": adds["pages"],
        "quality": _code_quality(code),
        "poster": poster_choices(code, staff),
        "default_title": _("Scan to add us on WeCom"),
    }
    return render(request, "siyu/acquisition/code.html", context)


# --- making and changing a code ------------------------------------------------------------------------


def _form_context(data: dict, errors: dict, code: LiveCode | None = None) -> dict:
    return {
        "code": code,
        "data": data,
        "errors": errors,
        "channels": list(labels.CHANNELS.items()),
        "stores": list(Store.objects.order_by("name")),
        "staff_rows": staff_rows(data),
        "materials": attachable_materials(),
        "tags": sorted({t.label for t in WeComCorpTag.objects.filter(deleted=False)}),
    }


@console_view
def code_new(request):
    _require(request.user)
    if request.method == "POST":
        form = read_code_form(request.POST)
        if form.valid:
            try:
                code = actions.create_live_code(request.user, **form.values)
            except SiyuError as exc:
                _failed(request, exc)
            else:
                messages.success(request, _("Live code made. Print it from this page."))
                return redirect("console:acquisition_code", code.pk)
        context = _form_context(form_data(request.POST), form.errors)
        return render(request, "siyu/acquisition/code_form.html", context, status=200 if form.valid else 400)
    data = {"channel": LiveCode.Channel.OTHER, "skip_verify": "on", "staff_ids": []}
    return render(request, "siyu/acquisition/code_form.html", _form_context(data, {}))


@console_view
def code_edit(request, code_id: int):
    _require(request.user)
    code = queries.get_code(code_id)
    if code.archived:
        messages.error(request, _("An archived code cannot change."))
        return redirect("console:acquisition_code", code.pk)
    if request.method == "POST":
        form = read_code_form(request.POST, kind=code.kind)
        if form.valid:
            changes = dict(form.values)
            if code.kind == LiveCode.Kind.GUIDE:
                changes.pop("store", None)  # a guide's code follows the guide
            try:
                actions.update_live_code(request.user, code.pk, **changes)
            except SiyuError as exc:
                _failed(request, exc)
            else:
                messages.success(request, _("Live code saved; the printed code keeps working."))
                return redirect("console:acquisition_code", code.pk)
        context = _form_context(form_data(request.POST), form.errors, code)
        return render(request, "siyu/acquisition/code_form.html", context, status=200 if form.valid else 400)
    return render(request, "siyu/acquisition/code_form.html", _form_context(initial_of(code), {}, code))


@console_view
@require_POST
def code_archive(request, code_id: int):
    _require(request.user)
    try:
        actions.archive_live_code(request.user, code_id)
    except SiyuError as exc:
        _failed(request, exc)
    else:
        messages.success(request, _("Code archived: scanning it no longer adds anyone. Its adds stay."))
    return redirect("console:acquisition_code", code_id)


@console_view
def store_codes(request):
    _require(request.user)
    stores = list(Store.objects.order_by("name"))
    if request.method == "POST":
        chosen = [s for s in request.POST.getlist("stores") if s.isdigit()]
        if not chosen:
            messages.error(request, _("Choose at least one store."))
            return redirect("console:acquisition_store_codes")
        try:
            report = actions.create_store_codes(request.user, [int(s) for s in chosen])
        except SiyuError as exc:
            _failed(request, exc)
            return redirect("console:acquisition_store_codes")
        made, updated, skipped = len(report["created"]), len(report["updated"]), len(report["skipped"])
        messages.success(request, _("%(made)s store codes made, %(updated)s brought up to date.")
                         % {"made": made, "updated": updated})  # fmt: skip
        if skipped:
            names = {s.code: s.name for s in stores}
            messages.warning(request, _("No code for %(stores)s: none of the store's staff has a WeCom account, or "
                                        "WeCom refused.") % {"stores": "、".join(names.get(c, c) for c in report["skipped"])})  # fmt: skip
        return redirect("console:acquisition_store_codes")
    rows = []
    for store in stores:
        code = queries.store_code_of(store.pk)
        rows.append({"store": store, "code": code, "guides": [str(g) for g in actions.guides_of(store)]})
    return render(request, "siyu/acquisition/store_codes.html", {"rows": rows})


# --- the QR and posters --------------------------------------------------------------------------------


@console_view
def code_qr(request, code_id: int):
    """The code's QR as a PNG: what WeCom's QR picture holds, drawn anew."""
    code = queries.get_code(code_id)
    _require_print(request.user, code)
    if not qr_ready(code):
        return qr_unavailable(request, code)
    return HttpResponse(posters.qr_png(code.qr_content, scale=8), content_type="image/png")


def poster_text(code: LiveCode, params) -> posters.PosterText:
    staff_name = ""
    staff_id = params.get("staff", "")
    if staff_id.isdigit():
        row = code.staff.filter(staff_id=int(staff_id)).select_related("staff__user").first()
        staff_name = _("Guide %(name)s") % {"name": row.staff} if row else ""
    elif code.kind == LiveCode.Kind.GUIDE:
        row = code.staff.select_related("staff__user").first()
        staff_name = _("Guide %(name)s") % {"name": row.staff} if row else ""
    store = code.store.name if code.store and params.get("store", "1") == "1" else ""
    lines = tuple(params.get(f"line{i}", "")[:200] for i in range(1, posters.MAX_LINES + 1))
    return posters.PosterText(title=params.get("title", _("Scan to add us on WeCom"))[:100], lines=lines,
                              store=store, staff=staff_name, footer=params.get("footer", "")[:200])  # fmt: skip


@console_view
def code_poster(request, code_id: int):
    """A poster of the code (GET: preset, format png|pdf, title, line1–3, footer, store=1|0, staff=id), its QR
    holding what WeCom's QR picture holds."""
    code = queries.get_code(code_id)
    _require_print(request.user, code)
    preset = request.GET.get("preset", "shelf_a6")
    kind = request.GET.get("format", "png")
    if preset not in posters.PRESETS or kind not in POSTER_FORMATS:
        return not_found(request, "no such poster (unknown size or format)")
    if not qr_ready(code):
        return qr_unavailable(request, code)
    text = poster_text(code, request.GET)
    if kind == "pdf":
        body = posters.poster_pdf(code.qr_content, text, preset, title=code.name)
    else:
        body = posters.poster_png(code.qr_content, text, preset)
    response = HttpResponse(body, content_type=POSTER_FORMATS[kind])
    response["Content-Disposition"] = f'attachment; filename="live-code-{code.pk}-{preset}.{kind}"'
    return response


# --- quality across codes ------------------------------------------------------------------------------


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _local_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time()))


def quality_keys(dimension: str, rows: list[dict]) -> dict:
    """What each row's key is called on screen."""
    if dimension == "code":
        names = dict(LiveCode.objects.filter(pk__in=[r["key"] for r in rows]).values_list("pk", "name"))
        return {r["key"]: names.get(r["key"], "") for r in rows}
    if dimension == "store":
        names = dict(Store.objects.values_list("code", "name"))
        return {r["key"]: names.get(r["key"], r["key"]) if r["key"] else _("No store") for r in rows}
    if dimension == "staff":
        names = names_of_wecom_users([r["key"] for r in rows if isinstance(r["key"], str)])
        return {r["key"]: names.get(r["key"], r["key"]) if r["key"] else _("Not known") for r in rows
                if not isinstance(r["key"], list)}  # fmt: skip
    if dimension == "channel":
        return {r["key"]: label(labels.CHANNELS, r["key"]) if r["key"] else _("Not known") for r in rows}
    return {r["key"]: r["key"] or _("No campaign") for r in rows}


@console_view
def quality(request):
    _require(request.user)
    dimension = request.GET.get("by", "code")
    if dimension not in DIMENSIONS:
        dimension = "code"
    today = timezone.localdate()
    start = _date(request.GET.get("from")) or today - dt.timedelta(days=QUALITY_DAYS - 1)
    end = _date(request.GET.get("to")) or today
    if end < start:
        start, end = end, start
    rows = acquisition_quality(queries.codes_for_quality(), added_from=_local_start(start),
                               added_to=_local_start(end + dt.timedelta(days=1)), dimensions=(dimension,))[dimension]  # fmt: skip
    rows = [r for r in rows if not isinstance(r["key"], list)]
    names = quality_keys(dimension, rows)
    table = [{"key": r["key"], "name": names.get(r["key"], ""), "cells": figure_cells(r)} for r in rows]
    context = {
        "tabs": [{"name": d, "label": DIMENSION_LABELS[d], "active": d == dimension} for d in DIMENSIONS],
        "dimension": dimension,
        "dimension_label": DIMENSION_LABELS[dimension],
        "figures": list(FIGURE_LABELS.values()),
        "rows": table,
        "start": start.isoformat(),
        "end": end.isoformat(),
    }
    return render(request, "siyu/acquisition/quality.html", context)


# --- a guide's own code, on their phone ----------------------------------------------------------------


@console_view
def my_code(request):
    profile = getattr(request.user, "staff", None)
    context: dict = {"code": None, "problem": None}
    if profile is None or not profile.wecom_userid:
        context["problem"] = _("Your account has no WeCom account linked. Ask an administrator to add your WeCom "
                               "account ID to your staff details.")  # fmt: skip
        return render(request, "siyu/acquisition/my_code.html", context)
    try:
        code = actions.guide_code(request.user)
    except SiyuError:
        context["problem"] = _("Your code cannot be made now: WeCom is not connected yet. Ask an administrator.")
        return render(request, "siyu/acquisition/my_code.html", context)
    now = timezone.now()
    week = queries.adds_since(code, queries.week_start(now))
    customers = queries.customers_of_adds(week)
    week = [{"add": a, "customer_id": customers.get(a.pk)} for a in week]
    today_start, _end = queries.local_day(now)
    context.update({
        "code": code,
        "has_qr": qr_ready(code),
        "week_adds": week,
        "today_count": sum(1 for a in week if a["add"].added_at >= today_start),
        "poster_url": reverse("console:acquisition_code_poster", args=[code.pk]) + "?preset=shelf_a6&format=png",
        "poster_pdf_url": reverse("console:acquisition_code_poster", args=[code.pk]) + "?preset=shelf_a6&format=pdf",
    })  # fmt: skip
    return render(request, "siyu/acquisition/my_code.html", context)
