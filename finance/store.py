"""The DuckDB store: one file holding every imported row and the log of imports.

Rules the store keeps:
- an import is one transaction: all of its rows and its log entry, or nothing;
- a byte-identical file already in force is a no-op ("unchanged");
- a file touching months already imported is refused unless ``replace``; then the older
  rows in those months are superseded (kept, but out of every view) in the same
  transaction, so undoing the replacement brings them back exactly;
- every value reaches SQL as a bound parameter or a registered Arrow relation, never as
  formatted SQL text.
"""

from __future__ import annotations

import dataclasses
import json
import os
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

from finance.dataset import Dataset
from finance.ingest import (
    STORAGE_SCHEMAS,
    ImportOptions,
    PeriodTotal,
    PreparedImport,
    money_text,
    period_totals,
    prepare,
    span_columns,
)
from finance.periods import period_label
from finance.problems import Problem, problem
from finance.schema import DEFAULT_CURRENCY, KINDS, MONEY_SCALE, MONEY_SQL, Kind, file_kind

SCHEMA_VERSION = 2
"""1: imports, settings and the four data tables; 2: saved budget scenarios."""
ENV_DB = "FINANCE_DB"
ENV_BUSY_TIMEOUT = "FINANCE_BUSY_TIMEOUT"
BUSY_TIMEOUT = float(os.environ.get(ENV_BUSY_TIMEOUT, "10"))
"""Seconds to wait for another process to release the database file."""
INSERT_SLICE_ROWS = 1_000_000
"""Rows handed to DuckDB per INSERT while writing an import (all in one transaction)."""
PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DB = PROJECT_DIR / "data" / "finance.duckdb"

_SQL_TYPES = {pl.Int64: "BIGINT", pl.Date: "DATE", pl.String: "VARCHAR"}


def default_db_path() -> Path:
    """``$FINANCE_DB`` when set, else ``data/finance.duckdb`` in the project."""
    env = os.environ.get(ENV_DB)
    return Path(env) if env else DEFAULT_DB


def _connect(path: Path, read_only: bool, busy_timeout: float) -> duckdb.DuckDBPyConnection:
    """Open the file, waiting while another process holds it.

    DuckDB lets one process write a file at a time; the app's reads are short, so a brief
    wait usually succeeds. Past ``busy_timeout`` the caller gets a clear "busy" error.
    """
    deadline = time.monotonic() + busy_timeout
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise StoreBusy(f"the database {path} is busy: another process holds it "
                                f"({str(exc).split(': ', 2)[-1].split('. See')[0]}); try again") from None
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


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
        # The views are what every reader uses: rows in force, without bookkeeping.
        names = ", ".join(STORAGE_SCHEMAS[kind])
        statements.append(
            f"CREATE OR REPLACE VIEW {kind} AS SELECT import_id, {names} FROM {kind}_rows "
            "WHERE superseded_by IS NULL")
    return statements


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


class StoreBusy(StoreError):
    """Another process holds the database file for longer than the wait allows."""


class Store:
    """One DuckDB file. Open it, use it, close it (or use it as a context manager)."""

    def __init__(self, path: Path | str | None = None, *, read_only: bool = False,
                 busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = _connect(self.path, read_only, busy_timeout)
        if not read_only:
            self._migrate()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

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
            self.con.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", [key, value])

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
            for key, value in values.items():
                self.con.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", [f"assumption.{key}", value])

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
        try:
            return self._write(prepared, result, replace, options, user)
        except _Abort as abort:
            return abort.result

    def _write(self, prepared: PreparedImport, result: ImportResult, replace: bool,
               options: ImportOptions | None, user: str | None) -> ImportResult:
        kind, rows = prepared.kind, prepared.rows
        months = _month_spans(prepared)
        start, end = span_columns(kind)
        options_text = json.dumps(_options_json(options), sort_keys=True)
        with self.transaction() as con:
            # The same bytes read the same way: a file re-read with other options (a date format,
            # a mapping) gives other rows, so it is a new import, not "unchanged".
            same = self.one(
                f"SELECT i.import_id FROM imports i WHERE i.kind = ? AND i.sha256 = ? AND i.options = ? "
                f"AND i.status = 'active' AND NOT EXISTS (SELECT 1 FROM {kind}_rows r "
                "WHERE r.import_id = i.import_id AND r.superseded_by IS NOT NULL) "
                "ORDER BY i.import_id DESC LIMIT 1",
                [kind, prepared.sha256, options_text])
            if same:
                result.status = "unchanged"
                result.import_id = int(same[0])
                return result
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
                return result
            if clashes:
                partial = self._partial_overlaps(kind, months, overlap, start, end)
                if partial:
                    result.errors = partial
                    return result
            import_id = int(self.one("SELECT nextval('import_ids')")[0])  # type: ignore[index]
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
            result.import_id = import_id
            result.status = "imported"
            con.execute(
                "INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', NULL, ?, ?, ?)",
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
            "status, imported_at, imported_by, undone_at, replaced, warning_count, sha256 "
            "FROM imports ORDER BY import_id DESC")

    def undo(self, import_id: int) -> dict[str, Any]:
        """Remove an import's rows and bring back what it replaced, in one transaction."""
        with self.transaction() as con:
            row = self.one("SELECT kind, status FROM imports WHERE import_id = ?",
                              [import_id])
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
                raise StoreError(f"rows of import #{import_id} were replaced by import {ids}; "
                                 "undo that first")
            if kind == "customers":
                # Bringing back replaced customers must not put an id in force twice.
                clash = self.one(
                    "SELECT r.customer_id, c.import_id FROM customers_rows r JOIN customers c USING (customer_id) "
                    "WHERE r.superseded_by = ? AND c.import_id <> ? ORDER BY 1 LIMIT 1", [import_id, import_id])
                if clash:
                    raise StoreError(f"undoing import #{import_id} would bring back customer {clash[0]!r}, which "
                                     f"import #{clash[1]} now holds; undo import #{clash[1]} first")
            removed = self.one(f"DELETE FROM {kind}_rows WHERE import_id = ?", [import_id])
            restored = self.one(f"UPDATE {kind}_rows SET superseded_by = NULL WHERE superseded_by = ?",
                                   [import_id])
            con.execute("UPDATE imports SET status = 'undone', undone_at = ? WHERE import_id = ?",
                        [datetime.now(UTC).replace(tzinfo=None), import_id])
        return {"import_id": import_id, "kind": kind,
                "rows_removed": int(removed[0]) if removed else 0,
                "rows_restored": int(restored[0]) if restored else 0}

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
            names = list(STORAGE_SCHEMAS[kind])
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
        tables = ["imports", "settings", *[f"{k}_rows" for k in KINDS]]
        return {t: self.rows(f"SELECT * FROM {t} ORDER BY ALL") for t in tables}


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


__all__ = ["ImportResult", "Store", "StoreError", "default_db_path", "period_totals"]
