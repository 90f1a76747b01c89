"""The demo brand's loyalty programme: tiers, earn rules, coupons, check-ins, a rewards mall, a survey with
answers and a couple of privacy requests, so that every loyalty and survey page has data on first start.

Everything goes through the product's own actions (no model is written here), in two steps:

1. `set_up_rules()` — before the demo's resolve: tiers (银卡/金卡/黑金 on 12 months' spend, with upgrade coupons),
   earn rules (per yuan by channel, a product rate, first purchase, birthday, survey, a daily limit), the
   check-in ladder and the coupon templates. The resolve's chain runs the order earn job over the imported
   orders with these rules (an order earns once: rules set after the earn job ran are not retroactive) and
   evaluates the tiers of the buyers (upgrade coupons issued).
2. `grow()` — after the resolve: tiers evaluated again at the demo's "today" (so a demo run long after it still
   has members in every tier), the birthday job, a coupon issued to a segment, some used at the till and some
   by imported orders carrying their codes (a small POS file of the stores' latest sales, imported through the
   real importer; the refunded one gives its coupon back), an expired batch, check-ins with streaks over the
   last 30 days, mall redemptions (coupon, gift with an address, points + cash), survey answers (tags applied,
   survey points awarded), two privacy requests, then the loyalty and survey mirrors.

Loyalty happens when the demo runs: the ledger stamps its entries with the time of writing, so coupons, check-
ins, redemptions and answers are dated in the days up to now (the warehouse mirrors read rows newer than their
watermark). Deterministic for a seed: members and choices come from one seeded generator over sorted ids."""

from __future__ import annotations

import csv
import datetime as dt
import time
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from siyu.core.errors import SiyuError
from siyu.core.owner import submit_job
from siyu.core.progress import run_with_progress
from siyu.identity.queries import identities_expr
from siyu.loyalty import mirror as loyalty_mirror
from siyu.loyalty.checkin import actions as checkin_actions
from siyu.loyalty.coupons import actions as coupon_actions
from siyu.loyalty.coupons.models import Coupon, CouponStatus, CouponTemplate
from siyu.loyalty.earning import actions as earning_actions
from siyu.loyalty.earning.models import EarnRule
from siyu.loyalty.mall import actions as mall_actions
from siyu.loyalty.mall.models import MallItem
from siyu.loyalty.points.queries import balances_of, liability
from siyu.loyalty.tiers import actions as tier_actions
from siyu.loyalty.tiers.models import MemberTier, Tier
from siyu.privacy.actions import open_request
from siyu.segments.actions import save_segment
from siyu.surveys import actions as survey_actions
from siyu.surveys import mirror as surveys_mirror
from siyu.surveys.models import Survey

TIERS = (  # (name, rank, yuan over 12 months, multiplier, birthday points)
    ("银卡", 1, "300", "1.00", 100),
    ("金卡", 2, "1000", "1.20", 300),
    ("黑金", 3, "2000", "1.50", 800),
)
CHECKERS = 60  # at most, members who check in (each on most days of the last 30; a check-in costs ~10 ms)
TILL_SHARE = 0.12  # of the segment's coupons, used at a store's till
ORDER_SHARE = 0.08  # of the segment's coupons, used on an order the stores' latest sales carry
EXPIRED_BATCH = 300  # coupons of a past campaign that expired unused
RESPONDENTS = 120  # at most: each response reads the warehouse (the member, a traits snapshot): ~0.2 s
PEOPLE_PER_RESPONDENT = 50  # a smaller brand gets fewer (a test's small demo stays quick)
MALL_COUPONS = 40
GIFTS = 8
POINTS_CASH = 12
STREETS = ("建国路88号", "南京西路1266号", "天河路208号", "科华北路65号", "解放碑步行街3号", "西湖文化广场19号")
CITIES = (("北京市", "北京市", "朝阳区"), ("上海市", "上海市", "静安区"), ("广东省", "广州市", "天河区"),
          ("四川省", "成都市", "武侯区"), ("重庆市", "重庆市", "渝中区"), ("浙江省", "杭州市", "下城区"))  # fmt: skip
WISHES = ("希望出更多敏感肌能用的产品", "小样套装很好用，希望多上", "门店的试用装可以多一些", "希望会员日的活动多一点",
          "防晒的质地可以再清爽一些", "")  # fmt: skip


