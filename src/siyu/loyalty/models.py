"""The loyalty app's models, defined by subject in its sub-packages and gathered here because Django loads an
app's models from `<app>.models`."""

from siyu.loyalty.checkin.models import Checkin, CheckinRule, MakeupCard  # noqa: F401
from siyu.loyalty.coupons.models import Coupon, CouponTemplate  # noqa: F401
from siyu.loyalty.earning.models import ActivityAward, DailyActivityTotal, EarnRule, EarnRun, OrderPoints  # noqa: F401
from siyu.loyalty.mall.models import MallItem, MallRedemption  # noqa: F401
from siyu.loyalty.points.models import PointsEntry, PointsLot  # noqa: F401
from siyu.loyalty.tiers.models import MemberTier, Tier, TierChange  # noqa: F401
