"""finance.ltv.models: published reproductions, hand-checked formulas, robustness and simulation recovery.

Published numbers are written out literally with their source; the tolerance ``rel=5e-3`` is
"agrees to the 3 significant digits printed".
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from finance.ltv.models import (
    BGNBDFit,
    FitError,
    GammaGammaFit,
    SBGFit,
    bgnbd_conditional_expected_purchases,
    bgnbd_expected_purchases,
    bgnbd_probability_alive,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_sbg,
    gamma_gamma_expected_spend,
    parameter_draws,
    rfm_summary,
    sbg_churn_probability,
    sbg_retention_rate,
    sbg_survival,
)

CDNOW = Path(__file__).resolve().parent / "data" / "cdnow" / "CDNOW_sample.txt"
CALIBRATION_END = date(1997, 9, 30)  # FHL (2005a): 39-week calibration period, 1997-01-01 .. 1997-09-30
PUBLISHED = 5e-3  # relative tolerance for "equal to the 3 significant digits published"

# F&H (2007) "How to project customer retention", J. Interactive Marketing 21(1): the two
# cohorts of Table 1 as survivors per 1000 (the paper's survival percentages x 10).
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]


# ---------------------------------------------------------------------------------------------
# Shared CDNOW fixtures
# ---------------------------------------------------------------------------------------------


def read_cdnow() -> pl.DataFrame:
    """The whitespace-separated CDNOW sample: master id, sample id, YYYYMMDD, CDs, dollar value."""
    rows = [line.split() for line in CDNOW.read_text().splitlines() if line.strip()]
    return pl.DataFrame(
        {
            "master_id": [row[0] for row in rows],
            "customer": [int(row[1]) for row in rows],
            "date": [datetime.strptime(row[2], "%Y%m%d").date() for row in rows],
            "cds": [int(row[3]) for row in rows],
            "value": [Decimal(row[4]) for row in rows],
        },
        schema_overrides={"value": pl.Decimal(12, 2)},
    )


@pytest.fixture(scope="module")
def cdnow() -> pl.DataFrame:
    return read_cdnow()


@pytest.fixture(scope="module")
def cdnow_rfm(cdnow: pl.DataFrame) -> pl.DataFrame:
    return rfm_summary(cdnow.lazy(), customer="customer", date="date", value="value", as_of=CALIBRATION_END)


@pytest.fixture(scope="module")
def cdnow_bgnbd(cdnow_rfm: pl.DataFrame) -> BGNBDFit:
    return fit_bgnbd(cdnow_rfm["frequency"], cdnow_rfm["recency"], cdnow_rfm["T"])


@pytest.fixture(scope="module")
def cdnow_gamma_gamma(cdnow_rfm: pl.DataFrame) -> GammaGammaFit:
    return fit_gamma_gamma(cdnow_rfm["frequency"], cdnow_rfm["monetary_value"])


# ---------------------------------------------------------------------------------------------
# sBG
# ---------------------------------------------------------------------------------------------


def test_sbg_reproduces_regular_cohort() -> None:
    # F&H (2007), "regular" cohort: alpha = 0.704, beta = 1.182.
    fit = fit_sbg(REGULAR)
    assert fit.alpha == pytest.approx(0.704, rel=PUBLISHED)
    assert fit.beta == pytest.approx(1.182, rel=PUBLISHED)
    assert (fit.periods, fit.customers) == (7, 1000)
    assert np.all(np.isfinite(fit.covariance)) and fit.covariance.shape == (2, 2)


def test_sbg_reproduces_high_end_cohort() -> None:
    # F&H (2007), "high end" cohort: alpha = 0.668, beta = 3.806.
    fit = fit_sbg(HIGH_END)
    assert fit.alpha == pytest.approx(0.668, rel=PUBLISHED)
    assert fit.beta == pytest.approx(3.806, rel=PUBLISHED)


def test_sbg_projection_formulas_by_hand() -> None:
    alpha, beta = 0.704, 1.182
    # r(1) = beta/(alpha+beta) = 1.182/1.886 = 0.62672; r(2) = 2.182/2.886 = 0.75606; r(3) = 3.182/3.886 = 0.81884
    assert sbg_retention_rate(alpha, beta, 3) == pytest.approx([0.62672, 0.75606, 0.81884], rel=1e-4)
    # S(0) = 1; S(1) = r(1) = 0.62672; S(2) = 0.62672 * 0.75606 = 0.47384; S(3) = 0.47384 * 0.81884 = 0.38800
    assert sbg_survival(alpha, beta, 3) == pytest.approx([1.0, 0.62672, 0.47384, 0.38800], rel=1e-4)
    # P(T=1) = alpha/(alpha+beta) = 0.37328; P(T=2) = P(T=1) * beta/(alpha+beta+1) = 0.37328 * 1.182/2.886 = 0.15288
    assert sbg_churn_probability(alpha, beta, 2) == pytest.approx([0.37328, 0.15288], rel=1e-4)


@settings(max_examples=200, deadline=None)
@given(
    alpha=st.floats(min_value=0.01, max_value=200.0),
    beta=st.floats(min_value=0.01, max_value=200.0),
    periods=st.integers(min_value=1, max_value=60),
)
def test_sbg_survival_retention_and_churn_agree(alpha: float, beta: float, periods: int) -> None:
    survival = sbg_survival(alpha, beta, periods)
    churn = sbg_churn_probability(alpha, beta, periods)
    retention = sbg_retention_rate(alpha, beta, periods)
    assert survival[0] == 1.0
    # S(t) = prod_{k<=t} r(k) and S(t-1) - S(t) = P(T=t): the three functions describe one distribution.
    np.testing.assert_allclose(survival[1:], np.cumprod(retention), rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(-np.diff(survival), churn, rtol=1e-7, atol=1e-12)
    assert np.all(np.diff(survival) <= 0) and np.all(np.diff(retention) >= 0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cohort=st.integers(min_value=10, max_value=5000),
    shares=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=2, max_size=10),
)
def test_sbg_fit_is_finite_or_a_fit_error(cohort: int, shares: list[float]) -> None:
    alive = [cohort]
    for share in shares:  # retention shares -> non-increasing integer survivor counts
        alive.append(int(alive[-1] * share))
    try:
        fit = fit_sbg(alive)
    except FitError as error:
        assert str(error).startswith("sBG: ")
        return
    assert np.isfinite([fit.alpha, fit.beta, fit.log_likelihood]).all()
    assert fit.alpha > 0 and fit.beta > 0
    assert np.all(np.isfinite(fit.covariance)) and np.all(np.linalg.eigvalsh(fit.covariance) > 0)


# ---------------------------------------------------------------------------------------------
# RFM summary
# ---------------------------------------------------------------------------------------------


def test_rfm_summary_golden() -> None:
    transactions = pl.DataFrame(
        {
            "customer": ["A", "A", "A", "A", "A", "B", "C"],
            "day": [
                date(2024, 1, 1),
                date(2024, 1, 1),  # same day as the row above: one purchase of 10 + 5 = 15
                date(2024, 1, 8),
                date(2024, 1, 22),
                date(2024, 2, 5),  # after as_of: ignored
                date(2024, 1, 15),
                date(2024, 2, 1),  # C's only purchase is after as_of: C is absent
            ],
            "amount": [Decimal(v) for v in ["10.00", "5.00", "20.00", "30.00", "99.00", "12.00", "7.00"]],
        },
        schema_overrides={"amount": pl.Decimal(10, 2)},
    )
    summary = rfm_summary(transactions, customer="customer", date="day", value="amount", as_of=date(2024, 1, 29))
    expected = pl.DataFrame(
        {
            "customer": ["A", "B"],
            "first_purchase": [date(2024, 1, 1), date(2024, 1, 15)],
            # A: repeat days Jan 8 and Jan 22 -> 2; B: none -> 0
            "frequency": [2, 0],
            # A: (Jan 22 - Jan 1) = 21 days = 3 weeks; B: 0
            "recency": [3.0, 0.0],
            # A: (Jan 29 - Jan 1) = 28 days = 4 weeks; B: (Jan 29 - Jan 15) = 14 days = 2 weeks
            "T": [4.0, 2.0],
            # A: (20 + 30) / 2 = 25 (the first day's 15 is excluded); B: 0 with no repeat purchase
            "monetary_value": [25.0, 0.0],
        },
        schema={
            "customer": pl.String,
            "first_purchase": pl.Date,
            "frequency": pl.Int64,
            "recency": pl.Float64,
            "T": pl.Float64,
            "monetary_value": pl.Float64,
        },
    )
    assert_frame_equal(summary, expected)

    # A Datetime column is truncated to its date, and with no value column the spend is null.
    as_datetimes = transactions.with_columns(pl.col("day").cast(pl.Datetime) + pl.duration(hours=13))
    no_value = rfm_summary(as_datetimes.lazy(), customer="customer", date="day", value=None, as_of=date(2024, 1, 29))
    assert_frame_equal(no_value.drop("monetary_value"), expected.drop("monetary_value"))
    assert no_value["monetary_value"].null_count() == 2


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 60), st.integers(1, 10_000)),
        min_size=1,
        max_size=40,
    )
)
def test_rfm_summary_invariants(rows: list[tuple[int, int, int]]) -> None:
    start, as_of = date(2024, 1, 1), date(2024, 2, 15)
    frame = pl.DataFrame(
        {
            "customer": [c for c, _, _ in rows],
            "day": [start + timedelta(days=d) for _, d, _ in rows],
            "cents": [v for _, _, v in rows],
        }
    )
    summary = rfm_summary(frame, customer="customer", date="day", value="cents", as_of=as_of)
    assert (summary["frequency"] >= 0).all()
    assert (summary["recency"] <= summary["T"]).all()
    assert ((summary["frequency"] == 0) == (summary["monetary_value"] == 0)).all()
    # Splitting every purchase into two rows on the same day changes nothing.
    halves = pl.concat(
        [
            frame.with_columns(pl.col("cents") // 2),
            frame.with_columns(pl.col("cents") - pl.col("cents") // 2),
        ]
    )
    assert_frame_equal(rfm_summary(halves, customer="customer", date="day", value="cents", as_of=as_of), summary)


# ---------------------------------------------------------------------------------------------
# BG/NBD on CDNOW
# ---------------------------------------------------------------------------------------------


def test_cdnow_calibration_summary(cdnow: pl.DataFrame, cdnow_rfm: pl.DataFrame) -> None:
    assert cdnow.height == 6919
    assert cdnow_rfm.height == 2357  # FHL (2005a): 2,357 customers
    # Counting purchase *days* (same-day orders merged): 2,457 repeat purchases in weeks 1-39,
    # by 946 customers; 1,411 made none. Counting rows instead would give 2,603.
    assert cdnow_rfm["frequency"].sum() == 2457
    assert (cdnow_rfm["frequency"] == 0).sum() == 1411
    # Customer 1 (master id 00004): 1997-01-01, 01-18, 08-02 in the calibration period ->
    # x = 2, t_x = 213 days = 30.43 weeks, T = 272 days = 38.86 weeks, mean repeat spend
    # (29.73 + 14.96) / 2 = 22.345; the same row is in Hardie's cdnow summary (ID 0001: 2, 30.43, 38.86).
    first = cdnow_rfm.row(0, named=True)
    assert (first["customer"], first["frequency"]) == (1, 2)
    assert first["recency"] == pytest.approx(213 / 7)
    assert first["T"] == pytest.approx(272 / 7)
    assert first["monetary_value"] == pytest.approx(22.345)


def test_bgnbd_reproduces_fhl_2005(cdnow_bgnbd: BGNBDFit) -> None:
    # FHL (2005a) "Counting your customers the easy way", CDNOW sample, 39-week calibration:
    # r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, log-likelihood -9582.4.
    assert cdnow_bgnbd.r == pytest.approx(0.243, rel=PUBLISHED)
    assert cdnow_bgnbd.alpha == pytest.approx(4.414, rel=PUBLISHED)
    assert cdnow_bgnbd.a == pytest.approx(0.793, rel=PUBLISHED)
    assert cdnow_bgnbd.b == pytest.approx(2.426, rel=PUBLISHED)
    assert cdnow_bgnbd.log_likelihood == pytest.approx(-9582.4, abs=0.05)
    assert cdnow_bgnbd.customers == 2357


def test_bgnbd_conditional_expectation_of_customer_one(cdnow_bgnbd: BGNBDFit) -> None:
    # Fader, Hardie & Lee's worked example of FHL (2005a) eq. 10 (their note "Implementing the
    # BG/NBD model for customer base analysis in Excel"): a customer with x = 2, t_x = 30.43,
    # T = 38.86 is expected to make 1.226 purchases in the next 39 weeks.
    expected = bgnbd_conditional_expected_purchases(cdnow_bgnbd, 39, 2, 30.43, 38.86)
    assert expected == pytest.approx([1.226], rel=PUBLISHED)


def test_bgnbd_probability_alive_by_hand() -> None:
    params = (0.243, 4.414, 0.793, 2.426)
    # odds = a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x) = 0.793/3.426 * (43.274/34.844)^2.243
    #      = 0.231465 * 1.241935^2.243 = 0.231465 * 1.625789 = 0.376314; P(alive) = 1/1.376314 = 0.72658
    assert bgnbd_probability_alive(params, [2, 0], [30.43, 0.0], [38.86, 38.86]) == pytest.approx(
        [0.72658, 1.0], rel=1e-4
    )


def test_bgnbd_new_customer_conditional_equals_unconditional(cdnow_bgnbd: BGNBDFit) -> None:
    # With x = 0, t_x = 0, T = 0, eq. 10 collapses to eq. 9.
    horizons = np.array([1.0, 13.0, 39.0, 78.0, 520.0])
    zeros = np.zeros_like(horizons)
    np.testing.assert_allclose(
        bgnbd_conditional_expected_purchases(cdnow_bgnbd, horizons, zeros, zeros, zeros),
        bgnbd_expected_purchases(cdnow_bgnbd, horizons),
        rtol=1e-10,
    )


def test_bgnbd_is_invariant_to_the_time_unit(cdnow: pl.DataFrame, cdnow_bgnbd: BGNBDFit) -> None:
    # Measuring time in days instead of weeks multiplies alpha by 7 and leaves r, a, b unchanged;
    # the likelihood of t_x (a density in time) shifts by -sum(x) ln 7.
    days = rfm_summary(cdnow, customer="customer", date="date", value=None, as_of=CALIBRATION_END, time_unit_days=1)
    fit = fit_bgnbd(days["frequency"], days["recency"], days["T"])
    assert fit.alpha == pytest.approx(7 * cdnow_bgnbd.alpha, rel=1e-4)
    assert [fit.r, fit.a, fit.b] == pytest.approx([cdnow_bgnbd.r, cdnow_bgnbd.a, cdnow_bgnbd.b], rel=1e-4)
    assert fit.log_likelihood == pytest.approx(cdnow_bgnbd.log_likelihood - 2457 * np.log(7), abs=1e-3)


# ---------------------------------------------------------------------------------------------
# Gamma-Gamma on CDNOW
# ---------------------------------------------------------------------------------------------


def test_gamma_gamma_reproduces_lifetimes_documentation(cdnow_gamma_gamma: GammaGammaFit) -> None:
    # lifetimes documentation, Gamma-Gamma fit to the CDNOW sample's 946 repeat customers
    # (monetary value = mean of the calibration-period repeat purchases): p = 6.25, q = 3.74, gamma = 15.44.
    assert cdnow_gamma_gamma.customers == 946
    assert cdnow_gamma_gamma.p == pytest.approx(6.25, rel=PUBLISHED)
    assert cdnow_gamma_gamma.q == pytest.approx(3.74, rel=PUBLISHED)
    assert cdnow_gamma_gamma.gamma == pytest.approx(15.44, rel=PUBLISHED)


def test_gamma_gamma_is_invariant_to_the_money_unit(
    cdnow_rfm: pl.DataFrame, cdnow_gamma_gamma: GammaGammaFit
) -> None:
    # Spend in cents instead of dollars: gamma (a scale) x 100, p and q unchanged.
    fit = fit_gamma_gamma(cdnow_rfm["frequency"], cdnow_rfm["monetary_value"] * 100)
    assert fit.gamma == pytest.approx(100 * cdnow_gamma_gamma.gamma, rel=1e-4)
    assert [fit.p, fit.q] == pytest.approx([cdnow_gamma_gamma.p, cdnow_gamma_gamma.q], rel=1e-4)


def test_gamma_gamma_expected_spend_by_hand() -> None:
    params = (6.25, 3.74, 15.44)
    # population mean p*gamma/(q-1) = 6.25 * 15.44 / 2.74 = 35.219
    assert gamma_gamma_expected_spend(params) == pytest.approx(35.219, rel=1e-4)
    # customer 1: x = 2, m_x = 22.345 -> p (gamma + x m_x) / (p x + q - 1) = 6.25 * 60.13 / 15.24 = 24.660;
    # a customer with x = 0 gets the population mean.
    assert gamma_gamma_expected_spend(params, [2, 0], [22.345, 0.0]) == pytest.approx([24.660, 35.219], rel=1e-4)


@settings(max_examples=200, deadline=None)
@given(
    p=st.floats(0.1, 50),
    q=st.floats(1.05, 50),
    gamma=st.floats(0.1, 1e4),
    x=st.integers(1, 200),
    spend=st.floats(0.01, 1e5),
)
def test_gamma_gamma_conditional_spend_lies_between_population_and_own_mean(
    p: float, q: float, gamma: float, x: int, spend: float
) -> None:
    population = gamma_gamma_expected_spend((p, q, gamma))
    conditional = float(np.asarray(gamma_gamma_expected_spend((p, q, gamma), [x], [spend]))[0])
    low, high = sorted([float(population), spend])
    assert low * (1 - 1e-12) <= conditional <= high * (1 + 1e-12)


# ---------------------------------------------------------------------------------------------
# Robustness: FitError, never NaN
# ---------------------------------------------------------------------------------------------


def test_too_few_customers_is_a_fit_error() -> None:
    with pytest.raises(FitError, match="too few"):
        fit_bgnbd([1, 0, 2, 0, 1], [3.0, 0.0, 5.0, 0.0, 1.0], [10.0] * 5)
    with pytest.raises(FitError, match="too few"):
        fit_gamma_gamma([1, 2, 0, 3], [10.0, 12.0, 0.0, 9.0])
    with pytest.raises(FitError, match="too few"):
        fit_sbg([5, 4, 3])
    with pytest.raises(FitError, match="pass counts, not shares"):
        fit_sbg([1.0, 0.631, 0.468, 0.382])


def test_no_repeat_purchases_is_a_fit_error() -> None:
    zeros = np.zeros(50)
    with pytest.raises(FitError, match="no customer made a repeat purchase"):
        fit_gamma_gamma(zeros, zeros)
    with pytest.raises(FitError, match="no customer made a repeat purchase"):
        fit_bgnbd(zeros, zeros, np.full(50, 30.0))


def test_sbg_bad_survivor_series_is_a_fit_error() -> None:
    with pytest.raises(FitError, match="non-increasing"):
        fit_sbg([1000, 631, 700, 382])
    with pytest.raises(FitError, match="at least 2 periods"):
        fit_sbg([1000, 631])
    with pytest.raises(FitError, match="nobody churned"):
        fit_sbg([1000, 1000, 1000])
    with pytest.raises(FitError, match="non-finite"):
        fit_sbg([1000, float("nan"), 400])
    # A perfectly geometric series has no heterogeneity: the MLE runs off to alpha, beta -> infinity.
    with pytest.raises(FitError, match="sBG: "):
        fit_sbg([1000, 500, 250, 125, 62.5])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    customers=st.integers(min_value=10, max_value=80),
    mean_purchases=st.sampled_from([0.05, 0.5, 3.0, 20.0]),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_bgnbd_fit_is_finite_or_a_fit_error(customers: int, mean_purchases: float, seed: int) -> None:
    # Small, structureless data: most have no interior maximum, and must say so rather than return NaN.
    rng = np.random.default_rng(seed)
    x = rng.poisson(mean_purchases, customers)
    big_t = rng.uniform(1.0, 52.0, customers)
    tx = np.where(x > 0, rng.uniform(0.0, 1.0, customers) * big_t, 0.0)
    try:
        fit = fit_bgnbd(x, tx, big_t)
    except FitError as error:
        assert str(error).startswith("BG/NBD: ")
        return
    assert np.all(np.isfinite(fit.params)) and np.all(fit.params > 0) and np.isfinite(fit.log_likelihood)
    assert np.all(np.linalg.eigvalsh(fit.covariance) > 0)


def test_invalid_rfm_inputs_are_fit_errors() -> None:
    with pytest.raises(FitError, match="recency later than T"):
        fit_bgnbd([1] * 10, [40.0] * 10, [30.0] * 10)
    with pytest.raises(FitError, match="different lengths"):
        fit_bgnbd([1] * 10, [4.0] * 9, [30.0] * 10)
    with pytest.raises(FitError, match="monetary value <= 0"):
        fit_gamma_gamma([1] * 12, [10.0] * 11 + [0.0])


def test_infinite_population_spend_is_a_fit_error() -> None:
    with pytest.raises(FitError, match=r"q = 0\.9 <= 1"):
        gamma_gamma_expected_spend((2.0, 0.9, 10.0))
    # With transactions the conditional expectation is finite again: p x + q - 1 = 2.9 > 0.
    assert gamma_gamma_expected_spend((2.0, 0.9, 10.0), [1], [20.0]) == pytest.approx([2 * 30 / 1.9])


@pytest.mark.parametrize("fit_name", ["sbg", "bgnbd", "gamma_gamma"])
def test_parameter_draws(
    fit_name: str, cdnow_bgnbd: BGNBDFit, cdnow_gamma_gamma: GammaGammaFit
) -> None:
    fits: dict[str, SBGFit | BGNBDFit | GammaGammaFit] = {
        "sbg": fit_sbg(REGULAR),
        "bgnbd": cdnow_bgnbd,
        "gamma_gamma": cdnow_gamma_gamma,
    }
    fit = fits[fit_name]
    n = 20_000
    draws = parameter_draws(fit, n, np.random.default_rng(20240501))
    assert draws.shape == (n, len(fit.param_names))
    assert np.all(draws > 0) and np.all(np.isfinite(draws))
    # The log-draws are normal around log(fit): their median is within 0.04 standard errors
    # (the median of 20,000 normals has sd 1.2533/sqrt(20000) = 0.0089 sd), and their
    # covariance is fit.covariance (sampling error of a variance ~ sqrt(2/n) = 1%).
    logs = np.log(draws)
    sd = np.sqrt(np.diag(fit.covariance))
    assert np.all(np.abs(np.median(logs, axis=0) - np.log(fit.params)) < 0.04 * sd)
    np.testing.assert_allclose(np.cov(logs, rowvar=False), fit.covariance, rtol=0.05, atol=0.05 * sd.max() ** 2)


# ---------------------------------------------------------------------------------------------
# Simulation: recover known parameters
# ---------------------------------------------------------------------------------------------


def simulate_bgnbd(
    rng: np.random.Generator, n: int, params: tuple[float, float, float, float], horizons: list[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FHL (2005a) story: Poisson(lambda) purchases, lambda ~ Gamma(r, alpha); after each repeat purchase
    the customer drops out with probability p ~ Beta(a, b).

    Returns (x, t_x) observed to the last horizon and the counts X(h) for every horizon.
    """
    r, alpha, a, b = params
    end = max(horizons)
    rate = rng.gamma(r, 1 / alpha, n)
    dropout = rng.beta(a, b, n)
    clock = np.zeros(n)
    x = np.zeros(n, dtype=np.int64)
    tx = np.zeros(n)
    counts = np.zeros((len(horizons), n), dtype=np.int64)
    active = np.ones(n, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        clock[idx] += rng.exponential(1 / rate[idx])
        late = clock[idx] > end
        active[idx[late]] = False
        bought = idx[~late]
        x[bought] += 1
        tx[bought] = clock[bought]
        for k, horizon in enumerate(horizons):
            counts[k, bought] += clock[bought] <= horizon
        active[bought[rng.random(bought.size) < dropout[bought]]] = False
    return x, tx, counts


def assert_recovered(fit: SBGFit | BGNBDFit | GammaGammaFit, truth: list[float]) -> None:
    """Each log-parameter within 4 asymptotic standard errors of the truth.

    The MLE of log(theta) is asymptotically normal with covariance fit.covariance, so a
    |z| > 4 happens with probability 6e-5 per parameter if the fit and its covariance are
    right; the seeds are fixed, so the test is deterministic. Each SE is also required to be
    under 25% so the check is not vacuous.
    """
    sd = np.sqrt(np.diag(fit.covariance))
    z = (np.log(fit.params) - np.log(truth)) / sd
    assert np.all(sd < 0.25), sd
    assert np.all(np.abs(z) < 4), z


def test_bgnbd_recovers_simulated_parameters() -> None:
    truth = (0.5, 5.0, 0.8, 2.5)
    x, tx, _ = simulate_bgnbd(np.random.default_rng(7), 5000, truth, horizons=[52.0])
    fit = fit_bgnbd(x, tx, np.full(x.size, 52.0))
    assert_recovered(fit, list(truth))


def test_bgnbd_expected_purchases_matches_monte_carlo() -> None:
    params = (0.5, 5.0, 0.8, 2.5)
    horizons = [4.0, 13.0, 26.0, 52.0]
    n = 200_000
    _, _, counts = simulate_bgnbd(np.random.default_rng(11), n, params, horizons=horizons)
    mean = counts.mean(axis=1)
    standard_error = counts.std(axis=1, ddof=1) / np.sqrt(n)
    expected = bgnbd_expected_purchases(params, horizons)
    # Monte-Carlo error only: within 4 standard errors of the simulated mean.
    assert np.all(np.abs(mean - expected) < 4 * standard_error), (mean, expected, standard_error)


def test_sbg_recovers_simulated_parameters() -> None:
    rng = np.random.default_rng(3)
    churn = rng.beta(1.0, 2.0, 10_000)
    tenure = rng.geometric(churn)  # P(T = t | theta) = theta (1 - theta)^(t-1), t = 1, 2, ...
    alive = [int(np.sum(tenure > t)) for t in range(0, 9)]
    assert alive[0] == 10_000
    assert_recovered(fit_sbg(alive), [1.0, 2.0])


def test_gamma_gamma_recovers_simulated_parameters() -> None:
    rng = np.random.default_rng(5)
    p, q, gamma = 6.0, 4.0, 15.0
    n = 3000
    x = rng.integers(1, 12, n)
    nu = rng.gamma(q, 1 / gamma, n)  # nu ~ Gamma(shape q, rate gamma)
    mean_spend = rng.gamma(p * x, 1 / (nu * x))  # mean of x Gamma(p, rate nu) spends
    assert_recovered(fit_gamma_gamma(x, mean_spend), [p, q, gamma])


def test_pooled_sbg_recovers_the_model_from_cohorts_of_different_ages() -> None:
    # Expected survivor counts of sBG(alpha=0.9, beta=2.5) for cohorts observed 2 to 12 periods:
    # with expected counts the maximum-likelihood estimate is the true model itself.
    from finance.ltv.models import fit_sbg_cohorts, sbg_survival

    survival = sbg_survival(0.9, 2.5, 12)
    cohorts = [list(5000 * survival[: length + 1]) for length in range(2, 13)] + [[800.0]]
    pooled = fit_sbg_cohorts(cohorts)
    assert pooled.alpha == pytest.approx(0.9, rel=1e-3) and pooled.beta == pytest.approx(2.5, rel=1e-3)
    assert pooled.customers == 5000 * 11  # the cohort with no observed period is left out
    regular = fit_sbg_cohorts([[1000, 631, 468, 382, 326, 289, 262, 241]])
    assert (round(regular.alpha, 3), round(regular.beta, 3)) == (0.704, 1.182)  # Fader & Hardie (2007)


def test_pooled_sbg_refuses_what_cannot_be_fitted() -> None:
    from finance.ltv.models import FitError, fit_sbg_cohorts

    with pytest.raises(FitError, match="observed for two periods"):
        fit_sbg_cohorts([[100, 90], [50]])
    with pytest.raises(FitError, match="nobody churned"):
        fit_sbg_cohorts([[100, 100, 100], [50, 50, 50]])
    with pytest.raises(FitError, match="non-increasing"):
        fit_sbg_cohorts([[100, 90, 95]])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from([0.0, 0.5, 1.5, 2.5]), st.floats(0, 9, width=16)),
                min_size=1, max_size=40))
