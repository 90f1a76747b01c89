"""One builder per channel: turns the population into that channel's export rows and their ground truth.

Each builder returns the rows to write (string columns for CSV, typed columns for XLSX, headers exactly as
the platform exports them) and a `records` frame (record_id, person_id) with one row per record as the
importer defines it (docs/import-formats.md "What a record is").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from . import fields as F
from .people import EPOCH, Address, Geography, Population, random_address
from .pools import (
    BRAND,
    GUIDES_PER_STORE,
    ONLINE_GUIDES,
    PRODUCTS,
    STORES,
    TAGS,
    TMALL_SHOP_ID,
    TMALL_SHOP_NAME,
    VIRTUAL_PREFIXES,
    YOUZAN_SHOP_NAME,
    Pools,
)

DAY = 86_400
HISTORY_DAYS = 3 * 365
HOUR_WEIGHTS = np.array(
    [
        2.0,
        1.2,
        0.6,
        0.3,
        0.2,
        0.2,
        0.3,
        0.7,
        1.3,
        2.2,
        3.0,
        3.5,
        4.0,
        3.6,
        3.2,
        3.3,
        3.5,
        3.8,
        4.0,
        4.6,
        5.6,
        6.2,
        6.0,
        4.2,
    ]
)
STORE_HOUR_WEIGHTS = np.array(
    [0.0] * 10 + [1.5, 2.5, 3.0, 3.0, 3.2, 3.5, 3.8, 4.2, 4.5, 4.8, 4.5, 3.0, 0.0, 0.0]
)
PROMO_DAYS = ((11, 11), (6, 18), (12, 12), (3, 8), (5, 20))
# Status classes shared by the order builders.
SUCCESS, CLOSED, REFUNDED, PENDING = 0, 1, 2, 3
PENDING_DAYS, PENDING_SHARE = 3, 0.35

PHONE_TYPO_RATE = 0.005
NAME_TYPO_RATE = 0.01


@dataclass
class Output:
    frame: pl.DataFrame
    records: pl.DataFrame  # record_id, person_id


@dataclass
class Ctx:
    seed: int
    pop: Population
    pools: Pools
    geo: Geography
    as_of: date
    stores: list[dict]
    guides: list[dict]
    store_city: np.ndarray  # city index per store (into CITIES)
    store_landline: list[str]
    orders_per_buyer: float = 2.0  # mean of each platform buyer's (geometric) number of orders
    _spare_next: int = 0
    _virtual_bases_used: int = 0
    _virtual_bases: np.ndarray | None = None

    @property
    def as_of_ts(self) -> int:
        return (self.as_of - EPOCH).days * DAY

    def rng(self, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, stream])

    def spare_phones(self, n: int) -> np.ndarray:
        """Phones of people who are not customers (gift receivers, distributors)."""
        spare = self.pop.spare_phones
        idx = (self._spare_next + np.arange(n)) % len(spare)
        self._spare_next += n
        return spare[idx]

    def virtual_numbers(self, rng: np.random.Generator, n: int) -> pl.Series:
        """`17012345678-1234`: a shared privacy number plus an extension, unique per order."""
        if n == 0:
            return pl.Series([], dtype=pl.Utf8)
        if self._virtual_bases is None:
            pre = np.array([int(p) for p in VIRTUAL_PREFIXES], dtype=np.int64)
            raw = F.unique_ints(self.rng(99), 0, len(pre) * 100_000_000, 20_000)
            self._virtual_bases = pre[raw // 100_000_000] * 100_000_000 + raw % 100_000_000
        k = n * 3 // 10_000 + 5
        bases = self._virtual_bases[
            np.arange(self._virtual_bases_used, self._virtual_bases_used + k) % 20_000
        ]
        self._virtual_bases_used += k
        code = F.unique_ints(rng, 0, k * 10_000, n)
        return F.int_str(bases[code // 10_000]) + "-" + F.zfill(code % 10_000, 4)

    def typo_phones(
        self, rng: np.random.Generator, phones: np.ndarray, rate: float = PHONE_TYPO_RATE
    ) -> np.ndarray:
        bad = rng.random(len(phones)) < rate
        out = phones.copy()
        if bad.any():
            out[bad] = F.typo_digits(rng, phones[bad], self.pop.known_phones)
        return out

    def typo_names(
        self, rng: np.random.Generator, names: pl.Series, rate: float = NAME_TYPO_RATE
    ) -> pl.Series:
        bad = rng.random(len(names)) < rate
        if not bad.any():
            return names
        return names.scatter(
            np.flatnonzero(bad), F.typo_name(rng, names.filter(pl.Series(bad)), self.pools.given_chars)
        )

    def guide_names(self, idx: np.ndarray) -> pl.Series:
        return pl.Series([g["name"] for g in self.guides])[idx]

    def guides_for_city(self, rng: np.random.Generator, city: np.ndarray) -> np.ndarray:
        """A guide of a store in the person's city, else an online advisor."""
        n = len(city)
        out = len(STORES) * GUIDES_PER_STORE + rng.integers(0, ONLINE_GUIDES, size=n)
        store = self.store_for_city(rng, city, fallback=-1)
        has = store >= 0
        out[has] = store[has] * GUIDES_PER_STORE + rng.integers(0, GUIDES_PER_STORE, size=int(has.sum()))
        return out

    def store_for_city(
        self, rng: np.random.Generator, city: np.ndarray, fallback: int | None = None
    ) -> np.ndarray:
        """A store in the city (uniform among the city's stores); elsewhere `fallback` or a random store."""
        n = len(city)
        out = rng.integers(0, len(STORES), size=n) if fallback is None else np.full(n, fallback)
        u = rng.random(n)
        for c in np.unique(self.store_city):
            in_city = np.flatnonzero(self.store_city == c)
            rows = np.flatnonzero(city == c)
            out[rows] = in_city[(u[rows] * len(in_city)).astype(np.int64)]
        return out


# ---------------------------------------------------------------------------------------------------------
# Shared pieces


