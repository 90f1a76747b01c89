"""Every change to guide tasks: creating them for a segment or a list of customers (assigned to each
customer's owner guide, or spread over a store's guides by capacity), recording a contact, cancelling,
giving open tasks to another guide.

Each task has an outbox row (`Send`, channel `guide`) made by `enqueue_sends`, so the one contact policy
decides it like any other send: a customer who opted out of 1-on-1 contact (consent channel `guide`, or
`all`), is in a holdout or has had their marketing touches for the week gets a task recorded as
`suppressed` with the policy's reason, and an open task holds its slot in the caps. Nobody delivers a
guide send but the guide: when the guide records the contact, the row becomes `sent` and a `touches` row.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.core.actions import record_audit
from siyu.core.batches import chunked
from siyu.core.errors import PermissionDenied
from siyu.customers import actions as customer_actions
from siyu.customers import queries as customer_queries
from siyu.customers.queries import clean_text
from siyu.engagement.content import queries as content_queries
from siyu.engagement.content.models import Material, Script
from siyu.engagement.content.queries import customer_variables
from siyu.engagement.content.scripts import render
from siyu.engagement.errors import TaskError, TaskNotFound
from siyu.engagement.guides.models import GuideTask, TaskBatch
from siyu.engagement.messaging.actions import enqueue_sends, write_touches
from siyu.engagement.messaging.models import Channel, Send
from siyu.engagement.messaging.policy import Rules, SendRequest, apply_contact_policy, current_policy
from siyu.segments.queries import get_segment, member_ids
from siyu.staff.models import Role, StaffProfile, Store
from siyu.staff.queries import display_name_of, guides_of_store, has_role, role_of, store_of

log = logging.getLogger(__name__)

TASK_CREATORS = {Role.ADMIN, Role.OPERATOR, Role.MANAGER}
MAX_TASKS = 100_000  # customers in one batch
# Why a task was not given to a guide (besides the contact policy's reasons, siyu.engagement.messaging.policy.REASONS).
TASK_REASONS = {
    "no_owner": _("no owner guide"),
    "other_store": _("owned by staff of another store"),
    "over_capacity": _("every guide of the store has the most open tasks allowed"),
}


def _user(actor):
    return actor if actor is not None and actor.is_authenticated else None


def _check_creator(actor) -> None:
    if actor is None:
        return  # the system (a journey step)
    if not has_role(actor, TASK_CREATORS):
        raise PermissionDenied("only an admin, operator or store manager can create guide tasks")


def _script(script) -> Script:
    found = script if isinstance(script, Script) else content_queries.get_script(script)
    if found.archived:
        raise TaskError(f"script {found.pk} is archived")
    return found


def _material(material) -> Material | None:
    if material in (None, ""):
        return None
    found = material if isinstance(material, Material) else content_queries.get_material(material)
    content_queries.check_usable(found)
    return found


def _store(store) -> Store | None:
    if store in (None, ""):
        return None
    if isinstance(store, Store):
        return store
    found = Store.objects.filter(code=str(store)).first()
    if found is None and str(store).isdigit():
        found = Store.objects.filter(pk=int(store)).first()
    if found is None:
        raise TaskError(f"no store {store}")
    return found


def _audience(actor, customer_ids, segment_id) -> list[int]:
    if (customer_ids is None) == (segment_id is None):
        raise TaskError("give either a segment or a list of customer ids")
    if segment_id is not None:

        segment = get_segment(segment_id)
        if segment.refreshed_at is None:
            raise TaskError(f"segment {segment.pk} has not been refreshed yet: refresh it first")
        ids = member_ids(segment.pk).to_pyarrow().column("customer_id").to_pylist()
        visible = customer_queries.visible_customer_ids(actor) if actor is not None else None
        if visible is not None:  # a manager: the members of their store
            ids = [i for i in ids if i in visible]
        return sorted(set(ids))
    try:
        ids = sorted({int(i) for i in customer_ids})
    except (TypeError, ValueError) as exc:
        raise TaskError("customer ids must be numbers") from exc
    if any(not 0 < i <= customer_queries.CUSTOMER_ID_MAX for i in ids):
        raise TaskError("a customer id is out of range")
    if actor is not None:
        customer_queries.check_access(actor, ids)
    return ids


def _owners(ids: list[int]) -> dict[int, int | None]:
    return {cid: state.owner_id for cid, state in customer_queries.states_of(ids).items()}


def _assign_by_owner(ids, owners, staff_ids) -> dict[int, int | str]:
    return {cid: owners[cid] if owners.get(cid) in staff_ids else "no_owner" for cid in ids}


def _assign_by_capacity(ids, owners, store: Store, max_open: int) -> dict[int, int | str]:
    """Customers owned by a guide of the store stay with that guide; unowned ones go to the guide with the
    fewest open tasks (then the lowest id); nobody gets more than `max_open` open tasks."""
    guides = sorted(guides_of_store(store.pk))
    if not guides:
        raise TaskError(f"store {store.code} has no guides")
    load = Counter(
        GuideTask.objects.filter(guide_id__in=guides, status=GuideTask.Status.OPEN).values_list(
            "guide_id", flat=True
        )
    )
    out: dict[int, int | str] = {}
    for cid in ids:
        owner = owners.get(cid)
        if owner is not None and owner not in guides:
            out[cid] = "other_store"
            continue
        guide = owner if owner is not None else min(guides, key=lambda g: (load[g], g))
        if load[guide] >= max_open:
            out[cid] = "over_capacity"
            continue
        load[guide] += 1
        out[cid] = guide
    return out


def _request(batch: TaskBatch, cid: int, content: str = "") -> SendRequest:
    return SendRequest(
        idempotency_key=f"task:{batch.pk}:{cid}",
        channel=Channel.GUIDE,
        customer_id=cid,
        content=content[:10_000],
        source=batch.source,
        source_id=batch.source_id or str(batch.pk),
        marketing=True,
        personalised=batch.personalised,
    )


@dataclass
class _TaskRequest:
    """A checked request for guide tasks: what create_guide_tasks was asked, in the forms it stores."""

    script: Script
    material: Material | None
    due_at: dt.datetime
    assign: str
    store: Store | None
    max_open: int | None
    defaults: dict
    name: str
    source: str
    source_id: str
    segment_id: int | None
    key: str | None
    personalised: bool = False


@dataclass
class _Assignment:
    """Who gets a task: the customers asked for, those the contact policy refuses, each one's guide (or
    the reason they have none) and their rendered messages."""

    ids: list[int]
    refused: dict[int, str]
    assigned: dict[int, int | str]
    guide_of: dict[int, int]
    messages: dict = field(default_factory=dict)


def create_guide_tasks(
    actor,
    *,
    script,
    due_at: dt.datetime,
    customer_ids=None,
    segment_id: int | None = None,
    assign: str = TaskBatch.Assign.OWNER,
    store=None,
    max_open: int | None = None,
    variables: dict | None = None,
    material=None,
    name: str = "",
    source: str = Send.Source.TASK,
    source_id: str = "",
    idempotency_key: str | None = None,
    now: dt.datetime | None = None,
    personalised: bool = False,
) -> TaskBatch:
    """One 1-on-1 task per customer of a segment (its stored members) or of a list, with `script`
    rendered for the customer (`variables` fill what the customer has no value for).

    assign="owner": each customer's owner guide (no owner: suppressed `no_owner`). assign="capacity": the
    guides of `store`, at most `max_open` open tasks each, balanced (see _assign_by_capacity); an unowned
    customer given to a guide becomes that guide's customer. Every task goes through the contact policy
    (module docstring). A journey step passes source="journey", source_id=<journey id> so that the touches
    count under the journey, and an idempotency key so that a repeat creates nothing. Tasks for a segment, or
    `personalised` ones (a journey that chose them by profiling), are personalised marketing: the policy
    refuses them for customers who opted out of it (PIPL art. 24). Returns the batch;
    `batch.counts` says how many tasks are open and how many were suppressed, by reason."""
    _check_creator(actor)
    now = now or timezone.now()
    key = (idempotency_key or "").strip()[:200] or None
    if key and (existing := TaskBatch.objects.filter(idempotency_key=key).first()):
        return existing
    request = _checked_request(
        actor, now, script=script, due_at=due_at, segment_id=segment_id, assign=assign, store=store,
        max_open=max_open, variables=variables, material=material, name=name, source=source,
        source_id=source_id, key=key, personalised=personalised or segment_id is not None,
    )  # fmt: skip
    ids, unknown = _known_customers(actor, customer_ids, segment_id)
    with transaction.atomic():
        rules = Rules.of(current_policy(lock=True))
        batch = _new_batch(actor, request)
        assignment = _assign(actor, batch, request, ids, rules, now)
        tasks = _write_tasks(actor, batch, request, assignment, now)
        _count(batch, tasks, unknown)
        record_audit(actor, "create_guide_tasks", target=str(batch.pk), **batch.counts)
    return batch


def _checked_request(actor, now: dt.datetime, *, script, due_at, segment_id, assign, store, max_open, variables,
                     material, name, source, source_id, key, personalised=False) -> _TaskRequest:  # fmt: skip
    chosen_script = _script(script)
    chosen_material = _material(material)
    if not isinstance(due_at, dt.datetime) or timezone.is_naive(due_at):
        raise TaskError("the due time needs a date, a time and a time zone")
    if due_at <= now:
        raise TaskError("the due time must be in the future")
    if assign not in TaskBatch.Assign.values:
        raise TaskError(f"unknown assignment {assign!r}; choose owner or capacity")
    if source not in Send.Source.values:
        raise TaskError(f"unknown source {source!r}")
    if not isinstance(variables or {}, dict):
        raise TaskError("the variables must be an object of names to values")
    chosen_store = _store(store)
    if assign == TaskBatch.Assign.CAPACITY:
        if chosen_store is None:
            raise TaskError("assigning by capacity needs a store")
        if actor is not None and role_of(actor) == Role.MANAGER and store_of(actor) != chosen_store.pk:
            raise PermissionDenied("a manager can spread tasks only over the guides of their own store")
        try:
            max_open = int(max_open)
        except (TypeError, ValueError) as exc:
            raise TaskError("assigning by capacity needs the most open tasks per guide") from exc
        if not 1 <= max_open <= 10_000:
            raise TaskError("the most open tasks per guide must be between 1 and 10,000")
    return _TaskRequest(
        script=chosen_script, material=chosen_material, due_at=due_at, assign=assign, store=chosen_store,
        max_open=max_open if assign == TaskBatch.Assign.CAPACITY else None,
        defaults={str(k)[:64]: v for k, v in (variables or {}).items()},
        name=clean_text(name or "", limit=200) or chosen_script.title, source=source,
        source_id=clean_text(source_id or "", limit=64), segment_id=segment_id, key=key,
        personalised=personalised,
    )  # fmt: skip


def _known_customers(actor, customer_ids, segment_id) -> tuple[list[int], int]:
    """The customers asked for that exist, and how many asked for do not."""
    ids = _audience(actor, customer_ids, segment_id)
    if len(ids) > MAX_TASKS:
        raise TaskError(f"at most {MAX_TASKS:,} customers in one batch")
    known = customer_queries.existing_customer_ids(ids) if ids else set()
    return [i for i in ids if i in known], len(ids) - len(known)


def _new_batch(actor, request: _TaskRequest) -> TaskBatch:
    return TaskBatch.objects.create(
        name=request.name, script=request.script, material=request.material, segment_id=request.segment_id,
        assign=request.assign, store=request.store, max_open=request.max_open, due_at=request.due_at,
        variables={k: str(v)[:200] for k, v in request.defaults.items()}, source=request.source,
        source_id=request.source_id, idempotency_key=request.key, created_by=_user(actor),
        personalised=request.personalised,
    )  # fmt: skip


def _assign(actor, batch: TaskBatch, request: _TaskRequest, ids: list[int], rules, now) -> _Assignment:
    """The policy first (it only reads): a customer it would refuse takes no guide's capacity. Then each
    reachable customer's guide; by capacity, an unowned customer becomes their guide's customer."""
    verdicts = apply_contact_policy([_request(batch, cid) for cid in ids], now, rules)
    refused = {cid: d.reason for cid, d in zip(ids, verdicts, strict=True) if d.status == "suppressed"}
    reachable = [cid for cid in ids if cid not in refused]
    owners = _owners(reachable)
    staff_ids = set(StaffProfile.objects.filter(user_id__in=set(owners.values()) - {None}).values_list(
        "user_id", flat=True))  # fmt: skip
    if request.assign == TaskBatch.Assign.CAPACITY:
        assigned = _assign_by_capacity(reachable, owners, request.store, request.max_open)
    else:
        assigned = _assign_by_owner(reachable, owners, staff_ids)
    guide_of = {cid: g for cid, g in assigned.items() if isinstance(g, int)}
    if request.assign == TaskBatch.Assign.CAPACITY:
        new_owner: dict[int, list[int]] = {}
        for cid, guide in guide_of.items():
            if owners.get(cid) is None:
                new_owner.setdefault(guide, []).append(cid)
        users = get_user_model().objects.in_bulk(list(new_owner))
        for guide, cids in new_owner.items():
            customer_actions.assign_owner(actor, cids, users[guide])
    messages = _render_all(request.script, request.defaults, guide_of)
    return _Assignment(ids=ids, refused=refused, assigned=assigned, guide_of=guide_of, messages=messages)


def _write_tasks(actor, batch: TaskBatch, request: _TaskRequest, plan: _Assignment, now) -> list[GuideTask]:
    """Each task's send through the outbox (the refused ones too, so that the outbox records every
    suppression with its reason), then the tasks: open when their send is queued."""
    sends = enqueue_sends(
        [
            _request(batch, cid, plan.messages[cid].text if cid in plan.messages else "")
            for cid in sorted({*plan.guide_of, *plan.refused})
        ],
        actor=actor,
        now=now,
    )
    send_of = {s.customer_id: s for s in sends}
    tasks = []
    for cid in plan.ids:
        guide = plan.guide_of.get(cid)
        send = send_of.get(cid)
        rendered = plan.messages.get(cid)
        if send is not None and send.status == Send.Status.QUEUED:
            status, reason = GuideTask.Status.OPEN, ""
        else:
            status = GuideTask.Status.SUPPRESSED
            reason = plan.refused.get(cid) or (send.reason if send is not None else plan.assigned.get(cid, ""))
        tasks.append(
            GuideTask(batch=batch, customer_id=cid, guide_id=guide, status=status, reason=str(reason),
                      message=rendered.text if rendered else "",
                      missing_variables=list(rendered.missing) if rendered else [],
                      due_at=request.due_at, send=send)
        )  # fmt: skip
    GuideTask.objects.bulk_create(tasks, batch_size=1_000)
    return tasks


def _count(batch: TaskBatch, tasks: list[GuideTask], unknown: int) -> None:
    by_reason = Counter(t.reason for t in tasks if t.status == GuideTask.Status.SUPPRESSED)
    batch.counts = {
        "customers": len(tasks) + unknown,
        "open": sum(t.status == GuideTask.Status.OPEN for t in tasks),
        "suppressed": dict(sorted(by_reason.items())),
        "unknown_customers": unknown,
        "missing_variables": sum(bool(t.missing_variables) for t in tasks if t.guide_id),
    }
    batch.save(update_fields=["counts"])


def _render_all(script: Script, defaults: dict, guide_of: dict[int, int]) -> dict:
    per_customer = customer_variables(guide_of)
    users = get_user_model().objects.select_related("staff__store").in_bulk(set(guide_of.values()))
    guide_values = {}
    for pk, user in users.items():
        profile = getattr(user, "staff", None)
        guide_values[pk] = {
            "guide": display_name_of(user),
            "store": profile.store.name if profile is not None and profile.store_id else None,
        }
    out = {}
    for cid, guide in guide_of.items():
        values = dict(defaults)
        for name, value in {**per_customer.get(cid, {}), **guide_values.get(guide, {})}.items():
            if value not in (None, ""):
                values[name] = value
        out[cid] = render(script.body, values)
    return out


# --- working a task ------------------------------------------------------------------------------------


def _own_task(actor, task_id) -> GuideTask:
    try:
        task = GuideTask.objects.select_related("send").get(pk=int(task_id))
    except (GuideTask.DoesNotExist, TypeError, ValueError, OverflowError):
        raise TaskNotFound(f"no task {task_id}") from None
    if actor is None or task.guide_id != actor.pk:
        raise PermissionDenied("this task is not yours")
    return task


def complete_task(actor, task_id, outcome: str, note: str = "", now: dt.datetime | None = None) -> GuideTask:
    """The guide records the contact: its outcome and a note. The task's outbox row becomes `sent` and a
    touch (channel `guide`). Only the task's own guide can do this, once."""
    now = now or timezone.now()
    if outcome not in GuideTask.Outcome.values:
        raise TaskError(f"unknown outcome {outcome!r}; choose one of {', '.join(GuideTask.Outcome.values)}")
    text = clean_text(note or "", limit=2_001)
    if len(text) > 2_000:
        raise TaskError("the note is longer than 2,000 characters")
    with transaction.atomic():
        task = _own_task(actor, task_id)
        task = GuideTask.objects.select_for_update(of=("self",)).select_related("send").get(pk=task.pk)
        if task.status != GuideTask.Status.OPEN:
            raise TaskError(f"task {task.pk} is {task.status}, not open")
        task.status, task.contacted_at, task.outcome, task.note = GuideTask.Status.DONE, now, outcome, text
        task.save(update_fields=["status", "contacted_at", "outcome", "note"])
        send = task.send
        if send is not None:
            send.status, send.sent_at, send.attempts, send.next_attempt_at = Send.Status.SENT, now, 1, None
            send.save(update_fields=["status", "sent_at", "attempts", "next_attempt_at"])
        record_audit(actor, "complete_guide_task", target=str(task.pk), outcome=outcome)
    if send is not None:
        try:
            write_touches([send])
        except Exception:  # noqa: BLE001 - the touch is written by the outbox recovery later
            log.exception("could not write the touch of task %s now; the outbox recovery will", task.pk)
    return task


