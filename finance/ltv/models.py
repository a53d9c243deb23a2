"""Probability models behind customer lifetime value: sBG retention, BG/NBD purchasing, Gamma-Gamma spend.

Three published "buy till you die" models, fitted by maximum likelihood:

* **sBG** (shifted-beta-geometric), for contractual businesses where churn is observed:
  Fader, P. S. & Hardie, B. G. S. (2007) "How to project customer retention",
  *Journal of Interactive Marketing* 21(1), 76-90 (cited below as F&H 2007).
* **BG/NBD** (beta-geometric / negative binomial), for non-contractual businesses where
  churn is unobserved: Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005) "Counting your
  customers the easy way: an alternative to the Pareto/NBD model", *Marketing Science*
  24(2), 275-284 (FHL 2005a).
* **Gamma-Gamma** spend per transaction: Fader, Hardie & Lee (2005) "RFM and CLV: using
  iso-value curves for customer base analysis", *Journal of Marketing Research* 42(4),
  415-430 (FHL 2005b), and Fader & Hardie (2013) "The Gamma-Gamma model of monetary value",
  note at brucehardie.com/notes/025 (F&H 2013).

Every fit is done over the logarithms of the parameters, so the search is unconstrained in
sign, and reports the asymptotic covariance of those log-parameters (the inverse of the
central-difference Hessian of the negative log-likelihood at the optimum). A fit that the
data cannot support raises ``FitError`` with the reason; no function here returns NaN
parameters.

The module is pure: stdlib, numpy and scipy, plus polars inside ``rfm_summary`` only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import linalg, optimize, special

if TYPE_CHECKING:
    import polars as pl

FloatArray = NDArray[np.float64]

MIN_CUSTOMERS = 10
"""Fewest customers (cohort size for sBG) a fit is attempted on; below this the asymptotic covariance means nothing."""

_LOG_BOUND = 18.0
"""Search box for each log-parameter on the rescaled data: exp(18) is about 6.6e7, far past any useful estimate.

An optimum within ``_BOUND_MARGIN`` of this box is a parameter running off to 0 or infinity,
i.e. the data imply a limiting model (no heterogeneity, no churn, ...), and is reported as a FitError.
"""
_BOUND_MARGIN = 1.0
_CONVERGED_DECREMENT = 1e-8
"""Newton decrement g'H^-1 g: twice the log-likelihood still to gain. Below this the optimum is reached."""
_ACCEPTABLE_DECREMENT = 1e-5
"""When the line search can no longer improve (numerical noise floor), the optimum is accepted below this."""


class FitError(ValueError):
    """The data cannot support the fit; the message says why (too few customers, no repeat purchases, ...)."""


# ---------------------------------------------------------------------------------------------
# Fitted models
# ---------------------------------------------------------------------------------------------


def _frozen_covariance(covariance: ArrayLike) -> FloatArray:
    matrix = np.array(covariance, dtype=np.float64)
    matrix.setflags(write=False)
    return matrix


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
        object.__setattr__(self, "covariance", _frozen_covariance(self.covariance))

    @property
    def params(self) -> FloatArray:
        """(alpha, beta)."""
        return np.array([self.alpha, self.beta])


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
        object.__setattr__(self, "covariance", _frozen_covariance(self.covariance))

    @property
    def params(self) -> FloatArray:
        """(r, alpha, a, b)."""
        return np.array([self.r, self.alpha, self.a, self.b])


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
        object.__setattr__(self, "covariance", _frozen_covariance(self.covariance))

    @property
    def params(self) -> FloatArray:
        """(p, q, gamma)."""
        return np.array([self.p, self.q, self.gamma])


Fit = SBGFit | BGNBDFit | GammaGammaFit


# ---------------------------------------------------------------------------------------------
# Maximum likelihood over log-parameters
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Optimum:
    log_params: FloatArray
    nll: float
    covariance: FloatArray


