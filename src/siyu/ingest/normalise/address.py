"""Chinese addresses → canonical province / city / district, the street remainder and a city tier.

How an address is read:
1. Full-width ASCII becomes half-width, whitespace is collapsed, leading separators go.
2. The *head* is the run of up to 6 administrative names at the start ("广东省深圳市南山区", "广东 深圳 ",
   "北京朝阳区"), matching every province / city / district name (full and short forms), longest name first.
3. The head is resolved with context: a city must belong to the province, a district to the city; a missing
   level is inferred when unambiguous (深圳市 → 广东省; 徐汇区 → 上海市 → 上海市). Short forms (广东, 深圳) count
   only when the next name confirms them or a separator follows, so "湖南路8号" stays a street. Names that do
   not fit go back into the street.
4. Separately given columns (Douyin 省/市/区) are the starting point; names repeated in the text are dropped.
   A given value not found in the data is kept as given (platforms know newer districts than we do).
Municipalities (and Hong Kong, Macao) have city = province ("北京市", "北京市"). District short forms ("南山")
are not recognised in free text: too many collide with street names.

city_tier (第一财经·新一线城市研究所 2024 ranking): 1 一线, 2 新一线 (15 cities), 3 二线 (30 cities),
4 other prefecture-level cities, 5 county-level cities administered by a province (仙桃市, 石河子市…),
None without a city or outside the mainland.

parse_addresses finds the heads in polars (Aho-Corasick marking + a small regex) and resolves each distinct
head once, so 1M addresses cost a few ten thousand resolutions, not a million.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import polars as pl

_DATA = Path(__file__).parent / "data" / "divisions.tsv"

MUNICIPALITIES = frozenset({"北京市", "上海市", "天津市", "重庆市", "香港特别行政区", "澳门特别行政区"})
_OUTSIDE_MAINLAND = frozenset({"香港特别行政区", "澳门特别行政区", "台湾省"})
TIER1 = frozenset("北京 上海 广州 深圳".split())
TIER2 = frozenset("成都 杭州 重庆 武汉 苏州 西安 南京 长沙 郑州 天津 合肥 青岛 东莞 宁波 佛山".split())
TIER3 = frozenset(
    "昆明 沈阳 济南 无锡 厦门 福州 温州 金华 哈尔滨 大连 贵阳 南宁 泉州 石家庄 长春 南昌 惠州 常州 嘉兴 徐州 "
    "南通 太原 保定 珠海 中山 兰州 临沂 潍坊 烟台 绍兴".split()
)
_ETHNIC = (
    "蒙古 回 藏 维吾尔 苗 彝 壮 布依 朝鲜 满 侗 瑶 白 土家 哈尼 哈萨克 傣 黎 傈僳 佤 畲 高山 拉祜 水 东乡 纳西 景颇 "
    "柯尔克孜 土 达斡尔 仫佬 羌 布朗 撒拉 毛南 仡佬 锡伯 阿昌 普米 塔吉克 怒 乌孜别克 俄罗斯 鄂温克 德昂 保安 裕固 "
    "京 塔塔尔 独龙 鄂伦春 赫哲 门巴 珞巴 基诺"
).split()
_COUNTRY = ("中华人民共和国", "中国大陆", "中国")

# Whitespace as both regex engines agree on it; separators allowed between administrative names.
WS = r"[ \t\r\n\f\v\u00a0\u3000]"
_SEP_CHARS = " \t\r\n\f\v\u00a0\u3000,，、/-"
_SEP = r"[ \t\r\n\f\v\u00a0\u3000,，、/\-]*"
_FULLWIDTH = [chr(c) for c in range(0xFF01, 0xFF5F)] + ["\u3000"]
_HALFWIDTH = [chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)] + [" "]
_MARK = "\ue000"  # private-use character that starts a token marker in parse_addresses
_FULLWIDTH.append(_MARK)
_HALFWIDTH.append("")
_TRANSLATE = str.maketrans(dict(zip(_FULLWIDTH, _HALFWIDTH, strict=True)))


@dataclass(frozen=True)
class Address:
    province: str | None = None
    city: str | None = None
    district: str | None = None
    street: str | None = None
    city_tier: int | None = None


@dataclass
class _Gazetteer:
    province_of_city: dict[str, str]
    districts: dict[str, set[str]]  # city -> districts
    province_names: dict[str, str]  # full or short -> full
    city_names: dict[str, list[str]]  # full or short -> cities
    district_names: dict[str, list[tuple[str, str]]]  # full -> [(city, district)]
    district_short: dict[str, list[tuple[str, str]]]  # short -> [(city, district)]; given columns only
    tokens: list[str]  # every name, longest first (the order both tokenisers prefer)
    token_set: frozenset[str]
    lengths_by_first_char: dict[str, tuple[int, ...]]  # longest first


def _strip_ethnic(name: str, suffix: str) -> str:
    base = name.removesuffix(suffix)
    while True:  # 黔南布依族苗族 → 黔南
        for e in _ETHNIC:
            if base.endswith(e + "族") and len(base) > len(e) + 2:
                base = base[: -len(e) - 1]
                break
        else:
            return base


def _province_short(p: str) -> str:
    for suffix in ("特别行政区", "自治区", "省", "市"):
        if p.endswith(suffix):
            p = p.removesuffix(suffix)
            break
    return re.sub("(壮族|回族|维吾尔)$", "", p)


def _city_shorts(c: str) -> list[str]:
    if c.endswith("自治州"):
        base = _strip_ethnic(c, "自治州")
        return [base, base + "州"]
    for suffix in ("地区", "林区", "市", "盟"):
        if c.endswith(suffix) and len(c) - len(suffix) >= 2:
            return [c.removesuffix(suffix)]
    return []


def _district_shorts(d: str) -> list[str]:
    if d.endswith(("自治县", "自治旗")):
        base = _strip_ethnic(d, d[-3:])
        return [base, base + d[-1]]
    for suffix in ("新区", "区", "县", "市", "旗"):
        if d.endswith(suffix) and len(d) - len(suffix) >= 2:
            return [d.removesuffix(suffix)]
    return []


@cache
def _gazetteer() -> _Gazetteer:
    province_of_city: dict[str, str] = {}
    districts: dict[str, set[str]] = {}
    for line in _DATA.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        province, city, ds = line.split("\t")
        province_of_city[city] = province
        districts[city] = set(ds.split("|")) if ds else set()
    province_names: dict[str, str] = {}
    for p in set(province_of_city.values()):
        province_names[p] = p
        province_names[_province_short(p)] = p
    city_names: dict[str, list[str]] = {}
    for c in province_of_city:
        for name in (c, *_city_shorts(c)):
            if c not in city_names.setdefault(name, []):
                city_names[name].append(c)
    district_names: dict[str, list[tuple[str, str]]] = {}
    district_short: dict[str, list[tuple[str, str]]] = {}
    for c, ds in districts.items():
        for d in ds:
            district_names.setdefault(d, []).append((c, d))
            for s in _district_shorts(d):
                district_short.setdefault(s, []).append((c, d))
    tokens = sorted(
        set(province_names) | set(city_names) | set(district_names) | set(_COUNTRY),
        key=lambda t: (-len(t), t),
    )
    assert len(tokens) < 10_000  # markers carry 4 digits
    lengths: dict[str, set[int]] = {}
    for t in tokens:
        lengths.setdefault(t[0], set()).add(len(t))
    return _Gazetteer(
        province_of_city, districts, province_names, city_names, district_names, district_short, tokens,
        frozenset(tokens), {k: tuple(sorted(v, reverse=True)) for k, v in lengths.items()},
    )  # fmt: skip


_sep_regex = re.compile(_SEP)
_MAX_TOKENS = 6


def _tokens(t: str) -> list[tuple[str, int, bool]]:
    """The head of t: (name, end including separators, separator follows) for up to 6 leading names.

    At each position the longest name wins; polars' leftmost-first Aho-Corasick over the same longest-first
    list (parse_addresses) finds exactly these tokens.
    """
    g = _gazetteer()
    out: list[tuple[str, int, bool]] = []
    pos = 0
    while len(out) < _MAX_TOKENS and pos < len(t):
        for n in g.lengths_by_first_char.get(t[pos], ()):
            if (name := t[pos : pos + n]) in g.token_set:
                break
        else:
            break
        end = _sep_regex.match(t, pos + len(name)).end()
        out.append((name, end, end > pos + len(name)))
        pos = end
    return out


def city_tier(city: str | None) -> int | None:
    g = _gazetteer()
    if city is None or city not in g.province_of_city or g.province_of_city[city] in _OUTSIDE_MAINLAND:
        return None
    short = city.removesuffix("市")
    if short in TIER1:
        return 1
    if short in TIER2:
        return 2
    if short in TIER3:
        return 3
    # A city with no districts is a county-level city run by its province (except the four town-based ones).
    return 4 if g.districts[city] else 5


def _prepare(s: str) -> str:
    # Leading separators go too, so that parsing a parsed street finds nothing new in it.
    return re.sub(f"{WS}+", " ", s.translate(_TRANSLATE)).strip(" ").lstrip(_SEP_CHARS)


def _street(rest: str) -> str | None:
    # No leading separators to strip: the text has none, and a name's end includes the ones after it.
    return rest if rest.strip("* ") else None


def parse_address(
    s: str | None, province: str | None = None, city: str | None = None, district: str | None = None
) -> Address:
    text = _prepare(s) if s is not None else ""
    p, c, d, consumed = _resolve(tuple(_tokens(text)), _given(province), _given(city), _given(district))
    return Address(p, c, d, _street(text[consumed:]), city_tier(c))


def _given(v: str | None) -> str | None:
    if v is None:
        return None
    v = _prepare(v)
    return v or None


Token = tuple[str, int, bool]  # (name, end including the separators after it, a separator follows)


@lru_cache(maxsize=200_000)
def _resolve(
    tokens: tuple[Token, ...], given_p: str | None, given_c: str | None, given_d: str | None
) -> tuple[str | None, str | None, str | None, int]:
    """(province, city, district, characters of the text consumed by the names used)."""
    g = _gazetteer()
    of = g.province_of_city
    p, c, d = _resolve_given(given_p, given_c, given_d)
    i, consumed, n = 0, 0, len(tokens)

    def confirmed_by_next(province: str | None, cities: list[str] | None) -> bool:
        """A short form counts when the next name lies inside it (广东 深圳, 深圳 南山区)."""
        if i + 1 >= n:
            return False
        nxt = tokens[i + 1][0]
        if any(province is None or of[x] == province for x in g.city_names.get(nxt, ())):
            return True
        return any(
            (cities is None or cc in cities) and (province is None or of[cc] == province)
            for cc, _ in g.district_names.get(nxt, ())
        )

    if i < n and tokens[i][0] in _COUNTRY:
        i, consumed = i + 1, tokens[i][1]
    if i < n and tokens[i][0] in g.province_names:  # province
        name, end, sep = tokens[i]
        full = g.province_names[name]
        if (p is None or p == full) and (name == full or sep or confirmed_by_next(full, None)):
            p, i, consumed = full, i + 1, end
    if i < n and tokens[i][0] in g.city_names:  # city
        name, end, sep = tokens[i]
        options = [x for x in g.city_names[name] if (p is None or of[x] == p) and (c is None or x == c)]
        if len(options) == 1 and (name in of or sep or p is not None or confirmed_by_next(None, options)):
            c, i, consumed = options[0], i + 1, end
    if c is None and p in MUNICIPALITIES:
        c = p
    if i < n and tokens[i][0] in g.district_names:  # district: full names only
        name, end, _ = tokens[i]
        options = [
            (cc, dd)
            for cc, dd in g.district_names[name]
            if (cc == c if c is not None else p is None or of[cc] == p) and (d is None or dd == d)
        ]
        if len(options) == 1:
            (c, d), consumed = options[0], end
    if c is not None and p is None and c in of:
        p = of[c]
    return p, c, d, consumed


@lru_cache(maxsize=20_000)
def _resolve_given(
    gp: str | None, gc: str | None, gd: str | None
) -> tuple[str | None, str | None, str | None]:
    """Canonical names for separately given columns; unknown values are kept as given."""
    g = _gazetteer()
    p = g.province_names.get(gp, gp) if gp else None
    c = None
    if gc:
        options = [x for x in g.city_names.get(gc, []) if p is None or g.province_of_city[x] == p]
        if not options and p in MUNICIPALITIES and gc in ("市辖区", "县", "市"):
            options = [p]
        c = options[0] if len(options) == 1 else gc
    elif p in MUNICIPALITIES:
        c = p
    d = None
    if gd:
        options = g.district_names.get(gd, []) or g.district_short.get(gd, [])
        if c is not None:
            options = [o for o in options if o[0] == c]
        elif p is not None:
            options = [o for o in options if g.province_of_city[o[0]] == p]
        if len(options) == 1:
            c, d = options[0]
        else:
            d = gd
    if c is not None and p is None and c in g.province_of_city:
        p = g.province_of_city[c]
    return p, c, d


ADDRESS_COLUMNS = ("province", "city", "district", "street", "city_tier")
_marker = re.compile(f"{_MARK}([0-9]{{4}})({_SEP})")


def parse_addresses(
    address: pl.Series,
    province: pl.Series | None = None,
    city: pl.Series | None = None,
    district: pl.Series | None = None,
) -> pl.DataFrame:
    """Columns province, city, district, street (String), city_tier (Int8); one row per input row."""
    g = _gazetteer()
    text = _prepare_series(address.cast(pl.String)).fill_null("")
    given = {
        k: _prepare_series(v.cast(pl.String)).replace("", None)
        for k, v in (("gp", province), ("gc", city), ("gd", district))
        if v is not None
    }
    # Each name becomes MARK + its 4-digit index (leftmost-first over the longest-first list, as _tokens
    # does); the head is then a small regex over markers and separators.
    head = (
        text.str.replace_many(g.tokens, [f"{_MARK}{i:04d}" for i in range(len(g.tokens))], leftmost=True)
        .str.extract(f"^(?:{_MARK}[0-9]{{4}}{_SEP}){{1,{_MAX_TOKENS}}}", 0)
        .fill_null("")
    )
    frame = pl.DataFrame({"text": text, "head": head, **given})
    key_cols = ["head", *given]
    # Group on a 64-bit hash (much cheaper than string keys); collisions are checked below.
    frame = frame.with_columns(key=pl.struct(key_cols).hash() if given else pl.col("head").hash())
    reps = frame.select("key", *key_cols).unique("key", keep="any")
    resolved = []
    for row in reps.select(key_cols).iter_rows():
        values = dict(zip(key_cols, row, strict=True))
        resolved.append(
            _resolve(_unmark(values["head"]), values.get("gp"), values.get("gc"), values.get("gd"))
        )
    table = reps.select(
        "key",
        *(pl.col(k).alias(f"{k}_rep") for k in key_cols),
        province=pl.Series([r[0] for r in resolved], dtype=pl.String),
        city=pl.Series([r[1] for r in resolved], dtype=pl.String),
        district=pl.Series([r[2] for r in resolved], dtype=pl.String),
        consumed=pl.Series([r[3] for r in resolved], dtype=pl.Int64),
        city_tier=pl.Series([city_tier(r[1]) for r in resolved], dtype=pl.Int8),
    )
    out = frame.join(table, on="key", how="left", maintain_order="left")
    street = pl.col("text").str.slice(pl.col("consumed"))
    result = out.select(
        "province",
        "city",
        "district",
        street=pl.when(street.str.contains(r"[^* ]")).then(street),  # a mask alone is no street
        city_tier="city_tier",
    )
    collided = out.select(pl.any_horizontal(pl.col(k).ne_missing(pl.col(f"{k}_rep")) for k in key_cols))
    for idx in collided.to_series().arg_true().to_list():  # practically never: recompute exactly
        args = [given[k][idx] if k in given else None for k in ("gp", "gc", "gd")]
        a = parse_address(address[idx], *args)
        result[idx, "province"], result[idx, "city"], result[idx, "district"] = a.province, a.city, a.district
        result[idx, "street"], result[idx, "city_tier"] = a.street, a.city_tier
    return result


def _unmark(head: str) -> tuple[Token, ...]:
    """Marker text back to the tokens _tokens would have produced on the original text."""
    tokens, out, end = _gazetteer().tokens, [], 0
    for m in _marker.finditer(head):
        name, sep = tokens[int(m.group(1))], m.group(2)
        end += len(name) + len(sep)
        out.append((name, end, bool(sep)))
    return tuple(out)


def _prepare_series(s: pl.Series) -> pl.Series:
    """Vectorised _prepare; the translation and whitespace passes run only on rows that need them."""
    fullwidth = s.str.contains_any(_FULLWIDTH).fill_null(False)
    if fullwidth.any():
        idx = fullwidth.arg_true()
        s = s.scatter(idx, s.gather(idx).str.replace_many(_FULLWIDTH, _HALFWIDTH))
    spaces = s.str.contains(r"[\t\r\n\f\v\u00a0\u3000]|  ").fill_null(False)
    if spaces.any():
        idx = spaces.arg_true()
        s = s.scatter(idx, s.gather(idx).str.replace_all(f"{WS}+", " "))
    return s.str.strip_chars(" ").str.strip_chars_start(_SEP_CHARS)
