"""The Data page as finance staff use it: a general-ledger export with GL account names, a
Department column and its total in the last columns, imported without reading any docs; the
suggestions pre-filled, the choices remembered per source before the first import, the report
grouped, and no command-line words anywhere on the page."""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Callable
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from finance.demo import build_demo_db
from finance.store.database import Store

from .conftest import open_dashboard

Runner = Callable[..., AppTest]

# A GL detail export as an accounting system writes it: title lines, account numbers before
# the names, the department as the cost centre, the currency in the amount's header, dollar
# signs and thousands separators, and the total in the last two columns of an undated line.
LEDGER = [
    ("Jan 2026", "6100 Advertising - Google", "Mktg - Paid Search", "Google Ireland Ltd", "84210.55"),
    ("Jan 2026", "6150 Paid Social - Meta", "Mktg - Paid Social", "Meta Platforms Ireland", "41877.10"),
    ("Jan 2026", "6200 Salaries - Marketing", "Mktg - Shared", "ADP", "212000.00"),
    ("Jan 2026", "6210 Payroll Taxes - Marketing", "Mktg - Shared", "ADP", "16218.00"),
    ("Jan 2026", "6300 Trade Shows & Events", "Mktg - Events", "Expo Events Inc", "35000.00"),
    ("Jan 2026", "6400 Software Subscriptions", "Mktg - Shared", "HubSpot Inc", "9800.00"),
    ("Feb 2026", "6100 Advertising - Google", "Mktg - Paid Search", "Google Ireland Ltd", "90112.40"),
    ("Feb 2026", "6500 Agency Fees - Creative", "Mktg - Content", "Studio North", "18500.00"),
    ("Feb 2026", "6550 PR Retainer", "Mktg - Shared", "Bright PR", "12000.00"),
    ("Feb 2026", "6200 Salaries - Marketing", "Mktg - Shared", "ADP", "212000.00"),
    ("Mar 2026", "6600 Sales Commissions", "Sales - Outbound", "Payroll", "64000.00"),
    ("Mar 2026", "6450 Website Hosting", "Mktg - Shared", "Fastly", "2300.00"),
    ("Mar 2026", "6700 Travel - Marketing", "Mktg - Events", "Amex", "7450.35"),
    ("Mar 2026", "6150 Paid Social - Meta", "Mktg - Paid Socail", "Meta Platforms Ireland", "22000.00"),
]
CLI_WORDS = re.compile(r"--[a-z]|\bpass --|\[[a-z_]+\]")
"""A command-line flag, or a problem's code in brackets: neither belongs on the page."""


def ledger(lines: list[tuple[str, str, str, str, str]] = LEDGER) -> tuple[bytes, Decimal]:
    total = sum((Decimal(line[-1]) for line in lines), Decimal(0))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows([["Acme Corp - GL Detail by Account", "", "", "", "", ""],
                      ["Period: Jan 2026 - Mar 2026", "", "", "", "", ""],
                      ["Posting Period", "GL Account Name", "Department", "Vendor Name", "Memo", "Amount (USD)"]])
    for period, account, department, vendor, amount in lines:
        writer.writerow([period, account, department, vendor, "", f"${Decimal(amount):,.2f}"])
    writer.writerow(["", "", "", "", "Total", f"${total:,.2f}"])
    return out.getvalue().encode(), total


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Runner:
    return functools.partial(open_dashboard, monkeypatch)


@pytest.fixture
def company(tmp_path: Path) -> Path:
    db = tmp_path / "company.duckdb"
    build_demo_db(db)
    return db


def upload(at: AppTest, name: str, data: bytes, kind: str = "spend") -> AppTest:
    at.file_uploader(key=f"data.upload.{kind}").set_value((name, data, "text/csv")).run()
    assert not at.exception, at.exception
    return at


def choice(at: AppTest, label: str):  # type: ignore[no-untyped-def]
    """The select box whose label quotes ``label`` (as the page writes it, Markdown-escaped)."""
    escaped = re.sub(r"([\\`*_{}\[\]()#+\-.!&|<>~$:;,])", r"\\\1", label)
    return next(sb for sb in at.selectbox if sb.label.startswith(f"'{escaped}'"))


def page_text(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "error", "warning", "success", "info", "subheader")
             for e in getattr(at, kind)]
    parts += [sb.label for sb in at.selectbox] + [b.label for b in at.button] + [c.label for c in at.checkbox]
    parts += [t.value.to_csv() for t in at.table]
    return "\n".join(str(p) for p in parts)


