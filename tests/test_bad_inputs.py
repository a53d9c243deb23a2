"""The bad-input corpus: every file is rejected with the exact problem, row and column, and
changes nothing; every tolerated oddity is normalised exactly.

Row numbers are the ones a spreadsheet shows: the header is row 1.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from finance.cli.commands import main
from finance.store.database import Store

from .conftest import DATA

BAD = DATA / "bad"
SEED = DATA / "seed_spend.csv"

# file, kind, extra CLI arguments, every error expected as (code, row, column as in the file)
REJECTED: list[tuple[str, str, list[str], set[tuple[str, int | None, str | None]]]] = [
    ("empty.csv", "spend", [], {("empty_file", None, None)}),
    ("header_only.csv", "spend", [], {("no_data_rows", 2, None)}),
    ("whitespace_only.csv", "spend", [], {("empty_file", None, None)}),
    ("binary_renamed.csv", "spend", [], {("not_text", None, None)}),
    ("ragged_short_row.csv", "spend", [], {("ragged_row", 3, None)}),
    ("ragged_long_row.csv", "spend", [], {("ragged_row", 4, None)}),
    ("duplicate_header.csv", "spend", [], {("duplicate_column", 1, "Cost")}),
    ("missing_amount_column.csv", "spend", [], {("missing_column", 1, "amount")}),
    ("unknown_category.csv", "spend", [], {("unknown_category", 3, "category")}),
    ("nan_inf_na_div0.csv", "spend", [], {("not_a_number", r, "amount") for r in (2, 3, 4, 5)}),
    ("ambiguous_date.csv", "spend", [], {("ambiguous_date", 2, "period")}),
    ("invalid_quarter_q5.csv", "spend", [], {("invalid_quarter", 3, "period")}),
    ("invalid_month.csv", "spend", [], {("invalid_period", 2, "period")}),
    ("fiscal_label_without_start.csv", "spend", [], {("fiscal_year_needed", 2, "period")}),
    # A column whose numbers read both ways (1,234.56 and 12,50) cannot be read safely: the rows that
    # differ from the first ones are named (a file reading one way only is read so: see below).
    ("mixed_decimal_marks.csv", "spend", [], {("mixed_decimal_marks", 4, "amount")}),
    ("too_many_decimals.csv", "spend", [], {("too_many_decimals", 2, "amount")}),
    ("missing_required_value.csv", "spend", [], {("missing_value", 3, "amount")}),
    ("text_amount.csv", "spend", [], {("invalid_amount", 2, "amount")}),
    # An amount in another currency is converted at import: with no rate stored for it, the file is refused.
    ("currency_mismatch.csv", "spend", [], {("fx_rate_missing", 3, "amount")}),
    ("invalid_currency.csv", "spend", [], {("invalid_currency", 2, "currency")}),
    ("double_sign.csv", "spend", [], {("invalid_amount", 2, "amount")}),
    ("amount_too_large.csv", "spend", [], {("amount_out_of_range", 2, "amount")}),
    ("blank_header_with_data.csv", "spend", [], {("blank_header", 1, "#3")}),
    ("date_before_1990.csv", "spend", [], {("date_out_of_range", 2, "period")}),
    ("many_problems.csv", "spend", [], {
        ("invalid_quarter", 3, "period"), ("unknown_category", 4, "category"),
        ("invalid_amount", 5, "amount"), ("missing_value", 6, "amount")}),
    ("unclosed_quote.csv", "spend", [], {("malformed_csv", 2, None)}),
    ("quoted_newline_then_error.csv", "spend", [], {("invalid_amount", 3, "amount")}),
    # A currency sign names the amount's currency (converted at import); ¥ alone may be yen or yuan, and
    # the reporting currency (USD here) is neither: refused, naming the row, before any rate is looked up.
    ("amount_in_another_currency.csv", "spend", [], {("ambiguous_currency", 3, "amount")}),
    ("funnel_negative_leads.csv", "funnel", [], {("invalid_count", 3, "leads")}),
    ("funnel_fractional_leads.csv", "funnel", [], {("invalid_count", 2, "leads")}),
    ("funnel_missing_channel_column.csv", "funnel", [], {("missing_column", 1, "channel")}),
    ("excel_error_in_count.csv", "funnel", [], {("not_a_number", 2, "leads")}),
    ("customers_duplicate_id.csv", "customers", [], {("duplicate_customer", 4, "customer_id")}),
    ("customers_impossible_date.csv", "customers", [], {("invalid_date", 2, "acquired_on")}),
    ("customers_mixed_date_orders.csv", "customers", [], {("ambiguous_date", 3, "acquired_on")}),
    ("revenue_text_margin.csv", "revenue", [], {("invalid_amount", 3, "gross_margin")}),
    ("revenue_missing_customer.csv", "revenue", [], {("missing_value", 3, "customer_id")}),
    ("unknown_category_mapped.csv", "spend", [], {("unknown_category", 2, "category")}),
    ("quarter_labels.csv", "spend", [], {("fiscal_year_needed", 5, "period")}),
    ("header_currency_mismatch.csv", "spend", [], {("fx_rate_missing", 2, "amount")}),
    ("ad_platform_export.csv", "spend", [], {("missing_column", 3, "category")}),
    # Over Excel's 32,767-character cell limit: no export could write it (was stored whole before).
    ("field_100kb.csv", "spend", [], {("text_too_long", 2, "description")}),
]


def _import(db: Path, kind: str, file: Path, *args: str,
            capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(["import", kind, str(file), "--db", str(db), "--format", "json", *args])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
def seeded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A store that already holds one import, so 'changes nothing' is a real claim."""
    db = tmp_path / "store.duckdb"
    code, report = _import(db, "spend", SEED, capsys=capsys)
    assert code == 0 and report["status"] == "imported"
    return db


