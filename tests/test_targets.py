"""Targets beside the bands, as a CMO's team sets them: with the real command line on a copy of the demo company,
then read where the CFO reads them. Which periods missed a target is checked against ``metrics`` itself: each
quarter's (and channel's) figure from its JSON, compared with the target here.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from finance.store.database import Store

from .conftest import open_dashboard, run_cli, run_cli_json

TARGETS = ("ltv_cac=5", "payback_months=6", "cac:paid search=450", "cac:Events=2000.50")


@pytest.fixture(scope="module")
def aimed(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("targets") / "books.duckdb"
    shutil.copy(demo_db, db)
    done = run_cli("targets", "set", *TARGETS, "--db", db, env={"FINANCE_USER": "cmo@example.com"})
    assert done.returncode == 0, done.stderr
    return db


def _expected_misses(db: Path) -> set[tuple[str, str | None, str]]:
    """The misses worked out here from ``metrics``' own figures."""
    code, pooled = run_cli_json("metrics", "--db", db)
    assert code == 0
    code, channels = run_cli_json("metrics", "--db", db, "--by", "channel")
    assert code == 0
    out: set[tuple[str, str | None, str]] = set()
    for row in pooled["rows"]:
        if row["ltv_cac"] is not None and row["ltv_cac"] < 5:
            out.add((row["period"], None, "ltv_cac"))
        if row["payback_months"] is not None and row["payback_months"] > 6:
            out.add((row["period"], None, "payback_months"))
    goals = {"Paid Search": Decimal("450"), "Events": Decimal("2000.50")}
    for row in channels["rows"]:
        if row["channel"] in goals and row["cac"] is not None and Decimal(row["cac"]) > goals[row["channel"]]:
            out.add((row["period"], row["channel"], "cac"))
    return out


def test_the_periods_that_missed_are_those_the_figures_say(aimed: Path) -> None:
    code, listed = run_cli_json("targets", "--db", aimed)
    assert code == 0
    assert (listed["ltv_cac"], listed["payback_months"]) == (5.0, 6)
    assert listed["cac"] == {"paid search": "450.0000", "Events": "2000.5000"}, "as first written, to the cent"
    found = {(m["period"], m["channel"], m["measure"]) for m in listed["missed"]}
    expected = _expected_misses(aimed)
    assert found == expected and expected, "the demo misses some of these targets"
    # Every miss carries its figure and the target it missed.
    assert all((m["measure"] == "ltv_cac" and m["value"] < m["target"]) or
               (m["measure"] != "ltv_cac" and m["value"] > m["target"]) for m in listed["missed"])
    with Store(aimed, read_only=True) as store:
        logged = store.changes(actions=["cac_target_set", "assumptions"])
    assert set(logged.get_column("changed_by")) == {"cmo@example.com"}


def test_a_bad_target_is_named_and_changes_nothing(aimed: Path, tmp_path: Path) -> None:
    db = tmp_path / "copy.duckdb"
    shutil.copy(aimed, db)
    with Store(db, read_only=True) as store:
        before = store.snapshot()
    done = run_cli("targets", "set", "ltv_cac=abc", "cac:Display=-5", "reach=3", "payback_months=400", "--db", db)
    assert done.returncode == 2
    assert "'cac:Display'" not in done.stderr and "CAC target for 'Display': '-5' is not an amount" in done.stderr
    assert "'reach' is not a target" in done.stderr
    done = run_cli("targets", "set", "ltv_cac=abc", "--db", db)
    assert done.returncode == 2 and "target_ratio='abc'" in done.stderr
    with Store(db, read_only=True) as store:
        assert store.snapshot() == before
    # Clearing a channel's target and the payback target.
    assert run_cli("targets", "clear", "cac:PAID SEARCH", "payback_months", "--db", db).returncode == 0
    _code, listed = run_cli_json("targets", "--db", db)
    assert listed["cac"] == {"Events": "2000.5000"} and listed["payback_months"] is None
    assert not any(m["measure"] == "payback_months" for m in listed["missed"])


def test_the_dashboard_shows_the_targets_on_tiles_and_charts(monkeypatch: pytest.MonkeyPatch, aimed: Path) -> None:
    at = open_dashboard(monkeypatch, aimed, "pages/overview.py")
    _code, pooled = run_cli_json("metrics", "--db", aimed)
    [warning] = [re.sub(r"\\(.)", r"\1", w.value) for w in at.warning if "Targets in" in w.value]
    latest = next(r for r in pooled["rows"] if r["period"] == "2025-Q4")
    ratio = "missed" if latest["ltv_cac"] < 5 else "met"
    payback = "missed" if latest["payback_months"] > 6 else "met"
    assert warning.startswith(f"Targets in 2025-Q4: LTV:CAC {latest['ltv_cac']:.2f}x against 5x, {ratio}; "
                              f"CAC payback {latest['payback_months']:g} months against 6 months, {payback}; ")
    over = {m["channel"] for m in run_cli_json("targets", "--db", aimed)[1]["missed"]
            if m["period"] == "2025-Q4" and m["measure"] == "cac"}
    assert all(f"{channel} $" in warning for channel in over) and over
    [trend] = [json.loads(c.proto.spec) for c in at.get("plotly_chart") if "overview.trend" in c.proto.id]
    lines = [s for s in trend["layout"]["shapes"] if s.get("line", {}).get("dash") == "dash"]
    assert [(s["y0"], s["y1"]) for s in lines] == [(5, 5)], "the target, dashed, at 5x"
    assert "Dashed: the target, 5x." in trend["layout"]["title"]["subtitle"]["text"].replace("<br>", " ")
    at = open_dashboard(monkeypatch, aimed, "pages/cac.py")
    [channel] = [json.loads(c.proto.spec) for c in at.get("plotly_chart") if "cac.channel" in c.proto.id]
    goals = {t["name"]: set(t["y"]) for t in channel["data"] if t["name"].endswith(" target")}
    assert goals == {"Paid Search target": {450.0}, "Events target": {2000.5}}


def test_the_pack_lists_the_quarters_that_missed(aimed: Path, tmp_path: Path) -> None:
    out = tmp_path / "pack.pdf"
    assert run_cli("report", "--db", aimed, "--period", "2025-Q4", "--out", out).returncode == 0
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True).stdout
    assert "Quarters that missed the targets" in text
    table = text[text.index("Quarters that missed the targets"):]
    rows = [line.split() for line in table.splitlines() if line.strip()[:4].isdigit() and "-Q" in line[:12]]
    expected: Any = _expected_misses(aimed)
    assert len(rows) == len(expected)
    assert "Target CAC payback (months)" in text
