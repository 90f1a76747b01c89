"""What the member centre shows a signed-in member, read from the parts that hold it (loyalty's points,
tiers, coupons, check-in and mall; surveys). Every function takes the member's own customer_id: a row that
belongs to another member is never returned (the pages answer 404 for it)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.paginator import Paginator
from django.utils import timezone

from siyu.core import pii
from siyu.loyalty.checkin import queries as checkin_queries
from siyu.loyalty.checkin.models import Checkin
from siyu.loyalty.coupons import queries as coupon_queries
from siyu.loyalty.coupons.models import Coupon, CouponStatus
from siyu.loyalty.mall import queries as mall_queries
from siyu.loyalty.mall.models import MallRedemption
from siyu.loyalty.points import queries as points_queries
from siyu.loyalty.points.models import PointsEntry
from siyu.loyalty.tiers import queries as tier_queries
from siyu.loyalty.tiers.models import MemberTier
from siyu.members.labels import entry_words
from siyu.privacy import queries as privacy_queries
from siyu.surveys import queries as survey_queries
from siyu.surveys.models import SurveyResponse

NEW_ITEM_DAYS = 14  # a mall item is "new" on the home page for this many days after it was made


HISTORY_PAGE = 20


@dataclass(frozen=True)
class PointsLine:
    at: dt.datetime
    points: int
    words: str  # what it was, in the member's words (labels.entry_words)
    pending_until: dt.datetime | None  # earned, spendable from then
    expires_at: dt.datetime | None


def points_history(customer_id: int, page: int = 1):
    """A page (newest first) of the member's ledger entries as PointsLine."""
    now = timezone.now()
    entries = PointsEntry.objects.filter(customer_id=customer_id).select_related("lot").order_by("-id")
    current = Paginator(entries, HISTORY_PAGE).get_page(page)
    current.object_list = [
        PointsLine(at=e.created_at, points=e.points, words=entry_words(e.source, e.account),
                   pending_until=e.lot.available_at if e.points > 0 and e.lot.available_at > now else None,
                   expires_at=e.lot.expires_at if e.points > 0 else None)
        for e in current.object_list
    ]  # fmt: skip
    return current


def coupon_usable(coupon: Coupon, now: dt.datetime | None = None) -> bool:
    """Can the member show this coupon at a till now: unused, not voided, and within its dates (a coupon past
    its expiry counts as expired before the expiry job has marked it)."""
    now = now or timezone.now()
    if coupon.status != CouponStatus.ISSUED:
        return False
    return coupon.expires_at is None or coupon.expires_at > now


@dataclass(frozen=True)
class Wallet:
    usable: list[Coupon]  # unused and within their dates (some may start later: `starts_at`)
    done: list[Coupon]  # used, expired or voided


def wallet(customer_id: int, now: dt.datetime | None = None) -> Wallet:
    now = now or timezone.now()
    coupons = coupon_queries.wallet_of(customer_id)
    return Wallet([c for c in coupons if coupon_usable(c, now)], [c for c in coupons if not coupon_usable(c, now)])


def own_coupon(customer_id: int, coupon_id: int) -> Coupon | None:
    return Coupon.objects.select_related("template").filter(pk=coupon_id, customer_id=customer_id).first()


def own_redemption(customer_id: int, redemption_id: int) -> MallRedemption | None:
    return MallRedemption.objects.select_related("item").filter(pk=redemption_id, customer_id=customer_id).first()


def own_redemptions(customer_id: int, limit: int = 20) -> list[MallRedemption]:
    return list(mall_queries.redemptions(customer_id=customer_id)[:limit])


def item_for(customer_id: int, item_id: int):
    """The mall item on sale now with what this member may still redeem of it (ItemForMember), or None."""
    return next((i for i in mall_queries.items_for(customer_id) if i.item.pk == item_id), None)


def remembered_address(customer_id: int) -> dict:
    """The shipping address the member entered on their last gift redemption (the form starts from it)."""
    last = (MallRedemption.objects.filter(customer_id=customer_id).exclude(address_cipher=None)
            .order_by("-created_at", "-pk").first())  # fmt: skip
    if last is None:
        return {}
    return pii.decrypt_json(last.address_cipher) or {}


@dataclass(frozen=True)
class Home:
    balance: points_queries.Balance
    tier: tier_queries.MemberTierView
    usable_coupons: int
    surveys: list  # open surveys this member may answer
    new_items: list  # mall items on sale made in the last NEW_ITEM_DAYS days
    checked_today: bool
    streak: int


def home_of(customer_id: int, now: dt.datetime | None = None) -> Home:
    now = now or timezone.now()
    month = checkin_queries.calendar_of(customer_id, today=timezone.localdate(now))
    since = now - dt.timedelta(days=NEW_ITEM_DAYS)
    return Home(
        balance=points_queries.balance_of(customer_id, now),
        tier=tier_queries.tier_of(customer_id, now),
        usable_coupons=len(wallet(customer_id, now).usable),
        surveys=survey_queries.open_surveys_for(customer_id, now),
        new_items=[i for i in mall_queries.items_for(customer_id, now) if i.item.created_at >= since],
        checked_today=month.checked_today,
        streak=month.streak,
    )


def own_survey_response(customer_id: int, key: str) -> SurveyResponse | None:
    """The member's response recorded under `key` (the answer form's token), if any."""
    if not key:
        return None
    return SurveyResponse.objects.filter(key=key, customer_id=customer_id).first()


@dataclass(frozen=True)
class LoyaltyCard:
    """A member's loyalty at a glance, for the staff's customer profile (siyu.console)."""

    balance: points_queries.Balance
    tier_name: str  # "" when the member holds no tier
    coupons_usable: int
    coupons_used: int
    last_checkin: dt.date | None
    streak: int
    survey_responses: list  # the member's latest SurveyResponse rows (with .survey)
    survey_count: int
    privacy_requests: list  # siyu.privacy DataRequest rows, newest first


def loyalty_card_of(customer_id: int, now: dt.datetime | None = None) -> LoyaltyCard:
    now = now or timezone.now()
    state = MemberTier.objects.select_related("tier").filter(customer_id=customer_id).first()
    last = Checkin.objects.filter(customer_id=customer_id).order_by("-day").first()
    coupons = wallet(customer_id, now)
    responses = SurveyResponse.objects.filter(customer_id=customer_id).select_related("survey").order_by("-id")
    return LoyaltyCard(
        balance=points_queries.balance_of(customer_id, now),
        tier_name=state.tier.name if state is not None and state.tier is not None else "",
        coupons_usable=len(coupons.usable),
        coupons_used=sum(1 for c in coupons.done if c.status == CouponStatus.USED),
        last_checkin=last.day if last else None,
        streak=checkin_queries.current_streak(customer_id, timezone.localdate(now)),
        survey_responses=list(responses[:3]),
        survey_count=responses.count(),
        privacy_requests=privacy_queries.requests_of_customer(customer_id)[:3],
    )
