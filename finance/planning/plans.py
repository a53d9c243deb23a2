"""Budget scenarios: from the store's history to a forward plan a CFO can check.

A *plan* is a list of lines, one per (channel, cost category), of spend for one quarter;
shared costs (staff, martech, website: no channel) are lines on the ``(shared)`` channel.
:func:`planning_basis` reads what a plan needs from the history:

* per channel, a response curve of new customers against the channel's direct marketing
  spend per quarter (``finance.planning.curves.fit_response_curve``: Hill with diminishing returns,
  constant CPA with a warning when the history is too short);
* per channel, the LTV of its recent customers (the last four acquisition quarters,
  weighted by customers, with the LTV model's interval) and their margin curve for payback;
* two starting plans: last quarter's spend, and the average quarter of the last four.

:func:`project` turns a plan into projected new customers, fully loaded CAC, LTV:CAC with
its band, payback and ROI, each with a range. The range comes from Monte Carlo draws that
carry both sources of uncertainty: each channel's customers are drawn around its curve with
the curve's prediction spread (fit uncertainty and quarter-to-quarter noise, independent
across channels), and LTV is drawn from the LTV model's interval (one common draw for all
channels, as every channel's LTV comes from the same fitted model). The range is the
central ``interval`` (the assumptions' LTV interval, 80% by default) of the draws.

:func:`optimise`, :func:`budget_for_ratio` and :func:`budget_for_customers` apply the
planner's allocation and goal seek to a plan; shared and sales lines stay as they are.
Scenarios are saved by name in the store (:func:`save_scenario`) and compared side by side
(:func:`compare`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from finance.domain.money import MAX_INTEGER_DIGITS
from finance.domain.periods import add_quarters, quarter_label, quarter_start
from finance.domain.schema import CATEGORIES, MARKETING_CATEGORIES, band_of, channel_name_key
from finance.ltv.base import cohort_ltv, payback_draws
from finance.ltv.progress import Report
from finance.metrics import table as metrics
from finance.metrics.cac import CATEGORY_KEYS, acquisition
from finance.metrics.table import MetricParams
from finance.planning import curves as planner
from finance.planning import words
from finance.planning.curves import DEFAULT_MAX_SHAPE, PlanError, ResponseCurve
from finance.store.database import ScenarioExists, Store
from finance.store.dataset import (
    SHARED,
    Dataset,
    channel_key,
    default_as_of,
    grain_label,
    grain_start,
    shift_months,
    spend_by_month,
)

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal(10) ** MAX_INTEGER_DIGITS
"""Every plan amount is below this (100 trillion), as every imported amount is."""
MAX_CUSTOMERS = 1e9
"""The largest customer target a goal seek takes."""
#: Draws behind every projected range.
DRAWS = 4000
SEED = 20240601
#: A channel planned above this multiple of its largest past quarter gets an extrapolation warning.
EXTRAPOLATION = 1.25
#: Acquisition quarters whose customers' LTV stands for next quarter's customers.
LTV_QUARTERS = 4
KINDS = ("baseline", "request", "optimised", "goal seek", "custom")
MAX_NAME = 80
STARTS = ("last_quarter", "trailing_average")


@dataclass(frozen=True)
class PlanLine:
    """Spend for one quarter on one channel (or ``(shared)``) and one cost category."""

    channel: str
    category: str
    amount: Decimal


@dataclass(frozen=True)
class ChannelBasis:
    """What the history says about one channel: its response curve and its customers' value."""

    channel: str
    curve: ResponseCurve
    ltv: float | None
    ltv_low: float | None
    ltv_high: float | None
    margin_curve: tuple[float, ...]
    """Expected gross margin per customer by month since acquisition (for payback)."""
    history: pl.DataFrame
    """period, period_label, direct_spend (float), new_customers: the points the curve was fitted to."""


@dataclass(frozen=True)
class PlanningBasis:
    """Everything a plan is projected from; built once per dataset and assumptions."""

    as_of: date
    last_period: date
    """The latest complete quarter with spend (else the latest with spend): the starting plan's quarter."""
    period: str
    """The quarter being planned (the one after ``last_period``), e.g. ``2026-Q1`` (``FY2026-Q4`` with an
    April fiscal year)."""
    channels: dict[str, ChannelBasis]
    starts: dict[str, tuple[PlanLine, ...]]
    """Starting plans: ``last_quarter`` and ``trailing_average``."""
    band_edges: tuple[float, ...]
    interval: float
    ltv_method: str
    pooled_ltv: float | None
    notes: list[str] = field(default_factory=list)
    fiscal_year_start: int = 1
    """The month the fiscal year starts: the quarters planned and shown are its quarters."""

    @property
    def planned_channels(self) -> list[str]:
        return list(self.channels)

    @property
    def last_label(self) -> str:
        """The starting quarter's name, e.g. ``2025-Q4`` (``FY2026-Q3`` with an April fiscal year)."""
        return quarter_label(self.last_period, self.fiscal_year_start)


