"""The CFO board pack: one quarter's marketing efficiency and the next budget request, as PDF or XLSX.

:func:`gather` reads the store once and asks the core for every number: the quarterly metric
tables (pooled, by channel, by segment) from ``finance.metrics.table.compute`` under the stored
assumptions, and the budget request, its baseline and its optimised split from
``finance.planning.plans``. Its charts are ``finance.present.charts``' builders given the rows the dashboard
pages give them, so the printed figures are the ones on screen. Nothing here computes a metric:
the tables only select, rename and format the core's values (a share of spend and a change
against the prior quarter are the only arithmetic, and they are presentation).

:func:`tables` is the one list of the pack's tables: the XLSX is those tables (via
``finance.present.exports``), and the PDF (via ``finance.present.pdf``) prints the same frames with
readable headers. :func:`write` picks the format by suffix and replaces the file atomically.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import polars as pl

from finance.domain.assumptions import LABELS, Assumptions
from finance.domain.periods import add_quarters
from finance.domain.schema import BAND_LABELS, CATEGORIES, KINDS, MARKETING_CATEGORIES
from finance.ltv import backtest
from finance.ltv.base import METHODS, Method
from finance.metrics import reconcile
from finance.metrics.mix import Mix, headline_mix
from finance.metrics.params import metric_params, resolve
from finance.metrics.reconcile import Reconciliation
from finance.metrics.table import MetricsResult, compute
from finance.metrics.targets import Targets, misses
from finance.planning import plans as sc
from finance.planning.curves import CURVE_NAMES, PlanError
from finance.planning.session import WORKING, PackPlan
from finance.present import charts, exports, formats, methodology_doc, pdf, phrases, summary
from finance.present.i18n import N_, _, language
from finance.store import notes, targets
from finance.store.database import DEMO_SETTING, PROJECT_DIR, Store
from finance.store.dataset import Dataset

TITLE = N_("Marketing efficiency board pack")
DEFAULT_COMPANY = N_("Marketing efficiency")
BASELINE = N_("Baseline (repeat last quarter)")
OPTIMISED = N_("Optimised split")
SUFFIXES = (".pdf", ".xlsx")
TREND_TABLE_QUARTERS = 8
"""Quarters in the PDF's trend table (the XLSX has every quarter up to the pack's)."""
METHODOLOGY = PROJECT_DIR / "docs" / "methodology.md"
"""The appendix in English; ``docs/methodology.<lang>.md`` next to it in the pack's language when there is one."""

SECTIONS = (N_("Executive summary"), N_("Key figures and trend"), N_("Fully loaded CAC"), N_("CPL and CPA"),
            N_("Channel efficiency"), N_("Budget request"), N_("Reconciliation to the general ledger"),
            N_("Assumptions"), N_("Methodology"))
"""The PDF's section headings, in order (in English: ``_(heading)`` in the pack's language). The reconciliation's
is there when a general ledger is imported; without one, the Assumptions page says the spend is not reconciled."""
RECONCILIATION = SECTIONS[6]
SHEETS = ("KPI summary", "LTV-CAC trend", "CAC by category", "CPL-CPA history", "Channels", "Segments",
          "Budget request lines", "Projection by channel", "Scenario comparison", "GL reconciliation")
"""The XLSX's tables, in order (an Assumptions sheet follows them)."""
SHEET_LABELS = {"CAC by category": {"spend": "Spend"}, "Projection by channel": {"spend": "Direct spend"},
                "Budget request lines": {"quarter": "Planned quarter"}}
"""Headers of the XLSX's own in a sheet where the registry's label would mislead (a category's spend)."""


@dataclass(frozen=True)
class BoardPack:
    """Everything the pack shows, as the core computed it: frames, projections, figures and text."""

    company: str
    currency: str
    """The store's currency code (``USD``)."""
    prepared_on: date
    period: str
    """The quarter reported, e.g. ``2025-Q4``."""
    prior_period: str | None
    quarters: tuple[str, ...]
    """Quarters with spend and new customers: the valid choices of ``period``."""
    as_of: date
    method: str
    model_note: str
    """Which model valued each segment and how well it back-tested, in a sentence."""
    target_ratio: float
    """The LTV:CAC the probability of falling short is measured against."""
    band_edges: tuple[float, ...]
    quarterly: pl.DataFrame
    """Pooled metric rows (``finance.metrics.table.compute``), every quarter up to ``period``."""
    by_channel: pl.DataFrame
    """Metric rows by channel, every quarter up to ``period``."""
    by_segment: pl.DataFrame
    """Metric rows by segment, every quarter up to ``period``."""
    cac_by_category: Mapping[str, Decimal | None]
    """Each category's contribution to ``period``'s CAC (``MetricsResult.to_json``'s ``cac_by_category``)."""
    plan_period: str
    """The quarter the budget request is for (the one after the last quarter with spend)."""
    interval: float
    """Central share of the draws that the LTV interval and the projected ranges cover (0.8)."""
    request: sc.Projection
    request_note: str
    request_source: str
    baseline: sc.Projection
    optimised: sc.Projection
    comparison: pl.DataFrame
    """``finance.planning.plans.compare`` of baseline, request and optimised split."""
    warnings: tuple[str, ...]
    assumptions: tuple[tuple[str, Any, str], ...]
    """(label, value, format) for every assumption behind the pack; format is a ``finance.present.pdf.FORMATS`` key."""
    figures: Mapping[str, go.Figure]
    """trend, waterfall, categories, cpl_cpa, channels."""
    methodology: str
    """docs/methodology.md (Markdown): the formulas and their sources in a CFO's words."""
    mix: Mix
    """``period``'s headline split by segment, and the segment that carries it, if one does."""
    data_version: str
    """Which imports the figures are from, as of when, and who prepared the pack, in a sentence."""
    reconciliation: Reconciliation | None = None
    """The spend reconciled to the general ledger by quarter, up to ``period`` (None: no ledger imported)."""
    spend_basis: str = "cash"
    """The basis the spend is on (``finance.store.dataset.SPEND_BASES``)."""
    notes: pl.DataFrame | None = None
    """The notes on the timeline up to the end of ``period`` (``finance.store.notes.listed``): marked on the charts
    and listed with the assumptions."""
    missed: pl.DataFrame | None = None
    """Each quarter up to ``period`` (and channel) that missed a target (``finance.metrics.targets.misses``)."""

    @property
    def symbol(self) -> str:
        """What money amounts are written with: ``$`` for USD, else the currency's symbol or code."""
        return formats.symbol(self.currency)

    @property
    def row(self) -> dict[str, Any]:
        """The pooled metric row of ``period``."""
        return self.quarterly.filter(pl.col("period_label") == self.period).row(0, named=True)

    @property
    def prior(self) -> dict[str, Any] | None:
        """The pooled metric row of the quarter before ``period``, if there is one."""
        if self.prior_period is None:
            return None
        return self.quarterly.filter(pl.col("period_label") == self.prior_period).row(0, named=True)

    @property
    def projections(self) -> tuple[sc.Projection, sc.Projection, sc.Projection]:
        return self.baseline, self.request, self.optimised