def _safe(nll: Callable[[FloatArray], float]) -> Callable[[FloatArray], float]:
    """Wrap an objective so overflow or an invalid region reads as a very bad (finite) value, not NaN."""

    def wrapped(x: FloatArray) -> float:
        with np.errstate(all="ignore"):
            value = float(nll(np.asarray(x, dtype=np.float64)))
        return value if math.isfinite(value) else 1e300

    return wrapped


def _central_gradient(f: Callable[[FloatArray], float], x: FloatArray, h: float = 1e-5) -> FloatArray:
    grad = np.empty_like(x)
    for i in range(x.size):
        step = np.zeros_like(x)
        step[i] = h
        grad[i] = (f(x + step) - f(x - step)) / (2 * h)
    return grad


def _central_hessian(f: Callable[[FloatArray], float], x: FloatArray, h: float = 1e-3) -> FloatArray:
    """Second derivatives by central differences (error O(h^2)); h=1e-3 balances truncation and rounding.

    With |f| ~ 1e4 the rounding error is about eps*|f|/h^2 ~ 2e-6, far below the curvature of
    any log-likelihood worth fitting.
    """
    k = x.size
    f0 = f(x)
    hess = np.empty((k, k))
    unit = np.eye(k) * h
    for i in range(k):
        hess[i, i] = (f(x + unit[i]) - 2 * f0 + f(x - unit[i])) / h**2
        for j in range(i):
            plus, minus = x + unit[i], x - unit[i]
            value = (f(plus + unit[j]) - f(plus - unit[j]) - f(minus + unit[j]) + f(minus - unit[j])) / (4 * h**2)
            hess[i, j] = hess[j, i] = value
    return hess


def _newton_polish(f: Callable[[FloatArray], float], x: FloatArray) -> tuple[FloatArray, float, bool]:
    """Refine an optimum with damped Newton steps on finite-difference derivatives.

    L-BFGS-B on numerical gradients stops once its relative tolerance is met, which can leave
    the third significant digit of a parameter unsettled; a few Newton steps settle it and
    give a convergence test that does not depend on the scale of the likelihood: the Newton
    decrement g'H^-1 g (twice the log-likelihood still to gain). Returns (x, f(x), converged).
    """
    fx = f(x)
    for _ in range(60):
        grad = _central_gradient(f, x)
        hess = _central_hessian(f, x)
        try:
            factor = linalg.cho_factor(hess)
        except linalg.LinAlgError:
            return x, fx, False
        step = linalg.cho_solve(factor, grad)
        decrement = float(grad @ step)
        if not math.isfinite(decrement):
            return x, fx, False
        if decrement < _CONVERGED_DECREMENT:
            return x, fx, True
        t = 1.0
        while t > 1e-6:
            candidate = np.clip(x - t * step, -_LOG_BOUND, _LOG_BOUND)
            f_candidate = f(candidate)
            if f_candidate < fx:
                x, fx = candidate, f_candidate
                break
            t /= 2
        else:
            return x, fx, decrement < _ACCEPTABLE_DECREMENT
    return x, fx, False


