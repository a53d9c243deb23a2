"""Exchange rates in the store, conversion at import, and changing the reporting currency.

- ``import_rates``: a rates file's rates, in one transaction. A rate already stored for the same day,
  base and currency is left as it is when equal (counted ``unchanged``: importing a file again adds
  nothing) and refused when different (``rate_changed``, nothing written) unless ``replace``.
- ``convert_import``: a prepared import's foreign rows converted at the stored rates (``finance.ingest.fx``),
  called by the importer before anything is written.
- ``set_reporting_currency``: every spend and revenue row (those replaced too: an undo brings them back)
  converted again from its amounts as written, the imports' totals restated, the setting changed and the
  change logged, in one transaction; refused, changing nothing, if any rate is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import polars as pl

from finance.domain.fx import ISO_CURRENCIES, RateTable
from finance.domain.money import money_text
from finance.domain.problems import Problem, problem
from finance.domain.schema import DEFAULT_CURRENCY
from finance.ingest.fx import MONEY_COLUMNS, PERIOD_KINDS, Conversion, PreparedRates, convert_rows
from finance.ingest.prepare import FX_COLUMNS, PreparedImport, period_totals
from finance.store import summaries
from finance.store.connection import Connection
from finance.store.errors import StoreError
from finance.store.settings import currency, log_change, setting

CHANGES_LISTED = 20


@dataclass
class RatesResult:
    """What a rates import did, in the shape the CLI reports."""

    status: str  # "imported" | "unchanged" | "rejected"
    file_name: str
    layout: str = ""
    added: int = 0
    unchanged: int = 0
    replaced: int = 0
    currencies: list[str] = field(default_factory=list)
    bases: list[str] = field(default_factory=list)
    first: date | None = None
    last: date | None = None
    errors: list[Problem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "kind": "fx", "file": self.file_name, "layout": self.layout,
                "rates_added": self.added, "rates_unchanged": self.unchanged, "rates_replaced": self.replaced,
                "currencies": self.currencies, "bases": self.bases,
                "first_date": self.first.isoformat() if self.first else None,
                "last_date": self.last.isoformat() if self.last else None,
                "errors": [{"code": p.code, "row": p.row, "column": p.column, "value": p.value,
                            "message": p.message, "expected": p.expected, "count": p.count} for p in self.errors]}


def fx_rates(db: Connection, currency: str | None = None) -> pl.DataFrame:
    """The stored rates (of ``currency`` only, when given): day, base, currency, rate (units of currency per
    1 base), the file each came from, when and by whom; oldest first."""
    if not _has_rates_table(db):
        return pl.DataFrame(schema={"day": pl.Date, "base": pl.String, "currency": pl.String,
                                    "rate": pl.Decimal(38, 12), "file_name": pl.String,
                                    "imported_at": pl.Datetime("us"), "imported_by": pl.String})
    return db.query("SELECT day, base, currency, rate, file_name, imported_at, imported_by FROM fx_rates "
                    "WHERE $1 IS NULL OR currency = $1 OR base = $1 ORDER BY day, base, currency", [currency])


def rate_table(db: Connection) -> RateTable:
    """Every stored rate, for conversion."""
    if not _has_rates_table(db):
        return RateTable()
    return RateTable.of(db.rows("SELECT day, base, currency, rate FROM fx_rates"))


def _has_rates_table(db: Connection) -> bool:
    return db.has_table("fx_rates")


def holds_amounts(db: Connection) -> bool:
    """Whether any spend or revenue row is stored (in force, replaced or undone-in-waiting)."""
    found = db.one("SELECT EXISTS (SELECT 1 FROM spend_rows) OR EXISTS (SELECT 1 FROM revenue_rows)")
    return bool(found and found[0])


def import_rates(db: Connection, prepared: PreparedRates, *, replace_rates: bool = False,
                 user: str | None = None) -> RatesResult:
    """Store a rates file's rates in one transaction, or report why not (nothing changes)."""
    result = RatesResult("rejected", prepared.file_name, prepared.layout, errors=list(prepared.problems))
    if not prepared.ok:
        return result
    frame = pl.DataFrame(prepared.rows, schema={"day": pl.Date, "base": pl.String, "currency": pl.String,
                                                "rate": pl.Decimal(38, 12)}, orient="row")
    result.currencies, result.bases = prepared.currencies(), prepared.bases()
    result.first, result.last = min(d for d, *_ in prepared.rows), max(d for d, *_ in prepared.rows)
    con = db.con
    con.register("new_rates", frame.to_arrow())
    try:
        same, differ = db.one(
            "SELECT count(*) FILTER (WHERE o.rate = n.rate), count(*) FILTER (WHERE o.rate <> n.rate) "
            "FROM new_rates n JOIN fx_rates o USING (day, base, currency)") or (0, 0)
        changed = db.rows(
            "SELECT n.day, n.base, n.currency, o.rate, n.rate, o.file_name FROM new_rates n "
            "JOIN fx_rates o USING (day, base, currency) WHERE o.rate <> n.rate ORDER BY ALL LIMIT ?",
            [CHANGES_LISTED])
    finally:
        con.unregister("new_rates")
    if differ and not replace_rates:
        result.errors = [problem("rate_changed", f"{c} per 1 {b} on {d} is {_shown(new)} here but {_shown(old)} is "
                                 f"stored (from {name}); import the file replacing the stored rates to take its rates",
                                 value=_shown(new)) for d, b, c, old, new, name in changed]
        if differ > len(changed):
            result.errors.append(problem("rate_changed", f"{differ - len(changed):,} more rates differ",
                                         count=differ - len(changed)))
        return result
    result.unchanged, result.replaced = int(same), int(differ)
    result.added = frame.height - result.unchanged - result.replaced
    if not result.added and not result.replaced:
        result.status = "unchanged"
        return result
    db.backup("fx import")
    with db.transaction() as con:
        con.register("new_rates", frame.to_arrow())
        try:
            con.execute("DELETE FROM fx_rates o USING new_rates n WHERE o.day = n.day AND o.base = n.base "
                        "AND o.currency = n.currency AND o.rate <> n.rate")
            con.execute("INSERT INTO fx_rates SELECT n.day, n.base, n.currency, n.rate, ?, ?, ? FROM new_rates n "
                        "ANTI JOIN fx_rates o USING (day, base, currency)",
                        [prepared.file_name, datetime.now(UTC).replace(tzinfo=None), user or db.user])
        finally:
            con.unregister("new_rates")
        log_change(db, "fx_import", {"file": prepared.file_name, "added": result.added,
                                     "replaced": result.replaced, "currencies": result.currencies,
                                     "bases": result.bases, "first": result.first, "last": result.last},
                   user=user)
    result.status = "imported"
    return result


