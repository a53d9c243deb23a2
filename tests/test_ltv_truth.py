"""The default LTV against what customers really earned, on companies whose future is known.

Each company (``bench.simulate``) is imported through the store as a user's exports would be,
its models are checked against its own history (``finance.ltv.backtest``), and the default (auto)
LTV of the twelve youngest monthly cohorts is compared with what their customers went on to earn
over the 36-month horizon. The seeds here are not the benchmark's (``bench/ltv_accuracy.py``).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from bench.simulate import KnownFuture, score_ltv, simulate
from finance.ltv import backtest
from finance.ltv.base import LTVSettings
from finance.metrics.table import MetricParams, MetricsResult, compute, default_as_of
from finance.store.database import Store

COMPANIES = [("subscription", 311), ("repeat", 312), ("mixed", 313)]


def _imported(company: KnownFuture, folder: Path) -> Path:
    files = company.write(folder)
    db = folder / "company.duckdb"
    with Store(db) as store:
        for kind in ("spend", "customers", "revenue"):
            assert store.import_file(kind, files[kind]).status == "imported"
    return db


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[KnownFuture, MetricsResult]]:
    out = {}
    for kind, seed in COMPANIES:
        company = simulate(kind, seed=seed)  # type: ignore[arg-type]
        db = _imported(company, tmp_path_factory.mktemp(kind))
        with Store(db, read_only=True) as store:
            data = store.dataset()
        check = backtest.run(data, LTVSettings(), default_as_of(data))
        out[kind] = (company, compute(data, MetricParams(grain="month"), check))
    return out


@pytest.mark.parametrize("kind", [k for k, _ in COMPANIES])
def test_the_default_ltv_of_young_cohorts_is_what_customers_really_earned(
        results: dict[str, tuple[KnownFuture, MetricsResult]], kind: str) -> None:
    company, result = results[kind]
    scored = score_ltv(result.rows, company.truth())
    errors = scored.get_column("error")
    assert errors.null_count() == 0  # every young cohort has an LTV
    assert float(errors.abs().mean()) <= 0.10, scored  # type: ignore[operator]
    assert float(errors.abs().max()) <= 0.35, scored  # type: ignore[operator]


def test_the_stated_interval_holds_about_as_often_as_it_says(
        results: dict[str, tuple[KnownFuture, MetricsResult]]) -> None:
    covered = pl.concat([score_ltv(result.rows, company.truth()).select("covered")
                         for company, result in results.values()]).get_column("covered")
    assert covered.len() == 36
    assert 0.60 <= float(covered.cast(pl.Float64).mean()) <= 0.95  # type: ignore[arg-type]


def test_each_segment_gets_the_model_of_its_business(
        results: dict[str, tuple[KnownFuture, MetricsResult]]) -> None:
    _, mixed = results["mixed"]
    assert mixed.check is not None
    # subscriptions visibly cancel: a retention model; shoppers silently stop: BG/NBD
    assert mixed.check.recommended["DTC"] == "bgnbd"
    assert mixed.ltv.models["DTC"] == "bgnbd"
    assert {mixed.ltv.models[s] for s in ("SMB", "Enterprise B2B")} <= {"sbg", "formula"}
    _, repeat = results["repeat"]
    assert set(repeat.ltv.models.values()) == {"bgnbd"}


def test_the_back_test_reports_its_own_out_of_sample_coverage(
        results: dict[str, tuple[KnownFuture, MetricsResult]]) -> None:
    for _, result in results.values():
        check = result.check
        assert check is not None and len(check.cutoffs) == backtest.MAX_CUTOFFS
        score = check.headline("auto", 12)
        assert score is not None and score.predictions >= 12
        assert score.mape is not None and score.mape < 0.15
        assert score.coverage is not None and 0.5 <= score.coverage <= 1.0


def test_a_probability_below_one_and_below_target_from_the_same_range(
        results: dict[str, tuple[KnownFuture, MetricsResult]]) -> None:
    _, result = results["subscription"]
    rows = result.rows.filter(pl.col("ltv").is_not_null() & pl.col("cac").is_not_null())
    assert rows.height > 20
    for row in rows.iter_rows(named=True):
        below_1, below_target = row["p_below_1"], row["p_below_target"]
        assert 0.0 <= below_1 <= below_target <= 1.0
        # the interval's ends are its 10th and 90th percentiles: a CAC at the low end is 10% likely to be missed
        ratio_low, ratio_high = row["ltv_cac_low"], row["ltv_cac_high"]
        if ratio_low > 1.0:
            assert below_1 < 0.10 + 1e-9
        if ratio_high < 1.0:
            assert below_1 > 0.90 - 1e-9
