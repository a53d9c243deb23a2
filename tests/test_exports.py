"""CSV and XLSX downloads: no text becomes a formula, numbers stay exact numbers, assumptions attached.

Files are read back the way a user's tools would: CSV with the csv module, XLSX with openpyxl.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import polars as pl
import pytest
from openpyxl.utils.escape import unescape

from finance.present.exports import MAX_COLUMN_WIDTH, neutralise, to_csv_bytes, to_xlsx_bytes

HOSTILE = ['=HYPERLINK("http://x","click")', "+SUM(A1:A2)", "-2+3", "@cmd", "\tx", "\rx"]
SAFE = ["Paid search", 'Brand, "premium" tier', "Café — 広告 ☕"]
AMOUNTS = [Decimal("1234.5678"), Decimal("-50.00"), Decimal("0.125"), Decimal("2.675"), Decimal("1000000.10"),
           Decimal("0.0001"), Decimal("-0.005"), None, Decimal("99999999.9999"), Decimal("12.34")]
CUSTOMERS = [3, 0, -7, None, 12, 1, 2, 3, 4, 2**40]
SHARES = [0.1, 1 / 3, -2.5, None, 1e-05, 0.30000000000000004, float("nan"), 2.0, 1e16, 0.0]
DAYS = [date(2025, 1, 31), None, date(2024, 2, 29), date(2025, 12, 31), None,
        date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3), date(2025, 1, 4), date(2025, 1, 5)]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _table() -> pl.DataFrame:
    return pl.DataFrame({
        "label": [*HOSTILE, *SAFE, None],
        "amount": pl.Series(AMOUNTS, dtype=pl.Decimal(18, 4)),
        "customers": pl.Series(CUSTOMERS, dtype=pl.Int64),
        "share": pl.Series(SHARES, dtype=pl.Float64),
        "day": pl.Series(DAYS, dtype=pl.Date),
    })


def _csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def _workbook(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data), data_only=False)


def _column(sheet: object, letter: str) -> list[object]:
    return [cell.value for cell in sheet[letter][1:]]  # type: ignore[index]


# --- neutralise -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_triggers_get_a_leading_quote(text: str) -> None:
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("text", [*SAFE, "", " =not first", "'already quoted", "1+1", "#REF!"])
def test_other_text_is_unchanged(text: str) -> None:
    assert neutralise(text) == text


# --- CSV --------------------------------------------------------------------------------------------------


def test_csv_is_utf8_with_bom_and_a_header_row() -> None:
    data = to_csv_bytes(_table())
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\xef\xbb\xbf") == 1
    assert _csv_rows(data)[0] == ["label", "amount", "customers", "share", "day"]


def test_csv_neutralises_hostile_text_and_keeps_other_text_intact() -> None:
    labels = [row[0] for row in _csv_rows(to_csv_bytes(_table()))[1:]]
    assert labels == [
        "'=HYPERLINK(\"http://x\",\"click\")", "'+SUM(A1:A2)", "'-2+3", "'@cmd", "'\tx", "'\rx",
        "Paid search", 'Brand, "premium" tier', "Café — 広告 ☕", "",
    ]


def test_csv_numbers_are_plain_unquoted_numbers() -> None:
    text = to_csv_bytes(_table()).decode("utf-8-sig")
    # The "-2+3" row: text quoted-prefixed, the negative amount a bare number, NaN share empty.
    assert "\r\n'-2+3,0.1250,-7,-2.5,2024-02-29\r\n" in text
    assert "\r\n'+SUM(A1:A2),-50.0000,0,0.3333333333333333,\r\n" in text
    assert "'-50" not in text and '"-50' not in text


def test_csv_decimals_round_trip_exactly_and_sum_to_the_frame_total() -> None:
    frame = _table()
    amounts = [row[1] for row in _csv_rows(to_csv_bytes(frame))[1:]]
    assert amounts[1] == "-50.0000"  # every digit of Decimal(18, 4), never an exponent
    assert amounts[5] == "0.0001"
    assert [Decimal(cell) if cell else None for cell in amounts] == AMOUNTS
    total = sum(Decimal(cell) for cell in amounts if cell)
    # 1234.5678 - 50 + 0.125 + 2.675 + 1000000.10 + 0.0001 - 0.005 + 99999999.9999 + 12.34
    assert total == frame["amount"].sum() == Decimal("101001199.8028")


def test_csv_ints_floats_dates_and_nulls() -> None:
    rows = _csv_rows(to_csv_bytes(_table()))[1:]
    assert [int(row[2]) if row[2] else None for row in rows] == CUSTOMERS
    # Floats as their shortest repr: they read back as the identical double; NaN is empty.
    assert [row[3] for row in rows] == ["0.1", "0.3333333333333333", "-2.5", "", "1e-05", "0.30000000000000004",
                                        "", "2.0", "1e+16", "0.0"]
    assert [float(row[3]) for row in rows if row[3]] == [s for s in SHARES if s is not None and s == s]
    assert [row[4] for row in rows][:5] == ["2025-01-31", "", "2024-02-29", "2025-12-31", ""]


# --- XLSX -------------------------------------------------------------------------------------------------


def test_xlsx_never_holds_a_formula() -> None:
    data = to_xlsx_bytes({"Channels": _table()}, {"note": "=cmd|' /C calc'!A0", "-x": "@y"}, ["amount"])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in archive.read(name) and b"<f " not in archive.read(name)
    book = _workbook(data)
    texts = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f"
                if isinstance(cell.value, str):
                    texts.append(unescape(cell.value))
    assert texts, "the workbook should hold text cells"
    for value in texts:
        assert not value.startswith(TRIGGERS), value
    assert book["Assumptions"]["A3"].value == "'-x"
    assert book["Assumptions"]["B2"].value == "'=cmd|' /C calc'!A0"


def test_xlsx_text_cells_are_neutralised_text() -> None:
    sheet = _workbook(to_xlsx_bytes({"Channels": _table()}))["Channels"]
    labels = [unescape(value) if isinstance(value, str) else value for value in _column(sheet, "A")]
    assert labels == [*("'" + text for text in HOSTILE), *SAFE, None]
    assert all(cell.data_type == "s" for cell in sheet["A"][1:10])


def test_xlsx_money_cells_are_numbers_rounded_to_cents_with_currency_format() -> None:
    sheet = _workbook(to_xlsx_bytes({"Channels": _table()}, money_columns=["amount"]))["Channels"]
    cells = sheet["B"][1:]
    # Half-up to cents: 0.125 -> 0.13 (banker's would give 0.12), 2.675 -> 2.68 (a float would give 2.67),
    # -0.005 -> -0.01 (away from zero), 99999999.9999 -> 100000000.00.
    assert [cell.value for cell in cells] == [1234.57, -50.0, 0.13, 2.68, 1000000.10, 0.0, -0.01, None,
                                             100000000.0, 12.34]
    for cell in cells:
        if cell.value is not None:
            assert cell.data_type == "n" and isinstance(cell.value, int | float)
            assert cell.number_format == "$#,##0.00"
    assert cells[1].value < 0


def test_xlsx_other_numbers_are_plain_numbers() -> None:
    sheet = _workbook(to_xlsx_bytes({"Channels": _table()}, money_columns=["amount"]))["Channels"]
    assert _column(sheet, "C") == CUSTOMERS
    assert all(cell.number_format == "General" for cell in sheet["C"][1:] + sheet["D"][1:])
    shares = _column(sheet, "D")
    assert shares[6] is None  # NaN is an empty cell, not text
    assert shares[:3] == [0.1, pytest.approx(1 / 3, rel=1e-15), -2.5]
    assert all(isinstance(value, int | float) for value in shares if value is not None)
    # Without money_columns the Decimal is written unrounded and unformatted.
    plain = _workbook(to_xlsx_bytes({"Channels": _table()}))["Channels"]
    assert plain["B2"].value == 1234.5678 and plain["B2"].number_format == "General"


def test_xlsx_dates_are_dates_and_nulls_are_empty() -> None:
    sheet = _workbook(to_xlsx_bytes({"Channels": _table()}))["Channels"]
    cells = sheet["E"][1:]
    assert [cell.value for cell in cells][:5] == [datetime(2025, 1, 31), None, datetime(2024, 2, 29),
                                                  datetime(2025, 12, 31), None]
    assert cells[0].is_date and cells[0].number_format == "yyyy-mm-dd"
    assert sheet["A11"].value is None and sheet["B9"].value is None and sheet["C5"].value is None


def test_xlsx_assumptions_sheet_lists_the_given_items_last() -> None:
    assumptions = {"default_gross_margin": Decimal("0.70"), "horizon_months": 36, "allocation": "spend",
                   "band_edges": (1.0, 3.0, 5.0), "as_of": date(2025, 3, 31), "include_refunds": True}
    book = _workbook(to_xlsx_bytes({"Channels": _table()}, assumptions))
    assert book.sheetnames == ["Channels", "Assumptions"]
    assert list(book["Assumptions"].values) == [
        ("assumption", "value"), ("default_gross_margin", 0.7), ("horizon_months", 36), ("allocation", "spend"),
        ("band_edges", "1.0, 3.0, 5.0"), ("as_of", datetime(2025, 3, 31)), ("include_refunds", True),
    ]
    assert _workbook(to_xlsx_bytes({"Channels": _table()})).sheetnames == ["Channels"]


def test_xlsx_sheet_names_are_legal_and_unique() -> None:
    frame = pl.DataFrame({"x": [1]})
    # A Mapping cannot hold one key twice, so the clashes are names equal after sanitising or ignoring case.
    sheets = {"CAC/Channel: 2025?": frame, "cac/channel: 2025?": frame, "CAC\\Channel* 2025[": frame,
              "Assumptions": frame, "L" * 40: frame, "L" * 35: frame, "'quoted'": frame, "History": frame,
              "": frame, "☕" * 20: frame}
    names = _workbook(to_xlsx_bytes(sheets, {"a": 1})).sheetnames
    assert names == ["CAC_Channel_ 2025_", "cac_channel_ 2025_ (2)", "CAC_Channel_ 2025_ (3)", "Assumptions (2)",
                     "L" * 31, "L" * 27 + " (2)", "quoted", "History_", "Sheet", "☕" * 20, "Assumptions"]
    assert len({name.casefold() for name in names}) == len(names)


def test_xlsx_header_bold_frozen_and_columns_fitted() -> None:
    frame = pl.DataFrame({"id": [1, 2], "note": ["short", "y" * 500], "amount": [Decimal("1234567.89")] * 2})
    sheet = _workbook(to_xlsx_bytes({"Notes": frame}, money_columns=["amount"]))["Notes"]
    assert sheet.freeze_panes == "A2"
    assert all(cell.font.b for cell in sheet[1]) and not sheet["B2"].font.b
    widths = {letter: sheet.column_dimensions[letter].width for letter in "ABC"}
    assert widths["A"] < 10  # "id" and one digit
    assert MAX_COLUMN_WIDTH <= widths["B"] < MAX_COLUMN_WIDTH + 1  # capped, not 500
    assert len("$1,234,567.89") < widths["C"] < 25


def test_xlsx_rejects_unknown_or_non_numeric_money_columns() -> None:
    with pytest.raises(ValueError, match=r"\['amont'\] are in no table"):
        to_xlsx_bytes({"Channels": _table()}, money_columns=["amont"])
    with pytest.raises(ValueError, match="'label' in table 'Channels' is String"):
        to_xlsx_bytes({"Channels": _table()}, money_columns=["label"])


def test_xlsx_cuts_text_over_excels_cell_limit_and_says_so() -> None:
    # 40,000 characters, and 20,000 characters that are two UTF-16 units each (Excel counts units)
    long, wide = "=x" + "x" * 39_998, "\U0001F600" * 20_000
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx_bytes({"Notes": pl.DataFrame({"note": [long, wide, "short"]})})))
    cells = [row[0].value for row in book["Notes"].iter_rows(min_row=2)]
    for cell, source in zip(cells[:2], (long, wide), strict=True):
        assert cell.endswith("[cut at Excel's 32,767-character cell limit]")
        assert len(cell.encode("utf-16-le")) // 2 <= 32_767
        kept = cell.removesuffix(" [cut at Excel's 32,767-character cell limit]")
        assert ("'" + source if source.startswith("=") else source).startswith(kept)
        assert len(kept.encode("utf-16-le")) // 2 > 32_000
    assert cells[2] == "short"


def test_a_download_carries_business_headers_and_values_rounded_by_unit() -> None:
    from finance.present.exports import for_people

    frame = pl.DataFrame({
        "period": [date(2025, 10, 1)], "period_label": ["2025-Q4"], "channel": ["=cmd"],
        "spend": [Decimal("1234.5650")], "new_customers": [3], "customers": [213.4292980789974],
        "cac": [Decimal("411.5216666667")], "ltv": [5269.398224], "ltv_cac": [5.016213], "roi": [4.016213],
        "payback_months": [6], "curve": [[1.0, 2.0]], "spend_events": [Decimal("10.005")],
    }, schema_overrides={"spend": pl.Decimal(38, 4), "cac": pl.Decimal(38, 10), "spend_events": pl.Decimal(38, 4)})
    table, money, percent = for_people(frame)
    assert table.columns == ["Period", "Channel", "Marketing spend", "New customers", "Projected new customers",
                             "Fully loaded CAC", "LTV", "LTV:CAC", "Marketing ROI", "Payback (months)",
                             "Spend: Events"]
    row = table.row(0, named=True)
    assert row["Marketing spend"] == Decimal("1234.57") and row["Spend: Events"] == Decimal("10.01")  # half-up
    assert row["Projected new customers"] == 213 and isinstance(row["Projected new customers"], int)
    assert row["Fully loaded CAC"] == Decimal("411.52") and row["LTV"] == Decimal("5269.40")
    assert row["LTV:CAC"] == 5.02 and row["Marketing ROI"] == 4.0162
    assert money == {"Marketing spend", "Fully loaded CAC", "LTV", "Spend: Events"} and percent == {"Marketing ROI"}
    assert row["Channel"] == "=cmd"  # still the data's text; the writers neutralise it
    yen, _, _ = for_people(frame.select("spend", "ltv"), "JPY")
    assert yen.row(0) == (Decimal("1235"), Decimal("5269"))  # yen have no minor unit
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx_bytes({"t": table}, money_columns=money,
                                                           percent_columns=percent)))
    header = [c.value for c in book["t"][1]]
    assert book["t"].cell(2, header.index("Marketing ROI") + 1).number_format == "0.0%"
    assert book["t"].cell(2, header.index("Channel") + 1).value == "'=cmd"
