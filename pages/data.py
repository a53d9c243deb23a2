"""Data: upload the quarterly exports, map what does not match, read the report, import, undo."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from finance.app import auth, importing, loaders, sidebar, widgets
from finance.demo import remove_demo_data
from finance.domain import literal
from finance.domain.fx import OFFERED_CURRENCIES
from finance.domain.schema import CATEGORIES, FILE_KINDS, KINDS, MONEY_KINDS
from finance.ingest.encodings import ENCODINGS, label
from finance.ingest.fx import read_rates
from finance.ingest.prepare import ImportOptions, OptionsError, is_header_for, prepare, recognised_headers
from finance.ingest.reader import preview
from finance.ingest.workbook import is_workbook
from finance.present import formats, settings_text
from finance.present.i18n import N_, _, ngettext
from finance.present.summary import kind_name
from finance.store.database import StoreError

MAX_UPLOAD_MB = int(st.get_option("server.maxUploadSize"))

ctx = sidebar.context()
editor = auth.can_edit()
st.title(_("Data"))
if not editor:
    st.info(_("You can read the import history; importing and undoing imports need the editor role."),
            icon=":material/visibility:")
if ctx.demo and editor:
    with st.container(border=True):
        st.write(_("This database holds the demo company ({company}). Start from an empty database to load your "
                   "own files; the demo's imports are undone, not deleted, and can be brought back by the "
                   "administrator.").format(company=literal.markdown(ctx.demo)))
        if st.button(_("Remove the demo data and start empty"), key="data.clear_demo"):
            try:
                with loaders.writable_store(ctx.path, "removing the demo data") as store:
                    undone = remove_demo_data(store)
            except StoreError as exc:
                loaders.show_store_error(exc)
            else:
                st.session_state["data.last"] = _(
                    "Started from an empty database ({count} demo imports undone).").format(count=formats.count(undone))
                st.rerun()


def total_text(result: Any) -> str:
    """An import's total: money in the database's currency, or a count of customers."""
    return formats.money(result.total, ctx.currency) if result.money else formats.count(result.total)


# The languages an encoding is for, as finance.ingest.encodings.label names them, to translate
# (comments, not strings: a bare string in a page is written on it).
ENCODING_LANGUAGES = {"windows-1252": N_("Western European"), "iso-8859-15": N_("Western European, with €"),
                      "shift_jis": N_("Japanese"), "euc-jp": N_("Japanese"), "gb18030": N_("Simplified Chinese"),
                      "big5": N_("Traditional Chinese")}
# The importer's progress steps (finance.ingest.prepare), to translate.
STEPS = {"Reading the file": N_("Reading the file"), "Checking the rows": N_("Checking the rows"),
         "Checking duplicates and totals": N_("Checking duplicates and totals"), "Checked": N_("Checked")}


def encoding_label(name: str) -> str:
    """An encoding as a person recognises it, in the page's language: ``Shift_JIS (Japanese)``."""
    if formats.language_is_default() or name not in ENCODING_LANGUAGES:
        return label(name)
    return _("{encoding} ({language})").format(encoding=ENCODINGS[name][1], language=_(ENCODING_LANGUAGES[name]))


def step_text(step: str) -> str:
    """A progress step of the importer in the page's language ("Checking the amount column")."""
    if step in STEPS:
        return _(STEPS[step])
    if (column := step.removeprefix("Checking the ").removesuffix(" column")) != step:
        return _("Checking the {column} column").format(column=importing.column_label(column))
    return step


def encoding_choice(key: str, detected: str | None) -> None:
    """The text encoding the file is read in: the one detected (named), or another chosen."""
    # every option's words made now, in the page's language (a format_func may be called after the run)
    words = {None: _("{encoding} (detected)").format(encoding=encoding_label(detected)) if detected else _("Detect"),
             **{name: encoding_label(name) for name in ENCODINGS}}
    st.selectbox(_("Text encoding"), list(words), key=key, format_func=words.__getitem__,
        help=_("If names read wrong (mojibake such as 'Ã©' or '譁'), choose the encoding the file was saved in."))


