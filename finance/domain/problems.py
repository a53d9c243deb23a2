"""Validation problems as data: every problem is collected, none stops the scan.

Each problem has a stable code (scripts match on it), the row as a spreadsheet shows it
(header = row 1), the column as written in the file, the offending value and what was
expected. Any error rejects the whole file; warnings are reported and the file is kept.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from finance.domain.schema import MAX_CELL_CHARS, MAX_COLUMNS, MAX_FIELD_CHARS

Severity = Literal["error", "warning"]

# code -> (severity, what was expected). One registry, so the docs and the CLI agree.
CODES: dict[str, tuple[Severity, str]] = {
    # the file as a whole
    "file_not_found": ("error", "a readable file"),
    "not_a_regular_file": ("error", "a regular file, not a named pipe, device or folder"),
    "empty_file": ("error", "a header row and at least one data row"),
    "no_data_rows": ("error", "at least one data row below the header"),
    "not_text": ("error", "a text CSV file in one encoding (UTF-8, UTF-16, Windows-1252, ISO-8859-15, Shift_JIS, "
                          "EUC-JP, GB18030 or Big5), or the encoding chosen; not a binary file"),
    "encoding_unclear": ("error", "a text file whose encoding is chosen when it reads as text in more than one"),
    "unreadable_workbook": ("error", "a workbook that opens without a password and is not damaged"),
    "unknown_sheet": ("error", "the name of one of the workbook's sheets"),
    "malformed_csv": ("error", "a well-formed CSV file"),
    "no_line_break": ("error", "a CSV file, whose header row ends in a line break near its start"),
    "row_too_long": ("error", "rows of at most 64 MB"),
    "too_many_columns": ("error", f"at most {MAX_COLUMNS:,} columns"),
    # structure
    "ragged_row": ("error", "the same number of fields as the header"),
    "blank_header": ("error", "a name for every column that holds data"),
    "duplicate_column": ("error", "each column once"),
    "missing_column": ("error", "a required column"),
    "unknown_column": ("warning", "a column of the data contract (this one is ignored)"),
    # values
    "missing_value": ("error", "a value in a required column"),
    "invalid_amount": ("error", "an amount such as 1234.56, $1,234.56, (1,234.56) or -50"),
    "not_a_number": ("error", "a number, not a spreadsheet error or NaN/inf"),
    "too_many_decimals": ("error", "at most 4 decimal places"),
    "amount_out_of_range": ("error", "an amount below 100 trillion"),
    "decimal_comma": ("error", "a decimal point, unless the file is read with decimal commas (1.234,56)"),
    "mixed_decimal_marks": ("error", "one decimal mark in a column: every number with a decimal point "
                            "(1,234.56) or every number with a decimal comma (1.234,56)"),
    "invalid_count": ("error", "a whole number of zero or more"),
    "invalid_period": ("error", "a period: 2025-03-31, 2025-03, Mar 2025, 2025-Q1, Q1 2025, 2025Q1, T1 2025, "
                       "2025年第1四半期 or FY25 Q1"),
    "invalid_quarter": ("error", "a quarter from Q1 to Q4"),
    "invalid_date": ("error", "a date: 2025-03-31, 31 Mar 2025, an Excel serial date, or the date format given"),
    "ambiguous_date": ("error", "an unambiguous date, or the file read as day first or month first"),
    "date_out_of_range": ("error", "a date between 1990-01-01 and 2100-12-31"),
    "fiscal_year_needed": ("error", "the month the fiscal year starts in, for FY and 年度 labels"),
    "unknown_category": ("error", "a cost category or one of its synonyms, or a label mapped to one"),
    "invalid_currency": ("error", "a 3-letter ISO currency code"),
    "currency_mismatch": ("error", "one currency per row: its amounts' signs, the currency column, a header's "
                          "currency and the file's currency agree"),
    "ambiguous_currency": ("error", "a sign that names one currency (¥ is yen or yuan, $ any dollar), or the "
                           "currency given by a header, a currency column or the file's currency"),
    "invalid_rate": ("error", "an exchange rate above 0 with at most 12 decimal places, or N/A"),
    "duplicate_rate": ("error", "one rate per date and currency in a rates file"),
    "invalid_billing_interval": ("error", "a billing interval: month, quarter, half-year or year "
                                 "(also monthly, quarterly, semi-annual, annual, 1, 3, 6, 12, 12 months, "
                                 "...), or blank when unknown"),
    "duplicate_customer": ("error", "each customer_id once"),
    "preset_mismatch": ("error", "the columns of the known export chosen"),
    "preset_ambiguous": ("error", "a header that fits one known export, or the preset chosen"),
    "order_repeated": ("error", "each order once: only an order's first row carries its totals"),
    "value_too_long": ("error", f"at most {MAX_FIELD_CHARS:,} characters in any field of the file"),
    "text_too_long": ("error", f"at most {MAX_CELL_CHARS:,} characters in a cell (Excel's cell limit)"),
    "control_character": ("error", "text without control characters (tab and line breaks are fine)"),
    "invalid_time": ("error", "a time of day from 00:00 to 23:59:59 after the date, or none"),
    "service_period_incomplete": ("error", "both service_start and service_end, or neither"),
    "service_period_reversed": ("error", "a service_end on or after the service_start"),
    # against the store
    "periods_already_imported": ("error", "new periods, or the file imported to replace them"),
    "customer_already_imported": ("error", "a customer_id not already in the store"),
    "partial_replace": ("error", "a file covering every month of the rows it replaces"),
    "fx_rate_missing": ("error", "an exchange rate for the row's currency on its date or over its period "
                        "(import the rates first)"),
    "rate_changed": ("error", "the rate already stored for that date and currency, or the file imported "
                     "to replace it"),
    # warnings
    "credit": ("warning", "a negative amount is stored as a credit"),
    "refund": ("warning", "negative revenue is stored as a refund"),
    "duplicate_row": ("warning", "exact duplicate rows are kept; check they are real"),
    "duplicate_customer_row": ("warning", "an exact duplicate customer row is stored once"),
    "total_row_dropped": ("warning", "a total line is recognised and not imported"),
    "blank_row_skipped": ("warning", "blank rows are skipped"),
    "preamble_skipped": ("warning", "the header as the first line"),
    "encoding": ("warning", "UTF-8 text"),
    "margin_mismatch": ("warning", "gross_margin = revenue - cost"),
    "margin_above_revenue": ("warning", "gross margin at most the revenue"),
    "dash_as_zero": ("warning", "a lone dash is read as zero, as spreadsheets display it"),
    "non_ascii_digits": ("warning", "digits 0-9; digits of other scripts are read as 0-9"),
    "decimal_comma_detected": ("warning", "a decimal point; a column whose numbers read only with a decimal "
                               "comma (1.234,56, 578 539,29) is read with decimal commas"),
    "future_date": ("warning", "a date no later than one year from today"),
    "new_channel": ("warning", "a channel already in the database, or a new one on purpose"),
    "unknown_segment": ("warning", "Enterprise B2B, SMB, DTC or B2B2C (other text is kept)"),
    "preset_applied": ("warning", "a known export is read by its preset"),
    "preset_row_dropped": ("warning", "rows that are not data are left out: failed payments, voided orders, "
                           "line items after an order's first row, report footers and account headings"),
}


TITLES: dict[str, str] = {
    "file_not_found": "The file cannot be found",
    "not_a_regular_file": "Not a file",
    "empty_file": "The file is empty",
    "no_data_rows": "No data rows",
    "not_text": "Not a text CSV file",
    "encoding_unclear": "The file's encoding is unclear",
    "unreadable_workbook": "The workbook cannot be read",
    "unknown_sheet": "No such sheet",
    "malformed_csv": "The CSV is malformed",
    "no_line_break": "No header row",
    "row_too_long": "A row is too long",
    "too_many_columns": "Too many columns",
    "ragged_row": "Rows with a different number of fields than the header",
    "blank_header": "A column without a header",
    "duplicate_column": "A column given twice",
    "missing_column": "A required column is missing",
    "unknown_column": "Columns that are not used",
    "missing_value": "Required values left blank",
    "invalid_amount": "Amounts that cannot be read",
    "not_a_number": "Spreadsheet errors instead of numbers",
    "too_many_decimals": "Amounts with more than 4 decimal places",
    "amount_out_of_range": "Amounts too large",
    "decimal_comma": "Amounts written with a decimal comma",
    "mixed_decimal_marks": "Numbers mixing decimal points and decimal commas",
    "invalid_count": "Counts that are not whole numbers",
    "invalid_period": "Periods that cannot be read",
    "invalid_quarter": "Quarters outside Q1 to Q4",
    "invalid_date": "Dates that cannot be read",
    "ambiguous_date": "Dates that could be day first or month first",
    "date_out_of_range": "Dates outside 1990 to 2100",
    "fiscal_year_needed": "Fiscal quarters without a fiscal year",
    "unknown_category": "Cost categories not recognised",
    "invalid_currency": "Currency codes that cannot be read",
    "currency_mismatch": "Amounts whose currencies disagree",
    "ambiguous_currency": "Currency signs that could mean several currencies",
    "invalid_rate": "Exchange rates that cannot be read",
    "duplicate_rate": "Exchange rates given twice",
    "fx_rate_missing": "Amounts without an exchange rate",
    "rate_changed": "Exchange rates that differ from the stored ones",
    "invalid_billing_interval": "Billing intervals that cannot be read",
    "duplicate_customer": "Customers listed twice",
    "preset_mismatch": "Not the export the preset reads",
    "preset_ambiguous": "A header that fits several known exports",
    "order_repeated": "Orders whose totals appear twice",
    "value_too_long": "A value too long to be read",
    "text_too_long": "Text too long for a spreadsheet cell",
    "control_character": "Invisible control characters in text",
    "invalid_time": "Times of day that cannot be read",
    "service_period_incomplete": "Service periods with one end only",
    "service_period_reversed": "Service periods that end before they start",
    "periods_already_imported": "Periods already imported",
    "customer_already_imported": "Customers already imported",
    "partial_replace": "A replacement that would drop months",
    "credit": "Credits (negative amounts)",
    "refund": "Refunds (negative revenue)",
    "duplicate_row": "Rows repeated exactly",
    "duplicate_customer_row": "Customer rows repeated exactly",
    "total_row_dropped": "Total lines left out",
    "blank_row_skipped": "Blank rows left out",
    "preamble_skipped": "Title lines above the header left out",
    "encoding": "Text not in UTF-8",
    "margin_mismatch": "Gross margin that is not revenue less cost",
    "margin_above_revenue": "Gross margin above revenue",
    "dash_as_zero": "Dashes read as zero",
    "non_ascii_digits": "Digits of another script",
    "decimal_comma_detected": "Numbers read with a decimal comma",
    "future_date": "Dates more than a year ahead",
    "new_channel": "Channels not seen before",
    "unknown_segment": "Segments that are not standard",
    "preset_applied": "Read as a known export",
    "preset_row_dropped": "Rows a known export's preset left out",
}
"""A short title per code, for a report that groups problems."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an import file."""

    code: str
    message: str
    row: int | None = None
    column: str | None = None
    value: str | None = None
    count: int = 1
    """How many rows share this problem when it is reported once for many rows."""
    suggestion: str | None = None
    """What the importer suggests, where it has a guess: the header that may be a missing column."""

    @property
    def severity(self) -> Severity:
        return CODES[self.code][0]

    @property
    def expected(self) -> str:
        return CODES[self.code][1]

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["severity"] = self.severity
        out["expected"] = self.expected
        return out

    def describe(self, file_name: str | None = None) -> str:
        """One line a person can act on: where, what, what was expected."""
        where = []
        if file_name:
            where.append(file_name)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        prefix = ", ".join(where)
        value = "" if self.value is None else f" value {_clip(self.value)!r}:"
        more = f" (and {self.count - 1} more rows like it)" if self.count > 1 else ""
        return f"{prefix}: [{self.code}]{value} {self.message}{more}".lstrip(": ")


