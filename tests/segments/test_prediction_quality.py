"""Predictions that never crash on the shape of the data and say when they are not worth using
(issue 13, point 10): degenerate feature tables (a hypothesis property), the simpler scores, the rule that
judges a score on its holdout, a degenerate BG/NBD fit, a public order history (CDNOW's 1/10 sample,
customer, date, CDs and dollars only) imported through `--format generic`, and a brand with no signal,
whose warnings the page, `siyu predict --json`, the API and the segment builder show in Chinese."""

import csv
import json
import re
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from segments.prediction_data import CUTOFF, write_people
from siyu.segments import clv, prediction_queries
from siyu.segments.prediction_actions import refresh_predictions
from siyu.segments.predictions import (
    CATEGORICAL,
    PredictionSettings,
    RecencyFrequency,
    auc_interval,
    bgnbd_problems,
    choose_clv,
    choose_propensity,
    feature_names,
    informative_columns,
    propensity_from_tables,
    propensity_report,
    score_table,
)
from siyu.warehouse.summary import rebuild_customer_summary

DATA = Path(__file__).resolve().parent.parent / "data"
NUMERIC_SHAPES = ("constant", "empty", "random", "huge", "sparse", "nan")
CATEGORY_SHAPES = ("empty", "constant", "few")


# --- any feature shape: no crash ----------------------------------------------------------------------


@st.composite
def feature_tables(draw):
    """A labelled feature table in the shape features_expr returns (no product columns), every column of
    a drawn shape: one value everywhere, missing everywhere, random, huge or infinite values, mostly
    missing, NaN; 1 to 80 rows; labels all 0, all 1 or mixed."""
    rows = draw(st.integers(1, 80))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    columns = {"customer_id": pa.array(np.arange(1, rows + 1), pa.int64())}
    for name in feature_names([]):
        if name in CATEGORICAL:
            shape = draw(st.sampled_from(CATEGORY_SHAPES))
            values = {
                "empty": [None] * rows,
                "constant": ["淘宝"] * rows,
                "few": [rng.choice(["淘宝", "京东", "wecom", None]) for _ in range(rows)],
            }[shape]
            columns[name] = pa.array(values, pa.string())
            continue
        shape = draw(st.sampled_from(NUMERIC_SHAPES))
        if shape == "constant":
            values = np.full(rows, draw(st.floats(-1e12, 1e12, allow_nan=False)))
        elif shape == "empty":
            values = [None] * rows
        elif shape == "random":
            values = rng.normal(0, 100, rows)
        elif shape == "huge":
            values = rng.choice([1e300, -1e300, np.inf, -np.inf, 3.5e38, 0.0, 1.0], rows)
        elif shape == "sparse":
            values = [float(v) if rng.random() < 0.1 else None for v in rng.integers(0, 5, rows)]
        else:
            values = np.full(rows, np.nan)
        columns[name] = pa.array(values, pa.float64())
    labels = draw(st.sampled_from(("zeros", "ones", "mixed")))
    y = {"zeros": np.zeros(rows), "ones": np.ones(rows), "mixed": rng.random(rows) < 0.3}[labels]
    columns["label"] = pa.array(y.astype(bool))
    return pa.table(columns)


@given(training=feature_tables(), scoring=feature_tables())
@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_feature_shape_trains_and_scores_without_crashing(training, scoring):
    ps = PredictionSettings()
    model = propensity_from_tables([training], [], ["a snapshot"], ps)
    matrix_names = feature_names([])
    assert sorted(model.kept + model.dropped) == sorted(matrix_names)
    scores = score_table(model, scoring, ps)
    for p in (scores.simple, scores.model):
        if p is None:
            continue
        assert len(p) == scoring.num_rows and np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))
    if model.model is None:
        assert model.not_trained in ("no_informative_feature", "one_class", "fit_failed")
        y = training.column("label").to_numpy(zero_copy_only=False)
        assert model.not_trained != "fit_failed", "a shape scikit-learn refused: drop it before training"
        assert model.not_trained != "one_class" or y.all() or not y.any() or min(y.sum(), (~y).sum()) < 2
    # the report on any holdout is well-formed too
    if scoring.num_rows:
        report = propensity_report(scoring.column("label").to_numpy(zero_copy_only=False), scores.simple)
        assert "problems" in report


def test_constant_and_empty_columns_are_dropped_and_missingness_is_kept():
    X = np.array(
        [[1, np.nan, 5, 1, np.nan], [1, np.nan, 6, np.nan, np.nan], [1, np.nan, 7, 1, np.nan]], dtype="float32"
    )
    # constant, all missing, varying, a value and missing (a state the model splits on), all missing
    assert informative_columns(X).tolist() == [False, False, True, True, False]
    assert informative_columns(np.empty((0, 3), dtype="float32")).tolist() == [False, False, False]


