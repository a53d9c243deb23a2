"""Hostile and odd import files: every bad value is a problem with its row, column and value.

Never a traceback, never a silent NULL; odd files (a named pipe, a file with no line break, a
header thousands of columns wide) are refused at once, in bounded memory. Everything goes
through the real import path, ``Store.import_file``, and a rejected file changes nothing.
Row numbers are the ones a spreadsheet shows: the header is row 1.
"""

from __future__ import annotations

import os
import threading
import tracemalloc
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from finance.domain.money import parse_count, parse_money
from finance.domain.problems import Problem
from finance.ingest import csvfile
from finance.ingest.prepare import HEADER_PROBLEMS_LISTED, PROBLEMS_PER_KIND, prepare
from finance.store.database import ImportResult, Store

from .conftest import write

SPEND = "period,category,channel,amount,vendor,description\n"
FUNNEL = "period,channel,leads\n"
REVENUE = "customer_id,date,revenue\n"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "x.duckdb") as opened:
        yield opened


def rejected(store: Store, kind: str, path: Path) -> list[Problem]:
    """Import ``path``; it must be refused and change nothing. Returns its errors."""
    before = store.snapshot()
    result = store.import_file(kind, path)
    assert result.status == "rejected", result.warnings
    assert result.import_id is None
    assert store.snapshot() == before
    return result.errors


def imported(store: Store, kind: str, path: Path) -> tuple[ImportResult, list[dict[str, object]]]:
    result = store.import_file(kind, path)
    assert result.status == "imported", result.errors
    return result, store.frame(kind).to_dicts()


def where(problems: list[Problem]) -> list[tuple[str, int | None, str | None, str | None]]:
    return [(p.code, p.row, p.column, p.value) for p in problems]


# --- numbers: digits of other scripts are read, never dropped ------------------------------

def test_other_scripts_digits_are_read_as_counts_with_one_warning_per_column(store: Store, tmp_path: Path) -> None:
    # Before: `\d` matched them, a non-strict cast made them NULL, and nothing was said.
    path = write(tmp_path / "funnel.csv", FUNNEL + "2025-01,Search,\uff11\uff12\uff13\n"   # fullwidth 123
                 "2025-02,Search,\u0661\u0662\u0663\n"                                      # Arabic-Indic 123
                 "2025-03,Search,40\n"
                 "2025-04,Search,\u0967\u0966\n")                                          # Devanagari 10
    result, rows = imported(store, "funnel", path)
    assert [r["leads"] for r in rows] == [123, 123, 40, 10]
    assert result.total == Decimal(296)  # 123 + 123 + 40 + 10
    [warning] = result.warnings
    assert (warning.code, warning.row, warning.column, warning.value, warning.count) == (
        "non_ascii_digits", 2, "leads", "\uff11\uff12\uff13", 3)
    assert "3 rows" in warning.message and "row 2" in warning.message


def test_other_scripts_digits_in_amounts_are_exact_money(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "spend.csv", SPEND + "2025-01,personnel,,\u0661\u0662\u0663.\u0664\u0665,Payroll,\n"
                 "2025-01,martech,,\"$\uff11,\uff10\uff10\uff10.\uff10\uff11\",HubSpot,\n")
    result, rows = imported(store, "spend", path)
    assert [r["amount"] for r in rows] == [Decimal("123.45"), Decimal("1000.01")]
    assert [(w.code, w.row, w.column, w.count) for w in result.warnings] == [("non_ascii_digits", 2, "amount", 2)]


def test_a_count_cell_is_a_count_or_a_problem_never_a_silent_null() -> None:
    texts = ["\uff11\uff12\uff13", "\u0661\u0662\u0663", "\u0661,\u0662\u0663\u0664", "1\u0662", "\u00b2", "\u2155",
             "\u0663.\u0665", "-\u0661", "\u0663.\u0660"]
    counts, codes = parse_count(pl.Series(texts))
    assert counts.to_list() == [123, 123, 1234, 12, None, None, None, None, 3]
    assert codes.to_list() == ["non_ascii_digits"] * 4 + ["invalid_count"] * 4 + ["non_ascii_digits"]


def test_other_scripts_digits_that_are_no_count_are_errors(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "funnel.csv", FUNNEL + "2025-01,Search,\u0661\u0662\u0663\n"
                 "2025-02,Search,\u0663.\u0665\n2025-03,Search,\u00b2\n")
    before = store.snapshot()
    result = store.import_file("funnel", path)
    assert result.status == "rejected" and store.snapshot() == before
    assert where(result.errors) == [("invalid_count", 3, "leads", "\u0663.\u0665"),
                                    ("invalid_count", 4, "leads", "\u00b2")]
    assert [(w.code, w.row, w.count) for w in result.warnings] == [("non_ascii_digits", 2, 1)]


