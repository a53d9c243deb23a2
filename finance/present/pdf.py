"""Board-pack PDF: a structured document (cover, KPI tiles, tables, charts, prose) printed by headless Chromium.

The caller (the board pack in ``finance/present/report.py``) describes *what* to show with the frozen
blocks below; this module decides how it looks. The pipeline, in one Chromium session:

1. every :class:`Figure` is exported by kaleido as SVG from the same Plotly figure the app
   shows, passed as plain data (``fig.to_dict()``), so this module needs no plotting library
   (vector: its titles, ticks and legend stay text, searchable and sharp in the PDF);
2. the document becomes one self-contained HTML page (:func:`render_html`): print CSS, the
   SVGs as ``data:`` images, every piece of text escaped, a Content-Security-Policy that
   forbids scripts and any fetch, so nothing in the data can run or reach the network;
3. the same browser opens that page from a temporary file and prints it (DevTools
   ``Page.printToPDF``); page size, margins and the "Page X of Y" footer come from the
   page's own ``@page`` CSS (:func:`render_pdf`).

Why kaleido + Chromium: Plotly's own static export (kaleido 1.x) drives a Chromium anyway,
so printing the HTML in that same browser adds no dependency and no second start-up (~2-3 s);
Chromium's layout engine gives repeated table headers, page breaks and vector SVG for free,
which a PDF library would have us re-implement. Nothing is downloaded: Debian's Chromium
(``/usr/bin/chromium``, or ``$FINANCE_CHROMIUM``), the plotly.js bundled with plotly, and
MathJax switched off (kaleido would otherwise fetch it from a CDN).

Cell formats (:func:`format_cell`) round half-up from the exact decimal, as the charts and
exports do: ``money`` ``$1,234.57`` / ``-$1,234.57``, ``ratio`` ``3.21x``, ``percent``
``12.3%`` (from the fraction 0.123), ``int`` ``12,345``, ``months`` ``7 months``, ``text``
as written; a null, NaN or infinite value is "n/a".
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import numbers
import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import kaleido
import markdown
import polars as pl
from markdown.treeprocessors import Treeprocessor

from finance.domain import literal
from finance.domain.schema import DEFAULT_CURRENCY
from finance.present import formats
from finance.present.charts import BAND_COLORS, GRID, INK, MUTED
from finance.present.i18n import _, language
from finance.present.summary import band as band_words

FONTS = '"Liberation Sans", Arial, Helvetica, "Noto Sans CJK JP", sans-serif'
"""The pack's typefaces: Latin text in Liberation Sans, Japanese in Noto Sans CJK JP (Debian's fonts-noto-cjk)."""

NA = formats.NA
FORMATS: dict[str, str] = {
    "money": "$1,234.57 and -$1,234.57, exact to the cent, half-up",
    "ratio": "3.21x",
    "percent": "12.3% (the value is a fraction: 0.123)",
    "int": "12,345",
    "months": "7 months",
    "text": "the value as written",
}
"""Cell formats a :class:`Table` column may have; a column not named in ``formats`` is text."""

PAPER: dict[str, str] = {"A4": "A4 landscape", "Letter": "letter landscape"}
"""Landscape: wide tables and charts read without shrinking. Both fit the 1000 px figures."""

FIGURE_WIDTH = 1000
COLUMN_FIGURE_WIDTH = 640
KEEP_ROWS = 30
"""A table of at most this many rows is kept on one page (moved whole to the next rather than split)."""
"""CSS pixels a figure is drawn at: about the text width of a landscape A4 or Letter page."""
CHROMIUM_ENV = "FINANCE_CHROMIUM"
"""Environment variable naming the Chromium executable, when it is not ``chromium`` on the PATH."""
TIMEOUT_S = 120.0
_INSTALL_HINT = ("Install it with `apt-get install chromium` (Debian/Ubuntu), or set FINANCE_CHROMIUM to a "
                 "Chromium or Chrome executable; the CSV and XLSX exports work without it.")
_LINK_SCHEMES = ("http://", "https://", "mailto:")


class PdfError(RuntimeError):
    """The PDF could not be made: Chromium is missing, failed or timed out. The message says what to do."""


# ---------------------------------------------------------------------------------------------
# The document
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kpi:
    """One tile: ``value`` already formatted (``$1,234.57``, ``3.21x``); ``band`` a key of ``BAND_COLORS``."""

    label: str
    value: str
    detail: str | None = None
    band: str | None = None

    def __post_init__(self) -> None:
        if self.band is not None and self.band not in BAND_COLORS:
            raise ValueError(f"unknown band {self.band!r}; the bands are {', '.join(map(repr, BAND_COLORS))}")


@dataclass(frozen=True)
class Kpis:
    """A row of KPI tiles (wrapping after four)."""

    items: Sequence[Kpi]


@dataclass(frozen=True)
class Table:
    """A table; ``formats`` maps a column to a key of ``FORMATS``. Long tables break across pages, header repeated."""

    title: str
    frame: pl.DataFrame
    formats: Mapping[str, str] = field(default_factory=dict)
    note: str | None = None
    right: Sequence[str] = ()
    """Text columns that hold figures already written out ("$1,050.47"): aligned right like numbers."""

    def __post_init__(self) -> None:
        for column, kind in self.formats.items():
            if kind not in FORMATS:
                raise ValueError(f"table {self.title!r}, column {column!r}: unknown format {kind!r}; "
                                 f"the formats are {', '.join(FORMATS)}")
            if column not in self.frame.columns:
                raise ValueError(f"table {self.title!r}: format given for {column!r}, which is not a column; "
                                 f"the columns are {', '.join(self.frame.columns)}")
            dtype = self.frame.schema[column]
            if kind != "text" and not (dtype.is_numeric() or dtype == pl.Null):
                raise ValueError(f"table {self.title!r}, column {column!r} is {dtype}, not a number, "
                                 f"so it cannot have the {kind!r} format")


@dataclass(frozen=True)
class Figure:
    """A Plotly figure as its JSON data (``fig.to_dict()``), drawn ``width`` x ``height`` CSS
    pixels as vector SVG."""

    spec: Mapping[str, Any]
    caption: str | None = None
    height: int = 440
    width: int = FIGURE_WIDTH
    """Drawn at this many CSS pixels and scaled to the space it is given: a figure in half a page is
    drawn narrower (``COLUMN_FIGURE_WIDTH``) so that its text prints at the same size as a full one's."""

    def __post_init__(self) -> None:
        if "data" not in self.spec:
            raise ValueError("a figure is Plotly's figure data with a 'data' key, e.g. fig.to_dict()")

    @property
    def title(self) -> str | None:
        title = self.spec.get("layout", {}).get("title")
        text = title.get("text") if isinstance(title, Mapping) else title
        return str(text).replace("<br>", " ") if text else None  # a wrapped chart title, as one line


