"""LTV projected stratum by stratum: each segment (or each channel within a segment) by its own model.

One company often has both kinds of customer: subscribers who visibly cancel (contractual) and
shoppers who silently stop buying (non-contractual). So every LTV here is built per **stratum**:
the customers of one segment, or, when the table is broken down by channel, of one channel within
one segment. Each stratum is projected by one of three models:

- ``formula``: each customer churns with the stratum's monthly churn rate; margin per paid
  customer-month from the stratum's history (ARPA x gross margin % / churn, horizon-capped);
- ``sbg``: retention by the shifted-beta-geometric model (Fader & Hardie 2007), fitted to the
  monthly survival of the stratum's acquisition-month cohorts;
- ``bgnbd``: purchases by BG/NBD (Fader, Hardie & Lee 2005a) and spend per purchase by
  Gamma-Gamma (Fader, Hardie & Lee 2005b), conditional on each customer's own history.

A customer is alive through the months they have paid for (``finance.ltv.base.billing_terms``): an
annual payer renews, or not, twelve months after their last invoice, and their renewals are
projected as lumps at the renewal months.

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
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl
from scipy import special

from finance.ltv.models import (
    FitError,
    bgnbd_conditional_expected_purchases,
    bgnbd_probability_alive,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_sbg_intervals,
)

Model = Literal["formula", "sbg", "bgnbd"]
MODELS: tuple[Model, ...] = ("formula", "sbg", "bgnbd")
MODEL_LABELS: dict[Model, str] = {"formula": "churn formula", "sbg": "sBG retention", "bgnbd": "BG/NBD"}
DAYS_PER_MONTH = 365.25 / 12
WEEKS_PER_MONTH = DAYS_PER_MONTH / 7.0
OWN_FIT_CUSTOMERS = 400
"""A channel within a segment is fitted on its own from this many customers; smaller ones use the segment's fit."""
STEP = 1e-3
"""Central-difference step in the log-parameters for the delta method."""


@dataclass
class StratumFit:
    """One stratum's fitted model, in the form every projection uses."""

    stratum: tuple[str, ...]
    model: Model
    names: tuple[str, ...]
    log_params: np.ndarray
    covariance: np.ndarray
    customers: int
    extra: dict[str, float] = field(default_factory=dict)
    """Model constants that are not uncertain parameters (margin %, a fallback spend)."""
    source: str = "own fit"
    """"own fit", "shrunk toward <segment>" or "pooled with <segment>": how the stratum got its parameters."""
    log_likelihood: float | None = None

    @property
    def params(self) -> dict[str, float]:
        return {n: float(v) for n, v in zip(self.names, np.exp(self.log_params), strict=True)}

    def with_log_params(self, log_params: np.ndarray) -> StratumFit:
        return StratumFit(self.stratum, self.model, self.names, log_params, self.covariance, self.customers,
                          self.extra, self.source, self.log_likelihood)


# ---------------------------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------------------------


def churn_exposure(members: pl.DataFrame) -> tuple[float, float]:
    """(churn events, customer-months exposed): a customer paid through the last complete month is alive."""
    paid = members.get_column("paid_through").fill_null(-1).to_numpy()
    observed = members.get_column("age_observed").to_numpy()
    churned = paid < observed
    exposure = np.where(churned, paid + 1, observed + 1).sum()
    return float(churned.sum()), float(exposure)


def margin_rate(members: pl.DataFrame) -> float:
    """Margin per paid customer-month: a prepaid term's months count as paid."""
    paid = members.get_column("paid_through").fill_null(-1).to_numpy() + 1
    months = float(paid.sum())
    return float(members.get_column("margin_total").sum()) / months if months > 0 else 0.0


def margin_pct(members: pl.DataFrame) -> float:
    revenue = float(members.get_column("revenue_total").sum())
    return float(members.get_column("margin_total").sum()) / revenue if revenue > 0 else 0.0


