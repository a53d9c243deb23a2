"""Chart builders: the numbers plotted, the bands, the titles' takeaways, gaps and empty input.

Small frames are written out literally with the expected figures computed by hand in the
comments; one smoke test runs every builder on the demo company.
"""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import polars as pl
import pytest

from finance.domain.schema import BAND_LABELS, COST_CATEGORIES, DEFAULT_BAND_EDGES, MARKETING_CATEGORIES
from finance.present import charts, formats
from finance.present.charts import BAND_COLORS, NO_DATA, TEMPLATE, TEMPLATE_NAME

Q1, Q2, Q3 = date(2025, 1, 1), date(2025, 4, 1), date(2025, 7, 1)
MONEY = pl.Decimal(38, 10)
NON_FINITE = re.compile(r"\bNaN\b|\bnan\b|Infinity|\binf\b")


def rects(fig: go.Figure) -> list[Any]:
    return [s for s in fig.layout.shapes if s.type == "rect"]


def lines(fig: go.Figure) -> list[Any]:
    return [s for s in fig.layout.shapes if s.type == "line"]


def trace(fig: go.Figure, name: str) -> Any:
    matches = [t for t in fig.data if t.name == name]
    assert len(matches) == 1, f"expected one trace named {name!r}, got {[t.name for t in fig.data]}"
    return matches[0]


def title_of(fig: go.Figure) -> str:
    """A figure's title as a sentence: the lines it is wrapped into (``charts.wrap``) joined by spaces."""
    return str(fig.layout.title.text).replace("<br>", " ")


def subtitle_of(fig: go.Figure) -> str:
    return str(fig.layout.title.subtitle.text).replace("<br>", " ")


def assert_no_data(fig: go.Figure) -> None:
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == 0
    (note,) = fig.layout.annotations
    assert note.text.startswith(NO_DATA)


def assert_finite_json(fig: go.Figure) -> None:
    text = fig.to_json()
    assert not NON_FINITE.search(text), NON_FINITE.search(text)


# ---------------------------------------------------------------------------------------------
# Formatting and theme
# ---------------------------------------------------------------------------------------------


def test_chart_ratios_are_written_as_on_the_tiles_and_never_contradict_the_band() -> None:
    # Charts write ratios with finance.present.formats.ratio: two decimals, as the tiles and the pack do.
    assert formats.ratio(3.24) == "3.24x"
    assert formats.ratio(2.996, DEFAULT_BAND_EDGES) == "2.996x"  # "3.00x" would read as strong
    assert formats.ratio(float("inf")) == "n/a"


def test_band_colours_cover_every_band_once_and_the_template_is_registered() -> None:
    assert tuple(BAND_COLORS) == BAND_LABELS
    assert len(set(BAND_COLORS.values())) == len(BAND_LABELS)
    assert set(charts.CATEGORY_COLORS) == {c.key for c in COST_CATEGORIES}
    assert pio.templates[TEMPLATE_NAME].to_plotly_json() == TEMPLATE.to_plotly_json()
    fig = charts.cac_by_dimension(cac_rows(), "channel")
    assert fig.layout.template.layout.font.family == TEMPLATE.layout.font.family
    assert list(fig.layout.template.layout.colorway) == list(charts.SERIES_COLORS)


# ---------------------------------------------------------------------------------------------
# LTV:CAC trend
# ---------------------------------------------------------------------------------------------


def trend_rows() -> pl.DataFrame:
    # Q2 has no ratio (no new customers): it must be a gap, not zero and not NaN.
    return pl.DataFrame(
        {
            "period": [Q1, Q2, Q3],
            "period_label": ["2025-Q1", "2025-Q2", "2025-Q3"],
            "ltv": [2500.0, None, 3240.0],
            "cac": [Decimal("1000"), None, Decimal("1000")],
            "ltv_cac": [2.5, None, 3.24],
            "ltv_cac_low": [2.25, None, 3.0],
            "ltv_cac_high": [2.75, None, 3.5],
            "band": ["healthy", None, "strong"],
        },
        schema_overrides={"cac": MONEY},
    )


def test_trend_plots_ltv_cac_with_its_interval_and_gaps_for_nulls() -> None:
    fig = charts.ltv_cac_trend(trend_rows())
    assert [type(t).__name__ for t in fig.data] == ["Scatter", "Scatter", "Scatter"]
    ratio = trace(fig, "LTV:CAC")
    assert ratio.x == ("2025-Q1", "2025-Q2", "2025-Q3")
    assert ratio.y == (2.5, None, 3.24)
    assert ratio.connectgaps is False
    low, high = trace(fig, "LTV:CAC, low end of range"), trace(fig, "LTV:CAC, high end of range")
    assert low.y == (2.25, None, 3.0) and high.y == (2.75, None, 3.5)
    assert high.fill == "tonexty"  # shaded between low and high
    # markers in the band colour of each point; unknown ratio grey
    assert list(ratio.marker.color) == [BAND_COLORS["healthy"], charts.NO_BAND_COLOR, BAND_COLORS["strong"]]
    assert ratio.customdata[0][2] == "$2,500.00" and ratio.customdata[0][3] == "$1,000.00"
    assert list(ratio.customdata[1]) == ["n/a", "n/a", "n/a", "n/a"]
    assert "%{y:.2f}x" in ratio.hovertemplate
    assert_finite_json(fig)


