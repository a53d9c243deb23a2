"""Budget planner: where the next dollar should go, and what a requested budget returns.

The numerical core only (no UI, no I/O). Each channel's history of (spend, new customers)
per period is summarised by a *response curve*; curves and per-channel LTVs then drive

* :func:`allocate` -- the split of a fixed total that maximises LTV-weighted customers
  minus spend, under per-channel minimums, maximums and locks;
* :func:`goal_seek_budget` -- the largest total whose optimal split keeps
  LTV:CAC = sum(ltv * customers) / (total + shared_cost) at or above a target (the
  2-3x health band of the domain notes);
* :func:`budget_for_customers` -- the smallest total whose optimal split acquires a
  target number of customers.

Response curves (customers per period as a function of spend per period ``s``):

* Hill (diminishing returns, the saturation curve of media-mix modelling):
  ``customers(s) = K * s**n / (S**n + s**n)`` with ceiling ``K``, half-saturation spend
  ``S`` (the spend that buys K/2 customers) and shape ``n``;
* constant CPA (fallback when history is too short or the fit is poor):
  ``customers(s) = s / cpa``.

Marginal CAC is the cost of the next customer: ``1 / (d customers / d spend)``. At the
optimum of :func:`allocate`, ``ltv_c * d customers_c / d s_c`` is equal across every channel
not held at a bound (equal marginal value per dollar), so with equal LTVs the marginal CACs
are equal.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special

from finance.planning import words

HILL = "hill"
CONSTANT_CPA = "constant_cpa"
CURVE_KINDS = (HILL, CONSTANT_CPA)
CURVE_NAMES = {HILL: "Hill", CONSTANT_CPA: "Constant CPA"}
"""Each kind of curve as people read it."""

#: Hill shape bounds: below 0.3 the curve is a near step at zero, above 3 a near step at S.
SHAPE_BOUNDS = (0.3, 3.0)
#: Default largest fitted shape. n <= 1 makes the curve concave: every extra dollar buys fewer
#: customers than the last (diminishing returns throughout), so a plan never extrapolates the
#: increasing returns of an S-curve's lower arm that the history may only seem to show
#: (spend and customers growing together over time). Pass up to 3 to allow S-curves.
DEFAULT_MAX_SHAPE = 1.0
#: Relative tolerance to which :func:`allocate` spends exactly the requested total.
TOTAL_RTOL = 1e-6
#: Largest total the bisections will consider, as a multiple of their starting scale.
_MAX_DOUBLINGS = 60
#: Bounds of the scaled Hill parameters (K / max customers, ln(S / max spend), n) in the fit and its draws.
_HILL_LOWER = np.array([1.0, math.log(1e-4), SHAPE_BOUNDS[0]])
_HILL_UPPER = np.array([1e3, math.log(1e3), SHAPE_BOUNDS[1]])


class PlanError(ValueError):
    """A plan that cannot be made: bad inputs, infeasible bounds or an unreachable target."""


@dataclass(frozen=True)
class ResponseCurve:
    """New customers per period as a function of one channel's spend per period.

    ``kind`` is ``"hill"`` (params ``ceiling`` K, ``half_saturation`` S, ``shape`` n) or
    ``"constant_cpa"`` (param ``cpa``; ``inf`` when the history acquired nobody).
    ``r_squared`` is ``1 - SS_res / SS_tot`` of the fit on its history (``None`` for the
    fallback), ``points`` the number of periods used, ``warning`` why a fallback was taken,
    ``uncertainty`` what :meth:`sample` draws from (None: the curve is taken as exact).
    """

    channel: str
    kind: str
    params: dict[str, float]
    r_squared: float | None
    points: int
    warning: str | None = None
    uncertainty: CurveUncertainty | None = None

    def __post_init__(self) -> None:
        if self.kind not in CURVE_KINDS:
            raise PlanError(f"unknown curve kind {self.kind!r}; expected one of {CURVE_KINDS}")
        needed = ("ceiling", "half_saturation", "shape") if self.kind == HILL else ("cpa",)
        missing = [name for name in needed if name not in self.params]
        if missing:
            raise PlanError(f"{self.kind} curve for {self.channel!r} is missing params {missing}")
        if self.kind == HILL:
            k, s, n = (self.params[name] for name in needed)
            if not (k >= 0 and math.isfinite(k) and s > 0 and math.isfinite(s) and n > 0 and math.isfinite(n)):
                raise PlanError(f"hill curve for {self.channel!r} needs finite K >= 0, S > 0, n > 0; got {self.params}")
        elif not self.params["cpa"] > 0:
            raise PlanError(f"constant-CPA curve for {self.channel!r} needs cpa > 0; got {self.params['cpa']}")

    @property
    def saturates(self) -> bool:
        """Whether customers are bounded above (a Hill ceiling, or a CPA that buys nobody)."""
        return self.kind == HILL or math.isinf(self.params["cpa"])

    @property
    def ceiling(self) -> float:
        """Supremum of customers(s) over s >= 0: K for Hill, inf for a finite constant CPA."""
        if self.kind == HILL:
            return self.params["ceiling"]
        return 0.0 if math.isinf(self.params["cpa"]) else math.inf

    def customers(self, spend: ArrayLike) -> np.ndarray:
        """New customers at ``spend``: Hill ``K * s^n / (S^n + s^n)``; constant CPA ``s / cpa``.

        Hill is evaluated as ``K * expit(n * ln(s / S))``, which is the same expression and
        stays finite for any spend (no overflow of ``s^n``). Negative spend is clipped to 0.
        """
        s = np.clip(np.asarray(spend, dtype=float), 0.0, None)
        if self.kind == CONSTANT_CPA:
            return np.asarray(s / self.params["cpa"], dtype=float)
        k, half, n = self.params["ceiling"], self.params["half_saturation"], self.params["shape"]
        with np.errstate(divide="ignore"):
            z = n * np.log(s / half)
        return np.asarray(k * special.expit(z), dtype=float)

    def slope(self, spend: ArrayLike) -> np.ndarray:
        """d customers / d spend.

        Hill: ``K * n * S^n * s^(n-1) / (S^n + s^n)^2 = (K * n / s) * u / (1 + u)^2`` with
        ``u = (s/S)^n``, evaluated in logs as ``(K n / s) * expit(z) * expit(-z)``, ``z = n ln(s/S)``.
        At ``s = 0`` it is ``inf`` for n < 1, ``K / S`` for n = 1 and 0 for n > 1.
        Constant CPA: ``1 / cpa``.
        """
        s = np.clip(np.asarray(spend, dtype=float), 0.0, None)
        if self.kind == CONSTANT_CPA:
            return np.full_like(s, 1.0 / self.params["cpa"], dtype=float)
        k, half, n = self.params["ceiling"], self.params["half_saturation"], self.params["shape"]
        at_zero = math.inf if n < 1 else (k / half if n == 1 else 0.0)
        positive = s > 0
        safe = np.where(positive, s, 1.0)
        z = n * np.log(safe / half)
        # In logs so that a huge slope near zero spend (n < 1) overflows to inf rather than inf * 0 = nan.
        with np.errstate(divide="ignore", over="ignore"):
            log_inner = math.log(k * n) if k > 0 else -math.inf
            inner = np.exp(log_inner - np.log(safe) + special.log_expit(z) + special.log_expit(-z))
        return np.asarray(np.where(positive, inner, at_zero), dtype=float)

    def marginal_cac(self, spend: float) -> float | None:
        """Cost of the next customer at ``spend``: ``1 / (d customers / d spend)``; None where the slope is 0."""
        slope = float(self.slope(spend))
        if slope == math.inf:
            return 0.0
        return 1.0 / slope if slope > 0 else None

    def sample(self, spend: float, draws: int, rng: np.random.Generator) -> np.ndarray:
        """``draws`` plausible outcomes of one period's new customers at ``spend``.

        Normal around the projection with :meth:`prediction_sd` (the fit's uncertainty and one
        period's residual noise: a prediction range, not only a confidence range), clipped at 0.
        Without ``uncertainty`` every draw is the point projection.
        """
        point = float(self.customers(spend))
        u = self.uncertainty
        if u is None or draws <= 0:
            return np.full(max(draws, 0), point)
        return np.asarray(np.clip(point + rng.normal(0.0, self.prediction_sd(spend), size=draws), 0.0, None),
                          dtype=float)

    def prediction_sd(self, spend: float) -> float:
        """Standard deviation of one period's customers at ``spend``: fit and period noise together.

        ``sqrt(g' C g + residual_sd^2)`` where ``g`` is the gradient of the projection with respect
        to the fitted parameters and ``C`` their covariance (the delta method): narrow where the
        history has spend like this, wide when extrapolating. 0 without ``uncertainty``.
        """
        u = self.uncertainty
        if u is None:
            return 0.0
        s = max(float(spend), 0.0)
        point = float(self.customers(s))
        if self.kind == HILL:
            theta = np.asarray(u.mean, dtype=float)

            def scaled(t: np.ndarray) -> float:
                if s <= 0:
                    return 0.0
                return float(t[0] * special.expit(t[2] * (math.log(s / u.scale[0]) - t[1])))

            steps = 1e-6 * np.maximum(np.abs(theta), 1.0)
            gradient = np.array([(scaled(theta + step) - scaled(theta - step)) / (2 * step[i])
                                 for i, step in enumerate(np.diag(steps))]) * u.scale[1]
            fit_var = float(gradient @ np.asarray(u.covariance) @ gradient)
        else:
            # customers = spend / cpa: d customers / d ln(cpa) = -customers.
            fit_var = point**2 * u.covariance[0][0]
        return math.sqrt(max(fit_var, 0.0) + u.residual_sd**2) if point > 0 or fit_var > 0 else 0.0


@dataclass(frozen=True)
class CurveUncertainty:
    """How uncertain a fitted curve is, for drawing plausible outcomes.

    Hill: ``mean`` is the fitted ``(K / y_max, ln(S / s_max), n)`` and ``covariance`` its
    asymptotic covariance ``sigma^2 (J^T J)^-1`` from the least-squares Jacobian ``J``, with
    ``sigma^2 = SS_res / (m - 3)`` on the scaled data (``scale = (s_max, y_max)``).
    Constant CPA: ``covariance[0][0]`` is the variance of ``ln(cpa)`` (the per-period log CPAs'
    variance over the number of periods; 0.25 when fewer than two periods acquired anyone).
    ``residual_sd`` is one period's noise in customers around the curve.
    """

    mean: tuple[float, ...]
    covariance: tuple[tuple[float, ...], ...]
    residual_sd: float
    scale: tuple[float, float] = (1.0, 1.0)


#: Variance of ln(cpa) assumed when the history has fewer than two periods that acquired anyone.
DEFAULT_LOG_CPA_VARIANCE = 0.25


def _constant_cpa_curve(channel: str, s: np.ndarray, y: np.ndarray, warning: str) -> ResponseCurve:
    """Fallback curve with ``cpa = sum(spend) / sum(customers)`` (inf when nobody was acquired)."""
    total_spend, total_customers = float(s.sum()), float(y.sum())
    if total_spend <= 0:
        raise PlanError(f"channel {channel!r} has no spend in its history: cannot estimate a CPA")
    cpa = total_spend / total_customers if total_customers > 0 else math.inf
    both = (s > 0) & (y > 0)
    if both.sum() >= 2:
        log_cpa = np.log(s[both] / y[both])
        variance = float(np.var(log_cpa, ddof=1)) / int(both.sum())
        residual_sd = float(np.std(y - s / cpa, ddof=1)) if math.isfinite(cpa) else 0.0
    else:
        variance, residual_sd = DEFAULT_LOG_CPA_VARIANCE, 0.0
    uncertainty = CurveUncertainty((math.log(cpa) if math.isfinite(cpa) else 0.0,), ((variance,),), residual_sd)
    return ResponseCurve(channel, CONSTANT_CPA, {"cpa": cpa}, None, int(s.size), warning, uncertainty)


def fit_response_curve(channel: str, spend: ArrayLike, customers: ArrayLike, *, min_points: int = 6,
                       max_shape: float = DEFAULT_MAX_SHAPE) -> ResponseCurve:
    """Fit a Hill curve ``K * s^n / (S^n + s^n)`` to a channel's per-period (spend, new customers).

    Least squares (``scipy.optimize.least_squares``, trust-region reflective) on spend and
    customers scaled by their maxima, with bounds ``K >= max observed customers`` (and at most
    1000x it), ``S`` within ``[1e-4, 1e3]`` x max spend, ``0.3 <= n <= 3``, from several starts
    (K in 1.2/2/5 x max, S at the median and the max spend, n in 1/2); the best fit wins.
    ``r_squared = 1 - SS_res / SS_tot``.

    Falls back to constant CPA ``sum(customers) / sum(spend)`` spend per customer, with a
    warning, when there are fewer than ``min_points`` periods, spend or customers never vary,
    fewer than 3 distinct positive spend levels were tried (K, S, n are then not identified),
    the fit fails, or ``r_squared < 0``. Raises PlanError on negative, non-finite or
    mismatched inputs, or when the history has no spend at all.
    """
    s = np.asarray(spend, dtype=float).ravel()
    y = np.asarray(customers, dtype=float).ravel()
    if s.shape != y.shape:
        raise PlanError(f"channel {channel!r}: {s.size} spend values but {y.size} customer values")
    if s.size == 0:
        raise PlanError(f"channel {channel!r} has no history")
    if not (np.all(np.isfinite(s)) and np.all(np.isfinite(y))):
        raise PlanError(f"channel {channel!r}: spend and customers must be finite numbers")
    if np.any(s < 0) or np.any(y < 0):
        raise PlanError(f"channel {channel!r}: spend and customers must be >= 0")
    if s.size < min_points:
        return _constant_cpa_curve(
            channel, s, y, words.SHORT_HISTORY.format(periods=s.size, needed=min_points)
        )
    if np.ptp(s) == 0:
        return _constant_cpa_curve(channel, s, y, words.SPEND_NEVER_VARIED)
    if np.unique(s[s > 0]).size < 3:
        # K, S and n cannot be identified from fewer than three distinct positive spend levels.
        return _constant_cpa_curve(channel, s, y, words.FEW_SPEND_LEVELS)
    if np.ptp(y) == 0:
        return _constant_cpa_curve(channel, s, y, words.CUSTOMERS_NEVER_VARIED)

    s_max, y_max = float(s.max()), float(y.max())
    xs, ys = s / s_max, y / y_max
    positive = xs > 0
    log_xs = np.log(np.where(positive, xs, 1.0))

    def residuals(theta: np.ndarray) -> np.ndarray:
        k, log_half, n = theta
        predicted = np.where(positive, k * special.expit(n * (log_xs - log_half)), 0.0)
        return np.asarray(predicted - ys, dtype=float)

    # S is fitted on the log scale: it spans orders of magnitude and the problem is better conditioned.
    if not SHAPE_BOUNDS[0] < max_shape <= SHAPE_BOUNDS[1]:
        raise PlanError(f"max_shape must be in ({SHAPE_BOUNDS[0]}, {SHAPE_BOUNDS[1]}]; got {max_shape}")
    lower, upper = _HILL_LOWER, np.array([*_HILL_UPPER[:2], max_shape])
    median_x = float(np.median(xs[positive])) if positive.any() else 0.5
    best: Any = None
    for k0 in (1.2, 2.0, 5.0):
        for half0 in (median_x, 1.0):
            for n0 in (1.0, 2.0):
                start = np.clip([k0, math.log(max(half0, 1e-4)), n0], lower, upper)
                try:
                    result = optimize.least_squares(residuals, start, bounds=(lower, upper), method="trf")
                except (ValueError, FloatingPointError, np.linalg.LinAlgError):
                    continue
                if np.all(np.isfinite(result.x)) and (best is None or result.cost < best.cost):
                    best = result
    if best is None:
        return _constant_cpa_curve(channel, s, y, words.HILL_FAILED)
    ss_res = float(np.sum(residuals(best.x) ** 2))
    ss_tot = float(np.sum((ys - ys.mean()) ** 2))
    r_squared = 1.0 - ss_res / ss_tot
    if not math.isfinite(r_squared) or r_squared < 0:
        return _constant_cpa_curve(channel, s, y, words.HILL_WORSE_THAN_FLAT)
    k, log_half, n = (float(v) for v in best.x)
    params = {"ceiling": k * y_max, "half_saturation": math.exp(log_half) * s_max, "shape": n}
    dof = max(int(s.size) - 3, 1)
    sigma2 = ss_res / dof
    jac = np.asarray(best.jac, dtype=float)
    covariance = sigma2 * np.linalg.pinv(jac.T @ jac)
    uncertainty = CurveUncertainty(
        (k, log_half, n), tuple(tuple(float(v) for v in row) for row in covariance),
        math.sqrt(sigma2) * y_max, (s_max, y_max))
    return ResponseCurve(channel, HILL, params, r_squared, int(s.size), None, uncertainty)


@dataclass(frozen=True)
class Allocation:
    """An optimal split of a total budget.

    ``spend`` and ``customers`` per channel; ``marginal_cac`` is ``1 / (d customers / d spend)``
    at the chosen spend (None where an extra dollar buys nobody); ``value`` is the objective
    ``sum_c ltv_c * customers_c - sum_c spend_c`` (LTV created net of acquisition spend).
    """

    spend: dict[str, float]
    customers: dict[str, float]
    marginal_cac: dict[str, float | None]
    value: float

    @property
    def total(self) -> float:
        """Total spend, ``sum_c spend_c``."""
        return float(sum(self.spend.values()))

    @property
    def total_customers(self) -> float:
        """Total new customers, ``sum_c customers_c``."""
        return float(sum(self.customers.values()))


def _check_channels(
    curves: Sequence[ResponseCurve], ltv: Mapping[str, float], **maps: Mapping[str, float] | None
) -> None:
    """Raise PlanError listing unknown or duplicate channels, missing or negative LTVs and negative bounds."""
    names = [curve.channel for curve in curves]
    if not names:
        raise PlanError("no response curves given")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise PlanError(f"channels appear more than once: {duplicates}")
    missing = [name for name in names if name not in ltv]
    if missing:
        raise PlanError(f"no LTV for channels {missing}")
    bad_ltv = {name: ltv[name] for name in names if not (math.isfinite(ltv[name]) and ltv[name] >= 0)}
    if bad_ltv:
        raise PlanError(f"LTV must be finite and >= 0: {bad_ltv}")
    for label, mapping in maps.items():
        if not mapping:
            continue
        unknown = sorted(set(mapping) - set(names))
        if unknown:
            raise PlanError(f"{label} names unknown channels {unknown}; valid channels: {names}")
        bad = {name: value for name, value in mapping.items() if math.isnan(value) or value < 0}
        if bad:
            raise PlanError(f"{label} values must be >= 0: {bad}")


def _spend_floor_and_cap(
    curves: Sequence[ResponseCurve],
    minimum: Mapping[str, float] | None,
    maximum: Mapping[str, float] | None,
    locked: Mapping[str, float] | None,
) -> tuple[float, float]:
    """Smallest and largest feasible total: locks plus the free channels' minimums / maximums."""
    minimum, maximum, locked = minimum or {}, maximum or {}, locked or {}
    floor = cap = 0.0
    for curve in curves:
        name = curve.channel
        if name in locked:
            floor += locked[name]
            cap += locked[name]
        else:
            floor += minimum.get(name, 0.0)
            cap += maximum.get(name, math.inf)
    return floor, cap


def _project_to_total(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, total: float) -> np.ndarray:
    """Clip to bounds, then spread the shortfall (or excess) over the channels with room, so sum(x) == total."""
    x = np.clip(x, lo, hi)
    for _ in range(4):
        gap = total - float(x.sum())
        if gap > 0:
            room = hi - x
            unbounded = np.isinf(room)
            if unbounded.any():
                x = x + np.where(unbounded, gap / unbounded.sum(), 0.0)
            elif room.sum() > 0:
                x = x + gap * room / room.sum()
        elif gap < 0:
            room = x - lo
            if room.sum() > 0:
                x = x + gap * room / room.sum()
        x = np.clip(x, lo, hi)
    return x


def _optimal_free_spend(
    curves: Sequence[ResponseCurve], weights: np.ndarray, lo: np.ndarray, hi: np.ndarray, budget: float
) -> np.ndarray:
    """Maximise ``sum_c w_c * customers_c(x_c)`` subject to ``sum x = budget``, ``lo <= x <= hi``.

    SLSQP on spend scaled by the budget, from several feasible starts (equal split, split in
    proportion to half-saturation spends, and, when any Hill curve has n > 1, all-in on each
    channel, because S-shaped curves make the problem non-concave); the best end point wins.
    """
    count = len(curves)
    if count == 1 or budget <= 0:
        return _project_to_total(lo.copy(), lo, hi, budget)
    scale = budget
    lo_s, hi_s = lo / scale, np.minimum(hi / scale, 1.0)
    # A tiny floor keeps the slope of n < 1 Hill curves finite at zero spend.
    eps = 1e-12

    def objective(y: np.ndarray) -> float:
        x = np.clip(y, 0.0, None) * scale
        return -float(sum(w * float(c.customers(v)) for c, w, v in zip(curves, weights, x, strict=True))) / scale

    def gradient(y: np.ndarray) -> np.ndarray:
        x = np.clip(y, eps, None) * scale
        return -np.array([w * float(c.slope(v)) for c, w, v in zip(curves, weights, x, strict=True)])

    starts: list[np.ndarray] = [np.full(count, 1.0 / count)]
    halves = np.array([c.params.get("half_saturation", 1.0) for c in curves])
    starts.append(halves / halves.sum())
    # Concave curves (constant CPA, Hill with n <= 1) make the problem concave: any start finds the optimum.
    if not all(c.kind == CONSTANT_CPA or c.params["shape"] <= 1.0 for c in curves):
        starts.extend(np.eye(count))
    constraint = {"type": "eq", "fun": lambda y: np.array([y.sum() - 1.0]), "jac": lambda y: np.ones((1, count))}
    best_x, best_value = None, -math.inf
    for start in starts:
        y0 = _project_to_total(start.astype(float), lo_s, hi_s, 1.0)
        candidates = [y0]
        try:
            result = optimize.minimize(
                objective,
                y0,
                jac=gradient,
                method="SLSQP",
                bounds=list(zip(lo_s, hi_s, strict=True)),
                constraints=[constraint],
                options={"ftol": 1e-12, "maxiter": 500},
            )
            if np.all(np.isfinite(result.x)):
                candidates.append(result.x)
        except (ValueError, FloatingPointError):
            pass
        for y in candidates:
            y = _project_to_total(y, lo_s, hi_s, 1.0)
            value = -objective(y)
            if value > best_value:
                best_x, best_value = y, value
    assert best_x is not None
    return _project_to_total(best_x * scale, lo, hi, budget)


def allocate(
    curves: Sequence[ResponseCurve],
    total: float,
    ltv: Mapping[str, float],
    *,
    minimum: Mapping[str, float] | None = None,
    maximum: Mapping[str, float] | None = None,
    locked: Mapping[str, float] | None = None,
) -> Allocation:
    """Split ``total`` across channels to maximise ``sum_c ltv_c * customers_c(s_c) - sum_c s_c``.

    Subject to ``sum_c s_c == total`` (to 1e-6 relative), ``minimum_c <= s_c <= maximum_c``
    (defaults 0 and unbounded) and ``s_c == locked_c`` for locked channels (a lock overrides
    that channel's minimum and maximum). Since the total is fixed the optimum also maximises
    LTV-weighted customers; at it, ``ltv_c * d customers_c / d s_c`` is equal across channels
    not held at a bound. Raises PlanError when the bounds are infeasible (locks plus minimums
    exceed the total, or locks plus maximums fall short of it) or inputs name unknown channels.
    """
    _check_channels(curves, ltv, minimum=minimum, maximum=maximum, locked=locked)
    if not (math.isfinite(total) and total >= 0):
        raise PlanError(f"total budget must be a finite amount >= 0; got {total}")
    minimum, maximum, locked = minimum or {}, maximum or {}, locked or {}
    floor, cap = _spend_floor_and_cap(curves, minimum, maximum, locked)
    slack = TOTAL_RTOL * max(total, 1.0)
    if floor > total + slack:
        raise PlanError(f"locks and minimums add up to {floor:,.2f}, more than the total {total:,.2f}")
    if cap < total - slack:
        raise PlanError(f"locks and maximums add up to {cap:,.2f}, less than the total {total:,.2f}")
    bad_bounds = [c.channel for c in curves if minimum.get(c.channel, 0.0) > maximum.get(c.channel, math.inf)]
    if bad_bounds:
        raise PlanError(f"minimum above maximum for channels {bad_bounds}")

    free = [c for c in curves if c.channel not in locked]
    spend = {c.channel: float(locked[c.channel]) for c in curves if c.channel in locked}
    if free:
        lo = np.array([float(minimum.get(c.channel, 0.0)) for c in free])
        hi = np.array([float(maximum.get(c.channel, math.inf)) for c in free])
        weights = np.array([float(ltv[c.channel]) for c in free])
        budget = total - sum(spend.values())
        x = _optimal_free_spend(free, weights, lo, hi, budget)
        spend.update({c.channel: float(v) for c, v in zip(free, x, strict=True)})
    spend = {c.channel: spend[c.channel] for c in curves}
    customers = {c.channel: float(c.customers(spend[c.channel])) for c in curves}
    marginal = {c.channel: c.marginal_cac(spend[c.channel]) for c in curves}
    value = sum(ltv[name] * customers[name] for name in customers) - sum(spend.values())
    return Allocation(spend, customers, marginal, float(value))


def _bisect(predicate: Callable[[float], bool], good: float, bad: float, tolerance: float) -> float:
    """Shrink [good, bad] (predicate true at good, false at bad) until ``|bad - good| <= tolerance * max``."""
    while abs(bad - good) > tolerance * max(abs(good), abs(bad), 1e-12):
        middle = 0.5 * (good + bad)
        if predicate(middle):
            good = middle
        else:
            bad = middle
    return good


def goal_seek_budget(
    curves: Sequence[ResponseCurve],
    ltv: Mapping[str, float],
    *,
    target_ratio: float = 3.0,
    shared_cost: float = 0.0,
    tolerance: float = 1e-3,
    minimum: Mapping[str, float] | None = None,
    maximum: Mapping[str, float] | None = None,
    locked: Mapping[str, float] | None = None,
) -> float:
    """The largest total ``T`` whose optimal allocation keeps LTV:CAC at or above ``target_ratio``.

    ``ratio(T) = sum_c ltv_c * customers_c(s_c*) / (T + shared_cost)`` with ``s*`` from
    :func:`allocate` (``shared_cost`` is fully loaded spend not tied to a channel: staff,
    martech). Totals are scanned on a log grid up to where the ratio must fall below target
    (Hill ceilings cap LTV created at ``sum ltv_c * K_c``), then the last crossing is bisected.

    Tolerance: the returned ``T`` satisfies ``ratio(T) >= target_ratio`` and lies within
    ``tolerance`` (relative) of the crossing, i.e. ``ratio(T * (1 + tolerance)) < target_ratio``
    up to optimiser precision. Raises PlanError when no budget reaches the target, or when the
    ratio never falls below it (a constant-CPA channel that beats the target without a cap).
    """
    _check_channels(curves, ltv, minimum=minimum, maximum=maximum, locked=locked)
    if not (target_ratio > 0 and math.isfinite(target_ratio)):
        raise PlanError(f"target_ratio must be a positive number; got {target_ratio}")
    if not (shared_cost >= 0 and math.isfinite(shared_cost)):
        raise PlanError(f"shared_cost must be >= 0; got {shared_cost}")
    if not 0 < tolerance < 1:
        raise PlanError(f"tolerance must be in (0, 1); got {tolerance}")
    floor, cap = _spend_floor_and_cap(curves, minimum, maximum, locked)

    def ratio(total: float) -> float:
        plan = allocate(curves, total, ltv, minimum=minimum, maximum=maximum, locked=locked)
        denominator = total + shared_cost
        created = sum(ltv[name] * n for name, n in plan.customers.items())
        return created / denominator if denominator > 0 else (math.inf if created > 0 else 0.0)

    def meets(total: float) -> bool:
        return ratio(total) >= target_ratio

    # Upper end of the search: beyond sum(ltv * K) / target - shared_cost no allocation can reach the target.
    if all(c.saturates for c in curves):
        ceiling_value = sum(ltv[c.channel] * c.ceiling for c in curves)
        top = min(cap, max(ceiling_value / target_ratio - shared_cost, floor))
    else:
        top = cap
    if math.isinf(top):
        scale = max(floor, sum(c.params.get("half_saturation", c.params.get("cpa", 1.0)) for c in curves), 1.0)
        top = scale
        for _ in range(_MAX_DOUBLINGS):
            if not meets(top):
                break
            top *= 2
        else:
            raise PlanError(words.UNBOUNDED)
    if top <= floor:
        if meets(floor):
            return floor
        raise PlanError(words.UNREACHABLE_RATIO.format(target=f"{target_ratio:g}"))
    # The ratio can rise then fall (S-shaped curves, shared cost), so scan a log grid for the last total that meets it.
    low = max(floor, top * 1e-6)
    grid = np.unique(np.concatenate([[floor] if floor > 0 else [], np.geomspace(low, top, 80)]))
    verdicts = [meets(float(t)) for t in grid]
    if not any(verdicts):
        raise PlanError(words.UNREACHABLE_RATIO.format(target=f"{target_ratio:g}"))
    last = max(i for i, ok in enumerate(verdicts) if ok)
    if last == len(grid) - 1:
        return float(grid[-1])
    return _bisect(meets, float(grid[last]), float(grid[last + 1]), tolerance)


def budget_for_customers(
    curves: Sequence[ResponseCurve],
    ltv: Mapping[str, float],
    target_customers: float,
    *,
    tolerance: float = 1e-3,
    minimum: Mapping[str, float] | None = None,
    maximum: Mapping[str, float] | None = None,
    locked: Mapping[str, float] | None = None,
) -> float:
    """The smallest total ``T`` whose optimal allocation acquires at least ``target_customers``.

    ``customers(T) = sum_c customers_c(s_c*)`` with ``s*`` from :func:`allocate`; the total
    is bracketed by doubling, then bisected until the bracket is within ``tolerance`` relative:
    the result reaches the target and ``T * (1 - tolerance)`` does not (up to optimiser
    precision). Raises PlanError when the target is unreachable: at or above the sum of Hill
    ceilings (capped by maximums) or beyond any finite budget.
    """
    _check_channels(curves, ltv, minimum=minimum, maximum=maximum, locked=locked)
    if not (math.isfinite(target_customers) and target_customers >= 0):
        raise PlanError(f"target_customers must be a finite number >= 0; got {target_customers}")
    if not 0 < tolerance < 1:
        raise PlanError(f"tolerance must be in (0, 1); got {tolerance}")
    floor, cap = _spend_floor_and_cap(curves, minimum, maximum, locked)
    minimum, maximum, locked = minimum or {}, maximum or {}, locked or {}
    reachable = 0.0
    for curve in curves:
        spend_cap = locked.get(curve.channel, maximum.get(curve.channel, math.inf))
        reachable += curve.ceiling if math.isinf(spend_cap) else float(curve.customers(spend_cap))
    if target_customers > 0 and target_customers >= reachable:
        raise PlanError(words.UNREACHABLE_CEILING.format(customers=f"{target_customers:,.1f}",
                                                         reachable=f"{reachable:,.1f}"))

    def meets(total: float) -> bool:
        plan = allocate(curves, total, ltv, minimum=minimum, maximum=maximum, locked=locked)
        return plan.total_customers >= target_customers

    if meets(floor):
        return floor
    scale = max(floor, sum(c.params.get("half_saturation", c.params.get("cpa", 1.0)) for c in curves), 1.0)
    top = min(scale, cap)
    for _ in range(_MAX_DOUBLINGS):
        if meets(top):
            break
        if top >= cap:
            raise PlanError(words.UNREACHABLE_IN_BOUNDS.format(customers=f"{target_customers:,.1f}"))
        top = min(top * 2, cap)
    else:
        raise PlanError(words.UNREACHABLE_AT_ALL.format(customers=f"{target_customers:,.1f}"))
    bottom = max(floor, top / 2) if top > floor else floor
    if bottom == top:
        return top
    # Halve until bottom fails, then bisect towards the smallest total that meets the target.
    while meets(bottom) and bottom > floor:
        bottom = max(floor, bottom / 2)
    return _bisect(meets, top, bottom, tolerance)
