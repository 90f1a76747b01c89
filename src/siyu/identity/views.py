"""Identity's console pages: the review queue of uncertain matches (accept / reject), the quarantined
identifiers, and manual merge, split and undo from a customer's profile. Decisions are stored at once and
applied by the next resolve run."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from siyu.customers.queries import get_profile
from siyu.identity import actions, labels, queries
from siyu.identity.actions import decide_by_rule, decide_match
from siyu.identity.errors import IdentityError
from siyu.identity.evidence import parse_pattern, pattern_id
from siyu.identity.labels import id_type_words, quarantined_in_words, rule_words
from siyu.identity.queries import match_weight, quarantine_page, review_rules, values_not_identifiers
from siyu.ingest.normalise.identifiers import not_identifier_words
from siyu.staff.queries import can_import
from siyu.web.views import console_view, forbidden

PAGE_SIZE = 30


def _refuse(request):
    if not can_import(request.user):
        return forbidden(request, _("Only administrators and operators can review matches, merge or split."))
    return None


def _with_words(item: dict) -> dict:
    """A review entry with its evidence, reason and rule in the operator's words."""
    return {
        **item,
        "weight": match_weight(item["match_probability"]),
        "evidence_words": labels.evidence_words(item["evidence"]),
        "reason_words": labels.reason_words(item["reason"]),
        "rule_words": labels.rule_words(item["pattern"]) if item["pattern"] else "",
    }


def _rule_rows(rules: list[dict]) -> list[dict]:
    return [
        {**r, "id": pattern_id(r["pattern"]), "words": labels.rule_words(r["pattern"]),
         "reason_words": labels.reason_words(parse_pattern(r["pattern"])[0])}
        for r in rules
        if r["pattern"]
    ]  # fmt: skip


def _pattern_of(rule_id: str | None) -> str | None:
    """The evidence pattern a page names by its id (siyu.identity.evidence.pattern_id)."""
    if not rule_id:
        return None
    return next((r["pattern"] for r in review_rules() if pattern_id(r["pattern"]) == rule_id), "")


@console_view
def review_queue(request):
    """The review queue: rules (entries grouped by their evidence, decided all at once), then the entries
    (pairs of customers) whose decision moves the most, then the pairs kept apart."""
    if refusal := _refuse(request):
        return refusal
    try:
        page = max(1, int(request.GET.get("page") or 1))
    except ValueError:
        page = 1
    rules = _rule_rows(queries.review_rules())
    rule = next((r for r in rules if r["id"] == request.GET.get("rule")), None)
    kept_apart = request.GET.get("kept") == "1"
    result = queries.review_queue(
        page, PAGE_SIZE, pattern=rule["pattern"] if rule else None, kept_apart=kept_apart
    )
    result["items"] = [_with_words(item) for item in result["items"]]
    pages = max(1, -(-result["total"] // PAGE_SIZE))
    context = {
        "queue": result,
        "pages": pages,
        "rule": rule,
        "kept_apart": kept_apart,
        "rules": [r for r in rules if r["queued"]],
        "kept_rules": [r for r in rules if not r["queued"]],
        "pending": queries.decisions_since_last_run(),
    }
    return render(request, "siyu/console/identity_review.html", context)


def _done(request, message: str, fallback: str):
    messages.success(request, message)
    target = request.POST.get("next") or fallback
    return redirect(target if target.startswith("/") and not target.startswith("//") else fallback)


@console_view
@require_POST
def decide(request):
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
def decide_rule(request):
    """Decide every entry with one evidence pattern at once (one recorded decision per pair of customers)."""
    if refusal := _refuse(request):
        return refusal
    pattern, verdict = _pattern_of(request.POST.get("rule")) or "", request.POST.get("verdict", "")
    try:
        if not pattern:
            raise IdentityError(_("No pair of customers waits for a decision with this evidence any more."))
        done = decide_by_rule(request.user, pattern, verdict, request.POST.get("reason", ""))
    except IdentityError as exc:
        messages.error(request, str(exc))
        return redirect(reverse("console:identity_review"))
    text = (
        ngettext(
            "%(count)d pair of customers marked as the same person by the rule “%(rule)s”.",
            "%(count)d pairs of customers marked as the same person by the rule “%(rule)s”.",
            done["decided"],
        )
        if verdict == "same"
        else ngettext(
            "%(count)d pair of customers marked as different people by the rule “%(rule)s”.",
            "%(count)d pairs of customers marked as different people by the rule “%(rule)s”.",
            done["decided"],
        )
    )
    message = text % {"count": done["decided"], "rule": rule_words(pattern)}
    return _done(
        request,
        message + " " + _("Applied by the next identity resolution."),
        reverse("console:identity_review"),
    )


@console_view
@require_POST
def customer_identity(request, customer_id: int):
    """Manual merge with another customer, split of a record, or undo of a merge (field `op`)."""
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


@console_view
def quarantine_list(request):
    if not can_import(request.user):
        return forbidden(request, _("Only administrators and operators can see quarantined identifiers."))
    try:
        page = max(1, int(request.GET.get("page") or 1))
    except ValueError:
        page = 1
    result = quarantine_page(page, PAGE_SIZE)
    result["items"] = [quarantined_in_words(item) for item in result["items"]]
    skipped = values_not_identifiers()
    for row in skipped:
        row["type_words"] = id_type_words(row["id_type"])
        row["reason_words"] = not_identifier_words(row["reason"])
    pages = max(1, -(-result["total"] // PAGE_SIZE))
    return render(
        request,
        "siyu/console/identity_quarantine.html",
        {"quarantine": result, "pages": pages, "not_identifiers": skipped},
    )
