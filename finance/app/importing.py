"""The Data page's import steps, in a finance team's words.

A file's source (its kind and header row) remembers what was chosen for it: which column is
which, what each category label and channel value is. The importer's suggestions are
pre-filled for a person to confirm; a choice is remembered as soon as it is made, before
any import. The validation report is grouped by problem, with counts and the first
examples, and says how to fix each problem on this page; the full report downloads as CSV.

Everything is written in the page's language. A problem's own message is the importer's English
(the command line prints it): in English the page shows it as before; in French and Japanese a
problem is written from its fields instead (row, column, value, its title and what was expected,
translated), so no English sentence is left on the page.
"""

from __future__ import annotations

import hashlib
import re

import polars as pl
import streamlit as st

from finance.app import loaders
from finance.domain import literal
from finance.domain.problems import TITLES, Problem, ProblemGroup, grouped
from finance.domain.schema import CATEGORIES, FileKind, channel_name_key
from finance.ingest.prepare import PreparedImport
from finance.ingest.sources import (
    SourceMapping,
    category_label,
    suggest_category,
    suggest_channel,
    suggest_columns,
)
from finance.present import exports, formats
from finance.present.i18n import N_, _, ngettext
from finance.store.database import Store, StoreError

IGNORE = "(ignore)"
SHARED = "(shared)"
"""The channel choice for a value that is no channel at all: a shared cost."""
CHANNELS_LISTED = 40
"""Channel values offered for mapping at most, the largest first (a UTM export may have hundreds)."""

FIXES = {
    "decimal_comma": N_("Tick 'Decimal commas' under How to read this file, if the file writes 1.234,56."),
    "mixed_decimal_marks": N_("Write every number of the column with the same decimal mark; if the file writes "
                              "1.234,56 throughout, tick 'Decimal commas' under How to read this file."),
    "decimal_comma_detected": N_("Nothing to do if the file writes 1.234,56; otherwise check these amounts."),
    "ambiguous_date": N_("Choose day first or month first under How to read this file."),
    "invalid_date": N_("Check the dates; choose day first or month first under How to read this file if they "
                       "are written 31/01/2025 or 01/31/2025."),
    "fiscal_year_needed": N_("Choose the month the fiscal year starts in under How to read this file."),
    "unknown_category": N_("Choose the category of each label under Map categories, then Use these categories."),
    "missing_column": N_("Choose which of the file's columns holds it under Map columns."),
    "unknown_column": N_("Nothing to do if the column is not needed; otherwise choose what it holds under "
                         "Map columns."),
    "periods_already_imported": N_("Tick 'Replace the rows already imported for these periods', or undo the "
                                   "earlier import under Import history."),
    "partial_replace": N_("Import a file covering every month of the rows it replaces."),
    "new_channel": N_("If it is a known channel written another way, or no channel at all, choose it under "
                      "Channels in this file."),
    "currency_mismatch": N_("Make the row's currency column, the sign in its amount and the amount's header agree."),
    "ambiguous_currency": N_("Choose the currency the amounts are in under How to read this file."),
    "fx_rate_missing": N_("Load exchange rates covering these periods under Exchange rates, then choose the file "
                          "again."),
    "rate_changed": N_("Tick 'Replace stored rates that differ' to take this file's rates."),
    "preset_ambiguous": N_("Map the file's columns under Map columns; the export it is could not be told apart."),
    "missing_value": N_("Fill in the blank cells, or choose a category or channel for rows without one under "
                        "How to read this file."),
    "total_row_dropped": N_("Nothing to do: total lines are left out so nothing is counted twice."),
    "blank_row_skipped": N_("Nothing to do."),
    "encoding": N_("If names read wrong, choose the file's text encoding above the preview."),
    "encoding_unclear": N_("Choose the file's text encoding: each reading is shown in the message."),
    "unknown_sheet": N_("Choose one of the workbook's sheets."),
    "unreadable_workbook": N_("Open the workbook in its spreadsheet program, remove the password or repair it, "
                              "and save a copy to import."),
}
"""How to fix a problem on this page, by problem code (the command line has its own words)."""


