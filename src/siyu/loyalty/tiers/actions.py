"""Every change to tiers: definitions (made and changed by operators) and the evaluation job that moves
members between tiers.

- Upgrade at once: a member who meets a higher tier's rule holds it from now, with a review date
  `review_days()` ahead; the tier's upgrade coupon is issued (siyu.loyalty.coupons, key per member + tier +
  day, so a replay issues none).
- Downgrade only at the review date and after a grace period: at the review date a member who still meets
  the tier's rule keeps it for another review period; one who does not keeps it until `grace_days()` later
  (a "grace" change is recorded); meeting the rule again within the grace clears it; at the end of the
  grace the member moves to the highest tier whose rule they meet (or none).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from siyu.core.actions import record_audit
from siyu.core.batches import chunked
from siyu.core.errors import PermissionDenied, SiyuError
from siyu.loyalty.coupons import actions as coupon_actions
from siyu.loyalty.tiers import queries
from siyu.loyalty.tiers.errors import TierError
from siyu.loyalty.tiers.models import RULE_ROLES, MemberTier, Tier, TierChange, TierChangeKind, TierMeasure
from siyu.staff.queries import has_role

log = logging.getLogger(__name__)
EDITABLE = ("name", "rank", "measure", "threshold", "window_days", "multiplier", "upgrade_coupon_template_id",
            "birthday_points", "active")  # fmt: skip
BATCH = 5000

# the words of a tier's numbers in its refusals
FIELD_WORDS = {
    "threshold": gettext_lazy("The tier's threshold"),
    "multiplier": gettext_lazy("The tier's points multiplier"),
    "rank": gettext_lazy("The tier's rank"),
    "window_days": gettext_lazy("The tier's window in days"),
    "birthday_points": gettext_lazy("The tier's birthday points"),
}


def _may_edit(staff) -> None:
    if staff is not None and not has_role(staff, RULE_ROLES):
        raise PermissionDenied(_("Tiers are defined by admins and operators."))


def _clean(values: dict) -> dict:
    out = {k: v for k, v in values.items() if k in EDITABLE and v is not None}
    if "name" in out:
        out["name"] = str(out["name"]).strip()[:50]
        if not out["name"]:
            raise TierError(_("A tier needs a name."))
    if "measure" in out and out["measure"] not in TierMeasure.values:
        raise TierError(_("A tier is reached by spend, purchases or points earned."))
    for field, low, high in (("threshold", 0, 10**12), ("multiplier", 0, 99)):
        if field in out:
            try:
                out[field] = Decimal(str(out[field]))
            except InvalidOperation as exc:
                raise TierError(_("%(field)s is not a number.") % {"field": FIELD_WORDS[field]}) from exc
            if not (low <= out[field] <= high) or not out[field].is_finite():
                raise TierError(_("%(field)s must be between %(low)s and %(high)s.")
                              % {"field": FIELD_WORDS[field], "low": low, "high": high})
            out[field] = out[field].quantize(Decimal("0.01"))
    for field, low, high in (("rank", 0, 1000), ("window_days", 1, 3660), ("birthday_points", 0, 10**7)):
        if field in out and not (low <= int(out[field]) <= high):
            raise TierError(_("%(field)s must be between %(low)s and %(high)s.")
                              % {"field": FIELD_WORDS[field], "low": low, "high": high})
    return out


def make_tier(staff, **values) -> Tier:
    _may_edit(staff)
    values = _clean(values)
    if "name" not in values or "rank" not in values:
        raise TierError(_("A tier needs a name and a rank."))
    try:
        with transaction.atomic():
            tier = Tier.objects.create(**values)
    except IntegrityError as exc:
        raise TierError(_("Another tier has this name or rank.")) from exc
    record_audit(staff, "loyalty.tier_made", f"tier:{tier.pk}", name=tier.name, rank=tier.rank)
    return tier


def change_tier(staff, tier: Tier, **values) -> Tier:
    _may_edit(staff)
    values = _clean(values)
    for field, value in values.items():
        setattr(tier, field, value)
    try:
        with transaction.atomic():
            tier.save()
    except IntegrityError as exc:
        raise TierError(_("Another tier has this name or rank.")) from exc
    record_audit(staff, "loyalty.tier_changed", f"tier:{tier.pk}", **{k: str(v) for k, v in values.items()})
    return tier


def _next_review(on: dt.date, today: dt.date) -> dt.date:
    step = dt.timedelta(days=queries.review_days())
    while on <= today:
        on += step
    return on


def evaluate_tiers(customer_ids: Iterable[int] | None = None, now: dt.datetime | None = None) -> dict:
    """Move members between tiers as the rules and review dates say (module doc). `customer_ids` None:
    every member with purchases in the longest window or a tier. Returns counts."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    tiers = queries.active_tiers()
    report = {"members": 0, "upgrades": 0, "downgrades": 0, "grace": 0, "coupons": 0}
    if not tiers and not MemberTier.objects.exclude(tier=None).exists():
        return report
    ids = None if customer_ids is None else sorted(set(customer_ids))
    measured = queries.measures(ids, now, tiers)
    if ids is None:
        ids = sorted(set().union(*measured.values()) | set(MemberTier.objects.values_list("customer_id", flat=True)))
    by_id = {t.pk: t for t in Tier.objects.all()}
    upgrades: list[tuple[int, Tier]] = []
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        with transaction.atomic():
            held = MemberTier.objects.select_for_update()
            if chunk[-1] - chunk[0] < 4 * len(chunk):  # dense ids (a day's buyers): by their range, not an IN
                held = held.filter(customer_id__gte=chunk[0], customer_id__lte=chunk[-1])  # of one parameter each
            else:
                held = held.filter(customer_id__in=chunk)
            wanted = set(chunk)
            states = {s.customer_id: s for s in held if s.customer_id in wanted}
            report["members"] += len(chunk)
            settled, saved, changes = [], [], []
            for cid in chunk:
                state = states.get(cid)
                if _settled(cid, state, tiers, by_id, measured, today):
                    if state is not None and state.tier_id in by_id:
                        settled.append(cid)
                    continue
                state, change = _evaluate_one(cid, state, tiers, by_id, measured, now, today)
                if state is not None:
                    saved.append(state)
                if change is not None:
                    changes.append(change)
            # set-wise: most members of a day's orders keep their tier as it is (only evaluated_at moves)
            if settled:
                MemberTier.objects.filter(customer_id__in=settled).update(evaluated_at=now)
            MemberTier.objects.bulk_create([s for s in saved if s.pk is None], batch_size=1000)
            _update_states([s for s in saved if s.pk is not None])
            for change in TierChange.objects.bulk_create(changes, batch_size=1000):
                report[{"upgrade": "upgrades", "downgrade": "downgrades", "grace": "grace"}[change.kind]] += 1
                if change.kind == TierChangeKind.UPGRADE and change.to_tier.upgrade_coupon_template_id:
                    upgrades.append((change.customer_id, change))
    for cid, change in upgrades:
        report["coupons"] += _give_upgrade_coupon(cid, change, today)
    return report


