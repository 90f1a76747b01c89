"""Identity review: the queue of uncertain matches (accept / reject), and manual merge, split and undo from
a customer's profile. Decisions are stored at once and applied by the next resolve run."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.console.views.common import can_import, console_view, forbidden
from siyu.identity.errors import IdentityError

PAGE_SIZE = 30


def _refuse(request):
    if not can_import(request.user):
        return forbidden(request, _("Only administrators and operators can review matches, merge or split."))
    return None


@console_view
def review_queue(request):
    from siyu.identity.queries import review_queue as queue

    if refusal := _refuse(request):
        return refusal
    try:
        page = max(1, int(request.GET.get("page") or 1))
    except ValueError:
        page = 1
    result = queue(page, PAGE_SIZE)
    pages = max(1, -(-result["total"] // PAGE_SIZE))
    return render(request, "siyu/console/identity_review.html", {"queue": result, "pages": pages})


def _done(request, message: str, fallback: str):
    messages.success(request, message)
    target = request.POST.get("next") or fallback
    return redirect(target if target.startswith("/") and not target.startswith("//") else fallback)


@console_view
@require_POST
def decide(request):
    from siyu.identity.actions import decide_match

    if refusal := _refuse(request):
        return refusal
    verdict = request.POST.get("verdict", "")
    try:
        probability = float(request.POST["probability"]) if request.POST.get("probability") else None
        decide_match(request.user, request.POST.get("record_key_a", ""), request.POST.get("record_key_b", ""),
                     verdict, request.POST.get("reason", "review"), match_probability=probability)  # fmt: skip
    except (IdentityError, ValueError) as exc:
        messages.error(request, str(exc))
        return redirect(reverse("console:identity_review"))
    text = _("Marked as the same person.") if verdict == "same" else _("Marked as different people.")
    return _done(
        request,
        text + " " + _("Applied by the next identity resolution."),
        reverse("console:identity_review"),
    )


@console_view
@require_POST
def customer_identity(request, customer_id: int):
    """Manual merge with another customer, split of a record, or undo of a merge (field `op`)."""
    from siyu.customers.queries import get_profile
    from siyu.identity import actions

    if refusal := _refuse(request):
        return refusal
    get_profile(request.user, customer_id)
    op, reason = request.POST.get("op"), request.POST.get("reason", "")
    back = reverse("console:customer", args=[customer_id]) + "#identity-history"
    try:
        if op == "merge":
            actions.merge_customers(request.user, customer_id, int(request.POST.get("other_id") or 0), reason)
        elif op == "split":
            actions.split_customers(request.user, customer_id, request.POST.get("record_key", ""), reason)
        elif op == "undo":
            actions.undo_merge(request.user, int(request.POST.get("absorbed_id") or 0), reason)
        else:
            raise IdentityError(f"unknown operation {op!r}")
    except (IdentityError, ValueError) as exc:
        messages.error(request, str(exc))
        return redirect(back)
    messages.success(request, _("Decision saved. Run identity resolution to apply it."))
    return redirect(back)
