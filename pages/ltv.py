"""LTV: what is a customer worth, by which model, how sure are we, and how well has it forecast before?"""

from __future__ import annotations

import polars as pl
import streamlit as st

from finance.app import sidebar, widgets
from finance.domain import literal
from finance.ltv.base import METHODS
from finance.ltv.methods import MODELS_BY_KEY
from finance.metrics.table import headline_row, on_cac_basis
from finance.present import charts, formats, phrases, summary
from finance.present.i18n import N_, _

ctx = sidebar.context()
st.title(_("Customer lifetime value"))
rows = ctx.rows()
if rows.is_empty() or rows.get_column("ltv").is_null().all():
    widgets.no_data(N_("No customers with revenue yet."))
    st.stop()
result = ctx.metrics()
model = result.ltv
st.caption(formats.then(widgets.method_sentence(result), _(
    "Gross margin, {months}-month horizon, {rate} annual discount rate; ranges are {interval} intervals.").format(
    months=ctx.assumptions.horizon_months, rate=formats.percent(ctx.assumptions.annual_discount_rate, places=0),
    interval=summary.interval())))
st.plotly_chart(ctx.chart(charts.cohort_heatmap, source="cohorts"), key="ltv.heatmap")
known = rows.filter(pl.col("ltv").is_not_null())
latest = headline_row(known) or known.row(-1, named=True)
shown = known.filter(pl.col("period") <= latest["period"]).tail(4)
cac_key = "cac_sm" if ctx.view.include_sales else "cac"  # the S&M toggle's CAC, as the payback column
st.plotly_chart(charts.ltv_curves(shown, cac=float(latest[cac_key]) if latest[cac_key] else None,
                                  currency=ctx.currency), key="ltv.curves")

st.subheader(_("The methods side by side"))
st.caption(_("{period}: each method's LTV and range, and how it forecast in the back-test (12 months ahead, every "
             "cohort acquired in the year before each past quarter-end).").format(period=latest["period_label"]))
head = {key: _(key) for key in (N_("Method"), N_("LTV"), N_("Low"), N_("High"), N_("LTV:CAC"), N_("Forecast error"),
                                 N_("Bias"), N_("Range held"), N_("Months ahead"), N_("Forecasts"))}
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
        head["Method"]: _(sidebar.METHOD_LABELS[method]), head["LTV"]: rec["ltv"], head["Low"]: rec["ltv_low"],
        head["High"]: rec["ltv_high"], head["LTV:CAC"]: rec["ltv_cac"],
        head["Forecast error"]: score.mape if score and score.mape is not None else None,
        head["Bias"]: score.bias if score and score.bias is not None else None,
        head["Range held"]: score.coverage if score and score.coverage is not None else None,
    })
# the page's own tables' numbers by unit (written by widgets.shown, in the page's language)
UNITS = {head["LTV"]: "money", head["Low"]: "money", head["High"]: "money", head["LTV:CAC"]: "ratio",
         head["Forecast error"]: "fraction", head["Bias"]: "fraction", head["Range held"]: "fraction",
         head["Months ahead"]: "count", head["Forecasts"]: "count"}
st.dataframe(widgets.shown(pl.DataFrame(comparison), ctx.currency, UNITS), hide_index=True, key="ltv.methods",
             height="content")

st.subheader(_("Model check"))
if check is None:
    st.info(_("The model check against this history is running; the table fills in when it is done."))
elif not check.cutoffs:
    st.info(_("Too little history for a back-test yet (it needs a quarter-end with six months of customers "
              "before it and three months of revenue after it). The model of each segment was chosen by the "
              "shape of its payments."))
