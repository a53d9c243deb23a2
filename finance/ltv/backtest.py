"""The model check: each LTV model back-tested on the company's own history.

Pretend it is a past quarter-end (the cut-off), fit every model on the data known then, predict
each monthly cohort's gross margin per customer over the next 3, 6 and 12 months, and compare
with what its customers really earned. This is the calibration/holdout check of the CLV
literature (lifetimes' ``calibration_and_holdout_data``; PyMC-Marketing's expected against
observed purchases), run at every quarter-end the history allows.

From the predictions come, per model and segment:

- **bias** (sum of predicted / sum of actual - 1) and **mean absolute percentage error** by horizon;
- the **model error** tau: how far predictions stray beyond what their own parameter uncertainty
  and the randomness of n customers explain (the method of moments on the log errors,
  tau^2 = mean(log(actual / predicted)^2 - known variance)), fitted as tau(k) = tau_12 (k / 12)^g
  across the horizons k and carried into every LTV range (``finance.ltv.strata.ModelError``);
- the **coverage** of the stated interval: how often the actual fell inside it. Each cut-off is
  scored with the model error and the model choice measured on the *other* cut-offs, so the
  reported coverage and error are out of sample;
- the **recommended model** of each segment (``auto``): the lowest error 12 months ahead on
  the segment's young cohorts (acquired in the year before the cut-off), else 6, else 3.

Only cohorts acquired in the 12 months before a cut-off are scored: young cohorts are where the
models, not the data, make the LTV.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from finance.ltv import words
from finance.ltv.base import LTVSettings, customer_activity, model_by_shape
from finance.ltv.methods import MODEL_OF_METHOD, MODELS, MODELS_BY_KEY, Model
from finance.ltv.models import rfm_summary
from finance.ltv.strata import (
    PRIOR,
    STEP,
    ModelError,
    add_purchase_history,
    expected_margin,
    fit_strata,
    lognormal_quantile,
    process_variance,
)
from finance.store.dataset import Dataset

HORIZONS = (3, 6, 12)
MAX_CUTOFFS = 8
"""The latest quarter-ends are back-tested, at most this many (each fits every model)."""
MIN_HISTORY_MONTHS = 6
"""A cut-off needs this many months of history before it."""
YOUNG_MONTHS = 12
"""Cohorts acquired in this many months up to a cut-off are scored."""
CHECK_VERSION = 2
"""Bumped when the check's method changes, so stored checks of an older method are not reused."""


@dataclass(frozen=True)
class Score:
    """How one model did at one horizon."""

    predictions: int
    bias: float | None
    mape: float | None
    coverage: float | None


@dataclass
class ModelCheck:
    """The back-test of every model, the model errors it measured and the model it recommends."""

    as_of: str
    cutoffs: list[str]
    interval: float
    scores: dict[str, dict[str, dict[str, Score]]]
    """method -> segment ("" = the whole company) -> horizon ("3", "6", "12") -> Score."""
    errors: dict[str, dict[str, dict[str, float]]]
    """model -> segment -> {"tau_12", "growth"}: the model error of each model in each segment."""
    recommended: dict[str, str]
    """segment -> model (formula, sbg, bgnbd)."""
    reasons: dict[str, str]
    predictions: list[dict[str, Any]] = field(default_factory=list)
    """cutoff, method, cohort, horizon, customers, predicted, actual, low, high: the company's cohorts."""
    seconds: float = 0.0

    def model_errors(self) -> dict[tuple[str, str], ModelError]:
        """What ``ltv.cohort_ltv`` takes: each (model, segment)'s measured model error."""
        out = {}
        for model, by_segment in self.errors.items():
            for segment, value in by_segment.items():
                out[(model, segment)] = ModelError(value["tau_12"], value["growth"], "back-test")
        return out

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelCheck:
        scores = {m: {s: {h: Score(**v) for h, v in hs.items()} for s, hs in seg.items()}
                  for m, seg in data["scores"].items()}
        return cls(**{**data, "scores": scores})

    def headline(self, method: str = "auto", horizon: int = 12) -> Score | None:
        """The company-level score of ``method`` at ``horizon`` (else the longest horizon scored)."""
        by_horizon = self.scores.get(method, {}).get("", {})
        for h in (horizon, *sorted(HORIZONS, reverse=True)):
            score = by_horizon.get(str(h))
            if score is not None and score.predictions:
                return score
        return None


