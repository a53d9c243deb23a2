"""The Planner page under AppTest after the working plan is edited: every figure and input that
derives from the plan follows it, and the board pack prints the plan and the split on the page.

The edit is the one that showed the planner optimising a stale budget: Paid Search's digital
advertising from 329,123.84 to 450,000 in the demo company's last quarter.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from streamlit.testing.v1 import AppTest

from finance.demo import build_demo_db, demo_check_key
from finance.domain.assumptions import Assumptions
from finance.ltv import backtest
from finance.metrics.params import metric_params
from finance.planning import plans as scenarios
from finance.planning.plans import PlanLine
from finance.store.database import Store

from .conftest import ROOT

PAID_SEARCH = "450000.00"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("planner") / "demo.duckdb"
    build_demo_db(path)
    return path


@pytest.fixture(scope="module")
def basis(demo_db: Path) -> scenarios.PlanningBasis:
    """The basis the page plans on: the stored assumptions and the demo's model check."""
    with Store(demo_db, read_only=True) as store:
        data, stored = store.dataset(), store.assumptions()
    key, _, _ = demo_check_key(demo_db)
    return scenarios.planning_basis(data, metric_params(Assumptions.from_settings(stored)),
                                    check=backtest.load(demo_db, key))


@pytest.fixture
def planner(demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    monkeypatch.setenv("FINANCE_DB", str(demo_db))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.switch_page("pages/planner.py")
    at.run()
    assert not at.exception, at.exception
    yield at


def _edit_paid_search(at: AppTest) -> None:
    """Type 450,000 into Paid Search's digital advertising line of the plan editor."""
    editor = at.data_editor[0]
    assert editor.key is not None
    table = editor.value
    row = next(i for i, (channel, category) in enumerate(zip(table["channel"], table["category"], strict=True))
               if (channel, category) == ("Paid Search", "digital_advertising"))
    at.session_state[editor.key] = {"edited_rows": {row: {"amount": float(PAID_SEARCH)}}, "added_rows": [],
                                    "deleted_rows": []}
    at.run()
    assert not at.exception, at.exception


def _edited(basis: scenarios.PlanningBasis) -> list[PlanLine]:
    return [PlanLine(ln.channel, ln.category, Decimal(PAID_SEARCH))
            if (ln.channel, ln.category) == ("Paid Search", "digital_advertising") else ln
            for ln in basis.starts["last_quarter"]]


def _number(at: AppTest, label: str) -> Any:
    return next(n for n in at.number_input if n.label == label).value


def _tiles(metrics: Any) -> dict[str, Any]:
    """Metric tiles by label, the first of each (the working plan's come before the tabs')."""
    tiles: dict[str, Any] = {}
    for metric in metrics:
        tiles.setdefault(metric.label, metric)
    return tiles


def _exact(tile: Any) -> Decimal:
    """The exact amount in a money tile's help: "Exactly $3,092,665.29; ..." -> 3092665.29."""
    return Decimal(tile.help.removeprefix("Exactly $").split(";")[0].replace(",", ""))


def test_the_budget_to_split_and_the_customer_target_follow_an_edit(
        planner: AppTest, basis: scenarios.PlanningBasis) -> None:
    _edit_paid_search(planner)
    edited = _edited(basis)
    channel_total = sum(scenarios.channel_spend(edited).values(), Decimal(0))
    assert channel_total == Decimal("1588738.80")  # 1,467,862.64 - 329,123.84 + 450,000
    assert _number(planner, "Channel budget to split") == float(channel_total)
    customers = scenarios.project(basis, edited).figures["customers"].point
    assert _number(planner, "Target new customers") == float(round(customers or 0))


def test_the_optimised_split_is_of_the_working_plans_budget_and_projects_at_least_as_much(
        planner: AppTest) -> None:
    _edit_paid_search(planner)
    planner.button(key="plan.optimise").click().run()
    assert not planner.exception, planner.exception
    working = _tiles(planner.main.metric)  # the working plan's tiles come first, then the optimised split's
    optimised = _tiles(planner.tabs[0].metric)
    assert _exact(optimised["Marketing spend"]) == _exact(working["Marketing spend"]) == Decimal("3092665.29")
    assert float(optimised["LTV:CAC"].value.rstrip("x")) >= float(working["LTV:CAC"].value.rstrip("x"))


def test_a_goal_seek_of_the_plan_before_an_edit_is_not_shown_after_it(planner: AppTest) -> None:
    planner.button(key="plan.seek_customers").click().run()
    assert any("Channel budget" in s.value for s in planner.success)
    _edit_paid_search(planner)
    assert not any("Channel budget" in s.value for s in planner.success)


def _sheet(data: bytes, name: str) -> list[dict[str, Any]]:
    rows = list(openpyxl.load_workbook(io.BytesIO(data))[name].iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def test_the_board_pack_prints_the_plan_and_the_split_on_the_page(planner: AppTest) -> None:
    _edit_paid_search(planner)
    planner.button(key="plan.optimise").click().run()
    planner.button(key="plan.pack.xlsx").click().run()
    assert not planner.exception, planner.exception
    assert not planner.error, [e.value for e in planner.error]
    # making it said what it did and the time it took (the next one's estimate)
    made = [s for s in planner.status if s.label.startswith("Board pack ready (XLSX): made in ")]
    assert len(made) == 1 and made[0].state == "complete"
    assert [m.value for m in made[0].markdown][:2] == ["Gathering the figures, the plan and its projection...",
                                                       "Writing the sheets..."]
    working = _tiles(planner.main.metric)
    optimised = _tiles(planner.tabs[0].metric)
    baseline, request, split = _sheet(planner.session_state["plan.pack.xlsx.bytes"], "Scenario comparison")
    assert [baseline["Scenario"], request["Scenario"], split["Scenario"]] == [
        "Baseline (repeat last quarter)", "Working plan", "Optimised split"]
    assert Decimal(str(request["Marketing spend"])) == _exact(working["Marketing spend"]) == Decimal("3092665.29")
    assert f"{request['Projected new customers']:,.0f}" == working["New customers"].value
    assert Decimal(str(split["Marketing spend"])) == _exact(optimised["Marketing spend"])
    assert f"{split['Projected new customers']:,.0f}" == optimised["New customers"].value
    assert f"{split['LTV:CAC']:.2f}x" == optimised["LTV:CAC"].value
    lines = _sheet(planner.session_state["plan.pack.xlsx.bytes"], "Budget request lines")
    assert [Decimal(str(r["Amount"])) for r in lines if r["Channel"] == "Paid Search"] == [Decimal(PAID_SEARCH)]
    assert [b for b in planner.get("download_button") if "XLSX" in getattr(b, "label", "")]
    # a pack of that plan is not offered once the plan changes
    key = planner.data_editor[0].key
    assert key is not None
    planner.session_state[key] = {"edited_rows": {0: {"amount": 1.0}}, "added_rows": [], "deleted_rows": []}
    planner.run()
    assert not [b for b in planner.get("download_button") if "XLSX" in getattr(b, "label", "")]


def test_a_response_curve_is_told_in_words_not_parameters() -> None:
    from finance.app.plan_widgets import curve_text
    from finance.planning.curves import HILL, ResponseCurve, fit_response_curve

    # the demo company's Content channel: a ceiling far beyond the spend seen, so nearly a straight line
    hill = ResponseCurve("Content", HILL, {"ceiling": 213_643.2, "half_saturation": 119_100_000.0, "shape": 1.0},
                         0.9631, 12)
    assert curve_text(hill, "USD") == ("Hill curve: new customers rise towards 213,643 a quarter, half of that at "
                                       "$119.1M of spend (shape 1); fitted on 12 quarters, R² 0.963.")
    short = fit_response_curve("Events", [1000, 2000, 3000], [10, 25, 25])  # 6,000 / 60 customers
    assert curve_text(short, "EUR").startswith("Constant CPA: €100.00 per new customer, over 3 quarters. Only 3 ")
    nobody = fit_response_curve("Events", [1000, 2000, 3000], [0, 0, 0])
    assert curve_text(nobody, "USD").startswith("Constant CPA: no new customer in the channel's history, over 3 ")


def test_the_plans_side_by_side_are_short_enough_to_fit_three_across(planner: AppTest) -> None:
    """Totals in millions, a range's ends to the dollar, a unit once and the band on a row of its own: the
    baseline, the working plan and its optimised split fit side by side at 1280 px (tests/test_page_widths.py
    measures it)."""
    table = planner.tabs[2].dataframe[-1].value
    assert table.columns.tolist() == ["Figure", "Baseline (repeat last quarter)", "Working plan", "Optimised split"]
    working = dict(zip(table["Figure"], table["Working plan"], strict=True))
    assert working["Fully loaded marketing spend"] == "$2.97M"
    assert working["Fully loaded CAC"] == "$1,075.78 ($1,034 to $1,123)"
    assert working["LTV:CAC"] == "4.79x (4.32x to 5.27x)" and working["LTV:CAC band"] == "strong"
    assert working["Payback (months)"] == "6 months (5 to 6 months)"
    assert working["LTV created minus spend"] == "$11.27M ($9.86M to $12.70M)"
