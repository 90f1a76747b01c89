"""State changes of predictions: computing a snapshot and storing it (siyu.segments.predictions holds the
models). Like the traits: a current refresh (no date; `siyu predict` and after every resolve when history
allows) replaces the previous current snapshot; `siyu predict --as-of DATE` replaces an earlier snapshot of
the same date and leaves the current one alone."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, date, datetime

import pyarrow as pa

from siyu.segments.errors import PredictionError
from siyu.segments.predictions import (
    PREDICTION_RUNS_TABLE,
    PREDICTIONS_TABLE,
    PredictionSettings,
    compute_predictions,
)
from siyu.segments.traits import cutoff_of
from siyu.warehouse import backend, transaction
from siyu.warehouse.append import delete_where_in
from siyu.warehouse.schema import TABLES

log = logging.getLogger(__name__)


def refresh_predictions(
    as_of: date | None = None,
    *,
    horizon_days: int | None = None,
    progress=None,
    now: datetime | None = None,
) -> dict:
    """Compute and store every customer's predictions as of the start of `as_of` (None: now)."""
    started = time.monotonic()
    ps = PredictionSettings.from_settings(horizon_days=horizon_days)
    cutoff = cutoff_of(as_of, now)
    current = as_of is None
    con = backend()
    table, report = compute_predictions(con, cutoff, ps, progress)
    with transaction() as tx:
        runs = con.table(PREDICTION_RUNS_TABLE)
        same = runs.as_of == cutoff
        replaced = runs.filter(runs.current | same if current else same).select("as_of").distinct()
        replaced = pa.array(
            replaced.to_pyarrow().column("as_of").to_pylist(), type=pa.timestamp("us", tz="UTC")
        )
        for name in (PREDICTIONS_TABLE, PREDICTION_RUNS_TABLE):
            delete_where_in(tx, name, "as_of", replaced)
        if table.num_rows:
            con.insert(PREDICTIONS_TABLE, table)
        seconds = round(time.monotonic() - started, 3)
        run = {
            "as_of": cutoff,
            "current": current,
            "computed_at": datetime.now(UTC),
            "horizon_days": ps.horizon_days,
            "customers": table.num_rows,
            "seconds": seconds,
            "model_version": report["model_version"],
            "settings": ps.as_json(),
            "report": json.dumps(report, ensure_ascii=False, default=str),
        }
        con.insert(
            PREDICTION_RUNS_TABLE,
            pa.Table.from_pylist([run], schema=TABLES[PREDICTION_RUNS_TABLE].to_pyarrow()),
        )
    if progress is not None:
        progress(5, 5, f"{table.num_rows} customers")
    return {
        "as_of": cutoff.isoformat(),
        "current": current,
        "horizon_days": ps.horizon_days,
        "seconds": round(time.monotonic() - started, 3),
        **report,
    }


def run_predict_job(job, progress) -> dict:
    """Job runner for kind "predict" (params: as_of "YYYY-MM-DD" or none, horizon_days): `siyu predict`,
    inside `siyu serve` when it owns the warehouse."""
    params = job.params or {}
    as_of = params.get("as_of")
    return refresh_predictions(
        date.fromisoformat(as_of) if as_of else None,
        horizon_days=params.get("horizon_days"),
        progress=progress,
    )


def refresh_predictions_after_traits(progress=None) -> dict:
    """The current predictions, refreshed after the traits at the end of a resolve job. Too little history
    is reported as skipped; any other failure is reported without failing the resolve."""
    try:
        if not PredictionSettings.from_settings().after_resolve:
            return {"skipped": "turned off (settings PREDICTIONS after_resolve)"}
        report = refresh_predictions(progress=progress)
    except PredictionError as exc:
        return {"skipped": str(exc)}
    except Exception as exc:  # noqa: BLE001 - resolution has committed; say what went wrong here
        log.exception("refreshing predictions after resolve failed")
        return {"error": f"{type(exc).__name__}: {exc}"}
    calibration = report.get("calibration", {})
    return {
        "as_of": report["as_of"],
        "customers": report["customers"],
        "auc": calibration.get("auc"),
        "seconds": report["seconds"],
        "served": {k: v.get("served") for k, v in report.get("quality", {}).items()},
    }
