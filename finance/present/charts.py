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
- an empty selection, or one with nothing to plot, gives a figure that says so.

Figures carry aggregates only (per period, channel, segment or cohort), never customers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

# pandas before Plotly: Plotly reads pandas straight from sys.modules, and on a server another
# session's thread may be importing it at that moment (Streamlit imports it lazily for a table),
# so building a figure would meet a half-imported module. This import waits for that one.
import pandas  # noqa: F401
import plotly.graph_objects as go
import plotly.io as pio
import polars as pl

from finance.domain import literal
from finance.domain.schema import (
    BAND_LABELS,
    COST_CATEGORIES,
    DEFAULT_BAND_EDGES,
    DEFAULT_CURRENCY,
    MARKETING_CATEGORIES,
    MEDIA_CATEGORY,
    band_of,
    check_band_edges,
)
from finance.present import formats

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


def _build_template() -> go.layout.Template:
    template = go.layout.Template(pio.templates["plotly_white"])
    template.layout.update(
        font={"family": "Inter, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif", "size": 13,
              "color": INK},
        title={"x": 0.0, "xanchor": "left", "xref": "paper", "font": {"size": 18, "color": INK},
               "subtitle": {"font": {"size": 13, "color": MUTED}}},
        colorway=list(SERIES_COLORS),
        paper_bgcolor="white",
        plot_bgcolor="white",
        separators=".,",
        margin={"l": 70, "r": 40, "t": 100, "b": 60},
        hoverlabel={"bgcolor": "white", "bordercolor": "#CBD5E1", "font": {"size": 13, "color": INK}},
        hovermode="closest",
        legend={"orientation": "h", "yanchor": "top", "y": -0.14, "xanchor": "left", "x": 0.0,
                "font": {"size": 12}},
        xaxis={"gridcolor": GRID, "linecolor": "#9CA3AF", "zeroline": False, "ticks": "outside",
               "tickcolor": "#9CA3AF", "automargin": True, "title": {"standoff": 8}},
        yaxis={"gridcolor": GRID, "linecolor": "#9CA3AF", "zeroline": False, "automargin": True,
               "title": {"standoff": 8}},
        bargap=0.25,
    )
    return template


TEMPLATE: go.layout.Template = _build_template()
pio.templates[TEMPLATE_NAME] = TEMPLATE  # registered once, at import; figures name it explicitly

NO_DATA = "No data for this selection"
DIMENSIONS = ("channel", "segment")
VOLUMES: dict[str, str] = {"leads": "Leads", "visitors": "Visitors", "event_attendees": "Event attendees"}

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
    prefix, d3 = formats.d3_money(currency, 0)
    return {"tickprefix": prefix, "tickformat": d3}


def _money_hover(currency: str, axis: str = "y", places: int | None = None) -> str:
    """A hover's money by the ``money`` rule of ``finance.present.formats``: ``$%{y:,.2f}``."""
    prefix, d3 = formats.d3_money(currency, places)
    return f"{prefix}%{{{axis}:{d3}}}"


# ---------------------------------------------------------------------------------------------
# Shared figure plumbing
# ---------------------------------------------------------------------------------------------


def _figure(title: str, subtitle: str | None = None) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(template=TEMPLATE_NAME, title={"text": title, "subtitle": {"text": subtitle or ""}})
    return fig


def empty_figure(title: str = "", message: str = NO_DATA) -> go.Figure:
    """A figure that says there is nothing to show, instead of empty axes."""
    fig = _figure(title)
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
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
    return [(literal.chart(v) if v is not None else "Unattributed",
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


def _category_axis(fig: go.Figure, axis: list[str], title: str = "") -> None:
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=axis, title_text=title)


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
        fig.add_annotation(text=label, x=1.0, xref="x domain", xanchor="right", y=math.log10(high) if log else high,
                           yref="y", yanchor="top", showarrow=False, font={"color": BAND_COLORS[label], "size": 12})
    for edge, above in zip(edges, BAND_LABELS[1:], strict=True):
        fig.add_hline(y=edge, line={"color": BAND_COLORS[above], "dash": "dot", "width": 1}, layer="below",
                      name=f"{edge:g}x")


LOG_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000)


def _wide_range(values: list[float], top_edge: float) -> bool:
    """Use a log axis when ratios span far beyond the bands (and are all positive)."""
    return min(values) > 0 and max(values) > 2 * top_edge