def test_a_ledger_export_imports_from_the_page_without_reading_any_docs(app: Runner, company: Path) -> None:
    data, total = ledger()
    at = upload(app(company, "pages/data.py"), "gl-detail-2026-q1.csv", data)
    # The importer's guesses are chosen already: every account name but one has its category.
    assert choice(at, "6200 Salaries - Marketing").value == "personnel"  # not events
    assert choice(at, "6210 Payroll Taxes - Marketing").value == "personnel"
    assert choice(at, "6600 Sales Commissions").value == "sales"
    assert choice(at, "6300 Trade Shows & Events").value == "events"
    assert choice(at, "6150 Paid Social - Meta").value == "digital_advertising"
    assert choice(at, "6700 Travel - Marketing").value == ""  # no guess: a person chooses
    assert not CLI_WORDS.search(page_text(at)), CLI_WORDS.search(page_text(at))
    # The Department column is the channel; its values are then offered, with guesses.
    choice(at, "Department").set_value("channel").run()
    assert choice(at, "Mktg - Shared").value == "(shared)"
    assert choice(at, "Mktg - Paid Search").value == "Paid Search"
    assert choice(at, "Mktg - Paid Socail").value == "Paid Social"  # a typo of a known channel
    assert choice(at, "Sales - Outbound").value == "Sales - Outbound"  # kept unless changed
    choice(at, "6700 Travel - Marketing").set_value("events").run()
    at.button(key="data.apply_categories").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    # the channels shown (Mktg - Shared as shared costs, ...) are not yet how the file would be read:
    # no import until they are confirmed
    assert "data.import" not in [b.key for b in at.button]
    assert any("Confirm the channels above" in i.value for i in at.info)
    choice(at, "Sales - Outbound").set_value("Outbound").run()
    at.button(key="data.apply_channels").click().run()
    tables = [t.value for t in at.table]
    problems = set(tables[0]["Problem"])
    assert problems == {"Title lines above the header left out", "Total lines left out"}
    at.button(key="data.import").click().run()
    assert any(f"14 rows, total ${total:,.2f}" in s.value for s in at.success), [s.value for s in at.success]

    with Store(company, read_only=True) as store:
        spend = store.frame("spend")
    rows = spend.filter(spend["import_id"] == spend["import_id"].max())
    assert rows.height == len(LEDGER) and sum(rows["amount"].to_list()) == total
    channels = dict(zip(rows["source_row"].to_list(), rows["channel"].to_list(), strict=True))
    shared = [i + 4 for i, line in enumerate(LEDGER) if line[2] == "Mktg - Shared"]
    assert all(channels[row] is None for row in shared)  # shared costs: no channel
    assert set(rows["channel"].drop_nulls()) == {"Paid Search", "Paid Social", "Events", "Content", "Outbound"}
    categories = dict(zip(rows["source_row"].to_list(), rows["category"].to_list(), strict=True))
    assert categories[6] == "personnel" and categories[14] == "sales" and categories[16] == "events"


