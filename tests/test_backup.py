"""Backups, restore, the writer's lock and who changed what: real DuckDB files, real threads and processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from finance.cli import commands as cli
from finance.store import backup
from finance.store.database import Store, StoreBusy, StoreError, StoreUnreadable, cli_user, restore

from .conftest import ROOT, run_cli, write

HEADER = "period,category,channel,amount,vendor\n"
FAST = {"FINANCE_BUSY_TIMEOUT": "2"}  # a CLI run that finds the file busy gives up quickly


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backups beside the test's database, the default count, no user: whatever the runner's shell says."""
    for name in (backup.ENV_BACKUPS, backup.ENV_BACKUP_DIR, "FINANCE_USER", "FINANCE_DB"):
        monkeypatch.delenv(name, raising=False)


def spend(tmp_path: Path, name: str, *lines: str) -> Path:
    return write(tmp_path / name, HEADER + "".join(f"{line}\n" for line in lines))


def month(tmp_path: Path, number: int, amount: str = "") -> Path:
    """A spend file for one month of 2025 (a distinct amount per month unless given)."""
    return spend(tmp_path, f"m{number:02d}.csv", f"2025-{number:02d},personnel,,{amount or f'{number}00.00'},Payroll")


def backups(db: Path) -> list[Path]:
    return [b.path for b in backup.list_backups(db)]