def ltv_cac_trend(rows: pl.DataFrame, edges: Sequence[float] = DEFAULT_BAND_EDGES,
                  dimension: str | None = None, cac_column: str = "cac",
                  currency: str = DEFAULT_CURRENCY) -> go.Figure:
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
        return empty_figure("LTV:CAC")
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
        label = name or "LTV:CAC"
        group = f"series-{index}"
        if any(v is not None for v in low) and any(v is not None for v in high):
            has_interval = True
            fig.add_trace(go.Scatter(x=axis, y=low, mode="lines", line={"width": 0, "color": color},
                                     hoverinfo="skip", showlegend=False, legendgroup=group,
                                     name=f"{label} low", connectgaps=False))
            fig.add_trace(go.Scatter(x=axis, y=high, mode="lines", line={"width": 0, "color": color},
                                     fill="tonexty", fillcolor=_rgba(color, 0.22), hoverinfo="skip",
                                     showlegend=False, legendgroup=group, name=f"{label} high",
                                     connectgaps=False))
        bands = [band_of(r, band_edges) for r in ratio]
        ltv = frame.get_column("ltv").to_list() if "ltv" in frame.columns else [None] * len(axis)
        cac = frame.get_column(cac_column).to_list() if cac_column in frame.columns else [None] * len(axis)
        custom = [[b or "n/a", f"{formats.ratio(lo)} - {formats.ratio(hi)}" if lo is not None and hi is not None
                   else "n/a", formats.money(lv, currency), formats.money(cv, currency)]
                  for b, lo, hi, lv, cv in zip(bands, low, high, ltv, cac, strict=True)]
        marker_colors = [BAND_COLORS[b] if b else NO_BAND_COLOR for b in bands] if not dim else color
        fig.add_trace(go.Scatter(
            x=axis, y=ratio, mode="lines+markers", name=label, legendgroup=group, showlegend=bool(dim),
            line={"color": color, "width": 2.5 if not dim else 2}, connectgaps=False,
            marker={"color": marker_colors, "size": 9 if not dim else 7, "line": {"color": "white", "width": 1}},
            customdata=custom,
            hovertemplate=(f"<b>{'%{fullData.name} · ' if name else ''}%{{x}}</b><br>LTV:CAC %{{y:.2f}}x "
                           "(range %{customdata[1]})<br>Band: %{customdata[0]}<br>"
                           f"LTV %{{customdata[2]}} · {_cac_words(cac_column)} %{{customdata[3]}}<extra></extra>"),
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
    fig.update_yaxes(title_text="LTV:CAC" + (" (log scale)" if log else ""), showgrid=False)
    title, subtitle = _trend_title(rows, dim, band_edges, has_interval)
    subtitle = subtitle.replace("fully loaded CAC", _cac_words(cac_column))
    fig.update_layout(title={"text": title, "subtitle": {"text": subtitle}})
    return fig


def _trend_title(rows: pl.DataFrame, dim: str | None, edges: tuple[float, ...],
                 has_interval: bool) -> tuple[str, str]:
    latest = _latest_known(rows, "ltv_cac")
    label = str(latest.get_column("period_label")[0])
    shading = "Shaded: health bands" + ("; around each line: the LTV interval" if has_interval else "")
    if dim is None:
        ratio = latest.get_column("ltv_cac")[0]
        return (f"LTV:CAC is {formats.ratio(ratio, edges)} in {label}: {band_of(ratio, edges)}",
                f"LTV (gross margin) / fully loaded CAC per period. {shading}.")
    ranked = latest.sort("ltv_cac", descending=True)
    names = [literal.chart(v) for v in ranked.get_column(dim).to_list()]
    ratios = ranked.get_column("ltv_cac").to_list()
    if len(names) == 1:
        title = f"LTV:CAC is {formats.ratio(ratios[0], edges)} for {names[0]} in {label}: {band_of(ratios[0], edges)}"
    else:
        title = (f"LTV:CAC in {label}: {names[0]} highest at {formats.ratio(ratios[0], edges)} "
                 f"({band_of(ratios[0], edges)}), {names[-1]} lowest at {formats.ratio(ratios[-1], edges)} "
                 f"({band_of(ratios[-1], edges)})")
    return title, f"LTV (gross margin) / fully loaded CAC per period and {dim}. {shading}."


# ---------------------------------------------------------------------------------------------
# Where to invest: channel (or segment) efficiency
# ---------------------------------------------------------------------------------------------


def _cac_words(cac_column: str) -> str:
    """The name of the CAC in a column: S&M CAC includes sales costs, fully loaded CAC does not."""
    return "S&M CAC" if cac_column == "cac_sm" else "fully loaded CAC"


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
        return empty_figure("LTV against CAC")
    _require(rows, [cac_column, "ltv"], "channel_efficiency")
    if "period" in rows.columns:
        rows = _labelled(rows).filter(pl.col("period") == pl.col("period").max())
    label = str(rows.get_column("period_label")[0]) if "period_label" in rows.columns else ""
    points: list[dict[str, Any]] = []
    missing: list[str] = []
    for rec in rows.iter_rows(named=True):
        name = literal.chart(rec[dimension]) if rec.get(dimension) is not None else (_label_of(rec) or "All")
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
        where = label or "this selection"
        return empty_figure("LTV against CAC", f"{NO_DATA}: no {dimension} has both a CAC and an LTV in {where}")
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
    for multiple, dash in ((1.0, "dash"), (3.0, "dot")):
        start = max(x_low, y_low / multiple) if log else 0.0
        end = min(x_high, y_high / multiple)
        fig.add_trace(go.Scatter(
            x=[start, end], y=[multiple * start, multiple * end], mode="lines+text", hoverinfo="skip",
            name=f"LTV = {multiple:g}x CAC" + (" (break-even)" if multiple == 1 else ""),
            line={"color": MUTED, "dash": dash, "width": 1.2}, text=["", f"{multiple:g}x"],
            textposition="bottom left", textfont={"color": MUTED, "size": 12}, cliponaxis=False,
        ))
    spends = [p["spend"] for p in points if p["spend"] is not None and p["spend"] > 0]
    size_ref = 2.0 * max(spends) / 60.0**2 if spends else 1.0
    for band in (*BAND_LABELS, None):
        members = [p for p in points if p["band"] == band]
        if not members:
            continue
        fig.add_trace(go.Scatter(
            x=[p["cac"] for p in members], y=[p["ltv"] for p in members], mode="markers+text",
            name=band or "no band", text=[p["name"] for p in members], textposition="top center",
            textfont={"size": 12, "color": INK},
            marker={"color": BAND_COLORS[band] if band else NO_BAND_COLOR, "opacity": 0.85,
                    "size": [p["spend"] if p["spend"] and p["spend"] > 0 else 0.0 for p in members],
                    "sizemode": "area", "sizeref": size_ref, "sizemin": 8, "line": {"color": "white", "width": 1}},
            customdata=[[p["name"], formats.money(p["raw"][cac_column], currency),
                         formats.money(p["raw"]["ltv"], currency), formats.ratio(p["ratio"]), p["band"] or "n/a",
                         formats.money(p["raw"].get(spend_column), currency),
                         formats.count(p["raw"].get("new_customers"))] for p in members],
            hovertemplate=(f"<b>%{{customdata[0]}}</b><br>{words} %{{customdata[1]}}<br>"
                           "LTV %{customdata[2]}<br>LTV:CAC %{customdata[3]} (%{customdata[4]})<br>"
                           "Spend %{customdata[5]} · %{customdata[6]} new customers<extra></extra>"),
        ))
    ranked = sorted(points, key=lambda p: p["ratio"], reverse=True)
    ratio_edges = band_edges or DEFAULT_BAND_EDGES
    best, worst = ranked[0], ranked[-1]
    if len(ranked) == 1:
        title = f"{best['name']}: LTV:CAC {formats.ratio(best['ratio'], ratio_edges)}"
    else:
        title = (f"{best['name']} is the most efficient {dimension} at {formats.ratio(best['ratio'], ratio_edges)} "
                 f"LTV:CAC; {worst['name']} the least at {formats.ratio(worst['ratio'], ratio_edges)}")
    subtitle = (f"{label + ': ' if label else ''}bubble area = "
                f"{'S&M' if cac_column == 'cac_sm' else 'fully loaded'} spend; colour = health band")
    if missing:
        subtitle += f"; n/a (no CAC or LTV): {', '.join(missing)}"
    fig.update_layout(title={"text": title, "subtitle": {"text": subtitle}})
    if log:
        fig.update_xaxes(title_text=f"{words} per new customer (log scale)", type="log",
                         range=[math.log10(x_low), math.log10(x_high)], **_log_money_ticks(x_low, x_high, currency))
        fig.update_yaxes(title_text="LTV per customer, gross margin (log scale)", type="log",
                         range=[math.log10(y_low), math.log10(y_high)], **_log_money_ticks(y_low, y_high, currency))
    else:
        fig.update_xaxes(title_text=f"{words} per new customer", **_money_axis(currency),
                         range=[x_low, x_high])
        fig.update_yaxes(title_text="LTV per customer, gross margin", **_money_axis(currency),
                         range=[y_low, y_high])
    return fig


def _log_money_ticks(low: float, high: float, currency: str) -> dict[str, Any]:
    """Ticks at 1-2-5 steps for a money log axis, labelled $200, $1K, $50K."""
    values = [m * 10.0**k for k in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
              for m in (1, 2, 5) if low <= m * 10.0**k <= high]
    sign = formats.symbol(currency)
    text = [f"{sign}{v / 1e6:g}M" if v >= 1e6 else f"{sign}{v / 1e3:g}K" if v >= 1e3 else f"{sign}{v:g}"
            for v in values]
    return {"tickvals": values, "ticktext": text}


# ---------------------------------------------------------------------------------------------
# Why CAC is what it is: the fully loaded waterfall and spend by category
# ---------------------------------------------------------------------------------------------


def cac_waterfall(row: Mapping[str, Any] | pl.DataFrame, include_sales: bool = False,
                  currency: str = DEFAULT_CURRENCY) -> go.Figure:
    """From media-only CAC, category by category, to fully loaded CAC (and to S&M CAC).

    Each step is that category's spend / new customers of the period, so the steps add up
    exactly to fully loaded CAC = marketing spend / new customers (and, with sales, to
    ``cac_sm``). Categories with no spend are left out. A DataFrame gives its latest row.
    Required keys: new_customers, spend_<category> for ``MARKETING_CATEGORIES`` (and sales).
    """
    rec = _row_of(row)
    title = "Fully loaded CAC"
    if rec is None:
        return empty_figure(title)
    label = _label_of(rec)
    keys = [*MARKETING_CATEGORIES, *(["sales"] if include_sales else [])]
    spends = {k: _decimal(rec.get(f"spend_{k}")) for k in keys}
    if all(v is None for v in spends.values()):
        return empty_figure(title)
    customers = _float(rec.get("new_customers"))
    if customers is None or customers <= 0:
        return empty_figure(title, f"{NO_DATA}: no new customers{' in ' + label if label else ''}, so CAC is n/a")
    count = Decimal(int(customers))
    per = {k: (v or Decimal(0)) / count for k, v in spends.items()}
    labels = {c.key: c.label for c in COST_CATEGORIES}
    media = per[MEDIA_CATEGORY]
    fully_loaded = sum((per[k] for k in MARKETING_CATEGORIES), Decimal(0))
    customers_text = f"{formats.count(count)} new customers"
    steps: list[tuple[str, Decimal, str, str]] = [
        ("Media-only CAC", media, "absolute",
         f"{labels[MEDIA_CATEGORY]} {formats.money(spends[MEDIA_CATEGORY] or 0, currency)} / {customers_text}"),
    ]
    for key in MARKETING_CATEGORIES:
        if key != MEDIA_CATEGORY and per[key] != 0:
            steps.append((labels[key], per[key], "relative",
                          f"{formats.money(spends[key], currency)} / {customers_text}"))
    total_spend = sum((spends[k] or Decimal(0) for k in MARKETING_CATEGORIES), Decimal(0))
    steps.append(("Fully loaded CAC", fully_loaded, "total",
                  f"Marketing spend {formats.money(total_spend, currency)} / {customers_text}"))
    sales_and_marketing = fully_loaded + per.get("sales", Decimal(0))
    if include_sales:
        steps.append((labels["sales"], per["sales"], "relative",
                      f"{formats.money(spends['sales'] or 0, currency)} / {customers_text}"))
        steps.append(("Sales & marketing CAC", sales_and_marketing, "total",
                      f"S&M spend {formats.money(total_spend + (spends['sales'] or 0), currency)} / {customers_text}"))
    fig = _figure("")
    fig.add_trace(go.Waterfall(
        x=[s[0] for s in steps], y=[float(s[1]) for s in steps], measure=[s[2] for s in steps],
        text=[("+" if s[2] == "relative" and s[1] >= 0 else "") + formats.money(s[1], currency) for s in steps],
        textposition="outside", cliponaxis=False, connector={"line": {"color": "#CBD5E1", "width": 1}},
        increasing={"marker": {"color": STEP_COLOR}}, decreasing={"marker": {"color": "#CBD5E1"}},
        totals={"marker": {"color": LEVEL_COLOR}},
        customdata=[s[3] for s in steps],
        hovertemplate="<b>%{x}</b><br>%{text} per new customer<br>%{customdata}<extra></extra>",
        name="CAC",
    ))
    if media > 0:
        title = f"Fully loaded CAC is {formats.ratio(fully_loaded / media)} media-only CAC"
    else:
        title = f"Fully loaded CAC is {formats.money(fully_loaded, currency)}, with no media spend"
    subtitle = (f"{label + ': ' if label else ''}{formats.money(media, currency)} media-only → "
                f"{formats.money(fully_loaded, currency)} "
                "fully loaded per new customer")
    if include_sales:
        subtitle += f" → {formats.money(sales_and_marketing, currency)} with sales"
    fig.update_layout(title={"text": title, "subtitle": {"text": subtitle}}, showlegend=False)
    fig.update_yaxes(title_text="Per new customer", **_money_axis(currency), rangemode="tozero")
    fig.update_xaxes(tickangle=-30)
    return fig


def spend_by_category(rows: pl.DataFrame, include_sales: bool = False, currency: str = DEFAULT_CURRENCY) -> go.Figure:
    """Fully loaded spend per period, stacked by cost category.

    Rows split by channel or segment are summed per period first. With ``include_sales``
    the sales line is stacked on top (the sales-and-marketing view).
    Required columns: period, spend_<category> for ``MARKETING_CATEGORIES`` (and sales).
    """
    keys = [*MARKETING_CATEGORIES, *(["sales"] if include_sales else [])]
    columns = [f"spend_{k}" for k in keys]
    title = "Spend by category"
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
    labels = {c.key: c.label for c in COST_CATEGORIES}
    fig = _figure("")
    for key, column in zip(keys, columns, strict=True):
        values = _floats(totals.get_column(column))
        if not any(values):
            continue
        shares = [formats.percent(v / t) if v is not None and t else formats.NA
                  for v, t in zip(values, period_total, strict=True)]
        fig.add_trace(go.Bar(
            x=axis, y=values, name=labels[key], marker={"color": CATEGORY_COLORS[key]}, customdata=shares,
            hovertemplate=f"{labels[key]}: {_money_hover(currency)} (%{{customdata}} of spend)<extra></extra>",
        ))
    fig.add_trace(go.Scatter(
        x=axis, y=period_total, mode="text", text=[formats.money_compact(v, currency) for v in period_total],
        textposition="top center",
        textfont={"size": 11, "color": MUTED}, name="Total", showlegend=False,
        hovertemplate=f"<b>Total: {_money_hover(currency)}</b><extra></extra>",
    ))
    latest = totals.row(-1, named=True)
    total = latest["total"]
    scope = "S&M" if include_sales else "marketing"
    if total:
        top = max(keys, key=lambda k: latest[f"spend_{k}"] or 0.0)
        def share(key: str) -> str:
            return formats.percent((latest[f"spend_{key}"] or 0) / total, places=0)

        title = (f"{labels[top]} is the largest cost in {latest['period_label']}: "
                 f"{share(top)} of {formats.money_compact(total, currency)} {scope} spend")
        subtitle = (f"Marketing technology {share('martech')} and personnel "
                    f"{share('personnel')} of {latest['period_label']} spend")
    else:
        title, subtitle = f"No {scope} spend in {latest['period_label']}", ""
    fig.update_layout(title={"text": title, "subtitle": {"text": subtitle}}, barmode="stack", hovermode="x unified")
    _category_axis(fig, axis)
    fig.update_yaxes(title_text="Spend", tickprefix=formats.symbol(currency), tickformat="~s", rangemode="tozero")
    return fig


def cac_by_dimension(rows: pl.DataFrame, dimension: str = "channel", currency: str = DEFAULT_CURRENCY) -> go.Figure:
    """Fully loaded CAC per period, one line per channel or segment (one line without one).

    ``cac`` = fully loaded spend / new customers of that period and value; a period
    without new customers is a gap. Required columns: period, cac; optional: spend,
    new_customers, period_label, ``dimension``.
    """
    title = f"Fully loaded CAC by {dimension}"
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
        label = name or "Fully loaded CAC"
        fig.add_trace(go.Scatter(
            x=axis, y=_floats(frame.get_column("cac")), mode="lines+markers", name=label, connectgaps=False,
            line={"color": _color(index) if dim else INK, "width": 2}, marker={"size": 6},
            customdata=[[formats.money(s, currency), formats.count(c)] for s, c in zip(spend, customers, strict=True)],
            hovertemplate=(f"%{{fullData.name}}: <b>{_money_hover(currency)}</b> "
                           "(%{customdata[0]} / %{customdata[1]} new customers)<extra></extra>"),
        ))
    latest = _latest_known(rows, "cac").sort("cac")
    period = latest.get_column("period_label")[0]
    if dim and latest.height > 1:
        names = [literal.chart(v) for v in latest.get_column(dim).to_list()]
        values = latest.get_column("cac").to_list()
        title = (f"Fully loaded CAC in {period}: lowest {names[0]} ({formats.money(values[0], currency)}), "
                 f"highest {names[-1]} ({formats.money(values[-1], currency)})")
    else:
        who = f" for {literal.chart(latest.get_column(dim)[0])}" if dim else ""
        title = f"Fully loaded CAC is {formats.money(latest.get_column('cac')[0], currency)}{who} in {period}"
    fig.update_layout(title={"text": title, "subtitle": {"text": "All marketing spend / new customers, per period"}},
                      hovermode="x unified", legend_title_text=dimension.capitalize() if dim else "")
    _category_axis(fig, axis)
    fig.update_yaxes(title_text="CAC per new customer", **_money_axis(currency), rangemode="tozero")
    return fig


# ---------------------------------------------------------------------------------------------
# Cost per lead and per acquisition, with the volumes behind them
# ---------------------------------------------------------------------------------------------


def cpl_cpa_history(rows: pl.DataFrame, dimension: str = "channel", volume: str = "leads",
                    currency: str = DEFAULT_CURRENCY) -> go.Figure:
    """CPL and CPA per channel over time, with the volume behind them as stacked bars.

    CPL = direct spend / leads, CPA = direct spend / new customers, per period and channel
    (from ``finance.metrics.table``). Two panels share the time axis: the top one has CPL lines
    (money, left axis) over ``volume`` bars (leads, visitors or event_attendees) on a
    secondary, right-hand axis; the bottom one has CPA lines. CPA runs an order of magnitude
    above CPL, so one shared money axis would flatten the CPL lines.
    Required columns: period, cpl, cpa, ``volume``; optional: period_label, ``dimension``.
    """
    if volume not in VOLUMES:
        raise ValueError(f"unknown volume {volume!r}; valid: {', '.join(VOLUMES)}")
    title = "Cost per lead and per acquisition"
    if rows.is_empty() or _all_null(rows, ["cpl", "cpa", volume]):
        return empty_figure(title)
    _require(rows, ["period", "cpl", "cpa", volume], "cpl_cpa_history")
    rows = _labelled(rows)
    axis = _period_axis(rows)
    dim = dimension if dimension in rows.columns else None
    volume_label = VOLUMES[volume]
    fig = _figure("")
    # Axes: y = volume bars (top panel, right side), y2 = CPL (top panel, left side, drawn over
    # the bars because an overlaying axis is drawn last), y3 = CPA (bottom panel).
    for index, (name, series) in enumerate(_series(rows, dim)):
        frame = _aligned(series, axis)
        color = _color(index) if dim else INK
        label = name or "All"
        fig.add_trace(go.Bar(
            x=axis, y=_floats(frame.get_column(volume)), name=f"{label} {volume_label.lower()}", legendgroup=label,
            showlegend=False, marker={"color": _rgba(color, 0.25)}, xaxis="x", yaxis="y",
            hovertemplate=f"<b>%{{meta}} · %{{x}}</b><br>{volume_label}: %{{y:,}}<extra></extra>", meta=label,
        ))
        for metric, axis_name in (("cpl", "y2"), ("cpa", "y3")):
            fig.add_trace(go.Scatter(
                x=axis, y=_floats(frame.get_column(metric)), mode="lines+markers", xaxis="x", yaxis=axis_name,
                name=label if metric == "cpl" else f"{label} CPA", legendgroup=label, showlegend=metric == "cpl",
                connectgaps=False, line={"color": color, "width": 2}, marker={"size": 5},
                hovertemplate=f"<b>%{{meta}} · %{{x}}</b><br>{metric.upper()}: {_money_hover(currency)}<extra></extra>",
                meta=label,
            ))
    money_axis = {**_money_axis(currency), "rangemode": "tozero", "gridcolor": GRID,
                  "automargin": True, "zeroline": False, "tickmode": "auto"}
    fig.update_layout(
        title={"text": _cpl_cpa_title(rows, dim, currency) or title,
               "subtitle": {"text": f"On each channel's direct spend. Bars: {volume_label.lower()} (right axis)"}},
        barmode="stack", height=640,
        xaxis={"type": "category", "categoryorder": "array", "categoryarray": axis, "anchor": "y3"},
        yaxis={"domain": [0.5, 1.0], "title": {"text": volume_label}, "side": "right", "showgrid": False,
               "rangemode": "tozero", "tickformat": "~s", "anchor": "x"},
        yaxis2={"domain": [0.5, 1.0], "overlaying": "y", "side": "left", "anchor": "x",
                "title": {"text": "Cost per lead"}, **money_axis},
        yaxis3={"domain": [0.0, 0.42], "anchor": "x", "title": {"text": "Cost per acquisition"}, **money_axis},
        legend_title_text=dimension.capitalize() if dim else "",
    )
    return fig


def _cpl_cpa_title(rows: pl.DataFrame, dim: str | None, currency: str) -> str | None:
    latest = _latest_known(rows, "cpa")
    if latest.is_empty():
        latest = _latest_known(rows, "cpl")
        if latest.is_empty():
            return None
    period = latest.get_column("period_label")[0]
    if dim is None or latest.height == 1:
        rec = latest.row(0, named=True)
        who = f" for {literal.chart(rec[dim])}" if dim else ""
        return (f"CPA is {formats.money(rec['cpa'], currency)} and CPL {formats.money(rec['cpl'], currency)}{who} "
                f"in {period}")
    lowest: dict[str, tuple[str, Any]] = {}
    for metric in ("cpa", "cpl"):
        known = latest.filter(pl.col(metric).is_not_null()).sort(metric)
        if not known.is_empty():
            lowest[metric] = (literal.chart(known.get_column(dim)[0]), known.get_column(metric)[0])
    if not lowest:
        return None
    if "cpa" in lowest and "cpl" in lowest and lowest["cpa"][0] == lowest["cpl"][0]:
        name = lowest["cpa"][0]
        return (f"In {period}, {name} has the lowest CPA ({formats.money(lowest['cpa'][1], currency)}) "
                f"and CPL ({formats.money(lowest['cpl'][1], currency)})")
    parts = [f"{who} the lowest {metric.upper()} ({formats.money(value, currency)})"
             for metric, (who, value) in lowest.items()]
    return f"In {period}, " + " and ".join(parts).replace(" the lowest", " has the lowest", 1)


# ---------------------------------------------------------------------------------------------
# Lifetime value: cohorts and curves
# ---------------------------------------------------------------------------------------------


def cohort_heatmap(matrix: pl.DataFrame, currency: str = DEFAULT_CURRENCY) -> go.Figure:
    """Cumulative gross margin per acquired customer by cohort (rows) and month (columns).

    From ``finance.ltv.base.cohort_margin_matrix``: ``cumulative_margin_per_customer`` at each
    observed ``age`` (0 = acquisition month, shown as month 1, as in payback months).
    Unobserved months are blank. Required columns: cohort, age,
    cumulative_margin_per_customer; optional: cohort_label, customers, margin_per_customer.
    """
    title = "Cumulative gross margin per customer by cohort"
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
                        formats.count(cells[(label, a)].get("customers"))] if (label, a) in cells else ["n/a", "n/a"]
                       for a in ages])
    known = [v for line in z for v in line if v is not None]
    if not known:
        return empty_figure(title)
    fig = _figure("")
    fig.add_trace(go.Heatmap(
        z=z, x=[a + 1 for a in ages], y=labels, customdata=custom, hoverongaps=False,
        colorscale=[[0.0, "#F1F5F9"], [0.5, "#6FA8DC"], [1.0, "#1F3A5F"]],
        zmin=min(0.0, min(known)), zmax=max(known) if max(known) > 0 else 1.0,
        colorbar={"title": {"text": "Per customer"}, **_money_axis(currency)},
        hovertemplate=("<b>Cohort %{y}, month %{x}</b><br>Cumulative margin per customer "
                       + _money_hover(currency, "z") + "<br>"
                       "That month %{customdata[0]} · cohort of %{customdata[1]} customers<extra></extra>"),
        xgap=1, ygap=1,
    ))
    title = _cohort_title(z, labels, ages, currency) or title
    fig.update_layout(title={"text": title, "subtitle": {
        "text": "Observed gross margin per acquired customer, cumulative; blank: not yet observed"}})
    fig.update_xaxes(title_text="Months since acquisition (1 = acquisition month)", dtick=3 if len(ages) > 12 else 1,
                     showgrid=False)
    fig.update_yaxes(title_text="Acquisition cohort", type="category", autorange="reversed", showgrid=False)
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
        return f"After {month} months, the {only} cohort has returned {formats.money(value, currency)} per customer"
    low = min(at_month, key=lambda item: item[1])
    high = max(at_month, key=lambda item: item[1])
    return (f"After {month} months, cohorts have returned {formats.money(low[1], currency)} ({low[0]}) to "
            f"{formats.money(high[1], currency)} ({high[0]}) of gross margin per customer")


