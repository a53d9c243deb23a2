"""The embedded demo company: built from sample_data/ on first run, exact to the cent."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest

from finance.demo import DEMO_SETTING, SAMPLE_DIR, build_demo_db
from finance.store.database import Store

from .conftest import run_cli


def _csv_sum(name: str, column: str) -> tuple[int, Decimal | int]:
    """Rows and the column's sum, read with the standard library: an independent check."""
    with (SAMPLE_DIR / name).open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if column == "":
        return len(rows), len(rows)
    numbers = [Decimal(r[column]) if "." in r[column] else int(r[column]) for r in rows]
    return len(rows), sum(numbers, Decimal(0) if isinstance(numbers[0], Decimal) else 0)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    assert build_demo_db(path) is True
    return path


def test_demo_totals_equal_the_sample_files(demo_db: Path) -> None:
    with Store(demo_db, read_only=True) as store:
        totals = store.totals()
        margin = store.one("SELECT sum(gross_margin) FROM revenue")
        assert store.setting(DEMO_SETTING)
    assert (totals["spend"]["rows"], totals["spend"]["total"]) == _csv_sum("spend.csv", "amount")
    assert (totals["funnel"]["rows"], totals["funnel"]["total"]) == _csv_sum("funnel.csv", "leads")
    assert (totals["customers"]["rows"], totals["customers"]["total"]) == _csv_sum("customers.csv", "")
    assert (totals["revenue"]["rows"], totals["revenue"]["total"]) == _csv_sum("revenue.csv", "revenue")
    assert margin is not None and margin[0] == _csv_sum("revenue.csv", "gross_margin")[1]


def test_demo_is_built_once_and_kept(demo_db: Path) -> None:
    stamp = demo_db.stat().st_mtime_ns
    assert build_demo_db(demo_db) is False
    assert demo_db.stat().st_mtime_ns == stamp


def test_demo_command_builds_the_default_file(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "finance.duckdb"
    done = run_cli("demo", "--db", path)
    assert done.returncode == 0, done.stderr
    assert "built demo database" in done.stdout
    with Store(path, read_only=True) as store:
        assert store.totals()["customers"]["rows"] == _csv_sum("customers.csv", "")[0]
    # no temp files left; the demo's model check beside it
    assert sorted(p.name for p in path.parent.iterdir()) == ["finance.duckdb", "finance.model-checks"]
    assert len(list((path.parent / "finance.model-checks").glob("*.json"))) == 1


def _close(a: object, b: object, path: str = "") -> None:
    """Equal structures, numbers to 1e-9 relative (a fresh run may round its last bit differently)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            _close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), path
    else:
        assert a == b, path


@pytest.mark.slow
def test_the_shipped_model_check_is_what_a_fresh_run_gives(demo_db: Path) -> None:
    import json

    from finance.demo import DEMO_CHECK, demo_check_key
    from finance.ltv import backtest
    from finance.metrics.table import default_as_of

    shipped = json.loads(DEMO_CHECK.read_text())
    key, data, settings = demo_check_key(demo_db)
    assert shipped["key"] == key  # the demo database's data and the check's method version
    assert backtest.load(demo_db, key) is not None  # installed beside the database
    fresh = json.loads(json.dumps(backtest.run(data, settings, default_as_of(data)).to_json(),  # type: ignore[arg-type]
                                  default=str))
    shipped["check"].pop("seconds")
    fresh.pop("seconds")
    _close(fresh, shipped["check"])
