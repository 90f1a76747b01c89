"""Helpers of the member centre's page tests: a member session without the SMS round trip, a loyalty
programme made through the parts' actions (tiers, check-in rules, earn rules, a mall, coupons, surveys) and
the QR reader of a page's inline SVG."""

from __future__ import annotations

import re

import zxingcpp
from django.utils import timezone
from PIL import Image, ImageDraw

from siyu.loyalty.checkin import actions as checkin_actions
from siyu.loyalty.coupons import actions as coupon_actions
from siyu.loyalty.earning import actions as earning_actions
from siyu.loyalty.mall import actions as mall_actions
from siyu.loyalty.points import actions as points_actions
from siyu.loyalty.tiers import actions as tier_actions
from siyu.members.auth import MEMBER_KEY
from siyu.surveys import actions as survey_actions

ADDRESS = {"name": "张伟", "phone": "13800138001", "province": "上海市", "city": "上海市", "district": "静安区",
           "detail": "南京西路1号", "postcode": "200040"}  # fmt: skip

# 1 children? 有 → 2 (their age), 没有 → jumps to 3 · 3 how satisfied (scale, optional)
BRANCHING = [
    {"text": "家里有孩子吗？", "kind": "single",
     "options": [{"label": "有"}, {"label": "没有", "jump": 3}]},
    {"text": "孩子几岁？", "kind": "single", "options": [{"label": "0-3岁"}, {"label": "4-12岁"}]},
    {"text": "对我们满意吗？", "kind": "scale", "scale_max": 5, "required": False},
]  # fmt: skip
FLAT = [
    {"text": "您最喜欢哪些产品？", "kind": "multiple", "options": [{"label": "精华"}, {"label": "面霜"}]},
    {"text": "还有什么建议？", "kind": "text", "required": False},
]  # fmt: skip


def sign_in(client, customer_id: int) -> None:
    session = client.session
    session[MEMBER_KEY] = {"customer_id": customer_id, "record_key": "", "method": "sms",
                           "at": timezone.now().isoformat()}  # fmt: skip
    session.save()


def give_points(customer_id: int, points: int, key: str = "") -> None:
    points_actions.award_points(customer_id, points, key=key or f"test-give:{customer_id}:{points}",
                                reason="test", source="journey")  # fmt: skip


def programme(ops, brand) -> dict:
    """Tiers 银卡 (from 0) and 金卡 (¥1000 in a year); check-in 5 points a day, 20 from day 3; a survey earns
    10 points; a mall with a gift (3 in stock, 2 a member), a coupon item and a sold-out gift; a coupon each
    for both members; an open branching survey and an open flat one."""
    one, two = brand["one"], brand["two"]
    tier_actions.make_tier(ops, name="银卡", rank=1, measure="spend", threshold=0)
    tier_actions.make_tier(ops, name="金卡", rank=2, measure="spend", threshold=1000)
    tier_actions.evaluate_tiers([one, two])
    checkin_actions.save_rule(ops, streak_day=1, points=5)
    checkin_actions.save_rule(ops, streak_day=3, points=20)
    earning_actions.make_rule(ops, name="答问卷", kind="survey", points=10)
    template = coupon_actions.save_template(None, {"name": "满100减20", "kind": "amount", "amount_off": "20",
                                                   "min_spend": "100", "validity": "days", "valid_days": 30,
                                                   "per_member_limit": None})  # fmt: skip
    coupons = {who: coupon_actions.issue_coupon(template.pk, cid, key=f"test:{who}", source="manual")
               for who, cid in (("one", one), ("two", two))}  # fmt: skip
    gift = mall_actions.save_item(ops, name="保温杯", kind="gift", points_price=100, stock=3, per_member_limit=2,
                                  status="on_sale", description="500毫升")  # fmt: skip
    coupon_item = mall_actions.save_item(ops, name="十元券", kind="coupon", points_price=50, stock=10,
                                         coupon_template_id=template.pk, status="on_sale")  # fmt: skip
    sold_out = mall_actions.save_item(ops, name="限量帆布袋", kind="gift", points_price=10, stock=0, status="on_sale")
    for cid in (one, two):
        give_points(cid, 1000)
    branching = survey_actions.make_survey(ops, title="家庭小调查", reward_note="答完送 10 积分", questions=BRANCHING)
    flat = survey_actions.make_survey(ops, title="产品偏好", questions=FLAT)
    for survey in (branching, flat):
        survey_actions.open_survey(ops, survey.pk)
    return {"template": template, "coupons": coupons, "gift": gift, "coupon_item": coupon_item,
            "sold_out": sold_out, "branching": branching, "flat": flat}  # fmt: skip


SVG = re.compile(r'<svg[^>]*class="m-qr"[^>]*>.*?</svg>', re.S)
SCALE = re.compile(r'scale\((\d+)\)')
DARK = re.compile(r'<path class="qrline"[^>]* d="([^"]+)"')


def svg_to_image(svg: str) -> Image.Image:
    """Draw segno's inline SVG (one path of horizontal runs: `M x y h n m dx dy …`) as a picture."""
    scale, d = int(SCALE.search(svg).group(1)), DARK.search(svg).group(1)
    width = int(re.search(r'width="(\d+)"', svg).group(1))
    image = Image.new("L", (width, width), 255)
    draw = ImageDraw.Draw(image)
    x = y = 0.0
    for op, a, b in re.findall(r"([MmHh])\s*(-?[\d.]+)(?:\s+(-?[\d.]+))?", d.replace(",", " ")):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        else:
            end = x + float(a) if op == "h" else float(a)
            row = int(y)
            draw.rectangle([int(x) * scale, row * scale, int(end) * scale - 1, (row + 1) * scale - 1], fill=0)
            x = end
    return image


def qr_codes_on(html: str) -> list[str]:
    """What the QR codes drawn on a page hold."""
    out = []
    for svg in SVG.findall(html):
        found = zxingcpp.read_barcodes(svg_to_image(svg), formats=zxingcpp.BarcodeFormat.QRCode)
        out += [b.text for b in found if b.valid]
    return out