def _shown(rate: Decimal) -> str:
    """A stored rate as a file writes it: ``1.0385``, not ``1.038500000000``."""
    text = format(Decimal(rate).normalize(), "f")
    return text


def convert_import(db: Connection, prepared: PreparedImport, reporting: str) -> tuple[PreparedImport, Conversion]:
    """``prepared`` with its foreign rows converted to ``reporting`` at the stored rates; the conversion
    says how many rows came from which currency, or why it could not be done."""
    if prepared.kind not in MONEY_COLUMNS or prepared.rows.is_empty() or "currency" not in prepared.rows.columns:
        return prepared, Conversion(prepared.rows)
    needed = prepared.rows.get_column("currency").drop_nulls().unique().to_list()
    if not [c for c in needed if c != reporting]:
        return prepared, Conversion(prepared.rows)
    conversion = convert_rows(prepared.kind, prepared.rows, reporting, rate_table(db), prepared.file_name)
    if conversion.problems:
        return prepared, conversion
    return replace(prepared, rows=conversion.rows), conversion


def first_currency(prepared: PreparedImport) -> str | None:
    """The currency of a file's first row that names one (a new store's reporting currency by default)."""
    if prepared.rows.is_empty() or "currency" not in prepared.rows.columns:
        return None
    named = prepared.rows.filter(pl.col("currency").is_not_null()).sort("source_row").head(1)
    return None if named.is_empty() else str(named.get_column("currency")[0])


