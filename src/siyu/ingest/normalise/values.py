"""Small value normalisers: gender, birthday, email, amount, local time.

Conventions a caller relies on:
- Missing (None, "", "-", "null"…) is None everywhere, never an error.
- gender: "M" / "F" / None; 1 = M and 2 = F as in the WeCom API, 0 / 未知 / anything unrecognised = None.
- parse_birthday: None for missing or year-less dates (`05-06`, `5月6日`: no date can be stored for them);
  ValueError for impossible (2023-02-30), future or pre-1900 dates and unreadable text.
- normalise_email: None for missing or invalid (callers report the invalid ones).
- parse_amount: Decimal with 2 places (ROUND_HALF_UP); ValueError with a reason for non-numbers.
- parse_local_time: China local time → aware UTC datetime; an explicit offset (`Z`, `+08:00`) is honoured.
Bulk forms return (values, errors): errors is a String Series, null where the value parsed or was missing.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

import polars as pl

from siyu.ingest.normalise._bulk import patch_with_scalar

NULL_TOKENS = frozenset({"", "-", "--", "null", "NULL", "Null", "None", "none", "N/A", "n/a"})
CHINA = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC


def _clean(s: str | None) -> str | None:
    if s is None:
        return None
    t = unicodedata.normalize("NFKC", s).strip()
    return None if t in NULL_TOKENS else t


def _value_or_error(fn):
    """Wrap a raising scalar parser as raw -> (value, error reason)."""

    def call(raw: str) -> tuple[object, str | None]:
        try:
            return fn(raw), None
        except ValueError as e:
            return None, str(e)

    return call


def _cached_bulk(series: pl.Series, fn, dtype: pl.DataType) -> tuple[pl.Series, pl.Series]:
    """Apply a raising scalar parser once per unique value."""
    frame = pl.DataFrame({"raw": series.cast(pl.String), "value": None, "error": None}).cast(
        {"value": dtype, "error": pl.String}
    )
    frame = patch_with_scalar(
        frame, frame["raw"].is_not_null(), "raw", _value_or_error(fn), {"value": dtype, "error": pl.String}
    )
    return frame["value"].rename(series.name), frame["error"].rename(f"{series.name}_error")


# --- gender ----------------------------------------------------------------------------------------------

_GENDERS = {
    **dict.fromkeys(["男", "男性", "男士", "先生", "m", "male", "man", "1", "boy", "帅哥"], "M"),
    **dict.fromkeys(["女", "女性", "女士", "小姐", "f", "female", "woman", "2", "girl", "美女"], "F"),
}


def normalise_gender(s: str | None) -> str | None:
    t = _clean(s)
    return None if t is None else _GENDERS.get(t.lower())


def normalise_genders(series: pl.Series) -> pl.Series:
    """M / F / null; few distinct values, so the scalar runs once per value."""
    s = series.cast(pl.String)
    mapping = {v: normalise_gender(v) for v in s.drop_nulls().unique().to_list()}
    return s.replace_strict(mapping, default=None, return_dtype=pl.String).rename(series.name)


# --- birthday --------------------------------------------------------------------------------------------

_FULL_DATE = re.compile(
    r"(\d{4})\s*(?:[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?|(\d{2})(\d{2}))(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?"
)
_YEARLESS = re.compile(r"(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")


# Western files write 05/06/1994: May 6th in the US, 5 June in Europe and Australia (see day_month_order).
_DAY_MONTH_YEAR = re.compile(r"(\d{1,2})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{4})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?")


def parse_birthday(s: str | None, today: dt.date | None = None, order: str | None = None) -> dt.date | None:
    """A birthday written year first (1994-05-06, 1994年5月6日, 19940506); with `order` "mdy" or "dmy" also
    one written 05/06/1994 in that order."""
    t = _clean(s)
    if t is None:
        return None
    if m := _FULL_DATE.fullmatch(t):
        y, mo, d, mo8, d8 = m.groups()
        return _birthday(s, y, mo or mo8, d or d8, today)
    if m := _DAY_MONTH_YEAR.fullmatch(t):
        first, second, y = m.groups()
        if order or int(first) == int(second):  # 03/03/1990 needs no order
            return _birthday(s, y, *((first, second) if order != "dmy" else (second, first)), today)
    if _YEARLESS.fullmatch(t):
        return None  # month and day only: nothing storable as a date
    raise ValueError(f"not a date: {s!r}")


def _birthday(s: str, y: str, mo: str, d: str, today: dt.date | None) -> dt.date:
    try:
        value = dt.date(int(y), int(mo), int(d))
    except ValueError:
        raise ValueError(f"not a real date: {s!r}") from None
    if value.year < 1900:
        raise ValueError(f"birthday before 1900: {s!r}")
    if value > (today or dt.date.today()):
        raise ValueError(f"birthday in the future: {s!r}")
    return value


def day_month_order(values: list[str], counts: list[int] | None = None) -> str | None:
    """How a column writes its NN/NN/YYYY dates: "dmy" when values whose first part is above 12 (a day)
    outnumber those whose second part is by DATE_ORDER_MAJORITY to one (a few typed the other way, or
    with day and month swapped, stay unreadable), "mdy" the other way round; None when no value tells or
    neither convention dominates (no date of the column can be read safely)."""
    day_first = month_first = 0
    for value, count in zip(values, counts or [1] * len(values), strict=True):
        if m := _DAY_MONTH_YEAR.fullmatch(value.strip()):
            first, second = int(m.group(1)), int(m.group(2))
            day_first += count * (first > 12 >= second)
            month_first += count * (second > 12 >= first)
    if day_first and day_first >= DATE_ORDER_MAJORITY * month_first:
        return "dmy"
    if month_first and month_first >= DATE_ORDER_MAJORITY * day_first:
        return "mdy"
    return None


DATE_ORDER_MAJORITY = 10


def parse_birthday_column(series: pl.Series) -> pl.Series:
    """parse_birthday over a column (once per distinct value), with the day/month order of the column
    (day_month_order); an unreadable value becomes null (a birthday is optional)."""
    today = dt.date.today()
    counted = series.cast(pl.String).drop_nulls().value_counts()
    uniques = counted.get_column(counted.columns[0]).to_list()
    order = day_month_order(uniques, counted.get_column("count").to_list())
    mapping = {}
    for value in uniques:
        try:
            mapping[value] = parse_birthday(value, today, order)
        except ValueError:
            mapping[value] = None
    return series.cast(pl.String).replace_strict(mapping, default=None, return_dtype=pl.Date)


def parse_birthdays(series: pl.Series) -> tuple[pl.Series, pl.Series]:
    today = dt.date.today()
    return _cached_bulk(series, lambda v: parse_birthday(v, today), pl.Date)


# --- email -----------------------------------------------------------------------------------------------

EMAIL_RE = r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]+@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$"
_email = re.compile(EMAIL_RE)


def normalise_email(s: str | None) -> str | None:
    t = _clean(s)
    if t is None:
        return None
    t = t.lower()
    return t if _email.match(t) else None


def normalise_emails(series: pl.Series) -> pl.Series:
    s = series.cast(pl.String).rename("raw")
    # Printable ASCII without spaces: NFKC and strip change nothing, so polars can do the scalar's work.
    fast = pl.col("raw").str.contains(r"^[!-~]+$")
    low = pl.col("raw").str.to_lowercase()
    out = s.to_frame().with_columns(
        fast=fast,
        value=pl.when(fast & low.str.contains(EMAIL_RE) & ~pl.col("raw").is_in(NULL_TOKENS)).then(low),
    )
    out = patch_with_scalar(
        out,
        ~out["fast"] & out["raw"].is_not_null(),
        "raw",
        lambda v: (normalise_email(v),),
        {"value": pl.String},
    )
    return out["value"].rename(series.name)


# --- amount ----------------------------------------------------------------------------------------------

_AMOUNT_DECORATION = r"(?i)\s|,|¥|￥|RMB|CNY|元"
_AMOUNT_FAST = r"^[+-]?[0-9]{1,16}(?:\.[0-9]{0,2})?$"  # exact in DECIMAL(18,2): no rounding needed
_CENT = Decimal("0.01")
_AMOUNT_LIMIT = Decimal(10) ** 16


def parse_amount(s: str | None) -> Decimal | None:
    t = _clean(s)
    if t is None:
        return None
    u = re.sub(_AMOUNT_DECORATION, "", t)
    if not re.fullmatch(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", u):
        raise ValueError(f"not an amount: {s!r}")
    try:
        value = Decimal(u).quantize(_CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise ValueError(f"not an amount: {s!r}") from None
    if abs(value) >= _AMOUNT_LIMIT:
        raise ValueError(f"amount too large: {s!r}")
    return value


def parse_amounts(series: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(Decimal(18,2) Series, error reasons); `¥1,234.50 元` style text is handled by polars directly."""
    s = series.cast(pl.String).rename("raw")
    u = pl.col("raw").str.replace_all(_AMOUNT_DECORATION, "")
    fast = pl.col("raw").str.contains(r"^[ -~¥￥元]+$") & u.str.contains(_AMOUNT_FAST)
    out = s.to_frame().with_columns(fast=fast.fill_null(False), u=u)
    out = out.with_columns(
        value=pl.when("fast").then(pl.col("u")).cast(pl.Decimal(18, 2)), error=pl.lit(None, pl.String)
    )
    out = patch_with_scalar(
        out,
        ~out["fast"] & out["raw"].is_not_null(),
        "raw",
        _value_or_error(parse_amount),
        {"value": pl.Decimal(18, 2), "error": pl.String},
    )
    return out["value"].rename(series.name), out["error"].rename(f"{series.name}_error")