def test_the_simple_score_is_the_shrunk_share_of_similar_customers_who_bought():
    rng = np.random.default_rng(5)
    days = np.concatenate([rng.integers(0, 14, 4000), rng.integers(400, 700, 4000), np.full(2000, np.nan)])
    counts = np.concatenate([rng.integers(3, 8, 4000), np.ones(4000), np.zeros(2000)])
    y = np.concatenate([rng.random(4000) < 0.4, rng.random(4000) < 0.02, rng.random(2000) < 0.01])
    table = RecencyFrequency.fit(days, counts, y)
    p = table.predict(days, counts)
    # calibrated on what it was fitted on: each group's mean prediction is its share of buyers
    for group in (slice(0, 4000), slice(4000, 8000), slice(8000, 10000)):
        assert p[group].mean() == pytest.approx(y[group].mean(), abs=0.01)
    assert p[:4000].min() > p[4000:].max()  # recent frequent buyers above lapsed one-timers and never-bought
    # a cell nobody was in gets its recency band's rate, an unseen band everyone's
    assert table.predict([3], [50])[0] == pytest.approx(y[:4000].mean(), abs=0.05)
    assert table.predict([200], [1])[0] == pytest.approx(y.mean(), abs=0.01)


def test_the_auc_interval_shrinks_with_the_base_and_judges_against_chance():
    low, high = auc_interval(0.6, 300, 2700)
    assert low < 0.6 < high and 0.55 < low
    small_low, _ = auc_interval(0.6, 20, 180)
    assert small_low < 0.5  # 0.6 on 200 customers is within noise of chance
    rng = np.random.default_rng(1)
    y = rng.random(3000) < 0.1
    noise = propensity_report(y, rng.random(3000) * 0.2)
    assert "not_better_than_chance" in noise["problems"]
    constant = propensity_report(y, np.full(3000, 0.5))  # ranks nothing, far from the base rate
    assert set(constant["problems"]) == {"not_better_than_chance", "not_better_than_base_rate"}
    good = propensity_report(y, np.where(y, 0.6, 0.05))
    assert good["problems"] == [] and good["auc_low"] > 0.9 and good["brier_skill"] > 0


def test_the_model_is_served_only_when_it_passes_its_check():
    passing = {"problems": [], "brier": 0.09}
    failing = {"problems": ["not_better_than_base_rate"], "brier": 0.2}
    simple = {"problems": [], "brier": 0.08}
    assert choose_propensity(passing, simple) == "model"  # not swapped for a slightly lower Brier
    assert choose_propensity(failing, simple) == "simple"
    assert choose_propensity(None, simple) == "simple"
    assert choose_clv([], {"spearman": 0.4, "pace": {"spearman": 0.3}}) == ("bgnbd", [])
    assert choose_clv([], {"spearman": 0.3, "pace": {"spearman": 0.4}}) == ("pace", ["pace_ranks_better"])
    # a degenerate fit gives way unless the holdout supports it (then p_alive is left out)
    assert choose_clv(["bgnbd_no_dropout"], {}) == ("pace", ["bgnbd_no_dropout"])
    assert choose_clv(["bgnbd_no_dropout"], {"spearman": 0.1, "pace": {"spearman": 0.2}})[0] == "pace"
    assert choose_clv(["bgnbd_no_dropout"], {"spearman": 0.17, "pace": {"spearman": 0.08}}) == (
        "bgnbd", ["bgnbd_no_dropout", "bgnbd_kept_by_holdout"]
    )
    assert choose_clv(["bgnbd_not_available"], {"spearman": 0.9})[0] == "pace"


def _poisson_buyers(n=3000, seed=3):
    """Customers who buy as Poisson processes and never leave: what BG/NBD cannot see a dropout in."""
    rng = np.random.default_rng(seed)
    T = rng.uniform(10, 104, n)
    rates = rng.gamma(2.0, 1 / 8.0, n)
    x, t_x = [], []
    for horizon, rate in zip(T, rates, strict=True):
        times = np.sort(rng.uniform(0, horizon, rng.poisson(rate * horizon)))
        x.append(len(times))
        t_x.append(times[-1] if len(times) else 0.0)
    return np.array(x, dtype="float64"), np.array(t_x), T