@dataclass
class LoyaltyReport:
    members_with_points: int = 0
    points_outstanding: int = 0
    tiers: dict = field(default_factory=dict)
    upgrade_coupons: int = 0
    birthdays: int = 0
    coupons: dict = field(default_factory=dict)
    checkins: int = 0
    checkers: int = 0
    longest_streak: int = 0
    mall: dict = field(default_factory=dict)
    responses: int = 0
    survey_points: int = 0
    privacy_requests: int = 0
    seconds: dict = field(default_factory=dict)
    showcase_member: int | None = None  # a member with a tier and check-ins, to open the member centre as


class DemoLoyalty:
    """The demo brand's loyalty programme, set up by `admin` through the product's actions."""

    def __init__(self, admin, seed: int, out_dir: Path, today: dt.date, people: int):
        self.admin, self.seed, self.out_dir, self.today = admin, seed, Path(out_dir), today
        self.respondents = min(RESPONDENTS, max(20, people // PEOPLE_PER_RESPONDENT))
        self.checkers = min(CHECKERS, max(10, people // 100))
        self.rng = np.random.default_rng([seed, 16])
        self.report = LoyaltyReport()
        self.templates: dict[str, CouponTemplate] = {}

    # --- step 1: the rules, before the resolve -------------------------------------------------------------
    def set_up_rules(self) -> bool:
        """Tiers, earn rules, check-in ladder and coupon templates; False (nothing done) when the brand has
        a loyalty programme already (a second run over the same home)."""
        if Tier.objects.exists() or EarnRule.objects.exists():
            return False
        began = time.monotonic()
        t = self.templates
        t["segment"] = self._template("会员复购券 满199减30", kind="amount", amount_off="30", min_spend="199",
                                      valid_days=30, description="复购会员专享，满199元可用")  # fmt: skip
        t["gold"] = self._template("金卡升级礼 满300减50", kind="amount", amount_off="50", min_spend="300", valid_days=60)
        t["black"] = self._template("黑金升级礼 85折券", kind="percent", percent_off="15", max_discount="200",
                                    valid_days=90, description="最高减200元")  # fmt: skip
        t["checkin"] = self._template("连续签到7天 9折券", kind="percent", percent_off="10", max_discount="50", valid_days=14)
        t["mall"] = self._template("积分兑换 20元无门槛券", kind="amount", amount_off="20", valid_days=30)
        t["past"] = self._template("双十一预热券 满299减40", kind="amount", amount_off="40", min_spend="299", valid_days=7)
        for name, rank, threshold, multiplier, birthday in TIERS:
            upgrade = {"金卡": t["gold"].pk, "黑金": t["black"].pk}.get(name)
            tier_actions.make_tier(self.admin, name=name, rank=rank, measure="spend", threshold=threshold,
                                   window_days=365, multiplier=multiplier, birthday_points=birthday,
                                   upgrade_coupon_template_id=upgrade)  # fmt: skip
        rule = earning_actions.make_rule
        rule(self.admin, name="消费积分：每元1分", kind="per_yuan", points_per_yuan="1")
        rule(self.admin, name="门店消费：每元2分", kind="per_yuan", channel="pos", points_per_yuan="2")
        rule(self.admin, name="抖音订单：每元0.5分", kind="per_yuan", channel="douyin", points_per_yuan="0.5")
        rule(self.admin, name="明星精华礼盒：每元3分", kind="per_yuan", product="LD1016", points_per_yuan="3")
        rule(self.admin, name="明星精华礼盒（按品名）：每元3分", kind="per_yuan", product="明星精华礼盒", points_per_yuan="3")
        rule(self.admin, name="首单奖励", kind="first_purchase", points=100)
        rule(self.admin, name="生日积分", kind="birthday", points=200)
        rule(self.admin, name="问卷奖励", kind="survey", points=50)
        rule(self.admin, name="每日活动积分上限", kind="daily_limit", points=300)
        for day, points, coupon, cards in ((1, 5, None, 0), (3, 10, None, 0), (7, 20, t["checkin"].pk, 0),
                                           (14, 30, None, 1)):  # fmt: skip
            checkin_actions.save_rule(self.admin, streak_day=day, points=points, coupon_template_id=coupon,
                                      makeup_cards=cards)  # fmt: skip
        self.report.seconds["rules"] = round(time.monotonic() - began, 1)
        return True

    def _template(self, name: str, **data) -> CouponTemplate:
        return coupon_actions.save_template(self.admin, {"name": name, "validity": "days", "per_member_limit": None,
                                                         **data})  # fmt: skip

    # --- step 2: after the resolve -------------------------------------------------------------------------
    def grow(self, pos_source: tuple[str, str] | None) -> LoyaltyReport:
        if not self.templates:
            self.templates = {key: CouponTemplate.objects.get(name=name) for key, name in (
                ("segment", "会员复购券 满199减30"), ("mall", "积分兑换 20元无门槛券"), ("past", "双十一预热券 满299减40"))}  # fmt: skip
        began = time.monotonic()
        zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
        demo_end = dt.datetime.combine(self.today, dt.time(23, 0), zone)
        tier_actions.evaluate_tiers(now=min(demo_end, timezone.now()))
        birthdays = earning_actions.award_birthdays(timezone.localdate())
        self.report.birthdays = birthdays["bonuses"]
        self.members = sorted(MemberTier.objects.exclude(tier=None).values_list("customer_id", flat=True))
        self.report.upgrade_coupons = Coupon.objects.filter(source="tier").count()
        self.report.seconds["tiers"] = round(time.monotonic() - began, 1)
        began = time.monotonic()
        self._coupons(pos_source)
        self.report.seconds["coupons"] = round(time.monotonic() - began, 1)
        began = time.monotonic()
        with transaction.atomic():  # one commit for the section (the actions' own transactions nest)
            self._checkins()
        self.report.seconds["checkins"] = round(time.monotonic() - began, 1)
        began = time.monotonic()
        with transaction.atomic():  # one commit for the section (the actions' own transactions nest)
            self._mall()
        self.report.seconds["mall"] = round(time.monotonic() - began, 1)
        began = time.monotonic()
        with transaction.atomic():  # one commit for the section (the actions' own transactions nest)
            self._survey()
        self._privacy()
        self.report.seconds["survey"] = round(time.monotonic() - began, 1)
        began = time.monotonic()
        loyalty_mirror.mirror_loyalty()
        surveys_mirror.mirror_surveys()
        self._figures()
        self.report.seconds["mirrors"] = round(time.monotonic() - began, 1)
        return self.report

    def _pick(self, ids: list[int], n: int) -> list[int]:
        if not ids:
            return []
        return sorted(int(i) for i in self.rng.choice(ids, size=min(n, len(ids)), replace=False))

    def _coupons(self, pos_source) -> None:
        now = timezone.now()
        segment = save_segment(self.admin, "复购会员（3单及以上）", rule={"field": "orders_total", "op": ">=", "value": 3},
                               description="近两年下单3次及以上的会员，发放复购券")  # fmt: skip
        # the job issue_to_segment submits, run here (a large segment's would wait for the server's worker)
        params = {"template_id": self.templates["segment"].pk, "segment_id": segment.pk,
                  "day": timezone.localdate().isoformat()}  # fmt: skip
        job = submit_job("coupon_segment_issue", params, self.admin, in_process=True)
        if job.status != "done":
            raise SiyuError(f"issuing the segment's coupons: {job.error}")
        # by member (codes are random): the same members use their coupons in every run of a seed
        issued = list(Coupon.objects.filter(template=self.templates["segment"]).order_by("customer_id", "pk")
                      .values_list("code", "customer_id"))  # fmt: skip
        order = self.rng.permutation(len(issued))
        till = [issued[i] for i in order[: int(len(issued) * TILL_SHARE)]]
        by_order = [issued[i] for i in order[len(till) : len(till) + int(len(issued) * ORDER_SHARE)]]
        with transaction.atomic():  # one commit for the till's redemptions
            for n, (code, _cid) in enumerate(till):
                amount = Decimal(int(self.rng.integers(199, 900)))
                coupon_actions.redeem_coupon(code, key=f"demo-till-{self.seed}-{n}", order_ref=f"TILL{self.seed:03d}{n:06d}",
                                             amount=amount, channel="till",
                                             now=now - dt.timedelta(hours=int(self.rng.integers(1, 72))))  # fmt: skip
        if by_order and pos_source is not None:
            self._orders_with_codes(by_order, pos_source)
        # a past campaign: issued two weeks ago for a week, left unused, expired by the expiry job
        past = self._pick(self.members, EXPIRED_BATCH)
        coupon_actions.issue_to_members(self.templates["past"].pk, past, key_of=lambda cid: f"demo-past-{cid}",
                                        source="segment", now=now - dt.timedelta(days=14))  # fmt: skip
        coupon_actions.expire_coupons(now)

    def _orders_with_codes(self, coupons: list[tuple[str, int]], pos_source: tuple[str, str]) -> None:
        """The stores' sales of the last days, carrying the codes of coupons members used (as the POS exports
        them), imported through the real importer, the codes matched to their coupons; then the next export
        has the first sale returned: its coupon is given back. Not resolved here (a resolve and its chain cost
        tens of seconds at 20,000 people): the server's next resolve links them by member card and earns
        their points."""
        cards = self._member_cards({cid for _, cid in coupons})
        zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
        now = timezone.now().astimezone(zone)
        rows = []
        for n, (code, cid) in enumerate(coupons):
            if cid in cards:
                sold = now - dt.timedelta(minutes=int(self.rng.integers(5, 60 * 48)))
                rows.append([f"CP{self.seed:03d}{n:07d}", cards[cid], "上海南京西路店", sold.strftime("%Y-%m-%d %H:%M:%S"),
                             "LD1015", "水乳套装 水150ml+乳120ml", 1, "329.00", "", "正常", code])  # fmt: skip
        if not rows:
            return
        self._import_sales("pos_sales_coupons.csv", rows, pos_source)
        coupon_actions.match_coupon_orders()
        returned = [[*rows[0][:9], "退货", rows[0][10]]]
        self._import_sales("pos_sales_returns.csv", returned, pos_source)
        coupon_actions.match_coupon_orders()

    def _import_sales(self, name: str, rows: list[list], pos_source: tuple[str, str]) -> None:
        path = self.out_dir / name
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["单号", "会员卡号", "门店", "销售时间", "商品编码", "商品名称", "数量", "金额", "导购", "单据状态",
                        "优惠券码"])  # fmt: skip
            w.writerows(rows)
        source, fmt = pos_source
        # the POS format has no coupon column: mapped as `siyu import --map 优惠券码=coupon_code` would
        job = run_with_progress("import", {"paths": [str(path)], "source": source, "format": fmt,
                                           "mapping": {"优惠券码": "coupon_code"}}, quiet=True)  # fmt: skip
        if job.status != "done":
            raise SiyuError(f"importing {name}: {job.error}")

    def _member_cards(self, customer_ids: set[int]) -> dict[int, str]:
        """{customer_id: a POS member card number of theirs} (the identity graph's records of the POS members)."""
        ids = identities_expr()
        out: dict[int, str] = {}
        for r in ids.filter(ids.source == "pos").to_pyarrow().to_pylist():
            rid = str(r["record_id"] or "")
            if r["customer_id"] in customer_ids and rid.isdigit() and r["customer_id"] not in out:
                out[r["customer_id"]] = rid
        return out

    def _checkins(self) -> None:
        today = timezone.localdate()
        checkers = self._pick(self.members, self.checkers)
        streaks = []
        for cid in checkers:
            keen = float(self.rng.uniform(0.45, 0.97))
            start = int(self.rng.integers(0, 25))
            for back in range(29 - start, -1, -1):
                if self.rng.random() < keen:
                    result = checkin_actions.check_in(cid, day=today - dt.timedelta(days=back))
                    streaks.append(result.streak)
        self.report.checkers, self.report.checkins = len(checkers), len(streaks)
        self.report.showcase_member = checkers[0] if checkers else None
        self.report.longest_streak = max(streaks, default=0)

    def _mall(self) -> None:
        now = timezone.now()
        coupon_item = mall_actions.save_item(self.admin, name="20元无门槛券", kind="coupon", points_price=500,
                                             coupon_template_id=self.templates["mall"].pk, stock=5000,
                                             per_member_limit=2, status="on_sale",
                                             description="兑换后存入券包，30天内有效")  # fmt: skip
        gift = mall_actions.save_item(self.admin, name="品牌帆布托特包", kind="gift", points_price=2000, stock=50,
                                      per_member_limit=1, status="on_sale", description="包邮到家，7个工作日内发货")  # fmt: skip
        mixed = mall_actions.save_item(self.admin, name="明星精华体验装", kind="points_cash", points_price=800,
                                       cash_price=Decimal("29.90"), stock=200, per_member_limit=1, status="on_sale",
                                       ends_at=now + dt.timedelta(days=30), description="积分+现金，门店领取")  # fmt: skip
        balances = balances_of(self.members)
        rich = sorted(cid for cid, b in balances.items() if b.available >= 2800)
        done = Counter()
        for item, wanted, price in ((gift, GIFTS, 2000), (mixed, POINTS_CASH, 800), (coupon_item, MALL_COUPONS, 500)):
            for cid in self._pick([c for c in rich if balances[c].available >= price], wanted):
                address = None
                if item.needs_address:
                    province, city, district = CITIES[int(self.rng.integers(len(CITIES)))]
                    address = {"name": "会员" + str(cid)[-4:], "phone": f"139{int(self.rng.integers(10**7, 10**8)):08d}",
                               "province": province, "city": city, "district": district,
                               "detail": STREETS[int(self.rng.integers(len(STREETS)))], "postcode": ""}  # fmt: skip
                try:
                    mall_actions.redeem_item(cid, item.pk, key=f"demo-mall-{item.pk}-{cid}", address=address)
                except SiyuError:
                    continue  # spent elsewhere in the meantime, or the limit: a member's ordinary refusal
                done[item.kind] += 1
        shipped = list(MallItem.objects.get(pk=gift.pk).redemptions.order_by("pk")[:2])
        for n, redemption in enumerate(shipped):
            mall_actions.mark_shipped(self.admin, redemption.pk, tracking_no=f"SF{self.seed:03d}{n:09d}", carrier="顺丰速运")
        self.report.mall = dict(sorted(done.items()))

    def _survey(self) -> None:
        questions = [
            {"text": "您的肤质是？", "kind": "single", "tag_group": "肤质", "options": [
                {"label": "油性", "tag": "油皮"}, {"label": "干性", "tag": "干皮"}, {"label": "混合性", "tag": "混合皮"},
                {"label": "敏感肌", "tag": "敏感肌", "jump": 3}]},
            {"text": "您平时使用精华吗？", "kind": "single", "options": [
                {"label": "每天使用"}, {"label": "偶尔使用"}, {"label": "从不使用", "jump": 4}]},
            {"text": "您最关注哪些护肤功效？（可多选）", "kind": "multiple", "tag_group": "护肤关注", "options": [
                {"label": "保湿补水", "tag": "关注保湿"}, {"label": "美白提亮", "tag": "关注美白"},
                {"label": "抗老紧致", "tag": "关注抗老"}, {"label": "舒缓修护", "tag": "关注修护"}]},
            {"text": "您有多大可能向朋友推荐我们？", "kind": "scale", "scale_max": 10},
            {"text": "您还希望我们推出什么产品或活动？", "kind": "text", "required": False},
        ]  # fmt: skip
        survey = survey_actions.make_survey(self.admin, title="2026冬季肤质与护肤习惯调查", questions=questions,
                                            intro="3分钟了解您的肌肤，完成即得50积分", reward_note="完成问卷得50积分")  # fmt: skip
        survey_actions.open_survey(self.admin, survey.pk)
        qs = list(Survey.objects.get(pk=survey.pk).questions.prefetch_related("options").order_by("position"))
        opts = [sorted(q.options.all(), key=lambda o: o.position) for q in qs]
        now = timezone.now()
        points = 0
        for cid in self._pick(self.members, self.respondents):
            skin = int(self.rng.choice(4, p=[0.25, 0.2, 0.35, 0.2]))
            answers: dict[str, object] = {str(qs[0].pk): opts[0][skin].pk}
            uses = int(self.rng.choice(3, p=[0.45, 0.4, 0.15])) if skin != 3 else None
            if uses is not None:
                answers[str(qs[1].pk)] = opts[1][uses].pk
            if uses != 2:
                chosen = [o.pk for o in opts[2] if self.rng.random() < 0.45] or [opts[2][0].pk]
                answers[str(qs[2].pk)] = chosen
            answers[str(qs[3].pk)] = int(self.rng.choice(range(1, 11), p=[.02, .02, .03, .05, .08, .1, .15, .2, .17, .18]))
            wish = WISHES[int(self.rng.integers(len(WISHES)))]
            if wish:
                answers[str(qs[4].pk)] = wish
            at = now - dt.timedelta(minutes=int(self.rng.integers(1, 60 * 24 * 5)))
            response = survey_actions.record_response(survey.pk, cid, answers, key=f"demo-survey-{cid}", now=at)
            entry = earning_actions.award_for_activity(cid, "survey", key=f"survey:{response.pk}",
                                                       source_ref=f"survey_response:{response.pk}")  # fmt: skip
            self.report.responses += 1
            points += entry.points if entry is not None else 0
        self.report.survey_points = points

    def _privacy(self) -> None:
        asking = self._pick(self.members, 2)
        for cid, kind, detail in zip(asking, ("access", "deletion"),
                                     ("想看看你们保存了我的哪些信息", "不再使用，请删除我的个人信息"), strict=False):  # fmt: skip
            open_request(customer_id=cid, kind=kind, source="member_centre", verification="短信验证码登录会员中心",
                         detail=detail)  # fmt: skip
            self.report.privacy_requests += 1

    def _figures(self) -> None:
        held = Counter(MemberTier.objects.exclude(tier=None).values_list("tier__name", flat=True))
        self.report.tiers = {name: held.get(name, 0) for name, *_ in TIERS}
        books = liability()
        self.report.members_with_points, self.report.points_outstanding = books.members, books.outstanding
        self.report.coupons = {s: Coupon.objects.filter(status=s).count() for s in CouponStatus.values}
