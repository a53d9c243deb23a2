"""The DuckDB store: one file holding every imported row and the log of imports.

``Store`` is the one way in: it opens the file (``finance.store.connection``), checks and migrates
its schema (``finance.store.migrations``), and hands each job to the module that does it: imports,
replace and undo (``finance.store.imports``), settings and the change log
(``finance.store.settings``), saved scenarios (``finance.store.scenarios``), and reading back
(``finance.store.reading``). ``restore`` puts a backup in place of the file.

Rules the store keeps, each in the module that keeps it:
- imports are all or nothing, a file already in force is "unchanged", replacing periods keeps the
  older rows so that undo brings them back exactly, and values reach SQL only as bound parameters
  or registered Arrow relations (``imports``);
- one writer at a time, across threads and processes, and a busy file is a clear error after
  ``$FINANCE_BUSY_TIMEOUT`` seconds (``connection``). Readers never see a half-applied change: each
  change is one transaction, and a reader cannot open the file while a writer has it;
- the file is backed up before an import, an undo or a restore (``backup``), and every change
  records who made it (``settings.log_change``);
- a database file is data, never code: opened with external access off (``connect_file``) and used
  only when it holds the store's own objects and nothing else (``schema_problems``); a backup that
  does not is refused before it is restored.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from finance.ingest.fx import PreparedRates
from finance.ingest.prepare import ImportOptions, PreparedImport, period_totals
from finance.ingest.sources import SourceMapping, setting_key, source_key
from finance.store import backup, fx, imports, migrations, reading, scenarios, settings
from finance.store.connection import (
    DEFAULT_BUSY_TIMEOUT,
    DEFAULT_DB,
    ENV_BUSY_TIMEOUT,
    ENV_DB,
    ENV_USER,
    PROJECT_DIR,
    Connection,
    WriterLock,
    busy_timeout_setting,
    cli_user,
    connect_file,
    default_db_path,
    keep_count,
    open_waiting,
    setting_errors,
)
from finance.store.dataset import Dataset
from finance.store.errors import StoreBusy, StoreError, StoreUnreadable
from finance.store.imports import INSERT_SLICE_ROWS, ImportResult
from finance.store.migrations import SCHEMA_VERSION, listed, schema_problems
from finance.store.scenarios import ScenarioExists, ScenarioLine
from finance.store.settings import DEMO_SETTING


class Store(Connection):
    """One DuckDB file. Open it, use it, close it (or use it as a context manager)."""

    def __init__(self, path: Path | str | None = None, *, read_only: bool = False,
                 busy_timeout: float | None = None, user: str | None = None,
                 keep_backups: int | None = None) -> None:
        """``user`` is recorded with every change made through this store; ``busy_timeout``
        overrides ``$FINANCE_BUSY_TIMEOUT`` and ``keep_backups`` ``$FINANCE_BACKUPS`` (0: no
        backups, as for a scratch file).

        A file holding anything the store does not make (``schema_problems``) is refused with
        ``StoreUnreadable`` before anything in it is read or changed.
        """
        super().__init__(path, read_only=read_only, busy_timeout=busy_timeout, user=user,
                         keep_backups=keep_backups)
        try:
            migrations.check_schema(self)
            if not read_only:
                migrations.migrate(self)
        except BaseException:
            self.close()
            raise

    # settings and the change log ---------------------------------------------------------
    def log_change(self, action: str, detail: dict[str, Any], user: str | None = None) -> None:
        """Record a change and who made it (``user``, else the store's), inside the caller's transaction."""
        settings.log_change(self, action, detail, user)

    def changes(self, limit: int = 200, actions: Sequence[str] | None = None) -> pl.DataFrame:
        """The newest changes (of ``actions`` only, when given): when, who, what."""
        return settings.changes(self, limit, actions)

    def setting(self, key: str, default: str | None = None) -> str | None:
        return settings.setting(self, key, default)

    def set_setting(self, key: str, value: str) -> None:
        settings.set_setting(self, key, value)

    def delete_setting(self, key: str) -> None:
        """Remove a setting, inside the caller's transaction (which logs why)."""
        settings.delete_setting(self, key)

    def settings_with_prefix(self, prefix: str) -> dict[str, str]:
        """Settings whose key starts with ``prefix``, the prefix removed (remembered mappings)."""
        return settings.settings_with_prefix(self, prefix)

    def source_mapping(self, kind: str, headers: Sequence[str]) -> SourceMapping:
        """What was mapped for files with this header row (empty for a source never mapped)."""
        key = source_key(kind, headers)
        return SourceMapping.from_json(kind, key, settings.setting(self, setting_key(kind, key)))

    def save_source_mapping(self, mapping: SourceMapping) -> None:
        """Remember a source's mapping for its next file (logged as a setting change)."""
        settings.set_setting(self, mapping.setting, mapping.to_json())

    def channels(self) -> list[str]:
        """Every channel the rows in force name, of any kind."""
        return reading.channels(self)

    def assumptions(self) -> dict[str, str]:
        """The shared assumptions (default margin, discount rate, ...) everyone sees."""
        return settings.assumptions(self)

    def set_assumptions(self, values: dict[str, str]) -> None:
        """Store assumptions in one transaction (values are validated by the caller)."""
        settings.set_assumptions(self, values)

    @property
    def currency(self) -> str:
        return settings.currency(self)

    # importing, history and undo ---------------------------------------------------------
    def import_file(self, kind: str, path: Path | str, options: ImportOptions | None = None, *,
                    replace: bool = False, display_name: str | None = None,
                    user: str | None = None, reporting_currency: str | None = None) -> ImportResult:
        """Validate ``path`` and, if it is clean, import it in one transaction (foreign amounts converted;
        ``reporting_currency``: the currency of a store holding no amounts yet)."""
        return imports.import_file(self, kind, path, options, replace=replace, display_name=display_name,
                                   user=user, reporting_currency=reporting_currency)

    def import_prepared(self, prepared: PreparedImport, *, replace: bool = False,
                        options: ImportOptions | None = None, user: str | None = None,
                        reporting_currency: str | None = None) -> ImportResult:
        """Write a prepared import, or report why it cannot be written (nothing changes)."""
        return imports.import_prepared(self, prepared, replace=replace, options=options, user=user,
                                       reporting_currency=reporting_currency)

    def import_lake(self, location: str, **options: Any) -> dict[str, Any]:
        """Reduce a revenue ledger in a data lake on Apache Spark and keep its summaries here
        (``finance.store.spark.import_ledger``; PySpark is loaded only now)."""
        from finance.store import spark

        return spark.import_ledger(self, location, **options)

    # exchange rates and the reporting currency ------------------------------------------------
    def import_rates(self, prepared: PreparedRates, *, replace: bool = False,
                     user: str | None = None) -> fx.RatesResult:
        """Store a rates file's rates in one transaction (``finance.store.fx``)."""
        return fx.import_rates(self, prepared, replace_rates=replace, user=user)

    def fx_rates(self, currency: str | None = None) -> pl.DataFrame:
        """The stored exchange rates: day, base, currency, rate (units of currency per 1 base), source."""
        return fx.fx_rates(self, currency)

    def set_reporting_currency(self, code: str, *, user: str | None = None) -> dict[str, Any]:
        """Change the reporting currency, converting every stored amount again (or change nothing)."""
        return fx.set_reporting_currency(self, code, user=user)

    def imports(self) -> pl.DataFrame:
        """The imports log, newest first."""
        return imports.imports(self)

    def active_imports(self) -> list[int]:
        """The imports in force, newest first."""
        return imports.active_imports(self)

    def undo(self, import_id: int, *, backup_first: bool = True) -> dict[str, Any]:
        """Remove an import's rows and bring back what it replaced, in one transaction."""
        return imports.undo(self, import_id, backup_first=backup_first)

    # saved scenarios -------------------------------------------------------------------
    def save_scenario(self, name: str, period: str, kind: str, note: str, settings: dict[str, Any],
                      lines: Sequence[ScenarioLine], *, overwrite: bool = False) -> None:
        """Save a scenario in one transaction; ``ScenarioExists`` if the name is taken and ``overwrite`` is false."""
        scenarios.save_scenario(self, name, period, kind, note, settings, lines, overwrite=overwrite)

    def list_scenarios(self) -> pl.DataFrame:
        """Saved scenarios: name, period, kind, note, spend (all lines), lines, created_at, updated_at."""
        return scenarios.list_scenarios(self)

    def load_scenario(self, name: str) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]] | None:
        """The scenario ``name`` as (name, period, kind, note, settings, updated_at) and its lines; None if none."""
        return scenarios.load_scenario(self, name)

    def scenario_names(self) -> list[str]:
        """The names of the saved scenarios, sorted."""
        return scenarios.scenario_names(self)

    def delete_scenario(self, name: str) -> None:
        """Remove a scenario and its lines in one transaction."""
        scenarios.delete_scenario(self, name)

    def has_scenario_tables(self) -> bool:
        """Whether the file has the scenario tables (a read-only open of a file older than them has not)."""
        return scenarios.has_scenario_tables(self)

    # reading ---------------------------------------------------------------------------
    def frame(self, kind: str) -> pl.DataFrame:
        """Every row in force of ``kind``, as the validator normalised it."""
        return reading.frame(self, kind)

    def general_ledger(self) -> pl.DataFrame:
        """The general ledger's rows in force, to reconcile the spend against."""
        return reading.general_ledger(self)

    def dataset(self) -> Dataset:
        """The rows in force of every kind, for the metric core (read once, into Arrow)."""
        return reading.dataset(self)

    def dataset_columns(self) -> dict[str, list[str]]:
        """The storage columns ``dataset`` reads, per kind."""
        return reading.dataset_columns(self)

    def totals(self) -> dict[str, dict[str, Any]]:
        """Rows and measure in force per kind: the store's own checksum."""
        return reading.totals(self)

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every table's full content, sorted: for proving that something changed nothing."""
        return reading.snapshot(self)