def remembered(store: Store, kind: str, headers: list[str]) -> SourceMapping:
    """The mapping remembered for this source, over what earlier versions remembered for every file."""
    mapping = store.source_mapping(kind, headers)
    older_columns = store.settings_with_prefix(f"mapping.{kind}.")
    older_categories = store.settings_with_prefix("categorymap.")
    return SourceMapping(mapping.kind, mapping.key, {**older_columns, **mapping.columns},
                         {**older_categories, **mapping.categories}, mapping.channels, mapping.name)


def remembered_headers(store: Store, kind: str) -> dict[str, str]:
    """Every header mapped for any source of this kind: what finds the header row of a file laid out
    like one seen before (before its source is known)."""
    out = store.settings_with_prefix(f"mapping.{kind}.")
    for key, text in store.settings_with_prefix(f"source.{kind}.").items():
        out.update(SourceMapping.from_json(kind, key, text).columns)
    return out


def problem_text(p: Problem) -> str:
    """One problem in the page's words: where, what, and how to fix it here.

    English says the importer's message; another language writes the problem from its fields: its
    title, the value, what was expected, translated (the message is the command line's English)."""
    fix = FIXES.get(p.code)
    if formats.language_is_default():
        where = ", ".join(part for part in (f"row {p.row}" if p.row is not None else "",
                                            f"column '{p.column}'" if p.column else "") if part)
        return f"{where}: {p.message}".lstrip(": ") + (f". {fix}" if fix else "")
    what = _("{problem}. Expected: {expected}.").format(problem=_what(p), expected=_(p.expected))
    if p.count > 1:
        what = _("{problem} {more}").format(problem=what, more=ngettext(
            "({count} more row like it)", "({count} more rows like it)", p.count - 1).format(
            count=formats.count(p.count - 1)))
    where = _where(p)
    text = _("{where}: {what}").format(where=where, what=what) if where else what
    return _("{problem} {fix}").format(problem=text, fix=_(fix)) if fix else text


def _where(p: Problem) -> str:
    """Where a problem is, in the page's language: ``row 12, column 'Amount'``."""
    parts = ([_("row {row}").format(row=p.row)] if p.row is not None else []) + (
        [_("column '{column}'").format(column=p.column)] if p.column else [])
    return _(", ").join(parts)


def _what(p: Problem) -> str:
    """What is wrong, from a problem's fields (not its English message): its title and the value read."""
    title = _(TITLES[p.code])
    if p.value is not None:
        return _("{problem}: '{value}'").format(problem=title, value=_short(p.value))
    if p.code == "encoding_unclear" and (readings := re.search(r"\((.+ reads '.*)\); ", p.message)):
        return _("{problem}: {detail}").format(problem=title, detail=readings.group(1).replace(" reads ", ": "))
    return title


def remember(path: str, mapping: SourceMapping) -> bool:
    """Save the source's mapping now (before any import); False, with the reason shown, if it cannot be."""
    try:
        with loaders.writable_store(path, "remembering how to read a file") as store:
            store.save_source_mapping(mapping)
    except StoreError as exc:
        loaders.show_store_error(exc)
        return False
    return True


def map_columns(path: str, contract: FileKind, unknown: list[str], missing: list[str],
                mapping: SourceMapping, file_name: str) -> dict[str, str]:
    """Choose what each unrecognised header holds: the remembered choice, else the suggestion, pre-filled.

    A change is remembered at once for this source. Returns header -> column for this check.
    """
    if not unknown:
        return {}
    suggested = suggest_columns(contract, [h for h in unknown if h not in mapping.columns], missing)
    st.subheader(_("Map columns"))
    st.caption(_("Headers the importer does not recognise, with its suggestion where it has one. Choose what "
                 "each holds, or leave it ignored; the choice is remembered for the next file like this one."))
    options = [IGNORE, *contract.column_names]
    names = {option: _column_name(option) for option in options}  # made now, in the page's language
    chosen: dict[str, str] = {}
    grid = st.columns(2)
    for index, header in enumerate(unknown):
        key = f"data.map.{mapping.key}.{_key(header)}"
        default = mapping.columns.get(header) or suggested.get(header) or IGNORE
        choice = grid[index % 2].selectbox(
            _("'{header}' holds").format(header=literal.markdown(header)), options,
            index=options.index(default) if default in options else 0,
            key=key, format_func=names.__getitem__, on_change=_remember_column,
            args=(path, mapping, header, key, file_name))
        if choice != IGNORE:
            chosen[header] = choice
    return chosen


