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
`p_alive`, `expected_aov` (Gamma-Gamma on every purchase day, the first included: the buyer's mean
purchase day shrunk towards the population mean; expected_values says why)
and `clv` = Σ monthly expected purchases × expected_aov, discounted at `discount_rate` a year. Customers who
never bought have no CLV (BG/NBD starts at the first purchase). Calibration: fitted on the purchase days
before T − H (`clv_holdout_days`), predicted vs actual purchase days in [T − H, T), by the number of repeat
purchases before T − H.

Features that take one state over the training rows (constant, or missing everywhere: an order history
with no product lines, events or channels) are dropped before training (informative_columns); the model
scores with the columns it was trained on.

Is it worth using (docs/architecture.md "Predictions"). Beside the gradient boosting, a simpler purchase
probability (RecencyFrequency: the share of past customers in the same recency and purchase-count bands
who bought) is trained on the same snapshots and checked on the same holdout. A score is worth using when
its Brier skill over the base rate is above 0 and the lower end of its AUC's 95% interval is above 0.5
(score_problems); the model is served when it is, else the simpler score. A BG/NBD fit that is
degenerate (bgnbd_problems: no visible dropout, parameters at the edge, no convergence) or that ranks the
CLV holdout's spend worse than the pace (spend per day over the last year, PACE_DAYS) gives way to the
pace. The report's `quality` says what is served and why; prediction_queries words it for operators.

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
from siyu.warehouse.orders import is_purchase
from siyu.warehouse.schema import TABLES, TS

log = logging.getLogger(__name__)

PREDICTIONS_TABLE = "customer_predictions"
PREDICTION_RUNS_TABLE = "prediction_runs"
FEATURES_VERSION = 2
CLV_VERSION = 2
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
    "events_90d", "days_since_first_purchase", "days_since_last_purchase", "days_known", "recency_over_cycle",
    "month",
)  # fmt: skip
CATEGORICAL = ("acquisition_source", "last_purchase_source", "lifecycle_stage", "aipl_stage")
MAX_CATEGORIES = 30
DEEP_TREES_MIN_BUYERS = 10_000  # see fit_propensity


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


def model_version(ps: PredictionSettings, *, propensity: str = "model", clv: str | None = "bgnbd") -> str:
    """What produced the served values: the purchase probability of the gradient boosting ("model") or of
    the simpler score ("simple"), the CLV of BG/NBD + Gamma-Gamma ("bgnbd") or of the pace ("pace")."""
    import sklearn

    digest = hashlib.sha1(ps.as_json().encode()).hexdigest()[:8]
    first = (
        f"hgb/sklearn-{sklearn.__version__}" if propensity == "model" else "recency-frequency"
    ) + f"/features-{FEATURES_VERSION}"
    second = {"bgnbd": "bgnbd+gamma-gamma", "pace": f"pace-{PACE_DAYS}d", None: "none"}[clv]
    return f"propensity={first};clv={second}/{CLV_VERSION};settings={digest}"


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
        last_day=p.day.max(),
        last_purchase_source=p.source.argmax(p.order_time),
    )
    o = facts.orders
    since_90 = cut - ibis.interval(days=90)
    others = o.filter(~is_purchase(o) & (o.order_time >= since_90))
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
        "days_since_last_purchase": (cut_day - j.last_day).cast("float64"),
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


def by_customer(expr: ibis.Table) -> pa.Table:
    """The rows of `expr` in customer_id order. An engine returns rows in no set order (Spark's partitions,
    DuckDB's threads), and the model's fit depends on it (early stopping holds out a random fifth of the
    rows by position; floating sums depend on their order): in one order, the same features give the same
    model on every engine and every run."""
    return expr.to_pyarrow().sort_by("customer_id")


