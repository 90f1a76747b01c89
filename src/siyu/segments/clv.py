"""Customer lifetime value: BG/NBD for the number of future purchases and whether a customer is still
"alive", Gamma-Gamma for the value of a purchase, in numpy/scipy.

Why our own code (docs/architecture.md "Predictions"): `lifetimes` (the reference implementation) has had no
release since 2020 and sets a pandas option at import that pandas 4 removes; `pymc-marketing` is
maintained but brings PyMC and PyTensor (a C compiler at run time) for what is four and three parameters
fitted by maximum likelihood. The formulas below are the published ones; tests/segments/test_clv.py fits
the CDNOW summary (2,357 customers) and must land on the published parameters.

Data per customer, in one time unit (Siyu uses weeks, like the papers):
    x    repeat purchases (purchase days after the first one)
    t_x  time from the first purchase to the last one
    T    time from the first purchase to the cut-off
    m    mean value of the x repeat purchases (Gamma-Gamma; customers with x > 0)

BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way", Marketing Science 24(2)):
while alive a customer buys as a Poisson process with rate λ ~ Gamma(r, α); after each purchase they drop
out with probability p ~ Beta(a, b). Likelihood of (x, t_x, T), their eq. (6):

    L = B(a, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
      + δ(x>0) · B(a+1, b+x−1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x))

P(alive | x, t_x, T) = 1 / (1 + δ(x>0) · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))
E[purchases in (T, T+t] | x, t_x, T], their eq. (10):
    (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) · ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t))] / (1 + δ(x>0) …)
Published CDNOW fit (weeks): r = 0.243, α = 4.414, a = 0.793, b = 2.426.

Gamma-Gamma (Fader & Hardie 2013, "The Gamma-Gamma Model of Monetary Value"; Colombo & Jiang 1999): a
purchase's value ~ Gamma(p, ν) with ν ~ Gamma(q, γ) per customer, independent of the purchase process.
Likelihood of the mean m of x values:

    ln L = lnΓ(px+q) − lnΓ(px) − lnΓ(q) + q ln γ + (px−1) ln m + px ln x − (px+q) ln(γ + m x)

E[value | x, m] = p (γ + m x) / (p x + q − 1) (the population mean p γ/(q − 1) for x = 0).
Published CDNOW fit (946 repeat buyers): p = 6.25, q = 3.74, γ = 15.44.

CLV over a horizon: Σ over periods k of (E[X(t_k)] − E[X(t_{k−1})]) · E[value] / (1 + d)^k, d the
discount rate per period (Siyu's periods are 30-day months).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1, logsumexp

from siyu.segments.errors import PredictionError


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")
    customers: int = 0
    converged: bool = True  # the optimiser reported success (a fit that did not is degenerate)

    def as_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    gamma: float
    log_likelihood: float = float("nan")
    customers: int = 0
    converged: bool = True  # the optimiser reported success (a fit that did not is degenerate)

    def as_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _arrays(*values) -> list[np.ndarray]:
    return [np.asarray(v, dtype="float64") for v in values]


def bgnbd_log_likelihood(params, x, t_x, T) -> np.ndarray:
    """ln L of each customer under BG/NBD (params r, α, a, b)."""
    r, alpha, a, b = params
    x, t_x, T = _arrays(x, t_x, T)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
    still = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    # The dropped-out term, B(a+1, b+x−1)/B(a, b+x) = a/(b+x−1), only where x > 0.
    gone = np.where(
        repeat,
        np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    return common + logsumexp(np.stack([still, gone]), axis=0)


def fit_bgnbd(x, t_x, T, weights=None) -> BgNbd:
    """Maximum-likelihood BG/NBD. `weights`: how many customers share each (x, t_x, T) row (fit on the
    distinct rows of a large base)."""
    x, t_x, T = _arrays(x, t_x, T)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype="float64")
    if len(x) == 0 or w.sum() < 2 or not np.any(x > 0):
        raise PredictionError("BG/NBD needs customers with repeat purchases to fit")
    if np.any((t_x < 0) | (t_x > T + 1e-9) | (x < 0)) or np.any((x == 0) & (t_x > 0)):
        raise PredictionError("BG/NBD data must have 0 ≤ t_x ≤ T, x ≥ 0 and t_x = 0 when x = 0")
    scale = 10.0 / T.max()  # fit on a time scale where T ≤ 10 (α scales with the unit), as lifetimes does
    total = w.sum()

    def negative(log_params):
        with np.errstate(all="ignore"):  # the optimiser's wild steps: scored as 1e12 below
            ll = bgnbd_log_likelihood(np.exp(log_params), x, t_x * scale, T * scale)
            value = -(w * ll).sum() / total
        return value if np.isfinite(value) else 1e12

    result = _minimise(negative, 4)
    r, alpha, a, b = np.exp(result.x)
    alpha /= scale
    ll = float((w * bgnbd_log_likelihood((r, alpha, a, b), x, t_x, T)).sum())
    return BgNbd(float(r), float(alpha), float(a), float(b), ll, int(total), bool(result.success))


def _minimise(negative, size: int):
    """Quasi-Newton from log-parameters 0, polished by Nelder-Mead; other starts only when that fails."""
    best = None
    for start in (np.zeros(size), np.full(size, -1.0), np.full(size, 1.0)):
        result = minimize(negative, start, method="L-BFGS-B")
        result = minimize(negative, result.x, method="Nelder-Mead",
                          options={"maxiter": 4_000, "xatol": 1e-7, "fatol": 1e-10})  # fmt: skip
        if best is None or result.fun < best.fun:
            best = result
        if np.isfinite(best.fun) and best.fun < 1e11 and result.success:
            break
    if not np.isfinite(best.fun) or best.fun >= 1e11:
        raise PredictionError("the model did not converge")
    return best


def p_alive(model: BgNbd, x, t_x, T) -> np.ndarray:
    x, t_x, T = _arrays(x, t_x, T)
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    repeat = x > 0
    log_ratio = (
        np.log(a)
        - np.log(np.where(repeat, b + x - 1, 1.0))
        + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    )
    return np.where(repeat, 1.0 / (1.0 + np.exp(np.minimum(log_ratio, 700))), 1.0)


def expected_purchases(model: BgNbd, t, x, t_x, T) -> np.ndarray:
    """E[number of purchases in the next `t` time units | x, t_x, T] (FHL 2005 eq. 10)."""
    x, t_x, T = _arrays(x, t_x, T)
    t = np.asarray(t, dtype="float64")
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    if abs(a - 1) < 1e-9:
        a = 1 + 1e-9  # (a+b+x−1)/(a−1) has a removable singularity at a = 1; a < 1 is fine (CDNOW: 0.79)
    z = t / (alpha + T + t)
    hyp = hyp2f1(r + x, b + x, a + b + x - 1, z)
    head = (a + b + x - 1) / (a - 1)
    tail = 1.0 - np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t))) * hyp
    repeat = x > 0
    denominator = 1.0 + np.where(
        repeat,
        a / np.where(repeat, b + x - 1, 1.0) * np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + t_x))),
        0.0,
    )
    return np.maximum(head * tail / denominator, 0.0)


def expected_purchases_new(model: BgNbd, t) -> np.ndarray:
    """E[X(t)] for a customer who has just made a first purchase (FHL 2005 eq. 7)."""
    t = np.asarray(t, dtype="float64")
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    if abs(a - 1) < 1e-9:
        a = 1 + 1e-9
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t)))


def gamma_gamma_log_likelihood(params, x, m) -> np.ndarray:
    p, q, gamma = params
    x, m = _arrays(x, m)
    px = p * x
    return (
        gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(gamma)
        + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * np.log(gamma + m * x)
    )  # fmt: skip


def fit_gamma_gamma(x, m, weights=None) -> GammaGamma:
    """Maximum-likelihood Gamma-Gamma on customers with x > 0 repeat purchases of mean value m > 0."""
    x, m = _arrays(x, m)
    keep = (x > 0) & (m > 0)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype="float64")
    x, m, w = x[keep], m[keep], w[keep]
    if w.sum() < 2:
        raise PredictionError("Gamma-Gamma needs customers with repeat purchases of a positive value")
    scale = 10.0 / m.max()  # values on a scale near 1 (γ scales with the currency unit)
    total = w.sum()

    def negative(log_params):
        with np.errstate(all="ignore"):  # the optimiser's wild steps: scored as 1e12 below
            value = -(w * gamma_gamma_log_likelihood(np.exp(log_params), x, m * scale)).sum() / total
        return value if np.isfinite(value) else 1e12

    result = _minimise(negative, 3)
    p, q, gamma = np.exp(result.x)
    gamma /= scale
    ll = float((w * gamma_gamma_log_likelihood((p, q, gamma), x, m)).sum())
    return GammaGamma(float(p), float(q), float(gamma), ll, int(total), bool(result.success))


def expected_value(model: GammaGamma, x, m) -> np.ndarray:
    """E[value of a purchase | x repeat purchases of mean m]; the population mean for x = 0."""
    x, m = _arrays(x, m)
    p, q, gamma = model.p, model.q, model.gamma
    if q <= 1:
        raise PredictionError("Gamma-Gamma q ≤ 1: the mean purchase value is not defined")
    m = np.where(x > 0, m, 0.0)
    return p * (gamma + m * x) / (p * x + q - 1)


def discounted_purchases(purchases: BgNbd, x, t_x, T, *, periods: int, period: float, discount: float):
    """Σ over `periods` periods of `period` time units of the expected purchases in the period, discounted
    at `discount` per period (CLV = this × the expected value of a purchase)."""
    x, t_x, T = _arrays(x, t_x, T)
    total = np.zeros_like(x)
    before = np.zeros_like(x)
    for k in range(1, periods + 1):
        upto = expected_purchases(purchases, k * period, x, t_x, T)
        total += (upto - before) / (1.0 + discount) ** k
        before = upto
    return total


def lifetime_value(purchases: BgNbd, values, x, t_x, T, *, periods: int, period: float, discount: float):
    """CLV over `periods` periods of `period` time units: expected purchases per period × the expected
    value, discounted at `discount` per period. `values`: expected_value per customer."""
    factor = discounted_purchases(purchases, x, t_x, T, periods=periods, period=period, discount=discount)
    return factor * np.asarray(values, dtype="float64")