def test_trend_shades_the_five_bands_in_their_colours_from_the_edges() -> None:
    fig = charts.ltv_cac_trend(trend_rows())
    bands = rects(fig)
    assert [r.fillcolor for r in bands] == [BAND_COLORS[b] for b in BAND_LABELS]
    # y from 0 (no negative ratio) to the top of the axis: 5 x 1.25 = 6.25 > 3.5 x 1.08
    assert [(r.y0, r.y1) for r in bands] == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 5.0), (5.0, 6.25)]
    assert tuple(fig.layout.yaxis.range) == (0.0, 6.25)
    assert [s.y0 for s in lines(fig)] == [1.0, 2.0, 3.0, 5.0]  # a reference rule at each edge
    assert {a.text for a in fig.layout.annotations} >= set(BAND_LABELS)  # labelled, not colour alone


def test_trend_bands_follow_configured_edges() -> None:
    fig = charts.ltv_cac_trend(trend_rows(), edges=(1.5, 2.5, 4.0, 8.0))
    assert [(r.y0, r.y1) for r in rects(fig)][1:4] == [(1.5, 2.5), (2.5, 4.0), (4.0, 8.0)]
    # 3.24 is "healthy" between 2.5 and 4: the title follows the edges drawn
    assert title_of(fig) == "LTV:CAC is 3.24x in 2025-Q3: healthy"
    with pytest.raises(ValueError, match="increasing"):
        charts.ltv_cac_trend(trend_rows(), edges=(3.0, 2.0, 4.0, 5.0))


def test_trend_title_states_the_latest_known_ratio_and_band() -> None:
    fig = charts.ltv_cac_trend(trend_rows())
    assert title_of(fig) == "LTV:CAC is 3.24x in 2025-Q3: strong"
    # latest period unknown: the title names the latest period that has a ratio
    fig = charts.ltv_cac_trend(trend_rows().head(2))
    assert title_of(fig) == "LTV:CAC is 2.50x in 2025-Q1: healthy"


def test_trend_by_channel_draws_one_line_per_channel_aligned_on_periods() -> None:
    rows = pl.DataFrame({
        "period": [Q1, Q2, Q1, Q2],
        "period_label": ["2025-Q1", "2025-Q2", "2025-Q1", "2025-Q2"],
        "channel": ["Paid Search", "Paid Search", "Events", "Events"],
        "ltv_cac": [0.8, 0.9, 4.0, None],
    })
    fig = charts.ltv_cac_trend(rows)
    assert [t.name for t in fig.data] == ["Events", "Paid Search"]  # no interval columns: no shading
    assert trace(fig, "Events").y == (4.0, None)
    assert trace(fig, "Paid Search").y == (0.8, 0.9)
    assert trace(fig, "Paid Search").line.color != trace(fig, "Events").line.color
    # Events has no Q2 ratio, so Q2 has only Paid Search: the latest known period is Q2
    assert title_of(fig) == "LTV:CAC is 0.90x for Paid Search in 2025-Q2: unprofitable"
    fig = charts.ltv_cac_trend(rows.filter(pl.col("period") == Q1))
    assert title_of(fig) == ("LTV:CAC in 2025-Q1: Events highest at 4.00x (strong), "
                             "Paid Search lowest at 0.80x (unprofitable)")


def test_trend_switches_to_a_log_axis_when_ratios_span_far_beyond_the_bands() -> None:
    rows = pl.DataFrame({"period": [Q1, Q2], "period_label": ["2025-Q1", "2025-Q2"], "ltv_cac": [0.2, 25.0]})
    fig = charts.ltv_cac_trend(rows)
    assert fig.layout.yaxis.type == "log"
    assert trace(fig, "LTV:CAC").y == (0.2, 25.0)
    # shapes stay in data units on a log axis: the bands still start at the edges
    assert [(r.y0, r.y1) for r in rects(fig)][1:4] == [(1.0, 2.0), (2.0, 3.0), (3.0, 5.0)]
    assert rects(fig)[0].y0 == pytest.approx(0.2 / 1.6) and rects(fig)[-1].y1 == pytest.approx(25 * 1.6)


# ---------------------------------------------------------------------------------------------
# Channel efficiency
# ---------------------------------------------------------------------------------------------