@dataclass(frozen=True)
class Paragraph:
    """Plain text; a blank line starts a new paragraph. A ``lead`` paragraph is the page's finding, set large."""

    text: str
    lead: bool = False


@dataclass(frozen=True)
class Bullets:
    """A titled list of plain-text items (text from the data is printed as written, never as markup)."""

    title: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class Markdown:
    """Markdown written by the project (the methodology): tables, code and lists; raw HTML in it is
    printed as text. Never for text from the data: that goes in a Paragraph, Bullets or Table.
    ``columns``: set in two newspaper columns (long prose on a landscape page)."""

    text: str
    columns: int = 1


@dataclass(frozen=True)
class Columns:
    """Blocks side by side, in equal columns (a chart beside its table, on a landscape page)."""

    blocks: Sequence[Kpis | Table | Figure | Paragraph | Bullets | Markdown]


Block = Kpis | Table | Figure | Paragraph | Bullets | Markdown | Columns


@dataclass(frozen=True)
class Section:
    """A titled part of the document, listed in the cover's contents; by default it starts a new page."""

    heading: str
    blocks: Sequence[Block]
    page_break_before: bool = True


@dataclass(frozen=True)
class Document:
    """The whole document: a cover page (title, subtitle, date, ``about``, contents), then the sections.

    Without ``cover``, the title, subtitle, date and ``about`` head the first section's page instead
    (a board pack opens on its executive summary), and every page carries its number.

    ``currency`` is the ISO code money amounts are written in (``finance.present.formats``).
    """

    title: str
    subtitle: str
    prepared_on: date
    company: str
    sections: Sequence[Section]
    currency: str = DEFAULT_CURRENCY
    about: str = ("Marketing efficiency for the board: fully loaded CAC, LTV and LTV:CAC, with the "
                  "assumptions and methodology behind every figure.")
    paper: Literal["A4", "Letter"] = "A4"
    cover: bool = True

    def __post_init__(self) -> None:
        if self.paper not in PAPER:
            raise ValueError(f"unknown paper {self.paper!r}; choose one of {', '.join(PAPER)}")


