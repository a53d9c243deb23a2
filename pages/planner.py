"""Budget planner: next quarter's request, its projected return, an optimised split, goal seek, scenarios."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

import polars as pl
import streamlit as st

from finance.app import auth, loaders, sidebar, widgets
from finance.domain import literal
from finance.domain.schema import CATEGORIES
from finance.planning import plans as sc
from finance.planning.curves import PlanError
from finance.planning.session import WORKING, PlanSession
from finance.present import charts, formats
from finance.store.database import StoreError
from finance.store.dataset import SHARED

ctx = sidebar.context()
money = functools.partial(formats.money, currency=ctx.currency)  # amounts in the database's currency
money_compact = functools.partial(formats.money_compact, currency=ctx.currency)
MONEY_FORMAT = formats.table_format("money", ctx.currency)  # a table column of amounts, by the same rule
state = st.session_state
st.title("Budget planner")
try:
    basis = loaders.load_basis(ctx.path, ctx.version, ctx.view.method, ctx.checked)
except PlanError as exc:
    widgets.no_data(f"No history to plan from yet: {exc}.")
    st.stop()

quarters = max(b.history.height for b in basis.channels.values())
st.caption(f"Plan for **{basis.period}**. Response curves fitted on up to {quarters} quarters of history to "
           f"{basis.last_label}; LTV by the {sidebar.METHOD_LABELS[basis.ltv_method].lower()} "
           f"method. Ranges are the central {formats.percent(basis.interval, places=0)} of "
           f"{formats.count(sc.DRAWS)} draws from the curves' fits and the LTV model.")
for note in basis.notes:
    st.info(literal.markdown(note))

# --- the working plan ------------------------------------------------------------------------
with loaders.read_store(ctx.path) as store:
    saved = sc.list_scenarios(store)
saved_names = saved["name"].to_list()
START_LABELS = {"last_quarter": f"Last quarter's spend ({basis.last_label})",
                "trailing_average": "Average quarter of the last four"}
options = [*START_LABELS, *(f"saved:{name}" for name in saved_names)]
top = st.columns([2, 1, 1])
start = top[0].selectbox("Start from", options, key="plan.start",
                         format_func=lambda o: START_LABELS.get(o, f"Saved scenario: {o.removeprefix('saved:')}"))
# The planner's whole working state is one object (finance.planning.session); this page draws it and its
# widgets call its transitions. The working plan is reloaded only when the user picks another start or
# a new quarter is planned, not whenever the database changes (saving a scenario must not throw away
# the edits): new data only recomputes the results on the new basis.
session: PlanSession | None = state.get("plan.session")
if session is None or session.start != start or session.period != basis.period:
    saved_as = None
    if start.startswith("saved:"):
        with loaders.read_store(ctx.path) as store:
            scenario = sc.load_scenario(store, start.removeprefix("saved:"))
        start_lines, saved_as = scenario.lines, (scenario.name, scenario.kind)
    else:
        start_lines = basis.starts[start]
    if session is None:
        session = state["plan.session"] = PlanSession(basis, start_lines, start=start, saved_as=saved_as)
    else:
        session.load(basis, start_lines, start=start, saved_as=saved_as)
else:
    for message in session.rebase(basis):
        st.error(literal.markdown(message))
if state.get("plan.shared", 100.0) != session.shared_percent:  # a new start or an adopted plan: as entered
    state["plan.shared"] = session.shared_percent


def _shared_changed() -> None:
    state["plan.session"].scale_shared(Decimal(str(state["plan.shared"])) / 100)


shared_pct = top[1].number_input("Shared costs (% of start)", 0.0, 500.0, 100.0, step=5.0, key="plan.shared",
                                 help="Staff, martech, website and other costs with no channel scale by this.",
                                 on_change=_shared_changed)


def projected(lines: Any, name: str) -> sc.Projection:
    """The plan's projection, cached per data version, LTV method and lines."""
    return loaders.load_projection(ctx.path, ctx.version, ctx.view.method, tuple(lines), name, False, ctx.checked)


