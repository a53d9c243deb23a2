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
STATE_WORDS = {MAPPED: N_("mapped"), NOT_SPEND: N_("not spend"), UNMAPPED: N_("not mapped")}

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
if result.basis == "accrual":
    st.caption(_("The spend is on the accrual basis here, as the books expense a prepaid cost: a cost with a "
                 "service period counts in the months of the service."))
selected = ctx.view.period_range(ctx.periods)  # the sidebar's From and To
in_range = (pl.col("period").is_between(pl.lit(selected[0]), pl.lit(selected[1])) if selected else pl.lit(True))
periods = result.periods.filter(in_range)
failing = periods.filter(pl.col("status") != RECONCILED).get_column("period").to_list()
for left, right in (((N_("Periods compared"), periods.height), (N_("Reconciled"), periods.height - len(failing))),
                    ((N_("Do not reconcile"), len(failing)), (N_("Accounts not mapped"), result.unmapped.height))):
    cells = st.columns(2)  # two a row: the labels stay whole beside an open sidebar, in every language
    for cell, (label, count) in zip(cells, (left, right), strict=True):
        cell.metric(_(label), formats.count(count))
if failing:
    st.warning(_("Does not reconcile: {periods}. The CAC of these periods rests on spend the books do not "
                 "confirm.").format(periods=", ".join(literal.markdown(p) for p in failing)),
               icon=":material/error:")
elif periods.height:
    st.success(_("Every period compared reconciles to the general ledger."), icon=":material/task_alt:")
if result.uncovered:
    st.caption(_("Not compared (the ledger export does not cover every month of them): {periods}.").format(
        periods=", ".join(literal.markdown(p) for p in result.uncovered)))

st.subheader(_("By period"))
by_period = periods.select(
    period_label="period", ledger=pl.col("ledger").cast(pl.Float64), spend_imported=pl.col("spend").cast(pl.Float64),
    variance=pl.col("variance").cast(pl.Float64), lines_off="off",
    status_label=pl.col("status").replace_strict({k: _(v) for k, v in STATUS_WORDS.items()}, default=None))
widgets.table(by_period, "reconciliation.periods", ctx.currency, variance=_("Variance"))

st.subheader(_("By period and cost category"))
only_off = st.toggle(_("Only the lines that do not reconcile"), value=bool(failing), key="reconciliation.only_off")
lines = result.lines.filter(in_range & (pl.col("status") != RECONCILED) if only_off else in_range)
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
    widgets.table(detail, "reconciliation.lines", ctx.currency, variance=_("Variance"),
                  variance_share=_("Share of the ledger"))
    widgets.downloads(detail, "reconciliation", ctx)

st.subheader(_("Ledger accounts"))
st.caption(_("Only mapped accounts count. An account's name may suggest a category (a company-wide "
             "Salaries account reads as personnel), so a suggestion is never taken until an editor maps it."))
labels = {k: _(c.label) for k, c in CATEGORIES.items()}
listed = result.accounts.select(
    "account",
    mapping_label=pl.col("category").replace_strict(labels, default=None).fill_null(""),
    status_label=pl.col("state").replace_strict({k: _(v) for k, v in STATE_WORDS.items()}, default=None),
    suggestion_label=pl.col("suggestion").replace_strict(labels, default=None).fill_null(""),
    ledger=pl.col("ledger").cast(pl.Float64))
widgets.table(listed, "reconciliation.accounts", ctx.currency)


def mapping_form() -> None:
    """Map one account of the ledger (an editor's): the accounts not mapped first, each with what its name
    suggests chosen to start with, and saved only when the editor saves it."""
    words = {accounts.NOT_SPEND: _("not marketing or sales spend"), **{k: _(c.label) for k, c in CATEGORIES.items()}}
    order = result.accounts.sort(pl.col("state") != UNMAPPED, "account")
    names = order.get_column("account").to_list()
    if not names:
        return
    st.markdown(_("**Map an account** to a cost category, or to none when it is not marketing or sales spend."))
    left, right = st.columns(2)
    account = left.selectbox(_("Account"), names, key="reconciliation.map.account")
    index = names.index(account) if account in names else 0
    row = order.row(index, named=True)
    start = row["category"] or (accounts.NOT_SPEND if row["state"] == NOT_SPEND else row["suggestion"])
    choices = list(words)
    category = right.selectbox(_("Cost category"), choices, format_func=words.__getitem__,
                               index=choices.index(start) if start in choices else None,
                               key=f"reconciliation.map.category.{accounts.account_key(row['account'])}")
    saved = st.button(_("Save the mapping"), type="primary", key="reconciliation.map.save")
    if not saved or account is None or category is None:
        return
    try:
        with loaders.writable_store(ctx.path, "mapping the ledger's accounts") as store:
            accounts.map_accounts(store, {account: category})
    except StoreError as exc:
        loaders.show_store_error(exc)
        return
    st.session_state["reconciliation.flash"] = _("Saved: {account} is mapped to {category}.").format(
        account=literal.markdown(account), category=words[category])
    st.rerun()


if flash := st.session_state.pop("reconciliation.flash", None):
    st.success(flash)
if auth.can_edit():
    mapping_form()
else:
    st.caption(_("Mapping the accounts needs the editor role."))
