"""Comparison features of records for the probabilistic stage.

One row per distinct (deterministic cluster, features) combination: a repeat buyer's ten identical orders
are compared once. The features are derived from the record's columns and its decrypted PII; they live
only in memory (an Arrow table handed to an in-memory DuckDB for Splink) and are never written to the
warehouse, whose PII stays encrypted.

Features (all strings, null when unknown):
- phone_full: the full number (mobile or landline), for a disagreement level;
- phone_key: the masked form `138****5678` of a full or masked mobile (what platforms show);
- phone_tail: its last four digits, or four digits a guide wrote after a WeCom remark name (`张伟 5678`);
- surname, name_len, name_full (unmasked names only), given (unmasked given name), name_pinyin (the toneless
  pinyin of an unmasked Chinese name, so that a homophone typo 张伟 / 章伟 still agrees);
- province, city, district; street_key (the first three visible characters of the address after the
  district and its 街道/镇 part), street_full (that remainder when it is not masked);
- birthday, gender; nickname (a WeChat nickname on Youzan orders and WeCom contacts, lower-cased);
- generic fields compared by kind (`extra_<field>`: first and last names, birthday, postcode, address,
  city of generic imports, and the fields named with `siyu resolve --compare`), see
  siyu.identity.generic_fields. A record with a generic name, birthday or address has none of the
  built-in features of that field: the evidence is counted once.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from siyu.core import pii
from siyu.identity.generic_fields import (
    GenericField,
    derived_columns,
    feature_column_names,
    feature_columns,
    generic_fields,
)

MASK = "*"
# A guide's WeCom remark "张伟 5678" or "张伟5678": the digits are the phone's tail.
_REMARK_TAIL = r"^(.*?\D)\s*(\d{4})$"
_TOWNSHIP = r"^[\p{Han}]{1,8}?(街道|镇|乡)"
_POSTCODE = r"[（(]\d{6}[)）]"
_PII_TYPE = pl.Struct(
    {"name": pl.String, "phone": pl.String, "email": pl.String, "address": pl.String, "nickname": pl.String}
)

# The records columns the features are made of
RECORD_COLUMNS = (
    "source", "format", "phone_kind", "phone_masked", "phone_tail", "gender", "birthday", "province", "city", "district", "pii",
)  # fmt: skip

FEATURE_COLUMNS = (
    "phone_full", "phone_key", "phone_tail", "surname", "name_len", "name_full", "given", "name_pinyin",
    "province", "city", "district", "street_key", "street_full", "birthday", "gender", "nickname",
)  # fmt: skip


_PINYIN: dict[str, str] = {}


def pinyin_of(names: pl.Series) -> pl.Series:
    """Toneless pinyin of each Chinese name, character by character in each character's most common
    reading (pypinyin): both sides of a comparison read a character the same way, which is what matters.
    Distinct characters are looked up once per process."""
    from pypinyin import Style, pinyin

    chars = names.drop_nulls().str.split("").explode().unique().to_list()
    for char in chars:
        if char not in _PINYIN:
            _PINYIN[char] = pinyin(char, style=Style.NORMAL, errors=lambda c: c)[0][0]
    table = {c: _PINYIN[c] for c in chars}
    distinct = names.drop_nulls().unique()
    spelled = distinct.str.split("").list.eval(pl.element().replace_strict(table, default="?")).list.join("")
    return names.replace_strict(distinct, spelled, default=None, return_dtype=pl.String)


def record_rows(con, numbered) -> pa.Table:
    """rid and RECORD_COLUMNS of the records in `numbered` (an Ibis table with rid and record_key)."""
    records = con.table("records").select("record_key", *RECORD_COLUMNS)
    rows = numbered.select("rid", "record_key").join(records, "record_key")
    return rows.select("rid", *RECORD_COLUMNS).to_pyarrow()


def record_features(
    records: pa.Table,
    cluster: np.ndarray,
    compare: tuple[str, ...] = (),
    representatives: dict | None = None,
    new: np.ndarray | None = None,
) -> pl.DataFrame:
    """Features of `records` (columns rid and RECORD_COLUMNS), with `cluster[rid]` the deterministic label.
    Returns columns unique_id (the smallest rid of each distinct row), cluster, source, records (rows folded
    into it) and FEATURE_COLUMNS. Records with no name, phone or address carry nothing to compare and are
    left out.
    `representatives`: a dict whose keys are rids; it is filled with rid -> the unique_id standing for it.
    `new`: a flag per rid; the result then has `is_new`, true for a row that folds in a flagged record."""
    rids = records.column("rid").to_numpy()
    records = records.append_column("cluster", pa.array(cluster[rids]))
    if new is not None:
        records = records.append_column("is_new", pa.array(new[rids]))
    return clustered_features(records, compare, representatives)


def clustered_features(
    records: pa.Table, compare: tuple[str, ...] = (), representatives: dict | None = None
) -> pl.DataFrame:
    """record_features of `records` that carry their deterministic label (column cluster) and, when
    flagged, is_new. All records of a cluster must be in `records` (the rows of one cluster are folded
    together): on Spark each partition of records repartitioned by cluster is one call
    (siyu.identity.spark_features)."""
    frame = pl.from_arrow(records)
    assert isinstance(frame, pl.DataFrame)
    plain = pl.Series(
        "plain",
        [None if b is None else pii.decrypt(b) for b in frame.get_column("pii").to_list()],
        dtype=pl.Binary,
    )
    fields = generic_fields(compare)
    # the generic fields kept in the PII (the others are columns of records)
    in_pii = [f.field for f in fields if f.field in _GENERIC_PII or f.kind == "id"]
    pii_type = pl.Struct({**_PII_TYPE.to_schema(), **{f: pl.String for f in in_pii}})
    decoded = plain.cast(pl.String).str.json_decode(pii_type).struct.unnest()
    kept = ["name", "phone", "address", "nickname", *in_pii]
    frame = pl.concat([frame.drop("pii"), decoded.select(kept)], how="horizontal")
    return _features(frame, fields, representatives)


_GENERIC_PII = ("first_name", "last_name", "postcode")
_NAME_FEATURES = ("surname", "name_len", "name_full", "given", "name_pinyin")
_PLACE_FEATURES = ("province", "city", "district", "street_key", "street_full")


def _features(
    frame: pl.DataFrame, fields: tuple[GenericField, ...] = (), representatives: dict | None = None
) -> pl.DataFrame:
    if "format" not in frame.columns:
        frame = frame.with_columns(format=pl.lit(None, dtype=pl.String))
    frame = frame.with_columns(feature_columns(frame, fields)).with_columns(derived_columns(fields))
    extra = feature_column_names(fields)
    name = pl.col("name").str.strip_chars()
    remark = name.str.extract_groups(_REMARK_TAIL)
    frame = frame.with_columns(
        name=pl.when(remark.struct.field("2").is_not_null())
        .then(remark.struct.field("1").str.strip_chars())
        .otherwise(name),
        remark_tail=remark.struct.field("2"),
    )
    masked_name = pl.col("name").str.contains(MASK, literal=True)
    chinese_name = pl.col("name").str.contains(r"^\p{Han}{2,4}$")
    mobile_like = pl.col("phone_kind").is_in(["mobile", "masked"])
    street = (
        pl.when(pl.col("district").is_not_null())
        .then(pl.col("address").str.split(pl.col("district")).list.last())
        .otherwise(pl.col("address"))
        .str.replace_all(_POSTCODE, "")
        .str.replace_all(r"\s+", "")
        .str.replace(_TOWNSHIP, "")
    )
    flagged = ["is_new"] if "is_new" in frame.columns else []
    out = frame.select(
        "rid",
        "cluster",
        "source",
        *flagged,
        phone_full=pl.when(pl.col("phone_kind").is_in(["mobile", "landline"])).then(pl.col("phone")),
        phone_key=pl.when(mobile_like).then(pl.col("phone_masked")),
        phone_tail=pl.when(mobile_like).then(pl.col("phone_tail")).otherwise(pl.col("remark_tail")),
        surname=pl.when(pl.col("name").str.len_chars() >= 2).then(pl.col("name").str.slice(0, 1)),
        name_len=pl.col("name").str.len_chars().cast(pl.String),
        name_full=pl.when(~masked_name).then(pl.col("name")),
        # a given name only for Chinese names: "John Smith" has no one-character surname to strip
        given=pl.when(~masked_name & chinese_name).then(pl.col("name").str.slice(1)),
        name_pinyin=pl.when(~masked_name & chinese_name).then(pl.col("name")),
        province="province",
        city="city",
        district="district",
        street_key=street.str.replace_all(MASK, "", literal=True).str.slice(0, 3),
        street_full=pl.when(~street.str.contains(MASK, literal=True)).then(street),
        birthday=pl.col("birthday").cast(pl.String),
        gender="gender",
        # a nickname that is the person's name says nothing the name does not already say
        nickname=pl.when(pl.col("nickname") != pl.col("name").fill_null("")).then(pl.col("nickname").str.to_lowercase()),
    ).with_columns(
        *[frame.get_column(c) for c in extra],
        # A surname of a masked "*三" or a Latin name is not a surname.
        surname=pl.when(pl.col("surname").str.contains(r"^\p{Han}$")).then(pl.col("surname")),
        street_key=pl.when(pl.col("street_key").str.len_chars() == 3).then(pl.col("street_key")),
        street_full=pl.when(pl.col("street_full").str.len_chars() > 0).then(pl.col("street_full")),
    )
    out = out.with_columns(name_pinyin=pinyin_of(out.get_column("name_pinyin")))
    out = _without_generic_duplicates(out, fields)
    compared = ("phone_key", "phone_tail", "surname", "street_key", "nickname", "name_full", *extra)
    out = out.filter(pl.any_horizontal(pl.col(c).is_not_null() for c in compared))
    keys = ["cluster", "source", *FEATURE_COLUMNS, *extra]
    if representatives is not None:  # which row stands for each wanted record
        wanted = out.with_columns(unique_id=pl.col("rid").min().over(keys)).filter(
            pl.col("rid").is_in(representatives)
        )
        representatives.clear()
        representatives.update(
            zip(wanted.get_column("rid").to_list(), wanted.get_column("unique_id").to_list(), strict=True)
        )
    return (
        out.group_by(keys)
        .agg(*(pl.col(c).any() for c in flagged), unique_id=pl.col("rid").min(), records=pl.len())
        .select("unique_id", "cluster", "source", "records", *flagged, *FEATURE_COLUMNS, *extra)
        .sort("unique_id")
    )


def _without_generic_duplicates(out: pl.DataFrame, fields: tuple[GenericField, ...]) -> pl.DataFrame:
    """A record whose name, birthday or address is compared as a generic field loses the built-in
    features of it, so that one agreement is not counted twice."""
    by_field = {f.field: f.column for f in fields}

    def having(*names: str) -> pl.Expr:
        present = [pl.col(by_field[n]).is_not_null() for n in names if n in by_field]
        return pl.any_horizontal(present) if present else pl.lit(False)

    cleared = []
    for columns, generic in (
        (_NAME_FEATURES, having("first_name", "last_name")),
        (("birthday",), having("birthday")),
        (_PLACE_FEATURES, having("address", "city")),
    ):
        cleared += [pl.when(generic).then(None).otherwise(pl.col(c)).alias(c) for c in columns]
    return out.with_columns(cleared)
