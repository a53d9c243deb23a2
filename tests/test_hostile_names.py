"""Text from the data is only ever text: the hostile-names corpus through every page, export and command.

One company (``tests/hostile.py``: the demo's history with every channel, segment, vendor and the
company's own name written as Markdown links and images, HTML, LaTeX, Streamlit directives,
formulas and right-to-left overrides) is served, exported and printed. Nothing may render as
markup, no request may leave the machine, and every name must still be there, as written.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from finance.domain import literal
from finance.domain.assumptions import Assumptions
from finance.metrics.params import metric_params
from finance.planning import plans as sc
from finance.present import charts, report
from finance.store.database import Store

from .conftest import ROOT, run_cli
from .hostile import CHANNELS, COMPANY, EVIL, SEGMENTS, build_hostile_db, raw_markup
from .test_browser import browser  # noqa: F401 - the shared Chromium fixture

PAGES = ["pages/overview.py", "pages/cac.py", "pages/cpl_cpa.py", "pages/ltv.py", "pages/planner.py",
         "pages/data.py", "pages/assumptions.py", "pages/methodology.py"]
HTML = ("<a ", "<img", "<script", "<i>", "<b>bold", "\u202e", "\u2066")
"""Markup of the corpus that Plotly would render: none may be in a figure unescaped."""


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_hostile_db(tmp_path_factory.mktemp("hostile"))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def figure_markup(spec: dict[str, Any]) -> list[str]:
    """Strings of a Plotly figure that hold the corpus's markup unescaped."""
    return [text[:120] for text in _strings(spec) if any(h in text for h in HTML)]


def _nodes(node: Any) -> Iterator[Any]:
    yield node
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            yield from _nodes(child)


def rendered_markup(at: AppTest) -> list[tuple[str, str, str]]:
    """Every place on the page where the corpus would render as markup: Markdown sources (bodies,
    labels, help and placeholders are all Markdown in Streamlit) and Plotly figures."""
    found = []
    for node in _nodes(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None:
            continue
        if node.type == "plotly_chart":
            found += [(node.type, "figure", text) for text in figure_markup(json.loads(proto.spec))]
            continue
        for field in ("body", "label", "help", "placeholder"):
            value = getattr(proto, field, None)
            if isinstance(value, str) and raw_markup(value):
                found.append((node.type, field, value[:160]))
    return found


def _as_read(markdown_source: str) -> str:
    """What a reader sees of Markdown that is all escapes: the characters, without word joiners."""
    return re.sub(r"\\(.)", r"\1", markdown_source).replace(literal.WORD_JOINER, "")


def _app(db: Path, monkeypatch: pytest.MonkeyPatch, page: str) -> AppTest:
    monkeypatch.setenv("FINANCE_DB", str(db))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.switch_page(page)
    at.run()
    return at


# --- the dashboard ---------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_every_page_shows_hostile_names_as_text(hostile_db: Path, monkeypatch: pytest.MonkeyPatch,
                                                page: str) -> None:
    at = _app(hostile_db, monkeypatch, page)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert rendered_markup(at) == []


