"""Every state change of customer groups: the WeCom group sync and the group-change callback, an
operator's type/store/tags of a group, group codes (join ways) and their rotation, group welcome templates
and group mass messages.

Membership is kept as stays (GroupMember: joined_at … left_at) compared against WeCom's member list; each
group whose stays changed is mirrored into the warehouse table `group_members` (replaced per chat_id), the
one table group health and segments read."""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from collections import defaultdict

import ibis
import pyarrow as pa
from django.db import transaction as db_transaction
from django.utils import timezone
from django.utils.translation import gettext

from siyu import warehouse
from siyu.community.errors import CommunityError
from siyu.community.groups import queries
from siyu.community.groups.models import (
    DISMISSED_SCENE,
    CustomerGroup,
    GroupCode,
    GroupCodeSlot,
    GroupMember,
    GroupMessage,
    GroupStatus,
    GroupType,
    GroupWelcomeTemplate,
)
from siyu.core import pii
from siyu.core.actions import record_audit
from siyu.core.errors import PermissionDenied
from siyu.engagement.content import queries as content_queries
from siyu.engagement.content.models import Material
from siyu.engagement.errors import ContentError, EngagementError
from siyu.engagement.messaging.channel_actions import SYNC_PATIENCE, contact_client, wecom_account
from siyu.engagement.messaging.channels.base import ProviderError
from siyu.engagement.messaging.channels.wecom import WeComError
from siyu.engagement.messaging.policy import (
    REASONS,
    Rules,
    current_policy,
    decide_group_sends,
    group_member_verdicts,
)
from siyu.staff.models import Role, StaffProfile
from siyu.staff.queries import has_role
from siyu.warehouse.append import append_new, replace_all, replace_keyed

log = logging.getLogger(__name__)

MANAGING_ROLES = (Role.ADMIN, Role.OPERATOR, Role.MANAGER)
WECOM_STATUS = {0: GroupStatus.ACTIVE, 1: GroupStatus.OWNER_RESIGNED, 2: GroupStatus.INHERITING,
                3: GroupStatus.INHERITED}  # fmt: skip
CALLBACK_JOIN_SCENE = {"0": 1, "1": 2, "3": 3}  # the callback's JoinScene -> groupchat/get's join_scene
REJOIN_SLACK = dt.timedelta(seconds=60)  # a later join time than this means the member left and came back
APPLY_BATCH = 200  # groups fetched from WeCom, then written together
GONE_CODES = {90501}  # chat is not external group chat: dismissed between list and get
ROTATE_AT = 195
JOIN_WAY_CHATS = 5


def _manager(actor) -> None:
    if actor is not None and not has_role(actor, MANAGING_ROLES):
        raise PermissionDenied("only an admin, operator or store manager can manage customer groups")


def _when(epoch) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch else None


def _client(patience: int = 0):
    try:
        account, secrets = wecom_account()
    except EngagementError as exc:
        raise CommunityError(str(exc)) from exc
    return account, contact_client(account, secrets, patience=patience)


def _source(account) -> str:
    return account.settings.get("source") or "wecom"


# --- customers of members -------------------------------------------------------------------------------


def customers_of_members(source: str, members: list[tuple[str, str]]) -> dict[str, int]:
    """{member id: customer id} of external members (member id, unionid): their WeCom contact record
    `<source>|<external_userid>` in the customer map, else a record holding their unionid."""
    if not members:
        return {}
    con = warehouse.backend()
    cmap = con.table("customer_map")
    keys = ibis.memtable(pa.table({
        "record_key": pa.array([f"{source}|{m}" for m, _ in members], pa.string()),
        "member_id": pa.array([m for m, _ in members], pa.string()),
    }))  # fmt: skip
    found = {r["member_id"]: r["customer_id"] for r in
             keys.inner_join(cmap, "record_key").select("member_id", "customer_id").to_pyarrow().to_pylist()}  # fmt: skip
    by_union = [(m, u) for m, u in members if u and m not in found]
    if by_union:
        hashes = ibis.memtable(pa.table({
            "value_hash": pa.array([pii.keyed_hash(u) for _, u in by_union], pa.string()),
            "member_id": pa.array([m for m, _ in by_union], pa.string()),
        }))  # fmt: skip
        ids = con.table("identifiers")
        ids = ids.filter(ids.id_type == "unionid").select("record_key", "value_hash")
        rows = (hashes.inner_join(ids, "value_hash").inner_join(cmap, "record_key")
                .group_by("member_id").aggregate(customer_id=cmap.customer_id.min()).to_pyarrow().to_pylist())  # fmt: skip
        found.update({r["member_id"]: r["customer_id"] for r in rows})
    return found


# --- the warehouse mirror -------------------------------------------------------------------------------


def mirror_groups(group_ids: list[int]) -> int:
    """Replace the warehouse's `group_members` rows of these groups by their stays; returns rows written."""
    if not group_ids:
        return 0
    groups = {g.pk: g for g in CustomerGroup.objects.filter(pk__in=group_ids).only("chat_id", "group_type", "owner_userid")}
    columns = defaultdict(list)
    for start in range(0, len(group_ids), 2_000):
        for row in GroupMember.objects.filter(group_id__in=group_ids[start : start + 2_000]).values_list(
            "group_id", "member_id", "is_staff", "customer_id", "joined_at", "left_at", "join_scene", "quit_scene",
            "state",
        ):
            group = groups[row[0]]
            for name, value in zip(
                ("chat_id", "group_type", "owner_userid", "member_id", "is_staff", "customer_id", "joined_at",
                 "left_at", "join_scene", "quit_scene", "join_state"),
                (group.chat_id, group.group_type, group.owner_userid, *row[1:]), strict=True,
            ):  # fmt: skip
                columns[name].append(value)
    ts = pa.timestamp("us", tz="UTC")
    rows = pa.table({
        "chat_id": pa.array(columns["chat_id"], pa.string()), "group_type": pa.array(columns["group_type"], pa.string()),
        "owner_userid": pa.array(columns["owner_userid"], pa.string()),
        "member_id": pa.array(columns["member_id"], pa.string()), "is_staff": pa.array(columns["is_staff"], pa.bool_()),
        "customer_id": pa.array(columns["customer_id"], pa.int64()), "joined_at": pa.array(columns["joined_at"], ts),
        "left_at": pa.array(columns["left_at"], ts), "join_scene": pa.array(columns["join_scene"], pa.int16()),
        "quit_scene": pa.array(columns["quit_scene"], pa.int16()),
        "join_state": pa.array([v or None for v in columns["join_state"]], pa.string()),
    })  # fmt: skip
    chat_ids = pa.array([g.chat_id for g in groups.values()], pa.string())
    with warehouse.transaction() as con:
        replace_keyed(con, "group_members", "chat_id", chat_ids, rows)
    return rows.num_rows


