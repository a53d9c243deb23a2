"""Importing files: atomic imports, replacing periods, undo, and the imports log.

- an import is one transaction: all of its rows and its log entry, or nothing;
- a byte-identical file already in force is a no-op ("unchanged");
- a file touching months already imported is refused unless ``replace``; then the older
  rows in those months are superseded (kept, but out of every view) in the same
  transaction, so undoing the replacement brings them back exactly;
- every value reaches SQL as a bound parameter or a registered Arrow relation, never as
  formatted SQL text;
- before an import or an undo the file is backed up (``finance.store.backup``), and every change
  records who made it (``imports.imported_by``, ``imports.undone_by`` and the ``changes`` log).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from finance.domain.periods import period_label
from finance.domain.problems import Problem, problem
from finance.domain.schema import MONEY_KINDS, Kind, file_kind
from finance.ingest.prepare import (
    STORAGE_SCHEMAS,
    ImportOptions,
    PeriodTotal,
    PreparedImport,
    money_text,
    prepare,
    span_columns,
)
from finance.store import fx, summaries
from finance.store.connection import Connection
from finance.store.errors import StoreError
from finance.store.settings import currency, log_change

SUMMARISED = ("customers", "revenue")
"""The kinds the store's summaries are reduced from (``finance.store.summaries``): an import or undo of one
remakes them in its transaction."""
INSERT_SLICE_ROWS = 1_000_000


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
    currency: str | None = None
    """The reporting currency the amounts were imported in (money kinds only)."""
    converted: dict[str, int] = field(default_factory=dict)
    """Original currency -> rows converted from it to ``currency``."""
    originals: dict[str, Decimal] = field(default_factory=dict)
    """Original currency -> the converted rows' measure as written."""

    @property
    def money(self) -> bool:
        return self.kind in MONEY_KINDS

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
            **({"currency": self.currency, "converted_rows": sum(self.converted.values()), "converted": [
                {"currency": c, "rows": n, "original_total": money_text(self.originals.get(c, Decimal(0)))}
                for c, n in sorted(self.converted.items())]} if self.money and self.currency else {}),
            "errors": [_problem_json(p) for p in self.errors],
            "warnings": [_problem_json(p) for p in self.warnings],
        }


def _problem_json(p: Problem) -> dict[str, Any]:
    return {"code": p.code, "row": p.row, "column": p.column, "value": p.value,
            "message": p.message, "expected": p.expected, "count": p.count, "suggestion": p.suggestion}


def import_file(db: Connection, kind: str, path: Path | str, options: ImportOptions | None = None, *,
                replace: bool = False, display_name: str | None = None,
                user: str | None = None, reporting_currency: str | None = None) -> ImportResult:
    """Validate ``path`` and, if it is clean, import it in one transaction.

    ``reporting_currency`` (``--currency``): the store's reporting currency, for a store holding no amounts
    yet (``fx.reporting_currency_for``)."""
    reading = reporting_currency.strip().upper() if reporting_currency and not fx.holds_amounts(db) else currency(db)
    options = options or ImportOptions(currency=reading)
    if options.currency != reading:
        options = dataclasses.replace(options, currency=reading)
    prepared = prepare(kind, Path(path), options, display_name)
    return import_prepared(db, prepared, replace=replace, options=options, user=user,
                           reporting_currency=reporting_currency)


def _same_import(db: Connection, kind: str, sha256: str, options_text: str) -> int | None:
    """The active import of these exact bytes read these exact ways, if it is still wholly in force.

    The same bytes read another way (a date format, a mapping) give other rows, so they are a
    new import, not "unchanged".
    """
    same = db.one(
        f"SELECT i.import_id FROM imports i WHERE i.kind = ? AND i.sha256 = ? AND i.options = ? "
        f"AND i.status = 'active' AND NOT EXISTS (SELECT 1 FROM {kind}_rows r "
        "WHERE r.import_id = i.import_id AND r.superseded_by IS NOT NULL) "
        "ORDER BY i.import_id DESC LIMIT 1",
        [kind, sha256, options_text])
    return int(same[0]) if same else None


