"""Console pages of customer groups: the list, a group (its members and health), and group health. Thin:
reads come from queries, the words of codes from labels."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from siyu.community.errors import CommunityError
from siyu.community.groups import actions, labels, queries
from siyu.community.groups.errors import GroupNotFound
from siyu.community.groups.models import (
    CODE_ROLES,
    HEALTH_ROLES,
    CustomerGroup,
    GroupCode,
    GroupType,
    GroupWelcomeTemplate,
)
from siyu.core.errors import PermissionDenied
from siyu.engagement.content import queries as content_queries
from siyu.engagement.messaging.policy import REASONS
from siyu.staff.queries import has_role
from siyu.web.views import console_view

PAGE_SIZE = 50


def _types() -> list[tuple[str, str]]:
    return [(value, labels.group_type_label(value)) for value in GroupType.values]


def _row(group: CustomerGroup) -> dict:
    return {"group": group, "type": labels.group_type_label(group.group_type),
            "status": labels.group_status_label(group.status)}  # fmt: skip


def _page_number(request) -> int:
    page = request.GET.get("page") or "1"
    return int(page) if page.isdigit() and 0 < int(page) < 1_000_000 else 1


@console_view
def groups(request):
    group_type = request.GET.get("type") or ""
    search = (request.GET.get("q") or "").strip()[:100]
    found = queries.groups_for(request.user, group_type if group_type in GroupType.values else "", search=search)
    total = found.count()
    page = _page_number(request)
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    items = found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return render(request, "siyu/community/groups.html", {
        "rows": [_row(g) for g in items], "total": total, "page": page, "pages": pages, "types": _types(),
        "filters": {"type": group_type, "q": search},
    })  # fmt: skip


@console_view
def group(request, group_id: int):
    try:
        found = queries.group_for(request.user, group_id)
    except CustomerGroup.DoesNotExist as exc:
        raise GroupNotFound(str(exc)) from exc
    members = [{"stay": s, "scene": labels.join_scene_label(s.join_scene)}
               for s in queries.members_of(found)[:500]]  # fmt: skip
    left = [{"stay": s, "scene": labels.quit_scene_label(s.quit_scene)}
            for s in queries.members_of(found, current_only=False).exclude(left_at=None).order_by("-left_at")[:50]]  # fmt: skip
    rates = queries.leave_rates(chat_ids=[found.chat_id])
    return render(request, "siyu/community/group.html", {
        "row": _row(found), "members": members, "left": left, "rate": rates[0] if rates else None,
        "days": queries.size_over_time(chat_ids=[found.chat_id]),
    })  # fmt: skip


@console_view
def group_health(request):
    if not has_role(request.user, HEALTH_ROLES):
        raise PermissionDenied("group health is for admins, operators and store managers")
    group_type = request.GET.get("type") or ""
    group_type = group_type if group_type in GroupType.values else ""
    health = queries.group_health(group_type=group_type)
    names = dict(CustomerGroup.objects.filter(
        chat_id__in={r["chat_id"] for r in health["by_group"]} | {c for d in health["duplicates"]
                                                                  for c in (d["chat_a"], d["chat_b"])}
    ).values_list("chat_id", "name"))  # fmt: skip
    for row in health["by_type"]:
        row["type"] = labels.group_type_label(row["group_type"])
    for row in health["by_group"]:
        row["name"], row["type"] = names.get(row["chat_id"]) or "—", labels.group_type_label(row["group_type"])
    for row in health["duplicates"]:
        row["name_a"], row["name_b"] = names.get(row["chat_a"]) or "—", names.get(row["chat_b"]) or "—"
    return render(request, "siyu/community/group_health.html", {
        "health": health, "types": _types(), "filters": {"type": group_type},
    })  # fmt: skip


# --- group codes, group welcome messages, group mass messages -------------------------------------------
# Every change goes through siyu.community.groups.actions; a refusal (WeCom's or a limit) is shown on the
# page it came from.

CHOOSABLE_GROUPS = 200  # groups offered as checkboxes at once; a filter narrows them


def _require_code_role(request) -> None:
    if not has_role(request.user, CODE_ROLES):
        raise PermissionDenied("group codes and welcome messages are for admins and operators")


def _choosable(request) -> tuple[list[dict], dict]:
    """The groups `request.user` may choose (filtered by the type and name in the query), and the filter."""
    group_type = request.GET.get("type") or ""
    group_type = group_type if group_type in GroupType.values else ""
    search = (request.GET.get("q") or "").strip()[:100]
    found = queries.groups_for(request.user, group_type, search=search)[:CHOOSABLE_GROUPS]
    return [_row(g) for g in found], {"type": group_type, "q": search}


def _ids(request, name: str = "groups") -> list[str]:
    return [v for v in request.POST.getlist(name) if v.strip()]


def _code_row(code) -> dict:
    return {"code": code, "groups": code.current_groups()}


@console_view
def group_codes(request):
    _require_code_role(request)
    choosable, filters = _choosable(request)
    form, status = {"auto_create_room": True, "rotate_at": actions.ROTATE_AT}, 200
    if request.method == "POST":
        data = request.POST
        form = {"name": data.get("name", ""), "state": data.get("state", ""), "remark": data.get("remark", ""),
                "room_base_name": data.get("room_base_name", ""), "auto_create_room": data.get("auto_create_room") == "on",
                "rotate_at": data.get("rotate_at") or actions.ROTATE_AT, "chosen": _ids(request)}  # fmt: skip
        try:
            rotate_at = int(form["rotate_at"])
        except ValueError:
            rotate_at = 0  # the action says the allowed range
        try:
            code = actions.create_group_code(
                request.user, form["name"], form["chosen"], state=form["state"].strip(), remark=form["remark"],
                auto_create_room=form["auto_create_room"], room_base_name=form["room_base_name"].strip(),
                rotate_at=rotate_at,
            )  # fmt: skip
        except CommunityError as exc:
            messages.error(request, str(exc))
            status = 400
        else:
            messages.success(request, _("Group code made."))
            return redirect("console:community_group_code", code_id=code.pk)
    return render(request, "siyu/community/group_codes.html", {
        "rows": [_code_row(c) for c in queries.live_codes()[:200]], "choosable": choosable, "filters": filters,
        "form": form, "max_groups": actions.JOIN_WAY_CHATS, "types": _types(),
    }, status=status)  # fmt: skip


@console_view
def group_code(request, code_id: int):
    _require_code_role(request)
    code = GroupCode.objects.filter(pk=code_id).first()
    if code is None:
        raise GroupNotFound(f"no group code {code_id}")
    if request.method == "POST" and request.POST.get("do") == "archive":
        try:
            actions.archive_group_code(request.user, code)
        except CommunityError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Group code archived: its QR code no longer works."))
        return redirect("console:community_group_code", code_id=code.pk)
    slots = [{"slot": s, "why": labels.slot_removal_label(s.removed_because) if s.removed_at else ""}
             for s in code.slots.select_related("group").order_by("removed_at", "position", "pk")]  # fmt: skip
    return render(request, "siyu/community/group_code.html", {"code": code, "slots": slots})


@console_view
def group_welcomes(request):
    _require_code_role(request)
    form, status = {}, 200
    if request.method == "POST":
        form = {"name": request.POST.get("name", ""), "text": request.POST.get("text", ""),
                "material": request.POST.get("material", "")}  # fmt: skip
        try:
            material = int(form["material"]) if form["material"].isdigit() else None
            actions.save_group_welcome_template(request.user, form["name"], form["text"], material)
        except CommunityError as exc:
            messages.error(request, str(exc))
            status = 400
        else:
            messages.success(request, _("Group welcome message saved: choose it in the group's settings in WeCom."))
            return redirect("console:community_group_welcomes")
    return render(request, "siyu/community/group_welcomes.html", {
        "templates": queries.welcome_templates().select_related("material")[:200], "form": form,
        "materials": content_queries.attachable_materials(),
    }, status=status)  # fmt: skip


@console_view
def group_welcome_delete(request, template_id: int):
    _require_code_role(request)
    template = GroupWelcomeTemplate.objects.filter(pk=template_id, deleted_at=None).first()
    if template is None:
        raise GroupNotFound(f"no group welcome message {template_id}")
    if request.method == "POST":
        try:
            actions.delete_group_welcome_template(request.user, template)
        except CommunityError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Group welcome message deleted."))
    return redirect("console:community_group_welcomes")


@console_view
def group_messages(request):
    """Send a group mass message to chosen groups (a guide: only their own, which is all they are offered)."""
    choosable, filters = _choosable(request)
    form, status = {}, 200
    if request.method == "POST":
        form = {"text": request.POST.get("text", ""), "material": request.POST.get("material", ""),
                "chosen": _ids(request)}  # fmt: skip
        try:
            material = int(form["material"]) if form["material"].isdigit() else None
            sent = actions.send_group_message(request.user, form["chosen"], form["text"], material)
        except CommunityError as exc:
            messages.error(request, str(exc))
            status = 400
        else:
            if sent.failures:
                messages.error(request, _("Some group owners could not be asked: %(owners)s")
                               % {"owners": ", ".join(sorted(sent.failures))})  # fmt: skip
            if sent.refused:
                messages.warning(request, actions.refusal_text(sent))
            if sent.customers_opted_out:
                messages.info(request, _("%(count)s customers in these groups opted out of WeCom messages: they "
                                         "still see the group's messages but are not counted as reached.")
                              % {"count": sent.customers_opted_out})  # fmt: skip
            messages.success(request, _("Sent to WeCom: each group owner confirms the message in WeCom."))
            return redirect("console:community_group_messages")
    sent_rows = [{"message": m, "groups": list(m.groups.all()[:5]), "count": m.groups.count(),
                  "owners": len(m.msgids), "failed": len(m.failures), "left_out": len(m.refused),
                  "why": "、".join(sorted({str(REASONS.get(r, r)) for r in m.refused.values()}))}
                 for m in queries.group_messages_for(request.user)]  # fmt: skip
    return render(request, "siyu/community/group_messages.html", {
        "choosable": choosable, "filters": filters, "form": form, "sent": sent_rows, "types": _types(),
        "materials": content_queries.attachable_materials(),
    }, status=status)  # fmt: skip