def flag_duplicate_groups(now: dt.datetime | None = None) -> int:
    """Replace the warehouse's duplicate-group flags by the pairs sharing most members now; how many."""
    pairs = queries.duplicate_groups(limit=10_000)
    rows = pa.table({
        "chat_a": pa.array([p["chat_a"] for p in pairs], pa.string()),
        "chat_b": pa.array([p["chat_b"] for p in pairs], pa.string()),
        "shared": pa.array([p["shared"] for p in pairs], pa.int64()),
        "share": pa.array([float(p["share"]) for p in pairs], pa.float64()),
        "found_at": pa.array([now or timezone.now()] * len(pairs), pa.timestamp("us", tz="UTC")),
    })  # fmt: skip
    with warehouse.transaction() as con:
        replace_all(con, "group_duplicates", rows)
    return len(pairs)


# --- applying WeCom's view of groups --------------------------------------------------------------------


def _staff_by_userid() -> dict[str, StaffProfile]:
    return {p.wecom_userid: p for p in StaffProfile.objects.exclude(wecom_userid="")}


def apply_group_details(details: list[dict], statuses: dict[str, int], now: dt.datetime, source: str,
                        staff: dict[str, StaffProfile] | None = None) -> dict:  # fmt: skip
    """Bring groups and their stays in line with groupchat/get's answers: new members open a stay, members
    gone close theirs (left now), a later join time is a leave and a rejoin. A group whose member_version
    is unchanged is not compared. Returns {"groups_new", "joins", "leaves", "changed": [group pks]}."""
    staff = _staff_by_userid() if staff is None else staff
    known = CustomerGroup.objects.in_bulk([d["chat_id"] for d in details], field_name="chat_id")
    report = {"groups_new": 0, "joins": 0, "leaves": 0, "changed": []}
    compare: list[tuple[CustomerGroup, dict]] = []
    with db_transaction.atomic():
        for detail in details:
            group = known.get(detail["chat_id"])
            owner = staff.get(detail.get("owner") or "")
            status = WECOM_STATUS.get(int(statuses.get(detail["chat_id"], 0) or 0), GroupStatus.ACTIVE)
            fields = {"name": (detail.get("name") or "")[:200], "owner_userid": (detail.get("owner") or "")[:64],
                      "owner": owner, "status": status, "notice": detail.get("notice") or "",
                      "member_count": len(detail.get("member_list") or []),
                      "created_at": _when(detail.get("create_time"))}  # fmt: skip
            version = str(detail.get("member_version") or "")
            if group is None:
                group = CustomerGroup.objects.create(chat_id=detail["chat_id"], member_version=version, synced_at=now,
                                                     store=owner.store if owner else None, **fields)  # fmt: skip
                report["groups_new"] += 1
                compare.append((group, detail))
                continue
            dirty = [k for k, v in fields.items() if getattr(group, k if k != "owner" else "owner_id") != (
                v.pk if k == "owner" and v is not None else v)]  # fmt: skip
            for k in dirty:
                setattr(group, k, fields[k])
            if group.store_id is None and owner is not None and owner.store_id is not None:
                group.store_id, dirty = owner.store_id, [*dirty, "store"]
            if not version or version != group.member_version or group.dismissed_at is not None:
                compare.append((group, detail))
                group.member_version, dirty = version, [*dirty, "member_version"]
            if group.dismissed_at is not None:
                group.dismissed_at, dirty = None, [*dirty, "dismissed_at"]
            group.synced_at = now
            group.save(update_fields=[*dirty, "synced_at"])
        if compare:
            _compare_members(compare, now, source, report)
    return report