# ---------------------------------------------------------------------------------------------
# Cell formats
# ---------------------------------------------------------------------------------------------


def format_cell(value: object, kind: str = "text", currency: str = DEFAULT_CURRENCY) -> str:
    """One table cell as text in the format ``kind`` (a key of ``FORMATS``); "n/a" for null, NaN or infinite.

    The rules are ``finance.present.formats``'s, as on the dashboard; ``currency`` is an ISO code.
    Raises ``TypeError`` when a number format is given something that is not a number.
    """
    if kind not in FORMATS:
        raise ValueError(f"unknown format {kind!r}; the formats are {', '.join(FORMATS)}")
    if value is None:
        return formats.na()
    if kind == "text":
        return formats.na() if isinstance(value, float) and not _finite(value) else str(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real | Decimal):
        raise TypeError(f"expected a number, got {type(value).__name__} {value!r}")
    if kind == "money":
        return formats.money(value, currency)
    if kind == "ratio":
        return formats.ratio(value)
    if kind == "percent":
        return formats.percent(value)
    if kind == "int":
        return formats.count(value)
    return formats.months(value)


def _finite(value: float) -> bool:
    return value == value and value not in (float("inf"), float("-inf"))


# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------


def render_html(doc: Document) -> str:
    """The document as one self-contained, printable HTML page.

    Starts Chromium (through kaleido) only when the document has figures, to export them as SVG.
    """
    figures = _figures(doc)
    if not figures:
        return _html(doc, [])
    return _run(lambda path: _in_browser(path, doc, figures, print_pdf=False), TIMEOUT_S).decode("utf-8")


def _figures(doc: Document) -> list[Figure]:
    found: list[Figure] = []
    for section in doc.sections:
        for block in section.blocks:
            inner = block.blocks if isinstance(block, Columns) else [block]
            found += [b for b in inner if isinstance(b, Figure)]
    return found


def _e(text: str) -> str:
    return literal.html(text)


def _html(doc: Document, svgs: Sequence[bytes]) -> str:
    svg_of = iter(svgs)
    contents = "".join(f"<li>{_e(section.heading)}</li>" for section in doc.sections)
    prepared, contents_heading = _("Prepared {day}").format(day=formats.long_day(doc.prepared_on)), _("Contents")
    cover = (
        '<section class="cover">'
        f'<p class="company">{_e(doc.company)}</p>'
        f"<h1>{_e(doc.title)}</h1>"
        f'<p class="subtitle">{_e(doc.subtitle)}</p>'
        f'<p class="prepared">{_e(prepared)}</p>'
        f'<p class="about">{_e(doc.about)}</p>'
        + (f'<h2 class="contents">{_e(contents_heading)}</h2><ol>{contents}</ol>' if doc.sections else "")
        + "</section>"
    )
    if not doc.cover:
        cover = (
            '<header class="masthead">'
            f'<p class="company">{_e(doc.company)}</p>'
            f"<h1>{_e(doc.title)}</h1>"
            f'<p class="subtitle">{_e(doc.subtitle)}</p>'
            f'<p class="about">{_e(doc.about)}</p>'
            "</header>"
        )
    sections = "".join(
        f'<section class="section{" break" if section.page_break_before and (doc.cover or i) else ""}">'
        f"<h2>{_e(section.heading)}</h2>"
        + "".join(_block_html(block, doc.currency, svg_of) for block in section.blocks)
        + "</section>"
        for i, section in enumerate(doc.sections)
    )
    return (
        f'<!DOCTYPE html><html lang="{language()}"><head><meta charset="utf-8">'
        # Defence in depth behind the escaping: no script runs and nothing is fetched.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{_e(doc.company)} - {_e(doc.title)}</title>"
        f"<style>{_css(doc)}</style></head><body>{cover}{sections}</body></html>"
    )