def fit_formula(stratum: tuple[str, ...], members: pl.DataFrame) -> StratumFit:
    """Monthly churn c = k / E over the stratum; its log has variance about 1 / k (Beta posterior)."""
    k, exposure = churn_exposure(members)
    churn = (k + 0.5) / (exposure + 1.0)  # Jeffreys: never exactly 0 or 1
    return StratumFit(stratum, "formula", ("monthly_churn",), np.array([math.log(churn)]),
                      np.array([[1.0 / (k + 0.5)]]), members.height,
                      {"churn_events": k, "exposure": exposure, "margin_per_month": margin_rate(members)})


def lifetime_intervals(members: pl.DataFrame) -> pl.DataFrame:
    """Each paying customer's lifetime L (months paid for) as an interval lower < L <= upper, grouped.

    A customer still paying at the last complete month, or within a prepaid term, is censored at
    their last invoice (L > its age); one who stopped left within the term they last paid for.
    """
    paying = members.filter(pl.col("last_age").is_not_null())
    ended = pl.col("paid_through") < pl.col("age_observed")
    return paying.group_by(
        lower=pl.col("last_age").cast(pl.Float64),
        upper=pl.when(ended).then(pl.col("paid_through") + 1).otherwise(float("inf")).cast(pl.Float64),
    ).agg(count=pl.len()).sort("lower", "upper")  # a fixed order: the same data, the same fit to the last bit


def fit_sbg(stratum: tuple[str, ...], members: pl.DataFrame) -> StratumFit:
    intervals = lifetime_intervals(members)
    fit = fit_sbg_intervals(intervals.get_column("lower").to_numpy(), intervals.get_column("upper").to_numpy(),
                            intervals.get_column("count").to_numpy())
    return StratumFit(stratum, "sbg", ("alpha", "beta"), np.log(fit.params), fit.covariance, members.height,
                      {"margin_per_month": margin_rate(members)}, log_likelihood=fit.log_likelihood)


def fit_bgnbd_gg(stratum: tuple[str, ...], members: pl.DataFrame) -> StratumFit:
    """BG/NBD on (frequency, recency, T) and Gamma-Gamma on repeat spend; a spend model that the data
    cannot support (one price for everyone, an infinite mean) gives way to each customer's own mean."""
    known = members.filter(pl.col("T") > 0).sort("customer_id")
    bg = fit_bgnbd(known.get_column("frequency").to_numpy(), known.get_column("recency").to_numpy(),
                   known.get_column("T").to_numpy())
    # Parameters at the edge of what the formulas can evaluate (2F1 past its range) forecast no number.
    with np.errstate(all="ignore"):
        ahead = bgnbd_conditional_expected_purchases(bg, np.full(known.height, 36 * WEEKS_PER_MONTH),
                                                     known.get_column("frequency").to_numpy(),
                                                     known.get_column("recency").to_numpy(),
                                                     known.get_column("T").to_numpy())
    if not np.all(np.isfinite(ahead)):
        raise FitError(f"BG/NBD: the fit (r={bg.r:.3g}, alpha={bg.alpha:.3g}, a={bg.a:.3g}, b={bg.b:.3g}) gives no "
                       "finite forecast for every customer")
    repeat = known.filter((pl.col("frequency") > 0) & (pl.col("monetary_value") > 0))
    names: tuple[str, ...] = ("r", "alpha", "a", "b")
    log_params, covariance = np.log(bg.params), bg.covariance
    extra = {"margin_pct": margin_pct(members)}
    buyers = members.filter(pl.col("mean_value") > 0).get_column("mean_value")
    extra["mean_spend"] = float(repeat.get_column("monetary_value").mean() if repeat.height  # type: ignore[arg-type]
                                else buyers.mean() if buyers.len() else 0.0)
    try:
        steady = members.filter(pl.col("payments") >= 3).get_column("amount_spread")
        if steady.len() and float((steady <= 1.01).mean()) >= 0.8:  # type: ignore[arg-type]
            raise FitError("Gamma-Gamma: repeat payers pay the same amount every time (subscriptions)")
        gg = fit_gamma_gamma(repeat.get_column("frequency").to_numpy(), repeat.get_column("monetary_value").to_numpy())
        if gg.q <= 1:
            raise FitError(f"Gamma-Gamma: q = {gg.q:.3g} <= 1 makes a new customer's expected spend infinite")
        names = (*names, "p", "q", "gamma")
        log_params = np.concatenate([log_params, np.log(gg.params)])
        covariance = np.block([[covariance, np.zeros((4, 3))], [np.zeros((3, 4)), gg.covariance]])
    except FitError:
        pass  # spend per purchase: each customer's own mean, else the stratum's
    return StratumFit(stratum, "bgnbd", names, log_params, covariance, members.height, extra,
                      log_likelihood=bg.log_likelihood)


