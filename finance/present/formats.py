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
span          ``5 to 6 months``           a range: each end by its unit's rule, a unit of months once
duration      ``20 s``, ``2 min 5 s``     whole seconds, half-up; minutes from 60 s; ``under 1 s``
============  ==========================  ============================================

The currency is an ISO code (``USD``, ``EUR``); ``symbol`` gives what is written before amounts.
The same rules, for surfaces that format numbers themselves: ``excel_money`` (the XLSX number
format), ``d3_money`` (Plotly hovers and axes) and ``table_format`` (the dashboard's table columns).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from finance.domain.schema import DEFAULT_CURRENCY, band_of

NA = "n/a"
"""What an unknown figure is written as, everywhere."""

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CNY": "CN¥", "INR": "₹",
                    "CAD": "CA$", "AUD": "A$", "NZD": "NZ$", "HKD": "HK$", "SGD": "S$", "MXN": "MX$",
                    "BRL": "R$"}
"""Symbols written before amounts; any other currency is written as its code and a space."""

MINOR_UNITS = {"JPY": 0}
"""Decimals of currencies without two (ISO 4217); every other currency has two."""

_COMPACT = ((Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "K"))


def symbol(currency: str = DEFAULT_CURRENCY) -> str:
    """``$`` for USD, ``€`` for EUR; the code and a space for a currency without a symbol here."""
    return CURRENCY_SYMBOLS.get(currency, f"{currency} ")


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
        return NA
    places = 0 if whole else MINOR_UNITS.get(currency, 2)
    rounded = half_up(amount, places)
    sign = "-" if rounded < 0 else ""
    return f"{sign}{symbol(currency)}{abs(rounded):,.{places}f}"


def money_compact(value: Any, currency: str = DEFAULT_CURRENCY) -> str:
    """``$2.77M``, ``$412.5K``, ``$41.25K``, ``$980.40``: for tiles, titles and bar labels.

    The exact figure (``money``) belongs next to it, in a tile's help or a table.
    """
    amount = exact(value)
    if amount is None:
        return NA
    for size, suffix in _COMPACT:
        scaled = abs(amount) / size
        if half_up(scaled, 2) >= 1:
            places = 2 if half_up(scaled, 2) < 100 else 1
            shown = half_up(scaled, places)
            if shown >= 1000 and suffix != "B":
                continue  # 999,999.99 is $1.0M, not $1000.0K
            return f"{'-' if amount < 0 else ''}{symbol(currency)}{shown:,.{places}f}{suffix}"
    return money(amount, currency)


def ratio(value: Any, edges: Sequence[float] | None = None) -> str:
    """``3.04x``; ``n/a`` when unknown.

    With the band edges, a ratio that two decimals would round across an edge (2.996 to 3.00
    against an edge at 3) gets a third decimal, so the text never contradicts its band.
    """
    number = exact(value)
    if number is None:
        return NA
    text = half_up(number, 2)
    if edges is not None and band_of(float(text), tuple(edges)) != band_of(float(number), tuple(edges)):
        text = half_up(number, 3)
    return f"{text:,}x"


def points(value: Any) -> str:
    """A change between two percentages, in percentage points: ``+2.5 pp`` (0.025); ``n/a`` when unknown."""
    number = exact(value)
    if number is None:
        return NA
    shown = half_up(number * 100, 1)
    return f"{'+' if shown > 0 else ''}{shown} pp"


def threshold(value: float) -> str:
    """A target or band edge as people set it: ``3x``, ``2.5x`` (no trailing zeros)."""
    return f"{value:g}x"


def percent(value: Any, *, signed: bool = False, places: int = 1) -> str:
    """A fraction as ``12.5%`` (0.125), or as a change ``+5.1%`` when ``signed``; ``n/a`` when unknown."""
    number = exact(value)
    if number is None:
        return NA
    shown = half_up(number * 100, places)
    sign = "+" if signed and shown > 0 else ""
    return f"{sign}{shown:,.{places}f}%"


