"""Download the dashboard's tables as CSV or XLSX that are safe to open in Excel, assumptions attached.

Rules shared by both formats:

- No text ever becomes a formula. A text cell (or header) starting with ``=``, ``+``, ``-``,
  ``@``, tab or carriage return gets a leading ``'`` (OWASP, "CSV Injection"). Numbers,
  dates and booleans are not text and are never touched: ``-50.00`` stays a negative number.
- Nulls are empty cells, and so are float NaN and +/-inf: Excel has no spelling for them, and
  the text ``-inf`` would itself be read as a formula.
- Lists and tuples (e.g. the band edges assumption) are written as one text cell, ``1, 3, 5``.
- Anything else that is not a number, date or boolean (times, durations, structs) is written
  as its ``str()``, neutralised like any other text.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import polars as pl
import xlsxwriter

from finance.domain import literal
from finance.domain.schema import CATEGORIES, DEFAULT_CURRENCY
from finance.metrics import measures
from finance.present.formats import MINOR_UNITS, excel_money, half_up
from finance.present.i18n import N_, _

MONEY_FORMAT = excel_money()
"""Money in the default currency (USD): ``$#,##0.00``; ``finance.present.formats.excel_money`` for another."""
DATE_FORMAT = "yyyy-mm-dd"
PERCENT_FORMAT = "0.0%"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
ASSUMPTIONS_SHEET = "Assumptions"
MAX_COLUMN_WIDTH = 60
"""Widest a fitted column gets, in characters; longer text stays whole in the cell."""

# Excel's hard limits (Microsoft, "Excel specifications and limits").
MAX_ROWS = 1_048_576
MAX_COLUMNS = 16_384
MAX_SHEET_NAME = 31  # counted in UTF-16 code units, as Excel counts them
MAX_CELL_TEXT = 32_767  # characters in one cell, in UTF-16 code units
CUT_NOTE = " [cut at Excel's 32,767-character cell limit]"
_SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_CENT = Decimal("0.01")


COLUMNS: dict[str, tuple[str, measures.Unit]] = {
    "period_label": (N_("Period"), "text"), "quarter": (N_("Quarter"), "text"), "channel": (N_("Channel"), "text"),
    "segment": (N_("Segment"), "text"), "scenario": (N_("Scenario"), "text"), "category": (N_("Category code"), "text"),
    "label": (N_("Cost category"), "text"), "category_label": (N_("Cost category"), "text"),
    "amount": (N_("Amount"), "money"), "direct_spend": (N_("Direct spend"), "money"),
    "cac_contribution": (N_("CAC contribution (per new customer)"), "money"),
    "share_of_marketing": (N_("Share of marketing spend"), "fraction"),
    "visitors": (N_("Visitors"), "count"), "event_attendees": (N_("Event attendees"), "count"),
    "mqls": (N_("MQLs"), "count"),
    "sqls": (N_("SQLs"), "count"), "opportunities": (N_("Opportunities"), "count"),
    "customers": (N_("Projected new customers"), "count"), "marginal_cac": (N_("Marginal CAC"), "money"),
    "value_created": (N_("LTV created minus spend"), "money"), "curve": (N_("Response curve"), "text"),
    "r_squared": (N_("Fit (R squared)"), "ratio"), "warning": (N_("Warning"), "text"),
    "customer_group": (N_("Customer group"), "text"), "model_label": (N_("Model"), "text"),
    "fitted_customers": (N_("Customers"), "count"), "fit_source": (N_("Fitted on"), "text"),
    "log_likelihood": (N_("Fit quality (log-likelihood)"), "count"),  # a whole number: its decimals mean nothing
    "parameter": (N_("Fitted figure"), "text"),
    "ledger": (N_("General ledger"), "money"), "spend_imported": (N_("Imported spend"), "money"),
    "variance": (N_("Variance (spend less ledger)"), "money"),
    "variance_share": (N_("Variance (share of the ledger)"), "fraction"),
    "status_label": (N_("Status"), "text"), "account": (N_("Account"), "text"),
    "mapping_label": (N_("Cost category"), "text"), "suggestion_label": (N_("Its name suggests"), "text"),
    "lines_off": (N_("Lines off"), "count"),
}
"""Business headers and units of the columns the metric registry (``finance.metrics.measures``) does not declare."""
_DROPPED = ("period", "ltv_observed", "ltv_future", "ltv_sigma")
"""Internal columns a download leaves out: the period's start date (its label is kept) and the range's parts."""


