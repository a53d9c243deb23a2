"""Plotly figures for the dashboard: one builder per finance question, one CFO-ready theme.

Every builder takes a Polars frame from the core (``finance.metrics.table.compute(...).rows`` or
``finance.ltv.base.cohort_margin_matrix``) and returns a ``go.Figure``; none calls Streamlit, so
the same figures serve the app, exports and tests. Conventions shared by all of them:

- the title states the takeaway, computed from the same numbers the figure plots;
- every figure in a title, label or hover is written by ``finance.present.formats`` in the
  ``currency`` given (money ``$1,234.56``, compact ``$412.5K``, ratios ``3.04x``), as on the tiles;
- a null, NaN or infinite value is never plotted: it is a gap in a line (``None`` in the
  trace) or "n/a" in text, never ``inf``/``nan``;
- health bands have one colour each (``BAND_COLORS``) and appear the same everywhere;
- an empty selection, or one with nothing to plot, gives a figure that says so;
- a time-series builder takes ``marks`` (``Mark``): the periods it points out, such as those whose
  spend does not reconcile to the general ledger (``unreconciled_marks``);
- nothing clips or collides at any width a figure is drawn at, from a chart in one of two
  dashboard columns (about 440 px) to a full-width one (about 1500 px) and the board pack's
  640 and 1000 px (``_fit``): titles are wrapped and the top margin follows their lines, axes
  make room for their labels, a period axis labels every k-th period, the legend sits below
  everything else, and scatter labels are placed clear of each other and of other points.
  ``tests/test_chart_layout.py`` measures that in Chromium at each width.

Figures carry aggregates only (per period, channel, segment or cohort), never customers.
"""

from __future__ import annotations

import functools
import html
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, ParamSpec

# pandas before Plotly: Plotly reads pandas straight from sys.modules, and on a server another
# session's thread may be importing it at that moment (Streamlit imports it lazily for a table),
# so building a figure would meet a half-imported module. This import waits for that one.
import pandas  # noqa: F401
import plotly.graph_objects as go
import plotly.io as pio
import polars as pl

from finance.domain import literal
from finance.domain.periods import quarter_label, quarter_start
from finance.domain.schema import (
    BAND_LABELS,
    COST_CATEGORIES,
    DEFAULT_BAND_EDGES,
    DEFAULT_CURRENCY,
    MARKETING_CATEGORIES,
    MEDIA_CATEGORY,
    band_of,
    channel_name_key,
    check_band_edges,
)
from finance.metrics import measures, reconcile
from finance.present import formats
from finance.present.i18n import N_, _
from finance.present.summary import band as band_words

# ---------------------------------------------------------------------------------------------
# Theme
# ---------------------------------------------------------------------------------------------

BAND_COLORS: dict[str, str] = {
    # Okabe-Ito vermillion and orange, ColorBrewer PRGn greens, Okabe-Ito blue: distinguishable
    # under the common colour-vision deficiencies, and every band is also labelled in text.
    "unprofitable": "#D55E00",
    "at risk": "#E69F00",
    "healthy": "#5AAE61",
    "strong": "#1B7837",
    "under-investing?": "#0072B2",
}
NO_BAND_COLOR = "#9CA3AF"
"""Markers whose ratio is unknown."""

SERIES_COLORS: tuple[str, ...] = (
    # Channels and segments: navies, purples, browns and teals, kept away from the band hues
    # so a line is never read as a health verdict.
    "#1F4E79", "#AD4E9B", "#4C9BD6", "#8C6D46", "#6A3D9A", "#3E7F78", "#C7922F", "#374151",
    "#B39DDB", "#7F8C99",
)

CATEGORY_COLORS: dict[str, str] = {
    "digital_advertising": "#1F4E79",
    "content_seo": "#4C9BD6",
    "content_creation": "#A9CCE8",
    "events": "#6A3D9A",
    "media_relations": "#B39DDB",
    "influencer": "#AD4E9B",
    "creative_services": "#E3B5D5",
    "website": "#3E7F78",
    "personnel": "#8C6D46",
    "martech": "#C7922F",
    "other_vendors": "#9CA3AF",
    "sales": "#374151",
}

INK = "#1F2937"
MUTED = "#6B7280"
GRID = "#E5E7EB"
LEVEL_COLOR = "#1F4E79"
"""Totals and starting levels (waterfall)."""
STEP_COLOR = "#8FB3D9"
"""Cost added on top of a level (waterfall)."""

TEMPLATE_NAME = "ltvcac"


TITLE_SIZE = 16
SUBTITLE_SIZE = 13
TITLE_CHARS = 50
"""Characters on a title line: Plotly does not wrap, and 50 characters of a 16 px title (bold, as
Streamlit draws it) are about 400 px in Arial, Inter or Segoe UI, so a title fits the narrowest
chart, one of two columns at a 1280 px wide window (about 440 px)."""
SUBTITLE_CHARS = 64
"""Characters on a subtitle line: about 400 px of 13 px text."""
MAX_LINES = 3
"""Lines a title or subtitle may take; the rest is cut with "…" (only names of absurd length need it)."""
TITLE_PAD = 12
"""Pixels above the title and left of it."""
LEGEND: dict[str, Any] = {
    # At the bottom of the figure (container coordinates): Plotly then reserves the legend's own
    # height below the x axis, its labels and its title, so the legend never covers them however
    # many rows it wraps to.
    "orientation": "h", "xref": "container", "yref": "container", "x": 0.0, "xanchor": "left", "y": 0.0,
    "yanchor": "bottom", "title": {"side": "top left"}, "font": {"size": 12},
}
MARGIN = {"l": TITLE_PAD, "r": 28, "b": 8}
"""Base margins: each axis then widens them for its tick labels and title (``automargin``)."""


def _build_template() -> go.layout.Template:
    template = go.layout.Template(pio.templates["plotly_white"])
    template.layout.update(
        font={"family": "Inter, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'Noto Sans CJK JP', sans-serif",
              "size": 13,
              "color": INK},
        title={"x": 0.0, "xanchor": "left", "xref": "container", "y": 1.0, "yanchor": "top", "yref": "container",
               "pad": {"l": TITLE_PAD, "t": TITLE_PAD}, "font": {"size": TITLE_SIZE, "color": INK},
               "subtitle": {"font": {"size": SUBTITLE_SIZE, "color": MUTED}}},
        colorway=list(SERIES_COLORS),
        paper_bgcolor="white",
        plot_bgcolor="white",
        separators=".,",
        margin={**MARGIN, "t": 100},
        hoverlabel={"bgcolor": "white", "bordercolor": "#CBD5E1", "font": {"size": 13, "color": INK}},
        hovermode="closest",
        legend=LEGEND,
        xaxis={"gridcolor": GRID, "linecolor": "#9CA3AF", "zeroline": False, "ticks": "outside",
               "tickcolor": "#9CA3AF", "automargin": True, "title": {"standoff": 8}},
        yaxis={"gridcolor": GRID, "linecolor": "#9CA3AF", "zeroline": False, "automargin": True,
               "title": {"standoff": 8}},
        bargap=0.25,
    )
    return template


TEMPLATE: go.layout.Template = _build_template()
pio.templates[TEMPLATE_NAME] = TEMPLATE  # registered once, at import; figures name it explicitly

NO_DATA = N_("No data for this selection")
DIMENSIONS = ("channel", "segment")
VOLUMES: dict[str, str] = {"leads": N_("Leads"), "visitors": N_("Visitors"), "event_attendees": N_("Event attendees")}
VOLUME_COSTS: dict[str, tuple[str, str]] = {
    "leads": ("cpl", N_("CPL")), "visitors": ("cost_per_visitor", N_("cost per visitor")),
    "event_attendees": ("cost_per_attendee", N_("cost per event attendee")),
}
"""The cost per unit of each volume: its column in the metric rows, and its name in a sentence."""

# ---------------------------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------------------------


def _decimal(value: Any) -> Decimal | None:
    """An exact decimal for a money value; None for null, NaN or infinite."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, float):  # NumPy's float64 too, whose repr is not a number
        return Decimal(repr(float(value))) if math.isfinite(value) else None
    try:
        exact = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return exact if exact.is_finite() else None


def _float(value: Any) -> float | None:
    """A finite float, or None: what a trace may hold."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _floats(values: Iterable[Any]) -> list[float | None]:
    return [_float(v) for v in values]


def _money_axis(currency: str) -> dict[str, str]:
    """A money axis's ticks: the currency's symbol, whole amounts with thousands separators."""
    prefix, d3, suffix = formats.d3_money(currency, 0)
    return {"tickprefix": prefix, "tickformat": d3, "ticksuffix": suffix}


def _money_hover(currency: str, axis: str = "y", places: int | None = None) -> str:
    """A hover's money by the ``money`` rule of ``finance.present.formats``: ``$%{y:,.2f}``."""
    prefix, d3, suffix = formats.d3_money(currency, places)
    return f"{prefix}%{{{axis}:{d3}}}{suffix}"


# ---------------------------------------------------------------------------------------------
# Fitting: titles that wrap, a top margin for their lines, period ticks that never collide
# ---------------------------------------------------------------------------------------------

_SHOWN_CHAR = re.compile(r"&(?:[A-Za-z]+|#[0-9]+|#[xX][0-9A-Fa-f]+);|.", re.DOTALL)
"""One character as shown: an entity written by ``literal.chart`` (``&lt;``) is one character."""


def _shown(text: str) -> list[str]:
    return _SHOWN_CHAR.findall(text)


def _cells(chars: Sequence[str]) -> int:
    """The width of characters as shown, in characters of Latin text: a Japanese character is two."""
    return sum(2 if len(c) == 1 and unicodedata.east_asian_width(c) in "WF" else 1 for c in chars)


def _fitting(chars: Sequence[str], width: int) -> int:
    """How many of ``chars`` fit in ``width`` (at least one)."""
    used = 0
    for index, char in enumerate(chars):
        used += _cells([char])
        if used > width:
            return max(index, 1)
    return len(chars)


_NO_LINE_START = frozenset("\u3001\u3002\u300d\u300f\u3011\u3015\u30fb\u30fc\u3005"  # 、 。 」 』 】 ・ ー 々
                           "\uff0c\uff0e\uff1a\uff1b\uff09\uff01\uff1f")  # full-width , . : ; ) ! ?
"""Japanese punctuation a line never starts with (kinsoku): a break before one moves back a character."""


def _break_at(chars: Sequence[str], width: int) -> int:
    """Where to break a run of ``chars`` to fit ``width`` (``_fitting``), not before closing punctuation."""
    cut = _fitting(chars, width)
    while 1 < cut < len(chars) and chars[cut] in _NO_LINE_START:
        cut -= 1
    return cut


def _greedy(words: list[str], width: int) -> list[str]:
    """Words filled into lines of at most ``width`` characters as shown; a longer word is cut (Japanese,
    written without spaces, is a long word: it breaks between any two characters)."""
    lines: list[str] = []
    line: list[str] = []
    for word in words:
        chars = _shown(word)
        if line and _cells(chars) > width and _cells(chars) > len(chars):  # a Japanese run: fill the line first
            room = width - _cells(_shown(" ".join(line))) - 1
            if room > 0:
                cut = _break_at(chars, room)
                line.append("".join(chars[:cut]))
                chars = chars[cut:]
            lines.append(" ".join(line))
            line = []
        elif line and _cells(_shown(" ".join([*line, word]))) > width:
            lines.append(" ".join(line))
            line = []
        while _cells(chars) > width:
            cut = _break_at(chars, width)
            lines.append("".join(chars[:cut]))
            chars = chars[cut:]
        line.append("".join(chars))
    return [*lines, " ".join(line)]


