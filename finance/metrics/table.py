"""The metric table: CAC, CPL/CPA, LTV, LTV:CAC with its band, payback and ROI per row.

``compute`` joins acquisition (``finance.metrics.cac``) and lifetime value (``finance.ltv.base``) at
the grain asked for. It is the one definition the app, the CLI and the exports all call,
so they can never disagree. The JSON shape of ``to_json`` is stable: scripts rely on it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl

from finance.domain.money import money_text as money
from finance.domain.schema import DEFAULT_BAND_EDGES, band_of, check_band_edges
from finance.ltv.base import LTVResult, LTVSettings, Method, cohort_ltv, payback_months
from finance.ltv.methods import REGISTRY
from finance.ltv.progress import Report
from finance.ltv.strata import lognormal_quantile, probability_below
from finance.metrics import measures
from finance.metrics.cac import (
    CATEGORY_KEYS,
    DIMENSION_COLUMNS,
    FUNNEL_VOLUMES,
    Allocation,
    Dimension,
    acquisition,
    cac_columns,
    dimension_columns,
    trailing,
)
from finance.store.dataset import SPEND_BASES, Dataset, Grain, SpendBasis, default_as_of, grain_label

WINDOWS = (3, 6, 12)
MODEL_WORDS: dict[str, str] = {method.key: method.in_sentence for method in REGISTRY}
"""Each model's name in a sentence."""
METHOD_WORDS: dict[str, str] = {"auto": "recommended", **{method.method: method.method_label for method in REGISTRY}}
_MONEY_FIELDS = measures.names("money")
_RATIO_FIELDS = (*measures.names("ratio"), *measures.names("fraction"))
_CATEGORY_MAPS = ("spend_by_category", "cac_by_category")
"""Each category's spend and its share of CAC: written right after the spend they break down."""
_ROW_FIELDS = tuple(name for figure in measures.FIGURES
                    for name in ((figure.name, *_CATEGORY_MAPS) if figure.name == "spend_sm" else (figure.name,)))
"""The JSON row, in order: the documented, stable shape scripts rely on."""


@dataclass(frozen=True)
class MetricParams:
    """Everything that shapes a metric table; shown with every result."""

    grain: Grain = "quarter"
    window_months: int | None = None
    by: Dimension | None = None
    lag_quarters: int = 0
    as_of: date | None = None
    allocation: Allocation = "spend"
    band_edges: tuple[float, ...] = DEFAULT_BAND_EDGES
    target_ratio: float = 3.0
    """The LTV:CAC a plan is held to: each row gives the probability of falling below it."""
    ltv: LTVSettings = field(default_factory=LTVSettings)
    fiscal_year_start: int = 1
    """The month the fiscal year starts: quarters are fiscal quarters (``FY2026-Q1``) unless it is 1."""
    spend_basis: SpendBasis | None = None
    """Spend on the accrual or cash basis (``finance.store.dataset.SPEND_BASES``); None: accrual when any spend
    row has a service period, else cash. A result's params name the basis used."""

    def __post_init__(self) -> None:
        if self.grain not in ("quarter", "month"):
            raise ValueError(f"unknown grain {self.grain!r}; valid: quarter, month")
        if self.window_months is not None and self.window_months not in WINDOWS:
            raise ValueError(f"the window must be one of {WINDOWS} months")
        if not 0 <= self.lag_quarters <= 4:
            raise ValueError("the acquisition lag must be 0 to 4 quarters")
        if self.by is not None and self.by not in DIMENSION_COLUMNS:
            raise ValueError(f"unknown dimension {self.by!r}; valid: {', '.join(DIMENSION_COLUMNS)}")
        check_band_edges(self.band_edges)
        if not 0 < self.target_ratio <= 100:
            raise ValueError("the target LTV:CAC must be above 0 and at most 100")
        if not 1 <= self.fiscal_year_start <= 12:
            raise ValueError("the fiscal year must start in a month 1-12")
        if self.spend_basis is not None and self.spend_basis not in SPEND_BASES:
            raise ValueError(f"unknown spend basis {self.spend_basis!r}; valid: {', '.join(SPEND_BASES)}")