def ltv_curves(rows: pl.DataFrame, cac: Decimal | float | None = None, currency: str = DEFAULT_CURRENCY) -> go.Figure:
    """Cumulative expected gross margin per acquired customer by month, one line per period.

    y at month m = sum of ``curve`` over months 1..m (the curve's first value is the
    acquisition month), undiscounted as in ``finance.ltv.base.payback_months``. With ``cac``, a
    horizontal line at the CAC: the latest curve's payback is where it crosses.
    Required columns: curve; optional: period, period_label.
    """
    title = "Expected cumulative gross margin per customer"
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
            curves.append((_label_of(rec) or f"Row {len(curves) + 1}", cumulative))
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
            hovertemplate=(f"<b>{name}, month %{{x}}</b><br>Cumulative margin per customer "
                           f"{_money_hover(currency)}<extra></extra>"),
        ))
    latest_name, latest_curve = curves[-1]
    horizon = len(latest_curve)
    last = rows.row(-1, named=True)
    band_low, band_high = last.get("cumulative_low"), last.get("cumulative_high")
    if band_low and band_high and len(band_low) == horizon:
        # the model's interval around the latest cohort's curve, shaded between its bounds
        months = list(range(1, horizon + 1))
        fig.add_trace(go.Scatter(x=months, y=_floats(band_high), mode="lines", line={"width": 0},
                                 showlegend=False, hoverinfo="skip", name=f"{latest_name} high"))
        fig.add_trace(go.Scatter(x=months, y=_floats(band_low), mode="lines", line={"width": 0}, fill="tonexty",
                                 fillcolor=_rgba(ramp[-1], 0.15), name=f"{latest_name} interval",
                                 hovertemplate=f"<b>{latest_name}, month %{{x}}</b><br>Interval low "
                                               f"{_money_hover(currency)}<extra></extra>"))
    cac_value = _float(cac)
    if cac_value is None:
        final = next((v for v in reversed(latest_curve) if v is not None), None)
        title = (f"{latest_name} customers are expected to return {formats.money(final, currency)} of gross margin "
                 f"in {horizon} months")
    else:
        fig.add_hline(y=cac_value, line={"color": INK, "dash": "dash", "width": 1.5}, name="CAC",
                      annotation={"text": f"CAC {formats.money(cac, currency)}", "font": {"color": INK}},
                      annotation_position="bottom right")
        payback = next((m for m, v in enumerate(latest_curve, start=1) if v is not None and v >= cac_value - 1e-9),
                       None)
        if payback is None:
            title = (f"{latest_name} customers do not repay the {formats.money(cac, currency)} CAC "
                     f"within {horizon} months")
        else:
            title = f"Payback in {payback} months: {latest_name} customers repay the {formats.money(cac, currency)} CAC"
            fig.add_trace(go.Scatter(
                x=[payback], y=[latest_curve[payback - 1]], mode="markers+text", name=f"Payback ({latest_name})",
                text=[f"month {payback}"], textposition="top left", showlegend=False,
                marker={"color": INK, "size": 10, "symbol": "diamond"},
                hovertemplate=(f"<b>Payback: month {payback}</b><br>Cumulative margin "
                               f"{_money_hover(currency)}<extra></extra>"),
            ))
    fig.update_layout(title={"text": title, "subtitle": {
        "text": "Expected gross margin per acquired customer, cumulative by month since acquisition"}},
        legend_title_text="Cohort")
    fig.update_xaxes(title_text="Months since acquisition (1 = acquisition month)", rangemode="tozero")
    fig.update_yaxes(title_text="Cumulative margin per customer", **_money_axis(currency),
                     rangemode="tozero")
    return fig