def import_prepared(db: Connection, prepared: PreparedImport, *, replace: bool = False,
                    options: ImportOptions | None = None, user: str | None = None,
                    reporting_currency: str | None = None) -> ImportResult:
    """Write a prepared import, or report why it cannot be written (nothing changes).

    Amounts in another currency than the reporting one are converted first, at the stored rates
    (``finance.store.fx``); a missing rate rejects the file. ``reporting_currency``: see ``import_file``.
    """
    kind = prepared.kind
    result = ImportResult("rejected", kind, prepared.file_name, errors=prepared.errors,
                          warnings=prepared.warnings)
    if not prepared.ok:
        return result
    reporting = fx.reporting_currency_for(db, prepared, reporting_currency)
    prepared, conversion = fx.convert_import(db, prepared, reporting)
    if conversion.problems:
        result.errors = conversion.problems
        return result
    if kind in MONEY_KINDS:
        result.currency, result.converted, result.originals = reporting, conversion.converted, conversion.originals
    rows = prepared.rows
    result.rows = rows.height
    result.periods = prepared.period_totals()
    result.total = sum((p.total for p in result.periods), Decimal(0))
    user = user or db.user
    try:
        # Every check first, in a transaction rolled back before the first row is written: an
        # unchanged or refused file takes no backup (and pushes none of the real ones out).
        _write(db, prepared, result, replace, options, user, rehearse=True)
    except _Abort as abort:
        return abort.result
    except _Rehearsed:
        pass
    db.backup("import")
    try:
        return _write(db, prepared, result, replace, options, user)
    except _Abort as abort:
        return abort.result


def _write(db: Connection, prepared: PreparedImport, result: ImportResult, replace: bool,
           options: ImportOptions | None, user: str | None, rehearse: bool = False) -> ImportResult:
    """Check and write, in one transaction. ``rehearse``: check only (the writer's lock keeps the
    outcome the same for the real run), raising ``_Rehearsed`` before the first row is written."""
    kind, rows = prepared.kind, prepared.rows
    months = _month_spans(prepared)
    start, end = span_columns(kind)
    options_text = json.dumps(_options_json(options), sort_keys=True)
    with db.transaction() as con:
        same = _same_import(db, kind, prepared.sha256, options_text)
        if same is not None:
            result.status = "unchanged"
            result.import_id = same
            raise _Abort(result)
        con.register("new_months", months)
        overlap = (f"EXISTS (SELECT 1 FROM new_months m WHERE r.{start} <= m.month_end "
                   f"AND r.{end} >= m.month_start)")
        clashes = db.rows(
            f"SELECT r.import_id, count(*) FROM {kind}_rows r WHERE r.superseded_by IS NULL "
            f"AND {overlap} GROUP BY r.import_id ORDER BY r.import_id")
        con.unregister("new_months")
        if clashes and not replace:
            ids = ", ".join(f"#{i} ({n} rows)" for i, n in clashes)
            result.errors = [problem(
                "periods_already_imported",
                f"{_month_list(months)} already hold {kind} rows from import {ids}; import the file "
                "to replace those periods, or undo the earlier import",
                column=file_kind(kind).period_column)]
            raise _Abort(result)
        if clashes:
            partial = _partial_overlaps(db, kind, months, overlap, start, end)
            if partial:
                result.errors = partial
                raise _Abort(result)
        # A rehearsal takes no number: sequences are not rolled back.
        import_id = -1 if rehearse else int(db.one("SELECT nextval('import_ids')")[0])  # type: ignore[index]
        if clashes:
            con.register("new_months", months)
            con.execute(f"UPDATE {kind}_rows r SET superseded_by = ? WHERE r.superseded_by "
                        f"IS NULL AND {overlap}", [import_id])
            con.unregister("new_months")
            result.replaced = [int(i) for i, _ in clashes]
        if kind == "customers":
            taken = _customers_taken(db, rows)
            if taken:
                result.errors = taken
                raise _Abort(result)
        if rehearse:
            raise _Rehearsed
        result.import_id = import_id
        result.status = "imported"
        if result.currency is not None and result.currency != currency(db):
            before = currency(db)
            con.execute("INSERT OR REPLACE INTO settings VALUES ('currency', ?)", [result.currency])
            log_change(db, "currency", {"from": before, "to": result.currency, "first_import": import_id},
                       user=user)
        record_import(db, import_id, kind, prepared.file_name, prepared.sha256, rows.height,
                      (min(p.start for p in result.periods), max(p.end for p in result.periods)), result.total,
                      result.to_json()["periods"], datetime.now(UTC).replace(tzinfo=None), user,
                      result.replaced, len(prepared.warnings), options_text)
        names = ", ".join(n for n in STORAGE_SCHEMAS[kind] if n in rows.columns)  # the rest are NULL
        # A slice at a time, so Arrow copies of a large file's rows are never all in memory.
        for part in rows.iter_slices(INSERT_SLICE_ROWS):
            con.register("new_rows", part.to_arrow())
            con.execute(f"INSERT INTO {kind}_rows (import_id, {names}) SELECT ?, {names} FROM new_rows",
                        [import_id])
            con.unregister("new_rows")
        _verify(db, kind, import_id, result)
        if kind in SUMMARISED:
            summaries.refresh(db)
        log_change(db, "import", {"import_id": import_id, "kind": kind, "file": prepared.file_name,
                                  "rows": rows.height, "replaced": result.replaced,
                                  **({"converted": result.converted} if result.converted else {})}, user=user)
    return result