def _block_html(block: Block, currency: str, svgs: Iterator[bytes]) -> str:
    if isinstance(block, Columns):
        cells = "".join(f'<div class="column">{_block_html(inner, currency, svgs)}</div>' for inner in block.blocks)
        return f'<div class="columns" style="grid-template-columns: repeat({len(block.blocks)}, minmax(0, 1fr))">' \
               f"{cells}</div>"
    if isinstance(block, Kpis):
        return '<div class="kpis">' + "".join(_kpi_html(kpi) for kpi in block.items) + "</div>"
    if isinstance(block, Table):
        return _table_html(block, currency)
    if isinstance(block, Figure):
        svg = base64.b64encode(next(svgs)).decode("ascii")
        title = block.title or block.caption or "Chart"
        caption = f"<figcaption>{_e(block.caption)}</figcaption>" if block.caption else ""
        return (f'<figure><img alt="{_e(str(title))}" width="{block.width}" height="{block.height}" '
                f'src="data:image/svg+xml;base64,{svg}">{caption}</figure>')
    if isinstance(block, Paragraph):
        tag = '<p class="lead">' if block.lead else "<p>"
        return "".join(f"{tag}{_e(part.strip())}</p>" for part in re.split(r"\n\s*\n", block.text) if part.strip())
    if isinstance(block, Bullets):
        items = "".join(f"<li>{_e(item)}</li>" for item in block.items)
        return f'<div class="bullets"><h3>{_e(block.title)}</h3><ul>{items}</ul></div>'
    if not isinstance(block, Markdown):
        raise TypeError(f"not a board-pack block: {type(block).__name__}")
    return f'<div class="markdown{" two" if block.columns == 2 else ""}">{_markdown_html(block.text)}</div>'


def _kpi_html(kpi: Kpi) -> str:
    # The band is written out and coloured: colour is never the only carrier of the verdict.
    color = BAND_COLORS[kpi.band] if kpi.band else GRID
    band = (f'<div class="kpi-band"><span class="swatch" style="background:{color}"></span>'
            f"{_e(band_words(kpi.band))}</div>" if kpi.band else "")
    detail = f'<div class="kpi-detail">{_e(kpi.detail)}</div>' if kpi.detail else ""
    return (f'<div class="kpi" style="border-left-color:{color}"><div class="kpi-label">{_e(kpi.label)}</div>'
            f'<div class="kpi-value">{_e(kpi.value)}</div>{band}{detail}</div>')


