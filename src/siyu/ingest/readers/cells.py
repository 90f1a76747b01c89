"""Cell cleaning shared by every reader: one polars expression, so 1M-row files stay vectorised."""

from __future__ import annotations

import polars as pl

# Values the platforms write for "nothing" (Taobao `-`/`null`, Excel `#N/A`, pandas `None`).
NULL_TOKENS = ("", "-", "--", "—", "null", "NULL", "Null", "None", "none", "N/A", "n/a", "#N/A")


def clean_cells(expr: pl.Expr) -> pl.Expr:
    """Strip Excel guards `="…"`, a leading apostrophe, surrounding whitespace (Douyin's `\\t` too); nulls."""
    e = expr.str.strip_chars()
    # `="0123"` keeps Excel from eating leading zeros / long ids; (?s) so guarded multi-line text also matches.
    e = e.str.replace(r'(?s)^="(.*)"$', "${1}").str.strip_chars()
    # `'138…` is the other Excel text guard (Taobao phones).
    e = e.str.strip_prefix("'").str.strip_chars()
    return pl.when(~e.is_in(NULL_TOKENS)).then(e)  # otherwise null; keeps the column name


def clean_cell(value: str | None) -> str | None:
    """Scalar form of clean_cells (same expression, so the two can never disagree)."""
    if value is None:
        return None
    return pl.select(clean_cells(pl.lit(value, pl.String))).item()
