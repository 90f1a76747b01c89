"""State changes of staff handover (离职继承): passing a resigned member's customers and groups to another
staff member through WeCom, and following WeCom's outcome for each customer until every one is settled;
an accepted customer's owner guide in Siyu becomes the takeover.

WeCom lets a customer be transferred at most twice in 90 days, counting 在职 and 离职 transfers alike: the
limit is checked before asking WeCom with messaging's one definition (channel_actions.transfer_limit_reached,
on the WeComTransfer rows both paths write)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import ibis
import pyarrow as pa
from django.db import transaction
from django.utils import timezone

from siyu import warehouse
from siyu.community.handover.errors import HandoverError
from siyu.community.handover.models import Handover, HandoverItem
from siyu.core.actions import record_audit
from siyu.core.errors import PermissionDenied
from siyu.core.tasks import schedule_once
from siyu.customers.actions import assign_owner
from siyu.engagement.messaging.channel_actions import (
    SYNC_PATIENCE,
    contact_client,
    record_wecom_transfer,
    transfer_limit_reached,
    wecom_account,
)
from siyu.engagement.messaging.channels.base import ProviderError
from siyu.engagement.messaging.channels.wecom_handover import TRANSFER_BATCH
from siyu.staff.models import Role
from siyu.staff.queries import has_role

CHECK_EVERY = dt.timedelta(hours=1)  # WeCom settles a waiting customer within 24 hours
SETTLED_STATUSES = (1, 3, 4, 5)
ACCEPTED = 1
WAITING = 2
LIMIT_REFUSAL = "transfer_limit"
WECOM_REFUSAL = "wecom"

# handover userid -> chat ids of the groups they owned: the groups part knows them and registers its lookup
# (CommunityConfig.ready); without it a handover passes on the chat ids it is given
_groups_of_owner: Callable[[str], list[str]] | None = None


def register_resigned_groups_lookup(lookup: Callable[[str], list[str]]) -> None:
    global _groups_of_owner
    _groups_of_owner = lookup


# Who may hand over a leaving guide's customers (the API's routes declare it: siyu.staff.roles).
HANDOVER_ROLES = (Role.ADMIN, Role.OPERATOR, Role.MANAGER)


def _require(actor) -> None:
    if actor is not None and not has_role(actor, HANDOVER_ROLES):
        raise PermissionDenied("only an admin, operator or store manager can hand over customers")


def _customer_ids(source: str, external_userids: list[str]) -> dict[str, int]:
    if not external_userids:
        return {}
    keys = {f"{source}|{e}": e for e in external_userids}
    con = warehouse.backend()
    wanted = ibis.memtable(pa.table({"record_key": sorted(keys)}))
    cmap = con.table("customer_map").semi_join(wanted, "record_key")
    rows = cmap.select("record_key", "customer_id").to_pyarrow().to_pylist()
    return {keys[r["record_key"]]: r["customer_id"] for r in rows}


def _at(epoch) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def start_resigned_handover(actor, handover_userid: str, takeover_user, chat_ids: list[str] | None = None,
                            now: dt.datetime | None = None) -> Handover:  # fmt: skip
    """Pass every customer WeCom lists as waiting for a new owner after `handover_userid` resigned
    (get_unassigned_list) and their groups (`chat_ids`, or what the groups part knows they owned) to
    `takeover_user`. Customers transferred twice in the last 90 days are refused here without asking WeCom;
    WeCom's refusals are kept per customer or group. Customers then wait (WeCom status 2) until
    check_handover_results sees them accepted or refused."""
    _require(actor)
    now = now or timezone.now()
    handover_userid = (handover_userid or "").strip()
    takeover = getattr(takeover_user, "staff", None)
    if not handover_userid:
        raise HandoverError("name the resigned staff member's WeCom userid")
    if takeover is None or not takeover.wecom_userid:
        raise HandoverError("the receiving staff member has no WeCom userid")
    if takeover.wecom_userid == handover_userid:
        raise HandoverError("the receiving staff member is the one who resigned")
    account, secrets = wecom_account()
    source = account.settings.get("source") or "wecom"
    if chat_ids is None:
        chat_ids = list(_groups_of_owner(handover_userid)) if _groups_of_owner is not None else []
    chat_ids = sorted({c.strip() for c in chat_ids if c and c.strip()})
    client = contact_client(account, secrets, patience=SYNC_PATIENCE)
    try:
        waiting = client.get_unassigned_list()
        customers = sorted({w["external_userid"] for w in waiting if w.get("handover_userid") == handover_userid})
        if not customers and not chat_ids:
            raise HandoverError(f"WeCom lists no customers of {handover_userid} waiting for a new owner, "
                                "and no groups were named")  # fmt: skip
        ids = _customer_ids(source, customers)
        limited = transfer_limit_reached(customers, now)
        with transaction.atomic():
            handover = Handover.objects.create(
                kind=Handover.Kind.RESIGNED, handover_userid=handover_userid, takeover=takeover, requested_at=now,
                requested_by=actor if getattr(actor, "is_authenticated", False) else None,
            )  # fmt: skip
            items = {
                ext: HandoverItem(handover=handover, kind=HandoverItem.Kind.CUSTOMER, external_userid=ext,
                                  customer_id=ids.get(ext),
                                  **({"refusal": LIMIT_REFUSAL, "checked_at": now} if ext in limited else {}))
                for ext in customers
            }  # fmt: skip
            groups = {c: HandoverItem(handover=handover, kind=HandoverItem.Kind.GROUP, chat_id=c) for c in chat_ids}
        asked = [e for e in customers if e not in limited]
        for start in range(0, len(asked), TRANSFER_BATCH):
            chunk = asked[start : start + TRANSFER_BATCH]
            try:
                codes = client.transfer_resigned_customers(handover_userid, takeover.wecom_userid, chunk)
            except ProviderError as exc:
                codes = dict.fromkeys(chunk, getattr(exc, "errcode", -1))
            for ext in chunk:
                item, code = items[ext], codes.get(ext, -1)
                item.checked_at = now
                if code == 0:
                    item.status = WAITING
                    record_wecom_transfer(actor, item.customer_id, ext, handover_userid, takeover.wecom_userid, now)
                else:
                    item.errcode, item.refusal = code, WECOM_REFUSAL
        for start in range(0, len(chat_ids), TRANSFER_BATCH):
            chunk = chat_ids[start : start + TRANSFER_BATCH]
            try:
                failed = client.transfer_group_chats(chunk, takeover.wecom_userid)
            except ProviderError as exc:
                failed = dict.fromkeys(chunk, getattr(exc, "errcode", -1))
            for chat_id in chunk:
                item = groups[chat_id]
                item.checked_at = now
                if chat_id in failed:
                    item.errcode, item.refusal = failed[chat_id], WECOM_REFUSAL
                else:
                    item.status = ACCEPTED  # groupchat/transfer moves a group at once
    finally:
        client.http.close()
    HandoverItem.objects.bulk_create([*items.values(), *groups.values()])
    _settle_if_done(handover, now)
    record_audit(actor, "start_resigned_handover", target=handover_userid, takeover=takeover.wecom_userid,
                 customers=len(customers), groups=len(chat_ids), limited=len(limited))  # fmt: skip
    schedule_handover_check(now + CHECK_EVERY)
    return handover


def _pending(handover: Handover):
    return handover.items.filter(kind=HandoverItem.Kind.CUSTOMER, errcode=None, refusal="").exclude(
        status__in=SETTLED_STATUSES
    )


def _settle_if_done(handover: Handover, now: dt.datetime) -> bool:
    if handover.settled_at is None and not _pending(handover).exists():
        handover.settled_at = now
        handover.save(update_fields=["settled_at"])
    return handover.settled_at is not None


def check_handover_results(now: dt.datetime | None = None) -> dict:
    """Ask WeCom for the outcome of every unsettled handover's waiting customers (resigned/transfer_result, or
    transfer_result for an 在职 one), keep each status and takeover time, make the takeover the owner guide
    of the customers who were taken over, and mark a handover settled when none waits any more. Schedules
    itself again while any waits."""
    now = now or timezone.now()
    report = {"handovers": 0, "checked": 0, "accepted": 0, "refused": 0, "waiting": 0, "owners_assigned": 0}
    open_handovers = list(Handover.objects.filter(settled_at=None).select_related("takeover__user"))
    if not open_handovers:
        return report
    account, secrets = wecom_account()
    client = contact_client(account, secrets, patience=SYNC_PATIENCE)
    try:
        for handover in open_handovers:
            report["handovers"] += 1
            pending = {i.external_userid: i for i in _pending(handover)}
            if pending:
                ask = (client.resigned_transfer_result if handover.kind == Handover.Kind.RESIGNED
                       else client.onjob_transfer_result)  # fmt: skip
                outcomes = {r.get("external_userid"): r for r in ask(handover.handover_userid,
                                                                     handover.takeover.wecom_userid)}  # fmt: skip
                for ext, item in pending.items():
                    outcome = outcomes.get(ext)
                    item.checked_at = now
                    if outcome is not None:
                        item.status = int(outcome.get("status") or 0) or None
                        item.takeover_time = _at(outcome.get("takeover_time"))
                    report["checked"] += 1
                    if item.status == ACCEPTED:
                        report["accepted"] += 1
                    elif item.status in SETTLED_STATUSES:
                        report["refused"] += 1
                    else:
                        report["waiting"] += 1
                HandoverItem.objects.bulk_update(pending.values(), ["status", "takeover_time", "checked_at"])
            report["owners_assigned"] += _assign_owners(handover)
            _settle_if_done(handover, now)
    finally:
        client.http.close()
    if Handover.objects.filter(settled_at=None).exists():
        schedule_handover_check(now + CHECK_EVERY)
    return report


def _assign_owners(handover: Handover) -> int:
    """The takeover becomes the owner guide of the accepted customers Siyu knows (once)."""
    accepted = list(handover.items.filter(status=ACCEPTED, kind=HandoverItem.Kind.CUSTOMER, owner_assigned=False)
                    .exclude(customer_id=None))  # fmt: skip
    if not accepted:
        return 0
    assign_owner(None, sorted({i.customer_id for i in accepted}), handover.takeover.user)
    HandoverItem.objects.filter(pk__in=[i.pk for i in accepted]).update(owner_assigned=True)
    return len(accepted)


def schedule_handover_check(at: dt.datetime | None = None) -> bool:
    from siyu.community.handover.tasks import check_handovers  # the task module imports this one

    return schedule_once(check_handovers, at)


def run_handover_check_job(job, progress) -> dict:
    """Job runner of kind `handover_check`: check_handover_results now."""
    return check_handover_results()


# --- erasure of a person (PIPL art. 47; siyu.privacy.erasure runs it) ----------------------------------------


def _person_items(person):
    from django.db.models import Q

    ids = {m for m in HandoverItem.objects.exclude(external_userid="").values_list("external_userid", flat=True)
           if person.holds_id("external_userid", m)}  # fmt: skip
    return HandoverItem.objects.filter(Q(customer_id=person.customer_id) | Q(external_userid__in=sorted(ids)))


def erase_person_items(person, request) -> dict:
    """Handover's part of erasing a person: the items that moved them keep their status and times (the
    handover's counts) but lose their external_userid."""
    return {"items": _person_items(person).exclude(external_userid="").update(external_userid="")}


def person_items_left(person) -> int:
    """What erase_person_items removes that is still there (the erasure scan)."""
    return _person_items(person).exclude(external_userid="").count()
