"""The fiscal year, honoured everywhere: with ``fiscal_year_start`` set, every quarter shown (metrics,
the planner, the pack, the CLI, the dashboard's pickers) is a fiscal quarter, labelled ``FY2026-Q1``
by the calendar year the fiscal year ends in, and its figures add up exactly from the months."""

from __future__ import annotations

import json
import runpy
import shutil
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import polars as pl
import pytest
from streamlit.runtime.scriptrunner import script_runner
from streamlit.testing.v1 import AppTest

from finance.app import loaders
from finance.app.views import map_range, period_months
from finance.demo import build_demo_db
from finance.domain.assumptions import Assumptions
from finance.domain.periods import add_quarters, quarter_label, quarter_label_start, quarter_start
from finance.ltv.base import LTVSettings, cohort_margin_matrix
from finance.metrics.params import metric_params
from finance.metrics.table import MetricParams, compute
from finance.planning import plans
from finance.present import report
from finance.store.database import Store
from finance.store.dataset import Dataset, grain_label, grain_start, spend_by_month

from .conftest import ROOT, run_cli_json

APRIL = 4


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fiscal") / "demo.duckdb"
    build_demo_db(path)
    return path


# ---------------------------------------------------------------------------------------------
# The calendar
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("start", range(1, 13))
def test_the_expressions_and_the_date_helpers_are_one_calendar(start: int) -> None:
    days = [date(2024, 1, 1) + (date(2024, 1, 2) - date(2024, 1, 1)) * n for n in range(0, 800, 3)]
    frame = pl.DataFrame({"day": days}).with_columns(q=grain_start(pl.col("day"), "quarter", start))
    frame = frame.with_columns(label=grain_label(pl.col("q"), "quarter", start))
    for day, first, label in frame.iter_rows():
        assert first == quarter_start(day, start)
        assert label == quarter_label(first, start)
        assert quarter_label_start(label, start) == first
        assert (first.month - start) % 3 == 0 and first <= day < add_quarters(first, 1)


def test_labels_name_the_fiscal_year_by_the_year_it_ends() -> None:
    # April start: FY2026 runs April 2025 to March 2026
    assert [quarter_label(date(2025, m, 1), APRIL) for m in (4, 7, 10)] == ["FY2026-Q1", "FY2026-Q2", "FY2026-Q3"]
    assert quarter_label(date(2026, 1, 1), APRIL) == "FY2026-Q4"
    # February start: February-April 2025 is FY2026-Q1 (the year ends in January 2026)
    assert quarter_start(date(2025, 3, 31), 2) == date(2025, 2, 1)
    assert quarter_label(date(2025, 2, 1), 2) == "FY2026-Q1"
    assert quarter_label(date(2025, 1, 1), 1) == "2025-Q1"  # a January start keeps today's labels


# ---------------------------------------------------------------------------------------------
# The core
# ---------------------------------------------------------------------------------------------

def _tiny() -> Dataset:
    """Spend given per calendar quarter; customers acquired on known days."""
    spend = pl.DataFrame({
        "period_start": [date(2025, 1, 1), date(2025, 4, 1)], "period_end": [date(2025, 3, 31), date(2025, 6, 30)],
        "category": ["digital_advertising", "digital_advertising"], "channel": ["Search", "Search"],
        "amount": [Decimal("100.00"), Decimal("200.00")],
    }, schema_overrides={"amount": pl.Decimal(18, 4)})
    customers = pl.DataFrame({
        "customer_id": ["a", "b", "c", "d"],
        "acquired_on": [date(2025, 1, 20), date(2025, 2, 10), date(2025, 4, 30), date(2025, 5, 2)],
        "channel": ["Search"] * 4, "segment": ["SMB"] * 4,
    })
    return Dataset.from_frames(spend=spend, customers=customers)


