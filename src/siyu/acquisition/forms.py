"""The console's form for a live code: what an operator typed, read into the arguments of
`siyu.acquisition.actions.create_live_code` / `update_live_code`, and every mistake said in words (the
actions' own errors are English, for the API; the form catches the usual ones first, in the operator's
language).

A staff member's weekly schedule is a from/to pair per weekday (all empty: any time; once a day has hours,
a day left empty is off); special periods are one a line, `2026-12-24 2026-12-26 10:00-22:00` (dates
only: off for those days)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from siyu.acquisition import labels
from siyu.acquisition.models import LiveCode
from siyu.engagement.content.queries import attachable_materials
from siyu.engagement.messaging.channels.wecom_contact_ways import MAX_USERS
from siyu.engagement.messaging.models import WeComCorpTag
from siyu.staff.models import StaffProfile, Store

WEEKDAYS = range(1, 8)  # ISO: Monday 1
NAME_MAX = 100
WELCOME_MAX = 4000
LIMIT_MAX = 100_000
HOURS = re.compile(r"^(\d{1,2}:\d{2})\s*[-–~至]\s*(\d{1,2}:\d{2})$")


@dataclass
class CodeForm:
    """The values as typed (to show the form again) and, when valid, the action's arguments."""

    data: dict = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    values: dict = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.errors


