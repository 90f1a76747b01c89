"""The true population behind the demo brand: who the people are and which channels they use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from . import fields as F
from .pools import CITIES, MOBILE_PREFIXES, Pools

CHANNELS = ("taobao", "jd", "douyin", "youzan", "wecom", "pos")
CHANNEL_WEIGHTS = np.array([0.30, 0.14, 0.18, 0.13, 0.13, 0.12])
CHANNEL_LABELS = ("天猫", "京东", "抖音", "有赞商城", "企业微信", "门店")
CHANNELS_PER_PERSON = ([1, 2, 3, 4], [0.55, 0.30, 0.11, 0.04])
FEMALE_SHARE = 0.72
RARE_SURNAME_SHARE = 0.03
EMAIL_SHARE = 0.30
HOUSEHOLD_SHARE = 0.05  # persons living with another person of the same surname at the same address
EPOCH = date(1970, 1, 1)
EMAIL_DOMAINS = ["163.com", "126.com", "sina.com", "gmail.com", "foxmail.com", "hotmail.com", "outlook.com"]


@dataclass
class Geography:
    province: pl.Series  # per city
    city: pl.Series
    province_short: pl.Series
    area_code: list[str]
    postcode: pl.Series
    district: pl.Series  # flattened over cities
    district_city: np.ndarray
    district_start: np.ndarray  # per city: first index into district
    district_count: np.ndarray


def build_geography() -> Geography:
    districts, district_city, starts, counts = [], [], [], []
    for i, (_p, _c, _w, _a, _z, ds) in enumerate(CITIES):
        starts.append(len(districts))
        counts.append(len(ds))
        districts.extend(ds)
        district_city.extend([i] * len(ds))

    def short(p: str) -> str:
        for suffix in ("壮族自治区", "回族自治区", "维吾尔自治区", "自治区", "省", "市"):
            if p.endswith(suffix):
                return p[: -len(suffix)]
        return p

    return Geography(
        province=pl.Series([c[0] for c in CITIES]),
        city=pl.Series([c[1] for c in CITIES]),
        province_short=pl.Series([short(c[0]) for c in CITIES]),
        area_code=[c[3] for c in CITIES],
        postcode=pl.Series([c[4] for c in CITIES]),
        district=pl.Series(districts),
        district_city=np.array(district_city),
        district_start=np.array(starts),
        district_count=np.array(counts),
    )


@dataclass
class Address:
    """Index arrays for an address; strings are rendered on demand for the rows that need them."""

    city: np.ndarray
    district: np.ndarray  # index into Geography.district
    office: np.ndarray  # 街道 (sub-district office)
    road: np.ndarray
    road_no: np.ndarray
    community: np.ndarray
    building: np.ndarray
    room: np.ndarray

    def take(self, idx: np.ndarray) -> Address:
        return Address(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))

    def street(self, pools: Pools) -> pl.Series:
        """科技园路88号"""
        return pools.roads[self.road] + F.int_str(self.road_no) + "号"

    def detail(self, pools: Pools) -> pl.Series:
        """科技园路88号阳光花园3栋1203室"""
        return (
            self.street(pools)
            + pools.communities[self.community]
            + F.int_str(self.building)
            + "栋"
            + F.int_str(self.room)
            + "室"
        )


def random_address(rng: np.random.Generator, geo: Geography, city: np.ndarray, pools: Pools) -> Address:
    n = len(city)
    district = geo.district_start[city] + (rng.random(n) * geo.district_count[city]).astype(np.int64)
    floors = rng.integers(1, 33, size=n)
    return Address(
        city=city,
        district=district,
        office=rng.integers(0, len(pools.street_offices), size=n),
        road=rng.integers(0, len(pools.roads), size=n),
        road_no=np.minimum(rng.geometric(0.012, size=n), 1999),
        community=rng.integers(0, len(pools.communities), size=n),
        building=rng.integers(1, 31, size=n),
        room=floors * 100 + rng.integers(1, 5, size=n),
    )


@dataclass
class Population:
    n: int
    person_id: pl.Series
    surname: pl.Series
    given: pl.Series
    name: pl.Series
    female: np.ndarray
    birth_day: np.ndarray  # days since 1970-01-01
    phone: np.ndarray  # int64, unique
    phone_str: pl.Series
    email: pl.Series  # null for most
    address: Address
    household: np.ndarray  # household number, -1 when living with no other customer
    wechat_nick: pl.Series
    member: np.ndarray  # (n, 6) bool, columns in CHANNELS order
    acquisition: np.ndarray  # index into CHANNELS
    spare_phones: np.ndarray  # phones of no customer (gift receivers, distributors…)
    known_phones: np.ndarray  # sorted: every phone in use, for typo generation

    def channel(self, name: str) -> np.ndarray:
        return np.flatnonzero(self.member[:, CHANNELS.index(name)])


def _draw_names(rng: np.random.Generator, pools: Pools, female: np.ndarray) -> tuple[pl.Series, pl.Series]:
    n = len(female)
    common = pools.surnames[rng.choice(len(pools.surnames), size=n, p=pools.surname_p)]
    rare = pools.rare_surnames[rng.integers(0, len(pools.rare_surnames), size=n)]
    surname = F.where(rng.random(n) < RARE_SURNAME_SHARE, rare, common)
    gf = pools.given_f[rng.choice(len(pools.given_f), size=n, p=pools.given_f_p)]
    gm = pools.given_m[rng.choice(len(pools.given_m), size=n, p=pools.given_m_p)]
    given = F.where(female, gf, gm)
    return surname, given


def build_population(
    rng: np.random.Generator, n: int, pools: Pools, geo: Geography, as_of: date
) -> Population:
    female = rng.random(n) < FEMALE_SHARE
    surname, given = _draw_names(rng, pools, female)

    as_of_day = (as_of - EPOCH).days
    age = np.clip(rng.normal(34, 9.5, size=n), 18, 72)
    birth_day = (as_of_day - age * 365.25).astype(np.int64)

    # Mobile numbers: unique across the population, plus spares that belong to nobody in it.
    spare_n = max(1000, n // 10)
    prefix = np.array([int(p) for p in MOBILE_PREFIXES], dtype=np.int64)
    raw = F.unique_ints(rng, 0, len(prefix) * 100_000_000, n + spare_n)
    phones = prefix[raw // 100_000_000] * 100_000_000 + raw % 100_000_000
    phone, spare = phones[:n], phones[n:]

    city_w = np.array([c[2] for c in CITIES])
    city = rng.choice(len(CITIES), size=n, p=city_w / city_w.sum())
    address = random_address(rng, geo, city, pools)

    # Households: pairs sharing surname and address (a parent, a spouse), different given name and birthday.
    pairs = int(round(n * HOUSEHOLD_SHARE / 2))
    household = np.full(n, -1, dtype=np.int64)
    if pairs:
        chosen = rng.permutation(n)[: 2 * pairs]
        head, other = chosen[:pairs], chosen[pairs:]
        for f in Address.__dataclass_fields__:
            getattr(address, f)[other] = getattr(address, f)[head]
        surname = surname.scatter(other, surname[head])
        same = np.flatnonzero((given[other] == given[head]).to_numpy())
        while len(same):  # keep given names distinct within a household
            pool = pools.given_f if rng.random() < FEMALE_SHARE else pools.given_m
            given = given.scatter(other[same], pool[rng.integers(0, len(pool), size=len(same))])
            same = np.flatnonzero((given[other] == given[head]).to_numpy())
        gap = rng.choice([-1, 1], size=pairs) * rng.integers(1, 30, size=pairs) * 365
        birth_day[other] = birth_day[head] + gap + rng.integers(1, 300, size=pairs)
        household[head] = np.arange(pairs)
        household[other] = np.arange(pairs)
    name = surname + given

    # Email: ~30%: QQ numbers and latin handles, unique.
    has_email = rng.random(n) < EMAIL_SHARE
    k = int(has_email.sum())
    uniq = F.unique_ints(rng, 10_000, 3_000_000_000, k)
    qq = rng.random(k) < 0.45
    handle = pools.pinyin_handles[rng.integers(0, len(pools.pinyin_handles), size=k)]
    domain = pl.Series(EMAIL_DOMAINS)[rng.integers(0, len(EMAIL_DOMAINS), size=k)]
    mail = F.where(qq, F.int_str(uniq) + "@qq.com", handle + F.int_str(uniq) + "@" + domain)
    email = F.blank(n).scatter(np.flatnonzero(has_email), mail)

    # WeChat nickname: shown in WeCom and Youzan; the real name for some people.
    nick = pools.wechat_nicks[rng.integers(0, len(pools.wechat_nicks), size=n)]
    wechat_nick = F.where(rng.random(n) < 0.18, name, nick)

    # Channels: 1–4 of six (skewed), weighted by channel reach (Gumbel top-k sampling).
    sizes = rng.choice(CHANNELS_PER_PERSON[0], size=n, p=CHANNELS_PER_PERSON[1])
    keys = np.log(CHANNEL_WEIGHTS)[None, :] - np.log(-np.log(rng.random((n, len(CHANNELS)))))
    order = np.argsort(-keys, axis=1)
    member = np.zeros((n, len(CHANNELS)), dtype=bool)
    for j in range(4):
        rows = np.flatnonzero(sizes > j)
        member[rows, order[rows, j]] = True
    acquisition = order[:, 0].copy()
    # Store customers are often added on WeCom by their guide.
    pos, wecom = CHANNELS.index("pos"), CHANNELS.index("wecom")
    add = member[:, pos] & ~member[:, wecom] & (member.sum(axis=1) < 4) & (rng.random(n) < 0.4)
    member[add, wecom] = True
    # Families shop where the family shops.
    if pairs:
        copy = rng.random(pairs) < 0.5
        member[other[copy]] = member[head[copy]]
        acquisition[other[copy]] = acquisition[head[copy]]

    person_id = "P" + F.zfill(np.arange(1, n + 1), 7)
    return Population(
        n=n,
        person_id=person_id,
        surname=surname,
        given=given,
        name=name,
        female=female,
        birth_day=birth_day,
        phone=phone,
        phone_str=F.int_str(phone),
        email=email,
        address=address,
        household=household,
        wechat_nick=wechat_nick,
        member=member,
        acquisition=acquisition,
        spare_phones=spare,
        known_phones=np.sort(phones),
    )
