"""Board packs: the packs published, each downloadable as the board saw it, and what has changed since."""

from __future__ import annotations

import polars as pl
import streamlit as st

from finance.app import auth, loaders, sidebar
from finance.domain import literal
from finance.metrics import measures
from finance.present import publish
from finance.present.i18n import _
from finance.store.database import StoreError

ctx = sidebar.context()
st.title(_("Board packs"))
st.caption(_("A published pack is kept as it was published: its PDF and XLSX, byte for byte, with the figures, "
             "the imports and the assumptions it stood on. Later imports and assumption changes never alter it; "
             "below each pack, what has moved since and why."))


def publish_form() -> None:
    """An editor publishes the pack of a quarter: rendered, stored with its manifest, recorded in the change log."""
    if ctx.view.grain != "quarter":
        st.caption(_("Choose the quarter grain in the sidebar to publish a quarter's pack."))
        return
    # The quarters a pack can report (spend and new customers), the latest complete one first chosen.
    rows = ctx.metrics(window=None).rows.filter(pl.col("spend").is_not_null() & (pl.col("new_customers") > 0))
    quarters = rows.sort("period", descending=True).get_column("period_label").to_list()
    complete = rows.filter(pl.col("status") == "complete").sort("period").get_column("period_label").to_list()
    if not quarters:
        return
    left, right = st.columns([2, 1], vertical_alignment="bottom")
    quarter = left.selectbox(_("Quarter to publish"), quarters, key="packs.quarter",
                             index=quarters.index(complete[-1]) if complete else 0)
    if not right.button(_("Publish the board pack"), type="primary", key="packs.publish"):
        return
    actor = auth.require_editor("publishing the board pack")
    try:
        with st.spinner(_("Publishing the board pack of {quarter}...").format(quarter=quarter)):
            pack = publish.publish(ctx.path, period=quarter, user=actor.audit_name)
    except (StoreError, ValueError) as exc:
        st.error(_("The pack was not published: {reason}").format(reason=literal.markdown(exc)))
        return
    st.session_state["packs.flash"] = _("Published pack #{number} of {quarter}.").format(
        number=pack.pack_id, quarter=pack.period)
    st.rerun()


if flash := st.session_state.pop("packs.flash", None):
    st.success(flash)
if auth.can_edit():
    publish_form()
else:
    st.caption(_("Publishing a pack needs the editor role."))

listed = loaders.load_packs(ctx.path, ctx.version)
if listed.is_empty():
    st.info(_("No pack is published yet."))
    st.stop()

table = listed.select(
    pack=pl.col("pack_id"), quarter=pl.col("period"),
    published=pl.col("published_at").dt.strftime("%Y-%m-%d %H:%M UTC"),
    by=pl.col("published_by").fill_null(""), pdf_sha256=pl.col("pdf_sha256").str.slice(0, 12))
st.dataframe(table, hide_index=True, key="packs.list", column_config={
    "pack": st.column_config.NumberColumn(_("Pack"), format="#%d"), "quarter": _("Quarter"),
    "published": _("Published"), "by": _("Published by"), "pdf_sha256": _("PDF fingerprint (SHA-256)")})

numbers = listed.get_column("pack_id").to_list()
labels = {int(r["pack_id"]): _("#{number}: {quarter}, published {when}").format(
    number=r["pack_id"], quarter=r["period"], when=f"{r['published_at']:%Y-%m-%d %H:%M} UTC")
    for r in listed.iter_rows(named=True)}
chosen = st.selectbox(_("Pack"), numbers, format_func=labels.__getitem__, key="packs.chosen")
pack = loaders.load_published(ctx.path, int(chosen))
left, right = st.columns(2)
left.download_button(_("Download the PDF as published"), pack.pdf, file_name=f"{pack.name}.pdf",
                     mime="application/pdf", key="packs.pdf")
right.download_button(_("Download the XLSX as published"), pack.xlsx, file_name=f"{pack.name}.xlsx",
                      mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key="packs.xlsx")
st.caption(literal.markdown(pack.manifest["data_version"]))

st.subheader(_("Changed since the pack of {quarter} was published").format(quarter=pack.period))
if not ctx.checked:
    st.caption(_("The comparison waits for the model check of the data now, which is running."))
    st.stop()
result = loaders.load_pack_diff(ctx.path, ctx.version, pack.pack_id)
labels_of = {c.key: c.label for c in result.causes}
if not result.changed:
    st.success(_("Unchanged: every figure of the pack reads as published."))
else:
    st.warning(_("{count} of the pack's figures read otherwise now.").format(count=len(result.moved)),
               icon=":material/difference:")
    moved = pl.DataFrame({
        "quarter": [m.period for m in result.moved],
        "channel": [m.channel or _("All channels") for m in result.moved],
        "figure": [_(measures.label(m.measure)) for m in result.moved],
        "published": [publish.shown(m.measure, m.before, ctx.currency) for m in result.moved],
        "now": [publish.shown(m.measure, m.after, ctx.currency) for m in result.moved],
        "because": [", ".join(labels_of[k] for k in m.causes) or _("the model check re-run") for m in result.moved],
    })
    st.dataframe(moved, hide_index=True, key="packs.moved", column_config={
        "quarter": _("Quarter"), "channel": _("Channel"), "figure": _("Figure"), "published": _("Published"),
        "now": _("Now"), "because": _("Because of")})
if result.causes:
    st.markdown(_("**Changes since it was published**"))
    for cause in result.causes:
        note = _(" (moves none of the pack's figures)") if result.moves_nothing(cause) else ""
        st.markdown(f"- {literal.markdown(cause.text)}{note}")
st.caption(_("Times are UTC. The same comparison on the command line: {command}").format(
    command=f"`python -m finance report --diff {pack.pack_id}`"))
