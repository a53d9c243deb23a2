"""Value parsers: periods, dates, money and counts, one table each."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finance.domain.money import parse_count, parse_money
from finance.domain.periods import ParsedDate, ParseFailure, Period, parse_date, parse_period, period_label
from finance.domain.problems import Problem
from finance.ingest.csvfile import RawTable

D = date


@pytest.mark.parametrize(("text", "start", "end", "grain"), [
    ("2025-Q1", D(2025, 1, 1), D(2025, 3, 31), "quarter"),
    ("2025Q4", D(2025, 10, 1), D(2025, 12, 31), "quarter"),
    ("Q2 2025", D(2025, 4, 1), D(2025, 6, 30), "quarter"),
    ("q3-2024", D(2024, 7, 1), D(2024, 9, 30), "quarter"),
    ("2024-02", D(2024, 2, 1), D(2024, 2, 29), "month"),
    ("03/2025", D(2025, 3, 1), D(2025, 3, 31), "month"),
    ("202511", D(2025, 11, 1), D(2025, 11, 30), "month"),
    ("Mar 2025", D(2025, 3, 1), D(2025, 3, 31), "month"),
    ("September 2025", D(2025, 9, 1), D(2025, 9, 30), "month"),
    ("Jan-25", D(2025, 1, 1), D(2025, 1, 31), "month"),
    ("2025-03-31", D(2025, 3, 31), D(2025, 3, 31), "day"),
    ("45747", D(2025, 3, 31), D(2025, 3, 31), "day"),
])
def test_period_spellings(text: str, start: date, end: date, grain: str) -> None:
    assert parse_period(text) == Period(start, end, grain)


@pytest.mark.parametrize(("text", "fy_start", "start", "end"), [
    ("FY25 Q1", 1, D(2025, 1, 1), D(2025, 3, 31)),
    # A fiscal year is named by the calendar year it ends in: FY25 from April is Apr 2024-Mar 2025
    ("FY25 Q1", 4, D(2024, 4, 1), D(2024, 6, 30)),
    ("FY2025 Q4", 4, D(2025, 1, 1), D(2025, 3, 31)),
    ("Q1 FY26", 7, D(2025, 7, 1), D(2025, 9, 30)),
    ("FY26-Q2", 10, D(2026, 1, 1), D(2026, 3, 31)),  # FY26 from October: Oct 2025-Sep 2026
    # a February start makes quarters straddle calendar quarters
    ("FY25 Q1", 2, D(2024, 2, 1), D(2024, 4, 30)),
])
def test_fiscal_quarters(text: str, fy_start: int, start: date, end: date) -> None:
    parsed = parse_period(text, fiscal_year_start=fy_start)
    assert parsed == Period(start, end, "quarter")


@pytest.mark.parametrize(("text", "code"), [
    ("Q5 2025", "invalid_quarter"), ("2025-Q0", "invalid_quarter"), ("2025-13", "invalid_period"),
    ("FY25 Q1", "fiscal_year_needed"), ("next quarter", "invalid_period"),
    ("01/02/2025", "ambiguous_date"), ("1985-01-01", "date_out_of_range"),
])
def test_bad_periods(text: str, code: str) -> None:
    parsed = parse_period(text)
    assert isinstance(parsed, ParseFailure) and parsed.code == code


@pytest.mark.parametrize(("text", "expected"), [
    ("2025-03-31", D(2025, 3, 31)), ("2025/3/1", D(2025, 3, 1)), ("20250331", D(2025, 3, 31)),
    ("31/03/2025", D(2025, 3, 31)), ("03/31/2025", D(2025, 3, 31)), ("31.03.2025", D(2025, 3, 31)),
    ("31 Mar 2025", D(2025, 3, 31)), ("31-Mar-25", D(2025, 3, 31)), ("Mar 31, 2025", D(2025, 3, 31)),
    ("March 3rd, 2025", D(2025, 3, 3)), ("2025-03-31T23:59:59Z", D(2025, 3, 31)),
    ("2025-03-31 14:05:00+02:00", D(2025, 3, 31)), ("05/05/2025", D(2025, 5, 5)),
    ("45658", D(2025, 1, 1)), ("45658.75", D(2025, 1, 1)),
])
def test_date_spellings(text: str, expected: date) -> None:
    parsed = parse_date(text)
    assert isinstance(parsed, ParsedDate) and parsed.value == expected


@pytest.mark.parametrize(("text", "code"), [
    ("01/02/2025", "ambiguous_date"), ("2025-02-29", "invalid_date"), ("32/01/2025", "invalid_date"),
    ("1899-12-31", "date_out_of_range"), ("10000", "date_out_of_range"), ("yesterday", "invalid_date"),
])
def test_bad_dates(text: str, code: str) -> None:
    parsed = parse_date(text)
    assert isinstance(parsed, ParseFailure) and parsed.code == code


def test_declared_date_format_resolves_ambiguity() -> None:
    assert parse_date("01/02/2025", "%d/%m/%Y") == ParsedDate(D(2025, 2, 1))
    assert parse_date("01/02/2025", "%m/%d/%Y") == ParsedDate(D(2025, 1, 2))


@pytest.mark.parametrize(("start", "end", "label"), [
    (D(2025, 1, 1), D(2025, 3, 31), "2025-Q1"), (D(2025, 2, 1), D(2025, 2, 28), "2025-02"),
    (D(2025, 2, 1), D(2025, 4, 30), "2025-02-01..2025-04-30"), (D(2025, 2, 3), D(2025, 2, 3), "2025-02-03"),
])
def test_period_labels(start: date, end: date, label: str) -> None:
    assert period_label(start, end) == label


@pytest.mark.parametrize(("text", "amount", "code"), [
    ("1234.56", "1234.56", None), ("$12,345.67", "12345.67", None), ("(1,200.00)", "-1200", None),
    ("-50", "-50", None), ("50-", "-50", None), ("1.2E+06", "1200000", None), ("1.5e-3", "0.0015", None),
    ("USD 99.99", "99.99", None), ("99.99 EUR", "99.99", None), ("€ 10.01", "10.01", None),
    ("US$1,000", "1000", None), ("12'345.50", "12345.5", None), ("\u22125", "-5", None), (".5", "0.5", None),
    ("-", "0", "dash_as_zero"), ("$ -", "0", "dash_as_zero"),
    ("NaN", None, "not_a_number"), ("#REF!", None, "not_a_number"), ("-inf", None, "not_a_number"),
    ("1,2", None, "decimal_comma"), ("1.234,56", None, "decimal_comma"), ("12.34567", None, "too_many_decimals"),
    ("1e-7", None, "too_many_decimals"), ("1e15", None, "amount_out_of_range"),
    ("100000000000000", None, "amount_out_of_range"), ("99999999999999.9999", "99999999999999.9999", None),
    ("1,23,456", None, "invalid_amount"), ("12abc", None, "invalid_amount"), ("(-5)", None, "invalid_amount"),
    ("1.2.3", None, "invalid_amount"),
])
def test_money(text: str, amount: str | None, code: str | None) -> None:
    values, codes = parse_money(pl.Series([text]))
    assert codes[0] == code
    assert values[0] == (Decimal(amount) if amount is not None else None)


def test_money_with_decimal_comma() -> None:
    values, codes = parse_money(pl.Series(["1.234,56", "-0,5", "(2.000,00)", "1234.56"]), decimal_comma=True)
    assert values.to_list()[:3] == [Decimal("1234.56"), Decimal("-0.5"), Decimal("-2000")]
    assert codes.to_list() == [None, None, None, "invalid_amount"]


@given(st.integers(min_value=-(10**17) + 1, max_value=10**17 - 1))
def test_money_round_trips_every_cent_amount_exactly(cents: int) -> None:
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    styles = [f"{sign}{whole}.{frac:02d}", f"{sign}${whole:,}.{frac:02d}",
              f"({whole:,}.{frac:02d})" if cents < 0 else f"{whole:,}.{frac:02d}"]
    values, codes = parse_money(pl.Series(styles))
    expected = Decimal(cents).scaleb(-2)
    if abs(cents) < 10**16:
        assert codes.to_list() == [None, None, None]
        assert values.to_list() == [expected] * 3
    else:
        assert codes.to_list() == ["amount_out_of_range"] * 3


@pytest.mark.parametrize(("text", "count", "code"), [
    ("12", 12, None), ("1,234", 1234, None), ("12.0", 12, None), ("1 000", 1000, None),
    ("12.5", None, "invalid_count"), ("-4", None, "invalid_count"), ("#VALUE!", None, "not_a_number"),
    ("lots", None, "invalid_count"),
])
def test_counts(text: str, count: int | None, code: str | None) -> None:
    values, codes = parse_count(pl.Series([text]))
    assert (values[0], codes[0]) == (count, code)


# ---------------------------------------------------------------------------------------------
# Structure: the vectorised path for plain files agrees with the csv module's record by record
# ---------------------------------------------------------------------------------------------

_CELL = st.text(alphabet=st.sampled_from(["a", "1", " ", ".", "-", "é", "$"]), max_size=4)
_LINE = st.lists(_CELL, min_size=1, max_size=6).map(",".join)


@given(header=st.lists(st.sampled_from(["period", "amount", "channel", "x", ""]), min_size=1, max_size=5),
       lines=st.lists(_LINE, min_size=0, max_size=12), crlf=st.booleans(), final_newline=st.booleans())
@settings(max_examples=300, deadline=None)
def test_plain_files_read_the_same_on_both_paths(tmp_path_factory: pytest.TempPathFactory, header: list[str],
                                                 lines: list[str], crlf: bool, final_newline: bool) -> None:
    from finance.ingest import csvfile

    newline = "\r\n" if crlf else "\n"
    text = newline.join([",".join(header), *lines]) + (newline if final_newline else "")
    path = tmp_path_factory.mktemp("plain") / "plain.csv"
    path.write_bytes(text.encode("utf-8"))
    _assert_same_reading(csvfile.read_raw(path), csvfile.read_raw(path, vectorised=False))


def _assert_same_reading(got: RawTable | list[Problem], expected: RawTable | list[Problem]) -> None:
    """Two readings of one file: the same problems (code and row), or the same headers, rows and cells."""
    if isinstance(expected, list):
        assert isinstance(got, list) and [(p.code, p.row) for p in got] == [(p.code, p.row) for p in expected]
    else:
        assert not isinstance(got, list)
        assert got.headers == expected.headers and got.ragged_rows == expected.ragged_rows
        assert got.sha256 == expected.sha256
        assert [(p.code, p.row) for p in got.problems] == [(p.code, p.row) for p in expected.problems]
        assert got.cells.equals(expected.cells)


_QUOTED_CELL = st.one_of(_CELL, st.lists(st.sampled_from(["a", ",", "\n", '""', " ", "é"]), max_size=5)
                         .map(lambda parts: '"' + "".join(parts) + '"'))


@given(header=st.lists(st.sampled_from(["period", "amount", "channel", "x", ""]), min_size=1, max_size=5),
       lines=st.lists(st.lists(_QUOTED_CELL, min_size=1, max_size=6).map(",".join), min_size=0, max_size=12),
       crlf=st.booleans(), block=st.integers(min_value=1, max_value=40))
@settings(max_examples=300, deadline=None)
def test_any_block_size_reads_the_same_records(tmp_path_factory: pytest.TempPathFactory, header: list[str],
                                               lines: list[str], crlf: bool, block: int) -> None:
    """Blocks end on record boundaries: tiny blocks give the cells, rows and problems of one block."""
    from finance.ingest import csvfile

    newline = "\r\n" if crlf else "\n"
    path = tmp_path_factory.mktemp("blocks") / "quoted.csv"
    path.write_bytes((newline.join([",".join(header), *lines]) + newline).encode("utf-8"))
    whole = csvfile.read_raw(path)
    original = csvfile.BLOCK_BYTES
    csvfile.BLOCK_BYTES = block
    try:
        pieces = csvfile.read_raw(path)
    finally:
        csvfile.BLOCK_BYTES = original
    _assert_same_reading(pieces, whole)


def test_a_preview_reads_the_opening_block_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from finance.ingest import csvfile

    path = tmp_path / "spend.csv"
    path.write_text("period,category,amount\n" + "".join(f"2025-Q1,events,{i}.00\n" for i in range(100)))
    whole = csvfile.read_raw(path)
    assert not isinstance(whole, list)
    monkeypatch.setattr(csvfile, "BLOCK_BYTES", 64)  # a few rows a block
    opened = csvfile.preview(path, rows=2)
    assert not isinstance(opened, list)
    source, cells = opened
    assert source.headers == whole.headers and cells.equals(whole.cells.head(2))
    assert source.records < 20  # it stopped after the opening blocks, not at the end of the file
    broken = tmp_path / "broken.csv"
    broken.write_text('period,category,amount\n2025-Q1,"events,1.00\n')
    assert [(p.code, p.row) for p in csvfile.preview(broken)] == [("malformed_csv", 2)]  # type: ignore[union-attr]


_AMOUNT_TEXT = st.one_of(
    st.from_regex(r"-?\d{1,16}(\.\d{0,6})?", fullmatch=True),
    st.text(alphabet=st.sampled_from(["1", "0", "-", ".", ",", "$", " ", "(", ")", "e", "+"]), max_size=8),
)


@given(texts=st.lists(st.one_of(st.none(), _AMOUNT_TEXT), max_size=20))
@settings(max_examples=300, deadline=None)
def test_plain_amounts_read_natively_agree_with_the_full_parser(texts: list[str | None]) -> None:
    from finance.domain import money as values

    series = pl.Series("amount", texts, dtype=pl.String)
    for fast, full in ((values.parse_money, values._parse_money), (values.parse_count, values._parse_count)):
        amounts, codes = fast(series)
        expected_amounts, expected_codes = full(series)
        assert amounts.to_list() == expected_amounts.to_list()
        assert codes.to_list() == expected_codes.to_list()


def test_a_short_line_and_a_blank_extra_field_do_not_hide_each_other(tmp_path: Path) -> None:
    # Two data lines, one field short and one with a blank extra field: as many delimiters as a
    # regular block, but the short line is still ragged on both reading paths.
    from finance.ingest import csvfile

    path = tmp_path / "balanced.csv"
    path.write_bytes(b"period,period\n1\n,,")
    fast, slow = csvfile.read_raw(path), csvfile.read_raw(path, vectorised=False)
    _assert_same_reading(fast, slow)
    assert not isinstance(fast, list) and fast.ragged_rows == {2}
