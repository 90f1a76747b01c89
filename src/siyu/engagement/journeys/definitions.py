"""The journey (SOP) format: a trigger, a list of steps with branches, checked when a journey is saved.
Pure functions only; the tick that runs journeys is in siyu.engagement.journeys.actions.

Triggers (`Journey.trigger`):

    {"type": "event", "event": NAME, "with": {PROPERTY: VALUE, …}, "max_age_days": 3}
        NAME "order_placed" (a purchase order in the warehouse), or a warehouse event type:
        "wecom_contact_added" (added on WeCom), "code_scanned" (added through a live code; properties
        code_id, channel, campaign, store), "group_joined", "referral", "member_registered", loyalty's
        "tier_changed" (properties from, to: tier codes), "points_expiring", "coupon_expiring" (template_id),
        "checkin_missed" (siyu.loyalty.mirror writes them), …
        Facts since the journey's activation, at most max_age_days old (default 3), each enrols once;
        with `with`, only events whose properties hold those values (siyu.warehouse.events).
    {"type": "segment", "segment_id": N, "change": "enter" | "exit"}
        a customer entered (or left) the segment at a refresh after the activation
    {"type": "date", "date": "birthday" | "due_to_buy", "days_before": 0}
        the birthday (profile) is in days_before days, once a year; or the traits' purchase-cycle due date
        (due_in_days ≤ days_before), once per last purchase
    {"type": "schedule", "segment_id": N | null, "every_days": 7, "at": "10:00"}
        the segment's members (everyone when null) at that local time every every_days days
    {"type": "inactivity", "days": N}
        no purchase for N days since the last one, once per last purchase
    {"type": "segment_now", "segment_id": N}
        a one-shot campaign: the segment's members when the journey is activated, once

Steps (`Journey.steps`), each {"id": ID, "type": TYPE, …, "next": ID?}; without "next" a step goes on to the
following step of the list, and past the last step the customer leaves the journey.

    wait          {"days": d, "hours": h, "minutes": m}           a duration from reaching the step
    wait_window   {"start": "10:00", "end": "12:00"}              until the local time is in the window
    wait_event    {"event": NAME, "timeout_hours": h, "timeout_next": ID}
                                                                  until the event (as in triggers) happens
                                                                  (→ next) or the timeout (→ timeout_next)
    branch        {"rule": SEGMENT RULE, "then": ID, "else": ID}  siyu.segments.rules, scope "segment"
    split         {"paths": [{"weight": 50, "next": ID}, …]}      a deterministic random split
    send          {"channel": C, "template": T, "subject": S, "content": TEXT, "variables": {…},
                   "material": ID (WeCom only: a library material sent along)}
                                                                  through the contact policy to the outbox;
                                                                  {name} and {product} in the texts or the
                                                                  variables' values are filled per customer
                                                                  at delivery (siyu.engagement.content.scripts)
    add_tag / remove_tag  {"tag": "组名:标签"}
    guide_task    {"title": TEXT, "script": TEXT}                 a Handoff row, made a guide task by the tick
    award_points  {"points": N, "reason": TEXT}                   handed to the points ledger (a Handoff row)
    issue_coupon  {"template": ID}                                a coupon of that template
                                                                  (siyu.loyalty.coupons.actions.issue_coupon,
                                                                  keyed by journey, enrollment and step); a
                                                                  member at the template's limits gets none
    exit          {}

A cycle of steps must pass through a wait (wait, wait_window or wait_event), so a tick always ends.

Group SOP (`Journey.audience` "groups"): the same journeys, whose enrollments are customer groups
(GroupEnrollment) instead of customers, chosen by `Journey.groups`, a selector of WeCom customer groups:

    {"group_ids": [ID, …], "group_type": "welfare" | "vip" | …, "store_id": N, "owner_userid": USERID}
        every criterion given must hold (ids: one of those groups); at least one is given; dismissed groups
        are never chosen. A guide's journey always carries their own userid as owner_userid, so it reaches
        only their groups. The selector may change after activation (it is read at each trigger fire).

Its trigger is one of

    {"type": "schedule", "every_days": 7, "at": "10:00"}   the selected groups at that local time every
                                                          every_days days (no segment)
    {"type": "once"}                                      the selected groups once, at the first tick after
                                                          the journey is activated

and its steps are wait, wait_window, exit and

    send_group    {"content": TEXT, "material": ID}        a group mass message (siyu.community.groups.actions
                                                          .send_group_message: one add_msg_template, chat type
                                                          group, per group owner, naming that owner's groups);
                                                          the text is at most 4,000 bytes (WeCom's limit)

A group enrols once per trigger fire (GroupEnrollment.trigger_key "once" or "run:<fire time>"), and not while
it is still going through an earlier fire. The tick moves group enrollments with the same waits as customers';
a send_group step sends once for all the groups reaching it in that tick, and a group dismissed meanwhile
leaves the journey there (exit reason "dismissed") instead of being sent to. Group journeys have no holdout,
goal or re-entry settings (there is no purchase of a group to measure).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from zoneinfo import ZoneInfo

from siyu.engagement.content.queries import attachable_material
from siyu.engagement.content.scripts import customer_variable_names, referenced_names
from siyu.engagement.errors import EngagementError
from siyu.loyalty.coupons.queries import issuing_template
from siyu.segments.errors import RuleError
from siyu.segments.rules import SEGMENT_SCOPE, check_condition, check_event_properties

TRIGGER_TYPES = ("event", "segment", "date", "schedule", "inactivity", "segment_now")
ORDER_PLACED = "order_placed"
# loyalty's events, written by its warehouse mirror (siyu.loyalty.mirror): a tier change (properties from, to),
# points about to expire (points, expires_on), a coupon about to expire (template_id, expires_on) and a broken
# check-in streak (streak)
LOYALTY_EVENTS = ("tier_changed", "points_expiring", "coupon_expiring", "checkin_missed")
NAMED_EVENTS = (ORDER_PLACED, "wecom_contact_added", "code_scanned", "group_joined", "referral", "member_registered",
                *LOYALTY_EVENTS)  # fmt: skip
DATE_KINDS = ("birthday", "due_to_buy")
WAITS = ("wait", "wait_window", "wait_event")
STEP_TYPES = (
    *WAITS,
    "branch",
    "split",
    "send",
    "add_tag",
    "remove_tag",
    "guide_task",
    "award_points",
    "issue_coupon",
    "exit",
)
AUDIENCES = ("customers", "groups")
GROUP_TRIGGER_TYPES = ("schedule", "once")
GROUP_STEP_TYPES = ("wait", "wait_window", "send_group", "exit")
GROUP_TEXT_BYTES = 4000  # add_msg_template's text.content
# steps a holdout enrollment passes without effect: every contact and reward
CONTACT_STEPS = ("send", "guide_task", "award_points", "issue_coupon")
SEND_CHANNELS = ("wecom", "sms", "email", "webhook")
STEP_ID = re.compile(r"^[A-Za-z0-9_\-]{1,32}$")
EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_STEPS = 100
MAX_WAIT_DAYS = 365


def _int(value, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise EngagementError(f"{what} must be a whole number")
    if not low <= int(value) <= high:
        raise EngagementError(f"{what} must be between {low} and {high}")
    return int(value)


def _time(value, what: str) -> str:
    text = str(value).strip()
    try:
        if len(text) == 4 and text[1] == ":":  # 9:30
            text = "0" + text
        return dt.time.fromisoformat(text).strftime("%H:%M")
    except ValueError as exc:
        raise EngagementError(f"{what} must be a time like 10:00") from exc


def _event(value, what: str) -> str:
    if not isinstance(value, str) or not EVENT_NAME.match(value):
        raise EngagementError(f"{what} must be an event name such as {', '.join(NAMED_EVENTS)}")
    return value


def _text(value, what: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise EngagementError(f"{what} must be a text of at most {limit} characters")
    return value.strip()


def check_trigger(trigger) -> dict:
    """The trigger as stored; EngagementError saying what is wrong."""
    if not isinstance(trigger, dict) or trigger.get("type") not in TRIGGER_TYPES:
        raise EngagementError(f"a trigger needs a type: one of {', '.join(TRIGGER_TYPES)}")
    kind = trigger["type"]
    if kind == "event":
        out = {
            "type": kind,
            "event": _event(trigger.get("event"), "the trigger's event"),
            "max_age_days": _int(trigger.get("max_age_days", 3), 1, 365, "max_age_days"),
        }
        try:
            wanted = check_event_properties(trigger.get("with"), "the trigger's properties")
        except RuleError as exc:
            raise EngagementError(str(exc)) from exc
        if wanted and out["event"] == ORDER_PLACED:
            raise EngagementError("an order trigger has no properties to match")
        return {**out, "with": wanted} if wanted else out
    if kind in ("segment", "segment_now"):
        out = {"type": kind, "segment_id": _int(trigger.get("segment_id"), 1, 2**62, "the segment")}
        if kind == "segment":
            if trigger.get("change", "enter") not in ("enter", "exit"):
                raise EngagementError("a segment trigger's change is enter or exit")
            out["change"] = trigger.get("change", "enter")
        return out
    if kind == "date":
        if trigger.get("date") not in DATE_KINDS:
            raise EngagementError(f"a date trigger's date is one of {', '.join(DATE_KINDS)}")
        return {
            "type": kind,
            "date": trigger["date"],
            "days_before": _int(trigger.get("days_before", 0), 0, 60, "days_before"),
        }
    if kind == "schedule":
        segment = trigger.get("segment_id")
        return {
            "type": kind,
            "segment_id": None if segment in (None, "") else _int(segment, 1, 2**62, "the segment"),
            "every_days": _int(trigger.get("every_days", 7), 1, 365, "every_days"),
            "at": _time(trigger.get("at", "10:00"), "the schedule's time"),
        }
    return {"type": kind, "days": _int(trigger.get("days"), 1, 3650, "the inactivity days")}


def check_group_trigger(trigger) -> dict:
    """A group journey's trigger as stored (see the module's Group SOP); EngagementError saying what is wrong."""
    if not isinstance(trigger, dict) or trigger.get("type") not in GROUP_TRIGGER_TYPES:
        raise EngagementError(f"a group journey's trigger is one of {', '.join(GROUP_TRIGGER_TYPES)}")
    if trigger["type"] == "once":
        return {"type": "once"}
    if trigger.get("segment_id") not in (None, ""):
        raise EngagementError("a group journey's schedule has no segment: its groups are chosen apart")
    return {
        "type": "schedule",
        "segment_id": None,
        "every_days": _int(trigger.get("every_days", 7), 1, 365, "every_days"),
        "at": _time(trigger.get("at", "10:00"), "the schedule's time"),
    }


def check_group_selector(selector) -> dict:
    """A group journey's selector as stored (see the module's Group SOP); EngagementError when wrong."""
    if not isinstance(selector, dict):
        raise EngagementError("choose the groups: ids, a group type, a store or an owner")
    ids = selector.get("group_ids") or []
    if not isinstance(ids, list) or len(ids) > 10_000:
        raise EngagementError("the group ids are a list of at most 10,000 ids")
    store = selector.get("store_id")
    out = {
        "group_ids": sorted({_int(i, 1, 2**62, "a group id") for i in ids}),
        "group_type": _text(selector.get("group_type"), "the group type", 16),
        "store_id": None if store in (None, "") else _int(store, 1, 2**62, "the store"),
        "owner_userid": _text(selector.get("owner_userid"), "the group owner", 64),
    }
    if not any(out.values()):
        raise EngagementError("choose the groups: ids, a group type, a store or an owner")
    return out


def _check_step(step, index: int, allowed: tuple[str, ...] = STEP_TYPES) -> dict:
    where = f"step {index + 1}"
    if not isinstance(step, dict):
        raise EngagementError(f"{where} must be an object")
    kind = step.get("type")
    if kind not in allowed:
        raise EngagementError(f"{where}: the type must be one of {', '.join(allowed)}")
    step_id = str(step.get("id") or f"s{index + 1}")
    if not STEP_ID.match(step_id):
        raise EngagementError(f"{where}: an id has 1 to 32 letters, digits, - or _")
    out: dict = {"id": step_id, "type": kind}
    if step.get("next"):
        out["next"] = str(step["next"])
    if kind == "wait":
        days = _int(step.get("days", 0), 0, MAX_WAIT_DAYS, f"{where}: days")
        hours = _int(step.get("hours", 0), 0, 24 * MAX_WAIT_DAYS, f"{where}: hours")
        minutes = _int(step.get("minutes", 0), 0, 60 * 24 * MAX_WAIT_DAYS, f"{where}: minutes")
        if not days and not hours and not minutes:
            raise EngagementError(f"{where}: a wait needs a duration")
        out.update(days=days, hours=hours, minutes=minutes)
    elif kind == "wait_window":
        out.update(
            start=_time(step.get("start"), f"{where}: start"), end=_time(step.get("end"), f"{where}: end")
        )
        if out["start"] == out["end"]:
            raise EngagementError(f"{where}: the window's start and end are the same")
    elif kind == "wait_event":
        out["event"] = _event(step.get("event"), f"{where}: the event")
        out["timeout_hours"] = _int(step.get("timeout_hours", 72), 1, 24 * MAX_WAIT_DAYS, f"{where}: timeout")
        if step.get("timeout_next"):
            out["timeout_next"] = str(step["timeout_next"])
    elif kind == "branch":

        try:
            out["rule"] = check_condition(step.get("rule"), where=f"{where}: rule", scope=SEGMENT_SCOPE)
        except RuleError as exc:
            raise EngagementError(str(exc)) from exc
        for name in ("then", "else"):
            if step.get(name):
                out[name] = str(step[name])
    elif kind == "split":
        paths = step.get("paths")
        if not isinstance(paths, list) or not 2 <= len(paths) <= 10:
            raise EngagementError(f"{where}: a split has 2 to 10 paths")
        out["paths"] = []
        for path in paths:
            if not isinstance(path, dict) or not path.get("next"):
                raise EngagementError(f"{where}: every path has a weight and a next step")
            weight = _int(path.get("weight"), 1, 100, f"{where}: a weight")
            out["paths"].append({"weight": weight, "next": str(path["next"])})
    elif kind == "send":
        if step.get("channel") not in SEND_CHANNELS:
            raise EngagementError(f"{where}: the channel must be one of {', '.join(SEND_CHANNELS)}")
        variables = step.get("variables") or {}
        if not isinstance(variables, dict) or not all(isinstance(k, str) for k in variables):
            raise EngagementError(f"{where}: the variables are an object of names to values")
        out.update(
            channel=step["channel"],
            template=_text(step.get("template"), f"{where}: template", 100),
            subject=_text(step.get("subject"), f"{where}: subject", 200),
            content=_text(step.get("content"), f"{where}: content", 10_000),
            variables={k: str(v) for k, v in variables.items()},
        )
        if step.get("material") not in (None, ""):
            out["material"] = attachable_material(step["material"], out["channel"], where)
        if not out["content"] and not out["template"] and "material" not in out:
            raise EngagementError(f"{where}: a send needs a content, a template or a material")
        referenced = referenced_names(out["subject"], out["content"], out["variables"])
        unknown = [n for n in referenced if n not in customer_variable_names()]
        if unknown:
            raise EngagementError(
                f"{where}: {{{unknown[0]}}} is neither a variable of the step nor one filled from the customer "
                f"({', '.join('{' + n + '}' for n in customer_variable_names())}); write {{{{ and }}}} for literal braces"
            )
    elif kind == "send_group":
        out["content"] = _text(step.get("content"), f"{where}: content", GROUP_TEXT_BYTES)
        if len(out["content"].encode()) > GROUP_TEXT_BYTES:
            raise EngagementError(f"{where}: the text is at most {GROUP_TEXT_BYTES} bytes (WeCom's limit)")
        if step.get("material") not in (None, ""):
            out["material"] = attachable_material(step["material"], "wecom", where)
        if not out["content"] and "material" not in out:
            raise EngagementError(f"{where}: a group message needs a text or a material")
    elif kind in ("add_tag", "remove_tag"):
        out["tag"] = _text(step.get("tag"), f"{where}: tag", 201)
        if not out["tag"]:
            raise EngagementError(f"{where}: which tag?")
    elif kind == "guide_task":
        out.update(
            title=_text(step.get("title"), f"{where}: title", 200),
            script=_text(step.get("script"), f"{where}: script", 5_000),
        )
        if not out["title"]:
            raise EngagementError(f"{where}: a guide task needs a title")
    elif kind == "award_points":
        out.update(
            points=_int(step.get("points"), 1, 1_000_000, f"{where}: points"),
            reason=_text(step.get("reason"), f"{where}: reason", 200),
        )
    elif kind == "issue_coupon":
        template_id = _int(step.get("template"), 1, 2**62, f"{where}: the coupon template")
        if issuing_template(template_id) is None:
            raise EngagementError(f"{where}: no coupon template {template_id} is issuing")
        out["template"] = template_id
    return out


def uses_profiling(trigger: dict, steps: list[dict]) -> bool:
    """True when the journey chooses whom it messages by profiling (PIPL art. 24): a segment trigger
    (entry or exit, segment_now, a schedule over a segment), the traits' due-to-buy prediction, or a branch
    on a segment rule. Its sends are then personalised marketing (siyu.engagement.messaging.policy), refused
    for customers who opted out of it. Event, birthday, inactivity and everyone-schedules are not."""
    kind = (trigger or {}).get("type")
    if kind in ("segment", "segment_now") or (kind == "schedule" and trigger.get("segment_id")):
        return True
    if kind == "date" and trigger.get("date") == "due_to_buy":
        return True
    return any(step.get("type") == "branch" for step in steps or [])


def successors(step: dict, following: str | None) -> list[str | None]:
    """The steps a step can lead to (None: leaving the journey)."""
    kind = step["type"]
    if kind == "exit":
        return []
    default = step.get("next", following)
    if kind == "branch":
        return [step.get("then", default), step.get("else", default)]
    if kind == "split":
        return [p["next"] for p in step["paths"]]
    if kind == "wait_event":
        return [default, step.get("timeout_next", default)]
    return [default]


def check_steps(steps, audience: str = "customers") -> list[dict]:
    """The steps as stored (of a customer or a group journey); EngagementError saying what is wrong."""
    if not isinstance(steps, list) or not steps:
        raise EngagementError("a journey needs at least one step")
    if len(steps) > MAX_STEPS:
        raise EngagementError(f"a journey has at most {MAX_STEPS} steps")
    allowed = GROUP_STEP_TYPES if audience == "groups" else STEP_TYPES
    checked = [_check_step(step, i, allowed) for i, step in enumerate(steps)]
    ids = [s["id"] for s in checked]
    if len(set(ids)) != len(ids):
        raise EngagementError("two steps have the same id")
    known = set(ids)
    graph = {}
    for i, step in enumerate(checked):
        following = ids[i + 1] if i + 1 < len(ids) else None
        targets = successors(step, following)
        for target in targets:
            if target is not None and target not in known:
                raise EngagementError(f"step {step['id']} leads to {target}, which is not a step")
        graph[step["id"]] = [t for t in targets if t is not None]
    # a cycle without a wait would loop within one tick
    waits = {s["id"] for s in checked if s["type"] in WAITS}
    state: dict[str, int] = {}

    def visit(node: str) -> None:
        state[node] = 1
        for target in graph[node]:
            if target in waits:
                continue
            if state.get(target) == 1:
                raise EngagementError(f"steps {node} and {target} loop without a wait")
            if target not in state:
                visit(target)
        state[node] = 2

    for node in ids:
        if node not in state and node not in waits:
            visit(node)
    return checked


# --- what the tick needs -----------------------------------------------------------------------------


def following_ids(steps: list[dict]) -> dict[str, str | None]:
    ids = [s["id"] for s in steps]
    return {step_id: (ids[i + 1] if i + 1 < len(ids) else None) for i, step_id in enumerate(ids)}


def wait_duration(step: dict) -> dt.timedelta:
    return dt.timedelta(days=step.get("days", 0), hours=step.get("hours", 0), minutes=step.get("minutes", 0))


def window_opens(step: dict, at: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """`at` when the local time is inside the window [start, end), else the window's next start."""
    start, end = dt.time.fromisoformat(step["start"]), dt.time.fromisoformat(step["end"])
    local = at.astimezone(zone)
    t = local.time()
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if inside:
        return at
    day = local.date() if t < start else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, start, tzinfo=zone).astimezone(dt.UTC)


def split_share(journey_id: int, enrollment_id: int, step_id: str) -> float:
    """A stable number in [0, 1) per enrollment and step: the same enrollment always takes the same path."""
    key = f"split:{journey_id}:{enrollment_id}:{step_id}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") / 2**64


def split_path(step: dict, share: float) -> str:
    total = sum(p["weight"] for p in step["paths"])
    point = share * total
    for path in step["paths"]:
        point -= path["weight"]
        if point < 0:
            return path["next"]
    return step["paths"][-1]["next"]


def send_key(journey_id: int, enrollment_id: int, step_id: str) -> str:
    """The outbox idempotency key of a journey's send: a repeated tick finds the row it already wrote."""
    return f"journey:{journey_id}:{enrollment_id}:{step_id}"