def test_choices_are_remembered_for_the_source_before_any_import(app: Runner, company: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    data, _ = ledger()
    first = upload(app(company, "pages/data.py"), "gl-detail-2026-q1.csv", data)
    choice(first, "Department").set_value("channel").run()
    first.button(key="data.apply_categories").click().run()  # the guesses, confirmed; no import
    with Store(company, read_only=True) as store:
        assert sorted(store.active_imports()) == [1, 2, 3, 4, 5]  # nothing imported (the demo has five)

    # A new session (another day), the next quarter's file from the same system.
    later = [(p.replace("2026", "2026").replace("Jan", "Apr").replace("Feb", "May").replace("Mar", "Jun"),
              *rest) for p, *rest in LEDGER]
    second = upload(open_dashboard(monkeypatch, company, "pages/data.py"), "gl-detail-2026-q2.csv",
                    ledger(later)[0])  # type: ignore[arg-type]
    assert choice(second, "Department").value == "channel"
    captions = " ".join(c.value for c in second.caption)
    assert "laid out like gl\\-detail\\-2026\\-q1\\.csv" in captions
    labels = {sb.label for sb in second.selectbox}
    assert not any("6200 Salaries" in label for label in labels)  # categories remembered
    assert any("Mktg \\- Shared" in label for label in labels)  # channels were not confirmed yet
    # A file of another layout (another source) starts from nothing.
    other = upload(open_dashboard(monkeypatch, company, "pages/data.py"), "ads.csv",
                   b"Posting Period,GL Account Name,Dept,Amount (USD)\nJan 2026,6200 Salaries - Marketing,X,1.00\n")
    assert any("6200 Salaries" in sb.label for sb in other.selectbox)


def test_the_report_is_grouped_with_counts_and_the_full_report_downloads(app: Runner, company: Path) -> None:
    body = "".join(f"2026-Q1,events,Events,twelve {i}\n" for i in range(500))
    data = ("period,category,channel,amount\n" + body + "2026-Q1,nonsense,Events,5\n").encode()
    at = upload(app(company, "pages/data.py"), "bad.csv", data)
    report = at.table[0].value
    assert list(report.columns) == ["Severity", "Problem", "Rows", "Columns", "First examples", "Expected",
                                    "How to fix"]
    amounts = report[report["Problem"] == "Amounts that cannot be read"].iloc[0]
    assert amounts["Rows"] == "500" and amounts["Severity"] == "Error"
    assert amounts["First examples"].count("row ") == 3  # the first examples, not 500 lines
    assert len(report) <= 4
    assert "500 errors" not in " ".join(e.value for e in at.error)  # the headline counts every error
    assert any("501 errors must be fixed" in e.value for e in at.error)
    assert "Download the full report (CSV)" in [b.label for b in at.get("download_button")]
    assert not CLI_WORDS.search(page_text(at))


def test_a_rejected_file_tells_how_to_fix_it_in_the_pages_words(app: Runner, company: Path) -> None:
    # 1.234,50 alone would be read with a decimal comma; next to 1,234.50 the column mixes the two.
    data = b"period,category,channel,amount\n01/02/2026,events,Events,\"1,234.50\"\n" \
           b"01/02/2026,events,Events,\"1.234,50\"\n"
    at = upload(app(company, "pages/data.py"), "eu.csv", data)
    report = at.table[0].value
    fixes = dict(zip(report["Problem"].to_list(), report["How to fix"].to_list(), strict=True))
    assert "How to read this file" in fixes["Dates that could be day first or month first"]
    assert "Decimal commas" in fixes["Numbers mixing decimal points and decimal commas"]
    text = page_text(at)
    assert not CLI_WORDS.search(text), CLI_WORDS.search(text)


def test_the_columns_the_page_names_are_headers_the_importer_reads() -> None:
    from finance.app.importing import header_text
    from finance.domain.schema import FILE_KINDS, normalise_header

    for contract in FILE_KINDS.values():
        for column in contract.columns:
            written = header_text(column.name)
            assert "_" not in written and contract.header_lookup[normalise_header(written)] == column.name


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_a_workbook_uploads_from_its_sheet_and_imports_to_the_cent(app: Runner, company: Path, tmp_path: Path) -> None:
    """An .xlsx with a cover sheet first: the budget is on the second sheet, chosen on the page."""
    from .test_workbooks import budget_lines, write_budget

    lines = [(end.replace(year=2026), category, channel, vendor, cents)
             for end, category, channel, vendor, cents in budget_lines(9, seed=5)]
    path = tmp_path / "budget-2026.xlsx"
    write_budget(path, lines, formulas={2, 7}, sheets=("Cover",))
    at = app(company, "pages/data.py")
    at.file_uploader(key="data.upload.spend").set_value((path.name, path.read_bytes(), XLSX)).run()
    assert not at.exception, at.exception
    sheet = at.selectbox(key="data.sheet.spend")
    assert sheet.options == ["Cover (the first sheet)", "Budget 2025"]
    assert any("must be fixed" in e.value for e in at.error)  # the cover sheet holds no table
    sheet.set_value("Budget 2025").run()
    assert not at.exception, at.exception
    assert "data.encoding.spend" not in [sb.key for sb in at.selectbox]  # a workbook has no text encoding
    preview_rows = at.dataframe[0].value
    assert preview_rows["Row"].tolist()[:3] == [4, 5, 6]  # the rows Excel shows, below the title
    if "data.apply_channels" in [b.key for b in at.button]:
        at.button(key="data.apply_channels").click().run()
    total = sum((Decimal(line[-1]) for line in lines), Decimal(0)).scaleb(-2)
    at.button(key="data.import").click().run()
    assert not at.exception, at.exception
    assert any(f"{len(lines)} rows, total ${total:,.2f}" in s.value for s in at.success), [s.value for s in at.success]
    with Store(company, read_only=True) as store:
        spend = store.frame("spend")
    rows = spend.filter(spend["import_id"] == spend["import_id"].max())
    assert sum(rows["amount"].to_list()) == total


def test_a_short_chinese_file_asks_for_its_encoding_and_reads_as_chosen(app: Runner, company: Path) -> None:
    data = "period,category,channel,amount\n2026-Q1,events,百度推广,1000.50\n".encode("gb18030")
    at = upload(app(company, "pages/data.py"), "baidu.csv", data)
    assert any("GB18030 reads" in e.value for e in at.error), [e.value for e in at.error]
    assert "data.import" not in [b.key for b in at.button]  # nothing guessed, nothing to import
    encoding = at.selectbox(key="data.encoding.spend")
    assert encoding.value is None and "GB18030 (Simplified Chinese)" in encoding.options
    encoding.set_value("gb18030").run()
    assert not at.exception, at.exception
    assert at.dataframe[0].value["channel"].tolist() == ["百度推广"]
    assert at.selectbox(key="data.encoding.spend").value == "gb18030"


def test_the_preview_names_the_encoding_detected(app: Runner, company: Path) -> None:
    lines = "".join(f"2026-0{m},events,展示会,東京ビッグサイト,{m}000\n" for m in range(1, 4))
    data = ("period,category,channel,vendor,amount\n" + lines).encode("cp932")
    at = upload(app(company, "pages/data.py"), "tenjikai.csv", data)
    encoding = at.selectbox(key="data.encoding.spend")
    assert encoding.value is None and encoding.format_func(None) == "Shift_JIS (Japanese) (detected)"
    assert at.dataframe[0].value["vendor"].tolist() == ["東京ビッグサイト"] * 3


def test_exchange_rates_load_on_the_page_and_a_file_in_pounds_converts_to_the_cent(app: Runner,
                                                                                   company: Path) -> None:
    """The ECB's rates file uploaded under Exchange rates; then a spend file in pounds is converted at the
    month's average USD-per-GBP rate, rounded half-even to 12 places, each amount half-even to the cent."""
    days = [date(2025, 12, 31) + timedelta(days=n) for n in range(32)]
    days = [d for d in days if d.weekday() < 5]
    usd = {d: Decimal("1.0400") + Decimal(n) / 10_000 for n, d in enumerate(days)}
    gbp = {d: Decimal("0.83000") - Decimal(n) / 100_000 for n, d in enumerate(days)}
    ecb = "Date,USD,JPY,CYP,GBP,\n" + "".join(f"{d.isoformat()},{usd[d]},162.10,N/A,{gbp[d]},\n"
                                              for d in reversed(days))
    at = app(company, "pages/data.py")
    at.toggle(key="data.fx_open").set_value(True).run()
    at.file_uploader(key="data.upload.fx").set_value(("eurofxref-hist.csv", ecb.encode(), "text/csv")).run()
    at.button(key="data.fx_import").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(f"{len(days) * 3} rates added" in s.value for s in at.success), [s.value for s in at.success]

    january = [d for d in days if d.month == 1]
    rate = (sum((usd[d] / gbp[d] for d in january), Decimal(0)) / len(january)).quantize(
        Decimal("1e-12"), rounding=ROUND_HALF_EVEN)
    pounds = [Decimal("12500.00"), Decimal("3333.33"), Decimal("0.05")]
    expected = sum((p * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN) for p in pounds)
    lines = "Month,Category,Channel,Amount (GBP)\n" + "".join(
        f"Jan 2026,Events,Events,{p}\n" for p in pounds)
    upload(at, "events-uk-2026-01.csv", lines.encode())
    at.button(key="data.import").click().run()
    assert any(f"3 rows, total ${expected:,.2f}" in s.value for s in at.success), [s.value for s in at.success]
    with Store(company, read_only=True) as store:
        spend = store.frame("spend")
    rows = spend.filter(spend["import_id"] == spend["import_id"].max())
    assert sum(rows["amount"].to_list()) == expected


def test_a_general_ledger_loads_on_the_page(app: Runner, company: Path) -> None:
    """The GL chosen as the file: no category or channel for rows without one (its rows are accounts), and the
    import as any other's, each row keeping its account."""
    at = app(company, "pages/data.py")
    at.segmented_control(key="data.kind").set_value("gl").run()
    assert not at.exception, at.exception
    assert "data.default_category" not in [s.key for s in at.selectbox]
    assert "data.default_channel" not in [t.key for t in at.text_input]
    lines = "Period,Account,Amount\n2026-01,6100 Advertising,1250.40\n2026-01,6900 Rent,900.00\n"
    upload(at, "gl-2026-01.csv", lines.encode(), kind="gl")
    at.button(key="data.import").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("2 rows, total $2,150.40" in s.value for s in at.success), [s.value for s in at.success]
    with Store(company, read_only=True) as store:
        ledger = store.general_ledger()
    assert sorted(account for account, day in zip(ledger.get_column("account"), ledger.get_column("period_start"),
                                                  strict=True) if day >= date(2026, 1, 1)) == [
        "6100 Advertising", "6900 Rent"]
