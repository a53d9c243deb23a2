"""The ledger's reduction on Apache Spark (finance.store.spark), in local mode: the same SQL as the store's
DuckDB reduction, translated by SQLGlot, gives the same summaries, value for value, and the same figures.

A real Spark (PySpark, on Debian's Java) reads the store's rows as a data lake would hold them: Parquet
files and CSV exports.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from bench.samplegen import generate
from finance.ltv.base import LTVSettings
from finance.metrics.table import MetricParams, compute
from finance.store import spark as on_spark
from finance.store import summaries
from finance.store.database import Store, StoreError
from finance.store.dataset import Summary

from .conftest import run_cli, run_cli_json

KEYS = {"summary_customers": ["customer_id"], "summary_margins": ["acquired_month", "channel", "segment", "age"]}


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = on_spark.session("local[2]")
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A company in a store, and its customers and ledger as a lake would hold them."""
    folder = tmp_path_factory.mktemp("lake")
    files = generate(folder / "files", customers=1500, seed=23, start_year=2023, quarters=8)
    with Store(folder / "company.duckdb", keep_backups=0) as store:
        for kind in ("spend", "customers", "revenue"):
            assert store.import_file(kind, files[kind]).status == "imported"
        customers, revenue = store.query("SELECT * FROM customers"), store.query("SELECT * FROM revenue")
        kept = summaries.read(store)
        data = store.dataset()
    assert kept is not None
    (folder / "ledger").mkdir()
    for part, rows in enumerate(revenue.sort("source_row").iter_slices(revenue.height // 3 + 1)):
        rows.write_parquet(folder / "ledger" / f"part-{part}.parquet")  # a folder of files, as Spark writes them
    customers.write_parquet(folder / "customers.parquet")
    # CSV as a warehouse export writes it: text, amounts with their decimals, empty cells for nulls.
    revenue.with_columns(pl.col(pl.Decimal).cast(pl.String)).write_csv(folder / "ledger.csv")
    return {"folder": folder, "kept": kept, "data": data, "customers": customers, "files": files}


def _identical(got: dict[str, pl.DataFrame], kept: summaries.Summaries) -> None:
    for name, frame in (("summary_customers", kept.customers), ("summary_margins", kept.margins)):
        assert got[name].height == frame.height > 0
        assert_frame_equal(got[name].sort(KEYS[name]), frame.sort(KEYS[name]), check_exact=True)


def test_spark_reduces_a_parquet_ledger_to_the_stores_summaries_value_for_value(spark: Any,
                                                                               lake: dict[str, Any]) -> None:
    folder = lake["folder"]
    got = on_spark.reduce(
        spark, on_spark.read_table(spark, str(folder / "customers.parquet"), "parquet", on_spark.CUSTOMER_COLUMNS),
        on_spark.read_table(spark, str(folder / "ledger"), "parquet", on_spark.LEDGER_COLUMNS))
    _identical(got, lake["kept"])
    # ... and so the same figures, to the last bit, for every method.
    data = lake["data"]
    from_spark = replace(data, summary=Summary(data.summary.as_of, got["summary_customers"], got["summary_margins"]))
    for method in ("formula", "cohort", "bgnbd"):
        params = MetricParams(grain="quarter", by="channel", ltv=LTVSettings(method=method))
        assert_frame_equal(compute(from_spark, params).rows, compute(data, params).rows, check_exact=True)


def test_spark_reads_a_csv_export_and_a_ledger_without_customers_file(spark: Any, lake: dict[str, Any],
                                                                       tmp_path: Path) -> None:
    folder = lake["folder"]
    ledger = on_spark.read_table(spark, str(folder / "ledger.csv"), "csv", on_spark.LEDGER_COLUMNS)
    customers = on_spark.read_table(spark, str(folder / "customers.parquet"), "parquet", on_spark.CUSTOMER_COLUMNS)
    _identical(on_spark.reduce(spark, customers, ledger), lake["kept"])
    # Without a customers file, each customer is acquired on their first revenue day: DuckDB and Spark agree.
    empty = customers.limit(0)
    alone = on_spark.reduce(spark, empty, ledger)
    with Store(tmp_path / "ledger-only.duckdb", keep_backups=0) as store:
        store.con.register("ledger", pl.read_parquet(folder / "ledger").to_arrow())
        store.con.execute("INSERT INTO revenue_rows (import_id, customer_id, date, revenue, gross_margin, channel, "
                          "segment, source_row) SELECT 1, customer_id, date, revenue, gross_margin, channel, segment, "
                          "source_row FROM ledger")
        summaries.refresh(store)
        kept = summaries.read(store)
    assert kept is not None
    assert alone["summary_customers"].get_column("acquired_on").min() >= lake["customers"].get_column(
        "acquired_on").min()
    _identical(alone, kept)


def test_a_ledger_without_a_needed_column_is_refused_naming_the_file_and_column(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "ledger.csv"
    path.write_text("customer_id,day,revenue\nC1,2024-01-05,10.00\n")
    with pytest.raises(ValueError, match=r"ledger\.csv: no column date; expected customer_id, date, revenue"):
        on_spark.read_table(spark, str(path), "csv", on_spark.LEDGER_COLUMNS)
    with pytest.raises(ValueError, match="the format must be one of parquet, csv, delta"):
        on_spark.read_table(spark, str(path), "orc", on_spark.LEDGER_COLUMNS)


def _store_without_revenue(path: Path, files: dict[str, Path]) -> Path:
    with Store(path, keep_backups=0) as store:
        for kind in ("spend", "customers"):
            assert store.import_file(kind, files[kind]).status == "imported"
    return path


def test_a_ledger_in_the_lake_gives_the_figures_of_the_same_ledger_in_the_store(lake: dict[str, Any],
                                                                                tmp_path: Path) -> None:
    """``python -m finance import revenue FOLDER --engine spark``, as a person runs it: Spark reduces the ledger
    where it is, the store keeps its summaries, and every figure is the one the same ledger gives in the store."""
    folder = lake["folder"]
    db = _store_without_revenue(tmp_path / "lake.duckdb", lake["files"])
    code, out = run_cli_json("import", "revenue", folder / "ledger", "--engine", "spark", "--db", db)
    assert code == 0, out
    revenue = pl.read_parquet(folder / "ledger")
    assert (out["status"], out["rows"], out["files"]) == ("imported", revenue.height, 3)
    assert out["total"] == f"{revenue.get_column('revenue').sum():.2f}"
    with Store(db, read_only=True) as store:
        data = store.dataset()
        assert store.query("SELECT count(*) AS n FROM revenue").item() == 0  # the rows stayed in the lake
    assert data.summary is not None and data.summary.lake == str(folder / "ledger")
    for method in ("formula", "bgnbd"):
        for by in (None, "segment"):
            params = MetricParams(grain="quarter", by=by, ltv=LTVSettings(method=method))
            assert_frame_equal(compute(data, params).rows, compute(lake["data"], params).rows, check_exact=True)
    # The command line's own figures, with the default method and no model check (it needs the ledger's rows).
    code, metrics = run_cli_json("metrics", "--db", db)
    assert code == 0, metrics
    in_store = compute(lake["data"], MetricParams()).to_json()["rows"]
    assert [(r["period"], r["ltv"], r["cac"]) for r in metrics["rows"]] == [
        (r["period"], r["ltv"], r["cac"]) for r in in_store]
    assert any(r["ltv"] is not None for r in in_store)
    table = run_cli("metrics", "--db", db)  # the table for people: no word of a model check that cannot run
    assert table.returncode == 0 and "checking the LTV models" not in table.stderr, table.stderr
    # A figure that needs the rows says where they are.
    code, refused = run_cli_json("metrics", "--as-of", "2024-06-30", "--db", db)
    assert code != 0 and "in the data lake at" in refused["message"] and "2024-12-31" in refused["message"]


def test_a_lake_ledger_is_the_stores_one_ledger_until_its_import_is_undone(spark: Any, lake: dict[str, Any],
                                                                           tmp_path: Path) -> None:
    folder, files = lake["folder"], lake["files"]
    db = _store_without_revenue(tmp_path / "lake.duckdb", files)
    with Store(db, keep_backups=0) as store:
        first = store.import_lake(str(folder / "ledger"), spark=spark)
        again = store.import_lake(str(folder / "ledger.csv"), fmt="csv", spark=spark)
        assert again["replaced_imports"] == [first["import_id"]] and again["rows"] == first["rows"]
        statuses = dict(store.rows("SELECT import_id, status FROM imports WHERE kind = 'revenue'"))
        assert statuses == {first["import_id"]: "undone", again["import_id"]: "active"}
        more = tmp_path / "more-customers.csv"
        more.write_text("customer_id,acquired_on,channel,segment\nLATE-1,2025-01-15,Paid Search,SMB\n")
        before = store.snapshot()
        for change in (lambda: store.import_file("revenue", files["revenue"]),
                       lambda: store.import_file("customers", more),
                       lambda: store.set_reporting_currency("EUR")):
            with pytest.raises(StoreError, match="in the data lake at"):
                change()
            assert store.snapshot() == before
        undone = store.undo(again["import_id"], backup_first=False)
        assert undone["lake"] == str(folder / "ledger.csv")
        assert summaries.read(store) is None and store.dataset().summary is None
        # The ledger's rows can now come into the store, as files.
        assert store.import_file("revenue", files["revenue"]).status == "imported"
        with pytest.raises(StoreError, match=r"holds .* revenue rows of its own"):
            store.import_lake(str(folder / "ledger"), spark=spark)


def test_a_lake_ledger_with_a_bad_value_is_refused_naming_file_column_and_value(spark: Any, lake: dict[str, Any],
                                                                              tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    rows = pl.read_csv(lake["folder"] / "ledger.csv", infer_schema=False)
    rows.head(50).write_csv(bad / "good.csv")
    rows.slice(50, 50).with_columns(
        date=pl.when(pl.int_range(pl.len()) == 7).then(pl.lit("2024-02-30")).otherwise(pl.col("date")),
        revenue=pl.when(pl.int_range(pl.len()) == 9).then(pl.lit("12,50")).otherwise(pl.col("revenue")),
    ).write_csv(bad / "broken.csv")
    db = _store_without_revenue(tmp_path / "lake.duckdb", lake["files"])
    with Store(db, keep_backups=0) as store:
        before = store.snapshot()
        with pytest.raises(ValueError) as refused:
            store.import_lake(str(bad), fmt="csv", spark=spark)
        assert store.snapshot() == before
    message = str(refused.value)
    assert "2 value(s) refused, nothing was imported" in message
    assert "broken.csv: column date, value '2024-02-30': expected a date (YYYY-MM-DD)" in message
    assert "broken.csv: column revenue, value '12,50': expected an amount with at most 4 decimals" in message


def test_a_lake_ledger_with_cost_and_no_margin_has_revenue_minus_cost_as_margin(spark: Any, lake: dict[str, Any],
                                                                               tmp_path: Path) -> None:
    """As an import into the store does: a row's gross margin is its revenue minus its cost where it gives none."""
    ledger = tmp_path / "ledger.csv"
    ledger.write_text("customer_id,date,revenue,cost,gross_margin\n"
                      "C000001,2024-01-05,100.00,30.25,\n"      # no margin: 69.75
                      "C000001,2024-02-05,80.00,,50.00\n"       # its own margin
                      "C000002,2024-01-09,40.00,,\n")           # neither: the default margin later
    db = _store_without_revenue(tmp_path / "lake.duckdb", lake["files"])
    with Store(db, keep_backups=0) as store:
        store.import_lake(str(ledger), spark=spark)
        kept = summaries.read(store)
    assert kept is not None
    by_customer = {r["customer_id"]: r for r in kept.customers.iter_rows(named=True)}
    assert by_customer["C000001"]["margin_given"] == Decimal("119.75")
    assert by_customer["C000001"]["revenue_no_margin"] is None
    assert by_customer["C000002"]["margin_given"] is None
    assert by_customer["C000002"]["revenue_no_margin"] == Decimal("40.00")
