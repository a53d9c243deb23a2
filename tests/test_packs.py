"""Published board packs, as a CFO's team would use them: the demo company's pack published with the real command
line, then data and assumptions changed the way a quarter's close changes them (a late customers file written
here, a new quarter's spend, a discount-rate change), and the pack downloaded again and compared with now.
The figures the diff names are checked against ``metrics`` run before and after: an independent path.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from finance.store.database import Store

from .conftest import open_dashboard, run_cli, run_cli_json, write

ROOT = Path(__file__).resolve().parents[1]
LATE_INVOICE = Decimal("25000.00")


def corrected_q4_spend() -> str:
    """The quarter's spend export as finance re-sends it after the close: every 2025-Q4 line, and a late invoice."""
    lines = (ROOT / "sample_data" / "spend.csv").read_text().splitlines()
    kept = [line for line in lines[1:] if line.startswith("2025-Q4")]
    assert kept, "the demo's spend has a 2025-Q4"
    return "\n".join([lines[0], *kept, f"2025-12,events,Events,{LATE_INVOICE},Expo Center,Booth (late invoice)"]) + "\n"

NEXT_QUARTER = """period,category,channel,amount,vendor
2026-01,digital_advertising,Paid Search,61000.00,Google Ads
"""


def _quarter(db: Path, label: str) -> dict[str, Any]:
    code, report = run_cli_json("metrics", "--db", db)
    assert code == 0
    return next(r for r in report["rows"] if r["period"] == label)


