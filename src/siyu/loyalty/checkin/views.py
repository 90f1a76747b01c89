"""Console page of check-in: the reward rules (make, edit, delete), the day's check-ins, the last days'
counts and the distribution of current streaks; make-up cards granted to a member. Thin: changes go through
checkin.actions."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.core.errors import PermissionDenied
from siyu.loyalty.checkin import actions, labels, queries
from siyu.loyalty.checkin.errors import CheckinError, RuleNotFound
from siyu.loyalty.checkin.models import CHECKIN_ROLES, MAKEUP_WINDOW_DAYS, CheckinRule
from siyu.staff.queries import has_role
from siyu.web.views import console_view, form_int


def _rule_form(post) -> dict:
    return {"streak_day": form_int(post.get("streak_day"), 0), "points": form_int(post.get("points"), 0),
            "coupon_template_id": form_int(post.get("coupon_template_id")),
            "makeup_cards": form_int(post.get("makeup_cards"), 0), "active": post.get("active") == "on"}  # fmt: skip


@console_view
def checkin(request):
    if not has_role(request.user, CHECKIN_ROLES):
        raise PermissionDenied(_("Check-in is managed by admins and operators."))
    status = 200
    if request.method == "POST":
        try:
            if request.POST.get("do") == "cards":
                made = actions.grant_makeup_cards(request.user, form_int(request.POST.get("customer_id"), 0),
                                                  form_int(request.POST.get("count"), 0))  # fmt: skip
                messages.success(request, _("%(count)s make-up cards granted.") % {"count": made})
            else:
                actions.save_rule(request.user, **_rule_form(request.POST))
                messages.success(request, _("Check-in rule saved."))
        except CheckinError as exc:
            messages.error(request, _("Not saved: %(reason)s") % {"reason": str(exc)})
            status = 400
        else:
            return redirect("console:loyalty_checkin")
    day = request.GET.get("day") or ""
    try:
        shown = date.fromisoformat(day) if day else timezone.localdate()
    except ValueError:
        shown = timezone.localdate()
    buckets = [{**b, "label": labels.streak_bucket_label(b["low"], b["high"])} for b in queries.streak_distribution()]
    return render(request, "siyu/loyalty/checkin.html", {
        "rules": CheckinRule.objects.order_by("streak_day"), "day": shown, "checkins": queries.checkins_on(shown),
        "daily": queries.daily_counts(), "buckets": buckets, "window": MAKEUP_WINDOW_DAYS,
    }, status=status)  # fmt: skip


@console_view
def checkin_rule(request, rule_id: int):
    if not has_role(request.user, CHECKIN_ROLES):
        raise PermissionDenied(_("Check-in is managed by admins and operators."))
    rule = CheckinRule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise RuleNotFound(_("There is no check-in rule %(rule)s.") % {"rule": rule_id})
    status = 200
    if request.method == "POST":
        try:
            if request.POST.get("do") == "delete":
                actions.delete_rule(request.user, rule.pk)
                messages.success(request, _("Check-in rule deleted."))
            else:
                actions.save_rule(request.user, rule_id=rule.pk, **_rule_form(request.POST))
                messages.success(request, _("Check-in rule saved."))
        except CheckinError as exc:
            messages.error(request, _("Not saved: %(reason)s") % {"reason": str(exc)})
            status = 400
        else:
            return redirect("console:loyalty_checkin")
    return render(request, "siyu/loyalty/checkin_rule.html", {"rule": rule}, status=status)
