"""ECharts options for each analytics page, built from the page's numbers (the browser only draws them).
Each chart: {"id", "title", "definition", "option"}; its definition is shown under it."""

from __future__ import annotations

import math
import unicodedata

from django.utils.translation import gettext as _

from siyu.analytics import labels
from siyu.analytics.definitions import DEFINITIONS
from siyu.analytics.labels import (
    factor_label,
    month_label,
    node_label,
    operation_label,
    stage_label,
    weekday_labels,
)
from siyu.analytics.live_codes import CODE_FUNNEL_STAGES, code_channel_words
from siyu.analytics.queries import ALL, FUNNEL_STAGES, GMV_FACTORS, HOURS
from siyu.core.labels import label
from siyu.ingest.labels import source_labels
from siyu.web.charts import PALETTE


def _num(value):
    return None if value is None else float(value)


def _chart(chart_id: str, title, definition_key: str, option: dict) -> dict:
    option = {"color": PALETTE, "tooltip": {"trigger": "item"}, **option}
    return {
        "id": chart_id,
        "option_id": f"{chart_id}-option",
        "title": title,
        "definition": DEFINITIONS[definition_key],
        "option": option,
    }


def _bars(categories, series: dict, *, percent: bool = False, stack: bool = False) -> dict:
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 56, "right": 24, "top": 40, "bottom": 40},
        "xAxis": {"type": "category", "data": list(categories)},
        "yAxis": {"type": "value", **({"max": 1} if percent else {})},
        "series": [
            {"name": name, "type": "bar", "data": values, **({"stack": "all"} if stack else {})}
            for name, values in series.items()
        ],
    }


def _lines(curves: list[dict], what: str) -> dict:
    width = max((len(c[what]) for c in curves), default=0)
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0, "type": "scroll"},
        "grid": {"left": 64, "right": 24, "top": 40, "bottom": 40},
        "xAxis": {"type": "category", "data": [month_label(i) for i in range(width)]},
        "yAxis": {"type": "value"},
        "series": [
            {"name": c["cohort"], "type": "line", "data": [_num(v) for v in c[what]], "connectNulls": False}
            for c in curves
        ],
    }


def _channels(rows: list[dict], sources: dict[str, str], key: str = "channel") -> list[str]:
    return [sources.get(r[key], r[key]) for r in rows]


def funnel_charts(result: dict, sources: dict[str, str]) -> list[dict]:
    out = []
    for table, key, title in (("funnel", "funnel", _("Funnel by channel")), ("pool", "pool", _("User pool"))):
        rows = [r for r in result["tables"][table] if r["channel"] != ALL]
        series = {str(labels.FUNNEL_STAGES[s]): [r[s] for r in rows] for s in FUNNEL_STAGES}
        out.append(_chart(f"chart-{table}", title, key, _bars(_channels(rows, sources), series)))
    total = next((r for r in result["tables"]["funnel"] if r["channel"] == ALL), None)
    if total:
        data = [{"name": str(labels.FUNNEL_STAGES[s]), "value": total[s]} for s in FUNNEL_STAGES]
        option = {
            "series": [{"type": "funnel", "sort": "none", "data": data, "label": {"formatter": "{b}: {c}"}}]
        }
        out.insert(0, _chart("chart-funnel-all", _("Funnel, all channels"), "funnel", option))
    code_rows = [r for r in result["tables"].get("code_funnel", []) if r["code_channel"] != ALL]
    if code_rows:
        series = {str(labels.CODE_FUNNEL_STAGES[s]): [r[s] for r in code_rows] for s in CODE_FUNNEL_STAGES}
        categories = [code_channel_words(r["code_channel"]) for r in code_rows]
        out.append(_chart("chart-code-funnel", _("Funnel through live codes"), "funnel_codes",
                          _bars(categories, series)))  # fmt: skip
    return out


def _change(now, before) -> str:
    if now is None or before in (None, 0):
        return ""
    return f" ({(float(now) / float(before) - 1) * 100:+.1f}%)"