@pytest.fixture(scope="module")
def published(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo's 2025-Q4 pack published, then the books changed: what each step showed."""
    folder = tmp_path_factory.mktemp("packs")
    db = folder / "books.duckdb"
    shutil.copy(demo_db, db)
    before = _quarter(db, "2025-Q4")
    done = run_cli("report", "--db", db, "--publish", "--period", "2025-Q4", "--out", folder / "as-published.pdf",
                   env={"FINANCE_USER": "cfo@example.com"})
    assert done.returncode == 0, done.stderr
    unchanged = run_cli_json("report", "--db", db, "--diff", "1")
    for step in (("import", "spend", write(folder / "q4 spend corrected.csv", corrected_q4_spend()), "--replace"),
                 ("import", "spend", write(folder / "2026-q1 spend.csv", NEXT_QUARTER)),
                 ("assumptions", "--set", "annual_discount_rate=0.12")):
        assert run_cli(*step, "--db", db, env={"FINANCE_USER": "ops@example.com"}).returncode == 0
    return {"db": db, "folder": folder, "out": done.stdout, "before": before, "after": _quarter(db, "2025-Q4"),
            "unchanged": unchanged, "diff": run_cli_json("report", "--db", db, "--diff", "1")}


def test_a_published_pack_downloads_byte_identical_after_later_imports(published: dict[str, Any]) -> None:
    db, folder = published["db"], published["folder"]
    assert "published pack #1 of 2025-Q4" in published["out"]
    listing = run_cli("packs", "--db", db).stdout
    assert "2025-Q4" in listing and "cfo@example.com" in listing
    assert run_cli("packs", "1", "--db", db, "--out", folder / "again.pdf").returncode == 0
    assert run_cli("packs", "1", "--db", db, "--out", folder / "again.xlsx").returncode == 0
    original = (folder / "as-published.pdf").read_bytes()
    assert (folder / "again.pdf").read_bytes() == original, "the PDF is the one the board saw, byte for byte"
    code, manifest = run_cli_json("packs", "1", "--db", db)
    assert code == 0
    xlsx = (folder / "again.xlsx").read_bytes()
    assert hashlib.sha256(original).hexdigest() == manifest["files"]["pdf"]["sha256"]
    assert hashlib.sha256(xlsx).hexdigest() == manifest["files"]["xlsx"]["sha256"]
    # The XLSX still says what the board saw: the quarter's fully loaded CAC as it was, not as it is now.
    sheets = load_workbook(folder / "again.xlsx", read_only=True)
    cells = [str(c) for ws in sheets.worksheets for row in ws.iter_rows(values_only=True) for c in row if c is not None]
    assert str(float(published["before"]["cac"])) in cells or published["before"]["cac"] in cells
    # The manifest names what the pack stood on: every import in force then (ids and hashes), the assumptions.
    with Store(db, read_only=True) as store:
        imports = store.imports()
        logged = store.changes(actions=["pack_published"])
    first_five = imports.filter(imports["import_id"] <= 5).sort("import_id")
    assert [(i["import_id"], i["sha256"]) for i in manifest["imports"]] == list(
        zip(first_five["import_id"], first_five["sha256"], strict=True))
    assert manifest["assumptions"]["annual_discount_rate"] == "0.1"
    assert manifest["figures"]["quarters"]["2025-Q4"]["cac"] == published["before"]["cac"]
    # Publishing is in the change log, by who published it.
    [entry] = logged.iter_rows(named=True)
    assert entry["changed_by"] == "cfo@example.com" and json.loads(entry["detail"])["pack"] == 1


def test_the_diff_names_what_moved_by_how_much_and_why(published: dict[str, Any]) -> None:
    code, unchanged = published["unchanged"]
    assert code == 0 and unchanged["changed"] is False and unchanged["moved"] == []
    code, diff = published["diff"]
    assert code == 0 and diff["changed"] is True
    moved = {(m["period"], m["channel"], m["figure"]): m for m in diff["moved"]}
    before, after = published["before"], published["after"]
    causes = {c["key"]: c["text"] for c in diff["causes"]}
    assert {"import 6", "import 7", "assumption annual_discount_rate"} <= set(causes)
    assert "spend, q4 spend corrected.csv" in causes["import 6"] and "by ops@example.com" in causes["import 6"]
    assert "from 0.1 to 0.12" in causes["assumption annual_discount_rate"]
    # The late invoice moved 2025-Q4's spend by exactly its amount, and its CAC, as metrics says then and now.
    spend = moved["2025-Q4", None, "spend"]
    assert (spend["published"], spend["now"]) == (before["spend"], after["spend"])
    assert Decimal(spend["change"]) == LATE_INVOICE and "import 6" in spend["causes"]
    cac = moved["2025-Q4", None, "cac"]
    assert (cac["published"], cac["now"]) == (before["cac"], after["cac"])
    assert Decimal(cac["change"]) == Decimal(after["cac"]) - Decimal(before["cac"]) > 0
    assert "import 6" in cac["causes"] and "assumption annual_discount_rate" not in cac["causes"], \
        "the discount rate does not move a CAC"
    assert ("2025-Q4", None, "new_customers") not in moved, "no customer changed"
    # LTV moved with the discount rate (put back alone, it changes the LTV); the next quarter's spend moved nothing.
    ltv = moved["2025-Q4", None, "ltv"]
    assert (ltv["published"], ltv["now"]) == (before["ltv"], after["ltv"])
    assert "assumption annual_discount_rate" in ltv["causes"]
    assert not any("import 7" in m["causes"] for m in diff["moved"])
    # Quarters the corrected file does not cover keep their spend.
    assert ("2025-Q3", None, "spend") not in moved
    table = run_cli("report", "--db", published["db"], "--diff", "1").stdout
    assert table.startswith("changed since pack #1 of 2025-Q4")
    assert "import #7 (spend, 2026-q1 spend.csv" in table and "it moves none of the pack's figures" in table


def test_the_dashboard_lists_the_pack_and_what_changed_since(monkeypatch: pytest.MonkeyPatch,
                                                              published: dict[str, Any]) -> None:
    at = open_dashboard(monkeypatch, published["db"], "pages/packs.py")
    listing = at.dataframe[0].value
    assert list(listing["quarter"]) == ["2025-Q4"] and list(listing["by"]) == ["cfo@example.com"]
    assert [b.label for b in at.get("download_button")] == ["Download the PDF as published",
                                                            "Download the XLSX as published"]
    [warning] = [w.value for w in at.warning if "figures read otherwise" in w.value]
    _code, diff = published["diff"]
    assert warning.startswith(f"{len(diff['moved'])} of the pack's figures")
    moved = at.dataframe[1].value
    assert len(moved) == len(diff["moved"])
    # The Overview says it too, with the headline: the quarter's LTV:CAC then and now.
    at = open_dashboard(monkeypatch, published["db"], "pages/overview.py")
    [note] = [i.value for i in at.info if "Changed since the pack of 2025-Q4" in i.value]
    ratio = next(m for m in diff["moved"] if m["figure"] == "ltv_cac" and m["channel"] is None
                 and m["period"] == "2025-Q4")
    assert f"LTV:CAC of 2025-Q4, {ratio['published']}x then, {ratio['now']}x now" in note
    # An editor publishes from the page: the latest complete quarter is the one offered first. The new pack reads
    # as the data now, so the Overview has nothing to say of it.
    at = open_dashboard(monkeypatch, published["db"], "pages/packs.py")
    assert at.selectbox(key="packs.quarter").value == "2025-Q4"
    at.button(key="packs.publish").click().run(timeout=300)
    assert [s.value for s in at.success] == ["Published pack #2 of 2025-Q4."]
    assert list(at.dataframe[0].value["pack"]) == [2, 1]
    at = open_dashboard(monkeypatch, published["db"], "pages/overview.py")
    assert not [i for i in at.info if "Changed since the pack" in i.value]


def test_nothing_is_published_when_the_pack_cannot_be_made(demo_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "books.duckdb"
    shutil.copy(demo_db, db)
    done = run_cli("report", "--db", db, "--publish", "--period", "2031-Q1")
    assert done.returncode == 2 and "unknown period '2031-Q1'" in done.stderr
    assert "no pack is published yet" in run_cli("packs", "--db", db).stdout
    missing = run_cli("packs", "4", "--db", db, "--out", tmp_path / "x.pdf")
    assert missing.returncode == 2 and "no published pack #4" in missing.stderr and not (tmp_path / "x.pdf").exists()
