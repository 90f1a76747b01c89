"""Phone numbers as the platforms export them: full mobiles, landlines, masks and virtual numbers.

Canonical values (`Phone.value`):
  mobile    +8613812345678                 prefix "138", tail "5678" (so a full number compares with a mask)
  landline  +861012345678, +862166666666;ext=123   (RFC 3966 style extension); tail = last 4 digits.
            Needs the area code (trunk 0 or +86); valid = phonenumbers' CN fixed-line pattern.
  masked    138****5678  (mobile masks are re-padded to 11 characters; other masks keep their stars)
  virtual   +8617012345678-1234  tail = the extension: the base number is shared by many buyers
  invalid   the cleaned input (NFKC, trimmed, inner whitespace collapsed)

normalise_phones is the vectorised form, in tiers: bare mobiles and `138****5678` masks by one regex each;
decorated ASCII forms (+86, spaces, dashes, x-masks, extensions, landlines) by polars regexes built from the
very same patterns as the scalar code; the rest (full-width digits, `#`/`ext` extensions, garbage) through
normalise_phone once per distinct value.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

import polars as pl

from siyu.ingest.normalise._bulk import patch_with_scalar

Kind = Literal["mobile", "landline", "masked", "virtual", "invalid"]

NULL_TOKENS = frozenset({"", "-", "--", "null", "NULL", "Null", "None", "none", "N/A", "n/a"})

# Shared by the scalar and the polars paths; written without look-around so Rust's regex accepts them.
_CC = r"(?:\+?86|0086)?"
VIRTUAL_RE = rf"^{_CC}-?(1[3-9][0-9]{{9}})[-~]([0-9]{{1,6}})$"
MOBILE_RE = rf"^{_CC}(1[3-9][0-9]{{9}})$"
MASKED_RE = rf"^{_CC}([0-9]*)([*xX×]+)([0-9]*)$"
_SEPARATORS = r"[\s().]"
# Extension markers become "~"; ";ext=" must come before "ext" so it is consumed whole.
_EXT_MARKERS = re.compile(r";ext=|转|分机|ext\.?|#|,", re.IGNORECASE)
# Input whose every character is in this set is handled by the polars fast path (NFKC leaves it unchanged).
_FAST_ALPHABET = r"^[0-9+\-*xX× ().转]+$"

_virtual = re.compile(VIRTUAL_RE)
_mobile = re.compile(MOBILE_RE)
_masked = re.compile(MASKED_RE)
_separators = re.compile(_SEPARATORS)


@dataclass(frozen=True)
class Phone:
    kind: Kind
    value: str
    tail: str | None = None  # last 4 visible digits (the extension for virtual numbers)
    prefix: str | None = None  # visible leading digits of a mask; first 3 digits of a mobile


def normalise_phone(s: str | None) -> Phone | None:
    if s is None:
        return None
    cleaned = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", s).strip())
    if cleaned in NULL_TOKENS:
        return None
    c = _EXT_MARKERS.sub("~", _separators.sub("", cleaned))
    if m := _virtual.match(c):
        base, ext = m.groups()
        return Phone("virtual", f"+86{base}-{ext}", tail=ext)
    d = c.replace("-", "")
    if m := _mobile.match(d):
        n = m.group(1)
        return Phone("mobile", f"+86{n}", tail=n[-4:], prefix=n[:3])
    if m := _masked.match(d):
        masked = _masked_phone(*m.groups())
        if masked is not None:
            return masked
    elif re.fullmatch(r"[0-9+\-~]+", c) and (landline := _landline(c)) is not None:
        return landline
    return Phone("invalid", cleaned)


def _masked_phone(p: str, stars: str, t: str) -> Phone | None:
    visible = len(p) + len(t)
    if visible == 0:
        return None
    if p == "" or p.startswith("1"):  # a mobile: 11 characters, whatever star count the platform used
        if visible > 10:
            return None
        middle = "*" * (11 - visible)
    else:  # a landline-like mask: its length is unknown, keep the stars
        middle = "*" * len(stars)
    return Phone("masked", p + middle + t, tail=t[-4:] if len(t) >= 4 else None, prefix=p or None)


def _fixed_line_re() -> str:
    """phonenumbers' own CN fixed-line pattern: matching it equals is_valid_number + FIXED_LINE type."""
    import phonenumbers

    return f"^(?:{phonenumbers.PhoneMetadata.metadata_for_region('CN').fixed_line.national_number_pattern})$"


