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

from finance.cac import acquired_customers
from finance.dataset import UNKNOWN, Dataset, Grain, grain_start

Method = Literal["formula", "cohort", "bgnbd"]
METHODS: tuple[Method, ...] = ("formula", "cohort", "bgnbd")
DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class LTVSettings:
    """The assumptions every LTV figure states alongside itself."""

    method: Method = "formula"
    default_gross_margin: Decimal = Decimal("0.70")
    """Gross margin % applied to revenue rows that carry neither a margin nor a cost."""
    annual_discount_rate: float = 0.10
    horizon_months: int = 36
    interval: float = 0.80
    """Width of the uncertainty interval (0.80: the 10th to the 90th percentile)."""
    draws: int = 200
    seed: int = 20240101

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown LTV method {self.method!r}; valid: {', '.join(METHODS)}")
        if not 1 <= self.horizon_months <= 600:
            raise ValueError("the LTV horizon must be 1 to 600 months")
        if not 0 <= self.annual_discount_rate < 1:
            raise ValueError("the annual discount rate must be at least 0 and below 1")
        if not 0 <= self.default_gross_margin <= 1:
            raise ValueError("the default gross margin must be a fraction from 0 to 1")

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
                      by: str | None, as_of: date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per customer, and per cohort, breakdown, segment and age, what the LTV methods need.

    Returns ``(customers, margins)``:
    customers: customer_id, cohort (grain start), dim, segment, acquired_month, age_observed (months
    from acquisition to the last complete month), last_age (age of the last month with
    revenue, null if none), margin_total, revenue_total;
    margins: cohort, dim, segment, age, margin (Float64): the margin of complete months, summed
    over the customers of each cohort, breakdown value and segment, by months since acquisition.

    Both come from the sums per customer and month of age. A ledger of more than
    ``ACTIVITY_PARTITION_ROWS`` rows has those made for one partition of the customers (by a hash
    of the id) at a time, each reduced to the two summaries before the next.
    """
    acquired = acquired_customers(data).with_columns(
        cohort=grain_start(pl.col("acquired_on"), grain),
        acquired_month=pl.col("acquired_on").dt.month_start(),
        dim=pl.col(by) if by else pl.lit(None, pl.String),
    )
    margin_rate = pl.lit(settings.default_gross_margin).cast(pl.Decimal(38, 4))
    complete = last_complete_month(as_of)
    base = (
        acquired.collect()
        .with_columns(age_observed=months_between(pl.lit(complete), pl.col("acquired_month")),
                      dim=pl.col("dim").fill_null(UNKNOWN))
        .filter(pl.col("age_observed") >= 0)
    )
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
        part_rows = part_revenue.select(
            "customer_id", "date", "revenue",
            margin=pl.coalesce(pl.col("gross_margin").cast(pl.Decimal(38, 4)),
                               (pl.col("revenue") * margin_rate).cast(pl.Decimal(38, 4))),
        )
        # Only complete months are observed: revenue of the month still under way would be counted
        # as observed and projected again, and inflate the margin per alive month.
        months = (
            part_rows.join(members.lazy().select("customer_id", "acquired_month", "age_observed"),
                           on="customer_id", how="inner")
            .with_columns(age=months_between(pl.col("date"), pl.col("acquired_month")).clip(lower_bound=0))
            .filter(pl.col("age") <= pl.col("age_observed"))
            .group_by("customer_id", "age")
            .agg(revenue=pl.col("revenue").sum().cast(pl.Float64), margin=pl.col("margin").sum().cast(pl.Float64))
            .collect()
        )
        summaries.append(months.group_by("customer_id").agg(
            last_age=pl.col("age").filter(pl.col("revenue") > 0).max(),
            margin_total=pl.col("margin").sum(), revenue_total=pl.col("revenue").sum()))
        margins.append(months.join(members.select("customer_id", "cohort", "dim", "segment"), on="customer_id")
                       .group_by("cohort", "dim", "segment", "age").agg(pl.col("margin").sum()))
        del months
    customers = (
        base.join(pl.concat(summaries), on="customer_id", how="left")
        .with_columns(pl.col("margin_total", "revenue_total").fill_null(0.0))
        .select("customer_id", "cohort", "dim", "segment", "acquired_month", "acquired_on", "age_observed",
                "last_age", "margin_total", "revenue_total")
    )
    margin = pl.concat(margins).group_by("cohort", "dim", "segment", "age").agg(pl.col("margin").sum())
    return customers, margin.with_columns(pl.col("age").cast(pl.Int64)).sort("cohort", "dim", "segment", "age")


_PARTITION_SEED = 20230101


def observed_curves(margins: pl.DataFrame, keys: list[str], horizon: int) -> dict[tuple[Any, ...], np.ndarray]:
    """Observed margin by age, summed per cohort key (not yet divided by customers)."""
    frame = margins.filter(pl.col("age") < horizon).group_by(*keys, "age").agg(pl.col("margin").sum())
    curves: dict[tuple[Any, ...], np.ndarray] = {}
    for row in frame.iter_rows(named=True):
        key = tuple(row[k] for k in keys)
        curve = curves.setdefault(key, np.zeros(horizon))
        curve[row["age"]] += row["margin"]
    return curves


def summarise(key_frame: pl.DataFrame, keys: list[str], curves: dict[tuple[Any, ...], np.ndarray],
              draws: dict[tuple[Any, ...], np.ndarray], settings: LTVSettings) -> pl.DataFrame:
    """LTV, interval and curve per cohort from the per-customer margin curve and its draws."""
    discount = settings.discount_factors
    low_q, high_q = (1 - settings.interval) / 2, 1 - (1 - settings.interval) / 2
    out = []
    for row in key_frame.iter_rows(named=True):
        key = tuple(row[k] for k in keys)
        curve = curves[key]
        ltv = float(curve @ discount)
        sample = draws.get(key)
        cumulative = np.cumsum(curve)
        if sample is not None and len(sample):
            values = sample @ discount
            low, high = float(np.quantile(values, low_q)), float(np.quantile(values, high_q))
            low, high = min(low, ltv), max(high, ltv)
            # the interval of the cumulative margin month by month (undiscounted, as payback)
            paths = np.cumsum(sample, axis=1)
            band_low = np.minimum(np.quantile(paths, low_q, axis=0), cumulative)
            band_high = np.maximum(np.quantile(paths, high_q, axis=0), cumulative)
        else:
            low = high = ltv
            band_low = band_high = cumulative
        out.append({**row, "ltv": ltv, "ltv_low": low, "ltv_high": high, "curve": curve.tolist(),
                    "cumulative_low": band_low.tolist(), "cumulative_high": band_high.tolist()})
    schema: dict[str, Any] = {**dict(key_frame.schema), "ltv": pl.Float64, "ltv_low": pl.Float64,
                              "ltv_high": pl.Float64, "curve": pl.List(pl.Float64),
                              "cumulative_low": pl.List(pl.Float64), "cumulative_high": pl.List(pl.Float64)}
    return pl.DataFrame(out, schema=schema)


def formula_ltv(customers: pl.DataFrame, margins: pl.DataFrame, keys: list[str],
                settings: LTVSettings) -> LTVResult:
    """LTV = ARPA x gross margin % / churn, horizon-capped and discounted, per cohort and segment.

    Per cohort and customer segment (the cohort's curve is its segments' curves weighted by
    customers, since churn and margin differ by orders of magnitude between segments):
    exposure E = customer-months alive (acquisition to last revenue month, or to the last
    complete month for customers still active); churn events k = customers whose last revenue
    month is before the last complete month; monthly churn c = k / E; margin per alive month
    M = margin / E. Months already lived are observed; each later month
    t adds, per surviving customer, M x (1 - c)^(t - age). Churn draws: Beta(k + 1/2, E - k + 1/2).
    """
    H = settings.horizon_months
    alive_to = pl.when(pl.col("last_age").is_null()).then(-1).otherwise(pl.col("last_age"))
    enriched = customers.with_columns(
        churned=alive_to < pl.col("age_observed"),
        exposure=pl.when(alive_to < pl.col("age_observed")).then(alive_to + 1)
        .otherwise(pl.col("age_observed") + 1),
    )
    # Churn and margin differ by orders of magnitude between segments (an enterprise account
    # against a one-off shopper). One pooled rate would let the high-churn majority cut off the
    # low-churn customers' long tail, so each segment gets its own rate and the group's curve is
    # the customer-weighted sum of its segments' curves.
    strata = [*keys, "segment"]
    groups = enriched.group_by(strata).agg(
        customers=pl.len(), churned=pl.col("churned").sum(), exposure=pl.col("exposure").sum(),
        margin=pl.col("margin_total").sum(), revenue=pl.col("revenue_total").sum(),
    ).sort(strata)
    observed = observed_curves(margins, strata, H)
    # The ages of each stratum's customers still alive, in one pass (not one filter per stratum).
    alive = {tuple(r[:-1]): np.asarray(r[-1], dtype=np.int64) for r in enriched.filter(~pl.col("churned"))
             .group_by(strata).agg(pl.col("age_observed")).iter_rows()}
    rng = np.random.default_rng(settings.seed)
    curves: dict[tuple[Any, ...], np.ndarray] = {}
    samples: dict[tuple[Any, ...], np.ndarray] = {}
    sizes: dict[tuple[Any, ...], int] = {}
    for row in groups.iter_rows(named=True):
        key = tuple(row[k] for k in keys)
        stratum = tuple(row[k] for k in strata)
        n = row["customers"]
        exposure = max(int(row["exposure"]), 0)
        k = int(row["churned"])
        rate = row["margin"] / exposure if exposure else 0.0
        churn = k / exposure if exposure else 1.0
        alive_ages = alive.get(stratum, np.zeros(0, dtype=np.int64))
        base = observed.get(stratum, np.zeros(H)) / n

        def project(c: float | np.ndarray, base: np.ndarray = base, alive_ages: np.ndarray = alive_ages,
                    rate: float = rate, n: int = n) -> np.ndarray:
            c = np.atleast_1d(np.asarray(c, dtype=float))
            t = np.arange(H)
            tail = np.zeros((len(c), H))
            for age in np.unique(alive_ages):
                count = float(np.sum(alive_ages == age))
                ahead = t - age
                mask = ahead > 0
                tail[:, mask] += count * rate * np.power(1.0 - c[:, None], ahead[mask][None, :])
            return base[None, :] + tail / n

        point = project(churn)[0]
        draws = (project(rng.beta(k + 0.5, exposure - k + 0.5, size=settings.draws)) if exposure
                 else np.repeat(point[None, :], settings.draws, axis=0))
        # Sums weighted by customers; divided by the group's customers below.
        curves[key] = curves.get(key, np.zeros(H)) + n * point
        samples[key] = samples.get(key, np.zeros((settings.draws, H))) + n * draws
        sizes[key] = sizes.get(key, 0) + n
    curves = {key: curve / sizes[key] for key, curve in curves.items()}
    samples = {key: sample / sizes[key] for key, sample in samples.items()}
    key_frame = groups.group_by(keys).agg(pl.col("customers").sum()).sort(keys)
    result = summarise(key_frame.select(*keys, "customers"), keys, curves, samples, settings)
    totals = groups.select(pl.col("churned", "exposure", "margin", "revenue").sum()).row(0, named=True)
    params = {
        "monthly_churn": totals["churned"] / totals["exposure"] if totals["exposure"] else math.nan,
        "margin_per_customer_month": totals["margin"] / totals["exposure"] if totals["exposure"] else math.nan,
        "gross_margin_pct": totals["margin"] / totals["revenue"] if totals["revenue"] else math.nan,
        "arpa_monthly": totals["revenue"] / totals["exposure"] if totals["exposure"] else math.nan,
    }
    diagnostics = {"customers": float(groups["customers"].sum()), "churn_events": float(totals["churned"]),
                   "customer_months_exposed": float(totals["exposure"])}
    return LTVResult("formula", "month", {k: v for k, v in params.items() if not math.isnan(v)}, result,
                     diagnostics=diagnostics)


def cohort_ltv(data: Dataset, *, grain: Grain = "quarter", by: str | None = None, as_of: date,
               settings: LTVSettings) -> LTVResult:
    """LTV per acquisition cohort by the configured method (see the module docstring)."""
    customers, margins = customer_activity(data, settings, grain, by, as_of)
    keys = ["cohort", "dim"]
    if customers.is_empty():
        empty = pl.DataFrame(schema={"cohort": pl.Date, "dim": pl.String, "customers": pl.UInt32,
                                     "ltv": pl.Float64, "ltv_low": pl.Float64, "ltv_high": pl.Float64,
                                     "curve": pl.List(pl.Float64), "cumulative_low": pl.List(pl.Float64),
                                     "cumulative_high": pl.List(pl.Float64)})
        return LTVResult(settings.method, "month", {}, empty, ["no customers acquired yet"])
    if settings.method == "formula":
        return formula_ltv(customers, margins, keys, settings)
    from finance import ltv_fitted  # the model-based methods need SciPy; import on demand

    if settings.method == "cohort":
        return ltv_fitted.sbg_ltv(customers, margins, keys, settings)
    return ltv_fitted.bgnbd_ltv(data, customers, margins, keys, settings, as_of)


def cohort_margin_matrix(data: Dataset, *, grain: Grain = "quarter", as_of: date,
                         settings: LTVSettings | None = None) -> pl.DataFrame:
    """Observed gross margin per acquired customer by months since acquisition, per cohort.

    Only ages every customer of the cohort has fully lived are shown (a cohort acquired over
    a quarter is complete at an age when its last month's customers have reached it), so a
    young cohort's row stops where its data stops rather than trailing off.
    Columns: cohort, cohort_label, age, customers, margin_per_customer,
    cumulative_margin_per_customer.
    """
    settings = settings or LTVSettings()
    data = data.as_of(as_of)
    customers, margins = customer_activity(data, settings, grain, None, as_of)
    schema = {"cohort": pl.Date, "cohort_label": pl.String, "age": pl.Int64, "customers": pl.Int64,
              "margin_per_customer": pl.Float64, "cumulative_margin_per_customer": pl.Float64}
    if customers.is_empty():
        return pl.DataFrame(schema=schema)
    sizes = customers.group_by("cohort").agg(customers=pl.len().cast(pl.Int64),
                                            complete_age=pl.col("age_observed").min())
    margin = margins.group_by("cohort", "age").agg(margin=pl.col("margin").sum())
    grid = sizes.with_columns(age=pl.int_ranges(0, pl.col("complete_age") + 1)).explode("age").with_columns(
        pl.col("age").cast(pl.Int64))
    label = (pl.format("{}-Q{}", pl.col("cohort").dt.year(), pl.col("cohort").dt.quarter()) if grain == "quarter"
             else pl.col("cohort").dt.strftime("%Y-%m"))
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
    the horizon.
    """
    if cac is None or math.isnan(cac):
        return None
    if cac <= 0:
        return 0
    cumulative = np.cumsum(np.asarray(curve, dtype=float))
    reached = np.nonzero(cumulative >= cac - 1e-9)[0]
    return int(reached[0]) + 1 if len(reached) else None