def record_import(db: Connection, import_id: int, kind: str, file_name: str, sha256: str, rows: int,
                  span: tuple[date, date], total: Decimal, periods: list[dict[str, Any]], imported_at: datetime,
                  user: str | None, replaced: list[int], warnings: int, options_text: str) -> None:
    """The import's row in the history, active: a file's (``_write``) or a lake ledger's (``finance.store.spark``)."""
    db.con.execute(
        "INSERT INTO imports (import_id, kind, file_name, sha256, row_count, period_start, period_end, "
        "total, period_totals, imported_at, imported_by, status, undone_at, replaced, warning_count, "
        "options) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', NULL, ?, ?, ?)",
        [import_id, kind, file_name, sha256, rows, span[0], span[1], total, json.dumps(periods), imported_at,
         user, json.dumps(replaced), warnings, options_text])


def _partial_overlaps(db: Connection, kind: str, months: pl.DataFrame, overlap: str, start: str,
                      end: str) -> list[Problem]:
    """Rows that the new file would replace only in part (a quarter, a March-only file).

    Replacing them whole would drop the months the file does not cover, so refuse.
    """
    db.con.register("new_months", months)
    partial = db.rows(
        f"SELECT r.import_id, r.{start}, r.{end}, count(*) FROM {kind}_rows r "
        f"WHERE r.superseded_by IS NULL AND {overlap} AND (SELECT count(*) FROM new_months m "
        f"WHERE r.{start} <= m.month_end AND r.{end} >= m.month_start) < "
        f"date_diff('month', r.{start}, r.{end}) + 1 "
        f"GROUP BY ALL ORDER BY ALL LIMIT 20")
    db.con.unregister("new_months")
    return [problem(
        "partial_replace",
        f"import #{imp} has {n} row(s) for {period_label(s, e)}, which this file covers only "
        f"in part; replacing would drop the months it does not cover. Import a file covering "
        f"all of {period_label(s, e)}, or undo import #{imp} first",
        column=file_kind(kind).period_column)
        for imp, s, e, n in partial]


def _customers_taken(db: Connection, rows: pl.DataFrame) -> list[Problem]:
    db.con.register("new_customers", rows.select("source_row", "customer_id").to_arrow())
    taken = db.rows(
        "SELECT n.source_row, n.customer_id, c.import_id, c.acquired_on FROM new_customers n "
        "JOIN customers c USING (customer_id) ORDER BY n.source_row LIMIT 201")
    db.con.unregister("new_customers")
    return [problem("customer_already_imported",
                    f"customer already imported by import #{imp} (acquired {acq})",
                    row=int(row), column="customer_id", value=cid)
            for row, cid, imp, acq in taken]


def _verify(db: Connection, kind: Kind, import_id: int, result: ImportResult) -> None:
    """Re-read what was written: the row count and measure must equal the file's."""
    measure = measure_sql(kind)
    count, total = db.one(
        f"SELECT count(*), {measure} FROM {kind}_rows WHERE import_id = ?", [import_id])  # type: ignore[misc]
    if count != result.rows or Decimal(total) != result.total:
        raise StoreError(f"import #{import_id} wrote {count} rows totalling {total}, expected "
                         f"{result.rows} totalling {result.total}; rolled back")


# history and undo -------------------------------------------------------------------
def imports(db: Connection) -> pl.DataFrame:
    """The imports log, newest first."""
    return db.query(
        "SELECT import_id, kind, file_name, row_count, period_start, period_end, total, "
        "status, imported_at, imported_by, undone_at, undone_by, replaced, warning_count, sha256 "
        "FROM imports ORDER BY import_id DESC")


