"""Console pages of the chat archive: the sensitive-word page (rules, the alerts audit, archive imports) and
what the archive says about the conversations (silent group members, guides' response times). Every change
goes through siyu.community.archive.actions."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.community.archive import actions, labels, queries
from siyu.community.archive.errors import RuleError
from siyu.community.archive.matching import ALL_TYPES, GROUP_TYPES
from siyu.community.groups.models import CustomerGroup
from siyu.core.errors import PermissionDenied
from siyu.core.labels import label
from siyu.core.owner import submit_job
from siyu.staff.models import Role
from siyu.staff.queries import has_role, names_of_wecom_users
from siyu.web.views import console_view


def _require_reader(user) -> None:
    if not has_role(user, (Role.ADMIN, Role.OPERATOR, Role.MANAGER)):
        raise PermissionDenied("only an admin, operator or store manager can see sensitive-word alerts")


def _require_operator(user) -> None:
    if not has_role(user, (Role.ADMIN, Role.OPERATOR)):
        raise PermissionDenied("only an admin or operator can change sensitive-word rules")


SILENT_DAYS = (7, 14, 30)


@console_view
def chat_insights(request):
    """Silent members per group (no message for N days) and how long customers wait for a guide's reply."""
    _require_reader(request.user)
    try:
        days = int(request.GET.get("days") or 7)
    except ValueError:
        days = 7
    days = days if days in SILENT_DAYS else 7
    silent = queries.silent_members(days=days, limit=200)
    names = dict(CustomerGroup.objects.filter(chat_id__in=[r["room_id"] for r in silent["rooms"]])
                 .values_list("chat_id", "name"))  # fmt: skip
    times = queries.response_times()
    staff = names_of_wecom_users(r["staff"] for r in times)
    return render(request, "siyu/community/chat_insights.html", {
        "days": days, "day_choices": SILENT_DAYS, "message_total": queries.message_count(),
        "rooms": [{**r, "name": names.get(r["room_id"], "")} for r in silent["rooms"]],
        "members": [{**m, "name": names.get(m["room_id"], "")} for m in silent["members"]],
        "times": [{**r, "name": staff.get(r["staff"], r["staff"])} for r in times],
    })  # fmt: skip


@console_view
def sensitive_words(request):
    _require_reader(request.user)
    status = request.GET.get("status") or "open"
    status = status if status in labels.ALERT_STATUSES else "open"
    try:
        page = max(int(request.GET.get("page") or 1), 1)
    except ValueError:
        page = 1
    alerts, total = queries.alerts(status, page=page)
    rules = [
        {"rule": r, "kind": label(labels.RULE_KINDS, r.kind), "scope": labels.scope_words(r.group_types, r.one_on_one)}
        for r in queries.rules()
    ]  # fmt: skip
    context = {
        "rules": rules,
        "alerts": alerts,
        "total": total,
        "page": page,
        "pages": max((total + queries.ALERT_PAGE - 1) // queries.ALERT_PAGE, 1),
        "status": status,
        "statuses": list(labels.ALERT_STATUSES.items()),
        "kinds": list(labels.RULE_KINDS.items()),
        "group_types": [(code, labels.GROUP_TYPES[code]) for code in (*GROUP_TYPES, ALL_TYPES)],
        "imports": queries.recent_imports(5),
        "can_edit": has_role(request.user, (Role.ADMIN, Role.OPERATOR)),
    }
    return render(request, "siyu/community/sensitive_words.html", context)


@console_view
@require_POST
def rule_save(request):
    _require_operator(request.user)
    try:
        actions.save_rule(
            request.user, request.POST.get("name", ""), request.POST.get("kind", "keyword"),
            request.POST.get("pattern", ""), request.POST.getlist("group_types"),
            one_on_one=request.POST.get("one_on_one") == "1",
        )  # fmt: skip
    except RuleError as exc:
        messages.error(request, label(labels.RULE_ERRORS, exc.code))
    else:
        messages.success(request, _("Rule saved. New messages are checked against it on import."))
    return redirect("console:community_sensitive_words")


@console_view
@require_POST
def rule_delete(request, rule_id: int):
    _require_operator(request.user)
    actions.delete_rule(request.user, rule_id)
    messages.success(request, _("Rule deleted; its alerts stay on this page."))
    return redirect("console:community_sensitive_words")


@console_view
@require_POST
def rules_rescan(request):
    _require_operator(request.user)
    found = actions.rescan_messages(request.user)
    messages.success(request, _("%(scanned)s messages checked again, %(alerts)s new alerts.") % found)
    return redirect("console:community_sensitive_words")


@console_view
@require_POST
def alert_handle(request, alert_id: int):
    _require_reader(request.user)
    actions.handle_alert(request.user, alert_id, request.POST.get("note", ""))
    messages.success(request, _("Alert marked as handled."))
    return redirect("console:community_sensitive_words")


@console_view
@require_POST
def archive_import(request):
    _require_operator(request.user)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, _("Choose the archive export to import."))
        return redirect("console:community_sensitive_words")
    job = submit_job("chat_archive_import", {"path": actions.store_archive_upload(upload)}, request.user,
                     in_process=False)  # fmt: skip
    return redirect("console:job", job_id=job.pk)