else:
    st.caption(_("Fitted on the data known at {count} past quarter-ends ({first} to {last}), each model forecast "
                 "every young cohort's gross margin per customer for the next 3, 6 and 12 months. Each quarter-end "
                 "is scored with the model error and model choice measured on the others, so these figures are out "
                 "of sample.").format(count=len(check.cutoffs), first=check.cutoffs[0], last=check.cutoffs[-1]))
    table = []
    for method in METHODS:
        for horizon in ("3", "6", "12"):
            score = check.scores.get(method, {}).get("", {}).get(horizon)
            if score is None or not score.predictions:
                continue
            table.append({head["Method"]: _(sidebar.METHOD_LABELS[method]), head["Months ahead"]: int(horizon),
                          head["Forecasts"]: score.predictions, head["Bias"]: score.bias,
                          head["Forecast error"]: score.mape, head["Range held"]: score.coverage})
    st.dataframe(widgets.shown(pl.DataFrame(table), ctx.currency, UNITS), hide_index=True, key="ltv.check",
                 height="content")  # every method and horizon in view, none behind a scrollbar
    picks = [{_("Segment"): model.group_name((segment,)),
              _("Model"): phrases.text(MODELS_BY_KEY[choice].label) if choice in MODELS_BY_KEY else choice,
              _("Why"): phrases.text(check.reasons.get(segment, ""))}
             for segment, choice in sorted(check.recommended.items())]
    st.dataframe(pl.DataFrame(picks), hide_index=True, key="ltv.picks")
    predictions = pl.DataFrame(check.predictions) if check.predictions else pl.DataFrame()
    if not predictions.is_empty():
        mine = predictions.filter(pl.col("method") == model.method)
        st.plotly_chart(charts.backtest_scatter(mine, 12, check.interval, currency=ctx.currency), key="ltv.backtest")

st.subheader(_("Fitted model"))
st.caption(_("Each group's model in business words: with these and the table of cohorts a figure can be "
             "redone by hand (docs/metrics.md gives the formulas)."))
# The model's and the source's words are the LTV layer's English (finance.ltv.words): written here in the language.
quality = pl.DataFrame([{**row, "model_label": phrases.text(row["model_label"]),
                         "fit_source": phrases.text(row["fit_source"]),
                         "log_likelihood": formats.count(row["log_likelihood"])} for row in model.fit_quality()],
                       schema={"customer_group": pl.String, "model_label": pl.String, "fitted_customers": pl.Int64,
                               "fit_source": pl.String, "log_likelihood": pl.String})
widgets.table(quality, "ltv.fit_quality", ctx.currency)
st.caption(_("Fit quality is the log-likelihood of the group's payment histories under its fitted model: nearer "
             "zero is a closer fit, comparable only between models of the same customers. Small groups borrow "
             "strength: a channel with too few customers uses its segment's fit (pooled), and one with enough is "
             "fitted on its own and moved toward its segment's as far as channels really differ (shrunk); the "
             "churn formula has no likelihood."))
explained = [{"customer_group": model.group_name(stratum), "model_label": phrases.text(f["model_label"]),
              "fitted_customers": f["customers"], "parameter": phrases.text(p["name"]),
              "value": widgets.parameter_text(p["value"], p["unit"], ctx.currency)}
             for stratum, f in zip(model.fits, model.explained(), strict=True) for p in f["parameters"]]
widgets.table(pl.DataFrame(explained), "ltv.params", ctx.currency, value=_("Value"))
for note in phrases.texts(model.notes):
    st.caption(literal.markdown(note if note.endswith((".", "?", "!", "。")) else _("{sentence}.").format(
        sentence=note)))
table = rows.select("period_label", "status", "new_customers", "ltv", "ltv_low", "ltv_high", "ltv_cac",
                    "p_below_1", "p_below_target", "band", "payback_months")
# On screen the range is one column and the chance of being under 1x is left to the download: the
# table then fits the page at 1280 px, its latest period in view.
# The words are written here, in this run's language (a Polars function may run on a thread of Polars').
ranges = ["" if low is None else formats.span(low, high, lambda v: formats.money(v, ctx.currency, whole=True))
          for low, high in table.select("ltv_low", "ltv_high").iter_rows()]
shown_table = table.select(
    "period_label", pl.col("status").replace(summary.status_words()), "new_customers", "ltv",
    pl.Series("ltv_range", ranges, dtype=pl.String),
    "ltv_cac", "p_below_target", pl.col("band").replace(summary.band_words()), "payback_months")
widgets.table(shown_table, "ltv.table", ctx.currency, ltv_range=_("LTV range"), status=_("Status"),
              p_below_target=_("Chance < {target}").format(target=formats.threshold(ctx.assumptions.target_ratio)))
widgets.downloads(table, "ltv", ctx)
