"""View state in the URL and the stored assumptions: round trips and defensive parsing."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from finance.app.views import ViewState, map_range, period_months
from finance.domain.assumptions import Assumptions
from finance.metrics.params import metric_params
from finance.store.database import Store

PERIODS = ["2025-Q1", "2025-Q2", "2025-Q3"]


def test_defaults_make_an_empty_query() -> None:
    assert ViewState().to_query() == {}
    assert ViewState.from_query({}) == ViewState()


@given(st.builds(ViewState, grain=st.sampled_from(["quarter", "month"]),
                 period_from=st.sampled_from([None, *PERIODS]), period_to=st.sampled_from([None, *PERIODS]),
                 window=st.sampled_from([None, 3, 6, 12]),
                 method=st.sampled_from(["auto", "formula", "cohort", "bgnbd"]),
                 channels=st.lists(st.sampled_from(["Paid Search", "Events", "A|B"]), unique=True).map(
                     lambda xs: tuple(x for x in xs if "|" not in x)),
                 segments=st.lists(st.sampled_from(["SMB", "DTC"]), unique=True).map(tuple),
                 include_sales=st.booleans()))
def test_the_url_round_trips_every_view(view: ViewState) -> None:
    assert ViewState.from_query(view.to_query()) == view


def test_unknown_values_fall_back_to_defaults() -> None:
    view = ViewState.from_query({"window": "7", "method": "magic", "grain": "week", "sm": "maybe"})
    assert view == ViewState()
    view = ViewState.from_query({"window": ["3", "12"], "channels": "Events||Events| Paid Search "})
    assert view.window == 12 and view.channels == ("Events", "Paid Search")


def test_clamp_drops_what_the_data_does_not_have() -> None:
    view = ViewState(period_from="2025-Q3", period_to="2025-Q1", channels=("Events", "Gone"), segments=("X",))
    clamped = view.clamp(PERIODS, ["Events"], ["SMB"])
    assert (clamped.period_from, clamped.period_to) == ("2025-Q1", "2025-Q3")  # swapped into order
    assert clamped.channels == ("Events",) and clamped.segments == ()
    assert ViewState(period_from="1999-Q1").clamp(PERIODS, [], []).period_range(PERIODS) == ("2025-Q1", "2025-Q3")


def test_assumptions_round_trip_through_the_store(tmp_path) -> None:  # type: ignore[no-untyped-def]
    chosen = Assumptions(default_gross_margin=Decimal("0.62"), annual_discount_rate=0.08, horizon_months=48,
                         band_edges=(1.0, 1.5, 3.0, 6.0), lag_quarters=2, fiscal_year_start=4,
                         allocation="customers")
    with Store(tmp_path / "s.duckdb") as store:
        store.set_assumptions(chosen.to_settings())
        assert Assumptions.from_settings(store.assumptions()) == chosen
    params = metric_params(chosen, window=12, by="channel", method="cohort")
    assert (params.lag_quarters, params.allocation, params.band_edges) == (2, "customers", (1.0, 1.5, 3.0, 6.0))
    assert (params.ltv.default_gross_margin, params.ltv.horizon_months, params.ltv.method) == (
        Decimal("0.62"), 48, "cohort")


def test_a_stored_value_that_no_longer_parses_keeps_its_default() -> None:
    loaded = Assumptions.from_settings({"horizon_months": "forever", "annual_discount_rate": "0.05"})
    assert loaded.horizon_months == 36 and loaded.annual_discount_rate == 0.05
    assert Assumptions.from_settings({"band_edges": "3,2,1"}) == Assumptions()


def test_a_period_range_maps_to_the_other_grain() -> None:
    quarters = [f"{y}-Q{q}" for y in (2023, 2024, 2025) for q in (1, 2, 3, 4)]
    months = [f"{y}-{m:02d}" for y in (2023, 2024, 2025) for m in range(1, 13)]
    assert map_range(("2024-Q2", "2025-Q1"), months) == ("2024-04", "2025-03")
    assert map_range(("2024-04", "2025-03"), quarters) == ("2024-Q2", "2025-Q1")
    assert map_range(("2024-05", "2025-02"), quarters) == ("2024-Q2", "2025-Q1")  # the quarters containing them
    assert map_range(("2024", "2024"), quarters) == ("2024-Q1", "2024-Q4")  # and years, were there a year grain
    assert map_range(("2022-Q1", "2023-Q1"), months[2:]) == ("2023-03", "2023-03")  # the data starts later
    assert map_range(("2021-Q1", "2021-Q4"), months) is None  # nothing overlaps: the whole history
    assert map_range(("nonsense", "2024-Q1"), months) is None
    assert period_months("2025-Q2") == (2025 * 12 + 3, 2025 * 12 + 5) and period_months("2025-13") is None