@dataclass(frozen=True)
class Written:
    """What :func:`write` wrote: the file, its size in bytes, and its pages (PDF) or sheets (XLSX)."""

    path: Path
    size: int
    count: int
    unit: str


# ---------------------------------------------------------------------------------------------
# Gathering
# ---------------------------------------------------------------------------------------------


def gather(store: Store | Path | str, *, period: str | None = None, scenario: str | None = None,
           method: Method = "auto", prepared_on: date | None = None, request: PackPlan | None = None,
           basis: sc.PlanningBasis | None = None, prepared_by: str | None = None) -> BoardPack:
    """The pack for ``period`` (default: the latest quarter with new customers) and a budget request.

    The request is ``request`` (the planner's working plan and the optimised split it shows), else the
    saved scenario named ``scenario``, else the most recently updated saved scenario of kind
    "request", else last quarter's spend repeated. ``basis`` is the planning basis to project on
    (default: fitted here from the store); the planner passes its own, so the pack's projections
    are the page's. ``prepared_by`` (the signed-in user, or the command line's) is named on the first
    page. ``ValueError`` (a ``PlanError`` for scenarios) names a bad period, scenario or
    method and the valid choices.
    """
    if request is not None and scenario is not None:
        raise ValueError("a pack has one budget request: give the planner's plan or a scenario name, not both")
    if method not in METHODS:
        raise ValueError(f"unknown LTV method {method!r}; valid: {', '.join(METHODS)}")
    if isinstance(store, Store):
        source = _read(store, scenario)
    else:
        path = Path(store)
        if not path.is_file():
            raise ValueError(f"no database at {path}; build the demo company's with `python -m finance demo` "
                             "or import your exports first")
        with Store(path, read_only=True) as opened:
            source = _read(opened, scenario)
    data, stored, currency, company, saved, check, imports, reconciliation, noted, cac_targets = source
    assumptions = resolve(stored).assumptions
    pooled, quarters, chosen, start, quarterly, by_channel = metric_frames(data, assumptions, method, check, period)
    by_segment = compute(data, metric_params(assumptions, by="segment", method=method), check).rows.filter(
        pl.col("period") <= start)
    known = quarterly.filter(pl.col("spend").is_not_null())
    labels = known.get_column("period_label").to_list()
    prior = labels[labels.index(chosen) - 1] if labels.index(chosen) > 0 else None
    category_json = next(r for r in pooled.to_json()["rows"] if r["period"] == chosen)["cac_by_category"]
    plan = _plan(data, assumptions, method, saved, check, given=request, basis=basis)
    edges = assumptions.band_edges
    this_quarter = quarterly.filter(pl.col("period_label") == chosen)
    reconciled = _up_to(reconciliation, start)
    noted = noted.filter(pl.col("day") < add_quarters(start, 1))
    goals = Targets.of(assumptions.target_ratio, assumptions.target_payback_months, cac_targets)
    marks = charts.unreconciled_marks(reconciled, currency) + charts.note_marks(
        noted, "quarter", assumptions.fiscal_year_start)
    figures = {
        "trend": charts.ltv_cac_trend(quarterly, edges=edges, currency=currency, marks=marks,
                                      target=assumptions.target_ratio),
        "waterfall": charts.cac_waterfall(this_quarter, currency=currency),
        "categories": charts.spend_by_category(quarterly, currency=currency, marks=marks),
        "cpl_cpa": charts.cpl_cpa_history(by_channel, dimension="channel", volume="leads", currency=currency,
                                          marks=marks),
        "channels": charts.channel_efficiency(by_channel.filter(pl.col("period_label") == chosen),
                                              dimension="channel", edges=edges, currency=currency),
    }
    settings = pooled.assumptions()
    mix = headline_mix(this_quarter.row(0, named=True), by_segment.filter(pl.col("period_label") == chosen),
                       "segment", assumptions.target_ratio, edges)
    prepared = prepared_on or date.today()
    return BoardPack(
        company=company or _(DEFAULT_COMPANY), currency=currency, prepared_on=prepared,
        period=chosen, prior_period=prior, quarters=quarters, as_of=pooled.as_of, method=method,
        model_note=summary.model_sentence(pooled), target_ratio=assumptions.target_ratio, band_edges=edges,
        quarterly=quarterly, by_channel=by_channel, by_segment=by_segment,
        cac_by_category={k: Decimal(v) if v is not None else None for k, v in category_json.items()},
        plan_period=plan.basis.period, interval=plan.basis.interval, request=plan.request, request_note=plan.note,
        request_source=plan.source,
        baseline=plan.baseline, optimised=plan.optimised,
        comparison=sc.compare([plan.baseline, plan.request, plan.optimised]),
        warnings=tuple(dict.fromkeys(plan.warnings)),
        assumptions=_assumption_rows(settings, assumptions, currency, chosen, plan,
                                     summary.basis_words(pooled, currency)),
        figures=figures, methodology=_methodology(), mix=mix,
        data_version=_data_version(imports, pooled.as_of, prepared, prepared_by),
        reconciliation=reconciled, spend_basis=pooled.params.spend_basis or "cash", notes=noted,
        missed=misses(quarterly, by_channel, goals),
    )


def metric_frames(data: Dataset, assumptions: Assumptions, method: Method, check: Any, period: str | None
                  ) -> tuple[MetricsResult, tuple[str, ...], str, date, pl.DataFrame, pl.DataFrame]:
    """The pack's figures: the pooled result, the quarters it may report, the one it reports (``period``, else
    the latest complete) and its start, and the pooled and by-channel rows of every quarter up to it."""
    pooled = compute(data, metric_params(assumptions, method=method), check)
    quarters, chosen, start = _choose_period(pooled.rows, period)
    up_to = pl.col("period") <= start
    by_channel = compute(data, metric_params(assumptions, by="channel", method=method), check).rows.filter(up_to)
    return pooled, quarters, chosen, start, pooled.rows.filter(up_to), by_channel


def _up_to(result: Reconciliation | None, start: date) -> Reconciliation | None:
    """The reconciliation's quarters up to the one reported (its lines, periods and uncovered quarters)."""
    if result is None:
        return None
    keep = pl.col("period_start") <= start
    return replace(result, lines=result.lines.filter(keep), periods=result.periods.filter(keep))


_Source = tuple[Dataset, dict[str, str], str, str | None, sc.Scenario | None, backtest.ModelCheck | None,
                pl.DataFrame, Reconciliation | None, pl.DataFrame, pl.DataFrame]


def _read(store: Store, scenario: str | None) -> _Source:
    """Everything the pack needs from the store, read in one go; the model check of its data (stored,
    else run now and stored), so the pack's figures are the dashboard's."""
    data, stored, imports = store.dataset(), store.assumptions(), store.imports()
    check = backtest.stored_or_run(store.path, imports, data, resolve(stored).params.ltv)
    return (data, stored, store.currency, store.setting(DEMO_SETTING), _saved_request(store, scenario), check,
            imports, reconcile.from_store(store, "quarter"), notes.listed(store), targets.listed(store))