# --- local time ------------------------------------------------------------------------------------------

# Y-M-D with - / or . ; optional time H:MM[:SS[.ffffff]] after a space or T. Shared by both paths.
TIME_RE = (
    r"^([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})"
    r"(?:[ T]([0-9]{1,2}):([0-9]{1,2})(?::([0-9]{1,2})(?:\.([0-9]{1,6}))?)?)?$"
)
_time = re.compile(TIME_RE)
# A date written without separators (CDNOW's 19970101), optionally followed by a time: read as 1997-01-01.
_COMPACT_DATE = r"^([0-9]{4})([0-9]{2})([0-9]{2})([ T].*)?$"
_OFFSET = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")


def parse_local_time(s: str | None) -> dt.datetime | None:
    """China local time (or an explicit offset) → aware UTC datetime; None for missing."""
    t = _clean(s)
    if t is None:
        return None
    t = re.sub(_COMPACT_DATE, r"\1-\2-\3\4", re.sub(r"\s+", " ", t))
    if "年" in t and "月" in t:  # 2024年1月2日 10:00
        t = re.sub(r"\s+", " ", t.replace("年", "-").replace("月", "-").replace("日", " ")).strip()
    if m := _time.match(t):
        y, mo, d, h, mi, sec, frac = m.groups()
        try:
            local = dt.datetime(
                int(y),
                int(mo),
                int(d),
                int(h or 0),
                int(mi or 0),
                int(sec or 0),
                int((frac or "0").ljust(6, "0")),
            )
        except ValueError:
            raise ValueError(f"impossible date/time: {s!r}") from None
        utc = local.replace(tzinfo=CHINA).astimezone(UTC)
        if utc.astimezone(CHINA).replace(tzinfo=None) != local:  # skipped by a DST change (1986-1991)
            raise ValueError(f"impossible date/time: {s!r}")
        return utc
    if _OFFSET.search(t):
        try:
            return dt.datetime.fromisoformat(t).astimezone(UTC)
        except ValueError:
            pass
    raise ValueError(f"not a date/time: {s!r}")


