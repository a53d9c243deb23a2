"""How every figure is written: one rule per unit, for tiles, charts, tables, the PDF, the XLSX and the CLI.

Numbers are rounded half-up from their exact decimal (a float from its shortest repr, so 2.675 is
2.68), never through binary floating point. Unknown, NaN and infinite values are written ``n/a``.
A rounded zero never carries a sign ("0.0%", never "-0.0%").

============  ==========================  ============================================
unit          example                     rule
============  ==========================  ============================================
money         ``$1,234.56``, ``-$50.00``  two decimals (none for currencies without minor units);
                                          ``whole`` for the ends of a projected range: ``$1,235``
money_compact ``$2.77M``, ``$412.5K``     below 1,000 as money; above, in K/M/B with two
                                          decimals under 100 of the unit, one above
ratio         ``3.04x``                   two decimals; three when two would cross a band edge
percent       ``12.5%``, ``+5.1%``        one decimal; ``signed`` for a change
count         ``1,234``                   whole, with thousands separators
months        ``7.5 months``, ``1 month`` one decimal, dropped when whole; ``beyond horizon``
day           ``05 Dec 2026``             day, abbreviated month, year
month         ``Dec 2026``                abbreviated month, year
span          ``5 to 6 months``           a range: each end by its unit's rule, a unit of months once
duration      ``20 s``, ``2 min 5 s``     whole seconds, half-up; minutes from 60 s; ``under 1 s``
============  ==========================  ============================================

The currency is an ISO code (``USD``, ``EUR``); ``symbol`` gives what is written with amounts.
The same rules, for surfaces that format numbers themselves: ``excel_money`` (the XLSX number
format), ``d3_money`` (Plotly hovers and axes) and ``table_format``/``editor_format`` (the planner's
editable columns, which Streamlit writes itself); ``cell_writer`` writes the dashboard's tables' numbers.

Every rule writes in the language being written in (``finance.present.i18n.language``), with
Babel's number and date rules for its locale: the examples above are English; in French money is
``1 234,56 €`` (narrow no-break spaces between thousands, a no-break space before the symbol), a
ratio ``3,04x``, a percentage ``12,5 %``; in Japanese ``¥1,234,567`` and ``2026年12月5日``. The symbol is
the currency's own short one in every language (``£``, not ``£GB``), so one pack reads the same
currency in each.
"""

from __future__ import annotations

import functools
import math
import numbers
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.lists import format_list
from babel.numbers import format_decimal

from finance.domain.schema import DEFAULT_CURRENCY, band_of
from finance.present.i18n import DEFAULT_LANGUAGE, N_, _, language, locale, ngettext

NA = N_("n/a")
"""What an unknown figure is written as, everywhere (``na()``: in the language being written in)."""

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CNY": "CN¥", "INR": "₹",
                    "CAD": "CA$", "AUD": "A$", "NZD": "NZ$", "HKD": "HK$", "SGD": "S$", "MXN": "MX$",
                    "BRL": "R$"}
"""Symbols written before amounts; any other currency is written as its code and a space."""

MINOR_UNITS = {"JPY": 0}
"""Decimals of currencies without two (ISO 4217); every other currency has two."""

_COMPACT = ((Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "K"))
_DIGITS = re.compile(r"#,##0(?:\.0+)?")
"""The digits of a CLDR number pattern (``#,##0.00``), replaced by as many decimals as a rule writes."""
DAY_PATTERNS = {"en": "dd MMM y", "fr": "dd MMM y", "ja": "y年M月d日"}
LONG_DAY_PATTERNS = {"en": "d MMMM y", "fr": "d MMMM y", "ja": "y年M月d日"}
"""A day written out: ``5 December 2026``, ``5 décembre 2026``, ``2026年12月5日``."""
MONTH_PATTERNS = {"en": "MMM y", "fr": "MMM y", "ja": "y年M月"}
"""A month as each language writes it: ``Dec 2026``, ``déc. 2026``, ``2026年12月``."""
"""A day as each language writes it: ``05 Dec 2026``, ``05 déc. 2026``, ``2026年12月5日``."""


