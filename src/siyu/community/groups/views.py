"""Console pages of customer groups: the list, a group (its members and health), and group health. Thin:
reads come from queries, the words of codes from labels."""

from __future__ import annotations

from django.shortcuts import render

from siyu.community.groups import labels, queries
from siyu.community.groups.errors import GroupNotFound
from siyu.community.groups.models import CustomerGroup, GroupType
from siyu.core.errors import PermissionDenied
from siyu.staff.models import Role
from siyu.staff.queries import has_role
from siyu.web.views import console_view

PAGE_SIZE = 50
HEALTH_ROLES = (Role.ADMIN, Role.OPERATOR, Role.MANAGER)


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
        "filters": {"type": group_type, "q": search}, "can_see_health": has_role(request.user, HEALTH_ROLES),
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