FITTERS: dict[Model, Callable[[tuple[str, ...], pl.DataFrame], StratumFit]] = {
    "formula": fit_formula, "sbg": fit_sbg, "bgnbd": fit_bgnbd_gg}


def shrink(own: StratumFit, toward: StratumFit, tau2: np.ndarray) -> StratumFit:
    """Empirical-Bayes shrinkage of a stratum's log-parameters toward its segment's.

    Each log-parameter moves toward the segment's by the weight w = tau^2 / (tau^2 + var_own),
    where tau^2 is the between-strata variance (DerSimonian-Laird) and var_own the stratum's own
    sampling variance; its variance becomes w^2 var_own + (1 - w)^2 var_segment.
    """
    var_own = np.diag(own.covariance)
    w = tau2 / (tau2 + var_own)
    log_params = toward.log_params + w * (own.log_params - toward.log_params)
    scale = np.sqrt(w**2 * var_own + (1 - w) ** 2 * np.diag(toward.covariance))
    corr = own.covariance / np.sqrt(np.outer(var_own, var_own))
    covariance = corr * np.outer(scale, scale)
    segment = toward.stratum[-1]
    return StratumFit(own.stratum, own.model, own.names, log_params, covariance, own.customers,
                      {**toward.extra, **own.extra}, f"shrunk toward {segment}", own.log_likelihood)


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


@dataclass
class Units:
    """A stratum's customers grouped by everything its projection depends on."""

    key: np.ndarray
    """Index of the cohort key (row of the result) each unit belongs to."""
    age: np.ndarray
    """Months from acquisition to the as-of month (the last complete month)."""
    count: np.ndarray
    columns: dict[str, np.ndarray]


def contract_units(members: pl.DataFrame) -> Units:
    """Alive customers grouped by key, age, paid-through age, interval, and the key's margin rate."""
    alive = members.filter(pl.col("paid_through") >= pl.col("age_observed"))
    rates = members.group_by("__key").agg(
        __rate=pl.col("margin_total").sum() / (pl.col("paid_through").fill_null(-1) + 1).sum())
    grouped = alive.join(rates, on="__key").group_by("__key", "age_observed", "paid_through", "interval", "__rate").agg(
        count=pl.len()).sort("__key", "age_observed", "paid_through", "interval")
    return Units(grouped.get_column("__key").to_numpy(), grouped.get_column("age_observed").to_numpy(),
                 grouped.get_column("count").to_numpy().astype(float),
                 {"paid": grouped.get_column("paid_through").to_numpy(),
                  "interval": grouped.get_column("interval").to_numpy(),
                  "rate": grouped.get_column("__rate").fill_nan(0.0).to_numpy()})


def purchase_units(members: pl.DataFrame) -> Units:
    grouped = members.group_by("__key", "age_observed", "frequency", "recency", "T", "monetary_value").agg(
        count=pl.len()).sort("__key", "age_observed", "frequency", "recency", "T", "monetary_value")
    return Units(grouped.get_column("__key").to_numpy(), grouped.get_column("age_observed").to_numpy(),
                 grouped.get_column("count").to_numpy().astype(float),
                 {name: grouped.get_column(name).to_numpy().astype(float)
                  for name in ("frequency", "recency", "T", "monetary_value")})


def _survival(fit: StratumFit, log_params: np.ndarray, last: int) -> np.ndarray:
    """S(t), t = 0 .. last: the share of customers still paying after t months."""
    t = np.arange(last + 1, dtype=float)
    if fit.model == "formula":
        churn = min(float(np.exp(log_params[0])), 1.0)
        return np.asarray(np.power(1.0 - churn, t))
    alpha, beta = np.exp(log_params)
    return np.asarray(np.exp(special.betaln(alpha, beta + t) - special.betaln(alpha, beta)))