def test_the_names_are_on_the_page_exactly_as_written(hostile_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(hostile_db, monkeypatch, "pages/cpl_cpa.py")
    # the sidebar's filters list every channel and segment as plain options, character for character
    options = {option for box in at.multiselect for option in box.options}
    assert set(CHANNELS.values()) | set(SEGMENTS.values()) <= options
    # Markdown shows an escaped name as the name: undo CommonMark's backslash escapes (and drop the
    # invisible word joiners that keep web addresses from becoming links) to read it back
    captions = " ".join(c.value for c in at.caption)
    assert literal.markdown(COMPANY) in captions
    assert _as_read(literal.markdown(COMPANY)) == COMPANY


def test_planner_warnings_after_optimising_and_goal_seeking_are_text(hostile_db: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(hostile_db, monkeypatch, "pages/planner.py")
    at.button(key="plan.optimise").click().run()
    assert not at.exception, at.exception
    at.button(key="plan.seek_customers").click().run()
    assert not at.exception, at.exception
    assert rendered_markup(at) == []


# --- charts ----------------------------------------------------------------------------------


def test_every_chart_escapes_names(hostile_db: Path) -> None:
    with Store(hostile_db, read_only=True) as store:
        pack = report.gather(store)
    plan = pack.request
    basis_channel = next(iter(CHANNELS.values()))
    figures = [*pack.figures.values(),
               charts.ltv_cac_trend(pack.by_channel), charts.ltv_cac_trend(pack.by_segment),
               charts.cac_by_dimension(pack.by_channel), charts.cac_by_dimension(pack.by_segment, "segment"),
               charts.channel_efficiency(pack.by_segment, "segment"),
               charts.scenario_comparison(sc.compare([dataclasses.replace(plan, name=COMPANY)])),
               charts.response_curve(basis_channel, pl.DataFrame(), pl.DataFrame({
                   "spend": [1.0], "customers": [1.0], "low": [1.0], "high": [1.0]}))]
    for figure in figures:
        spec = figure.to_plotly_json()
        assert figure_markup(spec) == [], figure.layout.title.text
    # escaped, not dropped: the legend of the channel trend names every channel
    legend = {trace.name for trace in charts.ltv_cac_trend(pack.by_channel).data}
    assert {literal.chart(name) for name in CHANNELS.values()} <= legend


# --- exports and the board pack --------------------------------------------------------------


@pytest.fixture(scope="module")
def pack(hostile_db: Path) -> report.BoardPack:
    with Store(hostile_db) as store:
        # a request far beyond any channel's history: its warnings name the channels
        data = store.dataset()
        params = metric_params(Assumptions.from_settings(store.assumptions()))
        basis = sc.planning_basis(data, params)
        lines = [sc.PlanLine(ln.channel, ln.category, ln.amount * 12) for ln in basis.starts["last_quarter"]]
        sc.save_scenario(store, sc.Scenario(f"Request {COMPANY}", basis.period, "request",
                                            f"note [x](https://{EVIL}/n)", lines, {}))
    with Store(hostile_db, read_only=True) as store:
        return report.gather(store)


def test_board_pack_pdf_prints_names_as_text_and_links_nowhere(pack: report.BoardPack, tmp_path: Path) -> None:
    assert any(EVIL in w or "Approve budget" in w for w in pack.warnings), pack.warnings
    out = tmp_path / "pack.pdf"
    out.write_bytes(report.to_pdf(pack))
    raw = out.read_bytes()
    assert b"/Launch" not in raw and b"/JavaScript" not in raw
    uris = re.findall(rb"/URI\s*\(([^)]*)\)", raw)
    assert all(EVIL.encode() not in uri for uri in uris), uris
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True).stdout
    flat = re.sub(r"\s+", " ", text)
    assert "Northwind <b>[Board](https://evil.example/c)</b> $$x$$" in flat  # the company, as written
    assert "[Approve budget](https://evil.example/phish) **URGENT**" in flat  # in a table and the warnings


def test_board_pack_xlsx_has_no_formula_and_every_name_as_text(pack: report.BoardPack) -> None:
    book = openpyxl.load_workbook(io.BytesIO(report.to_xlsx(pack)))
    texts = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    texts.append(cell.value)
    assert "'" + CHANNELS["Events"] in texts  # a formula-looking name is neutralised, not run
    assert CHANNELS["Paid Search"] in texts
    with zipfile.ZipFile(io.BytesIO(report.to_xlsx(pack))) as archive:
        assert not [n for n in archive.namelist()
                    if "externalLink" in n or (n.endswith(".rels") and EVIL.encode() in archive.read(n))]


# --- the command line ------------------------------------------------------------------------


def test_cli_csv_neutralises_formula_looking_names(hostile_db: Path) -> None:
    done = run_cli("metrics", "--db", hostile_db, "--by", "channel", "--format", "csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    channels = {row["channel"] for row in rows}
    assert "'" + CHANNELS["Events"] in channels and "'" + CHANNELS["Organic Search"] in channels
    assert CHANNELS["Paid Search"] in channels  # other names untouched
    assert not [cell for row in rows for cell in row.values() if cell and cell[0] in "=+-@" and
                not re.fullmatch(r"-?[0-9.eE+-]+", cell)]


def test_cli_text_shows_control_characters_instead_of_obeying_them(hostile_db: Path, tmp_path: Path) -> None:
    done = run_cli("metrics", "--db", hostile_db, "--by", "channel")
    assert done.returncode == 0, done.stderr
    assert "\u202e" not in done.stdout and "\\u202eOutbound" in done.stdout
    # a file whose channel carries a terminal escape: whatever the import says, it says it as text
    spend = tmp_path / "spend.csv"
    spend.write_text("period,category,channel,amount\n2026-Q1,events,\x1b[2J\x1b]0;owned\x07Events,10.00\n",
                     encoding="utf-8")
    done = run_cli("import", "spend", spend, "--db", tmp_path / "x.duckdb", "--dry-run")
    assert "\x1b" not in done.stdout + done.stderr and "\x07" not in done.stdout + done.stderr
    assert "\\x1b" in done.stdout + done.stderr


def test_literal_makes_every_output_inert() -> None:
    name = "[a](https://e.x) **b** <b>c</b> $d$ :red[e] \u202ef\x1b[31m"
    assert literal.markdown(name).count("\\") >= 20 and "\u202e" not in literal.markdown(name)
    assert _as_read(literal.markdown(name)) == literal.visible(name)
    assert literal.markdown("https://e.x") != "https\\:\\/\\/e\\.x"  # the autolinker is kept out too
    assert literal.html(name).startswith("[a](https://e.x) **b** &lt;b&gt;c&lt;/b&gt;")
    assert literal.chart("<a href='x'>") == "&lt;a href='x'&gt;"
    assert literal.terminal("a\x1b[31mb\u202ec") == "a\\x1b[31mb\\u202ec"
    assert literal.cell("=1+1") == "'=1+1" and literal.cell("-5") == "'-5" and literal.cell("ok") == "ok"
    assert literal.visible("café\xa0Paris") == "café\xa0Paris"  # ordinary text is left alone


# --- the browser and the server --------------------------------------------------------------

PAGE_TITLES = {"": "Overview", "cac": "Customer acquisition cost", "cpl-cpa": "Cost per lead and per acquisition",
               "ltv": "Customer lifetime value", "planner": "Budget planner", "data": "Import history",
               "assumptions": "In force", "methodology": "How every figure is computed"}
DOM_MARKUP = """() => {
  const evil = (v) => (v || "").includes("evil.example");
  return {
    links: [...document.querySelectorAll("a")].map(a => a.getAttribute("href") || a.getAttribute("xlink:href"))
             .filter(evil),
    images: [...document.querySelectorAll("img, image, source, iframe")]
             .map(e => e.getAttribute("src") || e.getAttribute("href") || "").filter(evil),
    katex: document.querySelectorAll(".katex, .MathJax, mjx-container").length,
    emphasis: [...document.querySelectorAll("strong, b, em, i, h1, h2, h3")]
             .map(e => e.textContent).filter(t => /URGENT|bold|Heading|\\[Board\\]|^cat$/.test(t)),
    scripts: [...document.querySelectorAll("script")].filter(s => (s.textContent || "").includes("alert(1)")).length,
  };
}"""


@pytest.fixture(scope="module")
def hostile_server(hostile_db: Path) -> Iterator[str]:
    from .dashboard_server import serve

    with serve(hostile_db) as url:
        yield url


def test_in_chromium_no_name_becomes_markup_or_a_request(hostile_server: str, browser: Any,  # noqa: F811
                                                         tmp_path: Path) -> None:
    from urllib.parse import urlsplit

    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    for path, title in PAGE_TITLES.items():
        page.goto(f"{hostile_server}/{path}")
        page.get_by_role("heading", name=title).first.wait_for(timeout=120_000)
        # the run is over (no "Stop" in the status widget), then charts get a moment to draw
        page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                               timeout=120_000)
        page.wait_for_timeout(1500)
        found = page.evaluate(DOM_MARKUP)
        assert found == {"links": [], "images": [], "katex": 0, "emphasis": [], "scripts": 0}, (path, found)
        if path == "":
            shown = page.locator("body").inner_text().replace(literal.WORD_JOINER, "")
            assert COMPANY in shown  # the company's name, character for character
    # a file whose name, unknown header and unknown category label are hostile: the Data page's
    # report, mapping labels and messages show them as text
    upload = tmp_path / f"[Approve](https:{EVIL}) <img src=https:{EVIL}>.csv"
    upload.write_text(f"period,category,channel,amount,[h](https://{EVIL}/h)\n"
                      f"2026-Q1,<b>cat</b> ![i](https://{EVIL}/c.png),Events,10.00,x\n", encoding="utf-8")
    page.goto(f"{hostile_server}/data")
    page.get_by_role("heading", name="Import history").wait_for(timeout=120_000)
    page.locator('input[type="file"]').set_input_files(str(upload))
    page.get_by_role("heading", name="Map categories").wait_for(timeout=120_000)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)
    found = page.evaluate(DOM_MARKUP)
    assert found == {"links": [], "images": [], "katex": 0, "emphasis": [], "scripts": 0}, ("data", found)
    shown = page.locator("body").inner_text().replace(literal.WORD_JOINER, "")
    assert f"[h](https://{EVIL}/h)" in shown and "<b>cat</b>" in shown
    page.close()
    leaving = [url for url in requests if urlsplit(url).scheme not in ("data", "blob")
               and urlsplit(url).hostname not in {"127.0.0.1", "localhost", "::1"}]
    assert leaving == []