def active_imports(db: Connection) -> list[int]:
    """The imports in force, newest first."""
    return [int(i) for (i,) in db.rows("SELECT import_id FROM imports WHERE status = 'active' "
                                       "ORDER BY import_id DESC")]


def undo(db: Connection, import_id: int, *, backup_first: bool = True) -> dict[str, Any]:
    """Remove an import's rows and bring back what it replaced, in one transaction."""
    if backup_first:
        _undo_checks(db, import_id)  # a refused undo takes no backup
        db.backup("undo")
    with db.transaction() as con:
        kind = _undo_checks(db, import_id)
        removed = db.one(f"DELETE FROM {kind}_rows WHERE import_id = ?", [import_id])
        restored = db.one(f"UPDATE {kind}_rows SET superseded_by = NULL WHERE superseded_by = ?",
                          [import_id])
        lake = _lake_location(db, import_id)
        if lake is not None:
            summaries.forget_lake(db)  # the ledger in the lake is no longer this store's
        if kind in SUMMARISED:
            summaries.refresh(db)
        con.execute("UPDATE imports SET status = 'undone', undone_at = ?, undone_by = ? WHERE import_id = ?",
                    [datetime.now(UTC).replace(tzinfo=None), db.user, import_id])
        outcome = {"import_id": import_id, "kind": kind,
                   "rows_removed": int(removed[0]) if removed else 0,
                   "rows_restored": int(restored[0]) if restored else 0,
                   **({"lake": lake} if lake is not None else {})}
        log_change(db, "undo", outcome)
    return outcome


LAKE_IMPORT = "json_extract_string(options, '$.engine') = 'spark'"
"""An ``imports`` row of a ledger reduced where it lies, in a data lake (``finance.store.spark.import_ledger``)."""


def _lake_location(db: Connection, import_id: int) -> str | None:
    """Where the ledger of a lake import is (``finance.store.spark.import_ledger``); None for a file's import."""
    found = db.one(f"SELECT file_name FROM imports WHERE import_id = ? AND {LAKE_IMPORT}", [import_id])
    return str(found[0]) if found else None


def _undo_checks(db: Connection, import_id: int) -> str:
    """The kind of an import that can be undone now; StoreError saying why not otherwise."""
    row = db.one("SELECT kind, status FROM imports WHERE import_id = ?", [import_id])
    if row is None:
        raise StoreError(f"there is no import #{import_id}")
    kind, status = row
    if status != "active":
        raise StoreError(f"import #{import_id} is already undone")
    later = db.rows(
        f"SELECT DISTINCT superseded_by FROM {kind}_rows WHERE import_id = ? "
        "AND superseded_by IS NOT NULL ORDER BY 1", [import_id])
    if later:
        ids = ", ".join(f"#{i}" for (i,) in later)
        raise StoreError(f"rows of import #{import_id} were replaced by import {ids}; undo that first")
    if kind == "customers":
        # Bringing back replaced customers must not put an id in force twice.
        clash = db.one(
            "SELECT r.customer_id, c.import_id FROM customers_rows r JOIN customers c USING (customer_id) "
            "WHERE r.superseded_by = ? AND c.import_id <> ? ORDER BY 1 LIMIT 1", [import_id, import_id])
        if clash:
            raise StoreError(f"undoing import #{import_id} would bring back customer {clash[0]!r}, which "
                             f"import #{clash[1]} now holds; undo import #{clash[1]} first")
    return str(kind)


class _Rehearsed(Exception):
    """A rehearsed import passed every check (its transaction is rolled back)."""


class _Abort(Exception):
    def __init__(self, result: ImportResult) -> None:
        super().__init__("import aborted")
        self.result = result


def measure_sql(kind: str) -> str:
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
    # A sheet, an encoding, a file's currency or a preset is named only when chosen: earlier imports of the
    # same bytes stay unchanged.
    chosen = {name: value for name, value in (("sheet", options.sheet), ("encoding", options.encoding),
                                              ("file_currency", options.file_currency), ("preset", options.preset))
              if value is not None}
    return {"column_map": dict(options.column_map), "category_map": dict(options.category_map),
            "date_format": options.date_format, "decimal_comma": options.decimal_comma,
            "fiscal_year_start": options.fiscal_year_start, "currency": options.currency, **chosen}