def language_is_default() -> bool:
    """Whether the language being written in is English, the source language."""
    return language() == DEFAULT_LANGUAGE


def na() -> str:
    """``n/a`` in the language being written in."""
    return _(NA)


def _digits(places: int) -> str:
    return "#,##0" + ("." + "0" * places if places else "")


def _number(value: Decimal, places: int) -> str:
    """An already rounded number, thousands grouped, in the locale: ``1,234.5``, ``1 234,5``."""
    return format_decimal(value, _digits(places), locale=locale(), decimal_quantization=False)


@functools.lru_cache(maxsize=64)  # languages x currencies x decimals in use: a handful
def _currency_pattern(where: str, currency: str, places: int) -> str:
    """The locale's money pattern with ``places`` decimals and the currency's own symbol as a literal."""
    pattern = _DIGITS.sub(_digits(places), Locale.parse(where).currency_formats["standard"].pattern)
    sign = symbol(currency).strip()
    if sign == currency and re.search(r"¤[#0]", pattern):
        sign += " "  # a code before the digits: "CHF 1,234.50"
    return pattern.replace("¤", "'" + sign.replace("'", "''") + "'")


def _symbol_after(currency: str = DEFAULT_CURRENCY) -> bool:
    """Whether the language writes the currency after the amount (French: ``1 234,56 €``)."""
    return Locale.parse(locale()).currency_formats["standard"].pattern.rstrip().endswith("¤")


def symbol(currency: str = DEFAULT_CURRENCY) -> str:
    """``$`` for USD, ``€`` for EUR; the code and a space for a currency without a symbol here."""
    return CURRENCY_SYMBOLS.get(currency, f"{currency} ")


def currency_name(currency: str = DEFAULT_CURRENCY) -> str:
    """The currency's name in the language being written in: ``euro``, ``円``; its code when Babel has none."""
    try:
        return str(Locale.parse(locale()).currencies.get(currency, currency))
    except (ValueError, TypeError):
        return currency


