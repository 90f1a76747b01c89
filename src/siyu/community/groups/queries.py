"""The read side of customer groups: lists for the console and API (a guide sees only the groups they
own) and group health.

Health is computed in DuckDB over the warehouse table `group_members` (one row per stay of a member in a
group, kept by actions.mirror_groups) joined to `customer_orders` for GMV: a few aggregates over at most a
few million rows, so no per-day counters are stored (they would be a second truth that could drift from the
stays). Figures count customers (external members); staff are left out. Days are local days (TIME_ZONE).

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
from siyu.warehouse.localtime import fixed_offset_since
from siyu.warehouse.orders import is_purchase

EARLY_DAYS = 7
SEE_ALL = (Role.ADMIN, Role.OPERATOR)


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


def _local_day(column: str) -> str:
    """SQL for the local day (TIME_ZONE) of a UTC timestamp column. A zone that has kept one offset for
    years (Asia/Shanghai) is shifted in integer arithmetic, which is far cheaper than ICU's timezone()
    (siyu.warehouse.localtime explains; the same rule, written for SQL)."""
    zone = settings.TIME_ZONE.replace("'", "''")
    icu = f"timezone('{zone}', {column})"
    fixed = fixed_offset_since(settings.TIME_ZONE)
    if fixed is None:
        return f"CAST({icu} AS DATE)"
    since, offset = fixed
    return (f"CAST(CASE WHEN {column} >= TIMESTAMPTZ '{since.isoformat()}' "
            f"THEN make_timestamp(epoch_us({column}) + {offset}) ELSE {icu} END AS DATE)")  # fmt: skip


def _filter(chat_ids: list[str] | None, group_type: str, first: int = 1) -> tuple[str, list]:
    """The WHERE of customers' stays in the chosen groups, with parameters numbered from `first` ($n)."""
    sql, params = "NOT is_staff", []
    if chat_ids is not None:
        params.append(list(chat_ids))
        sql += f" AND list_contains(${first + len(params) - 1}, chat_id)"
    if group_type:
        params.append(group_type)
        sql += f" AND group_type = ${first + len(params) - 1}"
    return sql, params


def _rows(sql: str, params: list) -> list[dict]:
    cursor = warehouse.raw_connection().execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def size_over_time(start: dt.date | None = None, end: dt.date | None = None, chat_ids: list[str] | None = None,
                   group_type: str = "") -> list[dict]:  # fmt: skip
    """[{day, members, joins, leaves}] for every local day of the window, over the chosen groups."""
    start, end = _window(start, end)
    where, params = _filter(chat_ids, group_type, first=3)
    sql = f"""
        WITH moves AS (
            SELECT {_local_day("joined_at")} AS day, count(*) AS joins FROM group_members WHERE {where} GROUP BY 1
        ),
        outs AS (
            SELECT {_local_day("left_at")} AS day, count(*) AS outs,
                   count(*) FILTER (WHERE quit_scene IS DISTINCT FROM {DISMISSED_SCENE}) AS leaves
            FROM group_members WHERE {where} AND left_at IS NOT NULL GROUP BY 1
        ),
        daily AS (
            SELECT coalesce(m.day, o.day) AS day, coalesce(m.joins, 0) AS joins, coalesce(o.leaves, 0) AS leaves,
                   coalesce(m.joins, 0) - coalesce(o.outs, 0) AS delta
            FROM moves m FULL JOIN outs o ON m.day = o.day
        ),
        days AS (SELECT CAST(range AS DATE) AS day FROM range(CAST($1 AS DATE), CAST($2 AS DATE) + 1, INTERVAL 1 DAY)),
        base AS (SELECT coalesce(sum(delta), 0) AS members FROM daily WHERE day < CAST($1 AS DATE))
        SELECT days.day, CAST(base.members + sum(coalesce(daily.delta, 0)) OVER (ORDER BY days.day) AS BIGINT) AS members,
               CAST(coalesce(daily.joins, 0) AS BIGINT) AS joins, CAST(coalesce(daily.leaves, 0) AS BIGINT) AS leaves
        FROM days LEFT JOIN daily ON daily.day = days.day CROSS JOIN base ORDER BY days.day
    """
    return _rows(sql, [start, end, *params])


RATE_FIGURES = ("members_at_start", "joins", "leaves", "early_leaves", "members_at_end")


def _with_rate(row: dict) -> dict:
    exposed = row["members_at_start"] + row["joins"]
    row["leave_rate"] = round(row["leaves"] / exposed, 4) if exposed else None
    return row