def _table_html(table: Table, currency: str) -> str:
    no_rows = _("No rows")
    kinds = [table.formats.get(column, "text") for column in table.frame.columns]
    numeric = [kind != "text" or dtype.is_numeric() or column in table.right
               for column, kind, dtype in zip(table.frame.columns, kinds, table.frame.dtypes, strict=True)]
    # A health band is one of the pack's own words ("under-investing?"): never broken across lines.
    align = ['class="num"' if is_number else 'class="word"' if column in ("Band", _("Band")) else ""
             for column, is_number in zip(table.frame.columns, numeric, strict=True)]
    head = "".join(f"<th {a}>{_e(column)}</th>" for a, column in zip(align, table.frame.columns, strict=True))
    rows = "".join(
        "<tr>" + "".join(f"<td {a}>{_e(format_cell(value, kind, currency))}</td>"
                         for a, kind, value in zip(align, kinds, row, strict=True)) + "</tr>"
        for row in table.frame.iter_rows()
    ) or f'<tr><td colspan="{max(table.frame.width, 1)}" class="empty">{_e(no_rows)}</td></tr>'
    note = f'<p class="note">{_e(table.note)}</p>' if table.note else ""
    keep = " keep" if table.frame.height <= KEEP_ROWS else ""
    return (f'<div class="table{keep}"><h3>{_e(table.title)}</h3>'
            f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>{note}</div>")


class _PrintableTree(Treeprocessor):
    """Headings ranked below the section's; links kept only to the web or mail; images as their alt text.

    A relative link has no target in a PDF, and an image would be a fetch (which the page's
    Content-Security-Policy blocks anyway).
    """

    def run(self, root: Any) -> None:
        for element in root.iter():
            if re.fullmatch(r"h[1-6]", element.tag):
                element.tag = f"h{min(int(element.tag[1]) + 2, 6)}"
            elif element.tag == "a" and not element.get("href", "").startswith(_LINK_SCHEMES):
                element.tag = "span"
                element.attrib.clear()
            elif element.tag == "img":
                element.tag, element.text = "span", f"[image: {element.get('alt', '')}]"
                element.attrib.clear()


def _markdown_html(text: str) -> str:
    converter = markdown.Markdown(extensions=["tables", "fenced_code"], output_format="html")
    # Python-Markdown passes raw HTML through; without these two it is escaped like any text.
    converter.preprocessors.deregister("html_block")
    converter.inlinePatterns.deregister("html")
    converter.treeprocessors.register(_PrintableTree(converter), "printable", 0)
    return str(converter.convert(text))


def _css_string(text: str) -> str:
    """``text`` as a quoted CSS string: everything but letters, digits and spaces hex-escaped."""
    return '"' + "".join(c if (c.isalnum() and c.isascii()) or c == " " else f"\\{ord(c):x} " for c in text) + '"'


def _css(doc: Document) -> str:
    footer = _css_string(f"{doc.company} - {doc.title}")
    page_of = " ".join(_css_string(part) if i % 2 == 0 else f"counter({part})"
                       for i, part in enumerate(re.split(r"\{(page|pages)\}", _("Page {page} of {pages}"))) if part)
    return f"""
@page {{ size: {PAPER[doc.paper]}; margin: 12mm 14mm 14mm 14mm;
  @bottom-left {{ content: {footer}; font: 8pt {FONTS}; color: {MUTED}; }}
  @bottom-right {{ content: {page_of}; font: 8pt {FONTS}; color: {MUTED}; }} }}
{"@page :first { @bottom-left { content: none; } @bottom-right { content: none; } }" if doc.cover else ""}
* {{ box-sizing: border-box; }}
html {{ -webkit-print-color-adjust: exact; print-color-adjust: exact; }}
body {{ margin: 0; font: 10pt/1.4 {FONTS}; color: {INK}; }}
h1 {{ font-size: 28pt; margin: 0 0 4mm; }}
h2 {{ font-size: 17pt; margin: 0 0 4mm; break-after: avoid; }}
h3, h4, h5, h6 {{ margin: 5mm 0 2mm; break-after: avoid; }}
h3 {{ font-size: 12.5pt; }} h4 {{ font-size: 11pt; }} h5, h6 {{ font-size: 10pt; }}
.cover {{ padding-top: 30mm; }}
.cover .company {{ font-size: 12pt; color: {MUTED}; text-transform: uppercase; letter-spacing: 0.08em; }}
.cover .subtitle {{ font-size: 15pt; margin: 0 0 8mm; }}
.cover .prepared, .cover .about {{ font-size: 11pt; color: {MUTED}; margin: 0 0 2mm; }}
.cover .contents {{ margin-top: 14mm; font-size: 13pt; }}
.cover ol {{ font-size: 11pt; }}
.masthead {{ border-bottom: 1.5px solid {INK}; margin: 0 0 5mm; padding-bottom: 2mm; }}
.masthead .company {{ font-size: 9pt; color: {MUTED}; text-transform: uppercase; letter-spacing: 0.08em; margin: 0; }}
.masthead h1 {{ font-size: 20pt; margin: 1mm 0 1mm; }}
.masthead .subtitle {{ font-size: 12pt; margin: 0 0 1mm; }}
.masthead .about {{ font-size: 8.5pt; color: {MUTED}; margin: 0; }}
.lead {{ font-size: 13pt; font-weight: bold; line-height: 1.35; margin: 0 0 5mm; max-width: none; }}
.keep {{ break-inside: avoid; }}
.columns {{ display: grid; gap: 6mm; align-items: start; break-inside: avoid; }}
.columns figure, .columns .table {{ margin-bottom: 2mm; }}
.markdown.two {{ column-count: 2; column-gap: 8mm; font-size: 9pt; }}
.markdown.two table {{ font-size: 8.5pt; }}
.markdown.two h3, .markdown.two h4, .markdown.two table, .markdown.two pre {{ break-inside: avoid; }}
.break {{ break-before: page; }}
.section {{ padding-top: 2mm; }}
.kpis {{ display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 3mm; margin: 0 0 5mm; }}
.kpi {{ border: 1px solid {GRID}; border-left: 5px solid; border-radius: 3px; padding: 2mm 3.5mm;
  break-inside: avoid; }}
.kpi-label {{ color: {MUTED}; font-size: 9.5pt; }}
.kpi-value {{ font-size: 17pt; font-weight: bold; font-variant-numeric: tabular-nums; margin: 0.5mm 0; }}
.kpi-band {{ font-weight: bold; }}
.swatch {{ display: inline-block; width: 3mm; height: 3mm; margin-right: 1.5mm; border-radius: 1px; }}
.kpi-detail {{ color: {MUTED}; font-size: 9pt; }}
figure {{ margin: 0 0 6mm; break-inside: avoid; }}
figure img {{ display: block; width: 100%; height: auto; }}
figcaption {{ color: {MUTED}; font-size: 9pt; margin-top: 1mm; }}
table {{ border-collapse: collapse; width: 100%; font-size: 9pt; margin: 0 0 2mm; }}
thead {{ display: table-header-group; }}
tr {{ break-inside: avoid; }}
th {{ text-align: left; border-bottom: 1.5px solid {INK}; padding: 1.5mm 2mm; vertical-align: bottom; }}
td {{ border-bottom: 1px solid {GRID}; padding: 0.8mm 2mm; vertical-align: top; overflow-wrap: anywhere; }}
.num {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }}
.word {{ white-space: nowrap; }}
.empty {{ color: {MUTED}; font-style: italic; }}
.note {{ color: {MUTED}; font-size: 9pt; }}
.table {{ margin: 0 0 6mm; }}
.table h3 {{ margin-top: 0; }}
.markdown table {{ width: auto; }}
.section > p, .markdown > p, .markdown > ul, .markdown > ol {{ max-width: 210mm; }}
pre {{ background: #F3F4F6; padding: 2mm 3mm; white-space: pre-wrap; overflow-wrap: anywhere; break-inside: avoid; }}
code {{ font: 8.5pt "Liberation Mono", "DejaVu Sans Mono", "Noto Sans Mono CJK JP", monospace; }}
"""


# ---------------------------------------------------------------------------------------------
# Chromium
# ---------------------------------------------------------------------------------------------


def render_pdf(doc: Document, timeout: float = TIMEOUT_S) -> bytes:
    """The document as PDF bytes, figures and printing done in one headless Chromium.

    Raises :class:`PdfError` when Chromium is missing (the message says how to install it),
    fails, or takes longer than ``timeout`` seconds in all.
    """
    return _run(lambda path: _in_browser(path, doc, _figures(doc), print_pdf=True), timeout)


def chromium_path() -> str:
    """The Chromium to use: ``$FINANCE_CHROMIUM``, else ``chromium`` on the PATH, else ``/usr/bin/chromium``."""
    if configured := os.environ.get(CHROMIUM_ENV):
        if not os.access(configured, os.X_OK) or not Path(configured).is_file():
            raise PdfError(f"{CHROMIUM_ENV}={configured!r} is not an executable file. {_INSTALL_HINT}")
        return configured
    found = shutil.which("chromium") or ("/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)
    if found is None:
        raise PdfError(f"The PDF is printed by Chromium, which was not found. {_INSTALL_HINT}")
    return found


def _run(work: Callable[[str], Coroutine[Any, Any, bytes]], timeout: float) -> bytes:
    """Run ``work(chromium)`` within ``timeout`` s, on a thread of its own (the caller may be in an event loop)."""
    path = chromium_path()

    async def bounded() -> bytes:
        return await asyncio.wait_for(work(path), timeout)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="finance-pdf") as pool:
        try:
            # in this thread's context: the document is written in the caller's language
            result: bytes = pool.submit(contextvars.copy_context().run, asyncio.run, bounded()).result()
        except PdfError:
            raise
        except Exception as error:
            # Cancelled at the deadline, the browser may report a failure of its own instead of the timeout.
            if isinstance(error, TimeoutError) or time.monotonic() - started >= timeout:
                raise PdfError(f"Chromium ({path}) did not finish the PDF within {timeout:g} s") from error
            # Its own messages may advise downloading a Chrome: not advice to pass on.
            reason = str(error.args[0]).rstrip(".") if error.args else type(error).__name__
            raise PdfError(f"Chromium ({path}) failed while making the PDF: {reason}. Is it a working Chromium? "
                           f"{_INSTALL_HINT}") from error
    return result


async def _in_browser(chromium: str, doc: Document, figures: Sequence[Figure], print_pdf: bool) -> bytes:
    """Export ``figures`` to SVG, then return the HTML, or the printed PDF when ``print_pdf``."""
    browser = kaleido.Kaleido(n=1, path=chromium, mathjax=False, timeout=None)  # timeout: the caller's, overall
    try:
        await browser.open()
        svgs = [await browser.calc_fig(dict(figure.spec), opts={"format": "svg", "width": figure.width,
                                                            "height": figure.height})
                for figure in figures]
        page = _html(doc, svgs)
        return await _print(browser, page) if print_pdf else page.encode("utf-8")
    except BaseException:
        # Cancelled at the deadline, or failed while starting, the browser is not closed for us: a hung
        # Chromium would outlive the call (and keep Python from exiting). Its process group goes.
        _kill(browser)
        raise
    finally:
        await browser.close()


async def _print(browser: Any, page: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="finance-pdf-") as folder:
        source = Path(folder) / "document.html"
        source.write_text(page, encoding="utf-8")
        tab = await browser.create_tab()
        loaded = tab.subscribe_once("Page.loadEventFired")
        _check(await tab.send_command("Page.enable"), "Page.enable")
        _check(await tab.send_command("Page.navigate", params={"url": source.as_uri()}), "opening the page")
        await loaded
        response = _check(await tab.send_command("Page.printToPDF", params={
            "printBackground": True, "preferCSSPageSize": True, "generateDocumentOutline": True,
            "generateTaggedPDF": True}), "printing")
    return base64.b64decode(response["result"]["data"])


def _kill(browser: Any) -> None:
    process = getattr(browser, "subprocess", None)  # choreographer starts it in a session of its own
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _check(response: Mapping[str, Any], step: str) -> Mapping[str, Any]:
    if "error" in response:
        raise PdfError(f"Chromium failed {step}: {response['error']}")
    if "errorText" in response.get("result", {}):
        raise PdfError(f"Chromium failed {step}: {response['result']['errorText']}")
    return response
