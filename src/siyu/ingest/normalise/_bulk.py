"""Shared machinery of the vectorised normalisers: patch the rows polars could not decide with the scalar."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import polars as pl


def patch_with_scalar(
    frame: pl.DataFrame,
    todo: pl.Series,
    raw: str,
    fn: Callable[[str], Sequence[object]],
    columns: dict[str, pl.DataType],
) -> pl.DataFrame:
    """Overwrite `columns` on the rows where `todo` is true with fn(raw value), computed once per value.

    Only the (usually few) rows concerned are touched: no join over the whole frame.
    """
    idx = todo.fill_null(False).arg_true()
    if idx.len() == 0:
        return frame
    sub = frame[raw].gather(idx)
    unique = sub.unique()
    results = [fn(v) for v in unique.to_list()]
    table = pl.DataFrame(
        {raw: unique}
        | {c: pl.Series(c, [r[i] for r in results], dtype=dt) for i, (c, dt) in enumerate(columns.items())}
    )
    patched = sub.to_frame().join(table, on=raw, how="left", maintain_order="left", nulls_equal=True)
    return frame.with_columns(frame[c].cast(dt).scatter(idx, patched[c]) for c, dt in columns.items())