def efficiency_rows() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "period": [Q1, Q2, Q2, Q2],
            "period_label": ["2025-Q1", "2025-Q2", "2025-Q2", "2025-Q2"],
            "channel": ["Old", "Display", "Outbound", "Podcasts"],
            "cac": [Decimal("10"), Decimal("1000"), Decimal("500"), None],
            "ltv": [100.0, 500.0, 2000.0, 100.0],
            "ltv_cac": [10.0, 0.5, 4.0, None],
            "band": ["under-investing?", "unprofitable", "strong", None],
            "spend": [Decimal("1"), Decimal("5000.5"), Decimal("20000"), Decimal("300")],
            "new_customers": [1, 5, 40, 0],
        },
        schema_overrides={"cac": MONEY, "spend": MONEY},
    )


def test_channel_efficiency_plots_the_latest_period_coloured_by_band() -> None:
    fig = charts.channel_efficiency(efficiency_rows())
    unprofitable, strong = trace(fig, "unprofitable"), trace(fig, "strong")
    assert (unprofitable.x, unprofitable.y, unprofitable.text) == ((1000.0,), (500.0,), ("Display",))
    assert (strong.x, strong.y, strong.text) == ((500.0,), (2000.0,), ("Outbound",))
    assert unprofitable.marker.color == BAND_COLORS["unprofitable"]
    assert strong.marker.color == BAND_COLORS["strong"]
    assert "Old" not in json.dumps([t.text for t in fig.data])  # older period left out
    # bubble area proportional to spend
    assert strong.marker.size == (20000.0,) and unprofitable.marker.size == (5000.5,)
    assert strong.marker.sizemode == "area"
    assert list(unprofitable.customdata[0][1:4]) == ["$1,000.00", "$500.00", "0.50x"]
    assert unprofitable.customdata[0][5] == "$5,000.50"
    # the diagonals: LTV = 1x and 3x CAC
    for name, multiple in (("LTV = 1x CAC (break-even)", 1.0), ("LTV = 3x CAC", 3.0)):
        diagonal = trace(fig, name)
        assert diagonal.y[1] == pytest.approx(multiple * diagonal.x[1]) and diagonal.x[0] == 0.0
    assert title_of(fig) == ("Outbound is the most efficient channel at 4.00x LTV:CAC; "
                             "Display the least at 0.50x")
    assert "Podcasts" in subtitle_of(fig)  # no CAC: named as n/a, not plotted


def test_channel_efficiency_recolours_from_edges_and_goes_log_for_wide_spreads() -> None:
    rows = efficiency_rows().filter(pl.col("period") == Q2)
    fig = charts.channel_efficiency(rows, edges=(1.0, 2.0, 4.5, 6.0))
    assert trace(fig, "healthy").text == ("Outbound",)  # 4.0 is below the 4.5 edge
    wide = rows.with_columns(pl.when(pl.col("channel") == "Outbound").then(20000.0).otherwise(pl.col("ltv"))
                             .alias("ltv"))
    fig = charts.channel_efficiency(wide)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert all(text.startswith("$") for text in fig.layout.xaxis.ticktext)


# ---------------------------------------------------------------------------------------------
# CAC waterfall and spend by category
# ---------------------------------------------------------------------------------------------


def waterfall_row() -> dict[str, Any]:
    spend: dict[str, Decimal | None] = {f"spend_{c.key}": Decimal(0) for c in COST_CATEGORIES}
    spend.update({
        "spend_digital_advertising": Decimal("2000"),   # / 8 = 250      media-only CAC
        "spend_content_seo": Decimal("400.04"),         # / 8 = 50.005   -> $50.01 half-up
        "spend_events": Decimal("1200"),                # / 8 = 150
        "spend_personnel": Decimal("3000"),             # / 8 = 375
        "spend_martech": Decimal("1400"),               # / 8 = 175
        "spend_influencer": None,                       # unknown counts as no spend
        "spend_sales": Decimal("2000"),                 # / 8 = 250
    })
    # fully loaded = 8000.04 / 8 = 1000.005; S&M = 10000.04 / 8 = 1250.005; ratio 1000.005 / 250 = 4.00002
    return {"period": Q2, "period_label": "2025-Q2", "new_customers": 8, **spend}


def test_waterfall_steps_add_up_to_fully_loaded_cac() -> None:
    fig = charts.cac_waterfall(waterfall_row())
    (bars,) = fig.data
    assert isinstance(bars, go.Waterfall)
    assert bars.x == ("Media-only CAC", "Content marketing & SEO", "Events", "Personnel",
                      "Marketing technology", "Fully loaded CAC")  # zero-spend categories left out
    assert bars.measure == ("absolute", "relative", "relative", "relative", "relative", "total")
    assert bars.y[:5] == pytest.approx((250.0, 50.005, 150.0, 375.0, 175.0))
    assert sum(bars.y[:5]) == pytest.approx(1000.005)
    assert bars.y[-1] == pytest.approx(1000.005)
    assert bars.text == ("$250.00", "+$50.01", "+$150.00", "+$375.00", "+$175.00", "$1,000.01")
    assert bars.customdata[-1] == "Marketing spend $8,000.04 / 8 new customers"
    assert title_of(fig) == "Fully loaded CAC is 4.00x media-only CAC"
    assert "$250.00 media-only → $1,000.01 fully loaded" in subtitle_of(fig)


