"""The board-pack PDF renderer: cell formats and escaping without a browser, then one real PDF read back.

The PDF is made once per module by real kaleido and Debian's Chromium (no mocks) and read back
with poppler-utils: ``pdfinfo`` for the pages, ``pdftotext -layout`` for the words (a figure's
legend and tick labels found there prove it went in as vector SVG), ``pdftoppm`` for pixels.
Chromium and poppler-utils come from ``make install``; when missing, the tests fail saying so.
"""

from __future__ import annotations

import html.parser
import http.server
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import polars as pl
import pytest

from finance.present import charts, pdf

from .conftest import ROOT

HOSTILE = '=HYPERLINK("x")<script>alert(1)</script>'
SERIES = ("Zanzibar Search", "Quokka Social", "Xylophone Events")
PERIODS = ("2024-Q1", "2024-Q2", "2024-Q3", "2024-Q4", "2025-Q1", "2025-Q2")
TABLE_ROWS = 120


# ---------------------------------------------------------------------------------------------
# Cell formats
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "kind", "expected"), [
    (Decimal("1234567.891"), "money", "$1,234,567.89"),
    (Decimal("1234567.895"), "money", "$1,234,567.90"),  # half-up, not to even
    (Decimal("0.125"), "money", "$0.13"),
    (Decimal("-1234.565"), "money", "-$1,234.57"),  # half away from zero
    (2.675, "money", "$2.68"),  # from the float's shortest repr, not its binary value 2.67499...
    (-0.004, "money", "$0.00"),  # no "-$0.00"
    (1234, "money", "$1,234.00"),
    (None, "money", "n/a"),
    (float("nan"), "money", "n/a"),
    (float("inf"), "money", "n/a"),
    (Decimal("NaN"), "money", "n/a"),
    (np.float64(2.675), "money", "$2.68"),
    (np.int64(-1234), "money", "-$1,234.00"),
    (np.float64("nan"), "percent", "n/a"),
    (3.214, "ratio", "3.21x"),
    (2.995, "ratio", "3.00x"),
    (None, "ratio", "n/a"),
    (0.1234, "percent", "12.3%"),
    (-0.0456, "percent", "-4.6%"),
    (-0.00001, "percent", "0.0%"),
    (1234567, "int", "1,234,567"),
    (2.5, "int", "3"),
    (7, "months", "7 months"),
    (1, "months", "1 month"),
    (7.25, "months", "7.3 months"),
    (None, "months", "n/a"),
    ("Paid <Search>", "text", "Paid <Search>"),  # escaping is the HTML's job, not the format's
    (date(2025, 3, 31), "text", "2025-03-31"),
    (None, "text", "n/a"),
])
def test_format_cell(value: object, kind: str, expected: str) -> None:
    assert pdf.format_cell(value, kind) == expected


def test_money_in_another_currency() -> None:
    assert pdf.format_cell(Decimal("-1234.565"), "money", currency="EUR") == "-€1,234.57"  # an ISO code


def test_format_errors_name_the_choices() -> None:
    with pytest.raises(ValueError, match="money, ratio, percent, int, months, text"):
        pdf.format_cell(1, "dollars")
    with pytest.raises(TypeError, match="expected a number"):
        pdf.format_cell("12.50", "money")
    with pytest.raises(TypeError, match="expected a number"):
        pdf.format_cell(True, "int")


def test_blocks_are_checked_when_made() -> None:
    frame = pl.DataFrame({"channel": ["Search"], "spend": [Decimal("1.00")]})
    with pytest.raises(ValueError, match="unknown format 'cash'"):
        pdf.Table("t", frame, {"spend": "cash"})
    with pytest.raises(ValueError, match="'cost', which is not a column"):
        pdf.Table("t", frame, {"cost": "money"})
    with pytest.raises(ValueError, match="column 'channel' is String, not a number"):
        pdf.Table("t", frame, {"channel": "money"})
    with pytest.raises(ValueError, match="unknown band 'great'; the bands are 'unprofitable'"):
        pdf.Kpi("LTV:CAC", "9.9x", band="great")


