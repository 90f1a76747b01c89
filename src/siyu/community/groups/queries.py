"""The read side of customer groups: lists for the console and API (a guide sees only the groups they
own) and group health.

Health is computed by Ibis expressions (DESIGN §1: no SQL text, so it runs on any warehouse engine) over
the warehouse table `group_members` (one row per stay of a member in a group, kept by actions.mirror_groups)
joined to `customer_orders` for GMV: a few aggregates over at most a few million rows, so no per-day counters
are stored (they would be a second truth that could drift from the stays). Figures count customers (external
members); staff are left out. Days are local days (TIME_ZONE), by siyu.warehouse.localtime.local_time.

- size on a day: stays begun by the end of that day and not ended by it (a running sum of daily joins minus
  leaves, which includes every stay before the window);
- 退群率 (leave rate) in a window: leaves ÷ (members at the window's start + joins in the window), i.e.
  the share of everyone who was in the group during the window who left; members closed by the group's
  dismissal are not leaves;
- early leavers: stays that began in the window and ended within N days (7) of joining;
- member GMV: purchases (siyu.warehouse.orders.is_purchase) in the window by customers who were in a group
  at any time in the window, against every other customer;
- duplicate groups: pairs of live groups whose current members overlap: shared members and their share of
  the smaller group.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.datatypes as idt
from django.conf import settings
from django.db.models import Q, QuerySet

from siyu import warehouse
from siyu.community.groups.models import (
    DISMISSED_SCENE,
    CustomerGroup,
    GroupCode,
    GroupMember,
    GroupMessage,
    GroupStatus,
    GroupWelcomeTemplate,
)
from siyu.core.errors import PermissionDenied
from siyu.staff.models import Role
from siyu.staff.queries import has_role
from siyu.warehouse.localtime import local_time
from siyu.warehouse.orders import is_purchase

EARLY_DAYS = 7
SEE_ALL = (Role.ADMIN, Role.OPERATOR)
_UTC = idt.Timestamp(timezone="UTC")


# --- lists ----------------------------------------------------------------------------------------------


def groups_for(user, group_type: str = "", store_id: int | None = None, search: str = "",
               include_dismissed: bool = False) -> QuerySet:  # fmt: skip
    """The groups `user` may see: admins and operators all, a store manager their store's, a guide (or
    anyone else) the groups they own."""
    groups = CustomerGroup.objects.select_related("owner", "store")
    if user is not None and not has_role(user, SEE_ALL):
        profile = getattr(user, "staff", None)
        if has_role(user, (Role.MANAGER,)) and profile is not None and profile.store_id:
            groups = groups.filter(Q(store_id=profile.store_id) | Q(owner=profile))
        else:
            groups = groups.filter(owner_userid=(getattr(profile, "wecom_userid", "") or "\0"))
    if not include_dismissed:
        groups = groups.exclude(status=GroupStatus.DISMISSED)
    if group_type:
        groups = groups.filter(group_type=group_type)
    if store_id:
        groups = groups.filter(store_id=store_id)
    if search:
        groups = groups.filter(Q(name__icontains=search) | Q(chat_id=search))
    return groups.order_by("-member_count", "pk")


def group_for(user, group_id: int) -> CustomerGroup:
    group = groups_for(user, include_dismissed=True).filter(pk=group_id).first()
    if group is None:
        if CustomerGroup.objects.filter(pk=group_id).exists():
            raise PermissionDenied("this group is not one of yours")
        raise CustomerGroup.DoesNotExist(f"no customer group {group_id}")
    return group


def members_of(group: CustomerGroup, current_only: bool = True) -> QuerySet:
    stays = GroupMember.objects.filter(group=group)
    if current_only:
        stays = stays.filter(left_at=None)
    return stays.order_by("is_staff", "joined_at", "pk")


def owners_of_chats(chat_ids: list[str]) -> dict[str, str]:
    """{chat id: the owner's WeCom userid} of known groups (the archive's alerts go to the owner)."""
    return dict(CustomerGroup.objects.filter(chat_id__in=chat_ids).exclude(owner_userid="")
                .values_list("chat_id", "owner_userid"))  # fmt: skip


def types_of_chats(chat_ids: list[str]) -> dict[str, str]:
    """{chat id: group type code} of known groups (which sensitive-word rules watch them)."""
    return dict(CustomerGroup.objects.filter(chat_id__in=chat_ids).values_list("chat_id", "group_type"))


def chats_owned_by(userid: str) -> list[str]:
    """The chat ids of the live groups a staff member owns (a resigned member's, for a handover)."""
    return list(CustomerGroup.objects.filter(owner_userid=userid).exclude(status=GroupStatus.DISMISSED)
                .order_by("chat_id").values_list("chat_id", flat=True))  # fmt: skip


def groups_selected(selector: dict) -> QuerySet:
    """The live groups a group journey's selector chooses (siyu.engagement.journeys.definitions: group ids,
    type, store, owner; every criterion given holds), in id order."""
    groups = CustomerGroup.objects.exclude(status=GroupStatus.DISMISSED)
    if selector.get("group_ids"):
        groups = groups.filter(pk__in=selector["group_ids"])
    if selector.get("group_type"):
        groups = groups.filter(group_type=selector["group_type"])
    if selector.get("store_id"):
        groups = groups.filter(store_id=selector["store_id"])
    if selector.get("owner_userid"):
        groups = groups.filter(owner_userid=selector["owner_userid"])
    return groups.order_by("pk")


def dismissed_among(group_ids: list[int]) -> set[int]:
    """Of these group ids: those dismissed, or no longer known."""
    live = set(CustomerGroup.objects.filter(pk__in=group_ids).exclude(status=GroupStatus.DISMISSED)
               .values_list("pk", flat=True))  # fmt: skip
    return set(group_ids) - live


def owners_of_groups(group_ids: list[int]) -> dict[int, str]:
    """{group id: its owner's WeCom userid}."""
    return dict(CustomerGroup.objects.filter(pk__in=group_ids).values_list("pk", "owner_userid"))


def customers_in_groups(group_ids: list[int]) -> set[int]:
    """The identified customers who are in these groups now (open stays)."""
    return set(GroupMember.objects.filter(group_id__in=group_ids, left_at=None, is_staff=False,
                                          customer_id__isnull=False).values_list("customer_id", flat=True))  # fmt: skip


def live_codes() -> QuerySet:
    return GroupCode.objects.filter(archived_at=None).order_by("-created_at", "-pk")


def group_messages_for(user, limit: int = 20) -> list[GroupMessage]:
    """The latest group mass messages `user` may see: all for admins and operators, else those they sent."""
    sent = GroupMessage.objects.prefetch_related("groups").order_by("-created_at", "-pk")
    if user is not None and not has_role(user, SEE_ALL):
        sent = sent.filter(sent_by=user)
    return list(sent[:limit])


def welcome_templates() -> QuerySet:
    return GroupWelcomeTemplate.objects.filter(deleted_at=None).order_by("-updated_at", "-pk")


# --- health ---------------------------------------------------------------------------------------------


def _window(start: dt.date | None, end: dt.date | None, days: int = 30) -> tuple[dt.date, dt.date]:
    end = end or dt.datetime.now(dt.UTC).astimezone(_zone()).date()
    return start or end - dt.timedelta(days=days - 1), end


def _zone():
    return ZoneInfo(settings.TIME_ZONE)


def _instants(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The first instant of local day `start` and the first after local day `end`."""
    zone = _zone()
    return dt.datetime.combine(start, dt.time(), zone), dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), zone)


def _local_day(ts):
    """The local day (TIME_ZONE) of a UTC timestamp column: the warehouse's one definition of local time."""
    return local_time(ts, settings.TIME_ZONE).date()


def _stays(chat_ids: list[str] | None = None, group_type: str = ""):
    """Customers' stays (staff left out) in the chosen groups."""
    t = warehouse.backend().table("group_members")
    t = t.filter(~t.is_staff)
    if chat_ids is not None:
        t = t.filter(t.chat_id.isin(list(chat_ids)))
    if group_type:
        t = t.filter(t.group_type == group_type)
    return t


def _real_leave(t):
    """The stay ended by the member leaving, not by the group's dismissal (an open stay counts as true:
    callers also require left_at)."""
    return ~t.quit_scene.identical_to(DISMISSED_SCENE)


def _left_within(t, days: int):
    # the time between two instants, against days of 24 hours (Ibis compares an instants' difference with
    # an interval in seconds only)
    return t.left_at.notnull() & (t.left_at - t.joined_at <= ibis.interval(seconds=days * 86_400))


def _rows(expr) -> list[dict]:
    return expr.to_pyarrow().to_pylist()


def size_over_time(start: dt.date | None = None, end: dt.date | None = None, chat_ids: list[str] | None = None,
                   group_type: str = "") -> list[dict]:  # fmt: skip
    """[{day, members, joins, leaves}] for every local day of the window, over the chosen groups."""
    start, end = _window(start, end)
    t = _stays(chat_ids, group_type)
    zero = ibis.literal(0, type="int64")
    joins = t.select(day=_local_day(t.joined_at), joins=ibis.literal(1, type="int64"), outs=zero, leaves=zero)
    gone = t.filter(t.left_at.notnull())
    outs = gone.select(day=_local_day(gone.left_at), joins=zero, outs=ibis.literal(1, type="int64"),
                       leaves=_real_leave(gone).cast("int64"))  # fmt: skip
    moves = joins.union(outs, distinct=False)
    # every move before the window falls on the day before it: that day's net is the members at the start
    before = start - dt.timedelta(days=1)
    moves = moves.filter(moves.day <= end).mutate(day=ibis.greatest(moves.day, ibis.literal(before)))
    daily = moves.group_by("day").aggregate(joins=moves.joins.sum(), outs=moves.outs.sum(), leaves=moves.leaves.sum())
    by_day = {r["day"]: r for r in _rows(daily)}
    members = (by_day[before]["joins"] - by_day[before]["outs"]) if before in by_day else 0
    result = []
    for n in range((end - start).days + 1):
        day = start + dt.timedelta(days=n)
        moved = by_day.get(day, {"joins": 0, "outs": 0, "leaves": 0})
        members += moved["joins"] - moved["outs"]
        result.append({"day": day, "members": members, "joins": moved["joins"], "leaves": moved["leaves"]})
    return result


RATE_FIGURES = ("members_at_start", "joins", "leaves", "early_leaves", "members_at_end")


def _with_rate(row: dict) -> dict:
    exposed = row["members_at_start"] + row["joins"]
    row["leave_rate"] = round(row["leaves"] / exposed, 4) if exposed else None
    return row


def leave_rates(start: dt.date | None = None, end: dt.date | None = None, by: str = "group",
                group_type: str = "", chat_ids: list[str] | None = None) -> list[dict]:  # fmt: skip
    """退群率 per group (by="group": chat_id, group_type) or per group type (by="type"): members at the
    start, joins, leaves and leaves within EARLY_DAYS of joining in the window, members at the end, rate."""
    # the window's local days as UTC instants: no time-zone conversion per stay
    since, until = (ibis.literal(i, type=_UTC) for i in _instants(*_window(start, end)))
    keys = ["chat_id", "group_type"] if by == "group" else ["group_type"]
    t = _stays(chat_ids, group_type)
    joined_in = (t.joined_at >= since) & (t.joined_at < until)
    real = _real_leave(t)
    rates = t.group_by(keys).aggregate(
        members_at_start=t.count(where=(t.joined_at < since) & (t.left_at.isnull() | (t.left_at >= since))),
        joins=t.count(where=joined_in),
        leaves=t.count(where=(t.left_at >= since) & (t.left_at < until) & real),
        early_leaves=t.count(where=joined_in & real & _left_within(t, EARLY_DAYS)),
        members_at_end=t.count(where=(t.joined_at < until) & (t.left_at.isnull() | (t.left_at >= until))),
    )
    rates = rates.order_by([ibis.desc("leaves"), *keys])
    return [_with_rate(row) for row in _rows(rates)]


def _by_type(per_group: list[dict]) -> list[dict]:
    """Leave rates per type, summed from the per-group rows (the same figures without a second scan)."""
    types: dict[str, dict] = {}
    for row in per_group:
        total = types.setdefault(row["group_type"], {"group_type": row["group_type"], **dict.fromkeys(RATE_FIGURES, 0)})
        for name in RATE_FIGURES:
            total[name] += row[name]
    return sorted((_with_rate(t) for t in types.values()), key=lambda t: (-t["leaves"], t["group_type"]))


def early_leavers(start: dt.date | None = None, end: dt.date | None = None, days: int = EARLY_DAYS,
                  group_type: str = "") -> dict:  # fmt: skip
    """Customers who joined a group in the window and left it within `days`: {"joins", "early_leaves",
    "share", "customers": [customer ids known]}."""
    start, end = _window(start, end)
    t = _stays(None, group_type)
    t = t.filter(_local_day(t.joined_at).between(start, end))
    early = _real_leave(t) & _left_within(t, days)
    row = _rows(t.aggregate(
        joins=t.count(), early_leaves=t.count(where=early),
        customers=t.customer_id.collect(where=early, distinct=True, order_by=t.customer_id),
    ))[0]  # fmt: skip
    row["early_leaves"] = row["early_leaves"] or 0
    row["customers"] = row["customers"] or []
    row["share"] = round(row["early_leaves"] / row["joins"], 4) if row["joins"] else None
    return row


def member_gmv(start: dt.date | None = None, end: dt.date | None = None, group_type: str = "") -> dict:
    """GMV in the window of customers who were in a group (of the type) at any time in it, against every
    other customer (the customers are customer_summary's, one row each): {"members": {...}, "others":
    {...}} with customers, buyers, gmv, gmv_per_customer."""
    since, until = (ibis.literal(i, type=_UTC) for i in _instants(*_window(start, end)))
    con = warehouse.backend()
    t = _stays(None, group_type)
    members = t.filter(t.customer_id.notnull(), t.joined_at < until, t.left_at.isnull() | (t.left_at >= since))
    members = members.select("customer_id").distinct()
    orders = con.table("customer_orders")
    purchases = orders.filter(is_purchase(orders), orders.order_time >= since, orders.order_time < until)
    spend = purchases.group_by("customer_id").aggregate(gmv=purchases.amount.sum())
    known = members.select(member_id=members.customer_id)
    flagged = spend.left_join(known, spend.customer_id == known.member_id)
    flagged = flagged.select("gmv", member=flagged.member_id.notnull())
    row = _rows(flagged.aggregate(
        members=members.count().as_scalar(), everyone=con.table("customer_summary").count().as_scalar(),
        member_buyers=flagged.count(where=flagged.member), member_gmv=flagged.gmv.sum(where=flagged.member),
        other_buyers=flagged.count(where=~flagged.member), other_gmv=flagged.gmv.sum(where=~flagged.member),
    ))[0]  # fmt: skip
    return {
        "members": _gmv_row(row["members"], {"buyers": row["member_buyers"], "gmv": row["member_gmv"]}),
        "others": _gmv_row(max(row["everyone"] - row["members"], 0),
                           {"buyers": row["other_buyers"], "gmv": row["other_gmv"]}),
    }  # fmt: skip


def _gmv_row(customers: int, bought: dict | None) -> dict:
    gmv = Decimal((bought or {}).get("gmv") or 0).quantize(Decimal("0.01"))
    return {"customers": int(customers), "buyers": int((bought or {}).get("buyers") or 0), "gmv": gmv,
            "gmv_per_customer": (gmv / customers).quantize(Decimal("0.01")) if customers else None}  # fmt: skip


def duplicate_groups(min_shared: int = 3, min_share: float = 0.5, limit: int = 100) -> list[dict]:
    """Pairs of groups whose current customers overlap: {chat_a, chat_b, shared, share} where share is the
    shared members over the smaller group's size, largest share first. A customer in more than 50 groups
    (a tester, a bot) is left out of the pairing."""
    t = _stays()
    now = t.filter(t.left_at.isnull()).select("chat_id", "member_id")
    # each member's groups, unnested twice into the member's pairs of groups: no self-join of a million
    # stays on the member id (measured 0.5 s → 0.38 s at 1M stays)
    member = now.group_by("member_id").aggregate(chats=now.chat_id.collect(), groups=now.count())
    member = member.filter(member.groups.between(2, 50))
    one = member.select("chats", chat_a=member.chats.unnest())
    two = one.select("chat_a", chat_b=one.chats.unnest())
    two = two.filter(two.chat_a < two.chat_b)
    pairs = two.group_by(["chat_a", "chat_b"]).aggregate(shared=two.count())
    pairs = pairs.filter(pairs.shared >= min_shared)
    sizes = now.group_by("chat_id").aggregate(size=now.count())
    sized = pairs.join(sizes.select(chat_a="chat_id", size_a="size"), "chat_a")
    sized = sized.join(sizes.select(chat_b="chat_id", size_b="size"), "chat_b")
    share = sized.shared / ibis.least(sized.size_a, sized.size_b)
    found = sized.filter(share >= min_share).select("chat_a", "chat_b", "shared", share=share.round(4))
    return _rows(found.order_by([ibis.desc("share"), ibis.desc("shared"), "chat_a", "chat_b"]).limit(limit))


def flagged_duplicates(limit: int = 20) -> list[dict]:
    """The duplicate pairs the last group sync flagged (actions.flag_duplicate_groups), largest share first."""
    t = warehouse.backend().table("group_duplicates")
    t = t.select("chat_a", "chat_b", "shared", "share")
    return _rows(t.order_by([ibis.desc("share"), ibis.desc("shared"), "chat_a", "chat_b"]).limit(limit))


def group_health(start: dt.date | None = None, end: dt.date | None = None, group_type: str = "",
                 chat_ids: list[str] | None = None) -> dict:  # fmt: skip
    """Everything the health page shows, in one call: three scans of the stays (size by day, per-group
    rates from which the per-type rates and the early leavers are summed, member GMV) and the duplicate
    pairs flagged by the last sync (finding them pairs every member: kept out of the page's time)."""
    start, end = _window(start, end)
    per_group = leave_rates(start, end, by="group", group_type=group_type, chat_ids=chat_ids)
    joins = sum(r["joins"] for r in per_group)
    early = sum(r["early_leaves"] for r in per_group)
    return {
        "start": start, "end": end,
        "size": size_over_time(start, end, chat_ids=chat_ids, group_type=group_type),
        "by_type": _by_type(per_group),
        "by_group": per_group[:50],
        "early": {"joins": joins, "early_leaves": early, "share": round(early / joins, 4) if joins else None},
        "gmv": member_gmv(start, end, group_type=group_type),
        "duplicates": flagged_duplicates(),
    }  # fmt: skip
