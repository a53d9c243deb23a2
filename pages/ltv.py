"""LTV: what is a customer worth, by which method, and how sure are we?"""

from __future__ import annotations

import polars as pl
import streamlit as st

from finance import charts, ui

ctx = ui.context()
st.title("Customer lifetime value")
rows = ctx.rows()
if rows.is_empty() or rows.get_column("ltv").is_null().all():
    ui.no_data("No customers with revenue yet.")
    st.stop()
model = ctx.ltv_model()
st.caption(f"Method: {ui.METHOD_LABELS[model.method]}; gross margin, {ctx.assumptions.horizon_months}-month "
           f"horizon, {ctx.assumptions.annual_discount_rate:.0%} annual discount rate.")
st.plotly_chart(ctx.chart("cohort_heatmap"), key="ltv.heatmap")
known = rows.filter(pl.col("ltv").is_not_null())
latest = known.row(-1, named=True)
st.plotly_chart(charts.ltv_curves(known.tail(4), cac=float(latest["cac"]) if latest["cac"] else None),
                key="ltv.curves")
st.subheader("Fitted model")
params = pl.DataFrame({"parameter": list(model.params), "value": [round(v, 6) for v in model.params.values()]})
left, right = st.columns(2)
left.dataframe(params, hide_index=True, key="ltv.params")
diagnostics = pl.DataFrame({"fit diagnostic": list(model.diagnostics),
                            "value": [round(v, 3) for v in model.diagnostics.values()]})
right.dataframe(diagnostics, hide_index=True, key="ltv.diagnostics")
for note in model.notes:
    st.warning(note)
table = rows.select("period_label", "new_customers", "ltv", "ltv_low", "ltv_high", "ltv_cac", "band",
                    "payback_months").with_columns(pl.col("ltv", "ltv_low", "ltv_high").round(2),
                                                   pl.col("ltv_cac").round(2))
st.dataframe(table, hide_index=True, key="ltv.table",
             column_config={c: st.column_config.NumberColumn(format="$%,.2f") for c in ("ltv", "ltv_low", "ltv_high")})
ui.downloads(rows.select("period_label", "new_customers", "ltv", "ltv_low", "ltv_high", "ltv_cac", "band",
                         "payback_months"), "ltv", ctx, ("ltv", "ltv_low", "ltv_high"))