def wrap(text: str, width: int) -> str:
    """``text`` (already escaped for Plotly) with ``<br>`` between words so no line is longer than
    ``width`` characters as shown; a word longer than a line is cut, never inside an entity.

    Lines are filled in turn, so a title's opening words (its subject: "Optimised split
    projects...") stay together on the first line. Only spaces become line breaks, so the words,
    their escapes and their order are unchanged: ``wrap(t, w).replace("<br>", " ") == t`` for
    any text without longer words.
    """
    return "<br>".join(line for part in text.split("<br>") for line in _greedy(part.split(" "), width))


def shorten(text: str, width: int) -> str:
    """``text`` (already escaped) cut to ``width`` characters as shown, with "…" where it was cut."""
    chars = _shown(text)
    return text if _cells(chars) <= width else "".join(chars[:_fitting(chars, width - 1)]).rstrip() + "…"


def _at_most(wrapped: str, lines: int, width: int) -> str:
    """The first ``lines`` lines of ``wrapped``, the last ending in "…" when any were left out: names
    from the data can be any length, and every line of a title is a line less for the plot."""
    kept = wrapped.split("<br>")
    if len(kept) <= lines:
        return wrapped
    return "<br>".join([*kept[:lines - 1], shorten(kept[lines - 1] + " " + kept[lines], width)])


def _lines(text: str) -> int:
    return text.count("<br>") + 1 if text else 0


def _top_margin(title_lines: int, subtitle_lines: int) -> int:
    """Pixels above the plot for the title's and subtitle's lines, measured in Chromium for
    Plotly's line spacing (1.3 em) and its 1.6 em between title and subtitle."""
    if not title_lines:
        return 24
    height = TITLE_PAD + 0.95 * TITLE_SIZE + 1.3 * TITLE_SIZE * (title_lines - 1)
    if subtitle_lines:
        # Plotly moves a text of several lines up by 0.7 em, into the gap under the title
        height += 2.6 * SUBTITLE_SIZE + 1.3 * SUBTITLE_SIZE * (subtitle_lines - 1) - 0.7 * SUBTITLE_SIZE * (
            subtitle_lines > 1)
    return math.ceil(height + 16)


def _fit(fig: go.Figure) -> go.Figure:
    """The layout that keeps ``fig`` whole at any width: title and subtitle wrapped, the top margin
    for their lines, axes that widen the margins for their labels, and the legend under the x axis.

    Set on the figure itself rather than only in the template, because Streamlit's chart theme
    replaces the template's title, margins and legend with its own. The title is placed by this
    margin, not by ``title.automargin``: when that pushes the margin, plotly.js (4.1) lifts a title
    of several lines by more than a line, out of the figure.
    """
    title = _at_most(wrap(fig.layout.title.text or "", TITLE_CHARS), MAX_LINES, TITLE_CHARS)
    subtitle = _at_most(wrap(fig.layout.title.subtitle.text or "", SUBTITLE_CHARS), MAX_LINES, SUBTITLE_CHARS)
    lines = _lines(title)
    fig.update_layout(
        title={"text": title, "x": 0.0, "xanchor": "left", "xref": "container", "y": 1.0, "yanchor": "top",
               "yref": "container", "automargin": False, "font": {"size": TITLE_SIZE, "color": INK},
               # Plotly lifts a title of several lines by 0.7 em: the pad puts its first line back
               "pad": {"l": TITLE_PAD, "t": TITLE_PAD + (0.7 * TITLE_SIZE if lines > 1 else 0.0), "b": 0},
               "subtitle": {"text": subtitle, "font": {"size": SUBTITLE_SIZE, "color": MUTED}}},
        margin={**MARGIN, "t": _top_margin(lines, _lines(subtitle) if title else 0)},
        legend=LEGEND,
        separators=formats.d3_separators(),  # the decimal mark and thousands separator of the language
    )
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return fig


_P = ParamSpec("_P")


def _fitted(builder: Callable[_P, go.Figure]) -> Callable[_P, go.Figure]:
    """A figure builder whose figures are fitted (``_fit``) whatever branch returns them."""

    @functools.wraps(builder)
    def build(*args: _P.args, **kwargs: _P.kwargs) -> go.Figure:
        return _fit(builder(*args, **kwargs))

    return build


PERIOD_LABEL_CHARS = 48
"""Characters of period labels an x axis shows side by side: six ``2025-Q1`` labels are about
300 px of 13 px text, which the plot of the narrowest chart (about 340 px) holds without turning them."""
TOTAL_LABEL_CHARS = 96
"""Characters of bar totals side by side: twelve ``$412.5K`` fit the board pack's 640 px column."""
_QUARTER = re.compile(r"Q[1-4]$")
_MONTH = re.compile(r"\d{4}-\d{2}$")


def _period_steps(axis: Sequence[str]) -> Iterable[int]:
    """Label every k-th period, k in steps that suit the grain: quarters 1, 2, 4 (a year), 8, 12...;
    months 1, 2, 3 (a quarter), 6, 12, 24...; anything else 1, 2, 5, 10, 20..."""
    first: tuple[int, ...]
    if all(_QUARTER.search(label) for label in axis):
        first, unit = (1, 2), 4
    elif all(_MONTH.search(label) for label in axis):
        first, unit = (1, 2, 3, 6), 12
    else:
        first, unit = (1, 2, 5), 10
    yield from first
    multiple = 1
    while True:
        yield unit * multiple
        multiple += 1


def period_ticks(axis: Sequence[str], chars: int = PERIOD_LABEL_CHARS, label_chars: int | None = None,
                 most: int | None = None) -> list[str]:
    """The periods of ``axis`` to label: every k-th, counted back from the latest (which is always
    labelled), with k the smallest step of the grain that keeps the labels (``label_chars`` long,
    else as long as the longest period) within ``chars`` characters side by side, or to ``most``
    labels. Every period keeps its bar, point and hover; only labels are left out."""
    if not axis:
        return []
    longest = (label_chars if label_chars is not None else max(len(label) for label in axis)) + 1
    most = most or max(2, chars // longest)
    step = next(k for k in _period_steps(axis) if math.ceil(len(axis) / k) <= most)
    return list(axis)[::-1][::step][::-1]


def _period_tick_layout(axis: Sequence[str]) -> dict[str, Any]:
    shown = period_ticks(axis)
    return {"tickmode": "array", "tickvals": shown, "ticktext": shown}


# ---------------------------------------------------------------------------------------------
# Shared figure plumbing
# ---------------------------------------------------------------------------------------------


def _figure(title: str, subtitle: str | None = None) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(template=TEMPLATE_NAME, title={"text": title, "subtitle": {"text": subtitle or ""}})
    return fig


@_fitted
def empty_figure(title: str = "", message: str = NO_DATA) -> go.Figure:
    """A figure that says there is nothing to show, instead of empty axes."""
    fig = _figure(title)
    fig.add_annotation(text=_(message), x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font={"size": 16, "color": MUTED})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _require(rows: pl.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in rows.columns]
    if missing:
        raise ValueError(f"{what} needs column(s) {', '.join(missing)}; got {', '.join(rows.columns)}")


def _all_null(rows: pl.DataFrame, columns: Iterable[str]) -> bool:
    """True when no row has a finite value in any of ``columns``."""
    for column in columns:
        if column in rows.columns and any(_float(v) is not None for v in rows.get_column(column).to_list()):
            return False
    return True


def _labelled(rows: pl.DataFrame) -> pl.DataFrame:
    """Rows sorted by period, with a ``period_label`` (made from ``period`` if absent)."""
    if "period_label" not in rows.columns:
        rows = rows.with_columns(period_label=pl.col("period").cast(pl.String))
    return rows.sort("period") if "period" in rows.columns else rows


def _period_axis(rows: pl.DataFrame) -> list[str]:
    """The periods in time order, as category labels for the x axis."""
    periods = rows.select("period", "period_label").unique().sort("period")
    return [str(label) for label in periods.get_column("period_label").to_list()]


def _dimension_of(rows: pl.DataFrame, dimension: str | None) -> str | None:
    if dimension is not None:
        return dimension if dimension in rows.columns else None
    return next((d for d in DIMENSIONS if d in rows.columns), None)


def _series(rows: pl.DataFrame, dimension: str | None) -> list[tuple[str, pl.DataFrame]]:
    """(name, rows) per value of ``dimension`` in sorted order, or one unnamed series."""
    if dimension is None:
        return [("", rows)]
    values = rows.get_column(dimension).unique().to_list()
    named = sorted(values, key=lambda v: (v is None, str(v)))
    return [(literal.chart(v) if v is not None else _("Unattributed"),
             rows.filter(pl.col(dimension).is_null() if v is None else pl.col(dimension) == v))
            for v in named]


def _aligned(series: pl.DataFrame, axis: list[str]) -> pl.DataFrame:
    """``series`` with exactly one row per period label of ``axis`` (missing periods are null)."""
    frame = pl.DataFrame({"period_label": axis}, schema={"period_label": pl.String})
    return frame.join(series.with_columns(pl.col("period_label").cast(pl.String)), on="period_label", how="left")


def _color(index: int) -> str:
    return SERIES_COLORS[index % len(SERIES_COLORS)]


def _rgba(hex_color: str, alpha: float) -> str:
    red, green, blue = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


# ---------------------------------------------------------------------------------------------
# Marks: what a time-series chart points out about a period
# ---------------------------------------------------------------------------------------------

MarkKind = Literal["unreconciled", "note"]
MARK_COLOR = BAND_COLORS["unprofitable"]
"""A period whose spend the books do not confirm: outlined in the colour of a warning."""
HOVER_CHARS = 60
"""Characters on a line of a mark's hover: a long note wraps instead of running off the chart."""
MARK_TEXT = {"unreconciled": N_("GL")}
"""The short text over a marked period, by kind (a note is marked by its number)."""


@dataclass(frozen=True)
class Mark:
    """Something a time-series chart says about one of its periods (``period``: its label on the axis).

    ``kind`` "unreconciled": the period's spend does not reconcile to the general ledger; the period is
    outlined, marked "GL" over the plot, and named in the subtitle. ``kind`` "note": a note on the timeline
    (``finance.store.notes``), a dotted line down the period (a shaded span to ``until``) and its number over it.
    ``text`` is the hover (plain text, from the data: escaped when drawn); ``label`` the short text drawn over the
    period (default by kind).
    """

    period: str
    kind: MarkKind
    text: str
    label: str = ""
    until: str = ""
    """A note over a stretch of periods: the last of them (the span is shaded)."""


def unreconciled_marks(result: reconcile.Reconciliation | None, currency: str = DEFAULT_CURRENCY,
                       periods: Sequence[str] | None = None) -> tuple[Mark, ...]:
    """A mark for each period of ``result`` (of ``periods`` when given) whose spend does not reconcile to the
    general ledger, its hover naming each cost category off and by how much (spend minus ledger)."""
    if result is None:
        return ()
    labels = {c.key: _(c.label) for c in COST_CATEGORIES}
    off = result.lines.filter(pl.col("status") != reconcile.RECONCILED)
    marks = []
    for period in result.failing:
        if periods is not None and period not in periods:
            continue
        lines = off.filter(pl.col("period") == period)
        parts = [_("{category} {variance}").format(
                     category=labels.get(category, category),
                     variance=("+" if variance > 0 else "") + formats.money(variance, currency))
                 for category, variance in lines.select("category", "variance").iter_rows()]
        marks.append(Mark(period, "unreconciled", _("Spend does not reconcile to the GL (spend minus ledger): "
                                                     "{lines}").format(lines=", ".join(parts))))
    return tuple(marks)


def period_of(day: date, grain: str = "quarter", fiscal_year_start: int = 1) -> str:
    """The label of the period ``day`` falls in at ``grain``: ``2025-Q4`` (``FY2026-Q1`` for a fiscal year starting in
    another month than January) or ``2025-11``, as the metric rows label it."""
    if grain == "month":
        return f"{day:%Y-%m}"
    return quarter_label(quarter_start(day, fiscal_year_start), fiscal_year_start)


def note_when(note: Mapping[str, Any]) -> str:
    """When a note (a row of ``finance.store.notes.listed``) happened, in the language: its day, or its first and
    last day."""
    return formats.day(note["day"]) + (f" - {formats.day(note['end_day'])}" if note["end_day"] else "")


def note_marks(notes: pl.DataFrame, grain: str = "quarter", fiscal_year_start: int = 1) -> tuple[Mark, ...]:
    """A mark for each note on the timeline (``finance.store.notes.listed``): at the period its day falls in, to the
    one its last day falls in, numbered, its hover saying when, what, about which channel or segment, and who."""
    marks = []
    for note in notes.iter_rows(named=True):
        when = note_when(note)
        about = note["channel"] or note["segment"]
        text = _("Note {number}, {when}: {text}").format(number=note["note_id"], when=when, text=note["text"])
        if about:
            text += f" ({about})"
        if note["author"]:
            text += " - " + note["author"]
        first = period_of(note["day"], grain, fiscal_year_start)
        last = period_of(note["end_day"], grain, fiscal_year_start) if note["end_day"] else first
        marks.append(Mark(first, "note", text, label=f"#{note['note_id']}", until=last if last != first else ""))
    return tuple(marks)


NOTE_COLOR = MUTED
"""A note's line, span and number: it says what happened, not how the figures are."""


def _marked(fig: go.Figure, axis: Sequence[str], marks: Sequence[Mark]) -> None:
    """Draw ``marks`` on ``fig``'s period axis (those of periods on it): each unreconciled period outlined over
    the whole plot, one label per period over the plot with every mark's text in its hover, and a sentence
    in the subtitle naming the unreconciled periods (a printed chart has no hover)."""
    where = {label: index for index, label in enumerate(axis)}
    shown = [m for m in marks if m.period in where]
    if not shown:
        return
    off = sorted({m.period for m in shown if m.kind == "unreconciled"}, key=where.__getitem__)
    for period in off:
        fig.add_shape(type="rect", xref="x", yref="paper", x0=where[period] - 0.5, x1=where[period] + 0.5, y0=0,
                      y1=1, fillcolor=_rgba(MARK_COLOR, 0.07), line={"color": MARK_COLOR, "width": 1, "dash": "dot"},
                      layer="below")
    for mark in shown:
        if mark.kind != "note":
            continue
        start = where[mark.period]
        end = where.get(mark.until, start)
        line = {"color": NOTE_COLOR, "width": 1, "dash": "dot"}
        if end > start:
            fig.add_shape(type="rect", xref="x", yref="paper", x0=start - 0.5, x1=end + 0.5, y0=0, y1=1,
                          fillcolor=_rgba(NOTE_COLOR, 0.08), line={"width": 0}, layer="below")
        else:
            fig.add_shape(type="line", xref="x", yref="paper", x0=start, x1=start, y0=0, y1=1, line=line,
                          layer="below")
    for period in sorted({m.period for m in shown}, key=where.__getitem__):
        here = [m for m in shown if m.period == period]
        label = " · ".join(dict.fromkeys(m.label or _(MARK_TEXT.get(m.kind, "")) for m in here))
        color = MARK_COLOR if any(m.kind == "unreconciled" for m in here) else NOTE_COLOR
        fig.add_annotation(x=period, xref="x", y=1, yref="paper", yanchor="bottom", showarrow=False,
                           text=literal.chart(label), font={"size": 11, "color": color},
                           hovertext="<br>".join(wrap(literal.chart(m.text), HOVER_CHARS) for m in here),
                           hoverlabel={"bgcolor": "white", "bordercolor": color})
    if off:
        named = ", ".join(off) if len(off) <= 3 else _("{count} periods").format(count=len(off))
        sentence = _("Marked GL: {periods}, not reconciled to the ledger.").format(periods=named)
        subtitle = fig.layout.title.subtitle.text
        fig.update_layout(title_subtitle_text=f"{subtitle}<br>{sentence}" if subtitle else sentence)


def _category_axis(fig: go.Figure, axis: list[str], title: str = "") -> None:
    """A period x axis in time order, labelled at every k-th period (``period_ticks``)."""
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=axis, title_text=title,
                     **_period_tick_layout(axis))