def _data_version(imports: pl.DataFrame, as_of: date, prepared_on: date, prepared_by: str | None) -> str:
    """'Figures as of 31 Dec 2025, from imports 1 to 5 (spend, funnel, customers, revenue, GL), the latest
    on 5 Dec 2026 by ops@example.com. Prepared on 5 Dec 2026 by cfo@example.com.'"""
    active = imports.filter(pl.col("status") == "active").sort("import_id")
    prepared = (_("Prepared on {day} by {person}.").format(day=formats.day(prepared_on), person=prepared_by)
                if prepared_by else _("Prepared on {day}.").format(day=formats.day(prepared_on)))
    if active.is_empty():
        return _("Figures as of {day}, from no imported files (nothing in force). {prepared}").format(
            day=formats.day(as_of), prepared=prepared)
    ids = [str(i) for i in active.get_column("import_id").to_list()]
    shown = ids if len(ids) <= 8 else [*ids[:7], _("{count} more").format(count=len(ids) - 7)]
    numbers = shown[0] if len(shown) == 1 else _("{first} and {last}").format(first=", ".join(shown[:-1]),
                                                                              last=shown[-1])
    if len(ids) > 2 and [int(i) for i in ids] == list(range(int(ids[0]), int(ids[-1]) + 1)):
        numbers = _("{first} to {last}").format(first=ids[0], last=ids[-1])  # every import from the first to the last
    kinds = set(active.get_column("kind").to_list())
    latest = active.sort("imported_at").row(-1, named=True)
    when = latest["imported_at"]
    words = {"day": formats.day(as_of), "numbers": numbers,
             "kinds": ", ".join(_(summary.KIND_WORDS.get(k, k)) for k in KINDS if k in kinds),
             "latest": formats.day(when.date() if isinstance(when, datetime) else when),
             "person": latest.get("imported_by") or "", "prepared": prepared}
    if latest.get("imported_by"):
        text = (_("Figures as of {day}, from imports {numbers} ({kinds}), the latest on {latest} (UTC) by {person}. "
                  "{prepared}") if len(ids) > 1 else
                _("Figures as of {day}, from import {numbers} ({kinds}), the latest on {latest} (UTC) by {person}. "
                  "{prepared}"))
    else:
        text = (_("Figures as of {day}, from imports {numbers} ({kinds}), the latest on {latest} (UTC). {prepared}")
                if len(ids) > 1 else
                _("Figures as of {day}, from import {numbers} ({kinds}), the latest on {latest} (UTC). {prepared}"))
    return text.format(**words)



def _saved_request(store: Store, name: str | None) -> sc.Scenario | None:
    """The named scenario (PlanError listing the saved ones if unknown), else the latest saved request."""
    if not store.has_scenario_tables():  # a database from before scenarios were saved
        if name is not None:
            raise PlanError(f"no scenario named {name!r}; saved scenarios: none")
        return None
    if name is not None:
        return sc.load_scenario(store, name)
    saved = sc.list_scenarios(store).filter(pl.col("kind") == "request")  # newest first
    return sc.load_scenario(store, saved.get_column("name")[0]) if saved.height else None


def _choose_period(rows: pl.DataFrame, period: str | None) -> tuple[tuple[str, ...], str, date]:
    """(valid quarters, the chosen one, its start date); the default is the latest complete one."""
    valid = rows.filter(pl.col("spend").is_not_null() & (pl.col("new_customers") > 0)).sort("period")
    quarters = tuple(valid.get_column("period_label").to_list())
    if not quarters:
        raise ValueError("no quarter has both spend and new customers yet: load spend and customers (or revenue) "
                         "before making a board pack")
    complete = valid.filter(pl.col("status") == "complete").get_column("period_label").to_list()
    default = complete[-1] if complete else quarters[-1]  # a quarter awaiting its revenue is no headline
    chosen = default if period is None else " ".join(period.split()).upper()
    if chosen not in quarters:
        raise ValueError(f"unknown period {period!r}: expected a quarter with spend and new customers, one of "
                         f"{', '.join(quarters)}")
    start = valid.filter(pl.col("period_label") == chosen).get_column("period")[0]
    return quarters, chosen, start


@dataclass(frozen=True)
class _Plan:
    basis: sc.PlanningBasis
    request: sc.Projection
    baseline: sc.Projection
    optimised: sc.Projection
    note: str
    source: str
    warnings: list[str]


def _plan(data: Dataset, assumptions: Assumptions, method: Method, saved: sc.Scenario | None,
          check: Any = None, *, given: PackPlan | None = None, basis: sc.PlanningBasis | None = None) -> _Plan:
    """The budget request projected, against repeating last quarter and against its optimised split
    (``given``: the planner's request and the split it shows, projected as the page projects them)."""
    if basis is None:
        basis = sc.planning_basis(data, metric_params(assumptions, method=method), check=check)
    last = basis.last_label
    warnings = phrases.texts(basis.notes)  # the planner's English sentences, in the language
    if given is not None:
        name, lines, note, source = given.name, given.lines, given.note, phrases.text(given.source)
        name = _(WORKING) if name == WORKING else name  # a saved scenario's name is the user's own
    elif saved is not None:
        name, lines, note = saved.name, saved.lines, saved.note
        updated = _(", updated {day} {time}").format(day=formats.day(saved.updated_at.date()),
                                                    time=f"{saved.updated_at:%H:%M}") \
            if isinstance(saved.updated_at, datetime) else ""
        source = _("saved scenario ({kind}{updated})").format(kind=saved.kind, updated=updated)
        if saved.period != basis.period:
            warnings.append(_("The scenario {name} was saved for {saved}; it is projected here for {period}, the "
                              "quarter after the last one with spend ({last}).").format(
                name=repr(saved.name), saved=saved.period, period=basis.period, last=last))
    else:
        name, lines, note = _("Repeat of {period}").format(period=last), basis.starts["last_quarter"], ""
        source = _("no saved budget request: last quarter's spend repeated")
        warnings.append(_("No budget request is saved, so the request shown is {period}'s spend repeated; save a "
                          "scenario of kind \"{kind}\" in the planner to put it here.").format(
            period=last, kind=_("request")))  # the kind as the planner's choice writes it
    if name in (_(BASELINE), _(OPTIMISED)):  # the comparison needs three distinct names
        name = _("{name} (request)").format(name=name)
    try:
        request = sc.project(basis, lines, name=name)
        optimised_lines = list(given.optimised) if given is not None else sc.optimise(basis, request.lines)[0]
    except PlanError as exc:
        raise PlanError(f"the budget request {name!r} cannot be projected: {exc}") from None
    baseline = sc.project(basis, basis.starts["last_quarter"], name=_(BASELINE))
    optimised = sc.project(basis, optimised_lines, name=_(OPTIMISED))
    warnings += [f"{p.name}: {phrases.text(w)}" for p in (request, optimised) for w in p.warnings]
    return _Plan(basis, request, baseline, optimised, note, source, warnings)