def test_waterfall_with_sales_reaches_sales_and_marketing_cac_and_takes_a_frame() -> None:
    frame = pl.DataFrame([waterfall_row()])
    fig = charts.cac_waterfall(frame, include_sales=True)
    (bars,) = fig.data
    assert bars.x[-3:] == ("Fully loaded CAC", "Sales", "Sales & marketing CAC")
    assert bars.measure[-3:] == ("total", "relative", "total")
    steps = [y for y, m in zip(bars.y, bars.measure, strict=True) if m != "total"]
    assert sum(steps) == pytest.approx(1250.005)
    assert bars.text[-1] == "$1,250.01"
    assert title_of(fig) == "Fully loaded CAC is 4.00x media-only CAC"


def test_waterfall_guards_zero_media_and_zero_customers() -> None:
    row = waterfall_row() | {"spend_digital_advertising": Decimal(0)}
    fig = charts.cac_waterfall(row)
    assert title_of(fig) == "Fully loaded CAC is $750.01, with no media spend"  # 6000.04 / 8
    fig = charts.cac_waterfall(waterfall_row() | {"new_customers": 0})
    assert len(fig.data) == 0
    assert fig.layout.annotations[0].text == f"{NO_DATA}: no new customers in 2025-Q2, so CAC is n/a"


def category_rows() -> pl.DataFrame:
    zero = {f"spend_{c.key}": [Decimal(0)] * 4 for c in COST_CATEGORIES}
    return pl.DataFrame(
        {
            **zero,
            "period": [Q1, Q1, Q2, Q2],
            "period_label": ["2025-Q1", "2025-Q1", "2025-Q2", "2025-Q2"],
            "channel": ["A", "B", "A", "B"],
            "spend_digital_advertising": [Decimal("100"), Decimal("50.25"), Decimal("200"), Decimal("100")],
            "spend_personnel": [Decimal("300"), Decimal("300"), Decimal("400"), Decimal("500")],
            "spend_martech": [Decimal("10"), Decimal("10"), Decimal("50"), Decimal("50")],
            "spend_sales": [Decimal("999"), Decimal("1"), Decimal("0"), Decimal("0")],
        },
        schema_overrides={f"spend_{c.key}": pl.Decimal(38, 4) for c in COST_CATEGORIES},
    )


def test_spend_by_category_stacks_period_totals_by_category_label() -> None:
    fig = charts.spend_by_category(category_rows())
    bars = [t for t in fig.data if isinstance(t, go.Bar)]
    assert [b.name for b in bars] == ["Digital advertising", "Personnel", "Marketing technology"]  # no zeros, no sales
    assert trace(fig, "Digital advertising").y == (150.25, 300.0)  # summed over channels A and B
    assert trace(fig, "Personnel").y == (600.0, 900.0)
    assert trace(fig, "Marketing technology").y == (20.0, 100.0)
    assert trace(fig, "Personnel").marker.color == charts.CATEGORY_COLORS["personnel"]
    assert fig.layout.barmode == "stack"
    assert "$%{y:,.2f}" in trace(fig, "Personnel").hovertemplate
    assert trace(fig, "Personnel").customdata == ("77.9%", "69.2%")  # 600 / 770.25, 900 / 1300
    assert trace(fig, "Total").y == (770.25, 1300.0)
    # Q2: personnel 900 of 1,300 = 69%
    assert title_of(fig) == "Personnel is the largest cost in 2025-Q2: 69% of $1.30K marketing spend"
    with_sales = charts.spend_by_category(category_rows(), include_sales=True)
    assert trace(with_sales, "Sales").y == (1000.0, 0.0)
    assert trace(with_sales, "Total").y == (1770.25, 1300.0)


# ---------------------------------------------------------------------------------------------
# CAC by dimension, CPL / CPA history
# ---------------------------------------------------------------------------------------------


def cac_rows() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "period": [Q1, Q2, Q1, Q2],
            "period_label": ["2025-Q1", "2025-Q2", "2025-Q1", "2025-Q2"],
            "channel": ["Paid Search", "Paid Search", "Events", "Events"],
            "cac": [Decimal("100"), Decimal("120"), None, Decimal("850.5")],
            "spend": [Decimal("1000"), Decimal("1200"), Decimal("0"), Decimal("1701")],
            "new_customers": [10, 10, 0, 2],
        },
        schema_overrides={"cac": MONEY, "spend": MONEY},
    )


