"""Cell cleaning shared by every reader, vectorised with polars so 1M-row files stay fast."""

from __future__ import annotations

import polars as pl

# Values the platforms write for "nothing" (Taobao `-`/`null`, Excel `#N/A`, pandas `None`).
NULL_TOKENS = ("", "-", "--", "—", "null", "NULL", "Null", "None", "none", "N/A", "n/a", "#N/A")


def _unguard(e: pl.Expr) -> pl.Expr:
    # `="0123"` keeps Excel from eating leading zeros / turning long ids into floats.
    guarded = e.str.starts_with('="') & e.str.ends_with('"') & (e.str.len_bytes() >= 3)
    return pl.when(guarded).then(e.str.slice(2).str.strip_suffix('"').str.strip_chars()).otherwise(e)


def _unquote(e: pl.Expr) -> pl.Expr:
    # `'138…` is the other Excel text guard (Taobao phones).
    return pl.when(e.str.starts_with("'")).then(e.str.strip_prefix("'").str.strip_chars()).otherwise(e)


def _nulls(e: pl.Expr) -> pl.Expr:
    return pl.when(~e.is_in(NULL_TOKENS)).then(e)  # otherwise null; keeps the column name


def clean_cells(expr: pl.Expr) -> pl.Expr:
    """Strip Excel guards `="…"`, a leading apostrophe, surrounding whitespace (Douyin's `\\t` too); nulls."""
    return _nulls(_unquote(_unguard(expr.str.strip_chars())))


def clean_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """clean_cells on every column, skipping the passes a column does not need (most need only the strip)."""
    stripped = frame.select(pl.col(c).str.strip_chars() for c in frame.columns)
    flags = stripped.select(
        *(pl.col(c).str.starts_with('="').any().alias(f"g{i}") for i, c in enumerate(frame.columns)),
        *(pl.col(c).str.starts_with("'").any().alias(f"q{i}") for i, c in enumerate(frame.columns)),
    ).row(0, named=True)
    exprs = []
    for i, c in enumerate(frame.columns):
        e = pl.col(c)
        if flags[f"g{i}"]:
            e = _unguard(e)
        # an apostrophe may also appear once a guard is gone (`="'1"`): check after unguarding
        if flags[f"q{i}"] or flags[f"g{i}"]:
            e = _unquote(e)
        exprs.append(_nulls(e))
    return stripped.select(exprs)


def clean_cell(value: str | None) -> str | None:
    """Scalar form of clean_cells (same expression, so the two can never disagree)."""
    if value is None:
        return None
    return pl.select(clean_cells(pl.lit(value, pl.String))).item()
