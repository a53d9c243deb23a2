"""Data: upload the quarterly exports, map what does not match, read the report, import, undo."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from finance.app import auth, loaders, sidebar, widgets
from finance.demo import remove_demo_data
from finance.domain import literal
from finance.domain.schema import CATEGORIES, FILE_KINDS, KINDS, MONEY_KINDS, normalise_header
from finance.ingest.csvfile import preview
from finance.ingest.prepare import ImportOptions, OptionsError, is_header_for, prepare
from finance.present import formats, settings_text
from finance.store.database import StoreError

MAX_UPLOAD_MB = int(st.get_option("server.maxUploadSize"))
KIND_HELP = {
    "spend": "period, category, channel, amount (+ currency, vendor, description)",
    "funnel": "period, channel, leads (+ visitors, event_attendees, mqls, sqls, opportunities)",
    "customers": "customer_id, acquired_on, channel, segment",
    "revenue": "customer_id, date, revenue (+ gross_margin or cost, segment, channel)",
}

ctx = sidebar.context()
editor = auth.can_edit()
st.title("Data")
if not editor:
    st.info("You can read the import history; importing and undoing imports need the editor role.",
            icon=":material/visibility:")
if ctx.demo and editor:
    with st.container(border=True):
        st.write(f"This database holds the demo company ({literal.markdown(ctx.demo)}). Start from an empty "
                 "database to load your own files; `python -m finance demo --force` brings the demo back.")
        if st.button("Remove the demo data and start empty", key="data.clear_demo"):
            try:
                with loaders.writable_store(ctx.path, "removing the demo data") as store:
                    undone = remove_demo_data(store)
            except StoreError as exc:
                loaders.show_store_error(exc)
            else:
                st.session_state["data.last"] = f"Started from an empty database ({undone} demo imports undone)."
                st.rerun()


def total_text(result: Any) -> str:
    """An import's total: money in the database's currency, or a count of customers."""
    return formats.money(result.total, ctx.currency) if result.money else formats.count(result.total)


def upload_section() -> None:
    """Upload, preview, map, check and import: the editor's part of the page."""
    st.write("Load the quarterly exports. A file is checked completely before anything is written: every "
             "problem is listed by row and column, and a file with errors changes nothing. "
             "The format is described in docs/data-formats.md.")

    kind = st.segmented_control("File", KINDS, key="data.kind", default="spend") or "spend"
    st.caption(f"Columns: {KIND_HELP[kind]}")
    with st.expander("How to read this file (dates, decimals, fiscal quarters, one-platform exports)"):
        reading = st.columns(3)
        date_format = reading[0].radio("Dates like 01/02/2025 are", ["(refuse: ambiguous)", "%d/%m/%Y", "%m/%d/%Y"],
                                       key="data.date_format",
                                       format_func=lambda f: {"%d/%m/%Y": "day first", "%m/%d/%Y": "month first"}.get(
                                           f, "ambiguous: refuse"))
        decimal_comma = reading[1].checkbox("Amounts use a decimal comma (1.234,56)", key="data.decimal_comma")
        # The stored fiscal year (the Assumptions page's) reads "FY25 Q1" unless changed for this file.
        fiscal_start = reading[2].selectbox(
            "Fiscal year starts in month (for FY25 Q1 labels)", [None, *range(1, 13)], key="data.fiscal",
            index=ctx.assumptions.fiscal_year_start,
            format_func=lambda m: "not used (refuse FY labels)" if m is None else (
                f"{m} (the stored fiscal year)" if m == ctx.assumptions.fiscal_year_start else str(m)))
        defaults = st.columns(2)
        default_category = defaults[0].selectbox("Category for rows without one", [None, *CATEGORIES],
                                                 key="data.default_category",
                                                 format_func=lambda k: "none" if k is None else CATEGORIES[k].label)
        default_channel = defaults[1].text_input("Channel for rows without one", key="data.default_channel") or None
    upload = st.file_uploader(f"{kind.capitalize()} CSV (up to {MAX_UPLOAD_MB} MB)", type=["csv", "txt", "tsv"],
                              key=f"data.upload.{kind}")

    with loaders.read_store(ctx.path) as store:
        remembered = store.settings_with_prefix(f"mapping.{kind}.")
        remembered_categories = store.settings_with_prefix("categorymap.")

    uploads: widgets.Uploads = st.session_state.setdefault("data.uploads", widgets.Uploads())
    if upload is None:
        uploads.clear(kind)
    else:
        path = uploads.copy(kind, upload)
        contract = FILE_KINDS[kind]
        opened = preview(path, upload.name, is_header_for(contract, ImportOptions(column_map=remembered)))
        if isinstance(opened, list):
            reasons = "; ".join(p.describe(upload.name) for p in opened)
            st.error(f"This file cannot be read: {literal.markdown(reasons)}")
            return
        raw, first_rows = opened
        st.subheader("Preview")
        names: list[str] = []
        for i, header in enumerate(raw.headers):  # headers as written, made unique for display
            name = header or f"column {i + 1}"
            while name in names or name == "row":
                name = f"{name} ({i + 1})"
            names.append(name)
        st.dataframe(first_rows.rename({f"c{i}": n for i, n in enumerate(names)}, strict=False), hide_index=True)

        # Mapping: headers the contract does not recognise, and category labels it does not know.
        unmatched = [h for h in raw.headers
                     if h and normalise_header(h) not in contract.header_lookup and h not in remembered]
        column_map = dict(remembered)
        if unmatched:
            st.subheader("Map columns")
            st.caption("Headers the importer does not recognise. Map each to a column, or leave it ignored; "
                       "the choice is remembered for the next file.")
            for header in unmatched:
                target = st.selectbox(f"'{literal.markdown(header)}' is", ["(ignore)", *contract.column_names],
                                      key=f"data.map.{kind}.{header}")
                if target != "(ignore)":
                    column_map[header] = target
        options = ImportOptions(column_map=column_map, category_map=remembered_categories,
                                date_format=None if str(date_format).startswith("(") else date_format,
                                decimal_comma=decimal_comma, fiscal_year_start=fiscal_start,
                                default_category=default_category, default_channel=default_channel)
        with st.status("Checking the file...", expanded=False) as status:
            bar = st.progress(0.0, text="Reading the file")
            try:
                prepared = prepare(kind, path, options, display_name=upload.name,
                                   progress=lambda fraction, step: bar.progress(fraction, text=step))
            except OptionsError as exc:
                st.error(literal.markdown(exc))
                return
            status.update(label=f"Checked {literal.markdown(upload.name)}", state="complete")
        unknown_labels = sorted({p.value for p in prepared.errors if p.code == "unknown_category" and p.value})
        if unknown_labels:
            st.subheader("Map categories")
            st.caption("Cost category labels the importer does not know. Choose a category for each; "
                       "the choice is remembered.")
            new_categories = {}
            for label in unknown_labels:
                choice = st.selectbox(f"'{literal.markdown(label)}' is", ["(choose)", *CATEGORIES],
                                      key=f"data.cat.{label}",
                                      format_func=lambda k: CATEGORIES[k].label if k in CATEGORIES else k)
                if choice != "(choose)":
                    new_categories[label] = choice
            if new_categories and st.button("Apply these categories", key="data.apply_categories"):
                try:
                    with loaders.writable_store(ctx.path, "mapping category labels") as store:
                        for label, key in new_categories.items():
                            store.set_setting(f"categorymap.{label}", key)
                except StoreError as exc:
                    loaders.show_store_error(exc)
                else:
                    st.rerun()

        st.subheader("Validation report")
        report = pl.DataFrame(
            [{"severity": p.severity, "row": p.row, "column": p.column, "value": p.value, "problem": p.message,
              "expected": p.expected, "code": p.code} for p in prepared.problems],
            schema={"severity": pl.String, "row": pl.Int64, "column": pl.String, "value": pl.String,
                    "problem": pl.String, "expected": pl.String, "code": pl.String})
        if prepared.errors:
            st.error(f"{len(prepared.errors)} problem(s) must be fixed before this file can be imported. "
                     "Nothing was written.")
        elif prepared.warnings:
            st.warning(f"{len(prepared.warnings)} warning(s); the file can be imported.")
        else:
            st.success("No problems found.")
        if not report.is_empty():
            # a plain table (searchable text) for a readable number of problems; a grid beyond that
            if report.height <= 200:
                # st.table renders each cell as Markdown: the file's values are made literal first
                st.table(report.fill_null("").with_columns(
                    pl.col(pl.String).map_elements(literal.markdown, return_dtype=pl.String)))
            else:
                st.dataframe(report, hide_index=True, key="data.report")
        if prepared.ok:
            totals = prepared.period_totals()
            money_file = kind in MONEY_KINDS
            st.dataframe(pl.DataFrame({"Period": [t.period for t in totals], "Rows": [t.rows for t in totals],
                                       "Total": [formats.money(t.total, ctx.currency) if money_file
                                                 else formats.count(t.total) for t in totals]}),
                         hide_index=True, column_config={"Rows": st.column_config.NumberColumn(format="localized")})
            replace = st.checkbox("Replace the rows already imported for these periods", key="data.replace",
                                  help="Without this, a file covering periods already imported is refused.")
            if st.button(f"Import {prepared.rows.height:,} rows", type="primary", key="data.import"):
                try:
                    with loaders.writable_store(ctx.path, "importing a file") as store:
                        result = store.import_prepared(prepared, replace=replace, options=options)
                        if result.status == "imported":
                            for header, target in column_map.items():
                                store.set_setting(f"mapping.{kind}.{header}", target)
                except StoreError as exc:
                    st.error(literal.markdown(exc))
                else:
                    if result.status == "imported":
                        st.session_state["data.last"] = (f"Imported {literal.markdown(upload.name)} as import "
                                                         f"#{result.import_id}: "
                                                         f"{result.rows:,} rows, total {total_text(result)}.")
                        st.rerun()
                    elif result.status == "unchanged":
                        st.info(f"Unchanged: this exact file is already import #{result.import_id}.")
                    else:
                        for problem in result.errors:
                            st.error(literal.markdown(problem.describe(upload.name)))


