"""Pieces of prepare_frame that were rewritten for speed, held equal to the plain form they replace."""

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.ingest.prepare import _content_hashes, _stable_hashes


def _numbered_every_row(content_hash: pl.Series) -> pl.Series:
    """The plain form: each row numbered within its hash, the first occurrence left as it is."""
    repeat = pl.int_range(pl.len()).over("__hash__")
    return (
        content_hash.to_frame()
        .select(
            pl.when(repeat == 0)
            .then(pl.col("__hash__"))
            .otherwise(pl.col("__hash__") + ":" + repeat.cast(pl.String))
            .alias("__hash__")
        )
        .to_series()
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", None]), st.sampled_from(["1", "2", None])), max_size=40
    )
)
def test_repeated_lines_are_numbered_as_if_every_row_were(rows):
    frame = pl.DataFrame(
        {"x": [r[0] for r in rows], "y": [r[1] for r in rows]}, schema={"x": pl.String, "y": pl.String}
    )
    hashes = _content_hashes(frame, ["x", "y"])
    if not rows:
        assert hashes.len() == 0
        return
    assert hashes.to_list() == _numbered_every_row(_stable_hashes(frame, ["x", "y"])).to_list()
    assert hashes.n_unique() == len(rows)
