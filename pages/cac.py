"""CAC: why is acquisition cost what it is? Media-only to fully loaded, by category, channel, segment."""

from __future__ import annotations

import polars as pl
import streamlit as st

from finance.app import sidebar, widgets
from finance.present import charts
from finance.present.i18n import N_, _

ctx = sidebar.context()
st.title(_("Customer acquisition cost"))
rows = ctx.rows()
if rows.is_empty() or rows.get_column("spend").is_null().all():
    widgets.no_data()
    st.stop()
known = rows.filter(pl.col("spend").is_not_null() & (pl.col("new_customers") > 0))
if known.is_empty():
    widgets.no_data(N_("No period has both spend and new customers yet."))
    st.stop()
widgets.basis_note(ctx)
widgets.reconciliation_note(ctx)
st.plotly_chart(ctx.chart(charts.cac_waterfall, source="costed", include_sales=ctx.view.include_sales),
                key="cac.waterfall")
st.plotly_chart(ctx.chart(charts.spend_by_category, include_sales=ctx.view.include_sales), key="cac.categories")
left, right = st.columns(2)
with left:
    st.plotly_chart(ctx.chart(charts.cac_by_dimension, by="channel", dimension="channel", targets=ctx.cac_targets()),
                    key="cac.channel")
with right:
    st.plotly_chart(ctx.chart(charts.cac_by_dimension, by="segment", dimension="segment"), key="cac.segment")
columns = ["period_label", "spend", "new_customers", "cac_media", "cac", "cac_sm"]
table = rows.select(columns).with_columns(pl.col("spend", "cac_media", "cac", "cac_sm").cast(pl.Float64).round(2))
widgets.table(table, "cac.table", ctx.currency)
widgets.downloads(rows.select(columns), "cac", ctx)