@dataclass(frozen=True)
class Range:
    """A projected figure with its range (the central interval of the draws); plain floats."""

    point: float | None
    low: float | None
    high: float | None

    def __post_init__(self) -> None:
        for name in ("point", "low", "high"):
            value = getattr(self, name)
            object.__setattr__(self, name, None if value is None else float(value))


@dataclass
class Projection:
    """What a plan is projected to deliver."""

    name: str
    period: str
    lines: tuple[PlanLine, ...]
    channels: pl.DataFrame
    """channel, spend (direct marketing), customers, customers_low, customers_high, cpa,
    marginal_cac, ltv, curve, r_squared, warning."""
    spend: Decimal
    """Fully loaded marketing spend: every line but sales."""
    spend_sm: Decimal
    """Sales and marketing: every line."""
    shared: Decimal
    """Marketing lines without a channel."""
    figures: dict[str, Range]
    """customers, cac, cac_sm, ltv, ltv_cac, payback_months, roi, value_created."""
    band: str | None
    warnings: list[str]

    def figure(self, name: str) -> float | None:
        return self.figures[name].point


# ---------------------------------------------------------------------------------------------
# Lines
# ---------------------------------------------------------------------------------------------

def to_cents(value: Decimal | float | int | str) -> Decimal:
    """An amount rounded half-up to the cent; PlanError for text that is not a number."""
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise PlanError(f"{value!r} is not an amount") from None
    if not amount.is_finite():
        raise PlanError(f"{value!r} is not a finite amount")
    if abs(amount) >= MAX_AMOUNT:
        raise PlanError(f"{value!r} is 100 trillion or more; expected an amount below {MAX_AMOUNT:,}")
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def check_lines(lines: Iterable[PlanLine], channels: Iterable[str]) -> tuple[PlanLine, ...]:
    """Lines with amounts in cents, merged per (channel, category), in a stable order.

    PlanError naming the line (1-based), column and value for an unknown channel or category,
    a negative amount or text that is not an amount.
    """
    known = {c: i for i, c in enumerate(channels)}
    merged: dict[tuple[str, str], Decimal] = {}
    problems = []
    for number, line in enumerate(lines, start=1):
        if line.channel != SHARED and line.channel not in known:
            problems.append(f"line {number}, channel: {line.channel!r} has no history to project from; "
                            f"expected one of {[*known, SHARED]}")
            continue
        if line.category not in CATEGORIES:
            problems.append(f"line {number}, category: {line.category!r} is not a cost category; "
                            f"expected one of {list(CATEGORY_KEYS)}")
            continue
        try:
            amount = to_cents(line.amount)
        except PlanError as exc:
            problems.append(f"line {number}, amount: {exc}")
            continue
        if amount < 0:
            problems.append(f"line {number}, amount: {amount} is negative; expected 0 or more")
            continue
        key = (line.channel, line.category)
        merged[key] = merged.get(key, Decimal(0)) + amount
    if problems:
        raise PlanError("; ".join(problems))
    order = {**known, SHARED: len(known)}
    keys = sorted(merged, key=lambda k: (order[k[0]], CATEGORY_KEYS.index(k[1])))
    return tuple(PlanLine(c, k, merged[(c, k)]) for c, k in keys)


def lines_frame(lines: Iterable[PlanLine]) -> pl.DataFrame:
    """Lines as a frame: channel, category, category_label, amount (Decimal, cents)."""
    rows = [(ln.channel, ln.category, CATEGORIES[ln.category].label, ln.amount) for ln in lines]
    return pl.DataFrame(rows, schema={"channel": pl.String, "category": pl.String, "category_label": pl.String,
                                      "amount": pl.Decimal(18, 2)}, orient="row")


def lines_from_frame(frame: pl.DataFrame) -> list[PlanLine]:
    """Lines from a frame with channel, category and amount columns (an edited table)."""
    missing = [c for c in ("channel", "category", "amount") if c not in frame.columns]
    if missing:
        raise PlanError(f"plan table lacks columns {missing}")
    out = []
    for number, (channel, category, amount) in enumerate(
            frame.select("channel", "category", "amount").iter_rows(), start=1):
        if amount is None:
            raise PlanError(f"line {number}, amount: empty; expected an amount of 0 or more")
        try:
            out.append(PlanLine(str(channel), str(category), to_cents(amount)))
        except PlanError as exc:
            raise PlanError(f"line {number}, amount: {exc}; expected an amount such as 12500.00") from None
    return out


def channel_spend(lines: Iterable[PlanLine]) -> dict[str, Decimal]:
    """Direct marketing spend per channel (sales lines and shared lines excluded)."""
    out: dict[str, Decimal] = {}
    for line in lines:
        if line.channel != SHARED and line.category in MARKETING_CATEGORIES:
            out[line.channel] = out.get(line.channel, Decimal(0)) + line.amount
    return out


def scale_shared(lines: Iterable[PlanLine], factor: Decimal | float) -> list[PlanLine]:
    """Every shared line times ``factor`` (to the cent); channel lines unchanged."""
    factor = Decimal(str(factor))
    if factor < 0:
        raise PlanError(f"shared costs cannot scale by a negative factor ({factor})")
    return [PlanLine(ln.channel, ln.category, to_cents(ln.amount * factor)) if ln.channel == SHARED else ln
            for ln in lines]


