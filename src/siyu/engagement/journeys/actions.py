"""Every state change of journeys: saving, activating and pausing them, and the tick that enrols customers
and moves them along their steps."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter, defaultdict
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from siyu.community.errors import CommunityError
from siyu.community.groups import queries as group_queries
from siyu.community.groups.actions import GroupMessageRefused, send_group_message
from siyu.community.groups.models import GroupType
from siyu.core.actions import record_audit
from siyu.core.batches import chunked, cyclic_gc_paused, db_values, insert_rows
from siyu.core.errors import PermissionDenied
from siyu.core.tasks import schedule_once
from siyu.customers.actions import MAX_BULK, add_tag, remove_tag
from siyu.engagement.content.models import Script, ScriptGroup
from siyu.engagement.errors import EngagementError, JourneyNotFound
from siyu.engagement.guides.actions import MAX_TASKS, create_guide_tasks
from siyu.engagement.journeys import definitions as journeys
from siyu.engagement.journeys import queries
from siyu.engagement.journeys.definitions import (
    check_group_selector,
    check_group_trigger,
    check_steps,
    check_trigger,
    following_ids,
    send_key,
    uses_profiling,
)
from siyu.engagement.journeys.models import Enrollment, GroupEnrollment, Handoff, Journey, StepCount
from siyu.engagement.messaging.actions import enqueue_send_batch, user_or_none, whole_number
from siyu.engagement.messaging.channels.base import ProviderError
from siyu.engagement.messaging.models import (
    Send,
)
from siyu.engagement.messaging.policy import (
    SendRequest,
    as_utc,
    held_out,
    unconverted_rows,
)
from siyu.loyalty.coupons import actions as coupon_actions
from siyu.loyalty.coupons.errors import CouponLimitReached, CouponNotFound, TemplateClosed
from siyu.loyalty.points import actions as points_actions
from siyu.segments.models import Segment
from siyu.staff.models import Role
from siyu.staff.queries import has_role

log = logging.getLogger(__name__)

# --- journeys ----------------------------------------------------------------------------------------------
# A tick (run_journeys) enrols the customers whose trigger fired, then moves every due enrollment on, a
# batch of one (journey, step) at a time, each batch in one transaction: its sends (through the contact
# policy, keyed by journey, enrollment and step), its hand-offs and the enrollments' new step together. A
# crash rolls the batch back; the next tick does it again and the keys make sure nothing is sent twice.

JOURNEY_BATCH = 50_000
MAX_ROUNDS = 200  # steps an enrollment may take in one tick (cycles need a wait, so this is a backstop)
EVENT_POLL = dt.timedelta(minutes=10)  # how often a wait-for-event looks again (an import ticks at once)
TRIGGER_POLL = dt.timedelta(hours=1)  # how often triggers are looked at when nothing else is due
JOURNEY_EDITORS = (Role.ADMIN, Role.OPERATOR)
# Who may send a journey's writes at all: the editors, and a guide for a group SOP of their own groups
# (_require_journey_editor and _group_selector decide which journeys).
JOURNEY_WRITERS = (*JOURNEY_EDITORS, Role.GUIDE)
_ENROLLMENT_COLUMNS = ["journey", "customer_id", "trigger_key", "holdout", "status", "step_id", "step_entered_at",
                       "due_at", "exited_at", "exit_reason", "entered_at"]  # fmt: skip
# first steps whose outcome is the same for every enrollment: taken as the customers enter (`_enroll`)
_TAKEN_AT_ENTRY = frozenset({"send", "add_tag", "remove_tag", "guide_task", "award_points", "issue_coupon", "exit"})


def _own_userid(actor) -> str:
    return getattr(getattr(actor, "staff", None), "wecom_userid", "") or ""


def _guide_owns(actor, journey) -> bool:
    """A guide's own group SOP: a group journey whose selector is restricted to the groups they own."""
    mine = _own_userid(actor)
    return (bool(mine) and has_role(actor, (Role.GUIDE,)) and journey.audience == Journey.Audience.GROUPS
            and (journey.groups or {}).get("owner_userid") == mine)  # fmt: skip


def _require_journey_editor(actor, journey=None) -> None:
    """Admins and operators change any journey; a guide only a group SOP of their own groups."""
    if actor is None or has_role(actor, JOURNEY_EDITORS):
        return
    if journey is not None and _guide_owns(actor, journey):
        return
    raise PermissionDenied("only an admin or operator can change journeys")


def _group_selector(actor, raw) -> dict:
    """The selector of a group journey as stored. A guide's is bound to their own groups (owner_userid is
    theirs); naming another owner or another owner's group is refused."""
    raw = dict(raw) if isinstance(raw, dict) else {}
    editor = actor is None or has_role(actor, JOURNEY_EDITORS)
    mine = "" if editor else _own_userid(actor)
    if not editor:
        if not mine or not has_role(actor, (Role.GUIDE,)):
            raise PermissionDenied("only an admin or operator can change journeys")
        if raw.get("owner_userid") not in (None, "", mine):
            raise PermissionDenied("a guide's group SOP reaches only the groups they own")
        raw["owner_userid"] = mine
    selector = check_group_selector(raw)
    if selector["group_type"] and selector["group_type"] not in GroupType.values:
        raise EngagementError(f"the group type is one of {', '.join(GroupType.values)}")
    owners = group_queries.owners_of_groups(selector["group_ids"])
    missing = [i for i in selector["group_ids"] if i not in owners]
    if missing:
        raise EngagementError(f"customer group {missing[0]} does not exist")
    if not editor and any(owners[i] != mine for i in selector["group_ids"]):
        raise PermissionDenied("a guide's group SOP reaches only the groups they own")
    return selector