if editor:
    upload_section()

if message := st.session_state.pop("data.last", None):
    st.success(message)

st.subheader("Import history")
with loaders.read_store(ctx.path) as store:
    log = store.imports()
if log.is_empty():
    st.write("No imports yet.")
else:
    st.dataframe(settings_text.import_history(log, ctx.currency), hide_index=True, key="data.history",
                 column_config={"Rows": st.column_config.NumberColumn("Rows", format="localized")})
    active = log.filter(pl.col("status") == "active").get_column("import_id").to_list()
    if active and editor:
        cols = st.columns([2, 1, 3])
        chosen = cols[0].selectbox("Undo import", active, key="data.undo_id", format_func=lambda i: f"#{i}")
        confirm = cols[2].checkbox("Yes, remove its rows (and restore what it replaced)", key="data.undo_confirm")
        if cols[1].button("Undo", key="data.undo", disabled=not confirm):
            try:
                with loaders.writable_store(ctx.path, "undoing an import") as store:
                    outcome = store.undo(int(chosen))
            except StoreError as exc:
                st.error(literal.markdown(exc))
            else:
                st.session_state["data.last"] = (f"Undid import #{chosen}: {outcome['rows_removed']:,} rows removed, "
                                                 f"{outcome['rows_restored']:,} restored.")
                st.rerun()
