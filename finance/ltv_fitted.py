"""The model-based LTV methods: shifted-beta-geometric retention and BG/NBD with Gamma-Gamma.

Both follow ``finance.ltv``'s contract: months a cohort has lived are observed margin; the
model projects each customer's later months; the interval comes from parameter draws. Fits
are made per group (channel or segment when the table is broken down, else one for all);
a group too small to fit falls back to the fit over every customer, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import polars as pl

from finance.dataset import Dataset
from finance.ltv import DAYS_PER_MONTH, LTVResult, LTVSettings, observed_curves, summarise
from finance.ltv_models import (
    BGNBDFit,
    FitError,
    GammaGammaFit,
    SBGFit,
    bgnbd_conditional_expected_purchases,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_sbg_cohorts,
    gamma_gamma_expected_spend,
    parameter_draws,
    rfm_summary,
    sbg_survival,
)

WEEKS_PER_MONTH = DAYS_PER_MONTH / 7.0
BGNBD_MAX_DRAWS = 60


@dataclass
class _Group:
    """The customers of one fit group, with their cohort keys."""

    name: str
    customers: pl.DataFrame


def _groups(customers: pl.DataFrame) -> list[_Group]:
    return [_Group(str(key[0]), frame) for key, frame in customers.group_by("dim", maintain_order=True)]


def _alive_series(customers: pl.DataFrame) -> list[list[float]]:
    """Survivors per monthly acquisition cohort: alive(0) = cohort size, alive(t) = still buying at t."""
    series = []
    frame = customers.with_columns(last=pl.col("last_age").fill_null(-1))
    for _, cohort in frame.group_by("acquired_month", maintain_order=True):
        horizon = int(cohort.get_column("age_observed").max())  # type: ignore[arg-type]
        last = cohort.get_column("last").to_numpy()
        alive = [float(len(last))] + [float(np.sum(last >= t)) for t in range(1, horizon + 1)]
        series.append(alive)
    return series


def _margin_rate(members: pl.DataFrame) -> float:
    """Margin per alive customer-month, as in the formula method."""
    alive_to = members.get_column("last_age").fill_null(-1).to_numpy()
    observed = members.get_column("age_observed").to_numpy()
    exposure = np.where(alive_to < observed, alive_to + 1, observed + 1).sum()
    margin = float(members.get_column("margin_total").sum())
    return margin / exposure if exposure > 0 else 0.0


def sbg_ltv(customers: pl.DataFrame, margins: pl.DataFrame, keys: list[str], settings: LTVSettings) -> LTVResult:
    """LTV with retention projected by the shifted-beta-geometric model (Fader & Hardie 2007)."""
    H = settings.horizon_months
    rng = np.random.default_rng(settings.seed)
    notes: list[str] = []
    overall: SBGFit | None = None
    fits: dict[str, SBGFit] = {}
    for group in _groups(customers):
        try:
            fits[group.name] = fit_sbg_cohorts(_alive_series(group.customers))
        except FitError as exc:
            if overall is None:
                overall = fit_sbg_cohorts(_alive_series(customers))
            fits[group.name] = overall
            notes.append(f"{group.name}: {exc}; the fit over all customers is used")
    observed = observed_curves(margins, keys, H)
    cohorts = customers.group_by(keys, maintain_order=True).agg(customers=pl.len()).sort(keys)
    curves: dict[tuple[Any, ...], np.ndarray] = {}
    samples: dict[tuple[Any, ...], np.ndarray] = {}
    draws_by_group = {name: parameter_draws(fit, settings.draws, rng) for name, fit in fits.items()}
    for row in cohorts.iter_rows(named=True):
        key = tuple(row[k] for k in keys)
        members = customers.filter(pl.all_horizontal([pl.col(k) == row[k] for k in keys]))
        fit = fits[str(row["dim"])]
        rate = _margin_rate(members)
        last = members.get_column("last_age").fill_null(-1).to_numpy()
        ages = members.get_column("age_observed").to_numpy()
        alive_ages = ages[last >= ages]
        n = row["customers"]
        base = observed.get(key, np.zeros(H)) / n

        def project(alpha: np.ndarray, beta: np.ndarray, base: np.ndarray = base,
                    alive_ages: np.ndarray = alive_ages, rate: float = rate, n: int = n) -> np.ndarray:
            t = np.arange(H)
            tail = np.zeros((len(alpha), H))
            for i, (a, b) in enumerate(zip(alpha, beta, strict=True)):
                survival = sbg_survival(float(a), float(b), H)
                for age in np.unique(alive_ages[alive_ages < H - 1]):  # older: nothing left to project
                    ahead = t > age
                    count = float(np.sum(alive_ages == age))
                    tail[i, ahead] += count * rate * survival[t[ahead]] / survival[age]
            return base[None, :] + tail / n

        curves[key] = project(np.array([fit.alpha]), np.array([fit.beta]))[0]
        draws = draws_by_group[str(row["dim"])]
        samples[key] = project(draws[:, 0], draws[:, 1])
    result = summarise(cohorts, keys, curves, samples, settings)
    params = _single_params(fits, ("alpha", "beta"))
    diagnostics = _diagnostics(dict(fits))
    return LTVResult("cohort", "month", params, result, notes, diagnostics)


def _diagnostics(fits: dict[str, Any]) -> dict[str, float]:
    """Log-likelihood and customers of each distinct fit (a fallback shared by groups counts once)."""
    out: dict[str, float] = {}
    seen: set[int] = set()
    for name, fit in fits.items():
        if id(fit) in seen:
            continue
        seen.add(id(fit))
        prefix = "" if len(fits) == 1 else f"{name}: "
        out[f"{prefix}log_likelihood"] = float(fit.log_likelihood)
        out[f"{prefix}customers"] = float(fit.customers)
    return out


def _single_params(fits: dict[str, Any], names: tuple[str, ...]) -> dict[str, float]:
    """The fitted parameters: plain names for one fit, ``group: name`` for several."""
    if len(fits) == 1:
        fit = next(iter(fits.values()))
        return {n: float(getattr(fit, n)) for n in names}
    return {f"{group}: {n}": float(getattr(fit, n)) for group, fit in fits.items() for n in names}


def bgnbd_ltv(data: Dataset, customers: pl.DataFrame, margins: pl.DataFrame, keys: list[str],
              settings: LTVSettings, as_of: date) -> LTVResult:
    """LTV with purchases from BG/NBD and spend per purchase from Gamma-Gamma."""
    H = settings.horizon_months
    rng = np.random.default_rng(settings.seed)
    notes: list[str] = []
    rfm = rfm_summary(data.revenue.filter(pl.col("revenue") > 0), customer="customer_id", date="date",
                      value="revenue", as_of=as_of).rename({"customer": "customer_id"}, strict=False)
    table = customers.join(rfm, on="customer_id", how="left").with_columns(
        pl.col("frequency").fill_null(0), pl.col("recency").fill_null(0.0), pl.col("monetary_value").fill_null(0.0),
        pl.col("T").fill_null(0.0))
    fits: dict[str, tuple[BGNBDFit, GammaGammaFit]] = {}
    overall: tuple[BGNBDFit, GammaGammaFit] | None = None
    for group in _groups(table):
        try:
            fits[group.name] = _fit_pair(group.customers)
        except FitError as exc:
            if overall is None:
                overall = _fit_pair(table)
            fits[group.name] = overall
            notes.append(f"{group.name}: {exc}; the fit over all customers is used")
    observed = observed_curves(margins, keys, H)
    cohorts = customers.group_by(keys, maintain_order=True).agg(customers=pl.len()).sort(keys)
    draws = min(settings.draws, BGNBD_MAX_DRAWS)
    if draws < settings.draws:
        notes.append(f"the interval uses {draws} parameter draws (each re-projects every customer)")
    param_draws = {}
    for name, (bg, gg) in fits.items():
        bg_draws, gg_draws = parameter_draws(bg, draws, rng), parameter_draws(gg, draws, rng)
        # q <= 1 makes a new customer's expected spend infinite: such draws are not models of spend
        finite = gg_draws[:, 1] > 1.0
        param_draws[name] = (bg_draws[finite], gg_draws[finite])
    curves: dict[tuple[Any, ...], np.ndarray] = {}
    samples: dict[tuple[Any, ...], np.ndarray] = {}
    for row in cohorts.iter_rows(named=True):
        key = tuple(row[k] for k in keys)
        members = table.filter(pl.all_horizontal([pl.col(k) == row[k] for k in keys]))
        bg, gg = fits[str(row["dim"])]
        margin_pct = _margin_pct(members)
        n = row["customers"]
        base = observed.get(key, np.zeros(H)) / n
        histories = _Histories.of(members)
        curves[key] = base + _projected(histories, (bg.r, bg.alpha, bg.a, bg.b), (gg.p, gg.q, gg.gamma),
                                        margin_pct, H) / n
        bg_draws, gg_draws = param_draws[str(row["dim"])]
        samples[key] = np.stack([base + _projected(histories, tuple(b), tuple(g), margin_pct, H) / n
                                 for b, g in zip(bg_draws, gg_draws, strict=True)])
    result = summarise(cohorts, keys, curves, samples, settings)
    params = _single_params({k: v[0] for k, v in fits.items()}, ("r", "alpha", "a", "b"))
    params.update(_single_params({k: v[1] for k, v in fits.items()}, ("p", "q", "gamma")))
    diagnostics = _diagnostics({f"{name} BG/NBD": pair[0] for name, pair in fits.items()}
                               | {f"{name} Gamma-Gamma": pair[1] for name, pair in fits.items()})
    return LTVResult("bgnbd", "week", params, result, notes, diagnostics)


def _fit_pair(table: pl.DataFrame) -> tuple[BGNBDFit, GammaGammaFit]:
    known = table.filter(pl.col("T") > 0)
    bg = fit_bgnbd(known.get_column("frequency").to_numpy(), known.get_column("recency").to_numpy(),
                   known.get_column("T").to_numpy())
    repeat = known.filter((pl.col("frequency") > 0) & (pl.col("monetary_value") > 0))
    gg = fit_gamma_gamma(repeat.get_column("frequency").to_numpy(), repeat.get_column("monetary_value").to_numpy())
    if gg.q <= 1:
        raise FitError(f"Gamma-Gamma: q = {gg.q:.3g} <= 1 makes a new customer's expected spend infinite")
    return bg, gg


def _margin_pct(members: pl.DataFrame) -> float:
    revenue = float(members.get_column("revenue_total").sum())
    margin = float(members.get_column("margin_total").sum())
    return margin / revenue if revenue > 0 else 0.0


@dataclass(frozen=True)
class _Histories:
    """A cohort's customers grouped by identical purchase history and age (computed once)."""

    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    monetary: np.ndarray
    ages: np.ndarray
    count: np.ndarray

    @classmethod
    def of(cls, members: pl.DataFrame) -> _Histories:
        grouped = members.group_by("frequency", "recency", "T", "monetary_value", "age_observed").agg(
            count=pl.len())
        return cls(grouped.get_column("frequency").to_numpy().astype(float),
                   grouped.get_column("recency").to_numpy().astype(float),
                   grouped.get_column("T").to_numpy().astype(float),
                   grouped.get_column("monetary_value").to_numpy().astype(float),
                   grouped.get_column("age_observed").to_numpy().astype(int),
                   grouped.get_column("count").to_numpy().astype(float))


