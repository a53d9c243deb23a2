"""The store's schema: the tables it makes, bringing an older file up to date, and the check that a
file holds the store's own objects and nothing else.

A file is used only when it holds the store's own objects and nothing else (``schema_problems``):
what the store makes is read back from a new database built by ``_ddl``, never kept by hand, so the
check cannot drift from the schema.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from finance.domain.fx import RATE_SCALE, RATE_SQL
from finance.domain.schema import DEFAULT_CURRENCY, KINDS, MONEY_SCALE, MONEY_SQL, Kind
from finance.ingest.prepare import FX_COLUMNS, STORAGE_SCHEMAS
from finance.store import accounts, backup, notes, packs, summaries, targets
from finance.store.connection import Connection, connect_file, unreadable
from finance.store.errors import StoreUnreadable

SCHEMA_VERSION = 11
"""1: imports, settings and the four data tables; 2: saved budget scenarios; 3: who undid an import
and the ``changes`` log; 4: the customers' ``billing_interval``; 5: exchange rates (``fx_rates``) and each
converted spend and revenue row's amounts as written, currency and rate (``FX_COLUMNS``); 6: the summaries
of the ledger every figure reads (``finance.store.summaries``), made from the rows already there; 7: the general
ledger's rows (``gl_rows``) and its accounts' cost categories (``finance.store.accounts``); 8: a spend row's
service period (``service_start``, ``service_end``: the months an accrual-basis view amortises it over); 9: the
published board packs (``finance.store.packs``); 10: notes on the timeline (``finance.store.notes``); 11:
each channel's CAC target (``finance.store.targets``)."""
_ADDED_COLUMNS: dict[Kind, tuple[str, ...]] = {
    **FX_COLUMNS, "customers": ("billing_interval",),  # type: ignore[dict-item]
    "spend": (*FX_COLUMNS["spend"], "service_start", "service_end")}
"""Storage columns added to a data table after version 1: an older file gains them (NULL) in place."""


_SQL_TYPES = {pl.Int64: "BIGINT", pl.Date: "DATE", pl.String: "VARCHAR"}


def _sql_type(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Decimal):
        return RATE_SQL if dtype.scale == RATE_SCALE else MONEY_SQL
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
        f"""CREATE TABLE IF NOT EXISTS fx_rates (
            day DATE NOT NULL,
            base VARCHAR NOT NULL,
            currency VARCHAR NOT NULL,
            rate {RATE_SQL} NOT NULL,
            file_name VARCHAR NOT NULL,
            imported_at TIMESTAMP NOT NULL,
            imported_by VARCHAR,
            PRIMARY KEY (day, base, currency)
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
    return [*statements, *summaries.ddl(), accounts.DDL, *packs.DDL, *notes.DDL, targets.DDL]


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


def listed(problems: list[str], limit: int = 8) -> str:
    more = len(problems) - limit
    return "; ".join(problems[:limit]) + (f"; and {more} more" if more > 0 else "")


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


def check_schema(db: Connection) -> None:
    """Refuse, as ``StoreUnreadable``, a file holding what the store does not make (checked once per
    version of the file in this process)."""
    # Taken with the file open: no other process can write it meanwhile (DuckDB's file lock).
    seen = _file_identity(db.path)
    with _passed_lock:
        if _passed.get(str(db.path)) == seen:
            return
    try:
        problems = schema_problems(db.con)
    except duckdb.Error as exc:
        raise unreadable(db.path, exc) from None
    if problems:
        raise StoreUnreadable(f"the database {db.path} holds what the store does not make, so it was "
                              f"not used (nor changed): {listed(problems)}. {backup.describe(db.path)}")
    with _passed_lock:
        if len(_passed) >= 16:
            _passed.pop(next(iter(_passed)), None)
        _passed[str(db.path)] = seen


def migrate(db: Connection) -> None:
    """Create the schema once; an up-to-date file is not written to on open."""
    if schema_version(db) == SCHEMA_VERSION:
        return
    with db.transaction():
        for statement in _ddl():
            db.con.execute(statement)
        summaries.refresh(db)  # a file from before version 6: its ledger summarised once
        db.con.execute("INSERT INTO settings VALUES ('currency', ?) ON CONFLICT DO NOTHING",
                       [DEFAULT_CURRENCY])
        # Every statement above is idempotent, so an older file is brought up to date in place.
        db.con.execute("INSERT OR REPLACE INTO settings VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])


def schema_version(db: Connection) -> int | None:
    exists = db.one("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'settings'")
    if not exists or not exists[0]:
        return None
    found = db.one("SELECT value FROM settings WHERE key = 'schema_version'")
    return int(found[0]) if found else None
