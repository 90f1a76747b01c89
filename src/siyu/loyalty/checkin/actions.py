"""Every change of check-in: checking in (once per member per local day, also under concurrency), make-ups
with make-up cards, granting cards, and the reward rules. Rewards are paid through the ledger
(points.actions.award_points, source `checkin`) and coupons (coupons.actions.issue_coupon)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.core.actions import record_audit
from siyu.core.errors import PermissionDenied, SiyuError
from siyu.loyalty.checkin.errors import (
    AlreadyCheckedIn,
    InvalidRule,
    MakeupNotAllowed,
    NoMakeupCard,
    RuleNotFound,
)
from siyu.loyalty.checkin.models import CHECKIN_ROLES, MAKEUP_WINDOW_DAYS, Checkin, CheckinRule, MakeupCard
from siyu.loyalty.coupons import actions as coupon_actions
from siyu.loyalty.coupons.models import Coupon, CouponTemplate
from siyu.loyalty.earning import actions as earning_actions
from siyu.loyalty.points import actions as points_actions
from siyu.staff.queries import has_role

logger = logging.getLogger("siyu.loyalty.checkin")
MAX_CARDS_AT_ONCE = 100


@dataclass(frozen=True)
class CheckinResult:
    streak: int
    points: int
    coupon: Coupon | None
    already: bool
    day: date | None = None
    makeup_cards: int = 0


def rewards_for(streak: int, rules: list[CheckinRule] | None = None) -> tuple[int, CheckinRule | None]:
    """(points a check-in ending a streak of `streak` days earns, the rule of exactly that day or None)."""
    rules = rules if rules is not None else list(CheckinRule.objects.filter(active=True).order_by("streak_day"))
    ladder = [r for r in rules if r.active and r.streak_day <= streak]
    points = max(ladder, key=lambda r: r.streak_day).points if ladder else 0
    exact = next((r for r in rules if r.active and r.streak_day == streak), None)
    return points, exact


def _result(row: Checkin, *, already: bool, cards: int = 0) -> CheckinResult:
    coupon = Coupon.objects.filter(pk=row.coupon_id).first() if row.coupon_id else None
    return CheckinResult(streak=row.streak, points=row.points, coupon=coupon, already=already, day=row.day,
                         makeup_cards=cards)  # fmt: skip


def check_in(customer_id: int, *, day: date | None = None, staff=None) -> CheckinResult:
    """Check `customer_id` in for `day` (today in the local time zone). A second check-in of the same day,
    even a concurrent one, gives nothing again (`already`)."""
    day = day or timezone.localdate()
    if day > timezone.localdate():
        raise MakeupNotAllowed(_("A day in the future cannot be checked in."))
    existing = Checkin.objects.filter(customer_id=customer_id, day=day).first()
    if existing is not None:
        return _result(existing, already=True)
    try:
        with transaction.atomic():
            previous = Checkin.objects.filter(customer_id=customer_id, day=day - timedelta(days=1)).first()
            row = Checkin.objects.create(customer_id=customer_id, day=day, streak=(previous.streak + 1) if previous else 1,
                                         staff=staff)  # fmt: skip
            cards = _reward(row)
    except IntegrityError:
        # a concurrent check-in of the same member and day got there first
        return _result(Checkin.objects.get(customer_id=customer_id, day=day), already=True)
    if staff is not None:
        record_audit(staff, "loyalty.checkin", f"customer:{customer_id}", day=day.isoformat())
    return _result(row, already=False, cards=cards)


def _reward(row: Checkin) -> int:
    """Pay `row`'s rewards (points, a coupon, make-up cards); returns the cards granted."""
    points, exact = rewards_for(row.streak)
    key = f"checkin:{row.customer_id}:{row.day.isoformat()}"
    if points:
        points_actions.award_points(row.customer_id, points, key=key, reason=f"check-in, day {row.streak} of a streak",
                                    source="checkin", source_ref=f"checkin:{row.pk}")  # fmt: skip
        row.points = points
    # the earn rules' check-in amount (within the member's daily limit) is paid on top of the streak reward,
    # here so that every way of checking in (member centre, API, staff) pays alike
    earned = earning_actions.award_for_activity(row.customer_id, "checkin", key=f"{key}:earn",
                                                source_ref=f"checkin:{row.pk}")  # fmt: skip
    if earned is not None:
        row.points += earned.points
    cards = 0
    if exact is not None and exact.coupon_template_id:
        try:
            with transaction.atomic():
                coupon = coupon_actions.issue_coupon(exact.coupon_template_id, row.customer_id, key=key,
                                                     source="checkin", source_ref=f"checkin:{row.pk}")  # fmt: skip
            row.coupon_id = coupon.pk
        except SiyuError as exc:  # the template closed or its limit reached: the check-in still counts
            logger.warning("no check-in coupon for customer %s: %s", row.customer_id, exc)
    if exact is not None and exact.makeup_cards:
        cards = exact.makeup_cards
        MakeupCard.objects.bulk_create([
            MakeupCard(customer_id=row.customer_id, source="rule", key=f"{key}:card:{i}") for i in range(cards)
        ])  # fmt: skip
    row.save(update_fields=["points", "coupon_id"])
    return cards


