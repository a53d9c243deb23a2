"""Customer lifetime value per acquisition cohort, on gross margin, by three methods.

Every method produces the same thing: for each cohort (acquisition period, and channel or
segment), the expected gross margin per acquired customer in each month since acquisition,
over the horizon. From that one curve come

    LTV     = sum over months t = 0 .. H-1 of margin(t) / (1 + d)^(t / 12)
    payback = the first month in which the cumulative (undiscounted) margin reaches the CAC

and, from parameter draws, the LTV's uncertainty interval. Months a cohort has already
lived are the observed margin; only the months after it are projected by the model:

- ``formula``: margin per alive customer-month x survival (1 - churn)^t, with the cohort's
  own observed margin rate and monthly churn (ARPA x gross margin % / churn, horizon-capped
  and discounted). Interval: churn drawn from its Beta posterior (Jeffreys prior).
- ``cohort``: survival from the shifted-beta-geometric model (Fader & Hardie 2007) fitted by
  maximum likelihood to the monthly retention of all cohorts of the group. A customer is
  retained in a month when they have revenue in it or any later month.
- ``bgnbd``: purchases from BG/NBD (Fader, Hardie & Lee 2005) and spend per purchase from
  Gamma-Gamma, fitted by maximum likelihood on weekly recency/frequency as of the as-of date.

docs/metrics.md gives each formula in words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

import numpy as np
import polars as pl

from finance.domain.assumptions import RANGE_WIDTH, check_ltv_inputs
from finance.ltv import words
from finance.ltv.groups import group_name
from finance.ltv.progress import Report, Tracker
from finance.store.dataset import (
    UNKNOWN,
    Dataset,
    Grain,
    Summary,
    acquired_customers,
    grain_label,
    grain_start,
    kept_margin,
    row_margin,
)

Method = Literal["auto", "formula", "cohort", "bgnbd"]
METHODS: tuple[Method, ...] = ("auto", "formula", "cohort", "bgnbd")
DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class LTVSettings:
    """The assumptions every LTV figure states alongside itself."""

    method: Method = "auto"
    default_gross_margin: Decimal = Decimal("0.70")
    """Gross margin % applied to revenue rows that carry neither a margin nor a cost."""
    annual_discount_rate: float = 0.10
    horizon_months: int = 36
    interval: float = RANGE_WIDTH
    """Width of the uncertainty interval (0.80: the 10th to the 90th percentile)."""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown LTV method {self.method!r}; valid: {', '.join(METHODS)}")
        check_ltv_inputs(self.default_gross_margin, self.annual_discount_rate, self.horizon_months)

    @property
    def discount_factors(self) -> np.ndarray:
        """1 / (1 + d)^(t/12) for months t = 0 .. H-1 (margin earned at the start of each month)."""
        months = np.arange(self.horizon_months)
        return np.power(1.0 + self.annual_discount_rate, -months / 12.0)


@dataclass
class LTVResult:
    """LTV per cohort, with the fitted model behind it."""

    method: Method
    time_unit: str
    params: dict[str, float]
    cohorts: pl.DataFrame
    """period, [dimension], customers, ltv, ltv_low, ltv_high, curve (margin per customer by month)."""
    notes: list[str] = field(default_factory=list)
    diagnostics: dict[str, float] = field(default_factory=dict)
    """How well the data supports the fit: customers, churn events, log-likelihood, ..."""
    fits: dict[tuple[str, ...], Any] = field(default_factory=dict)
    """Each stratum's ``finance.ltv.methods.StratumFit``."""
    models: dict[str, str] = field(default_factory=dict)
    """The model of each segment (formula, sbg, bgnbd)."""

    def explained(self) -> list[dict[str, Any]]:
        """Each stratum's model in business words: what a CFO needs to redo a projection."""
        from finance.ltv.methods import MODELS_BY_KEY

        out = []
        for stratum, fit in self.fits.items():
            method = MODELS_BY_KEY[fit.model]
            out.append({"segment": stratum[-1], "group": " / ".join(stratum), "model": fit.model,
                        "model_label": method.label, "source": fit.source, "customers": fit.customers,
                        "parameters": [{"name": what, "value": round(value, 6), "unit": unit}
                                       for what, value, unit in method.describe(fit)]})
        return out

    def group_name(self, stratum: tuple[str, ...]) -> str:
        """A stratum (or a segment, ``(segment,)``) as people call it (``finance.ltv.groups.group_name``):
        "Paid Search / DTC", "All customers" when the data records no segment."""
        return group_name(stratum, {s[-1] for s in self.fits} or {stratum[-1]})

    def fit_quality(self) -> list[dict[str, Any]]:
        """How well each group's model fits its customers, one row per stratum, for people.

        customer_group (in words), model_label, fitted_customers, fit_source (own fit, shrunk toward
        or pooled with another group) and log_likelihood: the log-likelihood of the group's own fit
        of its own customers' histories (higher, nearer zero, is a better fit; comparable only
        between models of the same customers); None for the churn formula, which has none, and for
        a group that uses another group's fit. ``diagnostics`` keeps the same figures by code name.
        """
        from finance.ltv.methods import MODELS_BY_KEY

        return [{"customer_group": self.group_name(stratum), "model_label": MODELS_BY_KEY[fit.model].label,
                 "fitted_customers": fit.customers, "fit_source": fit.source,
                 "log_likelihood": fit.log_likelihood if not fit.source.startswith("pooled") else None}
                for stratum, fit in self.fits.items()]


