"""Parse the period and date spellings found in ledger, ad-platform, CRM and billing exports.

These parsers run once per *distinct* value of a column (a ledger of millions of rows has a
few thousand distinct dates), so they favour clarity over vectorisation. Each returns a
value or a ``ParseFailure`` carrying the problem code and a message for the report.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from finance.domain.schema import fold_text

MIN_DATE = date(1990, 1, 1)
MAX_DATE = date(2100, 12, 31)
EXCEL_EPOCH = date(1899, 12, 30)
"""Excel's serial day 1 is 1900-01-01, counted from 1899-12-30 because of its 1900 leap bug."""
EXCEL_SERIAL_MIN = (MIN_DATE - EXCEL_EPOCH).days
EXCEL_SERIAL_MAX = (MAX_DATE - EXCEL_EPOCH).days

_MONTH_NAMES: dict[int, tuple[str, ...]] = {
    # English, French (with its abbreviations: janv., févr., avr., juil., sept., déc.), German, Spanish
    1: ("jan", "january", "janv", "janvier", "januar", "jän", "jänner", "ene", "enero"),
    2: ("feb", "february", "fév", "févr", "février", "februar", "febr", "febrero"),
    3: ("mar", "march", "mars", "mär", "märz", "mrz", "marzo"),
    4: ("apr", "april", "avr", "avril", "abr", "abril"),
    5: ("may", "mai", "mayo"),
    6: ("jun", "june", "juin", "juni", "junio"),
    7: ("jul", "july", "juil", "juillet", "juli", "julio"),
    8: ("aug", "august", "août", "ago", "agosto"),
    9: ("sep", "sept", "september", "septembre", "septiembre", "set", "setiembre"),
    10: ("oct", "october", "octobre", "okt", "oktober", "octubre"),
    11: ("nov", "november", "novembre", "noviembre"),
    12: ("dec", "december", "déc", "décembre", "dez", "dezember", "dic", "diciembre"),
}
MONTHS: dict[str, int] = {}
"""A month's name or abbreviation, folded (accents dropped: ``fevr``, ``aout``, ``marz``) -> its number."""
for _number, _names in _MONTH_NAMES.items():
    for _name in _names:
        if MONTHS.setdefault(fold_text(_name), _number) != _number:
            raise AssertionError(f"month name {_name!r} is claimed twice")

_ORDINAL_WORDS: dict[str, int] = {
    # first to fourth, as a quarter is counted in English, French, German and Spanish (folded)
    "first": 1, "premier": 1, "premiere": 1, "erstes": 1, "erste": 1, "primer": 1, "primero": 1,
    "second": 2, "deuxieme": 2, "seconde": 2, "zweites": 2, "zweite": 2, "segundo": 2,
    "third": 3, "troisieme": 3, "drittes": 3, "dritte": 3, "tercer": 3, "tercero": 3,
    "fourth": 4, "quatrieme": 4, "viertes": 4, "vierte": 4, "cuarto": 4,
}


@dataclass(frozen=True)
class ParseFailure:
    """Why a value is not a date or period: a problem code and a message."""

    code: str
    message: str


@dataclass(frozen=True)
class Period:
    """A closed range of days a row belongs to, and the grain it was written at."""

    start: date
    end: date
    grain: str  # "day", "month" or "quarter"


@dataclass(frozen=True)
class ParsedDate:
    """A parsed date; ``order`` records "dmy" or "mdy" when a slash date decided it."""

    value: date
    order: str | None = None


_TIME_SUFFIX = re.compile(r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[AaPp][Mm])?\s*"
                          r"(?:Z|[+-]\d{2}:?\d{2}|UTC)?)$")
TIME_SUFFIX_PATTERN = _TIME_SUFFIX.pattern
_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_SLASH = re.compile(r"^(\d{1,2})([/-])(\d{1,2})\2(\d{4})$")
_DOTTED = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_DAY_MONTH_NAME = re.compile(r"^(\d{1,2})(?:er|\.|º)?[ -](?:de\s+)?([^\W\d_]{3,10})\.?(?:\s+de)?[ -],?\s*"
                             r"(\d{4}|\d{2})$")