def parse_local_times(series: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(Datetime(us, UTC) Series, error reasons), vectorised with polars regex and strptime."""
    raw = series.cast(pl.String).rename("raw")
    s = raw.str.replace(_COMPACT_DATE, "${1}-${2}-${3}${4}")
    # Tier 1: the exact `YYYY-MM-DD HH:MM:SS` most exports use parses straight away.
    exact = s.str.contains(r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$").fill_null(False)
    plausible = (s.str.slice(17, 2) < "60") & (s.str.slice(0, 4) != "0000")
    local = (
        pl.DataFrame({"raw": s, "ok": exact & plausible})
        .select(
            pl.when("ok").then(pl.col("raw").str.to_datetime(_CANONICAL[:17], time_unit="us", strict=False))
        )
        .to_series()
    )
    matched = exact
    # Tier 2: the other shapes of TIME_RE (shared with the scalar), normalised to one canonical string.
    idx = (~exact & s.is_not_null()).arg_true()
    if idx.len():
        sub_matched, sub_local = _general_local_times(s.gather(idx))
        local, matched = local.scatter(idx, sub_local), matched.scatter(idx, sub_matched)
    utc = local.dt.replace_time_zone("Asia/Shanghai", ambiguous="earliest", non_existent="null")
    out = pl.DataFrame({"raw": raw, "matched": matched, "value": utc.dt.convert_time_zone("UTC")}).with_columns(
        error=pl.when(pl.col("matched") & pl.col("value").is_null()).then(
            pl.format("impossible date/time: '{}'", pl.col("raw"))
        )
    )
    # Tier 3: offsets, 年月日 and garbage through the scalar, once per distinct value.
    out = patch_with_scalar(
        out,
        ~out["matched"] & out["raw"].is_not_null(),
        "raw",
        _value_or_error(parse_local_time),
        {"value": pl.Datetime("us", "UTC"), "error": pl.String},
    )
    return out["value"].rename(series.name), out["error"].rename(f"{series.name}_error")


_CANONICAL = "%Y-%m-%d %H:%M:%S%.f"


def _general_local_times(s: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(matched TIME_RE, naive local datetime or null when impossible) for each value."""
    # Groups 1-7: year, month, day, hour, minute, second, fraction.
    frame = s.str.extract_groups(TIME_RE).struct.unnest()
    part = lambda i, width: pl.col(str(i)).fill_null("0").str.zfill(width)  # noqa: E731
    canonical = pl.concat_str(
        [part(1, 4), pl.lit("-"), part(2, 2), pl.lit("-"), part(3, 2), pl.lit(" "), part(4, 2), pl.lit(":"),
         part(5, 2), pl.lit(":"), part(6, 2), pl.lit("."), pl.col("7").fill_null("0").str.pad_end(6, "0")]
    )  # fmt: skip
    # chrono accepts a leap second and year 0; Python's datetime (the scalar path) does not
    plausible = (pl.col("6").cast(pl.Int32).fill_null(0) < 60) & (pl.col("1") != "0000")
    out = frame.select(
        matched=pl.col("1").is_not_null(),
        local=pl.when(plausible).then(canonical.str.to_datetime(_CANONICAL, time_unit="us", strict=False)),
    )
    return out["matched"], out["local"]