def order_times(rng: np.random.Generator, ctx: Ctx, n: int, hours: np.ndarray = HOUR_WEIGHTS) -> np.ndarray:
    """Local-time epoch seconds over the last three years, with promotion-day peaks."""
    end = ctx.as_of
    promo = []
    for y in range(end.year - 3, end.year + 1):
        for m, d in PROMO_DAYS:
            day = date(y, m, d)
            if end - timedelta(days=HISTORY_DAYS) <= day < end:
                promo.append((day - EPOCH).days)
    end_day = (end - EPOCH).days
    days = end_day - 1 - np.floor(HISTORY_DAYS * rng.random(n) ** 1.25).astype(np.int64)  # growing brand
    on_promo = rng.random(n) < 0.12
    if promo:
        days[on_promo] = np.array(promo)[rng.integers(0, len(promo), size=int(on_promo.sum()))]
    hour = rng.choice(24, size=n, p=hours / hours.sum())
    return days * DAY + hour * 3600 + rng.integers(0, 3600, size=n)


@dataclass
class Orders:
    buyer: np.ndarray  # index into the channel's buyer array
    person: np.ndarray  # index into the population
    ts: np.ndarray
    status: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)


def make_orders(rng: np.random.Generator, ctx: Ctx, buyers: np.ndarray, status_p: list[float]) -> Orders:
    """Repeat buyers: a geometric number of orders per buyer (mean ctx.orders_per_buyer, 2 by default;
    capped at 15 times the mean, at least 30), newest first.
    `status_p`: probabilities of SUCCESS, CLOSED, REFUNDED."""
    mean = ctx.orders_per_buyer
    count = np.minimum(rng.geometric(1 / mean, size=len(buyers)), max(30, round(15 * mean)))
    buyer = np.repeat(np.arange(len(buyers)), count)
    ts = order_times(rng, ctx, len(buyer))
    status = rng.choice(3, size=len(buyer), p=np.array(status_p) / sum(status_p))
    # Orders of the last days may still wait for payment (older unpaid orders were closed).
    pending = (ts >= ctx.as_of_ts - PENDING_DAYS * DAY) & (rng.random(len(buyer)) < PENDING_SHARE)
    status[pending] = PENDING
    order = np.argsort(-ts, kind="stable")
    return Orders(buyer=buyer[order], person=buyers[buyer[order]], ts=ts[order], status=status[order])


@dataclass
class Lines:
    order: np.ndarray  # index of the order each line belongs to (sorted)
    product: np.ndarray
    qty: np.ndarray
    cents: np.ndarray  # line amount
    unit_cents: np.ndarray
    first: np.ndarray  # per order: index of its first line
    count: np.ndarray  # per order: number of lines

    def per_order(self, values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values, self.first)


PRICE_CENTS = np.array([int(round(p[3] * 100)) for p in PRODUCTS], dtype=np.int64)
PRODUCT_P = np.array([p[4] for p in PRODUCTS]) / sum(p[4] for p in PRODUCTS)
PRODUCT_NAME = pl.Series([p[1] for p in PRODUCTS])
PRODUCT_SPEC = pl.Series([p[2] for p in PRODUCTS])
PRODUCT_SKU = pl.Series([p[0] for p in PRODUCTS])


def make_lines(rng: np.random.Generator, n_orders: int, p_single: float = 0.7) -> Lines:
    count = rng.geometric(p_single, size=n_orders)
    order = np.repeat(np.arange(n_orders), count)
    n = len(order)
    first = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    # Different products within an order: a random start and stride through the catalogue.
    start = rng.choice(len(PRODUCTS), size=n_orders, p=PRODUCT_P)
    stride = rng.integers(1, len(PRODUCTS), size=n_orders)
    k = np.arange(n) - np.repeat(first, count)
    product = (start[order] + k * stride[order]) % len(PRODUCTS)
    qty = rng.choice([1, 2, 3], size=n, p=[0.82, 0.13, 0.05])
    discount = rng.choice([100, 95, 90, 85, 80], size=n, p=[0.55, 0.1, 0.15, 0.1, 0.1])
    unit = PRICE_CENTS[product] * discount // 100
    return Lines(
        order=order, product=product, qty=qty, cents=unit * qty, unit_cents=unit, first=first, count=count
    )


@dataclass
class Receivers:
    name: pl.Series
    phone: np.ndarray
    address: Address
    gift: np.ndarray


def make_receivers(
    rng: np.random.Generator, ctx: Ctx, person: np.ndarray, gift_rate: float, alt_rate: float = 0.08
) -> Receivers:
    """Who an order ships to: the buyer at home, sometimes at work, sometimes a gift to someone else."""
    pop = ctx.pop
    n = len(person)
    address = pop.address.take(person)
    alt = rng.random(n) < alt_rate
    if alt.any():
        other = random_address(rng, ctx.geo, address.city[alt], ctx.pools)
        for f in Address.__dataclass_fields__:
            getattr(address, f)[alt] = getattr(other, f)
    name = pop.name[person]
    phone = pop.phone[person]
    gift = rng.random(n) < gift_rate
    if gift.any():
        g = np.flatnonzero(gift)
        name = name.scatter(g, ctx.pools.fake_names[rng.integers(0, len(ctx.pools.fake_names), size=len(g))])
        phone[g] = ctx.spare_phones(len(g))
        elsewhere = random_address(rng, ctx.geo, rng.integers(0, len(ctx.geo.city), size=len(g)), ctx.pools)
        for f in Address.__dataclass_fields__:
            getattr(address, f)[g] = getattr(elsewhere, f)
    return Receivers(name=name, phone=phone, address=address, gift=gift)


def phone_variants(rng: np.random.Generator, ctx: Ctx, phone: np.ndarray, p: tuple[float, float, float]):
    """Render phones as masked / virtual / full (with typos) by probability. Returns (text, mode)."""
    mode = rng.choice(3, size=len(phone), p=p)
    full = F.int_str(ctx.typo_phones(rng, phone))
    masked = F.mask_phone(F.int_str(phone))
    v = np.flatnonzero(mode == 1)
    virtual = F.blank(len(phone)).scatter(v, ctx.virtual_numbers(rng, len(v)))
    text = pl.select(
        pl.when(pl.Series(mode == 0)).then(masked).when(pl.Series(mode == 1)).then(virtual).otherwise(full)
    ).to_series()
    return text, mode


def money(cents: np.ndarray) -> pl.Series:
    return pl.Series(np.asarray(cents, dtype=np.int64) / 100.0)