def snapshot_of(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The full content of a database or backup file, opened read-only (the file is not touched)."""
    with Store(path, read_only=True) as store:
        return store.snapshot()


def totals_of(path: Path) -> dict[str, dict[str, Any]]:
    with Store(path, read_only=True) as store:
        return store.totals()


def cli_json(*args: str | Path, env: dict[str, str] | None = None) -> tuple[int, Any]:
    done = run_cli(*args, "--format", "json", env=env)
    return done.returncode, json.loads(done.stdout)


# --- taking backups ------------------------------------------------------------------------------------------


def test_each_import_and_undo_takes_one_backup_holding_the_state_before(db_path: Path, tmp_path: Path) -> None:
    with Store(db_path) as store:
        for number in (1, 2, 3):
            before, listed = store.snapshot(), backups(db_path)
            result = store.import_file("spend", month(tmp_path, number))
            assert result.status == "imported"
            now = backups(db_path)
            assert now[1:] == listed and len(now) == len(listed) + 1  # exactly one new, and it is the newest
            assert now[0].name.startswith(f"{db_path.stem}.") and now[0].name.endswith(".import.duckdb")
            assert snapshot_of(now[0]) == before
        assert store.totals()["spend"] == {"rows": 3, "total": Decimal("600.00")}
        before, listed = store.snapshot(), backups(db_path)
        store.undo(2)
        now = backups(db_path)
        assert now[1:] == listed and backup.list_backups(db_path)[0].reason == "undo"
        assert snapshot_of(now[0]) == before
        assert totals_of(now[0])["spend"] == {"rows": 3, "total": Decimal("600.00")}
    assert totals_of(db_path)["spend"] == {"rows": 2, "total": Decimal("400.00")}
    folder = backup.backup_dir(db_path)
    assert folder == tmp_path / "backups"
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in backups(db_path))  # no .partial/.wal


def test_unchanged_reimport_rejected_file_and_impossible_undo_take_no_backup(db_path: Path, tmp_path: Path) -> None:
    with Store(db_path) as store:
        assert store.import_file("spend", month(tmp_path, 1)).status == "imported"
        store.undo(1)
        assert store.import_file("spend", month(tmp_path, 2)).status == "imported"
        listed, before = backups(db_path), store.snapshot()
        assert len(listed) == 3
        again = store.import_file("spend", spend(tmp_path, "same.csv", "2025-02,personnel,,200.00,Payroll"))
        assert (again.status, again.import_id) == ("unchanged", 2)
        bad = store.import_file("spend", spend(tmp_path, "bad.csv", "2025-13,personnel,,1.00,Payroll"))
        assert bad.status == "rejected" and bad.errors
        with pytest.raises(StoreError, match="already undone"):
            store.undo(1)
        with pytest.raises(StoreError, match="no import #42"):
            store.undo(42)
        assert backups(db_path) == listed
        assert store.snapshot() == before


def test_an_import_refused_for_overlapping_periods_takes_no_backup(db_path: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(backup.ENV_BACKUPS, "3")
    with Store(db_path) as store:
        store.import_file("spend", month(tmp_path, 1))
        store.import_file("spend", month(tmp_path, 2))
        listed = backups(db_path)
        assert len(listed) == 2
        for attempt in range(3):
            refused = store.import_file("spend", spend(tmp_path, f"again{attempt}.csv",
                                                       f"2025-01,personnel,,{attempt + 5}.00,Payroll"))
            assert [e.code for e in refused.errors] == ["periods_already_imported"]
        assert backups(db_path) == listed  # today: three copies of the current file, the two real ones gone


def test_rotation_keeps_exactly_the_newest(db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(backup.ENV_BACKUPS, "3")
    states = []
    with Store(db_path) as store:
        for number in range(1, 6):
            states.append(store.snapshot())
            assert store.import_file("spend", month(tmp_path, number)).status == "imported"
    kept = backups(db_path)
    assert len(kept) == 3
    # newest first: the states before imports 5, 4 and 3 (with 4, 3 and 2 imports in force)
    assert [snapshot_of(path) for path in kept] == [states[4], states[3], states[2]]
    assert [totals_of(path)["spend"]["rows"] for path in kept] == [4, 3, 2]
    assert len(list(backup.backup_dir(db_path).iterdir())) == 3


def test_keep_backups_argument_overrides_the_environment(db_path: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(backup.ENV_BACKUPS, "5")
    with Store(db_path, keep_backups=1) as store:
        for number in (1, 2, 3):
            store.import_file("spend", month(tmp_path, number))
    assert [totals_of(p)["spend"]["rows"] for p in backups(db_path)] == [2]
    with Store(db_path, keep_backups=0) as store:
        store.import_file("spend", month(tmp_path, 4))
        assert store.backup("manual") is None
    assert len(backups(db_path)) == 1


def test_zero_backups_takes_none(db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(backup.ENV_BACKUPS, "0")
    with Store(db_path) as store:
        store.import_file("spend", month(tmp_path, 1))
        store.import_file("spend", month(tmp_path, 2))
        store.undo(2)
        assert store.backup("manual") is None
    assert backups(db_path) == []
    assert not backup.backup_dir(db_path).exists()
    assert totals_of(db_path)["spend"]["rows"] == 1


def test_keep_count_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert backup.keep_count() == backup.DEFAULT_KEEP == 10
    for text, count in (("3", 3), (" 7 ", 7), ("0", 0), ("", 10)):
        monkeypatch.setenv(backup.ENV_BACKUPS, text)
        assert backup.keep_count() == count
    for text, fragment in (("ten", "whole number"), ("2.5", "whole number"), ("-1", "0 or more")):
        monkeypatch.setenv(backup.ENV_BACKUPS, text)
        with pytest.raises(ValueError, match=fragment) as caught:
            backup.keep_count()
        assert f"FINANCE_BACKUPS={text!r}" in str(caught.value)


def test_invalid_backup_count_stops_an_import_before_anything_is_written(db_path: Path, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with Store(db_path) as store:
        store.import_file("spend", month(tmp_path, 1))
    before = snapshot_of(db_path)
    listed = backups(db_path)
    monkeypatch.setenv(backup.ENV_BACKUPS, "lots")
    with Store(db_path) as store, pytest.raises(StoreError, match="FINANCE_BACKUPS='lots'"):
        store.import_file("spend", month(tmp_path, 2))
    done = run_cli("import", "spend", month(tmp_path, 3), "--db", db_path)
    assert done.returncode != 0
    assert "FINANCE_BACKUPS='lots'" in done.stderr and "whole number" in done.stderr
    assert snapshot_of(db_path) == before and backups(db_path) == listed


def test_cli_reports_an_invalid_backup_count_without_a_traceback(db_path: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(backup.ENV_BACKUPS, "lots")
    code = cli.main(["import", "spend", str(month(tmp_path, 1)), "--db", str(db_path)])
    assert code in (1, 2)
    assert capsys.readouterr().err.startswith("error: FINANCE_BACKUPS='lots'")


def test_backup_dir_from_the_environment_and_leftovers_ignored(db_path: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere" / "kept"
    monkeypatch.setenv(backup.ENV_BACKUP_DIR, str(elsewhere))
    with Store(db_path) as store:
        store.import_file("spend", month(tmp_path, 1))
        elsewhere.joinpath(f"{db_path.stem}.20250101T000000000000Z.import.duckdb.partial").write_bytes(b"half")
        elsewhere.joinpath("other.20250101T000000000000Z.import.duckdb").write_bytes(b"another database's")
        elsewhere.joinpath(f"{db_path.stem}.notatime.import.duckdb").write_bytes(b"not a backup name")
        assert len(backups(db_path)) == 1  # none of the three is listed
    with Store(db_path, read_only=True) as reader, pytest.raises(StoreError, match="read-only"):
        reader.backup("manual")
    with Store(db_path) as store:
        taken = store.backup("manual")
        assert taken is not None and taken.parent == elsewhere
    assert not (tmp_path / "backups").exists()
    assert not list(elsewhere.glob("*.partial"))  # removed by the next backup
    assert [b.reason for b in backup.list_backups(db_path)] == ["manual", "import"]
    assert str(elsewhere) in backup.describe(db_path)


def test_backups_and_backup_commands(db_path: Path, tmp_path: Path) -> None:
    with Store(db_path) as store:
        store.import_file("spend", month(tmp_path, 1))
        store.import_file("spend", month(tmp_path, 2))
    done = run_cli("backup", "--db", db_path)
    assert done.returncode == 0, done.stderr
    newest = backups(db_path)[0]
    assert str(newest) in done.stdout
    assert snapshot_of(newest) == snapshot_of(db_path)
    code, listing = cli_json("backups", "--db", db_path)
    assert code == 0
    assert [(e["number"], e["before"], e["path"]) for e in listing] == [
        (n, b.reason, str(b.path)) for n, b in enumerate(backup.list_backups(db_path), start=1)]
    assert [e["before"] for e in listing] == ["manual", "import", "import"]
    assert all(e["bytes"] == Path(e["path"]).stat().st_size > 0 for e in listing)
    missing = run_cli("backup", "--db", tmp_path / "nothing.duckdb")
    assert missing.returncode == 2 and "no database" in missing.stderr
    assert not (tmp_path / "nothing.duckdb").exists()


# --- restore -------------------------------------------------------------------------------------------------


def test_restore_by_number_puts_back_exactly_that_state(db_path: Path, tmp_path: Path) -> None:
    states = []
    with Store(db_path, user="importer") as store:
        for number in (1, 2, 3):
            states.append(store.snapshot())
            store.import_file("spend", month(tmp_path, number))
    replaced_state = snapshot_of(db_path)
    listed = backup.list_backups(db_path)
    assert [snapshot_of(b.path) for b in listed] == states[::-1]
    chosen = listed[1].path  # number 2: before import 2, import 1 alone in force

    done = run_cli("restore", "2", "--db", db_path, env={"FINANCE_USER": "restorer@example.com"})
    assert done.returncode == 0, done.stderr
    assert f"restored {db_path} from {chosen}" in done.stdout

    now = snapshot_of(db_path)
    assert {t: rows for t, rows in now.items() if t != "changes"} == {
        t: rows for t, rows in states[1].items() if t != "changes"}
    assert now["changes"][:-1] == states[1]["changes"]
    change_id, _, who, action, detail = now["changes"][-1]
    assert (who, action) == ("restorer@example.com", "restore")
    assert change_id == max(c[0] for c in states[1]["changes"]) + 1
    kept = backup.list_backups(db_path)[0]
    assert json.loads(detail) == {"from": chosen.name, "replaced_copy": kept.path.name}
    # what the restore replaced is kept, and holds the replaced state
    assert kept.reason == "restore" and str(kept.path) in done.stdout
    assert snapshot_of(kept.path) == replaced_state
    assert [b.path for b in backup.list_backups(db_path)[1:]] == [b.path for b in listed]
    assert chosen.exists()  # the backup itself is not consumed

    code, log = cli_json("imports", "--db", db_path)
    assert code == 0
    assert [(e["import_id"], e["file"], e["status"], e["imported_by"]) for e in log] == [
        (1, "m01.csv", "active", "importer")]
    assert totals_of(db_path)["spend"] == {"rows": 1, "total": Decimal("100.00")}
    # the restored history goes on: import 2 is new again (the sequence came back with the file)
    with Store(db_path) as store:
        assert store.import_file("spend", month(tmp_path, 2)).import_id == 2


def test_restore_from_a_path_and_the_in_process_function(db_path: Path, tmp_path: Path) -> None:
    with Store(db_path) as store:
        store.import_file("spend", month(tmp_path, 1))
        store.import_file("spend", month(tmp_path, 2))
    outside = tmp_path / "copy.duckdb"
    backup.copy_durably(backups(db_path)[0], outside)
    expected = snapshot_of(outside)
    kept = restore(db_path, outside, user="in-process")
    assert kept is not None and snapshot_of(kept)["imports"] != expected["imports"]
    now = snapshot_of(db_path)
    assert now["spend_rows"] == expected["spend_rows"] and now["imports"] == expected["imports"]
    assert now["changes"][-1][2:4] == ("in-process", "restore")
    assert outside.exists()


def test_restore_refuses_what_is_not_a_backup_and_changes_nothing(db_path: Path, tmp_path: Path) -> None:
    with Store(db_path) as store:
        store.import_file("spend", month(tmp_path, 1))
        store.import_file("spend", month(tmp_path, 2))
    before, listed, raw = snapshot_of(db_path), backups(db_path), db_path.read_bytes()
    garbage = write(tmp_path / "garbage.duckdb", os.urandom(64 * 1024))
    done = run_cli("restore", garbage, "--db", db_path)
    assert done.returncode == 1
    assert f"{garbage} is not a usable backup" in done.stderr
    not_a_store = tmp_path / "other.duckdb"
    with duckdb.connect(str(not_a_store)) as con:
        con.execute("CREATE TABLE t (x INTEGER)")
    with pytest.raises(StoreError, match="is not a usable backup"):
        restore(db_path, not_a_store)
    missing = run_cli("restore", tmp_path / "nope.duckdb", "--db", db_path)
    assert missing.returncode == 2 and "no backup file" in missing.stderr
    out_of_range = run_cli("restore", "99", "--db", db_path)
    assert out_of_range.returncode == 2
    assert "there is no backup number 99" in out_of_range.stderr and "2 found" in out_of_range.stderr
    assert db_path.read_bytes() == raw
    assert snapshot_of(db_path) == before and backups(db_path) == listed


def test_restoring_the_oldest_backup_when_the_rotation_is_full(db_path: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(backup.ENV_BACKUPS, "3")
    with Store(db_path) as store:
        for number in (1, 2, 3, 4):
            store.import_file("spend", month(tmp_path, number))
    oldest = backups(db_path)[-1]
    expected = snapshot_of(oldest)  # the state before import 2
    assert totals_of(oldest)["spend"]["rows"] == 1
    done = run_cli("restore", "3", "--db", db_path)  # copied in before the rotation may drop it
    assert done.returncode == 0, done.stderr
    assert snapshot_of(db_path)["imports"] == expected["imports"]


# --- a file DuckDB cannot open -------------------------------------------------------------------------------


def _damage_header(raw: bytes) -> bytes:
    return b"\x5a" * 4096 + raw[4096:]


def _damage_blocks(raw: bytes) -> bytes:
    # the three header blocks intact, every data block overwritten: DuckDB's checksums catch it
    return raw[:12288] + bytes((i * 131 + 7) % 251 for i in range(len(raw) - 12288))


def _random_bytes(raw: bytes) -> bytes:
    return os.urandom(len(raw))


@pytest.mark.parametrize("damage", [_damage_header, _damage_blocks, _random_bytes])
def test_a_damaged_file_is_unreadable_with_a_pointer_to_the_backups(db_path: Path, tmp_path: Path,
                                                                    damage: Any) -> None:
    with Store(db_path) as store:
        store.import_file("spend", month(tmp_path, 1))
        store.import_file("spend", month(tmp_path, 2))
    damaged = damage(db_path.read_bytes())
    db_path.write_bytes(damaged)
    for read_only in (False, True):
        started = time.monotonic()
        with pytest.raises(StoreUnreadable) as caught:
            Store(db_path, read_only=read_only, busy_timeout=10)
        assert time.monotonic() - started < 5  # refused at once, not waited on as if busy
        message = str(caught.value)
        assert f"the database {db_path} cannot be opened" in message
        assert f"2 backup(s) are in {tmp_path / 'backups'}" in message
        assert f"python -m finance restore 1 --db {db_path}" in message
        assert f"python -m finance backups --db {db_path}" in message
    assert db_path.read_bytes() == damaged  # opening it changed nothing


def test_unreadable_without_backups_says_so(db_path: Path) -> None:
    write(db_path, b"this is a spreadsheet, not a database" * 100)
    with pytest.raises(StoreUnreadable) as caught:
        Store(db_path)
    assert f"No backups were found in {db_path.parent / 'backups'}." in str(caught.value)


def test_cli_on_a_damaged_file_then_restore_brings_it_back(db_path: Path, tmp_path: Path) -> None:
    with Store(db_path, user="importer") as store:
        store.import_file("spend", month(tmp_path, 1))
        store.import_file("spend", month(tmp_path, 2))
    good = snapshot_of(db_path)
    newest = backups(db_path)[0]
    expected = snapshot_of(newest)  # before import 2
    damaged = _damage_header(db_path.read_bytes())
    db_path.write_bytes(damaged)

    done = run_cli("imports", "--db", db_path, env=FAST)
    assert done.returncode == 1
    assert f"the database {db_path} cannot be opened" in done.stderr
    assert "python -m finance restore" in done.stderr and str(tmp_path / "backups") in done.stderr
    assert db_path.read_bytes() == damaged

    done = run_cli("restore", "1", "--db", db_path, env={**FAST, "FINANCE_USER": "fixer"})
    assert done.returncode == 0, done.stderr
    aside = list((tmp_path / "backups").glob("*.unreadable.duckdb"))
    assert len(aside) == 1 and aside[0].name.startswith(f"{db_path.stem}.")
    assert aside[0].read_bytes() == damaged
    assert str(aside[0]) in done.stdout
    now = snapshot_of(db_path)
    assert now["imports"] == expected["imports"] and now["spend_rows"] == expected["spend_rows"]
    assert now["changes"][:-1] == expected["changes"]
    assert now["changes"][-1][2:4] == ("fixer", "restore")
    assert json.loads(now["changes"][-1][4]) == {"from": newest.name, "replaced_copy": aside[0].name}
    assert now["imports"] != good["imports"]  # the state of the backup, not the last good one
    code, log = cli_json("imports", "--db", db_path)
    assert code == 0 and [e["import_id"] for e in log] == [1]


def test_a_damaged_file_under_a_folder_named_lock_something_is_unreadable(tmp_path: Path) -> None:
    db = tmp_path / "clockwork" / "store.duckdb"
    db.parent.mkdir()
    write(db, os.urandom(64 * 1024))
    started = time.monotonic()
    with pytest.raises(StoreUnreadable, match="cannot be opened"):
        Store(db, busy_timeout=1)
    assert time.monotonic() - started < 0.9


def test_demo_force_keeps_a_backup_of_the_replaced_database(db_path: Path, tmp_path: Path) -> None:
    with Store(db_path) as store:
        store.import_file("spend", month(tmp_path, 1))
    mine = snapshot_of(db_path)
    done = run_cli("demo", "--force", "--db", db_path)
    assert done.returncode == 0, done.stderr
    kept = backup.list_backups(db_path)
    assert [b.reason for b in kept] == ["demo", "import"]
    assert snapshot_of(kept[0].path) == mine
    with Store(db_path, read_only=True) as store:
        assert store.setting("demo_company") and store.totals()["customers"]["rows"] > 0


# --- who changed what ----------------------------------------------------------------------------------------


def test_cli_records_who_imported_and_who_undid(db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    done = run_cli("import", "spend", month(tmp_path, 1), "--db", db_path, env={"FINANCE_USER": "alice@example.com"})
    assert done.returncode == 0, done.stderr
    with Store(db_path, user="carol@example.com") as store:
        assert store.import_file("spend", month(tmp_path, 2)).import_id == 2
    done = run_cli("undo", "1", "--db", db_path, env={"FINANCE_USER": "bob@example.com"})
    assert done.returncode == 0, done.stderr
    code, log = cli_json("imports", "--db", db_path)
    assert code == 0
    assert [(e["import_id"], e["status"], e["imported_by"], e["undone_by"]) for e in log] == [
        (2, "active", "carol@example.com", None), (1, "undone", "alice@example.com", "bob@example.com")]
    assert log[1]["undone_at"] is not None and log[0]["undone_at"] is None
    with Store(db_path, read_only=True) as store:
        changes = store.changes().sort("change_id").select("changed_by", "action").rows()
    assert changes == [("alice@example.com", "import"), ("carol@example.com", "import"), ("bob@example.com", "undo")]
    # without $FINANCE_USER: the login name, marked as the command line
    monkeypatch.delenv("FINANCE_USER", raising=False)
    assert cli_user().endswith("(command line)")
    monkeypatch.setenv("FINANCE_USER", "dora")
    assert cli_user() == "dora"


def test_changes_log_lists_every_change_by_its_user(db_path: Path, tmp_path: Path) -> None:
    with Store(db_path, user="erin") as store:
        store.import_file("spend", month(tmp_path, 1))
        store.set_assumptions({"gross_margin": "0.7", "discount_rate": "0.1"})
        store.set_assumptions({"gross_margin": "0.6", "discount_rate": "0.1"})  # one value changed
        store.set_assumptions({"gross_margin": "0.6"})  # nothing changed: nothing logged
        store.set_setting("currency", "EUR")
        store.set_setting("currency", "EUR")  # unchanged: not logged
    with Store(db_path, user="frank") as store:
        store.undo(1)
        log = store.changes().sort("change_id")
        imports = store.imports().row(0, named=True)
    assert (imports["imported_by"], imports["undone_by"]) == ("erin", "frank")
    assert log["change_id"].to_list() == [1, 2, 3, 4, 5]
    assert log.select("changed_by", "action").rows() == [
        ("erin", "import"), ("erin", "assumptions"), ("erin", "assumptions"), ("erin", "setting"), ("frank", "undo")]
    details = [json.loads(d) for d in log["detail"]]
    assert details[0] == {"import_id": 1, "kind": "spend", "file": "m01.csv", "rows": 1, "replaced": []}
    assert details[1] == {"gross_margin": {"from": None, "to": "0.7"}, "discount_rate": {"from": None, "to": "0.1"}}
    assert details[2] == {"gross_margin": {"from": "0.7", "to": "0.6"}}
    assert details[3] == {"key": "currency", "from": "USD", "to": "EUR"}
    assert details[4] == {"import_id": 1, "kind": "spend", "rows_removed": 1, "rows_restored": 0}
    assert all(t is not None for t in log["changed_at"])


def test_a_failed_change_logs_nothing(db_path: Path, tmp_path: Path) -> None:
    with Store(db_path, user="gina") as store:
        store.import_file("spend", month(tmp_path, 1))
        store.import_file("spend", spend(tmp_path, "later.csv", "2025-01,personnel,,150.00,Payroll"), replace=True)
        before = store.changes()
        with pytest.raises(StoreError, match="replaced by import #2"):
            store.undo(1)
        refused = store.import_file("spend", spend(tmp_path, "third.csv", "2025-01,personnel,,1.00,Payroll"))
        assert refused.status == "rejected"
        assert store.changes().equals(before)


def test_the_user_passed_to_an_import_is_the_one_in_the_changes_log(db_path: Path, tmp_path: Path) -> None:
    with Store(db_path) as store:
        store.import_file("spend", month(tmp_path, 1), user="harry")
        assert store.imports()["imported_by"].to_list() == ["harry"]
        assert store.changes()["changed_by"].to_list() == ["harry"]


# --- one writer at a time ------------------------------------------------------------------------------------


def _close_later(store: Store, seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, store.close)
    timer.start()
    return timer


def test_a_second_writer_waits_then_gets_busy_then_succeeds_once_the_first_closes(db_path: Path) -> None:
    first = Store(db_path, user="first")
    try:
        first.set_setting("held", "yes")
        with ThreadPoolExecutor(1) as pool:
            def attempt(timeout: float) -> float:
                started = time.monotonic()
                with Store(db_path, busy_timeout=timeout, user="second") as second:
                    second.set_setting("second", "was here")
                return time.monotonic() - started

            started = time.monotonic()
            with pytest.raises(StoreBusy, match="is busy"):
                pool.submit(attempt, 0.3).result()
            waited = time.monotonic() - started
            assert 0.3 <= waited < 5
            timer = _close_later(first, 0.6)
            assert pool.submit(attempt, 10).result() >= 0.45  # waited for the first to close
            timer.join()
    finally:
        first.close()
    with Store(db_path, read_only=True) as store:
        assert (store.setting("held"), store.setting("second")) == ("yes", "was here")


def test_a_reader_in_the_same_process_waits_for_the_writer(db_path: Path) -> None:
    with Store(db_path) as store:
        store.set_setting("before", "1")
    writer = Store(db_path)
    try:
        writer.set_setting("during", "2")
        with ThreadPoolExecutor(1) as pool:
            def read(timeout: float) -> tuple[float, str | None]:
                started = time.monotonic()
                with Store(db_path, read_only=True, busy_timeout=timeout) as reader:
                    return time.monotonic() - started, reader.setting("during")

            with pytest.raises(StoreBusy, match="is busy"):
                pool.submit(read, 0.3).result()
            timer = _close_later(writer, 0.5)
            waited, seen = pool.submit(read, 10).result()
            timer.join()
    finally:
        writer.close()
    assert waited >= 0.35 and seen == "2"  # the reader sees the writer's committed change


HOLDER = """
import sys, time
from finance.store.database import Store
store = Store(sys.argv[1], user="doomed")
store.set_setting("written_by", "doomed")
print("ready", flush=True)
time.sleep(120)
"""


def test_a_killed_writer_leaves_no_lock_behind(db_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db_path)], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready", holder.stderr.read() if holder.stderr else ""
        with pytest.raises(StoreBusy):
            Store(db_path, busy_timeout=0.3)
        with pytest.raises(StoreBusy):
            Store(db_path, read_only=True, busy_timeout=0.3)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)
    assert holder.returncode == -signal.SIGKILL
    started = time.monotonic()
    with Store(db_path, busy_timeout=0.3, user="survivor") as store:
        assert store.setting("written_by") == "doomed"  # the committed change survived the kill
        store.set_setting("after", "yes")
    assert time.monotonic() - started < 5
    assert Path(str(db_path) + ".lock").exists()  # the lock file stays, unheld


def test_a_cli_writer_waits_for_an_in_process_writer(db_path: Path, tmp_path: Path) -> None:
    path = month(tmp_path, 1)
    holder = Store(db_path)
    try:
        done = run_cli("import", "spend", path, "--db", db_path, env={"FINANCE_BUSY_TIMEOUT": "0.3"})
        assert done.returncode == 1 and "is busy" in done.stderr
    finally:
        holder.close()
    assert totals_of(db_path)["spend"]["rows"] == 0  # nothing was written
    assert backups(db_path) == []


def _race(db: Path, files: list[Path]) -> list[Any]:
    gate = threading.Barrier(len(files))

    def one(index: int) -> Any:
        gate.wait()
        with Store(db, busy_timeout=30, user=f"thread{index}") as store:
            return store.import_file("spend", files[index])

    with ThreadPoolExecutor(len(files)) as pool:
        return list(pool.map(one, range(len(files))))


def test_two_threads_importing_overlapping_periods_never_both_write(tmp_path: Path) -> None:
    a = spend(tmp_path, "a.csv", "2025-01,personnel,,1000.00,Payroll", "2025-02,personnel,,2000.00,Payroll")
    b = spend(tmp_path, "b.csv", "2025-02,personnel,,2500.00,Payroll", "2025-03,personnel,,4000.00,Payroll")
    file_totals = {"a.csv": Decimal("3000.00"), "b.csv": Decimal("6500.00")}
    for round_ in range(3):
        db = tmp_path / f"race{round_}.duckdb"
        results = _race(db, [a, b])
        assert sorted(r.status for r in results) == ["imported", "rejected"]
        written = next(r for r in results if r.status == "imported")
        refused = next(r for r in results if r.status == "rejected")
        assert [e.code for e in refused.errors] == ["periods_already_imported"]
        with Store(db, read_only=True) as store:
            assert store.totals()["spend"] == {"rows": 2, "total": file_totals[written.file_name]}
            log = store.imports()
            assert log.select("import_id", "file_name").rows() == [(1, written.file_name)]
            assert store.changes()["action"].to_list() == ["import"]


def test_two_threads_importing_the_same_file_write_it_once(tmp_path: Path) -> None:
    same = spend(tmp_path, "same.csv", "2025-01,personnel,,1000.00,Payroll", "2025-02,personnel,,2000.00,Payroll")
    for round_ in range(2):
        db = tmp_path / f"same{round_}.duckdb"
        results = _race(db, [same, same, same])
        assert sorted(r.status for r in results) == ["imported", "unchanged", "unchanged"]
        assert {r.import_id for r in results} == {1}
        with Store(db, read_only=True) as store:
            assert store.totals()["spend"] == {"rows": 2, "total": Decimal("3000.00")}
            assert store.imports().height == 1
        assert len(backups(db)) == 1  # the unchanged ones took none