def _key(text: str) -> str:
    """A widget key for one value from the file: its own, whatever else the file or a rerun lists."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def header_text(column: str) -> str:
    """A contract column as a person writes its header ("Customer ID"); the importer reads either."""
    return column.replace("_", " ").capitalize().replace(" id", " ID").replace("Mqls", "MQLs").replace(
        "Sqls", "SQLs")


COLUMN_WORDS = {
    "period": N_("Period"), "category": N_("Category"), "channel": N_("Channel"), "amount": N_("Amount"),
    "currency": N_("Currency"), "vendor": N_("Vendor"), "description": N_("Description"), "leads": N_("Leads"),
    "visitors": N_("Visitors"), "event_attendees": N_("Event attendees"), "mqls": N_("MQLs"), "sqls": N_("SQLs"),
    "opportunities": N_("Opportunities"), "customer_id": N_("Customer ID"), "acquired_on": N_("Acquired on"),
    "segment": N_("Segment"), "billing_interval": N_("Billing interval"), "date": N_("Date"),
    "revenue": N_("Revenue"), "gross_margin": N_("Gross margin"), "cost": N_("Cost"), "account": N_("Account"),
    "service_start": N_("Service start"), "service_end": N_("Service end"),
}
"""Each contract column's name as the page shows it (its :func:`header_text`, to translate)."""


def column_label(column: str) -> str:
    """A contract column named for people in the page's language: ``Customer ID``, ``ID client``."""
    return _(COLUMN_WORDS[column]) if column in COLUMN_WORDS else header_text(column)


def _column_name(column: str) -> str:
    return _("(ignore)") if column == IGNORE else column_label(column)


def _remember_column(path: str, mapping: SourceMapping, header: str, key: str, file_name: str) -> None:
    choice = st.session_state.get(key)
    columns = {h: c for h, c in mapping.columns.items() if h != header}
    if choice and choice != IGNORE:
        columns[header] = choice
    remember(path, SourceMapping(mapping.kind, mapping.key, columns, mapping.categories, mapping.channels,
                                 mapping.name or file_name))


def map_categories(path: str, prepared: PreparedImport, mapping: SourceMapping, file_name: str) -> None:
    """Category labels the importer does not know, each with its suggestion pre-filled; one click keeps them."""
    labels = sorted({p.value for p in prepared.errors if p.code == "unknown_category" and p.value})
    if not labels:
        return
    st.subheader(_("Map categories"))
    st.caption(_("Cost category labels the importer does not know (account names, expense types). Its "
                 "suggestion is chosen where it has one: check each, then use them. They are remembered "
                 "for the next file like this one."))
    options = ["", *CATEGORIES]
    names = {k: _(category_label(k)) if k else _("choose a category") for k in options}
    chosen: dict[str, str] = {}
    grid = st.columns(2)
    for index, label in enumerate(labels):
        suggestion = suggest_category(label) or ""
        choice = grid[index % 2].selectbox(
            _("'{label}' is").format(label=literal.markdown(label)), options, index=options.index(suggestion),
            key=f"data.cat.{mapping.key}.{_key(label)}",
            format_func=names.__getitem__)
        if choice:
            chosen[label] = choice
    left, right = st.columns([1, 3])
    if left.button(_("Use these categories"), key="data.apply_categories", type="primary", disabled=not chosen):
        if remember(path, mapping.merged(categories=chosen, name=file_name)):
            st.rerun()
    if len(chosen) < len(labels):
        left_to_choose = len(labels) - len(chosen)
        right.caption(ngettext("{count} of {total} still needs a category.",
                               "{count} of {total} still need a category.", left_to_choose).format(
            count=formats.count(left_to_choose), total=formats.count(len(labels))))


