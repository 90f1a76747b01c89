"""Which imported values are identifiers: the one definition of a plausible value per identifier type.

A value links records only when it could really be one person's: platforms blank or mask buyer columns
(`**`, `138****5678`, `138xxxx5678`), people type fillers (`-`, `无`, `0`, `null`, `test`, `000000`,
`11111111`), and a column can hold a number that is no phone at all. Such values stay in the record as
imported (the raw cells are kept, encrypted) but never link.

identifier_problem(id_type, raw) -> the reason the value is not an identifier, or None when it is one;
identifier_problems(id_type, series) is the vectorised form and gives the same answer for every value
(tests/ingest/test_normalise_identifiers.py holds them equal). "empty" is a missing value (blank, `-`,
`null`…), not reported as a problem by the importer.

Per type (anything not listed is checked like `member_no`):
- phone: a mobile or landline (siyu.ingest.normalise.phone) that phonenumbers' China metadata accepts; masked
  and virtual numbers are not identifiers; nor are fillers such as 13800138000 or 13888888888 (the last
  eight digits one repeated digit).
- email: a valid address (a domain with a dot and a TLD), not masked, not at a reserved domain
  (example.com, .test, .invalid, localhost), local part not a placeholder or one repeated character.
- alipay: Alipay accounts are logins: a valid mobile (or an international number written with +), a valid
  e-mail, or the numeric user id `2088` + 12 digits.
- unionid, openid, external_userid: WeChat / WeCom ids are letters, digits, `_` and `-`, at most 64 (unionid
  and openid are 28 characters, external_userid 32 in practice; lenient on length, which varies by app type:
  at least three).
- taobao_buyer, jd_account: nicknames whose rules vary by age and platform (Chinese, letters, digits,
  symbols): any value of at least two characters that is no placeholder, mask or repeated character.
- member_no and every other type (`id:<type>`): at least two characters (a shop's own customer numbers
  start at 1; a single character is a filler more often than an id), no placeholder, mask, run of four or
  more of one character (`1111`; `11` and `111` are real numbers in a sequential numbering) or counting
  sequence of six or more digits (123456).
"""

from __future__ import annotations

import re
import unicodedata

import polars as pl
from django.utils.translation import gettext_lazy as _

from siyu.core import pii
from siyu.ingest.normalise._bulk import patch_with_scalar
from siyu.ingest.normalise.phone import normalise_phone, normalise_phones
from siyu.ingest.normalise.values import EMAIL_RE, NULL_TOKENS

# Why a value is not an identifier, in the words an operator reads (Chinese in the console's locale).
NOT_AN_IDENTIFIER = {
    "placeholder": _("a placeholder or filler"),
    "masked": _("masked by the platform"),
    "repeated": _("repeated or counting characters"),
    "too_short": _("too short"),
    "invalid_phone": _("not a valid phone number"),
    "virtual_phone": _("a virtual number shared by many buyers"),
    "invalid_email": _("not a valid e-mail address"),
    "not_an_account": _("not an account of this kind"),
    "same_on_every_record": _("the same value on every record of a file of several people"),
}
REASONS = tuple(NOT_AN_IDENTIFIER)


def not_identifier_words(reason: str) -> str:
    """Why a value was not taken as an identifier, in the active language (the code itself if unknown)."""
    return str(NOT_AN_IDENTIFIER.get(reason, reason))

# Fillers people and systems type into identifier columns (compared after NFKC, trimming, lower case).
PLACEHOLDERS = frozenset(
    {
        "-", "--", "---", "—", "——", "/", "//", "\\", ".", "..", "...", "。", "_", "?", "??", "???", "#",
        "0", "00", "null", "none", "nil", "nan", "na", "n/a", "n.a.", "#n/a", "undefined", "unknown",
        "default", "test", "testing", "demo", "sample", "anonymous", "guest", "customer", "user", "admin",
        "empty", "blank", "no", "noemail", "nomail", "noreply", "no-reply",
        "无", "暂无", "没有", "空", "未知", "不详", "不明", "未填", "未填写", "匿名", "匿名用户", "匿名买家",
        "测试", "游客", "散客", "顾客", "客户", "会员", "其他", "其它", "保密", "待定", "默认",
    }
)  # fmt: skip
# Well-known numbers typed when a form wants a phone (China Mobile's own service line).
FILLER_PHONES = frozenset({"13800138000", "13900139000", "13000000000", "12345678901"})
RESERVED_EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "localhost")
RESERVED_EMAIL_TLDS = (".test", ".example", ".invalid", ".localhost", ".local")
WECHAT_ID_TYPES = ("unionid", "openid", "external_userid")
NICKNAME_TYPES = ("taobao_buyer", "jd_account")