def test_cac_by_dimension_draws_one_line_per_channel_with_exact_money_hovers() -> None:
    fig = charts.cac_by_dimension(cac_rows(), "channel")
    assert [t.name for t in fig.data] == ["Events", "Paid Search"]
    assert trace(fig, "Events").y == (None, 850.5)  # no customers in Q1: a gap
    assert trace(fig, "Paid Search").y == (100.0, 120.0)
    assert "$%{y:,.2f}" in trace(fig, "Events").hovertemplate
    assert list(trace(fig, "Events").customdata[1]) == ["$1,701.00", "2"]
    assert title_of(fig) == ("Fully loaded CAC in 2025-Q2: lowest Paid Search ($120.00), "
                             "highest Events ($850.50)")
    pooled = charts.cac_by_dimension(cac_rows().filter(pl.col("channel") == "Paid Search").drop("channel"), "channel")
    assert [t.name for t in pooled.data] == ["Fully loaded CAC"]
    assert title_of(pooled) == "Fully loaded CAC is $120.00 in 2025-Q2"


def funnel_rows() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "period": [Q1, Q2, Q1, Q2],
            "period_label": ["2025-Q1", "2025-Q2", "2025-Q1", "2025-Q2"],
            "channel": ["Paid Search", "Paid Search", "Events", "Events"],
            "leads": [100, 120, 20, None],
            "visitors": [5000, 6000, 0, 0],
            "event_attendees": [0, 0, 300, 250],
            "cpl": [Decimal("50"), Decimal("45.5"), Decimal("400"), None],
            "cpa": [Decimal("500"), Decimal("455"), Decimal("4000"), Decimal("3900.25")],
        },
        schema_overrides={"cpl": MONEY, "cpa": MONEY},
    )


def test_cpl_cpa_history_lines_over_volume_bars_on_a_secondary_axis() -> None:
    fig = charts.cpl_cpa_history(funnel_rows(), "channel", "leads")
    assert len(fig.data) == 6  # per channel: volume bars, CPL line, CPA line
    bars = [t for t in fig.data if isinstance(t, go.Bar)]
    assert [(b.name, b.y) for b in bars] == [("Events leads", (20.0, None)), ("Paid Search leads", (100.0, 120.0))]
    assert {b.yaxis for b in bars} == {"y"}
    cpl = trace(fig, "Paid Search")
    assert (cpl.y, cpl.yaxis) == ((50.0, 45.5), "y2")
    cpa = trace(fig, "Events CPA")
    assert (cpa.y, cpa.yaxis) == ((4000.0, 3900.25), "y3")
    assert "$%{y:,.2f}" in cpl.hovertemplate and "$%{y:,.2f}" in cpa.hovertemplate
    # volume on the right-hand axis, money on the left, all sharing one time axis
    assert fig.layout.yaxis.side == "right" and fig.layout.yaxis2.side == "left"
    assert fig.layout.yaxis2.overlaying == "y" and fig.layout.yaxis2.tickprefix == "$"
    assert {t.xaxis for t in fig.data} == {"x"}
    assert title_of(fig) == "In 2025-Q2, Paid Search has the lowest CPA ($455.00) and CPL ($45.50)"
    visitors = charts.cpl_cpa_history(funnel_rows(), "channel", "visitors")
    assert trace(visitors, "Paid Search visitors").y == (5000.0, 6000.0)
    assert visitors.layout.yaxis.title.text == "Visitors"
    with pytest.raises(ValueError, match="leads, visitors, event_attendees"):
        charts.cpl_cpa_history(funnel_rows(), "channel", "mqls")


# ---------------------------------------------------------------------------------------------
# Cohort heatmap and LTV curves
# ---------------------------------------------------------------------------------------------


def cohort_matrix() -> pl.DataFrame:
    # 2025-Q1: margins 10, 20, 30 -> cumulative 10, 30, 60; 2025-Q2 observed two months only.
    return pl.DataFrame(
        {
            "cohort": [Q1, Q1, Q1, Q2, Q2],
            "cohort_label": ["2025-Q1", "2025-Q1", "2025-Q1", "2025-Q2", "2025-Q2"],
            "age": [0, 1, 2, 0, 1],
            "customers": [10, 10, 10, 4, 4],
            "margin_per_customer": [10.0, 20.0, 30.0, 5.0, 15.0],
            "cumulative_margin_per_customer": [10.0, 30.0, 60.0, 5.0, 20.0],
        },
        schema_overrides={"age": pl.Int64, "customers": pl.Int64},
    )