def _latest_known(rows: pl.DataFrame, column: str) -> pl.DataFrame:
    """Rows of the latest period in which ``column`` has a finite value (empty if none)."""
    known = rows.filter(pl.col(column).is_not_null())
    if column in rows.columns and rows.schema[column] == pl.Float64:
        known = known.filter(pl.col(column).is_finite())
    if known.is_empty():
        return known
    return known.filter(pl.col("period") == known.get_column("period").max())


def _row_of(row: Mapping[str, Any] | pl.DataFrame) -> dict[str, Any] | None:
    if isinstance(row, pl.DataFrame):
        if row.is_empty():
            return None
        frame = row.sort("period") if "period" in row.columns else row
        return frame.row(-1, named=True)
    return dict(row)


def _label_of(row: Mapping[str, Any]) -> str:
    label = row.get("period_label")
    if label is None and isinstance(row.get("period"), date):
        label = row["period"].isoformat()
    return str(label) if label is not None else ""


# ---------------------------------------------------------------------------------------------
# LTV:CAC over time, with the health bands
# ---------------------------------------------------------------------------------------------


def _band_rectangles(fig: go.Figure, edges: tuple[float, ...], y_low: float, y_high: float,
                     log: bool = False) -> None:
    """The five health bands as shaded, labelled rectangles, and a dotted rule at each edge.

    Shapes take data values on a log axis but annotations take log10 values, so the labels
    are placed here rather than through ``add_hrect``.
    """
    lows = (y_low, *edges)
    highs = (*edges, y_high)
    for label, low, high in zip(BAND_LABELS, lows, highs, strict=True):
        fig.add_hrect(y0=low, y1=high, fillcolor=BAND_COLORS[label], opacity=0.13, line_width=0, layer="below",
                      name=label)
        fig.add_annotation(text=band_words(label), x=1.0, xref="x domain", xanchor="right",
                           y=math.log10(high) if log else high, yref="y", yanchor="top", showarrow=False,
                           font={"color": BAND_COLORS[label], "size": 12})
    for edge, above in zip(edges, BAND_LABELS[1:], strict=True):
        fig.add_hline(y=edge, line={"color": BAND_COLORS[above], "dash": "dot", "width": 1}, layer="below",
                      name=f"{edge:g}x")


LOG_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000)


def _wide_range(values: list[float], top_edge: float) -> bool:
    """Use a log axis when ratios span far beyond the bands (and are all positive)."""
    return min(values) > 0 and max(values) > 2 * top_edge


@_fitted
def ltv_cac_trend(rows: pl.DataFrame, edges: Sequence[float] = DEFAULT_BAND_EDGES,
                  dimension: str | None = None, cac_column: str = "cac",
                  currency: str = DEFAULT_CURRENCY, marks: Sequence[Mark] = (), target: float | None = None
                  ) -> go.Figure:
    """LTV:CAC per period with its interval and the health bands.

    ``ltv_cac`` = LTV / fully loaded CAC (``cac_column="cac_sm"``: rows whose ratios are on
    S&M CAC, ``finance.metrics.table.on_cac_basis``; the hover and subtitle say so), drawn as a line
    (markers in the band colour when there is one series), with ``ltv_cac_low``..``ltv_cac_high``
    shaded around it. The five bands are rectangles from ``edges``
    (``finance.domain.schema.DEFAULT_BAND_EDGES``). With a channel or segment column (or
    ``dimension``), one line per value.
    Required columns: period, ltv_cac; optional: period_label, ltv_cac_low, ltv_cac_high,
    ltv, cac, channel/segment.
    """
    band_edges = check_band_edges(tuple(edges))
    if rows.is_empty() or _all_null(rows, ["ltv_cac"]):
        return empty_figure(_("LTV:CAC"))
    _require(rows, ["period", "ltv_cac"], "ltv_cac_trend")
    rows = _labelled(rows)
    axis = _period_axis(rows)
    dim = _dimension_of(rows, dimension)
    fig = _figure("")
    plotted: list[float] = []
    has_interval = False
    for index, (name, series) in enumerate(_series(rows, dim)):
        frame = _aligned(series, axis)
        ratio = _floats(frame.get_column("ltv_cac"))
        low = _floats(frame.get_column("ltv_cac_low")) if "ltv_cac_low" in frame.columns else [None] * len(axis)
        high = _floats(frame.get_column("ltv_cac_high")) if "ltv_cac_high" in frame.columns else [None] * len(axis)
        color = _color(index) if dim else INK
        label = name or _("LTV:CAC")
        group = f"series-{index}"
        if any(v is not None for v in low) and any(v is not None for v in high):
            has_interval = True
            fig.add_trace(go.Scatter(x=axis, y=low, mode="lines", line={"width": 0, "color": color},
                                     hoverinfo="skip", showlegend=False, legendgroup=group,
                                     name=_("{label}, low end of range").format(label=label), connectgaps=False))
            fig.add_trace(go.Scatter(x=axis, y=high, mode="lines", line={"width": 0, "color": color},
                                     fill="tonexty", fillcolor=_rgba(color, 0.22), hoverinfo="skip",
                                     showlegend=False, legendgroup=group,
                                     name=_("{label}, high end of range").format(label=label), connectgaps=False))
        bands = [band_of(r, band_edges) for r in ratio]
        ltv = frame.get_column("ltv").to_list() if "ltv" in frame.columns else [None] * len(axis)
        cac = frame.get_column(cac_column).to_list() if cac_column in frame.columns else [None] * len(axis)
        custom = [[band_words(b), f"{formats.ratio(lo)} - {formats.ratio(hi)}" if lo is not None and hi is not None
                   else formats.na(), formats.money(lv, currency), formats.money(cv, currency)]
                  for b, lo, hi, lv, cv in zip(bands, low, high, ltv, cac, strict=True)]
        marker_colors = [BAND_COLORS[b] if b else NO_BAND_COLOR for b in bands] if not dim else color
        fig.add_trace(go.Scatter(
            x=axis, y=ratio, mode="lines+markers", name=label, legendgroup=group, showlegend=bool(dim),
            line={"color": color, "width": 2.5 if not dim else 2}, connectgaps=False,
            marker={"color": marker_colors, "size": 9 if not dim else 7, "line": {"color": "white", "width": 1}},
            customdata=custom,
            hovertemplate=(f"<b>{'%{fullData.name} · ' if name else ''}%{{x}}</b><br>" + _(
                "LTV:CAC {ratio} (range {range})<br>Band: {band}<br>LTV {ltv} · {cac} {cac_value}").format(
                ratio="%{y:.2f}x", range="%{customdata[1]}", band="%{customdata[0]}", ltv="%{customdata[2]}",
                cac=_cac_words(cac_column), cac_value="%{customdata[3]}") + "<extra></extra>"),
        ))
        plotted += [v for v in (*ratio, *low, *high) if v is not None]
    log = _wide_range(plotted, band_edges[-1])
    _category_axis(fig, axis)
    if log:
        y_low = min(min(plotted), band_edges[0]) / 1.6
        y_high = max(plotted) * 1.6
        ticks = [t for t in LOG_TICKS if y_low <= t <= y_high]
        fig.update_yaxes(type="log", range=[math.log10(y_low), math.log10(y_high)], tickvals=ticks,
                         ticktext=[f"{t:g}x" for t in ticks])
    else:
        y_low = min(0.0, min(plotted) * 1.08)
        y_high = max(band_edges[-1] * 1.25, max(plotted) * 1.08)
        fig.update_yaxes(ticksuffix="x", range=[y_low, y_high])
    _band_rectangles(fig, band_edges, y_low, y_high, log)
    fig.update_yaxes(title_text=_("LTV:CAC (log scale)") if log else _("LTV:CAC"), showgrid=False)
    title, subtitle = _trend_title(rows, dim, band_edges, has_interval, _cac_words(cac_column))
    if target is not None:
        fig.add_hline(y=target, line={"color": INK, "dash": "dash", "width": 1.5}, layer="above", name=_("Target"))
        fig.add_annotation(text=_("target {ratio}").format(ratio=formats.threshold(target)), x=1.0,
                           xref="x domain", xanchor="right", y=math.log10(target) if log else target, yref="y",
                           yanchor="bottom", showarrow=False, font={"color": INK, "size": 11})
        subtitle += " " + _("Dashed: the target, {ratio}.").format(ratio=formats.threshold(target))
    fig.update_layout(title={"text": title, "subtitle": {"text": subtitle}})
    _marked(fig, axis, marks)
    return fig


