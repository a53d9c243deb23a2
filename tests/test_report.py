"""The CFO board pack on the demo company: real DuckDB, real Chromium and kaleido, real CLI runs.

The PDF is rendered once for the module (by the CLI, as a user would) and read back with
poppler's pdfinfo, pdftotext and pdftoppm; the XLSX is reopened with openpyxl. Every figure
checked is compared with ``finance.metrics.table.compute`` run independently here.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import polars as pl
import pytest
from PIL import Image

from finance.demo import SAMPLE_DIR, build_demo_db, demo_check_key
from finance.domain.assumptions import Assumptions
from finance.ltv import backtest
from finance.metrics.params import metric_params
from finance.metrics.table import compute, money
from finance.planning.curves import PlanError
from finance.planning.plans import PlanLine, Scenario, save_scenario
from finance.present import exports, formats, pdf, report
from finance.store.database import Store
from finance.store.dataset import SHARED

from .conftest import run_cli

REQUEST = "Q1 growth ask"
OLDER_REQUEST = "Older ask"
NOT_A_REQUEST = "A side idea"  # sorts first on a tie: only its kind keeps it out of the pack
REQUEST_LINES = (
    PlanLine("Paid Search", "digital_advertising", Decimal("420000.25")),
    PlanLine("Paid Social", "digital_advertising", Decimal("180000.10")),
    PlanLine("Content", "content_creation", Decimal("120000.00")),
    PlanLine("Events", "events", Decimal("400000.00")),
    PlanLine(SHARED, "personnel", Decimal("610000.00")),
    PlanLine(SHARED, "martech", Decimal("690000.05")),
    PlanLine(SHARED, "sales", Decimal("780000.00")),
)
# 420,000.25 + 180,000.10 + 120,000.00 + 400,000.00 + 610,000.00 + 690,000.05 + 780,000.00
REQUEST_TOTAL = Decimal("3200000.40")
INJECTED_CHANNEL = '=HYPERLINK("http://x")'
INJECTED_NAME = "@SUM(A1)"
INJECTED_NOTE = "+1 more for search"
PREPARER = "cfo@northwind.example"


def _save(store: Store, name: str, kind: str, lines: tuple[PlanLine, ...], note: str = "") -> None:
    save_scenario(store, Scenario(name, "2026-Q1", kind, note, lines, {}))


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo company with three saved scenarios: an older request, the latest request, a custom plan."""
    path = tmp_path_factory.mktemp("report") / "demo.duckdb"
    build_demo_db(path)
    with Store(path) as store:
        _save(store, OLDER_REQUEST, "request", REQUEST_LINES[:3])
        time.sleep(1.1)  # updated_at is kept to the second: make "the most recently updated" unambiguous
        _save(store, REQUEST, "request", REQUEST_LINES, note="Growth push into paid search")
        _save(store, NOT_A_REQUEST, "custom", REQUEST_LINES[:2])
    return path


@dataclass(frozen=True)
class Core:
    """The period's pooled row from ``compute``, run here independently of the pack."""

    row: dict[str, Any]


@pytest.fixture(scope="module")
def pack(demo_db: Path) -> report.BoardPack:
    started = time.perf_counter()
    gathered = report.gather(demo_db)
    print(f"\ngather: {time.perf_counter() - started:.2f} s")
    return gathered


@pytest.fixture(scope="module")
def core(demo_db: Path, pack: report.BoardPack) -> Core:
    with Store(demo_db, read_only=True) as store:
        data, stored = store.dataset(), store.assumptions()
    key, _, _ = demo_check_key(demo_db)
    rows = compute(data, metric_params(Assumptions.from_settings(stored)), backtest.load(demo_db, key)).rows
    return Core(rows.filter(pl.col("period_label") == pack.period).row(0, named=True))


@pytest.fixture(scope="module")
def workbook(pack: report.BoardPack) -> openpyxl.Workbook:
    started = time.perf_counter()
    data = report.to_xlsx(pack)
    print(f"\nXLSX: {time.perf_counter() - started:.3f} s, {len(data):,} bytes")
    return openpyxl.load_workbook(io.BytesIO(data))


def _records(workbook: openpyxl.Workbook, sheet: str) -> list[dict[str, Any]]:
    rows = list(workbook[sheet].iter_rows())
    header = [cell.value for cell in rows[0]]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def _cents(value: Any) -> Decimal:
    """A money value from the core, as the cents a spreadsheet shows."""
    return Decimal(money(value) or "nan")


