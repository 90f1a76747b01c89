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

from django.conf import settings
from django.db.models import Q, QuerySet

from siyu import warehouse
from siyu.community.groups.models import (
    DISMISSED_SCENE,
    CustomerGroup,
    GroupCode,
    GroupMember,
    GroupStatus,
    GroupWelcomeTemplate,
)
from siyu.core.errors import PermissionDenied
from siyu.staff.models import Role
from siyu.staff.queries import has_role
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


def live_codes() -> QuerySet:
    return GroupCode.objects.filter(archived_at=None).order_by("-created_at", "-pk")


def welcome_templates() -> QuerySet:
    return GroupWelcomeTemplate.objects.filter(deleted_at=None).order_by("-updated_at", "-pk")


# --- health ---------------------------------------------------------------------------------------------


def _window(start: dt.date | None, end: dt.date | None, days: int = 30) -> tuple[dt.date, dt.date]:
    end = end or dt.datetime.now(dt.UTC).astimezone(_zone()).date()
    return start or end - dt.timedelta(days=days - 1), end


def _zone():
    return ZoneInfo(settings.TIME_ZONE)


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
    where, params = _filter(chat_ids, group_type, first=5)
    sql = f"""
        WITH stays AS (SELECT joined_at, left_at, quit_scene FROM group_members WHERE {where}),
        moves AS (
            SELECT CAST(timezone($1, joined_at) AS DATE) AS day, 1 AS delta, 1 AS joins, 0 AS leaves FROM stays
            UNION ALL
            SELECT CAST(timezone($1, left_at) AS DATE), -1, 0, CASE WHEN quit_scene IS DISTINCT FROM {DISMISSED_SCENE}
                   THEN 1 ELSE 0 END FROM stays WHERE left_at IS NOT NULL
        ),
        daily AS (SELECT day, sum(delta) AS delta, sum(joins) AS joins, sum(leaves) AS leaves FROM moves GROUP BY day),
        days AS (SELECT CAST(range AS DATE) AS day FROM range(CAST($2 AS DATE), CAST($3 AS DATE) + 1, INTERVAL 1 DAY)),
        base AS (SELECT coalesce(sum(delta), 0) AS members FROM daily WHERE day < CAST($4 AS DATE))
        SELECT days.day, CAST(base.members + sum(coalesce(daily.delta, 0)) OVER (ORDER BY days.day) AS BIGINT) AS members,
               CAST(coalesce(daily.joins, 0) AS BIGINT) AS joins, CAST(coalesce(daily.leaves, 0) AS BIGINT) AS leaves
        FROM days LEFT JOIN daily ON daily.day = days.day CROSS JOIN base ORDER BY days.day
    """
    return _rows(sql, [settings.TIME_ZONE, start, end, start, *params])


def leave_rates(start: dt.date | None = None, end: dt.date | None = None, by: str = "group",
                group_type: str = "", chat_ids: list[str] | None = None) -> list[dict]:  # fmt: skip
    """退群率 per group (by="group": chat_id, group_type) or per group type (by="type"): members at the
    start, joins, leaves and leaves within EARLY_DAYS of joining in the window, members at the end, rate."""
    start, end = _window(start, end)
    key = "chat_id, group_type" if by == "group" else "group_type"
    where, params = _filter(chat_ids, group_type, first=4)
    sql = f"""
        WITH stays AS (
            SELECT {key}, CAST(timezone($1, joined_at) AS DATE) AS joined, CAST(timezone($1, left_at) AS DATE) AS left_day,
                   left_at, joined_at, quit_scene IS DISTINCT FROM {DISMISSED_SCENE} AS real_leave
            FROM group_members WHERE {where}
        )
        SELECT {key},
            count(*) FILTER (WHERE joined < $2 AND (left_day IS NULL OR left_day >= $2)) AS members_at_start,
            count(*) FILTER (WHERE joined BETWEEN $2 AND $3) AS joins,
            count(*) FILTER (WHERE left_day BETWEEN $2 AND $3 AND real_leave) AS leaves,
            count(*) FILTER (WHERE joined BETWEEN $2 AND $3 AND real_leave AND left_at IS NOT NULL
                             AND left_at - joined_at <= INTERVAL {EARLY_DAYS} DAY) AS early_leaves,
            count(*) FILTER (WHERE joined <= $3 AND (left_day IS NULL OR left_day > $3)) AS members_at_end
        FROM stays GROUP BY ALL ORDER BY leaves DESC, {key}
    """
    rows = _rows(sql, [settings.TIME_ZONE, start, end, *params])
    for row in rows:
        exposed = row["members_at_start"] + row["joins"]
        row["leave_rate"] = round(row["leaves"] / exposed, 4) if exposed else None
    return rows