# changing the reporting currency ---------------------------------------------------------------
def set_reporting_currency(db: Connection, code: str, *, user: str | None = None) -> dict[str, Any]:
    """Make ``code`` the reporting currency: every amount converted again from its amounts as written.

    Refused with ``StoreError`` (nothing changed) for a code that is no ISO 4217 currency or when a rate
    is missing for any row. Returns what was done: from, to, and rows converted per kind and currency.
    """
    code = code.strip().upper()
    if code not in ISO_CURRENCIES:
        raise StoreError(f"{code!r} is not an ISO 4217 currency code (such as USD, EUR, JPY)")
    before = currency(db)
    where = summaries.lake(db)
    if where is not None and code != before:
        raise StoreError(f"the reporting currency stays {before}: the revenue ledger is in the data lake at {where}, "
                         f"reduced there in {before}; convert it there, then import it again")
    outcome: dict[str, Any] = {"from": before, "to": code, "converted": {}, "restated_imports": []}
    if code == before:
        return outcome
    rates = rate_table(db)
    plans = {kind: _reconversion(db, kind, before, code, rates) for kind in MONEY_COLUMNS}
    problems = [p for _, conversion in plans.values() for p in conversion.problems]
    if problems:
        shown = "; ".join(f"{p.message} ({kind} import #{imp})" for kind, (frame, c) in plans.items()
                          for p in c.problems[:5] for imp in [_import_of(frame, p.row)])
        raise StoreError(f"the reporting currency stays {before}: {len(problems)} rate(s) missing to convert the "
                         f"stored amounts to {code}: {shown}")
    if db.keep_backups != 0:
        db.backup("currency")
    with db.transaction() as con:
        for kind, (frame, conversion) in plans.items():
            if frame.is_empty():
                continue
            _write_back(db, kind, frame, conversion.rows)
            outcome["converted"][kind] = conversion.converted
        outcome["restated_imports"] = _restate_imports(db)
        if "revenue" in outcome["converted"]:
            summaries.refresh(db)  # the ledger's amounts changed: its summaries with them
        # A saved budget is a plan for a future quarter, with no rate yet: it is kept as saved, and named.
        outcome["scenarios_not_converted"] = [name for (name,) in db.rows("SELECT name FROM scenarios ORDER BY 1")]
        con.execute("INSERT OR REPLACE INTO settings VALUES ('currency', ?)", [code])
        log_change(db, "currency", outcome, user=user)
    return outcome


def _import_of(frame: pl.DataFrame, source_row: int | None) -> str:
    """The import a problem's row belongs to (reconversion problems name the first row of the group)."""
    found = frame.filter(pl.col("source_row") == source_row).get_column("import_id")
    return str(found[0]) if found.len() else "?"


def _reconversion(db: Connection, kind: str, before: str, after: str,
                  rates: RateTable) -> tuple[pl.DataFrame, Conversion]:
    """Every row of ``kind`` as written (originals, else the amounts in ``before``) and converted to ``after``.

    A missing rate is named once per currency and period for the whole store: the import numbers are
    added to the message by the caller."""
    money = MONEY_COLUMNS[kind]
    keys = "period_start, period_end" if kind in PERIOD_KINDS else "date"
    written = ", ".join(f"coalesce(original_{c}, {c}) AS {c}" for c in money)
    frame = db.query(f"SELECT import_id, source_row, {keys}, {written}, "
                     "coalesce(original_currency, CASE WHEN currency IS NULL THEN NULL ELSE ? END) AS currency, "
                     "original_currency IS NOT NULL OR currency IS NOT NULL AS named "
                     f"FROM {kind}_rows ORDER BY import_id, source_row", [before])
    if frame.is_empty():
        return frame, Conversion(frame)
    # A row naming no currency was in ``before``: it is converted like the rest.
    rows = frame.with_columns(currency=pl.coalesce("currency", pl.lit(before)))
    return frame, convert_rows(kind, rows, after, rates)


