"""The planner's working state (finance.planning.session) without Streamlit: every transition, and the rule
that a result is only ever of the working plan it is shown with.

Hand-built bases (exact Hill curves) keep the arithmetic checkable; the demo company checks that
the board pack prints the session's plan and split.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from finance.demo import build_demo_db
from finance.domain.assumptions import Assumptions
from finance.domain.schema import DEFAULT_BAND_EDGES
from finance.metrics.params import metric_params
from finance.planning import plans as sc
from finance.planning.curves import PlanError, ResponseCurve
from finance.planning.plans import Bounds, PlanLine
from finance.planning.session import WORKING, PackPlan, PlanSession
from finance.present import report
from finance.store.database import Store
from finance.store.dataset import SHARED


def _basis(ltv: dict[str, float], shared: str = "30000.00") -> sc.PlanningBasis:
    """Two channels with exact Hill curves (customers = ceiling * s / (half + s)), flat margin 100 a month."""
    curves = {"Search": (1_000, 100_000), "Social": (600, 40_000)}
    history = pl.DataFrame({"period": [date(2025, 1, 1)], "period_label": ["2025-Q1"],
                            "direct_spend": [100_000.0], "new_customers": [100]})
    channels = {name: sc.ChannelBasis(
        name, ResponseCurve(name, "hill", {"ceiling": ceiling, "half_saturation": half, "shape": 1.0}, 0.9, 12),
        ltv[name], ltv[name] * 0.9, ltv[name] * 1.1, (100.0,) * 36, history)
        for name, (ceiling, half) in curves.items()}
    start = (PlanLine("Search", "digital_advertising", Decimal("50000.00")),
             PlanLine("Social", "digital_advertising", Decimal("50000.00")),
             PlanLine(SHARED, "personnel", Decimal(shared)),
             PlanLine(SHARED, "sales", Decimal("25000.00")))
    return sc.PlanningBasis(date(2025, 12, 31), date(2025, 10, 1), "2026-Q1", channels,
                            {"last_quarter": start, "trailing_average": start}, DEFAULT_BAND_EDGES, 0.8,
                            "formula", None)


BASIS = _basis({"Search": 2_000.0, "Social": 1_500.0})


def _with(lines: tuple[PlanLine, ...], channel: str, amount: str) -> list[PlanLine]:
    """The lines with ``channel``'s digital advertising at ``amount``."""
    return [PlanLine(ln.channel, ln.category, Decimal(amount)) if (ln.channel, ln.category) == (
        channel, "digital_advertising") else ln for ln in lines]


def test_the_budget_to_split_is_always_the_working_plans() -> None:
    session = PlanSession(BASIS, BASIS.starts["last_quarter"])
    assert session.budget_to_split == Decimal("100000.00")  # 50,000 + 50,000; shared and sales lines excluded
    assert session.edit(_with(session.table, "Search", "90000.005"))  # rounds half-up to the cent
    assert session.budget_to_split == Decimal("140000.01")  # 90,000.01 + 50,000
    optimised = session.optimise()
    assert optimised.total == Decimal("140000.01") and optimised.requested is None
    assert sum(sc.channel_spend(optimised.lines).values()) == Decimal("140000.01")  # to the cent


def test_editing_the_plan_drops_the_results_of_the_plan_before() -> None:
    session = PlanSession(BASIS, BASIS.starts["last_quarter"])
    session.optimise()
    session.goal_seek(customers=500)
    revision = session.revision
    assert not session.edit(list(session.table))  # the same lines: nothing changes, the results stand
    assert session.optimised is not None and session.goal is not None and session.revision == revision
    assert session.edit(_with(session.table, "Social", "80000"))
    assert session.optimised is None and session.goal is None and session.revision == revision + 1
    # the comparison's split is then of the new plan's budget, not the old one's
    assert sum(sc.channel_spend(session.optimised_lines()).values()) == Decimal("130000.00")


def test_a_bad_edit_is_named_and_changes_nothing() -> None:
    session = PlanSession(BASIS, BASIS.starts["last_quarter"])
    session.optimise()
    before = session.working
    with pytest.raises(PlanError, match=r"line 1, channel: 'Radio'"):
        session.edit([PlanLine("Radio", "digital_advertising", Decimal(1)), *session.table])
    assert session.working == before and session.optimised is not None


