"""Read side of identity: who is whom, how they got merged, what the guard set aside, and exports."""

from __future__ import annotations

import json
from pathlib import Path

import ibis
import polars as pl
from django.conf import settings

from siyu.core.errors import SiyuError
from siyu.warehouse import backend

XLSX_MAX_ROWS = 1_048_575  # one sheet, minus the header row


def decisions_in_force() -> list[tuple[str, str, str]]:
    """(record_key_a, record_key_b, verdict) of the latest decision on every pair."""
    decisions = backend().table("match_decisions")
    latest = decisions.mutate(
        n=ibis.row_number().over(
            group_by=["record_key_a", "record_key_b"], order_by=ibis.desc(decisions.decided_at)
        )
    )
    rows = (
        latest.filter(latest.n == 0)
        .select("record_key_a", "record_key_b", "verdict")
        .to_pyarrow()
        .to_pylist()
    )
    return [(r["record_key_a"], r["record_key_b"], r["verdict"]) for r in rows]


REVIEW_RECORD_FIELDS = (
    "record_key", "source", "record_id", "name_masked", "phone_masked", "gender", "birthday", "province", "city",
    "district", "seen_at",
)  # fmt: skip


def review_queue(page: int = 1, page_size: int = 50) -> dict:
    """Undecided pairs of the last resolve run, most likely matches first, each with both records (masked
    fields only) and the comparison level each field hit, in words."""
    con = backend()
    queue = con.table("match_candidates")
    total = int(queue.count().execute())
    rows = (
        queue.order_by([ibis.desc(queue.match_probability), queue.record_key_l, queue.record_key_r])
        .limit(page_size, offset=(page - 1) * page_size)
        .to_pyarrow()
        .to_pylist()
    )
    keys = sorted({r[k] for r in rows for k in ("record_key_l", "record_key_r")})
    records = con.table("records")
    found = records.filter(records.record_key.isin(keys)).select(*REVIEW_RECORD_FIELDS) if keys else None
    by_key = {r["record_key"]: r for r in found.to_pyarrow().to_pylist()} if found is not None else {}
    items = [
        {
            **{k: r[k] for k in ("record_key_l", "record_key_r", "customer_id_l", "customer_id_r", "reason")},
            "match_probability": r["match_probability"],
            "left": by_key.get(r["record_key_l"], {}),
            "right": by_key.get(r["record_key_r"], {}),
            "evidence": json.loads(r["fields"] or "{}"),
        }
        for r in rows
    ]
    return {"total": total, "page": page, "page_size": page_size, "items": items}


def unresolved_records() -> int:
    """How many imported records are not in a customer yet (no resolve has run since they landed)."""
    con = backend()
    records = con.table("records").select("record_key")
    return int(records.anti_join(con.table("customer_map"), "record_key").count().execute())


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
    """merge_log rows that shaped this customer: ids merged into it (and, recursively, into those), and
    the merge that absorbed it if it was absorbed. Oldest first."""
    log = backend().table("merge_log")
    found: dict[tuple, dict] = {}

    def fetch(expr) -> list[dict]:
        rows = expr.to_pyarrow().to_pylist()
        for row in rows:
            found[(row["run_id"], row["survivor_id"], row["absorbed_id"])] = row
        return rows

    fetch(log.filter(log.absorbed_id == customer_id))
    wanted, frontier = {customer_id}, {customer_id}
    while frontier:  # one query per generation of merges
        rows = fetch(log.filter(log.survivor_id.isin(sorted(frontier))))
        frontier = {row["absorbed_id"] for row in rows} - wanted
        wanted |= frontier
    return sorted(
        found.values(), key=lambda r: (r["merged_at"], r["run_id"], r["survivor_id"], r["absorbed_id"])
    )


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


# customer_summary columns that leave the building: masks only, no hashes, no record keys.
CUSTOMER_EXPORT_COLUMNS = (
    "customer_id",
    "record_count",
    "sources",
    "acquisition_source",
    "acquired_at",
    "name_masked",
    "phone_masked",
    "gender",
    "birthday",
    "province",
    "city",
    "district",
    "first_purchase_at",
    "last_purchase_at",
    "orders",
    "spend",
    "aov",
    "stage",
    "tags",
    "owner_staff",
)
LIST_SEPARATOR = "|"


def customers_expr() -> ibis.Table:
    """customer_summary's exported columns, then every trait (siyu.segments.queries.with_trait_columns),
    then the current predictions (siyu.segments.prediction_queries.with_prediction_columns)."""
    from siyu.segments.prediction_queries import with_prediction_columns
    from siyu.segments.queries import with_trait_columns

    summary = backend().table("customer_summary").select(*CUSTOMER_EXPORT_COLUMNS)
    rows = with_prediction_columns(with_trait_columns(summary))
    lists = {name: rows[name].join(LIST_SEPARATOR) for name in ("sources", "tags", "computed_tags")}
    return rows.mutate(**lists).order_by("customer_id")


def export_identities(path: str | Path) -> int:
    """Write `source,record_id,customer_id` to CSV or XLSX (by extension); returns the number of rows."""
    path = export_path(path)
    expr = identities_expr()
    count = int(expr.count().execute())
    _check_fits(path, count)
    if path.suffix.lower() == ".csv":
        backend().to_csv(expr, path)  # DuckDB COPY: no round trip through Python
    else:
        _write_xlsx(pl.from_arrow(expr.to_pyarrow()), path)
    return count


def export_customers(path: str | Path) -> int:
    """Write customer_summary and the current traits (no clear PII; lists joined with "|", times in
    settings.TIME_ZONE)."""
    path = export_path(path)
    expr = customers_expr()
    count = int(expr.count().execute())
    _check_fits(path, count)
    frame = pl.from_arrow(expr.to_pyarrow())
    zone = settings.TIME_ZONE
    frame = frame.with_columns(
        pl.col(name).dt.convert_time_zone(zone).dt.strftime("%Y-%m-%d %H:%M:%S")
        for name in ("acquired_at", "first_purchase_at", "last_purchase_at", "traits_as_of", "predictions_as_of")
    )
    if path.suffix.lower() == ".csv":
        frame.write_csv(path)
    else:
        _write_xlsx(frame, path)
    return count


def export_path(path: str | Path) -> Path:
    """The absolute output path, checked before any work is done."""
    path = Path(path).expanduser().resolve()
    if path.suffix.lower() not in (".csv", ".xlsx"):
        raise SiyuError(f"cannot export to {path.name}: the file name must end in .csv or .xlsx")
    if not path.parent.is_dir():
        raise SiyuError(f"cannot export to {path}: the folder {path.parent} does not exist")
    return path


def _check_fits(path: Path, count: int) -> None:
    if path.suffix.lower() == ".xlsx" and count > XLSX_MAX_ROWS:
        raise SiyuError(
            f"{count} rows do not fit in one Excel sheet (at most {XLSX_MAX_ROWS}); export to .csv"
        )


def _write_xlsx(frame: pl.DataFrame, path: Path) -> None:
    frame.write_excel(path, autofit=False)