def _maximise_likelihood(
    nll: Callable[[FloatArray], float],
    starts: Sequence[Sequence[float]],
    model: str,
    names: Sequence[str],
    scale_note: str = "",
    flat_hint: str = "",
) -> _Optimum:
    """Minimise a negative log-likelihood over log-parameters; raise FitError if there is no interior optimum.

    L-BFGS-B from every start (bounded to the box +-_LOG_BOUND), Nelder-Mead from the best
    point if L-BFGS-B reports failure, then Newton refinement. The covariance of the
    log-parameters is the inverse Hessian there (asymptotic normality of the MLE).
    """
    f = _safe(nll)
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(names)
    results = []
    for start in starts:
        x0 = np.clip(np.asarray(start, dtype=np.float64), -_LOG_BOUND + 1, _LOG_BOUND - 1)
        results.append(optimize.minimize(f, x0, method="L-BFGS-B", bounds=bounds))
    best = min(results, key=lambda res: float(res.fun))
    if float(best.fun) >= 1e299:
        raise FitError(f"{model}: the likelihood is not finite at any starting value; the data cannot support a fit")
    x = np.asarray(best.x, dtype=np.float64)
    x, fx, converged = _newton_polish(f, x)
    if not converged:
        simplex = optimize.minimize(
            f, x, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000, "maxfev": 4000}
        )
        x, fx, converged = _newton_polish(f, np.clip(np.asarray(simplex.x, dtype=np.float64), -_LOG_BOUND, _LOG_BOUND))

    edge = [name for name, value in zip(names, x, strict=True) if abs(value) > _LOG_BOUND - _BOUND_MARGIN]
    if edge:
        raise FitError(
            f"{model}: the likelihood keeps rising as {', '.join(edge)} run(s) off to 0 or infinity; "
            f"the data imply a degenerate limiting model, so there is no finite estimate{flat_hint}"
        )
    if not converged:
        where = ", ".join(f"{name}={value:.4g}" for name, value in zip(names, np.exp(x), strict=True))
        raise FitError(
            f"{model}: the optimiser did not converge to a maximum of the likelihood (it stopped at {where}"
            f"{scale_note}); the likelihood is flat there or still rising toward a limiting model, "
            f"so the data do not pin the parameters down{flat_hint}"
        )
    hess = _central_hessian(f, x)
    eigenvalues = np.linalg.eigvalsh(hess) if np.all(np.isfinite(hess)) else np.array([-1.0])
    if eigenvalues.min() <= 0:
        raise FitError(
            f"{model}: the Hessian of the log-likelihood is not positive definite at the optimum; "
            "the data do not identify all the parameters"
        )
    covariance = np.linalg.inv(hess)
    covariance = (covariance + covariance.T) / 2
    if not np.all(np.isfinite(covariance)) or np.any(np.diag(covariance) <= 0):
        raise FitError(f"{model}: the covariance of the estimates is not finite and positive")
    return _Optimum(log_params=x, nll=fx, covariance=covariance)


def _as_1d(name: str, values: ArrayLike, problems: list[str]) -> FloatArray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(array)):
        problems.append(f"{name} has {int(np.sum(~np.isfinite(array)))} missing or non-finite value(s)")
    return array


# ---------------------------------------------------------------------------------------------
# sBG: contractual retention
# ---------------------------------------------------------------------------------------------


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
    optimum = _maximise_likelihood(nll, starts, "sBG", SBGFit.param_names, flat_hint=hint)
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
    optimum = _maximise_likelihood(nll, starts, "sBG", SBGFit.param_names, flat_hint=hint)
    alpha, beta = (float(v) for v in np.exp(optimum.log_params))
    return SBGFit(alpha=alpha, beta=beta, log_likelihood=-optimum.nll,
                  periods=int(np.max(np.where(ended, hi, lo))), customers=round(customers),
                  covariance=optimum.covariance)


# ---------------------------------------------------------------------------------------------
# BG/NBD: non-contractual purchasing
# ---------------------------------------------------------------------------------------------