def _percent(value, what: str, high: int) -> Decimal:
    try:
        share = Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation as exc:
        raise EngagementError(f"{what} must be a number") from exc
    if not Decimal(0) <= share <= Decimal(high):
        raise EngagementError(f"{what} must be between 0 and {high}")
    return share


def _check_segment_exists(trigger: dict, steps: list[dict]) -> None:
    segment_id = trigger.get("segment_id")
    if segment_id is not None and not Segment.objects.filter(pk=segment_id).exists():
        raise EngagementError(f"segment {segment_id} does not exist")


@transaction.atomic
def save_journey(
    actor,
    *,
    name: str,
    trigger: dict,
    steps: list,
    journey_id: int | None = None,
    description: str = "",
    reentry: str = "once",
    reentry_days: int = 0,
    goal_days: int = 7,
    exit_on_goal: bool = True,
    priority: int = 0,
    holdout_percent=10,
    cost_per_send=0,
    audience: str = "customers",
    groups: dict | None = None,
):
    """Create a journey (a draft) or change one. Once a journey has been activated its audience, trigger
    and holdout share stay as they were (enrollments and the lift report depend on them), and a step where
    customers are waiting cannot be removed. A group journey (audience "groups", see definitions.py) has
    a group selector and no holdout or goal; a guide may make one for their own groups."""

    if audience not in Journey.Audience.values:
        raise EngagementError(f"the audience is one of {', '.join(Journey.Audience.values)}")
    for_groups = audience == Journey.Audience.GROUPS
    if not for_groups:
        _require_journey_editor(actor)
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise EngagementError("a journey needs a name of 1 to 100 characters")
    if for_groups:
        selector = _group_selector(actor, groups)
        trigger, steps = check_group_trigger(trigger), check_steps(steps, audience)
        holdout_percent, goal_days, exit_on_goal, reentry, reentry_days = 0, 0, False, "once", 0
    else:
        selector = {}
        trigger, steps = check_trigger(trigger), check_steps(steps)
        _check_segment_exists(trigger, steps)
    if reentry not in Journey.Reentry.values:
        raise EngagementError(f"re-entry is one of {', '.join(Journey.Reentry.values)}")
    holdout = _percent(holdout_percent, "the holdout share", 50)
    try:
        cost = Decimal(str(cost_per_send)).quantize(Decimal("0.0001"))
    except InvalidOperation as exc:
        raise EngagementError("the cost per send must be a number") from exc
    if not Decimal(0) <= cost <= Decimal(1000):
        raise EngagementError("the cost per send must be between 0 and 1000 yuan")
    journey = (
        Journey() if journey_id is None else Journey.objects.select_for_update().filter(pk=journey_id).first()
    )
    if journey is None:
        raise JourneyNotFound(f"journey {journey_id} does not exist")
    if for_groups and journey.pk is not None:
        _require_journey_editor(actor, journey)
    if Journey.objects.filter(name=name).exclude(pk=journey.pk).exists():
        raise EngagementError(f"a journey named {name!r} exists already")
    if journey.activated_at is not None:
        if audience != journey.audience:
            raise EngagementError("the audience of a journey that has run cannot change")
        if trigger != journey.trigger or holdout != journey.holdout_percent:
            raise EngagementError("the trigger and holdout share of a journey that has run cannot change")
        waiting_rows = GroupEnrollment if for_groups else Enrollment
        waiting = set(
            waiting_rows.objects.filter(journey=journey, status=Enrollment.Status.ACTIVE).values_list(
                "step_id", flat=True
            )
        )
        missing = waiting - {s["id"] for s in steps}
        if missing:
            raise EngagementError(f"customers are waiting at step(s) {', '.join(sorted(missing))}; keep them")
    journey.name, journey.description = name, (description or "").strip()[:300]
    journey.trigger, journey.steps = trigger, steps
    journey.audience, journey.groups = audience, selector
    journey.reentry, journey.reentry_days = reentry, whole_number(reentry_days, 0, 3650, "the re-entry days")
    journey.goal_days = whole_number(goal_days, 0, 365, "the goal days")
    journey.exit_on_goal = bool(exit_on_goal)
    journey.priority = whole_number(priority, -100, 100, "the priority")
    journey.holdout_percent, journey.cost_per_send = holdout, cost
    journey.updated_by = user_or_none(actor)
    journey.save()
    record_audit(actor, "journey_saved", target=str(journey.pk), name=name)
    return journey


def _first_run(trigger: dict, now: dt.datetime) -> dt.datetime:
    """The first time a schedule trigger runs: its time of day, today if still ahead, else tomorrow."""
    from zoneinfo import ZoneInfo

    from django.conf import settings

    zone = ZoneInfo(settings.TIME_ZONE)
    local = now.astimezone(zone)
    at = dt.datetime.combine(local.date(), dt.time.fromisoformat(trigger["at"]), tzinfo=zone)
    if at < local:
        at += dt.timedelta(days=1)
    return at.astimezone(dt.UTC)