def count(value: Any) -> str:
    """``1,234``: a whole number with thousands separators; ``n/a`` when unknown."""
    number = exact(value)
    return NA if number is None else f"{half_up(number, 0):,.0f}"


def significant(value: Any) -> str:
    """A plain figure (a fitted model parameter) to three significant figures and at most three decimals:
    ``0.49``, ``0.522``, ``12.3``, ``1,235``; ``under 0.001`` for a smaller one; ``n/a`` when unknown."""
    number = exact(value)
    if number is None:
        return NA
    if 0 < abs(number) < Decimal("0.001"):
        return "over -0.001" if number < 0 else "under 0.001"
    if abs(number) >= 1000 or number == 0:
        return count(number)
    places = min(3, max(0, 2 - math.floor(math.log10(abs(number)))))
    written = f"{half_up(number, places):,.{places}f}"
    return written.rstrip("0").rstrip(".") if places else written


def months(value: Any) -> str:
    """``7.5 months``, ``12 months``, ``1 month``; ``beyond horizon`` for an infinite payback."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isinf(float(value)) \
            and float(value) > 0:
        return "beyond horizon"
    number = exact(value)
    if number is None:
        return NA
    shown = half_up(number, 1)
    text = f"{shown:,.0f}" if shown == shown.to_integral_value() else f"{shown:,.1f}"
    return f"{text} month" if shown == 1 else f"{text} months"


def span(low: Any, high: Any, write: Callable[[Any], str]) -> str:
    """A range, each end written by ``write``: ``$1,034 to $1,123``; months name their unit once: ``5 to 6 months``."""
    first, last = write(low), write(high)
    if write is months and first.endswith((" month", " months")) and last.endswith(" months"):
        first = first.rsplit(" ", 1)[0]
    return f"{first} to {last}"


def day(value: date | None) -> str:
    """``05 Dec 2026``; ``n/a`` when unknown."""
    return NA if value is None else f"{value:%d %b %Y}"


def duration(seconds: Any) -> str:
    """How long a computation takes or took: ``under 1 s``, ``20 s``, ``2 min 5 s``, ``3 min``; ``n/a`` when unknown."""
    number = exact(seconds)
    if number is None or number < 0:
        return NA
    whole = int(half_up(number, 0))
    if whole < 1:
        return "under 1 s"
    minutes, rest = divmod(whole, 60)
    if not minutes:
        return f"{rest} s"
    return f"{minutes} min" + (f" {rest} s" if rest else "")


def excel_money(currency: str = DEFAULT_CURRENCY) -> str:
    """The XLSX number format of money by the ``money`` rule: ``$#,##0.00``, ``"€"#,##0.00``, ``"¥"#,##0``."""
    places = MINOR_UNITS.get(currency, 2)
    digits = "#,##0" + ("." + "0" * places if places else "")
    sign = symbol(currency)
    return f"{sign}{digits}" if sign == "$" else f'"{sign}"{digits}'


def d3_money(currency: str = DEFAULT_CURRENCY, places: int | None = None) -> tuple[str, str]:
    """(prefix, d3-format) of money in a Plotly hover or axis: ``("$", ",.2f")`` like ``money``;
    ``places=0`` for axis ticks."""
    shown = MINOR_UNITS.get(currency, 2) if places is None else places
    return symbol(currency), f",.{shown}f"


def table_format(unit: str, currency: str = DEFAULT_CURRENCY) -> str | None:
    """The printf-style format of a dashboard table column of ``unit`` (a ``finance.metrics.measures`` unit):
    ``$%,.2f`` for money, ``%.2fx`` for a ratio, ``percent`` for a fraction; None to leave it as it is."""
    if unit == "money":
        return f"{symbol(currency).replace('%', '%%')}%,.{MINOR_UNITS.get(currency, 2)}f"
    return {"ratio": "%.2fx", "fraction": "percent", "count": "localized"}.get(unit)