def _projected(h: _Histories, bg: tuple[float, ...], gg: tuple[float, ...], margin_pct: float,
               horizon: int) -> np.ndarray:
    """Expected margin by age month from each member's future purchases, summed over members.

    A customer at age a (months since acquisition, at the as-of date) adds, in month a + k,
    the expected purchases between k - 1 and k months ahead (BG/NBD, conditional on their
    history) x their expected spend per purchase (Gamma-Gamma) x the gross margin %.
    """
    tail = np.zeros(horizon)
    steps = int(max(horizon - 1 - h.ages.min(), 0)) if len(h.ages) else 0
    if steps == 0:
        return tail
    repeat = h.frequency > 0
    spend = np.where(repeat, gamma_gamma_expected_spend(gg, h.frequency, np.where(repeat, h.monetary, 1.0)),
                     gamma_gamma_expected_spend(gg))
    weight = spend * margin_pct * h.count
    previous = np.zeros(len(h.frequency))
    for k in range(1, steps + 1):
        target = h.ages + k
        valid = target < horizon
        if not valid.any():
            break
        cumulative = bgnbd_conditional_expected_purchases(bg, k * WEEKS_PER_MONTH, h.frequency, h.recency, h.T)
        np.add.at(tail, target[valid], ((cumulative - previous) * weight)[valid])
        previous = cumulative
    return tail
