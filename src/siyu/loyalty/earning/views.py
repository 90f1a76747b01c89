"""Console page of earn rules: the list, a make/edit form, disabling a rule, and the last runs of the order
earn job. Thin: reads from queries, changes through actions."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from siyu.loyalty.earning import actions, labels, queries
from siyu.loyalty.earning.errors import EarnRuleError
from siyu.loyalty.earning.models import EarnRule, Expiry, RuleKind
from siyu.loyalty.tiers.models import RULE_ROLES
from siyu.staff.queries import has_role
from siyu.web.views import console_view

FIELDS = ("name", "kind", "channel", "product", "points_per_yuan", "points", "expiry", "expiry_days")


def _form_values(data) -> dict:
    values = {f: (data.get(f) or "").strip() for f in FIELDS}
    for f in ("points", "expiry_days"):
        values[f] = int(values[f]) if values[f].isdigit() and len(values[f]) < 12 else (0 if not values[f] else -1)
    values["points_per_yuan"] = values["points_per_yuan"] or "0"
    return values


def _rule(value: str) -> EarnRule | None:
    return EarnRule.objects.filter(pk=int(value)).first() if value.isdigit() and len(value) < 12 else None


@console_view
def earn_rules(request):
    editing = _rule(request.GET.get("edit", ""))
    status = 200
    if request.method == "POST":
        target = _rule(request.POST.get("rule_id", ""))
        try:
            if request.POST.get("disable") and target is not None:
                actions.disable_rule(request.user, target)
            elif target is not None:
                actions.change_rule(request.user, target, active=request.POST.get("active") == "on",
                                    **_form_values(request.POST))  # fmt: skip
            else:
                actions.make_rule(request.user, **_form_values(request.POST))
        except EarnRuleError as exc:
            messages.error(request, _("The earn rule was not saved: %(why)s") % {"why": exc})
            status = 400
        else:
            messages.success(request, _("Earn rule saved."))
            return redirect("console:loyalty_earning")
    rows = [{"rule": r, "kind": labels.kind_label(r.kind), "expiry": labels.expiry_label(r.expiry)}
            for r in queries.rules()]  # fmt: skip
    return render(request, "siyu/loyalty/earning.html", {
        "rows": rows, "editing": editing, "may_edit": has_role(request.user, RULE_ROLES),
        "kinds": [(v, labels.kind_label(v)) for v in RuleKind.values],
        "expiries": [(v, labels.expiry_label(v)) for v in Expiry.values],
        "runs": queries.recent_runs(), "refund_days": actions.refund_window_days(),
    }, status=status)  # fmt: skip