# ---------------------------------------------------------------------------------------------
# What goes in the pack
# ---------------------------------------------------------------------------------------------


def test_default_period_is_the_latest_with_new_customers_and_request_the_latest_saved(
        pack: report.BoardPack, core: Core) -> None:
    assert pack.period == "2025-Q4" and pack.prior_period == "2025-Q3"
    assert pack.quarters[-1] == pack.period and core.row["new_customers"] > 0
    assert pack.company == "Northwind Analytics"
    assert pack.request.name == REQUEST  # not the older request, not the newer custom plan
    assert pack.request_note == "Growth push into paid search"
    assert [p.name for p in pack.projections] == [report.BASELINE, REQUEST, report.OPTIMISED]
    assert pack.request.spend_sm == REQUEST_TOTAL
    # the optimised split moves the request's channel spend between channels, keeping its total
    channel_total = pack.request.channels.get_column("spend").sum()
    assert pack.optimised.channels.get_column("spend").sum() == channel_total
    assert pack.optimised.spend_sm == pack.request.spend_sm


def test_bad_period_scenario_or_method_names_the_value_and_the_choices(demo_db: Path) -> None:
    with pytest.raises(ValueError, match=r"'2031-Q9'.*2023-Q1, .*2025-Q4"):
        report.gather(demo_db, period="2031-Q9")
    with pytest.raises(PlanError, match=rf"'nope'.*{OLDER_REQUEST}.*{REQUEST}"):
        report.gather(demo_db, scenario="nope")
    with pytest.raises(ValueError, match=r"'magic'.*formula, cohort, bgnbd"):
        report.gather(demo_db, method="magic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unknown suffix '\.docx'.*\.pdf, \.xlsx"):
        report.check_output(demo_db.parent / "pack.docx")


def test_named_scenario_and_an_earlier_quarter(demo_db: Path, pack: report.BoardPack) -> None:
    older = report.gather(demo_db, scenario=OLDER_REQUEST, period="2025-q2")
    assert older.request.name == OLDER_REQUEST and older.period == "2025-Q2" and older.prior_period == "2025-Q1"
    assert older.request.spend_sm == sum((ln.amount for ln in REQUEST_LINES[:3]), Decimal(0))
    # an earlier quarter's pack stops its history there; its figures are the same quarter's in the later pack
    assert older.quarterly.get_column("period_label").to_list()[-1] == "2025-Q2"
    same = pack.quarterly.filter(pl.col("period_label") == "2025-Q2").row(0, named=True)
    assert older.row["cac"] == same["cac"]
    assert older.row["ltv_cac"] == pytest.approx(same["ltv_cac"], rel=1e-12)  # float sums may differ in the last bit


def test_without_a_saved_request_last_quarter_is_repeated(tmp_path: Path) -> None:
    path = tmp_path / "fresh.duckdb"
    build_demo_db(path)
    fresh = report.gather(path)
    assert fresh.request.name == "Repeat of 2025-Q4"
    assert fresh.request.lines == fresh.baseline.lines
    assert any("No budget request is saved" in w for w in fresh.warnings)


# ---------------------------------------------------------------------------------------------
# XLSX
# ---------------------------------------------------------------------------------------------


def _header(name: str, sheet: str | None = None) -> str:
    """The XLSX header of a table column: its business label (or the sheet's own), as a CFO reads it."""
    return report.SHEET_LABELS.get(sheet or "", {}).get(name, exports.column_label(name)[0])