def _compare_members(compare: list[tuple[CustomerGroup, dict]], now: dt.datetime, source: str, report: dict) -> None:
    open_stays: dict[int, dict[str, GroupMember]] = defaultdict(dict)
    for stay in GroupMember.objects.filter(group__in=[g for g, _ in compare], left_at=None):
        open_stays[stay.group_id][stay.member_id] = stay
    new_stays, closed, adjusted = [], [], []
    erased = erased_members(
        {m.get("userid") for _, d in compare for m in d.get("member_list") or []
         if int(m.get("type") or 2) != 1 and m.get("userid") not in open_stays.get(_.pk, {})},
        {m.get("userid"): m.get("unionid") for _, d in compare for m in d.get("member_list") or []},
    )  # fmt: skip
    for group, detail in compare:
        mine = open_stays.get(group.pk, {})
        listed = _pseudonymised(detail.get("member_list") or [], erased)
        changed = False
        for member_id, stay in mine.items():
            if member_id not in listed:
                stay.left_at = now
                closed.append(stay)
                changed = True
        for member_id, item in listed.items():
            joined = _when(item.get("join_time")) or now
            stay = mine.get(member_id)
            if stay is not None:
                if stay.joined_at and joined > stay.joined_at + REJOIN_SLACK:
                    stay.left_at = joined  # left and came back between two looks
                    closed.append(stay)
                else:
                    if stay.joined_at != joined or not stay.unionid and item.get("unionid"):
                        stay.joined_at, stay.unionid = joined, (item.get("unionid") or stay.unionid)[:64]
                        stay.inviter = ((item.get("invitor") or {}).get("userid") or stay.inviter)[:64]
                        stay.join_scene = item.get("join_scene") or stay.join_scene
                        adjusted.append(stay)
                        changed = True
                    continue
            new_stays.append(GroupMember(
                group=group, member_id=member_id[:64], is_staff=int(item.get("type") or 2) == 1,
                unionid=(item.get("unionid") or "")[:64], joined_at=joined, join_scene=item.get("join_scene"),
                inviter=((item.get("invitor") or {}).get("userid") or "")[:64], state=(item.get("state") or "")[:30],
            ))  # fmt: skip
            changed = True
        if changed and group.pk not in report["changed"]:
            report["changed"].append(group.pk)
    erased_ids = {pseudonym: cid for pseudonym, cid in erased.values()}
    for stay in new_stays:
        stay.customer_id = erased_ids.get(stay.member_id)
    unlinked = [s for s in [*new_stays, *adjusted] if not s.is_staff and s.customer_id is None
                and s.member_id not in erased_ids]  # fmt: skip
    links = customers_of_members(source, [(s.member_id, s.unionid) for s in unlinked])
    for stay in unlinked:
        stay.customer_id = links.get(stay.member_id)
    GroupMember.objects.bulk_update(closed, ["left_at"], batch_size=2_000)
    GroupMember.objects.bulk_update(adjusted, ["joined_at", "unionid", "inviter", "join_scene", "customer_id"],
                                    batch_size=2_000)  # fmt: skip
    GroupMember.objects.bulk_create(new_stays, batch_size=2_000)
    report["joins"] += len(new_stays)
    report["leaves"] += len(closed)  # gone now, or left and came back between two looks
    groups = {g.pk: g for g, _ in compare}
    record_leave_events(source, [(groups[s.group_id], s) for s in closed if not s.is_staff])


def _pseudonymised(members: list[dict], erased: dict[str, tuple[str, int | None]]) -> dict[str, dict]:
    """{member id: WeCom's item} of a group's member list, an erased person under their pseudonym without
    their unionid (left out when their erasure's request is gone); an inviter who is erased, the same."""
    listed = {}
    for item in members:
        member_id = item.get("userid")
        if not member_id:
            continue
        inviter = (item.get("invitor") or {}).get("userid")
        if member_id in erased or inviter in erased:
            item = dict(item)
            if inviter in erased:
                item["invitor"] = {"userid": erased[inviter][0]}
            if member_id in erased:
                member_id = erased[member_id][0]
                item.update(userid=member_id, unionid="")
        if member_id:
            listed[member_id] = item
    return listed


def record_leave_events(source: str, leaves: list[tuple[CustomerGroup, GroupMember]]) -> int:
    """A `group_left` event per customer a sync found gone (what acquisition quality and segments read as a
    leave; a leave WeCom's callback told of is its `wecom_group_update` event already). Joins found by a
    sync make no `group_joined` event: that one is the journeys' trigger, from the callback, and a first
    sync would otherwise start journeys for everyone already in a group."""
    rows = [{
        "event_key": f"{source}|{stay.member_id}:group_left:{group.chat_id}:{int(stay.joined_at.timestamp()) if stay.joined_at else 0}",
        "source": source, "record_key": f"{source}|{stay.member_id}", "event_type": "group_left",
        "occurred_at": stay.left_at,
        "properties": json.dumps({"chat_id": group.chat_id, "group_type": group.group_type, "found_by": "sync"}),
        "batch_id": None,
    } for group, stay in leaves]  # fmt: skip
    if not rows:
        return 0
    table = pa.Table.from_pylist(rows, schema=pa.schema([
        ("event_key", pa.string()), ("source", pa.string()), ("record_key", pa.string()), ("event_type", pa.string()),
        ("occurred_at", pa.timestamp("us", tz="UTC")), ("properties", pa.string()), ("batch_id", pa.string()),
    ]))  # fmt: skip
    with warehouse.transaction() as con:
        return append_new(con, "events", table, ("event_key",)).num_rows


def _dismiss(groups, now: dt.datetime) -> list[int]:
    pks = [g.pk for g in groups]
    GroupMember.objects.filter(group_id__in=pks, left_at=None).update(left_at=now, quit_scene=DISMISSED_SCENE)
    CustomerGroup.objects.filter(pk__in=pks).update(status=GroupStatus.DISMISSED, dismissed_at=now, member_count=0)
    return pks


def link_unlinked_members(source: str) -> list[int]:
    """Link the open stays of customers not linked yet (their contact was synced or resolved after they
    joined); returns the groups whose stays changed."""
    stays = list(GroupMember.objects.filter(left_at=None, is_staff=False, customer_id=None))
    links = customers_of_members(source, [(s.member_id, s.unionid) for s in stays])
    linked = [s for s in stays if s.member_id in links]
    for stay in linked:
        stay.customer_id = links[stay.member_id]
    GroupMember.objects.bulk_update(linked, ["customer_id"], batch_size=2_000)
    return sorted({s.group_id for s in linked})