@transaction.atomic
def activate_journey(actor, journey_id: int, now: dt.datetime | None = None):
    """Start (or resume) a journey: its trigger is evaluated from now on, paused enrollments go on."""

    now = now or timezone.now()
    journey = Journey.objects.select_for_update().filter(pk=journey_id).first()
    if journey is None:
        raise JourneyNotFound(f"journey {journey_id} does not exist")
    _require_journey_editor(actor, journey)
    journey.status = Journey.Status.ACTIVE
    journey.activated_at = journey.activated_at or now
    if journey.trigger.get("type") == "schedule" and journey.next_run_at is None:
        journey.next_run_at = _first_run(journey.trigger, now)
    journey.save(update_fields=["status", "activated_at", "next_run_at", "updated_at"])
    record_audit(actor, "journey_activated", target=str(journey.pk))
    transaction.on_commit(schedule_journeys)
    return journey


@transaction.atomic
def pause_journey(actor, journey_id: int):
    """Stop a journey: no one enters, enrolled customers stay at their step until it is activated again."""

    _require_journey_editor(actor, Journey.objects.filter(pk=journey_id).first())
    updated = Journey.objects.filter(pk=journey_id).update(
        status=Journey.Status.PAUSED, updated_at=timezone.now()
    )
    if not updated:
        raise JourneyNotFound(f"journey {journey_id} does not exist")
    record_audit(actor, "journey_paused", target=str(journey_id))
    return Journey.objects.get(pk=journey_id)


@transaction.atomic
def delete_journey(actor, journey_id: int) -> None:
    """Delete a journey that never ran (a draft); one that ran is paused instead, to keep its report."""

    journey = Journey.objects.filter(pk=journey_id).first()
    if journey is None:
        raise JourneyNotFound(f"journey {journey_id} does not exist")
    _require_journey_editor(actor, journey)
    if journey.activated_at is not None:
        raise EngagementError("a journey that has run cannot be deleted; pause it")
    journey.delete()
    record_audit(actor, "journey_deleted", target=str(journey_id))


def _bump_counts(journey_id: int, step_id: str, treated: int, holdout: int) -> None:
    if not treated and not holdout:
        return
    count, _ = StepCount.objects.get_or_create(journey_id=journey_id, step_id=step_id)
    StepCount.objects.filter(pk=count.pk).update(
        entered=F("entered") + treated, holdout_entered=F("holdout_entered") + holdout
    )


def _blocked_customers(journey, customer_ids: list[int], now: dt.datetime) -> set[int]:
    """Of the candidates: those the journey's re-entry rule keeps out (already in it, or in it before)."""

    query = Enrollment.objects.filter(journey=journey)
    fields = ("customer_id", "status", "exited_at")
    if len(customer_ids) > 20_000:
        wanted = set(customer_ids)
        rows = (r for r in query.values_list(*fields).iterator(50_000) if r[0] in wanted)
    else:
        rows = (
            r
            for chunk in chunked(sorted(customer_ids))
            for r in query.filter(customer_id__in=chunk).values_list(*fields)
        )
    cooldown = dt.timedelta(days=journey.reentry_days)
    blocked = set()
    for customer_id, status, exited_at in rows:
        if (
            status == Enrollment.Status.ACTIVE
            or journey.reentry == "once"
            or (journey.reentry == "cooldown" and exited_at is not None and exited_at > now - cooldown)
        ):
            blocked.add(customer_id)
    return blocked


def _used_trigger_keys(journey, keys: list[str]) -> set[str]:
    """Of the candidates' trigger keys: those that enrolled someone in the journey before."""

    query = Enrollment.objects.filter(journey=journey)
    if len(keys) > 20_000:
        wanted = set(keys)
        return {k for k in query.values_list("trigger_key", flat=True).iterator(50_000) if k in wanted}
    used: set[str] = set()
    for chunk in chunked(keys):
        used.update(query.filter(trigger_key__in=chunk).values_list("trigger_key", flat=True))
    return used


def enroll_triggered(journey, now: dt.datetime | None = None, report: Counter | None = None) -> int:
    """Enrol the customers the journey's trigger lets in now (siyu.engagement.journeys.queries.trigger_candidates),
    minus those its re-entry rule keeps out; each at the first step, due now (or past it, see `_enroll`),
    and in the holdout by a deterministic hash of customer and journey (siyu.engagement.messaging.policy.held_out).
    What the first step did is added to `report`. Returns how many entered."""
    now = now or timezone.now()
    with cyclic_gc_paused():
        return _enroll(
            journey, queries.trigger_candidates(journey, now), now, Counter() if report is None else report
        )


def _entry_state(first: dict, following: str | None, at) -> dict:
    """The state columns of a new enrollment: at the first step, due now; or, when the first step is taken
    as they enter (see `_enroll`), where that step leaves them (`following`: the step after it in the
    list). `at`: now, in database form."""

    state = {"status": Enrollment.Status.ACTIVE, "step_id": first["id"], "step_entered_at": at, "due_at": at,
             "exited_at": None, "exit_reason": ""}  # fmt: skip
    if first["type"] in _TAKEN_AT_ENTRY:  # the outcome _run_step gives these steps
        outcome = ("exit", "exit_step") if first["type"] == "exit" else ("goto", first.get("next", following))
        state.update(_outcome_changes(*outcome, at))
    return state