def test_fiscal_quarters_add_up_calendar_quarter_spend_exactly() -> None:
    # A February start cuts both calendar quarters: Q1's 100.00 is spread 33.3334 + 33.3333 + 33.3333
    # (the indivisible ten-thousandth to the first month), Q2's 200.00 as 66.6667 + 66.6667 + 66.6666.
    params = MetricParams(fiscal_year_start=2, ltv=LTVSettings(method="formula"))
    rows = compute(_tiny(), params).rows.sort("period")
    assert rows.get_column("period_label").to_list() == ["FY2025-Q4", "FY2026-Q1", "FY2026-Q2"]
    assert rows.get_column("period").to_list() == [date(2024, 11, 1), date(2025, 2, 1), date(2025, 5, 1)]
    # Nov-Jan: January's 33.3334; Feb-Apr: 33.3333 + 33.3333 + 66.6667; May-Jul: 66.6667 + 66.6666
    assert rows.get_column("spend").to_list() == [Decimal("33.3334"), Decimal("133.3333"), Decimal("133.3333")]
    assert rows.get_column("new_customers").to_list() == [1, 2, 1]  # a (Jan); b (Feb), c (Apr 30); d (May)
    assert sum(rows.get_column("spend").to_list()) == Decimal("300.00")
    months = spend_by_month(_tiny().spend).collect()
    for first, amount in rows.select("period", "spend").iter_rows():
        inside = months.filter((pl.col("month") >= first) & (pl.col("month") < add_quarters(first, 1)))
        assert sum(inside.get_column("amount").to_list()) == amount


def _independent(month_rows: pl.DataFrame, start: int) -> dict[date, tuple[Decimal, int]]:
    """Spend and new customers per fiscal quarter, summed in Python from the monthly rows."""
    out: dict[date, tuple[Decimal, int]] = {}
    for month, spend, customers in month_rows.select("period", "spend", "new_customers").iter_rows():
        first = date(month.year - (month.month < start), start, 1)  # the fiscal year's first day
        while add_quarters(first, 1) <= month:
            first = add_quarters(first, 1)
        old_spend, old_customers = out.get(first, (Decimal(0), 0))
        out[first] = (old_spend + (spend or Decimal(0)), old_customers + customers)
    return out


@pytest.mark.parametrize("start", [APRIL, 2])
def test_metric_rows_are_fiscal_quarters_summed_from_the_months(demo: Path, start: int) -> None:
    with Store(demo, read_only=True) as store:
        data = store.dataset()
    assumptions = Assumptions(fiscal_year_start=start)
    quarters = compute(data, metric_params(assumptions, method="formula")).rows
    months = compute(data, metric_params(assumptions, grain="month", method="formula")).rows
    expected = _independent(months, start)
    labels = quarters.get_column("period_label").to_list()
    assert all(label.startswith("FY") and label[6:] in ("-Q1", "-Q2", "-Q3", "-Q4") for label in labels)
    first_months = {1, 4, 7, 10} if start == APRIL else {2, 5, 8, 11}
    assert {p.month for p in quarters.get_column("period")} == first_months
    assert quarters.get_column("period").to_list() == sorted(expected)
    assert sum(quarters.get_column("spend").to_list()) == sum(months.get_column("spend").to_list())
    for row in quarters.iter_rows(named=True):
        spend, customers = expected[row["period"]]
        assert (row["spend"], row["new_customers"]) == (spend, customers)
        assert row["period_label"] == quarter_label(row["period"], start)
        if customers:  # CAC is the quarter's spend over its customers (to the 10 places kept)
            assert row["cac"] == (spend / customers).quantize(Decimal("1e-10"), ROUND_HALF_UP)
    if start == APRIL:
        row = quarters.filter(pl.col("period_label") == "FY2026-Q1").row(0, named=True)
        assert row["period"] == date(2025, 4, 1)
        april_to_june = months.filter(pl.col("period").is_between(date(2025, 4, 1), date(2025, 6, 1)))
        spend = sum(april_to_june.get_column("spend").to_list())
        assert row["cac"].quantize(Decimal("0.01"), ROUND_HALF_UP) == (
            spend / april_to_june.get_column("new_customers").sum()).quantize(Decimal("0.01"), ROUND_HALF_UP)