def stable_handles(rng: np.random.Generator, ctx: Ctx, n: int, tb_prefix: str) -> pl.Series:
    """Unique platform buyer ids: '<prefix><digits>', a latin handle or a Chinese stem plus digits."""
    uniq = F.unique_ints(rng, 10_000_000, 100_000_000, n)  # unique per buyer, so ids never collide
    kind = rng.choice(3, size=n, p=[0.35, 0.35, 0.30])
    pin = ctx.pools.pinyin_handles[rng.integers(0, len(ctx.pools.pinyin_handles), size=n)]
    chn = ctx.pools.chinese_handles[rng.integers(0, len(ctx.pools.chinese_handles), size=n)]
    digits = F.int_str(uniq * 100 + rng.integers(0, 100, size=n))
    short = F.int_str(uniq)
    return pl.select(
        pl.when(pl.Series(kind == 0))
        .then(tb_prefix + digits)
        .when(pl.Series(kind == 1))
        .then(pin + short)
        .otherwise(chn + short)
    ).to_series()


def pick(rng: np.random.Generator, n: int, values: list, p: list[float] | None = None) -> pl.Series:
    idx = rng.choice(len(values), size=n, p=p)
    return pl.Series(values)[idx]


blank = F.blank


def records(ids: pl.Series, person: np.ndarray, ctx: Ctx) -> pl.DataFrame:
    return pl.DataFrame({"record_id": ids, "person_id": ctx.pop.person_id[person]})


# ---------------------------------------------------------------------------------------------------------
# Taobao / Tmall: GBK CSV, one row per order.

TAOBAO_HEADERS = (
    "订单编号 买家会员名 买家支付宝账号 买家应付货款 买家应付邮费 买家支付积分 总金额 返点积分 买家实际支付金额 买家实际支付积分 订单状态 买家留言 收货人姓名 收货地址 运送方式 "
    "联系电话 联系手机 订单创建时间 订单付款时间 宝贝标题 宝贝种类 物流单号 物流公司 订单备注 宝贝总数量 店铺Id 店铺名称 订单关闭原因 卖家服务费 买家服务费 发票抬头 是否手机订单 "
    "分阶段订单信息 定金排名 修改后的sku 修改后的收货地址 异常信息"
).split()
CARRIERS = [
    ("顺丰速运", "SF", 12),
    ("中通快递", "78", 12),
    ("圆通速递", "YT", 13),
    ("韵达快递", "43", 13),
    ("京东物流", "JDV", 12),
]


def tracking_numbers(
    rng: np.random.Generator, n: int, carriers: list = CARRIERS
) -> tuple[pl.Series, pl.Series]:
    c = rng.integers(0, len(carriers), size=n)
    name = pl.Series([x[0] for x in carriers])[c]
    prefix = pl.Series([x[1] for x in carriers])[c]
    width = np.array([x[2] for x in carriers])[c]
    num = F.zfill(rng.integers(0, 10**12, size=n, dtype=np.int64), 12)
    extra = F.zfill(rng.integers(0, 10, size=n), 1)
    return name, F.where(width == 13, prefix + num + extra, prefix + num)