def test_cohort_heatmap_places_each_cohort_month_and_leaves_unobserved_blank() -> None:
    fig = charts.cohort_heatmap(cohort_matrix())
    (heat,) = fig.data
    assert isinstance(heat, go.Heatmap)
    assert heat.y == ("2025-Q1", "2025-Q2")
    assert heat.x == (1, 2, 3)  # month 1 = acquisition month (age 0)
    assert [list(row) for row in heat.z] == [[10.0, 30.0, 60.0], [5.0, 20.0, None]]
    assert list(heat.customdata[1][1]) == ["$15.00", "4"]
    assert "$%{z:,.2f}" in heat.hovertemplate
    assert heat.hoverongaps is False
    assert fig.layout.yaxis.autorange == "reversed"  # oldest cohort on top
    assert title_of(fig) == "After 3 months, the 2025-Q1 cohort has returned $60.00 per customer"
    assert_finite_json(fig)


def curve_rows() -> pl.DataFrame:
    return pl.DataFrame({
        "period": [Q1, Q2],
        "period_label": ["2025-Q1", "2025-Q2"],
        "curve": [[100.0, 100.0, 100.0, 100.0], [50.0, 50.0, 50.0, 50.0]],
    })


def test_ltv_curves_plot_cumulative_margin_and_the_payback_crossing() -> None:
    from finance.ltv.base import payback_months

    fig = charts.ltv_curves(curve_rows(), cac=Decimal("120"))
    assert trace(fig, "2025-Q1").y == (100.0, 200.0, 300.0, 400.0)
    assert trace(fig, "2025-Q2").y == (50.0, 100.0, 150.0, 200.0)
    assert trace(fig, "2025-Q2").x == (1, 2, 3, 4)
    (rule,) = lines(fig)
    assert (rule.y0, rule.y1) == (120.0, 120.0)
    # 50, 100, 150: the CAC of 120 is repaid in month 3, as the core's payback says
    assert payback_months([50.0] * 4, 120.0) == 3
    assert trace(fig, "Payback (2025-Q2)").x == (3,)
    assert title_of(fig) == "Payback in 3 months: 2025-Q2 customers repay the $120.00 CAC"
    assert "$%{y:,.2f}" in trace(fig, "2025-Q1").hovertemplate
    never = charts.ltv_curves(curve_rows(), cac=1000)
    assert title_of(never) == "2025-Q2 customers do not repay the $1,000.00 CAC within 4 months"
    plain = charts.ltv_curves(curve_rows())
    assert not lines(plain)
    assert title_of(plain) == "2025-Q2 customers are expected to return $200.00 of gross margin in 4 months"


def test_ltv_curves_stop_at_a_non_finite_month_instead_of_plotting_nan() -> None:
    rows = pl.DataFrame({"period": [Q1], "period_label": ["2025-Q1"], "curve": [[10.0, float("nan"), 10.0]]})
    fig = charts.ltv_curves(rows)
    assert fig.data[0].y == (10.0, None, None)
    assert_finite_json(fig)


# ---------------------------------------------------------------------------------------------
# Empty and non-finite input
# ---------------------------------------------------------------------------------------------


def test_every_builder_says_no_data_for_an_empty_frame() -> None:
    empty = pl.DataFrame()
    assert_no_data(charts.ltv_cac_trend(empty))
    assert_no_data(charts.channel_efficiency(empty))
    assert_no_data(charts.cac_waterfall(empty))
    assert_no_data(charts.cac_waterfall({}))
    assert_no_data(charts.spend_by_category(empty))
    assert_no_data(charts.cac_by_dimension(empty, "channel"))
    assert_no_data(charts.cpl_cpa_history(empty))
    assert_no_data(charts.cohort_heatmap(empty))
    assert_no_data(charts.ltv_curves(empty))
    # a typed frame with no rows, as a filter that matches nothing returns
    assert_no_data(charts.ltv_cac_trend(trend_rows().head(0)))
    assert_no_data(charts.cohort_heatmap(cohort_matrix().head(0)))
    assert_no_data(charts.cpl_cpa_history(funnel_rows().head(0), "channel", "visitors"))


def test_every_builder_says_no_data_when_every_value_is_null() -> None:
    nulls = trend_rows().with_columns(pl.lit(None, dtype=pl.Float64).alias(c)
                                      for c in ("ltv_cac", "ltv_cac_low", "ltv_cac_high", "ltv"))
    assert_no_data(charts.ltv_cac_trend(nulls))
    assert_no_data(charts.channel_efficiency(nulls))
    assert_no_data(charts.cac_by_dimension(cac_rows().with_columns(pl.lit(None, dtype=MONEY).alias("cac")), "channel"))
    assert_no_data(charts.cpl_cpa_history(funnel_rows().with_columns(
        pl.lit(None, dtype=MONEY).alias("cpl"), pl.lit(None, dtype=MONEY).alias("cpa"),
        pl.lit(None, dtype=pl.Int64).alias("leads"))))
    spend_nulls = category_rows().with_columns(pl.lit(None, dtype=pl.Decimal(38, 4)).alias(f"spend_{k}")
                                               for k in MARKETING_CATEGORIES)
    assert_no_data(charts.spend_by_category(spend_nulls))
    assert_no_data(charts.cac_waterfall({f"spend_{k}": None for k in MARKETING_CATEGORIES} | {"new_customers": 3}))
    assert_no_data(charts.cohort_heatmap(cohort_matrix().with_columns(
        pl.lit(None, dtype=pl.Float64).alias("cumulative_margin_per_customer"))))
    assert_no_data(charts.ltv_curves(curve_rows().with_columns(pl.lit(None, dtype=pl.List(pl.Float64)).alias("curve"))))