def map_channels(path: str, prepared: PreparedImport, known: list[str], mapping: SourceMapping,
                 file_name: str, *, shared_allowed: bool) -> bool:
    """Channel values the store has never seen: a known channel, shared costs, or a new channel, pre-filled.

    True while some are still to confirm: the file is read as the page shows it only once they are,
    so the import waits for them.
    """
    known_keys = {channel_name_key(k) for k in known}
    undecided = {value: rows for value, rows in prepared.channels.items()
                 if value not in mapping.channels and channel_name_key(value) not in known_keys}
    decided = {value: mapping.channels[value] for value in prepared.channels if value in mapping.channels}
    if not undecided and not decided:
        return False
    st.subheader(_("Channels in this file"))
    if decided:
        remembered_text = _(", ").join(_("'{value}' as {target}").format(value=literal.markdown(value),
                                                                         target=_channel_text(target))
                                       for value, target in decided.items())
        st.caption(_("Remembered for this source: {choices}.").format(choices=remembered_text))
    if not undecided:
        return False
    st.caption(_("{intro} {choose}").format(
        intro=_("Channel values not seen before (the first import: every channel is new).") if not known
        else _("Channel values not seen before."),
        choose=_("Choose the known channel each one is, shared costs for a value that is no channel (a "
                 "department such as 'Marketing - Shared'), or keep it as a new channel. The importer's "
                 "suggestion is chosen; the choices are remembered for the next file like this one.")))
    listed = sorted(undecided.items(), key=lambda item: (-item[1], item[0]))[:CHANNELS_LISTED]
    chosen: dict[str, str | None] = {}
    grid = st.columns(2)
    for index, (value, rows) in enumerate(listed):
        suggestion = suggest_channel(value, known, shared_allowed=shared_allowed)
        options: list[str] = [value, *[k for k in known if k != value], *([SHARED] if shared_allowed else [])]
        default = SHARED if suggestion is None else suggestion
        choice = grid[index % 2].selectbox(
            ngettext("'{value}' ({rows} row) is", "'{value}' ({rows} rows) is", rows).format(
                value=literal.markdown(value), rows=formats.count(rows)), options,
            index=options.index(default) if default in options else 0, key=f"data.channel.{mapping.key}.{_key(value)}",
            format_func={option: _channel_option(option, value) for option in options}.__getitem__)
        chosen[value] = None if choice == SHARED else choice
    if len(undecided) > len(listed):
        st.caption(ngettext("The {listed} values with the most rows are listed; {count} more is kept as written.",
                            "The {listed} values with the most rows are listed; {count} more are kept as written.",
                            len(undecided) - len(listed)).format(listed=formats.count(len(listed)),
                                                                  count=formats.count(len(undecided) - len(listed))))
    if st.button(_("Use these channels"), key="data.apply_channels", type="primary"):
        if remember(path, mapping.merged(channels=chosen, name=file_name)):
            st.rerun()
    return True


def _channel_text(target: str | None) -> str:
    return _("shared costs") if target is None else _("'{value}'").format(value=literal.markdown(target))


def _channel_option(option: str, value: str) -> str:
    if option == SHARED:
        return _("Shared costs (no channel)")
    return _("{channel} (a new channel)").format(channel=option) if option == value else option