def _clip(value: str, limit: int = 80) -> str:
    return value if len(value) <= limit else value[:limit] + f"... ({len(value)} chars)"


def problem(code: str, message: str | None = None, *, row: int | None = None,
            column: str | None = None, value: str | None = None, count: int = 1,
            suggestion: str | None = None) -> Problem:
    """Build a problem; an unknown code is a programming error and raises."""
    if code not in CODES:
        raise KeyError(f"unknown problem code {code!r}")
    return Problem(code, message or f"expected {CODES[code][1]}", row, column, value, count, suggestion)


@dataclass(frozen=True)
class ProblemGroup:
    """Every problem of one code: how many rows it touches, where, and the first examples."""

    code: str
    rows: int
    columns: tuple[str, ...]
    examples: tuple[Problem, ...]

    @property
    def severity(self) -> Severity:
        return CODES[self.code][0]

    @property
    def title(self) -> str:
        return TITLES[self.code]

    @property
    def expected(self) -> str:
        return CODES[self.code][1]


def grouped(problems: list[Problem], examples: int = 3) -> list[ProblemGroup]:
    """Problems grouped by code, errors first, each group in the order its first problem was found.

    ``rows`` adds up each problem's count, so a line standing for "1,200 more rows" counts them.
    """
    by_code: dict[str, list[Problem]] = {}
    for p in problems:
        by_code.setdefault(p.code, []).append(p)
    out = []
    for code, members in by_code.items():
        columns = tuple(dict.fromkeys(p.column for p in members if p.column is not None))
        shown = tuple(p for p in members if p.row is not None or p.value is not None)[:examples] or (members[0],)
        out.append(ProblemGroup(code, sum(p.count for p in members), columns, shown))
    return sorted(out, key=lambda g: g.severity != "error")