def _contract_paths(fit: StratumFit, units: Units, months: int, log_params: np.ndarray) -> tuple[np.ndarray, ...]:
    """(cash per renewal if alive, P(alive) at each month ahead), both (units, months)."""
    j = np.arange(1, months + 1)
    age = units.age[:, None] + j[None, :]
    paid = units.columns["paid"][:, None]
    interval = units.columns["interval"][:, None]
    since = age - paid - 1
    renewal = (since >= 0) & (since % interval == 0)
    survival = _survival(fit, log_params, int(age.max(initial=0)) + 1)
    # Known: they paid at their last invoice (lifetime L > its age); alive at a renewal t when L > t.
    invoiced = paid - interval + 1
    p_alive = np.where(since >= 0, survival[np.minimum(age, len(survival) - 1)] / survival[invoiced], 0.0)
    cash = np.where(renewal, interval * units.columns["rate"][:, None], 0.0)
    return cash, p_alive


def expected_margin(fit: StratumFit, units: Units, months: int, log_params: np.ndarray | None = None,
                    horizon: int | None = None) -> np.ndarray:
    """Expected margin per customer of each unit in each of the next ``months`` months: (units, months).

    With ``horizon``, months at or past that age are left at 0 (not computed): the LTV needs none.
    """
    lp = fit.log_params if log_params is None else log_params
    if not len(units.count):
        return np.zeros((0, months))
    if fit.model in ("formula", "sbg"):
        cash, p_alive = _contract_paths(fit, units, months, lp)
        return np.asarray(cash * p_alive)
    return _purchase_margin(fit, units, months, lp, horizon)


def _spend(fit: StratumFit, units: Units, lp: np.ndarray) -> np.ndarray:
    x, m = units.columns["frequency"], units.columns["monetary_value"]
    if len(lp) == 7:
        p, q, gamma = np.exp(lp[4:])
        return np.asarray(p * (gamma + x * np.where(x > 0, m, 0.0)) / (p * x + q - 1))
    return np.where(x > 0, m, fit.extra.get("mean_spend", 0.0))


_PURCHASES: dict[tuple[int, bytes, int | None], np.ndarray] = {}
"""The last projection's expected purchases by BG/NBD parameters: perturbing a spend parameter reuses them."""


def _purchase_margin(fit: StratumFit, units: Units, months: int, lp: np.ndarray, horizon: int | None) -> np.ndarray:
    key = (id(units), lp[:4].tobytes(), horizon)
    purchases = _PURCHASES.get(key)
    if purchases is None or purchases.shape != (len(units.count), months):
        x, tx, big_t = (units.columns[n] for n in ("frequency", "recency", "T"))
        ahead = np.broadcast_to(np.arange(1, months + 1), (len(x), months))
        needed = ahead <= months if horizon is None else units.age[:, None] + ahead < horizon
        row = np.nonzero(needed)[0]
        cumulative = np.zeros((len(x), months))
        cumulative[needed] = bgnbd_conditional_expected_purchases(
            np.exp(lp[:4]), ahead[needed] * WEEKS_PER_MONTH, x[row], tx[row], big_t[row])
        purchases = np.where(needed, np.diff(cumulative, axis=1, prepend=0.0), 0.0)
        if len(_PURCHASES) > 16:
            _PURCHASES.clear()
        _PURCHASES[key] = purchases
    return np.asarray(purchases * (_spend(fit, units, lp) * fit.extra["margin_pct"])[:, None])