def test_cohorts_windows_and_the_plan_follow_the_fiscal_year(demo: Path) -> None:
    with Store(demo, read_only=True) as store:
        data = store.dataset()
    start = 2  # February: quarters Feb-Apr, May-Jul, Aug-Oct, Nov-Jan, unlike any calendar quarter
    assumptions = Assumptions(fiscal_year_start=start)
    result = compute(data, metric_params(assumptions, method="formula"))
    ltv_cohorts = result.ltv.cohorts.get_column("cohort").unique().to_list()
    assert {c.month for c in ltv_cohorts} == {2, 5, 8, 11}
    assert result.rows.filter(pl.col("ltv").is_not_null()).height > 0
    windowed = compute(data, metric_params(assumptions, window=12, method="formula")).rows.drop_nulls("spend")
    quarters = result.rows.sort("period")
    for row in windowed.iter_rows(named=True):  # a 12-month window sums the four fiscal quarters to it
        inside = quarters.filter(pl.col("period").is_between(add_quarters(row["period"], -3), row["period"]))
        assert row["spend"] == sum(inside.get_column("spend").to_list())
    matrix = cohort_margin_matrix(data, as_of=result.as_of, fiscal_year_start=start)
    assert all(label.startswith("FY") for label in matrix.get_column("cohort_label").unique())

    basis = plans.planning_basis(data, metric_params(assumptions, method="formula"))
    # as of 2025-12-31 the last complete quarter is Aug-Oct 2025: FY2026-Q3 (FY2026 ends in January 2026)
    assert (basis.last_period, basis.last_label, basis.period) == (date(2025, 8, 1), "FY2026-Q3", "FY2026-Q4")
    august_to_october = pl.col("month").is_between(date(2025, 8, 1), date(2025, 10, 1))
    months = spend_by_month(data.spend).filter(august_to_october).collect()
    planned = sum(line.amount for line in basis.starts["last_quarter"])
    assert planned == sum(months.get_column("amount").to_list()).quantize(Decimal("0.01"))
    history = next(iter(basis.channels.values())).history
    assert all(label.startswith("FY") for label in history.get_column("period_label"))


# ---------------------------------------------------------------------------------------------
# The dashboard's range, carried between grains
# ---------------------------------------------------------------------------------------------

def test_period_ranges_map_fiscal_quarters_to_months_and_back() -> None:
    months = [f"{y}-{m:02d}" for y in (2024, 2025) for m in range(1, 13)]
    fiscal = [quarter_label(add_quarters(date(2024, 1, 1), n), APRIL) for n in range(8)]
    assert fiscal[:2] == ["FY2024-Q4", "FY2025-Q1"]
    assert period_months("FY2025-Q1", APRIL) == (2024 * 12 + 3, 2024 * 12 + 5)  # April-June 2024
    assert map_range(("FY2025-Q1", "FY2025-Q4"), months, APRIL) == ("2024-04", "2025-03")
    assert map_range(("2024-05", "2025-02"), fiscal, APRIL) == ("FY2025-Q1", "FY2025-Q4")
    # calendar labels (a link from before the change) still read as calendar quarters
    assert map_range(("2024-Q2", "2025-Q1"), fiscal, APRIL) == ("FY2025-Q1", "FY2025-Q4")


# ---------------------------------------------------------------------------------------------
# The command line, the dashboard and the pack
# ---------------------------------------------------------------------------------------------

