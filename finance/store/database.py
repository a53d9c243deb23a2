"""The DuckDB store: one file holding every imported row and the log of imports.

Rules the store keeps:
- an import is one transaction: all of its rows and its log entry, or nothing;
- a byte-identical file already in force is a no-op ("unchanged");
- a file touching months already imported is refused unless ``replace``; then the older
  rows in those months are superseded (kept, but out of every view) in the same
  transaction, so undoing the replacement brings them back exactly;
- every value reaches SQL as a bound parameter or a registered Arrow relation, never as
  formatted SQL text;
- one writer at a time: a writable store holds an exclusive lock on ``<database>.lock`` for as
  long as it is open (threads and processes alike), on top of DuckDB's own file lock. Writers
  keep it for one change and close; another waits up to ``$FINANCE_BUSY_TIMEOUT`` seconds, then
  gets a clear "busy" error. Readers never see a half-applied change: each change is one
  transaction, and a reader cannot open the file while a writer has it;
- before an import or an undo the file is backed up (``finance.store.backup``), and every change
  records who made it (``imports.imported_by``, ``imports.undone_by`` and the ``changes`` log);
- a database file is data, never code: every file is opened with DuckDB's external access off and
  its configuration locked (``connect_file``), so SQL stored in it (a view, a macro) cannot read
  files or URLs or load extensions; and a file is used only when it holds the store's own objects
  and nothing else (``schema_problems``): a backup that does not is refused before it is restored.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import getpass
import json
import math
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from finance.domain.periods import period_label
from finance.domain.problems import Problem, problem
from finance.domain.schema import DEFAULT_CURRENCY, KINDS, MONEY_SCALE, MONEY_SQL, Kind, file_kind
from finance.ingest.prepare import (
    STORAGE_SCHEMAS,
    ImportOptions,
    PeriodTotal,
    PreparedImport,
    money_text,
    period_totals,
    prepare,
    span_columns,
)
from finance.store import backup
from finance.store.dataset import Dataset

SCHEMA_VERSION = 4
"""1: imports, settings and the four data tables; 2: saved budget scenarios; 3: who undid an import
and the ``changes`` log; 4: the customers' ``billing_interval``."""
_ADDED_COLUMNS: dict[Kind, tuple[str, ...]] = {"customers": ("billing_interval",)}
"""Storage columns added to a data table after version 1: an older file gains them (NULL) in place."""
ENV_DB = "FINANCE_DB"
ENV_USER = "FINANCE_USER"
ENV_BUSY_TIMEOUT = "FINANCE_BUSY_TIMEOUT"
DEFAULT_BUSY_TIMEOUT = 10.0
"""Seconds to wait for another process to release the database file, unless ``$FINANCE_BUSY_TIMEOUT`` says otherwise."""
INSERT_SLICE_ROWS = 1_000_000
"""Rows handed to DuckDB per INSERT while writing an import (all in one transaction)."""
PROJECT_DIR = Path(__file__).resolve().parents[2]

DEMO_SETTING = "demo_company"
"""The setting that names the bundled demo company; absent in a company's own database."""
DEFAULT_DB = PROJECT_DIR / "data" / "finance.duckdb"

_SQL_TYPES = {pl.Int64: "BIGINT", pl.Date: "DATE", pl.String: "VARCHAR"}


def default_db_path() -> Path:
    """``$FINANCE_DB`` when set, else ``data/finance.duckdb`` in the project."""
    env = os.environ.get(ENV_DB)
    return Path(env) if env else DEFAULT_DB


def busy_timeout_setting() -> float:
    """Seconds to wait for a busy database: ``$FINANCE_BUSY_TIMEOUT``, else 10.

    Read when a store is opened, not when this module is imported, so that a bad value is a
    ``StoreError`` naming it (shown like any other) instead of a traceback on start-up.
    """
    value = os.environ.get(ENV_BUSY_TIMEOUT, "").strip()
    if not value:
        return DEFAULT_BUSY_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise StoreError(f"{ENV_BUSY_TIMEOUT}={value!r}: expected a number of seconds to wait for a busy "
                         f"database, 0 or more (default {DEFAULT_BUSY_TIMEOUT:g}); nothing was changed")
    return seconds


def cli_user() -> str:
    """Who a command-line change is recorded as: ``$FINANCE_USER``, else the login name."""
    name = os.environ.get(ENV_USER)
    if name:
        return name
    try:
        return f"{getpass.getuser()} (command line)"
    except (KeyError, OSError):
        return "command line"


_FILE_CONFIG: dict[str, Any] = {
    # No file, URL, ATTACH, COPY, extension or replacement scan from SQL: what a view or macro in a
    # file says cannot reach outside it. The store needs none of these: rows come in as registered
    # Arrow relations and go out as Arrow results, and backups are copied by Python, not by SQL.
    "enable_external_access": False,
    # Last, so that nothing (neither SQL in the file nor a later SET) can turn the above back on.
    "lock_configuration": True,
}


