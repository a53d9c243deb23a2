"""Turn an export file into validated, normalised rows of one kind, or a full problem report.

``prepare`` never writes anything: it reads the file, maps headers and labels, parses every
cell and collects every problem. The store writes a prepared import only when it has no
errors, so a bad file changes nothing.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from finance.domain.fx import ISO_CURRENCIES, RATE_PRECISION, RATE_SCALE
from finance.domain.literal import FORMULA_TRIGGERS
from finance.domain.money import (
    CURRENCY_CODES,
    CURRENCY_SIGN_PATTERN,
    CURRENCY_SIGNS,
    MONEY_DTYPE,
    amount_currencies,
    ascii_digits,
    parse_count,
    parse_money,
    read_both_marks,
)
from finance.domain.money import money_text as money_text  # the store imports it from here
from finance.domain.periods import (
    TIME_SUFFIX_PATTERN,
    ParsedDate,
    ParseFailure,
    Period,
    months_covered,
    parse_date,
    parse_period,
    period_label,
)
from finance.domain.problems import Problem, problem
from finance.domain.schema import (
    BILLING_INTERVAL_LOOKUP,
    BILLING_INTERVALS,
    CATEGORY_LOOKUP,
    DEFAULT_CURRENCY,
    MAX_CELL_CHARS,
    SEGMENT_LOOKUP,
    FileKind,
    Kind,
    category_of,
    channel_name_key,
    file_kind,
    normalise_header,
    normalise_interval,
    normalise_label,
)
from finance.ingest import presets
from finance.ingest.csvfile import RAGGED_LISTED, Batch, NotUtf8, ReadFailure, ragged_problems
from finance.ingest.reader import open_export
from finance.ingest.sources import category_label, suggest_category, suggest_columns

PROBLEMS_PER_KIND = 200
"""Rows listed one by one for each (problem, column); the rest are counted in one line."""
HEADER_PROBLEMS_LISTED = 20
"""Header problems (unknown, unnamed or repeated columns) listed one by one for each code."""
PROBLEM_VALUE_CHARS = 1_000
"""A cell quoted in a problem is cut to this many characters (its length is given)."""
_TOTAL_LABEL = r"(?i)^(grand\s*|sub\s*-?\s*)?totals?(\s*[:\-\u2013]\s*.*)?$"
"""A total line says 'Total', 'Grand total', 'Subtotal' or 'Total: Account' (as ad platforms
write) in a key cell: the period, date, category, channel or customer; or in any cell at all
when the line has no period and no date (a ledger export's ``,,,,Total,"$2,903,962.99"``).
A vendor called 'Total' on a dated line is data."""
_KEY_TYPES = ("period", "date", "category")
_CONTROL_CHARS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
"""Control characters (Unicode ``Cc``) except tab, line feed and carriage return, which text may hold."""
_CONTROL_CHARS_CLASS = f"[{_CONTROL_CHARS}]"
_CONTROL = re.compile(_CONTROL_CHARS_CLASS)
_CONTROL_CODES = (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0))
_ASTRAL = r"[\x{10000}-\x{10FFFF}]"
"""Characters beyond the Basic Multilingual Plane: two UTF-16 units each, as Excel counts them."""
_CONTROL_NAMES = {"\x00": "NUL", "\x07": "BEL", "\x08": "backspace", "\x1b": "ESC (escape)", "\x7f": "DEL",
                  "\x9b": "CSI"}
_TIME_OF_DAY = re.compile(r"[T ]([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]+)?)?\s*([AaPp][Mm])?\s*"
                          r"(?:Z|[+-]([0-9]{2}):?([0-9]{2})|UTC)?$")
"""A time of day after a date, as ``periods`` strips it (there with ``\\d``), its parts captured."""
_HEADER_CURRENCY = re.compile(rf"^(.*?)[\s_]*[\(\[\uff08\uff3b]?\s*([A-Za-z]{{3}}|{CURRENCY_SIGN_PATTERN})"
                              r"\s*[\)\]\uff09\uff3d]?$")
"""A money header with its currency: ``Amount (USD)``, ``Cost [USD]``, ``Montant (€)``, ``金額(円)`` (parentheses
and brackets fullwidth too, as Japanese headers write them)."""


class OptionsError(ValueError):
    """The import options themselves are wrong (an unknown mapping target, a bad month)."""


@dataclass(frozen=True)
class ImportOptions:
    """How to read an export whose layout or conventions differ from the contract."""

    column_map: Mapping[str, str] = field(default_factory=dict)
    """File header -> contract column ("Amount (USD)" is the amount)."""
    category_map: Mapping[str, str] = field(default_factory=dict)
    """Category label -> canonical category key ("6200 Salaries - Marketing" is personnel)."""
    channel_map: Mapping[str, str | None] = field(default_factory=dict)
    """Channel value as written -> the channel it is, or None for a shared cost (spend only)."""
    known_channels: frozenset[str] | None = None
    """The channels already in the store: a value matching none of them is warned about
    (``new_channel``). None (or empty: the first import) warns about none."""
    date_format: str | None = None
    decimal_comma: bool = False
    """True: every amount and count is read with a decimal comma (1.234,56). False: each column's mark is
    the one its values show (``decimal_comma_detected`` says when that is a comma)."""
    fiscal_year_start: int | None = None
    currency: str = DEFAULT_CURRENCY
    """The store's reporting currency: what an amount naming no currency is in, and what an ambiguous sign
    (``$``, ``¥``) is taken for when it can be that."""
    file_currency: str | None = None
    """The currency of every amount in the file that names none by a currency column or a header
    (``--file-currency``); None: such amounts are in the reporting currency."""
    default_category: str | None = None
    """Category for a file with no category column (an ad platform's export) or blank cells."""
    default_channel: str | None = None
    """Channel for a file with no channel column (one platform's export) or blank cells."""
    default_period: str | None = None
    """Period for a file with no period column (a trial balance exported for one period, its period in the
    report's title) or blank cells; read as a period cell is (``2025-Q4``, ``2025-12``)."""
    encoding: str | None = None
    """A text file's encoding as chosen (a name of ``encodings.ENCODINGS``); None detects it."""
    sheet: str | None = None
    """A workbook's sheet to read; None reads its first visible sheet."""
    preset: str | None = None
    """A known export's preset (``presets.PRESETS``) to read the file with; None detects it from the header,
    ``presets.NO_PRESET`` reads the file by the contract alone."""

    def check(self, contract: FileKind) -> None:
        """Raise ``OptionsError`` for a mapping that names no contract column or category."""
        for source, target in self.column_map.items():
            if target not in contract.column_names:
                raise OptionsError(
                    f"the column {source!r} is mapped to {target!r}, which is not a {contract.kind} column; "
                    f"valid: {', '.join(contract.column_names)}")
        for label, key in self.category_map.items():
            if key not in {v for v in CATEGORY_LOOKUP.values()}:
                raise OptionsError(f"category map: {label!r} -> {key!r} is not a category key; "
                                   f"valid: {', '.join(sorted(set(CATEGORY_LOOKUP.values())))}")
        if self.default_category is not None and normalise_label(self.default_category) not in {
                **CATEGORY_LOOKUP, **{normalise_label(k): v for k, v in self.category_map.items()}}:
            raise OptionsError(f"the category for every row, {self.default_category!r}, is not a category; valid: "
                               f"{', '.join(sorted(set(CATEGORY_LOOKUP.values())))}")
        if self.fiscal_year_start is not None and not 1 <= self.fiscal_year_start <= 12:
            raise OptionsError(f"the fiscal year's first month must be a month 1-12, not {self.fiscal_year_start}")
        if (why := presets.check_choice(self.preset, contract.kind)) is not None:
            raise OptionsError(why)
        for name, code in (("reporting currency", self.currency), ("file's currency", self.file_currency)):
            if code is not None and code not in ISO_CURRENCIES:
                raise OptionsError(f"the {name} {code!r} is not an ISO 4217 currency code (such as USD, EUR, JPY)")
        if contract.kind == "gl" and (self.category_map or self.default_category or self.channel_map
                                      or self.default_channel):
            raise OptionsError("a general ledger's rows are accounts, not categories or channels: map its accounts "
                               "to cost categories in the store (python -m finance gl map ACCOUNT CATEGORY, or "
                               "gl map --file account-map.csv), not with --category-map, --category, --channel-map "
                               "or --channel")
        if None in self.channel_map.values() and contract.column("channel").required:
            raise OptionsError(f"a {contract.kind} file has a channel on every row: no value can be a shared cost")


def _map_file(path: Path, what: str, header: tuple[str, str]) -> list[list[str]]:
    """A two-column mapping CSV's rows (header checked and dropped)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise OptionsError(f"cannot read {what} {path}: {exc}") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or [normalise_header(h) for h in rows[0][:2]] != list(header):
        raise OptionsError(f"{path.name}: row 1 must be the header '{','.join(header)}'")
    return rows


def load_channel_map(path: Path) -> dict[str, str | None]:
    """Read a ``value,channel`` CSV: a channel value as written -> its channel (blank: a shared cost)."""
    mapping: dict[str, str | None] = {}
    problems = []
    for number, row in enumerate(_map_file(path, "channel map", ("value", "channel"))[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if not row[0].strip():
            problems.append(f"row {number}: expected 'value,channel' (a blank channel is a shared cost)")
            continue
        channel = " ".join(row[1].split()) if len(row) > 1 else ""
        mapping[row[0].strip()] = channel or None
    if problems:
        raise OptionsError(f"{path.name}: " + "; ".join(problems))
    return mapping


def load_account_map(path: Path, not_spend: str) -> dict[str, str]:
    """Read an ``account,category`` CSV (the general ledger's accounts): an account as the ledger names it -> a
    category key, or ``not_spend`` for an account that is not marketing or sales spend. Every bad line is
    named, by row, column and value, in one ``OptionsError``."""
    rows = _map_file(path, "account map", ("account", "category"))
    mapping: dict[str, str] = {}
    problems = []
    valid = sorted(set(CATEGORY_LOOKUP.values()))
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 2 or not row[0].strip():
            problems.append(f"row {number}: expected 'account,category'")
            continue
        wanted = row[1].strip()
        key = not_spend if wanted.lower() == not_spend else CATEGORY_LOOKUP.get(normalise_label(wanted))
        if key is None:
            problems.append(f"row {number}, column 'category': {wanted!r} is not a category; expected one of "
                            f"{', '.join(valid)}, or {not_spend!r} for an account that is not marketing or sales "
                            "spend")
            continue
        mapping[row[0].strip()] = key
    if problems:
        raise OptionsError(f"{path.name}: " + "; ".join(problems))
    return mapping


def load_category_map(path: Path) -> dict[str, str]:
    """Read a ``label,category`` CSV; every bad line is named in one ``OptionsError``."""
    rows = _map_file(path, "category map", ("label", "category"))
    mapping: dict[str, str] = {}
    problems = []
    valid = set(CATEGORY_LOOKUP.values())
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 2 or not row[0].strip():
            problems.append(f"row {number}: expected 'label,category'")
            continue
        key = CATEGORY_LOOKUP.get(normalise_label(row[1]))
        if key is None or key not in valid:
            problems.append(f"row {number}, column 'category': {row[1]!r} is not a category; "
                            f"valid: {', '.join(sorted(valid))}")
            continue
        mapping[row[0].strip()] = key
    if problems:
        raise OptionsError(f"{path.name}: " + "; ".join(problems))
    return mapping


@dataclass(frozen=True)
class PeriodTotal:
    """Rows and the summed measure of one period of an import."""

    period: str
    start: date
    end: date
    rows: int
    total: Decimal


@dataclass
class PreparedImport:
    """A file read and checked: normalised rows plus every problem found."""

    kind: Kind
    file_name: str
    sha256: str
    rows: pl.DataFrame
    problems: list[Problem]
    encoding: str = ""
    delimiter: str = ""
    channels: dict[str, int] = field(default_factory=dict)
    """Each channel value as written in the file and its rows, before any channel mapping."""

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def months(self) -> list[str]:
        """Every calendar month this import's rows touch (what a replacing import replaces)."""
        start, end = span_columns(self.kind)
        spans = pl.concat([part.select(pl.col(start).alias("start"), pl.col(end).alias("end")).unique()
                           for part in _slices(self.rows)]).unique()
        months: set[str] = set()
        for start, end in spans.iter_rows():
            months.update(months_covered(start, end))
        return sorted(months)

    def period_totals(self) -> list[PeriodTotal]:
        """Rows and measure per period as written (quarters stay quarters; dates by month)."""
        return period_totals(self.kind, self.rows)

    def total(self) -> Decimal:
        return sum((p.total for p in self.period_totals()), Decimal(0))


def measure_expr(kind: Kind) -> pl.Expr:
    """The summed measure of a kind: spend amount, leads, customers or revenue."""
    if kind == "customers":
        return pl.len().cast(pl.Int64)
    return pl.col(file_kind(kind).measure).sum()


def period_totals(kind: Kind, rows: pl.DataFrame) -> list[PeriodTotal]:
    """Totals per period; day-grain dates roll up to their month."""
    if rows.is_empty():
        return []
    contract = file_kind(kind)
    # Each distinct period (or day) once, then its month: a ledger has few distinct days.
    spans = ["period_start", "period_end"] if "period_start" in rows.columns else [contract.period_column]
    rows = pl.concat([part.group_by(spans).agg(rows=pl.len(), total=measure_expr(kind))
                      for part in _slices(rows)])
    if "period_start" in rows.columns:
        keyed = rows.with_columns(
            start=pl.when(pl.col("period_start") == pl.col("period_end"))
            .then(pl.col("period_start").dt.month_start()).otherwise(pl.col("period_start")),
            end=pl.when(pl.col("period_start") == pl.col("period_end"))
            .then(pl.col("period_end").dt.month_end()).otherwise(pl.col("period_end")),
        )
    else:
        day = pl.col(contract.period_column)
        keyed = rows.with_columns(start=day.dt.month_start(), end=day.dt.month_end())
    grouped = keyed.group_by("start", "end").agg(rows=pl.col("rows").sum(), total=pl.col("total").sum()).sort(
        "start", "end")
    out = []
    for start, end, count, total in grouped.iter_rows():
        amount = Decimal(total) if total is not None else Decimal(0)
        out.append(PeriodTotal(period_label(start, end), start, end, count, amount))
    return out


def _slices(rows: pl.DataFrame, size: int = 1_000_000) -> list[pl.DataFrame]:
    """A large import's rows in slices, so a summary over them never copies them all at once."""
    return list(rows.iter_slices(size)) if rows.height > size else [rows]


class _Collector:
    """Accumulates problems, listing the first rows of each (problem, column) and counting the rest.

    Rows arrive block by block: the listing limit and the count of the rest span the whole file,
    and each count follows the last listed row of its kind. A value quoted back is cut to
    ``PROBLEM_VALUE_CHARS``, so a report holds a bounded amount of the file.
    """

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self._listed: dict[tuple[str, str | None], int] = {}
        self._more: dict[tuple[str, str | None], int] = {}
        self._tallies: dict[tuple[str, str | None], tuple[int, int, str | None, int]] = {}
        """(code, column) -> (index of its place in ``problems``, first row, its value, rows)."""

    def add(self, p: Problem) -> None:
        self.problems.append(p)

    def listed(self, p: Problem) -> None:
        """Add ``p`` if fewer than the listing limit of its (problem, column) are listed, else count it."""
        key = (p.code, p.column)
        if self._listed.get(key, 0) < PROBLEMS_PER_KIND:
            self._listed[key] = self._listed.get(key, 0) + 1
            self.add(p)
        else:
            self._more[key] = self._more.get(key, 0) + 1

    def rows(self, frame: pl.DataFrame, mask: pl.Expr, code: str, column: str | None,
             value_column: str | None, message: str | pl.Expr) -> None:
        """One problem per row where ``mask`` holds, up to the listing limit."""
        key = (code, column)
        room = PROBLEMS_PER_KIND - self._listed.get(key, 0)
        hit = frame.lazy().filter(mask)
        if room > 0:
            message_expr = message if isinstance(message, pl.Expr) else pl.lit(message)
            listed = hit.select(
                pl.col("row"),
                _shown(pl.col(value_column).cast(pl.String)) if value_column else pl.lit(None, pl.String),
                message_expr.alias("__message"),
            ).head(room + 1).collect()
            for row, value, text in listed.head(room).iter_rows():
                self.add(problem(code, text, row=row, column=column, value=value))
            self._listed[key] = self._listed.get(key, 0) + min(room, listed.height)
            if listed.height <= room:
                return
        rest = hit.select(pl.len()).collect().item() - max(room, 0)
        if rest:
            self._more[key] = self._more.get(key, 0) + rest

    def tally(self, frame: pl.DataFrame, mask: pl.Expr, code: str, column: str, value_column: str) -> None:
        """Count the rows where ``mask`` holds: one problem for the whole file, at the first of them."""
        hit = frame.lazy().filter(mask).select("row", _shown(pl.col(value_column).cast(pl.String)))
        first = hit.head(1).collect()
        if first.is_empty():
            return
        count = hit.select(pl.len()).collect().item()
        key = (code, column)
        if key in self._tallies:
            index, row, value, before = self._tallies[key]
            self._tallies[key] = (index, row, value, before + count)
        else:
            row, value = first.row(0)
            self._tallies[key] = (len(self.problems), row, value, count)
            self.add(problem(code, row=row, column=column, value=value))  # its place; filled in by finish

    def finish(self) -> list[Problem]:
        """Every problem, each "more rows" count right after the last listed row of its kind."""
        for (code, column), (index, row, value, count) in self._tallies.items():
            self.problems[index] = problem(code, _TALLY_MESSAGES[code].format(
                rows=f"{count:,} row{'s' if count > 1 else ''}", first=row), row=row, column=column,
                value=value, count=count)
        last = {(p.code, p.column): index for index, p in enumerate(self.problems)}
        after: dict[int, list[Problem]] = {}
        for (code, column), rest in self._more.items():
            after.setdefault(last.get((code, column), len(self.problems) - 1), []).append(problem(
                code, f"{rest:,} more rows in this column have this problem", column=column, count=rest))
        out: list[Problem] = []
        for index, p in enumerate(self.problems):
            out.append(p)
            out.extend(after.get(index, []))
        out.extend(after.get(-1, []))
        return out


_TALLY_MESSAGES = {
    "decimal_comma_detected": "{rows} of this column only read with a decimal comma (1.234,56 is 1234.56, "
                              "1.234 is 1234), the first in row {first}: the whole column is read with decimal "
                              "commas",
    "non_ascii_digits": "digits of another script (such as fullwidth or Arabic-Indic) were read as 0-9 in "
                        "{rows} of this column, the first in row {first}",
}


def _shown(text: pl.Expr) -> pl.Expr:
    """A cell as quoted in a problem: whole, or its opening and its length when it is very long."""
    return pl.when(text.str.len_chars() > PROBLEM_VALUE_CHARS).then(pl.format(
        "{}... ({} characters)", text.str.slice(0, PROBLEM_VALUE_CHARS), text.str.len_chars())).otherwise(text)


def _clip(text: str) -> str:
    """``_shown`` for one text."""
    return text if len(text) <= PROBLEM_VALUE_CHARS else f"{text[:PROBLEM_VALUE_CHARS]}... ({len(text)} characters)"


def _control_name(char: str) -> str:
    """How a control character is named in a problem: ``U+001B ESC (escape)``."""
    name = _CONTROL_NAMES.get(char)
    return f"U+{ord(char):04X}" + (f" {name}" if name else "")


def _time_problem(text: str) -> str | None:
    """Why the time of day after a date is no time (``2025-03-31T25:99:99Z``), or None.

    The time is dropped (a row belongs to its date), but an impossible one says the cell is not
    what it seems, so it is not taken as its date.
    """
    match = _TIME_OF_DAY.search(text.strip())
    if match is None:
        return None
    hour, minute, second, half_day, offset_hours, offset_minutes = match.groups()
    if half_day is not None and int(hour) > 12:
        return f"hour {hour} is not on a 12-hour clock ({half_day.upper()})"
    if int(hour) > 23:
        return f"hour {hour} is past 23"
    if int(minute) > 59:
        return f"minute {minute} is past 59"
    if second is not None and int(second) > 60:  # 60: a leap second
        return f"second {second} is past 59"
    if offset_hours is not None and (int(offset_hours) > 23 or int(offset_minutes) > 59):
        return f"the time-zone offset {offset_hours}:{offset_minutes} is no offset"
    return None


def _cap_listing(problems: list[Problem], limit: int, noun: str) -> list[Problem]:
    """The first ``limit`` problems of each code, then one line counting the rest of that code."""
    out: list[Problem] = []
    seen: dict[str, int] = {}
    rest: dict[str, int] = {}
    last: dict[str, int] = {}
    for p in problems:
        seen[p.code] = seen.get(p.code, 0) + 1
        if seen[p.code] <= limit:
            out.append(p)
            last[p.code] = len(out) - 1
        else:
            rest[p.code] = rest.get(p.code, 0) + 1
    for code in sorted(rest, key=lambda c: last[c], reverse=True):
        listed = out[last[code]]
        out.insert(last[code] + 1, problem(code, f"... and {rest[code]:,} more {noun} like this",
                                           row=listed.row, count=rest[code]))
    return out


@dataclass
class _Columns:
    """Where each contract column sits in the file."""

    source: dict[str, str]  # contract column -> raw cell column (c0, c1, ...)
    header: dict[str, str]  # contract column -> header as written in the file
    blank: dict[str, Problem] = field(default_factory=dict)
    """Cell column -> the problem to report if that unnamed column turns out to hold data."""
    currency: str | None = None
    """The currency the money headers name ("Amount (EUR)"), else ``--file-currency``; None: neither."""


def _header_target(name: str, contract: FileKind, options: ImportOptions,
                   explicit: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The contract column a header names, and the currency it carries: a code ("Amount (USD)") or a
    sign ("Montant (€)", "金額(円)")."""
    folded = normalise_header(name)
    target = options.column_map.get(name) or explicit.get(folded)
    if target is not None:
        return target, None
    target = contract.header_lookup.get(folded)
    match = _HEADER_CURRENCY.match(name.strip())
    if match and (match[2].upper() in CURRENCY_CODES or match[2] in CURRENCY_SIGNS):
        base = contract.header_lookup.get(normalise_header(match[1]))
        if base is not None and contract.column(base).type == "money" and target in (None, base):
            return base, match[2].upper() if match[2].upper() in CURRENCY_CODES else match[2]
    return target, None


def recognised_headers(headers: list[str], contract: FileKind, options: ImportOptions) -> dict[str, str]:
    """Header -> the contract column it names, for each header the contract (or the options' map) knows."""
    explicit = {normalise_header(k): v for k, v in options.column_map.items()}
    named = {name: _header_target(name, contract, options, explicit)[0] for name in headers if name}
    return {name: target for name, target in named.items() if target is not None}


def is_header_for(contract: FileKind, options: ImportOptions) -> Callable[[list[str]], bool]:
    """Recognises the header record: two or more of its cells name contract columns."""
    explicit = {normalise_header(k): v for k, v in options.column_map.items()}

    def is_header(record: list[str]) -> bool:
        named = {_header_target(cell, contract, options, explicit)[0] for cell in record if cell}
        named.discard(None)
        return len(named) >= min(2, len(contract.required))

    return is_header


def _map_headers(headers: list[str], row: int, contract: FileKind, options: ImportOptions,
                 out: _Collector) -> _Columns:
    explicit = {normalise_header(k): v for k, v in options.column_map.items()}
    source: dict[str, str] = {}
    header: dict[str, str] = {}
    blank: dict[str, Problem] = {}
    unknown: list[str] = []
    header_currencies: list[tuple[str, str]] = []
    for index, name in enumerate(headers):
        cell = f"c{index}"
        if control := _CONTROL.search(name):
            out.add(problem("control_character", f"the header holds the control character "
                            f"{_control_name(control[0])}; text may hold tabs and line breaks, no other "
                            "control characters", row=row, column=f"#{index + 1}", value=_clip(name)))
        if not normalise_header(name):
            blank[cell] = problem("blank_header", f"column {index + 1} holds data but has no header",
                                  row=row, column=f"#{index + 1}", value=name)
            out.add(blank[cell])  # kept only if the column holds data (known once every row is read)
            continue
        target, currency = _header_target(name, contract, options, explicit)
        if target is None:
            unknown.append(name)
            out.add(problem("unknown_column", f"{_clip(name)!r} is not part of the {contract.kind} "
                            "contract and is ignored", row=row, column=name, value=_clip(name)))
            continue
        if currency is not None:
            header_currencies.append((name, currency))
        if target in source:
            out.add(problem("duplicate_column",
                            f"{name!r} and {header[target]!r} are both the {target!r} column",
                            row=row, column=name, value=name))
            continue
        source[target] = cell
        header[target] = name
    defaults = {"category": options.default_category, "channel": options.default_channel,
                "period": options.default_period}
    missing = [c for c in contract.required if c not in source and defaults.get(c) is None]
    suggested = suggest_columns(contract, unknown, missing)
    for required in contract.required:
        if required in missing:
            accepted = ", ".join(repr(s) for s in (required, *contract.column(required).synonyms)[:6])
            close = [h for h, c in suggested.items() if c == required]
            hint = f"; {close[0]!r} may be it: map that column to {required!r}" if close else ""
            if required in defaults:
                hint += f" (or give every row one {required})"
            out.add(problem("missing_column",
                            f"no {required!r} column; headers accepted: {accepted}{hint}",
                            row=row, column=required, suggestion=close[0] if close else None))
    return _Columns(source, header, blank, _header_currency(header_currencies, row, options, out))


def _header_currency(named: list[tuple[str, str]], row: int, options: ImportOptions, out: _Collector) -> str | None:
    """The one currency the money headers and ``--file-currency`` give, or None; disagreement is an error."""
    found: list[tuple[str, str]] = []
    for name, sign in named:
        choices = CURRENCY_SIGNS.get(sign, sign).split()
        chosen = choices[0] if len(choices) == 1 else next(
            (c for c in (options.file_currency, options.currency) if c in choices), None)
        if chosen is None:
            out.add(problem("ambiguous_currency", f"the header says {_sign_named(sign)}, which may be "
                            f"{' or '.join(choices)}; give the file's currency or write the code, as "
                            f"'Amount ({choices[0]})'", row=row, column=name, value=name))
            continue
        found.append((name, chosen))
    if options.file_currency is not None:
        found.append(("the file's currency", options.file_currency))
    for name, code in found[1:]:
        if code != found[0][1]:
            out.add(problem("currency_mismatch", f"{name!r} says {code} but {found[0][0]!r} says {found[0][1]}; "
                            "a row's amounts are in one currency", row=row, column=name, value=name))
            return None
    return found[0][1] if found else None


@dataclass
class _Lookup:
    """A column's distinct texts, each parsed once for the whole file."""

    values: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, ParseFailure] = field(default_factory=dict)
    orders: dict[str, str] = field(default_factory=dict)
    ordered_rows: list[pl.DataFrame] = field(default_factory=list)
    """(row, text) of rows whose date read one way only (day or month first), for the mixed-order check."""
    reported: set[str] = field(default_factory=set)
    other_script: set[str] = field(default_factory=set)
    """Texts read after their digits of another script were written as 0-9 (a warning)."""

    def read(self, fresh: list[str]) -> list[tuple[str, str]]:
        """(text, its digits as 0-9) for each new text whose time of day is possible; the rest fail.

        The time itself is kept here (the parsers drop it), so that it is checked first.
        """
        texts, changed = ascii_digits(pl.Series(fresh, dtype=pl.String))
        out = []
        for item, text, other_script in zip(fresh, texts.to_list(), changed.to_list(), strict=True):
            if (why := _time_problem(text)) is not None:
                self.failures[item] = ParseFailure("invalid_time", f"{_clip(item)!r} has no valid time of "
                                                   f"day: {why}; the date is not taken without it")
                continue
            if other_script:
                self.other_script.add(item)
            out.append((item, text))
        return out

    def warn_other_script(self, keyed: pl.DataFrame, header: str, out: _Collector) -> None:
        """One warning for the column: how many rows wrote a date read with digits of another script."""
        read = [text for text in self.other_script if text in self.values]
        if read:
            out.tally(keyed, pl.col("text").is_in(read), "non_ascii_digits", header, "text")

    def new(self, series: pl.Series) -> list[str]:
        """The distinct non-null texts of ``series`` not parsed yet."""
        distinct = series.drop_nulls().unique()
        return [t for t in distinct.to_list() if t not in self.values and t not in self.failures]

    def mapped(self, keyed: pl.DataFrame, column: str, dtype: pl.DataType, name: str) -> pl.Series:
        """Each row's parsed value (null where its text failed)."""
        mapping = pl.DataFrame({column: list(self.values), name: list(self.values.values())},
                               schema={column: pl.String, name: dtype})
        return keyed.select(column).join(mapping, on=column, how="left", maintain_order="left").get_column(name)


def _dates(frame: pl.DataFrame, column: str, header: str, options: ImportOptions,
           out: _Collector, seen: _Lookup) -> pl.Series:
    """Parse a date column: each distinct text once for the whole file, then one join."""
    raw = frame.get_column(column)
    fresh = seen.read(seen.new(raw))
    if fresh:
        stripped = pl.Series([t for _, t in fresh], dtype=pl.String).str.replace(TIME_SUFFIX_PATTERN, "").to_list()
        for (item, _), text in zip(fresh, stripped, strict=True):
            parsed = parse_date(text, options.date_format)
            if isinstance(parsed, ParseFailure) and parsed.code == "invalid_date":
                # A month ("2025-03", a monthly billing export) means its first day.
                span = parse_period(text)
                if isinstance(span, Period) and span.grain == "month":
                    parsed = ParsedDate(span.start)
            if isinstance(parsed, ParsedDate):
                seen.values[item] = parsed.value
                if parsed.order:
                    seen.orders[item] = parsed.order
            else:
                seen.failures[item] = parsed
    # Problems quote the date as written, without a time of day.
    keyed = frame.select("row", pl.col(column).alias("text"))
    _report_failures(keyed, "text", header, seen.failures, out)
    seen.warn_other_script(keyed, header, out)
    if seen.orders:
        ordered = keyed.filter(pl.col("text").is_in(list(seen.orders)))
        if not ordered.is_empty():
            seen.ordered_rows.append(ordered.with_columns(pl.col("text").str.replace(TIME_SUFFIX_PATTERN, "")))
    return seen.mapped(keyed, "text", pl.Date(), "date")


def _mixed_orders(seen: _Lookup, header: str, out: _Collector) -> None:
    """Some dates only read day-first and others only month-first: no single format fits."""
    if len(set(seen.orders.values())) < 2:
        return
    counts = {o: sum(1 for v in seen.orders.values() if v == o) for o in ("dmy", "mdy")}
    minority = min(counts, key=lambda o: counts[o])
    flagged = pl.Series([v for v, o in seen.orders.items() if o == minority], dtype=pl.String).str.replace(
        TIME_SUFFIX_PATTERN, "")
    keyed = pl.concat(seen.ordered_rows).sort("row")
    out.rows(keyed, pl.col("text").is_in(flagged.implode()), "ambiguous_date", header, "text",
             "this column mixes day-first and month-first dates; say which order the file writes")


def _report_failures(keyed: pl.DataFrame, column: str, header: str,
                     failures: Mapping[str, ParseFailure], out: _Collector) -> None:
    if not failures:
        return
    table = pl.DataFrame({
        column: list(failures),
        "__code": [f.code for f in failures.values()],
        "__msg": [f.message for f in failures.values()],
    }, schema={column: pl.String, "__code": pl.String, "__msg": pl.String})
    bad = keyed.join(table, on=column, how="inner").sort("row")
    if bad.is_empty():
        return
    # A date is quoted without its time of day, unless the time is the problem.
    bad = bad.with_columns(pl.when(pl.col("__code") == "invalid_time").then(pl.col(column))
                           .otherwise(pl.col(column).str.replace(TIME_SUFFIX_PATTERN, "")))
    for code in bad.get_column("__code").unique(maintain_order=True).to_list():
        out.rows(bad, pl.col("__code") == code, code, header, column, pl.col("__msg"))


def _periods(frame: pl.DataFrame, column: str, header: str, options: ImportOptions,
             out: _Collector, seen: _Lookup) -> pl.DataFrame:
    for item, text in seen.read(seen.new(frame.get_column(column))):
        parsed = parse_period(text, date_format=options.date_format,
                              fiscal_year_start=options.fiscal_year_start)
        if isinstance(parsed, Period):
            seen.values[item] = parsed
        else:
            seen.failures[item] = parsed
    keyed = frame.select("row", pl.col(column).alias("text"))
    _report_failures(keyed, "text", header, seen.failures, out)
    seen.warn_other_script(keyed, header, out)
    mapping = pl.DataFrame(
        {"text": list(seen.values), "period_start": [p.start for p in seen.values.values()],
         "period_end": [p.end for p in seen.values.values()]},
        schema={"text": pl.String, "period_start": pl.Date, "period_end": pl.Date})
    return keyed.join(mapping, on="text", how="left", maintain_order="left").select(
        "period_start", "period_end")


def _categories(frame: pl.DataFrame, column: str, header: str, options: ImportOptions,
                out: _Collector, seen: _Lookup) -> pl.Series:
    explicit = {normalise_label(k): v for k, v in options.category_map.items()}
    for label in seen.new(frame.get_column(column)):
        folded = normalise_label(label)
        key = explicit.get(folded) or category_of(label)
        if key:
            seen.values[label] = key
            continue
        suggestion = suggest_category(label)
        hint = f"; it looks like {category_label(suggestion)} ({suggestion!r})" if suggestion else ""
        seen.failures[label] = ParseFailure(
            "unknown_category", f"{label!r} is not a cost category{hint}; map it to one of the categories")
    keyed = frame.select("row", pl.col(column).alias("text"))
    _report_failures(keyed, "text", header, seen.failures, out)
    return keyed.get_column("text").replace_strict(seen.values, default=None, return_dtype=pl.String)


def _segments(frame: pl.DataFrame, column: str, header: str, out: _Collector, seen: _Lookup) -> pl.Series:
    for label in sorted(seen.new(frame.get_column(column))):
        match = SEGMENT_LOOKUP.get(normalise_label(label))
        seen.values[label] = match or label
        if match is None:
            first = frame.filter(pl.col(column) == label).get_column("row").min()
            out.listed(problem("unknown_segment", f"{_clip(label)!r} is not a standard segment and is kept "
                               "as its own segment", row=int(first), column=header, value=_clip(label)))  # type: ignore[arg-type]
    return frame.get_column(column).replace_strict(seen.values, default=None, return_dtype=pl.String)


def _intervals(frame: pl.DataFrame, column: str, header: str, out: _Collector, seen: _Lookup) -> pl.Series:
    """Billing intervals as month, quarter, half-year or year; any other text is an error."""
    for label in seen.new(frame.get_column(column)):
        interval = BILLING_INTERVAL_LOOKUP.get(normalise_interval(label))
        if interval is not None:
            seen.values[label] = interval
        else:
            seen.failures[label] = ParseFailure(
                "invalid_billing_interval",
                f"{label!r} is not a billing interval: expected {', '.join(BILLING_INTERVALS)} "
                "(or monthly, quarterly, semi-annual, annual, or the months one payment covers: "
                "1, 3, 6, 12); leave it blank when unknown")
    keyed = frame.select("row", pl.col(column).alias("text"))
    _report_failures(keyed, "text", header, seen.failures, out)
    return keyed.get_column("text").replace_strict(seen.values, default=None, return_dtype=pl.String)


@dataclass
class _Mark:
    """The decimal mark of one number column, decided by the first values that read one way only."""

    comma: bool | None = None
    """True: a decimal comma (1.234,56); False: a decimal point; None: no value has shown it yet."""
    detected: bool = False
    """The column's values showed it (no value alone could: a point read as before)."""
    example: tuple[int, str] | None = None
    """The row and cell that decided it."""

    def decide(self, rows: pl.Series, values: pl.Series, evidence: pl.Series) -> None:
        """Decide from a block's evidence: the mark more cells read only with (a point on a tie), else a
        point where a cell reads both ways (``1,234`` is 1234, as before); else wait for the next block."""
        commas, points = (evidence == "comma").sum(), (evidence == "point").sum()
        shown = "comma" if commas > points else "point" if points else "either"
        first = (evidence == shown).arg_true()
        if not first.len():
            return
        self.comma, self.detected = shown == "comma", shown != "either"
        self.example = (int(rows[first[0]]), str(values[first[0]]))

    def mixed_message(self) -> str:
        mark, other = ("comma", "point") if self.comma else ("point", "comma")
        row, text = self.example or (0, "")
        return (f"this number reads only with a decimal {other}, but the column is read with a decimal {mark} "
                f"(row {row} writes {_clip(text)!r}); write every number of the column one way")


Progress = Callable[[float, str], None]


def prepare(kind: str, path: Path, options: ImportOptions | None = None,
            display_name: str | None = None, progress: Progress | None = None) -> PreparedImport:
    """Read and check an export file of ``kind``; nothing is written anywhere.

    Every problem is collected (file, row, column, value, what was expected). The returned
    rows hold the contract's columns, normalised: dates as ``Date``, money as
    ``Decimal(18, 4)``, counts as ``Int64``, categories as canonical keys. ``progress`` is
    told the fraction done and the step (reading, then each column) for large files.

    The file is read in blocks, so memory holds one block's cells plus the normalised rows.
    """
    report = progress or (lambda fraction, step: None)
    contract = file_kind(kind)
    options = options or ImportOptions()
    options.check(contract)
    name = display_name or Path(path).name
    try:
        return _prepare(contract, Path(path), options, name, report, text=False)
    except NotUtf8:  # a later block is not UTF-8: read the whole file as decoded text instead
        return _prepare(contract, Path(path), options, name, report, text=True)


def _prepare(contract: FileKind, path: Path, options: ImportOptions, name: str, report: Progress, *,
             text: bool) -> PreparedImport:
    report(0.0, "Reading the file")
    is_header = presets.header_test(contract.kind, options.preset, is_header_for(contract, options))
    source = open_export(path, name, is_header, text=text, encoding=options.encoding, sheet=options.sheet)
    if isinstance(source, list):
        return PreparedImport(contract.kind, name, "", pl.DataFrame(), source)
    preset = presets.apply(contract, source.headers, source.header_row, options)
    if isinstance(preset, list):
        return PreparedImport(contract.kind, name, "", pl.DataFrame(), [*source.problems, *preset])
    applied, options = preset or (None, options)
    head = _Collector()
    columns = _map_headers(applied.headers if applied else source.headers, source.header_row, contract, options, head)
    checker = _Checker(contract, options, columns,
                       values=not any(p.code == "missing_column" for p in head.problems))
    parts: list[pl.DataFrame] = []
    ragged: list[tuple[int, int]] = []
    ragged_total = 0
    done = 0
    try:
        for batch in source.batches():
            if applied:  # the preset's rows left out and columns derived, on the cells as read
                batch.cells, batch.ragged = applied.transform(batch.cells, batch.ragged)
            ragged_total += len(batch.ragged)
            ragged.extend(batch.ragged[:max(0, RAGGED_LISTED - len(ragged))])

            def step(share: float, what: str, start: int = done, size: int = batch.size) -> None:
                report(min(0.95, 0.02 + 0.93 * (start + share * size) / max(source.size, 1)), what)

            part = checker.check(batch, step)
            if part is not None and not part.is_empty():
                parts.append(part)
            done += batch.size
    except ReadFailure as failure:
        return PreparedImport(contract.kind, name, "", pl.DataFrame(), failure.problems)
    if not source.records:
        return PreparedImport(contract.kind, name, source.sha256, pl.DataFrame(), [problem(
            "no_data_rows", "the file has a header but no data rows", row=source.header_row + 1)],
            source.encoding, source.delimiter)
    report(0.95, "Checking duplicates and totals")
    rows = checker.finish(parts)
    header_problems = [p for p in head.finish() if p.code != "blank_header" or p in checker.blank_with_data()]
    problems = [*source.problems, *(applied.problems() if applied else []),
                *ragged_problems(ragged, len(source.headers), ragged_total),
                *_cap_listing(header_problems, HEADER_PROBLEMS_LISTED, "columns"),
                *checker.blank_rows_problem(), *checker.out.finish(), *checker.new_channel_problems()]
    report(1.0, "Checked")
    if not checker.values or rows.is_empty():
        if checker.values:
            problems.append(problem("no_data_rows", "the file has no data rows besides blank or total lines",
                                    row=source.header_row + 1))
        return PreparedImport(contract.kind, name, source.sha256, pl.DataFrame(), problems,
                              source.encoding, source.delimiter, checker.channels)
    return PreparedImport(contract.kind, name, source.sha256, rows, problems, source.encoding, source.delimiter,
                          checker.channels)


class _Checker:
    """Checks and normalises a file block by block; what spans blocks is settled in ``finish``."""

    def __init__(self, contract: FileKind, options: ImportOptions, columns: _Columns, *, values: bool) -> None:
        self.contract = contract
        self.options = options
        self.columns = columns
        self.values = values
        """False when a required column is missing: only the structure is checked."""
        self.header = dict(columns.header)
        for column, default in (("category", options.default_category), ("channel", options.default_channel),
                                ("period", options.default_period)):
            if default is not None and column in contract.column_names:
                self.header.setdefault(column, f"--{column}")
        self.out = _Collector()
        self.lookups: dict[str, _Lookup] = {}
        self.marks: dict[str, _Mark] = {}
        """Each number column's decimal mark, once its values have shown it."""
        self.channels: dict[str, int] = {}
        """Each channel value as written (spacing folded) and its rows, before any mapping."""
        self.new_channels: dict[str, tuple[int, int]] = {}
        self.known_channels = {channel_name_key(k) for k in options.known_channels or ()}
        """The store's channels as they match (case and spacing aside), folded once for every block."""
        """Channel (after mapping) the store has never seen -> (first row, rows)."""
        self.blank_count = 0
        self.first_blank: int | None = None
        self.holding_data: set[str] = set()
        self.key_cells = [src for col, src in columns.source.items()
                          if contract.column(col).type in _KEY_TYPES or col in ("channel", "customer_id")]
        self.when_cells = [src for col, src in columns.source.items()
                           if contract.column(col).type in ("period", "date")]
        """The cells that date a line: a line with none of them filled in is no data row."""

    def lookup(self, column: str) -> _Lookup:
        return self.lookups.setdefault(column, _Lookup())

    def blank_with_data(self) -> list[Problem]:
        return [p for cell, p in self.columns.blank.items() if cell in self.holding_data]

    def blank_rows_problem(self) -> list[Problem]:
        if not self.blank_count:
            return []
        return [problem("blank_row_skipped", f"{self.blank_count} blank row(s) skipped",
                        row=self.first_blank, count=self.blank_count)]

    def check(self, batch: Batch, step: Callable[[float, str], None]) -> pl.DataFrame | None:
        """The block's rows, normalised (with ``__hash``, the row's cells hashed), or None."""
        contract, options, out, header = self.contract, self.options, self.out, self.header
        cells = batch.cells
        names = [c for c in cells.columns if c != "row"]
        stripped = cells if batch.trimmed else cells.select("row", *[pl.col(c).str.strip_chars() for c in names])
        for cell in self.columns.blank:
            if cell not in self.holding_data and (stripped.get_column(cell) != "").any():
                self.holding_data.add(cell)
        # Rows with the wrong number of fields are already errors; blank rows are skipped.
        blank = pl.all_horizontal([pl.col(c) == "" for c in names])
        blank_rows = stripped.filter(blank).get_column("row")
        if blank_rows.len():
            self.first_blank = self.first_blank or int(blank_rows[0])
            self.blank_count += blank_rows.len()
        total_line = pl.any_horizontal(
            [pl.col(c).str.contains(_TOTAL_LABEL) for c in self.key_cells] or [pl.lit(False)])
        if self.when_cells:
            undated = pl.all_horizontal([pl.col(c) == "" for c in self.when_cells])
            total_line = total_line | (undated & pl.any_horizontal([pl.col(c).str.contains(_TOTAL_LABEL)
                                                                    for c in names]))
        out.rows(stripped, total_line & ~blank, "total_row_dropped", None, None,
                 "a total line was recognised and not imported")
        keep = ~blank & ~total_line
        if batch.ragged:
            keep = keep & ~pl.col("row").is_in([r for r, _ in batch.ragged])
        frame = stripped.filter(keep).select(
            "row", *[pl.col(src).replace("", None).alias(col) for col, src in self.columns.source.items()])
        if not self.values or frame.is_empty():
            return None
        for column, default in (("category", options.default_category), ("channel", options.default_channel),
                                ("period", options.default_period)):
            if default is not None and column in contract.column_names:
                fill = pl.lit(default, pl.String)
                frame = frame.with_columns(
                    (pl.coalesce(pl.col(column), fill) if column in frame.columns else fill).alias(column))
        for required in contract.required:
            out.rows(frame, pl.col(required).is_null(), "missing_value", header[required], None,
                     f"{required!r} is required")
        if batch.controls or batch.longest is None or batch.longest >= MAX_CELL_CHARS:
            frame = self._unstorable_text(frame, controls=batch.controls)
        result: dict[str, pl.Series] = {"source_row": frame.get_column("row")}
        signs: dict[str, pl.DataFrame] = {}
        present = [c for c in contract.columns if c.name in frame.columns]
        for index, col in enumerate(present):
            step(index / max(len(present), 1), f"Checking the {col.name} column")
            where = header[col.name]
            if col.type == "period":
                spans = _periods(frame, col.name, where, options, out, self.lookup(col.name))
                result["period_start"] = spans.get_column("period_start")
                result["period_end"] = spans.get_column("period_end")
            elif col.type == "date":
                result[col.name] = _dates(frame, col.name, where, options, out, self.lookup(col.name))
            elif col.type == "category":
                result[col.name] = _categories(frame, col.name, where, options, out, self.lookup(col.name))
            elif col.type == "money":
                signs[col.name] = _amount_currencies(frame, col.name, where, options, out)
                result[col.name] = self._numbers(frame, col.name, where, counts=False)
            elif col.type == "count":
                result[col.name] = self._numbers(frame, col.name, where, counts=True)
            elif col.type == "segment":
                result[col.name] = _segments(frame, col.name, where, out, self.lookup(col.name))
            elif col.type == "currency":
                result[col.name] = _currency(frame, col.name, where, options, out)
            elif col.type == "interval":
                result[col.name] = _intervals(frame, col.name, where, out, self.lookup(col.name))
            else:
                values = frame.get_column(col.name)
                if col.name == "channel":
                    values = self._channels(frame, values.str.replace_all(r"\s+", " ").str.strip_chars())
                result[col.name] = values
        step(1.0, "Checking the rows")
        if "currency" in contract.column_names:
            _row_currencies(frame, result, signs, self.columns.currency, header, options, out)
        rows = pl.DataFrame(result)
        rows = _row_checks(contract, frame, rows, header, out)
        rows = rows.select(output_columns(contract.kind, rows.columns))
        _future_dates(rows, contract, header, out)
        # Exact duplicates are found across blocks from each row's cells, hashed.
        # One chunk per column per block: blocks then stack without copying the whole file again.
        return rows.with_columns(__hash=frame.drop("row").hash_rows()).rechunk()

    def _numbers(self, frame: pl.DataFrame, column: str, where: str, *, counts: bool) -> pl.Series:
        """A money or count column read with its decimal mark: the option's, else the one its values show.

        Without the decimal-comma option, the column's first values that read one way only decide
        (``578 539,29`` a comma, ``1,234.56`` a point; ``1,234`` alone stays a thousands comma, as
        before), a warning says when that is a comma, and a value that reads only the other way is
        an error naming the row that decided (a column mixing the two cannot be read safely).
        """
        values = frame.get_column(column)
        parse, message = (parse_count, _count_message) if counts else (parse_money, _money_message)
        if self.options.decimal_comma:
            numbers, codes = parse(values, decimal_comma=True)
            _value_problems(frame, column, codes, where, self.out, message)
            return numbers
        read = read_both_marks(values, counts=counts)
        mark = self.marks.setdefault(column, _Mark())
        if mark.comma is None:
            mark.decide(frame.get_column("row"), values, read.evidence)
        numbers, codes = read.comma if mark.comma else read.point
        if mark.comma is not None:
            other = read.evidence == ("point" if mark.comma else "comma")
            codes = pl.select(pl.when(other).then(pl.lit("mixed_decimal_marks")).otherwise(codes)).to_series()
            numbers = pl.select(pl.when(other).then(None).otherwise(numbers)).to_series()
            if mark.comma and mark.detected:
                keyed = frame.select("row", column).with_columns(evidence=read.evidence)
                self.out.tally(keyed, pl.col("evidence") == "comma", "decimal_comma_detected", where, column)
        _value_problems(frame, column, codes, where, self.out,
                        lambda code: mark.mixed_message() if code == "mixed_decimal_marks" else message(code))
        return numbers.alias(column)

    def _channels(self, frame: pl.DataFrame, values: pl.Series) -> pl.Series:
        """Channel values counted as written, then mapped (to a channel, or to none: a shared cost)."""
        counted = values.drop_nulls().value_counts()
        for value, rows in counted.iter_rows():
            self.channels[value] = self.channels.get(value, 0) + rows
        chosen = {channel_name_key(v): t for v, t in self.options.channel_map.items()}
        mapping = {v: chosen[channel_name_key(v)] for v in counted.get_column(values.name)
                   if channel_name_key(v) in chosen}
        if mapping:
            values = values.replace(mapping)
        known = self.known_channels
        if known:
            firsts = pl.DataFrame({"row": frame.get_column("row"), "channel": values}).drop_nulls().group_by(
                "channel").agg(first=pl.col("row").min(), rows=pl.len())
            for channel, first, rows in firsts.iter_rows():
                if channel_name_key(channel) in known:
                    continue
                before = self.new_channels.get(channel)
                self.new_channels[channel] = (min(first, before[0]), before[1] + rows) if before else (first, rows)
        return values

    def new_channel_problems(self) -> list[Problem]:
        """One warning per channel the store has never seen, at its first row, with its rows counted."""
        column = self.header.get("channel")
        return [problem("new_channel", f"{_clip(channel)!r} is a channel not seen before; if it is a known "
                        "channel written another way, or no channel at all, map it", row=first, column=column,
                        value=_clip(channel), count=rows)
                for channel, (first, rows) in sorted(self.new_channels.items(), key=lambda item: item[1][0])]

    def _unstorable_text(self, frame: pl.DataFrame, *, controls: bool) -> pl.DataFrame:
        """Cells no spreadsheet cell or screen can hold as text, in any column read: an error each.

        Such a cell is then checked no further (its column's own check would only quote it again):
        it is left empty, and the error rejects the file. ``controls=False``: the block holds none.
        """
        columns = [c for c in frame.columns if c != "row"]
        seen = frame.select(
            *[(pl.col(c).str.len_bytes() >= MAX_CELL_CHARS).any().alias(f"long {c}") for c in columns],
            *[pl.col(c).str.contains(_CONTROL_CHARS_CLASS).any().alias(f"control {c}") for c in columns
              if controls],
        ).row(0, named=True) if columns else {}
        refused: list[pl.Expr] = []
        for column in columns:
            text, where = pl.col(column), self.header[column]
            too_long = pl.lit(False)
            if seen[f"long {column}"]:
                # Counted as Excel counts: UTF-16 units, and the apostrophe that keeps text starting
                # with = + - @ from being a formula in an export.
                formula = pl.any_horizontal([text.str.starts_with(t) for t in FORMULA_TRIGGERS])
                units = text.str.len_chars() + text.str.count_matches(_ASTRAL) + formula.cast(pl.Int64)
                too_long = (units > MAX_CELL_CHARS).fill_null(False)
                self.out.rows(frame, too_long, "text_too_long", where, column, pl.format(
                    "this text is {} characters long{}; a spreadsheet cell holds at most {}, so it could "
                    "not be shown or exported whole", units,
                    pl.when(formula).then(pl.lit(" (with the apostrophe an export puts before text "
                                                 "starting with = + - @)")).otherwise(pl.lit("")),
                    pl.lit(f"{MAX_CELL_CHARS:,}")))
                refused.append(too_long)
            if seen.get(f"control {column}"):
                control = text.str.contains(_CONTROL_CHARS_CLASS).fill_null(False) & ~too_long
                self.out.rows(frame, control, "control_character", where, column, pl.format(
                    "the text holds the control character {}; text may hold tabs and line breaks, no "
                    "other control characters", text.str.extract(f"({_CONTROL_CHARS_CLASS})", 1).replace_strict(
                        {chr(c): _control_name(chr(c)) for c in _CONTROL_CODES}, default="?", return_dtype=pl.String)))
                refused.append(control)
        if not refused:
            return frame
        bad = pl.any_horizontal(refused)
        return frame.with_columns(pl.when(bad).then(None).otherwise(pl.col(c)).alias(c) for c in columns)

    def finish(self, parts: list[pl.DataFrame]) -> pl.DataFrame:
        """The whole file's rows, after the checks that need every row at once."""
        for column, seen in self.lookups.items():
            if seen.ordered_rows:
                _mixed_orders(seen, self.header[column], self.out)
        if not parts:
            return pl.DataFrame()
        rows = pl.concat(parts, rechunk=False)
        hashes = rows.get_column("__hash")
        rows = rows.drop("__hash")
        if self.contract.kind == "customers":
            return _customer_repeats(rows, self.header, self.out)
        repeated = hashes.is_duplicated() if hashes.n_unique() < hashes.len() else None
        if repeated is not None:
            # Rows with the same hash and the same normalised values are exact duplicates (the
            # values follow from the cells; the hash tells apart cells that normalise alike).
            candidates = rows.filter(repeated)
            keys = [c for c in candidates.columns if c != "source_row"]
            firsts = candidates.with_columns(__hash=hashes.filter(repeated)).group_by(
                [*keys, "__hash"]).agg(first=pl.col("source_row").min(), rows=pl.col("source_row"))
            repeats = firsts.explode("rows").filter(pl.col("rows") != pl.col("first")).sort("rows")
            self.out.rows(repeats.rename({"rows": "row"}), pl.lit(True), "duplicate_row", None, None,
                          pl.format("exact duplicate of row {}; both are kept", pl.col("first")))
        return rows


FX_RATE_DTYPE = pl.Decimal(RATE_PRECISION, RATE_SCALE)
STORAGE_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "spend": {"source_row": pl.Int64(), "period_start": pl.Date(), "period_end": pl.Date(),
              "category": pl.String(), "channel": pl.String(), "amount": MONEY_DTYPE,
              "currency": pl.String(), "vendor": pl.String(), "description": pl.String(),
              "original_amount": MONEY_DTYPE, "original_currency": pl.String(), "fx_rate": FX_RATE_DTYPE,
              "service_start": pl.Date(), "service_end": pl.Date()},
    "funnel": {"source_row": pl.Int64(), "period_start": pl.Date(), "period_end": pl.Date(),
               "channel": pl.String(), "leads": pl.Int64(), "visitors": pl.Int64(),
               "event_attendees": pl.Int64(), "mqls": pl.Int64(), "sqls": pl.Int64(),
               "opportunities": pl.Int64()},
    "customers": {"source_row": pl.Int64(), "customer_id": pl.String(), "acquired_on": pl.Date(),
                  "channel": pl.String(), "segment": pl.String(), "billing_interval": pl.String()},
    "revenue": {"source_row": pl.Int64(), "customer_id": pl.String(), "date": pl.Date(),
                "revenue": MONEY_DTYPE, "cost": MONEY_DTYPE, "gross_margin": MONEY_DTYPE,
                "segment": pl.String(), "channel": pl.String(), "currency": pl.String(),
                "original_revenue": MONEY_DTYPE, "original_cost": MONEY_DTYPE, "original_gross_margin": MONEY_DTYPE,
                "original_currency": pl.String(), "fx_rate": FX_RATE_DTYPE},
    "gl": {"source_row": pl.Int64(), "period_start": pl.Date(), "period_end": pl.Date(),
           "account": pl.String(), "amount": MONEY_DTYPE, "currency": pl.String(), "vendor": pl.String(),
           "description": pl.String(), "original_amount": MONEY_DTYPE, "original_currency": pl.String(),
           "fx_rate": FX_RATE_DTYPE},
}
"""The normalised columns of each kind, in storage order and type.

``currency`` is the currency the row's amounts are in: as the file gives it (``_row_currencies``) until the
import converts the row to the reporting currency; then the amounts as written are kept in ``original_*``
with ``original_currency`` and the rate used (``fx_rate``: reporting units per 1 original unit). A row
written in the reporting currency has no originals (NULL)."""
FX_COLUMNS: dict[str, tuple[str, ...]] = {
    "spend": ("original_amount", "original_currency", "fx_rate"),
    "revenue": ("original_revenue", "original_cost", "original_gross_margin", "original_currency", "fx_rate"),
    "gl": ("original_amount", "original_currency", "fx_rate"),
}
"""The storage columns that keep a converted row's amounts as written and the rate used."""


def span_columns(kind: Kind) -> tuple[str, str]:
    """The columns giving the first and last day each stored row covers."""
    if "period_start" in STORAGE_SCHEMAS[kind]:
        return "period_start", "period_end"
    column = file_kind(kind).period_column
    return column, column


def output_columns(kind: Kind, present: list[str]) -> list[pl.Expr]:
    """The storage columns the file has, typed, in storage order.

    A column the file lacks is left out, not filled with nulls: at tens of millions of rows
    a column of nulls still costs memory, and the store writes it as NULL anyway.
    """
    return [pl.col(n).cast(t) for n, t in STORAGE_SCHEMAS[kind].items() if n in present]


def _value_problems(frame: pl.DataFrame, column: str, codes: pl.Series, header: str, out: _Collector,
                    message: Callable[[str], str]) -> None:
    """Report a parsed column's codes: a row each (up to the limit), or one count for the column."""
    if codes.null_count() == codes.len():
        return
    keyed = frame.select("row", column).with_columns(code=codes)
    for code in codes.drop_nulls().unique(maintain_order=True).to_list():
        if code in _TALLY_MESSAGES:
            out.tally(keyed, pl.col("code") == code, code, header, column)
        else:
            out.rows(keyed, pl.col("code") == code, code, header, column, message(code))


def _count_message(code: str) -> str:
    return {
        "invalid_count": "expected a whole number of zero or more",
        "not_a_number": "a spreadsheet error or NaN is not a count",
    }[code]


def _money_message(code: str) -> str:
    return {
        "not_a_number": "a spreadsheet error or NaN is not an amount",
        "invalid_amount": "expected an amount such as 1234.56, $1,234.56, (1,234.56) or -50",
        "decimal_comma": "looks like a decimal comma (1.234,56); read the file with decimal commas if it uses them",
        "too_many_decimals": "more than 4 decimal places; money is kept exact, not rounded",
        "amount_out_of_range": "the amount is 100 trillion or more",
        "dash_as_zero": "a lone dash is read as zero",
    }[code]


def _sign_named(sign: str) -> str:
    """A currency sign or code as a message names it: ``USD``, ``€ (EUR)``, ``¥ (CNY or JPY)``."""
    codes = CURRENCY_SIGNS.get(sign, sign).split()
    return sign if codes == [sign] else f"{sign} ({' or '.join(codes)})"


def _amount_currencies(frame: pl.DataFrame, column: str, header: str, options: ImportOptions,
                       out: _Collector) -> pl.DataFrame:
    """The currency each amount's sign or code names (``sign``, ``currencies``: see ``amount_currencies``);
    the sign is dropped to read the number, and ``_row_currencies`` says which currency each row is in."""
    return amount_currencies(frame.get_column(column))


def _currency(frame: pl.DataFrame, column: str, header: str, options: ImportOptions,
              out: _Collector) -> pl.Series:
    """The currency column: ISO 4217 codes (any case); an amount in another currency than the reporting
    one is converted at import (``finance.store.fx``)."""
    values = frame.get_column(column).str.strip_chars().str.to_uppercase()
    keyed = frame.select("row", column).with_columns(code=values)
    out.rows(keyed, pl.col("code").is_not_null() & ~pl.col("code").is_in(sorted(ISO_CURRENCIES)),
             "invalid_currency", header, column, "expected a 3-letter ISO 4217 currency code such as USD, EUR or JPY")
    return pl.select(pl.when(values.is_in(sorted(ISO_CURRENCIES))).then(values).otherwise(None)).to_series().alias(
        column)


def _row_currencies(frame: pl.DataFrame, result: dict[str, pl.Series], signs: Mapping[str, pl.DataFrame],
                    declared: str | None, header: Mapping[str, str], options: ImportOptions,
                    out: _Collector) -> None:
    """Each row's currency, into ``result["currency"]`` (None where nothing names one: the reporting currency).

    The currency column, else the money headers' currency or ``--file-currency`` (``declared``), else the
    amounts' signs. A sign that disagrees with the declared currency is an error; a sign naming several
    currencies (``$``, ``¥``) with nothing declared is the reporting currency when it can be that, else an
    error (``ambiguous_currency``).
    """
    keyed = frame.select("row").with_columns(
        column=result["currency"] if "currency" in result else pl.lit(None, pl.String),
        file=pl.lit(declared, pl.String))
    if "currency" in result and declared is not None:
        out.rows(keyed.with_columns(text=pl.col("column")), pl.col("column").is_not_null()
                 & (pl.col("column") != pl.col("file")), "currency_mismatch", header["currency"], "text",
                 f"the row says its currency is this, but the file's is {declared} (from its header or "
                 "the file's currency given)")
    keyed = keyed.with_columns(declared=pl.coalesce("column", "file"))
    from_signs: list[str] = []
    for column, named in signs.items():
        if named.get_column("sign").null_count() == named.height:
            continue
        names = {sign: _sign_named(sign) for sign in named.get_column("sign").drop_nulls().unique().to_list()}
        choices = named.get_column("currencies").str.split(" ")
        both = keyed.with_columns(
            text=frame.get_column(column), choices=choices,
            named=named.get_column("sign").replace_strict(names, default=None, return_dtype=pl.String))
        out.rows(both, pl.col("declared").is_not_null() & pl.col("choices").is_not_null()
                 & ~pl.col("choices").list.contains(pl.col("declared")), "currency_mismatch", header[column], "text",
                 pl.format("the amount is written in {} but the row's currency is {}", pl.col("named"),
                           pl.col("declared")))
        reporting = pl.col("choices").list.contains(pl.lit(options.currency))
        both = both.with_columns(resolved=pl.when(pl.col("choices").list.len() == 1)
                                 .then(pl.col("choices").list.first())
                                 .when(reporting).then(pl.lit(options.currency)).otherwise(None))
        out.rows(both, pl.col("declared").is_null() & pl.col("choices").is_not_null() & pl.col("resolved").is_null(),
                 "ambiguous_currency", header[column], "text",
                 pl.format("the amount is written in {}, which may be {}; say which with a currency column, a "
                           "header such as 'Amount (JPY)' or the file's currency", pl.col("named"),
                           pl.col("choices").list.join(" or ")))
        name = f"__{column}"
        keyed = keyed.with_columns(both.get_column("resolved").alias(name))
        from_signs.append(name)
    for first, other in itertools.pairwise(from_signs):
        column = other.removeprefix("__")
        out.rows(keyed.with_columns(text=frame.get_column(column)), pl.col("declared").is_null()
                 & (pl.col(first) != pl.col(other)), "currency_mismatch", header[column], "text",
                 pl.format("this amount is in {} but the row's {} is in {}", pl.col(other),
                           pl.lit(first.removeprefix("__")), pl.col(first)))
    currency = keyed.select(pl.coalesce("declared", *from_signs) if from_signs else pl.col("declared")).to_series()
    if "currency" in result:
        result["currency"] = currency.alias("currency")
        return
    # Without a currency column, a row in the reporting currency names none (NULL, as before): a ledger of
    # "$1,234.56" in a dollar store stores no column of "USD".
    currency = pl.select(pl.when(currency == options.currency).then(None).otherwise(currency)).to_series()
    if currency.null_count() < currency.len():
        result["currency"] = currency.alias("currency")


def _row_checks(contract: FileKind, frame: pl.DataFrame, rows: pl.DataFrame,
                header: Mapping[str, str], out: _Collector) -> pl.DataFrame:
    """Checks within a row: credits, refunds, a margin that disagrees; derives gross margin."""
    if contract.kind not in ("spend", "revenue"):
        return rows  # a ledger's credit (a negative net debit) is an ordinary movement
    # Problems quote the cell as written (``text_<column>``), not the parsed value.
    texts = frame.select(pl.all().exclude("row").name.prefix("text_"))
    keyed = pl.concat([rows.rename({"source_row": "row"}), texts], how="horizontal")
    if contract.kind == "spend":
        out.rows(keyed, pl.col("amount") < 0, "credit", header["amount"], "text_amount",
                 "a negative amount is stored as a credit")
        _service_periods(keyed, header, out)
        return rows
    out.rows(keyed, pl.col("revenue") < 0, "refund", header["revenue"], "text_revenue",
             "negative revenue is stored as a refund")
    if "cost" in header:
        derived = pl.col("revenue") - pl.col("cost")
        if "gross_margin" in header:
            out.rows(keyed, pl.col("gross_margin").is_not_null() & pl.col("cost").is_not_null()
                     & (pl.col("gross_margin") != derived), "margin_mismatch",
                     header["gross_margin"], "text_gross_margin",
                     "gross_margin differs from revenue - cost; gross_margin is kept")
        if "gross_margin" not in rows.columns:
            rows = rows.with_columns(gross_margin=pl.lit(None, MONEY_DTYPE))
        rows = rows.with_columns(gross_margin=pl.coalesce(pl.col("gross_margin"), derived)
                                 .cast(MONEY_DTYPE))
        keyed = keyed.with_columns(rows.get_column("gross_margin"))
    if "gross_margin" in header or "cost" in header:
        out.rows(keyed, (pl.col("revenue") > 0) & (pl.col("gross_margin") > pl.col("revenue")),
                 "margin_above_revenue", header.get("gross_margin") or header["cost"],
                 None, "the gross margin is larger than the revenue")
    return rows


def _service_periods(keyed: pl.DataFrame, header: Mapping[str, str], out: _Collector) -> None:
    """A service period has both ends, in order: a cost is amortised over it only whole."""
    given = [c for c in ("service_start", "service_end") if c in keyed.columns]
    if not given:
        return
    for column in given:
        other = "service_end" if column == "service_start" else "service_start"
        if other in keyed.columns:
            half = pl.col(column).is_not_null() & pl.col(other).is_null() & pl.col(f"text_{other}").is_null()
        else:
            half = pl.col(column).is_not_null()
        out.rows(keyed, half, "service_period_incomplete", header.get(other, other), f"text_{column}",
                 f"{column} is given without {other}: a service period needs both its first and last day")
    if len(given) == 2:
        out.rows(keyed, pl.col("service_end") < pl.col("service_start"), "service_period_reversed",
                 header["service_end"], "text_service_end",
                 pl.format("the service ends before it starts ({})", pl.col("text_service_start")))


def _customer_repeats(rows: pl.DataFrame, header: Mapping[str, str], out: _Collector) -> pl.DataFrame:
    """A customer_id seen again: with other values an error, as an exact copy stored once."""
    ids = rows.get_column("customer_id")
    if ids.n_unique() == ids.len():
        return rows  # each customer once (the usual case): nothing to compare
    values = pl.struct([c for c in rows.columns if c != "source_row"])
    keyed = rows.rename({"source_row": "row"}).with_columns(
        first_row=pl.col("row").min().over("customer_id"), values=values)
    firsts = keyed.filter(pl.col("row") == pl.col("first_row")).select(
        "customer_id", first_values="values")
    repeats = keyed.filter(pl.col("customer_id").is_not_null() & (pl.col("row") != pl.col("first_row"))
                           ).join(firsts, on="customer_id").with_columns(
        identical=pl.col("values").eq_missing(pl.col("first_values")))
    out.rows(repeats, ~pl.col("identical"), "duplicate_customer", header["customer_id"], "customer_id",
             pl.format("customer_id already appears in row {} with other values", pl.col("first_row")))
    out.rows(repeats, pl.col("identical"), "duplicate_customer_row", header["customer_id"], "customer_id",
             pl.format("exact duplicate of row {}; stored once", pl.col("first_row")))
    return rows.filter(~pl.col("source_row").is_in(
        repeats.filter(pl.col("identical")).get_column("row").implode()))


def _future_dates(rows: pl.DataFrame, contract: FileKind, header: Mapping[str, str],
                  out: _Collector) -> None:
    limit = date.today() + timedelta(days=366)
    column = "period_start" if "period_start" in rows.columns else contract.period_column
    out.rows(rows.rename({"source_row": "row"}), pl.col(column) > limit, "future_date",
             header[contract.period_column], column, "this date is more than a year ahead")