def upload_section() -> None:
    """Upload, preview, map, check and import: the editor's part of the page."""
    st.write(_("Load the quarterly exports. A file is checked completely before anything is written: every "
               "problem is listed by row and column, and a file with errors changes nothing. "
               "Columns it does not recognise, category labels and channel values can be mapped below; "
               "what you choose is remembered for the next file laid out the same way."))

    kinds = {kind: kind_name(kind) for kind in KINDS}
    kind = st.segmented_control(_("File"), KINDS, key="data.kind", default="spend",
                                format_func=kinds.__getitem__) or "spend"
    contract = FILE_KINDS[kind]
    # headers match ignoring case, spaces and punctuation: "Customer ID" is customer_id
    st.caption(_("Columns: {required} (optional: {optional})").format(
        required=_(", ").join(importing.column_label(c.name) for c in contract.columns if c.required),
        optional=_(", ").join(importing.column_label(c.name) for c in contract.columns if not c.required)))
    with st.expander(_("How to read this file (dates, decimals, fiscal quarters, one-platform exports)")):
        reading = st.columns(3)
        date_words = {"(refuse: ambiguous)": _("ambiguous: refuse"), "%d/%m/%Y": _("day first"),
                      "%m/%d/%Y": _("month first")}
        date_format = reading[0].radio(_("Dates like 01/02/2025 are"), list(date_words), key="data.date_format",
                                       format_func=date_words.__getitem__)
        decimal_comma = reading[1].checkbox(_("Decimal commas (1.234,56)"), key="data.decimal_comma",
                                            help=_("Amounts are written with a decimal comma and dot thousands."))
        # The stored fiscal year (the Assumptions page's) reads "FY25 Q1" unless changed for this file.
        months: dict[int | None, str] = {None: _("not used (refuse FY labels)"), **{m: (
            _("{month} (the stored fiscal year)").format(month=m) if m == ctx.assumptions.fiscal_year_start
            else str(m)) for m in range(1, 13)}}
        fiscal_start = reading[2].selectbox(
            _("Fiscal year starts in month (for FY25 Q1 labels)"), list(months), key="data.fiscal",
            index=ctx.assumptions.fiscal_year_start, format_func=months.__getitem__)
        default_category: str | None = None
        default_channel: str | None = None
        default_period = st.text_input(
            _("Period for rows without one"), key="data.default_period", placeholder="2025-Q4",
            help=_("For a file with no period column, such as a trial balance exported for one period (its period "
                   "in the report's title): a quarter or a month.")) or None
        if kind != "gl":  # a ledger's rows are accounts, mapped on the Reconciliation page, not categories
            defaults = st.columns(2)
            categories = {None: _("none"), **{k: _(c.label) for k, c in CATEGORIES.items()}}
            default_category = defaults[0].selectbox(_("Category for rows without one"), list(categories),
                                                     key="data.default_category", format_func=categories.__getitem__)
            default_channel = defaults[1].text_input(_("Channel for rows without one"),
                                                     key="data.default_channel") or None
        currencies = {None: _("the reporting currency ({currency})").format(currency=ctx.currency),
                      **{code: code for code in OFFERED_CURRENCIES}}
        file_currency = st.selectbox(
            _("Amounts are in (when the file does not say)"), list(currencies), key="data.file_currency",
            format_func=currencies.__getitem__,
            help=_("For a file with no currency column, no currency in the amount's header and no sign in the "
                   "amounts; amounts in another currency are converted at the stored exchange rates."))
    upload = st.file_uploader(_("{kind} file: CSV or workbook (.xlsx, .xls, .ods), up to {size} MB").format(
        kind=kinds[kind], size=formats.count(MAX_UPLOAD_MB)),
        type=[suffix.lstrip(".") for suffix in widgets.UPLOAD_SUFFIXES], key=f"data.upload.{kind}")

    uploads: widgets.Uploads = st.session_state.setdefault("data.uploads", widgets.Uploads())
    sheet_key, encoding_key, seen_key = f"data.sheet.{kind}", f"data.encoding.{kind}", f"data.upload_id.{kind}"
    if upload is None or st.session_state.get(seen_key) != upload.file_id:
        for key in (sheet_key, encoding_key):  # another file: its first sheet, its encoding detected
            st.session_state.pop(key, None)
        st.session_state[seen_key] = None if upload is None else upload.file_id
    if upload is None:
        uploads.clear(kind)
        return
    path = uploads.copy(kind, upload)
    workbook = is_workbook(path)
    sheet, encoding = st.session_state.get(sheet_key), st.session_state.get(encoding_key)
    with loaders.read_store(ctx.path) as store:
        known_channels = store.channels()
        opened = preview(path, upload.name, is_header_for(contract, ImportOptions(
            column_map=importing.remembered_headers(store, kind))), encoding=encoding, sheet=sheet)
        if isinstance(opened, list):
            reasons = "; ".join(p.describe(upload.name) for p in opened) if formats.language_is_default() \
                else _("; ").join(importing.problem_text(p) for p in opened)
            st.error(_("This file cannot be read: {reasons}").format(reasons=literal.markdown(reasons)))
            if not workbook:
                encoding_choice(encoding_key, None)
            return
        raw, first_rows = opened
        source = importing.remembered(store, kind, raw.headers)
    st.subheader(_("Preview"))
    if workbook:
        sheets = {None: _("{sheet} (the first sheet)").format(sheet=raw.sheets[0]),
                  **{name: name for name in raw.sheets[1:]}}
        st.selectbox(_("Sheet"), list(sheets), key=sheet_key, format_func=sheets.__getitem__,
            help=_("The workbook's sheet to import; the first sheet unless another is chosen."))
    else:
        encoding_choice(encoding_key, raw.encoding)
    if source.name:
        st.caption(_("A file laid out like {name}: the choices made for it are used again.").format(
            name=literal.markdown(source.name)))
    names: list[str] = []
    row_header = _("Row")
    for i, header in enumerate(raw.headers):  # headers as written, made unique for display
        name = header or _("column {number}").format(number=i + 1)
        while name in names or name == row_header:
            name = f"{name} ({i + 1})"
        names.append(name)
    st.dataframe(first_rows.rename({"row": row_header, **{f"c{i}": n for i, n in enumerate(names)}}, strict=False),
                 hide_index=True)

    # Mapping: headers the contract does not recognise (remembered choices pre-filled, and changeable).
    recognised = recognised_headers(raw.headers, contract, ImportOptions())
    unknown = [h for h in raw.headers if h and h not in recognised]
    defaults = {"category": default_category, "channel": default_channel, "period": default_period}
    missing = [c for c in contract.required if c not in recognised.values() and defaults.get(c) is None]
    column_map = importing.map_columns(ctx.path, contract, unknown, missing, source, upload.name)
    options = ImportOptions(column_map=column_map, category_map=source.categories, channel_map=source.channels,
                            known_channels=frozenset(known_channels) | {c for c in source.channels.values() if c},
                            date_format=None if str(date_format).startswith("(") else date_format,
                            decimal_comma=decimal_comma, fiscal_year_start=fiscal_start,
                            default_category=default_category, default_channel=default_channel,
                            default_period=default_period,
                            encoding=encoding, sheet=sheet, currency=ctx.currency, file_currency=file_currency)
    with st.status(_("Checking the file..."), expanded=False) as status:
        bar = st.progress(0.0, text=_("Reading the file"))
        try:
            prepared = prepare(kind, path, options, display_name=upload.name,
                               progress=lambda fraction, step: bar.progress(fraction, text=step_text(step)))
        except OptionsError as exc:
            st.error(literal.markdown(exc))
            return
        status.update(label=_("Checked {file}").format(file=literal.markdown(upload.name)), state="complete")
    importing.map_categories(ctx.path, prepared, source, upload.name)
    unconfirmed = "channel" in contract.column_names and importing.map_channels(
        ctx.path, prepared, known_channels, source, upload.name, shared_allowed=not contract.column("channel").required)
    importing.report(prepared, upload.name)
    if prepared.ok:
        totals = prepared.period_totals()
        money_file = kind in MONEY_KINDS
        st.dataframe(pl.DataFrame({_("Period"): [t.period for t in totals], _("Rows"): [t.rows for t in totals],
                                   _("Total"): [formats.money(t.total, ctx.currency) if money_file
                                                else formats.count(t.total) for t in totals]}),
                     hide_index=True, column_config={_("Rows"): st.column_config.NumberColumn(format="localized")})
        replace = st.checkbox(_("Replace the rows already imported for these periods"), key="data.replace",
                              help=_("Without this, a file covering periods already imported is refused."))
        if unconfirmed:  # what the page shows for them is not yet how the file is read
            st.info(_("Confirm the channels above (Use these channels) to import the file as shown."),
                    icon=":material/arrow_upward:")
        elif st.button(ngettext("Import {count} row", "Import {count} rows", prepared.rows.height).format(
                count=formats.count(prepared.rows.height)), type="primary", key="data.import"):
            try:
                with loaders.writable_store(ctx.path, "importing a file") as store:
                    result = store.import_prepared(prepared, replace=replace, options=options)
                    if result.status == "imported":  # the columns as used, suggestions taken included
                        store.save_source_mapping(source.merged(columns=column_map, name=upload.name))
            except StoreError as exc:
                st.error(literal.markdown(exc))
            else:
                if result.status == "imported":
                    st.session_state["data.last"] = ngettext(
                        "Imported {file} as import #{number}: {rows} row, total {total}.",
                        "Imported {file} as import #{number}: {rows} rows, total {total}.", result.rows).format(
                        file=literal.markdown(upload.name), number=result.import_id,
                        rows=formats.count(result.rows), total=total_text(result))
                    st.rerun()
                elif result.status == "unchanged":
                    st.info(_("Unchanged: this exact file is already import #{number}.").format(
                        number=result.import_id))
                else:
                    for problem in result.errors:
                        st.error(literal.markdown(importing.problem_text(problem)))