@dataclass
class MetricsResult:
    params: MetricParams
    as_of: date
    rows: pl.DataFrame
    ltv: LTVResult
    check: Any = None
    """The model check (``backtest.ModelCheck``) behind the models and ranges; None: not yet run."""
    prepaid: pl.DataFrame | None = None
    """On the accrual basis, the spend amortised into months outside those the spend covers (``Dataset.prepaid``):
    in no row here, and reported, never dropped silently."""

    def assumptions(self) -> dict[str, Any]:
        ltv = self.params.ltv
        return {
            "as_of": self.as_of.isoformat(),
            "grain": self.params.grain,
            "window_months": self.params.window_months,
            "by": self.params.by,
            "acquisition_lag_quarters": self.params.lag_quarters,
            "shared_cost_allocation": self.params.allocation,
            "ltv_method": ltv.method,
            "default_gross_margin": float(ltv.default_gross_margin),
            "annual_discount_rate": ltv.annual_discount_rate,
            "ltv_horizon_months": ltv.horizon_months,
            "interval": ltv.interval,
            "band_edges": list(self.params.band_edges),
            "target_ratio": self.params.target_ratio,
            "fiscal_year_start": self.params.fiscal_year_start,
            "spend_basis": self.params.spend_basis,
        }

    def model_sentence(self, label: str | None = None) -> str:
        """Which model valued each segment, and how well the method forecast in the back-test: plain text.

        ``label`` names the method (default: its key). E.g. "LTV by the recommended method (BG/NBD for
        DTC; sBG retention for SMB). In back-tests at 8 past quarter-ends its 12-month forecasts were
        within 3.9% on average (bias -0.7%); its 80% range held 78% of the time."
        """
        by_model: dict[str, list[str]] = {}
        for segment, model in sorted(self.ltv.models.items()):
            by_model.setdefault(model, []).append(self.ltv.group_name((segment,)))
        parts = [f"{MODEL_WORDS.get(m, m)} for {', '.join(segs)}" for m, segs in by_model.items()]
        name = label or METHOD_WORDS.get(self.ltv.method, self.ltv.method)
        text = f"LTV by the {name} method" + (f" ({'; '.join(parts)})" if parts else "")
        check = self.check
        if check is None:
            return text + ". The model check against this history is still running."
        by_horizon = check.scores.get(self.ltv.method, {}).get("", {})
        horizon = next((h for h in ("12", "6", "3") if by_horizon.get(h) and by_horizon[h].mape is not None), None)
        if horizon is None:
            return text + ". Too little history for a back-test yet: each segment's model was chosen by the shape " \
                          "of its payments."
        score = by_horizon[horizon]
        held = f"; its {check.interval:.0%} range held {score.coverage:.0%} of the time" \
            if score.coverage is not None else ""
        return (text + f". In back-tests at {len(check.cutoffs)} past quarter-ends its {horizon}-month forecasts "
                f"were within {score.mape:.1%} on average (bias {score.bias:+.1%}){held}.")

    def check_summary(self) -> dict[str, Any] | None:
        """How the method in use did in the back-test, company-wide, 3, 6 and 12 months ahead."""
        if self.check is None:
            return None
        scores = self.check.scores.get(self.ltv.method, {}).get("", {})
        return {"cutoffs": self.check.cutoffs, "recommended": self.check.recommended,
                "reasons": self.check.reasons,
                "horizons": {h: {"predictions": s.predictions, "bias": number(s.bias), "mape": number(s.mape),
                                 "coverage": number(s.coverage)} for h, s in scores.items()}}

    def to_json(self) -> dict[str, Any]:
        rows = []
        for rec in self.rows.iter_rows(named=True):
            row: dict[str, Any] = {"period": rec["period_label"], "channel": rec.get("channel"),
                                   "segment": rec.get("segment")}
            for name in _ROW_FIELDS:
                if name == "spend_by_category":
                    row[name] = {k: money(rec[f"spend_{k}"]) for k in CATEGORY_KEYS}
                elif name == "cac_by_category":
                    # each category's contribution to CAC: its spend over the same new customers
                    row[name] = {k: money(_per(rec[f"spend_{k}"], rec["new_customers"])) for k in CATEGORY_KEYS}
                elif name in _MONEY_FIELDS:
                    row[name] = money(rec[name])
                elif name in _RATIO_FIELDS:
                    row[name] = number(rec[name])
                else:
                    row[name] = rec[name]
            rows.append(row)
        return {
            "assumptions": self.assumptions(),
            "ltv_model": {"method": self.ltv.method, "time_unit": self.ltv.time_unit,
                          "params": {k: number(v, 6) for k, v in self.ltv.params.items()},
                          "diagnostics": {k: number(v, 3) for k, v in self.ltv.diagnostics.items()},
                          "segments": self.ltv.explained(),
                          "model_check": self.check_summary(),
                          "notes": self.ltv.notes},
            "rows": rows,
            "prepaid_outside": [
                {"row": r["source_row"], "category": r["category"], "channel": r["channel"], "vendor": r["vendor"],
                 "description": r["description"], "service_start": r["service_start"].isoformat(),
                 "service_end": r["service_end"].isoformat(), "amount": money(r["amount"]),
                 "before_first_month": money(r["before"]), "after_last_month": money(r["after"]),
                 "first_month": r["first"].strftime("%Y-%m"), "last_month": r["last"].strftime("%Y-%m")}
                for r in (self.prepaid.iter_rows(named=True) if self.prepaid is not None else ())],
        }


