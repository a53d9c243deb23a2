"""What every page reads: the :class:`Context` of this run (where the data is, its version, the view,
the assumptions) and the figures, rows and charts of that view, through the cached loaders.

``finance.app.sidebar`` makes the context from the sidebar's choices; a page only reads it and draws.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import plotly.graph_objects as go
import polars as pl

from finance.app.loaders import (
    ProgressNote,
    load_cac_targets,
    load_cohort_matrix,
    load_currency,
    load_metrics,
    load_notes,
    load_reconciliation,
)
from finance.app.views import ViewState
from finance.domain.assumptions import Assumptions
from finance.ltv.base import LTVResult
from finance.metrics.table import MetricsResult, on_cac_basis, rollup
from finance.metrics.targets import Targets
from finance.present.charts import Mark, note_marks, unreconciled_marks

ChartSource = Literal["rows", "costed", "cohorts"]
"""What a chart draws: the view's metric rows, those whose CAC is known, or the cohort matrix."""


@dataclass(frozen=True)
class Context:
    """What every page needs: where the data is, its version, the view and the assumptions."""

    path: str
    version: tuple[int, ...]
    view: ViewState
    assumptions: Assumptions
    demo: str | None
    periods: tuple[str, ...]
    channels: tuple[str, ...]
    segments: tuple[str, ...]

    checked: bool = False
    """Whether the model check of this data version is there (else it is running)."""
    service_periods: bool = False
    """Whether any spend row has a service period: then the spend's basis is a choice (accrual by default)."""

    def metrics(self, by: str | None = None, window: int | str | None = "view",
                method: str | None = None) -> MetricsResult:
        """The metric table of the view (by ``by``, over ``window``, with LTV by ``method``: the view's
        by default). A computation long enough to wait for shows its progress where the page is
        (``ProgressNote``)."""
        chosen = self.view.window if window == "view" else window
        return load_metrics(self.path, self.version, self.view.grain, chosen, by,  # type: ignore[arg-type]
                            method or self.view.method, self.checked, ProgressNote(), self.view.basis)

    def rows(self, by: str | None = None, window: int | str | None = "view") -> pl.DataFrame:
        """The metric rows for the view: its periods and its channel and segment filters.

        The filters combine: the figures are those of the customers in a selected channel and a
        selected segment (``finance.metrics.cac.acquisition``'s channel by segment rows). Totals
        (``by=None``) under a filter are the roll-up of the selected rows: their spend over their
        new customers; a breakdown by channel under a segment filter (or by segment under a
        channel filter) is the roll-up within each channel (segment) of the selected rows.
        With the S&M toggle on, LTV:CAC, its band and range, payback and ROI are all on S&M CAC.
        """
        rows = self._selected(by, window)
        return on_cac_basis(rows, self.metrics(by, window).params, self.cac_basis) if self.view.include_sales \
            else rows

    @property
    def cac_basis(self) -> str:
        """The CAC every ratio of the view divides by (``finance.metrics.CAC_BASES``): the S&M toggle's."""
        return "sales_and_marketing" if self.view.include_sales else "marketing"

    @property
    def filters(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The channels and segments the view filters to (none: all). Selecting every channel (or segment) is
        no filter: the pooled figures are shown."""
        channels = self.view.channels if set(self.view.channels) != set(self.channels) else ()
        segments = self.view.segments if set(self.view.segments) != set(self.segments) else ()
        return channels, segments

    def _selected(self, by: str | None, window: int | str | None) -> pl.DataFrame:
        channels, segments = self.filters
        crossed = (by is None and channels and segments) or (by == "channel" and segments) \
            or (by == "segment" and channels)
        if crossed:
            keep = (by,) if by else ()
            return rollup(self._selected("channel_segment", window),
                          self.metrics("channel_segment", window).params, keep)
        if by is None and (channels or segments):
            dimension = "channel" if channels else "segment"
            return rollup(self._selected(dimension, window), self.metrics(dimension, window).params)
        rows = _in_range(self.metrics(by, window).rows, self.view, self.periods)
        if by in ("channel", "channel_segment") and channels:
            rows = rows.filter(pl.col("channel").is_in(channels))
        if by in ("segment", "channel_segment") and segments:
            rows = rows.filter(pl.col("segment").is_in(segments))
        return rows

    def chart(self, builder: Callable[..., go.Figure], by: str | None = None, period: str | None = None, *,
              source: ChartSource = "rows", **options: Any) -> go.Figure:
        """``builder`` (a function of ``finance.present.charts``) drawn for this view, once per view and data version.

        ``source`` is what it draws: the view's metric rows (by ``by``, of one ``period`` when given),
        only the rows whose CAC is known (``"costed"``), or the cohort matrix (``"cohorts"``).
        Building a Plotly figure costs tens of milliseconds; a warm rerun reuses it. A time series (a builder
        taking ``marks``) marks the view's periods whose spend does not reconcile to the general ledger.
        """
        if period is None and source == "rows" and _takes_marks(builder):
            options.setdefault("marks", self.marks())
        return _cached_chart(self, builder, by, period, source, tuple(sorted(options.items())))

    @property
    def currency(self) -> str:
        """The database's currency (ISO code): every amount on the page is written in it."""
        return load_currency(self.path, self.version)

    def ltv_model(self) -> LTVResult:
        return self.metrics().ltv

    def cohort_matrix(self) -> pl.DataFrame:
        return load_cohort_matrix(self.path, self.version, self.view.grain)

    def unreconciled(self) -> tuple[str, ...]:
        """The view's periods whose spend does not reconcile to the general ledger (none without a ledger)."""
        result = load_reconciliation(self.path, self.version, self.view.grain)
        if result is None:
            return ()
        selected = self.view.period_range(self.periods)
        return tuple(p for p in result.failing if selected is None or selected[0] <= p <= selected[1])

    def targets(self) -> Targets:
        """The targets in force: LTV:CAC and CAC payback (the assumptions) and each channel's CAC."""
        return Targets.of(self.assumptions.target_ratio, self.assumptions.target_payback_months,
                          load_cac_targets(self.path, self.version))

    def cac_targets(self) -> tuple[tuple[str, float], ...]:
        """Each channel's CAC target as a chart takes it: (channel, amount)."""
        found = self.targets()
        return tuple((found.names[key], float(amount)) for key, amount in sorted(found.cac.items()))

    def marks(self) -> tuple[Mark, ...]:
        """What the view's time-series charts mark: its periods whose spend does not reconcile to the ledger, and
        the notes on the timeline (those about a channel or segment only when the view shows it)."""
        periods = self.unreconciled()
        gl = unreconciled_marks(load_reconciliation(self.path, self.version, self.view.grain), self.currency,
                                periods) if periods else ()
        notes = load_notes(self.path, self.version)
        channels, segments = self.filters
        if channels:
            notes = notes.filter(pl.col("channel").is_null() | pl.col("channel").is_in(channels))
        if segments:
            notes = notes.filter(pl.col("segment").is_null() | pl.col("segment").is_in(segments))
        return gl + note_marks(notes, self.view.grain, self.assumptions.fiscal_year_start)


@functools.lru_cache(maxsize=64)  # one entry per chart builder
def _takes_marks(builder: Callable[..., go.Figure]) -> bool:
    return "marks" in inspect.signature(builder).parameters


@functools.lru_cache(maxsize=256)
def _cached_chart(ctx: Context, builder: Callable[..., go.Figure], by: str | None, period: str | None,
                  source: ChartSource, options: tuple[tuple[str, Any], ...]) -> go.Figure:
    if source == "cohorts":
        return builder(ctx.cohort_matrix(), **dict(options), currency=ctx.currency)
    rows = ctx.rows(by)
    if period is not None:
        rows = rows.filter(pl.col("period_label") == period)
    if source == "costed":
        rows = rows.filter(pl.col("spend").is_not_null() & (pl.col("new_customers") > 0))
    return builder(rows, **dict(options), currency=ctx.currency)


def _in_range(rows: pl.DataFrame, view: ViewState, periods: tuple[str, ...]) -> pl.DataFrame:
    selected = view.period_range(periods)
    if not selected or rows.is_empty():
        return rows
    return rows.filter(pl.col("period_label").is_between(pl.lit(selected[0]), pl.lit(selected[1])))

