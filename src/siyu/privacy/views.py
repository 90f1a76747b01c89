"""Console pages of the privacy request queue: the queue (filtered by status, overdue highlighted), a
request with its steps, opening one on a customer's behalf, and moving one on. Thin: actions and queries."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.core.errors import NotFound
from siyu.customers import queries as customer_queries
from siyu.customers.errors import CustomerError
from siyu.privacy import actions, labels, queries
from siyu.privacy.errors import PrivacyError
from siyu.privacy.models import DataRequest
from siyu.staff.queries import display_name_of
from siyu.web.views import console_view

PAGE_SIZE = 100


def _row(request: DataRequest) -> dict:
    return {
        "request": request,
        "kind": labels.label(labels.KINDS, request.kind),
        "source": labels.label(labels.SOURCES, request.source),
        "status": labels.label(labels.STATUSES, request.status),
        "overdue": queries.is_overdue(request),
        "assigned": display_name_of(request.assigned_to) if request.assigned_to_id else "",
        "requested_by": display_name_of(request.requested_by) if request.requested_by_id else "",
    }


@console_view
def requests_queue(request):
    status = request.GET.get("status") or ""
    status = status if status in DataRequest.Status.values else ""
    overdue = request.GET.get("overdue") == "1"
    found = queries.queue(request.user, status, overdue)[:PAGE_SIZE]
    counts = queries.queue_counts(request.user)
    return render(request, "siyu/privacy/requests.html", {
        "rows": [_row(r) for r in found], "counts": counts,
        "statuses": [(v, t, counts.get(v, 0)) for v, t in labels.STATUSES.items()], "filters": {"status": status, "overdue": overdue},
    })  # fmt: skip


@console_view
def request_page(request, request_id: int):
    found = queries.request_for(request.user, request_id)
    steps = [{"step": s, "action": labels.label(labels.ACTIONS, s.action),
              "status": labels.label(labels.STATUSES, s.status),
              "actor": display_name_of(s.actor) if s.actor_id else ""} for s in queries.steps_of(found)]  # fmt: skip
    moves = [(s, labels.label(labels.STATUSES, s)) for s in actions.MOVES.get(found.status, ())]
    correction = None
    if found.kind == DataRequest.Kind.CORRECTION and found.status not in actions.CLOSED:
        correction = _correction_form(request.user, found.customer_id)
    return render(request, "siyu/privacy/request.html", {
        "row": _row(found), "steps": steps, "moves": moves, "correction": correction,
        "can_copy": found.kind == DataRequest.Kind.ACCESS,
        "erasable": found.kind == DataRequest.Kind.DELETION and found.status not in actions.CLOSED,
    })  # fmt: skip


def _correction_form(user, customer_id: int) -> list[dict] | None:
    """The profile fields as the profile shows them now (in clear: the queue's roles see PII), to correct."""
    try:
        profile = customer_queries.get_profile(user, customer_id)
    except (NotFound, CustomerError):
        return None
    genders = {"M": _("Male"), "F": _("Female")}
    shown = {"gender": genders.get(profile.get("gender"), profile.get("gender")),
             "birthday": profile["birthday"].isoformat() if profile.get("birthday") else ""}  # fmt: skip
    return [{"name": f, "label": text, "value": shown.get(f, profile.get(f)) or "",
             "corrected": f in profile.get("corrected", ())} for f, text in labels.FIELDS.items()]  # fmt: skip


@require_POST
@console_view
def request_copy(request, request_id: int):
    """The copy of everything held about the request's customer, as a ZIP download (built for this download,
    never stored on the server); a step of the request and a line of the audit log."""
    name, content, _summary = actions.copy_of_person(request.user, request_id=request_id)
    response = HttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@console_view
def request_correct(request, request_id: int):
    changes = {f: (request.POST.get(f) or "").strip() for f in labels.FIELDS}
    current = _correction_form(request.user, queries.request_for(request.user, request_id).customer_id) or []
    unchanged = {row["name"] for row in current if str(row["value"]) == changes[row["name"]]}
    changes = {f: v for f, v in changes.items() if v and f not in unchanged}
    try:
        changed = actions.correct_for_request(request.user, request_id, changes, request.POST.get("note") or "")
    except PrivacyError as exc:
        messages.error(request, _("The profile was not corrected: %(reason)s") % {"reason": _correction_words(exc)})
    else:
        fields = "、".join(str(labels.FIELDS[f]) for f in changed)
        messages.success(request, _("Corrected: %(fields)s. The profile shows the new values.") % {"fields": fields})
    return redirect("console:privacy_request", request_id)


def _correction_words(exc: PrivacyError) -> str:
    text = str(exc)
    for field, words in labels.FIELDS.items():
        if f"corrected {field}" in text:
            return _("check the %(field)s") % {"field": words}
    if "nothing to correct" in text:
        return _("every value is as the profile already shows it")
    if "closed" in text:
        return _("the request is closed")
    return _("only a correction request corrects a profile")


@console_view
def request_new(request):
    """Open a request on a customer's behalf: any staff member who may act on the customer (a guide for
    their own customers); the queue itself is for admins and operators."""
    form = {"customer": (request.POST.get("customer") or request.GET.get("customer") or "").strip()[:20],
            "kind": request.POST.get("kind") or "access", "verification": "", "detail": ""}  # fmt: skip
    error = ""
    if request.method == "POST":
        form["verification"] = (request.POST.get("verification") or "").strip()[:200]
        form["detail"] = (request.POST.get("detail") or "").strip()[:2000]
        if not form["customer"].isdigit() or not 0 < int(form["customer"]) < 2**63:
            error = _("Enter the customer's number.")
        else:
            try:
                opened = actions.open_request(customer_id=int(form["customer"]), kind=form["kind"], source="staff",
                                              verification=form["verification"], requested_by=request.user,
                                              detail=form["detail"])  # fmt: skip
            except PrivacyError:
                error = _("Choose the kind of request and say how the customer proved who they are.")
            except (NotFound, CustomerError):
                error = _("There is no customer with this number.")
            else:
                messages.success(request, _("The request is in the queue, due in 15 days."))
                if actions.can_work_queue(request.user):
                    return redirect("console:privacy_request", opened.pk)
                return redirect("console:customer", opened.customer_id)
    return render(request, "siyu/privacy/request_new.html", {
        "form": form, "error": error, "kinds": list(labels.KINDS.items()),
    })  # fmt: skip


@require_POST
@console_view
def request_move(request, request_id: int):
    action = request.POST.get("action") or ""
    note = request.POST.get("note") or ""
    try:
        if action == "erase":
            job = actions.request_erasure(request.user, request_id)
            if job.status == "failed":
                messages.error(request, _("The erasure failed: %(reason)s") % {"reason": job.error})
            elif job.finished and not (job.result or {}).get("clean"):
                messages.error(request, _("The erasure ran, but the scan still found data of the person."))
            elif job.finished:
                messages.success(request, _("Erased: the scan found nothing of the person left."))
            else:
                messages.success(request, _("The erasure is queued; its steps appear here when it is done."))
            return redirect("console:privacy_request", request_id)
        if action == "assign_me":
            actions.assign_request(request.user, request_id, request.user, note)
        elif action == "note":
            actions.note_request(request.user, request_id, note)
        else:
            actions.advance_request(request.user, request_id, action, note)
    except PrivacyError as exc:
        messages.error(request, _("This step is not possible: %(reason)s") % {"reason": _words(exc)})
    else:
        messages.success(request, _("Saved."))
    return redirect("console:privacy_request", request_id)


def _words(exc: PrivacyError) -> str:
    text = str(exc)
    if "note" in text:
        return _("say why in a note")
    if "scan found nothing" in text:
        return _("erase the data first: a deletion is done only when the scan finds nothing left")
    if "only a deletion request" in text:
        return _("only a deletion request erases data")
    return _("the request cannot move that way")