def test_nan_and_inf_become_gaps_and_n_a() -> None:
    rows = trend_rows().with_columns(
        ltv_cac=pl.Series([2.5, float("nan"), float("inf")]),
        ltv=pl.Series([2500.0, float("nan"), float("inf")]),
    )
    fig = charts.ltv_cac_trend(rows)
    assert trace(fig, "LTV:CAC").y == (2.5, None, None)
    assert trace(fig, "LTV:CAC").customdata[2][2] == "n/a"
    assert title_of(fig) == "LTV:CAC is 2.50x in 2025-Q1: healthy"
    assert_finite_json(fig)
    efficiency = charts.channel_efficiency(efficiency_rows().with_columns(
        ltv=pl.Series([1.0, float("inf"), 2000.0, 1.0])))
    assert "Display" in subtitle_of(efficiency)  # infinite LTV: n/a, not plotted
    assert_finite_json(efficiency)


# ---------------------------------------------------------------------------------------------
# The demo company, end to end
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from finance.demo import build_demo_db
    from finance.ltv.base import cohort_margin_matrix
    from finance.metrics.table import MetricParams, compute, default_as_of
    from finance.store.database import Store

    path: Path = tmp_path_factory.mktemp("charts") / "demo.duckdb"
    build_demo_db(path)
    with Store(path, read_only=True) as store:
        data = store.dataset()
    return {
        "rows": compute(data, MetricParams()).rows,
        "channels": compute(data, MetricParams(by="channel")).rows,
        "segments": compute(data, MetricParams(by="segment")).rows,
        "matrix": cohort_margin_matrix(data, as_of=default_as_of(data)),
        "customer_ids": data.customers.select("customer_id").head(50).collect().get_column("customer_id").to_list(),
    }


def test_demo_company_figures(demo: dict[str, Any]) -> None:
    rows, channels = demo["rows"], demo["channels"]
    latest = rows.filter(pl.col("new_customers") > 0).row(-1, named=True)
    known = rows.filter(pl.col("ltv").is_not_null())
    figures = {
        "trend": charts.ltv_cac_trend(rows),
        "segments": charts.ltv_cac_trend(demo["segments"]),
        "efficiency": charts.channel_efficiency(channels.filter(pl.col("period_label") == latest["period_label"])),
        "waterfall": charts.cac_waterfall(latest, include_sales=True),
        "categories": charts.spend_by_category(rows),
        "cac_channel": charts.cac_by_dimension(channels, "channel"),
        "cac_segment": charts.cac_by_dimension(demo["segments"], "segment"),
        "cpl": charts.cpl_cpa_history(channels, "channel", "event_attendees"),
        "heatmap": charts.cohort_heatmap(demo["matrix"]),
        "curves": charts.ltv_curves(known.tail(4), cac=latest["cac"]),
    }
    trend = trace(figures["trend"], "LTV:CAC")
    expected = [None if v is None else float(v) for v in rows.get_column("ltv_cac").to_list()]
    assert list(trend.y) == expected
    (bars,) = figures["waterfall"].data
    steps = [y for y, m in zip(bars.y, bars.measure, strict=True) if m != "total"]
    assert sum(steps) == pytest.approx(float(latest["cac_sm"]))
    fully_loaded = bars.x.index("Fully loaded CAC")
    assert sum(steps[:fully_loaded]) == pytest.approx(float(latest["cac"]))
    ratio = latest["cac"] / latest["cac_media"]
    assert title_of(figures["waterfall"]) == f"Fully loaded CAC is {formats.ratio(ratio)} media-only CAC"
    assert len(figures["cac_channel"].data) == channels.get_column("channel").n_unique()
    assert len(figures["heatmap"].data[0].y) == demo["matrix"].get_column("cohort").n_unique()
    payback = latest["payback_months"]
    if payback is not None:
        assert title_of(figures["curves"]).startswith(f"Payback in {payback} months")
    customer_ids = [str(c) for c in demo["customer_ids"]]
    for name, fig in figures.items():
        assert fig.data, name
        assert title_of(fig) and "nan" not in title_of(fig).lower(), name
        text = fig.to_json()
        assert not NON_FINITE.search(text), name
        # aggregates only: no customer identifier reaches the browser
        assert not any(f'"{c}"' in text for c in customer_ids), name