"""``31 Mar 2025``, ``31-Mar-25``, ``1er janvier 2025``, ``15. März 2025``, ``15 de enero de 2025``."""
_JAPANESE_DATE = re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日$")
_MONTH_NAME_DAY = re.compile(r"^([A-Za-z]{3,9})\.? (\d{1,2})(?:st|nd|rd|th)?,? (\d{4})$")
_SERIAL = re.compile(r"^(\d{5})(?:\.\d+)?$")

# A quarter is Q (T in French and Spanish: trimestre) and its number, either way round: Q1, T1, 1Q, 1T.
_QUARTER_YEAR_FIRST = re.compile(r"^(\d{4})\s*[-/_ ]?\s*(?:[QT]\s*(\d)|(\d)\s*[QT])$", re.IGNORECASE)
_QUARTER_FIRST = re.compile(r"^(?:[QT]\s*(\d)|(\d)\s*[QT])\s*[-/_ ]?\s*(\d{4})$", re.IGNORECASE)
_QUARTER_WORDS = re.compile(
    r"^(?:(\d)\s*(?:er|re|ere|e|eme|st|nd|rd|th|o|a|°|\.|\.o|\.er)?|([^\W\d_]+))\s+"
    r"(?:trimestre|trim\.?|quartal|quarter|qtr\.?)\s*(?:de\s+|del\s+|of\s+)?(\d{4})$")
"""``1er trimestre 2025``, ``2e trimestre 2025``, ``1. Quartal 2025``, ``primer trimestre de 2025``
(matched on the folded text: ``2ème`` is ``2eme``, ``1º`` is ``1o``)."""
_QUARTER_WORD_FIRST = re.compile(r"^(?:trimestre|trim\.?|quartal|quarter)\s*(\d)\s*(?:de\s+|del\s+)?[-/ ]?\s*(\d{4})$")
_JAPANESE_QUARTER = re.compile(r"^(\d{4})\s*年\s*(度)?\s*(?:第\s*(\d)\s*四半期|(\d)\s*Q|Q\s*(\d))$", re.IGNORECASE)
"""``2025年第1四半期`` (calendar), ``2025年度第1四半期`` (fiscal year 2025), also ``2025年度 1Q``."""
_JAPANESE_MONTH = re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*分?$")
"""``2025年1月``, and ``2025年1月分`` ("for January 2025"), as Japanese ledgers write a month."""
_FISCAL = re.compile(r"^FY\s*'?(\d{2}|\d{4})\s*[-/_ ]?\s*(?:Q\s*(\d)|(\d)\s*Q)$", re.IGNORECASE)
_FISCAL_Q_FIRST = re.compile(r"^(?:Q\s*(\d)|(\d)\s*Q)\s*[-/_ ]?\s*FY\s*'?(\d{2}|\d{4})$", re.IGNORECASE)
_YEAR_MONTH = re.compile(r"^(\d{4})[-/.](\d{1,2})$")
_COMPACT_MONTH = re.compile(r"^(\d{4})(\d{2})$")
_MONTH_YEAR = re.compile(r"^(\d{1,2})[-/.](\d{4})$")
_MONTH_NAME_YEAR = re.compile(r"^([^\W\d_]{3,10})\.?(?:\s+de)?[ -]'?(\d{4}|\d{2})$")
"""``Mar 2025``, ``Mar-25``, ``janv. 2025``, ``März 2025``, ``enero de 2025``."""


def strip_time(text: str) -> str:
    """Drop a trailing time of day ("2025-03-31 14:05:00Z"): rows belong to their date."""
    return _TIME_SUFFIX.sub("", text.strip()).strip()


def _make_date(year: int, month: int, day: int, text: str) -> date | ParseFailure:
    try:
        value = date(year, month, day)
    except ValueError:
        return ParseFailure("invalid_date", f"{text!r} is not a calendar date")
    if not MIN_DATE <= value <= MAX_DATE:
        return ParseFailure("date_out_of_range", f"{value.isoformat()} is outside 1990-2100")
    return value


def _month_number(name: str) -> int | None:
    """The month a name or abbreviation says, in English, French, German or Spanish; None if none."""
    return MONTHS.get(fold_text(name).rstrip("."))


def _two_digit_year(text: str) -> int:
    year = int(text)
    return year + 2000 if year < 100 else year