def _write_back(db: Connection, kind: str, frame: pl.DataFrame, converted: pl.DataFrame) -> None:
    """Put the converted amounts, originals and rates in place (rows matched by import and source row)."""
    money = MONEY_COLUMNS[kind]
    columns = [*money, *FX_COLUMNS[kind]]
    out = converted.with_columns(named=frame.get_column("named"))
    for column in columns:
        if column not in out.columns:
            out = out.with_columns(pl.lit(None).cast(_dtype(kind, column)).alias(column))
    # A row that named no currency and stays in the reporting currency keeps naming none.
    out = out.with_columns(currency=pl.when(pl.col("named") | pl.col("fx_rate").is_not_null())
                           .then(pl.col("currency")).otherwise(None))
    out = out.select("import_id", "source_row", "currency", *columns)
    db.con.register("reconverted", out.to_arrow())
    try:
        sets = ", ".join(f"{c} = n.{c}" for c in ["currency", *columns])
        db.con.execute(f"UPDATE {kind}_rows r SET {sets} FROM reconverted n "
                       "WHERE r.import_id = n.import_id AND r.source_row = n.source_row")
    finally:
        db.con.unregister("reconverted")


def _dtype(kind: str, column: str) -> pl.DataType:
    from finance.ingest.prepare import STORAGE_SCHEMAS

    return STORAGE_SCHEMAS[kind][column]


def _restate_imports(db: Connection) -> list[int]:
    """Each spend, revenue and general-ledger import's total and period totals, summed again in the new currency."""
    restated = []
    for import_id, kind in db.rows("SELECT import_id, kind FROM imports WHERE kind IN ('spend', 'revenue', 'gl') "
                                   "ORDER BY import_id"):
        rows = db.query(f"SELECT * FROM {kind}_rows WHERE import_id = ?", [import_id])
        if rows.is_empty():
            continue
        periods = period_totals(kind, rows)
        listed = [{"period": p.period, "start": p.start.isoformat(), "end": p.end.isoformat(), "rows": p.rows,
                   "total": money_text(p.total) or "0.00"} for p in periods]
        total = sum((p.total for p in periods), Decimal(0))
        db.con.execute("UPDATE imports SET total = ?, period_totals = ? WHERE import_id = ?",
                       [total, json.dumps(listed), import_id])
        restated.append(int(import_id))
    return restated


def reporting_currency_for(db: Connection, prepared: PreparedImport, requested: str | None) -> str:
    """The reporting currency an import converts to: the store's; for a store holding no amounts yet,
    ``requested`` when given (the command line passes ``--currency``, else the file's first currency
    unless one was chosen: ``currency_chosen``).

    A ``requested`` currency other than the store's, once it holds amounts, is refused (``StoreError``):
    changing it converts every stored amount, which is its own command.
    """
    current = currency(db)
    if requested is not None:
        requested = requested.strip().upper()
        if requested not in ISO_CURRENCIES:
            raise StoreError(f"--currency {requested!r} is not an ISO 4217 currency code (such as USD, EUR, JPY)")
    if holds_amounts(db):
        if requested is not None and requested != current:
            raise StoreError(f"the database's reporting currency is {current}, and it already holds amounts: "
                             f"change it with `python -m finance currency {requested}` (every amount is converted "
                             "again at the stored rates)")
        return current
    return requested or current


def currency_chosen(db: Connection) -> bool:
    """Whether the reporting currency was ever set (a change logged), rather than left at its default."""
    if not db.has_table("changes"):  # a file older than the change log
        return setting(db, "currency") not in (None, DEFAULT_CURRENCY)
    found = db.one("SELECT count(*) FROM changes WHERE action = 'currency' OR (action = 'setting' "
                   "AND json_extract_string(detail, '$.key') = 'currency')")
    return bool(found and found[0])