def column_label(name: str) -> tuple[str, measures.Unit]:
    """A column's header for people and its unit: ``cac`` -> ("Fully loaded CAC", "money"); a count of
    months says so (``payback_months`` -> "Payback (months)")."""
    label, unit = _label(name)
    return (_("{label} (months)").format(label=label) if unit == "months" else label), unit


def _label(name: str) -> tuple[str, measures.Unit]:
    """The header in the language: the registry's labels and the categories' are translated by their
    English words (``finance.present.i18n.declared_labels`` lists them for the catalogs)."""
    if name in COLUMNS:
        label, unit = COLUMNS[name]
        return _(label), unit
    if name in measures.BY_NAME:
        return _(measures.label(name)), measures.unit(name)
    for suffix, words in (("_low", N_("{label}, low end of range")), ("_high", N_("{label}, high end of range"))):
        if name.endswith(suffix):
            label, unit = _label(name.removesuffix(suffix))
            return _(words).format(label=label), unit
    if name.startswith("spend_") and name.removeprefix("spend_") in CATEGORIES:
        return _("Spend: {category}").format(category=_(CATEGORIES[name.removeprefix("spend_")].label)), "money"
    if name.startswith("cac_") and name.removeprefix("cac_") in CATEGORIES:
        return _("CAC: {category}").format(category=_(CATEGORIES[name.removeprefix("cac_")].label)), "money"
    return name.replace("_", " ").capitalize(), measures.unit(name)


def for_people(frame: pl.DataFrame, currency: str = DEFAULT_CURRENCY,
               labels: Mapping[str, str] | None = None) -> tuple[pl.DataFrame, set[str], set[str]]:
    """The table as a download carries it: business headers, values typed and rounded by unit, and the
    headers of its money and percentage columns (for the XLSX's number formats).

    Money is exact to the currency's minor unit (cents; yen whole), half-up; counts and months are
    whole numbers (a projected 213.43 customers is 213); ratios keep two decimals and fractions four
    (a percentage to two decimals). Lists (a cohort's curve) and internal columns are left out.
    ``labels`` gives a column a header of its own in this table (a category's "Spend").
    """
    places = MINOR_UNITS.get(currency, 2)
    columns, money, percent = [], set(), set()
    for name, dtype in frame.schema.items():
        if name in _DROPPED or isinstance(dtype, pl.List | pl.Array | pl.Struct):
            continue
        label, unit = column_label(name)
        label = (labels or {}).get(name, label)
        column = pl.col(name)
        if unit == "money" and dtype.is_numeric():
            values = [None if v is None or (isinstance(v, float) and not math.isfinite(v))
                      else half_up(Decimal(str(v)), places) for v in frame.get_column(name).to_list()]
            columns.append(pl.Series(label, values, dtype=pl.Decimal(38, places)))
            money.add(label)
            continue
        if unit in ("count", "months") and dtype.is_numeric():
            expr = column.cast(pl.Float64).round(0).cast(pl.Int64)
        elif unit == "ratio" and dtype.is_numeric():
            expr = column.cast(pl.Float64).round(2)
        elif unit == "fraction" and dtype.is_numeric():
            expr = column.cast(pl.Float64).round(4)
            percent.add(label)
        else:
            expr = column
        columns.append(frame.select(expr.alias(label)).to_series())
    return pl.DataFrame(columns), money, percent


neutralise = literal.cell
"""Text safe from spreadsheet formula injection (``finance.domain.literal.cell``): ``'`` prefixed when it starts
with ``=``, ``+``, ``-``, ``@``, tab or carriage return (the OWASP triggers)."""