def process_variance(fit: StratumFit, units: Units, weights: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Variance of one customer's weighted future margin sum(w_j V_j), per unit: the randomness of a life.

    Contractual: V_j is a renewal's cash if alive at month j, and a customer alive at the later of
    two months was alive at both, so E[(sum w V)^2] = sum_j u_j s_j (2 U_j - u_j) with u = w x cash,
    s the survival and U the running sum of u.
    Purchases: a customer alive with probability pi buys a Poisson count at a Gamma-distributed
    rate (shape r + x after their history), each purchase a Gamma-distributed amount (shape p), so
    Var ~= g s (1 + 1/p) sum w^2 E + A^2 / pi x (1 / (r + x) + 1 - pi), with A = sum w E.
    """
    if not len(units.count):
        return np.zeros(0)
    if fit.model in ("formula", "sbg"):
        cash, p_alive = _contract_paths(fit, units, weights.shape[1], fit.log_params)
        u = weights * cash
        second = np.sum(u * p_alive * (2 * np.cumsum(u, axis=1) - u), axis=1)
        first = np.sum(u * p_alive, axis=1)
        return np.asarray(np.maximum(second - first**2, 0.0))
    x, tx, big_t = (units.columns[n] for n in ("frequency", "recency", "T"))
    r = float(np.exp(fit.log_params[0]))
    p_shape = float(np.exp(fit.log_params[4])) if len(fit.log_params) == 7 else 4.0
    alive = bgnbd_probability_alive(np.exp(fit.log_params[:4]), x, tx, big_t)
    value = _spend(fit, units, fit.log_params) * fit.extra["margin_pct"]
    total = np.sum(weights * expected, axis=1)
    poisson = value * (1 + 1 / p_shape) * np.sum(weights**2 * expected, axis=1)
    mixing = total**2 / np.maximum(alive, 1e-9) * (1 / (r + x) + 1 - alive)
    return np.asarray(poisson + mixing)




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


def add_purchase_history(customers: pl.DataFrame, rfm: pl.DataFrame) -> pl.DataFrame:
    """Join (frequency, recency, T, monetary value) from ``rfm_summary``; a customer with no purchase has none."""
    return customers.join(rfm.select("customer_id", "frequency", "recency", "T", "monetary_value"),
                          on="customer_id", how="left").with_columns(
        pl.col("frequency").fill_null(0), pl.col("recency").fill_null(0.0), pl.col("T").fill_null(0.0),
        pl.col("monetary_value").fill_null(0.0),
        mean_value=pl.col("revenue_total") / (pl.col("frequency").fill_null(0) + 1))


def fit_strata(customers: pl.DataFrame, models: dict[str, Model], by_dim: bool) -> tuple[
        dict[tuple[str, ...], StratumFit], list[str]]:
    """Each stratum's fit (segment, or channel within segment), with the fallbacks and pooling above."""
    notes: list[str] = []
    fits: dict[tuple[str, ...], StratumFit] = {}
    company: dict[Model, StratumFit | None] = {}

    def fit_or_fallback(stratum: tuple[str, ...], members: pl.DataFrame, model: Model) -> StratumFit:
        try:
            return FITTERS[model](stratum, members)
        except FitError as exc:
            if members.height >= OWN_FIT_CUSTOMERS:
                # Enough customers, and still no fit: the model does not describe this business (a
                # purchase model on steady subscriptions, say). Borrowing another segment's fit would
                # not either; the churn formula does.
                notes.append(f"{' / '.join(stratum)}: {exc}; the churn formula is used")
                return fit_formula(stratum, members)
            if model not in company:
                try:
                    company[model] = FITTERS[model](("(all)",), customers)
                except FitError:
                    company[model] = None
            fallback = company[model]
            if fallback is not None and fallback.customers > members.height:
                notes.append(f"{' / '.join(stratum)}: {exc}; the fit over all customers is used")
                return StratumFit(stratum, model, fallback.names, fallback.log_params, fallback.covariance,
                                  members.height, {**fallback.extra, **_extra_for(model, members)},
                                  "pooled with all customers", fallback.log_likelihood)
            notes.append(f"{' / '.join(stratum)}: {exc}; the churn formula is used")
            return fit_formula(stratum, members)

    for (segment,), members in customers.group_by("segment", maintain_order=True):
        segment_fit = fit_or_fallback((str(segment),), members, models.get(str(segment), "formula"))
        if not by_dim:
            fits[(str(segment),)] = segment_fit
            continue
        own: dict[tuple[str, ...], StratumFit] = {}
        groups = {(str(d),): m for (d,), m in members.group_by("dim", maintain_order=True)}
        for (dim,), group in groups.items():
            stratum = (dim, str(segment))
            if group.height >= OWN_FIT_CUSTOMERS and len(groups) > 1:
                try:
                    own[stratum] = FITTERS[segment_fit.model](stratum, group)
                    continue
                except FitError:
                    pass
            fits[stratum] = StratumFit(stratum, segment_fit.model, segment_fit.names, segment_fit.log_params,
                                       segment_fit.covariance, group.height,
                                       {**segment_fit.extra, **_extra_for(segment_fit.model, group)},
                                       f"pooled with {segment}", segment_fit.log_likelihood)
        own = {stratum: _aligned(fit, segment_fit) for stratum, fit in own.items()}
        if len(own) >= 2:
            tau2 = between_variance(list(own.values()), segment_fit)
            fits.update({stratum: shrink(fit, segment_fit, tau2) for stratum, fit in own.items()})
        else:
            fits.update({stratum: shrink(fit, segment_fit, np.zeros(len(fit.log_params)))
                         for stratum, fit in own.items()})
    return fits, notes


def _aligned(own: StratumFit, segment: StratumFit) -> StratumFit:
    """A channel's fit with its segment's parameter set: a spend model the channel could not support
    is the segment's, and one the segment could not support is dropped (BG/NBD with or without Gamma-Gamma)."""
    if own.names == segment.names:
        return own
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


def _extra_for(model: Model, members: pl.DataFrame) -> dict[str, float]:
    """The constants a pooled stratum keeps of its own: its margin, not its segment's."""
    if model == "bgnbd":
        return {"margin_pct": margin_pct(members)}
    return {"margin_per_month": margin_rate(members)}


def project_strata(customers: pl.DataFrame, observed: dict[tuple[Any, ...], np.ndarray], keys: list[str],
                   fits: dict[tuple[str, ...], StratumFit], discount: np.ndarray,
                   errors: dict[tuple[Model, str], ModelError], by_dim: bool) -> StrataResult:
    """Per cohort key: observed and projected margin per customer, and the variance of the projection."""
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
        units = purchase_units(members) if fit.model == "bgnbd" else contract_units(members)
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


def describe(fit: StratumFit) -> list[tuple[str, float, str]]:
    """The fit in business words, (what, value, unit), enough to redo a projection by hand."""
    p = fit.params
    out: list[tuple[str, float, str]] = []
    if fit.model == "formula":
        churn = p["monthly_churn"]
        out += [("Monthly churn (customers lost per customer-month)", churn, "percent"),
                ("Expected lifetime of a new customer", 1.0 / churn, "months")]
    elif fit.model == "sbg":
        alpha, beta = p["alpha"], p["beta"]
        out += [("Churn in a new customer's first month", alpha / (alpha + beta), "percent"),
                ("Churn in month 12 of those still paying", 1 - (beta + 11) / (alpha + beta + 11), "percent"),
                ("Churn in month 24 of those still paying", 1 - (beta + 23) / (alpha + beta + 23), "percent"),
                ("Share still paying after 12 months", float(_survival(fit, fit.log_params, 12)[12]), "percent"),
                ("sBG alpha (spread of churn rates)", alpha, "number"),
                ("sBG beta", beta, "number")]
    else:
        r, alpha, a, b = (p[n] for n in ("r", "alpha", "a", "b"))
        out += [("Purchases per month of an active customer (average)", r / alpha * WEEKS_PER_MONTH, "number"),
                ("Chance of stopping after each repeat purchase", a / (a + b), "percent"),
                ("BG/NBD r", r, "number"), ("BG/NBD alpha (weeks)", alpha, "number"), ("BG/NBD a", a, "number"),
                ("BG/NBD b", b, "number")]
        if "q" in p:
            out.append(("Average order value of a new customer", p["p"] * p["gamma"] / (p["q"] - 1), "money"))
            out += [("Gamma-Gamma p", p["p"], "number"), ("Gamma-Gamma q", p["q"], "number"),
                    ("Gamma-Gamma gamma", p["gamma"], "number")]
        else:
            out.append(("Average order value (observed)", fit.extra.get("mean_spend", 0.0), "money"))
        out.append(("Gross margin on purchases", fit.extra.get("margin_pct", 0.0), "percent"))
    if "margin_per_month" in fit.extra:
        out.append(("Gross margin per paying customer-month", fit.extra["margin_per_month"], "money"))
    return out