def sync_groups(progress=None, now: dt.datetime | None = None) -> dict:
    """Read every customer group from WeCom (groupchat/list paged, groupchat/get per group, waiting out the
    company's 10,000 calls a minute like the contact sync) and bring groups and stays in line; groups WeCom
    no longer lists are dismissed. Only groups that changed are mirrored into the warehouse, so a re-sync of
    unchanged groups writes nothing. Group codes are rotated afterwards."""
    now = now or timezone.now()
    step = progress or (lambda *args: None)
    account, client = _client(patience=SYNC_PATIENCE)
    source = _source(account)
    staff = _staff_by_userid()
    report = {"groups": 0, "groups_new": 0, "joins": 0, "leaves": 0, "dismissed": 0, "calls": 0}
    changed: list[int] = []
    try:
        step(0, 4, "listing WeCom customer groups")
        statuses: dict[str, int] = {}
        for page in client.list_group_chats():
            statuses.update({c["chat_id"]: int(c.get("status") or 0) for c in page})
            report["calls"] += 1
        chat_ids = list(statuses)
        batch: list[dict] = []
        for number, chat_id in enumerate(chat_ids, 1):
            try:
                batch.append(client.get_group_chat(chat_id))
            except WeComError as exc:
                if exc.errcode not in GONE_CODES:
                    raise
                statuses.pop(chat_id)
            report["calls"] += 1
            if len(batch) >= APPLY_BATCH or number == len(chat_ids):
                applied = apply_group_details(batch, statuses, now, source, staff)
                changed += applied.pop("changed")
                for key, value in applied.items():
                    report[key] += value
                batch = []
                step(1, 4, f"{number:,} of {len(chat_ids):,} groups read from WeCom")
        report["rate_limit_wait_seconds"] = round(client.limiter.waited, 3)
    finally:
        client.http.close()
    report["groups"] = len(statuses)
    live = CustomerGroup.objects.exclude(status=GroupStatus.DISMISSED).values_list("pk", "chat_id")
    gone = [pk for pk, chat_id in live if chat_id not in statuses]  # compared here: no 10,000-id IN clause
    dismissed = _dismiss(list(CustomerGroup.objects.filter(pk__in=gone)) if gone else [], now)
    report["dismissed"] = len(dismissed)
    step(2, 4, "linking members to customers")
    relinked = link_unlinked_members(source)
    report["groups_relinked"] = len(relinked)
    step(3, 4, "writing group memberships into the warehouse")
    report["warehouse_rows"] = mirror_groups(sorted(set(changed + dismissed + relinked)))
    report["duplicate_pairs"] = flag_duplicate_groups(now)
    report["rotation"] = rotate_group_codes(now=now)
    record_audit(None, "sync_groups", target=source, **{k: v for k, v in report.items() if isinstance(v, int)})
    step(4, 4, f"{report['groups']:,} customer groups synced")
    return report


def run_group_sync_job(job, progress) -> dict:
    """Job runner for kind "group_sync": `sync_groups` as a job runs it."""
    try:
        return sync_groups(progress)
    except ProviderError as exc:
        raise CommunityError(f"WeCom refused the group sync: {exc}") from exc


# --- the group-change callback --------------------------------------------------------------------------


def record_group_change(event: dict, account) -> None:
    """A change_external_chat callback (registered with messaging's WeCom event handlers): a member added
    or removed opens or closes their stay at once, from the event itself; then the group is read again
    from WeCom (groupchat/get) for what the event does not say (inviter, unionid), and mirrored. A group
    reaching its code's limit rotates the code."""
    kind = str(event.get("event_type") or "")
    if not kind.startswith("wecom_group_"):
        return
    props = event.get("properties") or {}
    chat_id = props.get("chat_id") or ""
    if not chat_id:
        return
    at = _when(event.get("created")) or timezone.now()
    source = _source(account)
    try:
        if kind == "wecom_group_dismiss":
            pks = _dismiss(list(CustomerGroup.objects.filter(chat_id=chat_id)), at)
            mirror_groups(pks)
            return
        group = CustomerGroup.objects.filter(chat_id=chat_id).first()
        if group is not None and kind == "wecom_group_update":
            _apply_member_event(group, props, at, source)
        _refresh_group(chat_id, source, at)
        group = CustomerGroup.objects.filter(chat_id=chat_id).first()
        if group is not None:
            mirror_groups([group.pk])
            codes = GroupCode.objects.filter(archived_at=None, slots__group=group, slots__removed_at=None)
            if group.member_count >= min([c.rotate_at for c in codes] or [10**6]):
                rotate_group_codes(now=at, codes=list(codes))
    except (ProviderError, CommunityError) as exc:
        log.warning("group change of %s not applied: %s", chat_id, exc)


def _apply_member_event(group: CustomerGroup, props: dict, at: dt.datetime, source: str) -> None:
    members = [m for m in props.get("members") or [] if m]
    detail = props.get("update_detail")
    erased = erased_members(members)
    members = [erased[m][0] if m in erased else m for m in members if erased.get(m, ("-",))[0]]
    if detail == "add_member":
        open_ids = set(GroupMember.objects.filter(group=group, left_at=None, member_id__in=members)
                       .values_list("member_id", flat=True))  # fmt: skip
        fresh = [m for m in members if m not in open_ids]
        staff = set(StaffProfile.objects.filter(wecom_userid__in=fresh).values_list("wecom_userid", flat=True))
        erased_customers = {pseudonym: cid for pseudonym, cid in erased.values()}
        links = customers_of_members(source, [(m, "") for m in fresh if m not in staff and m not in erased_customers])
        GroupMember.objects.bulk_create([
            GroupMember(group=group, member_id=m[:64], is_staff=m in staff, joined_at=at,
                        join_scene=CALLBACK_JOIN_SCENE.get(str(props.get("join_scene") or "")),
                        customer_id=links.get(m, erased_customers.get(m))) for m in fresh
        ])  # fmt: skip
    elif detail == "del_member":
        scene = str(props.get("quit_scene") or "")
        GroupMember.objects.filter(group=group, left_at=None, member_id__in=members).update(
            left_at=at, quit_scene=int(scene) if scene.isdigit() else None)
    else:
        return
    group.member_count = GroupMember.objects.filter(group=group, left_at=None).count()
    group.save(update_fields=["member_count"])