def test_the_cli_the_dashboard_and_the_pack_report_fiscal_quarters(demo: Path, tmp_path: Path) -> None:
    db = tmp_path / "demo.duckdb"
    shutil.copy(demo, db)
    code, out = run_cli_json("assumptions", "--db", db, "--set", f"fiscal_year_start={APRIL}")
    assert code == 0 and out["changed"] == ["fiscal_year_start"]
    code, cli = run_cli_json("metrics", "--db", db, "--ltv-method", "formula")
    assert code == 0, cli
    labels = [r["period"] for r in cli["rows"]]
    assert labels[0] == "FY2023-Q4" and labels[-1] == "FY2026-Q3"  # Jan-Mar 2023 to Oct-Dec 2025
    assert "FY2026-Q1" in labels and cli["assumptions"]["fiscal_year_start"] == APRIL
    shown = loaders.load_metrics(str(db), loaders.readable_version(str(db)), "quarter", None, None, "formula")
    assert cli["rows"] == json.loads(json.dumps(shown.to_json()["rows"]))
    code, calendar = run_cli_json("metrics", "--db", demo, "--ltv-method", "formula")
    assert calendar["assumptions"]["fiscal_year_start"] == 1 and calendar["rows"][0]["period"] == "2023-Q1"

    pack = report.gather(db, method="formula")
    assert pack.period.startswith("FY") and pack.period in labels
    assert pack.plan_period == "FY2026-Q4" and all(q.startswith("FY") for q in pack.quarters)
    assert pack.row == pack.quarterly.filter(pl.col("period_label") == pack.period).row(0, named=True)
    assert ("Quarter reported", pack.period, "text") in pack.assumptions
    chosen = report.gather(db, period="fy2026-q1", method="formula")  # typed as a person would
    cli_row = next(r for r in cli["rows"] if r["period"] == "FY2026-Q1")
    assert chosen.period == "FY2026-Q1" and chosen.row["new_customers"] == cli_row["new_customers"]
    with pytest.raises(ValueError, match="FY2026-Q1"):  # the calendar name is no longer a choice
        report.gather(db, period="2025-Q2", method="formula")

    code, plan = run_cli_json("plan", "--db", db, "--method", "formula")
    assert code == 0 and plan["period"] == "FY2026-Q4", plan


# ---------------------------------------------------------------------------------------------
# The Overview page
# ---------------------------------------------------------------------------------------------

def test_the_period_pickers_show_fiscal_quarters_after_the_assumption_changes(
        demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "demo.duckdb"
    shutil.copy(demo, db)
    monkeypatch.setenv("FINANCE_DB", str(db))
    # every rerun goes through the entry script, as on a server (see tests/test_filters.py's app fixture)
    monkeypatch.setattr(script_runner, "_mpa_v1", lambda path: runpy.run_path(path, run_name="__main__"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["from"], at.query_params["to"] = "2024-Q2", "2025-Q1"
    at.run()
    assert not at.exception, at.exception
    assert _range(at) == ("2024-Q2", "2025-Q1")

    at.switch_page("pages/assumptions.py").run()
    fiscal = next(n for n in at.number_input if n.label == "Fiscal year starts in month")
    fiscal.set_value(APRIL)
    at.button[0].click().run()
    assert not at.exception, at.exception
    with Store(db, read_only=True) as store:
        assert Assumptions.from_settings(store.assumptions()).fiscal_year_start == APRIL

    at.switch_page("pages/overview.py").run()
    assert not at.exception, at.exception
    options = at.selectbox(key="view.from").options
    assert all(option.startswith("FY") for option in options)
    assert options[0] == "FY2023-Q4" and options[-1] == "FY2026-Q3" and "FY2026-Q1" in options
    # the range chosen before (April 2024 to March 2025) is kept, in fiscal quarters
    assert _range(at) == ("FY2025-Q1", "FY2025-Q4")
    assert dict(at.query_params) == {"from": "FY2025-Q1", "to": "FY2025-Q4"}
    assert any(c.value.startswith("FY2025-Q4, ") for c in at.caption)  # the headline is the range's last quarter
    # and the grain switch maps fiscal quarters to their months and back
    at.button_group(key="view.grain").set_value("month").run()
    assert _range(at) == ("2024-04", "2025-03")
    at.button_group(key="view.grain").set_value("quarter").run()
    assert not at.exception, at.exception
    assert _range(at) == ("FY2025-Q1", "FY2025-Q4")


def _range(at: AppTest) -> tuple[str, str]:
    return at.selectbox(key="view.from").value, at.selectbox(key="view.to").value
