"""The benchmark harness: an end-to-end smoke at a tiny size, and its pandas baseline
checked against the core (a baseline that computed something else would make its ratio a lie)."""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from pathlib import Path

import pytest

from bench import harness as bench
from bench.samplegen import generate
from finance.domain.assumptions import Assumptions
from finance.metrics.params import metric_params
from finance.metrics.table import compute, money
from finance.store.database import Store


@pytest.fixture(scope="module")
def small_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 300-customer sample company imported into a store."""
    folder = tmp_path_factory.mktemp("ledger")
    paths = generate(folder, customers=300, seed=7)
    db = folder / "store.duckdb"
    with Store(db) as store:
        for kind in ("spend", "funnel", "customers", "revenue"):
            assert store.import_file(kind, paths[kind]).status == "imported"
    return db


def test_pandas_baseline_cac_equals_the_core_to_the_cent(small_db: Path) -> None:
    table = bench.pandas_pooled_metrics(bench.pandas_frames(small_db))
    with Store(small_db, read_only=True) as store:
        core = compute(store.dataset(), metric_params(Assumptions(), grain="quarter", method="formula")).rows
    ours = {rec["period"]: rec for rec in table.to_dict("records")}
    assert set(ours) == set(core["period_label"])
    compared = 0
    for rec in core.iter_rows(named=True):
        mine = ours[rec["period_label"]]
        expected = money(rec["cac"])
        got = None if str(mine["cac_cents"]) == "<NA>" else f"{Decimal(int(mine['cac_cents'])) / 100:.2f}"
        assert got == expected, rec["period_label"]
        assert mine["new_customers"] == rec["new_customers"]
        if rec["ltv"] is not None:
            assert mine["ltv"] == pytest.approx(rec["ltv"], rel=1e-9)
            compared += 1
    assert compared >= 4  # the comparison reached real cohorts, not only empty quarters


def test_compare_with_core_flags_a_wrong_cac(small_db: Path) -> None:
    table = bench.pandas_pooled_metrics(bench.pandas_frames(small_db))
    assert bench.compare_with_core(table, small_db)["cac_mismatches"] == []
    known = table["cac_cents"].notna()
    table.loc[known, "cac_cents"] = table.loc[known, "cac_cents"] + 1  # one cent off
    assert len(bench.compare_with_core(table, small_db)["cac_mismatches"]) == int(known.sum()) > 0


def test_harness_end_to_end(tmp_path: Path) -> None:
    out, raw = tmp_path / "BENCHMARKS.md", tmp_path / "bench.json"
    assert bench.main(["--sizes", "2e3", "--rounds", "1", "--skip-ui", "--work", str(tmp_path / "work"),
                       "--out", str(out), "--json", str(raw)]) == 0
    text = out.read_text()
    for heading in ("## Machine", "## Command", "## Results", "## What the figures say"):
        assert heading in text
    for row in ("bare parse", "bare write", "ingest: `Store.import_file('revenue')`", "validation: `ingest.prepare`",
                "recompute: `compute` x3", "cohort aggregation x3", "pandas pooled metrics"):
        assert f"| {row}" in text
    assert "--sizes 2e3 --rounds 1 --skip-ui" in text
    saved = json.loads(raw.read_text())
    (size,) = [bench.SizeResult(**s) for s in saved["sizes"]]
    assert set(size.rounds) == set(bench.STEPS)
    ratios = bench.size_ratios(size)
    assert set(bench.TARGETS) - {"scaling", "ui_largest_vs_1e5", "large_peak_gib"} <= set(ratios)
    for name, value in ratios.items():
        assert math.isfinite(value) and value > 0, name
    for step in bench.STEPS:
        assert size.median(step) > 0
        assert size.median(step, "peak_rss") > 0
    assert size.rounds["pandas"][0]["cac_mismatches"] == []
    # The report can be written again from the saved measurements.
    again = tmp_path / "again.md"
    assert bench.main(["--render", str(raw), "--out", str(again)]) == 0
    assert again.read_text().split("## Machine")[1] == text.split("## Machine")[1]


def test_a_run_of_some_steps_reports_only_those(tmp_path: Path) -> None:
    """The 1e8 run measures parse, ingest and recompute only: no row or verdict for the others."""
    out = tmp_path / "BENCHMARKS.md"
    assert bench.main(["--sizes", "2e3", "--rounds", "1", "--skip-ui", "--steps", "parse,ingest,recompute",
                       "--work", str(tmp_path / "work"), "--out", str(out)]) == 0
    text = out.read_text()
    assert "| ingest: `Store.import_file('revenue')`" in text and "| recompute: `compute` x3" in text
    for absent in ("| validation: `ingest.prepare`", "| cohort aggregation x3", "| pandas pooled metrics"):
        assert absent not in text
    assert not re.search(r"\bnan\b", text)
    assert "validation's share" not in text.split("## What the figures say")[1]


def test_verdicts() -> None:
    assert bench.verdict("ingest_vs_parse", 1.9) == "met"
    assert bench.verdict("ingest_vs_parse", 2.1) == "**not met**"
    assert bench.verdict("pandas_vs_compute", 2.9) == "**not met**"
    assert bench.verdict("scaling", 10.0) == "met"
    assert bench.verdict("scaling", 13.0) == "**not met**"
    assert bench.verdict("scaling", float("nan")) == "n/a"
    assert bench.parse_size("1e5") == ("1e5", 14_000)


def test_a_large_size_is_held_to_the_12_gib_bound() -> None:
    def size(peak_gib: float) -> bench.SizeResult:
        rounds = {step: [{"seconds": 1.0, "peak_rss": peak_gib * 2**30, "peak_increment": 1.0, "arrow_bytes": 1.0,
                          "compute": 1.0, "load": 0.1, "compute_pooled": 0.4, "write_seconds": 1.0,
                          "float_seconds": 1.0}] for step in ("parse", "ingest", "recompute")}
        return bench.SizeResult("1e8", 14_085_000, rows=100_717_586, csv_bytes=3 * 2**30, rounds=rounds)

    assert "the larger absolute peak is 10.50 GiB: met." in "\n".join(bench.size_table(size(10.5)))
    assert "12.50 GiB: **not met**." in "\n".join(bench.size_table(size(12.5)))
    small = size(20.0)
    small.rows = 1_000_000
    assert "1e8 bound" not in "\n".join(bench.size_table(small))


def test_the_scale_benchmark_measures_each_step_from_the_summaries_and_from_the_rows(tmp_path: Path) -> None:
    """``bench.scale`` at a tiny size: every step runs in its own process and reports its time and peak, the
    figures read the store's summaries and their twin the rows, and the import lands every row."""
    from bench import scale

    out = tmp_path / "scale.json"
    steps = "figures,figures_ledger,bgnbd,import,bulk,duckdb_reduce"
    assert scale.main(["--sizes", "2e3", "--rounds", "1", "--work", str(tmp_path / "work"), "--json", str(out),
                       "--steps", steps]) == 0
    [(label, result)] = json.loads(out.read_text()).items()
    assert label == "2e3" and result["rows"] > 1_000
    assert set(result["median"]) == set(steps.split(","))
    assert all(seconds > 0 for seconds in result["median"].values())
    assert all(peak > 0 for peak in result["peak_rss"].values())
    [kept], [rows] = result["rounds"]["figures"], result["rounds"]["figures_ledger"]
    assert (kept["part_summaries"], rows["part_summaries"]) == (1.0, 0.0)
    assert {"part_read", "part_auto:company", "part_auto:channel", "part_auto:segment"} <= set(kept)
    with Store(tmp_path / "work" / "import.duckdb", read_only=True) as store:
        assert store.query("SELECT count(*) AS n FROM revenue").item() == result["rows"]