def _bought_in(con, start: datetime, end: datetime) -> ibis.Table:
    """customer_id with a purchase order in [start, end)."""
    orders = con.table("orders")
    window = orders.filter(
        is_purchase(orders)
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

    def column(self, name: str) -> np.ndarray:
        return self.X[:, self.names.index(name)].astype("float64")


def feature_names(products: list[str]) -> list[str]:
    return [*NUMERIC_TRAITS, *WINDOW_FEATURES, *[f"product_{i}" for i in range(len(products))], *CATEGORICAL]


_FLOAT32_MAX = float(np.finfo("float32").max)


def to_matrix(table: pa.Table, products: list[str], categories: dict[str, list[str]]) -> Matrix:
    """Arrow rows → a float32 matrix; categorical columns become codes of `categories` (NaN: unknown).
    A value float32 cannot hold (infinite, or beyond ±3.4e38) is missing."""
    names = feature_names(products)
    n = table.num_rows
    X = np.empty((n, len(names)), dtype="float32")
    for i, name in enumerate(names):
        column = table.column(name)
        if name in CATEGORICAL:
            codes = {value: code for code, value in enumerate(categories.get(name, []))}
            values = column.to_pylist()
            X[:, i] = np.array([codes.get(v, np.nan) for v in values], dtype="float32")
        else:
            values = column.to_numpy(zero_copy_only=False).astype("float64")
            values[~np.isfinite(values) | (np.abs(values) > _FLOAT32_MAX)] = np.nan
            X[:, i] = values.astype("float32")
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


def informative_columns(X: np.ndarray) -> np.ndarray:
    """Which columns a model can learn from: those that take at least two states over the rows — two
    distinct values, or a value and missing (missing is a state the model splits on). A column missing
    everywhere or holding one value everywhere tells nothing and is dropped before training (an
    all-missing column is what made scikit-learn's binning fail with "window shape cannot be larger than
    input array shape" on an order history with no product lines)."""
    if X.shape[0] == 0:
        return np.zeros(X.shape[1], dtype=bool)
    missing = np.isnan(X)
    present = ~missing.all(axis=0)
    low = np.where(missing, np.inf, X).min(axis=0)
    high = np.where(missing, -np.inf, X).max(axis=0)
    return present & ((high > low) | missing.any(axis=0))


# --- the simpler score: customers like this one -------------------------------------------------------

# Bands of days since the last purchase (upper bounds, exclusive; past the last: one band; never bought:
# one band) and of purchase days (upper bounds, inclusive: 0 = never, 1, 2, 3, 4–5, 6–9, 10–19, 20+).
RECENCY_BANDS = (14, 30, 60, 90, 180, 365, 730)
FREQUENCY_BANDS = (0, 1, 2, 3, 5, 9, 19)
# Pseudo-customers a small cell borrows from its recency band, and a band from everyone (the cell's rate
# is (buyers + k × band rate) / (customers + k)): a cell of 5 customers is mostly its band's rate.
SHRINK_CUSTOMERS = 20.0


@dataclass
class RecencyFrequency:
    """The simpler purchase probability: the share of customers in the same band of days since their last
    purchase and of number of purchase days who bought in the N days after a training cut-off (small
    cells shrunk towards their recency band, bands towards everyone). Needs no model fit and cannot
    diverge; it is calibrated by construction on the training snapshots and checked on the same holdout as
    the gradient boosting."""

    rates: np.ndarray  # (recency bands + 2, frequency bands + 1)
    base_rate: float

    @staticmethod
    def cells(days_since_last: np.ndarray, purchase_days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        days = np.asarray(days_since_last, dtype="float64")
        count = np.nan_to_num(np.asarray(purchase_days, dtype="float64"), nan=0.0)
        never = np.isnan(days) | (count <= 0)
        r = np.searchsorted(RECENCY_BANDS, np.nan_to_num(days, nan=0.0), side="right")
        r = np.where(never, len(RECENCY_BANDS) + 1, r)
        f = np.where(never, 0, np.searchsorted(FREQUENCY_BANDS, count, side="left"))
        return r.astype("int64"), f.astype("int64")

    @classmethod
    def fit(cls, days_since_last, purchase_days, y) -> RecencyFrequency:
        y = np.asarray(y, dtype="float64")
        shape = (len(RECENCY_BANDS) + 2, len(FREQUENCY_BANDS) + 1)
        base = float(y.mean()) if len(y) else 0.0
        r, f = cls.cells(days_since_last, purchase_days)
        customers = np.zeros(shape)
        buyers = np.zeros(shape)
        np.add.at(customers, (r, f), 1.0)
        np.add.at(buyers, (r, f), y)
        k = SHRINK_CUSTOMERS
        band = (buyers.sum(axis=1) + k * base) / (customers.sum(axis=1) + k)
        rates = (buyers + k * band[:, None]) / (customers + k)
        return cls(rates, base)

    def predict(self, days_since_last, purchase_days) -> np.ndarray:
        r, f = self.cells(days_since_last, purchase_days)
        return self.rates[r, f]


def simple_probability(table: RecencyFrequency, matrix: Matrix) -> np.ndarray:
    return table.predict(matrix.column("days_since_last_purchase"), matrix.column("purchase_days"))


# --- propensity ---------------------------------------------------------------------------------------


@dataclass
class Propensity:
    model: object | None  # gradient boosting; None when it could not be trained (`not_trained` says why)
    kept: list[str]  # the features it was trained on
    dropped: list[str]  # constant or empty over the training rows
    simple: RecencyFrequency
    products: list[str]
    categories: dict[str, list[str]]
    training_rows: int
    training_positives: int
    snapshots: list[str]
    not_trained: str | None = None


def fit_propensity(matrix: Matrix, ps: PredictionSettings) -> Propensity:
    """Gradient boosting on the informative columns of a labelled matrix, and the simpler score beside it.
    Never fails on the shape of the features: no informative column, or one class only, leaves the model
    out (`not_trained`) and the simpler score stands alone."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y, names = matrix.X, np.asarray(matrix.y, dtype="int8"), matrix.names
    simple = RecencyFrequency.fit(
        matrix.column("days_since_last_purchase"), matrix.column("purchase_days"), y
    )
    keep = informative_columns(X)
    kept = [n for n, k in zip(names, keep, strict=True) if k]
    dropped = [n for n, k in zip(names, keep, strict=True) if not k]
    out = Propensity(None, kept, dropped, simple, [], {}, len(y), int(y.sum()), [])
    positives = int(y.sum())
    if not kept:
        out.not_trained = "no_informative_feature"
        return out
    if min(positives, len(y) - positives) < 2:
        out.not_trained = "one_class"
        return out
    # How much tree the evidence supports: with fewer than DEEP_TREES_MIN_BUYERS buyers in the training
    # rows, shallow trees with large leaves; with more, the 31-leaf trees. Early stopping on a fifth of the
    # rows either way. Measured on holdouts (docs/benchmarks.md): the demo brand at 3,000 people (400
    # buyers) AUC 0.71 shallow against 0.62 with the 31-leaf trees and no early stopping (0.70 with it);
    # CDNOW (3,900 buyers) 0.782 against 0.779; the synthetic base at 100,000 (21,700 buyers) 0.861 with
    # the 31-leaf trees against 0.832 shallow.
    deep = positives >= DEEP_TREES_MIN_BUYERS
    model = HistGradientBoostingClassifier(
        max_iter=200 if deep else 300,
        learning_rate=0.08 if deep else 0.05,
        max_leaf_nodes=31,
        max_depth=None if deep else 3,
        min_samples_leaf=40 if deep else min(200, max(20, len(y) // 20)),
        l2_regularization=1.0 if deep else 5.0,
        categorical_features=[n in CATEGORICAL for n in kept] if any(n in CATEGORICAL for n in kept) else None,
        early_stopping=min(positives, len(y) - positives) >= 25,
        validation_fraction=0.2 if not deep else 0.1,
        n_iter_no_change=20 if not deep else 10,
        random_state=0,
    )
    try:
        with threadpool_limits(limits=ps.threads):
            model.fit(X[:, keep], y)
    except ValueError as exc:  # a shape of data scikit-learn refuses: the simpler score stands alone
        log.warning("the purchase propensity model could not be trained: %s", exc)
        out.not_trained = "fit_failed"
        return out
    out.model = model
    return out


def train_propensity(con, last_cutoff: datetime, ps: PredictionSettings, *, customers: int) -> Propensity:
    """A model trained on the snapshots last_cutoff, last_cutoff − N, … (`training_snapshots`), each
    labelled with the N days after it. PredictionError when no snapshot has both classes."""
    products = top_products(con, last_cutoff, ps)
    fraction = min(1.0, ps.max_training_rows / max(1, customers * ps.training_snapshots))
    tables, used = [], []
    for k in range(ps.training_snapshots):
        cutoff = last_cutoff - timedelta(days=k * ps.horizon_days)
        table = by_customer(features_expr(con, cutoff, ps, products, label=True, fraction=fraction))
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
    return propensity_from_tables(tables, products, used, ps)


def propensity_from_tables(
    tables: list[pa.Table], products: list[str], snapshots: list[str], ps: PredictionSettings
) -> Propensity:
    categories = _categories(tables)
    parts = [to_matrix(t, products, categories) for t in tables]
    stacked = Matrix(
        np.concatenate([m.customer_ids for m in parts]),
        np.concatenate([m.X for m in parts]),
        parts[0].names,
        np.concatenate([m.y for m in parts]),
    )
    model = fit_propensity(stacked, ps)
    model.products, model.categories, model.snapshots = products, categories, snapshots
    return model


@dataclass
class Scores:
    matrix: Matrix
    model: np.ndarray | None  # the gradient boosting's probabilities (None: not trained)
    simple: np.ndarray  # the simpler score's


def score_table(model: Propensity, table: pa.Table, ps: PredictionSettings) -> Scores:
    matrix = to_matrix(table, model.products, model.categories)
    simple = simple_probability(model.simple, matrix)
    if model.model is None or len(matrix.customer_ids) == 0:
        return Scores(matrix, None if model.model is None else np.zeros(0), simple)
    keep = [matrix.names.index(n) for n in model.kept]
    with threadpool_limits(limits=ps.threads):
        p = model.model.predict_proba(matrix.X[:, keep])[:, 1]
    return Scores(matrix, p, simple)


def score_propensity(con, model: Propensity, cutoff: datetime, ps: PredictionSettings, *, label: bool = False):
    """The Scores of every customer known before `cutoff`."""
    table = by_customer(features_expr(con, cutoff, ps, model.products, label=label))
    return score_table(model, table, ps)


# --- is a score worth using -----------------------------------------------------------------------------

# A score is worth using when, on the holdout, its Brier skill (1 − Brier ÷ the Brier score of predicting
# the holdout's own base rate for everyone) is above 0, and its AUC is above 0.5 by more than noise: the
# lower end of the AUC's 95% confidence interval (Hanley & McNeil 1982) is above 0.5. At 3,000 customers
# and a 10% base rate the interval is about ±0.03, so AUC 0.53 is not "better than chance" there, AUC
# 0.60 is.
AUC_Z = 1.96


def auc_interval(auc: float, positives: int, negatives: int) -> tuple[float, float]:
    """The 95% confidence interval of an AUC (Hanley & McNeil 1982, their standard error)."""
    if positives < 1 or negatives < 1:
        return 0.0, 1.0
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)
    ) / (positives * negatives)
    half = AUC_Z * float(np.sqrt(max(variance, 0.0)))
    return max(0.0, auc - half), min(1.0, auc + half)


def score_problems(check: dict) -> list[str]:
    """Why a score checked on the holdout is not worth using (empty: it is). Codes; the words are in
    prediction_queries.quality_warnings."""
    problems = []
    if check.get("brier_skill") is None or check["brier_skill"] <= 0:
        problems.append("not_better_than_base_rate")
    if check.get("auc_low") is None or check["auc_low"] <= 0.5:
        problems.append("not_better_than_chance")
    return problems


def propensity_report(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict:
    """AUC (with its 95% interval), Brier score and skill, the reliability curve (equal-width bins), lift by
    decile and `problems` (score_problems)."""
    from sklearn.metrics import brier_score_loss, roc_auc_score

    y = np.asarray(y, dtype="float64")
    p = np.clip(np.nan_to_num(np.asarray(p, dtype="float64"), nan=0.0), 0.0, 1.0)
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
    auc = float(roc_auc_score(y, p)) if both else None
    low, high = auc_interval(auc, int(buyers), int(n - buyers)) if auc is not None else (None, None)
    brier = float(brier_score_loss(y, p)) if n else None
    of_base = float(base * (1 - base)) if n else None
    report = {
        "customers": n,
        "buyers": int(y.sum()),
        "base_rate": base,
        "mean_predicted": float(p.mean()) if n else None,
        "auc": auc,
        "auc_low": low,
        "auc_high": high,
        "brier": brier,
        "brier_of_base_rate": of_base,
        "brier_skill": (1 - brier / of_base) if brier is not None and of_base else None,
        "reliability": reliability,
        "lift": lift,
    }
    report["problems"] = score_problems(report)
    return report


def choose_propensity(model_check: dict | None, simple_check: dict) -> str:
    """Which purchase probability is served, from their checks on the same holdout: the gradient boosting
    when it is worth using (score_problems), else the simpler score. Not "the lower Brier wins": two scores
    within noise of each other would then swap from one refresh to the next."""
    if model_check is not None and not model_check["problems"]:
        return "model"
    return "simple"


# --- CLV ----------------------------------------------------------------------------------------------

# The simpler CLV ("pace"): spend in the PACE_DAYS before the cut-off, per day of that span (or of the days
# since the first purchase when shorter, but at least PACE_MIN_DAYS), carried over the CLV horizon. No fit;
# it ignores that customers leave, which BG/NBD models, so it is served only when the BG/NBD fit is
# degenerate or when it ranked the holdout's spend better.
PACE_DAYS = 365
PACE_MIN_DAYS = 90
# A BG/NBD fit is degenerate when it cannot tell when customers leave (a → 0 with b huge: the dropout
# probability's Beta collapses, every p_alive is ≈ 1 and the model is a plain NBD), when a parameter runs
# to the edge of what the optimiser can reach, or when it did not converge.
BGNBD_MIN_A = 0.01
BGNBD_MAX_B = 1_000.0
BGNBD_RANGE = (1e-4, 1e5)


def purchase_summary(con, cutoff: datetime) -> pa.Table:
    """Per buyer before `cutoff`: first and last purchase day, purchase days, total and first-day amount,
    and the purchase days and amount in the PACE_DAYS before the cut-off."""
    facts = facts_before(con, cutoff)
    p = facts.purchases
    # Money is summed as decimals and made floating at the end: a sum of floats depends on the order the
    # engine adds them in, and the BG/NBD and Gamma-Gamma fits turn a last-digit difference into 1e-6.
    daily = p.group_by("customer_id", "day").aggregate(amount=p.amount.sum())
    recent = daily.day >= facts.cutoff_day - PACE_DAYS
    per = daily.group_by("customer_id").aggregate(
        first_day=daily.day.min(),
        last_day=daily.day.max(),
        days=daily.count(),
        total=daily.amount.sum().cast("float64"),
        first_amount=daily.amount.argmin(daily.day).cast("float64"),
        recent_days=daily.count(where=recent),
        recent_total=daily.amount.sum(where=recent).cast("float64").fill_null(0),
    )
    return by_customer(per)


@dataclass
class Rfm:
    customer_ids: np.ndarray
    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    m: np.ndarray
    mean_value: np.ndarray  # mean value of a purchase day (all of them)
    recent_days: np.ndarray  # purchase days in the PACE_DAYS before the cut-off
    recent_total: np.ndarray  # and their amount


def rfm_arrays(summary: pa.Table, cutoff_day: int) -> Rfm:
    """x, t_x, T (weeks) and m (mean value of the repeat purchase days) per buyer, and the pace's inputs."""
    col = {name: summary.column(name).to_numpy(zero_copy_only=False) for name in summary.column_names}
    days = col["days"].astype("float64")
    x = days - 1
    t_x = (col["last_day"] - col["first_day"]).astype("float64") / DAYS_PER_WEEK
    T = (cutoff_day - col["first_day"]).astype("float64") / DAYS_PER_WEEK
    total = col["total"].astype("float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(x > 0, (total - col["first_amount"]) / np.maximum(x, 1), 0.0)
    return Rfm(
        col["customer_id"].astype("int64"), x, t_x, T, m, total / np.maximum(days, 1),
        col["recent_days"].astype("float64"), col["recent_total"].astype("float64"),
    )  # fmt: skip


def pace(rfm: Rfm, days: float) -> tuple[np.ndarray, np.ndarray]:
    """(purchase days, spend) expected in the next `days` at the pace of the PACE_DAYS before the cut-off."""
    span = np.clip(rfm.T * DAYS_PER_WEEK, PACE_MIN_DAYS, PACE_DAYS)
    return rfm.recent_days / span * days, rfm.recent_total / span * days


def _fit_sample(rfm: Rfm, limit: int) -> np.ndarray:
    """A deterministic sample of at most `limit` buyers (a boolean mask)."""
    if len(rfm.x) <= limit:
        return np.ones(len(rfm.x), dtype=bool)
    keep = (rfm.customer_ids * 2_654_435_761) % _SAMPLE_MOD < int(limit / len(rfm.x) * _SAMPLE_MOD)
    return keep


def fit_clv_models(rfm: Rfm, ps: PredictionSettings) -> tuple[clv.BgNbd, clv.GammaGamma]:
    keep = _fit_sample(rfm, ps.max_clv_fit_customers)
    x, t_x, T = rfm.x[keep], rfm.t_x[keep], rfm.T[keep]
    # Customers sharing (x, t_x, T) are one weighted row: fewer rows for the optimiser, the same fit.
    rows, weights = np.unique(np.stack([x, t_x, T], axis=1), axis=0, return_counts=True)
    purchases = clv.fit_bgnbd(rows[:, 0], rows[:, 1], rows[:, 2], weights)
    values = clv.fit_gamma_gamma(x + 1, rfm.mean_value[keep])
    return purchases, values


def expected_values(values: clv.GammaGamma, rfm: Rfm) -> np.ndarray:
    """Gamma-Gamma's expected value of a purchase day per buyer, from all their purchase days. The papers
    fit repeat purchases only (the first may differ); here the first counts too, so a one-time buyer —
    most of any base — gets their own value shrunk towards the population mean instead of the population
    mean itself. On CDNOW this ranks the 9-month holdout spend better (Spearman 0.427 against 0.419;
    docs/benchmarks.md)."""
    return clv.expected_value(values, rfm.x + 1, rfm.mean_value)


def bgnbd_problems(model: clv.BgNbd) -> list[str]:
    """Why a BG/NBD fit is degenerate (empty: it is not). Codes; words in prediction_queries."""
    problems = []
    if not model.converged:
        problems.append("bgnbd_not_converged")
    if model.a < BGNBD_MIN_A or model.b > BGNBD_MAX_B:
        problems.append("bgnbd_no_dropout")
    low, high = BGNBD_RANGE
    values = (model.r, model.alpha, model.a, model.b)
    if any(not np.isfinite(v) or v < low or v > high for v in values):
        problems.append("bgnbd_at_bounds")
    return problems


def clv_predictions(rfm: Rfm, purchases: clv.BgNbd, values: clv.GammaGamma, ps: PredictionSettings) -> dict:
    period = DAYS_PER_MONTH / DAYS_PER_WEEK
    horizon = ps.clv_months * period
    aov = expected_values(values, rfm)
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


def pace_predictions(rfm: Rfm, ps: PredictionSettings) -> dict:
    """The simpler CLV per buyer (see PACE_DAYS): no p_alive (it does not model leaving)."""
    monthly = (1 + ps.discount_rate) ** (1 / 12) - 1
    per_month_days, per_month_spend = pace(rfm, DAYS_PER_MONTH)
    factor = sum(1 / (1 + monthly) ** k for k in range(1, ps.clv_months + 1))
    return {
        "expected_transactions": per_month_days * ps.clv_months,
        "p_alive": None,
        "expected_aov": rfm.mean_value,
        "clv": per_month_spend * factor,
    }


def _spearman(predicted: np.ndarray, actual: np.ndarray) -> float | None:
    from scipy.stats import spearmanr

    if len(actual) < 3 or np.ptp(actual) == 0 or np.ptp(predicted) == 0:
        return None
    value = spearmanr(predicted, actual).statistic
    return float(value) if np.isfinite(value) else None


def clv_report(con, cutoff: datetime, ps: PredictionSettings) -> dict:
    """BG/NBD + Gamma-Gamma fitted before cutoff − H: predicted vs actual purchase days in
    [cutoff − H, cutoff); and spend in that window predicted by them and by the pace, against the spend
    that followed (Spearman's rank correlation per buyer, totals)."""
    holdout = ps.clv_holdout_days
    start = cutoff - timedelta(days=holdout)
    start_day = facts_before(con, start).cutoff_day
    rfm = rfm_arrays(purchase_summary(con, start), start_day)
    after = purchases_between(con, start, cutoff)
    position = {c: i for i, c in enumerate(after["customer_id"])}
    where = np.array([position.get(int(c), -1) for c in rfm.customer_ids], dtype="int64")
    has = where >= 0
    actual = np.zeros(len(rfm.x))
    actual[has] = np.asarray(after["days"], dtype="float64")[where[has]]
    spent = np.zeros(len(rfm.x))
    spent[has] = np.asarray(after["amount"], dtype="float64")[where[has]]
    pace_days, pace_spend = pace(rfm, holdout)
    report = {
        "holdout_days": holdout,
        "fitted_before": start.isoformat(),
        "customers": int(len(rfm.x)),
        "actual_total": float(actual.sum()),
        "actual_spend": float(spent.sum()),
        "pace": {
            "predicted_total": float(pace_days.sum()),
            "predicted_spend": float(pace_spend.sum()),
            "spearman": _spearman(pace_spend, spent),
        },
    }
    try:
        purchases, values = fit_clv_models(rfm, ps)
        predicted = clv.expected_purchases(purchases, holdout / DAYS_PER_WEEK, rfm.x, rfm.t_x, rfm.T)
        predicted_spend = predicted * expected_values(values, rfm)
    except PredictionError as exc:
        report["bgnbd_not_available"] = str(exc)
        return report
    groups = []
    bucket = np.minimum(rfm.x, 7).astype(int)
    for x in range(8):
        inside = bucket == x
        if inside.any():
            groups.append({
                "repeat_purchases": f"{x}+" if x == 7 else str(x), "customers": int(inside.sum()),
                "predicted": float(predicted[inside].mean()), "actual": float(actual[inside].mean()),
            })  # fmt: skip
    report.update({
        "predicted_total": float(predicted.sum()),
        "mean_absolute_error": float(np.abs(predicted - actual).mean()) if len(actual) else None,
        "by_repeat_purchases": groups,
        "bgnbd": purchases.as_dict(),
        "predicted_spend": float(predicted_spend.sum()),
        "spearman": _spearman(predicted_spend, spent),
    })  # fmt: skip
    return report


def choose_clv(problems: list[str], check: dict) -> tuple[str, list[str]]:
    """Which CLV is served, and the notes that say why: whichever ranked the CLV holdout's spend better
    (Spearman) — BG/NBD + Gamma-Gamma on a tie, the pace when BG/NBD could not be checked there. A
    degenerate fit (`problems`) is still served when the holdout supports it (note
    "bgnbd_kept_by_holdout": its p_alive, ≈ 1 for everyone, is then left out), never when its values
    cannot be computed."""
    if "bgnbd_not_available" in problems or "gamma_gamma_degenerate" in problems:
        return "pace", problems
    model, simple = check.get("spearman"), (check.get("pace") or {}).get("spearman")
    if problems:
        if model is not None and (simple is None or model >= simple):
            return "bgnbd", [*problems, "bgnbd_kept_by_holdout"]
        return "pace", problems
    if model is not None and simple is not None and simple > model:
        return "pace", ["pace_ranks_better"]
    return "bgnbd", []


def purchases_between(con, start: datetime, end: datetime) -> dict[str, list]:
    """Distinct purchase days and spend per customer in [start, end)."""
    orders = con.table("orders")
    window = orders.filter(
        is_purchase(orders)
        & (orders.order_time >= ibis.literal(start, type=TS))
        & (orders.order_time < ibis.literal(end, type=TS))
    )
    cmap = con.table("customer_map").select("record_key", "customer_id")
    window = window.join(cmap, "record_key")
    window = window.mutate(day=day_number(window.order_time, settings.TIME_ZONE))
    per = window.group_by("customer_id").aggregate(
        days=window.day.nunique(), amount=window.amount.sum().cast("float64").fill_null(0)
    )
    table = per.to_pyarrow()
    return {name: table.column(name).to_pylist() for name in ("customer_id", "days", "amount")}


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


def _summary(check: dict) -> dict:
    keys = ("auc", "auc_low", "auc_high", "brier", "brier_of_base_rate", "brier_skill", "problems")
    return {k: check.get(k) for k in keys}


def compute_predictions(
    con, cutoff: datetime, ps: PredictionSettings, progress=None
) -> tuple[pa.Table, dict]:
    """Every customer's predictions as of `cutoff` (an Arrow table in the customer_predictions shape) and
    the run's report: calibration when history allows, and `quality` — which purchase probability and
    which CLV are served and why (module doc)."""

    step = StepClock(progress, _STEPS)
    horizon = timedelta(days=ps.horizon_days)
    check_history(con, cutoff, ps)
    customers = int(facts_before(con, cutoff).known.distinct().count().execute())
    report: dict = {"customers": customers}

    step(0, "training the purchase propensity model")
    model = train_propensity(con, cutoff - horizon, ps, customers=customers)
    report["training"] = {
        "rows": model.training_rows, "buyers": model.training_positives, "snapshots": model.snapshots,
        "products": model.products, "features": model.kept, "features_dropped": model.dropped,
        "model_not_trained": model.not_trained,
    }  # fmt: skip
    step(1, "checking calibration on the last horizon", "train")
    quality: dict = {}
    try:
        past = train_propensity(con, cutoff - 2 * horizon, ps, customers=customers)
        scores = score_propensity(con, past, cutoff - horizon, ps, label=True)
        checks = {"simple": propensity_report(scores.matrix.y, scores.simple)}
        if scores.model is not None and model.model is not None:
            checks["model"] = propensity_report(scores.matrix.y, scores.model)
        served = choose_propensity(checks.get("model"), checks["simple"])
        report["calibration"] = {
            "score": served,
            "scored_at": (cutoff - horizon).isoformat(),
            "label_window": [(cutoff - horizon).isoformat(), cutoff.isoformat()],
            "training_snapshots": past.snapshots,
            **checks[served],
        }
        quality["p_purchase"] = {
            "served": served,
            "problems": checks[served]["problems"],
            "model_problems": checks["model"]["problems"] if "model" in checks else ["model_not_trained"],
            "candidates": {name: _summary(check) for name, check in checks.items()},
        }
    except PredictionError as exc:
        report["calibration"] = {"not_available": str(exc)}
        served = "model" if model.model is not None else "simple"
        quality["p_purchase"] = {"served": served, "problems": ["not_checked"], "model_problems": []}
    if model.model is None:
        quality["p_purchase"]["served"] = served = "simple"
        quality["p_purchase"]["model_problems"] = ["model_not_trained"]
    step(2, "scoring every customer", "calibration")
    scores = score_propensity(con, model, cutoff, ps)
    matrix = scores.matrix
    p_purchase = scores.model if served == "model" else scores.simple
    report["mean_p_purchase"] = float(p_purchase.mean()) if len(p_purchase) else None

    step(3, "fitting BG/NBD and Gamma-Gamma", "score")
    cutoff_day = facts_before(con, cutoff).cutoff_day
    rfm = rfm_arrays(purchase_summary(con, cutoff), cutoff_day)
    values: dict = {}
    served_clv = None
    if len(rfm.x):
        try:
            purchases_model, value_model = fit_clv_models(rfm, ps)
            report["bgnbd"] = purchases_model.as_dict()
            report["gamma_gamma"] = value_model.as_dict()
            problems = bgnbd_problems(purchases_model)
        except PredictionError as exc:
            report["clv"] = {"not_available": str(exc)}
            purchases_model, problems = None, ["bgnbd_not_available"]
        try:
            report["clv_calibration"] = clv_report(con, cutoff, ps)
        except PredictionError as exc:
            report["clv_calibration"] = {"not_available": str(exc)}
        served_clv, notes = choose_clv(problems, report["clv_calibration"])
        if served_clv == "bgnbd":
            try:
                values = clv_predictions(rfm, purchases_model, value_model, ps)
                if problems:  # a degenerate fit the holdout supports: its p_alive says nothing
                    values["p_alive"] = None
            except PredictionError:  # Gamma-Gamma q ≤ 1: no mean purchase value to expect
                served_clv, notes = "pace", [*problems, "gamma_gamma_degenerate"]
        if served_clv == "pace":
            values = pace_predictions(rfm, ps)
        quality["clv"] = {"served": served_clv, "problems": notes}
    else:
        report["clv"] = {"not_available": "no customer bought before the cut-off"}
    report["quality"] = quality
    report["model_version"] = model_version(ps, propensity=served, clv=served_clv)
    step(4, "assembling", "clv")

    n = len(matrix.customer_ids)
    position = {int(c): i for i, c in enumerate(rfm.customer_ids)} if values else {}
    where = np.array([position.get(int(c), -1) for c in matrix.customer_ids], dtype="int64")
    has = where >= 0

    def spread(name: str) -> pa.Array:
        if not values or values[name] is None:
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
            "model_version": pa.array([report["model_version"]] * n, pa.string()),
        },
        schema=schema,
    )
    step.finish("assemble")
    report["timings"] = step.timings
    return table, report
