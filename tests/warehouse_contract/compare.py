"""How the contract suite holds two engines' answers equal: ids, counts and texts exactly, Decimal money
exactly, floats within 1e-9 relative, instants as the same instant."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal

REL = 1e-9


def differences(a, b, where: str = "") -> list[str]:
    """Where `a` (DuckDB's answer) and `b` (Spark's) differ, as readable paths."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        if a.keys() != b.keys():
            out.append(f"{where}: keys {sorted(map(str, a.keys() ^ b.keys()))} on one side only")
        for k in a.keys() & b.keys():
            out += differences(a[k], b[k], f"{where}.{k}")
        return out
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items against {len(b)}"]
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out += differences(x, y, f"{where}[{i}]")
        return out
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) and math.isnan(b):
            return []
        if a == b or math.isclose(a, b, rel_tol=REL, abs_tol=0.0):
            return []
        return [f"{where}: {a!r} != {b!r}"]
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        if type(a) is type(b) and a == b:
            return []
        return [f"{where}: {a!r} != {b!r}"]
    if isinstance(a, datetime) and isinstance(b, datetime):
        if (a.tzinfo is None) != (b.tzinfo is None):
            return [f"{where}: {a!r} and {b!r} (one carries a time zone, the other none)"]
        return [] if a == b else [f"{where}: {a!r} != {b!r}"]
    if type(a) is not type(b) and not (isinstance(a, int) and isinstance(b, int)):
        return [f"{where}: {a!r} ({type(a).__name__}) != {b!r} ({type(b).__name__})"]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


def assert_same(a, b, what: str = "") -> None:
    found = differences(a, b, what)
    assert not found, f"{len(found)} differences between DuckDB and Spark:\n" + "\n".join(found[:40])


def rows_of(expr, order_by: tuple[str, ...] | None = None) -> list[dict]:
    """The rows of an Ibis expression as Python values, sorted (by `order_by`, else by every column)."""
    rows = expr.to_pyarrow().to_pylist()
    key = (lambda r: tuple(_sortable(r[c]) for c in order_by)) if order_by else (
        lambda r: tuple(_sortable(v) for v in r.values())
    )
    return sorted(rows, key=key)


def _sortable(value):
    return (value is None, repr(type(value)), value if value is not None else 0) if not isinstance(
        value, list | dict
    ) else (False, "list", repr(value))