def _refresh_group(chat_id: str, source: str, now: dt.datetime) -> None:
    account, client = _client()
    try:
        detail = client.get_group_chat(chat_id)
    except WeComError as exc:
        if exc.errcode in GONE_CODES:
            _dismiss(list(CustomerGroup.objects.filter(chat_id=chat_id)), now)
            return
        raise
    finally:
        client.http.close()
    known = CustomerGroup.objects.filter(chat_id=chat_id).values_list("status", flat=True).first()
    status = {v: k for k, v in WECOM_STATUS.items()}.get(known, 0) if known else 0
    apply_group_details([detail], {chat_id: status}, now, source)


# --- an operator's words about a group ------------------------------------------------------------------


def update_group(actor, group: CustomerGroup, group_type: str | None = None, tags: list[str] | None = None,
                 store_id: int | None = None) -> CustomerGroup:  # fmt: skip
    """Set a group's type, tags or store (what Siyu knows and WeCom does not)."""
    _manager(actor)
    dirty = []
    if group_type is not None:
        if group_type not in GroupType.values:
            raise CommunityError(f"unknown group type {group_type!r}")
        group.group_type, dirty = group_type, [*dirty, "group_type"]
    if tags is not None:
        clean = sorted({str(t).strip()[:50] for t in tags if str(t).strip()})
        if len(clean) > 20:
            raise CommunityError("a group holds at most 20 tags")
        group.tags, dirty = clean, [*dirty, "tags"]
    if store_id is not None:
        group.store_id, dirty = (store_id or None), [*dirty, "store"]
    if dirty:
        group.save(update_fields=dirty)
        if "group_type" in dirty:
            mirror_groups([group.pk])
        record_audit(actor, "update_group", target=group.chat_id, fields=dirty)
    return group


# --- group codes ----------------------------------------------------------------------------------------


def _checked_code_fields(name: str, groups: list[CustomerGroup], state: str, room_base_name: str,
                         rotate_at: int) -> None:  # fmt: skip
    if not (name or "").strip():
        raise CommunityError("a group code needs a name")
    if not 1 <= len(groups) <= JOIN_WAY_CHATS:
        raise CommunityError(f"a group code points at 1 to {JOIN_WAY_CHATS} groups (WeCom's limit)")
    if any(g.status == GroupStatus.DISMISSED for g in groups):
        raise CommunityError("a dismissed group cannot take new members")
    if len(state or "") > 30:
        raise CommunityError("the state is at most 30 characters (WeCom's limit)")
    if len(room_base_name or "") > 40:
        raise CommunityError("the new rooms' name is at most 40 characters (WeCom's limit)")
    if not 2 <= int(rotate_at) <= 200:
        raise CommunityError("a code moves on from a group at 2 to 200 members (WeCom admits only invitations past 200)")


def _groups_by_ids(group_ids) -> list[CustomerGroup]:
    try:
        ids = [int(i) for i in group_ids]
    except (TypeError, ValueError) as exc:
        raise CommunityError("group ids must be whole numbers") from exc
    found = CustomerGroup.objects.in_bulk(ids)
    missing = [i for i in ids if i not in found]
    if missing:
        raise CommunityError(f"no customer group {missing[0]}")
    return [found[i] for i in dict.fromkeys(ids)]


def _set_slots(code: GroupCode, groups: list[CustomerGroup], now: dt.datetime, because: str) -> None:
    wanted = {g.pk: position for position, g in enumerate(groups)}
    for slot in code.slots.filter(removed_at=None):
        if slot.group_id not in wanted:
            slot.removed_at, slot.removed_because = now, because
            slot.save(update_fields=["removed_at", "removed_because"])
        else:
            slot.position = wanted.pop(slot.group_id)
            slot.save(update_fields=["position"])
    GroupCodeSlot.objects.bulk_create([GroupCodeSlot(code=code, group_id=pk, position=p, added_at=now)
                                       for pk, p in wanted.items()])  # fmt: skip


def _join_way_args(code: GroupCode, groups: list[CustomerGroup]) -> dict:
    return {"chat_ids": [g.chat_id for g in groups], "state": code.state, "remark": code.remark,
            "auto_create_room": code.auto_create_room, "room_base_name": code.room_base_name or code.name[:40],
            "room_base_id": code.room_base_id}  # fmt: skip


def create_group_code(actor, name: str, group_ids, state: str = "", remark: str = "", group_type: str = "",
                      auto_create_room: bool = True, room_base_name: str = "", room_base_id: int = 1,
                      rotate_at: int = ROTATE_AT, now: dt.datetime | None = None) -> GroupCode:  # fmt: skip
    """A group code: a WeCom join way (add_join_way, scene QR) over up to 5 groups, with its QR image."""
    _manager(actor)
    now = now or timezone.now()
    groups = _groups_by_ids(group_ids)
    _checked_code_fields(name, groups, state, room_base_name, rotate_at)
    if group_type and group_type not in GroupType.values:
        raise CommunityError(f"unknown group type {group_type!r}")
    code = GroupCode(name=name.strip()[:100], state=state, remark=(remark or "")[:30], group_type=group_type,
                     auto_create_room=auto_create_room, room_base_name=room_base_name, room_base_id=room_base_id,
                     rotate_at=rotate_at, created_by=actor if getattr(actor, "is_authenticated", False) else None)  # fmt: skip
    _, client = _client()
    try:
        code.config_id = client.add_join_way(**_join_way_args(code, groups))
        code.qr_url = client.get_join_way(code.config_id).get("qr_code", "")[:500]
    except ProviderError as exc:
        raise CommunityError(f"WeCom refused the group code: {exc}") from exc
    finally:
        client.http.close()
    with db_transaction.atomic():
        code.save()
        _set_slots(code, groups, now, "edited")
    record_audit(actor, "create_group_code", target=code.config_id, groups=len(groups))
    return code