def _editable(lines: list[sc.PlanLine]) -> pl.DataFrame:
    return pl.DataFrame({
        "channel": [ln.channel for ln in lines],
        "category": [ln.category for ln in lines],
        "Cost category": [CATEGORIES[ln.category].label for ln in lines],
        "amount": [float(ln.amount) for ln in lines],
    }, schema={"channel": pl.String, "category": pl.String, "Cost category": pl.String, "amount": pl.Float64})


with st.expander("Plan lines: spend per channel and cost category for the quarter", expanded=False):
    st.caption("Edit any amount. `(shared)` lines have no channel (staff, martech, website); sales lines count "
               "in the S&M CAC only.")
    edited = st.data_editor(
        _editable(list(session.table)), key=f"plan.editor.{session.table_version}", hide_index=True,
        width="stretch", num_rows="fixed", disabled=["channel", "category", "Cost category"],
        column_config={"category": None,
                       "amount": st.column_config.NumberColumn("Amount", min_value=0.0, format=MONEY_FORMAT,
                                                               step=0.01)})
try:
    session.edit(sc.lines_from_frame(pl.DataFrame(edited).with_columns(
        pl.col("amount").round(2).cast(pl.String))))
    plan = projected(session.working, WORKING)
except PlanError as exc:
    st.error(f"The plan cannot be projected: {literal.markdown(exc)}")
    st.stop()
top[2].metric("Plan total (S&M)", money_compact(plan.spend_sm), help=f"Exactly {money(plan.spend_sm)}")


def _range(value: sc.Range, fmt: Any) -> str:
    if value.low is None or value.high is None:
        return "range n/a"
    return f"range {fmt(value.low)} to {fmt(value.high)}"


def tiles(p: sc.Projection, key: str) -> None:
    f = p.figures
    cols = st.columns(6)
    cols[0].metric("Marketing spend", money_compact(p.spend), help=f"Exactly {money(p.spend)}; "
                   f"{money(p.shared)} of it shared")
    cols[1].metric("New customers", formats.count(f["customers"].point),
                   _range(f["customers"], formats.count), delta_color="off", delta_arrow="off")
    cols[2].metric("Fully loaded CAC", money(f["cac"].point), _range(f["cac"], money), delta_color="off",
                   delta_arrow="off", help=_range(f["cac"], money))
    cols[3].metric("LTV:CAC", formats.ratio(f["ltv_cac"].point), p.band or "n/a", delta_color="off", delta_arrow="off",
                   help=_range(f["ltv_cac"], formats.ratio))
    cols[4].metric("Payback", formats.months(f["payback_months"].point),
                   _range(f["payback_months"], formats.months), delta_color="off", delta_arrow="off")
    cols[5].metric("ROI", formats.percent(f["roi"].point),
                   _range(f["roi"], formats.percent), delta_color="off", delta_arrow="off")
    for warning in p.warnings:
        st.warning(literal.markdown(warning))


def channel_table(p: sc.Projection) -> pl.DataFrame:
    whole = pl.col("customers_low").round(0).cast(pl.Int64), pl.col("customers_high").round(0).cast(pl.Int64)
    return p.channels.select(
        pl.col("channel").alias("Channel"), pl.col("spend").cast(pl.Float64).alias("Spend"),
        pl.col("customers").round(0).alias("New customers"), pl.format("{} to {}", *whole).alias("Range"),
        pl.col("cpa").round(2).alias("CPA"), pl.col("marginal_cac").round(2).alias("Marginal CAC"),
        pl.col("ltv").round(2).alias("LTV"), pl.col("curve").str.replace("_", " ").alias("Curve"),
        pl.col("r_squared").round(3).alias("R²"), pl.col("warning").fill_null("").alias("Warning"))


MONEY_COLUMNS: dict[str, Any] = {c: st.column_config.NumberColumn(c, format=MONEY_FORMAT)
                                 for c in ("Spend", "CPA", "Marginal CAC", "LTV")}