def test_xlsx_has_one_sheet_per_table_numbers_as_numbers_and_no_formula(workbook: openpyxl.Workbook,
                                                                        pack: report.BoardPack) -> None:
    assert workbook.sheetnames == [*report.SHEETS, exports.ASSUMPTIONS_SHEET]
    money_cells = counted = 0
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
    for name, frame in report.tables(pack).items():
        sheet = workbook[name]
        header = [cell.value for cell in next(sheet.iter_rows())]
        assert not any("_" in str(title) for title in header), header  # business words, never code names
        for source in frame.columns:
            unit = exports.column_label(source)[1]
            if source in ("period",) or frame.schema[source] == pl.List(pl.Float64):
                continue
            cells = [c for (c,) in sheet.iter_rows(min_row=2, min_col=header.index(_header(source, name)) + 1,
                                                   max_col=header.index(_header(source, name)) + 1)
                     if c.value is not None]
            for cell in cells:
                if unit == "money":
                    assert cell.data_type == "n" and isinstance(cell.value, int | float), cell.coordinate
                    assert cell.number_format == exports.MONEY_FORMAT, cell.coordinate
                    assert Decimal(repr(cell.value)) == Decimal(repr(cell.value)).quantize(Decimal("0.01"))
                    money_cells += 1
                elif unit in ("count", "months"):  # customers are whole: a projected 213.43 is 213
                    assert isinstance(cell.value, int), (name, source, cell.value)
                    counted += 1
                elif unit == "fraction":
                    assert cell.number_format == exports.PERCENT_FORMAT, (name, source)
    assert money_cells > 100 and counted > 50
    assumptions = {row[0].value: row[1].value for row in workbook[exports.ASSUMPTIONS_SHEET].iter_rows(min_row=2)}
    assert assumptions["LTV method"] == "recommended (auto)" and assumptions["Budget request"] == REQUEST
    assert assumptions["Data as of"] == "2025-12-31"
    assert assumptions["Default gross margin"] == pytest.approx(0.7)


def test_xlsx_kpis_are_the_cores_figures_to_the_cent(workbook: openpyxl.Workbook, core: Core) -> None:
    latest, prior = _records(workbook, "KPI summary")
    assert (latest["Quarter"].value, prior["Quarter"].value) == ("2025-Q4", "2025-Q3")
    for column in ("spend", "spend_sm", "cac_media", "cac", "cac_sm", "ltv"):
        assert Decimal(repr(latest[_header(column)].value)) == _cents(core.row[column]), column
    assert latest["New customers"].value == core.row["new_customers"]
    assert latest["Band"].value == core.row["band"]
    categories = {r["Category code"].value: r for r in _records(workbook, "CAC by category")}
    assert Decimal(repr(categories["marketing"]["Spend"].value)) == _cents(core.row["spend"])
    assert Decimal(repr(categories["marketing"][_header("cac_contribution")].value)) == _cents(core.row["cac"])


def test_xlsx_request_lines_sum_to_the_projections_spend(workbook: openpyxl.Workbook,
                                                          pack: report.BoardPack) -> None:
    lines = _records(workbook, "Budget request lines")
    assert {r["Scenario"].value for r in lines} == {REQUEST}
    total = sum((Decimal(repr(r["Amount"].value)) for r in lines), Decimal(0))
    assert total == pack.request.spend_sm == REQUEST_TOTAL
    compared = {r["Scenario"].value: r for r in _records(workbook, "Scenario comparison")}
    assert list(compared) == [report.BASELINE, REQUEST, report.OPTIMISED]
    assert Decimal(repr(compared[REQUEST][_header("spend_sm")].value)) == REQUEST_TOTAL
    # each channel's response curve by its name, as the planner writes it
    curves = {r[_header("curve")].value for r in _records(workbook, "Projection by channel")}
    assert curves and curves <= {"Hill", "Constant CPA"}


