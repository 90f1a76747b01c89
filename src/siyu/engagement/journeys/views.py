"""Console pages of journeys (SOP): list, editor, live counts and lift."""

from __future__ import annotations

import json

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from siyu.acquisition import queries as acquisition_queries
from siyu.community.groups import labels as group_labels
from siyu.community.groups import queries as group_queries
from siyu.community.groups.models import GroupType
from siyu.engagement.content import queries as content_queries
from siyu.engagement.errors import EngagementError
from siyu.engagement.journeys import actions, queries
from siyu.engagement.journeys.labels import (
    AUDIENCES,
    CUSTOMER_STEP_TYPES,
    GROUP_STEP_TYPES,
    JOURNEY_EVENTS,
    REENTRY,
    STEP_TYPES,
    TRIGGERS,
)
from siyu.engagement.journeys.models import Journey
from siyu.loyalty.coupons import queries as coupon_queries
from siyu.segments.models import Segment
from siyu.segments.queries import loyalty_choices
from siyu.staff.models import Store
from siyu.staff.queries import can_import
from siyu.web.views import console_view, forbidden

# --- journeys ----------------------------------------------------------------------------------------------

TRIGGER_FIELDS = (
    "event",
    "max_age_days",
    "segment_id",
    "change",
    "date",
    "days_before",
    "every_days",
    "at",
    "days",
)


def _number(value, default=0):
    text = str(value if value is not None else "").strip()
    try:
        return int(text) if text else default
    except ValueError:
        return text  # the action says what is wrong


def _trigger_from(data) -> dict:
    trigger = {"type": data.get("trigger_type", "")}
    for name in TRIGGER_FIELDS:
        value = data.get(f"trigger_{name}", "").strip()
        if value == "":
            continue
        numeric = name in ("max_age_days", "segment_id", "days_before", "every_days", "days")
        trigger[name] = _number(value) if numeric else value
    code = data.get("trigger_code_id", "").strip()
    if code and trigger.get("event") == "code_scanned":  # an add through this one live code
        trigger["with"] = {"code_id": code}
    tier = data.get("trigger_tier", "").strip()
    if tier and trigger.get("event") == "tier_changed":  # a change to this one tier
        trigger["with"] = {"to": tier}
    template = data.get("trigger_template_id", "").strip()
    if template and trigger.get("event") == "coupon_expiring":  # a coupon of this one template
        trigger["with"] = {"template_id": template}
    return trigger


CHOOSABLE_GROUPS = 300  # groups offered as checkboxes in the editor; more are chosen by type, store or owner


def _groups_from(data) -> dict:
    """A group journey's selector from the editor (siyu.engagement.journeys.definitions, Group SOP)."""
    return {"group_ids": [_number(v) for v in data.getlist("group_ids") if v.strip()],
            "group_type": data.get("group_type", "").strip(), "store_id": _number(data.get("group_store"), None),
            "owner_userid": data.get("group_owner", "").strip()}  # fmt: skip


def _journey_form(journey=None) -> dict:
    if journey is None:
        return {"name": "", "description": "", "trigger": {"type": "event", "event": "order_placed"}, "reentry": "once",
                "reentry_days": 0, "goal_days": 7, "exit_on_goal": True, "priority": 0, "holdout_percent": "10",
                "cost_per_send": "0", "steps_json": "[]", "audience": "customers", "groups": {}}  # fmt: skip
    return {
        "audience": journey.audience, "groups": journey.groups or {},
        "name": journey.name, "description": journey.description, "trigger": journey.trigger,
        "reentry": journey.reentry, "reentry_days": journey.reentry_days, "goal_days": journey.goal_days,
        "exit_on_goal": journey.exit_on_goal, "priority": journey.priority,
        "holdout_percent": journey.holdout_percent, "cost_per_send": journey.cost_per_send,
        "steps_json": json.dumps(journey.steps, ensure_ascii=False, indent=2),
    }  # fmt: skip


def _journey_context(request, form: dict, journey=None) -> dict:
    chosen = set((form.get("groups") or {}).get("group_ids") or [])
    groups = [{"group": g, "type": group_labels.group_type_label(g.group_type), "chosen": g.pk in chosen}
              for g in group_queries.groups_for(request.user)[:CHOOSABLE_GROUPS]]  # fmt: skip
    return {
        "form": form, "journey": journey, "trigger_labels": TRIGGERS, "event_labels": JOURNEY_EVENTS,
        "segments": Segment.objects.all(), "reentry_choices": list(REENTRY.items()),
        "audiences": list(AUDIENCES.items()), "choosable_groups": groups, "stores": Store.objects.order_by("name"),
        "group_types": [(v, group_labels.group_type_label(v)) for v in GroupType.values],
        "live_codes": acquisition_queries.list_codes(),
        # tiers [code, name, rank] and coupon templates [id, name] for loyalty's triggers
        **{k: v for k, v in loyalty_choices().items() if k in ("tiers", "coupon_templates")},
    }  # fmt: skip