def parse_date(text: str, date_format: str | None = None) -> ParsedDate | ParseFailure:
    """Parse one date value.

    Accepted: ISO ``2025-03-31`` (also ``/`` or ``.``), ``20250331``, ``31.03.2025``
    (day first), ``31 Mar 2025``, ``31-Mar-25``, ``Mar 31, 2025``, month names in French, German
    and Spanish too (``1er janvier 2025``, ``15. März 2025``, ``15 de enero de 2025``), Japanese
    ``2025年1月15日``, Excel serial days (``45747``), a trailing time of day, and ``dd/mm/yyyy`` or
    ``mm/dd/yyyy`` when the day is above 12. ``01/02/2025`` is ambiguous and refused unless
    ``date_format`` says how to read it.
    """
    value = strip_time(text)
    if date_format:
        try:
            parsed = datetime.strptime(value, date_format).date()
        except ValueError:
            pass
        else:
            made = _make_date(parsed.year, parsed.month, parsed.day, text)
            return made if isinstance(made, ParseFailure) else ParsedDate(made)
    result: date | ParseFailure
    order: str | None = None
    if m := _ISO.match(value) or _COMPACT.match(value) or _JAPANESE_DATE.match(value):
        result = _make_date(int(m[1]), int(m[2]), int(m[3]), text)
    elif m := _SLASH.match(value):
        first, second, year = int(m[1]), int(m[3]), int(m[4])
        if first > 12 and second <= 12:
            order = "dmy"
            result = _make_date(year, second, first, text)
        elif second > 12 and first <= 12:
            order = "mdy"
            result = _make_date(year, first, second, text)
        elif first == second and first <= 12:
            result = _make_date(year, first, second, text)
        elif first <= 12 and second <= 12:
            return ParseFailure(
                "ambiguous_date",
                f"{text!r} could be {date(year, second, first):%d %b %Y} (day first) or "
                f"{date(year, first, second):%d %b %Y} (month first); say which the file writes",
            )
        else:
            return ParseFailure("invalid_date", f"{text!r} is not a calendar date")
    elif m := _DOTTED.match(value):
        result = _make_date(int(m[3]), int(m[2]), int(m[1]), text)
    elif m := _DAY_MONTH_NAME.match(value):
        month = _month_number(m[2])
        if month is None:
            return ParseFailure("invalid_date", f"{m[2]!r} is not a month name")
        result = _make_date(_two_digit_year(m[3]), month, int(m[1]), text)
    elif m := _MONTH_NAME_DAY.match(value):
        month = _month_number(m[1])
        if month is None:
            return ParseFailure("invalid_date", f"{m[1]!r} is not a month name")
        result = _make_date(int(m[3]), month, int(m[2]), text)
    elif m := _SERIAL.match(value):
        serial = int(m[1])
        if not EXCEL_SERIAL_MIN <= serial <= EXCEL_SERIAL_MAX:
            return ParseFailure("date_out_of_range",
                                f"{text!r} as an Excel serial date is outside 1990-2100")
        result = EXCEL_EPOCH + timedelta(days=serial)
    else:
        hint = f" in the format {date_format!r}" if date_format else ""
        return ParseFailure("invalid_date", f"{text!r} is not a date{hint}")
    if isinstance(result, ParseFailure):
        return result
    return ParsedDate(result, order)


def _month_period(year: int, month: int, text: str) -> Period | ParseFailure:
    if not 1 <= month <= 12:
        return ParseFailure("invalid_period", f"{text!r}: month {month} is not 1-12")
    start = _make_date(year, month, 1, text)
    if isinstance(start, ParseFailure):
        return start
    return Period(start, date(year, month, calendar.monthrange(year, month)[1]), "month")


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def _quarter_period(year: int, quarter: int, text: str, first_month: int = 1) -> Period | ParseFailure:
    if not 1 <= quarter <= 4:
        return ParseFailure("invalid_quarter", f"{text!r}: Q{quarter} is not a quarter (Q1-Q4)")
    start_year, start_month = _add_months(year, first_month, 3 * (quarter - 1))
    end_year, end_month = _add_months(start_year, start_month, 2)
    start = _make_date(start_year, start_month, 1, text)
    if isinstance(start, ParseFailure):
        return start
    end = date(end_year, end_month, calendar.monthrange(end_year, end_month)[1])
    if end > MAX_DATE:
        return ParseFailure("date_out_of_range", f"{text!r} is outside 1990-2100")
    return Period(start, end, "quarter")