def test_other_scripts_digits_in_dates_are_read_with_a_warning(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "revenue.csv", REVENUE + "c1,\u0662\u0660\u0662\u0665-\u0660\u0663-\u0663\u0661,10\n"
                 "c2,2025-03-30,5\n")
    result, rows = imported(store, "revenue", path)
    assert [str(r["date"]) for r in rows] == ["2025-03-31", "2025-03-30"]
    assert [(w.code, w.row, w.column) for w in result.warnings] == [("non_ascii_digits", 2, "date")]


# --- amounts: huge exponents, NaN and infinity are errors, not tracebacks --------------------

def test_amounts_beyond_money_are_row_errors(store: Store, tmp_path: Path) -> None:
    # Before: 1e4300 raised ValueError (Python's integer digits limit), 1e999999999999 decimal.Overflow.
    cases = [("1e4300", "amount_out_of_range"), ("1E+4300", "amount_out_of_range"),
             ("1e999999999999", "amount_out_of_range"), ("-1e999999999999", "amount_out_of_range"),
             ("(1e999999999999)", "amount_out_of_range"), ("1e30", "amount_out_of_range"),
             ("100000000000000", "amount_out_of_range"), ("1e-999999999999", "too_many_decimals"),
             ("inf", "not_a_number"), ("-inf", "not_a_number"), ("nan", "not_a_number"), ("Infinity", "not_a_number")]
    body = "2025-01,personnel,,100,Payroll,\n" + "".join(f'2025-01,martech,,"{text}",HubSpot,\n' for text, _ in cases)
    errors = rejected(store, "spend", write(tmp_path / "spend.csv", SPEND + body))
    assert where(errors) == [(code, row, "amount", text) for row, (text, code) in enumerate(cases, start=3)]
    assert {e.message for e in errors if e.code == "amount_out_of_range"} == {"the amount is 100 trillion or more"}


def test_scientific_amounts_inside_the_bound_are_exact() -> None:
    amounts, codes = parse_money(pl.Series(["1.2E+06", "9.99999999999999e13", "0e999999999999", "1.50000e0"]))
    assert codes.to_list() == [None, None, None, None]
    assert amounts.to_list() == [Decimal("1200000"), Decimal("99999999999999.9"), Decimal(0), Decimal("1.5")]


# --- dates: an impossible time of day is not dropped silently -------------------------------

def test_an_impossible_time_of_day_rejects_the_date(store: Store, tmp_path: Path) -> None:
    # Before: the time was cut off unread and the row imported as 2025-03-31.
    path = write(tmp_path / "revenue.csv", REVENUE + "c1,2025-03-31T23:59:59Z,10\n"
                 "c2,2025-03-31T25:99:99Z,10\n"
                 "c3,2025-03-31 13:00 PM,10\n")
    errors = rejected(store, "revenue", path)
    assert where(errors) == [("invalid_time", 3, "date", "2025-03-31T25:99:99Z"),
                             ("invalid_time", 4, "date", "2025-03-31 13:00 PM")]
    assert "hour 25 is past 23" in errors[0].message


def test_an_impossible_time_in_a_period_column_is_an_error(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "spend.csv", SPEND + "2025-03-31T10:60:00,personnel,,5,Payroll,\n")
    [error] = rejected(store, "spend", path)
    assert (error.code, error.row, error.column, error.value) == ("invalid_time", 2, "period", "2025-03-31T10:60:00")
    assert "minute 60 is past 59" in error.message


def test_a_valid_time_of_day_still_gives_its_date(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "revenue.csv", REVENUE + "c1,2025-03-31T23:59:59Z,10\nc2,2025-03-30 11:05 PM,5\n")
    _, rows = imported(store, "revenue", path)
    assert [str(r["date"]) for r in rows] == ["2025-03-31", "2025-03-30"]
    path = write(tmp_path / "bad.csv", REVENUE + "c3,2025-04-01T25:00:00Z,1\n")
    assert where(rejected(store, "revenue", path)) == [("invalid_time", 2, "date", "2025-04-01T25:00:00Z")]


# --- control characters: an error wherever they are in the file -----------------------------

FILLER = "".join(f"2025-01,Search {i},{i}\n" for i in range(5000))  # about 90 KB: past the 64 KB opening