def _enroll(journey, candidates, now: dt.datetime, report: Counter) -> int:
    """Enrol the candidates (see `enroll_triggered`). A first step that does the same for everyone (a
    send, a tag, a hand-off, an exit) is taken in the same transaction as the customers enter: their rows
    are written past it at once instead of written, read back and moved on by the tick, which was a third
    of a 1M dispatch (docs/benchmarks.md)."""

    ids = candidates.column("customer_id").to_pylist()
    keys = candidates.column("trigger_key").to_pylist()
    blocked = _blocked_customers(journey, ids, now) if ids else set()
    used = _used_trigger_keys(journey, keys) if ids else set()
    first = journey.steps[0]
    following = following_ids(journey.steps)[first["id"]]
    at = db_values(Enrollment, "due_at")(now)
    state = _entry_state(first, following, at)
    state_values = tuple(state[c] for c in _ENROLLMENT_COLUMNS[4:10])
    held = held_out(f"{Send.Source.JOURNEY}:{journey.pk}", ids, journey.holdout_percent).tolist()
    rows, taken, journey_id = [], set(), journey.pk
    for customer_id, key, in_holdout in zip(ids, keys, held, strict=True):
        if customer_id in blocked or customer_id in taken or key in used:
            continue  # one entry per customer per evaluation: the earliest fact not used before
        taken.add(customer_id)
        rows.append((journey_id, customer_id, key[:200], in_holdout, *state_values, at))
    at_entry = first["type"] in _TAKEN_AT_ENTRY
    with transaction.atomic():
        entered, holdout = 0, 0
        for start in range(0, len(rows), JOURNEY_BATCH):
            new = insert_rows(Enrollment, _ENROLLMENT_COLUMNS, rows[start : start + JOURNEY_BATCH],
                              ignore_conflicts=True, returning=("id", "customer_id", "holdout"))  # fmt: skip
            entered, holdout = entered + len(new), holdout + sum(bool(r[2]) for r in new)
            if at_entry and new:
                batch = sorted((pk, cid, bool(in_holdout), None) for pk, cid, in_holdout in new)
                _run_step(journey, first, following, batch, now, report)
                report["steps_taken"] += len(batch)
        _bump_counts(journey.pk, first["id"], entered - holdout, holdout)
        if at_entry and state["status"] == Enrollment.Status.ACTIVE:  # moved on to the next step
            _bump_counts(journey.pk, state["step_id"], entered - holdout, holdout)
        changes = {"trigger_checked_at": now}
        if journey.trigger.get("type") == "schedule" and journey.next_run_at and journey.next_run_at <= now:
            step = dt.timedelta(days=journey.trigger["every_days"])
            upcoming = journey.next_run_at
            while upcoming <= now:
                upcoming += step
            changes["next_run_at"] = upcoming
        Journey.objects.filter(pk=journey.pk).update(**changes)
        for name, value in changes.items():
            setattr(journey, name, value)
    return entered


def _step_requests(journey, step: dict, rows) -> list[SendRequest]:
    journey_id, step_id, channel = journey.pk, step["id"], step["channel"]
    variables = step.get("variables", {})
    if step.get("material"):  # the material goes along (ATTACHING_CHANNELS)
        variables = {**variables, "material_id": step["material"]}
    texts = (step.get("template", ""), step.get("subject", ""), step.get("content", ""))
    shared = (journey.priority, True, Send.Source.JOURNEY, str(journey_id), journey.holdout_percent)
    # Positional, in SendRequest's field order (key, channel, customer, member, template, subject, content,
    # variables, priority, marketing, source, source_id, holdout share, held_out, send_at, personalised): 1.3 s
    # a million against
    # 2.0 s with keywords. held_out is the enrollment's control group, fixed when it entered.
    personalised = uses_profiling(journey.trigger, journey.steps)  # then the policy asks the customer's choice
    return [
        SendRequest(
            send_key(journey_id, pk, step_id), channel, cid, "", *texts, variables, *shared, held, None, personalised
        )
        for pk, cid, held, _entered in rows
    ]


def _write_handoffs(journey, step: dict, rows, now: dt.datetime) -> int:
    if step["type"] == "guide_task":
        kind, payload = Handoff.Kind.GUIDE_TASK, {"title": step["title"], "script": step.get("script", "")}
    else:
        kind, payload = (
            Handoff.Kind.AWARD_POINTS,
            {"points": step["points"], "reason": step.get("reason", "")},
        )
    convert = db_values(Handoff, "payload")
    at = db_values(Handoff, "created_at")(now)
    data = convert(payload)
    handoffs = [
        (f"journey:{journey.pk}:{pk}:{step['id']}", kind, journey.pk, cid, data, at)
        for pk, cid, held, _entered in rows
        if not held
    ]
    insert_rows(Handoff, ["idempotency_key", "kind", "journey", "customer_id", "payload", "created_at"], handoffs,
                ignore_conflicts=True)  # fmt: skip
    return len(handoffs)