# How the GMV tree shows each measure: yuan, a count, a share or a plain number
_TREE_VALUES = {
    "gmv": lambda v: f"¥{v:,.2f}",
    "spend_per_buyer": lambda v: f"¥{v:,.2f}",
    "aov": lambda v: f"¥{v:,.2f}",
    "buyers": lambda v: f"{v:,}",
    "base": lambda v: f"{v:,}",
    "conversion": lambda v: f"{v:.2%}",
    "frequency": lambda v: f"{v:.2f}",
}
TREE_FONT_SIZE = 13


def label_width(text: str, font_size: int = TREE_FONT_SIZE) -> int:
    """A generous estimate of the pixels a chart label needs (its widest line): a CJK character is as
    wide as the font size, any other about 0.62 of it (digits and Latin letters are narrower)."""
    return max(
        math.ceil(
            sum(font_size if unicodedata.east_asian_width(c) in "WF" else font_size * 0.62 for c in line)
        )
        for line in text.split("\n")
    )


def gmv_tree_charts(result: dict, sources: dict[str, str]) -> list[dict]:
    total = next((r for r in result["tables"]["factors"] if r["channel"] == ALL), None)
    contrib = next((r for r in result["tables"]["contributions"] if r["channel"] == ALL), None)
    if total is None:
        return []

    def node(key, children=()):
        value = total[key]
        shown = "—" if value is None else _TREE_VALUES[key](value)
        return {
            "name": f"{labels.GMV_MEASURES[key]}\n{shown}{_change(value, total[key + '_before'])}",
            "children": list(children),
        }

    leaves = [node("base"), node("conversion"), node("frequency"), node("aov")]
    tree = node("gmv", [node("buyers", leaves[:2]), node("spend_per_buyer", leaves[2:])])
    # The root's label is drawn left of it, the leaves' right of them: the margins are as wide as those
    # labels, so that a GMV in the millions is not cut at the chart's edge.
    gap = 24  # the node's symbol and the space between it and its label
    charts = [
        _chart(
            "chart-gmv-tree",
            _("GMV tree"),
            "gmv_tree",
            {
                "series": [
                    {
                        "type": "tree",
                        "data": [tree],
                        "orient": "LR",
                        "top": 20,
                        "bottom": 20,
                        "left": max(90, label_width(tree["name"]) + gap),
                        "right": max(140, *(label_width(leaf["name"]) + gap for leaf in leaves)),
                        "symbolSize": 10,
                        "initialTreeDepth": -1,
                        "label": {"position": "left", "fontSize": TREE_FONT_SIZE},
                        "leaves": {"label": {"position": "right"}},
                    }
                ]
            },
        )
    ]
    if contrib and contrib["decomposed"]:
        option = _bars(
            [str(labels.GMV_MEASURES[x]) for x in GMV_FACTORS],
            {_("Contribution to the GMV change (yuan)"): [contrib[x] for x in GMV_FACTORS]},
        )
        charts.append(
            _chart("chart-gmv-contributions", _("What drove the change"), "gmv_contributions", option)
        )
    return charts


def formula_charts(result: dict, sources: dict[str, str]) -> list[dict]:
    rows = [r for r in result["tables"]["factors"] if r["available"]]
    labels = [factor_label(r["factor"]) for r in rows]
    changes = [
        round((float(r["value"]) / float(r["previous"]) - 1) * 100, 1)
        if r["value"] is not None and r["previous"]
        else None
        for r in rows
    ]
    option = _bars(labels, {_("Change against the previous period (%)"): changes})
    return [_chart("chart-formula", _("Factors against the previous period"), "formula", option)]


