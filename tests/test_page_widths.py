"""Every page reads well in a real Chromium at 1280, 1600 and 1920 px wide, on the demo company.

One server, one browser; every page of ``app.py``'s navigation is opened at each width (1000 px high),
each expander opened and each tab shown in turn, and what a reader sees is checked:

- **No code name.** No snake_case identifier (``period_label``, ``cac_sm``), no ``None``, ``nan`` or
  ``inf``, no raw JSON or Python dict. The text is read from the DOM: the page and the sidebar
  (``innerText``, charts and tables left out), the value of every text field and select box, each
  Plotly chart's SVG texts, and each table. ``st.dataframe`` draws its cells on a canvas (glide-data-
  grid); the accessible ``<table role=grid>`` that Streamlit keeps beside it has the column headers
  but the *raw* cell values (0.6935..., not 69.35%). So a script installed before the page loads
  wraps ``CanvasRenderingContext2D.fillText`` and records every string a table's canvas draws,
  with where it drew it: exactly the text on screen. A table whose headers the canvas never drew
  fails, so a Streamlit that stops drawing this way breaks the test rather than passing it. A
  table's column header in lower case (``method``, ``channel``) is a column's code name too.
  An icon's name (``upload_file``) is not text once the icon font has loaded.
- **No unformatted number.** No float with four or more decimals, no money, percent or ratio with
  three, no scientific notation, no whole number of five or more digits without thousands
  separators (years and ``2025-Q4`` have four), no amount of four or more digits after a currency
  sign without a separator. Number fields are left out: Streamlit's ``number_input`` can only show
  a plain number (its format must be "purely numeric").
- **Nothing clipped.** No text that its box cuts (``scrollWidth`` over ``clientWidth`` where the
  overflow is hidden, or any metric tile's label, value or delta wider than its tile); no page that
  scrolls sideways; every table inside its container, with no sideways scroll of its own, and every
  header and cell the canvas draws inside its column; every Plotly chart passing the checks of
  ``tests/test_chart_layout.py`` (texts inside the figure and their clip areas, no overlaps, the
  legend clear), measured on the chart as the dashboard draws it.

A full-page screenshot of every page at every width (each tab shown) goes to
``artifacts/pages/`` (or ``$FINANCE_ARTEFACTS/pages``), named page-width[-tab].png.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT
from .test_browser import browser, server  # noqa: F401 - the shared Chromium and demo-company server
from .test_chart_layout import ARTEFACTS as CHART_ARTEFACTS
from .test_chart_layout import MEASURE, VIEWPORTS

ARTEFACTS = CHART_ARTEFACTS.parent / "pages"
HEIGHT = 1000


def _words(node: ast.expr) -> str:
    """A keyword's text: a literal, or the English words of a translated one (``_("Overview")``)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_":
        node = node.args[0]
    return str(ast.literal_eval(node))


