"""Console pages of guide tasks: a guide's own task list (made for a phone: the rendered script, the
customer masked, one form to record the contact), the batches with the form that creates them
(admins, operators, store managers), giving open tasks to another guide, and the per-guide report. Changes go through task_actions."""

from __future__ import annotations

import datetime as dt
import re

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.core.errors import PermissionDenied, SiyuError
from siyu.engagement.content import queries as content_queries
from siyu.engagement.content.models import Material
from siyu.engagement.errors import TaskError
from siyu.engagement.guides import actions as task_actions
from siyu.engagement.guides import queries as task_queries
from siyu.engagement.guides.actions import TASK_REASONS
from siyu.engagement.guides.models import GuideTask, TaskBatch
from siyu.engagement.messaging.policy import REASONS
from siyu.segments.actions import parse_customer_ids
from siyu.segments.models import Segment
from siyu.staff.models import Role, Store
from siyu.staff.queries import has_role, role_of, store_of
from siyu.web.views import console_view, forbidden

REASON_TEXT = {**REASONS, **TASK_REASONS}


def can_create_tasks(user) -> bool:
    return has_role(user, task_actions.TASK_CREATORS)


def _date(text):
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


@console_view
def task_list(request):
    data = request.GET
    status = data.get("status") if data.get("status") in GuideTask.Status.values else None
    if role_of(request.user) == Role.GUIDE and "status" not in data:
        status = GuideTask.Status.OPEN
    batch = int(data["batch"]) if (data.get("batch") or "").isdigit() else None
    page_number = int(data["page"]) if (data.get("page") or "").isdigit() else 1
    page = task_queries.list_tasks(request.user, status=status, batch_id=batch, page=page_number)
    creator = can_create_tasks(request.user)
    context = {
        "page": page,
        "status": status,
        "batch": batch,
        "statuses": GuideTask.Status.choices,
        "outcomes": GuideTask.Outcome.choices,
        "reasons": REASON_TEXT,
        "creator": creator,
        "is_guide": role_of(request.user) == Role.GUIDE,
        "query": "&".join(f"{k}={v}" for k, v in (("status", status or ""), ("batch", batch or "")) if v),
    }
    if creator:

        own_store = store_of(request.user) if role_of(request.user) == Role.MANAGER else None
        context.update(
            batches=task_queries.list_batches(request.user, limit=50),
            scripts=content_queries.search_scripts(),
            materials=content_queries.search_materials(usable_only=True),
            segments=Segment.objects.filter(refreshed_at__isnull=False),
            stores=Store.objects.filter(pk=own_store) if own_store else Store.objects.all(),
            default_due=(timezone.localtime() + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
            material_kinds=dict(Material.Kind.choices),
            guides=task_queries.assignable_guides(request.user),
        )
    return render(request, "siyu/engagement/tasks/list.html", context)


@console_view
@require_POST
def task_create(request):
    if not can_create_tasks(request.user):
        return forbidden(request)
    data = request.POST
    try:
        due = dt.datetime.fromisoformat(data.get("due_at", ""))
    except ValueError:
        messages.error(request, _("Give the due date and time."))
        return redirect("console:engagement_tasks")
    if timezone.is_naive(due):
        due = timezone.make_aware(due)
    ids_text = data.get("customer_ids", "").strip()
    segment = data.get("segment") or None
    variables = {}
    for line in data.get("variables", "").splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip():
            variables[name.strip()] = value.strip()
    try:

        batch = task_actions.create_guide_tasks(
            request.user,
            script=data.get("script"),
            due_at=due,
            customer_ids=parse_customer_ids(re.sub(r"[,，;\s]+", "\n", ids_text))
            if ids_text and not segment
            else None,
            segment_id=int(segment) if segment else None,
            assign=data.get("assign", "owner"),
            store=data.get("store") or None,
            max_open=data.get("max_open") or None,
            variables=variables,
            material=data.get("material") or None,
            name=data.get("name", ""),
        )
    except SiyuError as exc:
        messages.error(request, str(exc))
        return redirect("console:engagement_tasks")
    counts = batch.counts
    messages.success(
        request,
        _("%(open)d tasks created; %(suppressed)d suppressed.")
        % {"open": counts.get("open", 0), "suppressed": sum(counts.get("suppressed", {}).values())},
    )
    return redirect(f"{reverse('console:engagement_tasks')}?batch={batch.pk}&status=")


@console_view
@require_POST
def task_complete(request, task_id: int):
    try:
        task_actions.complete_task(
            request.user, task_id, request.POST.get("outcome", ""), request.POST.get("note", "")
        )
    except SiyuError as exc:
        if isinstance(exc, PermissionDenied):
            raise
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Contact recorded."))
    return _back(request)


def _back(request):
    """Back to the task list the form was on (its `next`), or to the task list."""
    back = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("console:engagement_tasks")
    return redirect(back)


@console_view
@require_POST
def batch_cancel(request, batch_id: int):
    try:
        cancelled = task_actions.cancel_batch(request.user, batch_id)
    except SiyuError as exc:
        if isinstance(exc, PermissionDenied):
            raise
        messages.error(request, str(exc))
    else:
        messages.success(request, _("%(count)d open tasks cancelled.") % {"count": cancelled})
    return redirect("console:engagement_tasks")


@console_view
@require_POST
def tasks_reassign(request):
    if not can_create_tasks(request.user):
        return forbidden(request)
    data = request.POST
    ids = [i for i in data.getlist("task") if i.isdigit()]
    try:
        if not ids:
            raise TaskError("choose the open tasks to give to another guide")
        moved = task_actions.reassign_tasks(
            request.user, ids, data.get("guide", ""), transfer_customers=data.get("transfer") == "on"
        )
    except SiyuError as exc:
        if isinstance(exc, PermissionDenied):
            raise
        messages.error(request, str(exc))
    else:
        messages.success(request, _("%(count)d open tasks given to another guide.") % {"count": moved})
    return _back(request)


@console_view
def guide_report(request):
    data = request.GET
    days = int(data["days"]) if (data.get("days") or "").isdigit() else task_queries.DEFAULT_PURCHASE_DAYS
    batch = int(data["batch"]) if (data.get("batch") or "").isdigit() else None
    error = None
    try:
        report = task_queries.guide_report(
            request.user, date_from=_date(data.get("date_from")), date_to=_date(data.get("date_to")),
            days=days, batch_id=batch,
        )  # fmt: skip
    except task_queries.TaskError as exc:
        error, report = str(exc), task_queries.guide_report(request.user)
    totals = {
        key: sum(r[key] for r in report["items"])
        for key in ("tasks", "open", "overdue", "done", "tasks_with_purchase", "orders", "gmv")
    }
    return render(
        request,
        "siyu/engagement/tasks/report.html",
        {
            "report": report,
            "totals": totals,
            "error": error,
            "batches": TaskBatch.objects.all()[:100],
            "outcomes": GuideTask.Outcome.choices,
        },  # fmt: skip
    )
