"""Charts never clip: every figure drawn in a real headless Chromium at the widths it is shown at.

Each builder of ``finance.present.charts`` is drawn on the demo company with the plotly.js of the
installed Plotly package (inlined: nothing is downloaded), once per width it meets:

- the dashboard, where Streamlit stretches a chart to its container: the page at 1280, 1600 and
  1920 px wide less the sidebar (about 400 px), or half of that for a chart in one of two columns;
- the board pack, where kaleido draws a figure 1000 px wide, or 640 px in a half-page column.

From the SVG that Plotly draws, measured in the browser, every case must have:

- every text (title, subtitle, axis titles, tick labels, legend, point labels, bar texts,
  annotations) inside the figure, and inside the clip area of the layer that holds it (a point
  label cut off at the plot's edge is clipped even though it is inside the figure);
- no two texts overlapping (x tick labels, point labels, stacked-bar totals, axis titles...);
- no point label over another point's marker;
- the legend over neither a plot area nor any text, and the title clear of the plot area.

In the dashboard cases the title is set in bold, as Streamlit's chart theme does (the widest it is
ever drawn). A screenshot of every case goes to ``artifacts/charts/`` (or
``$FINANCE_ARTEFACTS/charts``), named chart-case.png. The wrapping and tick rules themselves are
checked without a browser at the end.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.offline
import polars as pl
import pytest

from finance.domain import literal
from finance.present import charts

from .conftest import ROOT
from .test_browser import CHROMIUM, _ensure_chromium

ARTEFACTS = Path(os.environ.get("FINANCE_ARTEFACTS") or ROOT / "artifacts") / "charts"
VIEWPORTS = (1280, 1600, 1920)
SIDEBAR = 400
"""What the dashboard's sidebar and page padding take from the viewport's width."""
PDF_WIDTHS = (1000, 640)
"""``finance.present.pdf.FIGURE_WIDTH`` and ``COLUMN_FIGURE_WIDTH``."""
STREAMLIT_HEIGHT = 450
"""What ``st.plotly_chart`` gives a figure that sets no height."""


@dataclass(frozen=True)
class Chart:
    build: Callable[[dict[str, Any]], go.Figure]
    column: bool = False
    """Shown in one of two columns on its dashboard page."""
    pdf_height: int = 440
    """Its height in the board pack (``finance.present.report``), or ``pdf.Figure``'s default."""


