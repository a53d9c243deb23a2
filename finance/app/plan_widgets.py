"""What the Planner page shows of its plans: a projection's tiles and channel table, the optimised split
and the goal-seek answer (each with its button to adopt it), the plans side by side, a channel's
response curve, and the board pack's buttons.

Drawing only: the working plan, every change to it and the files made of it are ``finance.app.planner``'s
(and ``finance.planning.session``'s); a button here calls one of its transitions.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import polars as pl
import streamlit as st

from finance.app import planner, widgets
from finance.app.context import Context
from finance.domain import literal
from finance.planning import plans as sc
from finance.planning.curves import CURVE_NAMES, HILL, PlanError, ResponseCurve
from finance.planning.session import PlanSession
from finance.present import charts, formats, phrases, summary
from finance.present.i18n import N_, _
from finance.store.database import StoreError


@contextmanager
def refused(prefix: str = "", where: Any = st) -> Iterator[None]:
    """Run the block; a change the plan or the store refuses is shown as an error after ``prefix`` (in
    ``where``: a column, else the page) and the page goes on."""
    try:
        yield
    except (PlanError, StoreError) as exc:
        where.error(f"{prefix}{literal.markdown(phrases.text(exc))}")


CHANNEL_UNITS = {N_("Spend"): "money", N_("CPA"): "money", N_("Marginal CAC"): "money", N_("LTV"): "money",
                 N_("New customers"): "count", "R²": "figure"}
"""The channel table's numbers by unit (its headers in English: translated where shown)."""


def bounds_columns(currency: str) -> dict[str, Any]:
    """The bounds editor's column headers and formats: amounts in ``currency``, and the lock."""
    shown = formats.editor_format("money", currency)
    return {"channel": st.column_config.TextColumn(_("Channel")),
            "minimum": st.column_config.NumberColumn(formats.editor_header(_("Minimum"), currency), min_value=0.0,
                                                     format=shown),
            "maximum": st.column_config.NumberColumn(formats.editor_header(_("Maximum"), currency), min_value=0.0,
                                                     format=shown),
            "locked": st.column_config.CheckboxColumn(_("Locked at plan"), help=_("Keep the plan's spend"))}


def _range(value: sc.Range, fmt: Callable[[Any], str]) -> str:
    if value.low is None or value.high is None:
        return _("range n/a")
    return _("range {span}").format(span=formats.span(value.low, value.high, fmt))


def tiles(p: sc.Projection, currency: str) -> None:
    """A projection's six tiles (spend, customers, CAC, LTV:CAC, payback, ROI) with their ranges, and its warnings."""
    money = functools.partial(formats.money, currency=currency)
    f = p.figures
    cols = [*st.columns(3), *st.columns(3)]  # two rows, as on the Overview: six in one cut "$1,07..." at 1280 px
    cols[0].metric(_("Marketing spend"), formats.money_compact(p.spend, currency),
                   help=_("Exactly {amount}; {shared} of it shared").format(amount=money(p.spend),
                                                                             shared=money(p.shared)))
    cols[1].metric(_("New customers"), formats.count(f["customers"].point),
                   _range(f["customers"], formats.count), delta_color="off", delta_arrow="off")
    cols[2].metric(_("Fully loaded CAC"), money(f["cac"].point), _range(f["cac"], money), delta_color="off",
                   delta_arrow="off", help=_range(f["cac"], money))
    cols[3].metric(_("LTV:CAC"), formats.ratio(f["ltv_cac"].point), summary.band(p.band), delta_color="off",
                   delta_arrow="off", help=_range(f["ltv_cac"], formats.ratio))
    cols[4].metric(_("Payback"), formats.months(f["payback_months"].point),
                   _range(f["payback_months"], formats.months), delta_color="off", delta_arrow="off")
    cols[5].metric(_("ROI"), formats.percent(f["roi"].point),
                   _range(f["roi"], formats.percent), delta_color="off", delta_arrow="off")
    for warning in phrases.texts(p.warnings):
        st.warning(literal.markdown(warning))


def channel_table(p: sc.Projection, currency: str) -> None:
    """A projection's channels: spend, customers and their range, costs, LTV and the curve's fit."""
    whole = pl.col("customers_low").round(0).cast(pl.Int64), pl.col("customers_high").round(0).cast(pl.Int64)
    curves = {key: _(name) for key, name in CURVE_NAMES.items()}
    table = p.channels.select(
        pl.col("channel").alias(_("Channel")), pl.col("spend").cast(pl.Float64).alias(_("Spend")),
        pl.col("customers").round(0).alias(_("New customers")),
        pl.format(_("{} to {}"), *whole).alias(_("Range")),
        pl.col("cpa").round(2).alias(_("CPA")), pl.col("marginal_cac").round(2).alias(_("Marginal CAC")),
        pl.col("ltv").round(2).alias(_("LTV")), pl.col("curve").replace(curves).alias(_("Curve")),
        pl.col("r_squared").round(3).alias("R²"),
        pl.Series(_("Warning"), [phrases.text(w) if w else "" for w in p.channels["warning"]], dtype=pl.String))
    if (table[_("Warning")] == "").all():
        table = table.drop(_("Warning"))  # a column of blanks says nothing
    units = {_(column): unit for column, unit in CHANNEL_UNITS.items()}
    st.dataframe(widgets.shown(table, currency, units), hide_index=True, width="stretch")