# ---------------------------------------------------------------------------------------------
# HTML, without a browser
# ---------------------------------------------------------------------------------------------


class _Page(html.parser.HTMLParser):
    """The tags and the text a browser would see."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []
        self.feed(source)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.links += [value or "" for name, value in attrs if name == "href"]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _hostile_document() -> pdf.Document:
    frame = pl.DataFrame({HOSTILE: [HOSTILE, "<b>x</b>"], "spend": [Decimal("1.005"), None]})
    return pdf.Document(
        title=HOSTILE, subtitle="<b>x</b>", prepared_on=date(2025, 10, 3), company=f"</style>{HOSTILE}",
        sections=[pdf.Section(HOSTILE, [
            pdf.Kpis([pdf.Kpi(HOSTILE, "<b>x</b>", detail=HOSTILE, band="healthy")]),
            pdf.Table(HOSTILE, frame, {"spend": "money"}, note=HOSTILE),
            pdf.Paragraph(HOSTILE),
            pdf.Markdown(f"{HOSTILE}\n\n<script>alert(2)</script>\n\n<b>x</b> inline <i>y</i>"),
        ])],
    )


def test_html_prints_markup_in_the_data_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    # A Chromium that cannot start: a document without figures must not need one.
    monkeypatch.setenv(pdf.CHROMIUM_ENV, "/nonexistent/chromium")
    source = pdf.render_html(_hostile_document())
    page = _Page(source)
    assert "script" not in page.tags and "b" not in page.tags and "i" not in page.tags
    assert page.tags.count("style") == 1 and source.count("</style>") == 1  # the footer's CSS string holds
    text = "".join(page.text)
    # <title> (company and title), cover company and title, contents, heading, KPI label and detail,
    # table title, header, cell and note, paragraph, markdown
    assert text.count(HOSTILE) == 14
    assert text.count("<b>x</b>") == 4  # subtitle, KPI value, table cell, markdown
    assert "<script>alert(2)</script>" in text and "<i>y</i>" in text
    assert "$1.01" in text and "n/a" in text


def test_markdown_keeps_structure_and_drops_what_a_pdf_cannot_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pdf.CHROMIUM_ENV, "/nonexistent/chromium")
    text = ("# Top\n\n## Next\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```\nx = <y>\n```\n\n    indented\n\n"
            "- item\n\n[web](https://example.org) [file](data-formats.md#x) [js](javascript:alert(1)) "
            "![logo](http://127.0.0.1:9/logo.png)")
    doc = pdf.Document("T", "S", date(2025, 1, 1), "C", [pdf.Section("Methodology", [pdf.Markdown(text)])])
    source = pdf.render_html(doc)
    page = _Page(source)
    assert "<h3>Top</h3>" in source and "<h4>Next</h4>" in source  # below the section's <h2>
    assert {"table", "pre", "code", "ul"} <= set(page.tags)
    assert "x = &lt;y&gt;" in source
    assert page.links == ["https://example.org"]
    assert "img" not in page.tags and "[image: logo]" in "".join(page.text)


def test_no_chromium_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pdf.CHROMIUM_ENV, "/nonexistent/chromium")
    doc = pdf.Document("T", "S", date(2025, 1, 1), "C", [])
    with pytest.raises(pdf.PdfError, match=r"FINANCE_CHROMIUM='/nonexistent/chromium'.*apt-get install chromium.*XLSX"):
        pdf.render_pdf(doc)


def test_a_hung_browser_times_out_and_is_killed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    hung = tmp_path / "chromium"
    hung.write_text(f"#!/bin/sh\necho $$ > {tmp_path / 'pid'}\nexec sleep 60\n")
    hung.chmod(0o755)
    monkeypatch.setenv(pdf.CHROMIUM_ENV, str(hung))
    started = time.monotonic()
    with pytest.raises(pdf.PdfError, match=r"did not finish the PDF within 2 s"):
        pdf.render_pdf(pdf.Document("T", "S", date(2025, 1, 1), "C", []), timeout=2)
    assert time.monotonic() - started < 30
    pid = int((tmp_path / "pid").read_text())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:  # gone once reaped
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists(), "the hung browser outlived render_pdf"


# ---------------------------------------------------------------------------------------------
# One real PDF
# ---------------------------------------------------------------------------------------------


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: `make install` installs poppler-utils and chromium (as root, with "
                    "apt-get), or run `apt-get install poppler-utils chromium`")
    return found


def _trend_figure() -> go.Figure:
    """The app's own LTV:CAC trend chart, one line per channel."""
    rows = pl.DataFrame({
        "period": [date(2024 + q // 4, 3 * (q % 4) + 1, 1) for q in range(len(PERIODS)) for _ in SERIES],
        "period_label": [label for label in PERIODS for _ in SERIES],
        "channel": [name for _ in PERIODS for name in SERIES],
        "ltv_cac": [1.2 + 0.3 * q + index for q in range(len(PERIODS)) for index in range(len(SERIES))],
    })
    return charts.ltv_cac_trend(rows)


def _bar_figure() -> go.Figure:
    fig = go.Figure(go.Bar(x=["Ocelot Webinars", "Pangolin Podcasts"], y=[4200, 3100], marker_color="#1F4E79"))
    fig.update_layout(template=charts.TEMPLATE_NAME, title="CAC by channel", yaxis_title="Fully loaded CAC")
    return fig


def _channel_table() -> pl.DataFrame:
    spend = [Decimal("1234567.891"), Decimal("0.125"), Decimal("-1234.565"), None]
    spend += [Decimal(f"{1000 + i}.005") for i in range(len(spend), TABLE_ROWS)]
    return pl.DataFrame({
        "Channel": [HOSTILE if i == 7 else f"Row {i:03d}" for i in range(TABLE_ROWS)],
        "Fully loaded spend": spend,
        "LTV:CAC": [None if i == 3 else 3.214 for i in range(TABLE_ROWS)],
        "ROI": [0.1234] * TABLE_ROWS,
        "New customers": [12_345 + i for i in range(TABLE_ROWS)],
        "Payback": [7] * TABLE_ROWS,
    }, schema_overrides={"Fully loaded spend": pl.Decimal(18, 3)})


@dataclass(frozen=True)
class Rendered:
    pdf: bytes
    seconds: float
    pages: list[str]
    """``pdftotext -layout`` of each page."""
    info: str
    """``pdfinfo``."""
    folder: Path
    fetched: list[str]
    """Paths the local web server was asked for while the PDF was made."""
    leftovers: list[Path]
    """What was left in the temporary directory after rendering."""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rendered]:
    try:
        pdf.chromium_path()
    except pdf.PdfError as error:
        pytest.fail(f"{error} (`make install` installs it as root)")
    tools = {name: _tool(name) for name in ("pdfinfo", "pdftotext", "pdftoppm")}
    folder = tmp_path_factory.mktemp("pdf")
    scratch = tmp_path_factory.mktemp("scratch")
    fetched: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fetched.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    methodology = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    doc = pdf.Document(
        title="Board pack Q3 2025", subtitle="Marketing efficiency review", prepared_on=date(2025, 10, 3),
        company="Northwind Analytics", sections=[
            pdf.Section("KPI summary", [
                pdf.Kpis([
                    pdf.Kpi("LTV:CAC", "3.21x", detail="Range 2.90x - 3.52x", band="strong"),
                    pdf.Kpi("Fully loaded CAC", "$1,234.57", detail="+4.2% vs 2025-Q2"),
                    pdf.Kpi("CAC payback", "7 months", band="at risk"),
                    pdf.Kpi("New customers", "1,234"),
                ]),
                pdf.Paragraph(f"Channel names print as written: {HOSTILE}\n\nSecond paragraph."),
            ]),
            pdf.Section("Trend", [
                pdf.Figure(_trend_figure().to_dict(), caption="Figure 1: LTV:CAC by channel"),
                pdf.Figure(_bar_figure().to_dict(), caption=f"Figure 2: {HOSTILE}", height=360),
            ]),
            pdf.Section("Channels", [pdf.Table("Channel economics", _channel_table(), {
                "Fully loaded spend": "money", "LTV:CAC": "ratio", "ROI": "percent", "New customers": "int",
                "Payback": "months"}, note="Spend in every category except sales.")]),
            pdf.Section("Methodology", [
                pdf.Markdown(f"{methodology}\n\n![remote logo]({url}/logo.png)\n\n<img src=\"{url}/raw.png\">"),
            ]),
        ])
    with pytest.MonkeyPatch.context() as patch:  # a temporary directory of our own, to see it left clean
        patch.setattr(tempfile, "tempdir", str(scratch))
        patch.setenv("TMPDIR", str(scratch))
        started = time.monotonic()
        made = pdf.render_pdf(doc)
        seconds = time.monotonic() - started
    server.shutdown()
    server.server_close()
    path = folder / "board-pack.pdf"
    path.write_bytes(made)
    info = subprocess.run([tools["pdfinfo"], path], capture_output=True, text=True, check=True).stdout
    text = subprocess.run([tools["pdftotext"], "-layout", path, "-"], capture_output=True, text=True,
                          check=True).stdout
    subprocess.run([tools["pdftoppm"], "-r", "40", path, folder / "page"], check=True)
    pages = text.split("\f")[:-1]  # pdftotext ends every page with a form feed
    yield Rendered(made, seconds, pages, info, folder, fetched, sorted(scratch.rglob("*")))


def _page_count(info: str) -> int:
    match = re.search(r"^Pages:\s+(\d+)$", info, re.MULTILINE)
    assert match, info
    return int(match.group(1))


def _pages_with(rendered: Rendered, needle: str) -> list[int]:
    return [number for number, page in enumerate(rendered.pages, start=1) if needle in page]


def _pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and RGB bytes of a binary PPM (what pdftoppm writes by default)."""
    data = path.read_bytes()
    magic, width, height, depth = data.split(maxsplit=4)[:4]
    assert magic == b"P6" and depth == b"255"
    header_end = len(b" ".join((magic, width, height, depth))) + 1
    return int(width), int(height), data[header_end:]


def test_pdf_pages_and_size(rendered: Rendered) -> None:
    pages = _page_count(rendered.info)
    # cover, KPIs, two figure pages, the 120-row table (5 pages), the methodology (docs/metrics.md, 4-8 pages)
    assert 10 <= pages <= 20, rendered.info
    assert len(rendered.pages) == pages
    assert "Title:           Northwind Analytics - Board pack Q3 2025" in rendered.info
    size = re.search(r"^Page size:\s+([\d.]+) x ([\d.]+) pts", rendered.info, re.MULTILINE)
    assert size and float(size.group(1)) > float(size.group(2)), "landscape"
    assert rendered.pdf.startswith(b"%PDF-")
    print(f"\nboard pack: {rendered.seconds:.2f} s, {len(rendered.pdf):,} bytes, {pages} pages")


def test_pdf_cover_contents_and_footer(rendered: Rendered) -> None:
    cover = rendered.pages[0]
    for text in ("NORTHWIND ANALYTICS", "Board pack Q3 2025", "Marketing efficiency review", "Prepared 3 October 2025"):
        assert text in cover
    contents = [cover.index(heading) for heading in ("KPI summary", "Trend", "Channels", "Methodology")]
    assert contents == sorted(contents)
    assert "Page 1 of" not in cover
    total = len(rendered.pages)
    for number, page in enumerate(rendered.pages[1:], start=2):
        assert f"Page {number} of {total}" in page


def test_pdf_kpis_and_text(rendered: Rendered) -> None:
    (page,) = _pages_with(rendered, "KPI summary")[1:]  # the first is the cover's contents
    kpis = rendered.pages[page - 1]
    for text in ("LTV:CAC", "3.21x", "strong", "Range 2.90x - 3.52x", "$1,234.57", "7 months", "at risk", "1,234"):
        assert text in kpis
    assert f"Channel names print as written: {HOSTILE}" in kpis


def test_pdf_figures_are_vector_text_in_order(rendered: Rendered) -> None:
    # Legend entries and tick labels can only come from the SVG: they are in no caption.
    trend = _pages_with(rendered, "2024-Q3")
    assert len(trend) == 1
    trend_page = rendered.pages[trend[0] - 1]
    for name in (*SERIES, "2025-Q2", "Figure 1: LTV:CAC by channel"):
        assert name in trend_page
    bars = _pages_with(rendered, "Ocelot Webinars")
    assert bars and bars[0] >= trend[0]
    assert "Pangolin Podcasts" in rendered.pages[bars[0] - 1]
    assert f"Figure 2: {HOSTILE}" in rendered.pages[bars[0] - 1]


def test_pdf_figure_page_is_drawn(rendered: Rendered) -> None:
    images = sorted(rendered.folder.glob("page-*.ppm"))
    assert len(images) == len(rendered.pages)
    (trend,) = _pages_with(rendered, "2024-Q3")
    width, height, rgb = _pixels(images[trend - 1])
    pixels = [rgb[i:i + 3] for i in range(0, len(rgb), 3)]
    inked = sum(1 for r, g, b in pixels if min(r, g, b) < 230)
    coloured = sum(1 for r, g, b in pixels if max(r, g, b) - min(r, g, b) > 40)  # lines and band shading
    assert inked > 0.02 * width * height, f"{inked} of {width * height} pixels drawn"
    assert coloured > 0.01 * width * height, f"{coloured} of {width * height} pixels in colour"
    for image in images:  # every page rasterises to a full page
        page_width, page_height, _ = _pixels(image)
        assert (page_width, page_height) == (width, height)


def test_pdf_long_table_spans_pages_with_its_header(rendered: Rendered) -> None:
    pages = sorted({number for i in range(TABLE_ROWS) for number in _pages_with(rendered, f"Row {i:03d}")})
    assert len(pages) >= 3, pages
    assert pages == list(range(pages[0], pages[-1] + 1))
    for number in pages:
        page = rendered.pages[number - 1]
        header = next(line for line in page.splitlines() if "Fully loaded spend" in line)
        assert re.search(r"Channel\s+Fully loaded spend\s+LTV:CAC\s+ROI\s+New customers\s+Payback", header)
    table = "\n".join(rendered.pages[number - 1] for number in pages)
    for text in ("$1,234,567.89", "$0.13", "-$1,234.57", "$1,010.01", "3.21x", "12.3%", "12,464", "7 months",
                 "Spend in every category except sales."):
        assert text in table
    assert "1,234,567.891" not in table
    assert re.search(r"Row 003\s+n/a\s+n/a\s+12\.3%", table)
    assert HOSTILE in table


def test_pdf_methodology_appendix(rendered: Rendered) -> None:
    pages = _pages_with(rendered, "How every figure is computed")
    assert pages
    appendix = "\n".join(rendered.pages[pages[0] - 1:])
    for text in ("Customer acquisition cost", "cac_media (media-only CAC)", "digital advertising spend",
                 "LTV = sum over months t = 0 .. H-1", "Fader & Hardie 2007", "[image: remote logo]",
                 '<img src="http://127.0.0.1:'):
        assert text in appendix


def test_pdf_fetches_nothing_and_leaves_nothing(rendered: Rendered) -> None:
    assert rendered.fetched == []
    assert rendered.leftovers == []


def test_a_figure_is_plotly_data_and_needs_its_traces() -> None:
    with pytest.raises(ValueError, match="'data' key"):
        pdf.Figure({"layout": {"title": {"text": "no traces"}}})
    assert pdf.Figure(_bar_figure().to_dict()).title == _bar_figure().layout.title.text
    assert pdf.Figure({"data": [], "layout": {"title": "Plain"}}).title == "Plain"
    assert pdf.Figure({"data": []}).title is None