def _status(url: str, host: str, path: str = "/", extra: str = "") -> str:
    """The status line the server answers a raw request with ``host`` in its Host header."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n".encode("latin-1"))
        return conn.recv(4096).decode("latin-1").split("\r\n", 1)[0]


def test_a_rebinding_host_is_refused_and_metrics_are_off(hostile_server: str) -> None:
    port = hostile_server.rsplit(":", 1)[1]
    upgrade = ("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: streamlit\r\n")
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
        assert " 200 " in _status(hostile_server, host) + " "
    for host in (f"attacker.example:{port}", "attacker.example", f"localhost.attacker.example:{port}", ""):
        assert " 400 " in _status(hostile_server, host) + " ", host
        assert " 101 " not in _status(hostile_server, host, "/_stcore/stream", upgrade) + " ", host
    assert " 404 " in _status(hostile_server, f"localhost:{port}", "/_stcore/metrics") + " "


def test_the_data_page_shows_hostile_headers_labels_and_channels_as_text(hostile_db: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A file whose header, category labels and channel values are the corpus: the mapping choices,
    the preview and the report name each as text, none as markup."""
    db = tmp_path / "copy.duckdb"
    db.write_bytes(hostile_db.read_bytes())
    header = CHANNELS["Paid Social"]
    labels = [CHANNELS["Paid Search"], SEGMENTS["SMB"], COMPANY]
    channels = [f"{CHANNELS[name]} 2" for name in ("Display", "Outbound", "Content")]  # not yet in the store
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["period", "category", "channel", "amount", header])
    for i, (label, channel) in enumerate(zip(labels, channels, strict=True)):
        writer.writerow([f"2026-0{i + 1}", label, channel, "100.00", "x"])
    at = _app(db, monkeypatch, "pages/data.py")
    at.file_uploader(key="data.upload.spend").set_value(("hostile.csv", out.getvalue().encode(), "text/csv")).run()
    assert not at.exception, at.exception
    assert rendered_markup(at) == []
    shown = [_as_read(sb.label) for sb in at.selectbox]
    for name in [header, *labels]:  # each unknown header and category label is offered, as written
        assert any(literal.visible(name) in label for label in shown), (name, shown)
    for channel in channels:  # channels the store has never seen, each offered to confirm
        assert any(literal.visible(channel) in label for label in shown), (channel, shown)
    assert rendered_markup(at) == []
