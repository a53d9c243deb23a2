"""Assumptions: stored in the database, so every viewer sees the same numbers."""

from __future__ import annotations

from decimal import Decimal

import streamlit as st

from finance import ui
from finance.assumptions import Assumptions
from finance.store import Store

ctx = ui.context()
current = ctx.assumptions
st.title("Assumptions")
st.write("These shape every figure and are shown with every export. They are stored in the database: "
         "a change here changes what everyone sees.")
with st.form("assumptions.form"):
    margin = st.number_input("Default gross margin (%)", 0.0, 100.0, float(current.default_gross_margin) * 100,
                             step=1.0, help="Applied to revenue rows that carry neither a margin nor a cost.")
    discount = st.number_input("Annual discount rate (%)", 0.0, 99.0, current.annual_discount_rate * 100, step=0.5)
    horizon = st.number_input("LTV horizon (months)", 1, 600, current.horizon_months, step=6)
    edges = st.text_input("LTV:CAC band edges", ", ".join(f"{e:g}" for e in current.band_edges),
                          help="Four increasing numbers: unprofitable < e1 <= at risk < e2 <= healthy < e3 "
                               "<= strong < e4 <= under-investing?")
    lag = st.number_input("Acquisition lag (quarters)", 0, 4, current.lag_quarters,
                          help="Spend in quarter t acquires the customers of quarter t + lag.")
    fiscal = st.number_input("Fiscal year starts in month", 1, 12, current.fiscal_year_start)
    allocation = st.radio("Shared costs are allocated to channels by", ["spend", "customers"],
                          index=["spend", "customers"].index(current.allocation), horizontal=True,
                          format_func=lambda a: "their direct spend" if a == "spend" else "their new customers")
    saved = st.form_submit_button("Save assumptions", type="primary")
if saved:
    try:
        updated = Assumptions(
            default_gross_margin=Decimal(str(round(margin, 4))) / 100,
            annual_discount_rate=round(discount, 4) / 100,
            horizon_months=int(horizon),
            band_edges=tuple(float(v) for v in edges.replace(";", ",").split(",") if v.strip()),
            lag_quarters=int(lag), fiscal_year_start=int(fiscal), allocation=allocation,
        )
    except ValueError as exc:
        st.error(f"Not saved: {exc}")
    else:
        with Store(ctx.path) as store:
            store.set_assumptions(updated.to_settings())
        st.success("Saved. Every page now uses these assumptions.")
        st.rerun()
st.subheader("In force")
st.table({"assumption": list(current.to_settings()), "value": list(current.to_settings().values())})