# ---------------------------------------------------------------------------------------------
# Budget planner
# ---------------------------------------------------------------------------------------------


def response_curve(channel: str, history: pl.DataFrame, grid: pl.DataFrame,
                   planned: Mapping[str, Any] | None = None, currency: str = DEFAULT_CURRENCY) -> go.Figure:
    """One channel's new customers against its spend per quarter: history, fitted curve, plan.

    history: period_label, direct_spend, new_customers (the points the curve was fitted to);
    grid: spend, customers, low, high (the curve and its prediction range over a spend grid);
    planned: spend, customers, low, high, marginal_cac of the plan (optional).
    """
    title = f"{literal.chart(channel)}: new customers per quarter against spend"
    if grid.is_empty():
        return empty_figure(title)
    fig = _figure(title, "Points: past quarters. Line: fitted response curve, shaded: its prediction range.")
    spend, low, high = _floats(grid["spend"]), _floats(grid["low"]), _floats(grid["high"])
    fig.add_trace(go.Scatter(x=spend, y=high, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip",
                             name="range high"))
    fig.add_trace(go.Scatter(x=spend, y=low, mode="lines", line={"width": 0}, fill="tonexty",
                             fillcolor=_rgba(SERIES_COLORS[0], 0.15), name="Prediction range", hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=spend, y=_floats(grid["customers"]), mode="lines", name="Response curve",
        line={"color": SERIES_COLORS[0], "width": 2.5},
        hovertemplate=f"Spend {_money_hover(currency, 'x', 0)}<br>Projected %{{y:,.0f}} new customers<extra></extra>"))
    if not history.is_empty():
        fig.add_trace(go.Scatter(
            x=_floats(history["direct_spend"]), y=_floats(history["new_customers"]), mode="markers",
            name="Past quarters", text=history["period_label"].to_list(),
            marker={"color": INK, "size": 8, "opacity": 0.75},
            hovertemplate=(f"<b>%{{text}}</b><br>Spend {_money_hover(currency, 'x')}<br>%{{y:,}} "
                           "new customers<extra></extra>")))
    if planned is not None and _float(planned.get("spend")) is not None:
        plan_y = _float(planned.get("customers"))
        errors = None
        if _float(planned.get("low")) is not None and _float(planned.get("high")) is not None and plan_y is not None:
            errors = {"type": "data", "symmetric": False, "color": BAND_COLORS["healthy"],
                      "array": [float(planned["high"]) - plan_y], "arrayminus": [plan_y - float(planned["low"])]}
        marginal = _float(planned.get("marginal_cac"))
        fig.add_trace(go.Scatter(
            x=[_float(planned["spend"])], y=[plan_y], mode="markers", name="Plan", error_y=errors,
            marker={"color": BAND_COLORS["healthy"], "size": 14, "symbol": "diamond", "line": {"color": INK,
                                                                                                "width": 1}},
            hovertemplate=(f"<b>Plan</b><br>Spend {_money_hover(currency, 'x')}<br>%{{y:,.0f}} new customers<br>"
                           f"Marginal CAC {formats.money(marginal, currency)}<extra></extra>")))
    fig.update_xaxes(title_text="Direct marketing spend in the quarter", **_money_axis(currency),
                     rangemode="tozero")
    fig.update_yaxes(title_text="New customers in the quarter", tickformat=",.0f", rangemode="tozero")
    fig.update_layout(legend={"y": -0.24})  # below the x-axis title
    return fig