def test_corpus_has_at_least_thirty_rejected_files() -> None:
    assert len(REJECTED) >= 30
    assert all((BAD / name).exists() for name, *_ in REJECTED)


@pytest.mark.parametrize(("name", "kind", "args", "expected"), REJECTED, ids=[r[0] for r in REJECTED])
def test_bad_file_is_rejected_naming_row_and_column_and_changes_nothing(
        seeded: Path, name: str, kind: str, args: list[str],
        expected: set[tuple[str, int | None, str | None]], capsys: pytest.CaptureFixture[str]) -> None:
    with Store(seeded) as store:
        before = store.snapshot()
    code, report = _import(seeded, kind, BAD / name, *args, capsys=capsys)
    assert code == 2
    assert report["status"] == "rejected"
    assert report["import_id"] is None
    assert {(e["code"], e["row"], e["column"]) for e in report["errors"]} == expected
    for error in report["errors"]:
        assert error["message"] and error["expected"]
    with Store(seeded) as store:
        assert store.snapshot() == before


def test_rejection_report_quotes_the_offending_value(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, report = _import(seeded, "spend", BAD / "many_problems.csv", capsys=capsys)
    values = {(e["row"], e["value"]) for e in report["errors"]}
    assert {(3, "2025-Q9"), (4, "bogus"), (5, "12.3.4")} <= values


def test_unknown_category_suggests_the_closest(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, report = _import(seeded, "spend", BAD / "unknown_category.csv", capsys=capsys)
    error = report["errors"][0]
    assert "it looks like Personnel ('personnel')" in error["message"]
    # the message is in plain words; the command line's own way to fix it comes apart
    assert "--" not in error["message"] and "--category-map" in error["fix"]


def test_missing_column_suggests_a_mapping(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, report = _import(seeded, "spend", BAD / "missing_amount_column.csv", capsys=capsys)
    error = next(e for e in report["errors"] if e["code"] == "missing_column")
    assert "'Net Amt' may be it" in error["message"] and error["suggestion"] == "Net Amt"
    assert error["fix"] == 'map the header with --map "Net Amt=amount"'


def test_text_report_names_file_row_column_and_value(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["import", "spend", str(BAD / "text_amount.csv"), "--db", str(seeded)])
    out = capsys.readouterr().out
    assert code == 2
    assert "text_amount.csv, row 2, column 'amount': [invalid_amount] value 'twelve hundred'" in out
    assert "nothing was imported" in out


# --- tolerated oddities: accepted, and normalised exactly ---------------------------------

def _accept(db: Path, kind: str, name: str, *args: str,
            capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    code, report = _import(db, kind, BAD / name, *args, capsys=capsys)
    assert code == 0, report["errors"]
    assert report["status"] == "imported"
    with Store(db) as store:
        rows = store.frame(kind).filter(store.frame(kind)["import_id"] == report["import_id"]).to_dicts()
    return report, rows


def test_mapped_header_and_category_map_are_applied(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report, rows = _accept(db_path, "spend", "missing_amount_column.csv", "--map", "Net Amt=amount",
                           capsys=capsys)
    assert report["total"] == "1000.00"
    other = db_path.with_name("other.duckdb")
    report, rows = _accept(other, "spend", "unknown_category_mapped.csv", "--category-map",
                           str(BAD / "category_map.csv"), capsys=capsys)
    assert [r["category"] for r in rows] == ["influencer"]


def test_utf8_bom_is_stripped_from_the_first_header(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report, rows = _accept(db_path, "spend", "bom_utf8.csv", capsys=capsys)
    assert report["total"] == "1000.00"
    assert rows[0]["period_start"].isoformat() == "2025-01-01"


def test_utf16_tab_delimited_excel_unicode_text(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report, rows = _accept(db_path, "spend", "utf16_tab.txt", capsys=capsys)
    assert report["total"] == "1334.49"  # 1,234.50 + 99.99
    assert [(r["category"], r["vendor"]) for r in rows] == [
        ("digital_advertising", "Meta"), ("martech", "Café Tools")]


def test_cp1252_text_is_decoded_with_a_warning(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report, rows = _accept(db_path, "spend", "cp1252.csv", capsys=capsys)
    assert rows[0]["vendor"] == "Café Müller – Design"
    assert rows[0]["description"] == "Brochüre"
    assert rows[0]["category"] == "creative_services"
    assert [w["code"] for w in report["warnings"]] == ["encoding"]


def test_declared_decimal_comma_with_semicolons(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report, rows = _accept(db_path, "spend", "semicolon_decimal_comma.csv", "--decimal-comma",
                           capsys=capsys)
    assert [r["amount"] for r in rows] == [Decimal("1234.56"), Decimal("-50"), Decimal("-1000.10")]
    assert report["total"] == "184.46"  # 1234.56 - 50.00 - 1000.10


def test_undeclared_decimal_comma_is_detected_with_a_warning(db_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    # Rejected before (decimal_comma): 1234,56 reads only with a decimal comma, so the column is read so.
    report, rows = _accept(db_path, "spend", "decimal_comma_undeclared.csv", capsys=capsys)
    assert [r["amount"] for r in rows] == [Decimal("1234.56")]
    assert [(w["code"], w["row"], w["column"], w["count"]) for w in report["warnings"]] == [
        ("decimal_comma_detected", 2, "amount", 1)]


def test_semicolons_and_decimal_commas_need_no_options(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The same file and figures as with --decimal-comma above, read without it, with one warning.
    report, rows = _accept(db_path, "spend", "semicolon_decimal_comma.csv", capsys=capsys)
    assert [r["amount"] for r in rows] == [Decimal("1234.56"), Decimal("-50"), Decimal("-1000.10")]
    assert report["total"] == "184.46"  # 1234.56 - 50.00 - 1000.10
    assert [(w["code"], w["row"], w["count"]) for w in report["warnings"] if w["code"] != "credit"] == [
        ("decimal_comma_detected", 2, 3)]


def test_mixed_decimal_marks_name_the_row_that_decided(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, report = _import(seeded, "spend", BAD / "mixed_decimal_marks.csv", capsys=capsys)
    [error] = report["errors"]
    assert error["value"] == "12,50"
    assert "decimal comma" in error["message"] and "row 2 writes '1,234.56'" in error["message"]


def test_currency_strings_credits_and_scientific_notation(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report, rows = _accept(db_path, "spend", "currency_strings.csv", capsys=capsys)
    assert [r["amount"] for r in rows] == [
        Decimal("12345.67"), Decimal("-1200"), Decimal("-50"), Decimal("1200000"),
        Decimal("99.99"), Decimal("10.01")]
    # 12345.67 - 1200.00 - 50.00 + 1200000.00 + 99.99 + 10.01
    assert report["total"] == "1211205.67"
    assert [(w["code"], w["row"]) for w in report["warnings"]] == [("credit", 3), ("credit", 4)]
    assert [r["category"] for r in rows] == [
        "digital_advertising", "personnel", "media_relations", "digital_advertising", "martech", "website"]


def test_quarter_spellings_and_fiscal_quarters(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report, rows = _accept(db_path, "spend", "quarter_labels.csv", "--fiscal-year-start", "4",
                           capsys=capsys)
    spans = [(r["period_start"].isoformat(), r["period_end"].isoformat()) for r in rows]
    assert spans == [
        ("2025-01-01", "2025-03-31"), ("2025-04-01", "2025-06-30"), ("2025-07-01", "2025-09-30"),
        # FY26 starts 2025-04-01 with an April fiscal year, so its Q2 is July-September 2025
        ("2025-07-01", "2025-09-30")]
    assert [p["period"] for p in report["periods"]] == ["2025-Q1", "2025-Q2", "2025-Q3"]
    assert [p["total"] for p in report["periods"]] == ["1.00", "2.00", "7.00"]


def test_excel_serial_dates(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, rows = _accept(db_path, "customers", "excel_serial_dates.csv", capsys=capsys)
    # 45658 days after 1899-12-30 is 2025-01-01; 45688.5 is 2025-01-31 at noon
    assert [r["acquired_on"].isoformat() for r in rows] == ["2025-01-01", "2025-01-31"]


def test_total_line_is_dropped_with_a_warning(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report, rows = _accept(db_path, "spend", "trailing_total_line.csv", capsys=capsys)
    assert report["rows"] == 2 and report["total"] == "1250.00"
    assert [(w["code"], w["row"]) for w in report["warnings"]] == [("total_row_dropped", 4)]
    assert [r["source_row"] for r in rows] == [2, 3]


def test_exact_duplicate_rows_are_kept_with_a_warning(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report, rows = _accept(db_path, "spend", "exact_duplicate_rows.csv", capsys=capsys)
    assert report["rows"] == 2 and report["total"] == "500.00"
    assert [(w["code"], w["row"]) for w in report["warnings"]] == [("duplicate_row", 3)]
    assert [(r["source_row"], r["amount"]) for r in rows] == [(2, Decimal(250)), (3, Decimal(250))]


def test_formula_looking_text_is_stored_literally(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, rows = _accept(db_path, "spend", "formula_text.csv", capsys=capsys)
    assert rows[0]["vendor"] == '=HYPERLINK("http://x.example","click")'
    assert rows[0]["description"] == "+SUM(A1:A2)"


def test_sql_looking_text_is_stored_literally(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, rows = _accept(db_path, "spend", "sql_text.csv", capsys=capsys)
    assert rows[0]["vendor"] == "Robert'); DROP TABLE spend_rows;--"
    assert rows[0]["description"] == "1; DELETE FROM imports"
    with Store(db_path) as store:
        assert store.one("SELECT count(*) FROM imports") == (1,)


def test_crlf_line_endings(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report, rows = _accept(db_path, "spend", "crlf_line_endings.csv", capsys=capsys)
    assert report["total"] == "2000.00"
    assert all(r["description"] is None for r in rows)


def test_ambiguous_dates_read_with_a_declared_format(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, rows = _accept(db_path, "spend", "ambiguous_date_with_format.csv", "--date-format", "%d/%m/%Y",
                      capsys=capsys)
    assert rows[0]["period_start"].isoformat() == "2025-02-01"


def test_messy_headers_match_their_columns(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report, rows = _accept(db_path, "spend", "headers_messy.csv", capsys=capsys)
    assert (rows[0]["category"], rows[0]["channel"], rows[0]["amount"]) == ("events", "Events", Decimal(700))
    assert report["warnings"] == []


def test_blank_rows_are_skipped_and_rows_keep_spreadsheet_numbers(db_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    report, rows = _accept(db_path, "spend", "blank_rows_inside.csv", capsys=capsys)
    assert [r["source_row"] for r in rows] == [2, 5]
    assert [(w["code"], w["row"], w["count"]) for w in report["warnings"]] == [("blank_row_skipped", 3, 2)]


def test_ad_platform_export_with_title_lines_and_total(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report, rows = _accept(db_path, "spend", "ad_platform_export.csv", "--category", "paid search",
                           "--channel", "Paid Search", capsys=capsys)
    # the two title lines are skipped, the header is row 3, "Total: Account" (row 6) is dropped
    assert [r["source_row"] for r in rows] == [4, 5]
    assert report["total"] == "2000.00"  # 1,234.56 + 765.44
    assert {(r["category"], r["channel"]) for r in rows} == {("digital_advertising", "Paid Search")}
    assert [(w["code"], w["row"]) for w in report["warnings"]] == [
        ("preamble_skipped", 1), ("unknown_column", 3), ("unknown_column", 3), ("unknown_column", 3),
        ("unknown_column", 3), ("total_row_dropped", 6)]


def test_an_exact_duplicate_customer_is_stored_once(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # blank channel in both copies: equal, not unknown
    report, rows = _accept(db_path, "customers", "customers_exact_duplicate.csv", capsys=capsys)
    assert [r["customer_id"] for r in rows] == ["C1", "C2"]
    assert report["total"] == 2
    assert [(w["code"], w["row"], w["value"]) for w in report["warnings"]] == [("duplicate_customer_row", 4, "C1")]


def test_a_total_line_is_recognised_in_any_column_when_it_has_no_period(
        db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A ledger export's last line: ",,,,Total,"$2,903,962.99"": the word is in a column the contract does
    # not know, and the line has no period. Counted in, it would double the quarter.
    report, rows = _accept(db_path, "spend", "ledger_total_in_last_columns.csv", capsys=capsys)
    assert report["total"] == "2903962.99" and len(rows) == 2
    assert [(w["code"], w["row"]) for w in report["warnings"] if w["code"] == "total_row_dropped"] == [
        ("total_row_dropped", 4)]


def test_a_vendor_named_total_is_data_not_a_total_line(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report, rows = _accept(db_path, "spend", "vendor_named_total.csv", capsys=capsys)
    assert [r["vendor"] for r in rows] == ["Total", "x"]
    assert report["total"] == "30.00"
    assert report["warnings"] == []


def test_classic_mac_line_endings(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report, rows = _accept(db_path, "spend", "classic_mac_line_endings.csv", capsys=capsys)
    assert report["total"] == "15.50"
    assert [r["source_row"] for r in rows] == [2, 3]


def test_an_inch_mark_is_text_and_later_errors_keep_their_row(seeded: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _import(seeded, "spend", BAD / "inch_mark_then_error.csv", capsys=capsys)
    assert code == 2
    assert [(e["code"], e["row"], e["column"], e["value"]) for e in report["errors"]] == [
        ("invalid_amount", 3, "amount", "oops")]
    other = seeded.with_name("other.duckdb")
    fixed_copy = seeded.parent / "inch_ok.csv"
    fixed_copy.write_text((BAD / "inch_mark_then_error.csv").read_text().replace("oops", "7"))
    code, report = _import(other, "spend", fixed_copy, capsys=capsys)
    assert code == 0
    with Store(other) as store:
        assert store.frame("spend")["vendor"].to_list() == ['5" screen', "x"]