def _trend_title(rows: pl.DataFrame, dim: str | None, edges: tuple[float, ...],
                 has_interval: bool, cac_words: str | None = None) -> tuple[str, str]:
    latest = _latest_known(rows, "ltv_cac")
    label = str(latest.get_column("period_label")[0])
    cac = cac_words or _cac_words("cac")
    shading = _("Shaded: health bands; around each line: the LTV interval") if has_interval \
        else _("Shaded: health bands")
    if dim is None:
        ratio = latest.get_column("ltv_cac")[0]
        return (_("LTV:CAC is {ratio} in {period}: {band}").format(
                    ratio=formats.ratio(ratio, edges), period=label, band=band_words(band_of(ratio, edges))),
                _("LTV (gross margin) / {cac} per period. {shading}.").format(cac=cac, shading=shading))
    ranked = latest.sort("ltv_cac", descending=True)
    names = [literal.chart(v) for v in ranked.get_column(dim).to_list()]
    ratios = ranked.get_column("ltv_cac").to_list()
    if len(names) == 1:
        title = _("LTV:CAC is {ratio} for {name} in {period}: {band}").format(
            ratio=formats.ratio(ratios[0], edges), name=names[0], period=label,
            band=band_words(band_of(ratios[0], edges)))
    else:
        title = _("LTV:CAC in {period}: {best} highest at {best_ratio} ({best_band}), {worst} lowest at "
                  "{worst_ratio} ({worst_band})").format(
            period=label, best=names[0], best_ratio=formats.ratio(ratios[0], edges),
            best_band=band_words(band_of(ratios[0], edges)), worst=names[-1],
            worst_ratio=formats.ratio(ratios[-1], edges), worst_band=band_words(band_of(ratios[-1], edges)))
    return title, _("LTV (gross margin) / {cac} per period and {dimension}. {shading}.").format(
        cac=cac, dimension=_(DIMENSION_WORDS.get(dim, dim)), shading=shading)


DIMENSION_WORDS = {"channel": N_("channel"), "segment": N_("segment")}
"""A breakdown's name in a sentence, in the language."""


# ---------------------------------------------------------------------------------------------
# Where to invest: channel (or segment) efficiency
# ---------------------------------------------------------------------------------------------


LABEL_SIZE = 12
"""Font size of a scatter's point and line labels."""
LABEL_CHARS = 24
"""A point label's most characters; a longer name is cut with "…" (the hover has it whole)."""
LABEL_PLOT = (520.0, 200.0)
"""The plot area, in pixels, a scatter's labels are placed for: about the smallest it is drawn at
(the board pack's 640 x 420 px column). Drawn larger, the points only move further apart while
labels and markers keep their size, so labels clear here stay clear."""
_POINT_POSITIONS = ("top center", "bottom center", "middle right", "middle left", "top right", "top left",
                    "bottom right", "bottom left")
_Box = tuple[float, float, float, float]


class _LabelPlane:
    """Greedy label placement on a scatter: each label goes to the first of Plotly's text positions
    around its point where it stays inside the plot and covers no other label and no other point's
    marker. Positions are in pixels of a plot of ``LABEL_PLOT`` (y down), Plotly's offsets included."""

    def __init__(self, log: bool, x_range: tuple[float, float], y_range: tuple[float, float]) -> None:
        self.log, self.x_range, self.y_range = log, x_range, y_range
        self.markers: list[tuple[float, float, float]] = []
        self.boxes: list[_Box] = []

    def _axis(self, value: float, low: float, high: float, size: float) -> float:
        if self.log:
            value, low, high = math.log10(value), math.log10(low), math.log10(high)
        return (value - low) / (high - low) * size if high > low else size / 2

    def pixel(self, x: float, y: float) -> tuple[float, float]:
        width, height = LABEL_PLOT
        return (self._axis(x, *self.x_range, width), height - self._axis(y, *self.y_range, height))

    def add_marker(self, x: float, y: float, radius: float) -> None:
        self.markers.append((*self.pixel(x, y), radius))

    @staticmethod
    def box(cx: float, cy: float, radius: float, text: str, position: str) -> _Box:
        """Where Plotly draws ``text`` at ``position`` around a marker of ``radius`` px: it moves the
        text off the marker by radius / 0.8 + 1 (``Drawing.textPointPosition``)."""
        size = LABEL_SIZE
        width = len(_shown(text)) * 0.6 * size + 2
        offset = radius / 0.8 + 1 if radius else 0.0
        vertical, horizontal = position.split()
        baseline = cy + {"top": -0.25 * size - offset, "bottom": 0.75 * size + offset, "middle": 0.25 * size}[vertical]
        left = {"left": cx - offset - width, "right": cx + offset, "center": cx - width / 2}[horizontal]
        return (left, baseline - 0.92 * size, left + width, baseline + 0.22 * size)

    def fits(self, box: _Box, own: int | None = None) -> bool:
        left, top, right, bottom = box
        width, height = LABEL_PLOT
        if left < 2 or top < 2 or right > width - 2 or bottom > height - 2:
            return False
        if any(left < b[2] + 2 and b[0] < right + 2 and top < b[3] + 1 and b[1] < bottom + 1 for b in self.boxes):
            return False
        for index, (cx, cy, radius) in enumerate(self.markers):
            if index == own or not radius:
                continue
            nx, ny = min(max(cx, left), right), min(max(cy, top), bottom)
            if (nx - cx) ** 2 + (ny - cy) ** 2 < (radius + 2) ** 2:
                return False
        return True

    def place_line_label(self, text: str, start: float, end: float, multiple: float) -> tuple[float, str]:
        """A point on the line LTV = multiple x CAC, from ``start`` to ``end`` in CAC, and the side
        of it for the line's label: near the line's end, above it or below it, clear of the markers."""
        for share in (0.97, 0.88, 0.78, 0.66, 0.54, 0.42):
            if self.log:
                at = 10 ** (math.log10(start) + share * (math.log10(end) - math.log10(start)))
            else:
                at = start + share * (end - start)
            for position in ("top left", "bottom right"):
                box = self.box(*self.pixel(at, multiple * at), 0.0, text, position)
                if self.fits(box):
                    self.boxes.append(box)
                    return at, position
        return end, "top left"

    def _leader_box(self, cx: float, cy: float, radius: float, text: str, direction: tuple[int, int],
                    gap: float) -> tuple[float, float, _Box]:
        """A label ``gap`` px beyond a marker's edge in ``direction``, joined to it by a line: its
        centre's offset from the point (Plotly's ``ax``, ``ay``) and its box."""
        width, height = len(_shown(text)) * 0.6 * LABEL_SIZE + 6, 1.3 * LABEL_SIZE + 4
        dx = direction[0] * (radius + gap + width / 2)
        dy = direction[1] * (radius + gap + height / 2)
        x, y = cx + dx, cy + dy
        return dx, dy, (x - width / 2, y - height / 2, x + width / 2, y + height / 2)

    def place_point_labels(self, names: Sequence[str]) -> list[str | tuple[float, float] | None]:
        """A place for each marker's label, in marker order: a text position next to it, else an
        offset (``ax``, ``ay`` in px) for a label further away with a leader line, else None."""
        def crowd(index: int) -> tuple[int, float]:
            cx, cy, radius = self.markers[index]
            near = sum(1 for x, y, _radius in self.markers if (x - cx) ** 2 + (y - cy) ** 2 < 120.0**2)
            return (-near, -radius)

        chosen: list[str | tuple[float, float] | None] = [None] * len(names)
        later: list[int] = []
        for index in sorted(range(len(names)), key=crowd):
            cx, cy, radius = self.markers[index]
            for position in _POINT_POSITIONS:
                box = self.box(cx, cy, radius, names[index], position)
                if self.fits(box, own=index):
                    self.boxes.append(box)
                    chosen[index] = position
                    break
            else:
                later.append(index)
        for index in later:  # once every label that fits beside its point has its place
            cx, cy, radius = self.markers[index]
            for gap in (12.0, 26.0, 40.0, 56.0, 72.0):
                for direction in ((0, -1), (0, 1), (-1, 0), (1, 0), (-1, -1), (1, -1), (-1, 1), (1, 1)):
                    dx, dy, box = self._leader_box(cx, cy, radius, names[index], direction, gap)
                    if self.fits(box, own=index):
                        self.boxes.append(box)
                        chosen[index] = (dx, dy)
                        break
                if chosen[index] is not None:
                    break
        return chosen


def _cac_words(cac_column: str) -> str:
    """The name of the CAC in a column: S&M CAC includes sales costs, fully loaded CAC does not."""
    return _("S&M CAC") if cac_column == "cac_sm" else _("fully loaded CAC")