@console_view
def journeys(request):
    if not can_import(request.user):
        return forbidden(request)
    rows = [{"journey": j, **queries.journey_summary(j)} for j in Journey.objects.all()]
    return render(request, "siyu/engagement/journeys.html", {"rows": rows, "trigger_labels": TRIGGERS})


@console_view
def journey_edit(request, journey_id=None):
    if not can_import(request.user):
        return forbidden(request)
    journey = queries.get_journey(journey_id) if journey_id else None
    if request.method == "POST":
        data = request.POST
        ran = bool(journey and journey.activated_at)
        form = {**_journey_form(journey), **{k: data.get(k, "") for k in (
            "name", "description", "reentry", "reentry_days", "goal_days", "priority", "holdout_percent",
            "cost_per_send", "steps_json")}, "exit_on_goal": data.get("exit_on_goal") == "on",
            "trigger": journey.trigger if ran else _trigger_from(data),
            "audience": journey.audience if ran else data.get("audience", "customers"),
            "groups": _groups_from(data)}  # fmt: skip
        try:
            try:
                steps = json.loads(form["steps_json"] or "[]")
            except ValueError as exc:
                raise EngagementError(f"the steps are not valid JSON: {exc}") from exc
            if not steps:  # a new journey starts with an exit; steps are added on its page
                steps = journey.steps if journey else [{"id": "end", "type": "exit"}]
            saved = actions.save_journey(
                request.user, journey_id=journey.pk if journey else None, name=form["name"],
                description=form["description"], trigger=form["trigger"], steps=steps, reentry=form["reentry"],
                reentry_days=_number(form["reentry_days"]), goal_days=_number(form["goal_days"]),
                exit_on_goal=form["exit_on_goal"], priority=_number(form["priority"]),
                holdout_percent=form["holdout_percent"] or 0, cost_per_send=form["cost_per_send"] or 0,
                audience=form["audience"], groups=form["groups"],
            )  # fmt: skip
        except EngagementError as exc:
            messages.error(request, str(exc))
            return render(
                request, "siyu/engagement/journey_edit.html", _journey_context(request, form, journey), status=400
            )
        messages.success(request, _("Journey saved."))
        return redirect("console:journey", journey_id=saved.pk)
    return render(
        request, "siyu/engagement/journey_edit.html", _journey_context(request, _journey_form(journey), journey)
    )


def _step_from(data) -> dict:
    """A step from the add-step form (fields named as in siyu.engagement.journeys.definitions)."""
    kind = data.get("type", "")
    step: dict = {"type": kind}
    if data.get("id", "").strip():
        step["id"] = data["id"].strip()
    for name in ("next", "then", "else", "timeout_next"):
        if data.get(name, "").strip():
            step[name] = data[name].strip()
    numbers = {
        "wait": ("days", "hours", "minutes"),
        "wait_event": ("timeout_hours",),
        "award_points": ("points",),
        "issue_coupon": ("template",),
    }
    texts = {"wait_window": ("start", "end"), "wait_event": ("event",), "send": ("channel", "template", "subject",
             "content", "material"), "send_group": ("content", "material"), "add_tag": ("tag",), "remove_tag": ("tag",), "guide_task": ("title", "script"),
             "award_points": ("reason",)}  # fmt: skip
    for name in numbers.get(kind, ()):
        step[name] = _number(data.get(name), 0)
    for name in texts.get(kind, ()):
        step[name] = data.get(name, "")
    if kind == "send":
        variables = {}
        for line in data.get("variables", "").splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip():
                variables[key.strip()] = value.strip()
        step["variables"] = variables
    if kind == "branch":
        try:
            step["rule"] = json.loads(data.get("rule") or "null")
        except ValueError as exc:
            raise EngagementError(f"the condition is not valid JSON: {exc}") from exc
    if kind == "split":
        step["paths"] = [
            {"weight": _number(data.get(f"weight_{i}")), "next": data.get(f"path_next_{i}", "").strip()}
            for i in (1, 2, 3)
            if data.get(f"path_next_{i}", "").strip()
        ]
    return step


def _save_steps(request, journey, steps) -> None:
    actions.save_journey(
        request.user, journey_id=journey.pk, name=journey.name, description=journey.description,
        trigger=journey.trigger, steps=steps, reentry=journey.reentry, reentry_days=journey.reentry_days,
        goal_days=journey.goal_days, exit_on_goal=journey.exit_on_goal, priority=journey.priority,
        holdout_percent=journey.holdout_percent, cost_per_send=journey.cost_per_send,
        audience=journey.audience, groups=journey.groups,
    )  # fmt: skip


def _step_labels(journey) -> dict:
    return GROUP_STEP_TYPES if journey.audience == Journey.Audience.GROUPS else CUSTOMER_STEP_TYPES