def _pages() -> dict[str, str]:
    """``app.py``'s navigation as {url path: title} (the English titles: the pages open in English), so a
    page added there is checked here too."""
    pages: dict[str, str] = {}
    for node in ast.walk(ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "Page":
            words = {k.arg: _words(k.value) for k in node.keywords if k.arg in ("title", "url_path")}
            pages[words.get("url_path", "")] = words["title"]
    return pages


PAGES = _pages()

# --- in the browser ------------------------------------------------------------------------------------

RECORD_CANVAS_TEXT = """(() => {
    // Every string drawn on a canvas, with its left and right edge in the canvas's CSS pixels.
    const fillText = CanvasRenderingContext2D.prototype.fillText;
    window.__drawnText = new WeakMap();
    CanvasRenderingContext2D.prototype.fillText = function (text, x, y, ...rest) {
        const shown = String(text);
        if (shown.trim()) {
            const m = this.getTransform(), scale = this.canvas.width / (this.canvas.clientWidth || this.canvas.width);
            const width = this.measureText(shown).width * m.a / scale, at = (m.a * x + m.e) / scale;
            const align = this.textAlign === 'start' ? 'left' : this.textAlign === 'end' ? 'right' : this.textAlign;
            const left = align === 'right' ? at - width : align === 'center' ? at - width / 2 : at;
            const drawn = window.__drawnText.get(this.canvas) || new Map();
            drawn.set(`${shown}@${Math.round(left)},${Math.round((m.d * y + m.f) / scale)}`,
                      {text: shown, left, right: left + width});
            window.__drawnText.set(this.canvas, drawn);
        }
        return fillText.call(this, text, x, y, ...rest);
    };
})();"""

SETTLED = """() => {
    // the script has run, nothing is stale or loading, and every chart has drawn
    if (document.querySelector('[data-testid="stStatusWidget"], [data-stale="true"], [data-testid="stSkeleton"]')) {
        return false;
    }
    const main = document.querySelector('[data-testid="stMain"]');
    if (!main || !main.querySelector('h1')) return false;
    return [...main.querySelectorAll('[data-testid="stPlotlyChart"]')]
        .filter(c => c.getClientRects().length).every(c => c.querySelector('svg.main-svg text'));
}"""

READ = """() => {
    const main = document.querySelector('[data-testid="stMain"]');
    const sidebar = document.querySelector('[data-testid="stSidebar"]');
    const shown = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
    const out = {texts: [], problems: []};
    const add = (where, text) => { if (text && text.trim()) out.texts.push([where, text.trim()]); };
    // The page's own text: charts and tables are read below, each on its own terms, and an icon's name
    // is not text once its font has loaded (``:material/upload_file:`` draws an icon).
    const iconFont = [...document.fonts].some(f => f.family.includes('Material Symbols') && f.status === 'loaded');
    const icons = [...document.querySelectorAll('span')]
        .filter(el => iconFont && getComputedStyle(el).fontFamily.includes('Material Symbols'));
    const apart = [...icons, ...document.querySelectorAll(
        '[data-testid="stPlotlyChart"], [data-testid="stDataFrame"] table')];
    const before = apart.map(el => el.style.display);
    apart.forEach(el => { el.style.display = 'none'; });
    add('page', main.innerText);
    if (sidebar) add('sidebar', sidebar.innerText);
    apart.forEach((el, i) => { el.style.display = before[i]; });
    // A field's value: a select box shows its choice in one; a number field may only be a plain number.
    const fields = 'input:not([type]), input[type="text"], input[type="number"], textarea';
    for (const input of document.querySelectorAll(fields)) {
        if (!shown(input)) continue;
        const name = `field "${input.getAttribute('aria-label') || input.name || ''}"`;
        if (input.type !== 'number') add(name, input.value);
        if (input.scrollWidth > input.clientWidth + 1) {
            out.problems.push(`${name} shows "${input.value}" cut: ${input.scrollWidth} px of text in ` +
                              `${input.clientWidth} px`);
        }
    }
    main.querySelectorAll('[data-testid="stPlotlyChart"]').forEach((chart, n) => {
        if (!shown(chart)) return;
        for (const text of chart.querySelectorAll('svg.main-svg text')) {
            if (!shown(text)) continue;
            const lines = text.querySelectorAll('tspan.line');
            (lines.length ? [...lines] : [text]).forEach(line => add(`chart ${n + 1}`, line.textContent));
        }
    });
    main.querySelectorAll('[data-testid="stDataFrame"]').forEach((table, n) => {
        if (!shown(table)) return;
        const where = `table ${n + 1}`;
        const headers = [...table.querySelectorAll('[role="columnheader"]')].map(h => h.textContent.trim());
        const drawn = [...table.querySelectorAll('canvas')].flatMap(
            canvas => [...((window.__drawnText && window.__drawnText.get(canvas)) || new Map()).values()]);
        headers.forEach(h => add(where + ' header', h));
        headers.filter(h => /^[a-z]/.test(h)).forEach(h => out.problems.push(
            `${where}: the column header "${h}" is a column's code name (lower case)`));
        drawn.forEach(t => add(where, t.text));
        const missing = headers.filter(h => h && !drawn.some(t => t.text === h));
        if (missing.length) out.problems.push(`${where}: the canvas drew no header ${JSON.stringify(missing)}`);
        // The columns: each header is drawn 8 px into its column, and a column ends where the next begins.
        const heads = drawn.filter(t => headers.includes(t.text)).sort((a, b) => a.left - b.left);
        const starts = [...new Set(heads.map(t => Math.round(t.left - 8)))].sort((a, b) => a - b);
        const scroller = table.querySelector('.dvn-scroller');
        const end = scroller ? scroller.scrollWidth : table.clientWidth;
        const columns = starts.map((s, i) => [s, i + 1 < starts.length ? starts[i + 1] : end]);
        for (const t of drawn) {
            const column = columns.find(([a, b]) => t.left >= a - 1 && t.left < b) ||
                           columns.find(([a, b]) => t.right > a && t.right <= b + 1);
            if (column && (t.left < column[0] - 1 || t.right > column[1] + 1)) {
                out.problems.push(`${where}: "${t.text}" is cut by its column (${Math.ceil(t.right - t.left)} px ` +
                                  `of text in a column of ${Math.floor(column[1] - column[0])} px)`);
            }
        }
        const box = table.getBoundingClientRect(), room = table.parentElement.getBoundingClientRect();
        if (box.right > room.right + 1 || box.left < room.left - 1) {
            out.problems.push(`${where} (${headers.slice(0, 3).join(', ')}...) is wider than its container`);
        }
        if (scroller && scroller.scrollWidth > scroller.clientWidth + 1) {
            out.problems.push(`${where} (${headers.slice(0, 3).join(', ')}...) scrolls sideways: ` +
                              `${scroller.scrollWidth} px of columns in ${scroller.clientWidth} px`);
        }
    });
    main.querySelectorAll('[data-testid="stTable"]').forEach((table, n) => {
        [...table.querySelectorAll('thead th')].map(h => h.innerText.trim()).filter(h => /^[a-z]/.test(h))
            .forEach(h => out.problems.push(`static table ${n + 1}: the column header "${h}" is a column's ` +
                                            'code name (lower case)'));
    });
    // Text its box cuts: overflow hidden (an ellipsis) or scrolled, and any metric tile's part at all.
    // (Charts and tables are measured above; code may scroll.)
    const measured = '[data-testid="stPlotlyChart"], [data-testid="stDataFrame"], pre, [data-testid="stCode"]';
    for (const root of [main, sidebar].filter(Boolean)) {
        for (const el of root.querySelectorAll('*')) {
            if (!el.clientWidth || el.closest(measured) || !shown(el) || !(el.innerText || '').trim()) continue;
            const style = getComputedStyle(el);
            const tile = el.closest('[data-testid="stMetric"]');
            if (!tile && style.overflowX === 'visible' && style.textOverflow !== 'ellipsis') continue;
            if (el.scrollWidth > el.clientWidth + 1) {
                const name = el.getAttribute('data-testid') || (tile ? 'metric tile' : el.tagName.toLowerCase());
                out.problems.push(`${name} "${el.innerText.trim().replace(/\\s+/g, ' ').slice(0, 60)}" is cut: ` +
                                  `${el.scrollWidth} px of text in ${el.clientWidth} px`);
            }
        }
    }
    const page = document.documentElement;
    if (page.scrollWidth > page.clientWidth + 1 || main.scrollWidth > main.clientWidth + 1) {
        out.problems.push(`the page scrolls sideways: ${Math.max(page.scrollWidth, main.scrollWidth)} px wide`);
    }
    out.problems = [...new Set(out.problems)];
    return out;
}"""

FULL_HEIGHT = """() => Math.max(...['stMain', 'stSidebarContent'].map(id => {
    const el = document.querySelector(`[data-testid="${id}"]`);
    return el ? el.scrollHeight : 0;
}))"""

# --- the rules on the text --------------------------------------------------------------------------------

CODE_NAMES = {
    "a snake_case name": re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b"),
    "None, nan or inf": re.compile(r"(?<![\w-])(?:None|nan|NaN|-?inf|-?Infinity)(?![\w-])"),
    "raw JSON or a Python dict": re.compile(r"""[{\[]\s*["'][^"']*["']\s*:"""),
}
UNFORMATTED = {
    "four or more decimals": re.compile(r"(?<![\w.])\d+\.\d{4,}\b"),
    "three decimals on money, a percent or a ratio": re.compile(r"(?:[$€£]\d[\d,]*\.\d{3,})|(?:\b\d+\.\d{3,}[%x])"),
    "scientific notation": re.compile(r"(?<![\w.])\d+(?:\.\d+)?[eE][+-]?\d+\b"),
    "no thousands separator": re.compile(r"(?<![\w.,:/-])-?\d{5,}(?:\.\d+)?(?![\w,])"),
    "an amount without a thousands separator": re.compile(r"[$€£]-?\d{4,}(?![\d,])"),
}


def _findings(texts: list[list[str]]) -> list[str]:
    """What a reader should not see, each with where it is and the words around it."""
    found = []
    for where, text in texts:
        for rules in (CODE_NAMES, UNFORMATTED):
            for rule, pattern in rules.items():
                for match in pattern.finditer(text):
                    start, end = max(match.start() - 30, 0), match.end() + 30
                    context = " ".join(text[start:end].split())
                    found.append(f'{where}: {rule} "{match.group()}" in "...{context}..."')
    return list(dict.fromkeys(found))


# --- the test -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard(server: tuple[str, Path], browser: Any) -> Iterator[tuple[str, Any]]:  # noqa: F811
    """The demo company's dashboard, and a browser context that records what tables draw."""
    context = browser.new_context()
    context.add_init_script(RECORD_CANVAS_TEXT)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\npage screenshots: {ARTEFACTS}")
    yield server[0], context
    context.close()


def _settle(page: Any) -> None:
    page.wait_for_function(SETTLED, timeout=120_000, polling=250)
    page.evaluate("() => document.fonts.ready")
    page.wait_for_timeout(500)  # Plotly's and the tables' resize to their final width


def _check(page: Any) -> list[str]:
    read = page.evaluate(READ)
    problems = [*read["problems"], *_findings(read["texts"])]
    for n, chart in enumerate(page.locator('[data-testid="stMain"] .js-plotly-plot').all(), start=1):
        if chart.is_visible():
            problems += [f"chart {n}: {problem}" for problem in chart.evaluate(MEASURE)]
    return problems


def _screenshot(page: Any, name: str, width: int) -> None:
    """The whole page: the app scrolls inside its main block, so the window is made as tall as it."""
    page.set_viewport_size({"width": width, "height": max(HEIGHT, page.evaluate(FULL_HEIGHT))})
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)
    page.set_viewport_size({"width": width, "height": HEIGHT})