def leave_rates(start: dt.date | None = None, end: dt.date | None = None, by: str = "group",
                group_type: str = "", chat_ids: list[str] | None = None) -> list[dict]:  # fmt: skip
    """退群率 per group (by="group": chat_id, group_type) or per group type (by="type"): members at the
    start, joins, leaves and leaves within EARLY_DAYS of joining in the window, members at the end, rate."""
    since, until = _instants(*_window(start, end))
    key = "chat_id, group_type" if by == "group" else "group_type"
    where, params = _filter(chat_ids, group_type, first=3)
    # the window's local days as UTC instants: no time-zone conversion per stay
    sql = f"""
        WITH stays AS (
            SELECT {key}, joined_at, left_at, quit_scene IS DISTINCT FROM {DISMISSED_SCENE} AS real_leave
            FROM group_members WHERE {where}
        )
        SELECT {key},
            count(*) FILTER (WHERE joined_at < $1 AND (left_at IS NULL OR left_at >= $1)) AS members_at_start,
            count(*) FILTER (WHERE joined_at >= $1 AND joined_at < $2) AS joins,
            count(*) FILTER (WHERE left_at >= $1 AND left_at < $2 AND real_leave) AS leaves,
            count(*) FILTER (WHERE joined_at >= $1 AND joined_at < $2 AND real_leave AND left_at IS NOT NULL
                             AND left_at - joined_at <= INTERVAL {EARLY_DAYS} DAY) AS early_leaves,
            count(*) FILTER (WHERE joined_at < $2 AND (left_at IS NULL OR left_at >= $2)) AS members_at_end
        FROM stays GROUP BY ALL ORDER BY leaves DESC, {key}
    """
    return [_with_rate(row) for row in _rows(sql, [since, until, *params])]


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
    where, params = _filter(None, group_type, first=4)
    sql = f"""
        WITH early AS (
            SELECT customer_id, left_at IS NOT NULL AND quit_scene IS DISTINCT FROM {DISMISSED_SCENE}
                   AND left_at - joined_at <= to_days(CAST($1 AS INTEGER)) AS early
            FROM group_members WHERE {where} AND {_local_day("joined_at")} BETWEEN $2 AND $3
        )
        SELECT count(*) AS joins, count(*) FILTER (WHERE early) AS early_leaves,
               list(DISTINCT customer_id ORDER BY customer_id) FILTER (WHERE early AND customer_id IS NOT NULL)
                   AS customers
        FROM early
    """
    row = _rows(sql, [days, start, end, *params])[0]
    row["customers"] = row["customers"] or []
    row["share"] = round(row["early_leaves"] / row["joins"], 4) if row["joins"] else None
    return row


def member_gmv(start: dt.date | None = None, end: dt.date | None = None, group_type: str = "") -> dict:
    """GMV in the window of customers who were in a group (of the type) at any time in it, against every
    other customer (the customers are customer_summary's, one row each): {"members": {...}, "others":
    {...}} with customers, buyers, gmv, gmv_per_customer."""
    since, until = _instants(*_window(start, end))
    orders = warehouse.backend().table("customer_orders")
    purchases = orders.filter(is_purchase(orders), orders.order_time >= since, orders.order_time < until)
    purchases_sql = ibis.to_sql(purchases.select("customer_id", "amount"), dialect="duckdb")
    also, params = ("AND group_type = $3", [group_type]) if group_type else ("", [])
    sql = f"""
        WITH members AS (
            SELECT DISTINCT customer_id FROM group_members
            WHERE NOT is_staff AND customer_id IS NOT NULL AND joined_at < $2 AND (left_at IS NULL OR left_at >= $1) {also}
        ),
        spend AS (SELECT customer_id, sum(amount) AS gmv FROM ({purchases_sql}) GROUP BY customer_id),
        flagged AS (SELECT s.gmv, m.customer_id IS NOT NULL AS member FROM spend s LEFT JOIN members m USING (customer_id))
        SELECT (SELECT count(*) FROM members) AS members, (SELECT count(*) FROM customer_summary) AS everyone,
               count(*) FILTER (WHERE member) AS member_buyers, sum(gmv) FILTER (WHERE member) AS member_gmv,
               count(*) FILTER (WHERE NOT member) AS other_buyers, sum(gmv) FILTER (WHERE NOT member) AS other_gmv
        FROM flagged
    """
    row = _rows(sql, [since, until, *params])[0]
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
    (a tester, a bot) is left out of the pairing. Members are paired by a 64-bit hash of their id (a
    collision would at worst add one shared member to one pair)."""
    sql = """
        WITH now AS MATERIALIZED (
            SELECT chat_id, hash(member_id) AS m FROM group_members WHERE NOT is_staff AND left_at IS NULL
        ),
        multi AS (SELECT m FROM now GROUP BY m HAVING count(*) BETWEEN 2 AND 50),
        shared_now AS MATERIALIZED (SELECT chat_id, m FROM now SEMI JOIN multi USING (m)),
        pairs AS (
            SELECT a.chat_id AS chat_a, b.chat_id AS chat_b, count(*) AS shared
            FROM shared_now a JOIN shared_now b ON a.m = b.m AND a.chat_id < b.chat_id
            GROUP BY ALL HAVING count(*) >= $1
        ),
        sizes AS (SELECT chat_id, count(*) AS size FROM now SEMI JOIN (SELECT chat_a AS chat_id FROM pairs UNION
                                                                        SELECT chat_b FROM pairs) USING (chat_id)
                  GROUP BY chat_id)
        SELECT chat_a, chat_b, shared, round(shared / least(sa.size, sb.size), 4) AS share
        FROM pairs JOIN sizes sa ON sa.chat_id = chat_a JOIN sizes sb ON sb.chat_id = chat_b
        WHERE shared / least(sa.size, sb.size) >= $2
        ORDER BY share DESC, shared DESC, chat_a, chat_b LIMIT $3
    """
    return _rows(sql, [min_shared, min_share, limit])


def flagged_duplicates(limit: int = 20) -> list[dict]:
    """The duplicate pairs the last group sync flagged (actions.flag_duplicate_groups), largest share first."""
    return _rows("SELECT chat_a, chat_b, shared, share FROM group_duplicates ORDER BY share DESC, shared DESC, "
                 "chat_a, chat_b LIMIT $1", [limit])  # fmt: skip


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
