"""The metric core on a company small enough to compute by hand, and its invariants.

Golden data (tests/data/golden): two quarters of 2025, channels Search, Social, Events,
five customers A-E, as of 2025-06-30. Expected values are written out with the arithmetic.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finance.demo import SAMPLE_DIR
from finance.domain.schema import BAND_LABELS, band_of
from finance.ltv.base import LTVSettings, payback_months
from finance.metrics.table import MetricParams, compute
from finance.store.database import Store

from .conftest import DATA

GOLDEN = DATA / "golden"
AS_OF = date(2025, 6, 30)
FLAT = LTVSettings(method="formula", annual_discount_rate=0.0, horizon_months=12)


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("golden") / "golden.duckdb"
    with Store(db) as store:
        for kind in ("spend", "funnel", "customers", "revenue"):
            assert store.import_file(kind, GOLDEN / f"{kind}.csv").status == "imported"
    return db


def _json(db: Path, params: MetricParams) -> dict:  # type: ignore[type-arg]
    with Store(db, read_only=True) as store:
        return compute(store.dataset(), params).to_json()


def test_golden_quarters(golden: Path) -> None:
    out = _json(golden, MetricParams(as_of=AS_OF, ltv=FLAT))
    q1, q2 = out["rows"]
    assert (q1["period"], q2["period"]) == ("2025-Q1", "2025-Q2")
    # Q1 marketing spend: 3000 + 1000 (media) + 2000 (personnel) + 1000.01 (martech) = 7000.01; sales 900
    assert (q1["spend"], q1["spend_sm"], q1["new_customers"], q1["leads"]) == ("7000.01", "7900.01", 3, 100)
    assert q1["cac_media"] == "1333.33"  # 4000 / 3
    assert q1["cac"] == "2333.34"        # 7000.01 / 3 = 2333.3366...
    assert q1["cac_sm"] == "2633.34"     # 7900.01 / 3 = 2633.3366...
    assert q1["cpl"] == "40.00"          # direct spend 4000 / 100 leads
    assert q1["cpa"] == "1333.33"        # direct spend 4000 / 3
    assert q1["spend_by_category"]["martech"] == "1000.01"
    assert q1["cac_by_category"]["martech"] == "333.34"  # 1000.01 / 3 = 333.3367
    assert q1["cac_by_category"]["sales"] == "300.00"  # shown, though only cac_sm counts it
    # Q2: media 1500 + events 500 (a monthly row inside the quarter) + personnel 2000 = 4000
    assert (q2["spend"], q2["new_customers"], q2["leads"]) == ("4000.00", 2, 39)
    assert (q2["cac_media"], q2["cac"], q2["cpl"], q2["cpa"]) == ("750.00", "2000.00", "51.28", "1000.00")


def test_golden_formula_ltv(golden: Path) -> None:
    out = _json(golden, MetricParams(as_of=AS_OF, ltv=FLAT))
    q1, q2 = out["rows"]
    # Churn is per segment, over all its cohorts, with half a churn event and one month of prior
    # exposure (c = (k + 1/2) / (E + 1)): no churn seen yet is not a churn of 0. Last complete month: June.
    # SMB: A alive (ages 0-5, E 6), B churned after age 1 (E 2), D alive (ages 0-2, E 3): k = 1, E = 11,
    # c = 1.5 / 12 = 1/8. DTC: C churned after age 0: c = 1.5 / 2. Enterprise B2B: E alive, E 2: c = 0.5 / 3 = 1/6.
    # Q1 cohort: A and B (SMB), C (DTC). SMB margin 480 + 160 = 640 over 8 paid months, M = 80; A's tail
    # for ages 6-11: 80 x sum_{j=1..6} (7/8)^j = 80 x 7 x (1 - (7/8)^6) = 308.6747...; C has no tail.
    # LTV = (640 + 308.6747 + 20) / 3 = 322.8916
    assert q1["ltv"] == "322.89"
    assert q1["ltv_cac"] == pytest.approx(322.8915732 / 2333.3366667, abs=1e-4)
    assert q1["band"] == "unprofitable"
    assert q1["payback_months"] is None  # 2,333 of CAC is not recovered within 12 months
    # Q2 cohort: D (SMB, alive at age 2, M = 450 / 3 = 150) and E (Enterprise B2B, alive at age 1,
    # M = 1400 / 2 = 700). D's tail, ages 3-11: 150 x 7 x (1 - (7/8)^9) = 734.3093; E's, ages 2-11:
    # 700 x 5 x (1 - (5/6)^10) = 2934.7305. LTV = (450 + 734.3093 + 1400 + 2934.7305) / 2 = 2759.5199
    assert q2["ltv"] == "2759.52"
    assert Decimal(q2["ltv_low"]) < Decimal(q2["ltv"]) < Decimal(q2["ltv_high"])  # projected: a real range
    assert q2["ltv_cac"] == pytest.approx(1.37976, abs=1e-4) and q2["band"] == "at risk"
    # per-customer margin by month: (150 + 700) / 2 = 425 at ages 0 and 1, then (150 + 700 x 5/6) / 2 =
    # 366.67, (150 x 7/8 + 700 x (5/6)^2) / 2 = 308.68, 259.97, 219.03: cumulative 425, 850, 1216.67,
    # 1525.35, 1785.32, 2004.35 >= 2,000 in month 6
    assert q2["payback_months"] == 6
    assert q2["roi"] == pytest.approx(0.3798, abs=1e-4)  # (2759.52 x 2 - 4000) / 4000


def test_golden_by_channel_allocates_shared_costs_pro_rata(golden: Path) -> None:
    out = _json(golden, MetricParams(as_of=AS_OF, by="channel", ltv=FLAT))
    rows = {(r["period"], r["channel"]): r for r in out["rows"]}
    # Q1 shared costs split 3000:1000 by direct marketing spend: personnel 1500/500,
    # martech 1000.01 -> 750.0075/250.0025, sales 900 -> 675/225
    search, social = rows[("2025-Q1", "Search")], rows[("2025-Q1", "Social")]
    assert search["spend_by_category"]["martech"] == "750.01" and social["spend_by_category"]["martech"] == "250.00"
    assert search["cac"] == "2625.00"  # (3000 + 1500 + 750.0075) / 2 = 2625.00375
    assert social["cac"] == "1750.00"  # (1000 + 500 + 250.0025) / 1
    assert search["spend_sm"] == "5925.01"  # 5250.0075 + 675
    assert (search["leads"], search["cpl"]) == (75, "40.00")
    # Q2 personnel 2000 split 1500:500 between Search (1500 direct) and Events (500 direct)
    assert rows[("2025-Q2", "Search")]["cac"] == "3000.00"
    assert rows[("2025-Q2", "Events")]["cac"] == "1000.00"
    assert rows[("2025-Q2", "Events")]["cpl"] == "55.56"  # 500 / 9


def test_golden_by_segment_splits_channel_spend_by_customer_mix(golden: Path) -> None:
    out = _json(golden, MetricParams(as_of=AS_OF, by="segment", ltv=FLAT))
    rows = {(r["period"], r["segment"]): r for r in out["rows"]}
    # Q1: Search (5250.0075) acquired two SMB customers, Social (1750.0025) one DTC customer
    assert rows[("2025-Q1", "SMB")]["cac"] == "2625.00"
    assert rows[("2025-Q1", "DTC")]["cac"] == "1750.00"
    assert rows[("2025-Q1", "SMB")]["leads"] is None  # funnel volumes carry no segment


def test_acquisition_lag_shifts_spend_to_later_cohorts(golden: Path) -> None:
    out = _json(golden, MetricParams(as_of=AS_OF, lag_quarters=1, ltv=FLAT))
    rows = {r["period"]: r for r in out["rows"]}
    # Q1 spend (7000.01) now acquires the Q2 cohort; Q1's cohort has no spend data: n/a
    assert rows["2025-Q1"]["cac"] is None and rows["2025-Q1"]["spend"] is None
    assert rows["2025-Q2"]["cac"] == "3500.01"  # 7000.01 / 2 = 3500.005 -> half-up


def test_month_grain_spreads_a_quarter_evenly(golden: Path) -> None:
    out = _json(golden, MetricParams(as_of=AS_OF, grain="month", ltv=FLAT))
    rows = {r["period"]: r for r in out["rows"]}
    # martech 1000.01 over three months: 333.3367 + 333.3367 + 333.3366 (the odd ten-thousandths go first)
    assert [rows[m]["spend_by_category"]["martech"] for m in ("2025-01", "2025-02", "2025-03")] == [
        "333.34", "333.34", "333.34"]
    total = sum(Decimal(rows[m]["spend"]) for m in rows if rows[m]["spend"])
    assert abs(total - Decimal("11000.01")) <= Decimal("0.03")  # displayed cents round each month
    assert rows["2025-04"]["spend_by_category"]["events"] == "500.00"  # the monthly row stays in April


def test_trailing_window_is_a_ratio_of_sums(golden: Path) -> None:
    out = _json(golden, MetricParams(as_of=AS_OF, window_months=6, ltv=FLAT))
    rows = {r["period"]: r for r in out["rows"]}
    assert rows["2025-Q1"]["cac"] is None  # only one quarter of history
    assert rows["2025-Q2"]["cac"] == "2200.00"  # (7000.01 + 4000) / 5 = 2200.002
    # LTV over the window weights the cohorts by customers: (322.8916 x 3 + 2759.5199 x 2) / 5 = 1297.5429
    assert rows["2025-Q2"]["ltv"] == "1297.54"


def test_as_of_ignores_later_data(golden: Path, tmp_path: Path) -> None:
    before = _json(golden, MetricParams(as_of=date(2025, 3, 31), ltv=FLAT))
    assert [r["period"] for r in before["rows"]] == ["2025-Q1"]
    assert before["assumptions"]["as_of"] == "2025-03-31"
    db = tmp_path / "later.duckdb"
    with Store(db) as store:
        for kind in ("spend", "funnel", "customers", "revenue"):
            store.import_file(kind, GOLDEN / f"{kind}.csv")
        extra = tmp_path / "late.csv"
        extra.write_text("customer_id,acquired_on,channel,segment\nZ,2025-07-01,Search,SMB\n")
        assert store.import_file("customers", extra).status == "imported"
        late_revenue = tmp_path / "late_revenue.csv"
        late_revenue.write_text("customer_id,date,revenue\nB,2025-07-02,999.00\nZ,2025-07-02,5.00\n")
        assert store.import_file("revenue", late_revenue).status == "imported"
    after = _json(db, MetricParams(as_of=date(2025, 3, 31), ltv=FLAT))
    assert after["rows"] == before["rows"]


def test_zero_new_customers_gives_null_never_inf(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with Store(db) as store:
        (tmp_path / "s.csv").write_text("period,category,amount\n2025-Q1,personnel,100\n")
        store.import_file("spend", tmp_path / "s.csv")
        out = compute(store.dataset(), MetricParams(as_of=AS_OF)).to_json()
    row = out["rows"][0]
    assert (row["new_customers"], row["cac"], row["ltv"], row["ltv_cac"], row["band"], row["roi"]) == (
        0, None, None, None, None, None)


@pytest.mark.parametrize(("ratio", "band"), [
    (0.0, "unprofitable"), (0.999, "unprofitable"), (1.0, "at risk"), (1.999, "at risk"), (2.0, "healthy"),
    (2.999, "healthy"), (3.0, "strong"), (4.999, "strong"), (5.0, "under-investing?"), (50.0, "under-investing?"),
])
def test_band_edges_belong_to_the_band_above(ratio: float, band: str) -> None:
    assert band_of(ratio) == band
    assert band_of(None) is None and band_of(float("nan")) is None


@given(edges=st.lists(st.floats(0.1, 20, allow_nan=False), min_size=4, max_size=4, unique=True),
       ratio=st.floats(0, 30, allow_nan=False))
def test_bands_follow_configured_edges(edges: list[float], ratio: float) -> None:
    edges = sorted(edges)
    band = band_of(ratio, tuple(edges))
    index = BAND_LABELS.index(band)  # type: ignore[arg-type]
    assert (index == 0 or ratio >= edges[index - 1]) and (index == 4 or ratio < edges[index])


def test_payback_counts_the_acquisition_month_as_month_one() -> None:
    assert payback_months([100, 100, 100], 200) == 2
    assert payback_months([100, 100, 100], 201) == 3
    assert payback_months([100, 100, 100], 301) is None
    assert payback_months([100], None) is None


# --- invariants on random companies ------------------------------------------------------

@st.composite
def companies(draw: st.DrawFn) -> dict[str, str]:
    channels = ["Search", "Social", "Events"]
    spend = ["period,category,channel,amount"]
    for quarter in (1, 2):
        for _ in range(draw(st.integers(1, 6))):
            category = draw(st.sampled_from(["digital_advertising", "personnel", "martech", "events", "sales"]))
            channel = "" if category in ("personnel", "martech") else draw(st.sampled_from(channels))
            cents = draw(st.integers(1, 10**8))
            spend.append(f"2025-Q{quarter},{category},{channel},{cents // 100}.{cents % 100:02d}")
    customers = ["customer_id,acquired_on,channel,segment"]
    revenue = ["customer_id,date,revenue"]
    for i in range(draw(st.integers(1, 12))):
        month = draw(st.integers(1, 6))
        customers.append(f"C{i},2025-{month:02d}-05,{draw(st.sampled_from(channels))},SMB")
        revenue.append(f"C{i},2025-{month:02d}-05,{draw(st.integers(1, 999))}.00")
    return {"spend": "\n".join(spend) + "\n", "customers": "\n".join(customers) + "\n",
            "revenue": "\n".join(revenue) + "\n"}


def _store_for(tmp: Path, files: dict[str, str]) -> Path:
    db = tmp / f"c{len(list(tmp.iterdir()))}.duckdb"
    with Store(db) as store:
        for kind, text in files.items():
            path = tmp / f"{kind}.csv"
            path.write_text(text)
            assert store.import_file(kind, path).status == "imported"
    return db


@settings(max_examples=20, deadline=None)
@given(company=companies(), k=st.integers(2, 7))
def test_scaling_spend_by_k_scales_every_cac_by_k(tmp_path_factory: pytest.TempPathFactory,
                                                  company: dict[str, str], k: int) -> None:
    tmp = tmp_path_factory.mktemp("scale")
    scaled = dict(company)
    lines = company["spend"].splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        *head, amount = line.split(",")
        out.append(",".join([*head, str(Decimal(amount) * k)]))
    scaled["spend"] = "\n".join(out) + "\n"
    base = _json(_store_for(tmp, company), MetricParams(as_of=AS_OF, by="channel"))
    more = _json(_store_for(tmp, scaled), MetricParams(as_of=AS_OF, by="channel"))
    for a, b in zip(base["rows"], more["rows"], strict=True):
        for field in ("cac_media", "cac", "cac_sm", "spend"):
            if a[field] is None:
                assert b[field] is None
            else:  # each is rounded to the cent, so allow the rounding of k cents
                assert abs(Decimal(b[field]) - k * Decimal(a[field])) <= Decimal("0.005") * (k + 1)


@settings(max_examples=20, deadline=None)
@given(company=companies())
def test_channel_rollup_equals_the_pooled_ratio(tmp_path_factory: pytest.TempPathFactory,
                                                company: dict[str, str]) -> None:
    db = _store_for(tmp_path_factory.mktemp("rollup"), company)
    with Store(db, read_only=True) as store:
        data = store.dataset()
    pooled = compute(data, MetricParams(as_of=AS_OF)).rows
    by_channel = compute(data, MetricParams(as_of=AS_OF, by="channel")).rows
    summed = by_channel.group_by("period").agg(pl.col("spend", "spend_sm", "new_customers").sum()).sort("period")
    joined = pooled.select("period", "spend", "spend_sm", "new_customers", "cac").join(
        summed, on="period", suffix="_sum")
    for row in joined.iter_rows(named=True):
        assert row["spend"] == row["spend_sum"]  # exact: allocation never loses a ten-thousandth
        assert row["spend_sm"] == row["spend_sm_sum"]
        assert row["new_customers"] == row["new_customers_sum"]
        if row["new_customers"]:
            assert row["cac"] == (row["spend_sum"] / row["new_customers_sum"]).quantize(Decimal("1e-10")) or \
                abs(float(row["cac"]) - float(row["spend_sum"]) / row["new_customers_sum"]) < 1e-9


# --- the demo company against an independent computation --------------------------------

def _cents(value: Decimal | Fraction) -> str:
    exact = Decimal(value.numerator) / Decimal(value.denominator) if isinstance(value, Fraction) else value
    return str(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@pytest.mark.parametrize("company", ["sample", "fresh"])
def test_cac_matches_an_independent_computation(tmp_path: Path, company: str) -> None:
    """Plain csv + Fraction arithmetic over the files, against `metrics --format json`:
    on the bundled sample and on a company generated here with another seed and size."""
    from bench.samplegen import generate

    from .conftest import run_cli_json

    source = SAMPLE_DIR
    if company == "fresh":
        source = tmp_path / "fresh"
        generate(source, customers=900, seed=7, start_year=2024, quarters=5)
    db = tmp_path / "company.duckdb"
    with Store(db) as store:
        for kind in ("spend", "funnel", "customers", "revenue"):
            assert store.import_file(kind, source / f"{kind}.csv").status == "imported"
    code, out = run_cli_json("metrics", "--db", db)
    assert code == 0
    spend: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    with (source / "spend.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            spend[row["period"]][row["category"]] += Decimal(row["amount"])
    new: dict[str, int] = defaultdict(int)
    with (source / "customers.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            y, m = int(row["acquired_on"][:4]), int(row["acquired_on"][5:7])
            new[f"{y}-Q{(m - 1) // 3 + 1}"] += 1
    leads: dict[str, int] = defaultdict(int)
    with (source / "funnel.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            y, m = int(row["period"][:4]), int(row["period"][5:7])
            leads[f"{y}-Q{(m - 1) // 3 + 1}"] += int(row["leads"])
    assert [r["period"] for r in out["rows"]] == sorted(spend)
    for row in out["rows"]:
        cats = spend[row["period"]]
        marketing = sum((v for k, v in cats.items() if k != "sales"), Decimal(0))
        everything = sum(cats.values(), Decimal(0))
        n = new[row["period"]]
        assert row["new_customers"] == n and row["leads"] == leads[row["period"]]
        assert row["spend"] == _cents(marketing)
        assert row["cac"] == _cents(Fraction(marketing) / n)
        assert row["cac_sm"] == _cents(Fraction(everything) / n)
        assert row["cac_media"] == _cents(Fraction(cats["digital_advertising"]) / n)
        for key, value in cats.items():
            assert row["spend_by_category"][key] == _cents(value)


def test_cohort_margin_matrix_shows_complete_ages_only(golden: Path) -> None:
    from finance.ltv.base import cohort_margin_matrix

    with Store(golden, read_only=True) as store:
        matrix = cohort_margin_matrix(store.dataset(), as_of=AS_OF)
    q1 = matrix.filter(pl.col("cohort_label") == "2025-Q1")
    # C (acquired in March) has lived ages 0-3 by June: the Q1 row stops at age 3.
    # Margin by age: 80 + 80 + 20 = 180; 80 + 80 = 160; then A's 80, 80 -> per customer / 3
    assert q1["age"].to_list() == [0, 1, 2, 3]
    assert q1["cumulative_margin_per_customer"].to_list() == pytest.approx([60.0, 340 / 3, 140.0, 500 / 3])
    q2 = matrix.filter(pl.col("cohort_label") == "2025-Q2")
    # E (May) has lived ages 0-1: D 150 + E 700 at each age, over 2 customers
    assert q2["age"].to_list() == [0, 1] and q2["margin_per_customer"].to_list() == pytest.approx([425.0, 425.0])


def test_rolling_up_every_channel_gives_the_pooled_figures(golden: Path) -> None:
    from finance.metrics.table import rollup

    with Store(golden, read_only=True) as store:
        data = store.dataset()
    params = MetricParams(as_of=AS_OF, ltv=FLAT)
    pooled = compute(data, params).rows
    by_channel = compute(data, MetricParams(as_of=AS_OF, by="channel", ltv=FLAT))
    rolled = rollup(by_channel.rows, by_channel.params)
    for column in ("spend", "spend_sm", "new_customers", "leads", "cac", "cac_sm", "cpl"):
        assert rolled[column].to_list() == pooled[column].to_list(), column
    # the formula LTV is per cohort and channel; weighted by customers it is the pooled cohort's
    assert rolled["ltv"].to_list() == pytest.approx(pooled["ltv"].to_list(), rel=0.25)
    only_search = rollup(by_channel.rows.filter(pl.col("channel") == "Search"), by_channel.params)
    assert only_search["cac"].to_list()[0] == Decimal("2625.0037500000")  # Search alone in Q1


@pytest.mark.parametrize("as_of", [date(2025, 5, 31), date(2025, 6, 1), date(2025, 6, 15)])
def test_the_month_under_way_is_neither_observed_nor_counted_twice(tmp_path: Path, as_of: date) -> None:
    # One customer paying 100 (margin 70) every month; 12 months, no discount. Whatever day of June the
    # figures are taken on, May is the last complete month: ages 0-4 observed (5 x 70 = 350), no churn seen
    # in 5 months, so c = 0.5 / 6 = 1/12, and ages 5-11 add 70 x sum_{j=1..7} (11/12)^j
    # = 70 x 11 x (1 - (11/12)^7) = 351.2346: LTV 701.2346. June's revenue is neither observed nor projected twice.
    db = tmp_path / "s.duckdb"
    with Store(db) as store:
        (tmp_path / "c.csv").write_text("customer_id,acquired_on\nA,2025-01-05\n")
        (tmp_path / "r.csv").write_text("customer_id,date,revenue,gross_margin\n" + "".join(
            f"A,2025-{m:02d}-05,100.00,70.00\n" for m in range(1, 7)))
        (tmp_path / "s.csv").write_text("period,category,amount\n2025-Q1,personnel,100\n")
        for kind in ("customers", "revenue", "spend"):
            assert store.import_file(kind, tmp_path / f"{kind[0]}.csv").status == "imported"
        rows = compute(store.dataset(), MetricParams(as_of=as_of, ltv=FLAT)).rows
    assert rows["ltv"].to_list()[0] == pytest.approx(701.2345927, abs=1e-6)


def test_a_window_reaching_before_the_spend_data_is_unknown(golden: Path) -> None:
    # With a one-quarter lag, Q1 has no spend data: a 6-month window ending in Q2 covers it, so n/a
    out = _json(golden, MetricParams(as_of=AS_OF, lag_quarters=1, window_months=6, ltv=FLAT))
    rows = {r["period"]: r for r in out["rows"]}
    assert rows["2025-Q2"]["cac"] is None and rows["2025-Q2"]["spend"] is None


def test_a_roll_up_never_turns_an_unknown_ltv_into_zero(golden: Path) -> None:
    from finance.metrics.table import rollup

    with Store(golden, read_only=True) as store:
        data = store.dataset()
    # as of mid-June at month grain, the June cohort has no complete month: its LTV is unknown
    result = compute(data, MetricParams(as_of=date(2025, 5, 20), grain="month", by="channel", ltv=FLAT))
    rolled = rollup(result.rows, result.params)
    may = rolled.filter(pl.col("period_label") == "2025-05").row(0, named=True)
    assert may["ltv"] is None and may["ltv_cac"] is None and may["band"] is None