def _assumption_rows(settings: Mapping[str, Any], assumptions: Assumptions, currency: str, period: str,
                     plan: _Plan, basis: str) -> tuple[tuple[str, Any, str], ...]:
    """Every assumption behind the pack, labelled for a CFO: the metrics' (as ``compute`` has them) and the plan's."""
    edges = settings["band_edges"]
    bounds = [_("below {edge}").format(edge=formats.threshold(edges[0])),
              *(_("{low} to {high}").format(low=formats.threshold(low), high=formats.threshold(high))
                for low, high in itertools.pairwise(edges)),
              _("{edge} and over").format(edge=formats.threshold(edges[-1]))]
    bands = formats.clauses(f"{summary.band(label)} {bound}" for label, bound in zip(BAND_LABELS, bounds, strict=True))
    low, high = sc.CHANGE_LIMITS
    window = settings["window_months"]
    grain = _(GRAIN_WORDS.get(settings["grain"], settings["grain"]))
    return (
        (_("Quarter reported"), period, "text"),
        (_("Data as of"), settings["as_of"], "text"),
        (_("Currency"), currency, "text"),
        (_("Grain and window"), f"{grain}, " + (_("trailing {months} months").format(months=window) if window else
                                                 _("each quarter alone")), "text"),
        # in words, with the key the command line takes: "recommended (auto)"
        (_("LTV method"), formats.aside(_(summary.METHOD_WORDS[method]), method) if (method := settings["ltv_method"])
         in summary.METHOD_WORDS else method, "text"),
        (_(LABELS["horizon_months"]), settings["ltv_horizon_months"], "int"),
        (_(LABELS["annual_discount_rate"]), settings["annual_discount_rate"], "percent"),
        (_(LABELS["default_gross_margin"]), settings["default_gross_margin"], "percent"),
        (_("LTV interval (central share of draws)"), settings["interval"], "percent"),
        (_(LABELS["band_edges"]), bands, "text"),
        (_(LABELS["target_ratio"]), settings["target_ratio"], "ratio"),
        *([(_(LABELS["target_payback_months"]), assumptions.target_payback_months, "months")]
          if assumptions.target_payback_months else []),
        (_(LABELS["lag_quarters"]), settings["acquisition_lag_quarters"], "int"),
        (_(LABELS["allocation"]), _(ALLOCATION_WORDS.get(settings["shared_cost_allocation"],
                                                         settings["shared_cost_allocation"])), "text"),
        (_(LABELS["fiscal_year_start"]), assumptions.fiscal_year_start, "int"),
        (_("Spend basis"), basis, "text"),
        (_("Budget request"), plan.request.name, "text"),
        (_("Budget request source"), plan.source, "text"),
        (_("Budget request note"), plan.note or _("none"), "text"),
        (_("Planned quarter"), plan.basis.period, "text"),
        (_("Planned from the history to"), plan.basis.as_of.isoformat(), "text"),
        (_("Projection draws"), sc.DRAWS, "int"),
        (_("Projection ranges (central share of draws)"), plan.basis.interval, "percent"),
        (_("Acquisition quarters behind a channel's projected LTV"), sc.LTV_QUARTERS, "int"),
        (_("Optimised split bounds (share of each channel's request)"),
         _("{low} to {high}").format(low=formats.percent(low, places=0), high=formats.percent(high, places=0)),
         "text"),
    )


GRAIN_WORDS = {"quarter": N_("quarter"), "month": N_("month")}
ALLOCATION_WORDS = {"spend": N_("spend"), "customers": N_("customers")}
"""How shared costs are split across channels (the stored ``shared_cost_allocation``), in a sentence."""


def _methodology() -> str:
    """docs/methodology.md in the pack's language (docs/methodology.<lang>.md, else the English), without
    any command-line section (a board reads formulas, not flags)."""
    try:
        text = methodology_doc.path(language(), METHODOLOGY).read_text(encoding="utf-8")
    except OSError:
        return f"The formulas are documented in docs/metrics.md (not found at {METHODOLOGY})."
    parts = re.split(r"(?m)^(?=## )", text)
    return "".join(part for part in parts if not part.startswith("## Command line"))


# ---------------------------------------------------------------------------------------------
# Tables (the XLSX's sheets; the PDF prints the same frames)
# ---------------------------------------------------------------------------------------------

_KPI_COLUMNS = ("spend", "spend_sm", "new_customers", "cac_media", "cac", "cac_sm", "ltv", "ltv_low", "ltv_high",
                "ltv_cac", "ltv_cac_low", "ltv_cac_high", "band", "payback_months", "roi")


def tables(pack: BoardPack) -> dict[str, pl.DataFrame]:
    """The pack's tables by sheet name (:data:`SHEETS`), with the core's values and snake_case columns."""
    quarter = pl.col("period_label").alias("quarter")
    in_period = pl.col("period_label") == pack.period
    kpis = pack.quarterly.filter(pl.col("period_label").is_in([pack.period, pack.prior_period or pack.period]))
    return {
        "KPI summary": kpis.sort("period", descending=True).select(quarter, *_KPI_COLUMNS),
        "LTV-CAC trend": pack.quarterly.filter(pl.col("spend").is_not_null()).select(
            quarter, "spend", "new_customers", "cac", "ltv", "ltv_low", "ltv_high", "ltv_cac", "ltv_cac_low",
            "ltv_cac_high", "band", "payback_months", "roi"),
        "CAC by category": _category_table(pack),
        "CPL-CPA history": pack.quarterly.filter(pl.col("spend").is_not_null()).select(
            quarter, "direct_spend", "leads", "cpl", "new_customers", "cpa", "visitors", "cost_per_visitor"),
        "Channels": pack.by_channel.filter(in_period).sort("channel").select(
            quarter, "channel", "spend", "direct_spend", "new_customers", "leads", "cpl", "cpa", "cac", "ltv",
            "ltv_cac", "band", "payback_months", "roi"),
        "Segments": pack.by_segment.filter(in_period).sort("segment").select(
            quarter, "segment", "spend", "new_customers", "cac", "ltv", "ltv_cac", "band", "payback_months", "roi"),
        "Budget request lines": sc.lines_frame(pack.request.lines).select(
            pl.lit(pack.request.name).alias("scenario"), pl.lit(pack.plan_period).alias("quarter"), pl.all()),
        "Projection by channel": pack.request.channels.select(
            pl.lit(pack.request.name).alias("scenario"), pl.all()).with_columns(
            pl.col("curve").replace(CURVE_NAMES)),  # "Hill", "Constant CPA": the curve's name, not its key
        "Scenario comparison": _comparison_wide(pack),
        "GL reconciliation": _reconciliation_table(pack),
    }


def _reconciliation_table(pack: BoardPack) -> pl.DataFrame:
    """Every quarter and cost category compared with the general ledger, up to the one reported (no rows
    without a ledger)."""
    schema: dict[str, pl.DataType] = {
              "quarter": pl.String(), "category": pl.String(), "label": pl.String(), "ledger": pl.Decimal(38, 4),
              "spend_imported": pl.Decimal(38, 4), "variance": pl.Decimal(38, 4), "variance_share": pl.Float64(),
              "status_label": pl.String()}
    if pack.reconciliation is None:
        return pl.DataFrame(schema=schema)
    labels = {k: c.label for k, c in CATEGORIES.items()}
    return pack.reconciliation.lines.select(
        quarter="period", category="category", label=pl.col("category").replace_strict(labels, default=None),
        ledger="ledger", spend_imported="spend", variance="variance", variance_share="variance_share",
        status_label=pl.col("status").replace_strict({k: _(v) for k, v in RECONCILE_WORDS.items()}, default=None),
    ).cast(pl.Schema(schema))