def cohort_charts(result: dict, sources: dict[str, str]) -> list[dict]:
    by_month = result["cohorts_by_month"]
    by_channel = [
        {**c, "cohort": sources.get(c["cohort"], c["cohort"])} for c in result["cohorts_by_channel"]
    ]
    width = max((len(c["retention"]) for c in by_month), default=0)
    data = [
        [offset, row, round(value * 100, 1)]
        for row, c in enumerate(by_month)
        for offset, value in enumerate(c["retention"])
        if value is not None and offset > 0
    ]
    heat = {
        "tooltip": {"position": "top"},
        "grid": {"left": 80, "right": 24, "top": 16, "bottom": 80},
        "xAxis": {"type": "category", "data": [month_label(i) for i in range(width)]},
        "yAxis": {"type": "category", "data": [c["cohort"] for c in by_month], "inverse": True},
        "visualMap": {
            "min": 0,
            "max": max((d[2] for d in data), default=1) or 1,
            "orient": "horizontal",
            "left": "center",
            "bottom": 0,
            "calculable": True,
        },
        "series": [{"type": "heatmap", "data": data, "label": {"show": True, "fontSize": 10}}],
    }
    return [
        _chart("chart-cohort-retention", _("Retention by first-purchase month (%)"), "cohorts", heat),
        _chart(
            "chart-cohort-channel",
            _("Retention by acquisition channel"),
            "cohorts_by_channel",
            _lines(by_channel, "retention"),
        ),
        _chart("chart-ltv-month", _("LTV by first-purchase month (yuan)"), "ltv", _lines(by_month, "ltv")),
        _chart(
            "chart-ltv-channel",
            _("LTV by acquisition channel (yuan)"),
            "ltv",
            _lines(by_channel, "ltv"),
        ),
    ]


def roi_charts(result: dict, sources: dict[str, str]) -> list[dict]:
    rows = result["tables"]["channels"]
    option = _bars(
        _channels(rows, sources),
        {_("Spend"): [_num(r["spend"]) for r in rows], "GMV": [_num(r["gmv"]) for r in rows]},
    )
    option["yAxis"] = [{"type": "value"}, {"type": "value", "name": "ROI"}]
    option["series"].append(
        {"name": "ROI", "type": "line", "yAxisIndex": 1, "data": [r["roi"] for r in rows], "symbolSize": 8}
    )
    charts = [_chart("chart-roi", _("Spend, GMV and ROI by channel"), "channel_roi", option)]
    code_rows = result["tables"].get("code_channels")
    if code_rows:
        figures = ("adds", "retained_30", "buyers_90")
        series = {str(labels.COLUMNS[k]): [r[k] for r in code_rows] for k in figures}
        categories = [code_channel_words(r["code_channel"]) for r in code_rows]
        charts.append(_chart("chart-code-roi", _("What live codes brought, by channel"), "channel_roi_codes",
                             _bars(categories, series)))  # fmt: skip
    return charts


def traffic_charts(result: dict, sources: dict[str, str]) -> list[dict]:
    kinds = {n["value"]: n["kind"] for n in result["nodes"] if n["level"] == "channel"}
    names = {n["name"]: node_label(n["name"], sources, kinds) for n in result["nodes"]}
    option = {
        "tooltip": {"trigger": "item"},
        "series": [
            {
                "type": "sankey",
                "data": [{"name": names[n["name"]]} for n in result["nodes"]],
                "links": [
                    {"source": names[r["source"]], "target": names[r["target"]], "value": r["customers"]}
                    for r in result["tables"]["links"]
                ],
                "emphasis": {"focus": "adjacency"},
                "lineStyle": {"color": "gradient", "curveness": 0.5},
                "left": 16,
                "right": 140,
            }
        ],
    }
    return [_chart("chart-sankey", _("Public pools → private pools → purchase"), "traffic_map", option)]


def hour_charts(result: dict, sources: dict[str, str]) -> list[dict]:
    heat_rows = result["tables"]["weekday_hour_orders"]
    data = [[h, r["weekday"], r[f"h{h:02d}"]] for r in heat_rows for h in range(HOURS)]
    heat = {
        "tooltip": {"position": "top"},
        "grid": {"left": 56, "right": 24, "top": 16, "bottom": 80},
        "xAxis": {"type": "category", "data": [f"{h:02d}" for h in range(HOURS)]},
        "yAxis": {"type": "category", "data": weekday_labels(), "inverse": True},
        "visualMap": {
            "min": 0,
            "max": max((d[2] for d in data), default=1) or 1,
            "orient": "horizontal",
            "left": "center",
            "bottom": 0,
            "calculable": True,
        },
        "series": [{"type": "heatmap", "data": data}],
    }
    shares = [r for r in result["tables"]["closed_share"] if r["channel"] != ALL]
    share_option = _bars(
        _channels(shares, sources),
        {
            _("Share of orders while stores are closed"): [r["closed_order_share"] for r in shares],
            _("Share of GMV while stores are closed"): [r["closed_gmv_share"] for r in shares],
        },
        percent=True,
    )
    by_hour = result["tables"]["hour_orders_by_channel"]
    lines = {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 56, "right": 24, "top": 40, "bottom": 40},
        "xAxis": {"type": "category", "data": [f"{h:02d}" for h in range(HOURS)]},
        "yAxis": {"type": "value"},
        "series": [
            {
                "name": sources.get(r["channel"], r["channel"]),
                "type": "line",
                "data": [r[f"h{h:02d}"] for h in range(HOURS)],
            }
            for r in by_hour
        ],
    }
    return [
        _chart("chart-weekday-hour", _("Orders by weekday and hour"), "sales_by_hour", heat),
        _chart("chart-hour-channel", _("Orders by hour, per channel"), "sales_by_hour", lines),
        _chart("chart-closed-share", _("Sold while stores are closed"), "sales_by_hour", share_option),
    ]