# What a shape check needs: characters that mask, the id characters, counting sequences.
_MASK_CHARS = "*×●•"
_MASKED_RE = r"[*×●•]"
_X_MASKED_RE = r"^[0-9xX+\- ]*[0-9][0-9xX+\- ]*$"  # digits with x runs: 138xxxx5678
_X_RUN_RE = r"[xX]{2,}"
_WECHAT_ID_RE = r"^[A-Za-z0-9_-]{1,64}$"
_ALIPAY_USER_ID_RE = r"^2088[0-9]{12}$"
_SEPARATORS_RE = r"[\s\-_.]"
_IDENTITY_CHAR_RE = r"[\p{L}\p{N}]"  # polars; the scalar asks str.isalnum
_REPEATED_RE = "^(?:" + "|".join(f"{re.escape(c)}+" for c in "0123456789abcdefghijklmnopqrstuvwxyz") + ")$"
_SEQUENCES = frozenset(
    run[i:j]
    for run in ("0123456789", "9876543210", "1234567890")
    for i in range(len(run))
    for j in range(i + 6, len(run) + 1)
)
# Clean ASCII/Chinese values NFKC leaves as they are: the bulk form checks these with polars alone.
_FAST_RE = r"^[A-Za-z0-9_\-.@\u4e00-\u9fff]+$"


def _mobile_re() -> str:
    """phonenumbers' CN mobile pattern, like siyu.ingest.normalise.phone.FIXED_LINE_RE for landlines."""
    import phonenumbers

    pattern = phonenumbers.PhoneMetadata.metadata_for_region("CN").mobile.national_number_pattern
    return f"^(?:{pattern})$"


MOBILE_RE = _mobile_re()
_mobile = re.compile(MOBILE_RE)
_email = re.compile(EMAIL_RE)


# Shorter runs of one character are real ids in a sequential numbering (customer 11, member 111).
MIN_REPEATED = 4


def min_length(id_type: str) -> int:
    """A customer numbered 7 in a small shop's own system is real; WeChat ids are never that short."""
    if id_type in WECHAT_ID_TYPES:
        return 3
    return 2


# --- scalar ------------------------------------------------------------------------------------


def identifier_problem(id_type: str, raw: str | None) -> str | None:
    """Why `raw` is not an identifier of `id_type` ("empty" for a missing value), or None when it is one."""
    if raw is None:
        return "empty"
    value = unicodedata.normalize("NFKC", raw).strip()
    if value == "" or value in NULL_TOKENS:
        return "empty"
    if id_type == "phone":
        return _phone_problem(value)
    if id_type == "email":
        return _email_problem(value)
    if problem := _common_problem(value):
        return problem
    if id_type == "alipay":
        if _is_account_phone(value) or _email_problem(value) is None or re.match(_ALIPAY_USER_ID_RE, value):
            return None
        return "not_an_account"
    if id_type in WECHAT_ID_TYPES and not re.match(_WECHAT_ID_RE, value):
        return "not_an_account"
    core = re.sub(_SEPARATORS_RE, "", value)
    if len(core) < min_length(id_type):
        return "too_short"
    if id_type not in NICKNAME_TYPES and core.lower() in _SEQUENCES:
        return "repeated"
    return None


def _common_problem(value: str) -> str | None:
    """Placeholders, masks and one repeated character: not an identifier of any type."""
    low = value.lower()
    if low in PLACEHOLDERS or not any(c.isalnum() for c in value) or re.fullmatch(r"0+", value):
        return "placeholder"
    if any(c in value for c in _MASK_CHARS) or (
        re.match(_X_MASKED_RE, value) and re.search(_X_RUN_RE, value)
    ):
        return "masked"
    core = re.sub(_SEPARATORS_RE, "", low)
    if len(core) >= MIN_REPEATED and len(set(core)) == 1:
        return "repeated"
    return None


def _phone_problem(value: str) -> str | None:
    if value.lower() in PLACEHOLDERS or not re.search(r"[0-9]", value):
        return "placeholder"
    phone = normalise_phone(value)
    if phone is None:
        return "empty"
    return _phone_kind_problem(phone.kind, phone.value)


def _phone_kind_problem(kind: str, value: str) -> str | None:
    """A normalised phone (kind, value as siyu.ingest.normalise.phone gives them) as an identifier."""
    if kind == "masked":
        return "masked"
    if kind == "virtual":
        return "virtual_phone"
    if kind not in ("mobile", "landline"):
        return "invalid_phone"
    national = value[3:].split(";", 1)[0]  # +86…, without an extension
    if kind == "mobile" and not _mobile.match(national):
        return "invalid_phone"
    if national in FILLER_PHONES:
        return "placeholder"
    if len(set(national[-8:])) == 1:
        return "repeated"
    return None