RECONCILE_WORDS = {reconcile.RECONCILED: N_("reconciled"), reconcile.VARIANCE: N_("does not reconcile"),
                   reconcile.NO_ACCOUNT: N_("no ledger account mapped")}
"""A reconciliation line's status in words (``finance.metrics.reconcile.STATUSES``)."""


def _category_table(pack: BoardPack) -> pl.DataFrame:
    """Spend and CAC contribution per cost category in the period, then the marketing and S&M totals."""
    row = pack.row
    total = row["spend"]
    rows: list[tuple[str, str, Any, Any, float | None]] = []
    for key in (*MARKETING_CATEGORIES, "sales"):
        spend = row[f"spend_{key}"]
        if key == "sales":
            rows.append(("marketing", N_("Fully loaded (marketing)"), total, row["cac"], 1.0 if total else None))
        share = float(spend / total) if spend is not None and total else None
        rows.append((key, CATEGORIES[key].label, spend, pack.cac_by_category.get(key),
                     None if key == "sales" else share))
    rows.append(("sales_and_marketing", N_("Sales and marketing"), row["spend_sm"], row["cac_sm"], None))
    return pl.DataFrame(rows, schema={"category": pl.String, "label": pl.String, "spend": pl.Decimal(38, 4),
                                      "cac_contribution": pl.Decimal(38, 10), "share_of_marketing": pl.Float64},
                        orient="row").select(pl.lit(pack.period).alias("quarter"), pl.all())


def _comparison_wide(pack: BoardPack) -> pl.DataFrame:
    """``compare``'s long frame as one row per scenario: each figure with its _low and _high."""
    records = []
    for projection in pack.projections:
        record: dict[str, Any] = {"scenario": projection.name, "quarter": projection.period,
                                  "band": projection.band}
        for rec in pack.comparison.filter(pl.col("scenario") == projection.name).iter_rows(named=True):
            record[rec["figure"]] = rec["value"]
            if rec["figure"] not in ("spend", "spend_sm"):  # a spend has no range
                record[f"{rec['figure']}_low"], record[f"{rec['figure']}_high"] = rec["low"], rec["high"]
        records.append(record)
    columns = [c for key in sc.FIGURES for c in ((key,) if key in ("spend", "spend_sm")
                                                  else (key, f"{key}_low", f"{key}_high"))]
    schema = {"scenario": pl.String, "quarter": pl.String, "band": pl.String, **dict.fromkeys(columns, pl.Float64)}
    return pl.DataFrame(records, schema=schema).select("scenario", "quarter", *columns, "band")


# ---------------------------------------------------------------------------------------------
# XLSX
# ---------------------------------------------------------------------------------------------


def to_xlsx(pack: BoardPack) -> bytes:
    """The pack's tables as an Excel workbook, one sheet each, then the assumptions (``finance.present.exports``)."""
    sheets, money, percent = {}, set(), set()
    for name, frame in tables(pack).items():
        sheets[name], money_here, percent_here = exports.for_people(frame, pack.currency, SHEET_LABELS.get(name))
        money |= money_here
        percent |= percent_here
    return exports.to_xlsx_bytes(sheets, {label: value for label, value, _ in pack.assumptions}, sorted(money),
                                 currency=pack.currency, percent_columns=percent)


# ---------------------------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------------------------


def to_pdf(pack: BoardPack) -> bytes:
    """The pack as a PDF (``finance.present.pdf``, printed by headless Chromium)."""
    return pdf.render_pdf(document(pack))


def document(pack: BoardPack) -> pdf.Document:
    """The pack laid out as a ``finance.present.pdf`` document: cover, then :data:`SECTIONS`."""
    sheets = tables(pack)
    methodology: list[pdf.Block] = [pdf.Markdown(pack.methodology, columns=2)]
    if methodology_doc.untranslated(language(), METHODOLOGY):  # no docs/methodology.<lang>.md: the English
        methodology.insert(0, pdf.Paragraph(_("The methodology is documented in English.")))
    sections = [_executive_summary(pack, sheets), _key_figures(pack, sheets), _cac(pack, sheets),
                _cpl_cpa(pack, sheets), _channels(pack, sheets), _budget(pack, sheets),
                *([_reconciliation(pack)] if pack.reconciliation is not None else []), _assumptions(pack),
                pdf.Section(_(SECTIONS[8]), methodology)]
    assert tuple(s.heading for s in sections) == tuple(_(heading) for heading in SECTIONS
                                                      if heading != RECONCILIATION or pack.reconciliation)
    return pdf.Document(
        title=_(TITLE), subtitle=_("{period}, with the budget request for {plan_period}").format(
            period=pack.period, plan_period=pack.plan_period),
        prepared_on=pack.prepared_on, company=pack.company, sections=sections, currency=pack.currency,
        about=pack.data_version, cover=False)


def _fmt(pack: BoardPack, value: Any, kind: str) -> str:
    # A NumPy float (the planner's projections) is a float whose repr is "np.float64(...)": make it plain.
    return pdf.format_cell(float(value) if isinstance(value, float) else value, kind, pack.currency)


def _short_money(pack: BoardPack, value: Any) -> str:
    return formats.money_compact(value, pack.currency)


def _change(latest: Any, previous: Any, prior: str | None) -> str | None:
    """``+5.1% vs 2025-Q3``; None when either is unknown or the prior is zero."""
    if prior is None or latest is None or previous is None or float(previous) == 0:
        return None
    return summary.versus(formats.percent(float(latest) / float(previous) - 1, signed=True), prior)


def _joined(*parts: str | None) -> str | None:
    return formats.clauses(parts) or None


def _range(pack: BoardPack, low: Any, high: Any, kind: str) -> str | None:
    if low is None or high is None:
        return None
    return _("range {low} to {high}").format(low=_fmt(pack, low, kind), high=_fmt(pack, high, kind))


def _table(title: str, frame: pl.DataFrame, columns: Sequence[tuple[str, str, str]],
           note: str | None = None) -> pdf.Table:
    """A PDF table of ``frame``'s columns (source, header, format), headers readable (and translated, as
    the health bands in it are)."""
    selected = frame.select([(pl.col(source).replace(summary.band_words()) if source == "band" else pl.col(source))
                             .alias(_(header))
                             for source, header, _kind in columns])
    return pdf.Table(title, selected, {_(header): kind for _source, header, kind in columns if kind != "text"}, note)


