"""What the pages draw with: the download buttons, the no-data note, the table formats, figure texts,
and the session's uploaded files."""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from finance.app import auth, loaders
from finance.app.context import Context
from finance.domain import literal
from finance.ingest.workbook import WORKBOOK_SUFFIXES
from finance.metrics import measures
from finance.metrics.table import MetricsResult
from finance.present import exports, formats, summary
from finance.present.i18n import N_, _
from finance.store import notes
from finance.store.database import StoreError


def downloads(frame: pl.DataFrame, name: str, ctx: Context) -> None:
    """CSV and XLSX buttons for a table shown on a page: business headers and values rounded by unit
    (``finance.present.exports.for_people``); the XLSX carries the assumptions, its money columns the
    database's currency format and its fractions a percentage format.

    Text that a spreadsheet would run as a formula is neutralised (finance.present.exports).
    """
    result = ctx.metrics()
    assumptions = {**result.assumptions(), "view": str(ctx.view.to_query() or "defaults")}
    table, money, percent = exports.for_people(frame, ctx.currency)
    left, right = st.columns([1, 1])
    left.download_button(_("Download CSV"), exports.to_csv_bytes(table), file_name=f"{name}.csv",
                         mime="text/csv", key=f"download.{name}.csv")
    right.download_button(_("Download XLSX"), exports.to_xlsx_bytes({name: table}, assumptions, sorted(money),
                                                                 currency=ctx.currency, percent_columns=percent),
                          file_name=f"{name}.xlsx", key=f"download.{name}.xlsx",
                          mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def reconciliation_note(ctx: Context) -> None:
    """Above a page's figures: the periods in view whose spend does not reconcile to the general ledger, so no
    tile or chart of them is read as confirmed by the books."""
    if periods := ctx.unreconciled():
        st.warning(_("The spend of {periods} does not reconcile to the general ledger: the figures of these periods "
                     "rest on spend the books do not confirm (see the Reconciliation page).").format(
            periods=", ".join(literal.markdown(p) for p in periods)), icon=":material/rule:")


def basis_note(ctx: Context) -> None:
    """Under a page's title, when spend rows carry service periods: which basis the figures are on (the sidebar
    chooses), and what prepaid spend falls outside the loaded months, so none is dropped silently."""
    if ctx.service_periods:
        st.caption(literal.markdown(summary.basis_sentence(ctx.metrics(), ctx.currency)))


def targets_note(ctx: Context, period: str) -> None:
    """Under the tiles: the period's figures against every target in force (a warning when one was missed)."""
    rows = ctx.rows().filter(pl.col("period_label") == period)
    if rows.is_empty():
        return
    goals = ctx.targets()
    # the channels' figures only when a channel has a target (by channel is a second LTV model fit)
    channels = ctx.rows("channel") if goals.cac else pl.DataFrame()
    text, missed = summary.targets_sentence(period, rows.row(0, named=True), channels, goals, ctx.currency)
    if missed:
        st.warning(literal.markdown(text), icon=":material/flag:")
    else:
        st.caption(literal.markdown(text))


def pack_note(ctx: Context) -> None:
    """On the Overview, when the latest published pack's figures read otherwise now: how many moved, the headline
    first, so a CFO knows the board saw other numbers (the Board packs page says which and why)."""
    listed = loaders.load_packs(ctx.path, ctx.version)
    if listed.is_empty() or not ctx.checked:
        return
    from finance.present.publish import shown  # the pack's renderers only once a pack is published

    latest = listed.row(0, named=True)
    result = loaders.load_pack_diff(ctx.path, ctx.version, int(latest["pack_id"]))
    if not result.changed:
        return
    headline = next((m for m in result.moved if m.channel is None and m.measure == "ltv_cac"
                     and m.period == result.period), result.moved[0])
    st.info(_("Changed since the pack of {quarter} (#{number}) was published on {when}: {count} of its figures "
              "moved, among them {figure} of {period}, {before} then, {after} now. See the Board packs page.").format(
        quarter=result.period, number=result.pack_id, when=formats.day(result.published_at.date()),
        count=len(result.moved), figure=_(measures.label(headline.measure)), period=headline.period,
        before=shown(headline.measure, headline.before, ctx.currency),
        after=shown(headline.measure, headline.after, ctx.currency)), icon=":material/difference:")


def notes_panel(ctx: Context) -> None:
    """Below a time-series chart: the notes on the timeline the charts mark (numbered), and for an editor the form
    that adds one and the button that deletes one. A note is plain text: names and words are never markup."""
    listed = loaders.load_notes(ctx.path, ctx.version)
    with st.expander(_("Notes on the timeline ({count})").format(count=listed.height), icon=":material/sticky_note_2:"):
        if listed.is_empty():
            st.caption(_("No notes yet. A note (a price change, a campaign launch, a tracking outage) is marked on "
                         "every time-series chart and listed in the board pack."))
        else:
            shown = listed.select(
                note=pl.format("#{}", pl.col("note_id")),
                when=pl.when(pl.col("end_day").is_null()).then(pl.col("day").dt.strftime("%Y-%m-%d"))
                .otherwise(pl.format("{} - {}", pl.col("day").dt.strftime("%Y-%m-%d"),
                                     pl.col("end_day").dt.strftime("%Y-%m-%d"))),
                text=pl.col("text"), about=pl.coalesce("channel", "segment").fill_null(_("All")),
                author=pl.col("author").fill_null(""))
            st.dataframe(shown, hide_index=True, key="notes.list", column_config={
                "note": _("Note"), "when": _("When"), "text": _("What happened"), "about": _("About"),
                "author": _("By")})
        if not auth.can_edit():
            st.caption(_("Adding and deleting notes needs the editor role."))
            return
        with st.form("notes.add", clear_on_submit=True, border=False):
            left, middle, right = st.columns(3)
            day = left.date_input(_("Day (or first day)"), value=None, key="notes.day")
            end = middle.date_input(_("Last day (optional)"), value=None, key="notes.end")
            channel = right.selectbox(_("Channel (optional)"), ctx.channels, index=None, key="notes.channel",
                                      placeholder=_("All channels"))
            text = st.text_input(_("What happened"), max_chars=notes.MAX_CHARS, key="notes.text")
            added = st.form_submit_button(_("Add the note"))
        if added:
            if day is None or not text.strip():
                st.error(_("A note needs a day and what happened."))
            else:
                try:
                    with loaders.writable_store(ctx.path, "adding a note") as store:
                        number = notes.add(store, day, text, end=end, channel=channel)
                except StoreError as exc:
                    loaders.show_store_error(exc)
                else:
                    st.session_state["notes.flash"] = _("Added note #{number}.").format(number=number)
                    st.rerun()
        if not listed.is_empty():
            left, right = st.columns([2, 1], vertical_alignment="bottom")
            numbers = listed.get_column("note_id").to_list()
            texts = dict(zip(numbers, listed.get_column("text").to_list(), strict=True))
            chosen = left.selectbox(_("Note to delete"), numbers, index=None, key="notes.delete.choice",
                                    format_func=lambda n: f"#{n}: {texts[n]}")
            if right.button(_("Delete the note"), key="notes.delete", disabled=chosen is None) and chosen is not None:
                try:
                    with loaders.writable_store(ctx.path, "deleting a note") as store:
                        notes.delete(store, int(chosen))
                except StoreError as exc:
                    loaders.show_store_error(exc)
                else:
                    st.session_state["notes.flash"] = _("Deleted note #{number}.").format(number=chosen)
                    st.rerun()
    if flash := st.session_state.pop("notes.flash", None):
        st.success(flash)


NO_DATA = N_("No data for this selection yet.")


def no_data(message: str = NO_DATA) -> None:
    """``message`` (translated where it is declared or here) and where to load the data."""
    st.info(formats.then(_(message), _("Load spend, funnel, customers and revenue files on the **Data** page.")))


def column_config(columns: Sequence[str], currency: str, **labels: str) -> dict[str, Any]:
    """The dashboard table's columns: each headed by its business label (``finance.present.exports.column_label``:
    never a code name), numbers right-aligned; ``labels`` overrides a header. The numbers themselves are
    written by ``shown``."""
    config: dict[str, Any] = {}
    for column in columns:
        label, unit = exports.column_label(column)
        label = labels.get(column, label)
        config[column] = (st.column_config.Column(label) if unit == "text"
                          else st.column_config.NumberColumn(label))
    return config


def shown(frame: pl.DataFrame, currency: str, units: Mapping[str, str] | None = None) -> Any:
    """``frame`` as a table shows it: each number written by its unit's rule in the page's language
    (``finance.present.formats.cell_writer``: money in the database's currency, ratios as 3.04x,
    fractions as percentages, counts with thousands separators; ``1 234,56 €`` in French), while the
    table keeps the number itself, so a column sorts as numbers. ``units`` overrides a column's unit.

    Streamlit's own number formats follow the browser's language, not the page's; a pandas Styler's
    display text is what the table draws instead. Text columns are left as they are (text)."""
    writers: dict[str, Any] = {}
    for name, dtype in frame.schema.items():
        unit = (units or {}).get(name) or exports.column_label(name)[1]
        if dtype.is_numeric() and (write := formats.cell_writer(unit, currency)) is not None:
            writers[name] = write
    data = frame.to_pandas()
    return data.style.format(writers, na_rep=formats.na()) if writers else data


def table(frame: pl.DataFrame, key: str, currency: str, units: Mapping[str, str] | None = None,
          **labels: str) -> None:
    """A table drawn whole: every row on the page, none behind a scrollbar inside the table (so a
    history's latest period is in view), each column headed by ``column_config`` and its numbers
    written by ``shown``.

    A figure the page has already written as text (by ``finance.present.formats``, say to show
    "n/a") stays aligned right like the numbers of its unit."""
    config = column_config(frame.columns, currency, **labels)
    for name, dtype in frame.schema.items():
        label, unit = exports.column_label(name)
        if dtype == pl.String and unit != "text":
            config[name] = st.column_config.TextColumn(labels.get(name, label), alignment="right")
    st.dataframe(shown(frame, currency, units), hide_index=True, key=key, height="content", column_config=config)


def as_of_text(result: MetricsResult) -> str:
    return _("as of {day}").format(day=formats.day(result.as_of))


def method_sentence(result: MetricsResult) -> str:
    """Which models made the LTV and how well they back-tested (``summary.model_sentence``), Markdown-safe."""
    return literal.markdown(summary.model_sentence(result))


def parameter_text(value: float, unit: str, currency: str) -> str:
    """A fitted parameter in its unit: 4.2%, $1,234.56, 23.1 months; a plain number to three significant
    figures and at most three decimals (0.49, 0.522, 12.3), thousands separated (1,235)."""
    if unit == "percent":
        return formats.percent(value)
    if unit == "money":
        return formats.money(value, currency)
    if unit == "months":
        return formats.months(value)
    return formats.significant(value)


UPLOAD_SUFFIXES = (".csv", ".txt", ".tsv", *WORKBOOK_SUFFIXES)
"""The files the Data page takes: text exports and workbooks (read by their name's suffix)."""


class Uploads:
    """This session's copies of uploaded files on disk (the importer reads a path): one per file kind,
    replaced when another file is chosen, removed when it is cleared, and the folder removed when the
    session ends (its state is dropped) or the server stops."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="upload-"))
        self.files: dict[str, tuple[str, Path]] = {}
        weakref.finalize(self, shutil.rmtree, self.folder, True)

    def copy(self, kind: str, upload: Any) -> Path:
        known = self.files.get(kind)
        if known is not None and known[0] == upload.file_id:
            return known[1]
        self.clear(kind)
        suffix = Path(upload.name).suffix.lower()
        path = self.folder / f"{kind}{suffix if suffix in UPLOAD_SUFFIXES else '.csv'}"
        path.write_bytes(upload.getbuffer())
        self.files[kind] = (upload.file_id, path)
        return path

    def clear(self, kind: str) -> None:
        if (known := self.files.pop(kind, None)) is not None:
            known[1].unlink(missing_ok=True)