@_fitted
def channel_efficiency(rows: pl.DataFrame, dimension: str = "channel",
                       edges: Sequence[float] | None = None, cac_column: str = "cac",
                       currency: str = DEFAULT_CURRENCY) -> go.Figure:
    """LTV against fully loaded CAC per channel (or segment) for the latest period in ``rows``.

    With ``cac_column="cac_sm"`` (rows whose ratios are on S&M CAC) x is S&M CAC and the
    bubbles S&M spend.

    x = ``cac``, y = ``ltv``, bubble area = ``spend``, colour = health band (the ``band``
    column, or recomputed from ``edges`` when given). Points above the 1x diagonal create
    value; above 3x they are healthy. Values without both a CAC and an LTV are listed, not
    plotted. Required columns: cac, ltv; optional: period, period_label, spend, ltv_cac, band,
    new_customers, ``dimension``.
    """
    band_edges = check_band_edges(tuple(edges)) if edges is not None else None
    words = _cac_words(cac_column)[:1].upper() + _cac_words(cac_column)[1:]
    spend_column = "spend_sm" if cac_column == "cac_sm" else "spend"
    if rows.is_empty() or _all_null(rows, [cac_column, "ltv"]):
        return empty_figure(_("LTV against CAC"))
    _require(rows, [cac_column, "ltv"], "channel_efficiency")
    if "period" in rows.columns:
        rows = _labelled(rows).filter(pl.col("period") == pl.col("period").max())
    label = str(rows.get_column("period_label")[0]) if "period_label" in rows.columns else ""
    points: list[dict[str, Any]] = []
    missing: list[str] = []
    for rec in rows.iter_rows(named=True):
        name = literal.chart(rec[dimension]) if rec.get(dimension) is not None else (_label_of(rec) or _("All"))
        cac, ltv = _float(rec[cac_column]), _float(rec["ltv"])
        if cac is None or ltv is None or cac <= 0:
            missing.append(name)
            continue
        ratio = _float(rec.get("ltv_cac"))
        ratio = ratio if ratio is not None else ltv / cac
        band = band_of(ratio, band_edges) if band_edges is not None else rec.get("band", band_of(ratio))
        points.append({"name": name, "cac": cac, "ltv": ltv, "ratio": ratio, "band": band,
                       "spend": _float(rec.get(spend_column)), "raw": rec})
    if not points:
        where = label or _("this selection")
        return empty_figure(_("LTV against CAC"), _(
            "{no_data}: no {dimension} has both a CAC and an LTV in {where}").format(
            no_data=_(NO_DATA), dimension=_(DIMENSION_WORDS.get(dimension, dimension)), where=where))
    fig = _figure("")
    cacs, ltvs = [p["cac"] for p in points], [p["ltv"] for p in points]
    # A log-log view when values span an order of magnitude: the LTV = k x CAC diagonals stay
    # straight and small channels stop piling up in a corner.
    log = len(points) > 1 and min(ltvs) > 0 and (max(cacs) / min(cacs) > 8 or max(ltvs) / min(ltvs) > 8)
    if log:
        x_low, x_high = min(cacs) / 1.8, max(cacs) * 1.8
        y_low, y_high = min(min(ltvs), min(cacs)) / 1.8, max(max(ltvs), max(cacs)) * 1.8
    else:
        x_low, x_high = 0.0, max(cacs) * 1.2
        y_low, y_high = min(0.0, min(ltvs) * 1.2), max(max(ltvs) * 1.2, x_high * 1.05)
    spends = [p["spend"] for p in points if p["spend"] is not None and p["spend"] > 0]
    size_ref = 2.0 * max(spends) / 60.0**2 if spends else 1.0
    plane = _LabelPlane(log, (x_low, x_high), (y_low, y_high))
    for p in points:
        # Plotly's bubble radius in pixels: sqrt(size / 2 / sizeref), at least sizemin (8)
        spend = p["spend"] if p["spend"] and p["spend"] > 0 else 0.0
        plane.add_marker(p["cac"], p["ltv"], max(math.sqrt(spend / 2.0 / size_ref), 8.0) if spend else 0.0)
    for multiple, dash in ((1.0, "dash"), (3.0, "dot")):
        start = max(x_low, y_low / multiple) if log else 0.0
        end = min(x_high, y_high / multiple)
        at, position = plane.place_line_label(f"{multiple:g}x", start, end, multiple)
        fig.add_trace(go.Scatter(
            x=[start, at, end], y=[multiple * start, multiple * at, multiple * end], mode="lines+text",
            hoverinfo="skip", name=(_("LTV = {multiple} CAC (break-even)") if multiple == 1 else
                                    _("LTV = {multiple} CAC")).format(multiple=formats.threshold(multiple)),
            line={"color": MUTED, "dash": dash, "width": 1.2}, text=["", f"{multiple:g}x", ""],
            textposition=position, textfont={"color": MUTED, "size": LABEL_SIZE}, cliponaxis=False,
        ))
    for p in points:
        p["label"] = shorten(p["name"], LABEL_CHARS)  # the whole name is in the hover
    positions = plane.place_point_labels([p["label"] for p in points])
    unlabelled = [p["label"] for p, spot in zip(points, positions, strict=True) if spot is None]
    for p, spot, (_x, _y, radius) in zip(points, positions, plane.markers, strict=True):
        p["position"] = spot if isinstance(spot, str) else None
        if isinstance(spot, tuple):  # no room beside the point: the label further off, with a line to it
            fig.add_annotation(x=math.log10(p["cac"]) if log else p["cac"], y=math.log10(p["ltv"]) if log else p["ltv"],
                               xref="x", yref="y", text=p["label"], ax=spot[0], ay=spot[1], showarrow=True,
                               arrowhead=0, arrowwidth=1, arrowcolor=MUTED, standoff=radius + 1,
                               font={"size": LABEL_SIZE, "color": INK})
    for band in (*BAND_LABELS, None):
        members = [p for p in points if p["band"] == band]
        if not members:
            continue
        fig.add_trace(go.Scatter(
            x=[p["cac"] for p in members], y=[p["ltv"] for p in members], mode="markers+text",
            name=band_words(band) if band else _("no band"),
            text=[p["label"] if p["position"] else "" for p in members],
            textposition=[p["position"] or "top center" for p in members], cliponaxis=False,
            textfont={"size": LABEL_SIZE, "color": INK},
            marker={"color": BAND_COLORS[band] if band else NO_BAND_COLOR, "opacity": 0.85,
                    "size": [p["spend"] if p["spend"] and p["spend"] > 0 else 0.0 for p in members],
                    "sizemode": "area", "sizeref": size_ref, "sizemin": 8, "line": {"color": "white", "width": 1}},
            customdata=[[p["name"], formats.money(p["raw"][cac_column], currency),
                         formats.money(p["raw"]["ltv"], currency), formats.ratio(p["ratio"]), band_words(p["band"]),
                         formats.money(p["raw"].get(spend_column), currency),
                         formats.count(p["raw"].get("new_customers"))] for p in members],
            hovertemplate=(f"<b>%{{customdata[0]}}</b><br>{words} %{{customdata[1]}}<br>" + _(
                "LTV {ltv}<br>LTV:CAC {ratio} ({band})<br>Spend {spend} · {customers} new customers").format(
                ltv="%{customdata[2]}", ratio="%{customdata[3]}", band="%{customdata[4]}", spend="%{customdata[5]}",
                customers="%{customdata[6]}") + "<extra></extra>"),
        ))
    ranked = sorted(points, key=lambda p: p["ratio"], reverse=True)
    ratio_edges = band_edges or DEFAULT_BAND_EDGES
    best, worst = ranked[0], ranked[-1]
    if len(ranked) == 1:
        title = _("{name}: LTV:CAC {ratio}").format(name=best["name"], ratio=formats.ratio(best["ratio"], ratio_edges))
    else:
        title = (_("{best} is the most efficient channel at {best_ratio} LTV:CAC; {worst} the least at {worst_ratio}")
                 if dimension == "channel" else
                 _("{best} is the most efficient segment at {best_ratio} LTV:CAC; {worst} the least at {worst_ratio}")
                 ).format(best=best["name"], best_ratio=formats.ratio(best["ratio"], ratio_edges), worst=worst["name"],
                          worst_ratio=formats.ratio(worst["ratio"], ratio_edges))
    # the y axis title is kept short to fit the height of a chart in the board pack: the subtitle
    # says what LTV is
    subtitle = (_("LTV is gross margin; bubble area = S&M spend; colour = health band") if cac_column == "cac_sm"
                else _("LTV is gross margin; bubble area = fully loaded spend; colour = health band"))
    if label:
        subtitle = f"{label}: {subtitle}"
    if missing:
        subtitle = formats.clauses([subtitle, _("n/a (no CAC or LTV): {names}").format(names=", ".join(missing))])
    if unlabelled:
        subtitle = formats.clauses([subtitle, _("no room to label (hover for them): {names}").format(
            names=", ".join(unlabelled))])
    fig.update_layout(title={"text": title, "subtitle": {"text": subtitle}})
    if log:
        fig.update_xaxes(title_text=_("{cac} per new customer (log scale)").format(cac=words), type="log",
                         range=[math.log10(x_low), math.log10(x_high)], **_log_money_ticks(x_low, x_high, currency))
        fig.update_yaxes(title_text=_("LTV per customer (log scale)"), type="log",
                         range=[math.log10(y_low), math.log10(y_high)], **_log_money_ticks(y_low, y_high, currency))
    else:
        fig.update_xaxes(title_text=_("{cac} per new customer").format(cac=words), **_money_axis(currency),
                         range=[x_low, x_high])
        fig.update_yaxes(title_text=_("LTV per customer"), **_money_axis(currency),
                         range=[y_low, y_high])
    return fig


def _log_money_ticks(low: float, high: float, currency: str) -> dict[str, Any]:
    """Ticks at 1-2-5 steps for a money log axis, labelled $200, $1K, $50K."""
    values = [m * 10.0**k for k in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
              for m in (1, 2, 5) if low <= m * 10.0**k <= high]
    sign = formats.symbol(currency)
    text = [f"{sign}{v / 1e6:g}M" if v >= 1e6 else f"{sign}{v / 1e3:g}K" if v >= 1e3 else f"{sign}{v:g}"
            for v in values] if formats.language_is_default() else \
        [formats.money_tick(v, currency) for v in values]
    return {"tickvals": values, "ticktext": text}


# ---------------------------------------------------------------------------------------------
# Why CAC is what it is: the fully loaded waterfall and spend by category
# ---------------------------------------------------------------------------------------------


@_fitted
def cac_waterfall(row: Mapping[str, Any] | pl.DataFrame, include_sales: bool = False,
                  currency: str = DEFAULT_CURRENCY) -> go.Figure:
    """From media-only CAC, category by category, to fully loaded CAC (and to S&M CAC).

    Each step is that category's spend / new customers of the period, so the steps add up
    exactly to fully loaded CAC = marketing spend / new customers (and, with sales, to
    ``cac_sm``). Categories with no spend are left out. A DataFrame gives its latest row.
    Required keys: new_customers, spend_<category> for ``MARKETING_CATEGORIES`` (and sales).
    """
    rec = _row_of(row)
    title = _("Fully loaded CAC")
    if rec is None:
        return empty_figure(title)
    label = _label_of(rec)
    keys = [*MARKETING_CATEGORIES, *(["sales"] if include_sales else [])]
    spends = {k: _decimal(rec.get(f"spend_{k}")) for k in keys}
    if all(v is None for v in spends.values()):
        return empty_figure(title)
    customers = _float(rec.get("new_customers"))
    if customers is None or customers <= 0:
        return empty_figure(title, (_("{no_data}: no new customers in {period}, so CAC is n/a") if label else
                                    _("{no_data}: no new customers, so CAC is n/a")).format(no_data=_(NO_DATA),
                                                                                          period=label))
    count = Decimal(int(customers))
    per = {k: (v or Decimal(0)) / count for k, v in spends.items()}
    labels = {c.key: _(c.label) for c in COST_CATEGORIES}
    media = per[MEDIA_CATEGORY]
    fully_loaded = sum((per[k] for k in MARKETING_CATEGORIES), Decimal(0))
    customers_text = _("{customers} new customers").format(customers=formats.count(count))
    steps: list[tuple[str, Decimal, str, str]] = [
        (_("Media-only CAC"), media, "absolute",
         f"{labels[MEDIA_CATEGORY]} {formats.money(spends[MEDIA_CATEGORY] or 0, currency)} / {customers_text}"),
    ]
    for key in MARKETING_CATEGORIES:
        if key != MEDIA_CATEGORY and per[key] != 0:
            steps.append((labels[key], per[key], "relative",
                          f"{formats.money(spends[key], currency)} / {customers_text}"))
    total_spend = sum((spends[k] or Decimal(0) for k in MARKETING_CATEGORIES), Decimal(0))
    steps.append((_("Fully loaded CAC"), fully_loaded, "total",
                  _("Marketing spend {amount}").format(amount=formats.money(total_spend, currency))
                  + f" / {customers_text}"))
    sales_and_marketing = fully_loaded + per.get("sales", Decimal(0))
    if include_sales:
        steps.append((labels["sales"], per["sales"], "relative",
                      f"{formats.money(spends['sales'] or 0, currency)} / {customers_text}"))
        steps.append((_("Sales & marketing CAC"), sales_and_marketing, "total",
                      _("S&M spend {amount}").format(amount=formats.money(total_spend + (spends["sales"] or 0),
                                                                          currency)) + f" / {customers_text}"))
    fig = _figure("")
    fig.add_trace(go.Waterfall(
        x=[s[0] for s in steps], y=[float(s[1]) for s in steps], measure=[s[2] for s in steps],
        text=[("+" if s[2] == "relative" and s[1] >= 0 else "") + formats.money(s[1], currency) for s in steps],
        textposition="outside", cliponaxis=False, connector={"line": {"color": "#CBD5E1", "width": 1}},
        increasing={"marker": {"color": STEP_COLOR}}, decreasing={"marker": {"color": "#CBD5E1"}},
        totals={"marker": {"color": LEVEL_COLOR}},
        customdata=[s[3] for s in steps],
        hovertemplate="<b>%{x}</b><br>" + _("{amount} per new customer").format(amount="%{text}")
        + "<br>%{customdata}<extra></extra>",
        name="CAC",
    ))
    if media > 0:
        title = _("Fully loaded CAC is {ratio} media-only CAC").format(ratio=formats.ratio(fully_loaded / media))
    else:
        title = _("Fully loaded CAC is {amount}, with no media spend").format(
            amount=formats.money(fully_loaded, currency))
    subtitle = _("{media} media-only → {fully_loaded} fully loaded per new customer").format(
        media=formats.money(media, currency), fully_loaded=formats.money(fully_loaded, currency))
    if label:
        subtitle = f"{label}: {subtitle}"
    if include_sales:
        subtitle += " → " + _("{amount} with sales").format(amount=formats.money(sales_and_marketing, currency))
    fig.update_layout(title={"text": title, "subtitle": {"text": subtitle}}, showlegend=False)
    fig.update_yaxes(title_text=_("Per new customer"), **_money_axis(currency), rangemode="tozero")
    fig.update_xaxes(tickangle=-30)
    return fig