def _is_account_phone(value: str) -> bool:
    """A mobile a person signs in with: a valid Chinese mobile, or an international number with +."""
    phone = normalise_phone(value)
    if phone is not None and phone.kind == "mobile":
        return _phone_kind_problem(phone.kind, phone.value) is None
    if value.startswith("+") and not value.startswith(("+86", "+086")):
        import phonenumbers

        try:
            return phonenumbers.is_valid_number(phonenumbers.parse(value, None))
        except phonenumbers.NumberParseException:
            return False
    return False


def _email_problem(value: str) -> str | None:
    low = value.lower()
    if low in PLACEHOLDERS or not any(c.isalnum() for c in value):
        return "placeholder"
    if any(c in value for c in _MASK_CHARS):
        return "masked"
    if not _email.match(low):
        return "invalid_email"
    local, _, domain = low.rpartition("@")
    if domain in RESERVED_EMAIL_DOMAINS or domain.endswith(RESERVED_EMAIL_TLDS):
        return "placeholder"
    if local in PLACEHOLDERS or domain.split(".")[0] in PLACEHOLDERS:
        return "placeholder"
    core = re.sub(_SEPARATORS_RE, "", local)
    if len(core) >= MIN_REPEATED and len(set(core)) == 1 or core in _SEQUENCES:
        return "repeated"
    return None


# --- bulk --------------------------------------------------------------------------------------


def identifier_problems(id_type: str, values: pl.Series) -> pl.Series:
    """identifier_problem of every value (String; "empty" for nulls and missing tokens). Values of a clean,
    common shape are decided by polars alone; the rest by the scalar, once per distinct value."""
    s = values.cast(pl.String).rename("raw")
    if id_type == "phone":

        return phone_problems(s, normalise_phones(s)).rename(values.name)
    fast = _fast_valid(id_type, pl.col("raw"))
    frame = s.to_frame().with_columns(
        problem=pl.when(pl.col("raw").is_null())
        .then(pl.lit("empty"))
        .when(fast)
        .then(pl.lit(None, pl.String)),
        todo=pl.col("raw").is_not_null() & ~fast.fill_null(False),
    )
    frame = patch_with_scalar(
        frame, frame["todo"], "raw", lambda v: (identifier_problem(id_type, v),), {"problem": pl.String}
    )
    return frame["problem"].rename(values.name)


def _fast_valid(id_type: str, raw: pl.Expr) -> pl.Expr:
    """True only for values the scalar accepts; false sends a value to the scalar (never a wrong answer)."""
    low = raw.str.to_lowercase()
    if id_type == "email":
        return _fast_email(raw)
    if id_type == "alipay":
        mobile = raw.str.contains(r"^1[3-9][0-9]{9}$") & raw.str.contains(MOBILE_RE) & _not_filler_mobile(raw)
        clean = ~low.is_in(list(PLACEHOLDERS)) & ~_repeated(low) & ~raw.str.contains(_MASKED_RE)
        return clean & (mobile | _fast_email(raw) | raw.str.contains(_ALIPAY_USER_ID_RE))
    core = low.str.replace_all(_SEPARATORS_RE, "")
    ok = (
        raw.str.contains(_FAST_RE)
        & ~low.is_in(list(PLACEHOLDERS))
        & ~_repeated(low)
        & ~(raw.str.contains(_X_MASKED_RE) & raw.str.contains(_X_RUN_RE))
        & raw.str.contains(_IDENTITY_CHAR_RE)
        & ~raw.str.contains(r"^0+$")
    )
    if id_type in WECHAT_ID_TYPES:
        ok = ok & raw.str.contains(_WECHAT_ID_RE)
    ok = ok & (core.str.len_chars() >= min_length(id_type))
    if id_type not in NICKNAME_TYPES:
        ok = ok & ~core.is_in(list(_SEQUENCES))
    return ok


def _repeated(low: pl.Expr) -> pl.Expr:
    core = low.str.replace_all(_SEPARATORS_RE, "")
    return (core.str.len_chars() >= MIN_REPEATED) & core.str.contains(_REPEATED_RE)


def _not_filler_mobile(raw: pl.Expr) -> pl.Expr:
    tail = raw.str.slice(-8)
    return ~raw.is_in(list(FILLER_PHONES)) & ~tail.str.contains(r"^(?:0+|1+|2+|3+|4+|5+|6+|7+|8+|9+)$")


