"""The read side of live codes, and staff routing: which staff members WeCom should offer on a code now.

A staff member is offered when they are on duty (a special period covering today replaces the weekly
schedule), under their daily add limit on the code (adds counted over the local day) and not near WeCom's
5,000 contacts a person (≥ 4,900: counted as the WeCom contact records in the warehouse whose owner is
them, i.e. the customers they added first, which is how the contact sync records a relation). Backups are
offered only when no primary is."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import ibis
import pyarrow as pa
from django.db.models import Count, Q
from django.utils import timezone

from siyu import warehouse
from siyu.acquisition import quality
from siyu.acquisition.errors import LiveCodeNotFound
from siyu.acquisition.models import LiveCode, LiveCodeAdd, LiveCodeStaff
from siyu.engagement.messaging import queries as messaging_queries
from siyu.engagement.messaging.models import Channel

NEAR_CONTACT_LIMIT = 4_900  # WeCom holds 5,000 contacts a person (DESIGN.md §6); stop offering before
ADDS_PAGE = 50


# --- schedules -----------------------------------------------------------------------------------------


def minutes_of_day(text: str) -> int:
    hours, minutes = str(text).split(":")
    value = int(hours) * 60 + int(minutes)
    if not 0 <= int(minutes) < 60 or not 0 <= value <= 24 * 60:
        raise ValueError(f"{text!r} is not a time of day")
    return value


def within_hours(hours: list, moment: dt.time) -> bool:
    """Whether `moment` falls in one of the [start, end) intervals ("HH:MM", end may be "24:00")."""
    now = moment.hour * 60 + moment.minute
    return any(minutes_of_day(start) <= now < minutes_of_day(end) for start, end in hours or [])


def on_duty(schedule: dict, special_periods: list, local: dt.datetime) -> bool:
    """A special period covering the local day decides; else the weekly schedule (empty: always on duty;
    a weekday it does not name: off)."""
    day = local.date().isoformat()
    for period in special_periods or []:
        if str(period.get("start")) <= day <= str(period.get("end")):
            return not period.get("off") and within_hours(period.get("hours") or [], local.time())
    if not schedule:
        return True
    hours = schedule.get(str(local.isoweekday()))
    return hours is not None and within_hours(hours, local.time())


# --- routing -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    userid: str
    backup: bool = False
    daily_limit: int | None = None
    schedule: dict = field(default_factory=dict)
    special_periods: list = field(default_factory=list)
    adds_today: int = 0
    contacts: int = 0


def availability(candidate: Candidate, local: dt.datetime) -> str:
    """Why a staff member can or cannot take adds now (labels.AVAILABILITY): "offered" when they can."""
    if not on_duty(candidate.schedule, candidate.special_periods, local):
        return "off_schedule"
    if candidate.daily_limit is not None and candidate.adds_today >= candidate.daily_limit:
        return "daily_limit"
    if candidate.contacts >= NEAR_CONTACT_LIMIT:
        return "near_contact_limit"
    return "offered"


def choose_staff(candidates: list[Candidate], local: dt.datetime) -> list[str]:
    """The userids to offer now: the available primaries, or when none is, the available backups."""
    ready = [c for c in candidates if availability(c, local) == "offered"]
    primaries = [c.userid for c in ready if not c.backup]
    return primaries or [c.userid for c in ready]


def local_day(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The local day (TIME_ZONE) holding `now`, as [start, end) instants."""
    local = timezone.localtime(now)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + dt.timedelta(days=1)


def adds_today(code: LiveCode, now: dt.datetime) -> dict[str, int]:
    start, end = local_day(now)
    rows = (LiveCodeAdd.objects.filter(code=code, added_at__gte=start, added_at__lt=end)
            .values("staff_userid").annotate(n=Count("pk")))  # fmt: skip
    return {r["staff_userid"]: r["n"] for r in rows}


def wecom_source() -> str:
    account = messaging_queries.account_of(Channel.WECOM)
    return (account.settings.get("source") if account else None) or "wecom"


def wecom_contact_counts(userids: list[str]) -> dict[str, int]:
    """{userid: WeCom contacts Siyu knows}: the warehouse's WeCom contact records owned by each."""
    if not userids:
        return {}
    con = warehouse.backend()
    records = con.table("records")
    wanted = ibis.memtable(pa.table({"owner_staff": pa.array(sorted(set(userids)), pa.string())}))
    counted = (
        records.filter(records.source == wecom_source())
        .semi_join(wanted, "owner_staff")
        .group_by("owner_staff")
        .aggregate(n=records.record_key.count())
        .to_pyarrow()
        .to_pylist()
    )
    return {r["owner_staff"]: r["n"] for r in counted}