FIXED_LINE_RE = _fixed_line_re()
# The national number of a landline: after +86/0086 (and an optional trunk 0), or after the trunk 0.
LANDLINE_RE = r"^(?:(?:\+86|0086)0?|0)([1-9][0-9]{8,10})$"
_fixed_line = re.compile(FIXED_LINE_RE)
_landline_re = re.compile(LANDLINE_RE)


def _landline(c: str) -> Phone | None:
    base, _, ext = c.partition("~")
    candidates = [(base, ext)]
    if not ext and "-" in base:  # "021-66666666-123": the last dash may start an extension
        head, _, last = base.rpartition("-")
        candidates.append((head, last))
    for number, ext in candidates:
        if ext and not re.fullmatch(r"[0-9]{1,6}", ext):
            continue
        m = _landline_re.match(number.replace("-", ""))
        if m and _fixed_line.match(national := m.group(1)):
            return Phone("landline", f"+86{national}" + (f";ext={ext}" if ext else ""), tail=national[-4:])
    return None


PHONE_COLUMNS = ("phone", "phone_kind", "phone_tail", "phone_prefix")


def normalise_phones(series: pl.Series) -> pl.DataFrame:
    """Columns phone, phone_kind, phone_tail, phone_prefix (all String); null in, nulls out."""
    s = series.cast(pl.String).rename("raw")
    frame = s.to_frame().with_columns(
        phone=pl.lit(None, pl.String),
        phone_kind=pl.lit(None, pl.String),
        phone_tail=pl.lit(None, pl.String),
        phone_prefix=pl.lit(None, pl.String),
    )
    # Tier 1: the bare shapes most rows have, one cheap regex each.
    plain = s.str.contains(r"^1[3-9][0-9]{9}$").fill_null(False)
    mask = s.str.contains(r"^1[0-9]{2}\*{4}[0-9]{4}$").fill_null(False)
    frame = frame.with_columns(
        phone=pl.when(plain).then(pl.lit("+86") + pl.col("raw")).when(mask).then(pl.col("raw")),
        phone_kind=pl.when(plain).then(pl.lit("mobile")).when(mask).then(pl.lit("masked")),
        phone_tail=pl.when(plain | mask).then(pl.col("raw").str.slice(-4)),
        phone_prefix=pl.when(plain | mask).then(pl.col("raw").str.slice(0, 3)),
    )
    # Tier 2: decorated ASCII forms (+86, spaces, dashes, x-masks, extensions) with the scalar's regexes.
    todo = ~plain & ~mask & s.is_not_null()
    idx = todo.arg_true()
    if idx.len():
        decided = _decorated(s.gather(idx))
        frame = frame.with_columns(frame[k].scatter(idx, decided[k]) for k in PHONE_COLUMNS)
        todo = frame["phone_kind"].is_null() & s.is_not_null()
    # Tier 3: landlines, full-width digits, garbage: the scalar, once per distinct value.
    frame = patch_with_scalar(frame, todo, "raw", _as_row, dict.fromkeys(PHONE_COLUMNS, pl.String))
    return frame.select(PHONE_COLUMNS)


def _as_row(raw: str) -> tuple[str | None, ...]:
    p = normalise_phone(raw)
    return (None,) * 4 if p is None else (p.value, p.kind, p.tail, p.prefix)


