"""The member centre's bottom navigation: 首页 积分 签到 商城 券包 我的. An item shows only when its page
exists (its URL name resolves in the `members` namespace), so the pages added later appear by being
added: name them `members:points`, `members:checkin`, `members:mall`, `members:coupons`, `members:me`."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

# (URL names tried in order, words, icon)
NAV = (
    (("members:home",), _("Home"), "⌂"),
    (("members:points",), _("Points"), "◎"),
    (("members:checkin",), _("Check-in"), "✓"),
    (("members:mall",), _("Rewards"), "◇"),
    (("members:coupons",), _("Coupons"), "▭"),
    (("members:me", "members:privacy"), _("Me"), "☺"),
)


def nav_items() -> list[dict]:
    items = []
    for names, label, icon in NAV:
        for name in names:
            try:
                items.append({"url": reverse(name), "label": label, "icon": icon})
                break
            except NoReverseMatch:
                continue
    return items