def optimised_split(ctx: Context, session: PlanSession) -> None:
    """The last optimised split of the working plan, and the button that makes it the working plan; a split
    that no longer fits (the data changed under it) is said and dropped."""
    if session.optimised is None:
        return
    money = functools.partial(formats.money, currency=ctx.currency)
    try:
        best = planner.projected(ctx, session.optimised.lines, _("Optimised split"))
    except PlanError as exc:
        st.error(_("The optimised split no longer fits this plan: {reason}").format(
            reason=literal.markdown(phrases.text(exc))))
        session.optimised = None
        return
    if session.optimised.total != session.budget_to_split:
        st.caption(_("This split is of {total}; the working plan's channels spend {spend}.").format(
            total=money(session.optimised.total), spend=money(session.budget_to_split)))
    tiles(best, ctx.currency)
    channel_table(best, ctx.currency)
    if st.button(_("Use the optimised split as the working plan"), key="plan.use_optimised"):
        session.adopt_optimised()
        st.rerun()


def goal_answer(ctx: Context, session: PlanSession) -> None:
    """The last goal seek's budget and its projection, and the button that makes it the working plan."""
    if session.goal is None:
        return
    money = functools.partial(formats.money, currency=ctx.currency)
    goal = session.goal.answer
    sought = planner.projected(ctx, session.goal.lines, _("Goal seek"))
    st.success(_("Channel budget {budget} ({note}); with shared and sales lines, {total} in all.").format(
        budget=money(goal.channel_total), note=literal.markdown(phrases.text(goal.note)),
        total=money(sought.spend_sm)))
    tiles(sought, ctx.currency)
    st.caption(_("Goal seek splits each budget optimally, with channels capped at twice their largest past "
                 "quarter. The budget is found to within 0.1%."))
    if st.button(_("Use this plan as the working plan"), key="plan.use_goal"):
        session.adopt_goal()
        st.rerun()


def comparison(ctx: Context, session: PlanSession, baseline: sc.Projection, plan: sc.Projection,
               saved_names: Sequence[str]) -> None:
    """The plans chosen side by side: the baseline, the working plan, its optimised split and saved scenarios."""
    candidates = planner.candidates(ctx, session, baseline, plan)
    chosen = st.multiselect(_("Compare"), [*candidates, *saved_names], default=list(candidates)[:3],
                            key="plan.compare")
    projections, problems = planner.compared(ctx, candidates, chosen)
    for problem in problems:
        st.warning(problem)
    if not projections:
        return
    table = sc.compare(projections)
    writers: dict[str, Callable[[Any], str]] = {
        "money": functools.partial(formats.money, currency=ctx.currency), "ratio": formats.ratio,
        "count": formats.count, "percent": formats.percent, "months": formats.months}
    total = functools.partial(formats.money_compact, currency=ctx.currency)
    to_the_dollar = functools.partial(formats.money, currency=ctx.currency, whole=True)

    def cell(rec: dict[str, Any]) -> str:
        # Totals in millions, the ends of a range to the dollar and the band on a line of its own (the exact
        # amounts are in the tables above): three plans side by side fit at 1280 px.
        point: Callable[[Any], str]
        ends: Callable[[Any], str]
        if rec["figure"] in ("spend", "spend_sm", "value_created"):
            point = ends = total
        else:
            point = writers[rec["unit"]]
            ends = to_the_dollar if rec["unit"] == "money" else point
        text = point(rec["value"]) if rec["value"] is not None else formats.na()
        if rec["low"] is not None and rec["high"] is not None and rec["low"] != rec["high"]:
            text += f" ({formats.span(rec['low'], rec['high'], ends)})"
        return text

    cells = []
    for rec in table.iter_rows(named=True):
        cells.append({"scenario": rec["scenario"], "Figure": _(rec["label"]), "text": cell(rec)})
        if rec["figure"] == "ltv_cac":
            cells.append({"scenario": rec["scenario"], "Figure": _("LTV:CAC band"), "text": summary.band(rec["band"])})
    wide = pl.DataFrame(cells, schema={"scenario": pl.String, "Figure": pl.String, "text": pl.String}).pivot(
        on="scenario", index="Figure", values="text", maintain_order=True).rename({"Figure": _("Figure")})
    st.dataframe(wide, hide_index=True, width="stretch")
    st.plotly_chart(charts.scenario_comparison(table, ctx.assumptions.band_edges), key="plan.compare.chart")


