"""The command line as scripts use it: real processes, exit codes, the JSON shape."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from finance.store.database import Store

from .conftest import DATA, ROOT, run_cli, run_cli_json, write


def test_import_json_shape_and_exit_code(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    path = write(tmp_path / "spend.csv", "period,category,channel,amount\n"
                                         "2025-Q1,Paid Search,Search,\"$1,000.00501\"\n")
    code, report = run_cli_json("import", "spend", path, "--db", db)
    assert code == 2 and report["status"] == "rejected"
    assert report["errors"][0] | {"message": ""} == {
        "code": "too_many_decimals", "row": 2, "column": "amount", "value": "$1,000.00501", "message": "",
        "expected": "at most 4 decimal places", "count": 1, "suggestion": None}
    write(path, "period,category,channel,amount\n2025-Q1,Paid Search,Search,\"$1,000.01\"\n"
                "2025-Q2,salaries,,250\n")
    code, report = run_cli_json("import", "spend", path, "--db", db)
    assert code == 0
    assert set(report) >= {"status", "import_id", "rows", "periods", "total", "errors", "warnings"}
    assert (report["status"], report["import_id"], report["rows"], report["total"]) == ("imported", 1, 2, "1250.01")
    assert report["periods"] == [
        {"period": "2025-Q1", "start": "2025-01-01", "end": "2025-03-31", "rows": 1, "total": "1000.01"},
        {"period": "2025-Q2", "start": "2025-04-01", "end": "2025-06-30", "rows": 1, "total": "250.00"}]
    code, report = run_cli_json("import", "spend", path, "--db", db)
    assert (code, report["status"], report["import_id"]) == (0, "unchanged", 1)


def test_text_summary_imports_log_and_undo(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    path = write(tmp_path / "funnel.csv", "period,channel,leads\n2025-01,Paid Search,\"1,200\"\n2025-02,Events,30\n")
    done = run_cli("import", "funnel", path, "--db", db)
    assert done.returncode == 0, done.stderr
    assert "funnel.csv: funnel imported as #1" in done.stdout
    assert "2025-01" in done.stdout and "1,230" in done.stdout
    listing = run_cli("imports", "--db", db)
    assert listing.returncode == 0 and "funnel.csv" in listing.stdout and "active" in listing.stdout
    code, log = run_cli_json("imports", "--db", db)
    assert code == 0 and [(e["import_id"], e["kind"], e["rows"], e["total"]) for e in log] == [(1, "funnel", 2, 1230)]
    undone = run_cli("undo", "1", "--db", db)
    assert undone.returncode == 0 and "2 rows removed" in undone.stdout
    again = run_cli("undo", "1", "--db", db)
    assert again.returncode == 1 and "already undone" in again.stderr
    with Store(db) as store:
        assert store.totals()["funnel"] == {"rows": 0, "total": Decimal(0)}


def test_map_options_and_category_map_file(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    path = write(tmp_path / "ledger.csv", "Posting Period,GL Account Name,Amount (USD),Dept\n"
                                          "2025-01,Brand Ambassadors,100.00,MKT\n2025-01,Payroll,900.00,MKT\n")
    rejected = run_cli("import", "spend", path, "--db", db)
    assert rejected.returncode == 2
    # the ledger's headers are known spellings; its account label is not a category, but looks like one
    assert "'Dept' is not part of the spend contract" in rejected.stdout
    assert "'Brand Ambassadors' is not a cost category; it looks like Influencer marketing" in rejected.stdout
    assert "to fix: map the label with --category-map FILE" in rejected.stdout
    code, report = run_cli_json("import", "spend", path, "--db", db,
                                "--map", "Posting Period=period", "GL Account Name=category",
                                "--map", "Amount (USD)=amount",
                                "--category-map", DATA / "bad" / "category_map.csv")
    assert code == 0, report
    assert report["total"] == "1000.00"
    with Store(db) as store:
        assert sorted(store.frame("spend")["category"].to_list()) == ["influencer", "personnel"]


def test_bad_options_exit_2_and_write_nothing(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    path = write(tmp_path / "s.csv", "period,category,amount\n2025-Q1,personnel,1\n")
    done = run_cli("import", "spend", path, "--db", db, "--map", "period=when")
    assert done.returncode == 2 and "'when', which is not a spend column" in done.stderr
    done = run_cli("import", "spend", path, "--db", db, "--fiscal-year-start", "13")
    assert done.returncode == 2 and "expected a whole number from 1 to 12" in done.stderr
    bad_map = write(tmp_path / "map.csv", "label,category\nFoo,not_a_category\n")
    done = run_cli("import", "spend", path, "--db", db, "--category-map", bad_map)
    assert done.returncode == 2 and "row 2, column 'category'" in done.stderr
    assert not db.exists() or Store(db).totals()["spend"]["rows"] == 0


def test_dry_run_validates_without_writing(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    path = write(tmp_path / "s.csv", "period,category,amount\n2025-Q1,personnel,1\n")
    code, report = run_cli_json("import", "spend", path, "--db", db, "--dry-run")
    assert (code, report["status"], report["total"]) == (0, "valid", "1.00")
    assert not db.exists()


def test_database_path_from_environment(tmp_path: Path) -> None:
    db = tmp_path / "env.duckdb"
    path = write(tmp_path / "s.csv", "period,category,amount\n2025-Q1,personnel,1\n")
    done = run_cli("import", "spend", path, env={"FINANCE_DB": str(db)})
    assert done.returncode == 0, done.stderr
    with Store(db) as store:
        assert store.totals()["spend"]["rows"] == 1


def test_missing_file_is_a_clear_rejection(tmp_path: Path) -> None:
    code, report = run_cli_json("import", "spend", tmp_path / "nope.csv", "--db", tmp_path / "s.duckdb")
    assert code == 2 and report["errors"][0]["code"] == "file_not_found"


def test_help_lists_every_command() -> None:
    done = run_cli("--help")
    assert done.returncode == 0
    for command in ("import", "imports", "undo", "metrics", "plan", "scenarios", "report", "demo"):
        assert command in done.stdout


def test_a_busy_database_waits_then_says_busy(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    path = write(tmp_path / "s.csv", "period,category,amount\n2025-Q1,personnel,1\n")
    holder = Store(db)  # this process holds the file for writing
    try:
        done = run_cli("import", "spend", path, "--db", db, env={"FINANCE_BUSY_TIMEOUT": "0.5"})
        assert done.returncode == 1
        assert "is busy: another process or session is writing to it" in done.stderr
    finally:
        holder.close()
    with Store(db) as store:
        assert store.totals()["spend"]["rows"] == 0


def test_an_import_waits_for_a_brief_reader(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    Store(db).close()
    path = write(tmp_path / "s.csv", "period,category,amount\n2025-Q1,personnel,1\n")
    holder = Store(db, read_only=True)
    process = subprocess.Popen([sys.executable, "-m", "finance", "import", "spend", str(path), "--db", str(db)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    holder.close()
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "imported as #1" in out


def test_plan_prints_the_cores_projection_and_saves_scenarios(tmp_path: Path) -> None:
    from finance.demo import build_demo_db
    from finance.domain.assumptions import Assumptions
    from finance.metrics.params import metric_params
    from finance.planning import plans as sc

    db = tmp_path / "plan.duckdb"
    build_demo_db(db)
    code, payload = run_cli_json("plan", "--db", db)
    assert code == 0
    from finance.demo import demo_check_key
    from finance.ltv import backtest

    key, _, _ = demo_check_key(db)
    with Store(db, read_only=True) as store:
        basis = sc.planning_basis(store.dataset(), metric_params(Assumptions.from_settings(store.assumptions())),
                                  check=backtest.load(db, key))
    expected = sc.projection_json(sc.project(basis, basis.starts["last_quarter"]))
    assert payload["figures"] == expected["figures"] and payload["spend"] == expected["spend"]
    assert payload["period"] == "2026-Q1" and payload["band"] == expected["band"]

    # an optimised split keeps the channel total to the cent and the locked channel's spend
    code, best = run_cli_json("plan", "--db", db, "--optimise", "--lock", "Events", "--save", "Q1 optimised",
                              "--kind", "optimised", "--note", "=HYPERLINK(\"x\")")
    assert code == 0 and best["spend"] == payload["spend"]
    events = next(c for c in best["channels"] if c["channel"] == "Events")
    assert events["spend"] == next(c for c in payload["channels"] if c["channel"] == "Events")["spend"]
    assert Decimal(best["figures"]["value_created"]["value"]) > Decimal(payload["figures"]["value_created"]["value"])

    code, listed = run_cli_json("scenarios", "--db", db)
    assert code == 0 and [s["name"] for s in listed["scenarios"]] == ["Q1 optimised"]
    assert listed["scenarios"][0]["note"] == "=HYPERLINK(\"x\")" and listed["scenarios"][0]["kind"] == "optimised"
    code, again = run_cli_json("plan", "--db", db, "--scenario", "Q1 optimised")
    assert code == 0 and again["figures"] == best["figures"]

    code, goal = run_cli_json("plan", "--db", db, "--target-ratio", "3")
    assert code == 0 and goal["figures"]["ltv_cac"]["value"] >= 3.0
    assert goal["goal"].startswith("the largest budget") or "capped by the bounds" in goal["goal"]


def test_plan_refuses_bad_input_and_writes_nothing(tmp_path: Path) -> None:
    from finance.demo import build_demo_db

    db = tmp_path / "plan.duckdb"
    build_demo_db(db)
    for args, named in ((["--set", "TikTok:events=5"], "'TikTok' has no history"),
                        (["--set", "Paid Search:digital_advertising=12,5x"], "'12,5x' is not an amount"),
                        (["--set", "nonsense"], "expected CHANNEL:CATEGORY=AMOUNT"),
                        (["--scenario", "missing"], "no scenario named 'missing'"),
                        (["--target-customers", "1e9"], "unreachable")):
        done = run_cli("plan", "--db", db, *args, "--save", "never")
        assert done.returncode == 2, (args, done.stderr)
        assert named in done.stderr, (args, done.stderr)
    done = run_cli("scenarios", "--db", db, "--format", "json")
    assert '"scenarios": []' in done.stdout


def test_backtest_reports_each_method_and_the_choice_per_segment(tmp_path: Path) -> None:
    from finance.demo import build_demo_db

    db = tmp_path / "demo.duckdb"
    build_demo_db(db)  # installs the demo's model check beside it
    stored = next((tmp_path / "demo.model-checks").glob("*.json"))
    code, out = run_cli_json("backtest", "--db", db)
    assert code == 0
    assert out == json.loads(stored.read_text())  # the stored check, not a new one
    assert len(out["cutoffs"]) == 8 and set(out["recommended"]) == {"DTC", "SMB", "Enterprise B2B"}
    assert out["recommended"]["DTC"] == "bgnbd"  # repeat purchases
    for method in ("auto", "formula", "cohort", "bgnbd"):
        assert set(out["scores"][method][""]) == {"3", "6", "12"}
    done = run_cli("backtest", "--db", db)
    assert done.returncode == 0 and "12" in done.stdout and "DTC: bgnbd" in done.stdout
    # metrics reports the same check, and how the method in use did in it
    code, metrics = run_cli_json("metrics", "--db", db)
    assert metrics["ltv_model"]["model_check"]["recommended"] == out["recommended"]
    assert metrics["ltv_model"]["model_check"]["horizons"]["12"]["mape"] == pytest.approx(
        out["scores"]["auto"][""]["12"]["mape"], abs=1e-4)
    row = metrics["rows"][-1]
    assert 0 <= row["p_below_1"] <= row["p_below_target"] <= 1


def test_backtest_with_too_little_history_chooses_by_shape_and_says_why(tmp_path: Path) -> None:
    db = tmp_path / "young.duckdb"
    revenue = tmp_path / "revenue.csv"
    lines = ["customer_id,date,revenue,segment"]
    for i in range(40):  # 40 subscribers paying every month from January to April 2025
        lines += [f"S{i},2025-{m:02d}-05,100.00,SMB" for m in range(1, 5 - (i % 3 == 0))]
    revenue.write_text("\n".join(lines) + "\n")
    with Store(db) as store:
        assert store.import_file("revenue", revenue).status == "imported"
    code, out = run_cli_json("backtest", "--db", db)
    assert code == 0
    assert out["cutoffs"] == []
    assert out["recommended"] == {"SMB": "sbg"}
    assert "too little history" in out["reasons"]["SMB"] and "steady" in out["reasons"]["SMB"]


def test_metrics_uses_the_stored_assumptions_as_the_dashboard_does(tmp_path: Path) -> None:
    """After an editor changes every assumption, the command line prints the dashboard's figures; a flag
    overrides one assumption for that run only, and the JSON says which."""
    from finance.app import loaders
    from finance.demo import build_demo_db
    from finance.domain.assumptions import Assumptions

    db = tmp_path / "demo.duckdb"
    build_demo_db(db)
    changed = Assumptions(default_gross_margin=Decimal("0.55"), annual_discount_rate=0.05, horizon_months=24,
                          band_edges=(1.5, 2.5, 3.5, 6.0), lag_quarters=1, allocation="customers", target_ratio=2.5)
    with Store(db, user="editor") as store:
        store.set_assumptions(changed.to_settings())
    code, out = run_cli_json("metrics", "--db", db, "--by", "channel", "--ltv-method", "formula")
    assert code == 0 and out["assumptions"]["overridden"] == []
    shown = loaders.load_metrics(str(db), loaders.readable_version(str(db)), "quarter", None, "channel", "formula")
    assert out["rows"] == json.loads(json.dumps(shown.to_json()["rows"]))
    assert out["assumptions"]["acquisition_lag_quarters"] == 1 and out["assumptions"]["target_ratio"] == 2.5
    code, once = run_cli_json("metrics", "--db", db, "--by", "channel", "--ltv-method", "formula", "--lag", "0",
                              "--target", "2.5")
    assert code == 0 and once["assumptions"]["overridden"] == ["lag_quarters"]  # 2.5 is what is stored
    assert once["rows"] != out["rows"]


def test_metrics_by_channel_and_segment_as_the_dashboard_shows_them(tmp_path: Path) -> None:
    """``--by channel_segment``: a row per channel and segment, the rows a dashboard filter on both
    selects; a channel's rows add up to its spend and customers by channel, to the cent."""
    from finance.app import loaders
    from finance.demo import build_demo_db

    db = tmp_path / "demo.duckdb"
    build_demo_db(db)
    code, crossed = run_cli_json("metrics", "--db", db, "--by", "channel_segment", "--ltv-method", "formula")
    assert code == 0 and crossed["assumptions"]["by"] == "channel_segment"
    shown = loaders.load_metrics(str(db), loaders.readable_version(str(db)), "quarter", None, "channel_segment",
                                 "formula")
    assert crossed["rows"] == json.loads(json.dumps(shown.to_json()["rows"]))
    # exact amounts (the JSON rounds each row to cents): a channel's segments add up to the channel
    import polars as pl

    by_channel = loaders.load_metrics(str(db), loaders.readable_version(str(db)), "quarter", None, "channel",
                                      "formula").rows
    summed = shown.rows.group_by("period", "channel").agg(pl.col("spend", "spend_sm", "new_customers").sum())
    assert summed.sort("period", "channel").to_dicts() == by_channel.select(
        "period", "channel", pl.col("spend", "spend_sm").fill_null(0), "new_customers").sort(
        "period", "channel").to_dicts()
    assert {r["segment"] for r in crossed["rows"]} >= {"SMB", "DTC"}
    table = run_cli("metrics", "--db", db, "--by", "channel_segment", "--ltv-method", "formula")
    assert table.returncode == 0
    header = next(line for line in table.stdout.splitlines() if line.startswith("period"))
    assert header.split()[:3] == ["period", "channel", "segment"]


def test_views_that_differ_in_their_window_share_one_ltv_and_show_the_command_lines_figures(tmp_path: Path) -> None:
    """A change of the trailing window costs the window's sums, not the LTV models' fits again: the dashboard's
    views of one breakdown and method share one LTV per cohort, and each still shows what the command line
    computes from scratch for that window."""
    from finance.app import loaders
    from finance.demo import build_demo_db

    db = tmp_path / "demo.duckdb"
    build_demo_db(db)
    version = loaders.readable_version(str(db))
    views = {window: loaders.load_metrics(str(db), version, "quarter", window, "channel", "bgnbd")
             for window in (None, 6, 12)}
    assert views[6].ltv is views[12].ltv is views[None].ltv
    assert views[6].rows.get_column("ltv").to_list() != views[12].rows.get_column("ltv").to_list()
    for window in (6, 12):
        code, out = run_cli_json("metrics", "--db", db, "--by", "channel", "--ltv-method", "bgnbd",
                                 "--window", str(window))
        assert code == 0, out
        assert out["rows"] == json.loads(json.dumps(views[window].to_json()["rows"]))