def restore(db: Path | str, source: Path | str, *, user: str | None = None,
            busy_timeout: float | None = None) -> Path | None:
    """Put the backup ``source`` in place of the database ``db``.

    The backup is checked first: it must open and hold the store's own objects and nothing else
    (``schema_problems``), or it is refused and nothing changes. Under the writer's lock it is
    copied in through a temporary name, and the copy, which is what goes into place, is checked
    again. The database as it stands is backed up (reason ``restore``), or, when it cannot be
    opened, copied aside as ``unreadable`` with its write-ahead log: nothing is deleted. Then the
    copy is renamed into place. Returns the copy of what was replaced. Readers that opened the file
    before keep their view until they close it.
    """
    db, source = Path(db), Path(source)
    busy_timeout = busy_timeout_setting() if busy_timeout is None else busy_timeout
    keep = max(keep_count(), 1)
    with setting_errors():
        backup.backup_dir(db)  # a folder setting that is a file stops the restore before it starts
    _check_backup(source, source)  # a refused file takes no lock and copies nothing
    lock = WriterLock(db, busy_timeout)
    wal = Path(str(db) + ".wal")
    incoming = db.with_name(db.name + ".restoring")
    try:
        # The chosen backup is copied first: keeping the current file rotates the backups, and the
        # oldest one may be the one being restored.
        backup.copy_durably(source, incoming)
        _check_backup(incoming, source)  # the bytes that go into place, should the file have changed since
        kept: Path | None = None
        if db.exists():
            try:
                con = open_waiting(db, False, busy_timeout)
                try:
                    con.execute("CHECKPOINT")
                finally:
                    con.close()
                with setting_errors():
                    kept = backup.take(db, "restore", keep)
            except StoreUnreadable:
                with setting_errors():
                    kept = backup.keep_unreadable(db)
        wal.unlink(missing_ok=True)
        os.replace(incoming, db)
    finally:
        incoming.unlink(missing_ok=True)
        lock.release()
    with Store(db, user=user, keep_backups=0, busy_timeout=busy_timeout) as store, store.transaction():
        store.log_change("restore", {"from": source.name, "replaced_copy": kept.name if kept else None})
    return kept


def _check_backup(path: Path, source: Path) -> None:
    """Refuse, as a ``StoreError`` naming ``source``, a file that does not open or does not hold a
    store and nothing else. Opened read-only and as data (``connect_file``)."""
    try:
        con = connect_file(path, read_only=True)
        try:
            problems = schema_problems(con, empty_ok=False)
        finally:
            con.close()
    except duckdb.Error as exc:
        reason = " ".join(str(exc).replace(str(path), str(source)).split())[:300]
        raise StoreError(f"{source} is not a usable backup: {reason}") from None
    if problems:
        raise StoreError(f"{source} is not a usable backup, so nothing was changed: {listed(problems)}")


__all__ = ["DEFAULT_BUSY_TIMEOUT", "DEFAULT_DB", "DEMO_SETTING", "ENV_BUSY_TIMEOUT", "ENV_DB", "ENV_USER",
           "INSERT_SLICE_ROWS", "PROJECT_DIR", "SCHEMA_VERSION", "ImportResult", "ScenarioExists", "Store",
           "StoreBusy", "StoreError", "StoreUnreadable", "busy_timeout_setting", "cli_user", "connect_file",
           "default_db_path", "period_totals", "restore", "schema_problems"]