def _issue_coupons(journey, step: dict, rows, now: dt.datetime) -> Counter:
    """A coupon of the step's template to each enrollment not held out, keyed by journey, enrollment and step
    (a tick done again issues nothing twice); members at the template's limits, or a closed template, get
    none and go on."""
    done: Counter = Counter()
    for pk, cid, held, _entered in rows:
        if held:
            continue
        try:
            coupon_actions.issue_coupon(step["template"], cid, key=f"journey:{journey.pk}:{pk}:{step['id']}",
                                        source="journey", source_ref=f"journey:{journey.pk}", now=now)  # fmt: skip
        except (CouponLimitReached, TemplateClosed, CouponNotFound):
            done["issue_coupon_refused"] += 1
        else:
            done["issue_coupon"] += 1
    return done


def _run_step(journey, step: dict, following: str | None, rows, now: dt.datetime, report: Counter):
    """What happens to a batch of enrollments (pk, customer_id, holdout, step_entered_at: None unless the
    step waits) at `step`: a list of (outcome, pks), outcome ("goto", step id | None) / ("due", time) /
    ("exit", reason)."""
    from zoneinfo import ZoneInfo

    from django.conf import settings


    kind = step["type"]
    default = step.get("next", following)
    pks = [r[0] for r in rows]
    if kind == "exit":
        return [(("exit", "exit_step"), pks)]
    if kind in ("wait", "wait_window"):
        out: dict = defaultdict(list)
        zone = ZoneInfo(settings.TIME_ZONE)
        for pk, _cid, _held, entered in rows:
            if kind == "wait":
                target = entered + journeys.wait_duration(step)
            else:
                target = journeys.window_opens(step, now, zone)
            out[("goto", default) if target <= now else ("due", target)].append(pk)
        return list(out.items())
    if kind == "wait_event":
        hit = queries.enrollments_with_fact([(r[0], r[1], r[3]) for r in rows], step["event"], now)
        timeout = dt.timedelta(hours=step["timeout_hours"])
        out = defaultdict(list)
        for pk, _cid, _held, entered in rows:
            if pk in hit:
                out[("goto", default)].append(pk)
            elif entered + timeout <= now:
                out[("goto", step.get("timeout_next", default))].append(pk)
            else:
                out[("due", min(entered + timeout, now + EVENT_POLL))].append(pk)
        return list(out.items())
    if kind == "branch":
        matching = queries.customers_matching_rule(step["rule"], [r[1] for r in rows], now)
        yes = [r[0] for r in rows if r[1] in matching]
        no = [r[0] for r in rows if r[1] not in matching]
        return [(("goto", step.get("then", default)), yes), (("goto", step.get("else", default)), no)]
    if kind == "split":
        out = defaultdict(list)
        for pk, *_rest in rows:
            out[("goto", journeys.split_path(step, journeys.split_share(journey.pk, pk, step["id"])))].append(
                pk
            )
        return list(out.items())
    if kind == "send":
        report.update(enqueue_send_batch(_step_requests(journey, step, rows), now=now))
    elif kind in ("add_tag", "remove_tag"):
        ids = sorted({r[1] for r in rows})
        change = add_tag if kind == "add_tag" else remove_tag
        for start in range(0, len(ids), MAX_BULK):
            report[kind] += change(None, ids[start : start + MAX_BULK], step["tag"])
    elif kind == "issue_coupon":
        report.update(_issue_coupons(journey, step, rows, now))
    else:  # guide_task, award_points: handed over, holdout excepted
        report[step["type"]] += _write_handoffs(journey, step, rows, now)
    return [(("goto", default), pks)]


def _outcome_changes(action: str, value, now) -> dict:
    """The enrollment columns an outcome of a step (see _run_step) writes; going past the last step is
    leaving the journey at its end."""

    if action == "goto" and value is None:
        action, value = "exit", "end"
    if action == "goto":
        return {"step_id": value, "step_entered_at": now, "due_at": now}
    if action == "due":
        return {"due_at": value}
    return {"status": Enrollment.Status.EXITED, "exited_at": now, "exit_reason": value}


def _move(journey, step_id: str, outcomes, rows, now: dt.datetime) -> None:
    """Store the outcomes of one batch `rows` taken at `step_id` (see _run_step)."""

    first_pk, last_pk = rows[0][0], rows[-1][0]
    held_pks = {r[0] for r in rows if r[2]}

    due = Enrollment.objects.filter(
        journey=journey, step_id=step_id, status=Enrollment.Status.ACTIVE, due_at__lte=now
    )
    outcomes = [(outcome, pks) for outcome, pks in outcomes if pks]
    uniform = len(outcomes) == 1
    for (action, value), pks in outcomes:
        changes = _outcome_changes(action, value, now)
        if uniform:  # every due row of the batch's pk range: one statement
            due.filter(pk__gte=first_pk, pk__lte=last_pk).update(**changes)
        else:
            for chunk in chunked(pks):
                Enrollment.objects.filter(pk__in=chunk).update(**changes)
        if "step_id" in changes:  # they reached another step
            held = len(held_pks) if uniform else sum(pk in held_pks for pk in pks)
            _bump_counts(journey.pk, changes["step_id"], len(pks) - held, held)


