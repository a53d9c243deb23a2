"""The main flows in a real headless Chromium: upload, validate, import, see the Overview change;
and a shared link that reopens the same view.

Chromium is Debian's package (`/usr/bin/chromium`); the setup installs it when missing, so on
a new machine and in CI this test runs rather than skips. Screenshots go to artifacts/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from finance.demo import build_demo_db

from .conftest import ROOT
from .dashboard_server import serve

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "artifacts" / "browser"


def _ensure_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        pytest.fail("Chromium is missing and cannot be installed here (needs apt-get as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([apt, "update", "-qq"], check=True, env=env, timeout=600)
    subprocess.run([apt, "install", "-y", "-qq", "chromium"], check=True, env=env, timeout=1200)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    _ensure_chromium()
    db = tmp_path_factory.mktemp("browser") / "company.duckdb"
    build_demo_db(db)
    with serve(db) as url:
        yield url, db


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield launched
        launched.close()


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _settled(page) -> None:  # type: ignore[no-untyped-def]
    """Wait until the page's script has finished running (Streamlit's running indicator is gone): a widget
    opened while the page is still drawing may be drawn over before it is clicked."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidgetRunningIcon\"], "
                           "[data-testid=\"stStatusWidgetRunningManIcon\"]')", timeout=180_000)


def _metric(page, label: str) -> str:  # type: ignore[no-untyped-def]
    """The value of the tile labelled exactly ``label`` ("S&M CAC", not the "LTV:S&M CAC" beside it)."""
    tile = page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]').get_by_text(label, exact=True)).first
    return str(tile.locator('[data-testid="stMetricValue"]').inner_text()).strip()


def _selected(page, label: str) -> str:  # type: ignore[no-untyped-def]
    """The current choice of the sidebar select box labelled ``label``."""
    return str(page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name=label).input_value())


def test_upload_validate_import_and_see_the_new_quarter_awaiting_revenue(  # type: ignore[no-untyped-def]
        server: tuple[str, Path], browser, tmp_path: Path) -> None:
    url, _ = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.get_by_text("Fully loaded CAC").first.wait_for(timeout=90_000)
    before = _metric(page, "Marketing spend")
    _shot(page, "1-overview-before")

    # A spend file for the next quarter with one bad row: the report names it, nothing is imported.
    bad = tmp_path / "2026-Q1-spend.csv"
    bad.write_text("period,category,channel,amount\n2026-Q1,paid search,Paid Search,\"$250,000.00\"\n"
                   "2026-Q1,salaries,,oops\n")
    page.goto(f"{url}/data")
    page.get_by_text("Import history").wait_for(timeout=60_000)
    page.locator('input[type="file"]').set_input_files(str(bad))
    page.get_by_text("must be fixed before this file can be imported").wait_for(timeout=60_000)
    # the report names the row, the column and quotes the offending value
    report = page.locator('[data-testid="stTable"]').first
    report.get_by_text("oops").wait_for(timeout=30_000)
    assert "Amounts that cannot be read" in report.inner_text() and "amount" in report.inner_text()
    _shot(page, "2-data-rejected")

    good = tmp_path / "2026-Q1-spend-fixed.csv"
    good.write_text("period,category,channel,amount\n2026-Q1,paid search,Paid Search,\"$250,000.00\"\n"
                    "2026-Q1,salaries,,\"150,000.00\"\n")
    page.locator('input[type="file"]').set_input_files(str(good))
    page.get_by_text("No problems found").wait_for(timeout=60_000)
    page.get_by_role("button", name="Import 2 rows").click()
    page.get_by_text("Imported 2026-Q1-spend-fixed.csv").wait_for(timeout=60_000)
    _shot(page, "3-data-imported")

    page.goto(url)
    page.get_by_text("Fully loaded CAC").first.wait_for(timeout=90_000)
    page.wait_for_timeout(1000)
    after = _metric(page, "Marketing spend")
    # next quarter's spend arrives before its customers and revenue: the headline stays on the last
    # complete quarter, and the new quarter is announced as awaiting them
    assert after == before
    page.get_by_text("2026-Q1: spend loaded, awaiting customers and revenue").wait_for(timeout=30_000)
    _shot(page, "4-overview-after")
    page.close()


