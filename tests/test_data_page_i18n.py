"""The Data page in French and Japanese: every word that is not data in the page's language, the
validation report written from each problem's fields (titles, expected texts and fixes from the
catalogs), a file's values kept as literal text, and the import history's dates, months and counts
written by the language's rules. English stays as it was (``tests/test_data_page.py``)."""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from finance.app import importing
from finance.domain import literal
from finance.domain.fx import OFFERED_CURRENCIES
from finance.domain.problems import CODES, TITLES, problem
from finance.present import formats
from finance.present.i18n import _, ngettext, speaking
from finance.store.database import Store

from .conftest import open_dashboard
from .test_data_page import upload

Runner = Callable[..., AppTest]
LANGUAGES = ("fr", "ja")

HOSTILE_CATEGORY = "<b>x</b>"
HOSTILE_CHANNEL = "[x](http://evil.example)"
HOSTILE_AMOUNT = '=HYPERLINK("http://evil.example","y")'
BAD_SPEND = ("period,category,channel,amount\n"
             "2026-Q1,events,Events,twelve\n"  # an amount that cannot be read
             "2026-Q1,nonsense,Events,5\n"  # a category the importer does not know
             f'2026-Q1,{HOSTILE_CATEGORY},{HOSTILE_CHANNEL},"{HOSTILE_AMOUNT.replace(chr(34), chr(34) * 2)}"\n')
FILE_HEADERS = ("period", "category", "channel", "amount")
FILE_VALUES = ("twelve", "nonsense", HOSTILE_CATEGORY, HOSTILE_CHANNEL, HOSTILE_AMOUNT, "Events", "2026-Q1",
               "bad-spend.csv")
EXAMPLES = ("Marketing - Shared", "Date,USD,JPY", "date, currency, rate", "date、currency、rate、base")
"""Words the page quotes as a file writes them: a department as an example, a rates file's columns."""

ACRONYMS = {"CSV", "XLSX", "PDF", "LTV", "CAC", "CPL", "CPA", "UTC", "MB", "ECB", "FY", "FY25", "Q1", "UTF", "ISO",
            "EUC", "JP", "GB18030", "Big5", "Windows", "Shift_JIS", "SEO", "PR", "ID", "FINANCE_DB", "xlsx", "xls",
            "ods", *OFFERED_CURRENCIES}
"""Words allowed on a Japanese page: product acronyms, currency codes, encodings' names, file suffixes."""
ENGLISH = {
    "the", "and", "of", "to", "is", "are", "was", "be", "must", "can", "file", "files", "row", "rows", "column",
    "columns", "choose", "imported", "error", "errors", "warning", "warnings", "expected", "fix",
    "how", "what", "which", "with", "without", "this", "these", "that", "channel", "channels", "category",
    "categories", "spend", "amount", "amounts", "currency", "rates", "exchange", "first", "shared", "costs", "new",
    "read", "reading", "decimal", "month", "year", "none", "upload", "download", "report", "checked",
    "found", "problem", "problems", "fixed", "still", "need", "needs", "kind", "covers", "status", "by",
    "undone", "not", "from", "for", "it", "its", "than", "yet", "use", "load", "map", "preview", "sheet", "encoding",
    "detected", "optional", "day", "when", "does", "say", "replace", "stored", "differ", "holds",
    "ignore", "remove", "data", "empty", "start", "undo", "history", "yes", "nothing", "written", "before",
    "customers", "revenue", "funnel", "blank", "correct", "again", "every", "should", "each", "there",
}
"""English words that are no French words ("import" and "leads" are): one of them on a French page is a
word left untranslated."""


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Runner:
    # every rerun through the entry script, as on a server: it sets the session's language each run
    return functools.partial(open_dashboard, monkeypatch, entry_script_reruns=True)


@pytest.fixture
def empty_db(tmp_path: Path) -> Path:
    return tmp_path / "empty.duckdb"


def on_data_page(app: Runner, db: Path, code: str) -> AppTest:
    return app(db, "pages/data.py", query={"lang": code})


def texts(at: AppTest) -> list[str]:
    """Every text the page's main area writes: words, labels, help, options, table headers and the
    report's fixed columns (not the file's own: its columns and examples are data)."""
    main = at.main
    out: list[str] = []
    for kind in ("title", "subheader", "markdown", "caption", "error", "warning", "success", "info"):
        out += [str(e.value) for e in getattr(main, kind)]
    for box in main.selectbox:
        out += [box.label, box.help or "", *box.options]
    for radio in main.radio:
        out += [radio.label, radio.help or "", *radio.options]
    for widget in (*main.checkbox, *main.toggle, *main.text_input):
        out += [widget.label, widget.help or ""]
    out += [b.label for b in main.button]
    for kind in ("file_uploader", "expander", "download_button", "status"):
        out += [e.proto.label for e in main.get(kind)]
    for table in main.table:
        frame = table.value
        out += [str(c) for c in frame.columns]
        fixed = [c for i, c in enumerate(frame.columns) if i in (0, 1, 5, 6)]  # severity, problem, expected, fix
        out += [str(v) for c in fixed for v in frame[c]]
    for grid in main.dataframe:  # the preview's headers are the file's
        out += [str(c) for c in grid.value.columns if c not in FILE_HEADERS]
    return [t for t in out if t]