def scenario_comparison(table: pl.DataFrame, edges: Sequence[float] = DEFAULT_BAND_EDGES) -> go.Figure:
    """Projected LTV:CAC of each scenario with its range, on the health bands.

    table: the long comparison of ``finance.planning.plans.compare`` (scenario, figure, value, low,
    high, band); only the ``ltv_cac`` rows are drawn, one bar per scenario in table order.
    """
    edges = check_band_edges(tuple(edges))
    title = "Projected LTV:CAC by scenario"
    rows = table.filter(pl.col("figure") == "ltv_cac") if "figure" in table.columns else table.clear()
    if rows.is_empty() or rows["value"].is_null().all():
        return empty_figure(title)
    names = [literal.chart(name) for name in rows["scenario"].to_list()]
    values = _floats(rows["value"])
    lows, highs = _floats(rows["low"]), _floats(rows["high"])
    bands = [band_of(v, edges) for v in values]
    best = max((v, n) for v, n in zip(values, names, strict=True) if v is not None)
    fig = _figure(f"{best[1]} projects the highest LTV:CAC, {formats.ratio(best[0], edges)}",
                  "Bars: projection. Whiskers: range from the response curves and the LTV model.")
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
        text=[f"{formats.ratio(v, edges)} {b or ''}".strip() for v, b in zip(values, bands, strict=True)],
        textposition="inside", insidetextanchor="start",
        hovertemplate="<b>%{x}</b><br>LTV:CAC %{y:.2f}x<extra></extra>"))
    fig.update_yaxes(title_text="LTV:CAC", range=[0, top], ticksuffix="x")
    fig.update_layout(showlegend=False)
    return fig


