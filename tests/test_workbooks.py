"""Workbooks and text in other encodings, as finance teams really have them.

Every workbook here is a real file written by a spreadsheet library (xlsxwriter, openpyxl), or an
OpenDocument spreadsheet written to its specification (no ODS writer is installed); every text file
is bytes encoded by Python's own codecs. Amounts are checked to the cent against a sum made apart.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import random
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import openpyxl
import pytest
import xlsxwriter

from finance.cli.commands import main
from finance.ingest.encodings import ENCODINGS, Reading, as_written, detect_legacy, encoding_name
from finance.ingest.prepare import ImportOptions, prepare
from finance.ingest.reader import preview
from finance.ingest.workbook import cell_text, number_text
from finance.store.database import Store

CHANNELS = [("paid search", "Paid Search", "Google Ireland"), ("events", "Events", "Expo Events Inc"),
            ("personnel", None, "ADP"), ("content creation", "Content", "Studio North"),
            ("paid social", "Paid Social", "Meta Platforms")]


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, dict[str, Any]]:
    """``python -m finance`` in this process, its JSON report."""
    code = main([str(a) for a in args] + ["--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def budget_lines(count: int = 36, seed: int = 7) -> list[tuple[datetime.date, str, str | None, str, int]]:
    """(month end, category, channel, vendor, cents): a year of a budget, three lines a month."""
    rng = random.Random(seed)
    lines = []
    for index in range(count):
        month = index // 3 + 1
        end = datetime.date(2025 + month // 13, (month - 1) % 12 + 1, 1) + datetime.timedelta(days=31)
        end = end.replace(day=1) - datetime.timedelta(days=1)
        category, channel, vendor = CHANNELS[rng.randrange(len(CHANNELS))]
        lines.append((end, category, channel, vendor, rng.randrange(-20_000, 9_000_000)))
    return lines


def write_budget(path: Path, lines: list[tuple[datetime.date, str, str | None, str, int]], *,
                 formulas: set[int] = frozenset(), sheets: tuple[str, ...] = ()) -> None:  # type: ignore[assignment]
    """An XLSX budget as a finance team keeps one: a title, a blank row, the header on row 3, dates as
    Excel dates, amounts as numbers in a currency format, some lines a formula (=ROUND(...), its cached
    value stored as Excel stores it), and a SUM total line at the bottom. ``sheets``: other sheets
    before the budget's."""
    book = xlsxwriter.Workbook(str(path))
    for name in sheets:
        book.add_worksheet(name).write("A1", f"{name}: nothing to import here")
    sheet = book.add_worksheet("Budget 2025")
    dates = book.add_format({"num_format": "d mmm yyyy"})
    money = book.add_format({"num_format": "$#,##0.00;($#,##0.00)"})
    sheet.write("A1", "Northwind Analytics - marketing budget 2025 (USD)")
    sheet.write_row("A3", ["Month", "Category", "Channel", "Vendor", "Amount"])
    for index, (end, category, channel, vendor, cents) in enumerate(lines):
        row = 3 + index  # zero-based: spreadsheet row 4 onwards
        sheet.write_datetime(row, 0, datetime.datetime.combine(end, datetime.time()), dates)
        sheet.write(row, 1, category)
        sheet.write(row, 2, channel)
        sheet.write(row, 3, vendor)
        amount = Decimal(cents).scaleb(-2)
        if index in formulas:  # =ROUND(x*1,2) of the amount: Excel keeps its value, read as the cached value
            sheet.write_formula(row, 4, f"=ROUND({amount}*1,2)", money, float(amount))
        else:
            sheet.write_number(row, 4, float(amount), money)
    last = 3 + len(lines)
    total = sum((Decimal(line[-1]) for line in lines), Decimal(0)).scaleb(-2)
    sheet.write(last, 0, "Total")
    sheet.write_formula(last, 4, f"=SUM(E4:E{last})", money, float(total))
    book.close()