def data_names(db: Path) -> list[str]:
    """What comes from the data, allowed in any language: channels, the file's values, file names, people."""
    names = [*EXAMPLES, *FILE_VALUES, "Northwind Analytics", "demo builder"]
    if db.exists():
        with Store(db, read_only=True) as store:
            names += store.channels()
            log = store.imports()
            names += [str(n) for n in log.get_column("file_name").to_list() if n]
    return sorted(set(names), key=len, reverse=True)


def english_left(lines: Iterable[str], code: str, names: list[str]) -> list[str]:
    """The English words in ``lines`` once data names are taken out (empty when all is translated)."""
    found: list[str] = []
    for line in lines:
        text = line.replace("\\", "").replace("\u2060", "")  # Markdown escapes and word joiners
        for name in names:
            text = text.replace(name, " ")
        words = re.findall(r"[A-Za-z][A-Za-z_0-9]*", text)
        if code == "ja":
            found += [f"{w} in {line!r}" for w in words if w not in ACRONYMS and len(w) > 1]
        else:
            found += [f"{w} in {line!r}" for w in words if w.lower() in ENGLISH]
    return found


@pytest.mark.parametrize("code", LANGUAGES)
def test_the_empty_data_page_has_no_english_word(app: Runner, empty_db: Path, code: str) -> None:
    at = on_data_page(app, empty_db, code)
    with speaking(code):
        assert at.title[0].value == _("Data")
        assert any(_("No imports yet.") in m.value for m in at.markdown)
        uploader = at.main.get("file_uploader")[0].proto.label
        assert uploader == _("{kind} file: CSV or workbook (.xlsx, .xls, .ods), up to {size} MB").format(
            kind=_("spend").capitalize(), size=formats.count(200))
    at.toggle(key="data.fx_open").set_value(True).run()  # the exchange rates' box too
    assert not at.exception, at.exception
    lines = texts(at)
    assert len(lines) > 15, lines
    left = english_left(lines, code, data_names(empty_db))
    assert not left, left


@pytest.mark.parametrize("code", LANGUAGES)
def test_a_bad_spend_file_is_reported_in_the_language_with_its_values_literal(app: Runner, demo_db: Path,
                                                                             tmp_path: Path, code: str) -> None:
    db = tmp_path / "demo.duckdb"
    db.write_bytes(demo_db.read_bytes())
    at = upload(on_data_page(app, db, code), "bad-spend.csv", BAD_SPEND.encode())
    report = at.table[0].value
    with speaking(code):
        headers = [_(h) for h in ("Severity", "Problem", "Rows", "Columns", "First examples", "Expected",
                                  "How to fix")]
        assert list(report.columns) == headers
        rows = {literal.markdown(_(TITLES[c])): c for c in ("invalid_amount", "unknown_category", "new_channel")}
        assert set(report[headers[1]]) == set(rows), list(report[headers[1]])
        by_code = {rows[r[headers[1]]]: r for _i, r in report.iterrows()}
        assert by_code["invalid_amount"][headers[0]] == _("Error") != "Error"
        assert by_code["new_channel"][headers[0]] == _("Warning") != "Warning"
        for problem_code, row in by_code.items():
            expected = _(CODES[problem_code][1])
            assert row[headers[5]] == literal.markdown(expected[:1].upper() + expected[1:])
        assert by_code["unknown_category"][headers[6]] == literal.markdown(_(importing.FIXES["unknown_category"]))
        assert by_code["invalid_amount"][headers[6]] == literal.markdown(_("Correct the file and upload it again."))
        assert by_code["new_channel"][headers[6]] == literal.markdown(_(importing.FIXES["new_channel"]))
        # an example: the row in the language and the value as written, never the English message
        example = by_code["invalid_amount"][headers[4]]
        assert literal.markdown(_("row {row}").format(row=2)) in example and "twelve" in example
        assert "expected" not in example
        headline = ngettext("{count} error must be fixed before this file can be imported. Nothing was written.",
                            "{count} errors must be fixed before this file can be imported. Nothing was written.", 4)
        assert headline.format(count=4) in [e.value for e in at.error] and "errors" not in headline
        assert at.main.get("download_button")[0].proto.label == _("Download the full report (CSV)")
        assert at.subheader[-1].value == _("Import history")
    # the file's values stay text: escaped for Markdown wherever they are written
    cells = " ".join(str(v) for v in report[headers[4]])
    for value in (HOSTILE_CATEGORY, HOSTILE_CHANNEL, HOSTILE_AMOUNT):
        assert literal.markdown(value) in cells
    labels = [sb.label for sb in at.selectbox]
    assert any(literal.markdown(HOSTILE_CATEGORY) in label for label in labels)
    assert any(literal.markdown(HOSTILE_CHANNEL) in label for label in labels)
    assert not any(HOSTILE_CHANNEL in label or HOSTILE_CATEGORY in label for label in labels)
    # and nothing on the page is left in English
    left = english_left(texts(at), code, data_names(db))
    assert not left, left