@pytest.mark.parametrize(("name", "char"), [("NUL", "\x00"), ("ESC", "\x1b"), ("DEL", "\x7f"), ("CSI", "\x9b")])
def test_a_control_character_after_the_opening_is_a_row_error(store: Store, tmp_path: Path, name: str,
                                                              char: str) -> None:
    # Before: a NUL past the first 64 KB was stored inside the channel name.
    assert len(FUNNEL + FILLER) > 65536
    path = write(tmp_path / "funnel.csv", FUNNEL + FILLER + f"2025-02,Sea{char}rch,5\n")
    [error] = rejected(store, "funnel", path)
    assert (error.code, error.row, error.column, error.value) == ("control_character", 5002, "channel",
                                                                   f"Sea{char}rch")
    assert f"U+{ord(char):04X}" in error.message


def test_a_nul_in_the_opening_is_the_same_row_error(store: Store, tmp_path: Path) -> None:
    # Before: "the file contains NUL bytes: it looks binary", with no row.
    path = write(tmp_path / "funnel.csv", FUNNEL + "2025-02,Sea\x00rch,5\n" + FILLER)
    assert where(rejected(store, "funnel", path)) == [("control_character", 2, "channel", "Sea\x00rch")]


def test_a_control_character_in_a_quoted_field_and_in_a_header_but_tabs_and_line_breaks_are_text(
        store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "spend.csv", 'period,category,amount,vendor\x1b\n'
                 '2025-01,personnel,5,"Pay\nroll"\n2025-01,martech,5,"Hub\x07Spot"\n')
    errors = rejected(store, "spend", path)  # the quoted line break stays in row 2
    assert where(errors) == [("control_character", 1, "#4", "vendor\x1b"),
                             ("control_character", 3, "vendor\x1b", "Hub\x07Spot")]
    path = write(tmp_path / "spend.csv", SPEND + '2025-01,personnel,,5,"Pay\troll","line one\r\nline two"\n')
    _, rows = imported(store, "spend", path)
    assert (rows[0]["vendor"], rows[0]["description"]) == ("Pay\troll", "line one\r\nline two")


# --- length: a field over 1,000,000 characters, a cell over Excel's 32,767 ---------------------

def test_a_field_of_1_000_001_characters_is_too_long(store: Store, tmp_path: Path) -> None:
    # Before: the csv module's limit was set one above the documented bound.
    for cell in ("x" * 1_000_001, '"' + "x" * 1_000_001 + '"'):
        path = write(tmp_path / "funnel.csv", FUNNEL + "2025-01,Search,1\n" + f"2025-02,{cell},5\n")
        [error] = rejected(store, "funnel", path)
        assert (error.code, error.row) == ("value_too_long", 3)
        assert "1,000,000 characters" in error.message


@pytest.mark.parametrize("column", ["channel", "vendor", "description"])
def test_text_over_excels_cell_limit_is_an_error_naming_its_length(store: Store, tmp_path: Path, column: str) -> None:
    cells = {"channel": "", "vendor": "Payroll", "description": ""}
    at_limit = write(tmp_path / "ok.csv", SPEND + "2025-01,personnel,{channel},5,{vendor},{description}\n".format(
        **{**cells, column: "x" * 32_767}))
    _, rows = imported(store, "spend", at_limit)
    assert rows[0][column] == "x" * 32_767  # the limit itself is stored whole
    over = write(tmp_path / "over.csv", SPEND + "2025-02,personnel,{channel},5,{vendor},{description}\n".format(
        **{**cells, column: "y" * 32_768}))
    [error] = rejected(store, "spend", over)
    assert (error.code, error.row, error.column) == ("text_too_long", 2, column)
    assert error.value is not None and error.value.startswith("y" * 100) and "32768 characters" in error.value
    assert "32768 characters long" in error.message and "32,767" in error.message


def test_the_cell_limit_counts_as_excel_does(store: Store, tmp_path: Path) -> None:
    # 16,384 emoji are 32,768 UTF-16 units; "=" + 32,766 becomes 32,768 with an export's apostrophe.
    path = write(tmp_path / "customers.csv", "customer_id,acquired_on,segment,channel\n"
                 f"c1,2025-01-05,{chr(0x1F600) * 16_384},Search\n"
                 f"c2,2025-01-06,SMB,={'z' * 32_766}\n"
                 f"c3,2025-01-07,SMB,{'z' * 32_767}\n")
    errors = rejected(store, "customers", path)
    assert [(e.code, e.row, e.column) for e in errors] == [("text_too_long", 2, "segment"),
                                                           ("text_too_long", 3, "channel")]
    assert "32768 characters long" in errors[0].message
    assert "apostrophe" in errors[1].message


# --- files that are no files, and files that are no CSV ----------------------------------------