def test_an_xlsx_budget_imports_exactly_to_the_cent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = budget_lines()
    path = tmp_path / "budget-2025.xlsx"
    write_budget(path, lines, formulas={0, 5, 17, 35})
    db = tmp_path / "s.duckdb"
    code, report = run(capsys, "import", "spend", path, "--db", db)
    assert code == 0, report["errors"][:3]
    expected = sum((Decimal(line[-1]) for line in lines), Decimal(0)).scaleb(-2)
    assert Decimal(report["total"]) == expected  # the SUM line is dropped, not counted twice
    assert report["rows"] == len(lines)
    warnings = {w["code"]: w for w in report["warnings"]}
    assert warnings["total_row_dropped"]["row"] == 4 + len(lines)  # the row Excel shows
    assert warnings["preamble_skipped"]["row"] == 1
    with Store(db, read_only=True) as store:
        rows = store.frame("spend").sort("source_row")
        logged = store.imports().row(0, named=True)
    assert rows["source_row"].to_list() == list(range(4, 4 + len(lines)))
    assert rows["amount"].to_list() == [Decimal(line[-1]).scaleb(-2) for line in lines]
    assert rows["period_start"].to_list() == [line[0] for line in lines]  # an Excel date is its day
    assert rows["channel"].to_list() == [line[2] for line in lines]
    assert logged["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()  # the workbook's own bytes

    code, again = run(capsys, "import", "spend", path, "--db", db)
    assert (code, again["status"]) == (0, "unchanged")


def test_a_bad_cell_is_named_by_the_row_excel_shows(tmp_path: Path) -> None:
    path = tmp_path / "budget.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write("B2", "Spend report")  # a title in B2, the table from column B
    sheet.write_row("B5", ["Period", "Category", "Channel", "Amount"])
    sheet.write_row("B6", ["2025-Q1", "events", "Events", 100.25])
    sheet.write_row("B8", ["2025-Q1", "events", "Events", "twelve"])  # a blank row 7 above it
    sheet.write_row("B9", ["2025-Q1", "nonsense", "Events", 1])
    book.close()
    prepared = prepare("spend", path)
    assert {(p.code, p.row, p.column) for p in prepared.errors} == {
        ("invalid_amount", 8, "Amount"), ("unknown_category", 9, "Category")}
    assert {(p.code, p.row) for p in prepared.warnings} == {("preamble_skipped", 1), ("blank_row_skipped", 7)}


def test_number_cells_read_as_excel_shows_them() -> None:
    assert number_text(0.1 + 0.2) == "0.3"  # a float's binary noise is no amount
    assert number_text(1234567.8900000001) == "1234567.89"
    assert number_text(12.0) == "12"
    assert number_text(-0.0) == "0"
    assert number_text(1e-05) == "0.00001"  # plain digits; more than 4 decimals is then refused
    assert number_text(1e20) == "100000000000000000000"  # and out of range
    assert number_text(45747.5) == "45747.5"
    assert cell_text(datetime.datetime(2025, 3, 31)) == "2025-03-31"
    assert cell_text(datetime.datetime(2025, 3, 31, 14, 5)) == "2025-03-31 14:05:00"
    assert cell_text(True) == "TRUE"


def test_float_noise_stored_by_a_library_is_read_as_the_amount(tmp_path: Path) -> None:
    path = tmp_path / "noisy.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["period", "category", "channel", "amount"])
    sheet.append(["2025-01", "events", "Events", 0.1 + 0.2])  # stored as 0.30000000000000004
    sheet.append(["2025-01", "events", "Events", 1234567.8900000001])
    sheet.append(["2025-01", "events", "Events", 100.0 / 3])  # 33.333333333333336: more than 4 decimals
    book.save(path)
    prepared = prepare("spend", path)
    assert [(p.code, p.row, p.value) for p in prepared.errors] == [("too_many_decimals", 4, "33.3333333333333")]
    path_ok = tmp_path / "ok.xlsx"
    sheet.delete_rows(4)
    book.save(path_ok)
    prepared = prepare("spend", path_ok)
    assert prepared.ok and prepared.rows["amount"].to_list() == [Decimal("0.3"), Decimal("1234567.89")]


def _ods(path: Path, sheets: dict[str, list[list[Any]]]) -> None:
    """An OpenDocument spreadsheet, written to the specification: typed cells (string, float, date) and
    formulas with their computed values, as LibreOffice saves them."""
    def cell(value: Any) -> str:
        if value is None:
            return "<table:table-cell/>"
        if isinstance(value, datetime.date):
            return (f'<table:table-cell office:value-type="date" office:date-value="{value.isoformat()}">'
                    f"<text:p>{value:%d/%m/%Y}</text:p></table:table-cell>")
        if isinstance(value, tuple):  # (formula, its value)
            return (f'<table:table-cell table:formula="{escape(value[0])}" office:value-type="float" '
                    f'office:value="{value[1]!r}"><text:p>{value[1]}</text:p></table:table-cell>')
        if isinstance(value, float):
            return (f'<table:table-cell office:value-type="float" office:value="{value!r}">'
                    f"<text:p>{value:,.2f}</text:p></table:table-cell>")
        return f'<table:table-cell office:value-type="string"><text:p>{escape(value)}</text:p></table:table-cell>'

    tables = "".join(
        f'<table:table table:name="{escape(name)}">' + "".join(
            "<table:table-row>" + ("".join(cell(v) for v in row) or "<table:table-cell/>") + "</table:table-row>"
            for row in rows) + "</table:table>" for name, rows in sheets.items())
    spaces = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
              'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
              'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"')
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {spaces} office:version="1.2">'
               f"<office:body><office:spreadsheet>{tables}</office:spreadsheet></office:body>"
               "</office:document-content>")
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
                '<manifest:file-entry manifest:full-path="/" '
                'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
                '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                "</manifest:manifest>")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
        archive.writestr("content.xml", content, zipfile.ZIP_DEFLATED)