def to_csv_bytes(frame: pl.DataFrame) -> bytes:
    """The table as a CSV file Excel opens correctly: UTF-8 with BOM, comma-separated, header row.

    Cells: text neutralised (see :func:`neutralise`) and quoted only when it holds a comma, quote
    or line break; Decimals with every digit of their scale (``1234.5600``, never an exponent),
    so summing the file gives the frame's total to the cent; floats as Python's shortest
    ``repr``, which reads back as the identical double; integers as digits; booleans as
    ``TRUE``/``FALSE``; dates ISO ``2025-03-31``; datetimes ``2025-03-31 14:05:00`` (the space,
    not ``T``, is what Excel recognises); nulls, NaN and inf empty. Lines end in CRLF (RFC 4180).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(name) for name in frame.columns])
    writer.writerows([_cell_text(value) for value in row] for row in frame.iter_rows())
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx_bytes(sheets: Mapping[str, pl.DataFrame], assumptions: Mapping[str, object] | None = None,
                  money_columns: Iterable[str] | None = None, currency: str = DEFAULT_CURRENCY,
                  percent_columns: Iterable[str] = ()) -> bytes:
    """An Excel workbook: one worksheet per table, then an "Assumptions" sheet when assumptions are given.

    Sheet names are made legal for Excel: forbidden characters ``[]:*?/\\`` become ``_``, leading
    and trailing apostrophes go, the reserved name "History" gets a ``_``, the length is cut to
    31, and a name already used (ignoring case, as Excel does) gets `` (2)``, `` (3)``...
    The Assumptions sheet has two columns, ``assumption`` and ``value``, in the given order.

    Cells: text neutralised and written as text (the writer is also told never to turn strings
    into formulas, URLs or numbers, so there are two independent guards); integers and floats
    as numbers; Decimals as numbers (Excel stores doubles), except that a Decimal in one of
    ``money_columns`` (by default, the columns ``finance.metrics.measures`` declares money) is
    first rounded to cents half-up (away from zero, ``0.125`` -> ``0.13``) so the cents shown are
    exact; every value in a money column gets the ``currency``'s money format (``$#,##0.00``,
    ``finance.present.formats.excel_money``); a column in ``percent_columns`` (fractions) shows as ``12.3%``;
    dates and datetimes are real Excel dates (a time zone is dropped, keeping the wall-clock
    time); booleans are booleans; nulls, NaN and inf are empty cells. The header row is bold
    and frozen; columns are as wide as their longest value, up to ``MAX_COLUMN_WIDTH``.

    Raises ``ValueError`` for a money column that is in no table or is not numeric, a table
    too large for a worksheet, or text longer than Excel's 32,767-character cell limit.
    """
    money = set(money_columns) if money_columns is not None else \
        {c for frame in sheets.values() for c in frame.columns if measures.unit(c) == "money"}
    _check_money_columns(sheets, money)
    percents = set(percent_columns)
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {
        "in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
        "strings_to_numbers": False, "remove_timezone": True})
    formats = {
        "header": workbook.add_format({"bold": True}),
        "money": workbook.add_format({"num_format": excel_money(currency)}),
        "percent": workbook.add_format({"num_format": PERCENT_FORMAT}),
        "date": workbook.add_format({"num_format": DATE_FORMAT}),
        "datetime": workbook.add_format({"num_format": DATETIME_FORMAT}),
    }
    taken = {ASSUMPTIONS_SHEET.casefold()} if assumptions is not None else set()
    for name, frame in sheets.items():
        if frame.height >= MAX_ROWS or frame.width > MAX_COLUMNS:
            raise ValueError(f"table {name!r} has {frame.height} rows and {frame.width} columns; an Excel "
                             f"sheet holds at most {MAX_ROWS - 1} rows under its header and {MAX_COLUMNS} columns")
        worksheet = workbook.add_worksheet(sheet_name(name, taken))
        _write_table(worksheet, formats, frame.columns, frame.iter_rows(), [c in money for c in frame.columns],
                     [c in percents for c in frame.columns])
    if assumptions is not None:
        worksheet = workbook.add_worksheet(ASSUMPTIONS_SHEET)
        _write_table(worksheet, formats, ["assumption", "value"], assumptions.items(), [False, False])
    workbook.close()
    return buffer.getvalue()


def sheet_name(name: str, taken: set[str]) -> str:
    """A legal Excel sheet name for ``name``, not in ``taken`` (casefolded names); it is added to ``taken``."""
    base = _SHEET_NAME_FORBIDDEN.sub("_", name).strip().strip("'") or "Sheet"
    if base.casefold() == "history":  # Excel reserves it for change tracking
        base += "_"
    candidate, copy = _fit(base, MAX_SHEET_NAME), 1
    while candidate.casefold() in taken:
        copy += 1
        suffix = f" ({copy})"
        candidate = _fit(base, MAX_SHEET_NAME - len(suffix)) + suffix
    taken.add(candidate.casefold())
    return candidate


def _fit(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` UTF-16 code units, whole characters only, not ending in an apostrophe."""
    while len(text.encode("utf-16-le")) // 2 > limit:
        text = text[:-1]
    return text.rstrip("'")


