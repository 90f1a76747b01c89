"""Read side of staff handover: the handovers with their items' outcomes, and the two kinds side by side —
离职继承 (Handover rows) and 在职转接 made from a customer's profile (messaging's WeComTransfer rows)."""

from __future__ import annotations

from collections import Counter, defaultdict

from siyu.community.handover.errors import HandoverNotFound
from siyu.community.handover.models import Handover, HandoverItem
from siyu.engagement.messaging.models import WeComTransfer

OUTCOMES = ("accepted", "waiting", "refused")


def outcome_of(item: HandoverItem) -> str:
    """accepted (接替完毕), waiting (asked, no answer yet) or refused (by the customer, WeCom or the limit)."""
    if item.status == 1:
        return "accepted"
    if item.errcode is not None or item.refusal or (item.status or 0) >= 3:
        return "refused"
    return "waiting"


def handovers(limit: int = 100) -> list[dict]:
    found = list(Handover.objects.select_related("takeover", "requested_by")[:limit])
    counts: dict[int, Counter] = defaultdict(Counter)
    for item in HandoverItem.objects.filter(handover__in=found):
        counts[item.handover_id][outcome_of(item)] += 1
        counts[item.handover_id][item.kind] += 1
    return [{"handover": h, **{k: counts[h.pk][k] for k in (*OUTCOMES, "customer", "group")}} for h in found]


def get_handover(handover_id: int) -> Handover:
    handover = Handover.objects.select_related("takeover").filter(pk=handover_id).first()
    if handover is None:
        raise HandoverNotFound(f"no handover {handover_id}")
    return handover


def items_of(handover_id: int) -> list[HandoverItem]:
    return list(get_handover(handover_id).items.all())


def transfers_of_both_kinds(limit: int = 200) -> list[dict]:
    """Every handover, newest first: 离职继承 from Handover rows, and 在职转接 as WeComTransfer rows grouped by
    (from, to, when); the transfers a resigned handover recorded are not listed twice.
    [{"kind", "handover_userid", "takeover_userid", "at", "customers", "groups", "accepted", "waiting",
    "refused", "handover_id"}]."""
    rows = []
    made_by_handovers = set()
    for entry in handovers(limit):
        h = entry["handover"]
        made_by_handovers.add((h.handover_userid, h.requested_at))
        rows.append({"kind": h.kind, "handover_userid": h.handover_userid, "takeover_userid": h.takeover.wecom_userid,
                     "at": h.requested_at, "customers": entry["customer"], "groups": entry["group"],
                     **{k: entry[k] for k in OUTCOMES}, "handover_id": h.pk})  # fmt: skip
    on_job: dict[tuple, int] = Counter()
    for handover, takeover, at in WeComTransfer.objects.order_by("-transferred_at").values_list(
        "handover_userid", "takeover_userid", "transferred_at"
    )[: limit * 100]:
        if (handover, at) not in made_by_handovers:
            on_job[(handover, takeover, at)] += 1
    for (handover, takeover, at), n in on_job.items():
        # WeCom accepted to make these (transfer_customer); the customer may still refuse within 24 hours
        rows.append({"kind": Handover.Kind.ON_JOB.value, "handover_userid": handover, "takeover_userid": takeover,
                     "at": at, "customers": n, "groups": 0, "accepted": n, "waiting": 0, "refused": 0,
                     "handover_id": None})  # fmt: skip
    return sorted(rows, key=lambda r: r["at"], reverse=True)[:limit]