def test_an_ods_budget_imports_exactly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = budget_lines(12, seed=11)
    rows: list[list[Any]] = [["Marketing budget"], [], ["Date", "Category", "Channel", "Vendor", "Amount"]]
    for index, (end, category, channel, vendor, cents) in enumerate(lines):
        amount = float(Decimal(cents).scaleb(-2))
        rows.append([end, category, channel, vendor, (f"of:=ROUND([.E{index + 4}];2)", amount) if index % 4 == 0
                     else amount])
    total = sum((Decimal(line[-1]) for line in lines), Decimal(0)).scaleb(-2)
    rows.append(["Total", None, None, None, (f"of:=SUM([.E4:.E{len(lines) + 3}])", float(total))])
    path = tmp_path / "budget.ods"
    _ods(path, {"Budget": rows})
    code, report = run(capsys, "import", "spend", path, "--db", tmp_path / "s.duckdb")
    assert code == 0, report["errors"][:3]
    assert Decimal(report["total"]) == total and report["rows"] == len(lines)
    assert [p["period"] for p in report["periods"]] == sorted({f"{line[0]:%Y-%m}" for line in lines})


def test_the_sheet_is_chosen_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = budget_lines(6)
    path = tmp_path / "book.xlsx"
    write_budget(path, lines, sheets=("Read me",))
    db = tmp_path / "s.duckdb"
    code, report = run(capsys, "import", "spend", path, "--db", db)  # the first sheet: no budget there
    assert code == 2 and {e["code"] for e in report["errors"]} == {"no_data_rows"}
    code, report = run(capsys, "import", "spend", path, "--db", db, "--sheet", "Nope")
    assert code == 2 and [e["code"] for e in report["errors"]] == ["unknown_sheet"]
    assert report["errors"][0]["message"] == ("the workbook has no sheet named 'Nope'; its sheets are "
                                              "'Read me', 'Budget 2025'")
    assert report["errors"][0]["fix"] == "pass --sheet NAME with one of the workbook's sheets"
    assert not db.exists() or Store(db, read_only=True).imports().is_empty()
    code, report = run(capsys, "import", "spend", path, "--db", db, "--sheet", "Budget 2025")
    assert code == 0 and Decimal(report["total"]) == sum(Decimal(line[-1]) for line in lines) / 100
    # The other sheet of the same workbook is another import, not the same one unchanged.
    code, report = run(capsys, "import", "spend", path, "--db", db, "--sheet", "Budget 2025")
    assert report["status"] == "unchanged"
    opened = preview(path, sheet="Budget 2025")
    assert not isinstance(opened, list)
    assert opened[0].sheets == ["Read me", "Budget 2025"] and opened[0].sheet == "Budget 2025"