_STATE_FIELDS = ("tier_id", "since", "review_on", "grace_until", "evaluated_at")


def _update_states(states: list[MemberTier]) -> None:
    """One UPDATE per set of equal new values (a day's reviews give most members the same dates), not
    bulk_update's CASE per row (twice the whole review's time at 20,000 members)."""
    groups: dict[tuple, list[int]] = {}
    for state in states:
        groups.setdefault(tuple(getattr(state, f) for f in _STATE_FIELDS), []).append(state.pk)
    for values, pks in groups.items():
        for part in chunked(pks):
            MemberTier.objects.filter(pk__in=part).update(**dict(zip(_STATE_FIELDS, values, strict=True)))


def _settled(cid, state, tiers, by_id, measured, today) -> bool:
    """Whether nothing but `evaluated_at` can change for the member today (the common case of a day's
    orders): no tier above the one held is met, and the tier is neither due for review nor in its grace
    (a member with no tier who meets none). _evaluate_one decides every other member."""
    met = queries.met_tier(tiers, measured, cid)
    current = by_id.get(state.tier_id) if state is not None and state.tier_id else None
    if met is not None and (current is None or met.rank > current.rank):
        return False  # an upgrade
    if current is None or state is None:
        return True
    return state.grace_until is None and state.review_on is not None and today < state.review_on


def _evaluate_one(cid, state, tiers, by_id, measured, now, today) -> tuple[MemberTier | None, TierChange | None]:
    """(the member's state to save, the change to record), neither saved: the caller writes a chunk's
    together."""
    met = queries.met_tier(tiers, measured, cid)
    current = by_id.get(state.tier_id) if state and state.tier_id else None
    current_active = current is not None and current.active

    def value(t):
        return measured[t.pk].get(cid, Decimal(0)) if t.pk in measured else None

    review = today + dt.timedelta(days=queries.review_days())
    if met is not None and (current is None or met.rank > current.rank):
        if state is None:
            state = MemberTier(customer_id=cid, since=now)
        state.tier, state.since, state.review_on, state.grace_until, state.evaluated_at = met, now, review, None, now
        return state, TierChange(customer_id=cid, kind=TierChangeKind.UPGRADE, from_tier=current, to_tier=met,
                                 measured=value(met), changed_at=now)  # fmt: skip
    if current is None or state is None:
        return None, None
    still_meets = current_active and met is not None and met.rank >= current.rank
    change = None
    if state.grace_until is not None and still_meets:
        state.grace_until = None
        state.review_on = _next_review(state.review_on or today, today)
    elif state.review_on is None or today >= state.review_on:
        if still_meets:
            state.review_on = _next_review(state.review_on or today, today)
        elif state.grace_until is None:
            state.grace_until = (state.review_on or today) + dt.timedelta(days=queries.grace_days())
            change = TierChange(customer_id=cid, kind=TierChangeKind.GRACE, from_tier=current, to_tier=current,
                                measured=value(current) if current_active else None, changed_at=now)  # fmt: skip
        if not still_meets and state.grace_until is not None and today >= state.grace_until:
            change = TierChange(customer_id=cid, kind=TierChangeKind.DOWNGRADE, from_tier=current, to_tier=met,
                                measured=value(current) if current_active else None, changed_at=now)  # fmt: skip
            state.tier, state.since, state.review_on, state.grace_until = met, now, review, None
    state.evaluated_at = now
    return state, change


def _give_upgrade_coupon(customer_id: int, change: TierChange, today: dt.date) -> int:
    tier = change.to_tier
    try:
        coupon = coupon_actions.issue_coupon(tier.upgrade_coupon_template_id, customer_id,
                                             key=f"tier:{customer_id}:{tier.pk}:{today.isoformat()}",
                                             source="tier", source_ref=f"tier_change:{change.pk}")  # fmt: skip
    except SiyuError as exc:  # a closed template or a reached limit: the upgrade stands, the coupon is skipped
        log.warning("no upgrade coupon for customer %s (tier %s): %s", customer_id, tier.pk, exc)
        return 0
    TierChange.objects.filter(pk=change.pk).update(coupon_id=coupon.pk)
    return 1


def run_tier_job(job, progress) -> dict:
    """Job runner for kind "loyalty_tiers" (params: customer_ids, optional)."""
    params = job.params or {}
    return evaluate_tiers(params.get("customer_ids"))