def cutoffs(data: Dataset, as_of: date) -> list[date]:
    """Quarter-ends with MIN_HISTORY_MONTHS of acquisitions before them and 3 months of revenue after."""
    first = data.customers.select(pl.col("acquired_on").min()).collect().item()
    first_revenue = data.revenue.select(pl.col("date").min()).collect().item()
    start = min(d for d in (first, first_revenue) if d is not None) if (first or first_revenue) else None
    if start is None:
        return []
    out = []
    index = start.year * 12 + start.month - 1 + MIN_HISTORY_MONTHS - 1
    end_index = as_of.year * 12 + as_of.month - 1 - 3
    for month in range(index, end_index + 1):
        if month % 3 == 2:  # March, June, September, December
            out.append(_month_end(month))
    return out[-MAX_CUTOFFS:]


def _month_end(index: int) -> date:
    following = index + 1
    return date.fromordinal(date(following // 12, following % 12 + 1, 1).toordinal() - 1)


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


@dataclass
class _Prediction:
    cutoff: int
    model: Model
    segment: str
    cohort: date
    customers: int
    horizon: int
    predicted: float
    known_var: float
    actual: float


def _predict(data: Dataset, settings: LTVSettings, cutoff: date, actual: dict[tuple[date, str], np.ndarray],
             index: int) -> list[_Prediction]:
    """Every model's predictions for the young cohorts at one cut-off, per segment."""
    known = data.as_of(cutoff)
    everyone, _ = customer_activity(known, settings, "month", None, cutoff)
    if everyone.filter(pl.col("age_observed") < YOUNG_MONTHS).is_empty():
        return []
    rfm = rfm_summary(known.revenue.filter(pl.col("revenue") > 0), customer="customer_id", date="date",
                      value="revenue", as_of=cutoff)
    everyone = add_purchase_history(everyone, rfm)
    months = max(HORIZONS)
    out: list[_Prediction] = []
    for model in MODELS:
        fits, _ = fit_strata(everyone, {s: model for s in everyone.get_column("segment").unique().to_list()}, False)
        young = everyone.filter(pl.col("age_observed") < YOUNG_MONTHS)
        for (segment,), members in young.group_by("segment", maintain_order=True):
            fit = fits[(str(segment),)]
            cohorts = members.group_by("cohort").agg(customers=pl.len()).sort("cohort").with_row_index("__key")
            framed = members.join(cohorts.select("cohort", "__key"), on="cohort")
            units = MODELS_BY_KEY[fit.model].units(framed)
            n_keys = cohorts.height
            expected = expected_margin(fit, units, months)
            gradients = []
            for i in range(len(fit.log_params)):
                step = np.zeros(len(fit.log_params))
                step[i] = STEP
                gradients.append((expected_margin(fit, units, months, fit.log_params + step) - expected) / STEP)
            for k in HORIZONS:
                weights = np.zeros((len(units.count), months))
                weights[:, :k] = 1.0

                def total(e: np.ndarray, weights: np.ndarray = weights, units: Any = units,
                          n_keys: int = n_keys) -> np.ndarray:
                    return np.bincount(units.key.astype(np.int64), weights=units.count * np.sum(weights * e, axis=1),
                                       minlength=n_keys)

                predicted = total(expected)
                lives = np.bincount(units.key.astype(np.int64),
                                    weights=units.count * process_variance(fit, units, weights, expected),
                                    minlength=n_keys)
                grad = np.stack([total(g) for g in gradients], axis=1) if gradients else np.zeros((n_keys, 0))
                params = np.einsum("ki,ij,kj->k", grad, fit.covariance, grad) if gradients else np.zeros(n_keys)
                for row in cohorts.iter_rows(named=True):
                    cohort = row["cohort"]
                    series = actual.get((cohort, str(segment)))
                    start = index - _month_index(cohort) + 1  # age of the first month after the cut-off
                    if series is None or start + k > len(series):
                        continue
                    n = row["customers"]
                    out.append(_Prediction(index, model, str(segment), cohort, n, k,
                                           float(predicted[row["__key"]]) / n,
                                           float(lives[row["__key"]] + params[row["__key"]]) / n**2,
                                           float(series[start:start + k].sum()) / n))
    return out


def _actuals(data: Dataset, settings: LTVSettings, as_of: date) -> dict[tuple[date, str], np.ndarray]:
    """Margin by age (complete months to as_of), summed over each acquisition month's customers per segment."""
    _, margins = customer_activity(data, settings, "month", None, as_of)
    out: dict[tuple[date, str], np.ndarray] = {}
    top = int(margins.get_column("age").max() or 0) + 1  # type: ignore[arg-type]
    for (cohort, segment), frame in margins.group_by("cohort", "segment", maintain_order=True):
        series = np.zeros(top)
        np.add.at(series, frame.get_column("age").to_numpy(), frame.get_column("margin").to_numpy())
        last = _month_index(as_of) - _month_index(cohort)  # ages observed: 0 .. last
        out[(cohort, str(segment))] = series[:last + 1]
    return out


def _tau(predictions: list[_Prediction]) -> dict[str, float]:
    """Model error tau(k) = tau_12 (k / 12)^g, by the method of moments at each horizon."""
    points = []
    for k in HORIZONS:
        chosen = [p for p in predictions if p.horizon == k and p.predicted > 0 and p.actual > 0]
        if len(chosen) < 3:
            continue
        excess = [math.log(p.actual / p.predicted) ** 2 - math.log1p(p.known_var / p.predicted**2) for p in chosen]
        points.append((k, max(float(np.mean(excess)), 1e-6)))
    if not points:
        return {"tau_12": PRIOR.tau_12, "growth": PRIOR.growth}
    if len(points) == 1:
        k, tau2 = points[0]
        return {"tau_12": math.sqrt(tau2) * (12 / k) ** PRIOR.growth, "growth": PRIOR.growth}
    logk = np.log([k for k, _ in points])
    logt = 0.5 * np.log([t for _, t in points])
    growth = float(np.clip(np.polyfit(logk, logt, 1)[0], 0.25, 1.0))
    level = float(np.mean(logt - growth * (logk - math.log(12))))
    return {"tau_12": math.exp(level), "growth": growth}


def _interval(predicted: float, variance: float, interval: float) -> tuple[float, float]:
    """The stated range of a forecast with this variance: the one lognormal every LTV range uses."""
    sigma = math.sqrt(math.log1p(variance / predicted**2)) if predicted > 0 else 0.0
    low_q, high_q = (1 - interval) / 2, 1 - (1 - interval) / 2
    return lognormal_quantile(0.0, predicted, sigma, low_q), lognormal_quantile(0.0, predicted, sigma, high_q)


def _score(rows: list[tuple[float, float, float, float]]) -> Score:
    """(predicted, actual, low, high) per cohort -> bias, MAPE, coverage."""
    usable = [r for r in rows if r[1] > 0]
    if not usable:
        return Score(0, None, None, None)
    predicted = np.array([r[0] for r in usable])
    actual = np.array([r[1] for r in usable])
    covered = np.array([r[2] <= r[1] <= r[3] for r in usable])
    return Score(len(usable), float(predicted.sum() / actual.sum() - 1), float(np.mean(np.abs(predicted / actual - 1))),
                 float(covered.mean()))


def _choose(predictions: list[_Prediction], segment: str, fallback: str) -> str:
    """The model with the lowest mean absolute % error on the segment, at the longest horizon scored."""
    for k in sorted(HORIZONS, reverse=True):
        errors = {}
        for model in MODELS:
            chosen = [p for p in predictions if p.model == model and p.segment == segment and p.horizon == k
                      and p.actual > 0]
            if len(chosen) >= 3:
                errors[model] = float(np.mean([abs(p.predicted / p.actual - 1) for p in chosen]))
        if len(errors) == len(MODELS):
            return min(errors, key=errors.__getitem__)
    return fallback


def run(data: Dataset, settings: LTVSettings, as_of: date,
        progress: Callable[[int, int], None] | None = None) -> ModelCheck:
    """Back-test every model at every cut-off (``cutoffs``); ``progress(done, total)`` after each."""
    import time

    began = time.perf_counter()
    points = cutoffs(data, as_of)
    actual = _actuals(data, settings, as_of)
    predictions: list[_Prediction] = []
    for i, cutoff in enumerate(points):
        predictions += _predict(data, settings, cutoff, actual, _month_index(cutoff))
        if progress:
            progress(i + 1, len(points))
    everyone, _ = customer_activity(data, settings, "month", None, as_of)
    shape_now, shape_reasons = model_by_shape(everyone) if not everyone.is_empty() else ({}, {})
    segments = sorted({p.segment for p in predictions} | set(shape_now))
    recommended, reasons = {}, {}
    for segment in segments:
        default = shape_now.get(segment, "sbg")
        model = _choose(predictions, segment, default)
        recommended[segment] = model
        if model == default and not any(p.segment == segment for p in predictions):
            shape = shape_reasons.get(segment, "")
            reasons[segment] = words.TOO_LITTLE_HISTORY.format(reason=shape) if shape else \
                words.TOO_LITTLE_HISTORY_ALONE
        else:
            reasons[segment] = words.LOWEST_ERROR
    errors: dict[str, dict[str, dict[str, float]]] = {
        model: {segment: _tau([p for p in predictions if p.model == model and p.segment == segment])
                for segment in segments} for model in MODELS}
    scores, company = _out_of_sample(predictions, segments, shape_now, settings.interval)
    check = ModelCheck(as_of.isoformat(), [c.isoformat() for c in points], settings.interval, scores, errors,
                       recommended, reasons, company)
    check.seconds = round(time.perf_counter() - began, 2)
    return check


def _out_of_sample(predictions: list[_Prediction], segments: list[str], shape: dict[str, str],
                   interval: float) -> tuple[dict[str, dict[str, dict[str, Score]]], list[dict[str, Any]]]:
    """Scores with each cut-off held out: its model error and choice come from the other cut-offs."""
    by_cutoff = sorted({p.cutoff for p in predictions})
    rows: dict[tuple[str, str, int], list[tuple[float, float, float, float]]] = {}
    company: list[dict[str, Any]] = []
    methods: dict[str, str | None] = {**MODEL_OF_METHOD, "auto": None}
    for held in by_cutoff:
        train = [p for p in predictions if p.cutoff != held]
        test = [p for p in predictions if p.cutoff == held]
        taus = {}
        for m in MODELS:
            for s in segments:
                value = _tau([p for p in train if p.model == m and p.segment == s])
                taus[(m, s)] = ModelError(value["tau_12"], value["growth"], "back-test")
        choice = {s: _choose(train, s, shape.get(s, "sbg")) for s in segments}
        for method, model in methods.items():
            totals: dict[tuple[date, int], list[float]] = {}
            for p in test:
                if p.model != (model or choice.get(p.segment)):
                    continue
                tau = taus[(p.model, p.segment)].tau(p.horizon)
                low, high = _interval(p.predicted, p.known_var + (tau * p.predicted) ** 2, interval)
                rows.setdefault((method, p.segment, p.horizon), []).append((p.predicted, p.actual, low, high))
                # the company's cohort: segments summed (per-customer figures weighted by customers)
                entry = totals.setdefault((p.cohort, p.horizon), [0.0, 0.0, 0.0, 0.0, 0.0])
                entry[0] += p.predicted * p.customers
                entry[1] += p.actual * p.customers
                entry[2] += p.known_var * p.customers**2 + (tau * p.predicted * p.customers) ** 2
                entry[3] += p.customers
            for (cohort, k), (predicted, actual_total, variance, _, _) in totals.items():
                n = totals[(cohort, k)][3]
                if predicted <= 0:
                    continue
                low, high = (end / n for end in _interval(predicted, variance, interval))
                rows.setdefault((method, "", k), []).append((predicted / n, actual_total / n, low, high))
                company.append({"cutoff": _month_end(held).isoformat(), "method": method,
                                "cohort": cohort.isoformat(), "horizon": k, "customers": int(n),
                                "predicted": predicted / n, "actual": actual_total / n, "low": low, "high": high})
    scores: dict[str, dict[str, dict[str, Score]]] = {}
    for (method, segment, k), values in rows.items():
        scores.setdefault(method, {}).setdefault(segment, {})[str(k)] = _score(values)
    return scores, company


# ---------------------------------------------------------------------------------------------
# Stored checks: one per data version, beside the database
# ---------------------------------------------------------------------------------------------


def fingerprint(imports: pl.DataFrame, settings: LTVSettings, as_of: date) -> str:
    """The check's key: the customers and revenue imports in force, the as-of date, the settings the
    check depends on (default gross margin, interval width) and the method's version.

    Spend and funnel imports do not enter: loading next quarter's spend keeps the check.
    """
    rows = (imports.filter(pl.col("kind").is_in(["customers", "revenue"]))
            .select("import_id", "kind", "sha256", "status").sort("import_id").rows())
    basis = {"imports": [list(map(str, r)) for r in rows], "version": CHECK_VERSION, "as_of": as_of.isoformat(),
             "margin": str(settings.default_gross_margin), "interval": settings.interval}
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:24]


KEEP = 20
"""Stored checks kept per database (the newest)."""


def folder_for(db: Path | str) -> Path:
    """``data/finance.duckdb`` -> ``data/finance.model-checks/``."""
    path = Path(db)
    return path.with_name(path.stem + ".model-checks")


def load(db: Path | str, key: str) -> ModelCheck | None:
    path = folder_for(db) / f"{key}.json"
    try:
        return ModelCheck.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def save(db: Path | str, key: str, check: ModelCheck) -> Path:
    """Write atomically (a temporary file renamed into place); keep the newest ``KEEP``."""
    folder = folder_for(db)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{key}.json"
    handle, temporary = tempfile.mkstemp(dir=folder, suffix=".partial")
    with os.fdopen(handle, "w") as out:
        json.dump(check.to_json(), out, default=str)
    os.chmod(temporary, 0o644)  # readable by whoever reads the database
    os.replace(temporary, target)
    stored = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in stored[KEEP:]:
        old.unlink(missing_ok=True)
    return target


def checkable(data: Dataset) -> bool:
    """Whether the check can run on this data: it refits at past quarter-ends from the ledger's rows, which a
    store whose ledger is in a data lake does not hold."""
    return data.summary is None or data.summary.lake is None


def stored_or_run(db: Path | str, imports: pl.DataFrame, data: Dataset, settings: LTVSettings,
                  as_of: date | None = None, *, run_if_missing: bool = True,
                  progress: Callable[[int, int], None] | None = None) -> ModelCheck | None:
    """The check of this data version (as of ``as_of``, default the end of the ledger): stored beside
    the database, else run now and stored. None for a database with no customers or revenue yet."""
    from finance.store.dataset import default_as_of

    as_of = as_of or default_as_of(data)
    data = data.as_of(as_of)
    if not checkable(data):
        return None
    # Summaries are kept only for a ledger with rows: with them, there is revenue (and its rows stay unread).
    if data.summary is None and data.customers.select(pl.len()).collect().item() == 0 \
            and data.revenue.select(pl.len()).collect().item() == 0:
        return None
    key = fingerprint(imports, settings, as_of)
    found = load(db, key)
    if found is not None or not run_if_missing:
        return found
    check = run(data, settings, as_of, progress)
    try:
        save(db, key, check)
    except OSError:
        pass  # a read-only folder: the check is still used, just not kept
    return check