def _latest(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.filter(pl.col("period") == pl.col("period").max())


def _costed(rows: pl.DataFrame) -> dict[str, Any]:
    return rows.filter(pl.col("new_customers") > 0).row(-1, named=True)


def _history() -> tuple[pl.DataFrame, pl.DataFrame]:
    """A planner channel's past quarters and fitted curve, shaped as ``finance.planning`` gives them."""
    history = pl.DataFrame({"period_label": [f"202{3 + i // 4}-Q{i % 4 + 1}" for i in range(12)],
                            "direct_spend": [180_000.0 + 21_000 * i for i in range(12)],
                            "new_customers": [140 + 9 * i - (i % 3) * 6 for i in range(12)]})
    spend = [5_000.0 * i for i in range(0, 121)]
    customers = [420 * (1 - 2.718 ** (-s / 260_000)) for s in spend]
    grid = pl.DataFrame({"spend": spend, "customers": customers, "low": [c * 0.85 for c in customers],
                         "high": [c * 1.15 for c in customers]})
    return history, grid


def _scenarios() -> pl.DataFrame:
    names = ["Baseline (repeat last quarter)", "2026-Q1 request", "Optimised split"]
    return pl.DataFrame({"scenario": names, "figure": ["ltv_cac"] * 3, "value": [2.61, 2.34, 3.12],
                         "low": [2.2, 1.9, 2.6], "high": [3.0, 2.8, 3.7]})


def _backtest() -> pl.DataFrame:
    records = []
    for c, cutoff in enumerate(["2023-12-31", "2024-06-30", "2024-12-31"]):
        for k in range(6):
            actual = 900.0 + 250 * k + 80 * c
            records.append({"cutoff": cutoff, "cohort": f"202{2 + (k + c) // 4}-Q{(k + c) % 4 + 1}", "horizon": 12,
                            "predicted": actual * (0.9 + 0.04 * k), "actual": actual,
                            "low": actual * 0.75, "high": actual * 1.2})
    return pl.DataFrame(records)


CHARTS: dict[str, Chart] = {
    "ltv_cac_trend": Chart(lambda d: charts.ltv_cac_trend(d["rows"]), pdf_height=360),
    "ltv_cac_trend_months": Chart(lambda d: charts.ltv_cac_trend(d["months"])),
    "ltv_cac_trend_channels": Chart(lambda d: charts.ltv_cac_trend(d["channels"])),
    "channel_efficiency": Chart(lambda d: charts.channel_efficiency(_latest(d["channels"])), pdf_height=420),
    "segment_efficiency": Chart(lambda d: charts.channel_efficiency(_latest(d["segments"]), "segment"),
                                pdf_height=420),
    "cac_waterfall": Chart(lambda d: charts.cac_waterfall(_costed(d["rows"]), include_sales=True), pdf_height=520),
    "spend_by_category": Chart(lambda d: charts.spend_by_category(d["rows"], include_sales=True)),
    "spend_by_category_months": Chart(lambda d: charts.spend_by_category(d["months"])),
    "cac_by_channel": Chart(lambda d: charts.cac_by_dimension(d["channels"], "channel"), column=True),
    "cac_by_segment": Chart(lambda d: charts.cac_by_dimension(d["segments"], "segment"), column=True),
    "cac_by_channel_months": Chart(lambda d: charts.cac_by_dimension(d["channel_months"], "channel"), column=True),
    "cpl_cpa_history": Chart(lambda d: charts.cpl_cpa_history(d["channels"], "channel", "leads"), pdf_height=620),
    "cpl_cpa_attendees": Chart(lambda d: charts.cpl_cpa_history(d["channels"], "channel", "event_attendees"),
                               pdf_height=620),
    "cohort_heatmap": Chart(lambda d: charts.cohort_heatmap(d["matrix"])),
    "cohort_heatmap_months": Chart(lambda d: charts.cohort_heatmap(d["matrix_months"])),
    "ltv_curves": Chart(lambda d: charts.ltv_curves(d["rows"].filter(pl.col("ltv").is_not_null()).tail(4),
                                                    cac=_costed(d["rows"])["cac"])),
    "response_curve": Chart(lambda d: charts.response_curve("Paid Search", *_history(), {
        "spend": 420_000.0, "customers": 330.0, "low": 290.0, "high": 370.0, "marginal_cac": 2_412.5})),
    "scenario_comparison": Chart(lambda d: charts.scenario_comparison(_scenarios())),
    "backtest_scatter": Chart(lambda d: charts.backtest_scatter(_backtest())),
}


def _cases(chart: Chart) -> list[tuple[str, int, int]]:
    """(name, width, height) of every place the chart is drawn."""
    cases = []
    for viewport in VIEWPORTS:
        width = (viewport - SIDEBAR) // (2 if chart.column else 1)
        cases.append((f"dashboard-{viewport}{'-column' if chart.column else ''}", width, 0))
    cases += [(f"pdf-{width}", width, chart.pdf_height) for width in PDF_WIDTHS]
    return cases


@pytest.fixture(scope="module")
def demo(demo_db: Path) -> dict[str, Any]:
    from finance.ltv.base import cohort_margin_matrix
    from finance.metrics.table import MetricParams, compute, default_as_of
    from finance.store.database import Store

    started = time.perf_counter()
    with Store(demo_db, read_only=True) as store:
        data = store.dataset()
    tables = {
        "rows": compute(data, MetricParams()).rows,
        "channels": compute(data, MetricParams(by="channel")).rows,
        "segments": compute(data, MetricParams(by="segment")).rows,
        "months": compute(data, MetricParams(grain="month")).rows,
        "matrix": cohort_margin_matrix(data, as_of=default_as_of(data)),
        "matrix_months": cohort_margin_matrix(data, grain="month", as_of=default_as_of(data)),
    }
    tables["channel_months"] = compute(data, MetricParams(grain="month", by="channel")).rows
    print(f"\ndemo metrics: {time.perf_counter() - started:.1f} s")
    return tables


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    """One Chromium page with the installed Plotly's plotly.js, reused for every figure."""
    from playwright.sync_api import sync_playwright

    _ensure_chromium()
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nchart screenshots: {ARTEFACTS}")
    shell = ("<!doctype html><html><head><meta charset='utf-8'><script>" + plotly.offline.get_plotlyjs()
             + "</script></head><body style='margin:0;background:#fff'><div id='chart'></div></body></html>")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        opened = browser.new_page(viewport={"width": 1920, "height": 1100})
        opened.route("**/*", lambda route: route.abort() if route.request.url.startswith("http") else
                     route.continue_())
        opened.set_content(shell)
        yield opened
        browser.close()


DRAW = """async ([spec, width, height, dashboard]) => {
    const figure = JSON.parse(spec);
    const div = document.getElementById('chart');
    div.style.width = width + 'px';
    const layout = Object.assign({}, figure.layout, {width: width, height: height || figure.layout.height || HEIGHT});
    if (dashboard && layout.title && layout.title.text) {
        // Streamlit's chart theme sets every figure's title in bold
        layout.title = Object.assign({}, layout.title, {text: '<b>' + layout.title.text + '</b>'});
    }
    Plotly.purge(div);
    await Plotly.newPlot(div, figure.data, layout, {displayModeBar: false, staticPlot: false});
}""".replace("HEIGHT", str(STREAMLIT_HEIGHT))

MEASURE = """(div) => {
    // div: a chart's plotly div (the figure drawn here, or a chart on a dashboard page)
    const problems = [];
    const frame = div.querySelector('.svg-container').getBoundingClientRect();
    const shown = (el) => {
        for (let n = el; n && n !== div; n = n.parentElement) {
            const style = getComputedStyle(n);
            if (style.display === 'none' || style.visibility === 'hidden' || parseFloat(style.opacity) === 0) {
                return false;
            }
        }
        return true;
    };
    // The four corners of an element's box, in page pixels, shrunk by (dx, dy) in its own frame (a
    // rotated tick label stays a rotated rectangle).
    const corners = (el, dx, dy) => {
        const b = el.getBBox(), m = el.getScreenCTM();
        const x0 = b.x + dx, x1 = b.x + b.width - dx, y0 = b.y + dy, y1 = b.y + b.height - dy;
        return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]].map(([x, y]) => [m.a * x + m.c * y + m.e,
                                                                         m.b * x + m.d * y + m.f]);
    };
    const bounds = (q) => {
        const xs = q.map(p => p[0]), ys = q.map(p => p[1]);
        return {left: Math.min(...xs), right: Math.max(...xs), top: Math.min(...ys), bottom: Math.max(...ys)};
    };
    const rectQuad = (r) => [[r.left, r.top], [r.right, r.top], [r.right, r.bottom], [r.left, r.bottom]];
    // Separating axes: two convex quadrilaterals overlap unless some edge's normal separates them.
    const overlap = (a, b) => {
        for (const q of [a, b]) {
            for (let i = 0; i < 4; i++) {
                const [x1, y1] = q[i], [x2, y2] = q[(i + 1) % 4];
                const nx = y2 - y1, ny = x1 - x2;
                const pa = a.map(p => p[0] * nx + p[1] * ny), pb = b.map(p => p[0] * nx + p[1] * ny);
                if (Math.max(...pa) <= Math.min(...pb) || Math.max(...pb) <= Math.min(...pa)) return false;
            }
        }
        return true;
    };
    const inside = (q, r, slack) => q.every(([x, y]) => x >= r.left - slack && x <= r.right + slack &&
                                                       y >= r.top - slack && y <= r.bottom + slack);
    const kindOf = (el) => {
        for (let n = el; n && n !== div; n = n.parentElement) {
            for (const c of ((n.getAttribute && n.getAttribute('class')) || '').split(' ')) {
                if (c === 'gtitle-subtitle') return 'subtitle';
                if (c === 'gtitle') return 'title';
                if (/^[xy]\\d*title$/.test(c)) return `${c[0]} axis title`;
                if (/^[xy]\\d*tick$/.test(c)) return `${c[0]} tick`;
                if (c === 'legendtext') return 'legend';
                if (c === 'textpoint') return 'point label';
                if (c === 'bartext') return 'bar text';
                if (c === 'annotation') return 'annotation';
                if (c === 'colorbar') return 'colour scale';
                if (c === 'legend') return 'legend';
            }
        }
        return 'text';
    };
    const texts = [];
    for (const el of div.querySelectorAll('svg.main-svg text')) {
        if (!el.textContent.trim() || !shown(el)) continue;
        const size = parseFloat(getComputedStyle(el).fontSize) || 12;
        // the glyphs: a text's box has about 0.2 em of line spacing above its capitals and below
        // its descenders; two texts overlap where their glyphs do, a text is cut where any part is
        texts.push({el, quad: corners(el, 0.5, 0.2 * size), whole: corners(el, 0.5, 0.08 * size),
                    kind: kindOf(el), text: el.textContent.trim().slice(0, 48)});
    }
    const say = (t) => `${t.kind} "${t.text}"`;
    for (const t of texts) {
        if (!inside(t.whole, frame, 0.5)) problems.push(`${say(t)} is outside the figure`);
        for (let n = t.el; n && n !== div; n = n.parentElement) {
            const clip = n.getAttribute && n.getAttribute('clip-path');
            if (!clip) continue;
            const id = clip.replace(/^url\\(["']?#/, '').replace(/["']?\\)$/, '');
            const rect = document.getElementById(id)?.querySelector('rect');
            if (!rect) continue;
            const m = n.getScreenCTM();
            const x = parseFloat(rect.getAttribute('x') || 0), y = parseFloat(rect.getAttribute('y') || 0);
            const w = parseFloat(rect.getAttribute('width')), h = parseFloat(rect.getAttribute('height'));
            const area = bounds([[x, y], [x + w, y + h]].map(([px, py]) => [m.a * px + m.c * py + m.e,
                                                                             m.b * px + m.d * py + m.f]));
            if (!inside(t.whole, area, 0.5)) problems.push(`${say(t)} is clipped by the edge of its area`);
        }
    }
    for (let i = 0; i < texts.length; i++) {
        for (let j = i + 1; j < texts.length; j++) {
            if (overlap(texts[i].quad, texts[j].quad)) problems.push(`${say(texts[i])} overlaps ${say(texts[j])}`);
        }
    }
    // A point's label over another point's marker hides one of them.
    for (const trace of div.querySelectorAll('.scatterlayer .trace')) {
        const labels = [...trace.querySelectorAll('.textpoint')];
        labels.forEach((label, index) => {
            const text = label.querySelector('text');
            if (!text || !text.textContent.trim() || !shown(text)) return;
            const box = bounds(corners(text, 0.5, 0.2 * (parseFloat(getComputedStyle(text).fontSize) || 12)));
            for (const other of div.querySelectorAll('.scatterlayer .trace')) {
                [...other.querySelectorAll('.points path.point')].forEach((marker, k) => {
                    if (other === trace && k === index) return;
                    const r = marker.getBoundingClientRect();
                    if (r.width < 1) return;
                    const cx = (r.left + r.right) / 2, cy = (r.top + r.bottom) / 2, radius = r.width / 2 - 1;
                    const nx = Math.max(box.left, Math.min(cx, box.right));
                    const ny = Math.max(box.top, Math.min(cy, box.bottom));
                    if ((nx - cx) ** 2 + (ny - cy) ** 2 < radius ** 2) {
                        problems.push(`point label "${text.textContent.trim()}" is over another point's marker`);
                    }
                });
            }
        });
    }
    const plots = [...div.querySelectorAll('.nsewdrag')].map(el => rectQuad(el.getBoundingClientRect()));
    const legend = div.querySelector('.legend .bg');
    if (legend && shown(legend)) {
        const box = rectQuad(legend.getBoundingClientRect());
        if (plots.some(p => overlap(box, p))) problems.push('the legend covers a plot area');
        for (const t of texts) {
            if (t.kind !== 'legend' && overlap(box, t.quad)) problems.push(`the legend covers ${say(t)}`);
        }
    }
    for (const t of texts) {
        if ((t.kind === 'title' || t.kind === 'subtitle') && plots.some(p => overlap(t.quad, p))) {
            problems.push(`${say(t)} runs into the plot area`);
        }
    }
    return [...new Set(problems)];
}"""


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CHARTS))
def test_chart_text_fits_at_every_width(name: str, demo: dict[str, Any], page: Any) -> None:
    chart = CHARTS[name]
    spec = chart.build(demo).to_json()
    found: list[str] = []
    for case, width, height in _cases(chart):
        page.evaluate(DRAW, [spec, width, height, case.startswith("dashboard")])
        problems = page.locator("#chart").evaluate(MEASURE)
        page.locator("#chart").screenshot(path=str(ARTEFACTS / f"{name}-{case}.png"))
        found += [f"{case} ({width} px): {problem}" for problem in problems]
    assert not found, f"{name}: {len(found)} problem(s)\n" + "\n".join(found)