# ---------------------------------------------------------------------------------------------
# The basis
# ---------------------------------------------------------------------------------------------

def planning_basis(data: Dataset, params: MetricParams, *, max_shape: float = DEFAULT_MAX_SHAPE,
                   trailing_quarters: int = 4, check: Any = None, progress: Report | None = None) -> PlanningBasis:
    """Response curves, LTVs and starting plans from the history up to ``params.as_of``.

    ``check`` is the data's model check (``backtest.ModelCheck``): the LTV models and ranges it chose.
    ``progress`` hears how the LTV fits by channel go (``finance.ltv.progress``).
    """
    as_of = params.as_of or default_as_of(data)
    fiscal = params.fiscal_year_start
    data = data.as_of(as_of)
    months = spend_by_month(data.spend).filter(pl.col("month") <= as_of).collect()
    if months.is_empty():
        raise PlanError("no spend loaded yet: a plan starts from the spend history")
    # The starting quarter is the latest complete one (its customers are in, as the fits need);
    # spend already loaded for a quarter under way does not make it the start.
    with_spend = sorted({quarter_start(m, fiscal) for m in months["month"]})
    complete_quarters = [q for q in with_spend if add_quarters(q, 1) <= date.fromordinal(as_of.toordinal() + 1)]
    last_period = (complete_quarters or with_spend)[-1]
    notes: list[str] = []

    history = acquisition(data, grain="quarter", by="channel", lag_quarters=params.lag_quarters,
                          allocation=params.allocation, fiscal_year_start=fiscal).collect()
    complete = history.filter(pl.col("direct_spend").is_not_null()
                              & (pl.col("period") <= quarter_start(as_of, fiscal)) & (pl.col("channel") != SHARED))
    # A quarter still under way has its spend but not yet all its customers: fit on complete ones.
    complete = complete.filter(shift_months(pl.col("period"), 3) <= date.fromordinal(as_of.toordinal() + 1))

    ltv = cohort_ltv(data, grain="quarter", by="channel", as_of=as_of, settings=params.ltv,
                     errors=check.model_errors() if check is not None else None,
                     models=check.recommended if check is not None else None, fiscal_year_start=fiscal,
                     progress=progress)
    cohorts = ltv.cohorts.filter(pl.col("ltv").is_not_null()).sort("cohort")
    names = {channel_name_key(c): c for c in history["channel"].unique() if c is not None}
    channels: dict[str, ChannelBasis] = {}
    pooled_weight = pooled_value = 0.0
    for (name,), group in complete.group_by("channel", maintain_order=True):
        group = group.sort("period")
        spend = group["direct_spend"].cast(pl.Float64).to_numpy()
        customers = group["new_customers"].cast(pl.Float64).to_numpy()
        if not (spend > 0).any():
            if customers.sum() > 0:
                notes.append(words.CHANNEL_NOTE.format(
                    channel=name, reason=words.NO_DIRECT_SPEND.format(customers=f"{int(customers.sum()):,}")))
            continue
        curve = planner.fit_response_curve(str(name), spend, customers, max_shape=max_shape)
        mine = cohorts.filter(channel_key(pl.col("dim")) == channel_name_key(str(name)))
        mine = mine.tail(LTV_QUARTERS)
        weight = float(mine["customers"].sum()) if not mine.is_empty() else 0.0
        if weight > 0:
            w = mine["customers"].cast(pl.Float64).to_numpy()
            value = {k: float(np.dot(mine[k].to_numpy(), w) / weight) for k in ("ltv", "ltv_low", "ltv_high")}
            margin = np.sum(np.stack([np.asarray(c) for c in mine["curve"]]) * w[:, None], axis=0) / weight
            pooled_weight += weight
            pooled_value += value["ltv"] * weight
        else:
            value = {"ltv": math.nan, "ltv_low": math.nan, "ltv_high": math.nan}
            margin = np.zeros(params.ltv.horizon_months)
        known = {k: (None if math.isnan(v) else v) for k, v in value.items()}
        channels[str(name)] = ChannelBasis(
            str(name), curve, known["ltv"], known["ltv_low"], known["ltv_high"],
            margin_curve=tuple(float(v) for v in margin),
            history=group.select("period", period_label=grain_label(pl.col("period"), "quarter", fiscal),
                                 direct_spend=pl.col("direct_spend").cast(pl.Float64),
                                 new_customers="new_customers"))
    if not channels:
        raise PlanError("no channel has direct spend in a complete quarter: nothing to fit a response curve to")
    pooled = pooled_value / pooled_weight if pooled_weight else None
    for name, basis in list(channels.items()):
        if basis.ltv is None:
            notes.append(words.CHANNEL_NOTE.format(channel=name, reason=words.NO_LTV_YET))
            channels[name] = ChannelBasis(name, basis.curve, pooled, pooled, pooled,
                                          _blend_margin(channels), basis.history)
    starts = {
        "last_quarter": _start_lines(months, names, channels, last_period, 1, fiscal),
        "trailing_average": _start_lines(months, names, channels, last_period, trailing_quarters, fiscal),
    }
    return PlanningBasis(as_of, last_period, quarter_label(add_quarters(last_period, 1), fiscal), channels, starts,
                         params.band_edges, params.ltv.interval, params.ltv.method, pooled, notes, fiscal)