def early_leavers(start: dt.date | None = None, end: dt.date | None = None, days: int = EARLY_DAYS,
                  group_type: str = "") -> dict:  # fmt: skip
    """Customers who joined a group in the window and left it within `days`: {"joins", "early_leaves",
    "share", "customers": [customer ids known]}."""
    start, end = _window(start, end)
    where, params = _filter(None, group_type, first=5)
    sql = f"""
        WITH early AS (
            SELECT customer_id, left_at IS NOT NULL AND quit_scene IS DISTINCT FROM {DISMISSED_SCENE}
                   AND left_at - joined_at <= to_days(CAST($1 AS INTEGER)) AS early
            FROM group_members WHERE {where} AND CAST(timezone($2, joined_at) AS DATE) BETWEEN $3 AND $4
        )
        SELECT count(*) AS joins, count(*) FILTER (WHERE early) AS early_leaves,
               list(DISTINCT customer_id ORDER BY customer_id) FILTER (WHERE early AND customer_id IS NOT NULL)
                   AS customers
        FROM early
    """
    row = _rows(sql, [days, settings.TIME_ZONE, start, end, *params])[0]
    row["customers"] = row["customers"] or []
    row["share"] = round(row["early_leaves"] / row["joins"], 4) if row["joins"] else None
    return row


def member_gmv(start: dt.date | None = None, end: dt.date | None = None, group_type: str = "") -> dict:
    """GMV in the window of customers who were in a group (of the type) at any time in it, against every
    other customer: {"members": {...}, "others": {...}} with customers, buyers, gmv, gmv_per_customer."""
    start, end = _window(start, end)
    zone = _zone()
    since = dt.datetime.combine(start, dt.time(), zone)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), zone)
    con = warehouse.backend()
    gm = con.table("group_members")
    gm = gm.filter(~gm.is_staff, gm.customer_id.notnull(), gm.joined_at < until,
                   gm.left_at.isnull() | (gm.left_at >= since))  # fmt: skip
    if group_type:
        gm = gm.filter(gm.group_type == group_type)
    in_groups = gm.select("customer_id").distinct().mutate(member=True)
    everyone = con.table("customer_map").select("customer_id").distinct()
    orders = con.table("customer_orders")
    orders = orders.filter(is_purchase(orders), orders.order_time >= since, orders.order_time < until)
    spend = orders.group_by("customer_id").aggregate(gmv=orders.amount.sum())
    people = everyone.left_join(in_groups, "customer_id").select(
        everyone.customer_id, member=in_groups.member.fill_null(False))
    joined = people.left_join(spend, "customer_id")
    summary = joined.group_by("member").aggregate(
        customers=joined.customer_id.count(), buyers=joined.gmv.notnull().sum(), gmv=joined.gmv.sum())
    out = {"members": _gmv_row(None), "others": _gmv_row(None)}
    for row in summary.to_pyarrow().to_pylist():
        out["members" if row["member"] else "others"] = _gmv_row(row)
    return out


def _gmv_row(row) -> dict:
    customers, gmv = int((row or {}).get("customers") or 0), Decimal((row or {}).get("gmv") or 0).quantize(Decimal("0.01"))
    return {"customers": customers, "buyers": int((row or {}).get("buyers") or 0), "gmv": gmv,
            "gmv_per_customer": (gmv / customers).quantize(Decimal("0.01")) if customers else None}  # fmt: skip


def duplicate_groups(min_shared: int = 3, min_share: float = 0.5, limit: int = 100) -> list[dict]:
    """Pairs of groups whose current customers overlap: {chat_a, chat_b, shared, share} where share is the
    shared members over the smaller group's size, largest share first. A customer in more than 50 groups
    (a tester, a bot) is left out of the pairing."""
    sql = """
        WITH now AS (SELECT chat_id, member_id FROM group_members WHERE NOT is_staff AND left_at IS NULL),
        sizes AS (SELECT chat_id, count(*) AS size FROM now GROUP BY chat_id),
        usual AS (SELECT member_id FROM now GROUP BY member_id HAVING count(*) BETWEEN 2 AND 50),
        pairs AS (
            SELECT a.chat_id AS chat_a, b.chat_id AS chat_b, count(*) AS shared
            FROM now a JOIN now b ON a.member_id = b.member_id AND a.chat_id < b.chat_id
            WHERE a.member_id IN (SELECT member_id FROM usual)
            GROUP BY ALL HAVING count(*) >= ?
        )
        SELECT chat_a, chat_b, shared, round(shared / least(sa.size, sb.size), 4) AS share
        FROM pairs JOIN sizes sa ON sa.chat_id = chat_a JOIN sizes sb ON sb.chat_id = chat_b
        WHERE shared / least(sa.size, sb.size) >= ?
        ORDER BY share DESC, shared DESC, chat_a, chat_b LIMIT ?
    """
    return _rows(sql, [min_shared, min_share, limit])


def group_health(start: dt.date | None = None, end: dt.date | None = None, group_type: str = "",
                 chat_ids: list[str] | None = None) -> dict:  # fmt: skip
    """Everything the health page shows, in one call."""
    start, end = _window(start, end)
    return {
        "start": start, "end": end,
        "size": size_over_time(start, end, chat_ids=chat_ids, group_type=group_type),
        "by_type": leave_rates(start, end, by="type", group_type=group_type, chat_ids=chat_ids),
        "by_group": leave_rates(start, end, by="group", group_type=group_type, chat_ids=chat_ids)[:50],
        "early": early_leavers(start, end, group_type=group_type),
        "gmv": member_gmv(start, end, group_type=group_type),
        "duplicates": duplicate_groups()[:20],
    }  # fmt: skip
