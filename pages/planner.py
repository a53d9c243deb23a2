"""Budget planner: next quarter's request, its projected return, an optimised split, goal seek, scenarios."""

from __future__ import annotations

import functools

import polars as pl
import streamlit as st

from finance.app import auth, loaders, plan_widgets, planner, sidebar, widgets
from finance.domain import literal
from finance.planning import plans as sc
from finance.planning.curves import PlanError
from finance.planning.session import WORKING
from finance.present import formats
from finance.store.dataset import SHARED

ctx = sidebar.context()
money = functools.partial(formats.money, currency=ctx.currency)  # amounts in the database's currency
money_compact = functools.partial(formats.money_compact, currency=ctx.currency)
MONEY_FORMAT = formats.table_format("money", ctx.currency)  # a table column of amounts, by the same rule
refused = plan_widgets.refused  # a refused change: its error on the page, and the page goes on
st.title("Budget planner")
try:
    basis = loaders.load_basis(ctx.path, ctx.version, ctx.view.method, ctx.checked, loaders.ProgressNote())
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

# --- the working plan: one object (finance.planning.session), kept by finance.app.planner ----------
saved = planner.saved_scenarios(ctx.path)
saved_names = saved["name"].to_list()
starts = planner.start_options(basis, saved_names)
top = st.columns([2, 1, 1])
start = top[0].selectbox("Start from", list(starts), key="plan.start", format_func=starts.__getitem__)
session, dropped = planner.working_session(ctx, basis, start)
for message in dropped:
    st.error(literal.markdown(message))
top[1].number_input("Shared costs (% of start)", 0.0, 500.0, 100.0, step=5.0, key=planner.SHARED_PERCENT,
                    help="Staff, martech, website and other costs with no channel scale by this.",
                    on_change=planner.shared_changed)
with st.expander("Plan lines: spend per channel and cost category for the quarter", expanded=False):
    st.caption("Edit any amount. `(shared)` lines have no channel (staff, martech, website); sales lines count "
               "in the S&M CAC only.")
    edited = st.data_editor(
        planner.editor_frame(session.table), key=f"plan.editor.{session.table_version}", hide_index=True,
        width="stretch", num_rows="fixed", disabled=["channel", "category", "Cost category"],
        column_config={"category": None, "channel": st.column_config.TextColumn("Channel"),
                       "amount": st.column_config.NumberColumn("Amount", min_value=0.0, format=MONEY_FORMAT,
                                                               step=0.01)})
try:
    planner.edit(session, edited)
    plan = planner.projected(ctx, session.working, WORKING)
except PlanError as exc:
    st.error(f"The plan cannot be projected: {literal.markdown(exc)}")
    st.stop()
top[2].metric("Plan total (S&M)", money_compact(plan.spend_sm), help=f"Exactly {money(plan.spend_sm)}")

st.subheader(f"Projection for {basis.period}")
plan_widgets.tiles(plan, ctx.currency)
plan_widgets.channel_table(plan, ctx.currency)

baseline = planner.projected(ctx, basis.starts["last_quarter"], "Baseline (repeat last quarter)")
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
    bounds_edit = pl.DataFrame(st.data_editor(
        planner.bounds_frame(session), key=f"plan.bounds.{session.table_version}", hide_index=True, width="stretch",
        disabled=["channel"], column_config=plan_widgets.bounds_columns(ctx.currency)))
    if st.button("Optimise the split", type="primary", key="plan.optimise"):
        with refused("No split found: "):
            planner.optimise(session, total, bounds_edit)
    plan_widgets.optimised_split(ctx, session)

with goal_tab:
    left, right = st.columns(2)
    target = left.number_input("Target LTV:CAC", 0.5, 20.0, 3.0, step=0.25, key="plan.target_ratio")
    if left.button("Largest budget at this LTV:CAC", key="plan.seek_ratio"):
        with refused(where=left):
            session.goal_seek(ratio=target)
    wanted = right.number_input("Target new customers", 1.0, sc.MAX_CUSTOMERS,
                                value=min(float(round(plan.figures["customers"].point or 1)), sc.MAX_CUSTOMERS),
                                step=100.0, format="%.0f", key=f"plan.target_customers.{session.revision}")
    if right.button("Budget for this many customers", key="plan.seek_customers"):
        with refused(where=right):
            session.goal_seek(customers=wanted)
    plan_widgets.goal_answer(ctx, session)

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
                with refused("Not saved: "):
                    planner.save_scenario(ctx, session, name, kind, note, overwrite)
                    st.rerun()
    if (flash := planner.flash()) is not None:
        st.success(flash)
    if not saved.is_empty():
        st.dataframe(saved, hide_index=True, width="stretch",
                     column_config={"spend": st.column_config.NumberColumn("Spend (all lines)", format=MONEY_FORMAT)})
        gone = st.selectbox("Delete a scenario", [None, *saved_names], key="plan.delete") if editor else None
        if editor and gone and st.button(f"Delete '{literal.markdown(gone)}'", key="plan.delete.confirm"):
            with refused("Not deleted: "):
                planner.delete_scenario(ctx, gone)
                st.rerun()
    plan_widgets.comparison(ctx, session, baseline, plan, saved_names)

with curve_tab:
    plan_widgets.response_curve(ctx, basis, plan)

with pack_tab:
    plan_widgets.board_pack(ctx, session, saved_names)

if SHARED not in {ln.channel for ln in plan.lines}:
    st.caption("This plan has no shared costs: fully loaded CAC counts only channel spend.")
