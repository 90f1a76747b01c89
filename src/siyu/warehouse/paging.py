"""One page of a query's rows (LIMIT … OFFSET …), the same on every engine.

Ibis 12 compiles an offset on Spark to a row_number() filter whose column stays in the result, so the
rows no longer match the expression's schema ("schema names don't match input data columns"). Selecting
the expression's own columns after the limit drops it; on DuckDB the select changes nothing.
"""

from __future__ import annotations

import ibis


def page_of(expr: ibis.Table, limit: int, offset: int = 0) -> ibis.Table:
    """`limit` rows of `expr` (ordered by the caller) after the first `offset`."""
    return expr.limit(limit, offset=offset).select(*expr.columns)
