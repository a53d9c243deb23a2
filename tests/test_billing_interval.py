"""The customers file's optional billing_interval column: spellings, rejection, storage, migration, CLI."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from finance.domain.problems import CODES
from finance.domain.schema import BILLING_INTERVAL_MONTHS, FILE_KINDS
from finance.ingest.prepare import STORAGE_SCHEMAS, prepare
from finance.store.database import SCHEMA_VERSION, Store
from finance.store.dataset import Dataset

from .conftest import DATA, run_cli, write

FILES = DATA / "billing_interval"
SPELLINGS = FILES / "customers_spellings.csv"
BAD = FILES / "customers_bad_interval.csv"
WITHOUT = FILES / "customers_no_interval.csv"

EXPECTED = {
    **{f"C{n:02d}": "month" for n in range(1, 8)},
    **{f"C{n:02d}": "quarter" for n in range(8, 14)},
    **{f"C{n:02d}": "half-year" for n in range(14, 19)},
    **{f"C{n:02d}": "year" for n in range(19, 30)},
    "C30": None,
}
V3_VIEW = ("CREATE OR REPLACE VIEW customers AS SELECT import_id, source_row, customer_id, acquired_on, "
           "channel, segment FROM customers_rows WHERE superseded_by IS NULL")


def _stored(store: Store) -> dict[str, str | None]:
    return dict(store.rows("SELECT customer_id, billing_interval FROM customers ORDER BY customer_id"))


def test_every_spelling_is_stored_as_one_of_four_words(store: Store) -> None:
    result = store.import_file("customers", SPELLINGS)
    assert (result.status, result.rows, result.errors) == ("imported", 30, [])
    assert _stored(store) == EXPECTED
    # The column is text in the table itself, and the values are exactly the four words.
    kind = store.one("SELECT data_type FROM duckdb_columns() WHERE table_name = 'customers_rows' "
                     "AND column_name = 'billing_interval'")
    assert kind == ("VARCHAR",)
    assert set(BILLING_INTERVAL_MONTHS) == {v for v in EXPECTED.values() if v}


def test_the_interval_reaches_the_metric_core(store: Store) -> None:
    store.import_file("customers", SPELLINGS)
    assert "billing_interval" in store.dataset_columns()["customers"]
    customers = store.dataset().customers.collect()
    assert customers.schema["billing_interval"] == pl.String
    assert dict(customers.select("customer_id", "billing_interval").iter_rows()) == EXPECTED


@pytest.mark.parametrize("header", [
    "billing_interval", "Billing Interval", "billing period", "Billing Frequency", "BILLING CYCLE",
    "Plan Interval", "term", "Contract Term", "Payment Frequency", "plan-interval",
])
def test_header_synonyms_name_the_column(tmp_path: Path, header: str) -> None:
    path = write(tmp_path / "c.csv", f"customer_id,acquired_on,{header}\nA,2025-01-02,Annual\nB,2025-01-03,q\n")
    prepared = prepare("customers", path)
    assert prepared.errors == [] and [p.code for p in prepared.warnings] == []
    assert prepared.rows.get_column("billing_interval").to_list() == ["year", "quarter"]


def test_a_bad_interval_rejects_the_file_and_writes_nothing(store: Store) -> None:
    store.import_file("customers", WITHOUT)
    before = store.snapshot()
    result = store.import_file("customers", BAD)
    assert result.status == "rejected" and result.import_id is None
    assert [(p.code, p.row, p.column, p.value) for p in result.errors] == [
        ("invalid_billing_interval", 3, "Contract Term", "biweekly"),
        ("invalid_billing_interval", 5, "Contract Term", "24 months"),
    ]
    assert all(p.severity == "error" and p.expected == CODES["invalid_billing_interval"][1]
               for p in result.errors)
    assert "month, quarter, half-year" in result.errors[0].expected
    assert "'biweekly' is not a billing interval" in result.errors[0].message
    assert store.snapshot() == before
    assert sorted(_stored(store)) == ["N1", "N2"]


def test_a_customer_repeated_with_another_interval_is_a_conflict(tmp_path: Path, store: Store) -> None:
    path = write(tmp_path / "c.csv", "customer_id,acquired_on,billing_interval\nA,2025-01-02,monthly\n"
                                     "A,2025-01-02,annual\nB,2025-01-02,year\nB,2025-01-02,Annual\n")
    result = store.import_file("customers", path)
    assert [(p.code, p.row, p.value) for p in result.errors] == [("duplicate_customer", 3, "A")]
    # B written twice the same way (after normalising) is an exact duplicate, stored once.
    assert [(p.code, p.row) for p in result.warnings] == [("duplicate_customer_row", 5)]
    assert store.totals()["customers"]["rows"] == 0


def test_a_file_without_the_column_still_imports_with_nulls(store: Store) -> None:
    result = store.import_file("customers", WITHOUT)
    assert (result.status, result.rows, result.errors) == ("imported", 2, [])
    assert _stored(store) == {"N1": None, "N2": None}
    assert "billing_interval" not in store.dataset_columns()["customers"]
    customers = store.dataset().customers.collect()
    assert customers.schema["billing_interval"] == pl.String
    assert customers.get_column("billing_interval").null_count() == 2


def test_dataset_from_frames_fills_or_keeps_the_interval() -> None:
    assert STORAGE_SCHEMAS["customers"]["billing_interval"] == pl.String
    assert "billing_interval" in FILE_KINDS["customers"].column_names
    bare = pl.DataFrame({"customer_id": ["A"], "acquired_on": [date(2025, 1, 2)]})
    filled = Dataset.from_frames(customers=bare).customers.collect()
    assert filled.columns == list(STORAGE_SCHEMAS["customers"])
    assert filled.get_column("billing_interval").to_list() == [None]
    kept = Dataset.from_frames(customers=bare.with_columns(billing_interval=pl.lit("year"))).customers.collect()
    assert kept.get_column("billing_interval").to_list() == ["year"]
    assert Dataset.from_frames().customers.collect_schema()["billing_interval"] == pl.String


def _make_version_3(path: Path) -> list[tuple[object, ...]]:
    """A file as schema version 3 left it: customers_rows and its view without billing_interval."""
    with Store(path, user="old") as store:
        assert store.import_file("customers", WITHOUT).status == "imported"
    con = duckdb.connect(str(path))
    try:
        con.execute("ALTER TABLE customers_rows DROP COLUMN billing_interval")
        con.execute(V3_VIEW)
        con.execute("UPDATE settings SET value = '3' WHERE key = 'schema_version'")
        rows = con.execute("SELECT import_id, source_row, customer_id, acquired_on, channel, segment, "
                           "superseded_by FROM customers_rows ORDER BY ALL").fetchall()
        columns = [r[0] for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'customers_rows'").fetchall()]
    finally:
        con.close()
    assert "billing_interval" not in columns and len(rows) == 2
    return rows


def test_a_version_3_database_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v3.duckdb"
    rows = _make_version_3(path)
    with Store(path, user="new") as store:
        assert store.setting("schema_version") == str(SCHEMA_VERSION)
        assert store.rows("SELECT import_id, source_row, customer_id, acquired_on, channel, segment, "
                          "superseded_by FROM customers_rows ORDER BY ALL") == rows
        assert _stored(store) == {"N1": None, "N2": None}
        assert store.imports()["imported_by"].to_list() == ["old"]
        # The migrated file takes the new column, next to the old rows.
        result = store.import_file("customers", SPELLINGS)
        assert result.status == "imported"
        assert _stored(store) == {"N1": None, "N2": None, **EXPECTED}
        store.undo(result.import_id or 0)
        assert _stored(store) == {"N1": None, "N2": None}
    with Store(path) as again:  # an up-to-date file opens as it is
        assert again.setting("schema_version") == str(SCHEMA_VERSION)
        assert again.totals()["customers"]["rows"] == 2


def test_a_version_3_database_reads_before_any_writer_migrates_it(tmp_path: Path) -> None:
    path = tmp_path / "v3.duckdb"
    _make_version_3(path)
    with Store(path, read_only=True) as reader:
        assert reader.setting("schema_version") == "3"
        assert "billing_interval" not in reader.dataset_columns()["customers"]
        customers = reader.dataset().customers.collect()
    assert sorted(customers.get_column("customer_id").to_list()) == ["N1", "N2"]
    assert customers.get_column("billing_interval").to_list() == [None, None]


def test_the_cli_imports_the_column(tmp_path: Path) -> None:
    db = tmp_path / "cli.duckdb"
    done = run_cli("import", "customers", SPELLINGS, "--db", db, "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["status"], report["rows"], report["errors"]) == ("imported", 30, [])
    rejected = run_cli("import", "customers", BAD, "--db", db, "--format", "json")
    assert rejected.returncode == 2
    errors = json.loads(rejected.stdout)["errors"]
    assert [(e["code"], e["row"], e["column"], e["value"]) for e in errors] == [
        ("invalid_billing_interval", 3, "Contract Term", "biweekly"),
        ("invalid_billing_interval", 5, "Contract Term", "24 months"),
    ]
    text = run_cli("import", "customers", BAD, "--db", db)
    assert text.returncode == 2
    assert "row 3, column 'Contract Term': [invalid_billing_interval] value 'biweekly'" in text.stdout + text.stderr
    with Store(db, read_only=True) as store:
        assert _stored(store) == EXPECTED
        assert store.imports()["row_count"].to_list() == [30]