def test_distinct_rows_agree_with_sorting_the_rows(rows: list[tuple[int, float, float]]) -> None:
    """The fits' grouping of customers into histories: the rows numpy's row sort finds, in its order, with the
    same counts, and each row's index pointing back at its own values."""
    from finance.ltv.models.fitting import distinct_rows

    columns = [np.array([float(r[i]) for r in rows]) for i in range(3)]
    expected, counts = np.unique(np.stack(columns, axis=1), axis=0, return_counts=True)
    found, inverse, found_counts = distinct_rows(*columns)
    assert np.array_equal(np.stack(found, axis=1), expected)
    assert np.array_equal(found_counts, counts)
    assert np.array_equal(np.stack(found, axis=1)[inverse], np.stack(columns, axis=1))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 60), st.integers(0, 60), st.integers(1, 9)),
                min_size=1, max_size=30),
       st.tuples(*[st.floats(-3, 3) for _ in range(4)]))
def test_the_grouped_bgnbd_likelihood_is_the_sum_of_each_customers(
        rows: list[tuple[int, int, int, int]], log_params: tuple[float, float, float, float]) -> None:
    """The fit's likelihood, taken once per distinct x, T and t_x and weighted by how many customers share a
    history, against FHL 2005a's eq. 6 customer by customer (each history repeated its count)."""
    from finance.ltv.models.bgnbd import _bgnbd_log_likelihood_terms, _grouped_log_likelihood

    x = np.array([float(r[0]) for r in rows])
    big_t = np.array([float(r[1] + r[2]) + 0.5 for r in rows])
    tx = np.where(x > 0, np.minimum(np.array([float(r[1]) + 0.5 for r in rows]), big_t), 0.0)
    counts = np.array([float(r[3]) for r in rows])
    r, alpha, a, b = np.exp(log_params)
    each = _bgnbd_log_likelihood_terms(r, alpha, a, b, np.repeat(x, counts.astype(int)),
                                       np.repeat(tx, counts.astype(int)), np.repeat(big_t, counts.astype(int)))
    grouped = -_grouped_log_likelihood(counts, x, tx, big_t)(np.array(log_params))
    assert grouped == pytest.approx(float(np.sum(each)), rel=1e-12, abs=1e-9)
