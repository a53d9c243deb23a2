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
from finance.present import formats, phrases
from finance.present.i18n import N_, _
from finance.store.dataset import SHARED

# Each kind of saved scenario (stored in English, shown in the language).
KIND_WORDS = {"request": N_("request"), "custom": N_("custom"), "baseline": N_("baseline"),
              "optimised": N_("optimised"), "goal seek": N_("goal seek")}

ctx = sidebar.context()
money = functools.partial(formats.money, currency=ctx.currency)  # amounts in the database's currency
money_compact = functools.partial(formats.money_compact, currency=ctx.currency)
MONEY_FORMAT = formats.editor_format("money", ctx.currency)  # an editable column of amounts, by the same rule
refused = plan_widgets.refused  # a refused change: its error on the page, and the page goes on
st.title(_("Budget planner"))
try:
    basis = loaders.load_basis(ctx.path, ctx.version, ctx.view.method, ctx.checked, loaders.ProgressNote())
except PlanError as exc:
    st.info(formats.then(_("No history to plan from yet: {reason}.").format(reason=literal.markdown(phrases.text(exc))),
                         _("Load spend, funnel, customers and revenue files on the **Data** page.")))
    st.stop()

quarters = max(b.history.height for b in basis.channels.values())
st.caption(_("Plan for **{period}**. Response curves fitted on up to {quarters} quarters of history to {last}; "
             "LTV by the {method} method. Ranges are the central {interval} of {draws} draws from the curves' fits "
             "and the LTV model.").format(
    period=basis.period, quarters=quarters, last=basis.last_label,
    method=_(sidebar.METHOD_LABELS[basis.ltv_method]).lower(), interval=formats.percent(basis.interval, places=0),
    draws=formats.count(sc.DRAWS)))
for note in phrases.texts(basis.notes):
    st.info(literal.markdown(note))

# --- the working plan: one object (finance.planning.session), kept by finance.app.planner ----------
saved = planner.saved_scenarios(ctx.path)
saved_names = saved["name"].to_list()
starts = planner.start_options(basis, saved_names)
top = st.columns([2, 1, 1])
start = top[0].selectbox(_("Start from"), list(starts), key="plan.start", format_func=starts.__getitem__)
session, dropped = planner.working_session(ctx, basis, start)
for message in phrases.texts(dropped):
    st.error(literal.markdown(message))
top[1].number_input(_("Shared costs (% of start)"), 0.0, 500.0, 100.0, step=5.0, key=planner.SHARED_PERCENT,
                    help=_("Staff, martech, website and other costs with no channel scale by this."),
                    on_change=planner.shared_changed)
with st.expander(_("Plan lines: spend per channel and cost category for the quarter"), expanded=False):
    st.caption(_("Edit any amount. `{shared}` lines have no channel (staff, martech, website); sales lines count "
                 "in the S&M CAC only.").format(shared=planner.shared_words()))
    # The channel and category keys ride along hidden: the edited table is read back by them.
    edited = st.data_editor(
        planner.editor_frame(session.table), key=f"plan.editor.{session.table_version}", hide_index=True,
        width="stretch", num_rows="fixed", disabled=["channel", "channel_shown", "category", "category_label"],
        column_config={"channel": None, "category": None,
                       "channel_shown": st.column_config.TextColumn(_("Channel")),
                       "category_label": st.column_config.TextColumn(_("Cost category")),
                       "amount": st.column_config.NumberColumn(formats.editor_header(_("Amount"), ctx.currency),
                                                               min_value=0.0, format=MONEY_FORMAT,
                                                               step=0.01)})
try:
    planner.edit(session, edited)
    plan = planner.projected(ctx, session.working, _(WORKING))
except PlanError as exc:
    st.error(_("The plan cannot be projected: {reason}").format(reason=literal.markdown(phrases.text(exc))))
    st.stop()
top[2].metric(_("Plan total (S&M)"), money_compact(plan.spend_sm),
              help=_("Exactly {amount}").format(amount=money(plan.spend_sm)))

st.subheader(_("Projection for {period}").format(period=basis.period))
plan_widgets.tiles(plan, ctx.currency)
plan_widgets.channel_table(plan, ctx.currency)

baseline = planner.projected(ctx, basis.starts["last_quarter"], _("Baseline (repeat last quarter)"))
optimise_tab, goal_tab, scenario_tab, curve_tab, pack_tab = st.tabs(
    [_("Optimised split"), _("Goal seek"), _("Scenarios"), _("Response curves"), _("Board pack")])