@pytest.mark.parametrize(("name", "data", "words"), [
    ("truncated.xlsx", None, "cannot be read as a workbook"),
    ("text.xlsx", b"period,category,amount\n2025-01,events,1\n", "cannot be read as a workbook"),
    ("locked.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500) + "EncryptedPackage".encode("utf-16-le")
     + bytes(100), "encrypted"),
    ("far.xlsx", "far", "more memory than a sheet may take"),
])
def test_an_unreadable_workbook_is_refused_and_nothing_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, data: bytes | str | None, words: str) -> None:
    path = tmp_path / name
    if data is None:
        write_budget(path, budget_lines(6))
        path.write_bytes(path.read_bytes()[:700])
    elif data == "far":  # two cells, 17 billion apart: the reader's range would need 500 GB
        book = xlsxwriter.Workbook(str(path))
        book.add_worksheet().write("A1", "period")
        book.worksheets()[0].write("XFD1048576", 1)
        book.close()
    else:
        path.write_bytes(data)  # type: ignore[arg-type]
    db = tmp_path / "s.duckdb"
    code, report = run(capsys, "import", "spend", path, "--db", db)
    assert code == 2
    assert [e["code"] for e in report["errors"]] == ["unreadable_workbook"]
    assert words in report["errors"][0]["message"]
    assert not db.exists() or Store(db, read_only=True).imports().is_empty()


# Text in the encodings Japanese, Chinese and European ledgers are saved in.
JAPANESE = [("2025-01", "digital advertising", "検索広告", "株式会社電通", "120000"),
            ("2025-01", "events", "展示会", "東京ビッグサイト", "450000"),
            ("2025-02", "digital advertising", "リスティング広告", "ヤフー株式会社", "98000.50"),
            ("2025-02", "personnel", "", "人件費（マーケティング部）", "1200000")]
CHINESE = [("2025-01", "digital advertising", "百度推广", "北京百度网讯科技有限公司", "8800.00"),
           ("2025-01", "digital advertising", "微信广告", "腾讯科技（深圳）有限公司", "12000.00"),
           ("2025-02", "events", "展会", "上海国际会展中心", "30000.00"),
           ("2025-02", "media relations", "公关", "蓝色光标", "5000.25")]
TAIWANESE = [("2025-01", "digital advertising", "臉書廣告", "台灣臉書股份有限公司", "15000"),
             ("2025-01", "events", "展覽會", "台北世界貿易中心", "42000"),
             ("2025-02", "digital advertising", "搜尋廣告", "台灣谷歌有限公司", "9800.75")]
EUROPEAN = [("2025-01", "events", "Événements", "Šešelj d.o.o.", "1000"),
            ("2025-01", "creative services", "Création", "Œuvre Studio Zoë", "250.40"),
            ("2025-02", "events", "Messe München", "Müller & Söhne €uro", "99.99")]


def _csv(lines: list[tuple[str, ...]], header: str = "period,category,channel,vendor,amount") -> str:
    return header + "\r\n" + "".join(",".join(line) + "\r\n" for line in lines)


@pytest.mark.parametrize(("encoding", "lines"), [
    ("shift_jis", JAPANESE), ("euc-jp", JAPANESE), ("gb18030", CHINESE), ("big5", TAIWANESE),
    ("iso-8859-15", EUROPEAN), ("windows-1252", EUROPEAN)])
def test_text_in_other_encodings_reads_the_right_characters(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            encoding: str, lines: list[tuple[str, ...]]) -> None:
    path = tmp_path / f"{encoding}.csv"
    path.write_bytes(_csv(lines).encode(ENCODINGS[encoding][0]))
    code, report = run(capsys, "import", "spend", path, "--db", tmp_path / "s.duckdb")
    assert code == 0, report["errors"]
    assert [w["message"] for w in report["warnings"] if w["code"] == "encoding"] == [
        f"the file is not UTF-8; it was read as {ENCODINGS[encoding][1]}"]
    with Store(tmp_path / "s.duckdb", read_only=True) as store:
        rows = store.frame("spend").sort("source_row")
    assert rows["vendor"].to_list() == [line[3] for line in lines]
    assert rows["channel"].to_list() == [line[2] or None for line in lines]
    assert Decimal(report["total"]) == sum(Decimal(line[4]) for line in lines)


def test_japanese_headers_read_in_a_cp932_file(tmp_path: Path) -> None:
    """The file is read (it was refused as not UTF-8); which column each header is belongs to the schema."""
    path = tmp_path / "経費.csv"
    lines = [(period, category, channel, amount) for period, category, channel, _, amount in JAPANESE]
    path.write_bytes(_csv(lines, "期間,費目,チャネル,金額").encode("cp932"))
    opened = preview(path)
    assert not isinstance(opened, list)
    source, cells = opened
    assert (source.encoding, source.headers) == ("shift_jis", ["期間", "費目", "チャネル", "金額"])
    assert cells["c2"].to_list() == ["検索広告", "展示会", "リスティング広告", ""]