MONEY_COLUMNS["New customers"] = st.column_config.NumberColumn("New customers", format="localized")

st.subheader(f"Projection for {basis.period}")
tiles(plan, "plan")
st.dataframe(channel_table(plan), hide_index=True, width="stretch", column_config=MONEY_COLUMNS)

baseline = projected(basis.starts["last_quarter"], "Baseline (repeat last quarter)")
optimise_tab, goal_tab, scenario_tab, curve_tab, pack_tab = st.tabs(
    ["Optimised split", "Goal seek", "Scenarios", "Response curves", "Board pack"])

with optimise_tab:
    st.write("The split of the plan's channel spend that maximises projected LTV minus spend. Each channel "
             "stays within its bounds (by default half to one and a half times its spend in the plan: the curves "
             "are trusted near the spend they were fitted on). At the optimum, each channel not at a bound "
             "returns the same LTV per marginal dollar.")
    # Keyed on the plan's revision: every change to the working plan starts the budget at its total.
    total = st.number_input("Channel budget to split", 0.0, float(sc.MAX_AMOUNT) - 1.0,
                            value=float(session.budget_to_split), step=10_000.0, format="%.2f",
                            key=f"plan.total.{session.revision}")
    low, high = sc.default_bounds(basis, session.working)
    bounds_frame = pl.DataFrame({"channel": list(basis.channels),
                                 "minimum": [round(low[c], 2) for c in basis.channels],
                                 "maximum": [round(high[c], 2) for c in basis.channels],
                                 "locked": [False] * len(basis.channels)})
    bounds_edit = pl.DataFrame(st.data_editor(
        bounds_frame, key=f"plan.bounds.{session.table_version}", hide_index=True, width="stretch",
        disabled=["channel"], column_config={
            "minimum": st.column_config.NumberColumn("Minimum", min_value=0.0, format=MONEY_FORMAT),
            "maximum": st.column_config.NumberColumn("Maximum", min_value=0.0, format=MONEY_FORMAT),
            "locked": st.column_config.CheckboxColumn("Locked at plan", help="Keep the plan's spend")}))
    if st.button("Optimise the split", type="primary", key="plan.optimise"):
        try:
            bounds = sc.Bounds(
                minimum=dict(zip(bounds_edit["channel"], bounds_edit["minimum"].fill_null(0.0), strict=True)),
                maximum=dict(zip(bounds_edit["channel"], bounds_edit["maximum"].fill_null(float("inf")),
                                 strict=True)),
                locked=tuple(bounds_edit.filter(pl.col("locked"))["channel"]))
            session.optimise(Decimal(str(round(total, 2))), bounds)
        except PlanError as exc:
            st.error(f"No split found: {literal.markdown(exc)}")
    if session.optimised is not None:
        try:
            best = projected(session.optimised.lines, "Optimised split")
        except PlanError as exc:
            st.error(f"The optimised split no longer fits this plan: {literal.markdown(exc)}")
            session.optimised = None
        else:
            if session.optimised.total != session.budget_to_split:
                st.caption(f"This split is of {money(session.optimised.total)}; the working plan's channels "
                           f"spend {money(session.budget_to_split)}.")
            tiles(best, "optimised")
            st.dataframe(channel_table(best), hide_index=True, width="stretch", column_config=MONEY_COLUMNS)
            if st.button("Use the optimised split as the working plan", key="plan.use_optimised"):
                session.adopt_optimised()
                st.rerun()