def test_ltv_curves_shade_the_latest_cohorts_interval() -> None:
    rows = pl.DataFrame({
        "period_label": ["2025-Q1", "2025-Q2"],
        "curve": [[100.0, 50.0, 25.0], [120.0, 60.0, 30.0]],
        "cumulative_low": [[100.0, 150.0, 175.0], [110.0, 160.0, 180.0]],
        "cumulative_high": [[100.0, 150.0, 175.0], [130.0, 200.0, 230.0]],
    })
    fig = charts.ltv_curves(rows, cac=150)
    band = [t for t in fig.data if getattr(t, "fill", None) == "tonexty"]
    assert len(band) == 1 and band[0].name == "2025-Q2 interval"
    assert list(band[0].y) == [110.0, 160.0, 180.0]
    upper = fig.data[list(fig.data).index(band[0]) - 1]
    assert list(upper.y) == [130.0, 200.0, 230.0]
    # the point curve (120, 180, 210) still decides the payback: month 2
    assert "Payback in 2 months" in title_of(fig)


# ---------------------------------------------------------------------------------------------
# Budget planner
# ---------------------------------------------------------------------------------------------

def test_response_curve_plots_history_curve_range_and_plan() -> None:
    history = pl.DataFrame({"period_label": ["2025-Q1", "2025-Q2"], "direct_spend": [10_000.0, 20_000.0],
                            "new_customers": [40, 70]})
    grid = pl.DataFrame({"spend": [0.0, 15_000.0, 30_000.0], "customers": [0.0, 55.0, 90.0],
                         "low": [0.0, 50.0, 80.0], "high": [0.0, 60.0, 100.0]})
    fig = charts.response_curve("Paid Search", history, grid,
                                {"spend": 25_000.0, "customers": 80.0, "low": 72.0, "high": 88.0,
                                 "marginal_cac": 412.5})
    assert title_of(fig).startswith("Paid Search")
    assert list(trace(fig, "Past quarters").y) == [40.0, 70.0]
    assert list(trace(fig, "Response curve").y) == [0.0, 55.0, 90.0]
    plan = trace(fig, "Plan")
    assert list(plan.x) == [25_000.0] and list(plan.error_y.array) == [8.0] and list(plan.error_y.arrayminus) == [8.0]
    assert "$412.50" in plan.hovertemplate
    assert charts.response_curve("X", history, grid.clear()).layout.annotations[0].text == NO_DATA


def test_scenario_comparison_colours_each_bar_by_its_band() -> None:
    table = pl.DataFrame({"scenario": ["Baseline", "Request", "Optimised", "Baseline"],
                          "figure": ["ltv_cac", "ltv_cac", "ltv_cac", "cac"],
                          "value": [2.5, 1.5, 3.25, 900.0], "low": [2.0, 1.2, 2.5, 850.0],
                          "high": [2.9, 1.8, 4.0, 950.0]})
    fig = charts.scenario_comparison(table)
    bar = trace(fig, "LTV:CAC")
    assert list(bar.x) == ["Baseline", "Request", "Optimised"]  # the CAC row is not an LTV:CAC
    assert list(bar.marker.color) == [BAND_COLORS["healthy"], BAND_COLORS["at risk"], BAND_COLORS["strong"]]
    assert list(bar.error_y.array) == pytest.approx([0.4, 0.3, 0.75])
    assert title_of(fig) == "Optimised projects the highest LTV:CAC, 3.25x"
    assert list(bar.text) == ["2.50x healthy", "1.50x at risk", "3.25x strong"]
    assert len(rects(fig)) == len(BAND_LABELS)
    empty = charts.scenario_comparison(table.filter(pl.col("figure") == "cac"))
    assert empty.layout.annotations[0].text == NO_DATA


def test_figures_write_money_in_the_databases_currency(demo: dict[str, Any]) -> None:
    # A company reporting in euros sees "€" in every title, label, hover and axis, never a "$".
    rows, channels = demo["rows"], demo["channels"]
    latest = rows.filter(pl.col("new_customers") > 0).row(-1, named=True)
    figures = [
        charts.ltv_cac_trend(rows, currency="EUR"),
        charts.channel_efficiency(channels.filter(pl.col("period_label") == latest["period_label"]), currency="EUR"),
        charts.cac_waterfall(latest, include_sales=True, currency="EUR"),
        charts.spend_by_category(rows, currency="EUR"),
        charts.cac_by_dimension(channels, "channel", currency="EUR"),
        charts.cpl_cpa_history(channels, "channel", "leads", currency="EUR"),
        charts.cohort_heatmap(demo["matrix"], currency="EUR"),
    ]
    for fig in figures:
        spec = json.dumps(fig.to_plotly_json(), ensure_ascii=False, default=str)
        assert "$" not in spec, title_of(fig)
        assert "€" in spec, title_of(fig)
    title = title_of(figures[3])
    assert f"of {formats.money_compact(latest['spend'], 'EUR')} marketing spend" in title  # e.g. €2.97M