def update_group_code(actor, code: GroupCode, group_ids=None, now: dt.datetime | None = None, **fields) -> GroupCode:
    """Change a code's groups or settings (update_join_way: the printed QR image stays valid)."""
    _manager(actor)
    now = now or timezone.now()
    if code.archived_at is not None:
        raise CommunityError("this group code is archived")
    allowed = {"name", "state", "remark", "group_type", "auto_create_room", "room_base_name", "room_base_id", "rotate_at"}
    unknown = set(fields) - allowed
    if unknown:
        raise CommunityError(f"a group code has no {sorted(unknown)[0]}")
    for key, value in fields.items():
        if value is not None:
            setattr(code, key, value)
    groups = _groups_by_ids(group_ids) if group_ids is not None else code.current_groups()
    _checked_code_fields(code.name, groups, code.state, code.room_base_name, code.rotate_at)
    _, client = _client()
    try:
        client.update_join_way(code.config_id, **_join_way_args(code, groups))
    except ProviderError as exc:
        raise CommunityError(f"WeCom refused the change: {exc}") from exc
    finally:
        client.http.close()
    with db_transaction.atomic():
        code.save()
        _set_slots(code, groups, now, "edited")
    record_audit(actor, "update_group_code", target=code.config_id)
    return code


def archive_group_code(actor, code: GroupCode, now: dt.datetime | None = None) -> GroupCode:
    """Stop a code: its join way is deleted in WeCom (the QR image stops working); its history stays."""
    _manager(actor)
    if code.archived_at is not None:
        return code
    _, client = _client()
    try:
        client.del_join_way(code.config_id)
    except WeComError as exc:
        if exc.errcode != 41044:  # already gone in WeCom
            raise CommunityError(f"WeCom refused to delete the code: {exc}") from exc
    finally:
        client.http.close()
    code.archived_at = now or timezone.now()
    code.save(update_fields=["archived_at"])
    record_audit(actor, "archive_group_code", target=code.config_id)
    return code


def rotate_group_codes(now: dt.datetime | None = None, codes: list[GroupCode] | None = None) -> dict:
    """Move every live code off its groups that reached the code's `rotate_at` (default 195, before WeCom's
    200 where only invitations join) or were dismissed, onto groups with room: groups of the same owners
    (and the code's type when it has one) that no other live code uses, oldest first, up to 5. A code with
    nowhere to go keeps its groups (WeCom's auto_create_room then opens a new room at 200, which WeCom adds
    to the way: rooms found there are kept). Runs after each sync and when a callback shows a group reaching
    the limit. Returns {"rotated", "no_room"}."""
    now = now or timezone.now()
    codes = codes if codes is not None else list(GroupCode.objects.filter(archived_at=None).exclude(config_id=""))
    report = {"rotated": 0, "no_room": 0}
    if not codes:
        return report
    client = None
    try:
        for code in codes:
            current = code.current_groups()
            full = [g for g in current if g.member_count >= code.rotate_at or g.status == GroupStatus.DISMISSED]
            if not full:
                continue
            if client is None:
                _, client = _client()
            if code.auto_create_room:  # rooms WeCom opened and added to the way itself are kept
                try:
                    listed = client.get_join_way(code.config_id).get("chat_id_list") or []
                except ProviderError as exc:
                    log.warning("group code %s not rotated: %s", code.pk, exc)
                    continue
                known = {g.chat_id for g in current}
                added = list(CustomerGroup.objects.filter(chat_id__in=[c for c in listed if c not in known]))
                current += added
                full += [g for g in added if g.member_count >= code.rotate_at]
            keep = [g for g in current if g not in full]
            owners = {g.owner_userid for g in current}
            used = GroupCodeSlot.objects.filter(removed_at=None, code__archived_at=None).values_list("group_id", flat=True)
            candidates = CustomerGroup.objects.filter(
                status=GroupStatus.ACTIVE, member_count__lt=code.rotate_at, owner_userid__in=owners,
            ).exclude(pk__in=used)  # fmt: skip
            if code.group_type:
                candidates = candidates.filter(group_type=code.group_type)
            keep = keep[:JOIN_WAY_CHATS]
            fresh = list(candidates.exclude(pk__in=[g.pk for g in keep]).order_by("created_at", "pk")[
                : JOIN_WAY_CHATS - len(keep)])  # fmt: skip
            if not keep and not fresh:
                report["no_room"] += 1
                continue
            try:
                client.update_join_way(code.config_id, **_join_way_args(code, keep + fresh))
            except ProviderError as exc:
                log.warning("group code %s not rotated: %s", code.pk, exc)
                continue
            _set_slots(code, keep + fresh, now, "full")
            report["rotated"] += 1
    finally:
        if client is not None:
            client.http.close()
    return report


# --- group welcome templates ----------------------------------------------------------------------------


def _attachment_item(material_id) -> dict | None:
    """The library material as an attachment to upload, or None; CommunityError when it cannot go."""
    if not material_id:
        return None
    material = Material.objects.filter(pk=material_id).first()
    if material is None:
        raise CommunityError(f"no material {material_id}")
    try:
        return content_queries.attachment_of(material)
    except ContentError as exc:
        raise CommunityError(str(exc)) from exc


def _attachment(client, material_id) -> dict | None:
    item = _attachment_item(material_id)
    return client.attachments([item])[0] if item is not None else None


def save_group_welcome_template(actor, name: str, text: str, material_id: int | None = None,
                                template: GroupWelcomeTemplate | None = None) -> GroupWelcomeTemplate:  # fmt: skip
    """Create (group_welcome_template/add) or change (…/edit) a group welcome message: text and at most one
    library material. WeCom's template_id is then chosen in the group's settings in WeCom."""
    _manager(actor)
    text = (text or "").strip()
    if not (name or "").strip():
        raise CommunityError("a welcome message needs a name")
    if not text and not material_id:
        raise CommunityError("a welcome message needs a text or a material")
    if len(text.encode()) > 4000:
        raise CommunityError("the text is at most 4,000 bytes (WeCom's limit)")
    _, client = _client()
    try:
        attachment = _attachment(client, material_id)
        if template is None:
            template = GroupWelcomeTemplate(template_id=client.add_group_welcome_template(text, attachment))
        else:
            client.edit_group_welcome_template(template.template_id, text, attachment)
    except ProviderError as exc:
        raise CommunityError(f"WeCom refused the welcome message: {exc}") from exc
    finally:
        client.http.close()
    template.name, template.text, template.material_id = name.strip()[:100], text, material_id or None
    template.save()
    record_audit(actor, "save_group_welcome_template", target=template.template_id)
    return template


