"""Read side of identity: who is whom, how they got merged, what the guard set aside, and exports."""

from __future__ import annotations

from pathlib import Path

import ibis
import polars as pl

from siyu.core.errors import SiyuError
from siyu.warehouse import backend

XLSX_MAX_ROWS = 1_048_575  # one sheet, minus the header row


def customer_id_for(record_key: str) -> int | None:
    cmap = backend().table("customer_map")
    found = cmap.filter(cmap.record_key == record_key).customer_id.to_pyarrow().to_pylist()
    return found[0] if found else None


def records_of(customer_id: int) -> list[dict]:
    """The customer's records (no PII beyond masks), oldest first."""
    con = backend()
    cmap = con.table("customer_map")
    records = con.table("records")
    mine = records.semi_join(cmap.filter(cmap.customer_id == customer_id), "record_key")
    mine = mine.select(
        "record_key",
        "source",
        "format",
        "record_kind",
        "record_id",
        "name_masked",
        "phone_masked",
        "email_masked",
        "province",
        "city",
        "store",
        "owner_staff",
        "seen_at",
        "imported_at",
    ).order_by(["seen_at", "record_key"])
    return mine.to_pyarrow().to_pylist()


def merge_history(customer_id: int) -> list[dict]:
    """merge_log rows that shaped this customer: ids merged into it (and, recursively, into those), the
    merge that absorbed it if it was absorbed, and splits from or to it. Oldest first."""
    log = backend().table("merge_log").to_pyarrow().to_pylist()
    wanted = {customer_id}
    frontier = [customer_id]
    while frontier:
        current = frontier.pop()
        for row in log:
            if row["rule"].startswith("deterministic") and row["survivor_id"] == current:
                if row["absorbed_id"] not in wanted:
                    wanted.add(row["absorbed_id"])
                    frontier.append(row["absorbed_id"])
    history = [
        row
        for row in log
        if row["survivor_id"] in wanted or (row["absorbed_id"] == customer_id)
    ]
    return sorted(history, key=lambda r: (r["merged_at"], r["run_id"], r["survivor_id"], r["absorbed_id"]))


def quarantined() -> list[dict]:
    """Identifier values the cardinality guard keeps out of linking (hashes only)."""
    table = backend().table("quarantined_identifiers")
    return table.order_by(["id_type", "value_hash"]).to_pyarrow().to_pylist()


def identities_expr() -> ibis.Table:
    """`source, record_id, customer_id`, one row per distinct source record, ordered."""
    con = backend()
    records = con.table("records")
    cmap = con.table("customer_map")
    joined = records.left_join(cmap, "record_key")
    rows = joined.select(
        source=joined.source, record_id=joined.record_id, customer_id=joined.customer_id
    ).distinct()
    return rows.order_by(["source", "record_id", "customer_id"])


def export_identities(path: str | Path) -> int:
    """Write identities to CSV or XLSX (by extension); returns the number of data rows."""
    return _export(identities_expr(), Path(path))


def _export(expr: ibis.Table, path: Path) -> int:
    path = path.expanduser().resolve()
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise SiyuError(f"cannot export to {path.name}: the file name must end in .csv or .xlsx")
    if not path.parent.is_dir():
        raise SiyuError(f"cannot export to {path}: the folder {path.parent} does not exist")
    con = backend()
    count = int(expr.count().execute())
    if suffix == ".csv":
        con.to_csv(expr, path)
        return count
    if count > XLSX_MAX_ROWS:
        raise SiyuError(f"{count} rows do not fit in one Excel sheet (at most {XLSX_MAX_ROWS}); export to .csv")
    frame = pl.from_arrow(expr.to_pyarrow())
    frame.write_excel(path, autofit=False)
    return count