def test_a_bgnbd_fit_that_cannot_see_dropout_is_degenerate_and_the_papers_fit_is_not():
    x, t_x, T = _poisson_buyers()
    fit = clv.fit_bgnbd(x, t_x, T)
    assert fit.a < 0.01 and "bgnbd_no_dropout" in bgnbd_problems(fit)
    cdnow = np.genfromtxt(DATA / "cdnow_customers_summary.csv", delimiter=",", names=True)
    published = clv.fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"])
    assert bgnbd_problems(published) == [] and published.converged


# --- a public order history: customer, date, amount, quantity ------------------------------------------

CDNOW_AS_OF = date(1997, 9, 30)
AS_OF = date(2026, 6, 1)  # the day of prediction_data.CUTOFF in Asia/Shanghai


def _cdnow_csv(tmp_path) -> Path:
    """CDNOW's 1/10 sample as the CSV a user makes of it: the file's own columns and dates (19970101), no
    order id (each line a purchase)."""
    out = tmp_path / "cdnow.csv"
    with open(DATA / "CDNOW_sample.txt") as f, open(out, "w", newline="") as w:
        writer = csv.writer(w)
        writer.writerow(["customer_id", "date", "number_of_cds", "dollar_value"])
        for text in f:
            cid, _, day, cds, dollars = text.split()
            writer.writerow([cid, day, cds, dollars])
    return out


@pytest.mark.django_db
def test_an_order_history_with_only_customer_time_and_amount_gets_predictions(warehouse, tmp_path):
    path = _cdnow_csv(tmp_path)
    mapping = ["customer_id=record_id", "date=order_time", "dollar_value=amount", "number_of_cds=quantity"]
    call_command("import", str(path), source="cdnow", format="generic", map=mapping, stdout=StringIO())
    call_command("resolve", stdout=StringIO())
    call_command("traits", as_of=CDNOW_AS_OF, stdout=StringIO())
    out = StringIO()
    call_command("predict", as_of=CDNOW_AS_OF, json=True, stdout=out)
    report = json.loads(out.getvalue())
    assert report["customers"] == 2357  # one customer per CDNOW customer id
    dropped = set(report["training"]["features_dropped"])
    # nothing to learn from in columns the file does not have: events, discounts, channels, the month
    assert {"events_30d", "events_90d", "discount_depth", "acquisition_source", "month"} <= dropped
    assert {"days_since_last_purchase", "purchase_days", "spend_total"} <= set(report["training"]["features"])
    check = report["calibration"]
    assert check["auc"] > 0.7 and check["brier_skill"] > 0  # CDNOW's recency and frequency do predict
    assert report["served"] == {"p_purchase": "model", "clv": "bgnbd"} and report["warnings"] == []
    assert bgnbd_problems(clv.BgNbd(**{k: report["bgnbd"][k] for k in ("r", "alpha", "a", "b")})) == []
    run = prediction_queries.calibration(CDNOW_AS_OF)
    assert run["customers"] == 2357 and run["served"]["p_purchase"] == "model"


# --- a brand with no signal: the warnings everywhere ----------------------------------------------------


def _noise_people(customers=800, seed=9) -> dict[int, dict]:
    """Everyone buys at the same Poisson rate and never leaves: history says nothing about who buys next
    (the purchase model cannot beat chance) and BG/NBD sees no dropout (a degenerate fit)."""
    rng = np.random.default_rng(seed)
    start = CUTOFF - timedelta(days=540)
    people = {}
    for cid in range(1, customers + 1):
        joined = rng.uniform(0, 60)
        times = np.sort(rng.uniform(joined, 600, rng.poisson(0.02 * (600 - joined))))
        people[cid] = {
            "source": "generic",
            "seen": start + timedelta(days=joined),
            "purchases": [(start + timedelta(days=float(t)), Decimal("100.00")) for t in times],
        }
    return people


@pytest.fixture(scope="session")
def noise_template(tmp_path_factory):
    """The brand without signal with its current predictions, computed once per session into a template
    warehouse file (like conftest's predicted_template)."""
    from django.test import override_settings

    from siyu.warehouse import connection

    path = tmp_path_factory.mktemp("noise") / "template.duckdb"
    connection.close()
    with override_settings(WAREHOUSE_PATH=path):
        try:
            write_people(connection.backend(), _noise_people())
            rebuild_customer_summary()
            report = refresh_predictions(now=CUTOFF)
        finally:
            connection.close()
    return {"path": path, "report": report}


@pytest.fixture
def noise_brand(noise_template, settings, tmp_path):
    import shutil

    from siyu.warehouse import connection

    connection.close()
    shutil.copy(noise_template["path"], tmp_path / "warehouse.duckdb")
    settings.WAREHOUSE_PATH = tmp_path / "warehouse.duckdb"
    yield noise_template["report"]
    connection.close()


