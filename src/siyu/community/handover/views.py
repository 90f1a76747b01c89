"""Console pages of staff handover: 离职继承 and 在职转接 side by side with a form to hand a resigned member's
customers and groups to another, and one handover's customers and groups with WeCom's outcome. Every
change goes through siyu.community.handover.actions."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.community.handover import actions, labels, queries
from siyu.community.handover.errors import HandoverError
from siyu.core.errors import PermissionDenied
from siyu.core.labels import label
from siyu.engagement.errors import EngagementError
from siyu.engagement.messaging.channels.base import ProviderError
from siyu.staff.models import Role, StaffProfile
from siyu.staff.queries import has_role
from siyu.web.views import console_view


def _require(user) -> None:
    if not has_role(user, (Role.ADMIN, Role.OPERATOR, Role.MANAGER)):
        raise PermissionDenied("only an admin, operator or store manager can hand over customers")


@console_view
def handover_list(request):
    _require(request.user)
    rows = [{**r, "kind_words": label(labels.HANDOVER_KINDS, r["kind"])} for r in queries.transfers_of_both_kinds()]
    staff = StaffProfile.objects.exclude(wecom_userid="").select_related("user").order_by("wecom_userid")
    return render(request, "siyu/community/handovers.html", {"rows": rows, "staff": staff})


@console_view
def handover_detail(request, handover_id: int):
    _require(request.user)
    handover = queries.get_handover(handover_id)
    items = [
        {"item": i, "kind": label(labels.ITEM_KINDS, i.kind), "outcome": label(labels.OUTCOMES, queries.outcome_of(i)),
         "status": label(labels.TAKEOVER_STATUSES, i.status) if i.status else "",
         "refusal": label(labels.REFUSALS, i.refusal)}
        for i in handover.items.all()
    ]  # fmt: skip
    return render(request, "siyu/community/handover.html",
                  {"handover": handover, "kind": label(labels.HANDOVER_KINDS, handover.kind), "items": items})  # fmt: skip


@console_view
@require_POST
def handover_start(request):
    _require(request.user)
    takeover = StaffProfile.objects.filter(pk=request.POST.get("takeover") or 0).select_related("user").first()
    chat_ids = [c for c in request.POST.get("chat_ids", "").split() if c] or None
    if takeover is None:
        messages.error(request, _("Choose who takes the customers over."))
        return redirect("console:community_handovers")
    try:
        handover = actions.start_resigned_handover(request.user, request.POST.get("handover_userid", ""),
                                                   takeover.user, chat_ids)  # fmt: skip
    except (HandoverError, EngagementError, ProviderError):
        messages.error(request, _("The handover could not be started: check the resigned member's WeCom account "
                                  "and that WeCom lists customers of theirs waiting for a new owner."))  # fmt: skip
        return redirect("console:community_handovers")
    messages.success(request, _("Handover started. WeCom asks each customer; their answers are checked every hour."))
    return redirect("console:community_handover", handover_id=handover.pk)


@console_view
@require_POST
def handover_check(request):
    _require(request.user)
    try:
        found = actions.check_handover_results()
    except (EngagementError, ProviderError):
        messages.error(request, _("WeCom could not be asked now; try again later."))
    else:
        messages.success(request, _("%(accepted)s taken over, %(refused)s not taken over, %(waiting)s waiting.") % found)
    return redirect("console:community_handovers")
