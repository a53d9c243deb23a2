"""The Gamma-Gamma model of spend per transaction.

Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005) "RFM and CLV: using iso-value curves for
customer base analysis", *Journal of Marketing Research* 42(4), 415-430 (FHL 2005b), and
Fader & Hardie (2013) "The Gamma-Gamma model of monetary value", note at
brucehardie.com/notes/025 (F&H 2013).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from finance.ltv.models.fitting import MIN_CUSTOMERS, FitError, FloatArray, as_1d, frozen_covariance, maximum_likelihood


@dataclass(frozen=True)
class GammaGammaFit:
    """A Gamma-Gamma spend fit (FHL 2005b; F&H 2013): spend ~ Gamma(p, nu), nu ~ Gamma(q, gamma).

    ``gamma`` is in the money unit of the monetary values it was fitted on. ``covariance`` is
    that of (log p, log q, log gamma).
    """

    p: float
    q: float
    gamma: float
    log_likelihood: float
    customers: int
    covariance: FloatArray = field(repr=False, compare=False)

    param_names: ClassVar[tuple[str, ...]] = ("p", "q", "gamma")

    def __post_init__(self) -> None:
        object.__setattr__(self, "covariance", frozen_covariance(self.covariance))

    @property
    def params(self) -> FloatArray:
        """(p, q, gamma)."""
        return np.array([self.p, self.q, self.gamma])


def _gamma_gamma_log_likelihood_terms(p: float, q: float, gamma: float, x: FloatArray, m: FloatArray) -> FloatArray:
    """Each customer's ln f(m_x | p, q, gamma; x), the density of the mean spend m_x of x transactions.

    f(m_x | p, q, gamma; x) = Gamma(px+q) / (Gamma(px) Gamma(q)) * gamma^q x^(px) m_x^(px-1) / (gamma + m_x x)^(px+q)
    (F&H 2013; FHL 2005b): each spend is Gamma(p, nu), so m_x | nu ~ Gamma(px, nu x), and
    nu ~ Gamma(q, gamma) is integrated out.
    """
    px = p * x
    return np.asarray(
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(gamma)
        + px * np.log(x)
        + (px - 1) * np.log(m)
        - (px + q) * np.log(gamma + m * x)
    )


def fit_gamma_gamma(frequency: ArrayLike, monetary_value: ArrayLike) -> GammaGammaFit:
    """Fit the Gamma-Gamma spend model by maximum likelihood on the customers with frequency > 0.

    ``monetary_value`` is the mean value of each customer's repeat purchases (``rfm_summary``
    gives it); customers with frequency 0 carry no spend information and are dropped, and
    every remaining customer needs a positive monetary value. Values are divided by their
    mean during the search (gamma is a scale parameter) and gamma is scaled back.
    """
    problems: list[str] = []
    x_all = as_1d("frequency", frequency, problems)
    m_all = as_1d("monetary_value", monetary_value, problems)
    if x_all.size != m_all.size:
        problems.append(f"frequency and monetary_value have different lengths ({x_all.size}, {m_all.size})")
    if problems:
        raise FitError("Gamma-Gamma: " + "; ".join(problems))
    if np.any(x_all < 0):
        raise FitError(f"Gamma-Gamma: {int(np.sum(x_all < 0))} customer(s) with negative frequency")
    repeat = x_all > 0
    x, m = x_all[repeat], m_all[repeat]
    if x.size == 0:
        raise FitError("Gamma-Gamma: no customer made a repeat purchase, so there is no spend to model")
    if x.size < MIN_CUSTOMERS:
        raise FitError(
            f"Gamma-Gamma: {x.size} customers with repeat purchases are too few to fit (need at least {MIN_CUSTOMERS})"
        )
    if np.any(m <= 0):
        raise FitError(
            f"Gamma-Gamma: {int(np.sum(m <= 0))} customer(s) with repeat purchases have a monetary value <= 0; "
            "the model needs positive spend"
        )
    if np.all(m == m[0]):
        raise FitError(
            "Gamma-Gamma: every customer has the same monetary value; spend heterogeneity cannot be estimated"
        )

    scale = float(np.mean(m))
    m_s = m / scale

    # The sum of ``_gamma_gamma_log_likelihood_terms`` with every term that is a function of x alone taken
    # once per distinct x, and those linear in p summed once: one logarithm per customer is left.
    ux, per_x = np.unique(x, return_counts=True)
    n = float(x.size)
    x_ln_x, x_ln_m, ln_m = float(np.sum(x * np.log(x))), float(np.sum(x * np.log(m_s))), float(np.sum(np.log(m_s)))
    mx = m_s * x

    def nll(log_params: FloatArray) -> float:
        p, q, gamma = np.exp(log_params)
        by_x = float(np.sum(per_x * (special.gammaln(p * ux + q) - special.gammaln(p * ux))))
        total = (by_x - n * special.gammaln(q) + n * q * math.log(gamma) + p * x_ln_x + p * x_ln_m - ln_m
                 - float(np.sum((p * x + q) * np.log(gamma + mx))))
        return -total

    # Both starts give the population mean spend p*gamma/(q-1) = 1 on the rescaled values.
    starts = [[0.0, math.log(2.0), 0.0], [math.log(5.0), math.log(4.0), math.log(0.6)]]
    optimum = maximum_likelihood(
        nll, starts, "Gamma-Gamma", GammaGammaFit.param_names, " with values divided by their mean"
    )
    p, q, gamma_s = (float(v) for v in np.exp(optimum.log_params))
    gamma = gamma_s * scale
    log_likelihood = float(np.sum(_gamma_gamma_log_likelihood_terms(p, q, gamma, x, m)))
    return GammaGammaFit(
        p=p, q=q, gamma=gamma, log_likelihood=log_likelihood, customers=int(x.size), covariance=optimum.covariance
    )


def _gamma_gamma_params(fit_or_params: GammaGammaFit | Sequence[float] | ArrayLike) -> tuple[float, float, float]:
    if isinstance(fit_or_params, GammaGammaFit):
        return fit_or_params.p, fit_or_params.q, fit_or_params.gamma
    values = np.asarray(fit_or_params, dtype=np.float64).reshape(-1)
    if values.size != 3 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f"Gamma-Gamma parameters must be three positive numbers (p, q, gamma), got {values.tolist()}")
    p, q, gamma = (float(v) for v in values)
    return p, q, gamma


def gamma_gamma_expected_spend(
    fit_or_params: GammaGammaFit | Sequence[float] | ArrayLike,
    frequency: ArrayLike | None = None,
    monetary_value: ArrayLike | None = None,
) -> FloatArray | float:
    """Expected spend per transaction: the population mean, or each customer's conditional expectation.

    Population (``frequency`` is None): E[Z] = p gamma / (q - 1), finite only when q > 1.
    Conditional: E[M | p, q, gamma, m_x, x] = (q-1)/(px+q-1) * p gamma/(q-1) + px/(px+q-1) * m_x
                                            = p (gamma + x m_x) / (px + q - 1),
    a weighted average of the population mean and the customer's own mean m_x (FHL 2005b;
    F&H 2013). A customer with x = 0 gets the population mean. Raises FitError where the
    expectation is infinite (q <= 1 and too few transactions to outweigh it).
    """
    p, q, gamma = _gamma_gamma_params(fit_or_params)
    if frequency is None:
        if q <= 1:
            raise FitError(f"Gamma-Gamma: q = {q:.4g} <= 1, so the population mean spend p*gamma/(q-1) is infinite")
        return p * gamma / (q - 1)
    problems: list[str] = []
    x = as_1d("frequency", frequency, problems)
    m = as_1d("monetary_value", monetary_value if monetary_value is not None else np.zeros_like(x), problems)
    if x.size != m.size:
        problems.append(f"frequency and monetary_value have different lengths ({x.size}, {m.size})")
    if problems:
        raise FitError("Gamma-Gamma: " + "; ".join(problems))
    denominator = p * x + q - 1
    if np.any(denominator <= 0):
        raise FitError(
            f"Gamma-Gamma: q = {q:.4g} <= 1, so the expected spend is infinite for "
            f"{int(np.sum(denominator <= 0))} customer(s) with few transactions"
        )
    m = np.where(x > 0, m, 0.0)
    return np.asarray(p * (gamma + x * m) / denominator)