def _executive_summary(pack: BoardPack, sheets: Mapping[str, pl.DataFrame]) -> pdf.Section:
    """Page 1: the finding, the headline figures against the prior quarter, the mix, and the request."""
    row, prior, p = pack.row, pack.prior, pack.prior_period
    was = prior or {}
    request, fig = pack.request, pack.request.figures
    payback = row["payback_months"]
    tiles = [
        pdf.Kpi(_("LTV:CAC"), _fmt(pack, row["ltv_cac"], "ratio"),
                _joined(summary.ltv_cac_detail(row, pack.target_ratio),
                        _("was {ratio} in {period}").format(ratio=_fmt(pack, was.get("ltv_cac"), "ratio"), period=p)
                        if p else None), row["band"]),
        pdf.Kpi(_("CAC payback"), _fmt(pack, payback, "months"),
                _joined(summary.months_change(payback, was.get("payback_months"), p),
                        _("months of gross margin to recover the CAC"))),
        pdf.Kpi(_("Fully loaded CAC"), _fmt(pack, row["cac"], "money"),
                _joined(_change(row["cac"], was.get("cac"), p),
                        _("media-only {amount}").format(amount=_fmt(pack, row["cac_media"], "money")))),
        pdf.Kpi(_("LTV (gross margin)"), _fmt(pack, row["ltv"], "money"),
                _joined(_range(pack, row["ltv_low"], row["ltv_high"], "money"),
                        _change(row["ltv"], was.get("ltv"), p))),
        pdf.Kpi(_("Budget request, {period}").format(period=pack.plan_period), _short_money(pack, request.spend),
                _("{name}: marketing spend, exactly {amount}").format(name=request.name,
                                                                       amount=_fmt(pack, request.spend, "money"))),
        pdf.Kpi(_("Projected LTV:CAC"), _fmt(pack, fig["ltv_cac"].point, "ratio"),
                _range(pack, fig["ltv_cac"].low, fig["ltv_cac"].high, "ratio"), request.band),
        pdf.Kpi(_("Projected new customers"), _fmt(pack, fig["customers"].point, "int"),
                _range(pack, fig["customers"].low, fig["customers"].high, "int")),
        pdf.Kpi(_("New customers"), _fmt(pack, row["new_customers"], "int"),
                _joined(_("in {period}").format(period=pack.period),
                        _change(row["new_customers"], was.get("new_customers"), p))),
    ]
    headers = {key: _(label) for key, label in (
        ("segment", N_("Segment")), ("new_customers", N_("New customers")), ("share", N_("Share of new customers")),
        ("cac", N_("Fully loaded CAC")), ("ltv", N_("LTV")), ("ltv_cac", N_("LTV:CAC")), ("band", N_("Band")))}
    mix = pl.DataFrame([(part.name, part.new_customers, part.customer_share,
                         part.spend / part.new_customers if part.new_customers else None, part.ltv, part.ltv_cac,
                         summary.band(part.band)) for part in pack.mix.parts],
                       schema={headers["segment"]: pl.String, headers["new_customers"]: pl.Int64,
                               headers["share"]: pl.Float64, headers["cac"]: pl.Float64, headers["ltv"]: pl.Float64,
                               headers["ltv_cac"]: pl.Float64, headers["band"]: pl.String}, orient="row")
    table = pdf.Table(_("The mix behind the headline, {period}").format(period=pack.period), mix,
                      {headers["new_customers"]: "int", headers["share"]: "percent", headers["cac"]: "money",
                       headers["ltv"]: "money", headers["ltv_cac"]: "ratio"},
                      summary.mix_note(pack.mix, pack.target_ratio))
    finding = summary.finding(row, pack.period, pack.target_ratio, pack.mix, prior, p)
    return pdf.Section(_(SECTIONS[0]), [pdf.Paragraph(finding, lead=True), pdf.Kpis(tiles), table])


def _key_figures(pack: BoardPack, sheets: Mapping[str, pl.DataFrame]) -> pdf.Section:
    row, prior, p = pack.row, pack.prior, pack.prior_period
    was = prior or {}
    figures = [("spend", N_("Marketing spend"), "money"), ("spend_sm", N_("Sales and marketing spend"), "money"),
               ("new_customers", N_("New customers"), "int"), ("cac_media", N_("Media-only CAC"), "money"),
               ("cac", N_("Fully loaded CAC"), "money"), ("cac_sm", N_("Sales and marketing CAC"), "money"),
               ("ltv", N_("LTV (gross margin)"), "money"), ("ltv_cac", N_("LTV:CAC"), "ratio"),
               ("payback_months", N_("CAC payback"), "months"), ("roi", N_("ROI"), "percent")]

    def cell(rec: Mapping[str, Any], key: str, kind: str) -> str:
        text = _fmt(pack, rec.get(key), kind)
        return f"{text}, {summary.band(rec['band'])}" if key == "ltv_cac" and rec.get("band") else text

    def change(key: str, kind: str) -> str:
        now, before = row[key], was.get(key)
        if now is None or before is None:
            return formats.na()
        if kind in ("money", "int"):
            return formats.percent(float(now) / float(before) - 1, signed=True) if float(before) else formats.na()
        if kind == "months":
            return summary.months_change(now, before) or formats.na()
        if kind == "ratio":
            return summary.ratio_change(now, before) or formats.na()
        return formats.points(now - before)

    prior_header, change_header = p or _("Prior quarter"), _("Change")
    lines = [(_(label), cell(row, key, kind), cell(was, key, kind) if prior else formats.na(), change(key, kind))
             for key, label, kind in figures]
    comparison = pl.DataFrame(lines, schema=[_("Figure"), pack.period, prior_header, change_header], orient="row")
    trend = sheets["LTV-CAC trend"].tail(TREND_TABLE_QUARTERS)
    table = _table(_("LTV:CAC by quarter, last {count} quarters").format(count=trend.height), trend, [
        ("quarter", N_("Quarter"), "text"), ("ltv", N_("LTV"), "money"), ("cac", N_("Fully loaded CAC"), "money"),
        ("ltv_cac", N_("LTV:CAC"), "ratio"), ("ltv_cac_low", N_("Low"), "ratio"), ("ltv_cac_high", N_("High"), "ratio"),
        ("band", N_("Band"), "text"), ("payback_months", N_("Payback"), "months"), ("roi", N_("ROI"), "percent")],
        note=formats.then(_("Low and high: LTV:CAC at the ends of the LTV range. Every quarter is in the XLSX pack."),
                          pack.model_note))
    return pdf.Section(_(SECTIONS[1]), [
        pdf.Columns([pdf.Table(_("{period} against the prior quarter").format(period=pack.period), comparison,
                               right=(pack.period, prior_header, change_header)),
                     pdf.Figure(pack.figures["trend"].to_dict(), height=360, width=pdf.COLUMN_FIGURE_WIDTH)]),
        table])


TARGET_WORDS = {"ltv_cac": N_("LTV:CAC at least"), "payback_months": N_("CAC payback at most"),
                "cac": N_("Fully loaded CAC at most")}
"""Each kind of target as the pack's table names it."""


def _missed_table(pack: BoardPack) -> list[pdf.Block]:
    """The quarters (and channels) that missed a target, each with its figure and the target (none: nothing; the
    assumptions' table says so beside the target)."""
    if pack.missed is None or pack.missed.is_empty():
        return []
    kinds = {"ltv_cac": "ratio", "payback_months": "months", "cac": "money"}
    rows = [(r["period"], r["channel"] or _("All channels"), _(TARGET_WORDS[r["measure"]]),
             _fmt(pack, r["target"], kinds[r["measure"]]), _fmt(pack, r["value"], kinds[r["measure"]]))
            for r in pack.missed.iter_rows(named=True)]
    frame = pl.DataFrame(rows, schema=[_("Quarter"), _("Channel"), _("Target"), _("Set at"), _("Was")], orient="row")
    return [pdf.Table(_("Quarters that missed the targets"), frame, right=(_("Set at"), _("Was")))]


