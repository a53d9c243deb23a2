"""CPL & CPA: the cost metrics channel owners manage day to day, with the volumes behind them."""

from __future__ import annotations

import polars as pl
import streamlit as st

from finance.app import sidebar, widgets
from finance.present import charts
from finance.present.i18n import _

ctx = sidebar.context()
st.title(_("Cost per lead and per acquisition"))
st.caption(_("On each channel's direct spend (its own programmes, before shared costs); fully loaded "
             "cost is on the CAC page."))
rows = ctx.rows(by="channel")
if rows.is_empty():
    widgets.no_data()
    st.stop()
widgets.basis_note(ctx)
widgets.reconciliation_note(ctx)
volume_words = {v: _(label) for v, label in charts.VOLUMES.items()}
volume = st.segmented_control(_("Volume"), list(charts.VOLUMES), default="leads", key="cpl.volume",
                              format_func=volume_words.__getitem__) or "leads"
st.plotly_chart(ctx.chart(charts.cpl_cpa_history, by="channel", dimension="channel", volume=volume), key="cpl.history")

st.subheader(_("By channel"))
cost = charts.VOLUME_COSTS[volume][0]
basis = ["spend_events"] if cost == "cost_per_attendee" else []  # attendees are costed on events spend
columns = ["period_label", "channel", "direct_spend", *basis, volume, cost, "new_customers", "cpa"]
recorded = rows.filter(pl.col(volume) > 0).get_column("channel").unique()
history = rows.filter(pl.col("channel").is_in(recorded.implode())).select(columns).sort(
    "period_label", "channel", descending=[True, False])
periods = history.get_column("period_label").unique(maintain_order=True).to_list()
# One period at a time (the latest first): the full history, every period, is in the downloads.
period = st.selectbox(_("Period"), periods, key="cpl.period") if periods else None
st.caption(_("The channels that record {volume}; each cost is the channel's spend over its volume in the period. "
             "The downloads hold every period.").format(volume=volume_words[volume].lower()))
widgets.downloads(history, f"cpl_cpa_{volume}", ctx)
money = [c for c in columns if c not in ("period_label", "channel", volume, "new_customers")]
widgets.table(history.filter(pl.col("period_label").eq_missing(period)).drop("period_label").with_columns(
    pl.col(money).cast(pl.Float64).round(2), pl.col(volume, "new_customers").cast(pl.Int64)), "cpl.table",
    ctx.currency)
