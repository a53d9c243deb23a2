"""Reading the store back: the rows in force of each kind, the dataset the metrics read, and the
totals and full content that prove what a change did (or did not) do."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import duckdb
import polars as pl

from finance.domain.schema import DATA_KINDS, KINDS, file_kind
from finance.ingest.prepare import FX_COLUMNS, STORAGE_SCHEMAS
from finance.store import summaries
from finance.store.connection import Connection
from finance.store.dataset import Dataset, Summary
from finance.store.errors import StoreError
from finance.store.imports import measure_sql


def frame(db: Connection, kind: str) -> pl.DataFrame:
    """Every row in force of ``kind``, as the validator normalised it."""
    file_kind(kind)
    return db.query(f"SELECT * FROM {kind} ORDER BY import_id, source_row")


def general_ledger(db: Connection) -> pl.DataFrame:
    """The general ledger's rows in force (``gl`` imports); none on a file older than them, opened read-only."""
    present = db.one("SELECT count(*) FROM duckdb_views() WHERE view_name = 'gl' AND NOT internal")
    if not present or not present[0]:
        return pl.DataFrame(schema=STORAGE_SCHEMAS["gl"])
    return db.query("SELECT * FROM gl ORDER BY import_id, source_row")


def dataset(db: Connection) -> Dataset:
    """The rows in force of every kind, for the metric core (read once, into Arrow).

    Only the columns ``dataset_columns`` names are read; the core sees the others as nulls. When the store's
    summaries hold the ledger, the revenue rows are not read here: every figure as of the ledger's end comes
    from the summaries, and the rows are read when a figure first needs them (``DeferredLedger``).
    """
    kept = summaries.read(db)
    frames: dict[str, pl.DataFrame | pl.LazyFrame] = {}
    for kind, columns in dataset_columns(db).items():
        if not columns:
            continue
        if kind == "revenue" and kept is not None and kept.lake is None:
            frames[kind] = DeferredLedger(db, columns).frame()
        else:
            frames[kind] = db.query(f"SELECT {', '.join(columns)} FROM {kind}")
    summary = Summary(kept.ledger_end, kept.customers, kept.margins, lake=kept.lake) if kept is not None else None
    return replace(Dataset.from_frames(**frames), summary=summary)


class DeferredLedger:
    """The revenue rows in force, read from the store when a figure first needs them, then kept.

    The ledger is the one large table (10^8 rows and more); the figures as of its end read the summaries
    instead, so a dashboard or a command that never looks further back never holds it in memory. A figure as
    of an earlier day, or the model check, reads it: through the connection the dataset was read with while
    it is open, else through a read-only one of its own. The ledger must be the one the dataset was read with
    (its imports, row count and revenue total, ``_ledger_stamp``); one changed since is refused
    (``StoreError``), never mixed with the rest of the dataset."""

    def __init__(self, db: Connection, columns: list[str]) -> None:
        self.origin, self.path, self.columns = db, db.path, columns
        self.schema = db.query(f"SELECT {', '.join(columns)} FROM revenue LIMIT 0").schema
        self.stamp = _ledger_stamp(db)
        self.rows: pl.DataFrame | None = None

    def frame(self) -> pl.LazyFrame:
        from polars.io.plugins import register_io_source

        return register_io_source(self._source, schema=self.schema, is_pure=True)

    def _source(self, with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None,
                batch_size: int | None) -> Iterator[pl.DataFrame]:
        rows = self.read()
        if predicate is not None:
            rows = rows.filter(predicate)
        if with_columns is not None:
            rows = rows.select(with_columns)
        yield rows if n_rows is None else rows.head(n_rows)

    def read(self) -> pl.DataFrame:
        """Every column of the ledger the dataset names (once; the same frame after)."""
        if self.rows is None:
            try:
                self.rows = self._read_from(self.origin)
            except duckdb.ConnectionException:  # the dataset's connection is closed
                with Connection(self.path, read_only=True) as db:
                    self.rows = self._read_from(db)
        return self.rows

    def _read_from(self, db: Connection) -> pl.DataFrame:
        if _ledger_stamp(db) != self.stamp:
            raise StoreError(
                f"the revenue ledger in {self.path} changed after these figures' data were read (an import, undo or "
                "currency change since): read the data again for figures that need the ledger's rows")
        return db.query(f"SELECT {', '.join(self.columns)} FROM revenue")