def _notes_table(pack: BoardPack) -> list[pdf.Block]:
    """The notes on the timeline, numbered as the charts mark them (none: nothing)."""
    if pack.notes is None or pack.notes.is_empty():
        return []
    rows = [(f"#{n['note_id']}", charts.note_when(n), n["text"], n["channel"] or n["segment"] or _("All"),
             n["author"] or "")
            for n in pack.notes.iter_rows(named=True)]
    frame = pl.DataFrame(rows, schema=[_("Note"), _("When"), _("What happened"), _("About"), _("By")], orient="row")
    return [pdf.Table(_("Notes on the timeline (numbered on the charts)"), frame)]


def _cac(pack: BoardPack, sheets: Mapping[str, pl.DataFrame]) -> pdf.Section:
    labels = sheets["CAC by category"].get_column("label").to_list()
    categories = sheets["CAC by category"].with_columns(pl.col("label").replace({label: _(label) for label in labels}))
    table = _table(_("CAC by cost category, {period}").format(period=pack.period), categories, [
        ("label", N_("Cost category"), "text"), ("spend", N_("Spend"), "money"),
        ("cac_contribution", N_("Per new customer"), "money"),
        ("share_of_marketing", N_("Share of marketing"), "percent")],
        note=_("Each category's spend over the quarter's {customers} new customers; the marketing categories add up "
               "to fully loaded CAC (to rounding), sales to the S&M CAC.").format(
            customers=formats.count(pack.row["new_customers"])))
    waterfall = pdf.Figure(pack.figures["waterfall"].to_dict(), height=520, width=pdf.COLUMN_FIGURE_WIDTH)
    return pdf.Section(_(SECTIONS[2]), [pdf.Columns([waterfall, table])])


def _cpl_cpa(pack: BoardPack, sheets: Mapping[str, pl.DataFrame]) -> pdf.Section:
    table = _table(_("CPL and CPA by quarter, all channels"), sheets["CPL-CPA history"], [
        ("quarter", N_("Quarter"), "text"), ("direct_spend", N_("Direct spend"), "money"),
        ("leads", N_("Leads"), "int"),
        ("cpl", N_("CPL"), "money"), ("new_customers", N_("New customers"), "int"), ("cpa", N_("CPA"), "money")],
        note=_("On direct spend: each channel's own programmes, before shared costs."))
    return pdf.Section(_(SECTIONS[3]), [pdf.Columns([pdf.Figure(pack.figures["cpl_cpa"].to_dict(), height=620,
                                                              width=pdf.COLUMN_FIGURE_WIDTH), table])])


_EFFICIENCY = [("spend", N_("Spend"), "money"), ("new_customers", N_("New customers"), "int"),
               ("cac", N_("Fully loaded CAC"), "money"), ("ltv", N_("LTV"), "money"),
               ("ltv_cac", N_("LTV:CAC"), "ratio"), ("band", N_("Band"), "text"),
               ("payback_months", N_("Payback"), "months"), ("roi", N_("ROI"), "percent")]


def _channels(pack: BoardPack, sheets: Mapping[str, pl.DataFrame]) -> pdf.Section:
    channels = _table(_("Channels, {period}").format(period=pack.period), sheets["Channels"],
                      [("channel", N_("Channel"), "text"), *_EFFICIENCY, ("cpl", N_("CPL"), "money"),
                       ("cpa", N_("CPA"), "money")],
                      note=_("Spend and CAC include each channel's share of shared costs; CPL and CPA are on its "
                             "direct spend."))
    segments = _table(_("Segments, {period}").format(period=pack.period), sheets["Segments"], [
        ("segment", N_("Segment"), "text"), ("new_customers", N_("New customers"), "int"),
        ("cac", N_("Fully loaded CAC"), "money"), ("ltv_cac", N_("LTV:CAC"), "ratio"), ("band", N_("Band"), "text")],
        note=_("Each segment's LTV is in the executive summary's mix table and the XLSX pack."))
    return pdf.Section(_(SECTIONS[4]), [pdf.Columns([pdf.Figure(pack.figures["channels"].to_dict(), height=420,
                                                              width=pdf.COLUMN_FIGURE_WIDTH), segments]), channels])


def _budget(pack: BoardPack, sheets: Mapping[str, pl.DataFrame]) -> pdf.Section:
    request = pack.request
    fig = request.figures

    def ranged(key: str, kind: str) -> str | None:
        return _range(pack, fig[key].low, fig[key].high, kind)

    tiles = [  # the other projected figures, each with its range, are in the comparison table below
        pdf.Kpi(_("Marketing spend requested"), _short_money(pack, request.spend),
                _("exactly {amount}; with sales {with_sales}").format(
                    amount=_fmt(pack, request.spend, "money"), with_sales=_fmt(pack, request.spend_sm, "money"))),
        pdf.Kpi(_("Projected LTV:CAC"), _fmt(pack, fig["ltv_cac"].point, "ratio"), ranged("ltv_cac", "ratio"),
                request.band),
        pdf.Kpi(_("Projected payback"), _fmt(pack, fig["payback_months"].point, "months"),
                ranged("payback_months", "months")),
        pdf.Kpi(_("LTV created minus spend"), _short_money(pack, fig["value_created"].point),
                ranged("value_created", "money")),
    ]
    intro = [_("Request: {name}").format(name=request.name)]
    if pack.request_note:
        intro.append(_("Note: {note}").format(note=pack.request_note))
    intro.append(_("For {period}; {source}. Ranges are the central {interval} of the projection's draws "
                   "(see Methodology).").format(period=pack.plan_period, source=pack.request_source,
                                                interval=formats.percent(pack.interval, places=0)))
    curves = sheets["Projection by channel"].get_column("curve").drop_nulls().to_list()
    projection = sheets["Projection by channel"].with_columns(pl.col("curve").replace({c: _(c) for c in curves}))
    channels = _table(_("Projection by channel"), projection, [
        ("channel", N_("Channel"), "text"), ("spend", N_("Direct spend"), "money"),
        ("customers", N_("Customers"), "int"),
        ("customers_low", N_("Low"), "int"), ("customers_high", N_("High"), "int"), ("cpa", N_("CPA"), "money"),
        ("marginal_cac", N_("Marginal CAC"), "money"), ("ltv", N_("LTV"), "money"),
        ("curve", N_("Response curve"), "text")],
        note=_("Marketing {spend}, of which shared costs (on no channel; they count in the fully loaded CAC) "
               "{shared}; sales and marketing {spend_sm}. The request's {lines} lines by channel and cost category "
               "are in the XLSX pack.").format(spend=_fmt(pack, request.spend, "money"),
                                               shared=_fmt(pack, request.shared, "money"),
                                               spend_sm=_fmt(pack, request.spend_sm, "money"),
                                               lines=len(request.lines)))
    blocks: list[pdf.Block] = [pdf.Paragraph("\n\n".join(intro)), pdf.Kpis(tiles), _comparison_table(pack),
                               channels]
    blocks.append(pdf.Bullets(_("Warnings"), tuple(pack.warnings) or (_("None."),)))
    return pdf.Section(_(SECTIONS[5]), blocks)


_UNIT_FORMATS = {"money": "money", "count": "int", "ratio": "ratio", "months": "months", "percent": "percent"}