def _advance_due(
    journeys_by_id: dict, now: dt.datetime, batch: int, report: Counter, crash_after=None
) -> None:

    active = Enrollment.objects.filter(
        status=Enrollment.Status.ACTIVE, due_at__lte=now, journey_id__in=list(journeys_by_id)
    )
    batches = 0
    for _round in range(MAX_ROUNDS):
        groups = list(active.values_list("journey_id", "step_id").distinct().order_by())
        if not groups:
            return
        for journey_id, step_id in groups:
            journey = journeys_by_id[journey_id]
            steps = {s["id"]: s for s in journey.steps}
            following = following_ids(journey.steps)
            # only waits read the entry time: the driver parses a time column for every row it returns
            timed = steps.get(step_id, {}).get("type") in ("wait", "wait_event")
            fields = ("pk", "customer_id", "holdout", *(("step_entered_at",) if timed else ()))
            after = 0  # batches in id order from where the last one ended: rows that stay (a wait) are not read again
            while True:
                query = (
                    active.filter(journey_id=journey_id, step_id=step_id, pk__gt=after)
                    .order_by("pk")
                    .values_list(*fields)[:batch]
                )
                rows = [
                    (pk, cid, bool(held), as_utc(at[0]) if at else None)
                    for pk, cid, held, *at in unconverted_rows(query)
                ]
                if not rows:
                    break
                after = rows[-1][0]
                with transaction.atomic(), cyclic_gc_paused():
                    if step_id not in steps:  # the step was removed while nobody was waiting at it
                        outcomes = [(("exit", "step_removed"), [r[0] for r in rows])]
                    else:
                        outcomes = _run_step(journey, steps[step_id], following[step_id], rows, now, report)
                    _move(journey, step_id, outcomes, rows, now)
                report["steps_taken"] += len(rows)
                batches += 1
                if crash_after is not None and batches >= crash_after:
                    raise SystemExit("simulated crash")  # tests: a process dying between two batches


def check_goals(journeys_by_id: dict, now: dt.datetime, batch: int = JOURNEY_BATCH) -> int:
    """Mark enrollments that made the goal purchase (within goal_days of entering); with exit_on_goal
    the active ones leave the journey. Returns how many reached the goal."""

    reached = 0
    for journey in journeys_by_id.values():
        if not journey.goal_days:
            continue
        since = now - dt.timedelta(days=journey.goal_days)
        buyers = queries.buyers_since(since, now)  # usually few: look at their enrollments only
        if not buyers:
            continue
        open_rows = Enrollment.objects.filter(
            journey=journey, goal_met_at__isnull=True, entered_at__gte=since
        )
        if len(buyers) > 20_000:
            candidates = [
                r
                for r in open_rows.values_list("pk", "customer_id", "entered_at").iterator(50_000)
                if r[1] in buyers
            ]
        else:
            candidates = [
                row
                for chunk in chunked(sorted(buyers))
                for row in open_rows.filter(customer_id__in=chunk).values_list(
                    "pk", "customer_id", "entered_at"
                )
            ]
        for start in range(0, len(candidates), batch):
            rows = candidates[start : start + batch]
            met = queries.goal_reached(rows, journey.goal_days, now)
            with transaction.atomic():
                for pk, at in met.items():
                    Enrollment.objects.filter(pk=pk).update(goal_met_at=at)
                if journey.exit_on_goal and met:
                    for chunk in chunked(sorted(met)):
                        Enrollment.objects.filter(pk__in=chunk, status=Enrollment.Status.ACTIVE).update(
                            status=Enrollment.Status.EXITED, exited_at=now, exit_reason="goal"
                        )
            reached += len(met)
    return reached


def run_journeys(
    now: dt.datetime | None = None, batch: int = JOURNEY_BATCH, crash_after: int | None = None
) -> dict:
    """One tick of every active journey: enrol by trigger, take the due steps, check goals."""

    now = now or timezone.now()
    active = list(Journey.objects.filter(status=Journey.Status.ACTIVE))
    journeys = {j.pk: j for j in active if j.audience != Journey.Audience.GROUPS}
    report: Counter = Counter()
    clock = time.perf_counter()
    seconds = {}
    for journey in journeys.values():
        report["enrolled"] += enroll_triggered(journey, now, report)
    seconds["triggers"], clock = round(time.perf_counter() - clock, 3), time.perf_counter()
    _advance_due(journeys, now, batch, report, crash_after)
    seconds["steps"], clock = round(time.perf_counter() - clock, 3), time.perf_counter()
    for journey in active:
        if journey.audience == Journey.Audience.GROUPS:
            report["groups_enrolled"] += enroll_groups(journey, now)
            advance_groups(journey, now, report)
    seconds["groups"], clock = round(time.perf_counter() - clock, 3), time.perf_counter()
    report["guide_task_handoffs"] = create_tasks_from_handoffs(now)
    report["points_handoffs"] = award_points_from_handoffs(now)
    report["goals"] = check_goals(journeys, now)
    seconds["goals"] = round(time.perf_counter() - clock, 3)
    return {**report, "seconds": seconds}


# --- group SOP: journeys whose enrollments are customer groups (definitions.py, "Group SOP") ---------------
# Few rows (thousands of groups, not millions of customers): plain ORM, one step's due groups at a time.
# A send_group step calls WeCom before its transaction stores the move: a crash in between sends that
# message again at the next tick (WeCom's owners then confirm it twice); nothing else repeats.

GROUP_MESSAGE_CHATS = 2000  # add_msg_template's chat_id_list: at most this many groups of one owner a task


def _group_fire_key(journey, now: dt.datetime) -> str | None:
    """The trigger fire due now, as a trigger key; None when the trigger has nothing to do now."""
    kind = journey.trigger.get("type")
    if kind == "once":
        return "once" if journey.trigger_checked_at is None else None
    if kind == "schedule" and journey.next_run_at is not None and journey.next_run_at <= now:
        return f"run:{journey.next_run_at.isoformat()}"
    return None


