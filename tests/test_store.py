"""The store's promises: exact, atomic, idempotent imports; replace and undo that lose nothing."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

import pytest

from finance.ingest.prepare import ImportOptions
from finance.store.database import Store, StoreError

from .conftest import write

HEADER = "period,category,channel,amount,vendor\n"


def spend_file(tmp_path: Path, name: str, body: str) -> Path:
    return write(tmp_path / name, HEADER + body)


def test_import_writes_rows_and_log_exactly(store: Store, tmp_path: Path) -> None:
    path = spend_file(tmp_path, "q1.csv", "2025-Q1,personnel,,1000.10,Payroll\n"
                                          "2025-Q1,Paid Search,Search,0.01,Google\n"
                                          "2025-Q2,martech,,-0.11,HubSpot\n")
    result = store.import_file("spend", path)
    assert result.status == "imported"
    assert result.total == Decimal("1000.00")  # 1000.10 + 0.01 - 0.11
    log = store.imports().row(0, named=True)
    assert log["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (log["row_count"], log["total"], log["status"]) == (3, Decimal("1000.00"), "active")
    assert (log["period_start"].isoformat(), log["period_end"].isoformat()) == ("2025-01-01", "2025-06-30")
    assert store.totals()["spend"] == {"rows": 3, "total": Decimal("1000.00")}
    assert [p.period for p in result.periods] == ["2025-Q1", "2025-Q2"]
    assert [p.total for p in result.periods] == [Decimal("1000.11"), Decimal("-0.11")]


def test_byte_identical_file_is_unchanged_even_under_another_name(store: Store, tmp_path: Path) -> None:
    body = "2025-Q1,personnel,,1000.00,Payroll\n"
    first = store.import_file("spend", spend_file(tmp_path, "a.csv", body))
    before = store.snapshot()
    again = store.import_file("spend", spend_file(tmp_path, "b.csv", body), replace=True)
    assert (again.status, again.import_id) == ("unchanged", first.import_id)
    assert store.snapshot() == before


def test_overlapping_months_are_refused_without_replace(store: Store, tmp_path: Path) -> None:
    store.import_file("spend", spend_file(tmp_path, "a.csv", "2025-Q1,personnel,,1000.00,Payroll\n"))
    before = store.snapshot()
    result = store.import_file("spend", spend_file(tmp_path, "b.csv", "2025-Q1,personnel,,900.00,Payroll\n"))
    assert result.status == "rejected"
    assert [e.code for e in result.errors] == ["periods_already_imported"]
    assert "#1" in result.errors[0].message
    assert store.snapshot() == before


def test_replace_supersedes_and_undo_restores(store: Store, tmp_path: Path) -> None:
    a = store.import_file("spend", spend_file(tmp_path, "a.csv", "2025-Q1,personnel,,1000.00,Payroll\n"
                                                                 "2025-Q2,personnel,,2000.00,Payroll\n"))
    before = store.frame("spend")
    b = store.import_file("spend", spend_file(tmp_path, "b.csv", "2025-Q2,personnel,,2500.00,Payroll\n"),
                          replace=True)
    assert b.status == "imported" and b.replaced == [a.import_id]
    # Q1 stays from import a, Q2 now comes from b: 1000 + 2500
    assert store.totals()["spend"]["total"] == Decimal("3500.00")
    outcome = store.undo(b.import_id)  # type: ignore[arg-type]
    assert outcome == {"import_id": b.import_id, "kind": "spend", "rows_removed": 1, "rows_restored": 1}
    assert store.frame("spend").equals(before)
    assert store.imports().filter(import_id=b.import_id)["status"].to_list() == ["undone"]


def test_undo_refuses_to_skip_a_later_replacement(store: Store, tmp_path: Path) -> None:
    a = store.import_file("spend", spend_file(tmp_path, "a.csv", "2025-Q1,personnel,,1000.00,Payroll\n"))
    b = store.import_file("spend", spend_file(tmp_path, "b.csv", "2025-Q1,personnel,,1100.00,Payroll\n"),
                          replace=True)
    with pytest.raises(StoreError, match=f"replaced by import #{b.import_id}"):
        store.undo(a.import_id)  # type: ignore[arg-type]
    store.undo(b.import_id)  # type: ignore[arg-type]
    store.undo(a.import_id)  # type: ignore[arg-type]
    assert store.totals()["spend"] == {"rows": 0, "total": Decimal(0)}
    with pytest.raises(StoreError, match="already undone"):
        store.undo(a.import_id)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="no import #99"):
        store.undo(99)


def test_reimporting_a_replaced_file_applies_it_again(store: Store, tmp_path: Path) -> None:
    a_path = spend_file(tmp_path, "a.csv", "2025-Q1,personnel,,1000.00,Payroll\n")
    store.import_file("spend", a_path)
    b = store.import_file("spend", spend_file(tmp_path, "b.csv", "2025-Q1,personnel,,1100.00,Payroll\n"),
                          replace=True)
    again = store.import_file("spend", a_path, replace=True)
    assert again.status == "imported" and again.replaced == [b.import_id]
    assert store.totals()["spend"]["total"] == Decimal("1000.00")
    store.undo(again.import_id)  # type: ignore[arg-type]
    assert store.totals()["spend"]["total"] == Decimal("1100.00")


def test_replace_of_part_of_a_quarter_is_refused(store: Store, tmp_path: Path) -> None:
    store.import_file("spend", spend_file(tmp_path, "a.csv", "2025-Q1,personnel,,3000.00,Payroll\n"))
    before = store.snapshot()
    result = store.import_file("spend", spend_file(tmp_path, "m.csv", "2025-03,personnel,,1000.00,Payroll\n"),
                               replace=True)
    assert [e.code for e in result.errors] == ["partial_replace"]
    assert "2025-Q1" in result.errors[0].message
    assert store.snapshot() == before
    # monthly rows replaced by a quarterly file covering all of them is fine
    whole = store.import_file("spend", spend_file(tmp_path, "q.csv", "2025-01,personnel,,1.00,P\n"
                                                                     "2025-02,personnel,,1.00,P\n"
                                                                     "2025-03,personnel,,1.00,P\n"),
                              replace=True)
    assert whole.status == "imported"


def test_customers_are_unique_across_imports(store: Store, tmp_path: Path) -> None:
    header = "customer_id,acquired_on,channel,segment\n"
    store.import_file("customers", write(tmp_path / "jan.csv", header + "C1,2025-01-05,Events,enterprise\n"))
    store.import_file("customers", write(tmp_path / "feb.csv", header + "C2,2025-02-05,Events,smb\n"))
    before = store.snapshot()
    # Replacing January supersedes C1's row first; C2 then clashes with February's import,
    # so the whole transaction, supersession included, must roll back.
    clash = store.import_file("customers", write(tmp_path / "jan2.csv", header + "C1,2025-01-06,Events,SMB\n"
                                                                                 "C2,2025-01-07,Events,SMB\n"),
                              replace=True)
    assert clash.status == "rejected"
    assert [(e.code, e.row, e.value) for e in clash.errors] == [("customer_already_imported", 3, "C2")]
    assert store.snapshot() == before
    fixed = store.import_file("customers", write(tmp_path / "jan3.csv", header + "C1,2025-01-06,Events,SMB\n"),
                              replace=True)
    assert fixed.status == "imported"
    customers = store.frame("customers").sort("customer_id")
    assert customers["segment"].to_list() == ["SMB", "SMB"]
    assert customers["acquired_on"].cast(str).to_list() == ["2025-01-06", "2025-02-05"]


def test_segments_are_canonical_and_other_text_is_kept(store: Store, tmp_path: Path) -> None:
    header = "customer_id,acquired_on,segment\n"
    result = store.import_file("customers", write(tmp_path / "c.csv", header + "C1,2025-01-05,enterprise\n"
                                                                               "C2,2025-01-05,D2C\n"
                                                                               "C3,2025-01-05,Public sector\n"))
    assert store.frame("customers")["segment"].to_list() == ["Enterprise B2B", "DTC", "Public sector"]
    assert [(w.code, w.value) for w in result.warnings] == [("unknown_segment", "Public sector")]


def test_revenue_margin_from_cost_and_consistency_warnings(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "rev.csv", "customer_id,date,revenue,cost,gross_margin\n"
                                       "C1,2025-01-31,100.00,30.00,\n"
                                       "C1,2025-02-28,100.00,30.00,60.00\n"
                                       "C2,2025-02-28,-20.00,,\n")
    result = store.import_file("revenue", path)
    assert result.status == "imported"
    rows = store.frame("revenue")
    # margin = revenue - cost where only cost is given; a given margin is kept as written
    assert rows["gross_margin"].to_list() == [Decimal(70), Decimal(60), None]
    assert sorted((w.code, w.row) for w in result.warnings) == [("margin_mismatch", 3), ("refund", 4)]
    assert result.total == Decimal("180.00")


def test_funnel_totals_are_leads(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "f.csv", "period,channel,leads,visitors,event_attendees\n"
                                     "2025-01,Paid Search,120,\"10,000\",\n2025-01,Events,30,,250\n")
    result = store.import_file("funnel", path)
    assert (result.rows, result.total) == (2, Decimal(150))
    rows = store.frame("funnel")
    assert rows["visitors"].to_list() == [10000, None]
    assert rows["event_attendees"].to_list() == [None, 250]


def test_options_are_recorded_in_the_log(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "eu.csv", "Periode;Kategorie;Betrag\n01/02/2025;Gehälter;1.234,56\n")
    options = ImportOptions(column_map={"Periode": "period", "Kategorie": "category", "Betrag": "amount"},
                            category_map={"Gehälter": "personnel"}, date_format="%d/%m/%Y",
                            decimal_comma=True)
    result = store.import_file("spend", path, options)
    assert result.status == "imported" and result.total == Decimal("1234.56")
    recorded = store.one("SELECT options FROM imports")
    assert recorded is not None and '"decimal_comma": true' in recorded[0]
    assert store.frame("spend")["period_start"].cast(str).to_list() == ["2025-02-01"]


def test_a_rejected_file_leaves_the_file_byte_identical_after_checkpoint(db_path: Path, tmp_path: Path) -> None:
    with Store(db_path) as store:
        store.import_file("spend", spend_file(tmp_path, "a.csv", "2025-Q1,personnel,,1000.00,Payroll\n"))
        store.con.execute("CHECKPOINT")
    image = db_path.read_bytes()
    with Store(db_path) as store:
        result = store.import_file("spend", spend_file(tmp_path, "bad.csv", "2025-Q2,personnel,,oops,P\n"))
        assert result.status == "rejected"
        clash = store.import_file("spend", spend_file(tmp_path, "clash.csv", "2025-Q1,personnel,,5.00,P\n"))
        assert clash.status == "rejected"
    assert db_path.read_bytes() == image


def test_read_only_store_can_read_but_not_write(db_path: Path, tmp_path: Path) -> None:
    with Store(db_path) as store:
        store.import_file("spend", spend_file(tmp_path, "a.csv", "2025-Q1,personnel,,1000.00,Payroll\n"))
    with Store(db_path, read_only=True) as store:
        assert store.totals()["spend"]["rows"] == 1
        with pytest.raises(Exception, match="read-only"):
            store.import_file("spend", spend_file(tmp_path, "b.csv", "2025-Q2,personnel,,1.00,P\n"))


def test_undo_never_puts_a_customer_in_force_twice(store: Store, tmp_path: Path) -> None:
    header = "customer_id,acquired_on\n"
    store.import_file("customers", write(tmp_path / "a.csv", header + "X,2025-01-10\n"))
    b = store.import_file("customers", write(tmp_path / "b.csv", header + "Y,2025-01-11\n"), replace=True)
    c = store.import_file("customers", write(tmp_path / "c.csv", header + "X,2025-02-03\n"))
    assert c.status == "imported"  # X is not in force once January was replaced
    before = store.snapshot()
    with pytest.raises(StoreError, match=f"customer 'X', which import #{c.import_id} now holds"):
        store.undo(b.import_id)  # type: ignore[arg-type]
    assert store.snapshot() == before
    store.undo(c.import_id)  # type: ignore[arg-type]
    store.undo(b.import_id)  # type: ignore[arg-type]
    assert store.frame("customers")["customer_id"].to_list() == ["X"]


def test_the_same_file_read_with_other_options_is_a_new_import(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "us.csv", HEADER + "04/03/2025,personnel,,100.00,P\n05/03/2025,personnel,,100.00,P\n")
    wrong = store.import_file("spend", path, ImportOptions(date_format="%d/%m/%Y"))
    assert [str(d) for d in store.frame("spend")["period_start"]] == ["2025-03-04", "2025-03-05"]
    again = store.import_file("spend", path, ImportOptions(date_format="%d/%m/%Y"))
    assert (again.status, again.import_id) == ("unchanged", wrong.import_id)
    fixed = store.import_file("spend", path, ImportOptions(date_format="%m/%d/%Y"), replace=False)
    assert fixed.status == "imported"  # April and May: no clash with March
    assert sorted(str(d) for d in store.frame("spend")["period_start"]) == [
        "2025-03-04", "2025-03-05", "2025-04-03", "2025-05-03"]


def test_validation_reports_its_progress_in_order(tmp_path: Path) -> None:
    from finance.ingest.prepare import prepare

    steps: list[tuple[float, str]] = []
    path = spend_file(tmp_path, "a.csv", "2025-Q1,personnel,,1000.00,Payroll\n")
    assert prepare("spend", path, progress=lambda f, s: steps.append((f, s))).ok
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert "Checking the amount column" in [s for _, s in steps]


def test_duckdb_leaves_room_for_the_python_process_it_runs_in(store: Store) -> None:
    """An import of 10^8 rows holds the parsed file while DuckDB remakes the summaries: DuckDB's own default
    (80% of memory) ran the machine out; the store's connections hold DuckDB to its share and spill past it."""
    import os

    from finance.store.connection import DUCKDB_MEMORY_SHARE

    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = store.one("SELECT current_setting('memory_limit')")[0]  # type: ignore[index]
    number, unit = limit.split()
    held = float(number) * {"MiB": 2**20, "GiB": 2**30, "TiB": 2**40}[unit]
    assert abs(held - DUCKDB_MEMORY_SHARE * total) <= 0.01 * total, (limit, total)
    temp = store.one("SELECT current_setting('temp_directory')")[0]  # type: ignore[index]
    assert temp.endswith(".duckdb.tmp") or temp.endswith(".tmp"), temp
