"""LTV projected stratum by stratum: each segment (or each channel within a segment) by its own model.

One company often has both kinds of customer: subscribers who visibly cancel (contractual) and
shoppers who silently stop buying (non-contractual). So every LTV here is built per **stratum**:
the customers of one segment, or, when the table is broken down by channel, of one channel within
one segment. Each stratum is projected by one of three models, each an LTV method of
``finance.ltv.methods`` (one a file), looked up by the fit's model key:

- ``formula``: each customer churns with the stratum's monthly churn rate; margin per paid
  customer-month from the stratum's history (ARPA x gross margin % / churn, horizon-capped);
- ``sbg``: retention by the shifted-beta-geometric model (Fader & Hardie 2007), fitted to the
  monthly survival of the stratum's acquisition-month cohorts;
- ``bgnbd``: purchases by BG/NBD (Fader, Hardie & Lee 2005a) and spend per purchase by
  Gamma-Gamma (Fader, Hardie & Lee 2005b), conditional on each customer's own history.

Each projection is, per customer, the expected margin in each month ahead of the as-of date,
together with what is needed for its range: the variance of the customer's own future (a cohort
of n customers is n random lives), and the change of the projection with each fitted parameter
(the delta method: central differences in the log-parameters, with the fit's covariance).

Small strata borrow strength: a channel within a segment is fitted on its own only when it has
enough customers, and its log-parameters are then shrunk toward the segment's fit by the
DerSimonian-Laird random-effects estimate of how much channels really differ (empirical Bayes);
a smaller or unfittable stratum uses its segment's fit, and a segment that cannot be fitted uses
the company's. The formula method's churn is pooled the same way: a cohort's churn is its own
churn events and exposure plus those of an average cohort of its stratum at the stratum's rate, so
a one-month-old cohort that has seen no churn yet gets its stratum's rate, not an endless life.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy import special

from finance.ltv import words
from finance.ltv.groups import group_name
from finance.ltv.methods import FORMULA, MODELS_BY_KEY, Model, StratumFit, Units
from finance.ltv.models import FitError, GammaGammaFit
from finance.ltv.progress import Step, Tracker

OWN_FIT_CUSTOMERS = 400
"""A channel within a segment is fitted on its own from this many customers; smaller ones use the segment's fit."""
STEP = 1e-3
"""Central-difference step in the log-parameters for the delta method."""


# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------


def shrink(own: StratumFit, toward: StratumFit, tau2: np.ndarray, name: str | None = None) -> StratumFit:
    """Empirical-Bayes shrinkage of a stratum's log-parameters toward its segment's.

    Each log-parameter moves toward the segment's by the weight w = tau^2 / (tau^2 + var_own),
    where tau^2 is the between-strata variance (DerSimonian-Laird) and var_own the stratum's own
    sampling variance; its variance becomes w^2 var_own + (1 - w)^2 var_segment. ``name`` is the
    segment's in words (``group_name``), for the fit's source.
    """
    var_own = np.diag(own.covariance)
    w = tau2 / (tau2 + var_own)
    log_params = toward.log_params + w * (own.log_params - toward.log_params)
    scale = np.sqrt(w**2 * var_own + (1 - w) ** 2 * np.diag(toward.covariance))
    corr = own.covariance / np.sqrt(np.outer(var_own, var_own))
    covariance = corr * np.outer(scale, scale)
    return StratumFit(own.stratum, own.model, own.names, log_params, covariance, own.customers,
                      {**toward.extra, **own.extra}, words.SHRUNK_TOWARD.format(segment=name or toward.stratum[-1]),
                      own.log_likelihood)


def between_variance(fits: Sequence[StratumFit], centre: StratumFit) -> np.ndarray:
    """DerSimonian-Laird tau^2 per log-parameter across strata fits of one segment (0 when they agree)."""
    estimates = np.stack([f.log_params for f in fits])
    variances = np.stack([np.diag(f.covariance) for f in fits])
    weights = 1.0 / variances
    mean = np.sum(weights * estimates, axis=0) / np.sum(weights, axis=0)
    q = np.sum(weights * (estimates - mean) ** 2, axis=0)
    c = np.sum(weights, axis=0) - np.sum(weights**2, axis=0) / np.sum(weights, axis=0)
    return np.asarray(np.maximum(0.0, (q - (len(fits) - 1)) / np.maximum(c, 1e-12)))


