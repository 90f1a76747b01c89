"""/api/customers/{id}/predictions and /api/predictions: a customer's purchase propensity and CLV (current,
or as of a past day), the stored snapshots with their calibration, and a refresh."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from django.http import HttpResponse
from ninja import Field, Query, Router, Schema

from siyu.core.owner import submit_job
from siyu.customers import queries as customer_queries
from siyu.customers.queries import CustomerIdPath
from siyu.segments import prediction_queries
from siyu.segments.errors import NotFound
from siyu.segments.predictions import PredictionSettings
from siyu.segments.traits import cutoff_of
from siyu.staff.models import ANALYTICS_ROLES
from siyu.staff.roles import roles
from siyu.web.idempotency import IdempotencyKeyHeader, run_once
from siyu.web.schemas import LOOKUP_ERRORS, WRITE_ERRORS, ErrorOut

router = Router(tags=["predictions"])

AsOf = Annotated[date | None, Query(description="a day with a stored snapshot (siyu predict --as-of)")]


class PredictionsOut(Schema):
    customer_id: int
    as_of: datetime = Field(description="the cut-off: only facts before it were read")
    horizon_days: int
    p_purchase: float = Field(description="probability of a purchase in the next horizon_days days")
    expected_transactions: float | None = Field(
        description="expected purchase days in the CLV horizon (BG/NBD); null for a customer who never bought"
    )
    p_alive: float | None = Field(description="probability the customer is still active (BG/NBD)")
    expected_aov: str | None = Field(description="expected value of a purchase, yuan (Gamma-Gamma)")
    clv: str | None = Field(description="expected purchases × expected value over the CLV horizon, yuan")
    model_version: str
    p_purchase_score: str = Field(
        description="which score p_purchase is: `model` (gradient boosting) or `simple` (the share of past "
        "customers with similar recency and purchase count who bought), served when the model was no better "
        "than the base rate or chance on the holdout"
    )
    clv_score: str | None = Field(
        description="which score the CLV columns are: `bgnbd` (BG/NBD + Gamma-Gamma) or `pace` (the past "
        "year's spending pace, p_alive empty), served when the BG/NBD fit was degenerate or ranked the "
        "holdout's spend worse; null when nobody had bought"
    )


class PredictionRunOut(Schema):
    as_of: datetime
    current: bool
    computed_at: datetime
    horizon_days: int
    customers: int
    seconds: float
    model_version: str


class CalibrationOut(PredictionRunOut):
    settings: dict[str, Any]
    report: dict[str, Any] = Field(
        description="training (rows, snapshots), calibration of the propensity on the last horizon (auc, "
        "brier, reliability bins, lift by decile), bgnbd and gamma_gamma parameters, clv_calibration "
        "(BG/NBD predicted vs actual purchase days), quality (which scores are served and why), timings"
    )
    served: dict[str, str | None] = Field(
        description="p_purchase: `model` or `simple`; clv: `bgnbd`, `pace` or null (see PredictionsOut)"
    )
    warnings: list[str] = Field(
        description="in the request's language: why a model was not used and what is served instead; empty "
        "when both models passed their check"
    )


class PredictionRunIn(Schema):
    as_of: date | None = Field(None, description="a past day (default: now, the current predictions)")
    horizon_days: int | None = Field(None, ge=1, le=366, description="default: settings PREDICTIONS, 30")


class PredictionJobOut(Schema):
    job_id: str
    status: str
    result: dict[str, Any] | None


def _money(value) -> str | None:
    return None if value is None else str(value)


@router.get(
    "/customers/{customer_id}/predictions",
    response={200: PredictionsOut, 400: ErrorOut, **LOOKUP_ERRORS},
    summary="A customer's purchase propensity and CLV, now or as of a past day",
)
def customer_predictions(request, customer_id: CustomerIdPath, as_of: AsOf = None):
    customer_queries.visible_owner_ids(request.auth)
    customer_queries.require_customers([customer_id])
    customer_queries.check_access(request.auth, customer_id)
    row = prediction_queries.predictions_of(customer_id, as_of)
    if row is None:
        raise NotFound(
            f"customer {customer_id} is not in this predictions snapshot: first seen after its cut-off, or "
            "new since the last refresh"
        )
    return {**row, "expected_aov": _money(row["expected_aov"]), "clv": _money(row["clv"])}


@router.get(
    "/predictions/runs",
    response={200: list[PredictionRunOut], **LOOKUP_ERRORS},
    summary="Stored predictions snapshots",
)
def prediction_runs(request):
    customer_queries.visible_owner_ids(request.auth)
    return prediction_queries.prediction_runs()


@router.get(
    "/predictions/calibration",
    response={200: CalibrationOut, 400: ErrorOut, **LOOKUP_ERRORS},
    summary="A snapshot's calibration: reliability, lift by decile, AUC/Brier, BG/NBD predicted vs actual",
)
@roles(*ANALYTICS_ROLES)
def calibration(request, as_of: AsOf = None):
    return prediction_queries.calibration(as_of)


@router.post(
    "/predictions/runs",
    response={202: PredictionJobOut, **WRITE_ERRORS},
    summary="Compute predictions (now or as of a day)",
)
@roles(*ANALYTICS_ROLES)
def refresh(request, response: HttpResponse, body: PredictionRunIn, idempotency_key: IdempotencyKeyHeader):
    cutoff_of(body.as_of)  # a day in the future is refused here, not by a failed job
    PredictionSettings.from_settings(horizon_days=body.horizon_days)

    def run():
        params = {"as_of": body.as_of.isoformat()} if body.as_of else {}
        if body.horizon_days is not None:
            params["horizon_days"] = body.horizon_days
        job = submit_job("predict", params, request.auth, in_process=False)  # the server's worker runs it
        job.refresh_from_db()
        return {"job_id": str(job.pk), "status": job.status, "result": job.result}

    return run_once(request, response, idempotency_key, body, run, status=202)
