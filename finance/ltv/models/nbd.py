"""The NBD model of purchasing: customers who never stop, the limit BG/NBD reaches when no dropout shows.

Each customer buys in a Poisson process at a rate lambda, and lambda ~ Gamma(r, alpha) across
customers (Ehrenberg, A. S. C. (1959) "The pattern of consumer purchases", *Applied Statistics* 8(1),
26-41; Morrison, D. G. & Schmittlein, D. C. (1988) "Generalizing the NBD model for customer
purchases", *Journal of Business & Economic Statistics* 6(2), 145-159). It is the BG/NBD (FHL 2005a)
with the dropout probability p fixed at 0: as BG/NBD's a runs to 0 (or b to infinity), its
likelihood (FHL 2005a, eq. 6) tends to this one, term for term, and its forecasts to these. When a
BG/NBD fit finds the likelihood still rising as a or b run off (``FitError.edge``), the data show
too little dropout to estimate it, and this is the model they support.

Given a history (x purchases in (0, T]), the timing of the purchases carries no information on
lambda, whose posterior is Gamma(r + x, alpha + T). Hence

    ln L(r, alpha | x, T) = lnGamma(r + x) - lnGamma(r) + r ln alpha - (r + x) ln(alpha + T)
    E[X(t)] = r t / alpha,     E[Y(t) | x, T] = (r + x) t / (alpha + T).

The log-likelihood is written on the scale of BG/NBD's (without the x! of the count's pmf), so the
two can be compared on the same customers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from finance.ltv.models.bgnbd import _rfm_arrays
from finance.ltv.models.fitting import (
    MIN_CUSTOMERS,
    FitError,
    FloatArray,
    distinct_rows,
    frozen_covariance,
    maximum_likelihood,
)


@dataclass(frozen=True)
class NBDFit:
    """An NBD fit: purchase rate lambda ~ Gamma(r, alpha), no dropout.

    ``alpha`` is in the time unit of the T it was fitted on; ``covariance`` is that of (log r, log alpha).
    """

    r: float
    alpha: float
    log_likelihood: float
    customers: int
    covariance: FloatArray = field(repr=False, compare=False)

    param_names: ClassVar[tuple[str, ...]] = ("r", "alpha")

    def __post_init__(self) -> None:
        object.__setattr__(self, "covariance", frozen_covariance(self.covariance))

    @property
    def params(self) -> FloatArray:
        """(r, alpha)."""
        return np.array([self.r, self.alpha])


def _nbd_log_likelihood_terms(r: float, alpha: float, x: FloatArray, big_t: FloatArray) -> FloatArray:
    return np.asarray(special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + big_t))


def fit_nbd(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> NBDFit:
    """Fit the NBD to customer-level (frequency, recency, T) by maximum likelihood.

    The same inputs as ``fit_bgnbd`` (recency is checked, then not needed: under the NBD only the
    count in (0, T] informs the rate). Customers with the same (x, T) are counted once, with their
    number as a weight; times are divided by mean(T) during the search and alpha rescaled back.
    """
    x, _tx, big_t = _rfm_arrays(frequency, recency, T, "NBD")
    if x.size < MIN_CUSTOMERS:
        raise FitError(f"NBD: {x.size} customers are too few to fit (need at least {MIN_CUSTOMERS})")
    customers = int(x.size)
    (x, big_t), _, counts = distinct_rows(x, big_t)
    weights = counts.astype(np.float64)
    if not np.any(x > 0):
        raise FitError("NBD: no customer made a repeat purchase, so purchase rates cannot be estimated")
    scale = float(np.sum(weights * big_t) / customers)
    if scale <= 0:
        raise FitError("NBD: every customer was observed for no time (T = 0)")
    big_t_s = big_t / scale

    def nll(log_params: FloatArray) -> float:
        r, alpha = np.exp(log_params)
        return -float(np.sum(weights * _nbd_log_likelihood_terms(r, alpha, x, big_t_s)))

    rate = float(np.sum(weights * x) / np.sum(weights * big_t_s))
    starts = [[0.0, math.log(1.0 / rate)], [math.log(0.5), math.log(0.5 / rate)]]
    optimum = maximum_likelihood(nll, starts, "NBD", NBDFit.param_names, " with times divided by mean T",
                                 flat_hint=" (r and alpha running off together mean purchase rates show no "
                                           "heterogeneity: every customer buys at the same rate)")
    r, alpha_s = (float(v) for v in np.exp(optimum.log_params))
    alpha = alpha_s * scale
    log_likelihood = float(np.sum(weights * _nbd_log_likelihood_terms(r, alpha, x, big_t)))
    return NBDFit(r=r, alpha=alpha, log_likelihood=log_likelihood, customers=customers,
                  covariance=optimum.covariance)


def _nbd_params(fit_or_params: NBDFit | Sequence[float] | ArrayLike) -> tuple[float, float]:
    if isinstance(fit_or_params, NBDFit):
        return fit_or_params.r, fit_or_params.alpha
    values = np.asarray(fit_or_params, dtype=np.float64).reshape(-1)
    if values.size != 2 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f"NBD parameters must be two positive numbers (r, alpha), got {values.tolist()}")
    return float(values[0]), float(values[1])


def nbd_expected_purchases(fit_or_params: NBDFit | Sequence[float] | ArrayLike, t: ArrayLike) -> FloatArray:
    """E[X(t)] = r t / alpha: the expected purchases in the first t time units of a new customer."""
    r, alpha = _nbd_params(fit_or_params)
    return np.asarray(r * np.asarray(t, dtype=np.float64) / alpha)


def nbd_conditional_expected_purchases(fit_or_params: NBDFit | Sequence[float] | ArrayLike, t: ArrayLike,
                                       frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
    """E[Y(t) | x, T] = (r + x) t / (alpha + T): the posterior mean rate times t. ``t`` broadcasts."""
    r, alpha = _nbd_params(fit_or_params)
    x, _tx, big_t = _rfm_arrays(frequency, recency, T, "NBD")
    return np.asarray((r + x) * np.asarray(t, dtype=np.float64) / (alpha + big_t))