def _fast_email(raw: pl.Expr) -> pl.Expr:
    low = raw.str.to_lowercase()
    local = low.str.extract(r"^(.*)@", 1)
    domain = low.str.extract(r"@([^@]*)$", 1)
    core = local.str.replace_all(_SEPARATORS_RE, "")
    return (
        raw.str.contains(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+$")
        & low.str.contains(EMAIL_RE)
        & ~low.is_in(list(PLACEHOLDERS))
        & ~local.is_in(list(PLACEHOLDERS))
        & ~domain.str.extract(r"^([^.]*)", 1).is_in(list(PLACEHOLDERS))
        & ~domain.is_in(list(RESERVED_EMAIL_DOMAINS))
        & ~domain.str.contains(r"\.(?:test|example|invalid|localhost|local)$")
        & ~((core.str.len_chars() >= MIN_REPEATED) & core.str.contains(_REPEATED_RE))
        & ~core.is_in(list(_SEQUENCES))
    )


def phone_problems(raw: pl.Series, phones: pl.DataFrame) -> pl.Series:
    """identifier_problem("phone", …) of a column, given its normalise_phones frame (phone, phone_kind):
    full, masked and virtual numbers are decided from the kind, the rest by the scalar."""
    frame = pl.DataFrame({"raw": raw.cast(pl.String), "kind": phones.get_column("phone_kind"),
                          "value": phones.get_column("phone")})  # fmt: skip
    national = pl.col("value").str.slice(3).str.split(";").list.first()
    decided = pl.col("kind").is_in(["mobile", "landline", "masked", "virtual"]).fill_null(False)
    frame = frame.with_columns(
        problem=pl.when(pl.col("raw").is_null())
        .then(pl.lit("empty"))
        .when(~decided)
        .then(pl.lit(None, pl.String))
        .when(pl.col("kind") == "masked")
        .then(pl.lit("masked"))
        .when(pl.col("kind") == "virtual")
        .then(pl.lit("virtual_phone"))
        .when((pl.col("kind") == "mobile") & ~national.str.contains(MOBILE_RE))
        .then(pl.lit("invalid_phone"))
        .when(national.is_in(list(FILLER_PHONES)))
        .then(pl.lit("placeholder"))
        .when(national.str.slice(-8).str.contains(r"^(?:0+|1+|2+|3+|4+|5+|6+|7+|8+|9+)$"))
        .then(pl.lit("repeated")),
        todo=pl.col("raw").is_not_null() & ~decided,
    )
    frame = patch_with_scalar(
        frame, frame["todo"], "raw", lambda v: (identifier_problem("phone", v),), {"problem": pl.String}
    )
    return frame["problem"].rename(raw.name)


# --- what earlier imports stored --------------------------------------------------------------------


def known_placeholders(id_types: list[str]) -> list[tuple[str, str, str]]:
    """(id_type, the value as an import before these checks stored it, what to show) for the placeholders
    and fillers such an import most likely stored as strong identifiers: the guard recognises them by
    their keyed hashes (siyu.identity.guard). Phones were stored normalised (+86…), e-mails lower-cased,
    other values namespaced (`alipay:**`)."""
    texts = set(PLACEHOLDERS) | set(NULL_TOKENS) - {""}
    texts |= {t.upper() for t in texts} | {t.title() for t in texts}
    for k in range(1, 13):
        texts |= {"*" * k, "＊" * k, "x" * k, "X" * k, "×" * k}
        texts |= {d * k for d in "0123456789"}
    texts |= _SEQUENCES
    out: list[tuple[str, str, str]] = []
    for id_type in sorted(set(id_types)):
        if id_type == "phone":
            fillers = set(FILLER_PHONES) | {f"1{p}{d * 9}"[:11] for p in "3456789" for d in "0123456789"}
            fillers |= {f"1{p}{q}{d * 8}" for p in "3456789" for q in "0123456789" for d in "0123456789"}
            out += [(id_type, "+86" + f, f) for f in sorted(fillers) if identifier_problem("phone", f) is not None]
        elif id_type == "email":
            for local in ("test", "none", "null", "no", "noemail", "nomail", "a", "aa", "123", "123456", "xxx"):
                for domain in ("test.com", "none.com", "qq.com", "163.com", "example.com", "email.com", "a.com"):
                    email = f"{local}@{domain}"
                    if identifier_problem("email", email) is not None:
                        out.append((id_type, email, email))
        else:
            out += [(id_type, f"{id_type}:{t}", t) for t in sorted(texts) if identifier_problem(id_type, t) is not None]
    return out


def mask_identifier(id_type: str, value: str | None) -> str | None:
    """What a quarantine page may show of an identifier value: phones and e-mails masked like everywhere
    (siyu.core.pii), other values their first and last character around stars; placeholders as they are."""

    if value is None:
        return None
    if id_type == "phone":
        return pii.mask_phone(value)
    if id_type == "email":
        return pii.mask_email(value)
    if not any(c.isalnum() for c in value) or len(value) <= 2:
        return value
    return value[0] + "*" * min(len(value) - 2, 6) + value[-1]
