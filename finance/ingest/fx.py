"""Read an exchange-rates file: the ECB's reference rates, or a long ``date,currency,rate`` file.

Nothing is written here: ``read_rates`` returns every rate it read and every problem found, and the
store writes the rates only when there is no problem (``finance.store.fx``).

- The ECB's file (``eurofxref-hist.csv``, ``eurofxref.csv``): a header ``Date,USD,JPY,BGN,...`` with one
  row per business day, each cell the units of that currency per 1 euro; ``N/A`` (or blank) where the
  currency had no rate that day; the trailing empty column the ECB writes is ignored.
- A long file: columns ``date``, ``currency``, ``rate`` and optionally ``base``; the rate is the units of
  ``currency`` per 1 unit of ``base`` (the column, else the base given: ``--base CODE``).
Dates are ISO (``2025-03-31``, or the ECB's daily file's ``31 March 2025``); rates are plain decimals with
a point (``1.0876``), kept exactly.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from finance.domain.fx import ISO_CURRENCIES, RATE_PRECISION, RATE_SCALE, STALE_DAYS, RateTable, converted
from finance.domain.money import MONEY_DTYPE
from finance.domain.periods import period_label
from finance.domain.problems import Problem, problem
from finance.ingest.prepare import FX_RATE_DTYPE

ECB_BASE = "EUR"
_NO_RATE = {"", "N/A", "NA", "#N/A", "-"}
_RATE = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_LISTED = 200
"""Problems listed one by one per code; the rest are counted in one line."""


@dataclass
class PreparedRates:
    """A rates file read: (day, base, currency, rate) rows and every problem found."""

    file_name: str
    sha256: str
    layout: str  # "ecb" | "long"
    rows: list[tuple[date, str, str, Decimal]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def currencies(self) -> list[str]:
        return sorted({c for _, _, c, _ in self.rows})

    def bases(self) -> list[str]:
        return sorted({b for _, b, _, _ in self.rows})


class _Problems:
    def __init__(self) -> None:
        self.listed: list[Problem] = []
        self.more: dict[str, int] = {}

    def add(self, p: Problem) -> None:
        if sum(1 for q in self.listed if q.code == p.code) < _LISTED:
            self.listed.append(p)
        else:
            self.more[p.code] = self.more.get(p.code, 0) + 1

    def finish(self) -> list[Problem]:
        return [*self.listed, *(problem(code, f"{n:,} more rows have this problem", count=n)
                                for code, n in self.more.items())]


def _code(text: str) -> str:
    return text.strip().upper()


def _rate(text: str, row: int, column: str, out: _Problems) -> Decimal | None:
    """A rate cell: None for N/A or blank (no rate that day) and for a bad value (a problem)."""
    cell = text.strip()
    if cell.upper() in _NO_RATE:
        return None
    whole, _, decimals = cell.partition(".")
    if (not _RATE.match(cell) or len(decimals) > RATE_SCALE or len(whole.lstrip("0")) > RATE_PRECISION - RATE_SCALE
            or Decimal(cell) == 0):
        out.add(problem("invalid_rate", f"{cell[:80]!r} is not a rate: expected a number above 0 with a decimal "
                        f"point and at most {RATE_SCALE} decimal places (such as 1.0876), or N/A",
                        row=row, column=column, value=cell[:200]))
        return None
    return Decimal(cell)


def _day(text: str, row: int, column: str, out: _Problems) -> date | None:
    """An ISO date, or the ECB's daily file's ``04 December 2025``."""
    cell = text.strip()
    try:
        return date.fromisoformat(cell)
    except ValueError:
        pass
    try:
        return datetime.strptime(cell, "%d %B %Y").date()
    except ValueError:
        out.add(problem("invalid_date", f"{cell[:80]!r} is not a date: a rates file writes ISO dates such as "
                        "2025-03-31 (or the ECB's 31 March 2025)", row=row, column=column, value=cell[:200]))
        return None


def read_rates(path: Path, base: str | None = None, display_name: str | None = None) -> PreparedRates:
    """Read ``path`` (the ECB's layout or a long one, told apart by the header); ``base`` is the base of a
    long file without a ``base`` column."""
    name = display_name or path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        return PreparedRates(name, "", "", problems=[problem("file_not_found", f"cannot read {name}: {exc}")])
    digest = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return PreparedRates(name, digest, "", problems=[problem(
            "not_text", "a rates file is UTF-8 (or ASCII) text, as the ECB writes it")])
    records = [r for r in csv.reader(text.splitlines()) if any(cell.strip() for cell in r)]
    if len(records) < 2:
        return PreparedRates(name, digest, "", problems=[problem(
            "no_data_rows", "a rates file has a header row and at least one row of rates", row=1)])
    header = [cell.strip() for cell in records[0]]
    folded = [h.lower() for h in header]
    out = _Problems()
    base_code = _code(base) if base else None
    if base_code is not None and base_code not in ISO_CURRENCIES:
        out.add(problem("invalid_currency", f"the base {base!r} is not an ISO 4217 currency code", value=base))
    if folded and folded[0] == "date" and "currency" not in folded:
        prepared = _ecb(name, digest, header, records[1:], out)
        if base_code not in (None, ECB_BASE):
            out.add(problem("invalid_currency", f"the ECB's layout gives rates per 1 EUR, not per 1 {base_code}",
                            value=base))
    elif {"date", "currency", "rate"} <= set(folded):
        prepared = _long(name, digest, folded, records[1:], base_code, out)
    else:
        out.add(problem("missing_column", "a rates file is the ECB's (Date,USD,JPY,...) or has the columns "
                        "date,currency,rate (and base, or --base CODE)", row=1))
        prepared = PreparedRates(name, digest, "")
    prepared.problems = out.finish()
    if prepared.ok and not prepared.rows:
        prepared.problems = [problem("no_data_rows", "the file holds no rate (every cell is N/A or blank)", row=2)]
    return prepared


def _ecb(name: str, digest: str, header: list[str], records: list[list[str]], out: _Problems) -> PreparedRates:
    prepared = PreparedRates(name, digest, "ecb")
    columns: list[tuple[int, str]] = []
    for index, cell in enumerate(header[1:], start=1):
        if not cell:
            continue  # the ECB's trailing empty column
        code = _code(cell)
        if code not in ISO_CURRENCIES:
            out.add(problem("invalid_currency", f"the column {cell[:80]!r} is not an ISO 4217 currency code",
                            row=1, column=cell[:80], value=cell[:200]))
            continue
        columns.append((index, code))
    seen: dict[tuple[date, str], tuple[int, Decimal]] = {}
    for number, record in enumerate(records, start=2):
        day = _day(record[0] if record else "", number, header[0], out)
        for index, code in columns:
            rate = _rate(record[index] if index < len(record) else "", number, header[index], out)
            if day is None or rate is None:
                continue
            _keep(prepared, seen, day, ECB_BASE, code, rate, number, header[index], out)
    return prepared


def _long(name: str, digest: str, folded: list[str], records: list[list[str]], base: str | None,
          out: _Problems) -> PreparedRates:
    prepared = PreparedRates(name, digest, "long")
    where: dict[str, int] = {column: folded.index(column) for column in ("date", "currency", "rate", "base")
                             if column in folded}
    if "base" not in where and base is None:
        out.add(problem("missing_column", "a long rates file says what each rate is per: a base column, or "
                        "--base CODE (the rate is units of currency per 1 unit of base)", row=1, column="base"))
        return prepared
    seen: dict[tuple[date, str], tuple[int, Decimal]] = {}

    def cell(record: list[str], column: str) -> str:
        index = where[column]
        return record[index] if index < len(record) else ""

    for number, record in enumerate(records, start=2):
        day = _day(cell(record, "date"), number, "date", out)
        codes = {}
        for column in ("currency", "base"):
            if column not in where:
                continue
            code = _code(cell(record, column))
            if code not in ISO_CURRENCIES:
                out.add(problem("invalid_currency", f"{code[:80]!r} is not an ISO 4217 currency code", row=number,
                                column=column, value=code[:200]))
                code = ""
            codes[column] = code
        row_base = codes.get("base", base or "")
        rate = _rate(cell(record, "rate"), number, "rate", out)
        if day is None or rate is None or not codes["currency"] or not row_base:
            continue
        if codes["currency"] == row_base:
            if rate != 1:
                out.add(problem("invalid_rate", f"a currency is worth 1 of itself, not {rate}", row=number,
                                column="rate", value=str(rate)))
            continue
        _keep(prepared, seen, day, row_base, codes["currency"], rate, number, "rate", out)
    return prepared


def _keep(prepared: PreparedRates, seen: dict[tuple[date, str], tuple[int, Decimal]], day: date, base: str,
          currency: str, rate: Decimal, row: int, column: str, out: _Problems) -> None:
    """Keep a rate once; the same date and currency again is an error unless it is the same rate."""
    key = (day, f"{base}/{currency}")
    before = seen.get(key)
    if before is not None:
        if before[1] != rate:
            out.add(problem("duplicate_rate", f"{currency} per {base} on {day} is {rate} here and {before[1]} in "
                            f"row {before[0]}", row=row, column=column, value=str(rate)))
        return
    seen[key] = (row, rate)
    prepared.rows.append((day, base, currency, rate))


# conversion ----------------------------------------------------------------------------------------------
@dataclass
class Conversion:
    """Rows of one kind converted to the reporting currency, or the problems that stop it."""

    rows: pl.DataFrame
    problems: list[Problem] = field(default_factory=list)
    converted: dict[str, int] = field(default_factory=dict)
    """Original currency -> rows converted from it."""
    originals: dict[str, Decimal] = field(default_factory=dict)
    """Original currency -> the measure of those rows as written (before conversion)."""


MONEY_COLUMNS = {"spend": ("amount",), "revenue": ("revenue", "cost", "gross_margin"), "gl": ("amount",)}
PERIOD_KINDS = ("spend", "gl")
"""Kinds whose rows cover a period (converted at its average rate); the others' rows are dated (their day's rate)."""


def convert_rows(kind: str, rows: pl.DataFrame, reporting: str, rates: RateTable, file_name: str = "") -> Conversion:
    """Convert every row whose ``currency`` is not ``reporting``, exactly (``finance.domain.fx``).

    A spend or general-ledger row (``period_start``..``period_end``) at its period's average rate, a revenue row at its
    ``date``'s rate. A converted row keeps its amounts as written (``original_*``), its currency
    (``original_currency``) and the rate used (``fx_rate``); its ``currency`` becomes ``reporting``. Rows in
    the reporting currency, or naming none, are left as they are. A missing rate is one problem per
    currency and period (or day), naming its first row and counting the rest, and nothing is converted.
    """
    if kind not in MONEY_COLUMNS or rows.is_empty() or "currency" not in rows.columns:
        return Conversion(rows)
    money = [c for c in MONEY_COLUMNS[kind] if c in rows.columns]
    keys = ["period_start", "period_end"] if kind in PERIOD_KINDS else ["date"]
    foreign = pl.col("currency").is_not_null() & (pl.col("currency") != reporting)
    wanted = rows.lazy().filter(foreign).group_by("currency", *keys).agg(
        first=pl.col("source_row").min(), rows=pl.len()).sort("currency", *keys).collect()
    if wanted.is_empty():
        return Conversion(rows)
    found: list[tuple[Any, ...]] = []
    problems: list[Problem] = []
    for record in wanted.iter_rows(named=True):
        currency = record["currency"]
        if kind in PERIOD_KINDS:
            start, end = record["period_start"], record["period_end"]
            rate = rates.average(currency, reporting, start, end)
            when = f"{period_label(start, end)} ({start} to {end}; a period converts at the average of its daily rates)"
        else:
            start = end = record["date"]
            rate = rates.on(currency, reporting, start)
            when = f"{start} (a dated amount converts at its day's rate, or the latest up to {STALE_DAYS} days before)"
        if rate is None:
            if len(problems) < _LISTED:
                more = f" and {record['rows'] - 1:,} more rows" if record["rows"] > 1 else ""
                problems.append(problem(
                    "fx_rate_missing", f"no exchange rate from {currency} to {reporting} for {when}, needed by row "
                    f"{record['first']}{more}{_coverage(rates, currency, reporting)}; import exchange rates "
                    "covering it", row=record["first"], column=money[0], value=currency,
                    count=record["rows"]))
            continue
        found.append((currency, *[record[k] for k in keys], rate.value))
    if problems:
        return Conversion(rows, problems)
    schema: dict[str, pl.DataType] = {"currency": pl.String(), **{k: rows.schema[k] for k in keys},
                                      "fx_rate": FX_RATE_DTYPE}
    table = pl.DataFrame(found, schema=schema, orient="row")
    joined = rows.drop([c for c in ("fx_rate",) if c in rows.columns]).join(
        table, on=["currency", *keys], how="left", maintain_order="left")
    at = joined.get_column("fx_rate").is_not_null().arg_true()
    rate_values = joined.get_column("fx_rate").gather(at).to_list()
    # ``scatter`` writes into the series it is called on: each starts from a copy of its own.
    columns: dict[str, pl.Series] = {}
    for column in money:
        written = joined.get_column(column).gather(at).to_list()
        exact = [None if a is None else converted(a, r, reporting) for a, r in zip(written, rate_values, strict=True)]
        columns[column] = joined.get_column(column).clone().scatter(at, pl.Series(exact, dtype=MONEY_DTYPE))
        columns[f"original_{column}"] = pl.Series([None] * joined.height, dtype=MONEY_DTYPE).scatter(
            at, pl.Series(written, dtype=MONEY_DTYPE))
    originals = joined.get_column("currency").gather(at)
    columns["original_currency"] = pl.Series([None] * joined.height, dtype=pl.String).scatter(at, originals)
    columns["currency"] = joined.get_column("currency").clone().scatter(
        at, pl.Series([reporting] * at.len(), dtype=pl.String))
    out = joined.with_columns(**columns)
    counted = out.lazy().filter(pl.col("fx_rate").is_not_null()).group_by("original_currency").agg(
        rows=pl.len(), total=pl.col(f"original_{money[0]}").sum()).collect()
    return Conversion(out, [], {c: int(n) for c, n, _ in counted.iter_rows()},
                      {c: Decimal(t) for c, _, t in counted.iter_rows()})


def _coverage(rates: RateTable, currency: str, reporting: str) -> str:
    """What the stored rates cover, for a missing-rate message."""
    spans = [f"{c} from {s} to {e}" for c in (currency, reporting) if (span := rates.span(c)) for s, e in [span]]
    return f" (the rates stored give {', '.join(spans)})" if spans else " (no rate is stored for it)"
