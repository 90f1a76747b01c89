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
    propensity on the last horizon, BG/NBD and Gamma-Gamma parameters, BG/NBD predicted vs actual), the
    scores it serves and the operator's warnings (quality_warnings)."""
    run = _run(as_of)
    report = json.loads(run["report"] or "{}")
    return {
        **{k: v for k, v in run.items() if k not in ("settings", "report")},
        "settings": json.loads(run["settings"] or "{}"),
        "report": report,
        "served": served_scores(report),
        "warnings": quality_warnings(report, run["horizon_days"]),
    }


def predictions_of(customer_id: int, as_of: date | None = None) -> dict | None:
    """One customer's predictions, with `p_purchase_score` ("model" or "simple") and `clv_score` ("bgnbd",
    "pace" or None) saying which score the snapshot serves; None when the snapshot does not hold the
    customer."""
    run = _run(as_of)
    table = backend().table(PREDICTIONS_TABLE)
    rows = table.filter((table.as_of == run["as_of"]) & (table.customer_id == customer_id)).to_pyarrow().to_pylist()
    if not rows:
        return None
    served = served_scores(json.loads(run["report"] or "{}"))
    return {**rows[0], "p_purchase_score": served["p_purchase"], "clv_score": served["clv"]}


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


# --- is it worth using: the words operators read ---------------------------------------------------------


def quality_warnings(report: dict, horizon_days: int) -> list[str]:
    """What an operator should know before using a snapshot's predictions, in the active language: when
    the purchase model or BG/NBD was not worth using on the holdout, which simpler score is served
    instead, and when the check itself was not possible. Empty when both models passed."""
    return propensity_warnings(report, horizon_days) + clv_warnings(report)


def propensity_warnings(report: dict, horizon_days: int) -> list[str]:
    """quality_warnings about the purchase probability."""
    from django.utils.translation import gettext as _

    quality = report.get("quality") or {}
    out = []
    propensity = quality.get("p_purchase") or {}
    check = report.get("calibration") or {}
    days = horizon_days
    if "not_checked" in propensity.get("problems", []):
        out.append(
            _(
                "Purchase probability could not be checked yet: the purchase history is too short to test it on "
                "a past period (it needs about %(days)s days). Use it with care."
            )
            % {"days": 3 * days}
        )
    if propensity.get("served") == "simple":
        model_problems = propensity.get("model_problems") or []
        if "model_not_trained" in model_problems:
            out.append(
                _(
                    "The purchase model found nothing to learn from in these orders (every customer looks the "
                    "same in what the model reads), so it was not used."
                )
            )
        if "not_better_than_base_rate" in model_problems:
            out.append(
                _(
                    "Tested on the last %(days)s days, the purchase model predicted worse than simply giving "
                    "everyone the average purchase rate (%(rate)s)."
                )
                % {"days": days, "rate": _percent(check.get("base_rate"))}
            )
        if "not_better_than_chance" in model_problems:
            out.append(
                _(
                    "Tested on the last %(days)s days, the purchase model ranked customers no better than a "
                    "random order would, once the noise of a base this size is allowed for."
                )
                % {"days": days}
            )
        out.append(
            _(
                "Purchase probability now uses the simple score: among past customers with a similar number of "
                "days since their last purchase and a similar number of purchases, the share who bought in "
                "the following %(days)s days."
            )
            % {"days": days}
        )
        if propensity.get("problems"):
            out.append(
                _(
                    "The simple score did no better on the same test: these orders cannot yet tell who will buy. "
                    "Do not rely on purchase probability to pick customers; use recency and purchase counts "
                    "directly."
                )
            )
    return out


def clv_warnings(report: dict) -> list[str]:
    """quality_warnings about CLV (and the expected purchases, value and activity it is made of)."""
    from django.utils.translation import gettext as _

    out = []
    value = (report.get("quality") or {}).get("clv") or {}
    notes = value.get("problems") or []
    words = {
        "bgnbd_no_dropout": _(
            "The customer lifetime model could not see from these purchases when customers stop buying (its "
            "fit is degenerate): its probability that a customer is still active would be close to 100% "
            "for everyone."
        ),
        "bgnbd_at_bounds": _("The customer lifetime model's fit ran to an extreme (it is degenerate)."),
        "bgnbd_not_converged": _("The customer lifetime model's fit did not settle on an answer."),
        "bgnbd_not_available": _("Too few customers bought more than once to fit the customer lifetime model."),
        "gamma_gamma_degenerate": _(
            "The purchase values vary too little between customers for the customer lifetime model to "
            "estimate what a purchase is worth."
        ),
        "bgnbd_kept_by_holdout": _(
            "Even so, tested on the last %(days)s days it ranked who spends most better than the simple "
            "estimate, so customer lifetime value still uses it; the probability that a customer is still "
            "active is left empty."
        )
        % {"days": (report.get("clv_calibration") or {}).get("holdout_days", 90)},
        "pace_ranks_better": _(
            "Tested on the last %(days)s days, the simple estimate ranked who spends most better than the "
            "customer lifetime model."
        )
        % {"days": (report.get("clv_calibration") or {}).get("holdout_days", 90)},
    }
    for note in notes:
        if note in words:
            out.append(words[note])
    if value.get("served") == "pace":
        out.append(
            _(
                "Customer lifetime value now uses the simple estimate: the customer's spending per day over the "
                "past year (or since their first purchase, at least 90 days) carried over the coming months. "
                "It does not estimate whether a customer is still active, so that value is left empty."
            )
        )
    return out


def _percent(value) -> str:
    return "—" if value is None else f"{value:.1%}"


def served_scores(report: dict) -> dict[str, str | None]:
    """Which purchase probability ("model" or "simple") and which CLV ("bgnbd" or "pace") a snapshot
    serves; a snapshot from before issue 13 has no `quality` and served the models."""
    quality = report.get("quality")
    if quality is None:
        return {"p_purchase": "model", "clv": "bgnbd" if report.get("bgnbd") else None}
    return {
        "p_purchase": (quality.get("p_purchase") or {}).get("served", "model"),
        "clv": (quality.get("clv") or {}).get("served"),
    }


def field_notes() -> dict[str, dict[str, str]]:
    """The segment builder's words for each prediction field of the current snapshot served by a simpler
    score (or not estimated): `which` (added to the field's label) and `note` (shown beside the field:
    which score it is and why the model was not used, quality_warnings). Empty before the first snapshot
    and when the models are served."""
    from django.utils.translation import gettext as _

    try:
        run = calibration()
    except PredictionsNotComputed:
        return {}
    report = run["report"]
    served = served_scores(report)
    notes = {}
    clv_notes = ((report.get("quality") or {}).get("clv") or {}).get("problems") or []
    if "bgnbd_kept_by_holdout" in clv_notes:
        notes["p_alive"] = {"which": _("not estimated"), "note": " ".join(clv_warnings(report))}
    if served["p_purchase"] == "simple":
        notes["p_purchase"] = {
            "which": _("simple score"),
            "note": " ".join(
                [_("Simple score (recency and purchase count)."), *propensity_warnings(report, run["horizon_days"])]
            ),
        }
    if served["clv"] == "pace":
        words = " ".join([_("Simple estimate (past year's spending pace)."), *clv_warnings(report)])
        for name in ("expected_transactions", "expected_aov", "clv"):
            notes[name] = {"which": _("simple estimate"), "note": words}
        notes["p_alive"] = {
            "which": _("not estimated"),
            "note": _("Not estimated in this snapshot: the customer lifetime model was not used."),
        }
    return notes
