"""Every control a careless user or an attacker can set gives a clear error, never a traceback.

Command-line flags (NaN, infinity, huge exponents), planner figures, links with absurd filters,
uploads that pile up on disk, store errors that keep their paths as written.
"""

from __future__ import annotations

import gc
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from finance.app import loaders, widgets
from finance.demo import build_demo_db
from finance.planning import plans as sc
from finance.planning.curves import PlanError

from .conftest import ROOT, run_cli


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("controls") / "demo.duckdb"
    build_demo_db(path)
    return path


# --- the command line ------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "expected"), [
    (["metrics", "--gross-margin", "nan"], "'nan': expected a number from 0 to 1"),
    (["metrics", "--gross-margin", "1e999999999999"], "expected a number from 0 to 1"),
    (["metrics", "--discount-rate", "inf"], "'inf': expected a number from 0 and below 1"),
    (["metrics", "--horizon", "1e9"], "expected a whole number from 1 to 600"),
    (["metrics", "--bands", "nan,nan,nan,nan"], "finite, positive and increasing"),
    (["metrics", "--bands", "1,2,3,inf"], "finite, positive and increasing"),
    (["metrics", "--target", "nan"], "'nan': expected a number above 0 to 100"),
    (["metrics", "--draws", "1000000"], "unrecognized arguments: --draws"),
    (["plan", "--shared", "nan"], "'nan': expected a number from 0 to 500"),
    (["plan", "--shared", "1e300"], "expected a number from 0 to 500"),
    (["plan", "--target-ratio=-inf"], "expected a number above 0 to 100"),
    (["plan", "--target-customers", "1e30"], "expected a number from 1 to 1e+09"),
    (["import", "spend", "x.csv", "--fiscal-year-start", "nan"], "expected a whole number from 1 to 12"),
])
def test_bad_numbers_on_the_command_line_are_usage_errors(demo_db: Path, args: list[str], expected: str) -> None:
    done = run_cli(*args, "--db", demo_db)
    assert done.returncode == 2, done.stdout
    assert expected in done.stderr and "Traceback" not in done.stderr


def test_huge_or_unreal_plan_amounts_are_refused_by_the_command_line(demo_db: Path) -> None:
    amounts = ["1e17", "1e30", "1e300", "nan", "-inf"]
    sets = [arg for amount in amounts for arg in ("--set", f"Events:events={amount}")]
    done = run_cli("plan", "--db", demo_db, *sets)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    for amount in amounts:  # every bad edit named, with its value, in one run
        assert f"--set 'Events:events={amount}'" in done.stderr, (amount, done.stderr)
    done = run_cli("plan", "--db", demo_db, "--optimise", "--total=1e300")
    assert done.returncode == 2 and "Traceback" not in done.stderr and "1e300" in done.stderr


# --- the planner's core ------------------------------------------------------------------------


@pytest.mark.parametrize("amount", ["1e17", "1e30", "1e300", "100000000000000", Decimal("1E+4300")])
def test_plan_amounts_are_bounded_like_imported_ones(amount: Any) -> None:
    with pytest.raises(PlanError, match="100 trillion or more"):
        sc.to_cents(amount)
    assert sc.to_cents("99999999999999.99") == Decimal("99999999999999.99")


def test_goal_seek_targets_must_be_real_numbers(demo_db: Path) -> None:
    from finance.domain.assumptions import Assumptions
    from finance.metrics.params import metric_params
    from finance.store.database import Store

    with Store(demo_db, read_only=True) as store:
        basis = sc.planning_basis(store.dataset(), metric_params(Assumptions.from_settings(store.assumptions()),
            method="formula"))
    lines = basis.starts["last_quarter"]
    for target in (float("nan"), float("inf"), 1e300, 0.0, -1.0):
        with pytest.raises(PlanError, match="target LTV:CAC"):
            sc.budget_for_ratio(basis, lines, target)
    for target in (float("nan"), float("inf"), 1e17, 1e30, 0.5):
        with pytest.raises(PlanError, match="target new customers"):
            sc.budget_for_customers(basis, lines, target)


# --- the dashboard -----------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["pages/cac.py", "pages/ltv.py", "pages/cpl_cpa.py", "pages/overview.py"])
def test_a_link_with_an_absurd_channel_filter_shows_the_page(demo_db: Path, monkeypatch: pytest.MonkeyPatch,
                                                            page: str) -> None:
    monkeypatch.setenv("FINANCE_DB", str(demo_db))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.query_params["channels"] = "x" * 40_000
    at.query_params["segments"] = "[a](https://evil.example)"
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception


def test_store_errors_keep_their_paths_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "Finance Team" / "Q4 Board"
    folder.mkdir(parents=True)
    broken = folder / "Company.duckdb"
    broken.write_bytes(b"this is not a database" * 100)
    monkeypatch.setenv("FINANCE_DB", str(broken))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    shown = " ".join(e.value for e in at.error).replace("\\", "")
    assert "Finance Team/Q4 Board/Company.duckdb" in shown, shown
    assert loaders.sentence("x at /Tmp/A.duckdb") == "X at /Tmp/A.duckdb"


class _Upload:
    def __init__(self, file_id: str, name: str, data: bytes) -> None:
        self.file_id, self.name, self._data = file_id, name, data

    def getbuffer(self) -> bytes:
        return self._data


def test_one_upload_copy_per_file_removed_when_replaced_cleared_or_the_session_ends() -> None:
    uploads = widgets.Uploads()
    folder = uploads.folder
    first = uploads.copy("spend", _Upload("a", "../../etc/passwd.csv", b"period\n"))
    for _ in range(5):  # every rerun of the page with the same file
        assert uploads.copy("spend", _Upload("a", "../../etc/passwd.csv", b"period\n")) == first
    assert first.parent == folder and [p.name for p in folder.iterdir()] == ["spend.csv"]
    second = uploads.copy("spend", _Upload("b", "next.TSV", b"period\n"))
    assert not first.exists() and second.name == "spend.tsv" and len(list(folder.iterdir())) == 1
    uploads.copy("revenue", _Upload("c", "rev", b"customer_id\n"))
    uploads.clear("spend")
    assert sorted(p.name for p in folder.iterdir()) == ["revenue.csv"]
    del uploads
    gc.collect()
    assert not folder.exists()