def _blend_margin(channels: Mapping[str, ChannelBasis]) -> tuple[float, ...]:
    known = [np.asarray(b.margin_curve) for b in channels.values() if b.ltv is not None and any(b.margin_curve)]
    return tuple(float(v) for v in np.mean(known, axis=0)) if known else ()


def _start_lines(months: pl.DataFrame, names: Mapping[str, str], channels: Mapping[str, ChannelBasis],
                 last_period: date, quarters: int, fiscal_year_start: int = 1) -> tuple[PlanLine, ...]:
    """Spend per (channel, category) over the last ``quarters`` quarters with spend, per quarter, to the cent."""
    first = add_quarters(last_period, -(quarters - 1))
    window = months.filter((pl.col("month") >= first) & (pl.col("month") < add_quarters(last_period, 1)))
    covered = window.select(grain_start(pl.col("month"), "quarter", fiscal_year_start)).n_unique()
    totals = window.group_by("channel", "category").agg(pl.col("amount").sum())
    lines = []
    for channel, category, amount in totals.iter_rows():
        name = SHARED if channel is None else names.get(channel_name_key(channel), channel)
        if name != SHARED and name not in channels:
            name = SHARED  # a channel with spend but nothing to project: its cost still counts, as shared
        lines.append(PlanLine(name, category, to_cents(max(amount / covered, Decimal(0)))))
    return check_lines(lines, channels)


# ---------------------------------------------------------------------------------------------
# Projection
# ---------------------------------------------------------------------------------------------

def _quantiles(values: np.ndarray, interval: float) -> tuple[float | None, float | None]:
    finite = values[np.isfinite(values)]
    if finite.size < values.size * 0.5 or finite.size == 0:
        return None, None
    low_q = (1 - interval) / 2
    return float(np.quantile(finite, low_q)), float(np.quantile(finite, 1 - low_q))


def _ltv_draws(basis: ChannelBasis, z: np.ndarray, z_q: float) -> np.ndarray:
    """LTV draws from the model's interval read as normal quantiles (two-piece for a skewed interval)."""
    ltv = basis.ltv or 0.0
    low = basis.ltv_low if basis.ltv_low is not None else ltv
    high = basis.ltv_high if basis.ltv_high is not None else ltv
    sd_low, sd_high = (ltv - low) / z_q, (high - ltv) / z_q
    return np.clip(np.where(z < 0, ltv + z * sd_low, ltv + z * sd_high), 0.0, None)