def _decorated(s: pl.Series) -> pl.DataFrame:
    """Tier 2 of normalise_phones; rows it cannot decide come back null."""
    c = pl.col("raw").str.replace_all(_SEPARATORS, "").str.replace_all("转", "~", literal=True)
    frame = (
        s.to_frame("raw")
        .with_columns(fast=pl.col("raw").str.contains(_FAST_ALPHABET), c=c)
        .with_columns(d=pl.col("c").str.replace_all("-", "", literal=True))
        .with_columns(
            v=pl.col("c").str.extract_groups(VIRTUAL_RE),
            mob=pl.col("d").str.extract(MOBILE_RE, 1),
            msk=pl.col("d").str.extract_groups(MASKED_RE),
        )
        .with_columns(
            v_base=pl.col("v").struct.field("1"),
            v_ext=pl.col("v").struct.field("2"),
            m_p=pl.col("msk").struct.field("1"),
            m_s=pl.col("msk").struct.field("2").str.replace_all("[xX×]", "*"),
            m_t=pl.col("msk").struct.field("3"),
        )
        .with_columns(m_vis=pl.col("m_p").str.len_chars() + pl.col("m_t").str.len_chars())
    )
    # Landline candidates, in the scalar's order: explicit extension; whole number; last dash group as ext.
    explicit = pl.col("c").str.extract_groups(r"^([0-9+\-]+)~([0-9]{1,6})$")
    split = pl.col("c").str.extract_groups(r"^([0-9+\-]*)-([0-9]{1,6})$")
    national = lambda e: e.str.replace_all("-", "", literal=True).str.extract(LANDLINE_RE, 1)  # noqa: E731
    valid = lambda e: pl.when(e.str.contains(FIXED_LINE_RE)).then(e)  # noqa: E731
    frame = frame.with_columns(
        l_explicit=valid(national(explicit.struct.field("1"))),
        l_explicit_ext=explicit.struct.field("2"),
        l_whole=pl.when(pl.col("c").str.contains(r"^[0-9+\-]+$")).then(valid(national(pl.col("c")))),
        l_split=pl.when(pl.col("c").str.contains(r"^[0-9+\-]+$")).then(
            valid(national(split.struct.field("1")))
        ),
        l_split_ext=split.struct.field("2"),
    )
    l_national = pl.coalesce("l_explicit", "l_whole", "l_split")
    l_ext = (
        pl.when(pl.col("l_explicit").is_not_null())
        .then(pl.col("l_explicit_ext"))
        .when(pl.col("l_whole").is_null())
        .then(pl.col("l_split_ext"))
    )
    mobile_like = (pl.col("m_p") == "") | pl.col("m_p").str.starts_with("1")
    masked_ok = (pl.col("m_vis") >= 1) & ~(mobile_like & (pl.col("m_vis") > 10))
    is_v = pl.col("fast") & pl.col("v_base").is_not_null()
    is_m = pl.col("fast") & ~is_v & pl.col("mob").is_not_null()
    is_k = pl.col("fast") & ~is_v & ~is_m & pl.col("m_p").is_not_null() & masked_ok
    is_l = pl.col("fast") & ~is_v & ~is_m & pl.col("m_p").is_null() & l_national.is_not_null()
    stars = (
        pl.when(mobile_like)
        .then(pl.lit("*" * 11).str.slice(0, 11 - pl.col("m_vis")))
        .otherwise(pl.col("m_s"))
    )
    return frame.select(
        phone=pl.when(is_v)
        .then(pl.concat_str([pl.lit("+86"), pl.col("v_base"), pl.lit("-"), pl.col("v_ext")]))
        .when(is_m)
        .then(pl.lit("+86") + pl.col("mob"))
        .when(is_k)
        .then(pl.concat_str([pl.col("m_p"), stars, pl.col("m_t")]))
        .when(is_l)
        .then(pl.concat_str([pl.lit("+86"), l_national, pl.lit(";ext=") + l_ext], ignore_nulls=True)),
        phone_kind=pl.when(is_v)
        .then(pl.lit("virtual"))
        .when(is_m)
        .then(pl.lit("mobile"))
        .when(is_k)
        .then(pl.lit("masked"))
        .when(is_l)
        .then(pl.lit("landline")),
        phone_tail=pl.when(is_v)
        .then(pl.col("v_ext"))
        .when(is_m)
        .then(pl.col("mob").str.slice(-4))
        .when(is_k & (pl.col("m_t").str.len_chars() >= 4))
        .then(pl.col("m_t").str.slice(-4))
        .when(is_l)
        .then(l_national.str.slice(-4)),
        phone_prefix=pl.when(is_m)
        .then(pl.col("mob").str.slice(0, 3))
        .when(is_k & (pl.col("m_p") != ""))
        .then(pl.col("m_p")),
    )
