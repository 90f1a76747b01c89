"""The exports a person can ask for (`siyu export`, the segment page's download), the one public entry
point: who exported what is recorded. Segments sits above identity and holds traits and predictions, so
the customer export (summary, traits, predictions) and the segment export are here, beside identity's."""

from __future__ import annotations

import time

import ibis

from siyu.core.actions import record_audit
from siyu.core.errors import SiyuError
from siyu.identity.queries import export_identities
from siyu.segments.prediction_queries import with_prediction_columns
from siyu.segments.queries import get_segment, segment_export_expr, with_trait_columns
from siyu.warehouse import backend
from siyu.warehouse.exports import export_path, write_export

EXPORTS = ("identities", "customers", "segment")


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
    summary = backend().table("customer_summary").select(*CUSTOMER_EXPORT_COLUMNS)
    rows = with_prediction_columns(with_trait_columns(summary))
    lists = {name: rows[name].join(LIST_SEPARATOR) for name in ("sources", "tags", "computed_tags")}
    return rows.mutate(**lists).order_by("customer_id")


def export_customers(path) -> int:
    """Write customer_summary and the current traits and predictions (no clear PII; lists joined with "|",
    times in settings.TIME_ZONE)."""
    times = ("acquired_at", "first_purchase_at", "last_purchase_at", "traits_as_of", "predictions_as_of")
    return write_export(customers_expr(), path, local_times=times)


def export_segment(path, segment_id: int) -> int:
    """Write a segment's members (segment_export_expr) to CSV or XLSX; times in settings.TIME_ZONE."""
    get_segment(segment_id)  # NotFound for an unknown id
    return write_export(segment_export_expr(segment_id), path, local_times=("entered_at", "last_purchase_at"))


def export_to_file(what: str, path: str, actor=None, segment_id: int | None = None) -> dict:
    """Write an export file and record who exported what (AuditLog action "export"). `segment`: the
    members of segment `segment_id`."""
    if what not in EXPORTS:
        raise SiyuError(f"unknown export {what!r}: choose one of {', '.join(EXPORTS)}")
    target = export_path(path)
    started = time.monotonic()
    if what == "segment":
        rows = export_segment(target, segment_id)
    else:
        rows = (export_identities if what == "identities" else export_customers)(target)
    result = {"what": what, "path": str(target), "rows": rows, "seconds": round(time.monotonic() - started, 3)}
    extra = {"segment_id": segment_id} if what == "segment" else {}
    record_audit(
        actor, "export", str(target), what=what, rows=rows, format=target.suffix.lstrip(".").lower(), **extra
    )
    return result


def run_export_job(job, progress) -> dict:
    """Job runner for kind "export" (params: what, path, segment_id for a segment): lets `siyu export` run
    inside `siyu serve`."""
    progress(0, 1, f"exporting {job.params['what']}")
    result = export_to_file(
        job.params["what"], job.params["path"], actor=job.created_by, segment_id=job.params.get("segment_id")
    )
    progress(1, 1, f"{result['rows']} rows")
    return result