def chance_text(row: Mapping[str, Any], target: float) -> str:
    """'<1% chance below 1x, 38% below the 3x target' from a row's p_below_1 and p_below_target; '' if unknown."""
    below_1, below_target = row.get("p_below_1"), row.get("p_below_target")
    if below_1 is None or below_target is None:
        return ""
    return f"{_chance(below_1)} chance below 1x, {_chance(below_target)} below the {target:g}x target"


def _chance(p: float) -> str:
    if p < 0.005:
        return "<1%"
    if p > 0.995:
        return ">99%"
    return f"{p:.0%}"


def _per(amount: Decimal | None, count: int | None) -> Decimal | None:
    if amount is None or not count:
        return None
    return amount / Decimal(count)


def number(value: float | None, places: int = 4) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), places)


STATUSES = ("complete", "partial", "awaiting revenue")
"""A period's standing against the revenue ledger: every month covered, some, or none yet."""


def period_status(grain: Grain, as_of: date) -> pl.Expr:
    """``complete`` when the period ends on or before the LTV as-of, ``partial`` when it starts on
    or before it, else ``awaiting revenue`` (spend or customers loaded before their revenue)."""
    period_end = pl.col("period").dt.offset_by("1q" if grain == "quarter" else "1mo").dt.offset_by("-1d")
    return (pl.when(period_end <= as_of).then(pl.lit(STATUSES[0]))
            .when(pl.col("period") <= as_of).then(pl.lit(STATUSES[1]))
            .otherwise(pl.lit(STATUSES[2])))


def cohort_ltv_for(data: Dataset, params: MetricParams, check: Any = None,
                   progress: Report | None = None) -> LTVResult:
    """The LTV per cohort behind ``compute``'s table: it does not depend on the trailing window (a window only
    blends the cohorts' curves), so views that differ in their window alone can share one."""
    as_of = params.as_of or default_as_of(data)
    return cohort_ltv(data.as_of(as_of), grain=params.grain, by=params.by, as_of=as_of, settings=params.ltv,
                      errors=check.model_errors() if check is not None else None,
                      models=check.recommended if check is not None else None,
                      fiscal_year_start=params.fiscal_year_start, progress=progress)


