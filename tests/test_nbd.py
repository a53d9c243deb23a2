"""The NBD, BG/NBD's limit for customers who never stop (finance.ltv.models.nbd).

Checked against a simulated company whose purchase process is known (Poisson purchases at
Gamma-distributed rates, no dropout): the fit recovers the rates it was simulated with, its
forecasts match what the simulated customers went on to buy, and BG/NBD on the same data says
that its dropout parameters run off (``FitError.edge``), the case the NBD is for.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from bench.simulate import score_ltv, simulate
from finance.ltv import words
from finance.ltv.base import LTVSettings
from finance.ltv.methods.bgnbd import BGNBD, _no_dropout
from finance.ltv.models import (
    FitError,
    NBDFit,
    bgnbd_conditional_expected_purchases,
    fit_bgnbd,
    fit_nbd,
    nbd_conditional_expected_purchases,
    nbd_expected_purchases,
)
from finance.ltv.models.bgnbd import _bgnbd_log_likelihood_terms
from finance.ltv.models.nbd import _nbd_log_likelihood_terms
from finance.metrics.table import MetricParams, compute
from finance.store.database import Store

from .test_ltv_models import assert_recovered

TRUTH = (0.8, 6.0)  # r, alpha (weeks): 0.13 purchases a week on average, rates spread widely


def simulate_nbd(rng: np.random.Generator, n: int, observed: np.ndarray, ahead: float) -> tuple[np.ndarray, ...]:
    """n customers who never stop: their rates, the purchases in (0, T] with the last one's time, and the
    purchases in the ``ahead`` weeks after T."""
    r, alpha = TRUTH
    rate = rng.gamma(r, 1 / alpha, n)
    x = rng.poisson(rate * observed)
    # given x purchases in (0, T], their times are uniform: the last is T times the largest of x uniforms
    tx = np.where(x > 0, observed * rng.beta(np.maximum(x, 1), 1.0), 0.0)
    future = rng.poisson(rate * ahead)
    return rate, x, tx, future


def test_the_nbd_recovers_a_simulated_company() -> None:
    rng = np.random.default_rng(21)
    observed = rng.uniform(26.0, 104.0, 6000)
    _, x, tx, _ = simulate_nbd(rng, observed.size, observed, 0.0)
    fit = fit_nbd(x, tx, observed)
    assert_recovered(fit, list(TRUTH))
    assert fit.customers == observed.size


def test_nbd_forecasts_match_what_simulated_customers_went_on_to_buy() -> None:
    rng = np.random.default_rng(5)
    n, ahead = 60_000, 26.0
    observed = np.full(n, 52.0)
    _, x, tx, future = simulate_nbd(rng, n, observed, ahead)
    forecast = nbd_conditional_expected_purchases(TRUTH, ahead, x, tx, observed)
    # by history: the customers with each count bought, on average, what the model forecast for them
    for count in (0, 1, 3, 8):
        who = x == count
        error = future[who].std(ddof=1) / np.sqrt(who.sum())
        assert who.sum() > 200 and abs(future[who].mean() - forecast[who][0]) < 4 * error, count
    # and a new customer's expected purchases are the population's
    assert nbd_expected_purchases(TRUTH, ahead) == pytest.approx(np.mean(rng.gamma(0.8, 1 / 6.0, 400_000)) * ahead,
                                                                rel=0.02)


def test_the_nbd_is_bgnbds_limit_as_dropout_vanishes() -> None:
    """FHL 2005a eq. 6 and eq. 10 with a -> 0 are the NBD's likelihood and forecast, term for term."""
    x, tx, big_t = np.array([0.0, 1.0, 4.0, 12.0]), np.array([0.0, 10.0, 30.0, 50.0]), np.full(4, 52.0)
    r, alpha = TRUTH
    bg = _bgnbd_log_likelihood_terms(r, alpha, 1e-9, 1.0, x, tx, big_t)
    assert bg == pytest.approx(_nbd_log_likelihood_terms(r, alpha, x, big_t), abs=1e-6)
    with np.errstate(all="ignore"):
        forecast = bgnbd_conditional_expected_purchases((r, alpha, 1e-6, 50.0), 13.0, x, tx, big_t)
    assert forecast == pytest.approx(nbd_conditional_expected_purchases(TRUTH, 13.0, x, tx, big_t), rel=1e-3)


def test_bgnbd_on_customers_who_never_stop_names_the_parameters_that_run_off() -> None:
    rng = np.random.default_rng(8)
    observed = rng.uniform(26.0, 104.0, 4000)
    _, x, tx, _ = simulate_nbd(rng, observed.size, observed, 0.0)
    with pytest.raises(FitError) as raised:
        fit_bgnbd(x, tx, observed)
    assert raised.value.edge and set(raised.value.edge) <= {"a", "b"}, (raised.value.edge, str(raised.value))
    assert pickle.loads(pickle.dumps(raised.value)).edge == raised.value.edge  # survives a worker process
    nbd = fit_nbd(x, tx, observed)  # what the data support instead
    assert_recovered(nbd, list(TRUTH))