def exact(value: Any) -> Decimal | None:
    """The exact decimal of a number (a NumPy number's too); None for null, NaN, infinite or not a number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, numbers.Integral):
        return Decimal(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)  # the plain float's repr: a NumPy float's repr is "np.float64(2.675)"
        return Decimal(repr(number)) if math.isfinite(number) else None
    try:
        parsed = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return parsed if parsed.is_finite() else None


def half_up(value: Decimal, places: int) -> Decimal:
    """``value`` rounded half-up to ``places`` decimals; a rounded zero is unsigned."""
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return abs(rounded) if rounded == 0 else rounded


def money(value: Any, currency: str = DEFAULT_CURRENCY, *, whole: bool = False) -> str:
    """``$1,234.56``, ``-$50.00``, ``€12.00``, ``¥1,235``; ``n/a`` when unknown.

    ``whole``: to the nearest unit, ``$1,235``: the ends of a projected range, where cents are noise.
    """
    amount = exact(value)
    if amount is None:
        return na()
    places = 0 if whole else MINOR_UNITS.get(currency, 2)
    rounded = half_up(amount, places)
    return format_decimal(rounded, _currency_pattern(locale(), currency, places), locale=locale(),
                          decimal_quantization=False)


def money_compact(value: Any, currency: str = DEFAULT_CURRENCY) -> str:
    """``$2.77M``, ``$412.5K``, ``$41.25K``, ``$980.40``: for tiles, titles and bar labels.

    The exact figure (``money``) belongs next to it, in a tile's help or a table. French writes
    ``2,77 M €`` and ``412,5 k€``; Japanese counts in 万 and 億 (``¥277万``, ``¥3.2億``).
    """
    amount = exact(value)
    if amount is None:
        return na()
    if language() != DEFAULT_LANGUAGE:
        return _compact_in_locale(amount, currency)
    for size, suffix in _COMPACT:
        scaled = abs(amount) / size
        if half_up(scaled, 2) >= 1:
            places = 2 if half_up(scaled, 2) < 100 else 1
            shown = half_up(scaled, places)
            if shown >= 1000 and suffix != "B":
                continue  # 999,999.99 is $1.0M, not $1000.0K
            return f"{'-' if amount < 0 else ''}{symbol(currency)}{shown:,.{places}f}{suffix}"
    return money(amount, currency)


_LOCAL_COMPACT = {
    "fr": ((Decimal(10) ** 9, "\u00a0Md"), (Decimal(10) ** 6, "\u00a0M"), (Decimal(10) ** 3, "\u00a0k")),
    "ja": ((Decimal(10) ** 8, "億"), (Decimal(10) ** 4, "万")),
}
"""Each language's units of a compact amount, largest first (CLDR's short decimal formats)."""


def _compact_in_locale(amount: Decimal, currency: str) -> str:
    for size, suffix in _LOCAL_COMPACT.get(language(), ()):
        scaled = abs(amount) / size
        if half_up(scaled, 2) >= 1:
            places = 2 if half_up(scaled, 2) < 100 else 1
            shown = half_up(scaled, places)
            figure = _number(shown, places).rstrip("0").rstrip(",.") if language() == "ja" else _number(shown, places)
            sign = "-" if amount < 0 else ""
            if _symbol_after(currency):
                return f"{sign}{figure}{suffix}\u00a0{symbol(currency).strip()}"
            return f"{sign}{symbol(currency)}{figure}{suffix}"
    return money(amount, currency)


def money_tick(value: Any, currency: str = DEFAULT_CURRENCY) -> str:
    """A round amount on an axis: compact (``$50K``, ``5万``), its decimals dropped when they are zeros."""
    amount = exact(value)
    if amount is None:
        return na()
    text = money_compact(amount, currency)
    if text == money(amount, currency):  # below the first compact unit: the whole amount
        return money(amount, currency, whole=True)
    return re.sub(r"(\d)[.,]0+(?!\d)", r"\1", text)


def ratio(value: Any, edges: Sequence[float] | None = None) -> str:
    """``3.04x``; ``n/a`` when unknown.

    With the band edges, a ratio that two decimals would round across an edge (2.996 to 3.00
    against an edge at 3) gets a third decimal, so the text never contradicts its band.
    """
    number = exact(value)
    if number is None:
        return na()
    places = 2
    if edges is not None and band_of(float(half_up(number, 2)), tuple(edges)) != band_of(float(number), tuple(edges)):
        places = 3
    return f"{_number(half_up(number, places), places)}x"


def points(value: Any) -> str:
    """A change between two percentages, in percentage points: ``+2.5 pp`` (0.025); ``n/a`` when unknown."""
    number = exact(value)
    if number is None:
        return na()
    shown = half_up(number * 100, 1)
    return _("{change} pp").format(change=f"{'+' if shown > 0 else ''}{_number(shown, 1)}")


def threshold(value: float) -> str:
    """A target or band edge as people set it: ``3x``, ``2.5x`` (no trailing zeros)."""
    written = Decimal(f"{value:g}")
    return f"{_number(written, max(0, -int(written.as_tuple().exponent)))}x"


def percent(value: Any, *, signed: bool = False, places: int = 1) -> str:
    """A fraction as ``12.5%`` (0.125), or as a change ``+5.1%`` when ``signed``; ``n/a`` when unknown."""
    number = exact(value)
    if number is None:
        return na()
    shown = half_up(number * 100, places)
    sign = "+" if signed and shown > 0 else ""
    pattern = _DIGITS.sub(_digits(places), Locale.parse(locale()).percent_formats[None].pattern)
    return sign + format_decimal(shown.scaleb(-2), pattern, locale=locale(), decimal_quantization=False)


def count(value: Any) -> str:
    """``1,234``: a whole number with thousands separators; ``n/a`` when unknown."""
    number = exact(value)
    return na() if number is None else _number(half_up(number, 0), 0)


def significant(value: Any) -> str:
    """A plain figure (a fitted model parameter) to three significant figures and at most three decimals:
    ``0.49``, ``0.522``, ``12.3``, ``1,235``; ``under 0.001`` for a smaller one; ``n/a`` when unknown."""
    number = exact(value)
    if number is None:
        return na()
    if 0 < abs(number) < Decimal("0.001"):
        return (_("over {figure}") if number < 0 else _("under {figure}")).format(
            figure=_number(Decimal("-0.001") if number < 0 else Decimal("0.001"), 3))
    if abs(number) >= 1000 or number == 0:
        return count(number)
    places = min(3, max(0, 2 - math.floor(math.log10(abs(number)))))
    written = _number(half_up(number, places), places)
    return written.rstrip("0").rstrip(".,") if places else written


def months(value: Any) -> str:
    """``7.5 months``, ``12 months``, ``1 month``; ``beyond horizon`` for an infinite payback."""
    if _beyond(value):
        return _("beyond horizon")
    number = _months_figure(value)
    if number is None:
        return na()
    return ngettext("{months} month", "{months} months", 1 if number[1] == 1 else 2).format(months=number[0])


def _beyond(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isinf(float(value)) \
        and float(value) > 0


def _months_figure(value: Any) -> tuple[str, Decimal] | None:
    number = exact(value)
    if number is None:
        return None
    shown = half_up(number, 1)
    return _number(shown, 0 if shown == shown.to_integral_value() else 1), shown


def span(low: Any, high: Any, write: Callable[[Any], str]) -> str:
    """A range, each end written by ``write``: ``$1,034 to $1,123``; months name their unit once: ``5 to 6 months``."""
    first, last = write(low), write(high)
    if write is months and not _beyond(high) and (figure := _months_figure(low)) is not None \
            and (upper := _months_figure(high)) is not None and upper[1] != 1:
        first = figure[0]
    return _("{low} to {high}").format(low=first, high=last)


def day(value: date | None) -> str:
    """``05 Dec 2026``; ``n/a`` when unknown."""
    return na() if value is None else format_date(value, DAY_PATTERNS[language()], locale=locale())


def month(value: date | None) -> str:
    """``Dec 2026``: the month a day falls in (a period's first or last month); ``n/a`` when unknown."""
    return na() if value is None else format_date(value, MONTH_PATTERNS[language()], locale=locale())


def long_day(value: date) -> str:
    """``5 December 2026``: a day written out, as on a cover page."""
    return format_date(value, LONG_DAY_PATTERNS[language()], locale=locale())


def duration(seconds: Any) -> str:
    """How long a computation takes or took: ``under 1 s``, ``20 s``, ``2 min 5 s``, ``3 min``; ``n/a`` when unknown."""
    number = exact(seconds)
    if number is None or number < 0:
        return na()
    whole = int(half_up(number, 0))
    if whole < 1:
        return _("under 1 s")
    minutes, rest = divmod(whole, 60)
    if not minutes:
        return _("{seconds} s").format(seconds=rest)
    if not rest:
        return _("{minutes} min").format(minutes=minutes)
    return _("{minutes} min {seconds} s").format(minutes=minutes, seconds=rest)


def excel_money(currency: str = DEFAULT_CURRENCY) -> str:
    """The XLSX number format of money by the ``money`` rule: ``$#,##0.00``, ``"€"#,##0.00``, ``"¥"#,##0``;
    in French the symbol follows the amount: ``#,##0.00\\ "€"`` (the separators are the reader's Excel's)."""
    places = MINOR_UNITS.get(currency, 2)
    digits = _digits(places)
    sign = symbol(currency).strip()
    quoted = sign if sign == "$" else f'"{sign}"'
    if _symbol_after(currency):
        return f"{digits}\\ {quoted}"
    return f"{quoted}{digits}" if sign == "$" else f'"{symbol(currency)}"{digits}'


def d3_money(currency: str = DEFAULT_CURRENCY, places: int | None = None) -> tuple[str, str, str]:
    """(prefix, d3-format, suffix) of money in a Plotly hover or axis: ``("$", ",.2f", "")`` like ``money``,
    ``("", ",.2f", " €")`` in French; ``places=0`` for axis ticks. The figure's ``separators``
    (``d3_separators``) write the digits the language's way."""
    shown = MINOR_UNITS.get(currency, 2) if places is None else places
    if _symbol_after(currency):
        return "", f",.{shown}f", "\u00a0" + symbol(currency).strip()
    return symbol(currency), f",.{shown}f", ""


def d3_separators() -> str:
    """Plotly's ``separators``: the language's decimal mark, then its thousands separator (``.,``)."""
    where = Locale.parse(locale())
    return where.number_symbols["latn"]["decimal"] + where.number_symbols["latn"]["group"]


def listed(items: Sequence[str]) -> str:
    """Items joined as the language joins a list: ``a, b, and c``, ``a, b et c``, ``a、b、c``."""
    return format_list(list(items), locale=locale()) if items else ""


def clauses(parts: Iterable[str | None]) -> str:
    """Clauses joined as the language joins them: ``a; b`` in English, ``a ; b`` in French, ``a、b`` in Japanese
    (the empty ones left out)."""
    return _("; ").join(part for part in parts if part)


def sentences(first: str, second: str) -> str:
    """Two sentences, the first without its full stop: ``First. Second``; ``First。Second`` in Japanese."""
    return _("{first}. {second}").format(first=first, second=second) if first and second else first or second


def then(*written: str) -> str:
    """Whole sentences one after the other: ``First. Second.``; in Japanese with no space (``…。…。``)."""
    text = ""
    for sentence in (w for w in written if w):
        text = _("{first} {second}").format(first=text, second=sentence) if text else sentence
    return text


def aside(text: str, detail: str) -> str:
    """``text (detail)``: the language's brackets (full-width in Japanese); ``text`` without a detail."""
    return _("{text} ({detail})").format(text=text, detail=detail) if detail else text


def cell_writer(unit: str, currency: str = DEFAULT_CURRENCY) -> Callable[[Any], str] | None:
    """How a dashboard table writes each number of a column of ``unit``, by the rule above for that unit
    in the language being written in (``1 234,56 €`` in French, ``¥1,234,567`` in Japanese); None for a
    unit a table leaves as it is (text). The table keeps the number itself, so it sorts as a number."""
    writers: dict[str, Callable[[Any], str]] = {
        "money": functools.partial(money, currency=currency), "ratio": ratio, "count": count,
        "fraction": functools.partial(percent, places=2), "months": _months_cell, "figure": significant}
    return writers.get(unit)


def _months_cell(value: Any) -> str:
    """A count of months under a header that says so: ``7.5``; ``beyond horizon`` for an infinite payback."""
    if _beyond(value):
        return _("beyond horizon")
    number = _months_figure(value)
    return na() if number is None else number[0]


def editor_format(unit: str, currency: str = DEFAULT_CURRENCY) -> str | None:
    """The format of an editable table column (the planner's amounts), which Streamlit writes itself: in English
    ``table_format``; in another language the numbers as the reader's browser writes them (``localized``: a
    printf format would write ``1,234.56`` in French), the currency then said in the column's header."""
    return table_format(unit, currency) if language_is_default() else "localized"


def editor_header(label: str, currency: str = DEFAULT_CURRENCY) -> str:
    """An editable money column's header: ``Amount`` in English (the cells carry the sign), else ``Montant ($)``."""
    return label if language_is_default() else aside(label, symbol(currency).strip())


def table_format(unit: str, currency: str = DEFAULT_CURRENCY) -> str | None:
    """The printf-style format of a dashboard table column of ``unit`` (a ``finance.metrics.measures`` unit):
    ``$%,.2f`` for money (``%,.2f €`` where the language writes the symbol after), ``%.2fx`` for a ratio,
    ``percent`` for a fraction; None to leave it as it is."""
    if unit == "money":
        sign = symbol(currency).replace("%", "%%")
        digits = f"%,.{MINOR_UNITS.get(currency, 2)}f"
        return f"{digits} {sign.strip()}" if _symbol_after(currency) else f"{sign}{digits}"
    return {"ratio": "%.2fx", "fraction": "percent", "count": "localized"}.get(unit)
