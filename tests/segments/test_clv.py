"""BG/NBD and Gamma-Gamma (siyu.segments.clv) against the published CDNOW fits, and properties every
fit must have."""

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.segments import clv
from siyu.segments.errors import PredictionError

CDNOW = Path(__file__).parents[1] / "data" / "cdnow_customers_summary.csv"
# Fader, Hardie & Lee (2005), table/fig. of the BG/NBD fit; Fader & Hardie (2013) for Gamma-Gamma
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}


@pytest.fixture(scope="module")
def cdnow():
    with CDNOW.open() as handle:
        rows = list(csv.DictReader(handle))
    return {k: np.array([float(r[k]) for r in rows]) for k in ("x", "t_x", "T", "zbar")}


@pytest.fixture(scope="module")
def fitted(cdnow):
    return clv.fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"])


def test_bgnbd_lands_on_the_published_cdnow_fit(cdnow, fitted):
    assert len(cdnow["x"]) == 2357
    for name, value in PUBLISHED_BGNBD.items():
        assert getattr(fitted, name) == pytest.approx(value, rel=0.005), name
    assert fitted.log_likelihood == pytest.approx(-9582.4, abs=0.1)  # the paper's LL


def test_gamma_gamma_lands_on_the_published_cdnow_fit(cdnow):
    fitted = clv.fit_gamma_gamma(cdnow["x"], cdnow["zbar"])
    assert fitted.customers == 946  # the repeat buyers
    for name, value in PUBLISHED_GG.items():
        assert getattr(fitted, name) == pytest.approx(value, rel=0.005), name


def test_conditional_expectation_and_p_alive_of_the_papers_example(fitted):
    # FHL 2005: a customer with x = 2, t_x = 30.43, T = 38.86 is expected to make 1.226 purchases in the
    # next 39 weeks; a customer with no repeat purchase is certainly alive under BG/NBD.
    assert clv.expected_purchases(fitted, 39, [2], [30.43], [38.86])[0] == pytest.approx(1.226, abs=0.002)
    assert clv.p_alive(fitted, [2, 0], [30.43, 0], [38.86, 38.86]).tolist() == pytest.approx(
        [0.7266, 1.0], abs=1e-3
    )


def test_the_cohort_forecast_is_close_to_what_cdnow_customers_bought(cdnow, fitted):
    # The papers' holdout: 39 weeks after the calibration period, in which the cohort made 1,788 repeat
    # purchases; BG/NBD forecasts about 1,653 for the 2,357 customers (our number, checked by lifetimes).
    total = clv.expected_purchases(fitted, 39, cdnow["x"], cdnow["t_x"], cdnow["T"]).sum()
    assert total == pytest.approx(1653.4, abs=1.0)
    assert abs(total - 1788) / 1788 < 0.1


def test_a_weighted_fit_on_distinct_rows_equals_the_fit_on_every_customer(cdnow, fitted):
    rows, weights = np.unique(
        np.stack([cdnow["x"], cdnow["t_x"], cdnow["T"]], axis=1), axis=0, return_counts=True
    )
    assert len(rows) < len(cdnow["x"])
    compressed = clv.fit_bgnbd(rows[:, 0], rows[:, 1], rows[:, 2], weights)
    for name in ("r", "alpha", "a", "b"):
        assert getattr(compressed, name) == pytest.approx(getattr(fitted, name), rel=1e-3)


def test_the_expected_value_shrinks_a_customers_mean_towards_the_population():
    model = clv.GammaGamma(6.25, 3.74, 15.44)
    population = 6.25 * 15.44 / (3.74 - 1)
    one, many = clv.expected_value(model, [1, 20], [100.0, 100.0])
    assert clv.expected_value(model, [0], [0])[0] == pytest.approx(population)
    assert population < one < many < 100


def test_clv_is_expected_purchases_times_value_and_discounting_lowers_it(fitted):
    args = ([3.0], [20.0], [30.0])
    plain = clv.lifetime_value(fitted, [50.0], *args, periods=12, period=30 / 7, discount=0.0)[0]
    expected = clv.expected_purchases(fitted, 12 * 30 / 7, *args)[0] * 50
    assert plain == pytest.approx(expected)
    assert clv.lifetime_value(fitted, [50.0], *args, periods=12, period=30 / 7, discount=0.01)[0] < plain


def test_data_without_repeat_purchases_is_refused():
    with pytest.raises(PredictionError, match="repeat purchases"):
        clv.fit_bgnbd([0, 0, 0], [0, 0, 0], [5, 6, 7])
    with pytest.raises(PredictionError, match="t_x ≤ T"):
        clv.fit_bgnbd([1, 2], [9, 1], [5, 6])


@settings(max_examples=60, deadline=None)
@given(
    x=st.integers(0, 40),
    gap=st.floats(0, 100),
    extra=st.floats(0, 100),
    horizon=st.floats(0.1, 200),
)
def test_predictions_are_probabilities_and_grow_with_the_horizon(fitted, x, gap, extra, horizon):
    t_x = gap if x > 0 else 0.0
    T = t_x + extra
    alive = clv.p_alive(fitted, [x], [t_x], [T])[0]
    assert 0 <= alive <= 1
    shorter = clv.expected_purchases(fitted, horizon, [x], [t_x], [T])[0]
    longer = clv.expected_purchases(fitted, horizon * 2, [x], [t_x], [T])[0]
    assert 0 <= shorter <= longer + 1e-9