def cancel_batch(actor, batch_id) -> int:
    """Cancel a batch's open tasks (their slots in the caps are freed). Returns how many were cancelled."""
    _check_creator(actor)
    batch = TaskBatch.objects.filter(pk=batch_id).first()
    if batch is None:
        raise TaskNotFound(f"no task batch {batch_id}")
    with transaction.atomic():
        open_tasks = GuideTask.objects.filter(batch=batch, status=GuideTask.Status.OPEN)
        if actor is not None and role_of(actor) == Role.MANAGER:
            open_tasks = open_tasks.filter(guide_id__in=[*guides_of_store(store_of(actor) or 0), actor.pk])
        send_ids = [pk for pk in open_tasks.values_list("send_id", flat=True) if pk]
        cancelled = open_tasks.update(status=GuideTask.Status.CANCELLED)
        for chunk in chunked(send_ids):
            Send.objects.filter(pk__in=chunk, status=Send.Status.QUEUED).update(
                status=Send.Status.FAILED_PERMANENT, last_error="guide task cancelled", next_attempt_at=None
            )
        record_audit(actor, "cancel_guide_tasks", target=str(batch.pk), cancelled=cancelled)
    return cancelled


def reassign_tasks(actor, task_ids, guide_id, *, transfer_customers: bool = False) -> int:
    """Give open tasks to another guide (one who left, is away or has too many): each task's script is
    rendered again for the new guide ({guide}, {store}), and with `transfer_customers` the new guide also
    becomes the customers' owner. A store manager moves only their store's guides' tasks, and only to a
    guide of their store. Done, suppressed and cancelled tasks stay as they are. Returns how many moved."""
    _check_creator(actor)
    try:
        guide_id, ids = int(guide_id), sorted({int(i) for i in task_ids})
    except (TypeError, ValueError) as exc:
        raise TaskError("the guide and the tasks are given by their ids") from exc
    guide = StaffProfile.objects.select_related("user").filter(user_id=guide_id, user__is_active=True).first()
    if guide is None or guide.role not in (Role.GUIDE, Role.MANAGER):
        raise TaskError(f"no active guide {guide_id}")
    if not ids or len(ids) > MAX_TASKS:
        raise TaskError(f"give 1 to {MAX_TASKS:,} task ids")
    with transaction.atomic():
        tasks = (
            GuideTask.objects.select_for_update(of=("self",))
            .select_related("batch__script")
            .filter(pk__in=ids, status=GuideTask.Status.OPEN)
        )
        if actor is not None and role_of(actor) == Role.MANAGER:
            own = store_of(actor)
            if guide.store_id != own:
                raise PermissionDenied("a manager can give tasks only to a guide of their own store")
            tasks = tasks.filter(guide_id__in=[*guides_of_store(own or 0), actor.pk])
        moved = [t for t in tasks if t.guide_id != guide.user_id]
        for batch_id in {t.batch_id for t in moved}:
            of_batch = [t for t in moved if t.batch_id == batch_id]
            batch = of_batch[0].batch
            rendered = _render_all(
                batch.script, batch.variables, {t.customer_id: guide.user_id for t in of_batch}
            )
            for task in of_batch:
                text = rendered[task.customer_id]
                task.guide_id, task.message, task.missing_variables = (
                    guide.user_id,
                    text.text,
                    list(text.missing),
                )
        GuideTask.objects.bulk_update(moved, ["guide", "message", "missing_variables"], batch_size=1_000)
        if transfer_customers and moved:
            customer_actions.assign_owner(actor, sorted({t.customer_id for t in moved}), guide.user)
        record_audit(actor, "reassign_guide_tasks", target=str(guide.user_id), moved=len(moved),
                     transfer_customers=bool(transfer_customers))  # fmt: skip
    return len(moved)


# --- journey steps "create a guide task" -------------------------------------------------------------------





# --- erasure of a person (PIPL art. 47; siyu.privacy.erasure runs it) ----------------------------------------


def _tasks_with_words(customer_id: int):
    from django.db.models import Q

    return GuideTask.objects.filter(customer_id=customer_id).filter(~Q(message="") | ~Q(note=""))


def erase_person_tasks(person, request) -> dict:
    """Guide tasks' part of erasing a person: the script rendered for them and the guide's note go; the
    tasks stay with status, outcome and times (a task batch's report does not change)."""
    return {"tasks": _tasks_with_words(person.customer_id).update(message="", note="", missing_variables=[])}


def person_tasks_left(person) -> int:
    """What erase_person_tasks removes that is still there (the erasure scan)."""
    return _tasks_with_words(person.customer_id).count()