def _rfm_arrays(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, model: str) -> tuple[FloatArray, ...]:
    problems: list[str] = []
    x = _as_1d("frequency", frequency, problems)
    tx = _as_1d("recency", recency, problems)
    big_t = _as_1d("T", T, problems)
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
    histories, counts = np.unique(np.stack([x, tx, big_t], axis=1), axis=0, return_counts=True)
    x, tx, big_t = histories[:, 0], histories[:, 1], histories[:, 2]
    weights = counts.astype(np.float64)
    repeaters = int(np.sum(weights[x > 0]))
    if repeaters == 0:
        raise FitError("BG/NBD: no customer made a repeat purchase, so purchase rates and dropout cannot be estimated")
    if repeaters == customers and np.all(tx == big_t):
        raise FitError("BG/NBD: every customer bought at the very end of observation; dropout cannot be estimated")

    scale = float(np.sum(weights * big_t) / customers)
    tx_s, big_t_s = tx / scale, big_t / scale

    def nll(log_params: FloatArray) -> float:
        r, alpha, a, b = np.exp(log_params)
        return -float(np.sum(weights * _bgnbd_log_likelihood_terms(r, alpha, a, b, x, tx_s, big_t_s)))

    # r/alpha is the mean purchase rate of a customer who never drops out; start it at the
    # observed repeat rate per (rescaled) time unit.
    rate = float(np.sum(weights * x) / np.sum(weights * big_t_s))
    starts = [[0.0, 0.0, 0.0, 0.0], [math.log(0.5), math.log(0.5 / rate), 0.0, math.log(3.0)]]
    hint = (
        " (a or b running off means the data show too little dropout to estimate it, the NBD limit; "
        "r and alpha running off together mean purchase rates show no heterogeneity)"
    )
    optimum = _maximise_likelihood(
        nll, starts, "BG/NBD", BGNBDFit.param_names, " with times divided by mean T", flat_hint=hint
    )
    r, alpha_s, a, b = (float(v) for v in np.exp(optimum.log_params))
    alpha = alpha_s * scale
    log_likelihood = float(np.sum(weights * _bgnbd_log_likelihood_terms(r, alpha, a, b, x, tx, big_t)))
    return BGNBDFit(
        r=r, alpha=alpha, a=a, b=b, log_likelihood=log_likelihood, customers=customers, covariance=optimum.covariance
    )


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
    a = _away_from_one(a)
    x, tx, big_t = _rfm_arrays(frequency, recency, T, "BG/NBD")
    horizon = np.asarray(t, dtype=np.float64)
    z = horizon / (alpha + big_t + horizon)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    bracket = 1 - ((alpha + big_t) / (alpha + big_t + horizon)) ** (r + x) * hyp
    numerator = (a + b + x - 1) / (a - 1) * bracket
    return np.asarray(numerator / (1.0 + _bgnbd_dropout_odds(r, alpha, a, b, x, tx, big_t)))