def enroll_groups(journey, now: dt.datetime | None = None) -> int:
    """Enrol the groups the journey's selector chooses if its trigger fires now (once at activation, or a
    schedule's run): each at the first step, due now; a group still going through an earlier fire is left
    out. Returns how many groups entered."""
    now = now or timezone.now()
    key = _group_fire_key(journey, now)
    if key is None:
        return 0
    chosen = list(group_queries.groups_selected(journey.groups or {}).values_list("pk", flat=True))
    enrolled = GroupEnrollment.objects.filter(journey=journey)
    busy = set(enrolled.filter(status=Enrollment.Status.ACTIVE).values_list("group_id", flat=True))
    busy |= set(enrolled.filter(trigger_key=key).values_list("group_id", flat=True))
    first = journey.steps[0]["id"]
    rows = [GroupEnrollment(journey=journey, group_id=g, trigger_key=key, step_id=first, step_entered_at=now,
                            due_at=now, entered_at=now) for g in chosen if g not in busy]  # fmt: skip
    changes: dict = {"trigger_checked_at": now}
    if key.startswith("run:"):
        upcoming, every = journey.next_run_at, dt.timedelta(days=journey.trigger["every_days"])
        while upcoming <= now:
            upcoming += every
        changes["next_run_at"] = upcoming
    with transaction.atomic():
        GroupEnrollment.objects.bulk_create(rows)
        _bump_counts(journey.pk, first, len(rows), 0)
        Journey.objects.filter(pk=journey.pk).update(**changes)
    for name, value in changes.items():
        setattr(journey, name, value)
    return len(rows)


def _send_to_groups(journey, step: dict, following, rows, now: dt.datetime, report: Counter):
    """A send_group step for due group enrollments `rows` (pk, group_id, step_entered_at): one group
    message for them all (one WeCom task per owner). Returns (outcomes, pks of the enrollments reached)."""
    default = step.get("next", following)
    gone = group_queries.dismissed_among([r[1] for r in rows])
    outcomes = [(("exit", "dismissed"), [r[0] for r in rows if r[1] in gone])]
    live = [r for r in rows if r[1] not in gone]
    reached: list[int] = []
    for start in range(0, len(live), GROUP_MESSAGE_CHATS):
        chunk = live[start : start + GROUP_MESSAGE_CHATS]
        ids = [r[1] for r in chunk]
        try:
            message = send_group_message(None, ids, step.get("content", ""), step.get("material"), now=now)
        except GroupMessageRefused as exc:
            # the contact policy: quiet hours wait for their end; groups all at WeCom's limit go on unreached
            if exc.retry_at is not None:
                outcomes.append((("due", exc.retry_at), [r[0] for r in chunk]))
            else:
                report["group_message_refused"] += 1
                outcomes.append((("goto", default), [r[0] for r in chunk]))
            continue
        except (CommunityError, ProviderError) as exc:  # WeCom not set up or down: try again later
            log.warning("journey %s step %s: group message not sent: %s", journey.pk, step["id"], exc)
            report["group_message_errors"] += 1
            outcomes.append((("due", now + EVENT_POLL), [r[0] for r in chunk]))
            continue
        owners = group_queries.owners_of_groups(ids)
        sent_to = set(message.groups.values_list("pk", flat=True))  # without the groups the policy left out
        reached += [pk for pk, group_id, _at in chunk
                    if group_id in sent_to and owners.get(group_id) in message.msgids]  # fmt: skip
        report["group_messages"] += len(message.msgids)
        report["group_message_failures"] += len(message.failures)
        outcomes.append((("goto", default), [r[0] for r in chunk]))
    return outcomes, reached


def _group_step(journey, step: dict | None, following, rows, now: dt.datetime, report: Counter):
    """What happens at `step` to due group enrollments `rows`: (outcomes as in _run_step, pks reached by a
    message)."""
    pks = [r[0] for r in rows]
    if step is None:  # the step was removed while nobody was waiting at it
        return [(("exit", "step_removed"), pks)], []
    kind, default = step["type"], step.get("next", following)
    if kind == "exit":
        return [(("exit", "exit_step"), pks)], []
    if kind == "send_group":
        return _send_to_groups(journey, step, following, rows, now, report)
    out: dict = defaultdict(list)
    zone = ZoneInfo(django_settings.TIME_ZONE)
    for pk, _group, entered in rows:
        if kind == "wait":
            target = entered + journeys.wait_duration(step)
        else:
            target = journeys.window_opens(step, now, zone)
        out[("goto", default) if target <= now else ("due", target)].append(pk)
    return list(out.items()), []