def report(prepared: PreparedImport, file_name: str) -> None:
    """The validation report: one line per kind of problem, its rows, where, the first examples and the fix."""
    groups = grouped(prepared.problems)
    errors = sum(g.rows for g in groups if g.severity == "error")
    warnings = sum(g.rows for g in groups if g.severity == "warning")
    st.subheader(_("Validation report"))
    if prepared.errors:
        st.error(ngettext("{count} error must be fixed before this file can be imported. Nothing was written.",
                          "{count} errors must be fixed before this file can be imported. Nothing was written.",
                          errors).format(count=formats.count(errors)))
    elif warnings:
        st.warning(ngettext("{count} warning; the file can be imported.", "{count} warnings; the file can be "
                            "imported.", warnings).format(count=formats.count(warnings)))
    else:
        st.success(_("No problems found."))
    if not groups:
        return
    # A plain table: it wraps long text and can be searched and copied; st.table reads each cell
    # as Markdown, so the file's values are made literal first.
    st.table(report_table(groups).with_columns(pl.col(_("Rows")).map_elements(formats.count,
                                                                              return_dtype=pl.String))
             .with_columns(pl.col(pl.String).map_elements(literal.markdown, return_dtype=pl.String)))
    st.download_button(_("Download the full report (CSV)"), exports.to_csv_bytes(full_report(prepared.problems)),
                       file_name=f"{file_name.rsplit('.', 1)[0]}-problems.csv", mime="text/csv",
                       key="data.report.csv")


SEVERITY_WORDS = {"error": N_("Error"), "warning": N_("Warning")}
"""A problem's severity as the report writes it."""


def severity_text(severity: str) -> str:
    return _(SEVERITY_WORDS[severity]) if severity in SEVERITY_WORDS else severity


def report_table(groups: list[ProblemGroup]) -> pl.DataFrame:
    """The grouped report as the page shows it: plain words, counts, where, the first examples, the fix;
    its headers and every word but the file's own (columns, values) in the page's language."""
    columns = [_("Severity"), _("Problem"), _("Rows"), _("Columns"), _("First examples"), _("Expected"),
               _("How to fix")]
    values = [[severity_text(g.severity) for g in groups],
              [_(g.title) for g in groups],
              [g.rows for g in groups],
              [_(", ").join(g.columns) for g in groups],
              [_("; ").join(_example(p) for p in g.examples) for g in groups],
              [_sentence(_(g.expected)) for g in groups],
              [_(FIXES[g.code]) if g.code in FIXES else _("Correct the file and upload it again.")
               if g.severity == "error" else _("Nothing to do if this is as expected.") for g in groups]]
    types = [pl.String, pl.String, pl.Int64, pl.String, pl.String, pl.String, pl.String]
    return pl.DataFrame(dict(zip(columns, values, strict=True)), schema=dict(zip(columns, types, strict=True)))


def full_report(problems: list[Problem]) -> pl.DataFrame:
    """Every problem, one a line, for the download: where, the value, what is wrong, what was expected.

    The headers, the severity, the problem's title and what was expected are in the page's language;
    "What is wrong" is the importer's own message, in English in every language (the detail the command
    line prints, which a support request can quote as it is)."""
    columns = [_("Severity"), _("Problem"), _("Row"), _("Column"), _("Value"), _("What is wrong"), _("Expected"),
               _("Rows like it")]
    values = [[severity_text(p.severity) for p in problems], [_(TITLES[p.code]) for p in problems],
              [p.row for p in problems], [p.column for p in problems], [p.value for p in problems],
              [p.message for p in problems], [_(p.expected) for p in problems], [p.count for p in problems]]
    types = [pl.String, pl.String, pl.Int64, pl.String, pl.String, pl.String, pl.String, pl.Int64]
    return pl.DataFrame(dict(zip(columns, values, strict=True)), schema=dict(zip(columns, types, strict=True)))


def _example(p: Problem) -> str:
    """One example of a group: where, and the value read (another language: never the English message)."""
    english = formats.language_is_default()
    where = (f"row {p.row}" if english else _("row {row}").format(row=p.row)) if p.row is not None else ""
    if p.row is None and p.count > 1:
        return f"{p.count:,} more rows" if english else ngettext("{count} more row", "{count} more rows",
                                                                 p.count).format(count=formats.count(p.count))
    if p.value is not None:
        if english:
            return f"{where}: '{_short(p.value)}'".lstrip(": ")
        what = _("'{value}'").format(value=_short(p.value))
    elif english:
        return f"{where}: {_short(p.message)}".lstrip(": ")
    else:
        what = _what(p) if p.code == "encoding_unclear" else (
            _("column '{column}'").format(column=p.column) if p.column else _(TITLES[p.code]))
    return _("{where}: {what}").format(where=where, what=what) if where else what


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text
