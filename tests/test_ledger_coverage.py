"""What each table covers: the LTV as-of is the end of the revenue ledger, so next quarter's spend,
loaded before its customers and revenue, changes no earlier figure, and a ledger that ends before
the month does still values that month's cohort."""

from __future__ import annotations

import csv
import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from streamlit.testing.v1 import AppTest

from finance.demo import SAMPLE_DIR, build_demo_db
from finance.ltv.base import LTVSettings
from finance.metrics.table import MetricParams, compute, default_as_of, headline_row
from finance.store.database import Store
from finance.store.dataset import Dataset

from .conftest import ROOT


def _next_quarter_spend(path: Path) -> Path:
    """The demo's 2025-Q4 spend lines, as the 2026-Q1 spend file a ledger export would give."""
    with (SAMPLE_DIR / "spend.csv").open(newline="") as source, path.open("w", newline="") as target:
        reader = csv.DictReader(source)
        writer = csv.DictWriter(target, fieldnames=reader.fieldnames or [])
        writer.writeheader()
        for row in reader:
            if row["period"] == "2025-Q4":
                writer.writerow({**row, "period": "2026-Q1"})
    return path


@pytest.fixture(scope="module")
def before_and_after(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("coverage")
    before = folder / "before.duckdb"
    build_demo_db(before)
    after = folder / "after.duckdb"
    shutil.copy(before, after)
    with Store(after) as store:
        result = store.import_file("spend", _next_quarter_spend(folder / "spend-2026-Q1.csv"))
    assert result.status == "imported", result.to_json()
    return before, after


VIEWS = [
    MetricParams(),
    MetricParams(by="channel"),
    MetricParams(by="segment"),
    MetricParams(grain="month"),
    MetricParams(window_months=12),
    MetricParams(by="channel", lag_quarters=1),
    MetricParams(ltv=LTVSettings(method="cohort")),
]


@pytest.mark.parametrize("params", VIEWS, ids=lambda p: f"{p.grain}-{p.by}-w{p.window_months}-lag{p.lag_quarters}-"
                                                       f"{p.ltv.method}")
def test_loading_next_quarters_spend_changes_no_earlier_figure(before_and_after: tuple[Path, Path],
                                                               params: MetricParams) -> None:
    before, after = before_and_after
    with Store(before, read_only=True) as store:
        old = compute(store.dataset(), params)
    with Store(after, read_only=True) as store:
        new = compute(store.dataset(), params)
    assert old.as_of == new.as_of == date(2025, 12, 31)
    cutoff = pl.col("period") <= date(2025, 12, 1)
    keys = ["period", *([params.by] if params.by else [])]
    assert_frame_equal(old.rows.filter(cutoff).sort(keys), new.rows.filter(cutoff).sort(keys))
    later = new.rows.filter(~cutoff)
    assert later.height >= 1
    assert set(later.get_column("status")) == {"awaiting revenue"}
    assert later.get_column("ltv").is_null().all()
    assert headline_row(new.rows)["period_label"] == headline_row(old.rows)["period_label"]  # type: ignore[index]
    if params.grain == "quarter" and not params.by and not params.window_months:
        q1 = later.row(0, named=True)
        assert q1["period_label"] == "2026-Q1" and q1["spend"] is not None and q1["new_customers"] == 0


def test_the_overview_stays_on_the_last_complete_quarter(before_and_after: tuple[Path, Path],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _, after = before_and_after
    monkeypatch.setenv("FINANCE_DB", str(after))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    assert any(c.value.startswith("2025-Q4, ") for c in at.caption), [c.value for c in at.caption]
    notes = [i.value for i in at.info]
    assert any("2026-Q1: spend loaded, awaiting customers and revenue" in n for n in notes), notes
    ratio = next(m for m in at.metric if m.label == "LTV:CAC")
    assert ratio.value != "n/a"


def _ledger(last_day: int) -> Dataset:
    """Two subscribers a month from January to December 2025, each paying 100.00 a month while
    alive; one of each month's pair stops after three payments. The last invoices are dated on
    day ``last_day`` of December."""
    customers, revenue = [], []
    for month in range(1, 13):
        for k in range(2):
            cid = f"C{month:02d}{k}"
            customers.append({"customer_id": cid, "acquired_on": date(2025, month, 3)})
            paid = 3 if k == 0 else 99
            for m in range(month, min(12, month + paid - 1) + 1):
                day = last_day if m == 12 else 3
                revenue.append({"customer_id": cid, "date": date(2025, m, day), "revenue": 100.0})
    return Dataset.from_frames(customers=pl.DataFrame(customers), revenue=pl.DataFrame(revenue))


@pytest.mark.parametrize("method", ["formula", "cohort"])
def test_a_ledger_ending_before_the_month_does_still_covers_it(method: str) -> None:
    data = _ledger(28)
    assert default_as_of(data) == date(2025, 12, 31)
    rows = compute(data, MetricParams(grain="month", ltv=LTVSettings(method=method))).rows
    ltv = dict(zip(rows.get_column("period_label"), rows.get_column("ltv"), strict=True))
    assert ltv["2025-12"] is not None and ltv["2025-12"] > 0
    # The ledger dated on the 28th gives the same figures as the one dated on the 3rd: December is covered.
    same = compute(_ledger(3), MetricParams(grain="month", ltv=LTVSettings(method=method))).rows
    assert_frame_equal(rows, same)