def compute(data: Dataset, params: MetricParams | None = None, check: Any = None,
            progress: Report | None = None, ltv: LTVResult | None = None) -> MetricsResult:
    """The metric table for ``params`` (see ``MetricParams``).

    With an explicit ``as_of`` every row dated after it is ignored (the figures as they stood
    then). By default the as-of is the end of the revenue ledger (``default_as_of``), and spend,
    funnel and customers of later periods are kept: their rows show CAC and volumes with the
    status "awaiting revenue", and LTV only once their revenue is loaded.

    ``check`` (a ``backtest.ModelCheck`` of the same data) gives ``auto`` its model per segment and
    every method its measured model error; without one, ``auto`` chooses by the shape of the data
    and the ranges use ``finance.ltv.strata.PRIOR``. ``progress`` hears how far the LTV models'
    fits are and the time they have left (``finance.ltv.progress``). ``ltv``: the result of ``cohort_ltv_for``
    for the same data, check and parameters but the window, when the caller has it.
    """
    params = params or MetricParams()
    data = data.on_basis(params.spend_basis)
    params = replace(params, spend_basis=data.basis)
    as_of = params.as_of or default_as_of(data)
    if params.as_of is not None:
        data = data.as_of(as_of)
    fiscal = params.fiscal_year_start
    table = acquisition(data, grain=params.grain, by=params.by, lag_quarters=params.lag_quarters,
                        allocation=params.allocation, fiscal_year_start=fiscal)
    if ltv is None:
        ltv = cohort_ltv_for(data, params, check, progress)
    keys = ["period", *dimension_columns(params.by)]
    cohorts = ltv.cohorts.rename({"cohort": "period"})
    # the LTV's breakdown column is the first of the dimension's (the channel of channel by segment)
    cohorts = cohorts.drop("dim") if not params.by else cohorts.rename({"dim": keys[1]})
    frame = table.collect()
    if params.window_months:
        frame = trailing(frame.lazy(), grain=params.grain, window_months=params.window_months,
                         by=params.by).collect()
        cohorts = _windowed_ltv(cohorts, keys, params)
    frame = frame.with_columns(cac_columns())
    rows = frame.join(cohorts.drop("customers"), on=keys, how="left")
    rows = _ratios(rows, params)
    label = grain_label(pl.col("period"), params.grain, fiscal)
    return MetricsResult(params, as_of, rows.with_columns(period_label=label,
                                                          status=period_status(params.grain, as_of)), ltv, check,
                         data.prepaid() if data.basis == "accrual" else None)


def _windowed_ltv(cohorts: pl.DataFrame, keys: list[str], params: MetricParams) -> pl.DataFrame:
    """LTV over a trailing window: the cohorts' curves weighted by their customers."""
    step = 3 if params.grain == "quarter" else 1
    size = (params.window_months or step) // step
    out = []
    dims = keys[1:]
    for _, group in cohorts.sort("period").group_by(dims or pl.lit(0), maintain_order=True):
        records = group.to_dicts()
        periods = [r["period"] for r in records]
        for rec in records:
            # the window's cohorts: this period and the size - 1 before it, by calendar
            start = _months_back(rec["period"], (size - 1) * step)
            if start < periods[0]:
                continue  # the window reaches before the data: n/a, as for its CAC
            members = [records[j] for j in range(len(records)) if start <= periods[j] <= rec["period"]]
            weight = sum(m["customers"] for m in members)
            if not weight:
                continue
            values = combine_ranges(members, [m["customers"] for m in members], params.ltv.interval)
            out.append({**{k: rec[k] for k in keys}, "customers": weight, **values})
    schema = {k: v for k, v in cohorts.schema.items() if k not in ("cumulative_low", "cumulative_high")}
    return pl.DataFrame(out, schema=schema)