def test_what_the_nbd_cannot_fit_is_a_fit_error() -> None:
    with pytest.raises(FitError, match="NBD: 5 customers are too few"):
        fit_nbd([1, 2, 0, 1, 3], [1, 2, 0, 1, 3], [4, 4, 4, 4, 4])
    with pytest.raises(FitError, match="no customer made a repeat purchase"):
        fit_nbd(np.zeros(20), np.zeros(20), np.full(20, 10.0))
    with pytest.raises(FitError, match="recency later than T"):
        fit_nbd(np.ones(20), np.full(20, 11.0), np.full(20, 10.0))
    with pytest.raises(ValueError, match="two positive numbers"):
        nbd_expected_purchases((1.0, -2.0), 4.0)


def test_a_company_whose_shoppers_never_stop_gets_the_nbd_and_is_told_so(tmp_path: Path) -> None:
    """BG/NBD on shoppers with no dropout to see has no finite estimate: the LTV method fits its limit, says
    so, and the young cohorts' LTV is what their customers really went on to earn."""
    company = simulate("repeat", seed=401, overrides={"segments.DTC.a": 1e-6, "segments.DTC.b": 50.0})
    files = company.write(tmp_path)
    with Store(tmp_path / "company.duckdb") as store:
        for kind in ("spend", "customers", "revenue"):
            assert store.import_file(kind, files[kind]).status == "imported"
        data = store.dataset()
    result = compute(data, MetricParams(grain="month", ltv=LTVSettings(method="bgnbd")))
    assert result.ltv.models == {"DTC": "bgnbd"}
    assert result.ltv.notes == [words.GROUP_NOTE.format(group="DTC", reason=words.NBD_USED)]
    fit = result.ltv.fits[("DTC",)]
    assert fit.names == ("r", "alpha", "p", "q", "gamma")
    described = dict((name, value) for name, value, _ in BGNBD.describe(fit))
    assert described["Chance of stopping after each repeat purchase"] == 0.0
    scored = score_ltv(result.rows, company.truth())
    errors = scored.get_column("error")
    assert errors.null_count() == 0
    assert float(errors.abs().mean()) <= 0.05, scored  # type: ignore[operator]
    assert float(scored.get_column("covered").cast(pl.Float64).mean()) >= 0.75, scored  # type: ignore[arg-type]


def test_bgnbd_that_stops_short_with_dropout_that_matters_is_not_taken_for_the_nbd() -> None:
    """Where BG/NBD's search stopped forecasts other than the NBD does, the failure stands: the NBD would
    let customers who do stop live forever."""
    rng = np.random.default_rng(7)
    observed = rng.uniform(10, 100, 3000)
    _, x, tx, _ = simulate_nbd(rng, 3000, observed, 52.0)
    error = FitError("BG/NBD: the optimiser did not converge")
    error.stopped_at = (0.8, 6.0, 0.5, 2.0)  # a dropout chance of 20% after each purchase
    with pytest.raises(FitError) as raised:
        _no_dropout(error, x, tx, observed)
    assert raised.value is error
    error.stopped_at = (0.8, 6.0, 0.5, 2e6)  # one in four million
    assert isinstance(_no_dropout(error, x, tx, observed), NBDFit)
    ran_off = FitError("BG/NBD: r and alpha ran off")
    ran_off.edge = ("r", "alpha")
    with pytest.raises(FitError):
        _no_dropout(ran_off, x, tx, observed)


def test_a_channel_fitted_by_another_purchase_model_than_its_segment_takes_the_segments_fit() -> None:
    """No shrinkage joins BG/NBD and its limit: a channel whose model differs from its segment's, in purchases, is
    given the segment's fit; a spend model only one of them could support is aligned, as before."""
    from finance.ltv.methods.common import StratumFit
    from finance.ltv.strata import _aligned

    def fit(names: tuple[str, ...]) -> StratumFit:
        k = len(names)
        return StratumFit(("Paid", "DTC"), "bgnbd", names, np.zeros(k), np.eye(k) * 0.01, 500, {"margin_pct": 0.5})

    bgnbd, nbd, spend = ("r", "alpha", "a", "b"), ("r", "alpha"), ("p", "q", "gamma")
    assert _aligned(fit(nbd), fit(bgnbd)) is None
    assert _aligned(fit((*nbd, *spend)), fit(bgnbd)) is None
    assert _aligned(fit(bgnbd), fit((*nbd, *spend))) is None
    aligned = _aligned(fit(nbd), fit((*nbd, *spend)))
    assert aligned is not None and aligned.names == (*nbd, *spend)
    dropped = _aligned(fit((*bgnbd, *spend)), fit(bgnbd))
    assert dropped is not None and dropped.names == bgnbd