@console_view
def journey(request, journey_id):
    if not can_import(request.user):
        return forbidden(request)
    item = queries.get_journey(journey_id)
    if request.method == "POST":
        what = request.POST.get("do", "")
        try:
            if what == "activate":
                actions.activate_journey(request.user, item.pk)
                messages.success(request, _("Journey activated."))
            elif what == "pause":
                actions.pause_journey(request.user, item.pk)
                messages.success(request, _("Journey paused."))
            elif what == "add_step":
                step = _step_from(request.POST)
                steps = list(item.steps)
                before = request.POST.get("before", "")
                ids = [s["id"] for s in steps]
                position = ids.index(before) if before in ids else len(steps)
                if "id" not in step:
                    taken, n = set(ids), len(steps) + 1
                    while f"s{n}" in taken:
                        n += 1
                    step["id"] = f"s{n}"
                steps.insert(position, step)
                _save_steps(request, item, steps)
                messages.success(request, _("Step added."))
            elif (
                what == "replace_step"
            ):  # the step keeps its id: who waits at it goes on with the new version
                steps, step_id = list(item.steps), request.POST.get("step", "")
                ids = [s["id"] for s in steps]
                if step_id not in ids:
                    raise EngagementError(f"the journey has no step {step_id!r}")
                steps[ids.index(step_id)] = {**_step_from(request.POST), "id": step_id}
                _save_steps(request, item, steps)
                messages.success(request, _("Step saved."))
            elif what == "move_step":
                steps, step_id = list(item.steps), request.POST.get("step", "")
                ids = [s["id"] for s in steps]
                if step_id in ids:
                    at = ids.index(step_id)
                    to = at - 1 if request.POST.get("to") == "up" else at + 1
                    if 0 <= to < len(steps):
                        steps[at], steps[to] = steps[to], steps[at]
                        _save_steps(request, item, steps)
                        messages.success(request, _("Step moved."))
            elif what == "remove_step":
                _save_steps(request, item, [s for s in item.steps if s["id"] != request.POST.get("step")])
                messages.success(request, _("Step removed."))
            elif what == "delete":
                actions.delete_journey(request.user, item.pk)
                messages.success(request, _("Journey deleted."))
                return redirect("console:journeys")
        except EngagementError as exc:
            messages.error(request, str(exc))
        return redirect("console:journey", journey_id=item.pk)
    editing = _step_of(item, request.GET.get("edit"))
    for_groups = item.audience == Journey.Audience.GROUPS
    return render(request, "siyu/engagement/journey.html", {
        "journey": item, "summary": queries.journey_summary(item), "steps": queries.journey_step_counts(item),
        "step_labels": STEP_TYPES, "step_choices": _step_labels(item), "trigger_labels": TRIGGERS,
        "event_labels": JOURNEY_EVENTS, "editing": editing, "for_groups": for_groups,
        "group_runs": queries.group_journey_runs(item) if for_groups else [],
        **_step_form(request, editing, item),
    })  # fmt: skip


def _step_of(journey, step_id) -> dict | None:
    return next((s for s in journey.steps if s["id"] == step_id), None) if step_id else None


def _step_form(request, editing: dict | None, journey) -> dict:
    """The step form's context: the chosen type, and the values to show (the edited step's when the type
    is still its own, else the defaults)."""
    first = "send_group" if journey.audience == Journey.Audience.GROUPS else "send"
    step_type = request.GET.get("type") or (editing or {}).get("type") or first
    shown = editing if editing and editing["type"] == step_type else {}
    variables = "\n".join(f"{k}={v}" for k, v in shown.get("variables", {}).items())
    paths = [*shown.get("paths", []), {}, {}, {}][:3]
    return {"step_type": step_type, "shown": shown, "shown_variables": variables, "shown_paths": paths,
            "shown_rule": json.dumps(shown["rule"], ensure_ascii=False) if "rule" in shown else "",
            "channels": ("wecom", "sms", "email", "webhook"),
            "materials": content_queries.attachable_materials() if step_type in ("send", "send_group") else [],
            "coupon_templates": coupon_queries.issuing_templates() if step_type == "issue_coupon" else []}  # fmt: skip


@console_view
def journey_step_fields(request, journey_id):
    """The add-step form's fields for the chosen step type (htmx)."""
    if not can_import(request.user):
        return forbidden(request)
    item = queries.get_journey(journey_id)
    editing = _step_of(item, request.GET.get("edit"))
    return render(request, "siyu/engagement/_step_fields.html", {
        "journey": item, "event_labels": JOURNEY_EVENTS, **_step_form(request, editing, item),
    })  # fmt: skip


@console_view
def journey_lift(request, journey_id):
    if not can_import(request.user):
        return forbidden(request)
    item = queries.get_journey(journey_id)
    return render(
        request, "siyu/engagement/journey_lift.html", {"journey": item, "lift": queries.journey_lift(item)}
    )
