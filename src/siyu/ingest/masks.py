"""Bulk (polars) forms of siyu.core.pii's masks; tests hold them equal to the scalar ones."""

import polars as pl

from siyu.core import pii

_MOBILE = r"^\+86(1\d{2})\d{4}(\d{4})(-\d+)?$"


def _per_value(series: pl.Series, todo: pl.Series, fn) -> pl.Series:
    """fn on the distinct values where `todo` holds (rare shapes), vectorised elsewhere."""
    values = series.filter(todo).unique().drop_nulls().to_list()
    if not values:
        return series
    mapping = {v: fn(v) for v in values}
    return pl.select(
        pl.when(pl.lit(todo)).then(pl.lit(series).replace_strict(mapping, default=None, return_dtype=pl.String))
        .otherwise(pl.lit(series))
    ).to_series()


def mask_phones(series: pl.Series) -> pl.Series:
    mobile = series.str.contains(_MOBILE).fill_null(False)
    masked = pl.select(pl.when(pl.lit(mobile)).then(pl.lit(series).str.replace(_MOBILE, "${1}****${2}${3}")).otherwise(pl.lit(series))).to_series()
    rest = ~mobile & ~series.str.contains("*", literal=True).fill_null(True)
    return _per_value(masked, rest, pii.mask_phone).alias(series.name)


def mask_names(series: pl.Series) -> pl.Series:
    latin = series.str.contains(r"^[\x00-\x7f]+$").fill_null(False)
    cjk = pl.select(pl.lit(series).str.slice(0, 1).str.pad_end(pl.lit(series).str.len_chars(), "*")).to_series()
    return _per_value(pl.select(pl.when(pl.lit(latin)).then(pl.lit(series)).otherwise(pl.lit(cjk))).to_series(), latin, pii.mask_name).alias(series.name)


def mask_emails(series: pl.Series) -> pl.Series:
    return series.str.replace(r"^(.)[^@]*@", "${1}***@").alias(series.name)


def mask_identifiers(id_type: str, series: pl.Series) -> pl.Series:
    """siyu.ingest.normalise.identifiers.mask_identifier of each value: phones (normalised, +86…) and
    e-mails as everywhere, other values their first and last character around at most six stars."""
    if id_type == "phone":
        return mask_phones(series)
    if id_type == "email":
        return mask_emails(series)
    n = series.str.len_chars()
    shown = pl.select(
        pl.when(~pl.lit(series).str.contains(r"[\p{L}\p{N}]") | (pl.lit(n) <= 2))
        .then(pl.lit(series))
        .otherwise(
            pl.concat_str(
                [
                    pl.lit(series).str.slice(0, 1),
                    pl.lit("******").str.slice(0, pl.min_horizontal(pl.lit(n) - 2, pl.lit(6))),
                    pl.lit(series).str.slice(-1),
                ]
            )
        )
    ).to_series()
    return shown.alias(series.name)