def _ledger_stamp(db: Connection) -> tuple[Any, ...]:
    """What identifies the ledger in force: its active imports, and the row count and revenue total of its
    summary (remade in the transaction of every change to the ledger, a currency change among them)."""
    imports = db.one("SELECT list(import_id ORDER BY import_id) FROM imports WHERE kind = 'revenue' "
                     "AND status = 'active'")
    state = db.one("SELECT s.ledger_end, s.ledger_rows, (SELECT sum(revenue_total) FROM summary_customers) "
                   "FROM summary_state s")
    return (tuple(imports[0] or ()) if imports else (), *(state or ()))


def dataset_columns(db: Connection) -> dict[str, list[str]]:
    """The storage columns ``dataset`` reads, per kind.

    A column that is NULL in every row (a ledger without channel or currency) is left out:
    the core sees it as nulls all the same, without a column of them in memory. So is the
    revenue rows' file order when no revenue row names a channel or segment: it only decides
    which row's channel or segment is a customer's first.
    """
    out: dict[str, list[str]] = {}
    for kind in DATA_KINDS:
        # A read-only store may hold an older schema (only a writer migrates it): read the
        # columns its view has; a newer one is nulls to the core, as on a file without it.
        present = set(db.query(f"SELECT * FROM {kind} LIMIT 0").columns)
        # The amounts as written and the rate of a converted row are for audit, not for the metrics.
        names = [n for n in STORAGE_SCHEMAS[kind] if n in present and n not in FX_COLUMNS.get(kind, ())]
        counts = db.one(f"SELECT {', '.join(f'count({n})' for n in names)} FROM {kind}") or ()
        used = [n for n, count in zip(names, counts, strict=True) if count]
        if kind == "revenue" and not {"channel", "segment"} & set(used):
            used = [n for n in used if n != "source_row"]
        out[kind] = used
    return out


def channels(db: Connection) -> list[str]:
    """Every channel named by a row in force, of any kind, as first written (case and spacing aside)."""
    parts = " UNION ALL ".join(f"SELECT channel FROM {kind}" for kind in KINDS if "channel" in STORAGE_SCHEMAS[kind])
    return [name for (name,) in db.rows(
        f"SELECT min(channel) FROM ({parts}) WHERE channel IS NOT NULL "
        "GROUP BY lower(regexp_replace(trim(channel), '\\s+', ' ', 'g')) ORDER BY 1")]


def totals(db: Connection) -> dict[str, dict[str, Any]]:
    """Rows and measure in force per kind: the store's own checksum."""
    out: dict[str, dict[str, Any]] = {}
    present = {name for (name,) in db.rows("SELECT view_name FROM duckdb_views() WHERE NOT internal")}
    for kind in KINDS:
        if kind not in present:  # a read-only open of a file older than the kind
            out[kind] = {"rows": 0, "total": Decimal(0)}
            continue
        measure = measure_sql(kind)
        count, total = db.one(f"SELECT count(*), {measure} FROM {kind}")  # type: ignore[misc]
        out[kind] = {"rows": int(count), "total": Decimal(total)}
    return out


def snapshot(db: Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's full content, sorted: for proving that something changed nothing."""
    tables = ["imports", "settings", "changes", "scenarios", "scenario_lines", "fx_rates", "gl_accounts",
              *[f"{k}_rows" for k in KINDS]]
    present = {name for (name,) in db.rows("SELECT table_name FROM duckdb_tables()")}  # an older file: fewer
    return {t: db.rows(f"SELECT * FROM {t} ORDER BY ALL") for t in tables
            if t in present or t not in ("fx_rates", "gl_accounts", "gl_rows")}