def advance_groups(journey, now: dt.datetime | None = None, report: Counter | None = None) -> None:
    """Move a group journey's due enrollments along their steps, as far as they go now."""
    now = now or timezone.now()
    report = Counter() if report is None else report
    steps = {s["id"]: s for s in journey.steps}
    following = following_ids(journey.steps)
    due = GroupEnrollment.objects.filter(journey=journey, status=Enrollment.Status.ACTIVE, due_at__lte=now)
    for _round in range(MAX_ROUNDS):
        by_step: dict[str, list] = defaultdict(list)
        for pk, group_id, step_id, entered in due.order_by("pk").values_list(
            "pk", "group_id", "step_id", "step_entered_at"
        ):
            by_step[step_id].append((pk, group_id, entered))
        if not by_step:
            return
        for step_id, rows in by_step.items():
            outcomes, reached = _group_step(journey, steps.get(step_id), following.get(step_id), rows, now, report)
            with transaction.atomic():
                for (action, value), pks in outcomes:
                    if not pks:
                        continue
                    changes = _outcome_changes(action, value, now)
                    for chunk in chunked(pks):
                        GroupEnrollment.objects.filter(pk__in=chunk).update(**changes)
                    if "step_id" in changes:
                        _bump_counts(journey.pk, changes["step_id"], len(pks), 0)
                for chunk in chunked(reached):
                    GroupEnrollment.objects.filter(pk__in=chunk).update(messages=F("messages") + 1)
            report["group_steps_taken"] += len(rows)


def schedule_journeys(at: dt.datetime | None = None) -> None:
    """Make sure a journey tick will run at `at` (now when None), without piling up duplicates."""
    from siyu.engagement.journeys.tasks import tick_journeys  # the task module imports this one

    schedule_once(tick_journeys, at)


JOURNEY_SCRIPT_GROUP = "旅程"  # the library group where journey steps' scripts are kept
JOURNEY_TASK_DUE = dt.timedelta(days=1)


HANDOFF_POINTS_BATCH = 50_000


def award_points_from_handoffs(now: dt.datetime | None = None) -> int:
    """Ledger entries for the `award_points` hand-offs journeys wrote: each becomes an award
    (siyu.loyalty.points.actions.award_points_bulk) keyed by the hand-off's idempotency key, source
    "journey", and is marked consumed in the same transaction, so a crash awards nothing twice (a replayed
    key is skipped by the ledger). Returns the number of hand-offs taken."""
    now = now or timezone.now()
    taken = 0
    while True:
        pending = list(
            Handoff.objects.filter(kind=Handoff.Kind.AWARD_POINTS, consumed_at__isnull=True)
            .order_by("pk")
            .values("pk", "idempotency_key", "journey_id", "customer_id", "payload")[:HANDOFF_POINTS_BATCH]
        )
        if not pending:
            return taken
        rows = []
        for row in pending:
            payload = row["payload"] or {}
            points = payload.get("points")
            if isinstance(points, int) and not isinstance(points, bool) and points > 0:
                rows.append({
                    "customer_id": row["customer_id"], "points": points, "key": row["idempotency_key"],
                    "reason": str(payload.get("reason") or "")[:200], "source": "journey",
                    "source_ref": f"journey:{row['journey_id'] or ''}",
                })  # fmt: skip
        with transaction.atomic():
            points_actions.award_points_bulk(rows)
            Handoff.objects.filter(pk__in=[r["pk"] for r in pending]).update(consumed_at=now)
        taken += len(pending)


def run_points_handoffs_job(job, progress) -> dict:
    """Job runner for kind "journey_points": award what journeys handed over and no tick took yet."""
    return {"handoffs_awarded": award_points_from_handoffs()}


def create_tasks_from_handoffs(now: dt.datetime | None = None) -> int:
    """Guide tasks for the `guide_task` hand-offs journeys wrote (siyu.engagement.journeys.actions): one batch per
    journey step's title and script, owner-assigned, due a day later, through the contact policy like any
    task. The step's script is kept in the library (group 旅程) so guides and operators find it. Each batch's
    idempotency key names its hand-offs, and they are marked consumed in the same transaction, so a crash
    creates nothing twice. Returns the number of hand-offs taken."""
    now = now or timezone.now()
    pending = list(
        Handoff.objects.filter(kind=Handoff.Kind.GUIDE_TASK, consumed_at__isnull=True)
        .order_by("pk")
        .values("pk", "journey_id", "customer_id", "payload")[:MAX_TASKS]
    )
    groups: dict[tuple, list[dict]] = {}
    for row in pending:
        payload = row["payload"] or {}
        groups.setdefault(
            (row["journey_id"], payload.get("title", ""), payload.get("script", "")), []
        ).append(row)
    journeys = Journey.objects.in_bulk({journey_id for journey_id, _title, _body in groups} - {None})
    for (journey_id, title, body), rows in groups.items():
        journey = journeys.get(journey_id)
        personalised = journey is not None and uses_profiling(journey.trigger, journey.steps)
        with transaction.atomic():
            group, _created = ScriptGroup.objects.get_or_create(name=JOURNEY_SCRIPT_GROUP)
            text = body or title
            script = Script.objects.filter(group=group, title=title[:200], body=text, archived=False).first()
            if script is None:
                script = Script.objects.create(group=group, title=title[:200], body=text)
            pks = [r["pk"] for r in rows]
            create_guide_tasks(
                None,
                script=script,
                due_at=now + JOURNEY_TASK_DUE,
                customer_ids=sorted({r["customer_id"] for r in rows}),
                name=title,
                source=Send.Source.JOURNEY,
                source_id=str(journey_id or ""),
                idempotency_key=f"handoffs:{pks[0]}-{pks[-1]}:{len(pks)}",
                now=now,
                personalised=personalised,
            )
            Handoff.objects.filter(pk__in=pks).update(consumed_at=now)
    return len(pending)