def fiscal_quarter(fiscal_year: int, quarter: int, fiscal_year_start: int,
                   text: str = "") -> Period | ParseFailure:
    """Fiscal quarter ``quarter`` of ``fiscal_year``.

    A fiscal year is named by the calendar year in which it ends (FY25 with an April start
    runs 2024-04-01 to 2025-03-31); with a January start it is the calendar year.
    """
    first_year = fiscal_year if fiscal_year_start == 1 else fiscal_year - 1
    return _quarter_period(first_year, quarter, text or f"FY{fiscal_year} Q{quarter}", fiscal_year_start)


def _fiscal_label(value: str) -> tuple[int, int] | None:
    """(fiscal year, quarter) of an ``FY`` label: ``FY25 Q1``, ``FY2025-Q1``, ``Q1 FY25``, ``FY2025 1Q``."""
    if m := _FISCAL.match(value):
        return _two_digit_year(m[1]), int(m[2] or m[3])
    if m := _FISCAL_Q_FIRST.match(value):
        return _two_digit_year(m[3]), int(m[1] or m[2])
    return None


def _quarter_in_words(folded: str) -> tuple[int, int] | None:
    """(year, quarter) of a quarter written in words, on the folded text: ``1er trimestre 2025``,
    ``2e trimestre 2025``, ``1. Quartal 2025``, ``primer trimestre de 2025``, ``first quarter 2025``,
    ``trimestre 1 2025``; None for anything else (an unknown ordinal word included)."""
    if m := _QUARTER_WORDS.match(folded):
        quarter = int(m[1]) if m[1] else _ORDINAL_WORDS.get(m[2])
        return (int(m[3]), quarter) if quarter is not None else None
    if m := _QUARTER_WORD_FIRST.match(folded):
        return int(m[2]), int(m[1])
    return None


def parse_period(text: str, *, date_format: str | None = None,
                 fiscal_year_start: int | None = None) -> Period | ParseFailure:
    """Parse one period value into the days it covers.

    Quarters: ``2025-Q1``, ``2025Q1``, ``Q1 2025``, ``Q1/2025``, ``2025/1Q``, ``1Q 2025``, with T for
    trimestre as French and Spanish write it (``T1 2025``, ``T1-2025``, ``1T 2025``), in words
    (``1er trimestre 2025``, ``2e trimestre 2025``, ``1. Quartal 2025``, ``primer trimestre de 2025``)
    and in Japanese (``2025年第1四半期``). Fiscal quarters, when a fiscal-year start month is
    configured: ``FY25 Q1`` / ``Q1 FY2025`` (the fiscal year named by the calendar year it ends in)
    and Japanese ``2025年度第1四半期`` (年度, named by the calendar year it starts in).
    Months: ``2025-03``, ``03/2025``, ``202503``, ``Mar 2025``, ``Mar-25``, in French, German and
    Spanish too (``janv. 2025``, ``März 2025``, ``enero de 2025``), and ``2025年3月``. Anything
    else must be a single date (see ``parse_date``).
    """
    value = text.strip()
    folded = fold_text(value)
    if m := _QUARTER_YEAR_FIRST.match(value):
        return _quarter_period(int(m[1]), int(m[2] or m[3]), text)
    if m := _QUARTER_FIRST.match(value):
        return _quarter_period(int(m[3]), int(m[1] or m[2]), text)
    if words := _quarter_in_words(folded):
        return _quarter_period(words[0], words[1], text)
    if m := _JAPANESE_QUARTER.match(value):
        year, quarter = int(m[1]), int(m[3] or m[4] or m[5])
        if not m[2]:
            return _quarter_period(year, quarter, text)
        if fiscal_year_start is None:
            return ParseFailure("fiscal_year_needed",
                                f"{text!r} is a quarter of a fiscal year (年度); give the month the fiscal "
                                "year starts in (April in most Japanese companies) so it can be placed on "
                                "the calendar")
        # A 年度 is named by the calendar year it starts in: 2025年度 from April runs 2025-04 to 2026-03.
        return _quarter_period(year, quarter, text, fiscal_year_start)
    if (fiscal := _fiscal_label(value)) is not None:
        if fiscal_year_start is None:
            return ParseFailure("fiscal_year_needed",
                                f"{text!r} is a fiscal quarter; give the month the fiscal year starts "
                                "in so it can be placed on the calendar")
        return fiscal_quarter(fiscal[0], fiscal[1], fiscal_year_start, text)
    if m := _YEAR_MONTH.match(value) or _COMPACT_MONTH.match(value) or _JAPANESE_MONTH.match(value):
        return _month_period(int(m[1]), int(m[2]), text)
    if m := _MONTH_YEAR.match(value):
        return _month_period(int(m[2]), int(m[1]), text)
    if (m := _MONTH_NAME_YEAR.match(value)) and _month_number(m[1]) is not None:
        return _month_period(_two_digit_year(m[2]), _month_number(m[1]) or 0, text)
    parsed = parse_date(text, date_format)
    if isinstance(parsed, ParseFailure):
        if parsed.code == "invalid_date":
            return ParseFailure("invalid_period", f"{text!r} is not a period or date")
        return parsed
    return Period(parsed.value, parsed.value, "day")