@pytest.fixture(scope="module")
def injected_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo company with its Partners channel renamed to a formula, and a request named like one."""
    folder = tmp_path_factory.mktemp("injected")
    samples = folder / "sample_data"
    samples.mkdir()
    for source in SAMPLE_DIR.glob("*.csv"):
        with source.open(newline="", encoding="utf-8") as file:
            rows = list(csv.reader(file))
        if "channel" in rows[0]:
            at = rows[0].index("channel")
            for row in rows[1:]:
                row[at] = INJECTED_CHANNEL if row[at] == "Partners" else row[at]
        with (samples / source.name).open("w", newline="", encoding="utf-8") as file:
            csv.writer(file).writerows(rows)
    path = folder / "injected.duckdb"
    build_demo_db(path, sample_dir=samples)
    with Store(path) as store:
        _save(store, INJECTED_NAME, "request", (PlanLine(INJECTED_CHANNEL, "influencer", Decimal("150000.00")),
                                                *REQUEST_LINES), note=INJECTED_NOTE)
    return path


def test_text_that_looks_like_a_formula_stays_text(injected_db: Path) -> None:
    injected = report.gather(injected_db)
    assert injected.request.name == INJECTED_NAME
    book = openpyxl.load_workbook(io.BytesIO(report.to_xlsx(injected)))
    found: dict[str, set[str]] = {}
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str) and cell.value.lstrip("'") in (INJECTED_CHANNEL, INJECTED_NAME,
                                                                               INJECTED_NOTE):
                    assert cell.data_type == "s" and cell.value.startswith("'"), cell.value  # neutralised text
                    found.setdefault(cell.value[1:], set()).add(sheet.title)
    assert found[INJECTED_CHANNEL] >= {"Channels", "Budget request lines", "Projection by channel"}
    assert found[INJECTED_NAME] >= {"Budget request lines", "Scenario comparison", exports.ASSUMPTIONS_SHEET}
    assert found[INJECTED_NOTE] == {exports.ASSUMPTIONS_SHEET}


# ---------------------------------------------------------------------------------------------
# PDF, through the command line
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    done: subprocess.CompletedProcess[str]
    path: Path
    seconds: float
    pages: int


def _poppler(*args: str | Path) -> str:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=True, timeout=120).stdout


@pytest.fixture(scope="module")
def rendered(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """The PDF pack, rendered once for the module by ``python -m finance report``."""
    if shutil.which("pdfinfo") is None:
        pytest.fail("poppler-utils is needed: apt-get install -y poppler-utils")
    out = tmp_path_factory.mktemp("pdf") / "board pack.pdf"
    started = time.perf_counter()
    done = run_cli("report", "--db", demo_db, "--out", out, env={"FINANCE_USER": PREPARER})
    seconds = time.perf_counter() - started
    print(f"\nCLI report to PDF (process start, gather, render, write): {seconds:.1f} s")
    info = _poppler("pdfinfo", out) if out.exists() else ""
    pages = int(next((line.split()[1] for line in info.splitlines() if line.startswith("Pages:")), "0"))
    return Rendered(done, out, seconds, pages)


def test_cli_writes_the_pdf_and_reports_its_pages(rendered: Rendered) -> None:
    assert rendered.done.returncode == 0, rendered.done.stderr
    assert rendered.done.stdout.strip() == (f"wrote {rendered.path}: {rendered.path.stat().st_size:,} bytes, "
                                            f"{rendered.pages} pages")
    assert 6 <= rendered.pages <= 12  # the board reads at most twelve pages


def test_pdf_text_has_every_section_and_the_cores_figures(rendered: Rendered, core: Core) -> None:
    text = _poppler("pdftotext", "-layout", rendered.path, "-")
    for heading in report.SECTIONS:
        assert heading in text, heading
    assert "2025-Q4" in text
    assert formats.money(core.row["cac"]) in text  # e.g. $1,127.08: the KPI tile, to the cent
    assert core.row["band"] in text
    assert f"Request: {REQUEST}" in text
    assert "Northwind Analytics" in text and "How every figure is computed" in text


def test_every_pdf_page_renders_and_the_trend_chart_is_drawn(rendered: Rendered, pack: report.BoardPack,
                                                              tmp_path: Path) -> None:
    _poppler("pdftoppm", "-r", "30", "-png", rendered.path, tmp_path / "page")
    images = sorted(tmp_path.glob("page-*.png"))
    assert len(images) == rendered.pages
    title = str(pack.figures["trend"].layout.title.text)
    texts = [_poppler("pdftotext", "-layout", "-f", str(n), "-l", str(n), rendered.path, "-")
             for n in range(1, rendered.pages + 1)]
    trend = next(n for n, page in enumerate(texts) if title in page)
    assumptions = next(n for n, page in enumerate(texts) if page.lstrip().startswith("Assumptions"))

    def coloured(index: int) -> float:
        """Share of the page's pixels in colour (text, rules and tables are grey or black)."""
        rgb = np.asarray(Image.open(images[index]).convert("RGB"), dtype=np.int16)
        return float(((rgb.max(axis=2) - rgb.min(axis=2)) > 12).mean())

    # The health bands shade the chart (half the page, about 5% of it at 30 dpi); the assumptions page is text
    # (under 1%).
    assert coloured(trend) > 0.03 and coloured(assumptions) < 0.02, (coloured(trend), coloured(assumptions))
    assert len(Image.open(images[trend]).convert("RGB").getcolors(maxcolors=1 << 16) or []) > 300


