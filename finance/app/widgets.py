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

from finance.app import loaders
from finance.app.context import Context
from finance.domain import literal
from finance.ingest.workbook import WORKBOOK_SUFFIXES
from finance.metrics import measures
from finance.metrics.table import MetricsResult
from finance.present import exports, formats, summary
from finance.present.i18n import N_, _


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