def delete_group_welcome_template(actor, template: GroupWelcomeTemplate) -> None:
    _manager(actor)
    _, client = _client()
    try:
        client.del_group_welcome_template(template.template_id)
    except WeComError as exc:
        if exc.errcode != 41044:
            raise CommunityError(f"WeCom refused to delete the welcome message: {exc}") from exc
    finally:
        client.http.close()
    template.deleted_at = timezone.now()
    template.save(update_fields=["deleted_at"])
    record_audit(actor, "delete_group_welcome_template", target=template.template_id)


# --- group mass messages --------------------------------------------------------------------------------


class GroupMessageRefused(CommunityError):
    """The contact policy let none of the chosen groups have the message now. The message (Chinese for the
    operator) says why; `reasons` {chat id: policy reason}; `retry_at`: when it may go (quiet hours) or None;
    `message`: the recorded GroupMessage."""

    def __init__(self, text: str, reasons: dict[str, str], retry_at: dt.datetime | None, message):
        super().__init__(text)
        self.reasons, self.retry_at, self.message = reasons, retry_at, message


def group_message_history(groups: list[CustomerGroup], since: dt.datetime) -> dict[str, list[dt.datetime]]:
    """{chat id: times of the group mass messages it was sent since `since`} (a message counts for a group
    unless WeCom refused its owner's task; counted when the task was made, before the owner confirms, which
    errs on the side of WeCom's limit)."""
    history: dict[str, list[dt.datetime]] = {g.chat_id: [] for g in groups}
    owners = {g.pk: (g.chat_id, g.owner_userid) for g in groups}
    through = GroupMessage.groups.through.objects.filter(
        customergroup_id__in=list(owners), groupmessage__sent_at__gte=since
    ).values_list("customergroup_id", "groupmessage__sent_at", "groupmessage__failures")
    for group_id, at, failures in through:
        chat, owner = owners[group_id]
        if (owner or "?") not in (failures or {}):  # "?": a group without an owner, never asked
            history[chat].append(at)
    return history


def _refusal_text(reasons: dict[str, str], retry_at: dt.datetime | None, rules: Rules, names: dict[str, str]) -> str:
    """Why a group message was refused (or some groups left out), in the operator's language."""
    if retry_at is not None:
        return gettext("Group mass messages are not sent in quiet hours (%(start)s–%(end)s): send it after %(at)s.") % {
            "start": rules.quiet_start.strftime("%H:%M"), "end": rules.quiet_end.strftime("%H:%M"),
            "at": timezone.localtime(retry_at).strftime("%m-%d %H:%M")}  # fmt: skip
    by_reason: dict[str, list[str]] = defaultdict(list)
    for chat, reason in reasons.items():
        by_reason[reason].append(names.get(chat) or chat)
    return gettext("Left out by the contact policy: %(groups)s") % {"groups": "；".join(
        f"{REASONS.get(r, r)}（{'、'.join(sorted(n))}）" for r, n in sorted(by_reason.items()))}  # fmt: skip


def send_group_message(actor, group_ids, text: str, material_id: int | None = None,
                       now: dt.datetime | None = None) -> GroupMessage:  # fmt: skip
    """A mass message to customer groups: one add_msg_template (chat_type group) per owner, naming only
    the chosen groups of that owner (chat_id_list); WeCom asks each owner to confirm it. A guide may send
    only to the groups they own.

    Through the contact policy (siyu.engagement.messaging.policy.decide_group_sends): in quiet hours nothing
    goes; a group at WeCom's monthly (or daily) limit is left out (`refused`); when no group is left the
    message is recorded with its reasons, audited (`refuse_group_message`) and GroupMessageRefused raised.
    Identified members who opted out are counted apart (`customers_opted_out`), never as reached."""
    now = now or timezone.now()
    groups = _groups_by_ids(group_ids)
    if not groups:
        raise CommunityError("choose at least one group")
    if not has_role(actor, MANAGING_ROLES) and actor is not None:
        mine = getattr(getattr(actor, "staff", None), "wecom_userid", "") or None
        if not has_role(actor, (Role.GUIDE,)) or any(g.owner_userid != mine for g in groups):
            raise PermissionDenied("a guide sends only to the groups they own")
    text = (text or "").strip()
    if not text and not material_id:
        raise CommunityError("a group message needs a text or a material")
    live = [g for g in groups if g.status != GroupStatus.DISMISSED]
    message = GroupMessage(text=text, material_id=material_id or None, sent_at=now,
                           sent_by=actor if getattr(actor, "is_authenticated", False) else None)  # fmt: skip
    _, client = _client()  # WeCom set up and the material fit to send, before anything is stored
    try:
        item = _attachment_item(material_id)
        # Decided and stored under the policy lock, before WeCom is called: a send running at the same time
        # counts this one (an unfinished message counts as sent: better one fewer than one over WeCom's limit).
        with db_transaction.atomic():
            rules = Rules.of(current_policy(lock=True))
            # the month (or day) the limit counts in began at most 32 days ago, whatever the time zone
            decisions = decide_group_sends(group_message_history(live, now - dt.timedelta(days=32)), now, rules)
            allowed = [g for g in live if decisions[g.chat_id].status == "queued"]
            message.refused = {chat: d.reason for chat, d in decisions.items() if d.status != "queued"}
            verdicts = group_member_verdicts(queries.customers_in_groups([g.pk for g in allowed]), rules)
            message.customers_reached = sum(1 for v in verdicts.values() if not v)
            message.customers_opted_out = len(verdicts) - message.customers_reached
            message.save()
            message.groups.set(allowed)
        if live and not allowed:
            retry_at = next((d.scheduled_at for d in decisions.values() if d.status == "deferred"), None)
            record_audit(actor, "refuse_group_message", target=str(message.pk), groups=len(live),
                         reasons=sorted(set(message.refused.values())))  # fmt: skip
            names = {g.chat_id: g.name for g in live}
            raise GroupMessageRefused(_refusal_text(message.refused, retry_at, rules, names), message.refused,
                                      retry_at, message)  # fmt: skip
        by_owner: dict[str, list[CustomerGroup]] = defaultdict(list)
        for group in allowed:
            by_owner[group.owner_userid].append(group)
        try:
            attachment = client.attachments([item])[0] if item is not None else None
        except ProviderError as exc:  # no owner was asked: the message reached no group and does not count
            message.failures = {owner or "?": f"the material could not be uploaded: {exc}" for owner in by_owner}
            by_owner = {}
        for owner, mine in sorted(by_owner.items()):
            if not owner:
                message.failures["?"] = "a group without an owner"
                continue
            try:
                message.msgids[owner] = client.add_group_msg_template(
                    owner, text, [g.chat_id for g in mine], [attachment] if attachment else [])
            except ProviderError as exc:
                message.failures[owner] = str(exc)
    finally:
        client.http.close()
    message.save(update_fields=["msgids", "failures"])
    record_audit(actor, "send_group_message", target=str(message.pk), groups=len(allowed), owners=len(message.msgids),
                 refused=len(message.refused), customers_opted_out=message.customers_opted_out)  # fmt: skip
    return message