with optimise_tab:
    st.write(_("The split of the plan's channel spend that maximises projected LTV minus spend. Each channel "
               "stays within its bounds (by default half to one and a half times its spend in the plan: the curves "
               "are trusted near the spend they were fitted on). At the optimum, each channel not at a bound "
               "returns the same LTV per marginal dollar."))
    # Keyed on the plan's revision: every change to the working plan starts the budget at its total.
    total = st.number_input(_("Channel budget to split"), 0.0, float(sc.MAX_AMOUNT) - 1.0,
                            value=float(session.budget_to_split), step=10_000.0, format="%.2f",
                            key=f"plan.total.{session.revision}")
    bounds_edit = pl.DataFrame(st.data_editor(
        planner.bounds_frame(session), key=f"plan.bounds.{session.table_version}", hide_index=True, width="stretch",
        disabled=["channel"], column_config=plan_widgets.bounds_columns(ctx.currency)))
    if st.button(_("Optimise the split"), type="primary", key="plan.optimise"):
        with refused(_("No split found: ")):
            planner.optimise(session, total, bounds_edit)
    plan_widgets.optimised_split(ctx, session)

with goal_tab:
    left, right = st.columns(2)
    target = left.number_input(_("Target LTV:CAC"), 0.5, 20.0, 3.0, step=0.25, key="plan.target_ratio")
    if left.button(_("Largest budget at this LTV:CAC"), key="plan.seek_ratio"):
        with refused(where=left):
            session.goal_seek(ratio=target)
    wanted = right.number_input(_("Target new customers"), 1.0, sc.MAX_CUSTOMERS,
                                value=min(float(round(plan.figures["customers"].point or 1)), sc.MAX_CUSTOMERS),
                                step=100.0, format="%.0f", key=f"plan.target_customers.{session.revision}")
    if right.button(_("Budget for this many customers"), key="plan.seek_customers"):
        with refused(where=right):
            session.goal_seek(customers=wanted)
    plan_widgets.goal_answer(ctx, session)

with scenario_tab:
    editor = auth.can_edit()
    if not editor:
        st.caption(_("Saving and deleting scenarios need the editor role; you can compare the saved ones."))
    else:
        with st.form("plan.save"):
            cols = st.columns([2, 1, 1])
            name = cols[0].text_input(_("Scenario name"),
                                      placeholder=_("{period} request").format(period=basis.period))
            kinds = {kind: _(words) for kind, words in KIND_WORDS.items()}
            kind = cols[1].selectbox(_("Kind"), list(kinds), format_func=kinds.__getitem__)
            overwrite = cols[2].checkbox(_("Replace if it exists"))
            note = st.text_input(_("Note"), placeholder=_("What this plan assumes"))
            if st.form_submit_button(_("Save the working plan")):
                with refused(_("Not saved: ")):
                    planner.save_scenario(ctx, session, name, kind, note, overwrite)
                    st.rerun()
    if (flash := planner.flash()) is not None:
        st.success(flash)
    if not saved.is_empty():
        kind_words = {kind: _(words) for kind, words in KIND_WORDS.items()}
        st.dataframe(widgets.shown(saved.with_columns(pl.col("kind").replace(kind_words)), ctx.currency,
                                   {"spend": "money", "lines": "count"}), hide_index=True, width="stretch",
                     column_config={"name": _("Scenario"), "period": _("Quarter"), "kind": _("Kind"),
                                    "note": _("Note"), "lines": st.column_config.NumberColumn(_("Lines")),
                                    "created_at": st.column_config.DatetimeColumn(_("Created (UTC)")),
                                    "updated_at": st.column_config.DatetimeColumn(_("Updated (UTC)")),
                                    "spend": st.column_config.NumberColumn(_("Spend (all lines)"))})
        gone = st.selectbox(_("Delete a scenario"), [None, *saved_names], key="plan.delete") if editor else None
        if editor and gone and st.button(_("Delete '{name}'").format(name=literal.markdown(gone)),
                                         key="plan.delete.confirm"):
            with refused(_("Not deleted: ")):
                planner.delete_scenario(ctx, gone)
                st.rerun()
    plan_widgets.comparison(ctx, session, baseline, plan, saved_names)

with curve_tab:
    plan_widgets.response_curve(ctx, basis, plan)

with pack_tab:
    plan_widgets.board_pack(ctx, session, saved_names)

if SHARED not in {ln.channel for ln in plan.lines}:
    st.caption(_("This plan has no shared costs: fully loaded CAC counts only channel spend."))
