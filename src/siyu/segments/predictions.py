"""Predictions per customer as of a cut-off: the probability of a purchase in the next N days (gradient
boosting, scikit-learn) and CLV (BG/NBD + Gamma-Gamma, siyu.segments.clv), with their calibration on a
time-split holdout. The user guide repeats the definitions for operators; settings `PREDICTIONS`.

Features (one row per customer, as of a cut-off c, built in the warehouse through Ibis from
`siyu.segments.traits.facts_before(c)`, so nothing on or after c is read):
- the traits at c (base_traits_expr): lifetime orders and spend, recency, frequency and monetary in the
  traits window with their quintile scores, price sensitivity (priced orders, discount share and depth),
  purchase cycle and the days to the due date, lifecycle and AIPL stage;
- purchase orders in the 30/90/180 days before c, spend in the 90 days, distinct purchase days, non-purchase
  orders (unpaid, cancelled, refunded) and events in the 30/90 days, days since the first purchase, days
  since the customer was first seen, recency ÷ purchase cycle;
- product mix: the share of the customer's order lines in each of the `top_products` products sold most
  before the model's last training cut-off (the warehouse has no category column: a product is the finest
  category it knows);
- channel: the source of the customer's first record (acquisition) and of the last purchase;
- seasonality: the calendar month of c (training stacks several cut-offs, so the month varies).

Propensity. Labels: bought (a purchase order) in [c, c + N days). Training stacks the snapshots
c = T − N, T − 2N, … (`training_snapshots`), each labelled with the N days after it, a deterministic sample
of at most `max_training_rows` rows; the model scores every customer at T. Calibration is the same
procedure one horizon back: trained on T − 2N, T − 3N, … and scored at T − N, then compared with who
actually bought in [T − N, T): AUC, Brier score, a reliability curve (10 equal-width probability bins:
mean predicted vs observed share) and lift by decile (customers sorted by predicted probability, ten equal
groups: observed share ÷ base rate).

CLV. BG/NBD and Gamma-Gamma are fitted on the purchase days before T (several orders on one day are one
purchase, as in the CDNOW data of the papers; time in weeks), on a deterministic sample of at most
`max_clv_fit_customers` buyers. Per buyer: `expected_transactions` in the next `clv_months` 30-day months,
`p_alive`, `expected_aov` (Gamma-Gamma: the buyer's repeat purchases shrunk towards the population mean)
and `clv` = Σ monthly expected purchases × expected_aov, discounted at `discount_rate` a year. Customers who
never bought have no CLV (BG/NBD starts at the first purchase). Calibration: fitted on the purchase days
before T − H (`clv_holdout_days`), predicted vs actual purchase days in [T − H, T), by the number of repeat
purchases before T − H.

Minimum history: a training snapshot is used when its labels hold at least `min_class_count` (20)
customers who bought and 20 who did not, so purchases must span at least 2 × N days before T (one
horizon of history, one of labels); calibration needs one horizon more (3 × N), and CLV needs customers
with repeat purchases (its calibration `clv_holdout_days` more). With less, `siyu predict` says what is
missing and the refresh after a resolve skips predictions.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import ibis
import numpy as np
import pyarrow as pa
from django.conf import settings
from threadpoolctl import threadpool_limits

from siyu.core.progress import StepClock
from siyu.segments import clv
from siyu.segments.errors import PredictionError
from siyu.segments.traits import (
    TraitSettings,
    base_traits_expr,
    day_number,
    facts_before,
)
from siyu.warehouse.localtime import local_time
from siyu.warehouse.schema import TS

log = logging.getLogger(__name__)

PREDICTIONS_TABLE = "customer_predictions"
PREDICTION_RUNS_TABLE = "prediction_runs"
FEATURES_VERSION = 1
CLV_VERSION = 1
DAYS_PER_WEEK = 7.0
DAYS_PER_MONTH = 30
_SAMPLE_MOD = 1_000_003
_STEPS = 5

NUMERIC_TRAITS = (
    "orders_total", "spend_total", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score",
    "priced_orders", "discount_order_share", "discount_depth", "purchase_cycle_days", "due_in_days",
)  # fmt: skip
WINDOW_FEATURES = (
    "orders_30d", "orders_90d", "orders_180d", "spend_90d", "purchase_days", "other_orders_90d", "events_30d",
    "events_90d", "days_since_first_purchase", "days_known", "recency_over_cycle", "month",
)  # fmt: skip
CATEGORICAL = ("acquisition_source", "last_purchase_source", "lifecycle_stage", "aipl_stage")
MAX_CATEGORIES = 30


@dataclass(frozen=True)
class PredictionSettings:
    """Override with `PREDICTIONS = {...}` in settings (same keys); `siyu predict --horizon-days N`."""

    horizon_days: int = 30
    training_snapshots: int = 2
    max_training_rows: int = 300_000
    top_products: int = 8
    min_class_count: int = 20
    clv_months: int = 12
    discount_rate: float = 0.0  # a year
    clv_holdout_days: int = 90
    max_clv_fit_customers: int = 100_000
    # OpenMP threads of the gradient boosting. 1 by default: on a machine whose cores are busy with other
    # work, OpenMP's spinning threads made a fit 14× slower (docs/architecture.md); raise it on a
    # dedicated server.
    threads: int = 1
    # Refresh the current predictions at the end of every resolve job, after the traits (minutes on a
    # large base: docs/benchmarks.md); False leaves it to `siyu predict`.
    after_resolve: bool = True

    @classmethod
    def from_settings(cls, **overrides) -> PredictionSettings:
        values = dict(getattr(settings, "PREDICTIONS", {}) or {})
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            chosen = cls(**values)
        except TypeError as exc:
            raise PredictionError(f"settings PREDICTIONS: {exc}") from exc
        chosen.check()
        return chosen

    def check(self) -> None:
        def whole(value, low, high):
            return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high

        problems = []
        if not whole(self.horizon_days, 1, 366):
            problems.append("horizon_days must be a whole number of days from 1 to 366")
        if not whole(self.training_snapshots, 1, 12):
            problems.append("training_snapshots must be 1 to 12")
        if not whole(self.max_training_rows, 1_000, 10_000_000):
            problems.append("max_training_rows must be 1,000 to 10,000,000")
        if not whole(self.top_products, 0, 50):
            problems.append("top_products must be 0 to 50")
        if not whole(self.min_class_count, 1, 100_000):
            problems.append("min_class_count must be ≥ 1")
        if not whole(self.clv_months, 1, 120):
            problems.append("clv_months must be 1 to 120")
        if not (isinstance(self.discount_rate, int | float) and 0 <= self.discount_rate < 10):
            problems.append("discount_rate (a year) must be ≥ 0")
        if not whole(self.clv_holdout_days, 7, 730):
            problems.append("clv_holdout_days must be 7 to 730")
        if not whole(self.max_clv_fit_customers, 1_000, 10_000_000):
            problems.append("max_clv_fit_customers must be 1,000 to 10,000,000")
        if not isinstance(self.after_resolve, bool):
            problems.append("after_resolve must be true or false")
        if not whole(self.threads, 1, 256):
            problems.append("threads must be 1 to 256")
        if problems:
            raise PredictionError("settings PREDICTIONS: " + "; ".join(problems))

    def as_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def model_version(ps: PredictionSettings) -> str:
    import sklearn

    digest = hashlib.sha1(ps.as_json().encode()).hexdigest()[:8]
    return (
        f"propensity=hgb/sklearn-{sklearn.__version__}/features-{FEATURES_VERSION};"
        f"clv=bgnbd+gamma-gamma/{CLV_VERSION};settings={digest}"
    )


# --- features -----------------------------------------------------------------------------------------


def _sampled(table: ibis.Table, fraction: float) -> ibis.Table:
    """A deterministic sample of customers (the same customers at every cut-off)."""
    if fraction >= 1:
        return table
    return table.filter((table.customer_id * 2_654_435_761) % _SAMPLE_MOD < int(fraction * _SAMPLE_MOD))


def _product_key(items):
    return ibis.coalesce(items.product_id, items.sku, items.product)


def top_products(con, cutoff: datetime, ps: PredictionSettings) -> list[str]:
    """The `top_products` products with the most purchase lines before `cutoff` (the product-mix features;
    the channels are learnt from the training rows, see _categories)."""
    if not ps.top_products:
        return []
    items = facts_before(con, cutoff).purchase_items
    items = items.select(product=_product_key(items))
    items = items.filter(items.product.notnull())
    top = items.group_by("product").aggregate(n=items.count()).order_by([ibis.desc("n"), "product"])
    return top.limit(ps.top_products).product.to_pyarrow().to_pylist()


def features_expr(
    con,
    cutoff: datetime,
    ps: PredictionSettings,
    products: list[str],
    *,
    label: bool = False,
    fraction: float = 1.0,
) -> ibis.Table:
    """One row per customer known before `cutoff` with every feature (module doc); with `label`, also
    `label` = bought in [cutoff, cutoff + horizon_days)."""
    ts = TraitSettings.from_settings()
    facts = facts_before(con, cutoff)
    zone = settings.TIME_ZONE
    cut = ibis.literal(cutoff, type=TS)
    cut_day = facts.cutoff_day
    traits = _sampled(base_traits_expr(facts, ts), fraction)

    p = facts.purchases
    purchases = p.group_by("customer_id").aggregate(
        orders_30d=p.count(where=p.day >= cut_day - 30),
        orders_90d=p.count(where=p.day >= cut_day - 90),
        orders_180d=p.count(where=p.day >= cut_day - 180),
        spend_90d=p.amount.sum(where=p.day >= cut_day - 90).cast("float64"),
        purchase_days=p.day.nunique(),
        first_day=p.day.min(),
        last_purchase_source=p.source.argmax(p.order_time),
    )
    o = facts.orders
    since_90 = cut - ibis.interval(days=90)
    others = o.filter((o.status_class != "purchase") & (o.order_time >= since_90))
    others = others.group_by("customer_id").aggregate(other_orders_90d=others.count())
    e = facts.events
    events = e.group_by("customer_id").aggregate(
        events_30d=e.count(where=e.occurred_at >= cut - ibis.interval(days=30)),
        events_90d=e.count(where=e.occurred_at >= since_90),
    )
    records = con.table("records")
    seen = ibis.coalesce(records.seen_at, records.imported_at)
    cmap = con.table("customer_map").select("record_key", "customer_id")
    known = records.filter(seen < cut).select("record_key", "source", seen=seen).join(cmap, "record_key")
    acquired = known.group_by("customer_id").aggregate(
        acquisition_source=known.source.argmin(known.seen), first_seen=known.seen.min()
    )
    j = (
        traits.left_join(purchases, "customer_id")
        .left_join(others, "customer_id")
        .left_join(events, "customer_id")
        .left_join(acquired, "customer_id")
    )
    if products:
        items = facts.purchase_items
        key = _product_key(items)
        mix = items.group_by("customer_id").aggregate(
            lines=items.count(),
            **{f"product_{i}": items.count(where=key == name) for i, name in enumerate(products)},
        )
        j = j.left_join(mix, "customer_id")
    first_seen_day = day_number(j.first_seen, zone)
    month = local_time(cut, zone).month()
    columns = {
        "customer_id": j.customer_id,
        **{name: j[name].cast("float64") for name in NUMERIC_TRAITS},
        "orders_30d": j.orders_30d.fill_null(0).cast("float64"),
        "orders_90d": j.orders_90d.fill_null(0).cast("float64"),
        "orders_180d": j.orders_180d.fill_null(0).cast("float64"),
        "spend_90d": j.spend_90d.fill_null(0),
        "purchase_days": j.purchase_days.fill_null(0).cast("float64"),
        "other_orders_90d": j.other_orders_90d.fill_null(0).cast("float64"),
        "events_30d": j.events_30d.fill_null(0).cast("float64"),
        "events_90d": j.events_90d.fill_null(0).cast("float64"),
        "days_since_first_purchase": (cut_day - j.first_day).cast("float64"),
        "days_known": (cut_day - first_seen_day).cast("float64"),
        "recency_over_cycle": (j.recency_days / j.purchase_cycle_days.nullif(0)).cast("float64"),
        "month": month.cast("float64"),
        "acquisition_source": j.acquisition_source,
        "last_purchase_source": j.last_purchase_source,
        "lifecycle_stage": j.lifecycle_stage,
        "aipl_stage": j.aipl_stage,
    }
    for i in range(len(products)):
        columns[f"product_{i}"] = (j[f"product_{i}"] / j.lines.nullif(0)).cast("float64")
    out = j.select(**columns)
    if label:
        bought = _bought_in(con, cutoff, cutoff + timedelta(days=ps.horizon_days))
        out = out.left_join(bought, "customer_id")
        out = out.drop(*[c for c in out.columns if c.endswith("_right")])
        out = out.mutate(label=out.bought.fill_null(False)).drop("bought")
    return out


def _bought_in(con, start: datetime, end: datetime) -> ibis.Table:
    """customer_id with a purchase order in [start, end)."""
    orders = con.table("orders")
    window = orders.filter(
        (orders.status_class == "purchase")
        & (orders.order_time >= ibis.literal(start, type=TS))
        & (orders.order_time < ibis.literal(end, type=TS))
    )
    cmap = con.table("customer_map").select("record_key", "customer_id")
    return (
        window.select("record_key")
        .join(cmap, "record_key")
        .select("customer_id")
        .distinct()
        .mutate(bought=ibis.literal(True))
    )


@dataclass
class Matrix:
    customer_ids: np.ndarray
    X: np.ndarray  # float32, NaN = missing
    names: list[str]
    y: np.ndarray | None = None


def feature_names(products: list[str]) -> list[str]:
    return [*NUMERIC_TRAITS, *WINDOW_FEATURES, *[f"product_{i}" for i in range(len(products))], *CATEGORICAL]


def to_matrix(table: pa.Table, products: list[str], categories: dict[str, list[str]]) -> Matrix:
    """Arrow rows → a float32 matrix; categorical columns become codes of `categories` (NaN: unknown)."""
    names = feature_names(products)
    n = table.num_rows
    X = np.empty((n, len(names)), dtype="float32")
    for i, name in enumerate(names):
        column = table.column(name)
        if name in CATEGORICAL:
            codes = {value: code for code, value in enumerate(categories[name])}
            values = column.to_pylist()
            X[:, i] = np.array([codes.get(v, np.nan) for v in values], dtype="float32")
        else:
            X[:, i] = column.to_numpy(zero_copy_only=False).astype("float32")
    y = (
        table.column("label").to_numpy(zero_copy_only=False).astype("int8")
        if "label" in table.column_names
        else None
    )
    ids = table.column("customer_id").to_numpy(zero_copy_only=False).astype("int64")
    return Matrix(ids, X, names, y)


def _categories(tables: list[pa.Table]) -> dict[str, list[str]]:
    """The categories each categorical feature takes in the training rows (at most MAX_CATEGORIES, most
    frequent first; the rest are 'unknown')."""
    out = {}
    for name in CATEGORICAL:
        counts: dict[str, int] = {}
        for table in tables:
            for value in table.column(name).to_pylist():
                if value is not None:
                    counts[value] = counts.get(value, 0) + 1
        out[name] = sorted(counts, key=lambda v: (-counts[v], v))[:MAX_CATEGORIES]
    return out


# --- propensity ---------------------------------------------------------------------------------------


@dataclass
class Propensity:
    model: object
    products: list[str]
    categories: dict[str, list[str]]
    training_rows: int
    training_positives: int
    snapshots: list[str]


def train_propensity(con, last_cutoff: datetime, ps: PredictionSettings, *, customers: int) -> Propensity:
    """A model trained on the snapshots last_cutoff, last_cutoff − N, … (`training_snapshots`), each
    labelled with the N days after it. PredictionError when no snapshot has both classes."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    products = top_products(con, last_cutoff, ps)
    fraction = min(1.0, ps.max_training_rows / max(1, customers * ps.training_snapshots))
    tables, used = [], []
    for k in range(ps.training_snapshots):
        cutoff = last_cutoff - timedelta(days=k * ps.horizon_days)
        table = features_expr(con, cutoff, ps, products, label=True, fraction=fraction).to_pyarrow()
        positives = int(pa.compute.sum(table.column("label").cast(pa.int64())).as_py() or 0)
        if positives < ps.min_class_count or table.num_rows - positives < ps.min_class_count:
            continue
        tables.append(table)
        used.append(cutoff.isoformat())
    if not tables:
        raise PredictionError(
            f"too little history to train: no snapshot before {last_cutoff.date()} has {ps.min_class_count} "
            f"customers who bought and {ps.min_class_count} who did not in the {ps.horizon_days} days after "
            f"it (purchases must span at least {2 * ps.horizon_days} days)"
        )
    categories = _categories(tables)
    parts = [to_matrix(t, products, categories) for t in tables]
    X = np.concatenate([m.X for m in parts])
    y = np.concatenate([m.y for m in parts])
    names = parts[0].names
    model = HistGradientBoostingClassifier(
        max_iter=200,
        learning_rate=0.08,
        max_leaf_nodes=31,
        min_samples_leaf=40,
        l2_regularization=1.0,
        categorical_features=[n in CATEGORICAL for n in names],
        early_stopping=len(y) >= 10_000,
        random_state=0,
    )
    with threadpool_limits(limits=ps.threads):
        model.fit(X, y)
    return Propensity(model, products, categories, len(y), int(y.sum()), used)


