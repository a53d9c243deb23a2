"""The BG/NBD (beta-geometric / negative binomial) model of purchasing, where churn is unobserved.

Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005) "Counting your customers the easy way: an
alternative to the Pareto/NBD model", *Marketing Science* 24(2), 275-284 (FHL 2005a).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from finance.ltv.models.fitting import (
    MIN_CUSTOMERS,
    FitError,
    FloatArray,
    as_1d,
    distinct_rows,
    frozen_covariance,
    maximum_likelihood,
)


@dataclass(frozen=True)
class BGNBDFit:
    """A BG/NBD fit (FHL 2005a): purchase rate lambda ~ Gamma(r, alpha), dropout p ~ Beta(a, b).

    ``alpha`` is in the time unit of the recency and T it was fitted on (weeks for the
    usual ``rfm_summary(time_unit_days=7)``). ``covariance`` is that of (log r, log alpha, log a, log b).
    """

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    customers: int
    covariance: FloatArray = field(repr=False, compare=False)

    param_names: ClassVar[tuple[str, ...]] = ("r", "alpha", "a", "b")

    def __post_init__(self) -> None:
        object.__setattr__(self, "covariance", frozen_covariance(self.covariance))

    @property
    def params(self) -> FloatArray:
        """(r, alpha, a, b)."""
        return np.array([self.r, self.alpha, self.a, self.b])


def _rfm_arrays(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, model: str) -> tuple[FloatArray, ...]:
    problems: list[str] = []
    x = as_1d("frequency", frequency, problems)
    tx = as_1d("recency", recency, problems)
    big_t = as_1d("T", T, problems)
    if not (x.size == tx.size == big_t.size):
        problems.append(f"frequency, recency and T have different lengths ({x.size}, {tx.size}, {big_t.size})")
    if problems:
        raise FitError(f"{model}: " + "; ".join(problems))
    checks = {
        "negative frequency": x < 0,
        "non-integer frequency": x != np.round(x),
        "negative recency": tx < 0,
        "recency later than T": tx > big_t * (1 + 1e-12),
        "negative T": big_t < 0,
    }
    problems = [f"{int(np.sum(bad))} customer(s) with {what}" for what, bad in checks.items() if np.any(bad)]
    if problems:
        raise FitError(f"{model}: " + "; ".join(problems))
    return x, tx, big_t


def _bgnbd_log_likelihood_terms(
    r: float, alpha: float, a: float, b: float, x: FloatArray, tx: FloatArray, big_t: FloatArray
) -> FloatArray:
    """Each customer's ln L(r, alpha, a, b | x, t_x, T)   (FHL 2005a, eq. 6).

    L = B(a, b+x)/B(a, b) * Gamma(r+x) alpha^r / (Gamma(r) (alpha+T)^(r+x))
        + delta(x>0) B(a+1, b+x-1)/B(a, b) * Gamma(r+x) alpha^r / (Gamma(r) (alpha+t_x)^(r+x)),

    written as ln A1 + ln A2 + ln(exp(ln A3) + delta(x>0) exp(ln A4)) (the log form of Fader,
    Hardie & Lee's Excel implementation note) with
    ln A1 = lnGamma(r+x) - lnGamma(r) + r ln alpha,
    ln A2 = lnGamma(a+b) + lnGamma(b+x) - lnGamma(b) - lnGamma(a+b+x),
    ln A3 = -(r+x) ln(alpha+T),
    ln A4 = ln a - ln(b+x-1) - (r+x) ln(alpha+t_x)   (only where x > 0).
    """
    repeat = x > 0
    log_a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    log_a2 = special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b) - special.gammaln(a + b + x)
    log_a3 = -(r + x) * np.log(alpha + big_t)
    # b + x - 1 is evaluated only where x >= 1 (it may be <= 0 for x = 0 when b < 1).
    x_repeat = np.where(repeat, x, 1.0)
    log_a4 = np.where(
        repeat & (a > 0), np.log(a) - np.log(b + x_repeat - 1) - (r + x) * np.log(alpha + tx), -np.inf
    )
    return np.asarray(log_a1 + log_a2 + np.logaddexp(log_a3, log_a4))


def fit_bgnbd(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> BGNBDFit:
    """Fit the BG/NBD model to customer-level (frequency, recency, T) by maximum likelihood (FHL 2005a, eq. 6).

    ``frequency`` is x, the number of repeat purchases; ``recency`` is t_x, the time from the
    first purchase to the last (0 when x = 0); ``T`` is the time from the first purchase to
    the end of observation; recency and T in one time unit (``rfm_summary`` gives weeks).
    Times are divided by mean(T) during the search so the starting values suit any time
    unit; alpha is rescaled back, and the log-likelihood reported is on the data as given.
    """
    x, tx, big_t = _rfm_arrays(frequency, recency, T, "BG/NBD")
    if x.size < MIN_CUSTOMERS:
        raise FitError(f"BG/NBD: {x.size} customers are too few to fit (need at least {MIN_CUSTOMERS})")
    customers = int(x.size)
    # Customers with the same history have the same likelihood: each distinct (x, t_x, T) once, counted.
    (x, tx, big_t), _, counts = distinct_rows(x, tx, big_t)
    weights = counts.astype(np.float64)
    repeaters = int(np.sum(weights[x > 0]))
    if repeaters == 0:
        raise FitError("BG/NBD: no customer made a repeat purchase, so purchase rates and dropout cannot be estimated")
    if repeaters == customers and np.all(tx == big_t):
        raise FitError("BG/NBD: every customer bought at the very end of observation; dropout cannot be estimated")

    scale = float(np.sum(weights * big_t) / customers)
    tx_s, big_t_s = tx / scale, big_t / scale

    # Each term of the likelihood is a function of x, of T or of t_x alone, or of (r + x) times one: its
    # costly part (lnGamma, ln) is taken once per distinct value, then gathered (``_grouped_log_likelihood``).
    nll = _grouped_log_likelihood(weights, x, tx_s, big_t_s)

    # r/alpha is the mean purchase rate of a customer who never drops out; start it at the
    # observed repeat rate per (rescaled) time unit.
    rate = float(np.sum(weights * x) / np.sum(weights * big_t_s))
    starts = [[0.0, 0.0, 0.0, 0.0], [math.log(0.5), math.log(0.5 / rate), 0.0, math.log(3.0)]]
    hint = (
        " (a or b running off means the data show too little dropout to estimate it, the NBD limit; "
        "r and alpha running off together mean purchase rates show no heterogeneity)"
    )
    try:
        optimum = maximum_likelihood(
            nll, starts, "BG/NBD", BGNBDFit.param_names, " with times divided by mean T", flat_hint=hint
        )
    except FitError as error:
        if error.at is not None:  # where the search stopped, on the data's scale: a caller may compare its forecast
            r, alpha_s, a, b = (float(v) for v in np.exp(error.at))
            error.stopped_at = (r, alpha_s * scale, a, b)
        raise
    r, alpha_s, a, b = (float(v) for v in np.exp(optimum.log_params))
    alpha = alpha_s * scale
    log_likelihood = float(np.sum(weights * _bgnbd_log_likelihood_terms(r, alpha, a, b, x, tx, big_t)))
    return BGNBDFit(
        r=r, alpha=alpha, a=a, b=b, log_likelihood=log_likelihood, customers=customers, covariance=optimum.covariance
    )


def _grouped_log_likelihood(weights: FloatArray, x: FloatArray, tx: FloatArray,
                            big_t: FloatArray) -> Callable[[FloatArray], float]:
    """The negative weighted log-likelihood of log (r, alpha, a, b) for these histories: the sum of
    ``_bgnbd_log_likelihood_terms`` times the weights, with each lnGamma and ln taken once per distinct x, T
    or t_x (a company of millions has a few hundred of each), so a function evaluation costs a few
    multiplications and one logaddexp per history."""
    ux, ix = np.unique(x, return_inverse=True)
    ut, it = np.unique(big_t, return_inverse=True)
    urx, irx = np.unique(tx, return_inverse=True)
    repeat = x > 0
    w_repeat, x_repeat, ix_repeat, irx_repeat = weights[repeat], x[repeat], ix[repeat], irx[repeat]
    it_repeat = it[repeat]
    w_once, x_once, it_once, ix_once = weights[~repeat], x[~repeat], it[~repeat], ix[~repeat]

    def nll(log_params: FloatArray) -> float:
        r, alpha, a, b = np.exp(log_params)
        # ln A1 + ln A2 per distinct x; ln(alpha + T) per distinct T; ln(alpha + t_x) per distinct t_x
        by_x = (special.gammaln(r + ux) - special.gammaln(r) + r * np.log(alpha) + special.gammaln(a + b)
                + special.gammaln(b + ux) - special.gammaln(b) - special.gammaln(a + b + ux))
        log_t = np.log(alpha + ut)
        total = float(np.sum(w_once * (by_x[ix_once] - (r + x_once) * log_t[it_once])))
        if w_repeat.size:
            log_a3 = -(r + x_repeat) * log_t[it_repeat]
            by_repeats = np.log(a) - np.log(b + np.maximum(ux, 1.0) - 1)
            log_a4 = by_repeats[ix_repeat] - (r + x_repeat) * np.log(alpha + urx)[irx_repeat]
            total += float(np.sum(w_repeat * (by_x[ix_repeat] + np.logaddexp(log_a3, log_a4))))
        return -total

    return nll


def _bgnbd_params(fit_or_params: BGNBDFit | Sequence[float] | ArrayLike) -> tuple[float, float, float, float]:
    if isinstance(fit_or_params, BGNBDFit):
        return fit_or_params.r, fit_or_params.alpha, fit_or_params.a, fit_or_params.b
    values = np.asarray(fit_or_params, dtype=np.float64).reshape(-1)
    if values.size != 4 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f"BG/NBD parameters must be four positive numbers (r, alpha, a, b), got {values.tolist()}")
    r, alpha, a, b = (float(v) for v in values)
    return r, alpha, a, b


def _away_from_one(a: float) -> float:
    # (a+b-1)/(a-1) * [1 - ...] is 0/0 at a = 1 (a removable singularity); evaluating 1e-7 off it
    # changes the result by a relative O(1e-7).
    if abs(a - 1.0) > 1e-7:
        return a
    return 1.0 + 1e-7 if a >= 1.0 else 1.0 - 1e-7


def bgnbd_expected_purchases(fit_or_params: BGNBDFit | Sequence[float] | ArrayLike, t: ArrayLike) -> FloatArray:
    """E[X(t)], the expected number of repeat purchases in the first t time units of a new customer.

    E[X(t) | r, alpha, a, b] = (a+b-1)/(a-1) * [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))]
    (FHL 2005a, eq. 9), with the Gauss hypergeometric function from scipy.special.hyp2f1.
    """
    r, alpha, a, b = _bgnbd_params(fit_or_params)
    a = _away_from_one(a)
    time = np.asarray(t, dtype=np.float64)
    z = time / (alpha + time)
    hyp = special.hyp2f1(r, b, a + b - 1, z)
    return np.asarray((a + b - 1) / (a - 1) * (1 - (alpha / (alpha + time)) ** r * hyp))


def _bgnbd_dropout_odds(
    r: float, alpha: float, a: float, b: float, x: FloatArray, tx: FloatArray, big_t: FloatArray
) -> FloatArray:
    """delta(x>0) * a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x): the odds that the customer has dropped out."""
    repeat = x > 0
    x_repeat = np.where(repeat, x, 1.0)
    log_odds = np.log(a) - np.log(b + x_repeat - 1) + (r + x) * (np.log(alpha + big_t) - np.log(alpha + tx))
    return np.where(repeat, np.exp(np.minimum(log_odds, 700.0)), 0.0)


def bgnbd_probability_alive(
    fit_or_params: BGNBDFit | Sequence[float] | ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """P(alive | x, t_x, T), the probability a customer has not dropped out by the end of observation.

    P(alive) = 1 / (1 + delta(x>0) * a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x))
    (Fader, Hardie & Lee 2008, note "Computing P(alive) using the BG/NBD model"; the same
    term is the denominator of FHL 2005a eq. 10). A customer with no
    repeat purchase is alive with probability 1: in the BG/NBD, dropout happens only right
    after a repeat purchase.
    """
    r, alpha, a, b = _bgnbd_params(fit_or_params)
    x, tx, big_t = _rfm_arrays(frequency, recency, T, "BG/NBD")
    return np.asarray(1.0 / (1.0 + _bgnbd_dropout_odds(r, alpha, a, b, x, tx, big_t)))


def bgnbd_conditional_expected_purchases(
    fit_or_params: BGNBDFit | Sequence[float] | ArrayLike,
    t: ArrayLike,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
) -> FloatArray:
    """E[Y(t) | x, t_x, T], the expected purchases in the next t time units of a customer with history (x, t_x, T).

    E[Y(t) | X=x, t_x, T, r, alpha, a, b] =
        (a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))]
        / (1 + delta(x>0) a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))
    (FHL 2005a, eq. 10). ``t`` broadcasts against the customer arrays.
    """
    r, alpha, a, b = _bgnbd_params(fit_or_params)
    x, tx, big_t = _rfm_arrays(frequency, recency, T, "BG/NBD")
    alive = _expected_if_alive(r, alpha, _away_from_one(a), b, np.asarray(t, dtype=np.float64), x, big_t)
    return np.asarray(alive / (1.0 + _bgnbd_dropout_odds(r, alpha, a, b, x, tx, big_t)))


def bgnbd_expected_purchases_if_alive(
    fit_or_params: BGNBDFit | Sequence[float] | ArrayLike, t: ArrayLike, frequency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """E[Y(t) | alive at T, x, T]: the expected purchases in the next t time units of a customer with x repeat
    purchases in (0, T] who has not dropped out; ``bgnbd_conditional_expected_purchases`` times P(alive).

    (a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))]
    (FHL 2005a, eq. 10's numerator). It does not depend on t_x, so a projection over many customers
    needs it once per distinct (x, T) only, the costly Gaussian hypergeometric function included.
    """
    r, alpha, a, b = _bgnbd_params(fit_or_params)
    x, _tx, big_t = _rfm_arrays(frequency, np.zeros_like(np.asarray(frequency, dtype=np.float64)), T, "BG/NBD")
    return _expected_if_alive(r, alpha, _away_from_one(a), b, np.asarray(t, dtype=np.float64), x, big_t)


def _expected_if_alive(r: float, alpha: float, a: float, b: float, horizon: FloatArray, x: FloatArray,
                       big_t: FloatArray) -> FloatArray:
    z = horizon / (alpha + big_t + horizon)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    bracket = 1 - ((alpha + big_t) / (alpha + big_t + horizon)) ** (r + x) * hyp
    return np.asarray((a + b + x - 1) / (a - 1) * bracket)
