"""A database file is data, never code; a bad environment setting is a clear error.

Real DuckDB files in temporary directories, crafted the way an attacker's own DuckDB would write
them (a raw connection with external access on), then handed to the store, ``restore`` and the CLI.
"""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from finance.cli import commands as cli
from finance.ingest.prepare import STORAGE_SCHEMAS
from finance.store import backup
from finance.store.database import Store, StoreError, StoreUnreadable, connect_file, restore
from finance.store.migrations import SCHEMA_VERSION

from .conftest import run_cli, write

SECRET = "TOP-SECRET-7f3a"  # the content of a local file no database may read


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (backup.ENV_BACKUPS, backup.ENV_BACKUP_DIR, "FINANCE_BUSY_TIMEOUT", "FINANCE_USER", "FINANCE_DB"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def valid_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding one spend import, made once and copied by each test (never changed)."""
    folder = tmp_path_factory.mktemp("valid")
    path = folder / "valid.duckdb"
    csv = write(folder / "jan.csv", "period,category,channel,amount,vendor\n2025-01,personnel,,100.00,Payroll\n")
    with Store(path, keep_backups=0) as store:
        assert store.import_file("spend", csv).status == "imported"
    return path


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    return write(tmp_path / "secret.txt", SECRET)


@pytest.fixture
def live(tmp_path: Path, valid_store: Path) -> Path:
    """The database in use, with its backups in ``backups`` beside it."""
    return copy(valid_store, tmp_path / "live.duckdb")


def copy(source: Path, target: Path) -> Path:
    shutil.copyfile(source, target)
    return target


def craft(path: Path, *statements: str) -> Path:
    """Change a store file with a raw DuckDB connection, as an attacker's tool would."""
    con = duckdb.connect(str(path))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()
    return path


def spend_rows_reading(secret: Path) -> list[str]:
    """``spend_rows`` replaced by a view whose channel is the content of ``secret`` (the issue's exploit)."""
    columns = ["import_id", *STORAGE_SCHEMAS["spend"], "superseded_by"]
    values = {name: f"NULL AS {name}" for name in columns}
    values |= {"import_id": "1::BIGINT AS import_id", "channel": "content AS channel"}
    names = ", ".join(STORAGE_SCHEMAS["spend"])
    return ["DROP VIEW spend", "DROP TABLE spend_rows",
            f"CREATE VIEW spend_rows AS SELECT {', '.join(values.values())} FROM read_text('{secret}')",
            f"CREATE VIEW spend AS SELECT import_id, {names} FROM spend_rows WHERE superseded_by IS NULL"]


def state(path: Path) -> tuple[bytes, list[Path]]:
    """The database's bytes and its backups: what a refused restore must leave as they were."""
    return path.read_bytes(), [b.path for b in backup.list_backups(path)]


# --- a crafted backup is refused ------------------------------------------------------------------------------

def test_a_backup_whose_table_is_a_view_reading_a_file_is_refused_by_the_cli(
        live: Path, secret: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "kept"
    monkeypatch.setenv(backup.ENV_BACKUP_DIR, str(folder))  # for the CLI below too
    # A backup in the listing, as `python -m finance backups` numbers it (1 = the newest).
    taken = backup.take(live, "manual", 5)
    assert taken is not None and taken.parent == folder
    crafted = craft(taken, *spend_rows_reading(secret))
    before = live.read_bytes(), sorted(folder.iterdir())
    done = run_cli("restore", "1", "--db", live)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{crafted} is not a usable backup" in done.stderr
    assert "spend_rows is a view, expected a table" in done.stderr
    assert "Traceback" not in done.stderr and SECRET not in done.stdout + done.stderr
    assert (live.read_bytes(), sorted(folder.iterdir())) == before  # no backup taken, nothing replaced
    with Store(live, read_only=True) as store:
        assert store.frame("spend").get_column("vendor").to_list() == ["Payroll"]


def test_the_same_backup_is_refused_by_the_python_api(live: Path, secret: Path, tmp_path: Path) -> None:
    crafted = craft(copy(live, tmp_path / "crafted.duckdb"), *spend_rows_reading(secret))
    before = state(live)
    with pytest.raises(StoreError, match="spend_rows is a view, expected a table") as refused:
        restore(live, crafted)
    assert str(refused.value).startswith(f"{crafted} is not a usable backup")
    assert SECRET not in str(refused.value)
    assert state(live) == before
    assert not (tmp_path / "live.duckdb.restoring").exists()


CRAFTED: dict[str, tuple[list[str], str]] = {
    "an extra macro": (["CREATE MACRO leak() AS TABLE SELECT 1 AS x"], "an extra table macro leak"),
    "an extra scalar macro": (["CREATE MACRO plus(a) AS a + 1"], "an extra macro plus"),
    "an extra table": (["CREATE TABLE scratch_notes (x VARCHAR)"], "an extra table scratch_notes"),
    "a changed column type": (["ALTER TABLE spend_rows ALTER amount TYPE VARCHAR"],
                              "spend_rows.amount is VARCHAR, expected DECIMAL(18,4)"),
    "an extra column": (["ALTER TABLE imports ADD COLUMN note VARCHAR"], "imports has an extra column note"),
    "a missing column": (["ALTER TABLE spend_rows DROP COLUMN vendor"], "spend_rows lacks the column vendor"),
    "a product view redefined": (["CREATE OR REPLACE VIEW spend AS SELECT * FROM spend_rows"],
                                 "view spend is not the store's"),
    "a trigger": (["CREATE TRIGGER wipe AFTER INSERT ON spend_rows FOR EACH ROW "
                   "DELETE FROM imports WHERE import_id = NEW.import_id"], "an extra trigger wipe"),
    "a sequence": (["CREATE SEQUENCE counter"], "an extra sequence counter"),
    "an index": (["CREATE INDEX by_kind ON imports (kind)"], "an extra index by_kind"),
    "a schema": (["CREATE SCHEMA side", "CREATE TABLE side.t (x INT)"], "an extra schema side"),
    "a column default": (["ALTER TABLE spend_rows ALTER channel SET DEFAULT 'x'"],
                         "spend_rows.channel has the default"),
    "a dropped constraint": (["CREATE TABLE imports2 AS SELECT * FROM imports", "DROP TABLE imports",
                              "ALTER TABLE imports2 RENAME TO imports"], "imports lacks the store's constraint"),
    "a newer schema": (["UPDATE settings SET value = '99' WHERE key = 'schema_version'"],
                       "written by a newer version of this program (schema version 99"),
    "no schema version": (["DELETE FROM settings WHERE key = 'schema_version'"], "no schema_version setting"),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_a_backup_with_anything_the_store_does_not_make_is_refused_and_nothing_changes(
        case: str, live: Path, tmp_path: Path) -> None:
    statements, reason = CRAFTED[case]
    crafted = craft(copy(live, tmp_path / "crafted.duckdb"), *statements)
    before = state(live)
    with pytest.raises(StoreError, match="is not a usable backup") as refused:
        restore(live, crafted)
    assert reason in str(refused.value)
    assert state(live) == before
    # Opened where it stands, the same file is refused too, before anything in it is read.
    with pytest.raises(StoreUnreadable, match=re.escape(f"{crafted} holds what the store does not make")):
        Store(crafted, read_only=True)


def test_a_valid_backup_and_one_an_older_version_wrote_still_restore(live: Path, tmp_path: Path) -> None:
    with Store(live, keep_backups=0) as store:
        store.set_setting("note", "newer")
    current = copy(live, tmp_path / "current.duckdb")
    older = craft(copy(live, tmp_path / "v3.duckdb"),  # schema version 3: no billing_interval yet
                  "ALTER TABLE customers_rows DROP COLUMN billing_interval",
                  "CREATE OR REPLACE VIEW customers AS SELECT import_id, source_row, customer_id, acquired_on, "
                  "channel, segment FROM customers_rows WHERE superseded_by IS NULL",
                  "UPDATE settings SET value = '3' WHERE key = 'schema_version'")
    for source in (current, older):
        restore(live, source)
        with Store(live, read_only=True) as store:
            assert store.setting("note") == "newer"
            assert store.setting("schema_version") == str(SCHEMA_VERSION)  # the older file was brought up to date
            assert "billing_interval" in store.query("SELECT * FROM customers LIMIT 0").columns


# --- a file is opened as data ---------------------------------------------------------------------------------

def test_the_stores_connection_cannot_read_files_nor_turn_that_back_on(live: Path, secret: Path) -> None:
    with Store(live, read_only=True) as store:
        with pytest.raises(duckdb.PermissionException):
            store.rows(f"SELECT content FROM read_text('{secret}')")
        with pytest.raises(duckdb.Error, match="locked"):
            store.rows("SET enable_external_access = true")
        with pytest.raises(duckdb.PermissionException):
            store.rows(f"ATTACH '{secret}.duckdb' AS other")


def test_a_view_reading_a_file_reads_nothing_even_when_opened(live: Path, secret: Path, tmp_path: Path) -> None:
    crafted = craft(copy(live, tmp_path / "crafted.duckdb"), *spend_rows_reading(secret))
    with pytest.raises(StoreUnreadable, match="spend_rows is a view, expected a table") as refused:
        Store(crafted, read_only=True)
    assert SECRET not in str(refused.value)
    # Past the check, as every connection the store opens is: external access is off for the file's SQL.
    with Store(live, read_only=True) as store:
        settings = store.rows("SELECT current_setting('enable_external_access'), current_setting('lock_configuration')")
    assert settings == [(False, True)]
    con = connect_file(crafted, read_only=True)
    try:
        with pytest.raises(duckdb.PermissionException, match="disabled by configuration"):
            con.execute("SELECT channel FROM spend").fetchall()
    finally:
        con.close()


def test_metrics_on_a_crafted_live_database_is_an_error_without_the_files_content(
        live: Path, secret: Path, capsys: pytest.CaptureFixture[str]) -> None:
    craft(live, *spend_rows_reading(secret))
    assert cli.main(["metrics", "--by", "channel", "--db", str(live)]) != 0
    out, err = capsys.readouterr()
    assert "spend_rows is a view, expected a table" in err
    assert SECRET not in out + err


# --- environment settings -------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["abc", "-1", "nan", "inf", "-inf", "1e999"])
def test_a_busy_timeout_that_is_not_a_number_of_seconds_is_a_clear_error(
        value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINANCE_BUSY_TIMEOUT", value)
    path = tmp_path / "new.duckdb"
    with pytest.raises(StoreError) as refused:
        Store(path)
    assert f"FINANCE_BUSY_TIMEOUT={value!r}" in str(refused.value)
    assert "expected a number of seconds" in str(refused.value)
    assert not path.exists()


def test_a_good_busy_timeout_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINANCE_BUSY_TIMEOUT", " 0.25 ")
    with Store(tmp_path / "new.duckdb") as store:
        assert math.isclose(store.busy_timeout, 0.25)


def test_the_cli_reports_a_bad_busy_timeout_without_a_traceback(live: Path, tmp_path: Path) -> None:
    csv = write(tmp_path / "feb.csv", "period,category,channel,amount,vendor\n2025-02,personnel,,200.00,Payroll\n")
    before = live.read_bytes()
    done = run_cli("import", "spend", csv, "--db", live, env={"FINANCE_BUSY_TIMEOUT": "abc"})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "FINANCE_BUSY_TIMEOUT='abc': expected a number of seconds" in done.stderr
    assert live.read_bytes() == before


def test_a_database_path_under_a_regular_file_is_a_clear_error(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = write(tmp_path / "not-a-folder", "x")
    monkeypatch.setenv("FINANCE_DB", str(blocker / "finance.duckdb"))
    with pytest.raises(StoreError, match=re.escape(f"the database {blocker / 'finance.duckdb'} cannot be written")):
        Store()
    assert blocker.read_text() == "x"


BACKUP_DIRS: dict[str, Callable[[Path], Path]] = {
    "a regular file": lambda tmp: write(tmp / "not-a-folder", "x"),
    "under a regular file": lambda tmp: write(tmp / "not-a-folder", "x") / "backups",
}


@pytest.mark.parametrize("where", list(BACKUP_DIRS))
def test_a_backup_folder_that_is_not_a_folder_stops_an_import_with_a_clear_error(
        where: str, live: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = BACKUP_DIRS[where](tmp_path)
    monkeypatch.setenv(backup.ENV_BACKUP_DIR, str(folder))
    csv = write(tmp_path / "feb.csv", "period,category,channel,amount,vendor\n2025-02,personnel,,200.00,Payroll\n")
    with Store(live) as store, pytest.raises(StoreError) as refused:
        store.import_file("spend", csv)
    message = str(refused.value)
    assert f"FINANCE_BACKUP_DIR={str(folder)!r}: expected a folder" in message and "nothing was changed" in message
    with Store(live, read_only=True) as store:
        assert store.totals()["spend"]["rows"] == 1 and store.imports().height == 1


def test_restore_with_a_backup_folder_that_is_a_file_changes_nothing(
        live: Path, valid_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write(tmp_path / "not-a-folder", "x")
    monkeypatch.setenv(backup.ENV_BACKUP_DIR, str(folder))
    before = live.read_bytes()
    with pytest.raises(StoreError, match=r"FINANCE_BACKUP_DIR=.*expected a folder for the backups"):
        restore(live, valid_store)
    assert live.read_bytes() == before and folder.read_text() == "x"


def test_listing_backups_in_a_folder_that_is_a_file_says_so(live: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write(tmp_path / "not-a-folder", "x")
    monkeypatch.setenv(backup.ENV_BACKUP_DIR, str(folder))
    with pytest.raises(ValueError, match=r"FINANCE_BACKUP_DIR=.*expected a folder for the backups, and that is a file"):
        backup.list_backups(live)
    # An error about something else that points at the backups says what is wrong with them instead.
    assert "expected a folder for the backups" in backup.describe(live)


def test_the_backups_command_reports_a_backup_folder_that_is_a_file(live: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    folder = write(tmp_path / "not-a-folder", "x")
    monkeypatch.setenv(backup.ENV_BACKUP_DIR, str(folder))
    codes = [cli.main([*command, "--db", str(live)]) for command in (["backups"], ["restore", "1"])]
    assert all(code != 0 for code in codes)
    assert capsys.readouterr().err.count("expected a folder for the backups") == 2