@_fitted
def spend_by_category(rows: pl.DataFrame, include_sales: bool = False, currency: str = DEFAULT_CURRENCY,
                      marks: Sequence[Mark] = ()) -> go.Figure:
    """Fully loaded spend per period, stacked by cost category.

    Rows split by channel or segment are summed per period first. With ``include_sales``
    the sales line is stacked on top (the sales-and-marketing view).
    Required columns: period, spend_<category> for ``MARKETING_CATEGORIES`` (and sales).
    """
    keys = [*MARKETING_CATEGORIES, *(["sales"] if include_sales else [])]
    columns = [f"spend_{k}" for k in keys]
    title = _("Spend by category")
    if rows.is_empty() or _all_null(rows, columns):
        return empty_figure(title)
    _require(rows, ["period", *columns], "spend_by_category")
    rows = _labelled(rows)
    totals = (rows.group_by("period", "period_label")
              .agg([pl.col(c).cast(pl.Float64).sum() for c in columns])
              .sort("period")
              .with_columns(total=pl.sum_horizontal(columns)))
    axis = [str(v) for v in totals.get_column("period_label").to_list()]
    period_total = _floats(totals.get_column("total"))
    labels = {c.key: _(c.label) for c in COST_CATEGORIES}
    fig = _figure("")
    for key, column in zip(keys, columns, strict=True):
        values = _floats(totals.get_column(column))
        if not any(values):
            continue
        shares = [formats.percent(v / t) if v is not None and t else formats.na()
                  for v, t in zip(values, period_total, strict=True)]
        fig.add_trace(go.Bar(
            x=axis, y=values, name=labels[key], marker={"color": CATEGORY_COLORS[key]}, customdata=shares,
            hovertemplate=f"{labels[key]}: " + _("{amount} ({share} of spend)").format(
                amount=_money_hover(currency), share="%{customdata}") + "<extra></extra>",
        ))
    # Each total over its bar, where there is room: every k-th period back from the latest, at most
    # about twelve (``TOTAL_LABEL_CHARS``); every total is still in the hover.
    written = [formats.money_compact(v, currency) for v in period_total]
    labelled = set(period_ticks(axis, TOTAL_LABEL_CHARS, max(len(t) for t in written)))
    fig.add_trace(go.Scatter(
        x=axis, y=period_total, mode="text", cliponaxis=False,
        text=[t if label in labelled else "" for label, t in zip(axis, written, strict=True)],
        textposition="top center",
        textfont={"size": 11, "color": MUTED}, name=_("Total"), showlegend=False,
        hovertemplate="<b>" + _("Total: {amount}").format(amount=_money_hover(currency)) + "</b><extra></extra>",
    ))
    known = [v for v in period_total if v is not None]
    latest = totals.row(-1, named=True)
    total = latest["total"]
    if total:
        top = max(keys, key=lambda k: latest[f"spend_{k}"] or 0.0)
        def share(key: str) -> str:
            return formats.percent((latest[f"spend_{key}"] or 0) / total, places=0)

        words = {"category": labels[top], "period": latest["period_label"], "share": share(top),
                 "total": formats.money_compact(total, currency)}
        title = (_("{category} is the largest cost in {period}: {share} of {total} S&M spend") if include_sales else
                 _("{category} is the largest cost in {period}: {share} of {total} marketing spend")).format(**words)
        subtitle = _("Marketing technology {martech} and personnel {personnel} of {period} spend").format(
            martech=share("martech"), personnel=share("personnel"), period=latest["period_label"])
    else:
        title = (_("No S&M spend in {period}") if include_sales else _("No marketing spend in {period}")).format(
            period=latest["period_label"])
        subtitle = ""
    fig.update_layout(title={"text": title, "subtitle": {"text": subtitle}}, barmode="stack", hovermode="x unified")
    _category_axis(fig, axis)
    # headroom over the tallest bar for its total
    prefix, _digits, suffix = formats.d3_money(currency, 0)
    fig.update_yaxes(title_text=_("Spend"), tickprefix=prefix, ticksuffix=suffix, tickformat="~s", rangemode="tozero",
                     range=[min(0.0, *known), max(0.0, *known) * 1.12] if known else None)
    _marked(fig, axis, marks)
    return fig


@_fitted
def cac_by_dimension(rows: pl.DataFrame, dimension: str = "channel", currency: str = DEFAULT_CURRENCY,
                     marks: Sequence[Mark] = (), targets: Sequence[tuple[str, float]] = ()) -> go.Figure:
    """Fully loaded CAC per period, one line per channel or segment (one line without one).

    ``cac`` = fully loaded spend / new customers of that period and value; a period
    without new customers is a gap. Required columns: period, cac; optional: spend,
    new_customers, period_label, ``dimension``.
    """
    title = (_("Fully loaded CAC by channel") if dimension == "channel" else _("Fully loaded CAC by segment"))
    if rows.is_empty() or _all_null(rows, ["cac"]):
        return empty_figure(title)
    _require(rows, ["period", "cac"], "cac_by_dimension")
    rows = _labelled(rows)
    axis = _period_axis(rows)
    dim = dimension if dimension in rows.columns else None
    fig = _figure("")
    for index, (name, series) in enumerate(_series(rows, dim)):
        frame = _aligned(series, axis)
        spend = frame.get_column("spend").to_list() if "spend" in frame.columns else [None] * len(axis)
        customers = (frame.get_column("new_customers").to_list() if "new_customers" in frame.columns
                     else [None] * len(axis))
        label = name or _("Fully loaded CAC")
        fig.add_trace(go.Scatter(
            x=axis, y=_floats(frame.get_column("cac")), mode="lines+markers", name=label, connectgaps=False,
            line={"color": _color(index) if dim else INK, "width": 2}, marker={"size": 6},
            customdata=[[formats.money(s, currency), formats.count(c)] for s, c in zip(spend, customers, strict=True)],
            hovertemplate=(f"%{{fullData.name}}: <b>{_money_hover(currency)}</b> ("
                           + _("{spend} / {customers} new customers").format(spend="%{customdata[0]}",
                                                                            customers="%{customdata[1]}")
                           + ")<extra></extra>"),
        ))
    goals = {channel_name_key(name): amount for name, amount in targets}
    for index, (name, _series_rows) in enumerate(_series(rows, dim)):
        goal = goals.get(channel_name_key(html.unescape(name))) if dim == "channel" and name else None
        if goal is None:
            continue
        fig.add_trace(go.Scatter(
            x=axis, y=[goal] * len(axis), mode="lines", name=_("{name} target").format(name=name),
            line={"color": _color(index), "width": 1.5, "dash": "dash"}, showlegend=True,
            hovertemplate="%{fullData.name}: " + formats.money(goal, currency) + "<extra></extra>"))
    latest = _latest_known(rows, "cac").sort("cac")
    period = latest.get_column("period_label")[0]
    if dim and latest.height > 1:
        names = [literal.chart(v) for v in latest.get_column(dim).to_list()]
        values = latest.get_column("cac").to_list()
        title = _("Fully loaded CAC in {period}: lowest {lowest} ({low}), highest {highest} ({high})").format(
            period=period, lowest=names[0], low=formats.money(values[0], currency), highest=names[-1],
            high=formats.money(values[-1], currency))
    else:
        amount = formats.money(latest.get_column("cac")[0], currency)
        title = (_("Fully loaded CAC is {amount} for {name} in {period}").format(
                     amount=amount, name=literal.chart(latest.get_column(dim)[0]), period=period) if dim else
                 _("Fully loaded CAC is {amount} in {period}").format(amount=amount, period=period))
    fig.update_layout(title={"text": title, "subtitle": {"text": _("All marketing spend / new customers, per period")}},
                      hovermode="x unified",
                      legend_title_text=_(DIMENSION_WORDS.get(dimension, dimension)).capitalize() if dim else "")
    _category_axis(fig, axis)
    fig.update_yaxes(title_text=_("CAC per new customer"), **_money_axis(currency), rangemode="tozero")
    _marked(fig, axis, marks)
    return fig


# ---------------------------------------------------------------------------------------------
# Cost per lead and per acquisition, with the volumes behind them
# ---------------------------------------------------------------------------------------------


@_fitted
def cpl_cpa_history(rows: pl.DataFrame, dimension: str = "channel", volume: str = "leads",
                    currency: str = DEFAULT_CURRENCY, marks: Sequence[Mark] = ()) -> go.Figure:
    """The cost per unit of ``volume`` and CPA per channel over time, with the volume behind them as stacked bars.

    The cost of the volume shown: CPL = direct spend / leads, cost per visitor = direct spend /
    visitors, cost per event attendee = events spend / attendees (``VOLUME_COSTS``); CPA = direct
    spend / new customers; per period and channel (from ``finance.metrics.table``). Two panels
    share the time axis: the top one has the cost lines (money, left axis, named for the volume)
    over ``volume`` bars (leads, visitors or event_attendees) on a secondary, right-hand axis; the
    bottom one has CPA lines. CPA runs an order of magnitude above CPL, so one shared money axis
    would flatten the CPL lines. Rows without the volume's cost column get CPL, named as such.
    Required columns: period, cpl, cpa, ``volume``; optional: period_label, ``dimension``, the
    volume's cost column.
    """
    if volume not in VOLUMES:
        raise ValueError(f"unknown volume {volume!r}; valid: {', '.join(VOLUMES)}")
    cost, short = VOLUME_COSTS[volume]
    if cost not in rows.columns:
        cost, short = VOLUME_COSTS["leads"]
    short = _(short)
    title = _("{cost} and cost per acquisition").format(cost=_(measures.label(cost)))
    if rows.is_empty() or _all_null(rows, [cost, "cpa", volume]):
        return empty_figure(title)
    _require(rows, ["period", "cpl", "cpa", volume], "cpl_cpa_history")
    rows = _labelled(rows)
    axis = _period_axis(rows)
    dim = dimension if dimension in rows.columns else None
    volume_label = _(VOLUMES[volume])
    fig = _figure("")
    # Axes: y = volume bars (top panel, right side), y2 = the volume's cost (top panel, left side,
    # drawn over the bars because an overlaying axis is drawn last), y3 = CPA (bottom panel).
    costs: list[float] = []
    for index, (name, series) in enumerate(_series(rows, dim)):
        frame = _aligned(series, axis)
        color = _color(index) if dim else INK
        label = name or _("All")
        fig.add_trace(go.Bar(
            x=axis, y=_floats(frame.get_column(volume)), name=f"{label} {volume_label.lower()}", legendgroup=label,
            showlegend=False, marker={"color": _rgba(color, 0.25)}, xaxis="x", yaxis="y",
            hovertemplate=f"<b>%{{meta}} · %{{x}}</b><br>{volume_label}: %{{y:,}}<extra></extra>", meta=label,
        ))
        for metric, axis_name, words in ((cost, "y2", short), ("cpa", "y3", "CPA")):
            values = _floats(frame.get_column(metric))
            costs += [v for v in values if v is not None and metric == cost]
            fig.add_trace(go.Scatter(
                x=axis, y=values, mode="lines+markers", xaxis="x", yaxis=axis_name,
                name=label if metric == cost else f"{label} CPA", legendgroup=label, showlegend=metric == cost,
                connectgaps=False, line={"color": color, "width": 2}, marker={"size": 5},
                hovertemplate=f"<b>%{{meta}} · %{{x}}</b><br>{words}: {_money_hover(currency)}<extra></extra>",
                meta=label,
            ))
    money_axis = {**_money_axis(currency), "rangemode": "tozero", "gridcolor": GRID,
                  "automargin": True, "zeroline": False, "tickmode": "auto"}
    # a few dollars per visitor would read $0, $1, $1, $2 in whole amounts
    cost_axis = {**money_axis, "tickformat": formats.d3_money(currency, 2)[1]} if costs and max(costs) < 20 \
        else money_axis
    basis = (_("Cost per attendee on events spend, CPA on each channel's direct spend") if cost == "cost_per_attendee"
             else _("On each channel's direct spend"))
    fig.update_layout(
        title={"text": _cpl_cpa_title(rows, dim, currency, cost, short) or title,
               "subtitle": {"text": _("{basis}. Bars: {volume} (right axis).").format(
                   basis=basis, volume=volume_label.lower())}},
        barmode="stack", height=640,
        xaxis={"type": "category", "categoryorder": "array", "categoryarray": axis, "anchor": "y3",
               **_period_tick_layout(axis)},
        yaxis={"domain": [0.5, 1.0], "title": {"text": volume_label}, "side": "right", "showgrid": False,
               "rangemode": "tozero", "tickformat": "~s", "anchor": "x"},
        yaxis2={"domain": [0.5, 1.0], "overlaying": "y", "side": "left", "anchor": "x",
                "title": {"text": _(measures.label(cost))}, **cost_axis},
        yaxis3={"domain": [0.0, 0.42], "anchor": "x", "title": {"text": _(measures.label("cpa"))}, **money_axis},
        legend_title_text=_(DIMENSION_WORDS.get(dimension, dimension)).capitalize() if dim else "",
    )
    _marked(fig, axis, marks)
    return fig