def connect_file(path: Path | str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file as data, never code: external access off, configuration locked.

    Every connection the product opens on a database file goes through here (DuckDB refuses a
    second connection to an open file with another configuration, so they must all agree).
    """
    return duckdb.connect(str(path), read_only=read_only, config=dict(_FILE_CONFIG))


def _connect(path: Path, read_only: bool, busy_timeout: float) -> duckdb.DuckDBPyConnection:
    """Open the file, waiting while another connection holds it.

    DuckDB lets one process write a file at a time, and within a process a file is open either
    read-only or writable. The app's reads are short, so a brief wait usually succeeds. Past
    ``busy_timeout`` the caller gets a clear "busy" error; a file DuckDB cannot read at all
    gives ``StoreUnreadable``, which points at the backups.
    """
    text = ""
    for _ in _attempts(busy_timeout):
        try:
            return connect_file(path, read_only=read_only)
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            text = str(exc)
            message = text.replace(str(path), "")  # a folder named "clockwork" is no lock
            held = ("Could not set lock" in message or "Conflicting lock" in message
                    or "different configuration" in message)
            if not held:
                raise _unreadable(path, exc) from None
        except duckdb.Error as exc:
            raise _unreadable(path, exc) from None
    raise StoreBusy(f"the database {path} is busy: another process or session is writing to it "
                    f"({text.split(': ', 2)[-1].split('. See')[0]}); try again in a moment")


def _attempts(busy_timeout: float) -> Iterator[None]:
    """One turn per attempt, with a growing pause before each retry, until ``busy_timeout`` seconds have passed."""
    deadline = time.monotonic() + busy_timeout
    delay = 0.02
    while True:
        yield
        if time.monotonic() >= deadline:
            return
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def _keep_count() -> int:
    with _setting_errors():
        return backup.keep_count()


@contextmanager
def _setting_errors() -> Iterator[None]:
    """A backup setting that cannot be used is a ``StoreError`` like any other, met before anything is written."""
    try:
        yield
    except backup.SettingError as exc:
        raise StoreError(f"{exc}; nothing was changed") from None


def _unreadable(path: Path, exc: Exception) -> StoreUnreadable:
    reason = " ".join(str(exc).split())[:300]
    return StoreUnreadable(f"the database {path} cannot be opened ({reason}). {backup.describe(path)}")


class _WriterLock:
    """An exclusive ``flock`` on ``<database>.lock``: one writer at a time, across threads and processes.

    Each holder opens the file anew, so two threads of one process exclude each other as two
    processes do. The lock goes with the process: a killed writer never leaves it held.
    """

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.file = open(Path(str(path) + ".lock"), "a+b")  # held until release()
        for _ in _attempts(busy_timeout):
            try:
                fcntl.flock(self.file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
        self.file.close()
        raise StoreBusy(f"the database {path} is busy: another import, undo or change is being written; "
                        "try again in a moment")

    def release(self) -> None:
        if not self.file.closed:
            fcntl.flock(self.file.fileno(), fcntl.LOCK_UN)
            self.file.close()


def _sql_type(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Decimal):
        return MONEY_SQL
    return _SQL_TYPES[type(dtype)]  # type: ignore[index]


def _ddl() -> list[str]:
    statements = [
        "CREATE SEQUENCE IF NOT EXISTS import_ids START 1",
        f"""CREATE TABLE IF NOT EXISTS imports (
            import_id BIGINT PRIMARY KEY,
            kind VARCHAR NOT NULL,
            file_name VARCHAR NOT NULL,
            sha256 VARCHAR NOT NULL,
            row_count BIGINT NOT NULL,
            period_start DATE NOT NULL,
            period_end DATE NOT NULL,
            total DECIMAL(38,{MONEY_SCALE}) NOT NULL,
            period_totals VARCHAR NOT NULL,
            imported_at TIMESTAMP NOT NULL,
            imported_by VARCHAR,
            status VARCHAR NOT NULL,
            undone_at TIMESTAMP,
            replaced VARCHAR NOT NULL,
            warning_count INTEGER NOT NULL,
            options VARCHAR NOT NULL
        )""",
        "CREATE TABLE IF NOT EXISTS settings (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)",
        """CREATE TABLE IF NOT EXISTS scenarios (
            name VARCHAR PRIMARY KEY,
            period VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            note VARCHAR,
            settings VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL
        )""",
        "ALTER TABLE imports ADD COLUMN IF NOT EXISTS undone_by VARCHAR",
        "CREATE SEQUENCE IF NOT EXISTS change_ids START 1",
        """CREATE TABLE IF NOT EXISTS changes (
            change_id BIGINT PRIMARY KEY,
            changed_at TIMESTAMP NOT NULL,
            changed_by VARCHAR,
            action VARCHAR NOT NULL,
            detail VARCHAR NOT NULL
        )""",
        f"""CREATE TABLE IF NOT EXISTS scenario_lines (
            scenario VARCHAR NOT NULL,
            channel VARCHAR NOT NULL,
            category VARCHAR NOT NULL,
            amount DECIMAL(18,{MONEY_SCALE}) NOT NULL,
            PRIMARY KEY (scenario, channel, category)
        )""",
    ]
    for kind in KINDS:
        cols = ",\n".join(f"{name} {_sql_type(dtype)}" for name, dtype in STORAGE_SCHEMAS[kind].items())
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {kind}_rows (import_id BIGINT NOT NULL, {cols}, "
            "superseded_by BIGINT)")
        for name in _ADDED_COLUMNS.get(kind, ()):
            statements.append(f"ALTER TABLE {kind}_rows ADD COLUMN IF NOT EXISTS {name} "
                              f"{_sql_type(STORAGE_SCHEMAS[kind][name])}")
        statements.append(_view_ddl(kind, tuple(STORAGE_SCHEMAS[kind])))
    return statements


def _view_ddl(kind: str, names: tuple[str, ...]) -> str:
    """The view every reader uses: rows in force, without bookkeeping (``names``: the storage
    columns, fewer in a file an older version wrote)."""
    return (f"CREATE OR REPLACE VIEW {kind} AS SELECT import_id, {', '.join(names)} FROM {kind}_rows "
            "WHERE superseded_by IS NULL")


# What a database file may hold --------------------------------------------------------------
@dataclass(frozen=True)
class _Catalog:
    """What a database file holds besides DuckDB's built-ins, in a form two files can be compared in."""

    objects: dict[tuple[str, str], Any]
    """(kind, name) -> what defines it beyond its name: a view's or index's SQL, a sequence's range."""
    columns: dict[str, dict[str, tuple[str, str | None]]]
    """Table or view -> column -> (type, default)."""
    constraints: dict[str, set[tuple[str, str, tuple[str, ...]]]]
    """Table -> (kind, text, columns) of each constraint."""


def _catalog(con: duckdb.DuckDBPyConnection) -> _Catalog:
    """Every object in the connection's database (schemas, tables, views, sequences, macros, types,
    indexes, triggers), with the columns and constraints of its tables. Reads the catalog only."""
    database = {"db": con.execute("SELECT current_database()").fetchall()[0][0]}

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return con.execute(sql, database).fetchall()

    def named(schema: str, name: str) -> str:
        return name if schema == "main" else f"{schema}.{name}"

    objects: dict[tuple[str, str], Any] = {}
    for (schema,) in rows("SELECT schema_name FROM duckdb_schemas() WHERE database_name = $db "
                          "AND schema_name <> 'main'"):
        objects["schema", schema] = None
    for schema, name in rows("SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = $db"):
        objects["table", named(schema, name)] = None
    for schema, name, sql in rows("SELECT schema_name, view_name, sql FROM duckdb_views() "
                                  "WHERE database_name = $db AND NOT internal"):
        objects["view", named(schema, name)] = sql
    # Not its start: a file written back holds the next number there.
    for schema, name, *spec in rows("SELECT schema_name, sequence_name, increment_by, min_value, max_value, cycle "
                                    "FROM duckdb_sequences() WHERE database_name = $db"):
        objects["sequence", named(schema, name)] = tuple(spec)
    for schema, name, function_type, definition in rows(
            "SELECT schema_name, function_name, function_type, macro_definition FROM duckdb_functions() "
            "WHERE database_name = $db AND NOT internal"):
        objects[function_type.replace("_", " "), named(schema, name)] = definition
    for schema, name in rows("SELECT schema_name, type_name FROM duckdb_types() "
                             "WHERE database_name = $db AND NOT internal"):
        objects["type", named(schema, name)] = None
    for schema, name, sql in rows("SELECT schema_name, index_name, sql FROM duckdb_indexes() "
                                  "WHERE database_name = $db"):
        objects["index", named(schema, name)] = sql
    for schema, name, sql in rows("SELECT schema_name, trigger_name, sql FROM duckdb_triggers() "
                                  "WHERE database_name = $db"):
        objects["trigger", named(schema, name)] = sql
    columns: dict[str, dict[str, tuple[str, str | None]]] = {}
    for schema, table, column, data_type, default in rows(
            "SELECT schema_name, table_name, column_name, data_type, column_default FROM duckdb_columns() "
            "WHERE database_name = $db"):
        columns.setdefault(named(schema, table), {})[column] = (data_type, default)
    constraints: dict[str, set[tuple[str, str, tuple[str, ...]]]] = {}
    for schema, table, kind, text, names in rows(
            "SELECT schema_name, table_name, constraint_type, constraint_text, constraint_column_names "
            "FROM duckdb_constraints() WHERE database_name = $db"):
        constraints.setdefault(named(schema, table), set()).add((kind, text, tuple(names)))
    return _Catalog(objects, columns, constraints)


def _scratch() -> duckdb.DuckDBPyConnection:
    """A new in-memory database holding the store's schema as ``_ddl`` makes it."""
    con = connect_file(":memory:")
    for statement in _ddl():
        con.execute(statement)
    return con


@functools.lru_cache(maxsize=1)
def _own_catalog() -> _Catalog:
    """The store's own objects, read back from a new database: never a list kept by hand."""
    con = _scratch()
    try:
        return _catalog(con)
    finally:
        con.close()


@functools.lru_cache(maxsize=16)  # one view per file kind, over its storage columns
def _own_view_sql(kind: str, names: tuple[str, ...]) -> str:
    """The store's view of ``kind`` over the storage columns ``names``, as DuckDB writes it back."""
    con = _scratch()
    try:
        con.execute(_view_ddl(kind, names))
        return str(con.execute("SELECT sql FROM duckdb_views() WHERE view_name = ?", [kind]).fetchall()[0][0])
    finally:
        con.close()


@functools.lru_cache(maxsize=1)
def _added_columns() -> dict[str, frozenset[str]]:
    """Per table, the columns a migration adds to a table that already exists: a file an older
    version wrote may lack them."""
    added: dict[str, set[str]] = {}
    for statement in _ddl():
        match = re.match(r"ALTER TABLE (\w+) ADD COLUMN IF NOT EXISTS (\w+) ", statement)
        if match:
            added.setdefault(match[1], set()).add(match[2])
    return {table: frozenset(names) for table, names in added.items()}


def _shown(name: str) -> str:
    """A name, type or constraint from a file, for a message: as it is when it is plain (letters,
    digits and ``_.,()=`` only, as ``DECIMAL(18,4)``), else quoted and cut."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.,() =]{0,80}", name):
        return name
    return repr(name[:80] + ("..." if len(name) > 80 else ""))


def _constraint_words(constraint: tuple[str, str, tuple[str, ...]]) -> str:
    kind, text, names = constraint
    return f"{text} on {', '.join(map(_shown, names))}" if kind == "NOT NULL" else _shown(text)


def schema_problems(con: duckdb.DuckDBPyConnection, *, empty_ok: bool = True) -> list[str]:
    """What in the connection's database is not the store's own, in words (empty: nothing).

    The store's own is what ``_ddl`` makes in a new database, so this cannot drift from the schema.
    Every object must be one of the store's, of the same kind; every table's columns must have the
    store's types and defaults, and its constraints must be the store's; every view must be the
    store's view over the columns its table has; there must be no other view, macro, sequence,
    type, index, trigger or schema. A file an older version wrote (a lower ``schema_version``) may
    lack what a migration adds: tables, and the columns ``ALTER TABLE ... ADD COLUMN`` adds. An
    empty file is a new store when ``empty_ok``. Only the catalog and the ``settings`` table are
    read, and ``settings`` only once it is known to be the store's table.
    """
    found = _catalog(con)
    if not found.objects:
        return [] if empty_ok else ["it is empty: it holds no store"]
    own = _own_catalog()
    own_kind = {name: kind for kind, name in own.objects}
    problems: list[str] = []
    for kind, name in sorted(found.objects):
        expected = own_kind.get(name)
        if expected == kind:
            continue
        if expected and (expected, name) not in found.objects:
            problems.append(f"{_shown(name)} is a {kind}, expected a {expected}")
        else:
            problems.append(f"an extra {kind} {_shown(name)}")
    tables = sorted(name for kind, name in found.objects if kind == "table" and own_kind.get(name) == "table")
    for table in tables:
        have, want = found.columns.get(table, {}), own.columns[table]
        for column, (data_type, default) in have.items():
            if column not in want:
                problems.append(f"{table} has an extra column {_shown(column)}")
            elif data_type != want[column][0]:
                problems.append(f"{table}.{column} is {_shown(data_type)}, expected {want[column][0]}")
            elif default != want[column][1]:
                problems.append(f"{table}.{column} has the default {_shown(str(default))}, expected "
                                f"{want[column][1] or 'none'}")
        for column in want.keys() - have.keys() - _added_columns().get(table, frozenset()):
            problems.append(f"{table} lacks the column {column}")
    if problems:
        return problems
    version = _file_schema_version(con, found)
    if isinstance(version, str):
        return [version]
    if version == SCHEMA_VERSION:  # a file as this version writes it: nothing may be missing
        for kind, name in sorted(own.objects.keys() - found.objects.keys()):
            problems.append(f"{kind} {name} is missing")
        for table in tables:
            for column in sorted(own.columns[table].keys() - found.columns.get(table, {}).keys()):
                problems.append(f"{table} lacks the column {column}")
    for table in tables:
        present = found.columns.get(table, {}).keys()
        made = {c for c in own.constraints.get(table, set()) if set(c[2]) <= present}
        held = found.constraints.get(table, set())
        problems += [f"{table} has a constraint the store does not make: {_constraint_words(c)}"
                     for c in sorted(held - made)]
        problems += [f"{table} lacks the store's constraint {_constraint_words(c)}" for c in sorted(made - held)]
    for key in sorted(found.objects.keys() & own.objects.keys()):
        kind, name = key
        if kind == "table":
            continue
        if kind == "view" and name in KINDS:
            storage = found.columns.get(f"{name}_rows") or own.columns[f"{name}_rows"]
            expected = _own_view_sql(name, tuple(n for n in STORAGE_SCHEMAS[name] if n in storage))
        else:
            expected = own.objects[key]
        if found.objects[key] != expected:
            problems.append(f"{kind} {name} is not the store's: it is defined differently")
    return problems


def _file_schema_version(con: duckdb.DuckDBPyConnection, found: _Catalog) -> int | str:
    """The file's ``schema_version`` setting, or why it has none that this version can use."""
    if ("table", "settings") not in found.objects:
        return "table settings is missing, so the file has no schema version: it is not a store"
    rows = con.execute("SELECT value FROM settings WHERE key = 'schema_version'").fetchall()
    if not rows:
        return "it has no schema_version setting: it is not a store"
    text = rows[0][0]
    if not re.fullmatch(r"[0-9]{1,6}", text or "") or int(text) < 1:
        return f"its schema_version setting is {_shown(str(text))}, expected a whole number from 1"
    if int(text) > SCHEMA_VERSION:
        return (f"it was written by a newer version of this program (schema version {int(text)}; this one "
                f"reads up to {SCHEMA_VERSION})")
    return int(text)


def _listed(problems: list[str], limit: int = 8) -> str:
    more = len(problems) - limit
    return "; ".join(problems[:limit]) + (f"; and {more} more" if more > 0 else "")


@dataclass
class ImportResult:
    """What an import did, in the shape the CLI and the app report."""

    status: str  # "imported" | "unchanged" | "rejected"
    kind: str
    file_name: str
    import_id: int | None = None
    rows: int = 0
    periods: list[PeriodTotal] = field(default_factory=list)
    total: Decimal = Decimal(0)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    replaced: list[int] = field(default_factory=list)

    @property
    def money(self) -> bool:
        return self.kind in ("spend", "revenue")

    def _total_text(self, value: Decimal) -> str | int:
        return money_text(value) or "0.00" if self.money else int(value)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "kind": self.kind,
            "file": self.file_name,
            "import_id": self.import_id,
            "rows": self.rows,
            "periods": [
                {"period": p.period, "start": p.start.isoformat(), "end": p.end.isoformat(),
                 "rows": p.rows, "total": self._total_text(p.total)} for p in self.periods
            ],
            "total": self._total_text(self.total),
            "measure": file_kind(self.kind).measure,
            "replaced_imports": self.replaced,
            "errors": [_problem_json(p) for p in self.errors],
            "warnings": [_problem_json(p) for p in self.warnings],
        }


