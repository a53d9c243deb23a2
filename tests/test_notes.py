"""Notes on the timeline, as a marketing-ops team keeps them: added and deleted with the real command line on a real
DuckDB file, then seen where a CFO reads them: on the dashboard's charts in Chromium, and in the board pack's PDF.
A note's words come from people and may hold anything: they are only ever text.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from finance.store.database import Store

from .conftest import ROOT, open_dashboard, run_cli, run_cli_json
from .dashboard_server import serve
from .test_browser import _ensure_chromium, browser  # noqa: F401  (the Chromium fixture)

HOSTILE = '<a href="https://evil.example">Launch</a> **bold** =HYPERLINK("x")'


@pytest.fixture(scope="module")
def noted(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo company with three notes: a day in 2025-Q4, a stretch over Q2 and Q3 about a channel, and one
    whose words look like markup."""
    db = tmp_path_factory.mktemp("notes") / "books.duckdb"
    shutil.copy(demo_db, db)
    for args in (("Brand campaign launch", "--date", "2025-11-03"),
                 ("Tracking outage", "--date", "2025-05-20", "--end", "2025-08-10", "--channel", "Paid Search"),
                 (HOSTILE, "--date", "2024-02-14")):
        done = run_cli("notes", "add", *args, "--db", db, env={"FINANCE_USER": "ops@example.com"})
        assert done.returncode == 0, done.stderr
    return db


def test_notes_are_added_listed_and_deleted_with_their_words_kept(noted: Path, tmp_path: Path) -> None:
    code, listed = run_cli_json("notes", "list", "--db", noted)
    assert code == 0
    assert [(n["note"], n["day"], n["end"]) for n in listed] == [
        (3, "2024-02-14", None), (2, "2025-05-20", "2025-08-10"), (1, "2025-11-03", None)], "by day"
    assert listed[0]["text"] == HOSTILE and listed[1]["channel"] == "Paid Search"
    assert {n["author"] for n in listed} == {"ops@example.com"}
    # A note that does not hold is refused, naming why, and adds nothing.
    db = tmp_path / "copy.duckdb"
    shutil.copy(noted, db)
    for args, words in ((("x", "--date", "2025-11-03", "--end", "2025-10-01"), "is before its day"),
                        (("   ", "--date", "2025-11-03"), "is blank"),
                        (("ring \x07 bell", "--date", "2025-11-03"), "control or format character"),
                        (("y" * 281, "--date", "2025-11-03"), "at most 280"),
                        (("z", "--date", "2025-13-03"), "not a date")):
        done = run_cli("notes", "add", *args, "--db", db)
        assert done.returncode == 2 and words in done.stderr, (args, done.stderr)
    assert len(run_cli_json("notes", "list", "--db", db)[1]) == 3
    # Deleting keeps the words in the change log.
    done = run_cli("notes", "delete", "2", "--db", db, env={"FINANCE_USER": "cfo@example.com"})
    assert done.returncode == 0 and "deleted note #2 (Tracking outage)" in done.stdout
    assert [n["note"] for n in run_cli_json("notes", "list", "--db", db)[1]] == [3, 1]
    with Store(db, read_only=True) as store:
        [deleted] = store.changes(actions=["note_deleted"]).iter_rows(named=True)
    assert deleted["changed_by"] == "cfo@example.com" and json.loads(deleted["detail"])["text"] == "Tracking outage"
    assert run_cli("notes", "delete", "2", "--db", db).returncode == 2


def _trend(at: Any) -> dict[str, Any]:
    [spec] = [json.loads(c.proto.spec) for c in at.get("plotly_chart") if "overview.trend" in c.proto.id]
    return spec