def test_a_named_pipe_is_refused_at_once(tmp_path: Path) -> None:
    # Before: opening the pipe waited for a writer forever.
    fifo = tmp_path / "spend.csv"
    os.mkfifo(fifo)
    outcome: list[object] = []
    worker = threading.Thread(target=lambda: outcome.append(prepare("spend", fifo)), daemon=True)
    worker.start()
    worker.join(timeout=10)
    if worker.is_alive():  # release the reader, so no thread is left waiting
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(timeout=10)
        pytest.fail("reading a named pipe hung")
    [result] = outcome
    assert [(p.code, p.row) for p in result.problems] == [("not_a_regular_file", None)]  # type: ignore[attr-defined]
    assert "named pipe" in result.problems[0].message  # type: ignore[attr-defined]
    previewed = csvfile.preview(fifo)
    assert isinstance(previewed, list) and previewed[0].code == "not_a_regular_file"


def test_a_folder_is_refused(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "export.csv"
    folder.mkdir()
    [error] = rejected(store, "spend", folder)
    assert error.code == "not_a_regular_file" and "folder" in error.message


def test_a_file_with_no_line_break_is_refused_after_its_opening_alone(store: Store, tmp_path: Path) -> None:
    # Before: the whole file was read as one line, then reported as "the header row is blank".
    path = tmp_path / "one_line.csv"
    path.write_bytes(b"a" * (csvfile.HEAD_BYTES + 1))
    [error] = rejected(store, "spend", path)
    assert (error.code, error.message) == ("no_line_break", "no line break in the first 1 MB of the file: it is "
                                           "not a CSV file, or its header row is longer than 1 MB")
    big = tmp_path / "big.csv"
    big.write_bytes(b"a" * (16 << 20))
    tracemalloc.start()
    try:
        opened = csvfile.open_csv(big)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(opened, list) and opened[0].code == "no_line_break"
    assert peak < 4 * csvfile.HEAD_BYTES  # the opening, not the 16 MB


def test_an_endless_row_is_refused_before_it_is_held_whole(store: Store, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: a row with no line end was read whole, then split (a 200 MB one took 1.8 GB).
    monkeypatch.setattr(csvfile, "BLOCK_BYTES", 1024)
    monkeypatch.setattr(csvfile, "MAX_RECORD_BYTES", 4096)
    rows = "".join(f"2025-01,personnel,,{i},Payroll,\n" for i in range(100))  # about 3 KB: whole blocks
    path = write(tmp_path / "spend.csv", SPEND + rows + "2025-02,personnel,,5,Payroll," + "x" * 20_000)
    [error] = rejected(store, "spend", path)
    assert (error.code, error.row) == ("row_too_long", 102)
    assert error.message == "this row is longer than 4,096 bytes (or a quote opened in it is never closed)"


def test_a_header_of_thousands_of_columns_is_refused_quickly(store: Store, tmp_path: Path) -> None:
    # Before: 4,997 warnings, one per unknown column (at 120,000 columns: 10-22 s, 1.3 GB and 120,019 problems).
    header = "period,category,amount," + ",".join(f"extra{i}" for i in range(4_997))
    path = write(tmp_path / "wide.csv", header + "\n" + "2025-01,personnel,5" + ",x" * 4_997 + "\n")
    [error] = rejected(store, "spend", path)
    assert (error.code, error.row, error.value) == ("too_many_columns", 1, "5,000 columns")
    assert error.message == "the header row has 5,000 columns; at most 1,000 are read"


def test_repeated_header_warnings_are_listed_then_counted(store: Store, tmp_path: Path) -> None:
    header = "period,category,amount," + ",".join(f"extra{i}" for i in range(997))  # 1,000 columns: accepted
    path = write(tmp_path / "wide.csv", header + "\n" + "2025-01,personnel,5" + ",x" * 997 + "\n")
    result, _ = imported(store, "spend", path)
    unknown = [w for w in result.warnings if w.code == "unknown_column"]
    assert len(unknown) == HEADER_PROBLEMS_LISTED + 1
    assert [w.column for w in unknown[:3]] == ["extra0", "extra1", "extra2"]
    assert (unknown[-1].count, unknown[-1].message) == (977, "... and 977 more columns like this")  # 997 - 20


def test_repeated_total_lines_are_listed_then_counted(store: Store, tmp_path: Path) -> None:
    body = "2025-01,personnel,,5,Payroll,\n" + "Total,,,5,,\n" * (PROBLEMS_PER_KIND + 50)
    result, rows = imported(store, "spend", write(tmp_path / "spend.csv", SPEND + body))
    totals = [w for w in result.warnings if w.code == "total_row_dropped"]
    assert len(rows) == 1
    assert len(totals) == PROBLEMS_PER_KIND + 1
    assert (totals[0].row, totals[-1].count) == (3, 50)
