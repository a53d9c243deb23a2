"""The shifted-beta-geometric (sBG) model of contractual retention, where churn is observed.

Fader, P. S. & Hardie, B. G. S. (2007) "How to project customer retention", *Journal of
Interactive Marketing* 21(1), 76-90 (cited below as F&H 2007).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from finance.ltv.models.fitting import MIN_CUSTOMERS, FitError, FloatArray, frozen_covariance, maximum_likelihood


@dataclass(frozen=True)
class SBGFit:
    """A shifted-beta-geometric fit (F&H 2007): churn probability theta ~ Beta(alpha, beta) across customers.

    ``covariance`` is the asymptotic covariance of (log alpha, log beta).
    """

    alpha: float
    beta: float
    log_likelihood: float
    periods: int
    customers: int
    covariance: FloatArray = field(repr=False, compare=False)

    param_names: ClassVar[tuple[str, ...]] = ("alpha", "beta")

    def __post_init__(self) -> None:
        object.__setattr__(self, "covariance", frozen_covariance(self.covariance))

    @property
    def params(self) -> FloatArray:
        """(alpha, beta)."""
        return np.array([self.alpha, self.beta])


def sbg_churn_probability(alpha: float, beta: float, periods: int) -> FloatArray:
    """P(T=t), the probability a new customer churns in period t = 1..periods.

    P(T=t | alpha, beta) = B(alpha+1, beta+t-1) / B(alpha, beta)   (F&H 2007, eq. 7),
    evaluated through log-beta functions so large t does not underflow into 0/0.
    """
    t = np.arange(1, periods + 1, dtype=np.float64)
    return np.asarray(np.exp(special.betaln(alpha + 1, beta + t - 1) - special.betaln(alpha, beta)))


def sbg_survival(alpha: float, beta: float, periods: int) -> FloatArray:
    """S(t), the share of a cohort still a customer after t = 0..periods renewal opportunities; S(0) = 1.

    S(t | alpha, beta) = B(alpha, beta+t) / B(alpha, beta)   (F&H 2007; equivalently
    S(t) = S(t-1) - P(T=t), the recursion of their Appendix B).
    """
    t = np.arange(0, periods + 1, dtype=np.float64)
    return np.asarray(np.exp(special.betaln(alpha, beta + t) - special.betaln(alpha, beta)))


def sbg_retention_rate(alpha: float, beta: float, periods: int) -> FloatArray:
    """r(t) = S(t) / S(t-1), the retention rate of period t = 1..periods; it rises with t as the weak churn first.

    r(t) = (beta + t - 1) / (alpha + beta + t - 1)   (F&H 2007, retention-rate expression).
    """
    t = np.arange(1, periods + 1, dtype=np.float64)
    return np.asarray((beta + t - 1) / (alpha + beta + t - 1))


def _sbg_log_likelihood(alpha: float, beta: float, churned: FloatArray, survivors: float) -> float:
    """LL = sum_t n_t ln P(T=t) + (n - sum_t n_t) ln S(t_final)   (F&H 2007, Appendix B, eq. B3)."""
    periods = churned.size
    t = np.arange(1, periods + 1, dtype=np.float64)
    log_beta = special.betaln(alpha, beta)
    log_churn = special.betaln(alpha + 1, beta + t - 1) - log_beta
    log_survival = special.betaln(alpha, beta + periods) - log_beta
    # A period nobody churned in adds nothing; 0 * (-inf) must not become NaN.
    churn_term = float(np.sum(np.where(churned > 0, churned * log_churn, 0.0)))
    survivor_term = survivors * float(log_survival) if survivors > 0 else 0.0
    return churn_term + survivor_term


def fit_sbg(alive: Sequence[float]) -> SBGFit:
    """Fit the shifted-beta-geometric model to one cohort's survivor counts by maximum likelihood.

    ``alive[0]`` is the cohort size and ``alive[t]`` the customers still active after t
    renewal opportunities (non-increasing). Pass counts, not shares: the counts set the
    precision of the estimates (shares would be a cohort of one). The log-likelihood is
    F&H 2007 eq. B3 with n_t = alive[t-1] - alive[t] churners in period t and alive[-1]
    customers surviving the last observed period.
    """
    counts = np.asarray(alive, dtype=np.float64).reshape(-1)
    problems: list[str] = []
    if counts.size < 3:
        problems.append(
            f"{counts.size - 1 if counts.size else 0} period(s) observed: two parameters need at least 2 periods "
            "(alive[0] plus at least two later counts)"
        )
    if not np.all(np.isfinite(counts)):
        problems.append("the survivor counts contain missing or non-finite values")
    elif counts.size:
        if np.any(counts < 0):
            problems.append("the survivor counts contain negative values")
        rises = np.flatnonzero(np.diff(counts) > 0)
        if rises.size:
            problems.append(
                "the survivor counts must be non-increasing, but they rise after period(s) "
                + ", ".join(str(int(i)) for i in rises)
            )
        if counts[0] < MIN_CUSTOMERS:
            problems.append(
                f"a cohort of {counts[0]:g} customers is too few (need at least {MIN_CUSTOMERS}); "
                "pass counts, not shares"
            )
    if problems:
        raise FitError("sBG: " + "; ".join(problems))
    if counts[-1] == counts[0]:
        raise FitError("sBG: nobody churned, so the churn probability cannot be estimated")
    if counts[1] == 0:
        raise FitError("sBG: the whole cohort churned in the first period, so heterogeneity cannot be estimated")

    churned = -np.diff(counts)
    survivors = float(counts[-1])

    def nll(log_params: FloatArray) -> float:
        alpha, beta = np.exp(log_params)
        return -_sbg_log_likelihood(alpha, beta, churned, survivors)

    first_retention = counts[1] / counts[0]
    # Start from alpha = beta = 1 and from a guess that matches the first-period retention
    # r(1) = beta / (alpha + beta) with alpha = 1.
    starts = [[0.0, 0.0], [0.0, math.log(max(first_retention, 1e-6) / max(1 - first_retention, 1e-6))]]
    hint = (
        " (a cohort whose retention rate does not rise over time shows no heterogeneity in churn; "
        "the sBG then tends to a constant-churn geometric model)"
    )
    optimum = maximum_likelihood(nll, starts, "sBG", SBGFit.param_names, flat_hint=hint)
    alpha, beta = (float(v) for v in np.exp(optimum.log_params))
    return SBGFit(
        alpha=alpha,
        beta=beta,
        log_likelihood=-optimum.nll,
        periods=int(counts.size - 1),
        customers=round(float(counts[0])),
        covariance=optimum.covariance,
    )


def fit_sbg_cohorts(cohorts: Sequence[Sequence[float]]) -> SBGFit:
    """Fit one shifted-beta-geometric model to several cohorts observed for different lengths.

    Each cohort is a survivor series as in ``fit_sbg``. The log-likelihood is the sum of the
    cohorts' F&H 2007 eq. B3 terms: a young cohort contributes its few churn periods and its
    survivors, an old one many, so every customer counts once with what is known of them.
    """
    series = [np.asarray(c, dtype=np.float64).reshape(-1) for c in cohorts]
    series = [s for s in series if s.size and s[0] > 0]
    problems: list[str] = []
    for index, s in enumerate(series):
        if not np.all(np.isfinite(s)) or np.any(s < 0):
            problems.append(f"cohort {index}: survivor counts must be finite and non-negative")
        elif np.any(np.diff(s) > 0):
            problems.append(f"cohort {index}: survivor counts must be non-increasing")
    if problems:
        raise FitError("sBG: " + "; ".join(problems))
    observed = [s for s in series if s.size >= 2]
    customers = float(sum(s[0] for s in observed))
    if not observed or max(s.size for s in observed) < 3:
        raise FitError("sBG: no cohort has been observed for two periods yet, so retention cannot be fitted")
    if customers < MIN_CUSTOMERS:
        raise FitError(f"sBG: {customers:g} customers observed for a period or more is too few "
                       f"(need at least {MIN_CUSTOMERS})")
    churned_total = sum(float(s[0] - s[-1]) for s in observed)
    if churned_total == 0:
        raise FitError("sBG: nobody churned, so the churn probability cannot be estimated")
    if all(s[1] == 0 for s in observed):
        raise FitError("sBG: every cohort churned in its first period, so heterogeneity cannot be estimated")
    # The series as lifetime intervals: the n_t customers lost in period t lived t - 1 < L <= t, and
    # the last count survived the last period (L > its length): the same likelihood, F&H 2007 eq. B3.
    lower: list[float] = []
    upper: list[float] = []
    counts: list[float] = []
    for s in observed:
        lost = -np.diff(s)
        lower += [*range(len(lost)), len(lost)]
        upper += [*range(1, len(lost) + 1), math.inf]
        counts += [*lost.tolist(), float(s[-1])]
    return fit_sbg_intervals(lower, upper, counts)


def fit_sbg_intervals(lower: ArrayLike, upper: ArrayLike, counts: ArrayLike) -> SBGFit:
    """Fit the shifted-beta-geometric model to lifetimes known to lie in an interval.

    Each group of ``counts[i]`` customers has a lifetime L (the number of months paid for, L >= 1)
    with ``lower[i] < L <= upper[i]``; ``upper`` is ``inf`` for customers still paying (censored).
    LL = sum_i n_i ln(S(lower_i) - S(upper_i)), S(t) = B(alpha, beta + t) / B(alpha, beta), S(inf) = 0.
    With monthly payers (L = l exactly: lower = l - 1, upper = l) this is F&H 2007 eq. B3; customers
    on quarterly or annual terms, who can only leave at a term's end, contribute the whole term
    (lower = the age of their last invoice, upper = lower + the term) instead of a month.
    """
    lo = np.asarray(lower, dtype=np.float64).reshape(-1)
    hi = np.asarray(upper, dtype=np.float64).reshape(-1)
    n = np.asarray(counts, dtype=np.float64).reshape(-1)
    if not (lo.size == hi.size == n.size):
        raise FitError("sBG: lower, upper and counts have different lengths")
    if np.any(lo < 0) or np.any(hi <= lo) or np.any(n < 0) or not np.all(np.isfinite(lo)):
        raise FitError("sBG: each lifetime interval needs 0 <= lower < upper and a count >= 0")
    customers = float(n.sum())
    if customers < MIN_CUSTOMERS:
        raise FitError(f"sBG: {customers:g} customers are too few (need at least {MIN_CUSTOMERS})")
    ended = np.isfinite(hi)
    if not np.any(ended & (n > 0)):
        raise FitError("sBG: nobody churned, so the churn probability cannot be estimated")
    if float(n[ended & (lo == 0) & (hi == 1)].sum()) == customers:
        raise FitError("sBG: everyone churned in the first period, so heterogeneity cannot be estimated")
    finite_hi = np.where(ended, hi, 0.0)

    def nll(log_params: FloatArray) -> float:
        alpha, beta = np.exp(log_params)
        log_b = special.betaln(alpha, beta)
        s_lo = np.exp(special.betaln(alpha, beta + lo) - log_b)
        s_hi = np.where(ended, np.exp(special.betaln(alpha, beta + finite_hi) - log_b), 0.0)
        return -float(np.sum(n * np.log(np.maximum(s_lo - s_hi, 1e-300))))

    first = float(n[~ended | (lo >= 1)].sum()) / customers
    starts = [[0.0, 0.0], [0.0, math.log(max(first, 1e-6) / max(1 - first, 1e-6))]]
    hint = (" (retention that does not rise with tenure shows no heterogeneity in churn; the sBG then "
            "tends to a constant-churn geometric model)")
    optimum = maximum_likelihood(nll, starts, "sBG", SBGFit.param_names, flat_hint=hint)
    alpha, beta = (float(v) for v in np.exp(optimum.log_params))
    return SBGFit(alpha=alpha, beta=beta, log_likelihood=-optimum.nll,
                  periods=int(np.max(np.where(ended, hi, lo))), customers=round(customers),
                  covariance=optimum.covariance)