def project(basis: PlanningBasis, lines: Iterable[PlanLine], *, name: str = "plan", draws: int = DRAWS,
            seed: int = SEED) -> Projection:
    """Projected customers, CAC, LTV:CAC with band, payback and ROI of a plan, with ranges."""
    checked = check_lines(lines, basis.channels)
    direct = channel_spend(checked)
    spend = sum((ln.amount for ln in checked if ln.category in MARKETING_CATEGORIES), Decimal(0))
    spend_sm = sum((ln.amount for ln in checked), Decimal(0))
    shared = sum((ln.amount for ln in checked if ln.channel == SHARED and ln.category in MARKETING_CATEGORIES),
                 Decimal(0))
    rng = np.random.default_rng(seed)
    z_q = float(stats.norm.ppf(0.5 + basis.interval / 2))
    z_ltv = rng.standard_normal(draws)
    names = list(basis.channels)
    customers_point = np.zeros(len(names))
    customers_draws = np.zeros((draws, len(names)))
    ltv_point = np.zeros(len(names))
    ltv_draws = np.zeros((draws, len(names)))
    horizon = max((len(b.margin_curve) for b in basis.channels.values()), default=0)
    margins = np.zeros((len(names), horizon))
    rows = []
    warnings: list[str] = []
    beyond: list[str] = []
    for i, channel in enumerate(names):
        b = basis.channels[channel]
        s = float(direct.get(channel, Decimal(0)))
        customers_point[i] = float(b.curve.customers(s))
        customers_draws[:, i] = b.curve.sample(s, draws, rng)
        ltv_point[i] = b.ltv or 0.0
        ltv_draws[:, i] = _ltv_draws(b, z_ltv, z_q)
        margins[i, :len(b.margin_curve)] = b.margin_curve
        low, high = _quantiles(customers_draws[:, i], basis.interval)
        if b.curve.warning and s > 0:
            warnings.append(words.CHANNEL_NOTE.format(channel=channel, reason=b.curve.warning))
        seen = b.history["direct_spend"].max()
        if s > 0 and isinstance(seen, float) and s > EXTRAPOLATION * seen:
            beyond.append(f"{channel} {s / seen:.1f}x")
        rows.append({"channel": channel, "spend": Decimal(str(direct.get(channel, Decimal(0)))),
                     "customers": customers_point[i], "customers_low": low, "customers_high": high,
                     "cpa": s / customers_point[i] if customers_point[i] > 0 else None,
                     "marginal_cac": b.curve.marginal_cac(s) if s > 0 else b.curve.marginal_cac(1e-9),
                     "ltv": b.ltv, "curve": b.curve.kind, "r_squared": b.curve.r_squared,
                     "warning": b.curve.warning})
    if beyond:
        warnings.append(words.EXTRAPOLATED.format(channels=", ".join(beyond)))
    spend_f, spend_sm_f = float(spend), float(spend_sm)
    total = customers_point.sum()
    total_draws = customers_draws.sum(axis=1)
    created = float(customers_point @ ltv_point)
    created_draws = np.sum(customers_draws * ltv_draws, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cac_draws = np.where(total_draws > 0, spend_f / total_draws, np.inf)
        cac_sm_draws = np.where(total_draws > 0, spend_sm_f / total_draws, np.inf)
        ltv_blend_draws = np.where(total_draws > 0, created_draws / total_draws, np.nan)
        ratio_draws = created_draws / spend_f if spend_f > 0 else np.full(draws, np.nan)
        roi_draws = (created_draws - spend_f) / spend_f if spend_f > 0 else np.full(draws, np.nan)
        # Blended margin curve per draw: each channel's curve scaled by its LTV draw, weighted by its customers.
        scale = np.where(ltv_point > 0, ltv_draws / np.where(ltv_point > 0, ltv_point, 1.0), 0.0)
        weights = customers_draws * scale / np.where(total_draws > 0, total_draws, 1.0)[:, None]
        blended = weights @ margins
    cac = spend_f / total if total > 0 else None
    ratio = created / spend_f if spend_f > 0 else None
    payback_point = None
    if cac is not None and horizon:
        first = payback_draws(np.cumsum((customers_point / total) @ margins)[None, :], np.array([cac]))[0]
        payback_point = float(first) if np.isfinite(first) else None
    paybacks = payback_draws(np.cumsum(blended, axis=1), cac_draws) if horizon else np.full(draws, np.inf)
    figures = {
        "customers": Range(float(total), *_quantiles(total_draws, basis.interval)),
        "cac": Range(cac, *_quantiles(cac_draws, basis.interval)),
        "cac_sm": Range(spend_sm_f / total if total > 0 else None, *_quantiles(cac_sm_draws, basis.interval)),
        "ltv": Range(created / total if total > 0 else None, *_quantiles(ltv_blend_draws, basis.interval)),
        "ltv_cac": Range(ratio, *_quantiles(ratio_draws, basis.interval)),
        "payback_months": Range(payback_point, *_quantiles(paybacks, basis.interval)),
        "roi": Range((created - spend_f) / spend_f if spend_f > 0 else None, *_quantiles(roi_draws, basis.interval)),
        "value_created": Range(created - spend_f, *_quantiles(created_draws - spend_f, basis.interval)),
    }
    frame = pl.DataFrame(rows, schema={"channel": pl.String, "spend": pl.Decimal(18, 2), "customers": pl.Float64,
                                       "customers_low": pl.Float64, "customers_high": pl.Float64,
                                       "cpa": pl.Float64, "marginal_cac": pl.Float64, "ltv": pl.Float64,
                                       "curve": pl.String, "r_squared": pl.Float64, "warning": pl.String})
    return Projection(name, basis.period, checked, frame, spend, spend_sm, shared, figures,
                      band_of(ratio, basis.band_edges), warnings)


def curve_grid(basis: PlanningBasis, channel: str, up_to: float | None = None, points: int = 60) -> pl.DataFrame:
    """A channel's response curve over spend 0 .. ``up_to`` (default 1.5x its largest past quarter):
    spend, customers, and the prediction range (low, high) at the basis's interval."""
    b = basis.channels[channel]
    top = up_to or 1.5 * float(b.history["direct_spend"].max() or 0.0)  # type: ignore[arg-type]
    spend = np.linspace(0.0, max(top, 1.0), points)
    z = float(stats.norm.ppf(0.5 + basis.interval / 2))
    customers = b.curve.customers(spend)
    sd = np.array([b.curve.prediction_sd(float(v)) for v in spend])
    return pl.DataFrame({"spend": spend, "customers": customers, "low": np.clip(customers - z * sd, 0.0, None),
                         "high": customers + z * sd})


# ---------------------------------------------------------------------------------------------
# Allocation and goal seek on a plan
# ---------------------------------------------------------------------------------------------

def _ltvs(basis: PlanningBasis) -> dict[str, float]:
    return {c: (b.ltv if b.ltv is not None else 0.0) for c, b in basis.channels.items()}


def _curves(basis: PlanningBasis) -> list[ResponseCurve]:
    return [b.curve for b in basis.channels.values()]


def _split_cents(total: Decimal, weights: Sequence[float]) -> list[Decimal]:
    """``total`` (cents) split in proportion to ``weights`` by largest remainder: the parts add up exactly."""
    cents = int((total / CENT).to_integral_value(rounding=ROUND_HALF_UP))
    weight_sum = math.fsum(weights)
    if cents == 0 or not weights:
        return [Decimal(0)] * len(weights)
    shares = [cents * w / weight_sum for w in weights] if weight_sum > 0 else [cents / len(weights)] * len(weights)
    base = [math.floor(s) for s in shares]
    order = sorted(range(len(shares)), key=lambda i: (-(shares[i] - base[i]), i))
    for i in order[:cents - sum(base)]:
        base[i] += 1
    return [Decimal(b) * CENT for b in base]


def with_channel_spend(basis: PlanningBasis, lines: Iterable[PlanLine], spend: Mapping[str, float],
                       total: Decimal) -> list[PlanLine]:
    """The plan with each channel's marketing lines rescaled to ``spend`` (summing exactly to ``total``).

    A channel keeps its category mix; one with no marketing lines takes its mix from the
    trailing-average start, else all of it goes to digital advertising. Sales and shared
    lines are unchanged.
    """
    checked = check_lines(lines, basis.channels)
    names = list(basis.channels)
    amounts = dict(zip(names, _split_cents(total, [max(spend.get(c, 0.0), 0.0) for c in names]), strict=True))
    out = [ln for ln in checked if ln.channel == SHARED or ln.category not in MARKETING_CATEGORIES]
    for channel in names:
        mix = [ln for ln in checked if ln.channel == channel and ln.category in MARKETING_CATEGORIES
               and ln.amount > 0]
        if not mix:
            mix = [ln for ln in basis.starts["trailing_average"]
                   if ln.channel == channel and ln.category in MARKETING_CATEGORIES and ln.amount > 0]
        if not mix:
            mix = [PlanLine(channel, "digital_advertising", Decimal(1))]
        parts = _split_cents(amounts[channel], [float(ln.amount) for ln in mix])
        out.extend(PlanLine(channel, ln.category, part) for ln, part in zip(mix, parts, strict=True))
    return list(check_lines(out, basis.channels))


#: Default bounds of an optimised split, as fractions of each channel's spend in the plan: the
#: curves are trusted near the spend they were fitted on, so (as in common media-mix practice)
#: no channel moves by more than half unless the user widens the bounds.
CHANGE_LIMITS = (0.5, 1.5)
#: Default cap of a goal-seek plan per channel, as a multiple of its largest quarter in the history.
TRUSTED_MULTIPLE = 2.0


def default_bounds(basis: PlanningBasis, lines: Iterable[PlanLine],
                   limits: tuple[float, float] = CHANGE_LIMITS) -> tuple[dict[str, float], dict[str, float]]:
    """Per-channel minimum and maximum spend: ``limits`` times the plan's spend on the channel."""
    current = channel_spend(check_lines(lines, basis.channels))
    low, high = limits
    return ({c: float(current.get(c, Decimal(0))) * low for c in basis.channels},
            {c: float(current.get(c, Decimal(0))) * high for c in basis.channels})


def trusted_maximum(basis: PlanningBasis, multiple: float = TRUSTED_MULTIPLE) -> dict[str, float]:
    """Per channel, ``multiple`` times its largest quarter of direct spend in the history."""
    return {c: multiple * float(b.history["direct_spend"].max() or 0.0)  # type: ignore[arg-type]
            for c, b in basis.channels.items()}


@dataclass(frozen=True)
class Bounds:
    """Per-channel spend bounds and locks for allocation and goal seek (``None``: the defaults)."""

    minimum: Mapping[str, float] | None = None
    maximum: Mapping[str, float] | None = None
    locked: Sequence[str] = ()


def _locks(basis: PlanningBasis, lines: Sequence[PlanLine], locked: Iterable[str]) -> dict[str, float]:
    current = channel_spend(lines)
    unknown = sorted(set(locked) - set(basis.channels))
    if unknown:
        raise PlanError(f"cannot lock unknown channels {unknown}; valid: {list(basis.channels)}")
    return {c: float(current.get(c, Decimal(0))) for c in locked}


def optimise(basis: PlanningBasis, lines: Iterable[PlanLine], *, total: Decimal | float | None = None,
             bounds: Bounds | None = None) -> tuple[list[PlanLine], planner.Allocation]:
    """The split of the plan's channel spend (or ``total``) that maximises projected LTV minus spend.

    Locked channels keep the plan's spend; the others stay within ``bounds`` (default
    :data:`CHANGE_LIMITS` of the plan's spend, widened when ``total`` needs it).
    """
    checked = check_lines(lines, basis.channels)
    bounds = bounds or Bounds()
    amount = to_cents(total) if total is not None else sum(channel_spend(checked).values(), Decimal(0))
    minimum, maximum = default_bounds(basis, checked)
    if bounds.minimum is not None:
        minimum = dict(bounds.minimum)
    if bounds.maximum is not None:
        maximum = dict(bounds.maximum)
    elif bounds.minimum is None and total is not None:
        # A total outside the default bounds' reach scales them with it.
        current = float(sum(channel_spend(checked).values(), Decimal(0)))
        factor = float(amount) / current if current > 0 else 1.0
        minimum = {c: v * min(factor, 1.0) for c, v in minimum.items()}
        maximum = {c: v * max(factor, 1.0) if v > 0 else math.inf for c, v in maximum.items()}
    allocation = planner.allocate(_curves(basis), float(amount), _ltvs(basis), minimum=minimum, maximum=maximum,
                                  locked=_locks(basis, checked, bounds.locked))
    return with_channel_spend(basis, checked, allocation.spend, amount), allocation


@dataclass(frozen=True)
class GoalSeek:
    """A goal-seek answer: the plan, its total channel spend, and what limited it."""

    lines: list[PlanLine]
    channel_total: Decimal
    limited_by_bounds: bool
    note: str


def _goal_bounds(basis: PlanningBasis, bounds: Bounds | None) -> tuple[dict[str, float], dict[str, float]]:
    """Goal seek's bounds: the user's, else no minimum and the trusted maximum."""
    bounds = bounds or Bounds()
    maximum = dict(bounds.maximum) if bounds.maximum is not None else trusted_maximum(basis)
    return (dict(bounds.minimum) if bounds.minimum is not None else {}), maximum


def budget_for_ratio(basis: PlanningBasis, lines: Iterable[PlanLine], target: float = 3.0, *,
                     bounds: Bounds | None = None) -> GoalSeek:
    """The largest plan (optimally split) whose projected LTV:CAC stays at or above ``target``.

    The plan's shared marketing lines count in CAC as they are (``shared_cost``); sales lines
    do not (LTV:CAC is on fully loaded marketing CAC). Channels are capped by default at
    :data:`TRUSTED_MULTIPLE` times their largest quarter, beyond which the curves are not
    trusted; when the cap, not the target, stops the budget, the answer says so.
    Tolerance: within 0.1% of the crossing (``planner.goal_seek_budget``), rounded down to the cent.
    """
    if not (math.isfinite(target) and 0 < target <= 100):
        raise PlanError(f"target LTV:CAC {target!r}: expected a number above 0 and at most 100")
    checked = check_lines(lines, basis.channels)
    shared = float(sum((ln.amount for ln in checked if ln.channel == SHARED and ln.category in MARKETING_CATEGORIES),
                       Decimal(0)))
    bounds = bounds or Bounds()
    minimum, maximum = _goal_bounds(basis, bounds)
    locks = _locks(basis, checked, bounds.locked)
    total = planner.goal_seek_budget(_curves(basis), _ltvs(basis), target_ratio=target, shared_cost=shared,
                                     minimum=minimum, maximum=maximum, locked=locks)
    cap = sum(locks.get(c, maximum.get(c, math.inf)) for c in basis.channels)
    amount = Decimal(repr(total)).quantize(CENT, rounding="ROUND_FLOOR")
    limited = total >= cap * (1 - 1e-6)
    plan, _ = optimise(basis, checked, total=amount, bounds=Bounds(minimum, maximum, bounds.locked))
    note = (words.CAPPED_BY_BOUNDS if limited else words.LARGEST_AT_RATIO).format(target=f"{target:g}x")
    return GoalSeek(plan, amount, limited, note)


def budget_for_customers(basis: PlanningBasis, lines: Iterable[PlanLine], target: float, *,
                         bounds: Bounds | None = None) -> GoalSeek:
    """The smallest plan (optimally split) projected to acquire ``target`` new customers.

    Channels are capped as in :func:`budget_for_ratio`. Tolerance: within 0.1% of the
    smallest such budget (``planner.budget_for_customers``), rounded up to the cent.
    """
    if not (math.isfinite(target) and 1 <= target <= MAX_CUSTOMERS):
        raise PlanError(f"target new customers {target!r}: expected a number from 1 to {MAX_CUSTOMERS:,.0f}")
    checked = check_lines(lines, basis.channels)
    bounds = bounds or Bounds()
    minimum, maximum = _goal_bounds(basis, bounds)
    locks = _locks(basis, checked, bounds.locked)
    total = planner.budget_for_customers(_curves(basis), _ltvs(basis), target, minimum=minimum, maximum=maximum,
                                         locked=locks)
    amount = Decimal(repr(total)).quantize(CENT, rounding="ROUND_CEILING")
    plan, _ = optimise(basis, checked, total=amount, bounds=Bounds(minimum, maximum, bounds.locked))
    return GoalSeek(plan, amount, False, words.SMALLEST_FOR_CUSTOMERS.format(customers=f"{target:,.0f}"))


# ---------------------------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------------------------

FIGURES: dict[str, tuple[str, str]] = {
    "spend": ("Fully loaded marketing spend", "money"),
    "spend_sm": ("Sales and marketing spend", "money"),
    "customers": ("New customers", "count"),
    "cac": ("Fully loaded CAC", "money"),
    "ltv": ("LTV (gross margin)", "money"),
    "ltv_cac": ("LTV:CAC", "ratio"),
    "payback_months": ("Payback (months)", "months"),
    "roi": ("ROI", "percent"),
    "value_created": ("LTV created minus spend", "money"),
}
"""The figures a comparison shows, in order: label and unit."""


def compare(projections: Sequence[Projection]) -> pl.DataFrame:
    """Scenarios side by side, long: scenario, figure, label, unit, value, low, high, band."""
    rows = []
    for p in projections:
        for key, (label, unit) in FIGURES.items():
            if key in ("spend", "spend_sm"):
                amount = float(getattr(p, key))
                value = Range(amount, amount, amount)
            else:
                value = p.figures[key]
            rows.append({"scenario": p.name, "figure": key, "label": label, "unit": unit, "value": value.point,
                         "low": value.low, "high": value.high, "band": p.band if key == "ltv_cac" else None})
    return pl.DataFrame(rows, schema={"scenario": pl.String, "figure": pl.String, "label": pl.String,
                                      "unit": pl.String, "value": pl.Float64, "low": pl.Float64,
                                      "high": pl.Float64, "band": pl.String})


# ---------------------------------------------------------------------------------------------
# Saved scenarios
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scenario:
    """A named plan saved in the store."""

    name: str
    period: str
    kind: str
    note: str
    lines: tuple[PlanLine, ...]
    settings: dict[str, Any]
    updated_at: datetime | None = None


def check_name(name: str) -> str:
    clean = " ".join(str(name).split())
    if not clean:
        raise PlanError(words.NEEDS_A_NAME)
    if len(clean) > MAX_NAME:
        raise PlanError(f"scenario names are at most {MAX_NAME} characters; {clean[:20]!r}... has {len(clean)}")
    return clean


def save_scenario(store: Store, scenario: Scenario, *, overwrite: bool = False) -> Scenario:
    """Save a scenario in one transaction; PlanError if the name is taken and ``overwrite`` is false."""
    name = check_name(scenario.name)
    if scenario.kind not in KINDS:
        raise PlanError(f"unknown scenario kind {scenario.kind!r}; expected one of {KINDS}")
    for number, line in enumerate(scenario.lines, start=1):
        if line.category not in CATEGORIES or to_cents(line.amount) < 0 or not line.channel:
            raise PlanError(f"line {number}: {line} is not a valid plan line")
    lines = [(ln.channel, ln.category, to_cents(ln.amount)) for ln in scenario.lines]
    try:
        store.save_scenario(name, scenario.period, scenario.kind, scenario.note, scenario.settings, lines,
                            overwrite=overwrite)
    except ScenarioExists:
        raise PlanError(words.NAME_TAKEN.format(name=repr(name))) from None
    return load_scenario(store, name)


def list_scenarios(store: Store) -> pl.DataFrame:
    """Saved scenarios: name, period, kind, note, spend (all lines), lines, created_at, updated_at."""
    return store.list_scenarios()


def load_scenario(store: Store, name: str) -> Scenario:
    found = store.load_scenario(name)
    if found is None:
        names = store.scenario_names()
        raise PlanError(f"no scenario named {name!r}; saved scenarios: {names or 'none'}")
    (name, period, kind, note, settings, updated_at), lines = found
    return Scenario(name, period, kind, note or "",
                    tuple(PlanLine(c, k, Decimal(a).quantize(CENT)) for c, k, a in lines),
                    settings, updated_at)


def delete_scenario(store: Store, name: str) -> None:
    load_scenario(store, name)
    store.delete_scenario(name)


def projection_json(p: Projection) -> dict[str, Any]:
    """A projection in the CLI's stable JSON shape (money and numbers as ``finance.metrics.table.to_json``
    writes them: money as strings to the cent, half-up), ranges as objects."""
    cash, num = metrics.money, metrics.number
    money_figures = {"cac", "cac_sm", "ltv", "value_created"}
    figures = {}
    for key, value in p.figures.items():
        fmt = cash if key in money_figures else num
        figures[key] = {"value": fmt(value.point), "low": fmt(value.low), "high": fmt(value.high)}
    return {
        "scenario": p.name,
        "period": p.period,
        "spend": cash(p.spend), "spend_sm": cash(p.spend_sm), "shared": cash(p.shared),
        "figures": figures,
        "band": p.band,
        "channels": [{"channel": r["channel"], "spend": cash(r["spend"]), "customers": num(r["customers"], 2),
                      "customers_low": num(r["customers_low"], 2), "customers_high": num(r["customers_high"], 2),
                      "cpa": cash(r["cpa"]), "marginal_cac": cash(r["marginal_cac"]), "ltv": cash(r["ltv"]),
                      "curve": r["curve"], "r_squared": num(r["r_squared"]), "warning": r["warning"]}
                     for r in p.channels.iter_rows(named=True)],
        "lines": [{"channel": ln.channel, "category": ln.category, "amount": cash(ln.amount)} for ln in p.lines],
        "warnings": p.warnings,
    }
