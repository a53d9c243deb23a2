"""The known-future simulator: reproducible, cut cleanly at as_of, and true to its models.

Every test builds real companies with ``bench.simulate.simulate`` and, where files are
involved, writes them to ``tmp_path`` and reads them back with Python's csv module; the
truth is recomputed here with plain loops over those files, and the product's own
estimators (``finance.ltv.models``) recover the parameters the companies were drawn from.
"""

from __future__ import annotations

import csv
import itertools
import math
import re
import time
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from bench import samplegen
from bench.simulate import CHANNELS, KINDS, KnownFuture, simulate
from finance.ltv.models import fit_bgnbd, fit_gamma_gamma, fit_sbg_cohorts, rfm_summary

MONEY = re.compile(r"^-?\d+\.\d{2}$")
CANONICAL = {"digital_advertising", "content_seo", "content_creation", "events", "media_relations", "influencer",
             "creative_services", "website", "personnel", "martech", "other_vendors", "sales"}


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def cents(text: str) -> int:
    assert MONEY.match(text), text
    return int(Decimal(text) * 100)


def month_number(day: date) -> int:
    return day.year * 12 + day.month - 1


def cohort_of(day: date, grain: str) -> date:
    month = day.month if grain == "month" else 3 * ((day.month - 1) // 3) + 1
    return date(day.year, month, 1)


def quarter(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def frame_cents(frame: pl.DataFrame, column: str) -> list[int]:
    return [int(v * 100) for v in frame.get_column(column).to_list()]


@pytest.fixture(scope="module")
def mixed() -> KnownFuture:
    return simulate("mixed", seed=4242, customers=1_500)


@pytest.fixture(scope="module")
def written(mixed: KnownFuture, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return mixed.write(tmp_path_factory.mktemp("mixed"), billing_column=True, include_future=True)


# --------------------------------------------------------------------------------------
# Reproducibility
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_company(kind: Any) -> None:
    first, second = simulate(kind, seed=917, customers=800), simulate(kind, seed=917, customers=800)
    assert first.params == second.params
    for name in ("customers", "revenue", "spend", "latent"):
        assert getattr(first, name).equals(getattr(second, name)), name
    assert first.as_of == second.as_of == date(2024, 12, 31)


def test_different_seeds_different_companies() -> None:
    companies = [simulate("mixed", seed=seed, customers=800) for seed in (1, 2, 3)]
    for one, other in ((companies[0], companies[1]), (companies[1], companies[2]), (companies[0], companies[2])):
        assert one.params["monthly_growth"] != other.params["monthly_growth"]
        for name, seg in one.params["segments"].items():
            theirs = other.params["segments"][name]
            keys = ("alpha", "beta", "price_median") if seg["model"] == "sBG" else ("r", "alpha", "a", "b", "p", "q")
            assert all(seg[k] != theirs[k] for k in keys), name
        assert not one.revenue.equals(other.revenue)
    # Companies not in the repo: none of the demo company's channels or churn parameters.
    assert not set(CHANNELS) & set(samplegen.CHANNELS)
    for company in companies:
        smb = company.params["segments"]["SMB"]
        assert (smb["alpha"], smb["beta"]) != samplegen.SMB_CHURN_BETA


def test_overrides_replace_only_what_they_name() -> None:
    plain = simulate("subscription", seed=5, customers=500)
    forced = simulate("subscription", seed=5, customers=500,
                      overrides={"channels.*.multiplier": 1.0, "segments.SMB.alpha": 1.5})
    assert {c["multiplier"] for c in forced.params["channels"].values()} == {1.0}
    assert forced.params["segments"]["SMB"]["alpha"] == 1.5
    assert forced.params["segments"]["SMB"]["beta"] == plain.params["segments"]["SMB"]["beta"]
    assert forced.customers.equals(plain.customers)
    with pytest.raises(KeyError, match="no parameter"):
        simulate("subscription", seed=5, customers=500, overrides={"segments.SMB.alpah": 1.0})


@pytest.mark.parametrize("kind", KINDS)
def test_default_size_is_fast_and_every_cohort_is_populated(kind: Any) -> None:
    began = time.perf_counter()
    company = simulate(kind, seed=31)
    assert time.perf_counter() - began < 5.0
    sizes = company.customers.group_by(pl.col("acquired_on").dt.truncate("1mo")).len()
    assert sizes.height == 36
    assert sizes.get_column("len").min() >= 60  # type: ignore[operator]
    assert company.customers.get_column("customer_id").str.starts_with(kind[0].upper()).all()
    # Channels differ in quality: their churn/dropout multipliers are not all alike.
    multipliers = [c["multiplier"] for c in company.params["channels"].values()]
    assert max(multipliers) / min(multipliers) > 1.2


# --------------------------------------------------------------------------------------
# The cut at as_of
# --------------------------------------------------------------------------------------

def test_history_and_files_hold_nothing_after_as_of(mixed: KnownFuture, written: dict[str, Path]) -> None:
    as_of = mixed.as_of
    assert mixed.revenue.get_column("date").max() == mixed.last_day == date(2027, 12, 31)
    assert mixed.revenue.filter(pl.col("date") > as_of).height > 0  # the future exists...
    assert mixed.history().get_column("date").max() <= as_of  # type: ignore[operator]
    assert mixed.history().height + mixed.revenue.filter(pl.col("date") > as_of).height == mixed.revenue.height

    revenue = read_csv(written["revenue"])
    assert list(revenue[0]) == ["customer_id", "date", "revenue", "gross_margin"]
    assert all(date.fromisoformat(r["date"]) <= as_of for r in revenue)
    assert len(revenue) == mixed.history().height
    # ...and the file's money is exactly the frame's cents.
    assert sum(cents(r["revenue"]) for r in revenue) == sum(frame_cents(mixed.history(), "revenue"))
    assert sum(cents(r["gross_margin"]) for r in revenue) == sum(frame_cents(mixed.history(), "gross_margin"))
    future = read_csv(written["revenue_future"])
    assert future and all(date.fromisoformat(r["date"]) > as_of for r in future)

    customers = read_csv(written["customers"])
    assert list(customers[0]) == ["customer_id", "acquired_on", "channel", "segment", "billing_interval"]
    assert all(date.fromisoformat(c["acquired_on"]) <= as_of for c in customers)
    assert len(customers) == mixed.customers.filter(pl.col("acquired_on") <= as_of).height == 1_500
    assert {c["billing_interval"] for c in customers if c["segment"] == "DTC"} == {""}
    assert {c["billing_interval"] for c in customers if c["segment"] != "DTC"} <= {"month", "quarter", "year"}

    spend = read_csv(written["spend"])
    spend_next = read_csv(written["spend_next"])
    assert list(spend[0]) == ["period", "category", "channel", "amount"]
    history_quarters = {quarter(date(y, m, 1)) for y in (2022, 2023, 2024) for m in (1, 4, 7, 10)}
    assert {r["period"] for r in spend} == history_quarters
    assert {r["period"] for r in spend_next} == {"2025-Q1"} == {mixed.next_quarter}
    for row in spend + spend_next:
        assert row["category"] in CANONICAL
        assert row["channel"] in {*CHANNELS, ""}
        assert cents(row["amount"]) > 0
    assert {r["category"] for r in spend if r["channel"] == ""} >= {"personnel", "martech"}
    all_cents = sum(cents(r["amount"]) for r in spend + spend_next)
    assert all_cents == sum(frame_cents(mixed.spend, "amount"))
    # Fully loaded CAC in the hundreds to low thousands of dollars.
    cac = sum(cents(r["amount"]) for r in spend) / 100 / len(customers)
    assert 100 < cac < 3_000


def test_billing_column_only_when_asked(mixed: KnownFuture, tmp_path: Path) -> None:
    paths = mixed.write(tmp_path)
    assert list(read_csv(paths["customers"])[0]) == ["customer_id", "acquired_on", "channel", "segment"]
    assert set(paths) == {"spend", "spend_next", "customers", "revenue"}


# --------------------------------------------------------------------------------------
# The truth, recomputed from the files
# --------------------------------------------------------------------------------------

def independent_truth(paths: dict[str, Path], horizon: int, rate: float, grain: str,
                      by: str | None) -> dict[tuple[Any, ...], tuple[int, float]]:
    """Per (cohort[, by]): customers and mean discounted margin, from the CSVs with plain loops."""
    customers = read_csv(paths["customers"])
    acquired = {c["customer_id"]: date.fromisoformat(c["acquired_on"]) for c in customers}
    key_of = {c["customer_id"]: (cohort_of(acquired[c["customer_id"]], grain), *([c[by]] if by else []))
              for c in customers}
    size: dict[tuple[Any, ...], int] = defaultdict(int)
    for key in key_of.values():
        size[key] += 1
    margin: dict[tuple[Any, ...], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for row in read_csv(paths["revenue"]) + read_csv(paths["revenue_future"]):
        age = month_number(date.fromisoformat(row["date"])) - month_number(acquired[row["customer_id"]])
        assert age >= 0
        if age < horizon:
            margin[key_of[row["customer_id"]]][age] += cents(row["gross_margin"])
    return {key: (n, math.fsum(c / 100 / (1 + rate) ** (t / 12) for t, c in margin[key].items()) / n)
            for key, n in size.items()}


@pytest.mark.parametrize(("horizon", "rate", "grain", "by"), [
    (36, 0.10, "month", None), (24, 0.0, "quarter", "segment"), (37, 0.25, "month", "channel"),
])
def test_truth_matches_an_independent_computation(mixed: KnownFuture, written: dict[str, Path], horizon: int,
                                                  rate: float, grain: Any, by: Any) -> None:
    truth = mixed.truth(horizon=horizon, annual_discount_rate=rate, grain=grain, by=by)
    assert truth.columns == ["cohort", *([by] if by else []), "customers", "ltv"]
    assert truth.schema["customers"] == pl.Int64 and truth.schema["ltv"] == pl.Float64
    assert truth.get_column("cohort").is_sorted()
    expected = independent_truth(written, horizon, rate, grain, by)
    assert truth.height == len(expected)
    assert truth.get_column("customers").sum() == 1_500
    rows = {tuple(r[:-2]): (r[-2], r[-1]) for r in truth.iter_rows()}
    for key in [*list(expected)[:: max(1, len(expected) // 7)], min(expected), max(expected)]:
        n, ltv = expected[key]
        assert rows[key][0] == n
        assert rows[key][1] == pytest.approx(ltv, rel=1e-9), key
        assert ltv > 0


def test_truth_discounts_and_needs_the_simulated_future(mixed: KnownFuture) -> None:
    plain = mixed.truth(annual_discount_rate=0.0).get_column("ltv")
    discounted = mixed.truth(annual_discount_rate=0.10).get_column("ltv")
    assert (discounted < plain).all()
    assert (mixed.truth(horizon=12).get_column("ltv") < plain).all()
    with pytest.raises(ValueError, match="horizon"):
        mixed.truth(horizon=38)


def test_realised_matches_an_independent_computation(mixed: KnownFuture, written: dict[str, Path]) -> None:
    cutoff, ahead = date(2023, 6, 15), 12
    realised = mixed.realised(cutoff, ahead, grain="quarter")
    assert realised.columns == ["cohort", "customers", "margin_per_customer"]
    customers = {c["customer_id"]: date.fromisoformat(c["acquired_on"]) for c in read_csv(written["customers"])}
    members = {cid: cohort_of(day, "quarter") for cid, day in customers.items() if day <= cutoff}
    total: dict[date, int] = defaultdict(int)
    size: dict[date, int] = defaultdict(int)
    for cohort in members.values():
        size[cohort] += 1
    for row in read_csv(written["revenue"]) + read_csv(written["revenue_future"]):
        month = month_number(date.fromisoformat(row["date"]))
        if row["customer_id"] in members and month_number(cutoff) < month <= month_number(cutoff) + ahead:
            total[members[row["customer_id"]]] += cents(row["gross_margin"])
    assert realised.get_column("cohort").to_list() == sorted(size)
    for cohort, n, value in realised.iter_rows():
        assert n == size[cohort]
        assert value == pytest.approx(total[cohort] / 100 / n, rel=1e-12)
    assert realised.get_column("customers").sum() == len(members) < 1_500
    with pytest.raises(ValueError, match="months_ahead"):
        mixed.realised(mixed.as_of, 37)


# --------------------------------------------------------------------------------------
# Subscriptions: terms
# --------------------------------------------------------------------------------------

def test_subscription_terms_bill_up_front_and_end_at_term_ends() -> None:
    company = simulate("subscription", seed=77, customers=3_000)
    last_month = month_number(company.last_day)
    rows = company.revenue.join(company.customers, on="customer_id").join(company.latent, on="customer_id")
    checked = {"quarter": 0, "year": 0}
    for (cid,), group in rows.sort("date").group_by(["customer_id"], maintain_order=True):
        interval = group.get_column("billing_interval")[0]
        m = {"month": 1, "quarter": 3, "year": 12}[interval]
        dates = group.get_column("date").to_list()
        acquired: date = group.get_column("acquired_on")[0]
        price = int(group.get_column("monthly_price")[0] * 100)
        life = group.get_column("lifetime_months")[0]
        assert dates[0] == acquired, cid  # the first term is paid on the acquisition day
        months = [month_number(d) for d in dates]
        assert all(b - a == m for a, b in itertools.pairwise(months)), cid
        for day in dates:  # invoice day = the acquisition day of the month, clipped to the month
            days_in_month = (date(day.year + day.month // 12, day.month % 12 + 1, 1) - day.replace(day=1)).days
            assert day.day == min(acquired.day, days_in_month), cid
        assert frame_cents(group, "revenue") == [m * price] * len(dates), cid
        rate = group.get_column("margin_rate")[0]
        assert frame_cents(group, "gross_margin") == [math.floor(m * price * rate)] * len(dates), cid
        # Leaving only at a term end: the paid terms cover the months lived, and no more than one term beyond.
        if months[-1] + m <= last_month:
            assert (len(dates) - 1) * m < life <= len(dates) * m, cid
        else:
            assert len(dates) * m < life + m, cid
        if interval in checked and len(dates) > 1:
            checked[interval] += 1
    assert checked["year"] > 50 and checked["quarter"] > 50


# --------------------------------------------------------------------------------------
# Parameter recovery with the product's own estimators
# --------------------------------------------------------------------------------------

def survivor_series(company: KnownFuture, segment: str) -> list[list[float]]:
    """Per monthly cohort of the history: alive[0] = size, alive[t] = customers billed at age t."""
    acquired = pl.col("acquired_on")
    members = company.customers.filter(pl.col("segment") == segment).select(
        "customer_id", month=acquired.dt.year() * 12 + acquired.dt.month())
    day = pl.col("date")
    ages = (company.history().join(members, on="customer_id")
            .group_by("month", age=day.dt.year() * 12 + day.dt.month() - pl.col("month"))
            .agg(alive=pl.col("customer_id").n_unique()))
    alive = {(m, a): n for m, a, n in ages.iter_rows()}
    last = company.as_of.year * 12 + company.as_of.month
    series = []
    for month, size in members.group_by("month").len().sort("month").iter_rows():
        series.append([float(size)] + [float(alive.get((month, t), 0)) for t in range(1, last - month + 1)])
    return series


def test_sbg_recovers_the_subscription_churn_parameters() -> None:
    company = simulate("subscription", seed=2024, customers=20_000, overrides={
        "channels.*.multiplier": 1.0, "segments.SMB.billing_mix": {"month": 1.0, "quarter": 0.0, "year": 0.0}})
    assert set(company.customers.filter(pl.col("segment") == "SMB").get_column("billing_interval")) == {"month"}
    fit = fit_sbg_cohorts(survivor_series(company, "SMB"))
    truth = company.params["segments"]["SMB"]
    assert fit.alpha == pytest.approx(truth["alpha"], rel=0.25)
    assert fit.beta == pytest.approx(truth["beta"], rel=0.25)


def test_bgnbd_and_gamma_gamma_recover_the_repeat_purchase_parameters() -> None:
    company = simulate("repeat", seed=2024, customers=20_000, overrides={"channels.*.multiplier": 1.0})
    rfm = rfm_summary(company.history(), customer="customer_id", date="date", value="revenue",
                      as_of=company.as_of, time_unit_days=7.0)
    assert rfm.height == 20_000
    truth = company.params["segments"]["DTC"]
    fit = fit_bgnbd(rfm.get_column("frequency"), rfm.get_column("recency"), rfm.get_column("T"))
    for name in ("r", "alpha", "a", "b"):
        assert getattr(fit, name) == pytest.approx(truth[name], rel=0.30), name
    spend = fit_gamma_gamma(rfm.get_column("frequency"), rfm.get_column("monetary_value"))
    assert truth["mean_order_value"] == pytest.approx(truth["p"] * truth["gamma"] / (truth["q"] - 1), rel=1e-5)
    assert spend.p * spend.gamma / (spend.q - 1) == pytest.approx(truth["mean_order_value"], rel=0.10)
    # Every order is worth at least 5.00, earns the segment's margin rates, and the first
    # purchase is on the acquisition day.
    assert min(frame_cents(company.revenue, "revenue")) >= 500
    low, high = truth["margin_rate"]
    for revenue, margin in zip(frame_cents(company.revenue, "revenue"), frame_cents(company.revenue, "gross_margin"),
                               strict=True):
        assert revenue * low - 3 <= margin <= revenue * high
    first = company.revenue.group_by("customer_id").agg(pl.col("date").min()).join(company.customers, on="customer_id")
    assert (first.get_column("date") == first.get_column("acquired_on")).all()
