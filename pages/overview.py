"""Overview: is marketing creating value, and where should the next dollar go?"""

from __future__ import annotations

import functools

import polars as pl
import streamlit as st

from finance.app import sidebar, widgets
from finance.domain import literal
from finance.metrics.mix import headline_mix
from finance.metrics.table import headline_row
from finance.present import charts, formats, summary
from finance.present.i18n import _

ctx = sidebar.context()
money = functools.partial(formats.money, currency=ctx.currency)  # amounts in the database's currency
rows = ctx.rows()
st.title(_("Overview"))
if rows.is_empty() or rows.get_column("spend").is_null().all():
    widgets.no_data()
    st.stop()
known = rows.filter(pl.col("spend").is_not_null())
latest = headline_row(rows)
assert latest is not None
earlier = known.filter(pl.col("period") < latest["period"])
previous = earlier.row(-1, named=True) if earlier.height else None
awaiting = known.filter(pl.col("period") > latest["period"])
result = ctx.metrics()
window = _(sidebar.WINDOW_LABELS[ctx.view.window]).lower()
st.caption(_("{period}, {window}; {as_of}; {method}").format(period=latest["period_label"], window=window,
                                                            as_of=widgets.as_of_text(result),
                                                            method=widgets.method_sentence(result)))


def delta(key: str, fmt: str = "money") -> str | None:
    if previous is None or latest[key] is None or previous[key] is None or float(previous[key]) == 0:
        return None
    change = float(latest[key]) / float(previous[key]) - 1
    return summary.versus(formats.percent(change, signed=True), previous["period_label"])


widgets.basis_note(ctx)
widgets.reconciliation_note(ctx)
widgets.pack_note(ctx)

# The S&M toggle sets the CAC of every tile: CAC, LTV:CAC and payback (ctx.rows gives the ratios
# on the same basis), and each tile says which.
sales = ctx.view.include_sales
cac_key = "cac_sm" if sales else "cac"
basis_words = _(summary.CAC_BASIS_WORDS[ctx.cac_basis])
tiles = [*st.columns(3), *st.columns(3)]  # two rows: a figure is never cut to "$1,05..." at 1280 px
tiles[0].metric(_("S&M CAC") if sales else _("Fully loaded CAC"), money(latest[cac_key]),
                delta(cac_key), delta_color="inverse",
                help=_("Spend in every cost category, sales included / new customers") if sales else
                _("Marketing spend, every cost category but sales / new customers"))
tiles[1].metric(_("LTV"), money(latest["ltv"]), delta("ltv"),
                help=_("Range {low} - {high}").format(low=money(latest["ltv_low"]), high=money(latest["ltv_high"])))
band = summary.band(latest["band"])
odds = summary.chance_text(latest, ctx.assumptions.target_ratio)
interval = summary.interval()
prior_label = previous["period_label"] if previous else None
ratio_change = summary.ratio_change(latest["ltv_cac"], previous["ltv_cac"] if previous else None, prior_label)
tiles[2].metric(_("LTV:S&M CAC") if sales else _("LTV:CAC"), formats.ratio(latest["ltv_cac"]), ratio_change or band,
                delta_color="normal" if ratio_change else "off", delta_arrow="auto" if ratio_change else "off",
                delta_description=band if ratio_change else None,
                help=_("LTV / {basis}. {interval} range {low} - {high}").format(
                    basis=basis_words, interval=interval, low=formats.ratio(latest["ltv_cac_low"]),
                    high=formats.ratio(latest["ltv_cac_high"])) + (f"; {odds}" if odds else ""))
payback_now, payback_before = latest["payback_months"], previous["payback_months"] if previous else None
payback_change = summary.months_change(payback_now, payback_before, prior_label)
tiles[3].metric(_("S&M CAC payback") if sales else _("CAC payback"),
                formats.months(payback_now) if payback_now else formats.na(), payback_change,
                delta_color="inverse" if payback_now != payback_before else "off",
                delta_arrow="auto" if payback_now != payback_before else "off",
                help=_("Months of gross margin per customer to recover the {basis}").format(basis=basis_words))
tiles[4].metric(_("Marketing spend"), formats.money_compact(latest["spend"], ctx.currency), delta("spend"),
                help=_("Exactly {amount}: every category but sales").format(amount=money(latest["spend"])))
tiles[5].metric(_("New customers"), formats.count(latest["new_customers"]), delta("new_customers"))
widgets.targets_note(ctx, latest["period_label"])

# The mix behind the headline: a pooled LTV:CAC is customer-weighted, so one segment can carry it.
segments = ctx.rows("segment").filter(pl.col("period_label") == latest["period_label"])
if sales:  # the headline is on S&M CAC: so is each segment's share of the spend
    segments = segments.with_columns(spend=pl.col("spend_sm"))
mix = headline_mix(latest, segments, "segment", ctx.assumptions.target_ratio, ctx.assumptions.band_edges)
finding = summary.finding(latest, latest["period_label"], ctx.assumptions.target_ratio, mix, previous, prior_label)
st.markdown(f"**{literal.markdown(finding)}**")
if odds:
    st.caption(_("{metric} {ratio}, {interval} range {low} to {high}: {odds}.").format(
        metric=_("LTV:S&M CAC") if sales else _("LTV:CAC"), ratio=formats.ratio(latest["ltv_cac"]), interval=interval,
        low=formats.ratio(latest["ltv_cac_low"]), high=formats.ratio(latest["ltv_cac_high"]), odds=odds))
if awaiting.height:
    labels = ", ".join(awaiting.get_column("period_label").to_list())
    st.info(_("{periods}: spend loaded, awaiting customers and revenue. The figures above are for {period}, "
              "the last period the revenue ledger covers ({as_of}).").format(
        periods=labels, period=latest["period_label"], as_of=widgets.as_of_text(result)),
        icon=":material/hourglass_top:")
if not latest["new_customers"]:
    st.info(_("{period} has spend but no new customers yet, so its CAC, LTV and LTV:CAC are n/a. "
              "They appear once the period's customers or revenue are loaded.").format(period=latest["period_label"]))
if len(mix.parts) > 1:
    st.subheader(_("The mix behind the headline"))
    if note := summary.mix_note(mix, ctx.assumptions.target_ratio):
        st.warning(literal.markdown(note), icon=":material/balance:")
    parts = pl.DataFrame([(p.name, p.new_customers, p.customer_share, p.spend / p.new_customers if p.new_customers
                           else None, p.ltv, p.ltv_cac, summary.band(p.band) if p.band else None) for p in mix.parts],
                         schema={"segment": pl.String, "new_customers": pl.Int64, "share": pl.Float64,
                                 cac_key: pl.Float64, "ltv": pl.Float64, "ltv_cac": pl.Float64, "band": pl.String},
                         orient="row")
    widgets.table(parts, "overview.mix", ctx.currency, units={"share": "fraction"},
                  ltv_cac=_("LTV:S&M CAC") if sales else _("LTV:CAC"), share=_("Share of new customers"))
st.plotly_chart(ctx.chart(charts.ltv_cac_trend, edges=ctx.assumptions.band_edges, cac_column=cac_key,
                          target=ctx.assumptions.target_ratio), key="overview.trend")
widgets.notes_panel(ctx)
st.plotly_chart(ctx.chart(charts.channel_efficiency, by="channel", period=latest["period_label"], dimension="channel",
                          edges=ctx.assumptions.band_edges, cac_column=cac_key), key="overview.channels")
