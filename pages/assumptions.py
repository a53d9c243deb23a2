"""Assumptions: stored in the database, so every viewer sees the same numbers."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import polars as pl
import streamlit as st

from finance.app import auth, loaders, sidebar
from finance.domain import literal
from finance.domain.fx import OFFERED_CURRENCIES
from finance.present import formats, settings_text
from finance.present.i18n import _, ngettext
from finance.store import targets
from finance.store.database import StoreError

ctx = sidebar.context()
current = ctx.assumptions
st.title(_("Assumptions"))
st.write(_("These shape every figure and are shown with every export. They are stored in the database: "
           "a change here changes what everyone sees."))


def edit_form() -> None:
    """The form, for editors; saving checks the role again on the server."""
    with st.form("assumptions.form"):
        margin = st.number_input(_("Default gross margin (%)"), 0.0, 100.0,
                                 float(current.default_gross_margin) * 100, step=1.0,
                                 help=_("Applied to revenue rows that carry neither a margin nor a cost."))
        discount = st.number_input(_("Annual discount rate (%)"), 0.0, 99.0, current.annual_discount_rate * 100,
                                   step=0.5)
        horizon = st.number_input(_("LTV horizon (months)"), 1, 600, current.horizon_months, step=6)
        edges = st.text_input(_("LTV:CAC band edges"), ", ".join(f"{e:g}" for e in current.band_edges),
                              help=_("Four increasing numbers: unprofitable < e1 <= at risk < e2 <= healthy < e3 "
                                     "<= strong < e4 <= under-investing?"))
        lag = st.number_input(_("Acquisition lag (quarters)"), 0, 4, current.lag_quarters,
                              help=_("Spend in quarter t acquires the customers of quarter t + lag."))
        fiscal = st.number_input(_("Fiscal year starts in month"), 1, 12, current.fiscal_year_start)
        target = st.number_input(_("Target LTV:CAC"), 0.1, 100.0, float(current.target_ratio), step=0.5,
                                 help=_("The ratio marketing is held to: every row gives the chance of falling "
                                        "below it."))
        payback = st.number_input(_("Target CAC payback (months, 0 for none)"), 0, 120,
                                  current.target_payback_months,
                                  help=_("A period whose CAC payback is longer missed it: the tile and the pack "
                                         "say so."))
        tolerance = st.columns(2)
        share = tolerance[0].number_input(
            _("Reconciliation tolerance (% of the ledger)"), 0.0, 99.0, float(current.reconcile_share) * 100,
            step=0.1, format="%.2f", help=_("A period's spend reconciles to the general ledger when it is within "
                                            "the larger of this share of the ledger and the amount beside it."))
        amount = tolerance[1].number_input(
            _("Reconciliation tolerance (amount, {currency})").format(currency=ctx.currency), 0.0, 1e9,
            float(current.reconcile_amount), step=50.0, format="%.2f")
        allocation_words = {"spend": _("their direct spend"), "customers": _("their new customers")}
        allocation = st.radio(_("Shared costs are allocated to channels by"), ["spend", "customers"],
                              index=["spend", "customers"].index(current.allocation), horizontal=True,
                              format_func=allocation_words.__getitem__)
        saved = st.form_submit_button(_("Save assumptions"), type="primary")
    if not saved:
        return
    try:
        updated = replace(  # from what is in force, so nothing the form does not show is reset
            current, default_gross_margin=Decimal(str(round(margin, 4))) / 100,
            annual_discount_rate=round(discount, 4) / 100,
            horizon_months=int(horizon),
            band_edges=tuple(float(v) for v in edges.replace(";", ",").split(",") if v.strip()),
            lag_quarters=int(lag), fiscal_year_start=int(fiscal), allocation=allocation, target_ratio=float(target),
            target_payback_months=int(payback),
            reconcile_share=Decimal(str(round(share, 4))) / 100, reconcile_amount=Decimal(str(round(amount, 2))),
        )
    except ValueError as exc:
        st.error(_("Not saved: {reason}").format(reason=literal.markdown(exc)))
        return
    try:
        with loaders.writable_store(ctx.path, "changing the assumptions") as store:
            store.set_assumptions(updated.to_settings())
    except StoreError as exc:
        loaders.show_store_error(exc)
        return
    st.session_state["assumptions.flash"] = _("Saved. Every page now uses these assumptions.")
    st.rerun()


def currency_form() -> None:
    """The reporting currency: changing it converts every stored amount again from the amounts as written."""
    with st.form("assumptions.currency"):
        choices = list(dict.fromkeys([ctx.currency, *OFFERED_CURRENCIES]))
        code = st.selectbox(_("Reporting currency"), choices, index=0,
                            help=_("Every amount is converted again from the amounts as written, at the stored "
                                   "exchange rates; refused, changing nothing, if a rate is missing."))
        changed = st.form_submit_button(_("Change the reporting currency"))
    if not changed or code == ctx.currency:
        return
    try:
        with loaders.writable_store(ctx.path, "changing the reporting currency") as store:
            outcome = store.set_reporting_currency(code)
    except StoreError as exc:
        st.error(settings_text.currency_refusal(str(exc)))
        return
    rows = sum(n for per_kind in outcome["converted"].values() for n in per_kind.values())
    st.session_state["assumptions.flash"] = ngettext(
        "The reporting currency is now {currency}: {rows} row converted again.",
        "The reporting currency is now {currency}: {rows} rows converted again.", rows).format(
        currency=code, rows=formats.count(rows))
    st.rerun()


def cac_targets_form() -> None:
    """Each channel's fully loaded CAC target: set one, or clear it (an editor's change, in the change log)."""
    if not ctx.channels:
        return
    with st.form("assumptions.cac_target"):
        left, right = st.columns(2)
        channel = left.selectbox(_("Channel"), ctx.channels, key="assumptions.cac_target.channel")
        amount = right.number_input(_("Fully loaded CAC target ({currency}, 0 to clear)").format(
            currency=ctx.currency), 0.0, 1e9, 0.0, step=50.0, format="%.2f", key="assumptions.cac_target.amount")
        saved = st.form_submit_button(_("Save the CAC target"))
    if not saved or channel is None:
        return
    try:
        with loaders.writable_store(ctx.path, "changing the assumptions") as store:
            if amount > 0:
                targets.set_targets(store, {channel: targets.amount_of(f"{amount:.2f}", channel)})
            else:
                targets.clear(store, channel)
    except StoreError as exc:
        loaders.show_store_error(exc)
        return
    st.session_state["assumptions.flash"] = _("Saved. Every page now uses these assumptions.")
    st.rerun()


if auth.can_edit():
    edit_form()
    cac_targets_form()
    currency_form()
else:
    st.info(_("You can read the assumptions; changing them needs the editor role."), icon=":material/visibility:")
if flash := st.session_state.pop("assumptions.flash", None):
    st.success(flash)
st.subheader(_("In force"))
in_force = settings_text.assumption_texts(current)
st.table({_("Assumption"): [literal.markdown(label) for label, _value in in_force],  # cells are Markdown
          _("Value"): [literal.markdown(value) for _label, value in in_force]})

goals = ctx.targets()
if goals.cac:
    st.markdown(_("**Fully loaded CAC targets by channel**"))
    st.table({_("Channel"): [literal.markdown(goals.names[k]) for k in sorted(goals.cac)],
              _("Target"): [formats.money(goals.cac[k], ctx.currency) for k in sorted(goals.cac)]})

st.subheader(_("Changes"))
with loaders.read_store(ctx.path) as reader:
    history = reader.changes(limit=50, actions=("assumptions", "setting", "currency"))
if history.is_empty():
    st.caption(_("No assumption or mapping has been changed here yet."))
else:
    words = [settings_text.change_text(action, detail)
             for action, detail in history.select("action", "detail").iter_rows()]
    when = "%d %b %Y %H:%M UTC" if formats.language_is_default() else "%Y-%m-%d %H:%M UTC"  # month names are English
    table = history.select(pl.col("changed_at").dt.strftime(when).alias(_("When")),
                           pl.col("changed_by").alias(_("Who")),
                           pl.Series(_("What changed"), words, dtype=pl.String))
    st.dataframe(table, hide_index=True, key="assumptions.history")