def _problem_json(p: Problem) -> dict[str, Any]:
    return {"code": p.code, "row": p.row, "column": p.column, "value": p.value,
            "message": p.message, "expected": p.expected, "count": p.count}


class StoreError(RuntimeError):
    """An operation on the store that cannot be done (unknown import, undo out of order)."""


class StoreUnreadable(StoreError):
    """The file exists but DuckDB cannot open it (damaged, or not a database): see the backups."""


class StoreBusy(StoreError):
    """Another process holds the database file for longer than the wait allows."""


_passed: dict[str, tuple[int, ...]] = {}
"""Per database path, the file as it was when it last passed the schema check in this process: the
check reads the whole catalog (tens of milliseconds), and a page opens the file on every run."""
_passed_lock = threading.Lock()


def _file_identity(path: Path) -> tuple[int, ...]:
    """Changes whenever the file or its write-ahead log is replaced or written."""
    found: list[int] = []
    for name in (path, Path(str(path) + ".wal")):
        try:
            info = name.stat()
            found += [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns]
        except OSError:
            found += [0, 0, 0, 0]
    return tuple(found)


class Store:
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
        busy_timeout = busy_timeout_setting() if busy_timeout is None else busy_timeout
        self.path = Path(path) if path is not None else default_db_path()
        self.user = user
        self.busy_timeout = busy_timeout
        self.keep_backups = keep_backups
        self._lock: _WriterLock | None = None
        if not read_only:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._lock = _WriterLock(self.path, busy_timeout)
            except OSError as exc:  # a folder that is a file, or one we may not write ($FINANCE_DB, --db)
                raise StoreError(f"the database {self.path} cannot be written: {exc.strerror or exc} "
                                 f"({exc.filename or self.path}); nothing was changed") from None
        try:
            self.con = _connect(self.path, read_only, busy_timeout)
            self._check_schema()
            if not read_only:
                self._migrate()
        except BaseException:
            if hasattr(self, "con"):
                self.con.close()
            if self._lock:
                self._lock.release()
            raise

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            if self._lock:
                self._lock.release()

    def _check_schema(self) -> None:
        # Taken with the file open: no other process can write it meanwhile (DuckDB's file lock).
        seen = _file_identity(self.path)
        with _passed_lock:
            if _passed.get(str(self.path)) == seen:
                return
        try:
            problems = schema_problems(self.con)
        except duckdb.Error as exc:
            raise _unreadable(self.path, exc) from None
        if problems:
            raise StoreUnreadable(f"the database {self.path} holds what the store does not make, so it was "
                                  f"not used (nor changed): {_listed(problems)}. {backup.describe(self.path)}")
        with _passed_lock:
            if len(_passed) >= 16:
                _passed.pop(next(iter(_passed)), None)
            _passed[str(self.path)] = seen

    def backup(self, reason: str) -> Path | None:
        """Back the file up as it stands (every committed change), before ``reason`` changes it."""
        if self._lock is None:
            raise StoreError("a read-only store cannot take a backup")
        keep = _keep_count() if self.keep_backups is None else self.keep_backups
        if keep <= 0:
            return None
        self.con.execute("CHECKPOINT")
        # DuckDB holds the file with a POSIX lock, and POSIX drops every lock a process holds on a
        # file when the process closes any descriptor of it, as the copy does. So the connection
        # is closed for the copy (the writers' lock still excludes other writers; a reader may
        # open the checkpointed file meanwhile) and opened again before anything is written.
        self.con.close()
        try:
            with _setting_errors():
                return backup.take(self.path, reason, keep)
        finally:
            self.con = _connect(self.path, False, self.busy_timeout)

    def log_change(self, action: str, detail: dict[str, Any], user: str | None = None) -> None:
        """Record a change and who made it (``user``, else the store's), inside the caller's transaction."""
        self.con.execute(
            "INSERT INTO changes VALUES (nextval('change_ids'), ?, ?, ?, ?)",
            [datetime.now(UTC).replace(tzinfo=None), user or self.user, action,
             json.dumps(detail, sort_keys=True, default=str)])

    def changes(self, limit: int = 200, actions: Sequence[str] | None = None) -> pl.DataFrame:
        """The newest changes (of ``actions`` only, when given): when, who, what."""
        return self.query("SELECT change_id, changed_at, changed_by, action, detail FROM changes "
                          "WHERE $1 IS NULL OR list_contains($1, action) ORDER BY change_id DESC LIMIT $2",
                          [None if actions is None else list(actions), limit])

    def _migrate(self) -> None:
        """Create the schema once; an up-to-date file is not written to on open."""
        if self._schema_version() == SCHEMA_VERSION:
            return
        with self.transaction():
            for statement in _ddl():
                self.con.execute(statement)
            self.con.execute("INSERT INTO settings VALUES ('currency', ?) ON CONFLICT DO NOTHING",
                             [DEFAULT_CURRENCY])
            # Every statement above is idempotent, so an older file is brought up to date in place.
            self.con.execute("INSERT OR REPLACE INTO settings VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])

    def _schema_version(self) -> int | None:
        exists = self.one("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'settings'")
        if not exists or not exists[0]:
            return None
        found = self.one("SELECT value FROM settings WHERE key = 'schema_version'")
        return int(found[0]) if found else None

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run a block in one transaction: committed on success, rolled back on any error."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a statement with bound parameters and fetch every result row."""
        return self.con.execute(sql, list(params)).fetchall()

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first result row, or None; the result is always fully consumed."""
        found = self.rows(sql, params)
        return found[0] if found else None

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        """A query's result as a Polars frame (via Arrow, no Python objects)."""
        return self.con.sql(sql, params=list(params) if params else None).pl()

    # settings ---------------------------------------------------------------------------
    def setting(self, key: str, default: str | None = None) -> str | None:
        row = self.one("SELECT value FROM settings WHERE key = ?", [key])
        return row[0] if row else default

    def set_setting(self, key: str, value: str) -> None:
        with self.transaction():
            before = self.setting(key)
            self.con.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", [key, value])
            if before != value:
                self.log_change("setting", {"key": key, "from": before, "to": value})

    def settings_with_prefix(self, prefix: str) -> dict[str, str]:
        """Settings whose key starts with ``prefix``, the prefix removed (remembered mappings)."""
        rows = self.rows("SELECT key, value FROM settings WHERE starts_with(key, ?) ORDER BY key", [prefix])
        return {key[len(prefix):]: value for key, value in rows}

    def assumptions(self) -> dict[str, str]:
        """The shared assumptions (default margin, discount rate, ...) everyone sees."""
        rows = self.rows("SELECT key, value FROM settings WHERE key LIKE 'assumption.%' ORDER BY key")
        return {key.removeprefix("assumption."): value for key, value in rows}

    def set_assumptions(self, values: dict[str, str]) -> None:
        """Store assumptions in one transaction (values are validated by the caller)."""
        with self.transaction():
            before = self.assumptions()
            for key, value in values.items():
                self.con.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", [f"assumption.{key}", value])
            changed = {k: {"from": before.get(k), "to": v} for k, v in values.items() if before.get(k) != v}
            if changed:
                self.log_change("assumptions", changed)

    @property
    def currency(self) -> str:
        return self.setting("currency", DEFAULT_CURRENCY) or DEFAULT_CURRENCY

    # importing --------------------------------------------------------------------------
    def import_file(self, kind: str, path: Path | str, options: ImportOptions | None = None, *,
                    replace: bool = False, display_name: str | None = None,
                    user: str | None = None) -> ImportResult:
        """Validate ``path`` and, if it is clean, import it in one transaction."""
        options = options or ImportOptions(currency=self.currency)
        if options.currency != self.currency:
            options = dataclasses.replace(options, currency=self.currency)
        prepared = prepare(kind, Path(path), options, display_name)
        return self.import_prepared(prepared, replace=replace, options=options, user=user)

    def _same_import(self, kind: str, sha256: str, options_text: str) -> int | None:
        """The active import of these exact bytes read these exact ways, if it is still wholly in force.

        The same bytes read another way (a date format, a mapping) give other rows, so they are a
        new import, not "unchanged".
        """
        same = self.one(
            f"SELECT i.import_id FROM imports i WHERE i.kind = ? AND i.sha256 = ? AND i.options = ? "
            f"AND i.status = 'active' AND NOT EXISTS (SELECT 1 FROM {kind}_rows r "
            "WHERE r.import_id = i.import_id AND r.superseded_by IS NOT NULL) "
            "ORDER BY i.import_id DESC LIMIT 1",
            [kind, sha256, options_text])
        return int(same[0]) if same else None

    def import_prepared(self, prepared: PreparedImport, *, replace: bool = False,
                        options: ImportOptions | None = None, user: str | None = None) -> ImportResult:
        """Write a prepared import, or report why it cannot be written (nothing changes)."""
        kind = prepared.kind
        result = ImportResult("rejected", kind, prepared.file_name, errors=prepared.errors,
                              warnings=prepared.warnings)
        if not prepared.ok:
            return result
        rows = prepared.rows
        result.rows = rows.height
        result.periods = prepared.period_totals()
        result.total = sum((p.total for p in result.periods), Decimal(0))
        user = user or self.user
        try:
            # Every check first, in a transaction rolled back before the first row is written: an
            # unchanged or refused file takes no backup (and pushes none of the real ones out).
            self._write(prepared, result, replace, options, user, rehearse=True)
        except _Abort as abort:
            return abort.result
        except _Rehearsed:
            pass
        self.backup("import")
        try:
            return self._write(prepared, result, replace, options, user)
        except _Abort as abort:
            return abort.result

    def _write(self, prepared: PreparedImport, result: ImportResult, replace: bool,
               options: ImportOptions | None, user: str | None, rehearse: bool = False) -> ImportResult:
        """Check and write, in one transaction. ``rehearse``: check only (the writer's lock keeps the
        outcome the same for the real run), raising ``_Rehearsed`` before the first row is written."""
        kind, rows = prepared.kind, prepared.rows
        months = _month_spans(prepared)
        start, end = span_columns(kind)
        options_text = json.dumps(_options_json(options), sort_keys=True)
        with self.transaction() as con:
            same = self._same_import(kind, prepared.sha256, options_text)
            if same is not None:
                result.status = "unchanged"
                result.import_id = same
                raise _Abort(result)
            con.register("new_months", months)
            overlap = (f"EXISTS (SELECT 1 FROM new_months m WHERE r.{start} <= m.month_end "
                       f"AND r.{end} >= m.month_start)")
            clashes = self.rows(
                f"SELECT r.import_id, count(*) FROM {kind}_rows r WHERE r.superseded_by IS NULL "
                f"AND {overlap} GROUP BY r.import_id ORDER BY r.import_id")
            con.unregister("new_months")
            if clashes and not replace:
                ids = ", ".join(f"#{i} ({n} rows)" for i, n in clashes)
                result.errors = [problem(
                    "periods_already_imported",
                    f"{_month_list(months)} already hold {kind} rows from import {ids}; pass "
                    "--replace to replace those periods, or undo the earlier import",
                    column=file_kind(kind).period_column)]
                raise _Abort(result)
            if clashes:
                partial = self._partial_overlaps(kind, months, overlap, start, end)
                if partial:
                    result.errors = partial
                    raise _Abort(result)
            # A rehearsal takes no number: sequences are not rolled back.
            import_id = -1 if rehearse else int(self.one("SELECT nextval('import_ids')")[0])  # type: ignore[index]
            if clashes:
                con.register("new_months", months)
                con.execute(f"UPDATE {kind}_rows r SET superseded_by = ? WHERE r.superseded_by "
                            f"IS NULL AND {overlap}", [import_id])
                con.unregister("new_months")
                result.replaced = [int(i) for i, _ in clashes]
            if kind == "customers":
                taken = self._customers_taken(rows)
                if taken:
                    result.errors = taken
                    raise _Abort(result)
            if rehearse:
                raise _Rehearsed
            result.import_id = import_id
            result.status = "imported"
            con.execute(
                "INSERT INTO imports (import_id, kind, file_name, sha256, row_count, period_start, period_end, "
                "total, period_totals, imported_at, imported_by, status, undone_at, replaced, warning_count, "
                "options) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', NULL, ?, ?, ?)",
                [import_id, kind, prepared.file_name, prepared.sha256, rows.height,
                 min(p.start for p in result.periods), max(p.end for p in result.periods),
                 result.total, json.dumps(result.to_json()["periods"]),
                 datetime.now(UTC).replace(tzinfo=None), user, json.dumps(result.replaced),
                 len(prepared.warnings), options_text])
            names = ", ".join(n for n in STORAGE_SCHEMAS[kind] if n in rows.columns)  # the rest are NULL
            # A slice at a time, so Arrow copies of a large file's rows are never all in memory.
            for part in rows.iter_slices(INSERT_SLICE_ROWS):
                con.register("new_rows", part.to_arrow())
                con.execute(f"INSERT INTO {kind}_rows (import_id, {names}) SELECT ?, {names} FROM new_rows",
                            [import_id])
                con.unregister("new_rows")
            self._verify(kind, import_id, result)
            self.log_change("import", {"import_id": import_id, "kind": kind, "file": prepared.file_name,
                                       "rows": rows.height, "replaced": result.replaced}, user=user)
        return result

    def _partial_overlaps(self, kind: str, months: pl.DataFrame, overlap: str, start: str,
                          end: str) -> list[Problem]:
        """Rows that the new file would replace only in part (a quarter, a March-only file).

        Replacing them whole would drop the months the file does not cover, so refuse.
        """
        self.con.register("new_months", months)
        partial = self.rows(
            f"SELECT r.import_id, r.{start}, r.{end}, count(*) FROM {kind}_rows r "
            f"WHERE r.superseded_by IS NULL AND {overlap} AND (SELECT count(*) FROM new_months m "
            f"WHERE r.{start} <= m.month_end AND r.{end} >= m.month_start) < "
            f"date_diff('month', r.{start}, r.{end}) + 1 "
            f"GROUP BY ALL ORDER BY ALL LIMIT 20")
        self.con.unregister("new_months")
        return [problem(
            "partial_replace",
            f"import #{imp} has {n} row(s) for {period_label(s, e)}, which this file covers only "
            f"in part; replacing would drop the months it does not cover. Import a file covering "
            f"all of {period_label(s, e)}, or undo import #{imp} first",
            column=file_kind(kind).period_column)
            for imp, s, e, n in partial]

    def _customers_taken(self, rows: pl.DataFrame) -> list[Problem]:
        self.con.register("new_customers", rows.select("source_row", "customer_id").to_arrow())
        taken = self.rows(
            "SELECT n.source_row, n.customer_id, c.import_id, c.acquired_on FROM new_customers n "
            "JOIN customers c USING (customer_id) ORDER BY n.source_row LIMIT 201")
        self.con.unregister("new_customers")
        return [problem("customer_already_imported",
                        f"customer already imported by import #{imp} (acquired {acq})",
                        row=int(row), column="customer_id", value=cid)
                for row, cid, imp, acq in taken]

    def _verify(self, kind: Kind, import_id: int, result: ImportResult) -> None:
        """Re-read what was written: the row count and measure must equal the file's."""
        measure = _measure_sql(kind)
        count, total = self.one(
            f"SELECT count(*), {measure} FROM {kind}_rows WHERE import_id = ?", [import_id])  # type: ignore[misc]
        if count != result.rows or Decimal(total) != result.total:
            raise StoreError(f"import #{import_id} wrote {count} rows totalling {total}, expected "
                             f"{result.rows} totalling {result.total}; rolled back")

    # history and undo -------------------------------------------------------------------
    def imports(self) -> pl.DataFrame:
        """The imports log, newest first."""
        return self.query(
            "SELECT import_id, kind, file_name, row_count, period_start, period_end, total, "
            "status, imported_at, imported_by, undone_at, undone_by, replaced, warning_count, sha256 "
            "FROM imports ORDER BY import_id DESC")

    def undo(self, import_id: int, *, backup_first: bool = True) -> dict[str, Any]:
        """Remove an import's rows and bring back what it replaced, in one transaction."""
        if backup_first:
            self._undo_checks(import_id)  # a refused undo takes no backup
            self.backup("undo")
        with self.transaction() as con:
            kind = self._undo_checks(import_id)
            removed = self.one(f"DELETE FROM {kind}_rows WHERE import_id = ?", [import_id])
            restored = self.one(f"UPDATE {kind}_rows SET superseded_by = NULL WHERE superseded_by = ?",
                                [import_id])
            con.execute("UPDATE imports SET status = 'undone', undone_at = ?, undone_by = ? WHERE import_id = ?",
                        [datetime.now(UTC).replace(tzinfo=None), self.user, import_id])
            outcome = {"import_id": import_id, "kind": kind,
                       "rows_removed": int(removed[0]) if removed else 0,
                       "rows_restored": int(restored[0]) if restored else 0}
            self.log_change("undo", outcome)
        return outcome

    def _undo_checks(self, import_id: int) -> str:
        """The kind of an import that can be undone now; StoreError saying why not otherwise."""
        row = self.one("SELECT kind, status FROM imports WHERE import_id = ?", [import_id])
        if row is None:
            raise StoreError(f"there is no import #{import_id}")
        kind, status = row
        if status != "active":
            raise StoreError(f"import #{import_id} is already undone")
        later = self.rows(
            f"SELECT DISTINCT superseded_by FROM {kind}_rows WHERE import_id = ? "
            "AND superseded_by IS NOT NULL ORDER BY 1", [import_id])
        if later:
            ids = ", ".join(f"#{i}" for (i,) in later)
            raise StoreError(f"rows of import #{import_id} were replaced by import {ids}; undo that first")
        if kind == "customers":
            # Bringing back replaced customers must not put an id in force twice.
            clash = self.one(
                "SELECT r.customer_id, c.import_id FROM customers_rows r JOIN customers c USING (customer_id) "
                "WHERE r.superseded_by = ? AND c.import_id <> ? ORDER BY 1 LIMIT 1", [import_id, import_id])
            if clash:
                raise StoreError(f"undoing import #{import_id} would bring back customer {clash[0]!r}, which "
                                 f"import #{clash[1]} now holds; undo import #{clash[1]} first")
        return str(kind)

    # reading ----------------------------------------------------------------------------
    def frame(self, kind: str) -> pl.DataFrame:
        """Every row in force of ``kind``, as the validator normalised it."""
        file_kind(kind)
        return self.query(f"SELECT * FROM {kind} ORDER BY import_id, source_row")

    def dataset(self) -> Dataset:
        """The rows in force of every kind, for the metric core (read once, into Arrow).

        Only the columns ``dataset_columns`` names are read; the core sees the others as nulls.
        """
        frames = {kind: self.query(f"SELECT {', '.join(columns)} FROM {kind}")
                  for kind, columns in self.dataset_columns().items() if columns}
        return Dataset.from_frames(**frames)

    def dataset_columns(self) -> dict[str, list[str]]:
        """The storage columns ``dataset`` reads, per kind.

        A column that is NULL in every row (a ledger without channel or currency) is left out:
        the core sees it as nulls all the same, without a column of them in memory. So is the
        revenue rows' file order when no revenue row names a channel or segment: it only decides
        which row's channel or segment is a customer's first.
        """
        out: dict[str, list[str]] = {}
        for kind in KINDS:
            # A read-only store may hold an older schema (only a writer migrates it): read the
            # columns its view has; a newer one is nulls to the core, as on a file without it.
            present = set(self.query(f"SELECT * FROM {kind} LIMIT 0").columns)
            names = [n for n in STORAGE_SCHEMAS[kind] if n in present]
            counts = self.one(f"SELECT {', '.join(f'count({n})' for n in names)} FROM {kind}") or ()
            used = [n for n, count in zip(names, counts, strict=True) if count]
            if kind == "revenue" and not {"channel", "segment"} & set(used):
                used = [n for n in used if n != "source_row"]
            out[kind] = used
        return out

    def totals(self) -> dict[str, dict[str, Any]]:
        """Rows and measure in force per kind: the store's own checksum."""
        out: dict[str, dict[str, Any]] = {}
        for kind in KINDS:
            measure = _measure_sql(kind)
            count, total = self.one(f"SELECT count(*), {measure} FROM {kind}")  # type: ignore[misc]
            out[kind] = {"rows": int(count), "total": Decimal(total)}
        return out

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every table's full content, sorted: for proving that something changed nothing."""
        tables = ["imports", "settings", "changes", "scenarios", "scenario_lines", *[f"{k}_rows" for k in KINDS]]
        return {t: self.rows(f"SELECT * FROM {t} ORDER BY ALL") for t in tables}


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
    keep = max(_keep_count(), 1)
    with _setting_errors():
        backup.backup_dir(db)  # a folder setting that is a file stops the restore before it starts
    _check_backup(source, source)  # a refused file takes no lock and copies nothing
    lock = _WriterLock(db, busy_timeout)
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
                con = _connect(db, False, busy_timeout)
                try:
                    con.execute("CHECKPOINT")
                finally:
                    con.close()
                with _setting_errors():
                    kept = backup.take(db, "restore", keep)
            except StoreUnreadable:
                with _setting_errors():
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
        raise StoreError(f"{source} is not a usable backup, so nothing was changed: {_listed(problems)}")


class _Rehearsed(Exception):
    """A rehearsed import passed every check (its transaction is rolled back)."""


class _Abort(Exception):
    def __init__(self, result: ImportResult) -> None:
        super().__init__("import aborted")
        self.result = result


def _measure_sql(kind: str) -> str:
    """SQL for the measure an import is totalled by: customers counted, the rest summed."""
    return "count(*)" if kind == "customers" else f"coalesce(sum({file_kind(kind).measure}), 0)"


def _month_spans(prepared: PreparedImport) -> pl.DataFrame:
    months = prepared.months()
    starts = [date(int(m[:4]), int(m[5:]), 1) for m in months]
    frame = pl.DataFrame({"month_start": starts}, schema={"month_start": pl.Date})
    return frame.with_columns(month_end=pl.col("month_start").dt.month_end())


def _month_list(months: pl.DataFrame) -> str:
    labels = [period_label(s, e) for s, e in months.iter_rows()]
    return ", ".join(labels[:6]) + (f" and {len(labels) - 6} more months" if len(labels) > 6 else "")


def _options_json(options: ImportOptions | None) -> dict[str, Any]:
    if options is None:
        return {}
    return {"column_map": dict(options.column_map), "category_map": dict(options.category_map),
            "date_format": options.date_format, "decimal_comma": options.decimal_comma,
            "fiscal_year_start": options.fiscal_year_start, "currency": options.currency}


__all__ = ["ImportResult", "Store", "StoreBusy", "StoreError", "StoreUnreadable", "busy_timeout_setting", "cli_user",
           "connect_file", "default_db_path", "period_totals", "restore", "schema_problems"]