def response_curve(ctx: Context, basis: sc.PlanningBasis, plan: sc.Projection) -> None:
    """A channel's response curve with its history and the working plan's point, and the fit in words."""
    channel = st.selectbox(_("Channel"), list(basis.channels), key="plan.curve.channel")
    b = basis.channels[channel]
    planned = plan.channels.filter(pl.col("channel") == channel).row(0, named=True)
    planned_point = {"spend": float(planned["spend"]), "customers": planned["customers"],
                     "low": planned["customers_low"], "high": planned["customers_high"],
                     "marginal_cac": planned["marginal_cac"]}
    reach = max(1.5 * float(b.history["direct_spend"].max() or 0.0), 1.2 * planned_point["spend"])  # type: ignore[arg-type]
    st.plotly_chart(charts.response_curve(channel, b.history, sc.curve_grid(basis, channel, reach), planned_point,
                                          currency=ctx.currency),
                    key="plan.curve.chart")
    st.caption(curve_text(b.curve, ctx.currency))


def curve_text(curve: ResponseCurve, currency: str) -> str:
    """A response curve's fit in words: what its parameters mean for the quarter's spend, and how well it fits.

    Hill: customers = ceiling x spend^shape / (half^shape + spend^shape), so ``half_saturation`` is the
    spend that buys half the ceiling. Constant CPA: customers = spend / cpa.
    """
    p = curve.params
    if curve.kind == HILL:
        text = _("Hill curve: new customers rise towards {ceiling} a quarter, half of that at {half} of spend "
                 "(shape {shape})").format(ceiling=formats.count(p["ceiling"]),
                                           half=formats.money_compact(p["half_saturation"], currency),
                                           shape=f"{p['shape']:.2g}")
    elif math.isinf(p["cpa"]):
        text = _("Constant CPA: no new customer in the channel's history")
    else:
        text = _("Constant CPA: {amount} per new customer").format(amount=formats.money(p["cpa"], currency))
    quarters = formats.count(curve.points)
    fit = _("; fitted on {quarters} quarters, R² {r_squared}.").format(
        quarters=quarters, r_squared=f"{curve.r_squared:.3f}") if curve.r_squared is not None \
        else _(", over {quarters} quarters.").format(quarters=quarters)
    said = phrases.text(curve.warning) if curve.warning else ""
    warning = _("{sentence}.").format(sentence=literal.markdown(said[0].upper() + said[1:])) if said else ""
    return formats.then(text + fit, warning)


def board_pack(ctx: Context, session: PlanSession, saved_names: Sequence[str]) -> None:
    """The board pack of a budget request: a button to make each file, and its download once made for this plan."""
    st.write(_("The CFO board pack: KPIs, LTV:CAC trend with bands, fully loaded CAC breakdown, CPL/CPA history, "
               "the budget request with its projection and range, assumptions and methodology."))
    working, latest = _("The working plan on this page, with its optimised split"), \
        _("Latest saved request (else last quarter repeated)")
    picked = st.selectbox(_("Budget request"), ["", None, *saved_names], key="plan.pack.scenario",
                          format_func=lambda n: working if n == "" else latest if n is None else n)
    request = planner.pack_request(session, picked)
    for col, kind in zip(st.columns(2), ("pdf", "xlsx"), strict=True):
        if col.button(_("Prepare the {kind}").format(kind=kind.upper()), key=f"plan.pack.{kind}"):
            try:
                with col.status(_("Preparing the board pack ({kind}), about {time}").format(
                        kind=kind.upper(), time=formats.duration(planner.pack_estimate(kind))),
                        expanded=True) as status:
                    taken = planner.prepare_pack(ctx, picked, request, kind, status.write)
                    status.update(label=_("Board pack ready ({kind}): made in {time}").format(
                        kind=kind.upper(), time=formats.duration(taken)), state="complete", expanded=False)
            except Exception as exc:  # a missing renderer or bad input: say what, keep the page
                col.error(_("Board pack not made: {reason}").format(reason=exc))
        if (made := planner.prepared_pack(ctx, picked, request, kind)) is not None:
            col.download_button(_("Download board pack ({kind})").format(kind=kind.upper()), made,
                                file_name=f"board-pack-{session.period}.{kind}", key=f"plan.pack.{kind}.download",
                                mime="application/pdf" if kind == "pdf" else
                                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
