"""Reconciliation: does the spend behind the CAC tie to the general ledger, period by period?"""

from __future__ import annotations

import functools

import polars as pl
import streamlit as st

from finance.app import auth, loaders, sidebar, widgets
from finance.domain import literal
from finance.domain.schema import CATEGORIES
from finance.metrics.reconcile import MAPPED, NO_ACCOUNT, NOT_SPEND, RECONCILED, UNMAPPED, VARIANCE
from finance.present import formats
from finance.present.i18n import N_, _
from finance.store import accounts
from finance.store.database import StoreError

STATUS_WORDS = {RECONCILED: N_("reconciled"), VARIANCE: N_("does not reconcile"),
                NO_ACCOUNT: N_("no ledger account mapped")}
STATE_WORDS = {MAPPED: N_("mapped"), NOT_SPEND: N_("not marketing or sales spend"), UNMAPPED: N_("not mapped")}

ctx = sidebar.context()
money = functools.partial(formats.money, currency=ctx.currency)
st.title(_("Reconciliation to the general ledger"))
result = loaders.load_reconciliation(ctx.path, ctx.version, ctx.view.grain)
if result is None:
    st.info(_("No general ledger is imported. Import a trial balance or GL summary (period, account, amount), or "
              "the General Ledger report of QuickBooks, Xero or NetSuite, on the **Data** page as the "
              "*General ledger* file: the spend behind every CAC is then checked against the books here."))
    st.stop()


tolerance = result.tolerance
st.caption(_("Variance is the imported spend less the ledger's mapped accounts. A line reconciles when it is "
             "within the larger of {amount} and {share} of the ledger (the Assumptions page); every variance "
             "is shown exactly.").format(amount=money(tolerance.amount),
                                         share=formats.percent(float(tolerance.share), places=2)))
periods = result.periods
failing = result.failing
cells = st.columns(4)
cells[0].metric(_("Periods compared"), formats.count(periods.height))
cells[1].metric(_("Reconciled"), formats.count(periods.height - len(failing)))
cells[2].metric(_("Do not reconcile"), formats.count(len(failing)))
cells[3].metric(_("Accounts not mapped"), formats.count(result.unmapped.height))
if failing:
    st.warning(_("Does not reconcile: {periods}. The CAC of these periods rests on spend the books do not "
                 "confirm.").format(periods=formats.clauses([literal.markdown(p) for p in failing])),
               icon=":material/error:")
elif periods.height:
    st.success(_("Every period compared reconciles to the general ledger."), icon=":material/task_alt:")
if result.uncovered:
    st.caption(_("Not compared (the ledger export does not cover every month of them): {periods}.").format(
        periods=formats.clauses([literal.markdown(p) for p in result.uncovered])))

st.subheader(_("By period"))
by_period = periods.select(
    period_label="period", ledger=pl.col("ledger").cast(pl.Float64), spend_imported=pl.col("spend").cast(pl.Float64),
    variance=pl.col("variance").cast(pl.Float64), lines_off="off",
    status_label=pl.col("status").replace_strict({k: _(v) for k, v in STATUS_WORDS.items()}, default=None))
widgets.table(by_period, "reconciliation.periods", ctx.currency)

st.subheader(_("By period and cost category"))
only_off = st.toggle(_("Only the lines that do not reconcile"), value=bool(failing), key="reconciliation.only_off")
lines = result.lines.filter(pl.col("status") != RECONCILED) if only_off else result.lines
detail = lines.select(
    period_label="period",
    category_label=pl.col("category").replace_strict({k: _(c.label) for k, c in CATEGORIES.items()},
                                                     default=pl.col("category")),
    ledger=pl.col("ledger").cast(pl.Float64), spend_imported=pl.col("spend").cast(pl.Float64),
    variance=pl.col("variance").cast(pl.Float64), variance_share="variance_share",
    status_label=pl.col("status").replace_strict({k: _(v) for k, v in STATUS_WORDS.items()}, default=None))
if detail.is_empty():
    st.caption(_("Every line reconciles."))
else:
    widgets.table(detail, "reconciliation.lines", ctx.currency)
    widgets.downloads(detail, "reconciliation", ctx)

st.subheader(_("Ledger accounts"))
st.caption(_("Only mapped accounts count. An account's name may suggest a category (a company-wide "
             "Salaries account reads as personnel), so a suggestion is never taken until an editor maps it."))
listed = result.accounts.select(
    "account",
    mapping_label=pl.col("category").replace_strict({k: _(c.label) for k, c in CATEGORIES.items()}, default=None),
    status_label=pl.col("state").replace_strict({k: _(v) for k, v in STATE_WORDS.items()}, default=None),
    suggestion_label=pl.col("suggestion").replace_strict({k: _(c.label) for k, c in CATEGORIES.items()},
                                                         default=None),
    ledger=pl.col("ledger").cast(pl.Float64))
widgets.table(listed, "reconciliation.accounts", ctx.currency)


def mapping_form() -> None:
    """Map the ledger's accounts (an editor's), all in one save: one row per account, its category chosen from
    the list. An account not mapped starts blank, whatever its name suggests (the table above shows it)."""
    words = {accounts.NOT_SPEND: _("not marketing or sales spend"), **{k: _(c.label) for k, c in CATEGORIES.items()}}
    keys = {label: key for key, label in words.items()}
    rows = []
    for row in result.accounts.iter_rows(named=True):
        current = row["category"] or (accounts.NOT_SPEND if row["state"] == NOT_SPEND else None)
        rows.append({"account": row["account"], "category": words.get(current) if current else None})
    with st.form("reconciliation.map"):
        st.markdown(_("**Map the accounts**: each to a cost category, or to none when it is not marketing or sales "
                      "spend. A blank one stays unmapped."))
        edited = st.data_editor(
            pl.DataFrame(rows, schema={"account": pl.String, "category": pl.String}), hide_index=True,
            disabled=["account"], key="reconciliation.map.table", width="stretch",
            column_config={"account": st.column_config.TextColumn(_("Account")),
                           "category": st.column_config.SelectboxColumn(_("Cost category"), options=list(keys))})
        saved = st.form_submit_button(_("Save the mapping"), type="primary")
    if not saved:
        return
    frame = edited if isinstance(edited, pl.DataFrame) else pl.from_pandas(edited)
    wanted = {account: keys[label] for account, label in frame.select("account", "category").iter_rows()
              if label in keys}
    if not wanted:
        return
    try:
        with loaders.writable_store(ctx.path, "mapping the ledger's accounts") as store:
            accounts.map_accounts(store, wanted)
    except StoreError as exc:
        loaders.show_store_error(exc)
        return
    st.session_state["reconciliation.flash"] = _("Saved: the accounts are mapped as shown.")
    st.rerun()


if flash := st.session_state.pop("reconciliation.flash", None):
    st.success(flash)
if auth.can_edit():
    mapping_form()
else:
    st.caption(_("Mapping the accounts needs the editor role."))