with goal_tab:
    left, right = st.columns(2)
    target = left.number_input("Target LTV:CAC", 0.5, 20.0, 3.0, step=0.25, key="plan.target_ratio")
    if left.button("Largest budget at this LTV:CAC", key="plan.seek_ratio"):
        try:
            session.goal_seek(ratio=target)
        except PlanError as exc:
            left.error(literal.markdown(exc))
    wanted = right.number_input("Target new customers", 1.0, sc.MAX_CUSTOMERS,
                                value=min(float(round(plan.figures["customers"].point or 1)), sc.MAX_CUSTOMERS),
                                step=100.0, format="%.0f", key=f"plan.target_customers.{session.revision}")
    if right.button("Budget for this many customers", key="plan.seek_customers"):
        try:
            session.goal_seek(customers=wanted)
        except PlanError as exc:
            right.error(literal.markdown(exc))
    if session.goal is not None:
        goal = session.goal.answer
        sought = projected(session.goal.lines, "Goal seek")
        st.success(f"Channel budget {money(goal.channel_total)} ({literal.markdown(goal.note)}); with shared "
                   f"and sales lines, {money(sought.spend_sm)} in all.")
        tiles(sought, "goal")
        st.caption("Goal seek splits each budget optimally, with channels capped at twice their largest past "
                   "quarter. The budget is found to within 0.1%.")
        if st.button("Use this plan as the working plan", key="plan.use_goal"):
            session.adopt_goal()
            st.rerun()

with scenario_tab:
    editor = auth.can_edit()
    if not editor:
        st.caption("Saving and deleting scenarios need the editor role; you can compare the saved ones.")
    else:
        with st.form("plan.save"):
            cols = st.columns([2, 1, 1])
            name = cols[0].text_input("Scenario name", placeholder=f"{basis.period} request")
            kind = cols[1].selectbox("Kind", ["request", "custom", "baseline", "optimised", "goal seek"])
            overwrite = cols[2].checkbox("Replace if it exists")
            note = st.text_input("Note", placeholder="What this plan assumes")
            if st.form_submit_button("Save the working plan"):
                try:
                    with loaders.writable_store(ctx.path, "saving a scenario") as store:
                        saved_scenario = sc.save_scenario(
                            store, sc.Scenario(name, basis.period, kind, note, session.working,
                                               {"start": start, "shared_pct": shared_pct}), overwrite=overwrite)
                except (PlanError, StoreError) as exc:
                    st.error(f"Not saved: {literal.markdown(exc)}")
                else:
                    session.mark_saved(saved_scenario.name, saved_scenario.kind)
                    state["plan.flash"] = f"Saved '{literal.markdown(' '.join(name.split()))}'."
                    st.rerun()
    if "plan.flash" in state:
        st.success(state.pop("plan.flash"))
    if not saved.is_empty():
        st.dataframe(saved, hide_index=True, width="stretch",
                     column_config={"spend": st.column_config.NumberColumn("Spend (all lines)", format=MONEY_FORMAT)})
        gone = st.selectbox("Delete a scenario", [None, *saved_names], key="plan.delete") if editor else None
        if editor and gone and st.button(f"Delete '{literal.markdown(gone)}'", key="plan.delete.confirm"):
            try:
                with loaders.writable_store(ctx.path, "deleting a scenario") as store:
                    sc.delete_scenario(store, gone)
            except (PlanError, StoreError) as exc:
                st.error(f"Not deleted: {literal.markdown(exc)}")
            else:
                st.rerun()
    # The optimised split is the session's: the last optimise of this working plan, else the default split.
    candidates: dict[str, sc.Projection] = {baseline.name: baseline, plan.name: plan,
                                            "Optimised split": projected(session.optimised_lines(),
                                                                         "Optimised split")}
    chosen = st.multiselect("Compare", [*candidates, *saved_names], default=list(candidates)[:3],
                            key="plan.compare")
    projections = []
    for label in chosen:
        if label in candidates:
            projections.append(candidates[label])
        else:
            with loaders.read_store(ctx.path) as store:
                scenario = sc.load_scenario(store, label)
            try:
                projections.append(projected(scenario.lines, label))
            except PlanError as exc:
                st.warning(f"{literal.markdown(label)}: {literal.markdown(exc)}")
    if projections:
        table = sc.compare(projections)

        def _cell(rec: dict[str, Any]) -> str:
            fmt = {"money": money, "ratio": formats.ratio, "count": formats.count,
                   "percent": formats.percent, "months": formats.months}[rec["unit"]]
            text = fmt(rec["value"]) if rec["value"] is not None else "n/a"
            if rec["low"] is not None and rec["high"] is not None and rec["low"] != rec["high"]:
                text += f" ({fmt(rec['low'])} to {fmt(rec['high'])})"
            return text + (f" {rec['band']}" if rec["band"] else "")

        shown = table.with_columns(text=pl.Series([_cell(r) for r in table.iter_rows(named=True)], dtype=pl.String))
        wide = shown.pivot(on="scenario", index="label", values="text", maintain_order=True)
        st.dataframe(wide.rename({"label": "Figure"}), hide_index=True, width="stretch")
        st.plotly_chart(charts.scenario_comparison(table, ctx.assumptions.band_edges), key="plan.compare.chart")