def test_a_yen_sign_written_on_japanese_windows_reads_as_yen(tmp_path: Path) -> None:
    """cp932 writes ¥ as byte 0x5C, which decodes as a backslash: in a Shift_JIS file it is read as ¥."""
    path = tmp_path / "経費.csv"
    text = ("期間,費目,チャネル,金額\n2026年1月,広告宣伝費,検索広告,\"\\1,234,567\"\n"
            "2026年1月,人件費,,3000000\n2026年2月,展示会,展示会,\"\\250,000\"\n")
    data = text.encode("cp932")
    assert data.count(b"\\") == 2  # the yen sign, as Japanese Windows writes it
    path.write_bytes(data)
    db = tmp_path / "jpy.duckdb"
    with Store(db) as store:
        store.set_setting("currency", "JPY")
        result = store.import_file("spend", path, ImportOptions(currency="JPY"))
        assert result.status == "imported", [p.describe() for p in result.errors]
        amounts = store.frame("spend").sort("source_row")["amount"].to_list()
    assert amounts == [Decimal(1_234_567), Decimal(3_000_000), Decimal(250_000)]
    # the same bytes read as UTF-8 text elsewhere keep their backslash: only Shift_JIS is read so
    assert as_written(Reading("a\\b", "utf-8")).text == "a\\b"
    assert as_written(Reading("a\\b", "shift_jis")).text == "a\u00a5b"


def test_a_short_file_that_reads_in_two_encodings_asks_which(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Four Chinese characters read as GB18030 (百度推广) and as EUC-JP (為業容鴻): no guess is imported."""
    path = tmp_path / "short.csv"
    path.write_bytes("period,category,channel,amount\n2025-01,digital advertising,百度推广,1000\n".encode("gb18030"))
    db = tmp_path / "s.duckdb"
    code, report = run(capsys, "import", "spend", path, "--db", db)
    assert code == 2
    (error,) = report["errors"]
    assert error["code"] == "encoding_unclear" and error["suggestion"] == "gb18030"
    assert "GB18030 reads '百度推广'" in error["message"] and "EUC-JP reads" in error["message"]
    assert error["fix"].startswith("pass --encoding gb18030")
    code, report = run(capsys, "import", "spend", path, "--db", db, "--encoding", "GBK")
    assert code == 0 and report["warnings"] == []  # chosen, so no warning that it was guessed
    with Store(db, read_only=True) as store:
        assert store.frame("spend")["channel"].to_list() == ["百度推广"]


def test_the_encoding_chosen_is_read_strictly(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(_csv(EUROPEAN).encode("cp1252"))
    prepared = prepare("spend", path, ImportOptions(encoding="shift_jis"))
    assert [p.code for p in prepared.errors] == ["not_text"]
    assert "is not Shift_JIS" in prepared.errors[0].message and prepared.errors[0].suggestion == "windows-1252"
    utf8 = tmp_path / "utf8.csv"
    utf8.write_text(_csv(JAPANESE), encoding="utf-8")
    assert prepare("spend", utf8, ImportOptions(encoding="utf-8")).ok
    assert [p.code for p in prepare("spend", utf8, ImportOptions(encoding="big5")).errors] == ["not_text"]


def test_encoding_names_as_people_write_them() -> None:
    assert [encoding_name(n) for n in ("Shift-JIS", "cp932", "SJIS", "eucjp", "GBK", "gb2312", "Big5", "cp950",
                                       "utf8", "UTF-16LE", "latin-1", "ISO-8859-15", "klingon")] == [
        "shift_jis", "shift_jis", "shift_jis", "euc-jp", "gb18030", "gb18030", "big5", "big5", "utf-8", "utf-16",
        "windows-1252", "iso-8859-15", None]


def test_bytes_no_encoding_reads_as_text_are_not_text() -> None:
    rng = random.Random(3)
    noise = bytes(rng.randrange(0x80, 0x100) for _ in range(4000))
    found = detect_legacy(b"period,amount\n" + noise + b"\n")
    assert not hasattr(found, "text") and found.code == "not_text"  # type: ignore[union-attr]
