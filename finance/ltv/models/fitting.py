"""What every model here shares: maximum likelihood over log-parameters, and draws from its uncertainty.

Every fit is done over the logarithms of the parameters, so the search is unconstrained in
sign, and reports the asymptotic covariance of those log-parameters (the inverse of the
central-difference Hessian of the negative log-likelihood at the optimum). A fit that the
data cannot support raises ``FitError`` with the reason; no function here returns NaN
parameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import linalg, optimize

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


def distinct_rows(*columns: FloatArray) -> tuple[list[FloatArray], NDArray[np.intp], NDArray[np.intp]]:
    """The distinct rows of equal-length columns, in ascending order (the first column first, as
    ``np.unique(np.stack(columns, axis=1), axis=0)``), each row's index among them, and how many rows each has.

    Each column's distinct values are found apart (a one-dimensional sort), and a row's codes in them are
    joined into one integer: some three times faster than sorting the rows themselves, for the same result."""
    if not columns or columns[0].size == 0:
        empty = np.zeros(0, dtype=np.intp)
        return [np.asarray(c, dtype=np.float64)[:0] for c in columns], empty, empty
    codes = [np.unique(column, return_inverse=True) for column in columns]
    if math.prod(len(distinct) for distinct, _ in codes) >= 2**62:  # the joined code would overflow
        rows, inverse, counts = np.unique(np.stack(columns, axis=1), axis=0, return_inverse=True, return_counts=True)
        return [np.asarray(rows[:, i]) for i in range(len(columns))], inverse.reshape(-1), counts
    code = np.zeros(columns[0].size, dtype=np.int64)
    for distinct, inverse in codes:
        code = code * len(distinct) + inverse.reshape(-1)
    _, first, inverse, counts = np.unique(code, return_index=True, return_inverse=True, return_counts=True)
    return [np.asarray(column[first]) for column in columns], inverse.reshape(-1), counts


class FitError(ValueError):
    """The data cannot support the fit; the message says why (too few customers, no repeat purchases, ...)."""

    edge: tuple[str, ...] = ()
    """The parameters that ran off to 0 or infinity, when that is why: the data imply a limiting model
    (BG/NBD's a or b: no dropout to see, the NBD), which a caller may fit instead."""
    at: tuple[float, ...] | None = None
    """Where the search stopped (log-parameters on the search's scale), when it found no interior optimum."""
    stopped_at: tuple[float, ...] | None = None
    """The parameters there, on the data's own scale, when the model reports them (``fit_bgnbd``): their
    forecasts, set against a limiting model's, tell whether the search was heading for that limit."""


def frozen_covariance(covariance: ArrayLike) -> FloatArray:
    """A fit's covariance as a read-only float array (the fits are frozen, their matrices too)."""
    matrix = np.array(covariance, dtype=np.float64)
    matrix.setflags(write=False)
    return matrix


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


def maximum_likelihood(
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
        error = FitError(
            f"{model}: the likelihood keeps rising as {', '.join(edge)} run(s) off to 0 or infinity; "
            f"the data imply a degenerate limiting model, so there is no finite estimate{flat_hint}"
        )
        error.edge = tuple(edge)  # kept when the error is pickled (an exception keeps its __dict__)
        error.at = tuple(float(v) for v in x)
        raise error
    if not converged:
        where = ", ".join(f"{name}={value:.4g}" for name, value in zip(names, np.exp(x), strict=True))
        error = FitError(
            f"{model}: the optimiser did not converge to a maximum of the likelihood (it stopped at {where}"
            f"{scale_note}); the likelihood is flat there or still rising toward a limiting model, "
            f"so the data do not pin the parameters down{flat_hint}"
        )
        error.at = tuple(float(v) for v in x)
        raise error
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


def as_1d(name: str, values: ArrayLike, problems: list[str]) -> FloatArray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(array)):
        problems.append(f"{name} has {int(np.sum(~np.isfinite(array)))} missing or non-finite value(s)")
    return array


# ---------------------------------------------------------------------------------------------
# Parameter uncertainty
# ---------------------------------------------------------------------------------------------


class Fitted(Protocol):
    """What ``parameter_draws`` needs of a fit (``SBGFit``, ``BGNBDFit``, ``GammaGammaFit``)."""

    @property
    def params(self) -> FloatArray: ...

    @property
    def covariance(self) -> FloatArray: ...


def parameter_draws(fit: Fitted, n: int, rng: np.random.Generator) -> FloatArray:
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
