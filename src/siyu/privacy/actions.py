"""Every state change of the privacy request queue: open a request, assign it, move it on, close it.
Each is a step of the request and a line of the audit log (siyu.core.actions.record_audit).

Who may: anyone on the member centre opens a request about themself (source member_centre, no staff);
a staff member opens one on a customer's behalf when they may act on that customer
(siyu.customers.queries.check_access: a guide for their own customers); the queue itself — seeing it,
assigning, moving on and closing — is for QUEUE_ROLES (admins and operators), who see PII."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from siyu.core.actions import record_audit
from siyu.core.errors import PermissionDenied
from siyu.core.owner import submit_job
from siyu.customers import actions as customer_actions
from siyu.customers.errors import CustomerError
from siyu.customers.queries import check_access, merged_into, require_customers
from siyu.privacy import erasure
from siyu.privacy.errors import PrivacyError, RequestNotFound
from siyu.privacy.models import DataRequest, DataRequestStep
from siyu.staff.models import Role
from siyu.staff.queries import has_role

DUE_IN = dt.timedelta(days=15)  # PIPL art. 50 and the 信息安全技术 个人信息安全规范: answer within 15 days
QUEUE_ROLES = (Role.ADMIN, Role.OPERATOR)
MAX_NOTE = 2_000
CLOSED = (DataRequest.Status.DONE, DataRequest.Status.REFUSED)
# where a request may go from each status
MOVES = {
    DataRequest.Status.OPEN: (DataRequest.Status.IN_PROGRESS, DataRequest.Status.DONE, DataRequest.Status.REFUSED),
    DataRequest.Status.IN_PROGRESS: (DataRequest.Status.DONE, DataRequest.Status.REFUSED),
    DataRequest.Status.DONE: (),
    DataRequest.Status.REFUSED: (),
}


def can_work_queue(user) -> bool:
    return has_role(user, QUEUE_ROLES)


def require_queue_role(user) -> None:
    if not can_work_queue(user):
        raise PermissionDenied("the privacy request queue is for admins and operators")


def _user(actor):
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


def _note(text: str | None, required: bool = False) -> str:
    note = (text or "").replace("\x00", "").strip()
    if len(note) > MAX_NOTE:
        raise PrivacyError(f"the note is longer than {MAX_NOTE} characters")
    if required and not note:
        raise PrivacyError("say why in a note")
    return note


def _step(request: DataRequest, action: str, actor, note: str, at: dt.datetime) -> DataRequestStep:
    step = DataRequestStep.objects.create(request=request, action=action, status=request.status, note=note,
                                          actor=_user(actor), at=at)  # fmt: skip
    record_audit(actor, f"privacy_request_{action}", target=str(request.customer_id), request=request.pk,
                 kind=request.kind, status=request.status, note=note[:200])  # fmt: skip
    return step


def open_request(*, customer_id: int, kind: str, source: str, verification: str, requested_by=None,
                 detail: str = "", now: dt.datetime | None = None) -> DataRequest:  # fmt: skip
    """A request in the queue, due in 15 days. `verification`: how the requester proved who they are (the
    member centre: how they signed in; staff: what they checked). Staff and API requests need a staff
    member who may act on the customer."""
    now = now or timezone.now()
    if kind not in DataRequest.Kind.values:
        raise PrivacyError(f"unknown request kind {kind!r}; choose one of {', '.join(DataRequest.Kind.values)}")
    if source not in DataRequest.Source.values:
        raise PrivacyError(f"unknown source {source!r}; choose one of {', '.join(DataRequest.Source.values)}")
    verification = _note(verification)[:200]
    if not verification:
        raise PrivacyError("say how the requester proved who they are (verification)")
    detail = _note(detail)
    staff = _user(requested_by)
    if source != DataRequest.Source.MEMBER_CENTRE:
        if staff is None:
            raise PermissionDenied("a request on a customer's behalf needs the staff member who opens it")
        check_access(staff, int(customer_id))
    require_customers([int(customer_id)])
    with transaction.atomic():
        request = DataRequest.objects.create(
            kind=kind, customer_id=int(customer_id), source=source, verification=verification, detail=detail,
            requested_by=staff, requested_at=now, due_at=now + DUE_IN,
        )  # fmt: skip
        _step(request, DataRequestStep.Action.OPENED, staff, detail, now)
    return request


def _locked(request_id: int) -> DataRequest:
    try:
        return DataRequest.objects.select_for_update().get(pk=request_id)
    except DataRequest.DoesNotExist as exc:
        raise RequestNotFound(f"no privacy request {request_id}") from exc


def assign_request(actor, request_id: int, assignee, note: str = "", now=None) -> DataRequest:
    require_queue_role(actor)
    if not can_work_queue(assignee):
        raise PrivacyError("assign the request to an admin or an operator")
    now = now or timezone.now()
    with transaction.atomic():
        request = _locked(request_id)
        if request.status in CLOSED:
            raise PrivacyError("the request is closed")
        request.assigned_to = assignee
        request.save(update_fields=["assigned_to"])
        _step(request, DataRequestStep.Action.ASSIGNED, actor, _note(note) or str(assignee), now)
    return request


def advance_request(actor, request_id: int, status: str, note: str = "", now=None) -> DataRequest:
    """Move a request on (open → in progress → done | refused). Closing needs a note saying what was done
    or why it was refused."""
    require_queue_role(actor)
    now = now or timezone.now()
    with transaction.atomic():
        request = _locked(request_id)
        if status not in MOVES.get(request.status, ()):
            raise PrivacyError(f"a request that is {request.status} cannot become {status}")
        text = _note(note, required=status in CLOSED)
        if status == DataRequest.Status.DONE and request.kind == DataRequest.Kind.DELETION:
            if not erasure.scan_passed(request):
                raise PrivacyError("a deletion is done only after an erasure whose scan found nothing left")
        request.status = status
        if status in CLOSED:
            request.closed_at = now
            if request.kind == DataRequest.Kind.CORRECTION:
                text = _with_what_changed(request, text)
        if request.assigned_to_id is None:
            request.assigned_to = _user(actor)
        request.save(update_fields=["status", "closed_at", "assigned_to"])
        _step(request, DataRequestStep.Action.STATUS, actor, text, now)
    return request


def close_request(actor, request_id: int, *, done: bool, note: str, now=None) -> DataRequest:
    status = DataRequest.Status.DONE if done else DataRequest.Status.REFUSED
    return advance_request(actor, request_id, status, note, now)


def note_request(actor, request_id: int, note: str, now=None) -> DataRequest:
    require_queue_role(actor)
    with transaction.atomic():
        request = _locked(request_id)
        _step(request, DataRequestStep.Action.NOTE, actor, _note(note, required=True), now or timezone.now())
    return request


# --- carrying a request out: the copy (art. 45) and the correction (art. 46) --------------------------------


def copy_of_person(actor, customer_id: int | None = None, *, request_id: int | None = None, now=None,
                   language: str | None = None):  # fmt: skip
    """The archive of everything held about one person (siyu.privacy.archive): (file name, ZIP bytes,
    summary), in Chinese unless `language` is "en". `request_id`: an access request it carries out (the
    customer is the request's; the download is a step of it). `actor` None is the shell (`siyu privacy copy`: whoever holds the server's keys);
    anyone else needs a queue role. Every copy is audited; the archive is never stored on the server."""
    from siyu.privacy.archive import archive_file_name, build_archive

    if actor is not None:
        require_queue_role(actor)
    now = now or timezone.now()
    request = None
    if request_id is not None:
        request = _request(request_id)
        if request.kind != DataRequest.Kind.ACCESS:
            raise PrivacyError("a copy carries out an access request (this one is not)")
        if customer_id is not None and int(customer_id) != request.customer_id:
            raise PrivacyError(f"request {request_id} is about customer {request.customer_id}, not {customer_id}")
        customer_id = request.customer_id
    if customer_id is None:
        raise PrivacyError("say whose copy: a customer id or an access request")
    # a request about a customer merged since: the same person, whose data now sits in the survivor
    customer_id = int(customer_id)
    if request is not None:
        customer_id = merged_into(customer_id) or customer_id
    require_customers([customer_id])
    try:
        content, summary = build_archive(int(customer_id), now, language)
    except ValueError as exc:  # a language the copy is not written in
        raise PrivacyError(str(exc)) from exc
    note = _copy_note(summary)
    with transaction.atomic():
        if request is not None:
            request = _locked(request.pk)
            _step(request, DataRequestStep.Action.COPIED, actor, note, now)
        else:
            record_audit(actor, "privacy_copy", target=str(customer_id), rows=summary["rows"], sections=summary["sections"])
    return archive_file_name(int(customer_id), now), content, summary


def _copy_note(summary: dict) -> str:
    return f"副本：{len(summary['sections'])} 个部分，共 {summary['rows']} 行"


def _request(request_id: int) -> DataRequest:
    try:
        return DataRequest.objects.get(pk=request_id)
    except DataRequest.DoesNotExist as exc:
        raise RequestNotFound(f"no privacy request {request_id}") from exc


def correct_for_request(actor, request_id: int, changes: dict, note: str = "", now=None) -> list[str]:
    """Carry out a correction request: the profile fields in `changes` (siyu.customers.actions.correct_profile:
    name, phone, email, address, gender, birthday) become corrections the profile shows. A step of the
    request names the fields corrected (not their values: those are PII, kept encrypted with the
    correction); closing the request repeats them. Returns the fields corrected."""
    require_queue_role(actor)
    now = now or timezone.now()
    with transaction.atomic():
        request = _locked(request_id)
        if request.kind != DataRequest.Kind.CORRECTION:
            raise PrivacyError("only a correction request corrects a profile")
        if request.status in CLOSED:
            raise PrivacyError("the request is closed")
        try:
            changed = customer_actions.correct_profile(actor, request.customer_id, changes,
                                                       reason=f"privacy request {request.pk}", at=now)  # fmt: skip
        except CustomerError as exc:
            raise PrivacyError(str(exc)) from exc
        if not changed:
            raise PrivacyError("nothing to correct: every value is as the profile shows it")
        if request.status == DataRequest.Status.OPEN:
            request.status = DataRequest.Status.IN_PROGRESS
        if request.assigned_to_id is None:
            request.assigned_to = _user(actor)
        request.save(update_fields=["status", "assigned_to"])
        words = _fields_words(changed)
        _step(request, DataRequestStep.Action.CORRECTED, actor, f"{words}{'：' + _note(note) if note else ''}", now)
    return changed


def _fields_words(fields) -> str:
    from siyu.customers.models import ProfileCorrection

    names = dict(ProfileCorrection.Field.choices)
    with translation.override(settings.LANGUAGE_CODE):  # the step's words are stored in Chinese, whoever asks
        return "更正了" + "、".join(str(names.get(f, f)) for f in fields)


def corrected_fields(request: DataRequest) -> list[str]:
    """The fields a correction request corrected, in the order first corrected."""
    from siyu.customers.models import ProfileCorrection

    fields: list[str] = []
    for field in ProfileCorrection.objects.filter(customer_id=request.customer_id, reason=f"privacy request {request.pk}"
                                                  ).order_by("corrected_at", "pk").values_list("field", flat=True):  # fmt: skip
        if field not in fields:
            fields.append(field)
    return fields


def _with_what_changed(request: DataRequest, note: str) -> str:
    fields = corrected_fields(request)
    words = _fields_words(fields) if fields else "未更正任何字段"
    return f"{note}（{words}）"


def request_erasure(actor, request_id: int):
    """Queue the erasure of a deletion request's customer (a job of kind "privacy_erase": the warehouse has
    one owner, so a CLI hands it to the running server). Returns the job (done already when run here)."""
    require_queue_role(actor)
    request = _request(request_id)
    erasure.check_erasable(request)
    record_audit(actor, "privacy_request_erasure_queued", target=str(request.customer_id), request=request.pk)
    return submit_job(erasure.JOB_KIND, {"request": request.pk}, _user(actor))