def weekday_names() -> list[tuple[int, str]]:
    names = [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday")]
    return list(zip(WEEKDAYS, names, strict=True))


def eligible_staff():
    """Staff members a code can offer: those with a WeCom userid."""
    return StaffProfile.objects.exclude(wecom_userid="").select_related("user", "store").order_by("store__name", "pk")


def _minutes(text: str) -> int | None:
    try:
        hours, minutes = (int(part) for part in text.split(":"))
    except ValueError:
        return None
    if not (0 <= minutes < 60 and 0 <= hours * 60 + minutes <= 24 * 60):
        return None
    return hours * 60 + minutes


def _pair(start: str, end: str) -> list[str] | None:
    a, b = _minutes(start), _minutes(end)
    if a is None or b is None or a >= b:
        return None
    return [f"{a // 60:02d}:{a % 60:02d}", f"{b // 60:02d}:{b % 60:02d}"]


def _whole(text: str) -> int | None | bool:
    """A positive whole number, None when empty, False when not one."""
    text = (text or "").strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= LIMIT_MAX:
        return False
    return int(text)


def parse_periods(text: str) -> list[dict] | None:
    """Special periods, one a line; None when a line cannot be read."""
    periods = []
    for line in (text or "").splitlines():
        parts = line.split()
        if not parts:
            continue
        dates = []
        while parts and re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", parts[0]) and len(dates) < 2:
            try:
                dates.append(dt.date.fromisoformat("-".join(f"{int(p):02d}" for p in parts.pop(0).split("-"))))
            except ValueError:
                return None
        if not dates:
            return None
        start, end = dates[0], dates[-1]
        if start > end:
            return None
        if not parts:
            periods.append({"start": start.isoformat(), "end": end.isoformat(), "off": True})
            continue
        hours = []
        for chunk in parts:
            match = HOURS.match(chunk)
            pair = _pair(*match.groups()) if match else None
            if pair is None:
                return None
            hours.append(pair)
        periods.append({"start": start.isoformat(), "end": end.isoformat(), "hours": hours})
    return periods


def periods_text(periods: list[dict]) -> str:
    lines = []
    for p in periods or []:
        dates = p["start"] if p["start"] == p["end"] else f"{p['start']} {p['end']}"
        hours = "" if p.get("off") else " " + " ".join(f"{a}-{b}" for a, b in p.get("hours") or [])
        lines.append(dates + hours)
    return "\n".join(lines)


def read_code_form(post, *, kind: str = LiveCode.Kind.STAFF) -> CodeForm:
    """The POSTed form read into `create_live_code` keyword arguments (`values`), or `errors` per field."""
    form = CodeForm(data=post)
    errors, values = form.errors, form.values

    name = post.get("name", "").strip()
    if not name:
        errors["name"] = _("Give the code a name.")
    elif len(name) > NAME_MAX:
        errors["name"] = _("A name has at most 100 characters.")
    values["name"] = name

    channel = post.get("channel", LiveCode.Channel.OTHER)
    if channel not in labels.CHANNELS:
        errors["channel"] = _("Choose where the code is shown.")
    values["channel"] = channel
    values["campaign"] = post.get("campaign", "").strip()[:NAME_MAX]

    store = post.get("store", "")
    if store and not Store.objects.filter(pk=store if store.isdigit() else 0).exists():
        errors["store"] = _("Choose a store from the list.")
    values["store"] = int(store) if store.isdigit() else None

    values["staff"] = _read_staff(post, errors, single=kind == LiveCode.Kind.GUIDE)

    values["skip_verify"] = post.get("skip_verify") == "on"
    start, end = post.get("verify_skip_from", "").strip(), post.get("verify_skip_until", "").strip()
    if values["skip_verify"] and (start or end):
        a, b = _minutes(start) if start else None, _minutes(end) if end else None
        if a is None or b is None:
            errors["verify_window"] = _("Give both times of the window, as hours and minutes (09:00).")
        elif a == b:
            errors["verify_window"] = _("The window starts and ends at the same time.")
    values["verify_skip_from"] = start if values["skip_verify"] and start else None
    values["verify_skip_until"] = end if values["skip_verify"] and end else None

    values["welcome_text"] = post.get("welcome_text", "").strip()
    if len(values["welcome_text"]) > WELCOME_MAX:
        errors["welcome_text"] = _("The welcome message has at most 4,000 characters.")
    material = post.get("welcome_material", "")
    values["welcome_material"] = int(material) if material.isdigit() else None
    if values["welcome_material"] is not None and values["welcome_material"] not in {
        m.pk for m in attachable_materials()
    }:
        errors["welcome_material"] = _("This material cannot go with a WeCom message now (archived, or without "
                                       "a picture); choose another.")  # fmt: skip

    known = {t.label for t in WeComCorpTag.objects.filter(deleted=False)}
    tags = [t for t in post.getlist("auto_tags") if t]
    if any(t not in known for t in tags):
        errors["auto_tags"] = _("A tag is no longer in WeCom's tag library; sync WeCom contacts and choose again.")
    values["auto_tags"] = tags

    limit = _whole(post.get("daily_limit", ""))
    if limit is False:
        errors["daily_limit"] = _("The daily limit is a whole number from 1 to 100,000, or empty for none.")
    values["daily_limit"] = limit or None

    cost = post.get("cost", "").strip().replace(",", "").replace("¥", "")
    try:
        values["cost"] = Decimal(cost).quantize(Decimal("0.01")) if cost else None
        if values["cost"] is not None and (values["cost"] < 0 or values["cost"] >= Decimal(10) ** 16):
            raise InvalidOperation
    except InvalidOperation:
        errors["cost"] = _("The cost is an amount in yuan, not negative (800 or 800.50).")
        values["cost"] = None
    return form


def _read_staff(post, errors: dict, single: bool) -> list[dict]:
    chosen = [s for s in post.getlist("staff") if s.isdigit()]
    profiles = {str(p.pk): p for p in StaffProfile.objects.filter(pk__in=chosen).exclude(wecom_userid="")}
    staff, problems = [], []
    for pk in dict.fromkeys(chosen):
        profile = profiles.get(pk)
        if profile is None:
            problems.append(_("A chosen staff member has no WeCom account any more."))
            continue
        limit = _whole(post.get(f"limit_{pk}", ""))
        if limit is False:
            problems.append(_("%(name)s: the daily limit is a whole number from 1 to 100,000.") % {"name": profile})
        schedule = {}
        for day in WEEKDAYS:
            start, end = post.get(f"from_{pk}_{day}", "").strip(), post.get(f"to_{pk}_{day}", "").strip()
            if not start and not end:
                continue
            pair = _pair(start, end) if start and end else None
            if pair is None:
                problems.append(
                    _("%(name)s: on each working day give a start and a later end (09:00 to 18:00).") % {"name": profile}
                )
                break
            schedule[str(day)] = [pair]
        periods = parse_periods(post.get(f"periods_{pk}", ""))
        if periods is None:
            problems.append(
                _("%(name)s: write a special period as a start date, an end date and hours "
                  "(2026-12-24 2026-12-26 10:00-22:00), or dates alone for days off.") % {"name": profile}
            )  # fmt: skip
        staff.append({"staff": profile.pk, "backup": post.get(f"backup_{pk}") == "on", "daily_limit": limit or None,
                      "schedule": schedule, "special_periods": periods or []})  # fmt: skip
    if problems:
        errors["staff"] = " ".join(dict.fromkeys(problems))
    elif not staff:
        errors["staff"] = _("Choose at least one staff member to take the adds.")
    elif len(staff) > MAX_USERS:
        errors["staff"] = _("A code takes at most 100 staff members (WeCom's limit).")
    elif single and len(staff) != 1:
        errors["staff"] = _("A guide's personal code has exactly one staff member.")
    elif all(s["backup"] for s in staff):
        errors["staff"] = _("At least one staff member must not be a backup.")
    return staff


def initial_of(code: LiveCode) -> dict:
    """A code's values the way the form shows them."""
    rows = {str(r.staff_id): r for r in code.staff.all()}
    data = {
        "name": code.name, "channel": code.channel, "campaign": code.campaign,
        "store": str(code.store_id or ""), "skip_verify": "on" if code.skip_verify else "",
        "verify_skip_from": code.verify_skip_from.strftime("%H:%M") if code.verify_skip_from else "",
        "verify_skip_until": code.verify_skip_until.strftime("%H:%M") if code.verify_skip_until else "",
        "welcome_text": code.welcome_text, "welcome_material": str(code.welcome_material_id or ""),
        "daily_limit": "" if code.daily_limit is None else str(code.daily_limit),
        "cost": "" if code.cost is None else str(code.cost),
        "staff_ids": list(rows), "auto_tags": [t.label for t in code.auto_tags.all()],
    }  # fmt: skip
    for pk, row in rows.items():
        data[f"backup_{pk}"] = "on" if row.backup else ""
        data[f"limit_{pk}"] = "" if row.daily_limit is None else str(row.daily_limit)
        for day, hours in (row.schedule or {}).items():
            if hours:
                data[f"from_{pk}_{day}"], data[f"to_{pk}_{day}"] = hours[0]
        data[f"periods_{pk}"] = periods_text(row.special_periods)
    return data


def form_data(post) -> dict:
    """A POST as the template reads it again after an error (lists kept as lists)."""
    data = {key: post.get(key) for key in post}
    data["staff_ids"] = post.getlist("staff")
    data["auto_tags"] = post.getlist("auto_tags")
    return data


def staff_rows(data: dict) -> list[dict]:
    """Every staff member who can be on a code, with what the form holds for them."""
    chosen = set(data.get("staff_ids") or [])
    rows = []
    for profile in eligible_staff():
        pk = str(profile.pk)
        rows.append({
            "pk": pk, "name": str(profile), "store": profile.store.name if profile.store else "",
            "chosen": pk in chosen, "backup": data.get(f"backup_{pk}") == "on",
            "limit": data.get(f"limit_{pk}", ""), "periods": data.get(f"periods_{pk}", ""),
            "days": [{"day": day, "name": name, "start": data.get(f"from_{pk}_{day}", ""),
                      "end": data.get(f"to_{pk}_{day}", "")} for day, name in weekday_names()],
        })  # fmt: skip
    return rows