def test_the_optimised_split_projects_at_least_the_working_plans_value_at_the_same_spend() -> None:
    session = PlanSession(BASIS, BASIS.starts["last_quarter"])
    session.edit(_with(session.table, "Search", "150000"))
    working = sc.project(BASIS, session.working)
    best = sc.project(BASIS, session.optimise().lines)
    assert best.spend == working.spend == Decimal("230000.00")  # 150,000 + 50,000 + 30,000 shared
    assert best.figures["value_created"].point >= working.figures["value_created"].point  # type: ignore[operator]
    assert best.figures["ltv_cac"].point >= working.figures["ltv_cac"].point  # type: ignore[operator]
    # Search at 150,000 is past the point where Social's next dollar is worth more: the split moves money
    search = dict(sc.channel_spend(session.optimised_lines()))["Search"]
    assert search < Decimal("150000.00")


def test_optimise_takes_another_budget_and_bounds_when_asked() -> None:
    session = PlanSession(BASIS, BASIS.starts["last_quarter"])
    bounds = Bounds(minimum={"Search": 0.0, "Social": 0.0}, maximum={"Search": 60_000.0, "Social": 1e9},
                    locked=())
    optimised = session.optimise(Decimal("120000"), bounds)
    spend = sc.channel_spend(optimised.lines)
    assert optimised.total == optimised.requested == Decimal("120000.00")
    assert spend["Search"] <= Decimal("60000.00") and sum(spend.values()) == Decimal("120000.00")


def test_goal_seek_starts_from_the_working_plan() -> None:
    session = PlanSession(BASIS, BASIS.starts["last_quarter"])
    session.scale_shared(2)  # shared marketing costs count in CAC: doubling them lowers the budget at 6x
    goal = session.goal_seek(ratio=6.0)
    assert goal.answer == sc.budget_for_ratio(BASIS, session.working, 6.0)
    assert not goal.answer.limited_by_bounds  # the target, not the channels' caps, sets the budget
    assert goal.answer.channel_total < sc.budget_for_ratio(BASIS, BASIS.starts["last_quarter"], 6.0).channel_total
    with pytest.raises(PlanError, match="one target"):
        session.goal_seek(ratio=3.0, customers=100)
    with pytest.raises(PlanError, match="one target"):
        session.goal_seek()


def test_shared_costs_scale_from_the_entered_lines() -> None:
    session = PlanSession(BASIS, BASIS.starts["last_quarter"])
    session.scale_shared(Decimal("1.5"))
    assert session.shared_percent == 150.0
    assert PlanLine(SHARED, "personnel", Decimal("45000.00")) in session.working  # 30,000 x 1.5
    assert PlanLine(SHARED, "personnel", Decimal("30000.00")) in session.entered
    # an edit keeps the scaling; the editor's table is untouched until a plan replaces it
    session.edit(_with(session.table, "Search", "70000"))
    assert PlanLine(SHARED, "personnel", Decimal("45000.00")) in session.working
    assert session.budget_to_split == Decimal("120000.00")
    assert session.table == BASIS.starts["last_quarter"]


def test_adopting_a_result_makes_it_the_working_plan_once() -> None:
    session = PlanSession(BASIS, BASIS.starts["last_quarter"])
    session.scale_shared(Decimal("1.5"))
    version = session.table_version
    split = session.optimise(Decimal("150000")).lines
    session.adopt_optimised()
    # the split already carries the scaled shared costs: they are not scaled again
    assert session.working == session.table == split and session.shared == 1
    assert PlanLine(SHARED, "personnel", Decimal("45000.00")) in session.working
    assert session.table_version == version + 1 and session.optimised is None
    goal = session.goal_seek(customers=700)
    session.adopt_goal()
    assert session.working == tuple(goal.answer.lines) and session.goal is None
    with pytest.raises(PlanError, match="optimise the split first"):
        session.adopt_optimised()