def last_complete_month(as_of: date) -> date:
    """The last month whose revenue is complete at ``as_of``: its own month only at month end."""
    next_day = date.fromordinal(as_of.toordinal() + 1)
    month = date(as_of.year, as_of.month, 1)
    if next_day.day == 1:
        return month
    return date(month.year - (month.month == 1), 12 if month.month == 1 else month.month - 1, 1)


def months_between(later: pl.Expr, earlier: pl.Expr) -> pl.Expr:
    """Whole calendar months from ``earlier``'s month to ``later``'s month."""
    return (later.dt.year() - earlier.dt.year()) * 12 + later.dt.month() - earlier.dt.month()


ACTIVITY_PARTITION_ROWS = 2_000_000
"""Above this many revenue rows, the customer-month sums are made for one partition of the
customers at a time, so they are never all in memory at once (a ledger's row count of them).
Each partition costs one pass over the ledger's customer ids (a hash, about 3 ns a row); at 1e7
rows, six partitions took no longer than one and a third of the peak memory."""


def customer_activity(data: Dataset, settings: LTVSettings, grain: Grain,
                      by: str | None, as_of: date, fiscal_year_start: int = 1) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per customer, and per cohort, breakdown, segment and age, what the LTV methods need.

    Returns ``(customers, margins)``:
    customers: customer_id, cohort (grain start; quarters of the fiscal year from ``fiscal_year_start``), dim,
    segment, acquired_month, age_observed (months
    from acquisition to the last complete month), last_age (age of the last month with
    revenue, null if none), margin_total, revenue_total;
    margins: cohort, dim, segment, age, margin (Float64): the margin of complete months, summed
    over the customers of each cohort, breakdown value and segment, by months since acquisition.

    Both come from the sums per customer and month of age. A ledger of more than
    ``ACTIVITY_PARTITION_ROWS`` rows has those made for one partition of the customers (by a hash
    of the id) at a time, each reduced to the two summaries before the next.
    """
    acquired = acquired_customers(data, extra=("billing_interval",)).with_columns(
        cohort=grain_start(pl.col("acquired_on"), grain, fiscal_year_start),
        acquired_month=pl.col("acquired_on").dt.month_start(),
        dim=breakdown(by),
    )
    complete = last_complete_month(as_of)
    base = (
        acquired.collect()
        .with_columns(age_observed=months_between(pl.lit(complete), pl.col("acquired_month")),
                      dim=pl.col("dim").fill_null(UNKNOWN))
        .filter(pl.col("age_observed") >= 0)
    )
    kept = data.summary_for(as_of)
    if kept is not None:
        summaries, margin = _kept_activity(kept, settings, grain, by, complete, fiscal_year_start)
    else:
        summaries, margin = _ledger_activity(data, settings, base)
    customers = billing_terms(
        base.join(summaries, on="customer_id", how="left")
        .with_columns(pl.col("margin_total", "revenue_total").fill_null(0.0))
    ).select("customer_id", "cohort", "dim", "segment", "acquired_month", "acquired_on", "age_observed",
             "last_age", "margin_total", "revenue_total", "payments", "amount_spread", "regular", "interval",
             "paid_through").sort("customer_id")  # one order for the same data: fits and sums repeat to the last bit
    return customers, margin.with_columns(pl.col("age").cast(pl.Int64)).sort("cohort", "dim", "segment", "age")


def breakdown(by: str | None) -> pl.Expr:
    """The column a breakdown groups by; channel by segment: the channel (the segment is in every key already)."""
    return pl.col("channel" if by == "channel_segment" else by) if by else pl.lit(None, pl.String)


def _kept_activity(kept: Summary, settings: LTVSettings, grain: Grain, by: str | None, complete: date,
                   fiscal_year_start: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``_ledger_activity`` from the store's summary of the ledger: the same frames, to the last bit."""
    rate = settings.default_gross_margin
    summaries = kept.customers.lazy().select(
        "customer_id",
        margin_total=kept_margin("margin_given", "revenue_no_margin", rate).cast(pl.Float64),
        revenue_total=pl.col("revenue_total").cast(pl.Float64),
        last_age=pl.col("last_age").cast(pl.Int64), payments=pl.col("payments").cast(pl.Int64),
        gap_median=pl.col("gap_median"), gap_spread=pl.col("gap_spread").cast(pl.Int64),
        amount_spread=pl.col("amount_spread"), last_revenue=pl.col("last_revenue").cast(pl.Float64),
        last_margin=kept_margin("last_margin_given", "last_revenue_no_margin", rate).cast(pl.Float64),
    ).collect()
    dim = breakdown(by)
    margin = (
        kept.margins.lazy().filter(pl.col("acquired_month") <= complete)
        .select(cohort=grain_start(pl.col("acquired_month"), grain, fiscal_year_start), dim=dim.fill_null(UNKNOWN),
                segment="segment", age="age", margin=kept_margin("margin_given", "revenue_no_margin", rate))
        .group_by("cohort", "dim", "segment", "age").agg(pl.col("margin").sum().cast(pl.Float64))
        .collect()
    )
    return summaries, margin


