"""CPL & CPA: the cost metrics channel owners manage day to day, with the volumes behind them."""

from __future__ import annotations

import streamlit as st

from finance.app import sidebar, widgets
from finance.present import charts

ctx = sidebar.context()
rows = ctx.rows(by="channel")
st.title("Cost per lead and per acquisition")
st.caption("On each channel's direct spend (its own programmes, before shared costs); fully loaded "
           "cost is on the CAC page.")
if rows.is_empty():
    widgets.no_data()
    st.stop()
volume = st.segmented_control("Volume", ["leads", "visitors", "event_attendees"], default="leads",
                              key="cpl.volume", format_func=lambda v: v.replace("_", " ").capitalize()) or "leads"
st.plotly_chart(ctx.chart(charts.cpl_cpa_history, by="channel", dimension="channel", volume=volume), key="cpl.history")
