"""Person names: full-width to half-width, whitespace, middle dots, masks (`张*`, `*三`) and the surname.

Surname rules: a CJK name of 2+ characters starts with its surname (a compound one such as 欧阳 when the
name has 3+ characters); a Latin name ends with it. Transliterated names with a middle dot (买买提·艾力) and
single characters have no surname we can trust, so `surname` is None. A masked first character (`*三`) hides
the surname: None.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import polars as pl

from siyu.ingest.normalise._bulk import patch_with_scalar

COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 轩辕 令狐 钟离 闾丘 端木 百里 东郭 "
    "南宫 西门 独孤 万俟 澹台 公冶 太史 申屠 濮阳 淳于 单于 赫连 呼延 司空 司寇 仲孙 第五 梁丘 左丘 "
    "拓跋 完颜 亓官 巫马 公良 谷梁 宰父 微生 羊舌 东门 乐正 漆雕 壤驷 夹谷 段干 呼延 欧侯".split()
)
NULL_TOKENS = frozenset({"", "-", "--", "null", "NULL", "Null", "None", "none", "N/A", "n/a"})

_DOTS = re.compile(r"\s*[·•・‧∙⋅]\s*")  # NFKC maps the full-width and half-width katakana dots onto these
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ebef"
_CJK_SPACE = re.compile(rf"(?<=[{_CJK}*])\s+(?=[{_CJK}*])")  # "张 三" is 张三; spaces only split Latin names
_CJK_NAME = re.compile(rf"[{_CJK}*]+")
_LATIN_NAME = re.compile(r"[A-Za-z\u00c0-\u024f*][A-Za-z\u00c0-\u024f*'\-. ]*")
# Polars fast path: plain CJK (basic block) names with optional `*` masks, nothing to normalise.
_FAST_CJK = r"^[\u4e00-\u9fff*]+$"


@dataclass(frozen=True)
class Name:
    value: str
    masked: bool
    visible: str  # the characters that are not masked
    surname: str | None
    given: str | None


def normalise_name(s: str | None) -> Name | None:
    if s is None:
        return None
    v = unicodedata.normalize("NFKC", s).strip()
    if v in NULL_TOKENS:
        return None
    v = _DOTS.sub("·", re.sub(r"\s+", " ", v))
    v = _CJK_SPACE.sub("", v)
    masked = "*" in v
    visible = v.replace("*", "")
    surname = given = None
    if _CJK_NAME.fullmatch(v):
        surname = _cjk_surname(v)
        if surname is not None:
            given = v[len(surname) :]
    elif _LATIN_NAME.fullmatch(v) and " " in v:
        given, _, last = v.rpartition(" ")
        if "*" not in last:
            surname = last
    if surname is None and given is not None:
        given = None
    return Name(v, masked, visible, surname, given)


def _cjk_surname(v: str) -> str | None:
    if len(v) >= 3 and v[:2] in COMPOUND_SURNAMES and "*" not in v[:2]:
        return v[:2]
    if len(v) >= 2 and v[0] != "*":
        return v[0]
    return None


NAME_COLUMNS = ("name", "name_masked", "name_surname")


def normalise_names(series: pl.Series) -> pl.DataFrame:
    """Columns name (String), name_masked (Boolean), name_surname (String)."""
    s = series.cast(pl.String).rename("raw")
    n = pl.col("raw").str.len_chars()
    first2 = pl.col("raw").str.slice(0, 2)
    surname = (
        pl.when((n >= 3) & first2.is_in(list(COMPOUND_SURNAMES)))
        .then(first2)
        .when((n >= 2) & ~pl.col("raw").str.starts_with("*"))
        .then(pl.col("raw").str.slice(0, 1))
    )
    fast = pl.col("raw").str.contains(_FAST_CJK)
    out = s.to_frame().select(
        pl.col("raw"),
        name=pl.when(fast).then(pl.col("raw")),
        name_masked=pl.when(fast).then(pl.col("raw").str.contains("*", literal=True)),
        name_surname=pl.when(fast).then(surname),
        fast=fast,
    )
    out = patch_with_scalar(
        out,
        ~out["fast"] & out["raw"].is_not_null(),
        "raw",
        _as_row,
        {"name": pl.String, "name_masked": pl.Boolean, "name_surname": pl.String},
    )
    return out.select(NAME_COLUMNS)


def _as_row(raw: str) -> tuple[str | None, bool | None, str | None]:
    n = normalise_name(raw)
    return (None, None, None) if n is None else (n.value, n.masked, n.surname)