def rates_section() -> None:
    """Exchange rates: the ECB's reference rates or a long date,currency,rate file, for amounts in other
    currencies than the reporting one."""
    with loaders.read_store(ctx.path) as store:
        stored = store.fx_rates()
    with st.expander(_("Exchange rates (for amounts in other currencies than {currency})").format(
            currency=ctx.currency)):
        if stored.is_empty():
            st.caption(_("No exchange rates yet: a file with amounts in another currency than the reporting one "
                         "is refused until rates covering its periods are loaded."))
        else:
            spans = stored.group_by("currency").agg(pl.col("day").min().alias("first"),
                                                    pl.col("day").max().alias("last")).sort("currency")
            st.caption(_("Rates stored: {spans}").format(spans=_("; ").join(
                _("{currency} {first} to {last}").format(currency=code, first=formats.day(first),
                                                         last=formats.day(last))
                for code, first, last in spans.iter_rows())))
        st.caption(_("The ECB's reference rates file as published (Date,USD,JPY,... units per euro), or a file "
                     "with the columns date, currency, rate and base (units of currency per 1 unit of base)."))
        if not st.toggle(_("Load an exchange rates file"), key="data.fx_open"):
            return  # one file box on the page at a time: the export's, unless rates are being loaded
        upload = st.file_uploader(_("Exchange rates file (CSV)"), type=["csv"], key="data.upload.fx")
        if upload is None:
            return
        bases = {None: _("(the file names it)"), **{code: code for code in OFFERED_CURRENCIES}}
        base = st.selectbox(_("Base of a file without a base column"), list(bases), key="data.fx_base",
                            format_func=bases.__getitem__)
        uploads: widgets.Uploads = st.session_state.setdefault("data.uploads", widgets.Uploads())
        prepared = read_rates(uploads.copy("fx", upload), base=base, display_name=upload.name)
        if not prepared.ok:
            for problem in prepared.problems:
                st.error(literal.markdown(importing.problem_text(problem)))
            return
        first, last = min(r[0] for r in prepared.rows), max(r[0] for r in prepared.rows)
        st.write(ngettext("{file}: {count} rate for {currencies} per {bases}, {first} to {last}.",
                          "{file}: {count} rates for {currencies} per {bases}, {first} to {last}.",
                          len(prepared.rows)).format(
            file=literal.markdown(upload.name), count=formats.count(len(prepared.rows)),
            currencies=literal.markdown(", ".join(prepared.currencies())),
            bases=literal.markdown(", ".join(prepared.bases())), first=formats.day(first), last=formats.day(last)))
        replace = st.checkbox(_("Replace stored rates that differ"), key="data.fx_replace",
                              help=_("Without this, a file whose rate for a day differs from the one stored is "
                                     "refused."))
        if st.button(_("Import rates"), type="primary", key="data.fx_import"):
            try:
                with loaders.writable_store(ctx.path, "importing exchange rates") as store:
                    result = store.import_rates(prepared, replace=replace)
            except StoreError as exc:
                st.error(literal.markdown(exc))
                return
            if result.status == "rejected":
                for problem in result.errors:
                    st.error(literal.markdown(importing.problem_text(problem)))
                return
            st.session_state["data.last"] = _("Imported {file}: {added} rates added, {unchanged} already stored, "
                                              "{replaced} replaced.").format(
                file=literal.markdown(upload.name), added=formats.count(result.added),
                unchanged=formats.count(result.unchanged), replaced=formats.count(result.replaced))
            st.rerun()


