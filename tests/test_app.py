"""Every page under Streamlit's AppTest, on the demo company and on an empty database; the
figures on screen equal the core's for the same view, and the URL carries the view."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from finance.app import sidebar
from finance.demo import SAMPLE_DIR, build_demo_db, demo_check_key
from finance.domain import literal
from finance.domain.assumptions import Assumptions
from finance.ltv import backtest
from finance.ltv.methods import MODELS_BY_KEY
from finance.metrics.params import metric_params
from finance.metrics.table import MODEL_WORDS, compute
from finance.planning import plans as scenarios
from finance.store.database import Store

from .conftest import dollars, open_dashboard

PAGES = ["pages/overview.py", "pages/cac.py", "pages/cpl_cpa.py", "pages/ltv.py", "pages/planner.py",
         "pages/data.py", "pages/assumptions.py", "pages/methodology.py"]
Runner = Callable[..., AppTest]


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Runner:
    """``open_dashboard`` (its callers check for exceptions themselves)."""
    return functools.partial(open_dashboard, monkeypatch, check=False)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_on_the_demo_company(app: Runner, demo_db: Path, page: str) -> None:
    at = app(demo_db, page)
    assert not at.exception, at.exception
    assert at.title or at.markdown


@pytest.mark.parametrize("page", PAGES)
def test_every_page_explains_an_empty_database(app: Runner, tmp_path: Path, page: str) -> None:
    at = app(tmp_path / "empty.duckdb", page)
    assert not at.exception, at.exception
    if page not in ("pages/data.py", "pages/assumptions.py", "pages/methodology.py"):
        assert any("No " in info.value for info in at.info)


def _check(db: Path) -> backtest.ModelCheck | None:
    """The model check the dashboard uses for this database (installed beside it with the demo)."""
    key, _, _ = demo_check_key(db)
    return backtest.load(db, key)


def test_overview_tiles_equal_the_core(app: Runner, demo_db: Path) -> None:
    at = app(demo_db)
    with Store(demo_db, read_only=True) as store:
        data, stored = store.dataset(), store.assumptions()
    check = _check(demo_db)
    assert check is not None
    result = compute(data, metric_params(Assumptions.from_settings(stored)), check)
    rows = result.rows
    latest = rows.row(-1, named=True)
    # the Overview says which model valued each segment and how it did in the back-test
    # the caption's Markdown escapes every punctuation mark of the text (so names from the data stay text)
    caption = re.sub(r"\\(.)", r"\1", next(c.value for c in at.caption if c.value.startswith("2025-Q4, ")))
    score = check.headline("auto", 12)
    assert score is not None and score.mape is not None
    assert f"were within {score.mape:.1%} on average" in caption
    for segment, model in result.ltv.models.items():
        assert f"{MODEL_WORDS[model]} for" in caption and segment in caption
    assert at.metric[0].value == dollars(latest["cac"])
    assert at.metric[1].value == dollars(latest["ltv"])
    assert at.metric[2].value == f"{latest['ltv_cac']:.2f}x"
    assert at.metric[5].value == f"{latest['new_customers']:,}"


def test_a_shared_link_opens_the_same_view(app: Runner, demo_db: Path) -> None:
    at = app(demo_db, query={"window": "12", "method": "cohort", "sm": "1", "segments": "SMB"})
    assert not at.exception
    assert at.selectbox(key="view.window").value == 12
    assert at.selectbox(key="view.method").value == "cohort"
    assert at.multiselect(key="view.segments").value == ["SMB"]
    assert at.toggle(key="view.sales").value is True
    with Store(demo_db, read_only=True) as store:
        data, stored = store.dataset(), store.assumptions()
    params = metric_params(Assumptions.from_settings(stored), window=12, method="cohort", by="segment")
    rows = compute(data, params, _check(demo_db)).rows
    latest = rows.filter((rows["segment"] == "SMB") & (rows["period"] == rows["period"].max())).row(0, named=True)
    assert at.metric[0].value == dollars(latest["cac_sm"])  # S&M CAC of SMB, as the link says


def test_a_hand_edited_link_never_breaks_the_page(app: Runner, demo_db: Path) -> None:
    at = app(demo_db, query={"window": "7", "method": "magic", "from": "1999-Q1", "channels": "Nope"})
    assert not at.exception
    assert at.selectbox(key="view.window").value == 0  # each period
    assert at.selectbox(key="view.method").value == "auto"  # the recommended method


def test_assumptions_are_saved_for_everyone(app: Runner, tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    at = app(db, "pages/assumptions.py")
    at.number_input[0].set_value(55.0)
    at.text_input[0].set_value("1, 2.5, 3, 6")
    at.button[0].click().run()
    assert not at.exception
    with Store(db, read_only=True) as store:
        saved = Assumptions.from_settings(store.assumptions())
    assert saved.default_gross_margin == Decimal("0.55")
    assert saved.band_edges == (1.0, 2.5, 3.0, 6.0)


def test_bad_assumptions_are_refused_with_a_reason(app: Runner, tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    at = app(db, "pages/assumptions.py")
    at.text_input[0].set_value("3, 2, 1")
    at.button[0].click().run()
    assert any("Not saved" in e.value for e in at.error)
    with Store(db, read_only=True) as store:
        assert store.assumptions() == {}


def test_undo_from_the_import_history(app: Runner, tmp_path: Path) -> None:
    db = tmp_path / "u.duckdb"
    csv = tmp_path / "s.csv"
    csv.write_text("period,category,amount\n2025-Q1,personnel,100.00\n")
    with Store(db) as store:
        assert store.import_file("spend", csv).status == "imported"
    at = app(db, "pages/data.py")
    at.checkbox(key="data.undo_confirm").check().run()
    at.button(key="data.undo").click().run()
    assert not at.exception
    assert any("Undid import #1" in s.value for s in at.success)
    with Store(db, read_only=True) as store:
        assert store.totals()["spend"]["rows"] == 0


def test_a_channel_filter_rolls_the_tiles_up_to_those_channels(app: Runner, demo_db: Path) -> None:
    at = app(demo_db, query={"channels": "Paid Search|Events"})
    assert not at.exception
    with Store(demo_db, read_only=True) as store:
        data, stored = store.dataset(), store.assumptions()
    result = compute(data, metric_params(Assumptions.from_settings(stored), by="channel"), _check(demo_db))
    chosen = result.rows.filter(result.rows["channel"].is_in(["Paid Search", "Events"]))
    latest = chosen.filter(chosen["period"] == chosen["period"].max())
    spend, customers = sum(latest["spend"].to_list()), sum(latest["new_customers"].to_list())
    assert at.metric[0].value == dollars(spend / customers)  # their spend over their customers
    assert at.metric[5].value == f"{customers:,}"


def test_tables_download_as_csv_and_xlsx(app: Runner, demo_db: Path) -> None:
    at = app(demo_db, "pages/cac.py")
    assert not at.exception
    labels = [b.label for b in at.get("download_button")]
    assert labels.count("Download CSV") == 1 and labels.count("Download XLSX") == 1


def test_start_from_an_empty_database(app: Runner, tmp_path: Path) -> None:
    db = tmp_path / "demo-copy.duckdb"
    build_demo_db(db)
    with Store(db, read_only=True) as store:
        imported = len(store.active_imports())  # spend, funnel, customers, revenue and the general ledger
    assert imported == 5
    at = app(db, "pages/data.py")
    at.button(key="data.clear_demo").click().run()
    assert not at.exception
    assert any(f"Started from an empty database ({imported} demo imports undone)" in s.value for s in at.success)
    with Store(db, read_only=True) as store:
        assert all(t["rows"] == 0 for t in store.totals().values())
        assert store.setting("demo_company") is None
        assert store.one("SELECT count(*) FROM imports WHERE status = 'undone'") == (imported,)


# ---------------------------------------------------------------------------------------------
# Planner
# ---------------------------------------------------------------------------------------------

def _basis(db: Path) -> scenarios.PlanningBasis:
    with Store(db, read_only=True) as store:
        data, stored = store.dataset(), store.assumptions()
    return scenarios.planning_basis(data, metric_params(Assumptions.from_settings(stored)), check=_check(db))


def test_planner_projects_last_quarter_as_the_core_does(app: Runner, demo_db: Path) -> None:
    at = app(demo_db, "pages/planner.py")
    assert not at.exception, at.exception
    basis = _basis(demo_db)
    plan = scenarios.project(basis, basis.starts["last_quarter"])
    tiles = {m.label: m for m in at.metric}
    assert tiles["New customers"].value == f"{plan.figures['customers'].point:,.0f}"
    assert tiles["Fully loaded CAC"].value == dollars(plan.figures["cac"].point)
    assert tiles["LTV:CAC"].value == f"{plan.figures['ltv_cac'].point:.2f}x"
    assert tiles["LTV:CAC"].delta == plan.band
    assert tiles["Plan total (S&M)"].help == f"Exactly {dollars(plan.spend_sm)}"


def test_planner_optimises_seeks_and_saves_a_scenario(app: Runner, tmp_path: Path) -> None:
    db = tmp_path / "plan.duckdb"
    build_demo_db(db)
    at = app(db, "pages/planner.py")
    at.button(key="plan.optimise").click().run()
    assert not at.exception, at.exception
    assert at.button(key="plan.use_optimised")
    at.button(key="plan.seek_ratio").click().run()
    assert not at.exception, at.exception
    assert any("Channel budget" in s.value for s in at.success)
    at.text_input[0].input("Q1 request =SUM(A1)")
    at.text_input[1].input("CMO draft")
    at.button[[b.label for b in at.button].index("Save the working plan")].click().run()
    assert not at.exception, at.exception
    assert any(s.value == f"Saved '{literal.markdown('Q1 request =SUM(A1)')}'." for s in at.success)
    with Store(db, read_only=True) as store:
        saved = scenarios.load_scenario(store, "Q1 request =SUM(A1)")
    assert saved.kind == "request" and saved.note == "CMO draft"
    assert sum(ln.amount for ln in saved.lines) == sum(ln.amount for ln in _basis(db).starts["last_quarter"])
    assert "Q1 request =SUM(A1)" in at.multiselect(key="plan.compare").options


def test_planner_adopting_a_split_never_scales_shared_costs_twice(app: Runner, tmp_path: Path) -> None:
    db = tmp_path / "shared.duckdb"
    build_demo_db(db)
    at = app(db, "pages/planner.py")
    at.number_input(key="plan.shared").set_value(150.0).run()
    scaled = {m.label: m for m in at.metric}["Plan total (S&M)"].help
    at.button(key="plan.optimise").click().run()
    at.button(key="plan.use_optimised").click().run()
    assert not at.exception, at.exception
    # the optimised split keeps the plan's total, shared costs already at 150%: the total is unchanged
    assert at.number_input(key="plan.shared").value == 100.0
    assert {m.label: m for m in at.metric}["Plan total (S&M)"].help == scaled
    # saving the plan keeps it as the working plan (the database changed, the edits stay)
    at.text_input[0].input("kept")
    at.button[[b.label for b in at.button].index("Save the working plan")].click().run()
    assert not at.exception, at.exception
    assert {m.label: m for m in at.metric}["Plan total (S&M)"].help == scaled


def test_while_a_writer_holds_the_database_pages_show_the_last_state_and_no_error(
        app: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from finance.app import loaders

    db = tmp_path / "held.duckdb"
    build_demo_db(db)
    monkeypatch.setattr(loaders, "READ_WAIT", 0.3)
    shown = [m.value for m in app(db).metric]  # this server has read the database once
    writer = Store(db, user="a long import")
    try:
        writer.set_setting("note", "committed, but the writer keeps the file")  # a new version to read
        at = app(db)  # a new session
        assert not at.exception, at.exception
        assert any("figures from before it" in i.value for i in at.info)
        assert [m.value for m in at.metric] == shown  # the whole previous state, not an error
        at.switch_page("pages/data.py").run()
        assert not at.exception, at.exception
        assert any("is busy" in w.value for w in at.warning)
    finally:
        writer.close()
    at = app(db)
    assert not at.exception and not any("figures from before it" in i.value for i in at.info)


def test_the_ltv_page_shows_the_model_check_and_the_methods_side_by_side(app: Runner, demo_db: Path) -> None:
    at = app(demo_db, "pages/ltv.py")
    assert not at.exception, at.exception
    check = _check(demo_db)
    assert check is not None
    frames = [d.value for d in at.dataframe]

    def frame_with(column: str) -> Any:
        return next(f for f in frames if column in f.columns)

    methods = frame_with("LTV:CAC")
    assert methods.shape[0] == 4  # auto, formula, cohort, bgnbd: each with its LTV, range and back-test error
    assert (methods["Low"] <= methods["LTV"]).all() and (methods["LTV"] <= methods["High"]).all()
    table = frame_with("Months ahead")
    auto12 = table[(table["Method"] == sidebar.METHOD_LABELS["auto"]) & (table["Months ahead"] == 12)].iloc[0]
    score = check.headline("auto", 12)
    assert score is not None
    assert auto12["Forecasts"] == score.predictions and abs(auto12["Forecast error"] - score.mape) < 1e-12
    picks = frame_with("Why")
    assert dict(zip(picks["Segment"], picks["Model"], strict=True)) == {  # the model's name, as the tables write it
        s: MODELS_BY_KEY[m].label for s, m in check.recommended.items()}
    params = frame_with("parameter")
    assert set(params["customer_group"]) == set(check.recommended)  # every segment's fit, in business words
    assert any("Churn in a new customer's first month" in p or "Monthly churn" in p for p in params["parameter"])


def test_a_new_data_version_is_checked_in_its_own_process_and_then_used(app: Runner, tmp_path: Path) -> None:
    import shutil
    import time as clock

    db = tmp_path / "changed.duckdb"
    build_demo_db(db)
    with Store(db) as store:
        store.undo(4, backup_first=False)  # the revenue ledger: a new data version, not checked yet
        revenue = SAMPLE_DIR / "revenue.csv"
        shutil.copy(revenue, tmp_path / "revenue-again.csv")
        assert store.import_file("revenue", tmp_path / "revenue-again.csv").status == "imported"
    key, _, _ = demo_check_key(db)
    assert backtest.load(db, key) is None
    at = app(db)
    assert not at.exception, at.exception
    progress = [p for p in at.get("progress") if "Checking the LTV models against your history" in p.proto.text]
    assert progress  # (a long LTV computation of the page may show a bar of its own too)
    assert any("still running" in c.value for c in at.caption)
    deadline = clock.monotonic() + 240
    while backtest.load(db, key) is None and clock.monotonic() < deadline:
        clock.sleep(1)
    check = backtest.load(db, key)
    assert check is not None and len(check.cutoffs) == 8  # written beside the database by the other process
    at = app(db)  # the next visit (in a browser, the note's own poll reruns the page when the check is stored)
    assert not at.exception
    assert not [p for p in at.get("progress") if "Checking the LTV models" in p.proto.text]
    caption = re.sub(r"\\(.)", r"\1", next(c.value for c in at.caption if c.value.startswith("2025-Q4, ")))
    assert "In back-tests at 8 past quarter-ends" in caption


def _figures(at: AppTest) -> list[dict[str, Any]]:
    """Every Plotly figure on the page, as the browser receives it."""
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def _texts(figure: dict[str, Any]) -> str:
    """The words a reader sees in a figure: its title, subtitle, annotations and trace labels."""
    title = figure["layout"].get("title", {})
    parts = [title.get("text", ""), title.get("subtitle", {}).get("text", "")]
    parts += [a.get("text", "") for a in figure["layout"].get("annotations", [])]
    for trace in figure["data"]:
        text = trace.get("text")
        parts += [str(t) for t in text] if isinstance(text, list) else [str(text or "")]
    return "\n".join(parts)


def test_the_overview_writes_a_figure_the_same_on_its_tile_and_in_its_charts(app: Runner, demo_db: Path) -> None:
    # One rule per unit (finance.present.formats): LTV:CAC 5.02 is "5.02x" on the tile and in the trend
    # chart's title, never "5.0x" in one and "5.02x" in the other.
    at = app(demo_db)
    assert not at.exception
    tile = next(m for m in at.metric if m.label == "LTV:CAC").value
    assert re.fullmatch(r"\d+\.\d{2}x", tile), tile
    trend = _texts(_figures(at)[0])
    assert f"LTV:CAC is {tile} in 2025-Q4" in trend, trend


def test_compact_money_is_the_same_on_a_tile_and_in_a_chart(app: Runner, demo_db: Path) -> None:
    # $412,500 is "$412.5K" everywhere: the Overview's spend tile and the CAC page's spend chart
    # (its bar total and title) write the same amount the same way.
    query = {"channels": "Paid Search"}
    overview = app(demo_db, query=query)
    tile = next(m for m in overview.metric if m.label == "Marketing spend")
    cac = app(demo_db, "pages/cac.py", query=query)
    assert not cac.exception
    spend = next(f for f in _figures(cac) if f["layout"]["title"]["text"].endswith("marketing spend"))
    in_title = re.search(r"of (\S+) marketing spend$", spend["layout"]["title"]["text"])
    assert in_title is not None
    assert tile.value == in_title.group(1)  # the same quarter's spend, written once
    assert re.fullmatch(r"\$\d{3}\.\dK", tile.value), tile.value  # hundreds of thousands: where they diverged
    assert tile.value in _texts(spend).splitlines()  # the quarter's bar total too


def test_the_overview_shows_the_mix_behind_the_headline(app: Runner, demo_db: Path) -> None:
    at = app(demo_db)
    with Store(demo_db, read_only=True) as store:
        data, stored = store.dataset(), store.assumptions()
    check = _check(demo_db)
    params = metric_params(Assumptions.from_settings(stored), by="segment")
    latest = compute(data, metric_params(Assumptions.from_settings(stored)), check).rows.row(-1, named=True)
    segments = compute(data, params, check).rows.filter(pl.col("period_label") == latest["period_label"])
    # Independently of finance.metrics.mix: each segment's lifetime margin, and the headline without the largest.
    margins = {r["segment"]: r["ltv"] * r["new_customers"] for r in segments.iter_rows(named=True)}
    top = max(margins, key=margins.__getitem__)
    spend = {r["segment"]: float(r["spend"]) for r in segments.iter_rows(named=True)}
    rest = (sum(margins.values()) - margins[top]) / (sum(spend.values()) - spend[top])
    assert rest < 3 <= latest["ltv_cac"]  # the demo's quarter is carried by one segment
    text = " ".join(re.sub(r"\\(.)", r"\1", m.value) for m in [*at.markdown, *at.warning])
    assert f"LTV:CAC was {latest['ltv_cac']:.2f}x in {latest['period_label']}, above the 3x target" in text
    assert f"{top} carries the headline" in text and f"Without them, LTV:CAC is {rest:.2f}x" in text
    table = next(d.value for d in at.dataframe if "share" in d.value.columns)
    assert sorted(table["segment"]) == sorted(margins) and int(table["new_customers"].sum()) == latest["new_customers"]


def test_the_overview_tiles_say_their_change_in_numbers(app: Runner, demo_db: Path) -> None:
    at = app(demo_db)
    with Store(demo_db, read_only=True) as store:
        data, stored = store.dataset(), store.assumptions()
    rows = compute(data, metric_params(Assumptions.from_settings(stored)), _check(demo_db)).rows
    latest, previous = rows.row(-1, named=True), rows.row(-2, named=True)
    tiles = {m.label: m for m in at.metric}
    change = latest["ltv_cac"] - previous["ltv_cac"]
    # the LTV:CAC tile's arrow is its change against the prior quarter (never the band with an arrow)
    assert tiles["LTV:CAC"].delta == f"{change:+.2f}x vs {previous['period_label']}"
    months = latest["payback_months"] - previous["payback_months"]
    assert tiles["CAC payback"].delta == (f"{months:+d} months vs {previous['period_label']}" if months
                                          else f"unchanged from {previous['period_label']}")