# ---------------------------------------------------------------------------------------------
# Errors: exit 2, the bad value named, nothing written
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "out_name", "named"), [
    (("--period", "2031-Q9"), "pack.pdf", ("'2031-Q9'", "2023-Q1", "2025-Q4")),
    (("--scenario", "nope"), "pack.pdf", ("'nope'", OLDER_REQUEST, REQUEST)),
    ((), "pack.docx", ("'.docx'", ".pdf, .xlsx")),
])
def test_cli_rejects_bad_input_with_exit_2_and_writes_nothing(demo_db: Path, tmp_path: Path, args: tuple[str, ...],
                                                             out_name: str, named: tuple[str, ...]) -> None:
    out = tmp_path / "out" / out_name
    out.parent.mkdir()
    done = run_cli("report", "--db", demo_db, *args, "--out", out)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert all(part in lines[0] for part in named), lines[0]
    assert list(out.parent.iterdir()) == []


def test_cli_rejects_an_unknown_ltv_method_as_other_choices_are(demo_db: Path, tmp_path: Path) -> None:
    done = run_cli("report", "--db", demo_db, "--method", "magic", "--out", tmp_path / "pack.pdf")
    assert done.returncode == 2
    assert "invalid choice: 'magic'" in done.stderr and "formula" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_failed_render_leaves_the_previous_file_untouched(demo_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "pack.pdf"
    out.write_bytes(b"the previous pack")
    done = run_cli("report", "--db", demo_db, "--out", out, env={"FINANCE_CHROMIUM": str(tmp_path / "no-chromium")})
    assert done.returncode == 1
    assert done.stderr.startswith("error: the board pack was not written") and "FINANCE_CHROMIUM" in done.stderr
    assert out.read_bytes() == b"the previous pack"
    assert [p.name for p in tmp_path.iterdir()] == ["pack.pdf"]


def test_the_packs_headline_figures_are_the_dashboards_strings(pack: report.BoardPack, rendered: Rendered) -> None:
    # The Overview writes its tiles with finance.present.formats (tests/test_app.py); the pack's tiles,
    # its charts and its PDF text write the same figures the same way: 5.02x is never 5.0x in a chart.
    row = pack.row
    tiles = {kpi.label: kpi.value for section in report.document(pack).sections for block in section.blocks
             if isinstance(block, pdf.Kpis) for kpi in block.items}
    ratio = formats.ratio(row["ltv_cac"])
    assert tiles["LTV:CAC"] == ratio
    assert tiles["Fully loaded CAC"] == formats.money(row["cac"], pack.currency)
    assert tiles["LTV (gross margin)"] == formats.money(row["ltv"], pack.currency)
    request = tiles[f"Budget request, {pack.plan_period}"]
    assert request == formats.money_compact(pack.request.spend, pack.currency)
    assert tiles["CAC payback"] == formats.months(row["payback_months"])
    assert f"LTV:CAC is {ratio} in {pack.period}" in pack.figures["trend"].layout.title.text
    assert tiles["Projected LTV:CAC"] == formats.ratio(pack.request.figures["ltv_cac"].point)
    text = _poppler("pdftotext", "-layout", rendered.path, "-")
    for value in (tiles["LTV:CAC"], tiles["Fully loaded CAC"], request):
        assert value in text, value


# ---------------------------------------------------------------------------------------------
# What the board reads first: the executive summary, the page layout, the methodology
# ---------------------------------------------------------------------------------------------


def _page_texts(path: Path, pages: int) -> list[str]:
    return [_poppler("pdftotext", "-layout", "-f", str(n), "-l", str(n), path, "-") for n in range(1, pages + 1)]


def test_page_one_is_the_executive_summary(rendered: Rendered, pack: report.BoardPack, core: Core) -> None:
    first = " ".join(_page_texts(rendered.path, 1)[0].split())  # pdftotext's line breaks as spaces
    assert "Executive summary" in first and report.TITLE in first and "Contents" not in first
    row = core.row
    # The finding, with the headline against the target and the prior quarter.
    assert f"LTV:CAC was {formats.ratio(row['ltv_cac'])} in {pack.period}" in first
    assert f"the {formats.threshold(pack.target_ratio)} target" in first
    # LTV:CAC with its range and its chance of missing the target; payback; the change; the request.
    assert f"range {formats.ratio(row['ltv_cac_low'])} to {formats.ratio(row['ltv_cac_high'])}" in first
    assert f"below the {pack.target_ratio:g}x target" in first
    assert formats.months(row["payback_months"]) in first
    assert f"in {pack.prior_period}" in first
    assert formats.money(pack.request.spend, pack.currency) in first and REQUEST in first
    # The mix: every segment's LTV:CAC, as the segment rows have it.
    for segment in pack.by_segment.filter(pl.col("period_label") == pack.period).iter_rows(named=True):
        if segment["new_customers"]:
            assert f"{segment['segment']} " in first and formats.ratio(segment["ltv_cac"]) in first
    # The data version: the imports in force, as of when, prepared by whom.
    assert f"Figures as of {formats.day(pack.as_of)}" in first and f"by {PREPARER}" in first
    assert "imports 1 to 5 (spend, funnel, customers, revenue, GL)" in first


def test_every_section_starts_a_page_and_every_page_is_numbered(rendered: Rendered) -> None:
    texts = _page_texts(rendered.path, rendered.pages)
    for heading in report.SECTIONS[1:]:
        starts = [n for n, page in enumerate(texts, start=1) if page.lstrip().startswith(heading)]
        assert len(starts) == 1, (heading, starts)
    for number, page in enumerate(texts, start=1):
        assert f"Page {number} of {rendered.pages}" in page
    # No page is a leftover: each holds a fair share of text (a table split off onto a page of its own
    # shows as a page with a few lines).
    assert min(len(page.split()) for page in texts) >= 60, [len(page.split()) for page in texts]


def test_the_packs_methodology_is_written_for_a_cfo(rendered: Rendered, pack: report.BoardPack) -> None:
    texts = _page_texts(rendered.path, rendered.pages)
    start = next(n for n, page in enumerate(texts) if page.lstrip().startswith("Methodology"))
    appendix = "\n".join(texts[start:])
    assert "Fully loaded CAC" in appendix and "Fader" in appendix and "How every figure is computed" in appendix
    for developer in ("python -m", ".py", "finance/", "--", "JSON", "`", "bench/", "tests/"):
        assert developer not in appendix, developer
    assert rendered.pages - start <= 2  # the appendix is two pages at most


def test_the_headline_mix_names_the_segment_that_carries_it(pack: report.BoardPack, core: Core) -> None:
    # Independently: the segment rows add up to the headline, so the rest is the headline minus the carrier.
    carrier = pack.mix.carrier
    assert carrier is not None  # the demo's Enterprise segment lifts the quarter over the target
    segments = pack.by_segment.filter(pl.col("period_label") == pack.period)
    top = segments.filter(pl.col("segment") == carrier.part.name).row(0, named=True)
    margin = core.row["ltv"] * core.row["new_customers"] - top["ltv"] * top["new_customers"]
    rest = margin / float(core.row["spend"] - top["spend"])
    assert carrier.rest_ratio == pytest.approx(rest, rel=1e-9)
    assert rest < pack.target_ratio <= core.row["ltv_cac"] and top["new_customers"] < core.row["new_customers"] / 2
    assert sum(p.new_customers for p in pack.mix.parts) == core.row["new_customers"]


def test_the_pack_states_the_reconciliation_to_the_general_ledger(rendered: Rendered, demo_db: Path,
                                                                  pack: report.BoardPack) -> None:
    """The demo company's ledger differs from its spend on purpose (an invoice missing from the spend, another
    booked to the wrong account): the pack's reconciliation page shows each difference as ``reconcile``
    computes it, the quarters that do not reconcile, and the account left unmapped."""
    from finance.metrics.reconcile import from_store

    with Store(demo_db, read_only=True) as store:
        result = from_store(store)
    assert result is not None
    texts = _page_texts(rendered.path, rendered.pages)
    [page] = [" ".join(t.split()) for t in texts if t.lstrip().startswith("Reconciliation to the general ledger")]
    off = result.lines.filter((pl.col("period") == pack.period) & (pl.col("status") != "reconciled"))
    assert off.height == 2
    for category, variance in off.select("category", "variance").iter_rows():
        label = report.CATEGORIES[category].label
        assert formats.money(variance) in page and label.split()[0] in page
    earlier = [p for p in result.failing if p != pack.period]
    assert f"{pack.period}: the spend does not reconcile" in page
    assert f"Earlier quarters that do not reconcile: {', '.join(earlier)}." in page
    assert "not reconciled: 7100 Travel & entertainment ($459,000.00)." in page
    sheet = report.tables(pack)["GL reconciliation"]
    assert sheet.filter(pl.col("variance") != 0).select("quarter", "category", "variance").rows() == (
        result.lines.filter(pl.col("variance") != 0).select("period", "category", "variance").rows())