def make_up(customer_id: int, day: date, *, staff=None, today: date | None = None) -> Checkin:
    """Fill the missed `day` (within the last MAKEUP_WINDOW_DAYS days) with one of the member's make-up
    cards and mend the streak through it. A made-up day earns no reward of its own."""
    today = today or timezone.localdate()
    if not (today - timedelta(days=MAKEUP_WINDOW_DAYS) <= day < today):
        raise MakeupNotAllowed(_("Only a missed day of the last %(days)s days can be made up.") % {"days": MAKEUP_WINDOW_DAYS})
    try:
        with transaction.atomic():
            card = (MakeupCard.objects.select_for_update().filter(customer_id=customer_id, used_at=None)
                    .order_by("granted_at", "pk").first())  # fmt: skip
            if card is None or not MakeupCard.objects.filter(pk=card.pk, used_at=None).update(
                used_at=timezone.now(), used_for=day
            ):
                raise NoMakeupCard(_("The member holds no make-up card."))
            previous = Checkin.objects.filter(customer_id=customer_id, day=day - timedelta(days=1)).first()
            row = Checkin.objects.create(customer_id=customer_id, day=day, made_up=True, staff=staff,
                                         streak=(previous.streak + 1) if previous else 1)  # fmt: skip
            _mend_streak_after(row)
    except IntegrityError as exc:
        raise AlreadyCheckedIn(_("%(day)s already has a check-in.") % {"day": day.isoformat()}) from exc
    if staff is not None:
        record_audit(staff, "loyalty.checkin.make_up", f"customer:{customer_id}", day=day.isoformat())
    return row


def _mend_streak_after(row: Checkin) -> None:
    """Renumber the streak of the consecutive days that follow `row`."""
    streak, day = row.streak, row.day
    following = Checkin.objects.filter(customer_id=row.customer_id, day__gt=row.day).order_by("day")
    for later in following.iterator():
        day += timedelta(days=1)
        if later.day != day:
            break
        streak += 1
        if later.streak != streak:
            Checkin.objects.filter(pk=later.pk).update(streak=streak)


def grant_makeup_cards(staff, customer_id: int, count: int = 1, *, key: str | None = None) -> int:
    """Give a member `count` make-up cards (staff with the check-in role); `key` makes a retry a no-op.
    Returns how many cards were new."""
    if not has_role(staff, CHECKIN_ROLES):
        raise PermissionDenied(_("Make-up cards are granted by admins and operators."))
    if not 1 <= count <= MAX_CARDS_AT_ONCE:
        raise InvalidRule(_("Grant between 1 and %(most)s make-up cards at once.") % {"most": MAX_CARDS_AT_ONCE})
    key = key or uuid.uuid4().hex
    mine = MakeupCard.objects.filter(key__startswith=f"staff:{key}:")
    before = mine.count()
    MakeupCard.objects.bulk_create(
        [MakeupCard(customer_id=customer_id, source="staff", granted_by=staff, key=f"staff:{key}:{i}")
         for i in range(count)], ignore_conflicts=True,
    )  # fmt: skip
    made = mine.count() - before
    if made:
        record_audit(staff, "loyalty.checkin.grant_cards", f"customer:{customer_id}", count=made)
    return made


def save_rule(staff, *, streak_day: int, points: int = 0, coupon_template_id: int | None = None,
              makeup_cards: int = 0, active: bool = True, rule_id: int | None = None) -> CheckinRule:  # fmt: skip
    """Make (or, with `rule_id`, change) the reward of a streak length."""
    if not has_role(staff, CHECKIN_ROLES):
        raise PermissionDenied(_("Check-in rules are edited by admins and operators."))
    if not 1 <= streak_day <= 366:
        raise InvalidRule(_("The streak day is between 1 and 366."))
    if points < 0 or makeup_cards < 0 or points > 1_000_000 or makeup_cards > 10:
        raise InvalidRule(_("Points between 0 and 1,000,000 and at most 10 make-up cards."))
    if not (points or coupon_template_id or makeup_cards):
        raise InvalidRule(_("A check-in rule gives points, a coupon or make-up cards."))
    if coupon_template_id and not CouponTemplate.objects.filter(pk=coupon_template_id).exists():
        raise InvalidRule(_("There is no coupon template %(template)s.") % {"template": coupon_template_id})
    if CheckinRule.objects.filter(streak_day=streak_day).exclude(pk=rule_id).exists():
        raise InvalidRule(_("Day %(day)s of a streak already has a rule.") % {"day": streak_day})
    if rule_id is not None:
        rule = CheckinRule.objects.filter(pk=rule_id).first()
        if rule is None:
            raise RuleNotFound(_("There is no check-in rule %(rule)s.") % {"rule": rule_id})
    else:
        rule = CheckinRule()
    rule.streak_day, rule.points, rule.coupon_template_id = streak_day, points, coupon_template_id or None
    rule.makeup_cards, rule.active = makeup_cards, active
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError as exc:
        raise InvalidRule(_("Day %(day)s of a streak already has a rule.") % {"day": streak_day}) from exc
    record_audit(staff, "loyalty.checkin.rule", f"checkin_rule:{rule.pk}", streak_day=streak_day, points=points)
    return rule


def delete_rule(staff, rule_id: int) -> None:
    if not has_role(staff, CHECKIN_ROLES):
        raise PermissionDenied(_("Check-in rules are edited by admins and operators."))
    deleted, _count = CheckinRule.objects.filter(pk=rule_id).delete()
    if not deleted:
        raise RuleNotFound(_("There is no check-in rule %(rule)s.") % {"rule": rule_id})
    record_audit(staff, "loyalty.checkin.rule_delete", f"checkin_rule:{rule_id}")
