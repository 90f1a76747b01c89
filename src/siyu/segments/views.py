"""Console pages of segments: the list, the builder (conditions picked point and click, written as the
JSON rule of a textarea that stays editable, checked and counted live through htmx; or a static list
uploaded from a file), and a segment's page with members, history and export. Every change goes through
siyu.segments.actions."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.core.errors import PermissionDenied, SiyuError
from siyu.segments import actions, queries
from siyu.segments.errors import NotFound
from siyu.segments.exports import export_to_file
from siyu.segments.models import RefreshSchedule, Segment
from siyu.staff.queries import can_import
from siyu.web.views import console_view

EXAMPLE_RULE = {
    "all": [
        {"field": "rfm_layer", "op": "in", "value": ["important_value", "important_keep"]},
        {"not": {"bought": {"within_days": 60}}},
        {"not": {"consent": {"channel": "wecom", "status": "opt_out"}}},
    ]
}


def _require(user) -> None:
    if not can_import(user):
        raise PermissionDenied("only administrators and operators can use segments")


def _get(segment_id: int) -> Segment:
    try:
        return queries.get_segment(segment_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc


@console_view
def segment_list(request):
    _require(request.user)
    return render(
        request,
        "siyu/segments/list.html",
        {"segments": Segment.objects.all(), "schedule": RefreshSchedule.current()},
    )


@console_view
@require_POST
def segment_schedule(request):
    """Save the daily refresh (on/off, local time)."""
    import datetime as dt

    _require(request.user)
    try:
        at = dt.time.fromisoformat(request.POST.get("at", ""))
    except ValueError:
        messages.error(request, _("Give the time as HH:MM."))
        return redirect("console:segments")
    actions.save_refresh_schedule(request.user, enabled=request.POST.get("enabled") == "1", at=at)
    messages.success(request, _("Daily refresh saved."))
    return redirect("console:segments")


@console_view
def segment_edit(request, segment_id: int | None = None):
    """New segment (no id) or edit one: GET shows the form, POST saves it."""
    _require(request.user)
    segment = _get(segment_id) if segment_id else None
    form = {
        "name": segment.name if segment else "",
        "description": segment.description if segment else "",
        "refresh": segment.refresh if segment else Segment.Refresh.AFTER_RESOLVE,
        "kind": segment.kind if segment else Segment.Kind.RULE,
        "rule": json.dumps(
            segment.rule if segment and segment.rule else EXAMPLE_RULE, ensure_ascii=False, indent=2
        ),
    }
    error = ""
    if request.method == "POST":
        data = request.POST
        form.update({k: data.get(k, "") for k in ("name", "description", "refresh", "kind", "rule")})
        try:
            if form["kind"] == Segment.Kind.STATIC:
                upload = request.FILES.get("file")
                if upload is None and segment is not None and segment.kind == Segment.Kind.STATIC:
                    ids = segment.static_ids  # keep the list when no new file is given
                elif upload is None:
                    raise SiyuError("choose a file of customer ids")
                else:
                    ids = actions.parse_customer_ids(upload.read().decode("utf-8-sig", errors="replace"))
                saved = actions.save_segment(
                    request.user, form["name"], customer_ids=ids, description=form["description"],
                    refresh=form["refresh"], segment_id=segment_id,
                )  # fmt: skip
            else:
                saved = actions.save_segment(
                    request.user, form["name"], rule=_parse_rule(form["rule"]), description=form["description"],
                    refresh=form["refresh"], segment_id=segment_id,
                )  # fmt: skip
        except SiyuError as exc:
            error = str(exc)
        else:
            if saved.refresh_error:
                messages.warning(
                    request, _("Segment saved, but its members could not be computed yet: %(error)s")
                    % {"error": saved.refresh_error},
                )  # fmt: skip
            else:
                messages.success(request, _("Segment saved: %(members)s members.") % {"members": saved.member_count})
            return redirect("console:segment", saved.pk)
    catalog = {**queries.builder_catalog(), "text": _builder_text()}
    return render(
        request,
        "siyu/segments/edit.html",
        {
            "segment": segment, "form": form, "error": error, "refresh_choices": Segment.Refresh.choices,
            "catalog": catalog,
        },
        status=400 if error else 200,
    )  # fmt: skip


def _builder_text() -> dict:
    """The builder's own words (static/siyu/segment_builder.js), in the console's language."""
    return {
        "all": _("All of these hold"), "any": _("Any of these holds"), "not": _("Not"),
        "add_condition": _("+ Condition"), "add_group": _("+ Group"), "remove": _("Remove"),
        "field": _("Trait or profile field"), "bought": _("Bought"), "spent": _("Spent"), "event": _("Event"),
        "tag": _("Has tag"), "consent": _("Consent"), "owner": _("Owner guide"), "store": _("Guide's store"),
        "within_days": _("in the last N days"), "at_least": _("at least (times)"),
        "at_least_yuan": _("at least (yuan)"), "source": _("channel"), "store_code": _("store"),
        "product_name": _("product name contains"), "product_id": _("product id or SKU"),
        "event_type": _("event type"), "any_value": _("any"), "no_owner": _("(no owner)"),
        "customer_group": _("In a customer group"), "group_type": _("group type"),
        "left_within_days": _("left within N days of joining"), "live_code": _("through live code"),
        "points": _("Points"), "tier": _("Membership tier"), "coupon": _("Coupons held or used"), "checkin": _("Daily check-in"),
        "survey_answer": _("Survey answer"), "points_at_least": _("available points at least"),
        "points_at_most": _("available points at most"), "tier_is": _("tier is"),
        "tier_rank": _("this tier or higher"), "coupon_template": _("coupon"), "coupon_status": _("which coupons"),
        "streak_at_least": _("check-in streak at least (days)"),
        "checked_in_within": _("checked in within the last N days"), "survey": _("survey"),
        "question": _("question"), "answer_is": _("answer is one of"),
        "no_surveys": _("No survey has answers yet"),
        "values_hint": _("values, separated by commas"),
        "json_only": _("This rule uses something the builder cannot show; edit it as JSON below."),
        "ops": {
            "in": _("is one of"), "not in": _("is none of"), "between": _("between"), "contains": _("contains"),
            "is null": _("is empty"), "is not null": _("is not empty"),
        },
    }  # fmt: skip


def _parse_rule(text: str):
    try:
        return json.loads(text or "")
    except json.JSONDecodeError as exc:
        raise SiyuError(
            f"the rule is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None


@console_view
@require_POST
def segment_preview(request):
    """htmx: the live count and sample members of the rule in the textarea, or what is wrong with it."""
    _require(request.user)
    try:
        result = queries.preview_segment(_parse_rule(request.POST.get("rule", "")))
    except SiyuError as exc:
        return render(request, "siyu/segments/preview.html", {"error": str(exc)})
    return render(request, "siyu/segments/preview.html", {"result": result})


@console_view
def segment_detail(request, segment_id: int):
    _require(request.user)
    segment = _get(segment_id)
    try:
        page = max(int(request.GET.get("page", 1)), 1)
    except ValueError:
        page = 1
    return render(
        request,
        "siyu/segments/detail.html",
        {
            "segment": segment,
            "rule": json.dumps(segment.rule, ensure_ascii=False, indent=2),
            "members": queries.segment_members_page(segment.pk, page, 50),
            "changes": queries.segment_changes_page(segment.pk, 1, 50),
        },
    )


@console_view
@require_POST
def segment_refresh(request, segment_id: int):
    _require(request.user)
    _get(segment_id)
    try:
        report = actions.refresh_segment(segment_id)
    except SiyuError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("Refreshed: %(members)s members, %(entered)s entered, %(exited)s left.") % report,
        )
    return redirect("console:segment", segment_id)


@console_view
@require_POST
def segment_delete(request, segment_id: int):
    _require(request.user)
    _get(segment_id)
    actions.delete_segment(request.user, segment_id)
    messages.success(request, _("Segment deleted."))
    return redirect("console:segments")


@console_view
def segment_export(request, segment_id: int):
    """The members as CSV or XLSX (the same file as `siyu export segment ID`)."""
    _require(request.user)
    segment = _get(segment_id)
    suffix = ".xlsx" if request.GET.get("format") == "xlsx" else ".csv"
    folder = Path(tempfile.mkdtemp(prefix="siyu-segment-"))
    path = folder / f"segment-{segment.pk}{suffix}"
    export_to_file("segment", str(path), actor=request.user, segment_id=segment.pk)
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