def period_label(start: date, end: date) -> str:
    """A short label for a period: ``2025-Q1``, ``2025-03``, ``2025-03-31`` or a range."""
    last_day = calendar.monthrange(end.year, end.month)[1]
    if start.day == 1 and end.day == last_day:
        months = (end.year - start.year) * 12 + end.month - start.month + 1
        if months == 1:
            return f"{start:%Y-%m}"
        if months == 3 and start.month % 3 == 1:
            return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    if start == end:
        return start.isoformat()
    return f"{start.isoformat()}..{end.isoformat()}"


def months_covered(start: date, end: date) -> list[str]:
    """Every calendar month (``YYYY-MM``) that a period touches."""
    out = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        out.append(f"{year:04d}-{month:02d}")
        year, month = _add_months(year, month, 1)
    return out


def month_end(day: date) -> date:
    """The last day of ``day``'s month."""
    following = date(day.year + (day.month == 12), 1 if day.month == 12 else day.month + 1, 1)
    return date.fromordinal(following.toordinal() - 1)


# ---------------------------------------------------------------------------------------------
# The reporting calendar: quarters of the fiscal year (the ``fiscal_year_start`` assumption).
# ``finance.store.dataset.grain_start`` and ``grain_label`` are the same rules as Polars
# expressions; every quarter a figure is shown for goes through one or the other.
# ---------------------------------------------------------------------------------------------

def quarter_start(day: date, fiscal_year_start: int = 1) -> date:
    """The first day of the fiscal quarter ``day`` falls in (a calendar quarter with a January start).

    Fiscal quarters start in the month ``fiscal_year_start`` and every third month after it:
    with an April start, in April, July, October and January.
    """
    offset = (day.month - fiscal_year_start) % 3
    year, month = _add_months(day.year, day.month, -offset)
    return date(year, month, 1)


def add_quarters(day: date, quarters: int) -> date:
    """The first of the month ``3 * quarters`` months after ``day``'s month (before, when negative)."""
    year, month = _add_months(day.year, day.month, 3 * quarters)
    return date(year, month, 1)


def quarter_label(start: date, fiscal_year_start: int = 1) -> str:
    """The name of the quarter starting ``start``: ``2025-Q1`` with a January start, else the fiscal
    quarter, ``FY2026-Q1``, its year named by the calendar year it ends in (as ``fiscal_quarter``
    reads "FY26 Q1"): with an April start, April-June 2025 is FY2026-Q1."""
    if fiscal_year_start == 1:
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    fiscal_year = start.year + (start.month >= fiscal_year_start)
    return f"FY{fiscal_year}-Q{(start.month - fiscal_year_start) % 12 // 3 + 1}"


_QUARTER_LABEL = re.compile(r"^(FY)?(\d{4})-Q([1-4])$")


def quarter_label_start(label: str, fiscal_year_start: int = 1) -> date | None:
    """The first day of the quarter a ``quarter_label`` names (``FY`` labels read with ``fiscal_year_start``);
    None for anything else. ``2025-Q2`` is always the calendar quarter April-June 2025."""
    match = _QUARTER_LABEL.match(label)
    if match is None:
        return None
    year, quarter = int(match[2]), int(match[3])
    if not match[1]:
        return date(year, 3 * (quarter - 1) + 1, 1)
    first_year = year if fiscal_year_start == 1 else year - 1
    start_year, start_month = _add_months(first_year, fiscal_year_start, 3 * (quarter - 1))
    return date(start_year, start_month, 1)