@pytest.mark.django_db
def test_a_brand_without_signal_is_served_the_simple_scores_and_told_why(noise_brand):
    quality = noise_brand["quality"]
    assert quality["p_purchase"]["served"] == "simple"
    assert "not_better_than_chance" in quality["p_purchase"]["model_problems"]
    assert quality["clv"]["served"] == "pace" and "bgnbd_no_dropout" in quality["clv"]["problems"]
    assert "recency-frequency" in noise_brand["model_version"] and "pace-365d" in noise_brand["model_version"]
    run = prediction_queries.calibration()
    warnings = " ".join(run["warnings"])
    assert "随便排" in warnings and "简单评分" in warnings and "拟合结果退化" in warnings
    assert "简单估算" in warnings
    assert not re.search(r"not_better|bgnbd_|p_purchase|[A-Za-z]{3,}_[a-z]", warnings)  # words, no codes
    row = prediction_queries.predictions_of(1)
    assert row["p_purchase_score"] == "simple" and row["clv_score"] == "pace"
    assert row["p_alive"] is None and row["clv"] is not None and 0 <= row["p_purchase"] <= 1


@pytest.mark.django_db
def test_siyu_predict_json_says_so_in_chinese(noise_brand):
    out = StringIO()
    call_command("predict", as_of=AS_OF, json=True, stdout=out)
    report = json.loads(out.getvalue())
    assert report["served"] == {"p_purchase": "simple", "clv": "pace"}
    assert any("现在的“购买概率”使用简单评分" in w for w in report["warnings"])
    assert any("现在的“客户终身价值”使用简单估算" in w for w in report["warnings"])
    text = StringIO()
    call_command("predict", as_of=AS_OF, stdout=text)
    assert "simple score" in text.getvalue() and "! 现在的“购买概率”使用简单评分" in text.getvalue()


@pytest.mark.django_db
def test_the_page_and_the_segment_builder_say_so(noise_brand, admin_client):
    page = admin_client.get("/predictions/").content.decode()
    assert "data-quality-warnings" in page and "这些预测值得用吗" in page
    assert "简单评分（按距上次购买天数与购买次数）" in page and "简单估算（按过去一年的消费节奏）" in page
    assert "已拟合，但页面上的数值没有使用它" in page
    edit = admin_client.get("/segments/new/").content.decode()
    catalog = json.loads(re.search(r'<script id="rule-catalog" type="application/json">(.*?)</script>', edit, re.S)[1])
    fields = {f["name"]: f for f in catalog["fields"]}
    assert fields["p_purchase"]["label"].endswith("· 简单评分") and "随便排" in fields["p_purchase"]["note"]
    assert fields["clv"]["label"].endswith("· 简单估算") and "拟合结果退化" in fields["clv"]["note"]
    assert fields["p_alive"]["label"].endswith("· 本次未估计")
    assert fields["recency_days"]["note"] == ""
    profile = admin_client.get("/customers/1/").content.decode()
    assert 'data-prediction-score="simple"' in profile and 'data-prediction-score="pace"' in profile


@pytest.mark.django_db
def test_the_api_says_which_score_is_served(noise_brand, admin_user):
    from django.test import Client

    from siyu.api.actions import create_token

    client = Client(headers={"Authorization": f"Bearer {create_token(admin_user, 'tests')}"})
    body = client.get("/api/predictions/calibration").json()
    assert body["served"] == {"p_purchase": "simple", "clv": "pace"} and body["warnings"]
    row = client.get("/api/customers/1/predictions").json()
    assert row["p_purchase_score"] == "simple" and row["clv_score"] == "pace" and row["p_alive"] is None


@pytest.mark.django_db
def test_a_degenerate_fit_the_holdout_supports_keeps_its_clv_and_drops_p_alive(noise_brand, monkeypatch):
    from siyu.segments import predictions

    monkeypatch.setattr(
        predictions, "choose_clv", lambda problems, check: ("bgnbd", [*problems, "bgnbd_kept_by_holdout"])
    )
    report = refresh_predictions(now=CUTOFF)
    assert report["quality"]["clv"]["served"] == "bgnbd"
    row = prediction_queries.predictions_of(1)
    assert row["clv_score"] == "bgnbd" and row["clv"] is not None and row["p_alive"] is None
    assert row["expected_transactions"] > 0
    warnings = " ".join(prediction_queries.calibration()["warnings"])
    assert "拟合结果退化" in warnings and "仍使用它" in warnings and "使用简单估算" not in warnings
    assert prediction_queries.field_notes()["p_alive"]["which"] == "本次未估计"