def _comparison_table(pack: BoardPack) -> pdf.Table:
    """Figures down, scenarios across; each cell the projection with its range."""
    names = [p.name for p in pack.projections]
    figure = _("Figure")
    columns: dict[str, list[str]] = {figure: []}
    for name in names:
        columns[name] = []
    for key, (label, unit) in sc.FIGURES.items():
        columns[figure].append(_(label))
        kind = _UNIT_FORMATS[unit]
        for rec in pack.comparison.filter(pl.col("figure") == key).iter_rows(named=True):
            text = _fmt(pack, rec["value"], kind)
            if key not in ("spend", "spend_sm") and rec["low"] is not None and rec["high"] is not None:
                text += " (" + _("{low} to {high}").format(low=_fmt(pack, rec["low"], kind),
                                                           high=_fmt(pack, rec["high"], kind)) + ")"
            if rec["band"]:
                text += f", {summary.band(rec['band'])}"
            columns[rec["scenario"]].append(text)
    return pdf.Table(_("{baseline}, the request and its {optimised}").format(
                         baseline=_(BASELINE), optimised=_(OPTIMISED).lower()), pl.DataFrame(columns),
                     note=_("{optimised}: the request's channel spend re-split to maximise projected LTV minus "
                            "spend (bounds in Assumptions).").format(optimised=_(OPTIMISED)))


def _reconciliation(pack: BoardPack) -> pdf.Section:
    """The spend against the general ledger: the quarter reported, category by category, and the quarters
    before it; the accounts left out."""
    result = pack.reconciliation
    assert result is not None
    here = result.periods.filter(pl.col("period") == pack.period)
    failing = [p for p in result.failing if p != pack.period]
    money = functools.partial(_fmt, pack, kind="money")
    if here.is_empty():
        lead = _("{period}: the spend is not reconciled to the general ledger: the ledger export does not cover "
                 "every month of the quarter.").format(period=pack.period)
    elif here.row(0, named=True)["status"] == reconcile.RECONCILED:
        lead = _("{period}: the spend reconciles to the general ledger, every cost category within the "
                 "tolerance.").format(period=pack.period)
    else:
        rec = here.row(0, named=True)
        off = result.lines.filter((pl.col("period") == pack.period) & (pl.col("status") != reconcile.RECONCILED))
        lead = _("{period}: the spend does not reconcile to the general ledger: {off} of {lines} cost categories "
                 "are off, by {gross} in all and {net} net (spend less ledger).").format(
            period=pack.period, off=formats.count(rec["off"]), lines=formats.count(rec["lines"]),
            gross=money(sum((abs(v) for v in off.get_column("variance")), Decimal(0))), net=money(rec["variance"]))
    tolerance = _("A line reconciles within the larger of {amount} and {share} of the ledger; every variance is "
                  "exact.").format(amount=money(result.tolerance.amount),
                                   share=formats.percent(float(result.tolerance.share), places=2))
    lines = _table(_("Spend against the ledger by cost category, {period}").format(period=pack.period),
                   _reconciliation_table(pack).filter(pl.col("quarter") == pack.period).with_columns(
                       pl.col("label").replace_strict({c.label: _(c.label) for c in CATEGORIES.values()},
                                                      default=pl.col("label"))),
                   [("label", N_("Cost category"), "text"), ("ledger", N_("General ledger"), "money"),
                    ("spend_imported", N_("Imported spend"), "money"), ("variance", N_("Variance"), "money"),
                    ("status_label", N_("Status"), "text")], note=tolerance)
    # The quarters before, and the accounts left out, under the quarters' table: the page stays one page.
    notes = []
    if failing:
        notes.append(_("Earlier quarters that do not reconcile: {periods}.").format(periods=", ".join(failing)))
    unmapped = result.unmapped
    if unmapped.height:
        named = [f"{account} ({money(total)})" for account, total in
                 unmapped.sort("ledger", descending=True).head(5).select("account", "ledger").iter_rows()]
        if unmapped.height > 5:
            named.append(_("{count} more").format(count=formats.count(unmapped.height - 5)))
        notes.append(_("Ledger accounts not mapped to a cost category, so not reconciled: {accounts}.").format(
            accounts="; ".join(named)))
    quarters = _table(_("By quarter"), result.periods.tail(TREND_TABLE_QUARTERS).with_columns(
        status_label=pl.col("status").replace_strict({k: _(v) for k, v in RECONCILE_WORDS.items()}, default=None)),
        [("period", N_("Quarter"), "text"), ("ledger", N_("General ledger"), "money"),
         ("spend", N_("Imported spend"), "money"), ("variance", N_("Variance"), "money"),
         ("status_label", N_("Status"), "text")], note=" ".join(notes) or None)
    blocks: list[pdf.Block] = [pdf.Paragraph(lead, lead=True), pdf.Columns([lines, quarters])]
    return pdf.Section(_(RECONCILIATION), blocks)


def _assumptions(pack: BoardPack) -> pdf.Section:
    rows = [(label, _fmt(pack, value, kind) if kind != "text" else str(value))
            for label, value, kind in pack.assumptions]
    if pack.missed is not None and pack.missed.is_empty():  # said beside the target, a row fewer
        rows = [(label, _("{target}, met by every quarter up to {period}").format(target=value, period=pack.period)
                 if label == _(LABELS["target_ratio"]) else value) for label, value in rows]
    elif pack.missed is not None:
        rows.append((_("Quarters that missed a target"), _("{count} (listed below)").format(
            count=pack.missed.get_column("period").n_unique())))
    frame = pl.DataFrame(rows, schema=[_("Assumption"), _("Value")], orient="row")
    blocks: list[pdf.Block] = [pdf.Table(_("Assumptions behind every figure"), frame), *_missed_table(pack),
                               *_notes_table(pack)]
    if pack.reconciliation is None:
        blocks.append(pdf.Paragraph(_("The spend is not reconciled to the general ledger: no ledger is imported.")))
    return pdf.Section(_(SECTIONS[7]), blocks)


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def check_output(out: Path | str) -> str:
    """The format for ``out`` (``pdf`` or ``xlsx``); ValueError naming the bad suffix or missing folder."""
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"cannot write {str(path)!r}: unknown suffix {suffix or '(none)'!r}; "
                         f"expected one of {', '.join(SUFFIXES)}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ValueError(f"cannot write {str(path)!r}: no folder {str(folder)!r}")
    return suffix[1:]


def write(pack: BoardPack, out: Path | str) -> Written:
    """Render the pack as ``out``'s suffix says and replace ``out`` atomically.

    The bytes are rendered first and written to a temporary file beside ``out``, which then
    replaces it: a failed render or write leaves any existing file untouched and no partial one.
    """
    path = Path(out)
    kind = check_output(path)
    data = to_pdf(pack) if kind == "pdf" else to_xlsx(pack)
    # A replaced file keeps its permissions; a new one is readable by all, as a report is shared.
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    count = pdf_page_count(data) if kind == "pdf" else len(SHEETS) + 1
    return Written(path, len(data), count, "pages" if kind == "pdf" else "sheets")


def pdf_page_count(data: bytes) -> int:
    """Pages in a PDF, counted from its page objects (Chromium writes no object streams)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))