def score_propensity(
    con, model: Propensity, cutoff: datetime, ps: PredictionSettings, *, label: bool = False
):
    """(Matrix, probabilities) of every customer known before `cutoff`."""
    table = features_expr(con, cutoff, ps, model.products, label=label).to_pyarrow()
    matrix = to_matrix(table, model.products, model.categories)
    if len(matrix.customer_ids) == 0:
        return matrix, np.zeros(0)
    with threadpool_limits(limits=ps.threads):
        return matrix, model.model.predict_proba(matrix.X)[:, 1]


def propensity_report(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict:
    """AUC, Brier score, the reliability curve (equal-width bins) and lift by decile."""
    from sklearn.metrics import brier_score_loss, roc_auc_score

    y = np.asarray(y, dtype="float64")
    p = np.asarray(p, dtype="float64")
    n = len(y)
    base = float(y.mean()) if n else 0.0
    both = 0 < y.sum() < n
    reliability = []
    which = np.minimum((p * bins).astype(int), bins - 1)
    for b in range(bins):
        inside = which == b
        count = int(inside.sum())
        if count:
            reliability.append({
                "bin": b, "low": b / bins, "high": (b + 1) / bins, "customers": count,
                "predicted": float(p[inside].mean()), "observed": float(y[inside].mean()),
            })  # fmt: skip
    lift = []
    order = np.argsort(-p, kind="stable")
    buyers = y.sum()
    captured = 0.0
    for d, part in enumerate(np.array_split(order, 10) if n else []):
        if not len(part):
            continue
        observed = float(y[part].mean())
        captured += y[part].sum()
        lift.append({
            "decile": d + 1, "customers": int(len(part)), "predicted": float(p[part].mean()),
            "observed": observed, "lift": observed / base if base else None,
            "cumulative_capture": float(captured / buyers) if buyers else None,
        })  # fmt: skip
    return {
        "customers": n,
        "buyers": int(y.sum()),
        "base_rate": base,
        "mean_predicted": float(p.mean()) if n else None,
        "auc": float(roc_auc_score(y, p)) if both else None,
        "brier": float(brier_score_loss(y, p)) if n else None,
        "brier_of_base_rate": float(base * (1 - base)) if n else None,
        "reliability": reliability,
        "lift": lift,
    }


# --- CLV ----------------------------------------------------------------------------------------------


def purchase_summary(con, cutoff: datetime) -> pa.Table:
    """Per buyer before `cutoff`: first and last purchase day, purchase days, total and first-day amount."""
    facts = facts_before(con, cutoff)
    p = facts.purchases
    daily = p.group_by("customer_id", "day").aggregate(amount=p.amount.sum().cast("float64"))
    per = daily.group_by("customer_id").aggregate(
        first_day=daily.day.min(),
        last_day=daily.day.max(),
        days=daily.count(),
        total=daily.amount.sum(),
        first_amount=daily.amount.argmin(daily.day),
    )
    return per.to_pyarrow()


@dataclass
class Rfm:
    customer_ids: np.ndarray
    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    m: np.ndarray


def rfm_arrays(summary: pa.Table, cutoff_day: int) -> Rfm:
    """x, t_x, T (weeks) and m (mean value of the repeat purchase days) per buyer."""
    col = {name: summary.column(name).to_numpy(zero_copy_only=False) for name in summary.column_names}
    x = col["days"].astype("float64") - 1
    t_x = (col["last_day"] - col["first_day"]).astype("float64") / DAYS_PER_WEEK
    T = (cutoff_day - col["first_day"]).astype("float64") / DAYS_PER_WEEK
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(x > 0, (col["total"] - col["first_amount"]) / np.maximum(x, 1), 0.0)
    return Rfm(col["customer_id"].astype("int64"), x, t_x, T, m)


def _fit_sample(rfm: Rfm, limit: int) -> np.ndarray:
    """A deterministic sample of at most `limit` buyers (a boolean mask)."""
    if len(rfm.x) <= limit:
        return np.ones(len(rfm.x), dtype=bool)
    keep = (rfm.customer_ids * 2_654_435_761) % _SAMPLE_MOD < int(limit / len(rfm.x) * _SAMPLE_MOD)
    return keep


def fit_clv_models(rfm: Rfm, ps: PredictionSettings) -> tuple[clv.BgNbd, clv.GammaGamma]:
    keep = _fit_sample(rfm, ps.max_clv_fit_customers)
    x, t_x, T, m = rfm.x[keep], rfm.t_x[keep], rfm.T[keep], rfm.m[keep]
    # Customers sharing (x, t_x, T) are one weighted row: fewer rows for the optimiser, the same fit.
    rows, weights = np.unique(np.stack([x, t_x, T], axis=1), axis=0, return_counts=True)
    purchases = clv.fit_bgnbd(rows[:, 0], rows[:, 1], rows[:, 2], weights)
    values = clv.fit_gamma_gamma(x, m)
    return purchases, values


def clv_predictions(rfm: Rfm, purchases: clv.BgNbd, values: clv.GammaGamma, ps: PredictionSettings) -> dict:
    period = DAYS_PER_MONTH / DAYS_PER_WEEK
    horizon = ps.clv_months * period
    aov = clv.expected_value(values, rfm.x, rfm.m)
    monthly = (1 + ps.discount_rate) ** (1 / 12) - 1
    # BG/NBD depends on (x, t_x, T) alone: compute once per distinct triple (whole days make many repeats;
    # ₂F₁ is the expensive part, evaluated clv_months + 1 times per row).
    rows, inverse = np.unique(np.stack([rfm.x, rfm.t_x, rfm.T], axis=1), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    x, t_x, T = rows[:, 0], rows[:, 1], rows[:, 2]
    factor = clv.discounted_purchases(
        purchases, x, t_x, T, periods=ps.clv_months, period=period, discount=monthly
    )
    return {
        "expected_transactions": clv.expected_purchases(purchases, horizon, x, t_x, T)[inverse],
        "p_alive": clv.p_alive(purchases, x, t_x, T)[inverse],
        "expected_aov": aov,
        "clv": factor[inverse] * aov,
    }


def clv_report(con, cutoff: datetime, ps: PredictionSettings) -> dict:
    """BG/NBD fitted before cutoff − H, predicted vs actual purchase days in [cutoff − H, cutoff)."""
    holdout = ps.clv_holdout_days
    start = cutoff - timedelta(days=holdout)
    start_day = facts_before(con, start).cutoff_day
    rfm = rfm_arrays(purchase_summary(con, start), start_day)
    purchases, _ = fit_clv_models(rfm, ps)
    predicted = clv.expected_purchases(purchases, holdout / DAYS_PER_WEEK, rfm.x, rfm.t_x, rfm.T)
    after = purchase_days_between(con, start, cutoff)
    actual_by_id = dict(zip(after["customer_id"], after["days"], strict=True))
    actual = np.array([actual_by_id.get(int(c), 0) for c in rfm.customer_ids], dtype="float64")
    groups = []
    bucket = np.minimum(rfm.x, 7).astype(int)
    for x in range(8):
        inside = bucket == x
        if inside.any():
            groups.append({
                "repeat_purchases": f"{x}+" if x == 7 else str(x), "customers": int(inside.sum()),
                "predicted": float(predicted[inside].mean()), "actual": float(actual[inside].mean()),
            })  # fmt: skip
    return {
        "holdout_days": holdout,
        "fitted_before": start.isoformat(),
        "customers": int(len(rfm.x)),
        "predicted_total": float(predicted.sum()),
        "actual_total": float(actual.sum()),
        "mean_absolute_error": float(np.abs(predicted - actual).mean()) if len(actual) else None,
        "by_repeat_purchases": groups,
        "bgnbd": purchases.as_dict(),
    }


def purchase_days_between(con, start: datetime, end: datetime) -> dict[str, list]:
    """Distinct purchase days per customer in [start, end)."""
    orders = con.table("orders")
    window = orders.filter(
        (orders.status_class == "purchase")
        & (orders.order_time >= ibis.literal(start, type=TS))
        & (orders.order_time < ibis.literal(end, type=TS))
    )
    cmap = con.table("customer_map").select("record_key", "customer_id")
    window = window.join(cmap, "record_key")
    window = window.mutate(day=day_number(window.order_time, settings.TIME_ZONE))
    per = window.group_by("customer_id").aggregate(days=window.day.nunique())
    table = per.to_pyarrow()
    return {"customer_id": table.column("customer_id").to_pylist(), "days": table.column("days").to_pylist()}


# --- the refresh --------------------------------------------------------------------------------------


def check_history(con, cutoff: datetime, ps: PredictionSettings) -> None:
    """A quick check of the minimum history (module doc) before any model work: PredictionError saying
    what is missing."""
    p = facts_before(con, cutoff).purchases
    facts = p.aggregate(first=p.order_time.min(), buyers=p.customer_id.nunique()).to_pyarrow().to_pylist()[0]
    needed = 2 * ps.horizon_days
    if facts["first"] is None or facts["first"] > cutoff - timedelta(days=needed):
        raise PredictionError(
            f"too little history: predictions need purchases spanning at least {needed} days before the "
            f"cut-off ({ps.horizon_days} days of history and {ps.horizon_days} of labels)"
        )
    if facts["buyers"] < 2 * ps.min_class_count:
        raise PredictionError(
            f"too little history: predictions need at least {2 * ps.min_class_count} customers who bought "
            f"before the cut-off, not {facts['buyers']}"
        )


def compute_predictions(
    con, cutoff: datetime, ps: PredictionSettings, progress=None
) -> tuple[pa.Table, dict]:
    """Every customer's predictions as of `cutoff` (an Arrow table in the customer_predictions shape) and
    the run's report (calibration included when history allows)."""
    from siyu.warehouse.schema import TABLES

    step = StepClock(progress, _STEPS)
    horizon = timedelta(days=ps.horizon_days)
    check_history(con, cutoff, ps)
    customers = int(facts_before(con, cutoff).known.distinct().count().execute())
    report: dict = {"customers": customers}

    step(0, "training the purchase propensity model")
    model = train_propensity(con, cutoff - horizon, ps, customers=customers)
    report["training"] = {
        "rows": model.training_rows, "buyers": model.training_positives, "snapshots": model.snapshots,
        "products": model.products,
    }  # fmt: skip
    step(1, "checking calibration on the last horizon", "train")
    try:
        past = train_propensity(con, cutoff - 2 * horizon, ps, customers=customers)
        matrix, p = score_propensity(con, past, cutoff - horizon, ps, label=True)
        report["calibration"] = {
            "scored_at": (cutoff - horizon).isoformat(),
            "label_window": [(cutoff - horizon).isoformat(), cutoff.isoformat()],
            "training_snapshots": past.snapshots,
            **propensity_report(matrix.y, p),
        }
    except PredictionError as exc:
        report["calibration"] = {"not_available": str(exc)}
    step(2, "scoring every customer", "calibration")
    matrix, p_purchase = score_propensity(con, model, cutoff, ps)
    report["mean_p_purchase"] = float(p_purchase.mean()) if len(p_purchase) else None

    step(3, "fitting BG/NBD and Gamma-Gamma", "score")
    cutoff_day = facts_before(con, cutoff).cutoff_day
    rfm = rfm_arrays(purchase_summary(con, cutoff), cutoff_day)
    values = {}
    try:
        purchases_model, value_model = fit_clv_models(rfm, ps)
        values = clv_predictions(rfm, purchases_model, value_model, ps)
        report["bgnbd"] = purchases_model.as_dict()
        report["gamma_gamma"] = value_model.as_dict()
        try:
            report["clv_calibration"] = clv_report(con, cutoff, ps)
        except PredictionError as exc:
            report["clv_calibration"] = {"not_available": str(exc)}
    except PredictionError as exc:
        report["clv"] = {"not_available": str(exc)}
    step(4, "assembling", "clv")

    n = len(matrix.customer_ids)
    position = {int(c): i for i, c in enumerate(rfm.customer_ids)} if values else {}
    where = np.array([position.get(int(c), -1) for c in matrix.customer_ids], dtype="int64")
    has = where >= 0

    def spread(name: str) -> pa.Array:
        if not values:
            return pa.nulls(n, pa.float64())
        out = np.zeros(n)
        out[has] = values[name][where[has]]
        return pa.array(out, mask=~has)

    schema = TABLES[PREDICTIONS_TABLE].to_pyarrow()
    at = pa.scalar(cutoff, pa.timestamp("us", tz="UTC"))
    money = schema.field("clv").type
    table = pa.table(
        {
            "customer_id": pa.array(matrix.customer_ids, pa.int64()),
            "as_of": pa.array([at.as_py()] * n, pa.timestamp("us", tz="UTC")),
            "horizon_days": pa.array([ps.horizon_days] * n, pa.int32()),
            "p_purchase": pa.array(np.round(p_purchase, 6), pa.float64()),
            "expected_transactions": pa.compute.round(spread("expected_transactions"), 4),
            "p_alive": pa.compute.round(spread("p_alive"), 6),
            "expected_aov": pa.compute.round(spread("expected_aov"), 2).cast(money),
            "clv": pa.compute.round(spread("clv"), 2).cast(money),
            "model_version": pa.array([model_version(ps)] * n, pa.string()),
        },
        schema=schema,
    )
    step.finish("assemble")
    report["timings"] = step.timings
    return table, report