def customers_of_records(record_keys: list[str]) -> dict[str, int]:
    """{record_key: customer_id} of the records resolution has put in a customer."""
    if not record_keys:
        return {}
    cmap = warehouse.backend().table("customer_map")
    keys = ibis.memtable(pa.table({"record_key": pa.array(sorted(set(record_keys)), pa.string())}))
    rows = cmap.semi_join(keys, "record_key").select("record_key", "customer_id").to_pyarrow().to_pylist()
    return {r["record_key"]: r["customer_id"] for r in rows}


def candidates_of(code: LiveCode, now: dt.datetime) -> list[tuple[LiveCodeStaff, Candidate]]:
    rows = [r for r in code.staff.select_related("staff__user") if r.staff.wecom_userid]
    today = adds_today(code, now)
    contacts = wecom_contact_counts([r.staff.wecom_userid for r in rows])
    return [
        (r, Candidate(userid=r.staff.wecom_userid, backup=r.backup,
                      daily_limit=r.daily_limit if r.daily_limit is not None else code.daily_limit,
                      schedule=r.schedule or {}, special_periods=r.special_periods or [],
                      adds_today=today.get(r.staff.wecom_userid, 0),
                      contacts=contacts.get(r.staff.wecom_userid, 0)))
        for r in rows
    ]  # fmt: skip


def route_code(code: LiveCode, now: dt.datetime | None = None) -> list[str]:
    """The staff (WeCom userids) WeCom should offer on this code now; empty when nobody can take adds."""
    now = now or timezone.now()
    return choose_staff([c for _, c in candidates_of(code, now)], timezone.localtime(now))


def staff_availability(code: LiveCode, now: dt.datetime | None = None) -> list[dict]:
    """The routing preview: each staff member of the code, whether they are offered now and why not."""
    now = now or timezone.now()
    local = timezone.localtime(now)
    pairs = candidates_of(code, now)
    offered = set(choose_staff([c for _, c in pairs], local))
    out = []
    for row, candidate in pairs:
        reason = availability(candidate, local)
        if reason == "offered" and candidate.userid not in offered:
            reason = "standby"  # a backup while a primary is offered
        out.append({"staff_id": row.staff_id, "name": str(row.staff), "userid": candidate.userid,
                    "backup": candidate.backup, "adds_today": candidate.adds_today,
                    "daily_limit": candidate.daily_limit, "contacts": candidate.contacts,
                    "offered": candidate.userid in offered, "reason": reason})  # fmt: skip
    return out


def skip_verify_now(code: LiveCode, now: dt.datetime | None = None) -> bool:
    """Whether adds skip verification now: the code's switch, within its window when it has one (a window
    may run past midnight)."""
    if not code.skip_verify:
        return False
    start, end = code.verify_skip_from, code.verify_skip_until
    if start is None or end is None:
        return True
    moment = timezone.localtime(now or timezone.now()).time()
    return start <= moment < end if start <= end else (moment >= start or moment < end)


# --- codes and their adds ------------------------------------------------------------------------------


def get_code(code_id) -> LiveCode:
    try:
        return LiveCode.objects.select_related("store", "welcome_material").get(pk=int(code_id))
    except (LiveCode.DoesNotExist, TypeError, ValueError):
        raise LiveCodeNotFound(f"no live code {code_id}") from None


def code_of_state(state: str) -> LiveCode | None:
    return LiveCode.objects.filter(state=state).first() if state else None


def list_codes(archived: bool = False, store_id: int | None = None):
    codes = LiveCode.objects.filter(archived=archived).select_related("store").annotate(add_count=Count("adds"))
    if store_id is not None:
        codes = codes.filter(store_id=store_id)
    return codes


def code_status(code: LiveCode) -> str:
    """labels.STATUSES: archived, or whether WeCom offers anybody (as last routed)."""
    if code.archived:
        return "archived"
    return "active" if code.routed_users else "nobody_available"