def combine_ranges(members: list[dict[str, Any]], weights: list[float], interval: float) -> dict[str, Any]:
    """The weighted mean LTV of several cohorts (or channels, or segments), its range and its margin curve.

    The one rule for blending LTVs, used by trailing windows and roll-ups alike. The observed
    and projected parts, and the margin curve by month of age, are means weighted by customers;
    the projections' errors are taken as moving together (they share their models), so their
    standard deviations add, a cautious choice.
    """
    total = float(sum(weights))
    curve = np.sum([np.asarray(m["curve"]) * w for m, w in zip(members, weights, strict=True)], axis=0) / total
    observed = sum(m["ltv_observed"] * w for m, w in zip(members, weights, strict=True)) / total
    future = sum(m["ltv_future"] * w for m, w in zip(members, weights, strict=True)) / total
    sd = sum(m["ltv_future"] * math.sqrt(math.expm1(m["ltv_sigma"] ** 2)) * w
             for m, w in zip(members, weights, strict=True)) / total
    sigma = math.sqrt(math.log1p((sd / future) ** 2)) if future > 0 else 0.0
    low_q, high_q = (1 - interval) / 2, 1 - (1 - interval) / 2
    return {"ltv": observed + future, "ltv_low": lognormal_quantile(observed, future, sigma, low_q),
            "ltv_high": lognormal_quantile(observed, future, sigma, high_q), "ltv_observed": observed,
            "ltv_future": future, "ltv_sigma": sigma, "curve": list(curve)}


def headline_row(rows: pl.DataFrame) -> dict[str, Any] | None:
    """The row a view leads with: the latest complete period with spend, else the latest with spend.

    A period whose spend is loaded but whose customers and revenue are not ("awaiting revenue")
    is never the headline by default: its CAC and LTV are not known yet.
    """
    known = rows.filter(pl.col("spend").is_not_null())
    if known.is_empty():
        return None
    complete = known.filter(pl.col("status") == STATUSES[0])
    return (complete if not complete.is_empty() else known).row(-1, named=True)


def rollup(rows: pl.DataFrame, params: MetricParams, keep: tuple[str, ...] = ()) -> pl.DataFrame:
    """Per-period totals of a channel or segment breakdown (e.g. the channels a user selected).

    ``keep`` names breakdown columns to total within rather than across: ``("channel",)`` turns
    channel by segment rows (say, of the segments a user selected) into one row per channel.
    Money and volumes are summed, LTV and its curve are averaged weighted by new customers (with
    the range of ``combine_ranges``), and every ratio is formed again from those sums: the roll-up
    of all channels equals the pooled figures (to the LTV models' per-group fits).
    """
    if rows.is_empty():
        return rows
    volumes = FUNNEL_VOLUMES
    sums = [c for c in rows.columns if c.startswith("spend_") or c in ("direct_spend", "new_customers", *volumes)]
    # Only rows whose LTV is known carry weight: an unknown LTV is not a zero LTV.
    parts = ("curve", "ltv_observed", "ltv_future", "ltv_sigma")
    grouped = rows.group_by("period", *keep, maintain_order=True).agg(
        [pl.col(c).sum() if c not in volumes else pl.col(c).sum().cast(pl.Int64) for c in sums]
        + [pl.col(c).filter(pl.col("ltv").is_not_null()) for c in parts]
        + [pl.col("new_customers").filter(pl.col("ltv").is_not_null()).alias("__weights"),
           pl.col("period_label").first(), pl.col("status").first()]
    ).sort("period", *keep)
    out: list[dict[str, Any]] = []
    for rec in grouped.iter_rows(named=True):
        members = [dict(zip(parts, values, strict=True)) for values in zip(*(rec[p] for p in parts), strict=True)]
        pairs = [(m, w) for m, w in zip(members, rec["__weights"], strict=True) if w]
        total = sum(w for _, w in pairs)
        if not total:
            out.append({"curve": None, "ltv": None, "ltv_low": None, "ltv_high": None, "ltv_observed": None,
                        "ltv_future": None, "ltv_sigma": None})
            continue
        out.append(combine_ranges([m for m, _ in pairs], [w for _, w in pairs], params.ltv.interval))
    values = pl.DataFrame(out, schema={"curve": pl.List(pl.Float64), "ltv": pl.Float64, "ltv_low": pl.Float64,
                                       "ltv_high": pl.Float64, "ltv_observed": pl.Float64,
                                       "ltv_future": pl.Float64, "ltv_sigma": pl.Float64})
    table = pl.concat([grouped.drop(*parts, "__weights"), values], how="horizontal")
    table = table.with_columns(cac_columns())
    return _ratios(table, params)