def test_every_time_series_marks_the_notes_as_text(monkeypatch: pytest.MonkeyPatch, noted: Path) -> None:
    at = open_dashboard(monkeypatch, noted, "pages/overview.py")
    layout = _trend(at)["layout"]
    marks = {a["x"]: {**a, "hovertext": a["hovertext"].replace("<br>", " ")} for a in layout["annotations"]
             if a.get("hovertext")}
    assert marks["2025-Q4"]["text"].endswith("#1") and "Brand campaign launch" in marks["2025-Q4"]["hovertext"]
    assert marks["2025-Q2"]["text"] == "#2" and "(Paid Search)" in marks["2025-Q2"]["hovertext"]
    assert marks["2024-Q1"]["text"] == "#3"
    hover = marks["2024-Q1"]["hovertext"]
    assert "&lt;a href=" in hover and "<a " not in hover, "a note's markup is shown, never run"
    axis = layout["xaxis"]["categoryarray"]
    spans = [s for s in layout["shapes"] if s.get("type") == "rect" and s.get("xref") == "x"
             and s.get("line", {}).get("width") == 0]
    assert [(s["x0"] + 0.5, s["x1"] - 0.5) for s in spans] == [(axis.index("2025-Q2"), axis.index("2025-Q3"))]
    # The same notes at the month grain, at their months; and the list under the chart.
    at = open_dashboard(monkeypatch, noted, "pages/overview.py", query={"grain": "month"})
    assert {a["x"] for a in _trend(at)["layout"]["annotations"] if a.get("text", "").endswith("#1")} == {"2025-11"}
    # A note about one channel is not on a view of another channel's figures.
    at = open_dashboard(monkeypatch, noted, "pages/cac.py", query={"channels": "Events"})
    texts = {a.get("text") for c in at.get("plotly_chart") for a in json.loads(c.proto.spec)["layout"].get(
        "annotations", [])}
    assert "#2" not in texts and "#3" in texts


@pytest.fixture(scope="module")
def server(noted: Path) -> Iterator[str]:
    _ensure_chromium()
    with serve(noted) as url:
        yield url


def test_notes_show_on_the_charts_in_chromium(server: str, browser) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server)
    chart = page.locator(".js-plotly-plot").first
    chart.wait_for(timeout=90_000)
    page.wait_for_function("() => [...document.querySelectorAll('.annotation-text')].some(t => "
                           "t.textContent.endsWith('#1'))", timeout=60_000)
    drawn = page.locator(".annotation-text").all_text_contents()
    assert "#2" in drawn and "#3" in drawn and any(t.endswith("#1") for t in drawn)
    # Hovering a note's number shows its words as text: no link is made of the markup in it.
    chart.locator(".annotation", has_text="#3").first.hover()
    page.wait_for_function("() => [...document.querySelectorAll('.hoverlayer')].some(h => "
                           "h.textContent.includes('Launch'))", timeout=30_000)
    hover = chart.locator(".hoverlayer").text_content() or ""
    # (the hover's lines join without the space they broke at)
    assert '<a' in hover and 'href="https://evil.example">Launch</a>' in hover
    assert page.locator('a[href="https://evil.example"]').count() == 0
    (ROOT / "artifacts" / "browser").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ROOT / "artifacts" / "browser" / "notes-on-the-trend.png"), full_page=True)
    page.close()


def test_notes_are_on_the_board_pack_charts_and_listed(noted: Path, tmp_path: Path) -> None:
    out = tmp_path / "pack.pdf"
    assert run_cli("report", "--db", noted, "--period", "2025-Q4", "--out", out).returncode == 0
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "Notes on the timeline (numbered on the charts)" in text
    assert "Brand campaign launch" in text and "Tracking outage" in text and HOSTILE in text
    # The trend chart's marks are in the PDF's text: the GL mark and the note's number over 2025-Q4.
    assert "GL · #1" in text and "#2" in text
    # A pack of an earlier quarter lists only the notes up to its end.
    early = tmp_path / "early.pdf"
    assert run_cli("report", "--db", noted, "--period", "2024-Q4", "--out", early).returncode == 0
    text = subprocess.run(["pdftotext", str(early), "-"], capture_output=True, text=True, check=True).stdout
    assert "Brand campaign launch" not in text and "**bold**" in text