def _cpl_cpa_title(rows: pl.DataFrame, dim: str | None, currency: str, cost: str = "cpl",
                   short: str = "CPL") -> str | None:
    """The latest period's CPA and cost of the volume shown (``cost``, called ``short``): whose is lowest."""
    latest = _latest_known(rows, "cpa")
    if latest.is_empty():
        latest = _latest_known(rows, cost)
        if latest.is_empty():
            return None
    period = latest.get_column("period_label")[0]
    if dim is None or latest.height == 1:
        rec = latest.row(0, named=True)
        words = {"cpa": formats.money(rec["cpa"], currency), "cost": short, "value": formats.money(rec[cost], currency),
                 "period": period, "name": literal.chart(rec[dim]) if dim else ""}
        return (_("CPA is {cpa} and {cost} {value} for {name} in {period}") if dim else
                _("CPA is {cpa} and {cost} {value} in {period}")).format(**words)
    lowest: dict[str, tuple[str, Any]] = {}
    only: dict[str, tuple[str, Any]] = {}  # a cost that one channel alone has (events spend per attendee)
    for metric in ("cpa", cost):
        known = latest.filter(pl.col(metric).is_not_null()).sort(metric)
        if known.height == 1 and metric not in ("cpa", "cpl"):
            only[metric] = (literal.chart(known.get_column(dim)[0]), known.get_column(metric)[0])
        elif not known.is_empty():
            lowest[metric] = (literal.chart(known.get_column(dim)[0]), known.get_column(metric)[0])
    if only and "cpa" in lowest:
        (who, value), (best, cpa) = only[cost], lowest["cpa"]
        return _("In {period}, {best} has the lowest CPA ({cpa}); {who} alone has a {cost}: {value}").format(
            period=period, best=best, cpa=formats.money(cpa, currency), who=who, cost=short,
            value=formats.money(value, currency))
    lowest.update(only)
    if not lowest:
        return None
    words = {"cpa": "CPA", cost: short}
    if "cpa" in lowest and cost in lowest and lowest["cpa"][0] == lowest[cost][0]:
        name = lowest["cpa"][0]
        return _("In {period}, {name} has the lowest CPA ({cpa}) and {cost} ({value})").format(
            period=period, name=name, cpa=formats.money(lowest["cpa"][1], currency), cost=short,
            value=formats.money(lowest[cost][1], currency))
    parts = [(who, words[metric], formats.money(value, currency)) for metric, (who, value) in lowest.items()]
    if len(parts) == 1:
        return _("In {period}, {name} has the lowest {cost} ({value})").format(
            period=period, name=parts[0][0], cost=parts[0][1], value=parts[0][2])
    return _("In {period}, {name} has the lowest {cost} ({value}) and {other} the lowest {other_cost} "
             "({other_value})").format(period=period, name=parts[0][0], cost=parts[0][1], value=parts[0][2],
                                       other=parts[1][0], other_cost=parts[1][1], other_value=parts[1][2])


# ---------------------------------------------------------------------------------------------
# Lifetime value: cohorts and curves
# ---------------------------------------------------------------------------------------------


@_fitted
def cohort_heatmap(matrix: pl.DataFrame, currency: str = DEFAULT_CURRENCY) -> go.Figure:
    """Cumulative gross margin per acquired customer by cohort (rows) and month (columns).

    From ``finance.ltv.base.cohort_margin_matrix``: ``cumulative_margin_per_customer`` at each
    observed ``age`` (0 = acquisition month, shown as month 1, as in payback months).
    Unobserved months are blank. Required columns: cohort, age,
    cumulative_margin_per_customer; optional: cohort_label, customers, margin_per_customer.
    """
    title = _("Cumulative gross margin per customer by cohort")
    if matrix.is_empty() or _all_null(matrix, ["cumulative_margin_per_customer"]):
        return empty_figure(title)
    _require(matrix, ["cohort", "age", "cumulative_margin_per_customer"], "cohort_heatmap")
    if "cohort_label" not in matrix.columns:
        matrix = matrix.with_columns(cohort_label=pl.col("cohort").cast(pl.String))
    matrix = matrix.filter(pl.col("age").is_not_null()).sort("cohort", "age")
    cohorts = matrix.select("cohort", "cohort_label").unique().sort("cohort")
    labels = [str(v) for v in cohorts.get_column("cohort_label").to_list()]
    ages = list(range(int(_float(matrix.get_column("age").max()) or 0) + 1))
    cells: dict[tuple[str, int], dict[str, Any]] = {
        (str(rec["cohort_label"]), int(rec["age"])): rec for rec in matrix.iter_rows(named=True)
    }
    z: list[list[float | None]] = []
    custom: list[list[list[str]]] = []
    for label in labels:
        z.append([_float(cells[(label, a)]["cumulative_margin_per_customer"]) if (label, a) in cells else None
                  for a in ages])
        custom.append([[formats.money(cells[(label, a)].get("margin_per_customer"), currency),
                        formats.count(cells[(label, a)].get("customers"))] if (label, a) in cells
                       else [formats.na(), formats.na()]
                       for a in ages])
    known = [v for line in z for v in line if v is not None]
    if not known:
        return empty_figure(title)
    fig = _figure("")
    fig.add_trace(go.Heatmap(
        z=z, x=[a + 1 for a in ages], y=labels, customdata=custom, hoverongaps=False,
        colorscale=[[0.0, "#F1F5F9"], [0.5, "#6FA8DC"], [1.0, "#1F3A5F"]],
        zmin=min(0.0, min(known)), zmax=max(known) if max(known) > 0 else 1.0,
        colorbar={"title": {"text": _("Per customer")}, **_money_axis(currency)},
        hovertemplate=("<b>" + _("Cohort {cohort}, month {month}").format(cohort="%{y}", month="%{x}") + "</b><br>"
                       + _("Cumulative margin per customer {amount}").format(amount=_money_hover(currency, "z"))
                       + "<br>" + _("That month {amount} · cohort of {customers} customers").format(
                           amount="%{customdata[0]}", customers="%{customdata[1]}") + "<extra></extra>"),
        xgap=1, ygap=1,
    ))
    title = _cohort_title(z, labels, ages, currency) or title
    fig.update_layout(title={"text": title, "subtitle": {
        "text": _("Observed gross margin per acquired customer, cumulative; blank: not yet observed")}})
    fig.update_xaxes(title_text=_("Months since acquisition (1 = acquisition month)"),
                     dtick=3 if len(ages) > 12 else 1, showgrid=False)
    # a row of 13 px labels needs about 18 px: twelve fit the plot of a 450 px tall chart
    cohort_ticks = period_ticks(labels, most=12)
    fig.update_yaxes(title_text=_("Acquisition cohort"), type="category", autorange="reversed", showgrid=False,
                     tickmode="array", tickvals=cohort_ticks, ticktext=cohort_ticks)
    return fig


def _cohort_title(z: list[list[float | None]], labels: list[str], ages: list[int], currency: str) -> str | None:
    """Compare cohorts at the same age: 12 months if any cohort has it, else the oldest age seen."""
    month = 12 if len(ages) >= 12 else len(ages)
    at_month: list[tuple[str, float]] = [(labels[i], value) for i, line in enumerate(z)
                                         if (value := line[month - 1]) is not None]
    if not at_month:
        return None
    if len(at_month) == 1:
        only, value = at_month[0]
        return _("After {months} months, the {cohort} cohort has returned {amount} per customer").format(
            months=month, cohort=only, amount=formats.money(value, currency))
    low = min(at_month, key=lambda item: item[1])
    high = max(at_month, key=lambda item: item[1])
    return _("After {months} months, cohorts have returned {low} ({low_cohort}) to {high} ({high_cohort}) of gross "
             "margin per customer").format(months=month, low=formats.money(low[1], currency), low_cohort=low[0],
                                           high=formats.money(high[1], currency), high_cohort=high[0])