if editor:
    upload_section()
    rates_section()

if message := st.session_state.pop("data.last", None):
    st.success(message)

st.subheader(_("Import history"))
with loaders.read_store(ctx.path) as store:
    log = store.imports()
if log.is_empty():
    st.write(_("No imports yet."))
else:
    st.dataframe(settings_text.import_history(log, ctx.currency), hide_index=True, key="data.history",
                 column_config={_("Rows"): st.column_config.NumberColumn(_("Rows"), format="localized")})
    active = log.filter(pl.col("status") == "active").get_column("import_id").to_list()
    if active and editor:
        cols = st.columns([2, 1, 3])
        chosen = cols[0].selectbox(_("Undo import"), active, key="data.undo_id", format_func=lambda i: f"#{i}")
        confirm = cols[2].checkbox(_("Yes, remove its rows (and restore what it replaced)"), key="data.undo_confirm")
        if cols[1].button(_("Undo"), key="data.undo", disabled=not confirm):
            try:
                with loaders.writable_store(ctx.path, "undoing an import") as store:
                    outcome = store.undo(int(chosen))
            except StoreError as exc:
                st.error(literal.markdown(exc))
            else:
                st.session_state["data.last"] = _("Undid import #{number}: {removed} rows removed, {restored} "
                                                  "restored.").format(number=chosen,
                                                                      removed=formats.count(outcome["rows_removed"]),
                                                                      restored=formats.count(outcome["rows_restored"]))
                st.rerun()