def code_adds(code: LiveCode, page: int = 1, page_size: int = ADDS_PAGE) -> dict:
    adds = LiveCodeAdd.objects.filter(code=code)
    total = adds.count()
    start = (max(page, 1) - 1) * page_size
    return {"items": list(adds[start : start + page_size]), "total": total, "page": page,
            "pages": max((total + page_size - 1) // page_size, 1), "page_size": page_size}  # fmt: skip


def guide_code_of(staff_id: int) -> LiveCode | None:
    return LiveCode.objects.filter(kind=LiveCode.Kind.GUIDE, archived=False, staff__staff_id=staff_id).first()


def store_code_of(store_id: int) -> LiveCode | None:
    return LiveCode.objects.filter(kind=LiveCode.Kind.STORE, archived=False, store_id=store_id).first()


def codes_for_quality(archived: bool = True) -> dict[str, dict]:
    """The codes as siyu.acquisition.quality takes them: {state: {code_id, channel, campaign, store, staff,
    cost}} (staff: the WeCom userid of a single-staff code, else a list), archived codes included by default
    (their adds still count)."""
    codes = LiveCode.objects.select_related("store").prefetch_related("staff__staff")
    if not archived:
        codes = codes.filter(archived=False)
    out = {}
    for code in codes:
        userids = [r.staff.wecom_userid for r in code.staff.all() if r.staff.wecom_userid]
        out[code.state] = {"code_id": code.pk, "channel": code.channel, "campaign": code.campaign or None,
                           "store": code.store.code if code.store else None,
                           "staff": userids[0] if len(userids) == 1 else userids, "cost": code.cost}  # fmt: skip
    return out


# --- for the console ------------------------------------------------------------------------------------


def wecom_contacts_of(customer_id: int) -> list[str]:
    """The external_userids of the customer's WeCom contact records (as resolution has put them in it)."""
    cmap = warehouse.backend().table("customer_map")
    prefix = f"{wecom_source()}|"
    rows = cmap.filter(cmap.customer_id == int(customer_id), cmap.record_key.startswith(prefix))
    return [key[len(prefix):] for key in rows.record_key.to_pyarrow().to_pylist()]


def customer_origin(customer_id: int) -> dict | None:
    """How a customer came, as far as live codes know: their first add through a code (the code, its
    channel and campaign, the staff member added and when), and how many adds through codes they made.
    An add counts as theirs when it was linked to them or its WeCom contact is one of their records (a
    resolve after the add puts the record in the customer before the add is linked)."""
    mine = Q(customer_id=customer_id)
    contacts = wecom_contacts_of(customer_id)
    if contacts:
        mine |= Q(external_userid__in=contacts)
    adds = LiveCodeAdd.objects.filter(mine).select_related("code")
    first = adds.order_by("added_at", "pk").first()
    if first is None:
        return None
    staff = (
        LiveCodeStaff.objects.filter(code=first.code, staff__wecom_userid=first.staff_userid)
        .select_related("staff__user").first()
    )  # fmt: skip
    return {"add": first, "code": first.code, "staff": str(staff.staff) if staff else first.staff_userid,
            "adds": adds.count()}  # fmt: skip


def customers_of_adds(adds) -> dict[int, int]:
    """{add pk: customer_id} for adds, the linked customer or the one their WeCom contact record is in."""
    out = {a.pk: a.customer_id for a in adds if a.customer_id is not None}
    pending = [a for a in adds if a.customer_id is None]
    if pending:
        source = wecom_source()
        found = customers_of_records([f"{source}|{a.external_userid}" for a in pending])
        out.update({a.pk: found[f"{source}|{a.external_userid}"] for a in pending
                    if f"{source}|{a.external_userid}" in found})  # fmt: skip
    return out


def week_start(now: dt.datetime) -> dt.datetime:
    """The start (Monday 00:00, TIME_ZONE) of the local week holding `now`."""
    start, _ = local_day(now)
    return start - dt.timedelta(days=start.weekday())


def adds_since(code: LiveCode, since: dt.datetime) -> list[LiveCodeAdd]:
    return list(LiveCodeAdd.objects.filter(code=code, added_at__gte=since))


# --- acquisition quality for the analytics pages (registered in siyu.acquisition.apps) -----------------


def quality_of_codes(*, as_of, added_from=None, added_to=None, dimensions=quality.DIMENSIONS):
    """Acquisition quality of every live code (archived ones included: their adds still count), or None
    when there are no codes — what the channel ROI page reads (siyu.analytics.live_codes)."""
    codes = codes_for_quality()
    if not codes:
        return None
    return quality.acquisition_quality(
        codes, as_of=as_of, added_from=added_from, added_to=added_to, dimensions=dimensions
    )


def attribution_of_codes(con, *, as_of):
    """Who came through which live code (an Ibis table, quality.code_attribution), or None when there are
    no codes — what the funnel and the traffic map read (siyu.analytics.live_codes)."""
    codes = codes_for_quality()
    if not codes:
        return None
    return quality.code_attribution(con, codes, as_of=as_of)
