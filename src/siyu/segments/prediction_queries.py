"""Read side of predictions: stored snapshots and their calibration reports, one customer's predictions,
prediction columns for segments (rule fields) and for `siyu export customers`. Ibis expressions only."""

from __future__ import annotations

import json
from datetime import date, datetime

import ibis

from siyu.segments.errors import PredictionsNotComputed
from siyu.segments.predictions import PREDICTION_RUNS_TABLE, PREDICTIONS_TABLE
from siyu.segments.traits import cutoff_of
from siyu.warehouse import backend
from siyu.warehouse.schema import TABLES, TS

# Columns a segment rule may name and `siyu export customers` writes (p_purchase is exported as
# p_purchase_<N>d, N the snapshot's horizon), then model_version and predictions_as_of.
PREDICTION_COLUMNS = ("p_purchase", "expected_transactions", "p_alive", "expected_aov", "clv")
EXPORT_COLUMNS = ("p_purchase_{horizon}d", "expected_transactions", "p_alive", "expected_aov", "clv",
                  "model_version", "predictions_as_of")  # fmt: skip


def prediction_runs() -> list[dict]:
    """Every stored predictions snapshot (without its report), the current first, then newest first."""
    runs = backend().table(PREDICTION_RUNS_TABLE)
    ordered = runs.order_by([ibis.desc(runs.current), ibis.desc(runs.as_of)])
    return ordered.drop("settings", "report").to_pyarrow().to_pylist()


def _run(as_of: date | None) -> dict:
    runs = backend().table(PREDICTION_RUNS_TABLE)
    wanted = runs.current if as_of is None else runs.as_of == cutoff_of(as_of)
    found = runs.filter(wanted).order_by(ibis.desc(runs.as_of)).limit(1).to_pyarrow().to_pylist()
    if not found:
        if as_of is None:
            raise PredictionsNotComputed("predictions have not been computed yet: run `siyu predict`")
        raise PredictionsNotComputed(
            f"no predictions as of {as_of}: compute them with `siyu predict --as-of {as_of}`"
        )
    return found[0]


def prediction_cutoff(as_of: date | None = None) -> datetime:
    """The cut-off of the current predictions, or of those computed for `as_of`; PredictionsNotComputed
    when there are none."""
    return _run(as_of)["as_of"]


def calibration(as_of: date | None = None) -> dict:
    """A snapshot's run: when, which model, its settings and its report (training, calibration of the
    propensity on the last horizon, BG/NBD and Gamma-Gamma parameters, BG/NBD predicted vs actual)."""
    run = _run(as_of)
    return {
        **{k: v for k, v in run.items() if k not in ("settings", "report")},
        "settings": json.loads(run["settings"] or "{}"),
        "report": json.loads(run["report"] or "{}"),
    }


def predictions_of(customer_id: int, as_of: date | None = None) -> dict | None:
    """One customer's predictions; None when the snapshot does not hold the customer."""
    cutoff = prediction_cutoff(as_of)
    table = backend().table(PREDICTIONS_TABLE)
    rows = table.filter((table.as_of == cutoff) & (table.customer_id == customer_id)).to_pyarrow().to_pylist()
    return rows[0] if rows else None


def current_predictions(con) -> ibis.Table | None:
    """customer_id and PREDICTION_COLUMNS of the current snapshot; None before the first."""
    try:
        cutoff = prediction_cutoff()
    except PredictionsNotComputed:
        return None
    table = con.table(PREDICTIONS_TABLE)
    return table.filter(table.as_of == cutoff).select("customer_id", *PREDICTION_COLUMNS)


def with_prediction_fields(con, customers: ibis.Table) -> ibis.Table:
    """`customers` (one row per customer_id) with PREDICTION_COLUMNS of the current snapshot (NULL for a
    customer it does not hold, and for everyone before the first): what segment rules read."""
    current = current_predictions(con)
    schema = TABLES[PREDICTIONS_TABLE]
    if current is None:
        return customers.mutate(**{name: ibis.null(schema[name]) for name in PREDICTION_COLUMNS})
    joined = customers.left_join(current, "customer_id")
    return joined.drop(*[c for c in joined.columns if c.endswith("_right")])


def with_prediction_columns(customers: ibis.Table) -> ibis.Table:
    """`customers` with the current predictions as export columns: p_purchase_<N>d, expected_transactions,
    p_alive, expected_aov, clv, model_version and predictions_as_of; the columns are there, empty, before
    the first prediction."""
    schema = TABLES[PREDICTIONS_TABLE]
    try:
        run = _run(None)
    except PredictionsNotComputed:
        run = None
    horizon = run["horizon_days"] if run else 30
    renamed = {f"p_purchase_{horizon}d": "p_purchase"}
    if run is None:
        empty = {name: ibis.null(schema[name]) for name in PREDICTION_COLUMNS}
        out = customers.mutate(**empty, model_version=ibis.null("string"), predictions_as_of=ibis.null(TS))
        return out.rename(renamed)
    table = backend().table(PREDICTIONS_TABLE)
    table = table.filter(table.as_of == run["as_of"])
    table = table.select("customer_id", *PREDICTION_COLUMNS, "model_version", predictions_as_of=table.as_of)
    out = customers.left_join(table, "customer_id")
    out = out.drop(*[c for c in out.columns if c.endswith("_right")])
    return out.rename(renamed)
