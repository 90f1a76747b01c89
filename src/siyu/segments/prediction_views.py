"""Console page 预测与校准 (predictions and calibration): a stored predictions snapshot's calibration on the
time-split holdout — reliability curve, lift by decile, BG/NBD predicted vs actual — drawn with ECharts
from options built here (like analytics), each chart with its definition under it."""

from __future__ import annotations

from datetime import date

from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from siyu.segments import prediction_queries
from siyu.segments.errors import PredictionsNotComputed
from siyu.staff.queries import check_analytics_access
from siyu.web.charts import PALETTE
from siyu.web.views import console_view

DEFINITIONS = {
    "reliability": gettext_lazy(
        "Reliability curve. The model trained one horizon before the snapshot scored every customer known "
        "then; customers are grouped by predicted probability in ten equal-width bins (0–10%, 10–20%, …). "
        "For each bin: the mean predicted probability (x) against the share of its customers who actually "
        "bought in the following horizon (y). A calibrated model lies on the diagonal; bins with few "
        "customers are noisy (their size is in the tooltip)."
    ),
    "lift": gettext_lazy(
        "Lift by decile. The same holdout customers sorted by predicted probability, highest first, in ten "
        "groups of equal size. Bars: the share of each decile who bought ÷ the share of all holdout "
        "customers who bought (1 = no better than chance). Line: the cumulative share of all the buyers "
        "found in the deciles up to this one."
    ),
    "bgnbd": gettext_lazy(
        "BG/NBD check. The model fitted on purchases before the start of the CLV holdout predicted, for every "
        "customer who had bought by then, the purchase days in the holdout; customers are grouped by the "
        "number of repeat purchase days they had made before it (7+ together). Bars: mean predicted and "
        "mean actual purchase days per customer."
    ),
}


def _option(series: list[dict], x_axis: dict, y_axis: dict, **extra) -> dict:
    return {
        "color": PALETTE,
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 56, "right": 56, "top": 40, "bottom": 48},
        "xAxis": x_axis,
        "yAxis": y_axis,
        "series": series,
        **extra,
    }


def _chart(chart_id: str, title, option: dict) -> dict:
    return {
        "id": chart_id,
        "option_id": f"{chart_id}-option",
        "title": title,
        "definition": DEFINITIONS[chart_id.removeprefix("chart-")],
        "option": option,
    }


def calibration_charts(report: dict) -> list[dict]:
    """ECharts options of the reliability curve, the decile lift and the BG/NBD check (those the report
    has)."""
    charts = []
    check = report.get("calibration") or {}
    if check.get("reliability"):
        points = [
            [round(r["predicted"], 4), round(r["observed"], 4), r["customers"]] for r in check["reliability"]
        ]
        series = [
            {
                "name": _("Observed share who bought"),
                "type": "line",
                "data": points,
                "symbolSize": 8,
                "label": {"show": False},
            },
            {
                "name": _("Perfect calibration"),
                "type": "line",
                "data": [[0, 0], [1, 1]],
                "lineStyle": {"type": "dashed"},
                "symbol": "none",
            },
        ]
        axis = {"type": "value", "min": 0, "max": 1}
        charts.append(
            _chart(
                "chart-reliability",
                _("Reliability curve"),
                _option(
                    series,
                    {**axis, "name": _("Predicted probability"), "nameLocation": "middle", "nameGap": 28},
                    {**axis, "name": _("Observed share")},
                    tooltip={"trigger": "item"},
                ),
            )
        )
    if check.get("lift"):
        deciles = [str(r["decile"]) for r in check["lift"]]
        series = [
            {"name": _("Decile lift"), "type": "bar", "data": [round(r["lift"] or 0, 3) for r in check["lift"]]},
            {
                "name": _("Cumulative share of buyers"),
                "type": "line",
                "yAxisIndex": 1,
                "data": [round(r["cumulative_capture"] or 0, 4) for r in check["lift"]],
            },
        ]
        charts.append(
            _chart(
                "chart-lift",
                _("Lift by decile"),
                _option(
                    series,
                    {"type": "category", "data": deciles, "name": _("Decile"), "nameLocation": "middle",
                     "nameGap": 28},
                    [{"type": "value", "name": _("Decile lift")}, {"type": "value", "min": 0, "max": 1}],
                ),
            )
        )  # fmt: skip
    groups = (report.get("clv_calibration") or {}).get("by_repeat_purchases")
    if groups:
        series = [
            {"name": _("Predicted"), "type": "bar", "data": [round(g["predicted"], 3) for g in groups]},
            {"name": _("Actual"), "type": "bar", "data": [round(g["actual"], 3) for g in groups]},
        ]
        x_axis = {"type": "category", "data": [g["repeat_purchases"] for g in groups],
                  "name": _("Repeat purchases before the holdout"), "nameLocation": "middle", "nameGap": 28}  # fmt: skip
        charts.append(
            _chart(
                "chart-bgnbd",
                _("BG/NBD: predicted vs actual purchases"),
                _option(series, x_axis, {"type": "value", "name": _("Purchase days per customer")}),
            )
        )
    return charts


def _as_of(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@console_view
def predictions_page(request):
    check_analytics_access(request.user)
    runs = prediction_queries.prediction_runs()
    as_of = _as_of(request.GET.get("as_of"))
    run, error = None, None
    try:
        run = prediction_queries.calibration(as_of)
    except PredictionsNotComputed as exc:
        error = str(exc)
    report = run["report"] if run else {}
    context = {
        "warnings": run["warnings"] if run else [],
        "served": run["served"] if run else {},
        "runs": runs,
        "run": run,
        "error": error,
        "report": report,
        "check": report.get("calibration") or {},
        "clv_check": report.get("clv_calibration") or {},
        "charts": calibration_charts(report) if run else [],
    }
    return render(request, "siyu/segments/predictions.html", context)