# ---------------------------------------------------------------------------------------------
# Projection
# ---------------------------------------------------------------------------------------------


def expected_margin(fit: StratumFit, units: Units, months: int, log_params: np.ndarray | None = None,
                    horizon: int | None = None) -> np.ndarray:
    """Expected margin per customer of each unit in each of the next ``months`` months: (units, months).

    With ``horizon``, months at or past that age are left at 0 (not computed): the LTV needs none.
    """
    lp = fit.log_params if log_params is None else log_params
    if not len(units.count):
        return np.zeros((0, months))
    return MODELS_BY_KEY[fit.model].expected_margin(fit, units, months, lp, horizon)


def process_variance(fit: StratumFit, units: Units, weights: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Variance of one customer's weighted future margin sum(w_j V_j), per unit: the randomness of a life.

    Contractual: a renewal's cash if alive (``finance.ltv.methods.contract``); purchases: a Poisson count
    of Gamma-distributed amounts while alive (``finance.ltv.methods.bgnbd``).
    """
    if not len(units.count):
        return np.zeros(0)
    return MODELS_BY_KEY[fit.model].process_variance(fit, units, weights, expected)


def parameter_gradient(fit: StratumFit, units: Units, months: int, reduce: Callable[[np.ndarray], np.ndarray],
                       at: np.ndarray, horizon: int | None = None) -> np.ndarray:
    """d reduce(expected margin) / d log-parameter, by forward differences of step ``STEP``: (keys, params).

    ``at`` is reduce() at the fitted parameters. Forward differences (error O(STEP), a thousandth of
    the gradient) halve the projections a central difference needs; the gradient only feeds a variance.
    """
    gradient = np.zeros((len(at), len(fit.log_params)))
    for i in range(len(fit.log_params)):
        step = np.zeros(len(fit.log_params))
        step[i] = STEP
        gradient[:, i] = (reduce(expected_margin(fit, units, months, fit.log_params + step, horizon)) - at) / STEP
    return gradient


# ---------------------------------------------------------------------------------------------
# Model error and the range
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelError:
    """How far a model's projections stray beyond their own parameter and process variance.

    tau(k) = tau_12 x (k / 12)^growth is the standard deviation, relative to the projection, of
    the error of a projection k months ahead. Measured in back-tests (``finance.ltv.backtest``); until
    one is available, ``PRIOR``.
    """

    tau_12: float
    growth: float = 0.5
    source: str = "prior"

    def tau(self, months: float) -> float:
        return self.tau_12 * (max(months, 1.0) / 12.0) ** self.growth


PRIOR = ModelError(0.25, 0.5, "prior: no back-test yet")
"""Before a back-test: a 25% relative error a year ahead, growing with the square root of time."""


def lognormal_quantile(observed: float, future: float, sigma: float, q: float) -> float:
    """The q-quantile of observed + future x X, X lognormal with mean 1 and log-sd sigma."""
    if future <= 0 or sigma <= 0:
        return observed + future
    z = float(special.ndtri(q))
    return observed + future * math.exp(z * sigma - sigma**2 / 2)


def probability_below(threshold: float, observed: float, future: float, sigma: float) -> float:
    """P(observed + future x X < threshold) for the same X."""
    if threshold <= observed:
        return 0.0
    if future <= 0 or sigma <= 0:
        return 1.0 if threshold > observed + future else 0.0
    return float(special.ndtr((math.log((threshold - observed) / future) + sigma**2 / 2) / sigma))


# ---------------------------------------------------------------------------------------------
# Cohort LTV from strata
# ---------------------------------------------------------------------------------------------


@dataclass
class StrataResult:
    """Per cohort key, the projected future and its variance parts; per stratum, the fit."""

    keys: pl.DataFrame
    observed: np.ndarray
    """(keys, H) observed margin per customer by age."""
    future: np.ndarray
    """(keys, H) expected future margin per customer by age."""
    future_value: np.ndarray
    """(keys,) discounted expected future margin per customer."""
    variance: np.ndarray
    """(keys,) variance of the discounted future margin per customer: parameters + lives + model error."""
    parts: dict[str, np.ndarray]
    fits: dict[tuple[str, ...], StratumFit]
    notes: list[str]


def in_weeks(time: pl.Expr) -> pl.Expr:
    """A time in weeks (``rfm_summary``'s days / 7) at the middle of its week: 0 stays 0 (no repeat purchase, or
    first bought on the as-of day), every other time is off by at most half a week. Customers of one week of
    first purchase and one week of last purchase then share one history, so the purchase models fit and
    project once per distinct history, a number that stops growing with the ledger."""
    return pl.when(time > 0).then((time * 7).round(6).floordiv(7) + 0.5).otherwise(0.0)


def add_purchase_history(customers: pl.DataFrame, rfm: pl.DataFrame) -> pl.DataFrame:
    """Join (frequency, recency, T, monetary value) from ``rfm_summary``, recency and T at the middle of their
    week (``in_weeks``); a customer with no purchase has none."""
    rfm = rfm.with_columns(recency=in_weeks(pl.col("recency")), T=in_weeks(pl.col("T")))
    return customers.join(rfm.select("customer_id", "frequency", "recency", "T", "monetary_value"),
                          on="customer_id", how="left").with_columns(
        pl.col("frequency").fill_null(0), pl.col("recency").fill_null(0.0), pl.col("T").fill_null(0.0),
        pl.col("monetary_value").fill_null(0.0),
        mean_value=pl.col("revenue_total") / (pl.col("frequency").fill_null(0) + 1))


def fits_own(customers: int, groups: int) -> bool:
    """Whether a channel within a segment is fitted on its own (else it uses its segment's fit)."""
    return customers >= OWN_FIT_CUSTOMERS and groups > 1


def planned_steps(customers: pl.DataFrame, models: dict[str, Model], by_dim: bool) -> list[Step]:
    """The fits and projections ``fit_strata`` and ``project_strata`` will make, for their progress:
    each segment's fit, each channel's own fit, then each stratum's projection."""
    fits: list[Step] = []
    projections: list[Step] = []
    for (segment,), members in customers.group_by("segment", maintain_order=True):
        model = models.get(str(segment), FORMULA.key)
        fits.append(Step("fit", (str(segment),), model, members.height))
        if not by_dim:
            projections.append(Step("project", (str(segment),), model, members.height))
            continue
        sizes = members.group_by("dim", maintain_order=True).len()
        for dim, size in sizes.iter_rows():
            stratum = (str(dim), str(segment))
            if fits_own(size, sizes.height):
                fits.append(Step("fit", stratum, model, size))
            projections.append(Step("project", stratum, model, size))
    return fits + projections


def fit_strata(customers: pl.DataFrame, models: dict[str, Model], by_dim: bool,
               tracker: Tracker | None = None) -> tuple[dict[tuple[str, ...], StratumFit], list[str]]:
    """Each stratum's fit (segment, or channel within segment), with the fallbacks and pooling above.

    ``tracker`` hears of each fit as it starts (``finance.ltv.progress``). Notes and sources name
    the strata as people do (``group_name``).
    """
    notes: list[str] = []
    fits: dict[tuple[str, ...], StratumFit] = {}
    company: dict[Model, StratumFit | None] = {}
    segments = [str(s) for s in customers.get_column("segment").unique(maintain_order=True).to_list()]

    def name(stratum: tuple[str, ...]) -> str:
        return group_name(stratum, segments)

    def note(stratum: tuple[str, ...], what: str, exc: Exception) -> None:
        notes.append(words.GROUP_NOTE.format(group=name(stratum), reason=what.format(error=exc)))

    def told(fit: StratumFit) -> StratumFit:
        notes.extend(words.GROUP_NOTE.format(group=name(fit.stratum), reason=n) for n in fit.notes)
        return fit

    def fit_or_fallback(stratum: tuple[str, ...], members: pl.DataFrame, model: Model) -> StratumFit:
        if tracker is not None:
            tracker.begin(Step("fit", stratum, model, members.height))
        try:
            return told(MODELS_BY_KEY[model].fit(stratum, members))
        except FitError as exc:
            if members.height >= OWN_FIT_CUSTOMERS:
                # Enough customers, and still no fit: the model does not describe this business (a
                # purchase model on steady subscriptions, say). Borrowing another segment's fit would
                # not either; the churn formula does.
                note(stratum, words.CHURN_FORMULA_USED, exc)
                return FORMULA.fit(stratum, members)
            if model not in company:
                try:
                    company[model] = MODELS_BY_KEY[model].fit(("(all)",), customers)
                except FitError:
                    company[model] = None
            fallback = company[model]
            if fallback is not None and fallback.customers > members.height:
                note(stratum, words.COMPANY_FIT_USED, exc)
                return StratumFit(stratum, model, fallback.names, fallback.log_params, fallback.covariance,
                                  members.height, {**fallback.extra, **MODELS_BY_KEY[model].extra_for(members)},
                                  words.POOLED_WITH_ALL, fallback.log_likelihood)
            note(stratum, words.CHURN_FORMULA_USED, exc)
            return FORMULA.fit(stratum, members)

    for (segment,), members in customers.group_by("segment", maintain_order=True):
        segment_fit = fit_or_fallback((str(segment),), members, models.get(str(segment), FORMULA.key))
        if not by_dim:
            fits[(str(segment),)] = segment_fit
            continue
        own: dict[tuple[str, ...], StratumFit] = {}
        groups = {(str(d),): m for (d,), m in members.group_by("dim", maintain_order=True)}
        for (dim,), group in groups.items():
            stratum = (dim, str(segment))
            if fits_own(group.height, len(groups)):
                if tracker is not None:
                    tracker.begin(Step("fit", stratum, segment_fit.model, group.height))
                try:
                    fit = _aligned(MODELS_BY_KEY[segment_fit.model].fit(stratum, group), segment_fit)
                    if fit is not None:
                        own[stratum] = told(fit)
                        continue
                except FitError:
                    pass
            fits[stratum] = StratumFit(stratum, segment_fit.model, segment_fit.names, segment_fit.log_params,
                                       segment_fit.covariance, group.height,
                                       {**segment_fit.extra, **MODELS_BY_KEY[segment_fit.model].extra_for(group)},
                                       words.POOLED_WITH.format(segment=name((str(segment),))),
                                       segment_fit.log_likelihood)
        toward = name((str(segment),))
        if len(own) >= 2:
            tau2 = between_variance(list(own.values()), segment_fit)
            fits.update({stratum: shrink(fit, segment_fit, tau2, toward) for stratum, fit in own.items()})
        else:
            fits.update({stratum: shrink(fit, segment_fit, np.zeros(len(fit.log_params)), toward)
                         for stratum, fit in own.items()})
    return fits, notes


def _aligned(own: StratumFit, segment: StratumFit) -> StratumFit | None:
    """A channel's fit with its segment's parameter set: a spend model the channel could not support
    is the segment's, and one the segment could not support is dropped (BG/NBD with or without Gamma-Gamma).

    None when the two differ in the model itself (BG/NBD for one, its no-dropout limit NBD for the other):
    no shrinkage between them exists, and the channel takes its segment's fit, as when it cannot be fitted."""
    if own.names == segment.names:
        return own
    spend = GammaGammaFit.param_names  # a purchase model's fit has a spend model or not
    if [n for n in own.names if n not in spend] != [n for n in segment.names if n not in spend]:
        return None
    k = min(len(own.names), len(segment.names))
    if len(segment.names) > len(own.names):
        log_params = np.concatenate([own.log_params, segment.log_params[k:]])
        covariance = np.zeros((len(segment.names), len(segment.names)))
        covariance[:k, :k] = own.covariance
        covariance[k:, k:] = segment.covariance[k:, k:]
    else:
        log_params, covariance = own.log_params[:k], own.covariance[:k, :k]
    return StratumFit(own.stratum, own.model, segment.names, log_params, covariance, own.customers, own.extra,
                      own.source, own.log_likelihood)


def project_strata(customers: pl.DataFrame, observed: dict[tuple[Any, ...], np.ndarray], keys: list[str],
                   fits: dict[tuple[str, ...], StratumFit], discount: np.ndarray,
                   errors: dict[tuple[Model, str], ModelError], by_dim: bool,
                   tracker: Tracker | None = None) -> StrataResult:
    """Per cohort key: observed and projected margin per customer, and the variance of the projection.

    ``tracker`` hears of each stratum's projection as it starts (``finance.ltv.progress``)."""
    horizon = len(discount)
    key_frame = customers.group_by(keys).agg(customers=pl.len()).sort(keys).with_row_index("__key")
    n_keys = key_frame.height
    frame = customers.join(key_frame.select(*keys, "__key"), on=keys)
    sizes = key_frame.get_column("customers").to_numpy().astype(float)
    future = np.zeros((n_keys, horizon))
    value = np.zeros(n_keys)
    parts = {name: np.zeros(n_keys) for name in ("parameters", "lives", "model")}
    stratum_cols = ["dim", "segment"] if by_dim else ["segment"]
    for stratum_key, members in frame.group_by(stratum_cols, maintain_order=True):
        stratum = tuple(str(v) for v in stratum_key)
        fit = fits[stratum]
        if tracker is not None:
            tracker.begin(Step("project", stratum, fit.model, members.height))
        units = MODELS_BY_KEY[fit.model].units(members)
        if not len(units.count):
            continue
        ahead = np.arange(1, horizon + 1)
        age = units.age[:, None] + ahead[None, :]
        inside = age < horizon
        weights = np.where(inside, discount[np.minimum(age, horizon - 1)], 0.0)
        key_idx = units.key.astype(np.int64)

        def totals(expected: np.ndarray, weights: np.ndarray = weights, units: Units = units,
                   key_idx: np.ndarray = key_idx) -> np.ndarray:
            return np.bincount(key_idx, weights=units.count * np.sum(weights * expected, axis=1), minlength=n_keys)

        expected = expected_margin(fit, units, horizon, horizon=horizon)
        flat = (key_idx[:, None] * horizon + np.minimum(age, horizon - 1))[inside]
        future += np.bincount(flat, weights=(units.count[:, None] * expected)[inside],
                              minlength=n_keys * horizon).reshape(n_keys, horizon)
        stratum_value = totals(expected)
        value += stratum_value
        parts["lives"] += np.bincount(key_idx, weights=units.count * process_variance(fit, units, weights, expected),
                                      minlength=n_keys)
        gradient = parameter_gradient(fit, units, horizon, totals, stratum_value, horizon)
        parts["parameters"] += np.einsum("ki,ij,kj->k", gradient, fit.covariance, gradient)
        error = errors.get((fit.model, stratum[-1])) or errors.get((fit.model, "")) or PRIOR
        mean_age = np.bincount(key_idx, weights=units.count * units.age, minlength=n_keys) / np.maximum(
            np.bincount(key_idx, weights=units.count, minlength=n_keys), 1e-12)
        tau = np.array([error.tau(horizon - 1 - a) for a in mean_age])
        parts["model"] += (tau * stratum_value) ** 2
    observed_matrix = np.stack([observed.get(tuple(r[k] for k in keys), np.zeros(horizon))
                                for r in key_frame.iter_rows(named=True)]) if n_keys else np.zeros((0, horizon))
    per = np.maximum(sizes, 1.0)
    parts = {name: part / per**2 for name, part in parts.items()}
    return StrataResult(key_frame.drop("__key"), observed_matrix / per[:, None], future / per[:, None],
                        value / per, sum(parts.values()), parts, fits, [])  # type: ignore[arg-type]