@pytest.mark.parametrize("code", LANGUAGES)
def test_the_import_history_in_the_language(app: Runner, demo_db: Path, code: str) -> None:
    at = on_data_page(app, demo_db, code)
    history = next(d.value for d in at.dataframe if "#" in d.value.columns)
    with Store(demo_db, read_only=True) as store:
        log = store.imports()
    customers = log.filter(log["kind"] == "customers").row(0, named=True)
    with speaking(code):
        columns = ["#", *(_(h) for h in ("Kind", "File", "Rows", "Covers", "Total", "Imported (UTC)", "Status"))]
        assert list(history.columns) == columns
        line = history[history["#"] == f"#{customers['import_id']}"].iloc[0]
        assert line[columns[1]] == _("customers").capitalize()
        assert line[columns[7]] == _("in force") != "in force"
        assert line[columns[4]] == _("{start}\u2013{end}").format(start=formats.month(customers["period_start"]),
                                                                   end=formats.month(customers["period_end"]))
        count = formats.count(customers["total"])
        words = ngettext("{count} customer", "{count} customers", int(customers["total"]))
        assert line[columns[5]] == words.format(count=count) and "customers" not in words
        assert line[columns[6]].startswith(formats.day(customers["imported_at"]))
        assert "by" not in line[columns[6]].split() and str(customers["imported_by"]) in line[columns[6]]
    if code == "fr":
        assert "\u202f" in count  # 20 000: the French thousands separator
        assert re.match(r"^janv\. \d{4}", line[columns[4]]), line[columns[4]]
    else:
        assert re.fullmatch(r"\d{4}年\d{1,2}月～\d{4}年\d{1,2}月", line[columns[4]]), line[columns[4]]
        assert re.match(r"^\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d", line[columns[6]]), line[columns[6]]
    left = english_left(texts(at), code, data_names(demo_db))
    assert not left, left


def test_a_problem_in_words_english_as_before_other_languages_from_its_fields() -> None:
    p = problem("invalid_amount", "could not read 'twelve' as an amount", row=7, column="Amount (USD)",
                value="twelve")
    assert importing.problem_text(p) == "row 7, column 'Amount (USD)': could not read 'twelve' as an amount"
    fixed = problem("unknown_category", "unknown category 'nonsense'", row=3, column="category", value="nonsense")
    assert importing.problem_text(fixed).endswith(". " + importing.FIXES["unknown_category"])
    for code in LANGUAGES:
        with speaking(code):
            text = importing.problem_text(fixed)
            assert "unknown category" not in text and "nonsense" in text
            assert _(TITLES["unknown_category"]) in text and _(CODES["unknown_category"][1]) in text
            assert text.endswith(_(importing.FIXES["unknown_category"]))
            assert _("row {row}").format(row=3) in text


@pytest.mark.parametrize("code", LANGUAGES)
def test_the_full_report_download_has_headers_and_words_in_the_language(code: str) -> None:
    """The CSV's headers, severity, title and expected text are translated; "What is wrong" keeps the
    importer's English message (as the command line prints it), and a formula stays text."""
    problems = [problem("invalid_amount", "could not read it as an amount", row=4, column="amount",
                        value=HOSTILE_AMOUNT), problem("new_channel", row=4, column="channel", value="Paid")]
    with speaking(code):
        frame = importing.full_report(problems)
        assert frame.columns == [_(h) for h in ("Severity", "Problem", "Row", "Column", "Value", "What is wrong",
                                                "Expected", "Rows like it")]
        assert frame.row(0)[:2] == (_("Error"), _(TITLES["invalid_amount"]))
        assert frame.row(1)[0] == _("Warning") and frame.row(1)[6] == _(CODES["new_channel"][1])
    assert frame.row(0)[5] == "could not read it as an amount"
    from finance.present import exports

    read = list(csv.reader(io.StringIO(exports.to_csv_bytes(frame).decode("utf-8-sig"))))
    assert read[1][4] != HOSTILE_AMOUNT and read[1][4].endswith(HOSTILE_AMOUNT)  # neutralised, not a formula


@pytest.mark.parametrize("code", LANGUAGES)
def test_the_columns_the_page_names_in_the_language_are_headers_the_importer_reads(code: str) -> None:
    """The "Columns:" caption and the Map columns choices name each column in the language: a header
    written as the page names it is read as that column."""
    from finance.domain.schema import FILE_KINDS, normalise_header

    with speaking(code):
        for contract in FILE_KINDS.values():
            for column in contract.columns:
                written = importing.column_label(column.name)
                assert written != importing.header_text(column.name) or written.isupper() or code == "fr"
                assert contract.header_lookup.get(normalise_header(written)) == column.name, (code, written)