def repurchase_charts(result: dict, sources: dict[str, str]) -> list[dict]:
    rows = result["tables"]["repurchase"]
    option = _bars(
        [label(labels.POPULATIONS, r["population"]) for r in rows],
        {_("Repurchase rate"): [r["repurchase_rate"] for r in rows]},
        percent=True,
    )
    return [_chart("chart-repurchase", _("Repurchase rate: group against base"), "repurchase", option)]


def _empty_aware_scale(highest: int) -> dict:
    """A piecewise colour scale whose 0 stands out (red): the cells nobody was reached through."""
    pieces = [{"value": 0, "color": "#fca5a5", "label": str(_("0 — nobody reached"))}]
    if highest > 0:
        bounds = sorted({max(1, round(highest * k / 4)) for k in range(1, 5)} | {highest})
        low, colors = 1, ["#ccfbf1", "#5eead4", "#14b8a6", "#0f766e", "#134e4a"]
        for i, high in enumerate(bounds):
            if high >= low:
                pieces.append({"min": low, "max": high, "color": colors[min(i, len(colors) - 1)]})
                low = high + 1
    return {"type": "piecewise", "pieces": pieces, "orient": "horizontal", "left": "center", "bottom": 0}


def _grid_heatmap(row_labels: list[str], stage_labels: list[str], values: list[list[int]]) -> dict:
    data = [[x, y, v] for y, row in enumerate(values) for x, v in enumerate(row)]
    return {
        "tooltip": {"position": "top"},
        "grid": {"left": 150, "right": 24, "top": 16, "bottom": 90},
        "xAxis": {"type": "category", "data": stage_labels, "splitArea": {"show": True}},
        "yAxis": {"type": "category", "data": row_labels, "inverse": True, "splitArea": {"show": True}},
        "visualMap": _empty_aware_scale(max((d[2] for d in data), default=0)),
        "series": [{"type": "heatmap", "data": data, "label": {"show": True}}],
    }


def touch_grid_charts(result: dict, sources: dict[str, str]) -> list[dict]:
    stages = result["stages"]
    stage_labels = [stage_label(s) for s in stages]
    points = result["tables"]["touchpoint_stage"]
    operations = result["tables"]["operation_stage"]
    return [
        _chart(
            "chart-touch-grid",
            _("Customers reached: touchpoint × lifecycle stage"),
            "touch_grid",
            _grid_heatmap(
                [label(labels.TOUCHPOINTS, r["touchpoint"]) for r in points],
                stage_labels,
                [[r[s] for s in stages] for r in points],
            ),  # fmt: skip
        ),
        _chart(
            "chart-operation-grid",
            _("Customers reached: operation × lifecycle stage"),
            "touch_grid_operations",
            _grid_heatmap(
                [operation_label(r) for r in operations],
                stage_labels,
                [[r[s] for s in stages] for r in operations],
            ),  # fmt: skip
        ),
    ]


CHARTS = {
    "funnel": funnel_charts,
    "gmv_tree": gmv_tree_charts,
    "formula": formula_charts,
    "cohorts": cohort_charts,
    "channel_roi": roi_charts,
    "traffic_map": traffic_charts,
    "sales_by_hour": hour_charts,
    "repurchase": repurchase_charts,
    "touch_grid": touch_grid_charts,
}


def charts_for(result: dict) -> list[dict]:
    return CHARTS[result["page"]](result, source_labels())