with curve_tab:
    channel = st.selectbox("Channel", list(basis.channels), key="plan.curve.channel")
    b = basis.channels[channel]
    planned = plan.channels.filter(pl.col("channel") == channel).row(0, named=True)
    planned_point = {"spend": float(planned["spend"]), "customers": planned["customers"],
                     "low": planned["customers_low"], "high": planned["customers_high"],
                     "marginal_cac": planned["marginal_cac"]}
    reach = max(1.5 * float(b.history["direct_spend"].max() or 0.0), 1.2 * planned_point["spend"])  # type: ignore[arg-type]
    st.plotly_chart(charts.response_curve(channel, b.history, sc.curve_grid(basis, channel, reach), planned_point,
                                          currency=ctx.currency),
                    key="plan.curve.chart")
    params = ", ".join(f"{k} = {v:,.4g}" for k, v in b.curve.params.items())
    st.caption(f"{b.curve.kind.replace('_', ' ')} curve ({params}); R² {b.curve.r_squared or 0:.3f} on "
               f"{b.curve.points} quarters. " + literal.markdown(b.curve.warning or ""))

with pack_tab:
    st.write("The CFO board pack: KPIs, LTV:CAC trend with bands, fully loaded CAC breakdown, CPL/CPA history, "
             "the budget request with its projection and range, assumptions and methodology.")
    # "" is the working plan on this page (no saved scenario has an empty name): the pack then prints
    # the plan and the optimised split shown here, from the same session, through one cached loader.
    requests = ["", None, *saved_names]
    picked = st.selectbox("Budget request", requests, key="plan.pack.scenario",
                          format_func=lambda n: "The working plan on this page, with its optimised split"
                          if n == "" else "Latest saved request (else last quarter repeated)" if n is None
                          else n)
    pack_request = session.pack_plan() if picked == "" else None
    # A file made for another plan, request or data version is not offered for download.
    pack_stamp = (picked, ctx.version, pack_request)
    cols = st.columns(2)
    from finance.present import report  # rendering pulls in the PDF toolchain: import it only here

    for col, kind in zip(cols, ("pdf", "xlsx"), strict=True):
        if col.button(f"Prepare the {kind.upper()}", key=f"plan.pack.{kind}"):
            try:
                with st.spinner("Rendering the board pack..."):
                    pack = loaders.load_pack(ctx.path, ctx.version, ctx.view.method, pack_request, picked or None,
                                        ctx.checked)
                    state[f"plan.pack.{kind}.bytes"] = report.to_pdf(pack) if kind == "pdf" else report.to_xlsx(pack)
                    state[f"plan.pack.{kind}.stamp"] = pack_stamp
            except Exception as exc:  # a missing renderer or bad input: say what, keep the page
                col.error(f"Board pack not made: {exc}")
        if f"plan.pack.{kind}.bytes" in state and state.get(f"plan.pack.{kind}.stamp") == pack_stamp:
            col.download_button(f"Download board pack ({kind.upper()})", state[f"plan.pack.{kind}.bytes"],
                                file_name=f"board-pack-{basis.period}.{kind}", key=f"plan.pack.{kind}.download",
                                mime="application/pdf" if kind == "pdf" else
                                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

if SHARED not in {ln.channel for ln in plan.lines}:
    st.caption("This plan has no shared costs: fully loaded CAC counts only channel spend.")
