"""LTV: what is a customer worth, by which model, how sure are we, and how well has it forecast before?"""

from __future__ import annotations

import polars as pl
import streamlit as st

from finance.app import sidebar, widgets
from finance.domain import literal
from finance.ltv.base import METHODS
from finance.metrics.table import MODEL_WORDS, headline_row, on_cac_basis
from finance.present import charts, formats

ctx = sidebar.context()
st.title("Customer lifetime value")
rows = ctx.rows()
if rows.is_empty() or rows.get_column("ltv").is_null().all():
    widgets.no_data("No customers with revenue yet.")
    st.stop()
result = ctx.metrics()
model = result.ltv
st.caption(f"{widgets.method_sentence(result)} Gross margin, {ctx.assumptions.horizon_months}-month horizon, "
           f"{formats.percent(ctx.assumptions.annual_discount_rate, places=0)} annual discount rate; ranges are "
           f"{ctx.assumptions.interval_label} intervals.")
st.plotly_chart(ctx.chart(charts.cohort_heatmap, source="cohorts"), key="ltv.heatmap")
known = rows.filter(pl.col("ltv").is_not_null())
latest = headline_row(known) or known.row(-1, named=True)
shown = known.filter(pl.col("period") <= latest["period"]).tail(4)
cac_key = "cac_sm" if ctx.view.include_sales else "cac"  # the S&M toggle's CAC, as the payback column
st.plotly_chart(charts.ltv_curves(shown, cac=float(latest[cac_key]) if latest[cac_key] else None,
                                  currency=ctx.currency), key="ltv.curves")

st.subheader("The methods side by side")
st.caption(f"{latest['period_label']}: each method's LTV and range, and how it forecast in the back-test "
           "(12 months ahead, every cohort acquired in the year before each past quarter-end).")
check = result.check
comparison = []
for method in METHODS:
    other = ctx.metrics(method=method)
    row = on_cac_basis(other.rows, other.params, ctx.cac_basis).filter(pl.col("period") == latest["period"])
    if row.is_empty():
        continue
    rec = row.row(0, named=True)
    score = check.headline(method, 12) if check is not None else None
    comparison.append({
        "Method": sidebar.METHOD_LABELS[method], "LTV": rec["ltv"], "Low": rec["ltv_low"], "High": rec["ltv_high"],
        "LTV:CAC": rec["ltv_cac"],
        "Forecast error": score.mape if score and score.mape is not None else None,
        "Bias": score.bias if score and score.bias is not None else None,
        "Range held": score.coverage if score and score.coverage is not None else None,
    })
money = st.column_config.NumberColumn(format=formats.table_format("money", ctx.currency))
percent = st.column_config.NumberColumn(format=formats.table_format("fraction"))
st.dataframe(pl.DataFrame(comparison), hide_index=True, key="ltv.methods",
             column_config={"LTV": money, "Low": money, "High": money,
                            "LTV:CAC": st.column_config.NumberColumn(format=formats.table_format("ratio")),
                            "Forecast error": percent, "Bias": percent, "Range held": percent})

st.subheader("Model check")
if check is None:
    st.info("The model check against this history is running; the table fills in when it is done.")
elif not check.cutoffs:
    st.info("Too little history for a back-test yet (it needs a quarter-end with six months of customers "
            "before it and three months of revenue after it). The model of each segment was chosen by the "
            "shape of its payments.")
else:
    st.caption(f"Fitted on the data known at {len(check.cutoffs)} past quarter-ends ({check.cutoffs[0]} to "
               f"{check.cutoffs[-1]}), each model forecast every young cohort's gross margin per customer for "
               "the next 3, 6 and 12 months. Each quarter-end is scored with the model error and model choice "
               "measured on the others, so these figures are out of sample.")
    table = []
    for method in METHODS:
        for horizon in ("3", "6", "12"):
            score = check.scores.get(method, {}).get("", {}).get(horizon)
            if score is None or not score.predictions:
                continue
            table.append({"Method": sidebar.METHOD_LABELS[method], "Months ahead": int(horizon),
                          "Forecasts": score.predictions, "Bias": score.bias, "Forecast error": score.mape,
                          "Range held": score.coverage})
    st.dataframe(pl.DataFrame(table), hide_index=True, key="ltv.check",
                 column_config={"Bias": percent, "Forecast error": percent, "Range held": percent})
    picks = [{"Segment": model.group_name((segment,)), "Model": MODEL_WORDS.get(choice, choice),
              "Why": check.reasons.get(segment, "")} for segment, choice in sorted(check.recommended.items())]
    st.dataframe(pl.DataFrame(picks), hide_index=True, key="ltv.picks")
    predictions = pl.DataFrame(check.predictions) if check.predictions else pl.DataFrame()
    if not predictions.is_empty():
        mine = predictions.filter(pl.col("method") == model.method)
        st.plotly_chart(charts.backtest_scatter(mine, 12, check.interval, currency=ctx.currency), key="ltv.backtest")

st.subheader("Fitted model")
st.caption("Each group's model in business words: with these and the table of cohorts a figure can be "
           "redone by hand (docs/metrics.md gives the formulas).")
quality = pl.DataFrame([{**row, "log_likelihood": formats.count(row["log_likelihood"])} for row in model.fit_quality()],
                       schema={"customer_group": pl.String, "model_label": pl.String, "fitted_customers": pl.Int64,
                               "fit_source": pl.String, "log_likelihood": pl.String})
widgets.table(quality, "ltv.fit_quality", ctx.currency)
st.caption("Fit quality is the log-likelihood of the group's payment histories under its fitted model: nearer "
           "zero is a closer fit, comparable only between models of the same customers. Small groups borrow "
           "strength: a channel with too few customers uses its segment's fit (pooled), and one with enough is "
           "fitted on its own and moved toward its segment's as far as channels really differ (shrunk); the "
           "churn formula has no likelihood.")
explained = [{"customer_group": model.group_name(stratum), "model_label": f["model_label"],
              "fitted_customers": f["customers"], "parameter": p["name"],
              "value": widgets.parameter_text(p["value"], p["unit"], ctx.currency)}
             for stratum, f in zip(model.fits, model.explained(), strict=True) for p in f["parameters"]]
widgets.table(pl.DataFrame(explained), "ltv.params", ctx.currency)
for note in model.notes:
    st.caption(literal.markdown(note if note.endswith((".", "?", "!")) else f"{note}."))
table = rows.select("period_label", "status", "new_customers", "ltv", "ltv_low", "ltv_high", "ltv_cac",
                    "p_below_1", "p_below_target", "band", "payback_months")
# On screen the range is one column and the chance of being under 1x is left to the download: the
# table then fits the page at 1280 px, its latest period in view.
shown_table = table.select(
    "period_label", "status", "new_customers", "ltv",
    pl.struct("ltv_low", "ltv_high").map_elements(
        lambda r: "" if r["ltv_low"] is None else formats.span(
            r["ltv_low"], r["ltv_high"], lambda v: formats.money(v, ctx.currency, whole=True)),
        return_dtype=pl.String).alias("ltv_range"),
    "ltv_cac", "p_below_target", "band", "payback_months")
widgets.table(shown_table, "ltv.table", ctx.currency, ltv_range="LTV range", status="Status",
              p_below_target=f"Chance < {ctx.assumptions.target_ratio:g}x")
widgets.downloads(table, "ltv", ctx)