def _months_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


CAC_BASES: dict[str, tuple[str, str]] = {"marketing": ("cac", "spend"), "sales_and_marketing": ("cac_sm", "spend_sm")}
"""The CAC (and the spend behind it) each basis divides by: fully loaded marketing, or S&M (sales included)."""
CAC_BASIS_WORDS = {"marketing": "fully loaded CAC (every cost category but sales)",
                   "sales_and_marketing": "S&M CAC (every cost category, sales included)"}


def on_cac_basis(rows: pl.DataFrame, params: MetricParams, basis: str) -> pl.DataFrame:
    """The rows with LTV:CAC (range, band, chances), payback and ROI on the CAC of ``basis``.

    ``"marketing"`` (what ``compute`` gives): LTV / ``cac``, ROI from ``spend``;
    ``"sales_and_marketing"``: LTV / ``cac_sm``, payback of ``cac_sm``, ROI = (LTV x new customers
    - ``spend_sm``) / ``spend_sm``. The CAC and spend columns themselves are unchanged.
    """
    if basis not in CAC_BASES:
        raise ValueError(f"unknown CAC basis {basis!r}; valid: {', '.join(CAC_BASES)}")
    return _ratios(rows, params, basis)


def _ratios(rows: pl.DataFrame, params: MetricParams, basis: str = "marketing") -> pl.DataFrame:
    """LTV:CAC with band, payback and ROI; every ratio from the row's own sums, on the CAC of ``basis``."""
    ratio, low, high, band, payback, roi = [], [], [], [], [], []
    below_1: list[float | None] = []
    below_target: list[float | None] = []
    cac_column, spend_column = CAC_BASES[basis]
    columns = (cac_column, "ltv", "ltv_low", "ltv_high", "curve", spend_column, "new_customers", "ltv_observed",
               "ltv_future", "ltv_sigma")
    for rec in rows.select(*columns).iter_rows():
        cac, ltv, ltv_low, ltv_high, curve, spend, new, observed, future, sigma = rec
        cac_f = float(cac) if cac is not None else None
        if ltv is not None and cac_f and future is not None:
            below_1.append(probability_below(cac_f, observed, future, sigma))
            below_target.append(probability_below(params.target_ratio * cac_f, observed, future, sigma))
        else:
            below_1.append(None)
            below_target.append(None)
        r = ltv / cac_f if (ltv is not None and cac_f) else None
        ratio.append(r)
        low.append(ltv_low / cac_f if (ltv_low is not None and cac_f) else None)
        high.append(ltv_high / cac_f if (ltv_high is not None and cac_f) else None)
        band.append(band_of(r, params.band_edges))
        payback.append(payback_months(curve, cac_f) if curve is not None and cac_f is not None else None)
        spend_f = float(spend) if spend is not None else None
        roi.append((ltv * new - spend_f) / spend_f if (ltv is not None and spend_f) else None)
    return rows.with_columns(
        ltv_cac=pl.Series(ratio, dtype=pl.Float64), ltv_cac_low=pl.Series(low, dtype=pl.Float64),
        ltv_cac_high=pl.Series(high, dtype=pl.Float64), band=pl.Series(band, dtype=pl.String),
        payback_months=pl.Series(payback, dtype=pl.Int64), roi=pl.Series(roi, dtype=pl.Float64),
        p_below_1=pl.Series(below_1, dtype=pl.Float64), p_below_target=pl.Series(below_target, dtype=pl.Float64),
    )


__all__ = ["Method", "MetricParams", "MetricsResult", "compute", "money"]