@_fitted
def ltv_curves(rows: pl.DataFrame, cac: Decimal | float | None = None, currency: str = DEFAULT_CURRENCY) -> go.Figure:
    """Cumulative expected gross margin per acquired customer by month, one line per period.

    y at month m = sum of ``curve`` over months 1..m (the curve's first value is the
    acquisition month), undiscounted as in ``finance.ltv.base.payback_months``. With ``cac``, a
    horizontal line at the CAC: the latest curve's payback is where it crosses.
    Required columns: curve; optional: period, period_label.
    """
    title = _("Expected cumulative gross margin per customer")
    if rows.is_empty() or "curve" not in rows.columns:
        return empty_figure(title)
    rows = _labelled(rows) if "period" in rows.columns else rows
    curves: list[tuple[str, list[float | None]]] = []
    for rec in rows.iter_rows(named=True):
        values = rec["curve"]
        if not values:
            continue
        cumulative: list[float | None] = []
        running: float | None = 0.0
        for value in values:
            step = _float(value)
            running = running + step if running is not None and step is not None else None
            cumulative.append(running)
        if any(v is not None for v in cumulative):
            curves.append((_label_of(rec) or _("Row {number}").format(number=len(curves) + 1), cumulative))
    if not curves:
        return empty_figure(title)
    fig = _figure("")
    ramp = ("#C6DBEF", "#9ECAE1", "#6BAED6", "#4292C6", "#2171B5", "#08519C", "#08306B")
    for index, (name, cumulative) in enumerate(curves):
        latest = index == len(curves) - 1
        color = ramp[-1] if latest else ramp[max(0, len(ramp) - 1 - (len(curves) - 1 - index))]
        fig.add_trace(go.Scatter(
            x=list(range(1, len(cumulative) + 1)), y=cumulative, mode="lines", name=name, connectgaps=False,
            line={"color": color, "width": 3 if latest else 1.8},
            hovertemplate=("<b>" + _("{name}, month {month}").format(name=name, month="%{x}") + "</b><br>"
                           + _("Cumulative margin per customer {amount}").format(amount=_money_hover(currency))
                           + "<extra></extra>"),
        ))
    latest_name, latest_curve = curves[-1]
    horizon = len(latest_curve)
    last = rows.row(-1, named=True)
    band_low, band_high = last.get("cumulative_low"), last.get("cumulative_high")
    if band_low and band_high and len(band_low) == horizon:
        # the model's interval around the latest cohort's curve, shaded between its bounds
        months = list(range(1, horizon + 1))
        fig.add_trace(go.Scatter(x=months, y=_floats(band_high), mode="lines", line={"width": 0},
                                 showlegend=False, hoverinfo="skip",
                                 name=_("{label}, high end of range").format(label=latest_name)))
        fig.add_trace(go.Scatter(x=months, y=_floats(band_low), mode="lines", line={"width": 0}, fill="tonexty",
                                 fillcolor=_rgba(ramp[-1], 0.15),
                                 name=_("{name} interval").format(name=latest_name),
                                 hovertemplate="<b>" + _("{name}, month {month}").format(name=latest_name, month="%{x}")
                                 + "</b><br>" + _("Interval low {amount}").format(amount=_money_hover(currency))
                                 + "<extra></extra>"))
    cac_value = _float(cac)
    if cac_value is None:
        final = next((v for v in reversed(latest_curve) if v is not None), None)
        title = _("{name} customers are expected to return {amount} of gross margin in {months} months").format(
            name=latest_name, amount=formats.money(final, currency), months=horizon)
    else:
        fig.add_hline(y=cac_value, line={"color": INK, "dash": "dash", "width": 1.5}, name="CAC",
                      annotation={"text": "CAC " + formats.money(cac, currency), "font": {"color": INK}},
                      annotation_position="bottom right")
        payback = next((m for m, v in enumerate(latest_curve, start=1) if v is not None and v >= cac_value - 1e-9),
                       None)
        if payback is None:
            title = _("{name} customers do not repay the {amount} CAC within {months} months").format(
                name=latest_name, amount=formats.money(cac, currency), months=horizon)
        else:
            title = _("Payback in {months} months: {name} customers repay the {amount} CAC").format(
                months=payback, name=latest_name, amount=formats.money(cac, currency))
            fig.add_trace(go.Scatter(
                x=[payback], y=[latest_curve[payback - 1]], mode="markers+text",
                name=_("Payback ({name})").format(name=latest_name),
                text=[_("month {month}").format(month=payback)], textposition="top left", showlegend=False,
                marker={"color": INK, "size": 10, "symbol": "diamond"},
                hovertemplate=("<b>" + _("Payback: month {month}").format(month=payback) + "</b><br>"
                               + _("Cumulative margin {amount}").format(amount=_money_hover(currency))
                               + "<extra></extra>"),
            ))
    fig.update_layout(title={"text": title, "subtitle": {
        "text": _("Expected gross margin per acquired customer, cumulative by month since acquisition")}},
        legend_title_text=_("Cohort"))
    fig.update_xaxes(title_text=_("Months since acquisition (1 = acquisition month)"), rangemode="tozero")
    fig.update_yaxes(title_text=_("Cumulative margin per customer"), **_money_axis(currency),
                     rangemode="tozero")
    return fig


# ---------------------------------------------------------------------------------------------
# Budget planner
# ---------------------------------------------------------------------------------------------


@_fitted
def response_curve(channel: str, history: pl.DataFrame, grid: pl.DataFrame,
                   planned: Mapping[str, Any] | None = None, currency: str = DEFAULT_CURRENCY) -> go.Figure:
    """One channel's new customers against its spend per quarter: history, fitted curve, plan.

    history: period_label, direct_spend, new_customers (the points the curve was fitted to);
    grid: spend, customers, low, high (the curve and its prediction range over a spend grid);
    planned: spend, customers, low, high, marginal_cac of the plan (optional).
    """
    title = _("{channel}: new customers per quarter against spend").format(channel=literal.chart(channel))
    if grid.is_empty():
        return empty_figure(title)
    fig = _figure(title, _("Points: past quarters. Line: fitted response curve, shaded: its prediction range."))
    spend, low, high = _floats(grid["spend"]), _floats(grid["low"]), _floats(grid["high"])
    fig.add_trace(go.Scatter(x=spend, y=high, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip",
                             name=_("{label}, high end of range").format(label=_("Prediction range"))))
    fig.add_trace(go.Scatter(x=spend, y=low, mode="lines", line={"width": 0}, fill="tonexty",
                             fillcolor=_rgba(SERIES_COLORS[0], 0.15), name=_("Prediction range"), hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=spend, y=_floats(grid["customers"]), mode="lines", name=_("Response curve"),
        line={"color": SERIES_COLORS[0], "width": 2.5},
        hovertemplate=_("Spend {amount}").format(amount=_money_hover(currency, "x", 0)) + "<br>"
        + _("Projected {customers} new customers").format(customers="%{y:,.0f}") + "<extra></extra>"))
    if not history.is_empty():
        fig.add_trace(go.Scatter(
            x=_floats(history["direct_spend"]), y=_floats(history["new_customers"]), mode="markers",
            name=_("Past quarters"), text=history["period_label"].to_list(),
            marker={"color": INK, "size": 8, "opacity": 0.75},
            hovertemplate=("<b>%{text}</b><br>" + _("Spend {amount}").format(amount=_money_hover(currency, "x"))
                           + "<br>" + _("{customers} new customers").format(customers="%{y:,}")
                           + "<extra></extra>")))
    if planned is not None and _float(planned.get("spend")) is not None:
        plan_y = _float(planned.get("customers"))
        errors = None
        if _float(planned.get("low")) is not None and _float(planned.get("high")) is not None and plan_y is not None:
            errors = {"type": "data", "symmetric": False, "color": BAND_COLORS["healthy"],
                      "array": [float(planned["high"]) - plan_y], "arrayminus": [plan_y - float(planned["low"])]}
        marginal = _float(planned.get("marginal_cac"))
        fig.add_trace(go.Scatter(
            x=[_float(planned["spend"])], y=[plan_y], mode="markers", name=_("Plan"), error_y=errors,
            marker={"color": BAND_COLORS["healthy"], "size": 14, "symbol": "diamond", "line": {"color": INK,
                                                                                                "width": 1}},
            hovertemplate=("<b>" + _("Plan") + "</b><br>"
                           + _("Spend {amount}").format(amount=_money_hover(currency, "x")) + "<br>"
                           + _("{customers} new customers").format(customers="%{y:,.0f}") + "<br>"
                           + _("Marginal CAC {amount}").format(amount=formats.money(marginal, currency))
                           + "<extra></extra>")))
    fig.update_xaxes(title_text=_("Direct marketing spend in the quarter"), **_money_axis(currency),
                     rangemode="tozero")
    fig.update_yaxes(title_text=_("New customers in the quarter"), tickformat=",.0f", rangemode="tozero")
    return fig


@_fitted
def scenario_comparison(table: pl.DataFrame, edges: Sequence[float] = DEFAULT_BAND_EDGES) -> go.Figure:
    """Projected LTV:CAC of each scenario with its range, on the health bands.

    table: the long comparison of ``finance.planning.plans.compare`` (scenario, figure, value, low,
    high, band); only the ``ltv_cac`` rows are drawn, one bar per scenario in table order.
    """
    edges = check_band_edges(tuple(edges))
    title = _("Projected LTV:CAC by scenario")
    rows = table.filter(pl.col("figure") == "ltv_cac") if "figure" in table.columns else table.clear()
    if rows.is_empty() or rows["value"].is_null().all():
        return empty_figure(title)
    names = [literal.chart(name) for name in rows["scenario"].to_list()]
    values = _floats(rows["value"])
    lows, highs = _floats(rows["low"]), _floats(rows["high"])
    bands = [band_of(v, edges) for v in values]
    best = max((v, n) for v, n in zip(values, names, strict=True) if v is not None)
    fig = _figure(_("{name} projects the highest LTV:CAC, {ratio}").format(name=best[1],
                                                                            ratio=formats.ratio(best[0], edges)),
                  _("Bars: projection. Whiskers: range from the response curves and the LTV model."))
    top = max([v for v in [*values, *highs] if v is not None] + [edges[-1]]) * 1.15
    _band_rectangles(fig, edges, 0.0, top)
    fig.add_trace(go.Bar(
        x=names, y=values, name="LTV:CAC",
        marker={"color": [BAND_COLORS.get(b or "", NO_BAND_COLOR) for b in bands]},
        error_y={"type": "data", "symmetric": False, "color": INK,
                 "array": [(h - v) if h is not None and v is not None else 0 for h, v in zip(highs, values,
                                                                                            strict=True)],
                 "arrayminus": [(v - lo) if lo is not None and v is not None else 0 for lo, v in zip(lows, values,
                                                                                                    strict=True)]},
        text=[f"{formats.ratio(v, edges)} {band_words(b) if b else ''}".strip()
              for v, b in zip(values, bands, strict=True)],
        textposition="inside", insidetextanchor="start",
        hovertemplate="<b>%{x}</b><br>LTV:CAC %{y:.2f}x<extra></extra>"))
    fig.update_yaxes(title_text="LTV:CAC", range=[0, top], ticksuffix="x")
    fig.update_layout(showlegend=False)
    return fig


@_fitted
def backtest_scatter(predictions: pl.DataFrame, horizon: int = 12, interval: float = 0.8,
                     currency: str = DEFAULT_CURRENCY) -> go.Figure:
    """Predicted against actual gross margin per customer in back-tests, one point per cohort and cut-off.

    Points on the diagonal were forecast exactly; whiskers show the stated interval. Required
    columns: cutoff, cohort, horizon, predicted, actual, low, high (``backtest.ModelCheck.predictions``
    of one method).
    """
    title = _("Back-test: forecast against what customers really earned")
    rows = predictions.filter(pl.col("horizon") == horizon) if not predictions.is_empty() else predictions
    if rows.is_empty():
        return empty_figure(title, _("Too little history for a back-test yet."))
    held = rows.filter((pl.col("low") <= pl.col("actual")) & (pl.col("actual") <= pl.col("high"))).height
    error = float((rows.get_column("predicted") / rows.get_column("actual") - 1).abs().mean())  # type: ignore[arg-type]
    fig = _figure(_("{horizon}-month forecasts were within {error} on average; the {interval} range held {held} of "
                    "{total}").format(horizon=horizon, error=formats.percent(error),
                                      interval=formats.percent(interval, places=0), held=held, total=rows.height),
                  _("Each point: one cohort's gross margin per customer in the months after a past quarter-end"))
    top = float(max(rows.get_column("actual").max() or 0.0, rows.get_column("high").max() or 0.0))  # type: ignore[arg-type]
    fig.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", line={"color": INK, "dash": "dot", "width": 1},
                             name=_("Forecast = actual"), hoverinfo="skip"))
    cutoffs = sorted(set(rows.get_column("cutoff").to_list()))
    for index, cutoff in enumerate(cutoffs):
        part = rows.filter(pl.col("cutoff") == cutoff)
        predicted = part.get_column("predicted").to_list()
        fig.add_trace(go.Scatter(
            x=part.get_column("actual").to_list(), y=predicted, mode="markers",
            name=_("Cut-off {day}").format(day=cutoff),
            marker={"color": _color(index), "size": 8},
            error_y={"type": "data", "symmetric": False, "color": _rgba(_color(index), 0.45),
                     "array": [h - p for h, p in zip(part.get_column("high").to_list(), predicted, strict=True)],
                     "arrayminus": [p - lo for lo, p in zip(part.get_column("low").to_list(), predicted, strict=True)]},
            customdata=part.select("cohort").to_series().to_list(),
            hovertemplate=("<b>" + _("Cohort {cohort}").format(cohort="%{customdata}") + "</b><br>"
                           + _("Actual {amount}").format(amount=_money_hover(currency, "x")) + "<br>"
                           + _("Forecast {amount}").format(amount=_money_hover(currency)) + "<extra></extra>")))
    fig.update_xaxes(title_text=_("Actual margin per customer, {months} months after the cut-off").format(
                         months=horizon), **_money_axis(currency), rangemode="tozero")
    fig.update_yaxes(title_text=_("Forecast at the cut-off"), **_money_axis(currency), rangemode="tozero")
    fig.update_layout(legend_title_text=_("Cut-off"))
    return fig