def backtest_scatter(predictions: pl.DataFrame, horizon: int = 12, interval: float = 0.8,
                     currency: str = DEFAULT_CURRENCY) -> go.Figure:
    """Predicted against actual gross margin per customer in back-tests, one point per cohort and cut-off.

    Points on the diagonal were forecast exactly; whiskers show the stated interval. Required
    columns: cutoff, cohort, horizon, predicted, actual, low, high (``backtest.ModelCheck.predictions``
    of one method).
    """
    title = "Back-test: forecast against what customers really earned"
    rows = predictions.filter(pl.col("horizon") == horizon) if not predictions.is_empty() else predictions
    if rows.is_empty():
        return empty_figure(title, "Too little history for a back-test yet.")
    held = rows.filter((pl.col("low") <= pl.col("actual")) & (pl.col("actual") <= pl.col("high"))).height
    error = float((rows.get_column("predicted") / rows.get_column("actual") - 1).abs().mean())  # type: ignore[arg-type]
    fig = _figure(f"{horizon}-month forecasts were within {formats.percent(error)} on average; the "
                  f"{formats.percent(interval, places=0)} range "
                  f"held {held} of {rows.height}",
                  "Each point: one cohort's gross margin per customer in the months after a past quarter-end")
    top = float(max(rows.get_column("actual").max() or 0.0, rows.get_column("high").max() or 0.0))  # type: ignore[arg-type]
    fig.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", line={"color": INK, "dash": "dot", "width": 1},
                             name="Forecast = actual", hoverinfo="skip"))
    cutoffs = sorted(set(rows.get_column("cutoff").to_list()))
    for index, cutoff in enumerate(cutoffs):
        part = rows.filter(pl.col("cutoff") == cutoff)
        predicted = part.get_column("predicted").to_list()
        fig.add_trace(go.Scatter(
            x=part.get_column("actual").to_list(), y=predicted, mode="markers", name=f"Cut-off {cutoff}",
            marker={"color": _color(index), "size": 8},
            error_y={"type": "data", "symmetric": False, "color": _rgba(_color(index), 0.45),
                     "array": [h - p for h, p in zip(part.get_column("high").to_list(), predicted, strict=True)],
                     "arrayminus": [p - lo for lo, p in zip(part.get_column("low").to_list(), predicted, strict=True)]},
            customdata=part.select("cohort").to_series().to_list(),
            hovertemplate=(f"<b>Cohort %{{customdata}}</b><br>Actual {_money_hover(currency, 'x')}<br>"
                           f"Forecast {_money_hover(currency)}<extra></extra>")))
    fig.update_xaxes(title_text=f"Actual margin per customer, {horizon} months after the cut-off",
                     **_money_axis(currency), rangemode="tozero")
    fig.update_yaxes(title_text="Forecast at the cut-off", **_money_axis(currency), rangemode="tozero")
    fig.update_layout(legend_title_text="Cut-off")
    return fig
