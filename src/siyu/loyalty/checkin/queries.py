"""Read side of check-in: a member's month (calendar_of), current streaks, the day's check-ins and the
distribution of streaks."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from siyu.loyalty.checkin.models import MAKEUP_WINDOW_DAYS, Checkin, CheckinRule, MakeupCard

# streak buckets of the distribution: (lowest, highest or None)
STREAK_BUCKETS = ((1, 1), (2, 3), (4, 6), (7, 13), (14, 29), (30, None))


@dataclass(frozen=True)
class Reward:
    streak: int  # the streak length that earns it
    points: int
    coupon_template_id: int | None
    makeup_cards: int


@dataclass(frozen=True)
class CalendarDay:
    day: date
    checked: bool
    made_up: bool
    can_make_up: bool  # missed, within the make-up window (a card is needed too)
    future: bool


@dataclass(frozen=True)
class CalendarMonth:
    month: date  # its first day
    days: list[CalendarDay]
    streak: int  # the current streak (0 when neither today nor yesterday is checked in)
    checked_today: bool
    today_reward: Reward  # what today's check-in gave, or gives when done now
    next_reward: Reward | None  # the next rule beyond today's streak
    cards: int  # make-up cards held
    points_this_month: int = 0
    extra: dict = field(default_factory=dict)


def parse_month(month: date | str | None, today: date) -> date:
    """The first day of `month` (a date, "YYYY-MM", or None: this month); ValueError on anything else."""
    if month is None or month == "":
        return today.replace(day=1)
    if isinstance(month, date):
        return month.replace(day=1)
    year, _, number = str(month).partition("-")
    if not (year.isdigit() and number.isdigit() and len(year) == 4 and len(number) <= 2):
        raise ValueError("a month is written YYYY-MM")
    return date(int(year), int(number), 1)


def current_streak(customer_id: int, today: date | None = None) -> int:
    today = today or timezone.localdate()
    row = (Checkin.objects.filter(customer_id=customer_id, day__in=(today, today - timedelta(days=1)))
           .order_by("-day").values_list("streak", flat=True).first())  # fmt: skip
    return row or 0


def cards_held(customer_id: int) -> int:
    return MakeupCard.objects.filter(customer_id=customer_id, used_at=None).count()


def _reward(streak: int, rules: list[CheckinRule]) -> Reward:
    ladder = [r for r in rules if r.streak_day <= streak]
    exact = next((r for r in rules if r.streak_day == streak), None)
    return Reward(streak=streak, points=max(ladder, key=lambda r: r.streak_day).points if ladder else 0,
                  coupon_template_id=exact.coupon_template_id if exact else None,
                  makeup_cards=exact.makeup_cards if exact else 0)  # fmt: skip


def calendar_of(customer_id: int, month: date | str | None = None, *, today: date | None = None) -> CalendarMonth:
    """A member's month: the days checked in and made up, the days a card could still fill, today's reward
    and the next one."""
    today = today or timezone.localdate()
    first = parse_month(month, today)
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    rows = {r.day: r for r in Checkin.objects.filter(customer_id=customer_id, day__range=(first, last))}
    window_start = today - timedelta(days=MAKEUP_WINDOW_DAYS)
    days = []
    for n in range(last.day):
        day = first + timedelta(days=n)
        row = rows.get(day)
        days.append(CalendarDay(day=day, checked=row is not None, made_up=bool(row and row.made_up),
                                can_make_up=row is None and window_start <= day < today, future=day > today))  # fmt: skip
    rules = list(CheckinRule.objects.filter(active=True).order_by("streak_day"))
    todays = Checkin.objects.filter(customer_id=customer_id, day=today).first()
    streak = current_streak(customer_id, today)
    if todays is not None:
        today_reward = Reward(streak=todays.streak, points=todays.points, makeup_cards=0,
                              coupon_template_id=_reward(todays.streak, rules).coupon_template_id if todays.coupon_id else None)  # fmt: skip
        upcoming = todays.streak
    else:
        today_reward = _reward(streak + 1, rules)
        upcoming = streak + 1
    later = next((r for r in rules if r.streak_day > upcoming), None)
    return CalendarMonth(
        month=first, days=days, streak=streak, checked_today=todays is not None, today_reward=today_reward,
        next_reward=_reward(later.streak_day, rules) if later else None, cards=cards_held(customer_id),
        points_this_month=sum(r.points for r in rows.values()),
    )


def checkins_on(day: date, limit: int = 200):
    """The check-ins of a day, latest first."""
    return Checkin.objects.filter(day=day).order_by("-created_at", "-pk")[:limit]


def daily_counts(days: int = 14, today: date | None = None) -> list[dict]:
    """[{day, checkins, made_up}] for the last `days` days, oldest first (days without any included)."""
    today = today or timezone.localdate()
    start = today - timedelta(days=days - 1)
    counted = {r["day"]: r for r in Checkin.objects.filter(day__range=(start, today)).values("day").annotate(
        checkins=Count("pk"), made_up=Count("pk", filter=Q(made_up=True)))}  # fmt: skip
    out = []
    for n in range(days):
        day = start + timedelta(days=n)
        row = counted.get(day, {})
        out.append({"day": day, "checkins": row.get("checkins", 0), "made_up": row.get("made_up", 0)})
    return out


def streak_distribution(today: date | None = None) -> list[dict]:
    """How many members have a current streak in each bucket: [{low, high, members}]."""
    today = today or timezone.localdate()
    todays = Checkin.objects.filter(day=today)
    current = list(todays.values_list("streak", flat=True)) + list(
        Checkin.objects.filter(day=today - timedelta(days=1))
        .exclude(customer_id__in=todays.values("customer_id")).values_list("streak", flat=True)
    )  # fmt: skip
    return [{"low": low, "high": high,
             "members": sum(1 for s in current if s >= low and (high is None or s <= high))}
            for low, high in STREAK_BUCKETS]  # fmt: skip
