"""Console page of tiers: the definitions with a make/edit form, the members per tier and the recent
changes. Thin: reads from queries, changes through actions."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from siyu.loyalty.tiers import actions, labels, queries
from siyu.loyalty.tiers.errors import TierError
from siyu.loyalty.tiers.models import RULE_ROLES, Tier, TierMeasure
from siyu.staff.queries import has_role
from siyu.web.views import console_view

FIELDS = ("name", "rank", "measure", "threshold", "window_days", "multiplier", "upgrade_coupon_template_id",
          "birthday_points")  # fmt: skip


def _form_values(data) -> dict:
    values = {f: (data.get(f) or "").strip() for f in FIELDS}
    values["active"] = data.get("active") == "on"
    for f in ("rank", "window_days", "birthday_points", "upgrade_coupon_template_id"):
        values[f] = int(values[f]) if values[f].isdigit() and len(values[f]) < 12 else (None if not values[f] else -1)
    return values


@console_view
def tiers(request):
    editing = None
    if request.GET.get("edit", "").isdigit():
        editing = Tier.objects.filter(pk=int(request.GET["edit"])).first()
    status = 200
    if request.method == "POST":
        values = _form_values(request.POST)
        tier_id = request.POST.get("tier_id", "")
        target = Tier.objects.filter(pk=int(tier_id)).first() if tier_id.isdigit() and len(tier_id) < 12 else None
        try:
            if target is not None:
                actions.change_tier(request.user, target, **values)
            else:
                actions.make_tier(request.user, **values)
        except TierError as exc:
            messages.error(request, _("The tier was not saved: %(why)s") % {"why": exc})
            status = 400
        else:
            messages.success(request, _("Tier saved."))
            return redirect("console:loyalty_tiers")
    rows = [{"tier": r["tier"], "members": r["members"], "measure": labels.measure_label(r["tier"].measure)}
            for r in queries.members_per_tier()]  # fmt: skip
    changes = [{"change": c, "kind": labels.change_label(c.kind)} for c in queries.recent_changes()]
    return render(request, "siyu/loyalty/tiers.html", {
        "rows": rows, "changes": changes, "editing": editing, "may_edit": has_role(request.user, RULE_ROLES),
        "measures": [(v, labels.measure_label(v)) for v in TierMeasure.values],
    }, status=status)  # fmt: skip