def refusal_text(message: GroupMessage) -> str:
    """Why some chosen groups of a sent message were left out ("" when none was), in the operator's language."""
    if not message.refused:
        return ""
    names = dict(CustomerGroup.objects.filter(chat_id__in=list(message.refused)).values_list("chat_id", "name"))
    return _refusal_text(message.refused, None, Rules.of(current_policy()), names)


# --- erasure of a person (PIPL art. 47; siyu.privacy.erasure runs it) ----------------------------------------


ERASED_MEMBER = "wm-erased-"  # what person.pseudonym("wm-") starts with: a stay erased before


def _person_member_ids(person) -> list[str]:
    ids = GroupMember.objects.filter(is_staff=False).exclude(member_id="").values_list("member_id", flat=True)
    return sorted(m for m in set(ids) if person.holds_id("external_userid", m))


def _person_stays(person):
    from django.db.models import Q

    ids = _person_member_ids(person)
    return GroupMember.objects.filter(Q(customer_id=person.customer_id) | Q(member_id__in=ids)), ids


def erase_person_stays(person, request) -> dict:
    """Groups' part of erasing a person: in their stays in groups their external_userid becomes the erasure's
    pseudonym (the one the chat archive uses) and their unionid goes; where they invited someone the inviter
    is the pseudonym too. The stays keep their times and scenes, so member counts and joins stay; the
    warehouse's `group_members` of those groups is mirrored again. (A later group sync from WeCom lists the
    member under their real id again while they are in the group.)"""
    pseudonym = person.pseudonym("wm-")
    stays, ids = _person_stays(person)
    with db_transaction.atomic():
        groups = set(stays.values_list("group_id", flat=True))
        changed = stays.exclude(member_id__startswith=ERASED_MEMBER, unionid="").update(member_id=pseudonym, unionid="")
        invited = GroupMember.objects.filter(inviter__in=ids) if ids else GroupMember.objects.none()
        groups |= set(invited.values_list("group_id", flat=True))
        inviters = invited.update(inviter=pseudonym)
    mirrored = mirror_groups(sorted(groups)) if changed or inviters else 0
    return {"stays": changed, "invited": inviters, "mirrored": mirrored}


def person_stays_left(person) -> int:
    """What erase_person_stays removes that is still there (the erasure scan): stays under the person's ids
    or with their unionid, and invitations by them."""
    stays, ids = _person_stays(person)
    left = stays.exclude(member_id__startswith=ERASED_MEMBER, unionid="").count()
    return left + (GroupMember.objects.filter(inviter__in=ids).count() if ids else 0)


def erased_members(member_ids, unionids: dict[str, str] | None = None) -> dict[str, tuple[str, int | None]]:
    """{member id: (pseudonym, customer id)} of the external members who are erased people (their
    external_userid, or unionid, on privacy's suppression list), for a sync or a callback that reads them
    from WeCom again: their stay is kept under the pseudonym their erased stays carry (a new one, linked to
    their customer, if they had none), never under their real id. Customer id None: the erasure's request
    is gone, the member is not stored. Nothing is hashed while no one was ever erased."""
    from siyu.privacy.erasure import any_suppressed, erased_customers

    ids = {m for m in member_ids if m and not m.startswith(ERASED_MEMBER)}
    if not ids or not any_suppressed():
        return {}
    hashes: dict[str, str] = {}
    for m in ids:
        hashes[pii.keyed_hash(f"external_userid:{m}")] = m
        union = (unionids or {}).get(m)
        if union:  # the warehouse keys a unionid by its value alone (customers_of_members)
            hashes[pii.keyed_hash(union)] = hashes[pii.keyed_hash(f"unionid:{union}")] = m
    customers = {hashes[h]: cid for h, cid in erased_customers(set(hashes)).items()}
    if not customers:
        return {}
    known = dict(GroupMember.objects.filter(customer_id__in={c for c in customers.values() if c is not None},
                                            member_id__startswith=ERASED_MEMBER)
                 .values_list("customer_id", "member_id"))  # fmt: skip
    for cid in set(customers.values()) - set(known) - {None}:
        known[cid] = f"{ERASED_MEMBER}{secrets.token_hex(8)}"  # what privacy's Person.pseudonym("wm-") makes
    return {m: (known.get(cid, ""), cid) for m, cid in customers.items()}