def _cell_text(value: object) -> str:
    """How one value is spelled in a CSV cell (and measured for a column's width)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, Decimal):
        return f"{value:f}" if value.is_finite() else ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return neutralise(", ".join(item if isinstance(item, str) else _cell_text(item) for item in value))
    return neutralise(str(value))


def _check_money_columns(sheets: Mapping[str, pl.DataFrame], money: set[str]) -> None:
    present = {column for frame in sheets.values() for column in frame.columns}
    if unknown := sorted(money - present):
        raise ValueError(f"money columns {unknown} are in no table; the columns are {sorted(present)}")
    for name, frame in sheets.items():
        for column in sorted(money & set(frame.columns)):
            dtype = frame.schema[column]
            if not (dtype.is_numeric() or dtype == pl.Null):
                raise ValueError(f"money column {column!r} in table {name!r} is {dtype}, not a number")


def _write_table(worksheet: Any, formats: Mapping[str, Any], header: Sequence[str],
                 rows: Iterable[Sequence[object]], money: Sequence[bool],
                 percent: Sequence[bool] | None = None) -> None:
    percent = percent or [False] * len(header)
    widths = [len(neutralise(title)) for title in header]
    for col, title in enumerate(header):
        worksheet.write_string(0, col, neutralise(title), formats["header"])
    for row, values in enumerate(rows, start=1):
        for col, value in enumerate(values):
            if _write_cell(worksheet, formats, row, col, value, money[col], percent[col]) < 0:
                raise ValueError(f"sheet {worksheet.name!r}, row {row + 1}, column {header[col]!r}: "
                                 "the value could not be written")
            # Money shows as "$1,234.57": room for the sign, "$" and the thousands commas.
            text = _cell_text(value)
            widths[col] = max(widths[col], len(text) + (len(text) // 3 + 2 if money[col] else 0))
    worksheet.freeze_panes(1, 0)
    for col, width in enumerate(widths):
        worksheet.set_column(col, col, min(width + 2, MAX_COLUMN_WIDTH))


def _write_cell(worksheet: Any, formats: Mapping[str, Any], row: int, col: int, value: object, money: bool,
                percent: bool = False) -> int:
    """Write one value with its native Excel type; returns xlsxwriter's status (negative on failure)."""
    number_format = formats["money"] if money else formats["percent"] if percent else None
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(worksheet.write_boolean(row, col, value))
    if isinstance(value, int):
        return int(worksheet.write_number(row, col, value, number_format))
    if isinstance(value, float | Decimal):
        if not math.isfinite(value):
            return 0
        if money:  # via the shortest repr, so a float 2.675 rounds to 2.68 as it reads
            value = (value if isinstance(value, Decimal) else Decimal(repr(value))).quantize(_CENT, ROUND_HALF_UP)
        return int(worksheet.write_number(row, col, float(value), number_format))
    if isinstance(value, datetime):
        return int(worksheet.write_datetime(row, col, value, formats["datetime"]))
    if isinstance(value, date):
        return int(worksheet.write_datetime(row, col, value, formats["date"]))
    return int(worksheet.write_string(row, col, _fits_a_cell(_cell_text(value))))


def _fits_a_cell(text: str) -> str:
    """Text cut to Excel's cell limit, saying so at the end (the CSV export keeps it whole)."""
    if len(text.encode("utf-16-le")) // 2 <= MAX_CELL_TEXT:
        return text
    kept = MAX_CELL_TEXT - len(CUT_NOTE) - 2  # room for one character of two UTF-16 units at the cut
    while len(text[:kept].encode("utf-16-le")) // 2 > MAX_CELL_TEXT - len(CUT_NOTE):
        kept -= 1
    return text[:kept] + CUT_NOTE