# ---------------------------------------------------------------------------------------------
# Gamma-Gamma: spend per transaction
# ---------------------------------------------------------------------------------------------


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
    x_all = _as_1d("frequency", frequency, problems)
    m_all = _as_1d("monetary_value", monetary_value, problems)
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

    def nll(log_params: FloatArray) -> float:
        p, q, gamma = np.exp(log_params)
        return -float(np.sum(_gamma_gamma_log_likelihood_terms(p, q, gamma, x, m_s)))

    # Both starts give the population mean spend p*gamma/(q-1) = 1 on the rescaled values.
    starts = [[0.0, math.log(2.0), 0.0], [math.log(5.0), math.log(4.0), math.log(0.6)]]
    optimum = _maximise_likelihood(
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
    x = _as_1d("frequency", frequency, problems)
    m = _as_1d("monetary_value", monetary_value if monetary_value is not None else np.zeros_like(x), problems)
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


# ---------------------------------------------------------------------------------------------
# Parameter uncertainty
# ---------------------------------------------------------------------------------------------


def parameter_draws(fit: Fit, n: int, rng: np.random.Generator) -> FloatArray:
    """n draws of the model parameters from their asymptotic sampling distribution; shape (n, k).

    log(theta_hat) is asymptotically normal with mean log(theta) and covariance the inverse
    Hessian of the negative log-likelihood in log-space (``fit.covariance``), so the draws are
    exp(log(theta_hat) + L z) with z standard normal and L L' the covariance: always
    positive, median exactly the fitted values. Columns follow ``fit.param_names``:
    (alpha, beta) for sBG, (r, alpha, a, b) for BG/NBD, (p, q, gamma) for Gamma-Gamma.

    Pushing each draw through a prediction (expected purchases, survival, CLV) gives a
    "parametric" uncertainty interval: it reflects estimation error in the parameters given
    the model, not model misspecification or the randomness of an individual customer.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    centre = np.log(fit.params)
    chol = np.linalg.cholesky(fit.covariance)
    z = rng.standard_normal((n, centre.size))
    return np.asarray(np.exp(centre + z @ chol.T))


# ---------------------------------------------------------------------------------------------
# Transactions -> RFM summary
# ---------------------------------------------------------------------------------------------


def rfm_summary(
    transactions: pl.LazyFrame | pl.DataFrame,
    *,
    customer: str,
    date: str,
    value: str | None,
    as_of: date,
    time_unit_days: float = 7.0,
) -> pl.DataFrame:
    """Summarise a transaction log into the per-customer (frequency, recency, T, monetary_value) the models take.

    Conventions (those of FHL 2005a's CDNOW data):

    * transactions dated after ``as_of`` are ignored, and customers with none on or before it are absent;
    * purchases on the same day are one purchase, their values summed;
    * frequency = number of purchase days after the first (repeat purchases);
    * recency = (last purchase day - first purchase day) / time_unit_days;
    * T = (as_of - first purchase day) / time_unit_days, with days counted as whole calendar
      dates, so a customer whose first purchase is on ``as_of`` has T = 0;
    * monetary_value = mean value of the repeat purchase days (the first day's value is
      excluded), 0 when frequency == 0; null for every customer when ``value`` is None.

    ``date`` may be a Date or Datetime column (a Datetime is truncated to its date). Returns
    one row per customer, sorted by customer: customer (as given), first_purchase (Date),
    frequency (Int64), recency, T, monetary_value (Float64).
    """
    import polars as pl

    if time_unit_days <= 0:
        raise ValueError(f"time_unit_days must be positive, got {time_unit_days}")
    date_column = date
    lazy = transactions.lazy()
    day = pl.col(date_column)
    dtype = lazy.collect_schema()[date_column]
    if isinstance(dtype, pl.Datetime):
        day = day.dt.date()
    elif dtype != pl.Date:
        raise TypeError(f"column {date_column!r} must be a Date or Datetime column, got {dtype}")
    amount = pl.col(value) if value is not None else pl.lit(0.0)

    # Values are summed in their own dtype (a Decimal stays exact) and only the final mean is a float.
    days = (
        lazy.select(pl.col(customer).alias("_customer"), day.alias("_day"), amount.alias("_value"))
        .filter(pl.col("_day") <= pl.lit(as_of, dtype=pl.Date))
        .group_by("_customer", "_day")
        .agg(pl.col("_value").sum())
    )
    per_customer = days.group_by("_customer").agg(
        pl.col("_day").min().alias("first_purchase"),
        pl.col("_day").max().alias("_last"),
        (pl.len() - 1).cast(pl.Int64).alias("frequency"),
        pl.col("_value").filter(pl.col("_day") > pl.col("_day").min()).sum().alias("_repeat_total"),
    )
    days_between = (pl.col("_last") - pl.col("first_purchase")).dt.total_days()
    days_observed = (pl.lit(as_of, dtype=pl.Date) - pl.col("first_purchase")).dt.total_days()
    repeat_spend = pl.col("_repeat_total").cast(pl.Float64) / pl.col("frequency")
    monetary = (
        pl.when(pl.col("frequency") > 0).then(repeat_spend).otherwise(0.0)
        if value is not None
        else pl.lit(None, dtype=pl.Float64)
    )
    return (
        per_customer.select(
            pl.col("_customer").alias(customer),
            "first_purchase",
            "frequency",
            (days_between.cast(pl.Float64) / time_unit_days).alias("recency"),
            (days_observed.cast(pl.Float64) / time_unit_days).alias("T"),
            monetary.cast(pl.Float64).alias("monetary_value"),
        )
        .sort(customer)
        .collect()
    )