def test_a_shared_link_reopens_the_same_view(server: tuple[str, Path], browser) -> None:  # type: ignore[no-untyped-def]
    url, _ = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{url}/?window=12&sm=1&method=cohort")
    page.get_by_text("S&M CAC").first.wait_for(timeout=90_000)
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert "Trailing 12 months" in _selected(page, "Window")
    assert "Cohort retention (sBG)" in _selected(page, "LTV method")
    shown = _metric(page, "S&M CAC")
    _settled(page)
    _shot(page, "5-shared-link")
    # changing the view rewrites the link, and switching pages keeps the view
    window = sidebar.locator('[data-testid="stSelectbox"]').filter(has_text="Window")
    window.scroll_into_view_if_needed()  # near the sidebar's foot: a scroll while it opens would close it
    window.click()
    page.get_by_role("option", name="Trailing 6 months").click()
    page.wait_for_function("() => window.location.search.includes('window=6')", timeout=30_000)
    page.get_by_role("link", name="CAC").first.click()
    page.wait_for_function("() => window.location.pathname.endsWith('/cac') && "
                           "window.location.search.includes('window=6')", timeout=30_000)
    assert "Trailing 6 months" in _selected(page, "Window")
    page.goto(f"{url}/?window=12&sm=1&method=cohort")
    page.get_by_text("S&M CAC").first.wait_for(timeout=90_000)
    # the same link in a fresh page (a colleague opening it) shows the same figure
    other = browser.new_page(viewport={"width": 1400, "height": 1000})
    other.goto(page.url)
    other.get_by_text("S&M CAC").first.wait_for(timeout=90_000)
    assert _metric(other, "S&M CAC") == shown
    other.close()
    page.close()


def test_an_ambiguous_date_file_is_read_once_told_how(server: tuple[str, Path], browser,  # type: ignore[no-untyped-def]
                                                      tmp_path: Path) -> None:
    url, _ = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{url}/data")
    page.get_by_text("Import history").wait_for(timeout=60_000)
    dated = tmp_path / "eu-ledger.csv"
    dated.write_text("period,category,channel,amount\n01/02/2026,events,Events,1200.00\n")
    page.locator('input[type="file"]').set_input_files(str(dated))
    report = page.locator('[data-testid="stTable"]').first
    report.get_by_text("Dates that could be day first or month first").wait_for(timeout=60_000)
    page.get_by_text("How to read this file (dates").click()
    page.get_by_text("day first", exact=True).click()
    page.get_by_text("No problems found").wait_for(timeout=60_000)
    _shot(page, "6-data-date-format")
    page.close()


def test_a_cmo_plans_next_quarter_and_downloads_the_board_pack(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """On a freshly started server, a shared link straight to the planner: build the request, compare it
    with the optimised split, save it, and download the board pack."""
    _ensure_chromium()
    db = tmp_path / "plan.duckdb"
    build_demo_db(db)
    with serve(db) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
        page.goto(f"{url}/planner")
        page.get_by_text("Projection for 2026-Q1").wait_for(timeout=120_000)
        # the first link to a page on a cold server still gets the dashboard's frame and navigation
        page.locator('[data-testid="stSidebarNav"]').get_by_text("Overview").wait_for(timeout=30_000)
        before = _metric(page, "LTV:CAC")
        # the CMO raises shared costs by half: CAC rises, LTV:CAC falls
        shared = page.get_by_role("spinbutton", name="Shared costs (% of start)")
        shared.fill("150")
        shared.press("Enter")
        page.wait_for_function(
            "([text]) => [...document.querySelectorAll('[data-testid=\"stMetric\"]')]"
            ".some(m => m.innerText.includes('LTV:CAC') && !m.innerText.includes(text))", arg=[before],
            timeout=60_000)
        after = _metric(page, "LTV:CAC")
        assert float(after.rstrip("x")) < float(before.rstrip("x"))
        _shot(page, "7-planner")
        page.get_by_role("tab", name="Scenarios").click()
        page.get_by_label("Scenario name").fill("2026-Q1 request")
        page.get_by_role("button", name="Save the working plan").click()
        page.get_by_text("Saved '2026-Q1 request'").wait_for(timeout=60_000)
        page.get_by_text("Optimised split projects").or_(page.get_by_text("Working plan projects")).or_(
            page.get_by_text("Baseline (repeat last quarter) projects")).first.wait_for(timeout=60_000)
        _shot(page, "8-planner-compare")
        page.get_by_role("tab", name="Board pack").click()
        page.get_by_role("button", name="Prepare the PDF").click()
        button = page.get_by_role("button", name="Download board pack (PDF)")
        button.wait_for(timeout=180_000)
        with page.expect_download(timeout=60_000) as info:
            button.click()
        saved = tmp_path / "pack.pdf"
        info.value.save_as(saved)
        assert saved.read_bytes()[:5] == b"%PDF-" and saved.stat().st_size > 50_000
        text = subprocess.run(["pdftotext", "-layout", str(saved), "-"], capture_output=True, text=True,
                              check=True).stdout
        assert "2026-Q1 request" in text
        page.close()