def build_taobao(ctx: Ctx) -> Output:
    rng = ctx.rng(10)
    buyers = ctx.pop.channel("taobao")
    nick = stable_handles(rng, ctx, len(buyers), "tb")
    o = make_orders(rng, ctx, buyers, [0.86, 0.08, 0.06])
    n = len(o)
    lines = make_lines(rng, n)
    goods = lines.per_order(lines.cents)
    post = np.where((goods < 9900) & (rng.random(n) < 0.5), 1000, 0)
    total = goods + post
    paid = (o.status == SUCCESS) | (o.status == REFUNDED)

    # Amount quirks: currency signs, thousands separators, empty for some closed orders.
    style = rng.choice(3, size=n, p=[0.74, 0.13, 0.13])
    sign = pick(rng, n, ["￥", "¥"], [0.7, 0.3])

    def amount(c: np.ndarray) -> pl.Series:
        s = F.cents_to_str(c, thousands=style == 2)
        return F.where(style == 1, sign + s, s)

    actual = amount(np.where(paid, total, 0))
    empty_actual = ~paid & (rng.random(n) < 0.5)
    actual = F.where(empty_actual, None, actual)

    rec = make_receivers(rng, ctx, o.person, gift_rate=0.015)
    name_style = rng.choice(3, size=n, p=[0.78, 0.05, 0.17])
    phone_text, _ = phone_variants(rng, ctx, rec.phone, (0.68, 0.15, 0.17))
    a = rec.address
    geo = ctx.geo
    region = geo.province[a.city] + " " + geo.city[a.city] + " " + geo.district[a.district]
    full_addr = (
        region
        + " "
        + ctx.pools.street_offices[a.office]
        + " "
        + a.detail(ctx.pools)
        + "("
        + geo.postcode[a.city]
        + ")"
    )
    address = F.where(rng.random(n) < 0.6, region, full_addr)

    titles = pl.lit(BRAND) + pl.col("name") + pl.col("spec")
    title_df = pl.DataFrame(
        {"o": lines.order, "name": PRODUCT_NAME[lines.product], "spec": PRODUCT_SPEC[lines.product]}
    )
    title = title_df.group_by("o", maintain_order=True).agg(titles.str.join("，").alias("t"))["t"]

    order_id = F.int_str(F.unique_ints(rng, 1_600_000_000_000_000_000, 4_200_000_000_000_000_000, n))
    pay_ts = o.ts + rng.integers(5, 1800, size=n)
    carrier, tracking = tracking_numbers(rng, n)
    shipped = paid & (rng.random(n) < 0.97)
    close_reason = F.where(
        o.status == CLOSED,
        pick(
            rng,
            n,
            ["买家不想买了", "未付款，交易自动关闭", "拍错了/订单信息有误", "其他原因"],
            [0.3, 0.5, 0.1, 0.1],
        ),
        F.where(o.status == REFUNDED, pick(rng, n, ["退款", "七天无理由退货"]), None),
    )
    status_text = pl.Series(["交易成功", "交易关闭", "退款成功", "等待买家付款"])[o.status]
    note = F.where(
        rng.random(n) < 0.05,
        pick(rng, n, ["请尽快发货", "送人的，不要放价格单", "请发顺丰", "周末送货", "多送点小样"]),
        None,
    )
    qty_total = lines.per_order(lines.qty)
    points = np.where(o.status == SUCCESS, total // 100, 0)

    frame = pl.DataFrame(
        {
            "订单编号": '="' + order_id + '"',
            "买家会员名": nick[o.buyer],
            "买家支付宝账号": blank(n),
            "买家应付货款": amount(goods),
            "买家应付邮费": amount(post),
            "买家支付积分": pl.Series(["0"] * n),
            "总金额": amount(total),
            "返点积分": F.int_str(points),
            "买家实际支付金额": actual,
            "买家实际支付积分": pl.Series(["0"] * n),
            "订单状态": status_text,
            "买家留言": note,
            "收货人姓名": F.mask_name(rec.name, name_style),
            "收货地址": address,
            "运送方式": pl.Series(["快递"] * n),
            "联系电话": blank(n),
            "联系手机": "'" + phone_text,
            "订单创建时间": F.epoch_to_str(o.ts),
            "订单付款时间": F.where(paid, F.epoch_to_str(pay_ts), None),
            "宝贝标题": title,
            "宝贝种类": F.int_str(lines.count),
            "物流单号": F.where(shipped, '="' + tracking + '"', None),
            "物流公司": F.where(shipped, carrier, None),
            "订单备注": blank(n),
            "宝贝总数量": F.int_str(qty_total),
            "店铺Id": pl.Series([TMALL_SHOP_ID] * n),
            "店铺名称": pl.Series([TMALL_SHOP_NAME] * n),
            "订单关闭原因": close_reason,
            "卖家服务费": pl.Series(["0.00"] * n),
            "买家服务费": pl.Series(["0元"] * n),
            "发票抬头": blank(n),
            "是否手机订单": F.where(rng.random(n) < 0.86, "手机订单", None),
            "分阶段订单信息": blank(n),
            "定金排名": blank(n),
            "修改后的sku": blank(n),
            "修改后的收货地址": blank(n),
            "异常信息": blank(n),
        }
    )
    assert frame.columns == TAOBAO_HEADERS
    return Output(frame=frame, records=records(order_id, o.person, ctx))


# ---------------------------------------------------------------------------------------------------------
# JD: XLSX, one row per order line.

JD_HEADERS = (
    "订单号 商品ID 商品名称 订购数量 支付方式 下单时间 京东价 订单金额 结算金额 余额支付 应付金额 订单状态 订单类型 下单帐号 客户姓名 客户地址 联系电话 订单备注 发票类型 "
    "发票抬头 发票内容 商家备注 商家备注等级（等级1-5为由高到低） 运费金额 付款确认时间 增值税发票 货号 订单完成时间 订单来源 订单渠道"
).split()


def build_jd(ctx: Ctx) -> Output:
    rng = ctx.rng(20)
    buyers = ctx.pop.channel("jd")
    account = F.where(
        rng.random(len(buyers)) < 0.5,
        "jd_" + F.ints_to_base(F.unique_ints(rng, 0, 16**12, len(buyers)), F.HEX, 12),
        stable_handles(rng, ctx, len(buyers), "jd"),
    )
    o = make_orders(rng, ctx, buyers, [0.88, 0.08, 0.04])
    n = len(o)
    lines = make_lines(rng, n, p_single=0.62)
    goods = lines.per_order(lines.cents)
    post = np.where((goods < 9900) & (rng.random(n) < 0.6), 600, 0)
    paid = (o.status == SUCCESS) | (o.status == REFUNDED)

    rec = make_receivers(rng, ctx, o.person, gift_rate=0.015)
    name_style = rng.choice(3, size=n, p=[0.55, 0.0, 0.45])
    phone_text, _ = phone_variants(rng, ctx, rec.phone, (0.50, 0.15, 0.35))
    a, geo = rec.address, ctx.geo
    municipal = (geo.province[a.city] == geo.city[a.city]).to_numpy()
    region = F.where(
        municipal,
        geo.province_short[a.city] + geo.district[a.district],
        geo.province_short[a.city] + geo.city[a.city] + geo.district[a.district],
    )
    address = F.where(
        rng.random(n) < 0.35, region, region + ctx.pools.street_offices[a.office] + a.detail(ctx.pools)
    )

    slash = rng.random(n) < 0.3
    created = F.where(slash, F.epoch_to_str(o.ts, "%Y/%-m/%-d %-H:%M"), F.epoch_to_str(o.ts))
    pay_ts = o.ts + rng.integers(5, 900, size=n)
    paid_at = F.where(
        paid, F.where(slash, F.epoch_to_str(pay_ts, "%Y/%-m/%-d %-H:%M"), F.epoch_to_str(pay_ts)), None
    )
    done_ts = o.ts + rng.integers(2 * DAY, 6 * DAY, size=n)
    done_at = F.where(
        (o.status == SUCCESS) & (done_ts < ctx.as_of_ts),
        F.where(slash, F.epoch_to_str(done_ts, "%Y/%-m/%-d %-H:%M"), F.epoch_to_str(done_ts)),
        None,
    )
    invoice = rng.random(n) < 0.4
    order_id = F.int_str(F.unique_ints(rng, 200_000_000_000, 340_000_000_000, n))

    per_order = pl.DataFrame(
        {
            "订单号": order_id,
            "支付方式": pick(rng, n, ["在线支付", "货到付款"], [0.96, 0.04]),
            "下单时间": created,
            "订单金额": money(goods),
            "结算金额": money(np.where(paid, goods + post, 0)),
            "余额支付": money(np.zeros(n, dtype=np.int64)),
            "应付金额": money(goods + post),
            "订单状态": pl.Series(["已完成", "已关闭", "退款成功", "等待买家付款"])[o.status],
            "订单类型": pl.Series(["一般订单"] * n),
            "下单帐号": account[o.buyer],
            "客户姓名": F.mask_name(rec.name, name_style),
            "客户地址": address,
            "联系电话": phone_text,
            "订单备注": blank(n),
            "发票类型": F.where(invoice, "电子发票", "不开发票"),
            "发票抬头": F.where(
                invoice, F.where(rng.random(n) < 0.9, "个人", "深圳市某某科技有限公司"), None
            ),
            "发票内容": F.where(invoice, "明细", None),
            "商家备注": blank(n),
            "商家备注等级（等级1-5为由高到低）": blank(n),
            "运费金额": money(post),
            "付款确认时间": paid_at,
            "增值税发票": pl.Series(["否"] * n),
            "订单完成时间": done_at,
            "订单来源": pick(rng, n, ["京东APP", "微信小程序", "PC端", "京东到家"], [0.7, 0.15, 0.12, 0.03]),
            "订单渠道": pick(rng, n, ["京东商城", "京东商城", "京喜"], None),
        }
    )
    jd_sku = pl.Series([f"1000{38125460 + 7919 * i:08d}" for i in range(len(PRODUCTS))])
    line_frame = pl.DataFrame(
        {
            "商品ID": jd_sku[lines.product],
            "商品名称": (
                BRAND + "（LANDIAN）" + PRODUCT_NAME[lines.product] + " " + PRODUCT_SPEC[lines.product]
            ),
            "订购数量": pl.Series(lines.qty.astype(np.int64)),
            "京东价": money(PRICE_CENTS[lines.product]),
            "货号": PRODUCT_SKU[lines.product],
        }
    )
    frame = pl.concat([per_order[lines.order], line_frame], how="horizontal").select(JD_HEADERS)
    return Output(frame=frame, records=records(order_id, o.person, ctx))


# ---------------------------------------------------------------------------------------------------------
# Douyin: UTF-8 with BOM CSV, one row per sub-order.

DOUYIN_HEADERS = (
    "主订单编号 子订单编号 选购商品 商品规格 商品数量 商品ID 商家编码 商品单价 商品金额 订单应付金额 运费 收件人 收件人手机号 省 市 区 街道 详细地址 订单提交时间 商家备注 "
    "订单完成时间 订单状态 售后状态 取消原因 发货时间 支付方式 达人ID 达人昵称 流量体裁 流量渠道 流量来源 流量类型 平台实际承担优惠金额 商家实际承担优惠金额 达人实际承担优惠金额"
).split()
DOUYIN_TAB_COLUMNS = ("主订单编号", "子订单编号", "商品ID", "达人ID")
TALENTS = [
    ("3716482095", "美妆小鹿"),
    ("52031874216", "护肤研究所阿珍"),
    ("1948302771", "成分党小林"),
    ("84720315921", "大表姐好物"),
    ("2093847561", "澜点官方旗舰店直播间"),
]


def build_douyin(ctx: Ctx) -> Output:
    rng = ctx.rng(30)
    buyers = ctx.pop.channel("douyin")
    o = make_orders(rng, ctx, buyers, [0.86, 0.10, 0.04])
    n = len(o)
    lines = make_lines(rng, n, p_single=0.72)
    goods = lines.per_order(lines.cents)
    post = np.zeros(n, dtype=np.int64)
    paid = (o.status == SUCCESS) | (o.status == REFUNDED)

    rec = make_receivers(rng, ctx, o.person, gift_rate=0.015)
    name_style = rng.choice(3, size=n, p=[0.88, 0.04, 0.08])
    phone_text, _ = phone_variants(rng, ctx, rec.phone, (0.60, 0.30, 0.10))
    a, geo = rec.address, ctx.geo
    masked_detail = a.street(ctx.pools).str.slice(0, 3) + "****"
    detail = F.where(rng.random(n) < 0.7, masked_detail, a.detail(ctx.pools))

    talent = np.where(rng.random(n) < 0.35, rng.integers(0, len(TALENTS), size=n), -1)
    has_talent = talent >= 0
    talent_id = F.where(has_talent, pl.Series([t[0] for t in TALENTS])[np.maximum(talent, 0)], None)
    talent_nick = F.where(has_talent, pl.Series([t[1] for t in TALENTS])[np.maximum(talent, 0)], None)
    genre = F.where(
        has_talent,
        pick(rng, n, ["直播", "短视频"], [0.75, 0.25]),
        pick(rng, n, ["商品卡", "直播", "其他"], [0.6, 0.3, 0.1]),
    )
    main_id = F.int_str(F.unique_ints(rng, 6_900_000_000_000_000_000, 6_950_000_000_000_000_000, n))
    sub_id = F.int_str(
        F.unique_ints(rng, 6_950_000_000_000_000_000, 7_000_000_000_000_000_000, len(lines.order))
    )
    platform_off = np.where(rng.random(n) < 0.25, rng.integers(1, 4, size=n) * 500, 0)
    # Douyin writes one row per sub-order and its amounts per sub-order: the platform's discount is shared
    # out over the lines in proportion to their amount (the rounding remainder on the first line), so the
    # lines' 订单应付金额 add up to what the buyer paid for the order.
    line_off = platform_off[lines.order] * lines.cents // np.maximum(goods[lines.order], 1)
    line_off[lines.first] += platform_off - lines.per_order(line_off)
    line_post = np.zeros(len(lines.order), dtype=np.int64)
    line_post[lines.first] = post
    ship_ts = o.ts + rng.integers(3600, 2 * DAY, size=n)
    done_ts = ship_ts + rng.integers(2 * DAY, 7 * DAY, size=n)

    per_order = pl.DataFrame(
        {
            "主订单编号": main_id,
            "运费": F.cents_to_str(post),
            "收件人": F.mask_name(rec.name, name_style),
            "收件人手机号": phone_text,
            "省": geo.province[a.city],
            "市": geo.city[a.city],
            "区": geo.district[a.district],
            "街道": F.where(rng.random(n) < 0.8, ctx.pools.street_offices[a.office], None),
            "详细地址": detail,
            "订单提交时间": F.epoch_to_str(o.ts),
            "商家备注": blank(n),
            "订单完成时间": F.where(
                (o.status == SUCCESS) & (done_ts < ctx.as_of_ts), F.epoch_to_str(done_ts), None
            ),
            "订单状态": pl.Series(["已完成", "已关闭", "已关闭", "等待买家付款"])[o.status],
            "售后状态": F.where(o.status == REFUNDED, "退款成功", F.where(o.status == SUCCESS, "-", None)),
            "取消原因": F.where(
                o.status == CLOSED, pick(rng, n, ["不想要了", "拍错了", "超时未支付", "地址填错了"]), None
            ),
            "发货时间": F.where(paid & (ship_ts < ctx.as_of_ts), F.epoch_to_str(ship_ts), None),
            "支付方式": F.where(
                o.status == PENDING,
                None,
                pick(rng, n, ["抖音支付", "微信", "支付宝", "抖音月付"], [0.45, 0.25, 0.22, 0.08]),
            ),
            "达人ID": talent_id,
            "达人昵称": talent_nick,
            "流量体裁": genre,
            "流量渠道": pick(
                rng, n, ["自然流量", "千川PC版", "千川随心推", "品牌广告"], [0.7, 0.15, 0.1, 0.05]
            ),
            "流量来源": pick(
                rng, n, ["直播间", "短视频", "商城推荐", "搜索", "店铺页"], [0.4, 0.15, 0.2, 0.15, 0.1]
            ),
            "流量类型": pick(rng, n, ["自然流量", "付费流量"], [0.75, 0.25]),
            "商家实际承担优惠金额": pl.Series(["0.00"] * n),
            "达人实际承担优惠金额": pl.Series(["0.00"] * n),
        }
    )
    dy_pid = pl.Series([f"3{581046729301845 + 104729 * i:018d}" for i in range(len(PRODUCTS))])
    line_frame = pl.DataFrame(
        {
            "子订单编号": sub_id,
            "选购商品": "【" + BRAND + "】" + PRODUCT_NAME[lines.product],
            "商品规格": PRODUCT_SPEC[lines.product],
            "商品数量": F.int_str(lines.qty),
            "商品ID": dy_pid[lines.product],
            "商家编码": PRODUCT_SKU[lines.product],
            "商品单价": F.cents_to_str(lines.unit_cents),
            "商品金额": F.cents_to_str(lines.cents),
            "订单应付金额": F.cents_to_str(lines.cents + line_post - line_off),
            "平台实际承担优惠金额": F.cents_to_str(line_off),
        }
    )
    frame = pl.concat([per_order[lines.order], line_frame], how="horizontal").select(DOUYIN_HEADERS)
    frame = frame.with_columns(
        [(pl.lit('"\t') + pl.col(c) + pl.lit('"')).alias(c) for c in DOUYIN_TAB_COLUMNS]
    )
    return Output(frame=frame, records=records(main_id, o.person, ctx))


# ---------------------------------------------------------------------------------------------------------
# Youzan: XLSX, one row per order; full phones for members.

YOUZAN_HEADERS = (
    "订单号 销售渠道 归属店铺 订单类型 订单状态 推广方式 订单来源 订单创建时间 买家付款时间 交易成功时间 付款方式 支付流水号 商品金额合计 运费 店铺优惠合计 应收订单金额 订单实付金额 "
    "支付优惠合计 订单实收金额 订单抵用积分数 全部商品名称 商品种类数 订单配送方式 收货人省份 收货人城市 收货人地区 详细收货地址/提货地址 收货人/提货人 收货人手机号/提货人手机号 "
    "买家备注 买家昵称 买家是否会员 买家手机号 下单网点 收银员 分销员 销售导购 专属导购 订单退款状态 订单已退款金额 商家订单备注 分销员手机号 优惠券码名称"
).split()


def build_youzan(ctx: Ctx) -> Output:
    rng = ctx.rng(40)
    pop = ctx.pop
    buyers = pop.channel("youzan")
    is_member = rng.random(len(buyers)) < 0.8
    own_guide = ctx.guides_for_city(rng, pop.address.city[buyers])
    has_own_guide = rng.random(len(buyers)) < 0.25
    o = make_orders(rng, ctx, buyers, [0.88, 0.08, 0.04])
    n = len(o)
    lines = make_lines(rng, n)
    goods = lines.per_order(lines.cents)
    pickup = rng.random(n) < 0.06
    post = np.where(~pickup & (goods < 9900) & (rng.random(n) < 0.5), 800, 0)
    coupon = rng.random(n) < 0.15
    shop_off = np.where(coupon, rng.choice([1000, 2000, 3000, 5000], size=n), 0)
    shop_off = np.minimum(shop_off, goods // 2)
    due = goods + post - shop_off
    paid = (o.status == SUCCESS) | (o.status == REFUNDED)

    rec = make_receivers(rng, ctx, o.person, gift_rate=0.01)
    receiver_name = ctx.typo_names(rng, rec.name)
    receiver_phone = F.int_str(ctx.typo_phones(rng, rec.phone))
    member = is_member[o.buyer]
    buyer_phone = F.where(member, F.int_str(ctx.typo_phones(rng, pop.phone[o.person])), None)
    store = ctx.store_for_city(rng, rec.address.city)
    store_name = pl.Series([s["name"] for s in ctx.stores])[store]
    a, geo = rec.address, ctx.geo
    distributor = rng.random(n) < 0.03

    order_no = "E" + F.epoch_to_str(o.ts, "%Y%m%d%H%M%S") + F.zfill(F.unique_ints(rng, 0, 10**9, n), 9)
    names_df = pl.DataFrame(
        {"o": lines.order, "t": PRODUCT_NAME[lines.product] + " " + PRODUCT_SPEC[lines.product]}
    )
    all_names = names_df.group_by("o", maintain_order=True).agg(pl.col("t").str.join("；"))["t"]
    sales_guide = rng.random(n) < 0.1
    done_ts = o.ts + rng.integers(3 * DAY, 10 * DAY, size=n)
    frame = pl.DataFrame(
        {
            "订单号": order_no,
            "销售渠道": pick(rng, n, ["微商城", "微信小程序"], [0.45, 0.55]),
            "归属店铺": pl.Series([YOUZAN_SHOP_NAME] * n),
            "订单类型": pl.Series(["普通订单"] * n),
            "订单状态": pl.Series(["交易成功", "交易关闭", "退款成功", "等待买家付款"])[o.status],
            "推广方式": F.where(distributor, "分销", None),
            "订单来源": pick(rng, n, ["微信", "微信小程序", "H5"], [0.35, 0.55, 0.1]),
            "订单创建时间": F.epoch_to_str(o.ts),
            "买家付款时间": F.where(paid, F.epoch_to_str(o.ts + rng.integers(5, 600, size=n)), None),
            "交易成功时间": F.where(
                (o.status == SUCCESS) & (done_ts < ctx.as_of_ts), F.epoch_to_str(done_ts), None
            ),
            "付款方式": F.where(
                paid, pick(rng, n, ["微信支付", "储值卡", "支付宝"], [0.86, 0.09, 0.05]), None
            ),
            "支付流水号": F.where(
                paid,
                "4200"
                + F.zfill(rng.integers(0, 10**15, size=n, dtype=np.int64), 15)
                + F.zfill(rng.integers(0, 10**9, size=n), 9),
                None,
            ),
            "商品金额合计": money(goods),
            "运费": money(post),
            "店铺优惠合计": money(shop_off),
            "应收订单金额": money(due),
            "订单实付金额": money(np.where(paid, due, 0)),
            "支付优惠合计": money(np.zeros(n, dtype=np.int64)),
            "订单实收金额": money(np.where(paid, due, 0)),
            "订单抵用积分数": pl.Series(np.where(rng.random(n) < 0.05, 100 * rng.integers(1, 20, size=n), 0)),
            "全部商品名称": all_names,
            "商品种类数": pl.Series(lines.count.astype(np.int64)),
            "订单配送方式": F.where(pickup, "到店自提", "快递发货"),
            "收货人省份": F.where(pickup, None, geo.province[a.city]),
            "收货人城市": F.where(pickup, None, geo.city[a.city]),
            "收货人地区": F.where(pickup, None, geo.district[a.district]),
            "详细收货地址/提货地址": F.where(
                pickup, store_name, ctx.pools.street_offices[a.office] + a.detail(ctx.pools)
            ),
            "收货人/提货人": receiver_name,
            "收货人手机号/提货人手机号": receiver_phone,
            "买家备注": F.where(rng.random(n) < 0.04, pick(rng, n, ["请尽快发货", "要小样", "送人的"]), None),
            "买家昵称": pop.wechat_nick[o.person],
            "买家是否会员": F.where(member, "是", "否"),
            "买家手机号": buyer_phone,
            "下单网点": F.where(pickup, store_name, None),
            "收银员": blank(n),
            "分销员": F.where(
                distributor, ctx.pools.fake_names[rng.integers(0, len(ctx.pools.fake_names), size=n)], None
            ),
            "销售导购": F.where(sales_guide, ctx.guide_names(ctx.guides_for_city(rng, a.city)), None),
            "专属导购": F.where(has_own_guide[o.buyer], ctx.guide_names(own_guide[o.buyer]), None),
            "订单退款状态": F.where(o.status == REFUNDED, "全额退款", None),
            "订单已退款金额": money(np.where(o.status == REFUNDED, due, 0)),
            "商家订单备注": blank(n),
            "分销员手机号": F.where(distributor, F.int_str(ctx.spare_phones(n)), None),
            "优惠券码名称": F.where(
                coupon, pick(rng, n, ["新客立减券", "会员日满199减30", "生日礼券", "复购专享券"]), None
            ),
        }
    )
    assert frame.columns == YOUZAN_HEADERS
    return Output(frame=frame, records=records(order_no, o.person, ctx))


# ---------------------------------------------------------------------------------------------------------
# WeCom: our documented export, XLSX, one row per (contact, staff) relation.

WECOM_HEADERS = (
    "客户名称 客户备注 类型 性别 添加人 添加人账号 添加时间 添加渠道 标签 企业标签 备注手机号 描述 备注企业 external_userid unionid"
).split()


def _tags(rng: np.random.Generator, n: int) -> pl.Series:
    parts = []
    for group, (values, p) in TAGS.items():
        chosen = rng.random(n) < (0.75 if group == "客户等级" else 0.4)
        label = pick(rng, n, values, p)
        parts.append(F.where(chosen, group + ":" + label, None))
    return (
        pl.DataFrame({f"g{i}": s for i, s in enumerate(parts)})
        .select(pl.concat_str(pl.all(), separator=",", ignore_nulls=True))
        .to_series()
        .replace("", None)
    )


def build_wecom(ctx: Ctx) -> Output:
    rng = ctx.rng(50)
    pop = ctx.pop
    people = pop.channel("wecom")
    m = len(people)
    ext = "wm" + F.random_strings(rng, m, 30, F.URLSAFE)
    union = F.where(rng.random(m) < 0.7, "o" + F.random_strings(rng, m, 27, F.URLSAFE), None)
    guide = ctx.guides_for_city(rng, pop.address.city[people])
    # ~3% of contacts were added by a second staff member too: the export lists each relation.
    second = np.flatnonzero(rng.random(m) < 0.03)
    row_contact = np.concatenate([np.arange(m), second])
    row_guide = np.concatenate([guide, (guide[second] + 1) % len(ctx.guides)])
    order = np.argsort(row_contact, kind="stable")
    row_contact, row_guide = row_contact[order], row_guide[order]
    r = len(row_contact)
    person = people[row_contact]

    name = pop.name[person]
    surname = pop.surname[person]
    female = pop.female[person]
    remark_kind = rng.choice(4, size=r, p=[0.55, 0.12, 0.12, 0.21])
    honorific = F.where(
        female,
        pick(rng, r, ["女士", "姐", "小姐"], [0.5, 0.4, 0.1]),
        pick(rng, r, ["先生", "哥"], [0.8, 0.2]),
    )
    tail = pop.phone_str[person].str.slice(7, 4)
    remark = pl.select(
        pl.when(pl.Series(remark_kind == 0))
        .then(name)
        .when(pl.Series(remark_kind == 1))
        .then(name + " " + tail)
        .when(pl.Series(remark_kind == 2))
        .then(surname + honorific)
        .otherwise(None)
    ).to_series()
    has_phone = rng.random(m) < 0.5
    phone = F.where(has_phone[row_contact], F.int_str(ctx.typo_phones(rng, pop.phone[person])), None)
    gender = F.where(rng.random(r) < 0.1, "未知", F.where(female, "女", "男"))
    added = order_times(rng, ctx, r)
    desc = F.where(
        rng.random(r) < 0.06,
        pick(rng, r, ["敏感肌，偏好温和产品", "喜欢精华类", "老客户，常来店里", "想了解抗老"]),
        None,
    )
    guide_names = pl.Series([g["name"] for g in ctx.guides])
    guide_ids = pl.Series([g["wecom_userid"] for g in ctx.guides])
    frame = pl.DataFrame(
        {
            "客户名称": pop.wechat_nick[person],
            "客户备注": remark,
            "类型": pl.Series(["微信用户"] * r),
            "性别": gender,
            "添加人": guide_names[row_guide],
            "添加人账号": guide_ids[row_guide],
            "添加时间": F.epoch_to_str(added),
            "添加渠道": pick(
                rng,
                r,
                ["扫描渠道二维码", "扫描名片二维码", "搜索手机号", "名片分享", "群聊", "其他"],
                [0.45, 0.2, 0.12, 0.08, 0.1, 0.05],
            ),
            "标签": _tags(rng, r),
            "企业标签": F.where(
                rng.random(r) < 0.3, pick(rng, r, ["已购客户", "会员", "已购客户|会员", "活动报名"]), None
            ),
            "备注手机号": phone,
            "描述": desc,
            "备注企业": blank(r),
            "external_userid": ext[row_contact],
            "unionid": union[row_contact],
        }
    ).select(WECOM_HEADERS)
    return Output(frame=frame, records=records(ext, people, ctx))


# ---------------------------------------------------------------------------------------------------------
# Offline POS: members (UTF-8 CSV) and sales lines (UTF-8 CSV, CRLF).

POS_MEMBER_HEADERS = (
    "会员卡号 会员姓名 手机号 性别 生日 邮箱 省 市 区 地址 注册门店 注册时间 专属导购"
).split()
POS_SALES_HEADERS = ("单号 会员卡号 门店 销售时间 商品编码 商品名称 数量 金额 导购 单据状态").split()
LANDLINE_STORE_SHARE = 0.25
LANDLINE_MEMBER_SHARE = 0.04  # within the stores whose cashiers type the store phone


def build_pos(ctx: Ctx) -> tuple[Output, Output]:
    rng = ctx.rng(60)
    pop = ctx.pop
    people = pop.channel("pos")
    m = len(people)
    city = pop.address.city[people]
    home_store = ctx.store_for_city(rng, city)
    card = F.unique_ints(rng, 8_000_000_000, 9_000_000_000, m)
    card_str = F.int_str(card)

    # Sales: geometric count per member (mean ctx.orders_per_buyer, 2 by default); some members never
    # bought after registering.
    mean = ctx.orders_per_buyer
    count = np.minimum(rng.geometric(1 / mean, size=m), max(40, round(20 * mean)))
    count[rng.random(m) < 0.08] = 0
    sale_member = np.repeat(np.arange(m), count)
    s = len(sale_member)
    sale_ts = order_times(rng, ctx, s, STORE_HOUR_WEIGHTS)
    elsewhere = rng.random(s) < 0.12
    sale_store = np.where(elsewhere, rng.integers(0, len(STORES), size=s), home_store[sale_member])
    # Registration: shortly before the first purchase (or any time for members without purchases).
    reg_ts = order_times(rng, ctx, m, STORE_HOUR_WEIGHTS)
    if s:
        first = np.full(m, np.iinfo(np.int64).max)
        np.minimum.at(first, sale_member, sale_ts)
        bought = count > 0
        reg_ts[bought] = first[bought] - rng.integers(60, 900, size=int(bought.sum()))

    # Members file.
    phone = ctx.typo_phones(rng, pop.phone[people])
    phone_text = F.int_str(phone)
    lazy_store = np.zeros(len(STORES), dtype=bool)
    lazy_store[rng.permutation(len(STORES))[: max(1, int(round(len(STORES) * LANDLINE_STORE_SHARE)))]] = True
    landline = np.zeros(m, dtype=bool)
    for st in np.flatnonzero(lazy_store):
        rows = np.flatnonzero(home_store == st)
        k = min(len(rows), max(3, int(round(len(rows) * LANDLINE_MEMBER_SHARE))))
        landline[rng.choice(rows, size=k, replace=False)] = True
    store_phone = pl.Series(ctx.store_landline)[home_store]
    phone_text = F.where(landline, store_phone, phone_text)

    store_names = pl.Series([st["name"] for st in ctx.stores])
    has_birthday = rng.random(m) < 0.85
    birthday = pl.from_epoch(pl.Series(pop.birth_day[people]), time_unit="d").dt.strftime("%Y-%m-%d")
    email = F.where(rng.random(m) < 0.7, pop.email[people], None)
    a = pop.address.take(people)
    geo = ctx.geo
    has_addr = rng.random(m) < 0.6
    member_guide = home_store * GUIDES_PER_STORE + rng.integers(0, GUIDES_PER_STORE, size=m)
    members = pl.DataFrame(
        {
            "会员卡号": card_str,
            "会员姓名": ctx.typo_names(rng, pop.name[people]),
            "手机号": phone_text,
            "性别": F.where(pop.female[people], "女", "男"),
            "生日": F.where(has_birthday, birthday, None),
            "邮箱": email,
            "省": F.where(has_addr, geo.province[a.city], None),
            "市": F.where(has_addr, geo.city[a.city], None),
            "区": F.where(has_addr, geo.district[a.district], None),
            "地址": F.where(has_addr & (rng.random(m) < 0.7), a.detail(ctx.pools), None),
            "注册门店": store_names[home_store],
            "注册时间": F.epoch_to_str(reg_ts),
            "专属导购": F.where(rng.random(m) < 0.75, ctx.guide_names(member_guide), None),
        }
    ).select(POS_MEMBER_HEADERS)
    member_records = records(card_str, people, ctx)

    # Sales file: one row per line, newest first; 单号 = store code + date + daily sequence.
    order = np.argsort(-sale_ts, kind="stable")
    sale_member, sale_ts, sale_store = sale_member[order], sale_ts[order], sale_store[order]
    lines = make_lines(rng, s, p_single=0.6)
    returned = rng.random(s) < 0.04
    codes = pl.Series([st["code"] for st in ctx.stores])
    seq_df = pl.DataFrame({"store": sale_store, "day": sale_ts // DAY, "ts": sale_ts, "i": np.arange(s)})
    seq = (
        seq_df.sort(["store", "day", "ts", "i"])
        .with_columns(pl.int_range(1, pl.len() + 1).over(["store", "day"]).alias("seq"))
        .sort("i")["seq"]
        .to_numpy()
    )
    sale_no = codes[sale_store] + F.epoch_to_str(sale_ts, "%Y%m%d") + F.zfill(seq, 4)
    sale_guide = sale_store * GUIDES_PER_STORE + rng.integers(0, GUIDES_PER_STORE, size=s)
    per_sale = pl.DataFrame(
        {
            "单号": sale_no,
            "会员卡号": card_str[sale_member],
            "门店": store_names[sale_store],
            "销售时间": F.epoch_to_str(sale_ts),
            "导购": F.where(rng.random(s) < 0.85, ctx.guide_names(sale_guide), None),
            "单据状态": F.where(returned, "退货", "正常"),
        }
    )
    line_frame = pl.DataFrame(
        {
            "商品编码": PRODUCT_SKU[lines.product],
            "商品名称": PRODUCT_NAME[lines.product] + " " + PRODUCT_SPEC[lines.product],
            "数量": F.int_str(lines.qty),
            "金额": F.cents_to_str(lines.cents),
        }
    )
    sales = pl.concat([per_sale[lines.order], line_frame], how="horizontal").select(POS_SALES_HEADERS)
    sale_records = records(sale_no, people[sale_member], ctx)
    return Output(frame=members, records=member_records), Output(frame=sales, records=sale_records)