def _ledger_activity(data: Dataset, settings: LTVSettings, base: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per customer, their ledger's totals and months with revenue; per cohort, breakdown, segment and age, the
    margin: from the ledger's rows (in partitions of the customers when it is large)."""
    parts = max(1, math.ceil(data.revenue.select(pl.len()).collect().item() / ACTIVITY_PARTITION_ROWS))
    revenue = data.revenue
    if parts > 1:
        # Each row's partition, hashed once (two bytes a row), rather than once per partition.
        partition = (pl.col("customer_id").hash(_PARTITION_SEED) % parts).cast(pl.UInt16)
        revenue = revenue.with_columns(__part=pl.lit(revenue.select(partition).collect().to_series()))
    summaries, margins = [], []
    for part in range(parts):
        members, part_revenue = base, revenue
        if parts > 1:
            members = base.filter(partition == part)
            part_revenue = revenue.filter(pl.col("__part") == part)
        part_rows = part_revenue.select("customer_id", "date", "revenue",
                                        margin=row_margin(settings.default_gross_margin))
        # Only complete months are observed: revenue of the month still under way would be counted
        # as observed and projected again, and inflate the margin per alive month.
        # Sums stay decimal until the end: the store's summary makes the same figures from its own sums.
        months = (
            part_rows.join(members.lazy().select("customer_id", "acquired_month", "age_observed"),
                           on="customer_id", how="inner")
            .with_columns(age=months_between(pl.col("date"), pl.col("acquired_month")).clip(lower_bound=0))
            .filter(pl.col("age") <= pl.col("age_observed"))
            .group_by("customer_id", "age")
            .agg(pl.col("revenue").sum(), pl.col("margin").sum())
            .collect()
        )
        paid = months.filter(pl.col("revenue") > 0).sort("customer_id", "age")
        gap = pl.col("age").diff()
        summaries.append(months.group_by("customer_id").agg(
            margin_total=pl.col("margin").sum().cast(pl.Float64),
            revenue_total=pl.col("revenue").sum().cast(pl.Float64)).join(
            paid.with_columns(pl.col("revenue", "margin").cast(pl.Float64)).group_by("customer_id").agg(
                last_age=pl.col("age").last(), payments=pl.len().cast(pl.Int64),
                gap_median=gap.median(), gap_spread=gap.max() - gap.min(),
                amount_spread=pl.col("revenue").max() / pl.col("revenue").min(),
                last_revenue=pl.col("revenue").last(), last_margin=pl.col("margin").last()),
            on="customer_id", how="left"))
        margins.append(months.join(members.select("customer_id", "cohort", "dim", "segment"), on="customer_id")
                       .group_by("cohort", "dim", "segment", "age").agg(pl.col("margin").sum()))
        del months
    margin = pl.concat(margins).group_by("cohort", "dim", "segment", "age").agg(pl.col("margin").sum().cast(pl.Float64))
    return pl.concat(summaries), margin


_PARTITION_SEED = 20230101

INTERVAL_MONTHS = {"month": 1, "quarter": 3, "half-year": 6, "year": 12}
REGULAR_SHARE = 0.6
"""A segment whose repeat payers mostly pay at a steady interval and amount is a subscription business."""
"""Billing terms a customer may pay for at once, in months (the customers file's ``billing_interval``)."""
TERM_RATIO = 0.6
"""A single payment of at least this share of n monthly prices reads as an n-month term (see billing_terms)."""


def billing_terms(customers: pl.DataFrame) -> pl.DataFrame:
    """Each customer's billing interval in months and the last month of age they have paid for.

    A customer on annual billing pays once for twelve months and is alive for all of them, not
    only in the month of the invoice. The interval is, in order:

    1. the customers file's ``billing_interval`` (month, quarter, half-year, year), when given;
    2. in a subscription segment (most customers who paid three times or more pay a steady amount
       at a steady gap), detected from the gaps between the months a customer paid in: a gap of
       about 3, 6 or 12 months (steady over three payments or more, or one gap between two) is a
       quarterly, half-yearly or annual term, anything else monthly;
    3. for a customer of a subscription segment with one payment so far, from its size: where the
       segment has customers on n-month terms, a payment of at least ``TERM_RATIO`` x n x the
       segment's median monthly price (of its monthly payers) is an n-month term, and a payment of
       7.2 monthly prices or more is an annual term even before anyone has renewed one;
    4. otherwise one month: a repeat-purchase customer is alive in the months they buy in.

    Adds ``regular`` (paid at a steady gap and amount: what a subscription looks like), ``interval``
    and ``paid_through`` = age of the last payment + interval - 1 (null for a customer who never paid).
    """
    declared = (pl.col("billing_interval").replace_strict(INTERVAL_MONTHS, default=None, return_dtype=pl.Int64)
                if "billing_interval" in customers.columns else pl.lit(None, pl.Int64))
    g = pl.col("gap_median")
    repeat = pl.col("payments") >= 3  # two gaps at least: one gap alone shows no rhythm
    steady = repeat & (pl.col("gap_spread").fill_null(0) <= 1)
    frame = customers.with_columns(__declared=declared, regular=(steady & (pl.col("amount_spread") <= 1.5))
                                   .fill_null(False))
    # A subscription segment: most customers who have paid three times or more pay steadily.
    subscription = (pl.col("regular").filter(repeat).mean().over("segment") >= REGULAR_SHARE).fill_null(False)
    detected = (pl.when(~subscription | (pl.col("payments") < 2)).then(None)
                .when(g.is_between(10, 14) & (steady | (pl.col("payments") == 2))).then(12)
                .when(g.is_between(5, 7) & (steady | (pl.col("payments") == 2))).then(6)
                .when(g.is_between(2.5, 4) & (steady | (pl.col("payments") == 2))).then(3)
                .otherwise(1))
    frame = frame.with_columns(__detected=detected.cast(pl.Int64), __subscription=subscription)
    known = pl.coalesce("__declared", "__detected")
    monthly_price = pl.col("last_revenue").filter(known == 1).median().over("segment")
    term_share = {m: (known == m).cast(pl.Float64).sum().over("segment") /
                  known.is_not_null().cast(pl.Float64).sum().over("segment") for m in (12, 6, 3)}
    ratio = pl.col("last_revenue") / monthly_price
    # A subscription segment whose first payment is 7 or more monthly prices is an annual
    # prepayment even before any annual payer has renewed (a young company).
    by_size = pl.lit(1, pl.Int64)
    for months in (3, 6, 12):  # the largest term that fits wins
        evidence = term_share[months] >= 0.02
        if months == 12:
            evidence = evidence | pl.col("__subscription")
        by_size = pl.when(evidence & pl.col("__subscription") & (ratio >= TERM_RATIO * months)).then(months) \
            .otherwise(by_size)
    interval = pl.coalesce("__declared", "__detected",
                           pl.when(pl.col("payments") == 1).then(by_size), pl.lit(1, pl.Int64))
    return frame.with_columns(interval=interval).with_columns(
        paid_through=pl.col("last_age") + pl.col("interval") - 1,
        payments=pl.col("payments").fill_null(0)).drop("__declared", "__detected", "__subscription")


def observed_curves(margins: pl.DataFrame, keys: list[str], horizon: int) -> dict[tuple[Any, ...], np.ndarray]:
    """Observed margin by age, summed per cohort key (not yet divided by customers)."""
    frame = margins.filter(pl.col("age") < horizon).group_by(*keys, "age").agg(pl.col("margin").sum())
    curves: dict[tuple[Any, ...], np.ndarray] = {}
    for row in frame.iter_rows(named=True):
        key = tuple(row[k] for k in keys)
        curve = curves.setdefault(key, np.zeros(horizon))
        curve[row["age"]] += row["margin"]
    return curves


def model_by_shape(customers: pl.DataFrame) -> tuple[dict[str, str], dict[str, str]]:
    """The model each segment's data looks like, and why: subscriptions (steady payments) take the
    sBG, repeat purchases (irregular ones) BG/NBD. Returns (model by segment, reason by segment)."""
    shape = customers.filter(pl.col("payments") >= 3).group_by("segment").agg(
        repeaters=pl.len(), regular=pl.col("regular").mean())
    models, reasons = {}, {}
    for segment in customers.get_column("segment").unique(maintain_order=True).to_list():
        row = shape.filter(pl.col("segment") == segment)
        if row.is_empty():
            models[segment] = "sbg"
            reasons[segment] = words.NO_REPEAT_PAYERS
            continue
        regular = float(row.get_column("regular")[0])
        if regular >= REGULAR_SHARE:
            models[segment] = "sbg"
            reasons[segment] = words.STEADY_PAYERS.format(share=f"{regular:.0%}")
        else:
            models[segment] = "bgnbd"
            reasons[segment] = words.IRREGULAR_PAYERS.format(share=f"{regular:.0%}")
    return models, reasons


def cohort_ltv(data: Dataset, *, grain: Grain = "quarter", by: str | None = None, as_of: date,
               settings: LTVSettings, errors: dict[tuple[str, str], Any] | None = None,
               models: dict[str, str] | None = None, fiscal_year_start: int = 1,
               progress: Report | None = None) -> LTVResult:
    """LTV per acquisition cohort by the configured method, segment by segment (``finance.ltv.strata``).

    ``models`` fixes the model of each segment for ``auto`` (from a back-test); without it, ``auto``
    chooses by the shape of each segment's payments (``model_by_shape``). ``errors`` gives each
    (model, segment)'s measured model error (``finance.ltv.strata.ModelError``) for the ranges. Cohorts are
    months or the quarters of a fiscal year starting in ``fiscal_year_start`` (``grain_start``).
    ``progress`` hears before each stratum's fit and projection and at the end how far the
    computation is and the estimate of the time left (``finance.ltv.progress``).
    """
    from finance.ltv import strata  # SciPy: imported on demand
    from finance.ltv.methods import MODEL_OF_METHOD, MODELS_BY_KEY
    from finance.ltv.models import rfm_summary

    customers, margins = customer_activity(data, settings, grain, by, as_of, fiscal_year_start)
    keys = ["cohort", "dim", *(["segment"] if by == "channel_segment" else [])]
    if customers.is_empty():
        empty = pl.DataFrame(schema={"cohort": pl.Date, "dim": pl.String,
                                     **({"segment": pl.String} if "segment" in keys else {}), "customers": pl.UInt32,
                                     "ltv": pl.Float64, "ltv_low": pl.Float64, "ltv_high": pl.Float64,
                                     "curve": pl.List(pl.Float64), "cumulative_low": pl.List(pl.Float64),
                                     "cumulative_high": pl.List(pl.Float64), **_RANGE_SCHEMA})
        return LTVResult(settings.method, "month", {}, empty, [words.NO_CUSTOMERS])
    reasons: dict[str, str] = {}
    if settings.method == "auto":
        chosen, reasons = model_by_shape(customers)
        if models:
            for segment, model in models.items():
                if segment in chosen:
                    chosen[segment] = model
                    reasons[segment] = words.MODEL_LOWEST_ERROR.format(model=MODELS_BY_KEY[model].label)
    else:
        chosen = {s: MODEL_OF_METHOD[settings.method] for s in customers.get_column("segment").unique().to_list()}
    if any(MODELS_BY_KEY[model].uses_purchases for model in chosen.values()):
        kept = data.summary_for(as_of)
        rfm = (kept_purchase_history(kept, as_of) if kept is not None else
               rfm_summary(data.revenue.filter(pl.col("revenue") > 0), customer="customer_id", date="date",
                           value="revenue", as_of=as_of))
        customers = strata.add_purchase_history(customers, rfm.rename({"customer": "customer_id"}, strict=False))
    segments = set(chosen)
    tracker = Tracker(strata.planned_steps(customers, chosen, by is not None), progress,  # type: ignore[arg-type]
                      customers.height, lambda stratum: group_name(stratum, segments)) \
        if progress is not None else None
    fits, notes = strata.fit_strata(customers, chosen, by is not None, tracker)  # type: ignore[arg-type]
    result = strata.project_strata(customers, observed_curves(margins, keys, settings.horizon_months), keys,
                                   fits, settings.discount_factors, errors or {}, by is not None,  # type: ignore[arg-type]
                                   tracker)
    if tracker is not None:
        tracker.finish()
    cohorts = _cohort_frame(result, settings)
    params = {}
    for stratum, fit in fits.items():
        label = " / ".join(stratum)
        params.update({f"{label}: {name}": value for name, value in fit.params.items()})
    diagnostics = {f"{' / '.join(stratum)}: customers": float(fit.customers) for stratum, fit in fits.items()}
    diagnostics.update({f"{' / '.join(stratum)}: log_likelihood": fit.log_likelihood
                        for stratum, fit in fits.items() if fit.log_likelihood is not None})
    out = LTVResult(settings.method, "month", params, cohorts,
                    notes + [words.GROUP_NOTE.format(group=group_name((k,), segments), reason=v)
                             for k, v in reasons.items()]
                    if settings.method == "auto" else notes, diagnostics)
    out.fits = fits
    out.models = {stratum[-1]: fit.model for stratum, fit in fits.items()}
    return out


def kept_purchase_history(kept: Summary, as_of: date, time_unit_days: float = 7.0) -> pl.DataFrame:
    """``finance.ltv.models.rfm_summary`` of the positive revenue rows, from the store's summary of the ledger:
    the same frame (customer_id, first_purchase, frequency, recency, T, monetary_value), to the last bit."""
    buyers = kept.customers.lazy().filter(pl.col("first_purchase").is_not_null())
    if kept.acquired_by is not None:
        buyers = buyers.filter(pl.col("acquired_on") <= kept.acquired_by)
    frequency = (pl.col("purchase_days") - 1).cast(pl.Int64)
    repeat_spend = pl.col("repeat_value").cast(pl.Float64) / frequency
    return buyers.select(
        "customer_id", "first_purchase", frequency.alias("frequency"),
        ((pl.col("last_purchase") - pl.col("first_purchase")).dt.total_days().cast(pl.Float64)
         / time_unit_days).alias("recency"),
        ((pl.lit(as_of, dtype=pl.Date) - pl.col("first_purchase")).dt.total_days().cast(pl.Float64)
         / time_unit_days).alias("T"),
        pl.when(frequency > 0).then(repeat_spend).otherwise(0.0).cast(pl.Float64).alias("monetary_value"),
    ).sort("customer_id").collect()


_RANGE_SCHEMA: dict[str, Any] = {"ltv_observed": pl.Float64, "ltv_future": pl.Float64, "ltv_sigma": pl.Float64}


def _cohort_frame(result: Any, settings: LTVSettings) -> pl.DataFrame:
    """LTV, its interval and its curves per cohort key from the strata's projection."""
    from finance.ltv.strata import lognormal_quantile

    discount = settings.discount_factors
    low_q, high_q = (1 - settings.interval) / 2, 1 - (1 - settings.interval) / 2
    rows = []
    for i, rec in enumerate(result.keys.iter_rows(named=True)):
        observed, future = result.observed[i], result.future[i]
        seen = float(observed @ discount)
        value = float(result.future_value[i])
        sigma = math.sqrt(math.log1p(result.variance[i] / value**2)) if value > 0 else 0.0
        low, high = (lognormal_quantile(seen, value, sigma, q) for q in (low_q, high_q))
        cumulative_seen, cumulative_future = np.cumsum(observed), np.cumsum(future)
        factor_low = (low - seen) / value if value > 0 else 1.0
        factor_high = (high - seen) / value if value > 0 else 1.0
        rows.append({**rec, "ltv": seen + value, "ltv_low": low, "ltv_high": high,
                     "curve": (observed + future).tolist(),
                     "cumulative_low": (cumulative_seen + factor_low * cumulative_future).tolist(),
                     "cumulative_high": (cumulative_seen + factor_high * cumulative_future).tolist(),
                     "ltv_observed": seen, "ltv_future": value, "ltv_sigma": sigma})
    schema: dict[str, Any] = {**dict(result.keys.schema), "ltv": pl.Float64, "ltv_low": pl.Float64,
                              "ltv_high": pl.Float64, "curve": pl.List(pl.Float64),
                              "cumulative_low": pl.List(pl.Float64), "cumulative_high": pl.List(pl.Float64),
                              **_RANGE_SCHEMA}
    return pl.DataFrame(rows, schema=schema)


def cohort_margin_matrix(data: Dataset, *, grain: Grain = "quarter", as_of: date,
                         settings: LTVSettings | None = None, fiscal_year_start: int = 1) -> pl.DataFrame:
    """Observed gross margin per acquired customer by months since acquisition, per cohort.

    Only ages every customer of the cohort has fully lived are shown (a cohort acquired over
    a quarter is complete at an age when its last month's customers have reached it), so a
    young cohort's row stops where its data stops rather than trailing off.
    Columns: cohort, cohort_label, age, customers, margin_per_customer,
    cumulative_margin_per_customer.
    """
    settings = settings or LTVSettings()
    data = data.as_of(as_of)
    customers, margins = customer_activity(data, settings, grain, None, as_of, fiscal_year_start)
    schema = {"cohort": pl.Date, "cohort_label": pl.String, "age": pl.Int64, "customers": pl.Int64,
              "margin_per_customer": pl.Float64, "cumulative_margin_per_customer": pl.Float64}
    if customers.is_empty():
        return pl.DataFrame(schema=schema)
    sizes = customers.group_by("cohort").agg(customers=pl.len().cast(pl.Int64),
                                            complete_age=pl.col("age_observed").min())
    margin = margins.group_by("cohort", "age").agg(margin=pl.col("margin").sum())
    grid = sizes.with_columns(age=pl.int_ranges(0, pl.col("complete_age") + 1)).explode("age").with_columns(
        pl.col("age").cast(pl.Int64))
    label = grain_label(pl.col("cohort"), grain, fiscal_year_start)
    return (
        grid.join(margin.with_columns(pl.col("age").cast(pl.Int64)), on=["cohort", "age"], how="left")
        .sort("cohort", "age")
        .with_columns(margin_per_customer=pl.col("margin").fill_null(0.0) / pl.col("customers"))
        .with_columns(cumulative_margin_per_customer=pl.col("margin_per_customer").cum_sum().over("cohort"),
                      cohort_label=label)
        .select(list(schema))
    )


def payback_months(curve: list[float] | np.ndarray, cac: float | None) -> int | None:
    """Months until the cumulative (undiscounted) margin per customer reaches the CAC.

    Month 1 is the acquisition month. None when the CAC is unknown or not recovered within
    the horizon; 0 when there is no CAC to recover.
    """
    if cac is None or math.isnan(cac):
        return None
    if cac <= 0:
        return 0
    month = payback_draws(np.cumsum(np.asarray(curve, dtype=float))[None, :], np.array([cac]))[0]
    return int(month) if math.isfinite(month) else None


def payback_draws(cumulative: np.ndarray, cac: np.ndarray) -> np.ndarray:
    """The payback rule for many rows at once: the first month (1-based) in which each row of
    ``cumulative`` (rows x months of cumulative margin per customer) reaches its CAC; inf if never."""
    reached = cumulative >= (cac[:, None] - 1e-9)
    first = np.argmax(reached, axis=1).astype(float) + 1
    return np.where(reached.any(axis=1), first, np.inf)