@pytest.mark.slow
@pytest.mark.parametrize("width", VIEWPORTS)
@pytest.mark.parametrize("path", list(PAGES), ids=[p or "overview" for p in PAGES])
def test_page_shows_no_code_name_clipped_label_or_raw_number(path: str, width: int,
                                                             dashboard: tuple[str, Any]) -> None:
    url, context = dashboard
    name = f"{path or 'overview'}-{width}"
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": HEIGHT})
    try:
        page.goto(f"{url}/{path}")
        _settle(page)
        closed = page.locator('[data-testid="stMain"] details:not([open]) > summary')
        opened = 0
        while closed.count() and opened < 20:  # an expander's content is on the page, one click away
            closed.first.click()  # the locator is read again: the one clicked is open now
            opened += 1
        if opened:
            _settle(page)
        problems = _check(page)
        _screenshot(page, name, width)
        tabs = page.locator('[data-testid="stMain"] [role="tab"]')
        for n in range(1, tabs.count()):  # the first is shown already
            tab = tabs.nth(n)
            label = tab.inner_text().strip()
            tab.click()
            _settle(page)
            # what a tab shows besides the rest of the page (told once, not once per tab)
            problems += [f"tab {label}: {problem}" for problem in _check(page) if problem not in problems]
            _screenshot(page, f"{name}-{re.sub(r'[^a-z0-9]+', '-', label.lower()).strip('-')}", width)
    finally:
        page.close()
    assert not problems, f"{PAGES[path]} at {width} px: {len(problems)} problem(s)\n" + "\n".join(problems)