# ---------------------------------------------------------------------------------------------
# The rules behind the fit, without a browser
# ---------------------------------------------------------------------------------------------


def test_titles_wrap_between_words_and_never_inside_an_escape() -> None:
    title = "LTV:CAC in 2025-Q4: Outbound highest at 13.83x (under-investing?), Display lowest at 0.95x (unprofitable)"
    wrapped = charts.wrap(title, 50)
    assert wrapped.replace("<br>", " ") == title
    lines = wrapped.split("<br>")
    assert len(lines) == 3 and max(map(len, lines)) <= 50
    # filled in turn: the opening words stay together on the first line (tests and readers find them there)
    assert lines[0] == "LTV:CAC in 2025-Q4: Outbound highest at 13.83x"
    scenario = charts.wrap("Baseline (repeat last quarter) projects the highest LTV:CAC, 2.61x", 50)
    assert scenario.startswith("Baseline (repeat last quarter) projects")
    assert charts.wrap("LTV:CAC is 3.04x in 2025-Q4: healthy", 50) == "LTV:CAC is 3.04x in 2025-Q4: healthy"
    # Japanese, written without spaces, fills each line before it breaks: a period's label is not left alone
    japanese = charts.wrap("2025-Q4 の最大の費用はマーケティングテクノロジー：マーケティング支出 $297.2万 の23%", 48)
    first, *rest = japanese.split("<br>")
    assert first.startswith("2025-Q4 の最大の費用は") and 44 <= charts._cells(charts._shown(first)) <= 48
    assert all(charts._cells(charts._shown(line)) <= 48 for line in rest)
    assert not any(line[:1] in charts._NO_LINE_START for line in rest)  # no line opens on closing punctuation
    assert japanese.replace("<br>", "").replace(" ", "") == \
        "2025-Q4 の最大の費用はマーケティングテクノロジー：マーケティング支出 $297.2万 の23%".replace(" ", "")
    # a name from the data stays escaped: the break goes between words, an entity counts as one character
    name = literal.chart('<a href="https://evil.example/x">Social</a>' + "<" * 60)
    for line in charts.wrap(f"{name} is the most efficient channel", 50).split("<br>"):
        assert "<" not in line.replace("&lt;", "") and len(charts._shown(line)) <= 50
        assert not line.endswith("&") and not line.startswith("lt;")