def test_load_and_reset_return_to_a_starting_point() -> None:
    session = PlanSession(BASIS, BASIS.starts["last_quarter"])
    session.edit(_with(session.table, "Search", "1"))
    session.optimise()
    custom = _with(BASIS.starts["trailing_average"], "Social", "12345.67")
    session.load(BASIS, custom, start="saved:draft", saved_as=("draft", "request"))
    assert session.working == sc.check_lines(custom, BASIS.channels) and session.optimised is None
    assert session.start == "saved:draft" and session.pack_plan().name == "draft"
    session.edit(_with(session.table, "Search", "2"))
    assert session.pack_plan().name == WORKING  # edited since it was saved: no longer that scenario
    session.reset()
    assert session.working == session.starting and session.pack_plan().name == "draft"


def test_the_pack_plan_is_the_working_plan_and_the_split_shown() -> None:
    session = PlanSession(BASIS, BASIS.starts["last_quarter"])
    default = session.pack_plan()
    assert default == PackPlan(WORKING, session.working, tuple(sc.optimise(BASIS, session.working)[0]),
                               "the planner's working plan")
    session.optimise(Decimal("90000"))
    assert session.pack_plan().optimised == session.optimised_lines() == session.optimised.lines  # type: ignore[union-attr]
    session.mark_saved("Q1 request", "request")
    assert session.pack_plan().name == "Q1 request"
    assert hash(session.pack_plan()) == hash(session.pack_plan())  # a cache key


def test_new_data_recomputes_the_results_from_the_same_requests() -> None:
    session = PlanSession(BASIS, BASIS.starts["last_quarter"])
    session.optimise(Decimal("100000"))
    session.goal_seek(customers=500)
    before = session.optimised.lines  # type: ignore[union-attr]
    assert session.rebase(BASIS) == []  # the same basis: nothing to do
    # Social's customers are now worth far more: the same request moves money to Social
    richer = _basis({"Search": 2_000.0, "Social": 6_000.0})
    assert session.rebase(richer) == []
    after = session.optimised.lines  # type: ignore[union-attr]
    assert sc.channel_spend(after)["Social"] > sc.channel_spend(before)["Social"]
    assert session.optimised.requested == Decimal("100000.00")  # type: ignore[union-attr]
    assert session.goal is not None and session.goal.target == 500
    assert session.goal.answer == sc.budget_for_customers(richer, session.working, 500)


def test_a_result_that_no_longer_fits_new_data_is_dropped_with_a_message() -> None:
    session = PlanSession(BASIS, BASIS.starts["last_quarter"])
    session.optimise(Decimal("100000"), Bounds(minimum={"Search": 0.0, "Social": 0.0},
                                               maximum={"Search": 1e9, "Social": 1e9}, locked=("Social",)))
    fewer = _basis({"Search": 2_000.0, "Social": 1_500.0})
    del fewer.channels["Social"]
    messages = session.rebase(fewer)
    assert session.optimised is None
    assert messages and messages[0].startswith("The optimised split no longer fits this plan")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, sc.PlanningBasis]:
    path = tmp_path_factory.mktemp("session") / "demo.duckdb"
    build_demo_db(path)
    with Store(path, read_only=True) as store:
        data, stored = store.dataset(), store.assumptions()
    return path, sc.planning_basis(data, metric_params(Assumptions.from_settings(stored)))


def test_the_board_pack_prints_the_sessions_plan_and_split(demo: tuple[Path, sc.PlanningBasis]) -> None:
    path, basis = demo
    session = PlanSession(basis, basis.starts["last_quarter"])
    session.edit(_with(session.table, "Paid Search", "450000"))
    split = session.optimise()
    pack = report.gather(path, request=session.pack_plan(), basis=basis)
    assert pack.request.name == WORKING and pack.request.lines == session.working
    assert pack.optimised.lines == split.lines
    page = sc.project(basis, split.lines)
    assert pack.optimised.figures["customers"] == page.figures["customers"]
    assert pack.optimised.spend == pack.request.spend  # the working plan's budget, split
    with pytest.raises(ValueError, match="one budget request"):
        report.gather(path, request=session.pack_plan(), scenario="Q1")