def test_period_axes_label_every_kth_period_back_from_the_latest() -> None:
    quarters = [f"{2023 + i // 4}-Q{i % 4 + 1}" for i in range(12)]
    assert charts.period_ticks(quarters) == quarters[1::2]  # 6 labels, every other quarter, the latest one
    assert charts.period_ticks(quarters[:6]) == quarters[:6]
    assert charts.period_ticks([*quarters, "2026-Q1"]) == ["2023-Q1", "2024-Q1", "2025-Q1", "2026-Q1"]  # a year
    months = [f"{2023 + i // 12}-{i % 12 + 1:02d}" for i in range(36)]
    assert charts.period_ticks(months) == ["2023-06", "2023-12", "2024-06", "2024-12", "2025-06", "2025-12"]
    fiscal = [f"FY{2024 + i // 4}-Q{i % 4 + 1}" for i in range(12)]
    assert charts.period_ticks(fiscal) == fiscal[3::4]  # longer labels: fewer of them
    fig = charts.spend_by_category(pl.DataFrame({
        "period": [date(2023 + i // 12, i % 12 + 1, 1) for i in range(36)],
        "period_label": months,
        **{f"spend_{key}": [1000.0 + i for i in range(36)] for key in charts.MARKETING_CATEGORIES}}))
    totals = [t for t in charts_trace(fig, "Total").text if t]
    assert len(totals) == 12 and charts_trace(fig, "Total").text[-1]  # every quarter's last month, the latest too
    assert list(fig.layout.xaxis.tickvals) == charts.period_ticks(months)


def charts_trace(fig: go.Figure, name: str) -> Any:
    (found,) = [t for t in fig.data if t.name == name]
    return found


def test_the_cost_line_is_named_for_the_volume_it_is_per() -> None:
    rows = pl.DataFrame({
        "period": [date(2025, 1, 1), date(2025, 4, 1)] * 2, "period_label": ["2025-Q1", "2025-Q2"] * 2,
        "channel": ["Events", "Events", "Paid Search", "Paid Search"],
        "leads": [20, 25, 100, 120], "event_attendees": [300, 250, 0, 0], "visitors": [900, 800, 5000, 6000],
        "cpl": [400.0, 380.0, 50.0, 45.5], "cpa": [4000.0, 3900.25, 500.0, 455.0],
        "cost_per_attendee": [26.67, 38.0, None, None], "cost_per_visitor": [8.89, 11.88, 1.0, 0.91]})
    attendees = charts.cpl_cpa_history(rows, "channel", "event_attendees")
    assert attendees.layout.yaxis2.title.text == "Cost per event attendee"
    assert charts_trace(attendees, "Events").y == (26.67, 38.0)  # events spend / attendees, not CPL
    assert "Events alone has a cost per event attendee: $38.00" in attendees.layout.title.text.replace("<br>", " ")
    visitors = charts.cpl_cpa_history(rows, "channel", "visitors")
    assert visitors.layout.yaxis2.title.text == "Cost per visitor"
    assert visitors.layout.yaxis2.tickformat == ",.2f"  # $0.91, not $1
    leads = charts.cpl_cpa_history(rows, "channel", "leads")
    assert leads.layout.yaxis2.title.text == "Cost per lead" and charts_trace(leads, "Events").y == (400.0, 380.0)
    # rows without the volume's cost still show CPL, and say so
    plain = charts.cpl_cpa_history(rows.drop("cost_per_attendee"), "channel", "event_attendees")
    assert plain.layout.yaxis2.title.text == "Cost per lead"
