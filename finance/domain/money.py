"""Vectorised parsers for the money and count cells of an export.

Each parser takes a Utf8 series (already stripped; null where the cell is empty) and returns
the parsed values plus a problem code per row (null where the cell is fine), so a file of
millions of rows is checked in a few column passes and every bad cell is still named.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import polars as pl

from finance.domain.schema import MONEY_PRECISION, MONEY_SCALE

MONEY_DTYPE = pl.Decimal(MONEY_PRECISION, MONEY_SCALE)
MAX_INTEGER_DIGITS = MONEY_PRECISION - MONEY_SCALE

SPREADSHEET_ERROR = r"(?i)^(#.*|[+-]?nan|[+-]?inf(inity)?|n/?a|null|none|div/0!?|\?+)$"
CURRENCY_CODES = frozenset(
    "USD EUR GBP CAD AUD NZD CHF JPY CNY INR SEK NOK DKK SGD HKD MXN BRL ZAR PLN".split())
_CURRENCY_CODES = "|".join(sorted(CURRENCY_CODES))
_DOLLARS = "AUD CAD HKD MXN NZD SGD USD"
CURRENCY_SIGNS: dict[str, str] = {
    "US$": "USD", "C$": "CAD", "CA$": "CAD", "A$": "AUD", "AU$": "AUD", "NZ$": "NZD", "HK$": "HKD",
    "S$": "SGD", "R$": "BRL", "$": _DOLLARS, "€": "EUR", "£": "GBP", "¥": "CNY JPY", "\uffe5": "CNY JPY",
    "円": "JPY", "₹": "INR", "₩": "KRW", "₽": "RUB",
}
"""The sign an amount may carry -> the currencies it can mean, space-separated: ``$`` is any dollar,
``¥`` (and the fullwidth ``￥`` Japanese spreadsheets write) yen or yuan, ``円`` the yen alone."""
_SIGNS = "|".join(re.escape(sign) for sign in sorted(CURRENCY_SIGNS, key=len, reverse=True))
CURRENCY_SIGN_PATTERN = _SIGNS
"""A regular expression matching any of ``CURRENCY_SIGNS``, the longest first (``US$`` before ``$``)."""
_CURRENCY_NOISE = (
    rf"(?i:^(?:{_CURRENCY_CODES})|(?:{_CURRENCY_CODES})$)"
    rf"|{_SIGNS}|\s|\u00a0|\u202f|\u2009"
)
"""What an amount may carry around its number and is dropped to read it: an ISO code before or after,
a currency sign (``€`` before or after, ``1,234,567円``), and spaces as thousands separators: plain,
no-break (U+00A0), narrow no-break (U+202F, as French formatting writes ``578 539,29 €``) and thin."""


def ascii_digits(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Digits of other scripts (fullwidth U+FF10-FF19, Arabic-Indic U+0660-0669, ...) written as 0-9.

    Returns ``(texts, changed)``: the texts with every Unicode decimal digit replaced by its
    ASCII digit, and per row whether any was. A regex ``\\d`` matches these digits but a cast
    does not read them, so they are mapped before any pattern looks at a cell: every pattern
    below is ASCII-only (``[0-9]``), and a cell either reads as a number or is an error.
    The fullwidth forms of ASCII punctuation and letters (U+FF01-FF5E: comma, full stop, minus, Q),
    as Japanese spreadsheets write them next to fullwidth digits, are written as ASCII too; only digits count
    as ``changed`` (what the ``non_ascii_digits`` warning tells).
    """
    # Only cells holding such a digit or form are mapped (in Python, once per distinct text): a French
    # amount's narrow no-break space and euro sign need no mapping, and a ledger has millions of them.
    other = values.str.contains(r"[\d&&[^\x00-\x7F]]|[\uff01-\uff5e]").fill_null(False)
    if not other.any():
        return values, other
    mapping = {text: _to_ascii(text) for text in values.filter(other).unique().to_list()}
    mapped = values.replace(mapping)
    digits = values.str.contains(r"[\d&&[^\x00-\x7F]]").fill_null(False)
    return mapped, other & digits


def _to_ascii(text: str) -> str:
    return "".join(str(unicodedata.decimal(ch)) if unicodedata.category(ch) == "Nd"
                   else chr(ord(ch) - 0xFEE0) if "\uff01" <= ch <= "\uff5e" else ch for ch in text)


def _normalise_digits(decimal_comma: bool) -> pl.Expr:
    """Map a sign-free amount core to plain ``1234.5678`` form, or null if it is not one."""
    core = pl.col("core")
    if decimal_comma:
        plain = core.str.contains(r"^[0-9]+(,[0-9]*)?$|^,[0-9]+$")
        grouped = core.str.contains(r"^[0-9]{1,3}(\.[0-9]{3})+(,[0-9]*)?$")
        sci = core.str.contains(r"^[0-9]+(,[0-9]+)?[eE][+-]?[0-9]+$")
        normal = (
            pl.when(plain | sci).then(core.str.replace(",", ".", literal=True))
            .when(grouped).then(core.str.replace_all(".", "", literal=True)
                                .str.replace(",", ".", literal=True))
        )
    else:
        plain = core.str.contains(r"^[0-9]+(\.[0-9]*)?$|^\.[0-9]+$")
        grouped = core.str.contains(r"^[0-9]{1,3}([,'][0-9]{3})+(\.[0-9]*)?$")
        sci = core.str.contains(r"^[0-9]+(\.[0-9]+)?[eE][+-]?[0-9]+$")
        normal = (
            pl.when(plain | sci).then(core)
            .when(grouped).then(core.str.replace_all(r"[,']", ""))
        )
    return normal.otherwise(None)


MONEY_WARNINGS = ("dash_as_zero", "non_ascii_digits")
"""Codes ``parse_money`` gives a cell it still reads as an amount."""
PLAIN_AMOUNT = rf"^-?[0-9]{{1,{MAX_INTEGER_DIGITS}}}(\.[0-9]{{1,{MONEY_SCALE}}})?$"
"""An amount as ledgers and billing systems export it (``-1234.5``): read natively, exactly."""
PLAIN_COUNT = r"^[0-9]{1,15}$"


def _plain_first(values: pl.Series, pattern: str, native: pl.DataType,
                 full: Callable[[pl.Series], tuple[pl.Series, pl.Series]]) -> tuple[pl.Series, pl.Series]:
    """Cells in the plain form cast natively (exact for these forms); only the others go through ``full``."""
    plain = values.str.contains(pattern).fill_null(True)
    odd = (~plain).arg_true()
    if odd.len() > values.len() // 2:
        return full(values)
    parsed = pl.select(pl.when(plain).then(values).cast(native)).to_series().alias(values.name)
    codes = pl.repeat(None, values.len(), dtype=pl.String, eager=True).alias(values.name)
    if odd.len():
        slow, slow_codes = full(values.gather(odd))
        parsed = parsed.scatter(odd, slow)
        codes = codes.scatter(odd, slow_codes)
    return parsed, codes


def parse_money(values: pl.Series, *, decimal_comma: bool = False) -> tuple[pl.Series, pl.Series]:
    """Parse amounts exactly: ``$12,345.67``, ``(1,200.00)``, ``-50``, ``50-``, ``1.2E+06``.

    Returns ``(amounts, codes)``: Decimal(18, 4) amounts, and per row null or one of
    ``not_a_number``, ``invalid_amount``, ``decimal_comma``, ``too_many_decimals``,
    ``amount_out_of_range``, and the warnings ``dash_as_zero`` (the amount is zero) and
    ``non_ascii_digits`` (digits of another script, such as fullwidth or Arabic-Indic, read as 0-9).
    No float is ever involved: text goes straight to a scaled integer decimal.
    """
    if decimal_comma:
        return _parse_money(values, decimal_comma=True)
    return _plain_first(values, PLAIN_AMOUNT, MONEY_DTYPE, _parse_money)


def _parse_money(values: pl.Series, *, decimal_comma: bool = False) -> tuple[pl.Series, pl.Series]:
    """Every form ``parse_money`` accepts, with a problem code for each cell it refuses."""
    texts, foreign = ascii_digits(values)
    raw = pl.col("raw").str.replace_all("\u2212", "-", literal=True)
    frame = pl.DataFrame({"raw": texts, "foreign": foreign}).lazy().with_columns(
        error_word=raw.str.contains(SPREADSHEET_ERROR),
        stripped=raw.str.replace_all(_CURRENCY_NOISE, ""),
    ).with_columns(
        dash=pl.col("stripped").is_in(["-", "\u2013", "\u2014"]),
        paren=pl.col("stripped").str.contains(r"^\(.*\)$"),
    ).with_columns(
        unwrapped=pl.when(pl.col("paren"))
        .then(pl.col("stripped").str.slice(1, pl.col("stripped").str.len_chars() - 2))
        .otherwise(pl.col("stripped")),
    ).with_columns(
        lead_minus=pl.col("unwrapped").str.starts_with("-"),
        trail_minus=pl.col("unwrapped").str.ends_with("-") & (pl.col("unwrapped").str.len_chars() > 1),
        core=pl.col("unwrapped").str.replace(r"^[+-]", "").str.replace(r"-$", ""),
    ).with_columns(
        negative=(pl.col("paren").cast(pl.Int8) + pl.col("lead_minus").cast(pl.Int8)
                  + pl.col("trail_minus").cast(pl.Int8)),
        normal=_normalise_digits(decimal_comma),
    ).with_columns(
        is_sci=pl.col("normal").str.contains(r"[eE]"),
        looks_decimal_comma=pl.lit(not decimal_comma)
        & pl.col("core").str.contains(r"^[0-9]+,[0-9]{1,2}$|^[0-9]{1,3}(\.[0-9]{3})+,[0-9]+$"),
        fraction=pl.col("normal").str.extract(r"\.([0-9]*?)0*$", 1).str.len_chars().fill_null(0),
        integer_digits=pl.col("normal").str.extract(r"^0*([0-9]*)", 1).str.len_chars(),
    ).collect()
    scientific = {text: _scientific(text)
                  for text in frame.filter(pl.col("is_sci")).get_column("normal").unique().to_list()}
    sci_plain = pl.col("normal").replace_strict(
        {k: v[0] for k, v in scientific.items()}, default=None, return_dtype=pl.String)
    sci_code = pl.col("normal").replace_strict(
        {k: v[1] for k, v in scientific.items()}, default=None, return_dtype=pl.String)
    number = pl.when(pl.col("is_sci")).then(sci_plain).otherwise(pl.col("normal"))
    signed = pl.when(pl.col("negative") == 1).then(pl.lit("-") + number).otherwise(number)
    result = frame.lazy().select(
        "raw", "foreign",
        amount=pl.when(pl.col("dash")).then(pl.lit("0")).otherwise(signed).cast(MONEY_DTYPE, strict=False),
        code=pl.when(pl.col("raw").is_null()).then(None)
        .when(pl.col("error_word")).then(pl.lit("not_a_number"))
        .when(pl.col("dash")).then(pl.lit("dash_as_zero"))
        .when(pl.col("looks_decimal_comma")).then(pl.lit("decimal_comma"))
        .when(pl.col("normal").is_null() | (pl.col("negative") > 1)).then(pl.lit("invalid_amount"))
        .when(pl.col("is_sci")).then(sci_code)
        .when(pl.col("fraction") > MONEY_SCALE).then(pl.lit("too_many_decimals"))
        .when(pl.col("integer_digits") > MAX_INTEGER_DIGITS).then(pl.lit("amount_out_of_range"))
        .otherwise(None),
    ).with_columns(
        # A row flagged as an error keeps no amount; a cast failure is an invalid amount.
        code=pl.when(pl.col("code").is_null() & pl.col("amount").is_null() & pl.col("raw").is_not_null())
        .then(pl.lit("invalid_amount")).otherwise(pl.col("code")),
    ).with_columns(
        code=pl.when(pl.col("code").is_null() & pl.col("foreign")).then(pl.lit("non_ascii_digits"))
        .otherwise(pl.col("code")),
    ).with_columns(
        amount=pl.when(pl.col("code").is_null() | pl.col("code").is_in(MONEY_WARNINGS))
        .then(pl.col("amount")).otherwise(None),
    ).collect()
    return result.get_column("amount").alias(values.name), result.get_column("code").alias(values.name)


_SCIENTIFIC = re.compile(r"([0-9]+)(?:\.([0-9]*))?[eE]([+-]?)([0-9]+)")


def _scientific(text: str) -> tuple[str | None, str | None]:
    """A scientific-notation amount (``1.2E+06``) as plain digits, or the code saying why it is none.

    Worked on the digits as text, never as a number, so an exponent such as ``1e999999999999``
    is refused for its size without the value ever being built.
    """
    match = _SCIENTIFIC.fullmatch(text)
    if match is None:
        return None, "invalid_amount"
    whole, fraction, sign, exponent = match[1], match[2] or "", match[3], match[4].lstrip("0")
    digits = (whole + fraction).lstrip("0")
    if not digits:
        return "0", None
    if len(exponent) > 6:  # a million places either way: no amount comes near
        return None, "too_many_decimals" if sign == "-" else "amount_out_of_range"
    shift = (-1 if sign == "-" else 1) * int(exponent or "0") - len(fraction)  # value = digits * 10**shift
    significant = digits.rstrip("0")
    lowest = shift + len(digits) - len(significant)  # the power of ten of the last non-zero digit
    if lowest < -MONEY_SCALE:
        return None, "too_many_decimals"
    if shift + len(digits) > MAX_INTEGER_DIGITS:
        return None, "amount_out_of_range"
    if lowest >= 0:
        return significant + "0" * lowest, None
    point = len(significant) + lowest  # digits before the decimal point
    if point > 0:
        return f"{significant[:point]}.{significant[point:]}", None
    return f"0.{'0' * -point}{significant}", None


def parse_count(values: pl.Series, *, decimal_comma: bool = False) -> tuple[pl.Series, pl.Series]:
    """Parse whole, non-negative counts: ``1234``, ``1,234``, ``1234.0``.

    Returns ``(counts, codes)``: Int64 counts, and per row null, ``not_a_number``,
    ``invalid_count`` or the warning ``non_ascii_digits`` (digits of another script, read as 0-9).
    A cell that is not empty always has a count or a code.
    """
    return _plain_first(values, PLAIN_COUNT, pl.Int64(),
                        lambda odd: _parse_count(odd, decimal_comma=decimal_comma))


MAX_COUNT_DIGITS = 15


def _parse_count(values: pl.Series, *, decimal_comma: bool = False) -> tuple[pl.Series, pl.Series]:
    group = r"\." if decimal_comma else r"[,']"
    fraction = "," if decimal_comma else r"\."
    texts, foreign = ascii_digits(values)
    frame = pl.DataFrame({"raw": texts, "foreign": foreign}).lazy().with_columns(
        core=pl.col("raw").str.replace_all(r"\s|\u00a0|\u202f", ""),
    ).with_columns(
        digits=pl.when(pl.col("core").str.contains(rf"^[0-9]+({fraction}0*)?$"))
        .then(pl.col("core").str.replace(rf"{fraction}0*$", ""))
        .when(pl.col("core").str.contains(rf"^[0-9]{{1,3}}({group}[0-9]{{3}})+$"))
        .then(pl.col("core").str.replace_all(group, ""))
        .otherwise(None),
    ).select(
        "raw", "foreign",
        count=pl.when(pl.col("digits").str.len_chars() <= MAX_COUNT_DIGITS).then(pl.col("digits"))
        .cast(pl.Int64, strict=False),
        code=pl.when(pl.col("raw").is_null()).then(None)
        .when(pl.col("raw").str.contains(SPREADSHEET_ERROR)).then(pl.lit("not_a_number"))
        .when(pl.col("digits").is_null() | (pl.col("digits").str.len_chars() > MAX_COUNT_DIGITS))
        .then(pl.lit("invalid_count"))
        .otherwise(None),
    ).with_columns(
        # Never a silent null: a cell that did not read as a count is an invalid count.
        code=pl.when(pl.col("code").is_null() & pl.col("count").is_null() & pl.col("raw").is_not_null())
        .then(pl.lit("invalid_count"))
        .when(pl.col("code").is_null() & pl.col("foreign")).then(pl.lit("non_ascii_digits"))
        .otherwise(pl.col("code")),
    ).with_columns(
        count=pl.when(pl.col("code").is_null() | (pl.col("code") == "non_ascii_digits"))
        .then(pl.col("count")).otherwise(None),
    ).collect()
    return frame.get_column("count").alias(values.name), frame.get_column("code").alias(values.name)


def amount_currencies(values: pl.Series) -> pl.DataFrame:
    """The currency each amount cell names, if any: its sign (``€``, ``¥``, ``円``, ``US$``) or ISO code.

    Returns a frame with, per row, ``sign`` (as written, the code in capitals) and ``currencies``
    (what it can mean, space-separated: ``$`` is any dollar, ``¥`` yen or yuan); both null where the
    cell names none. ``parse_money`` drops the sign to read the number; this says what it was, so an
    amount in another currency than the reporting one is an error, never a silent conversion.
    """
    # Only cells with something besides digits, marks and signs can name a currency (one pass for a
    # ledger of plain amounts).
    marked = values.str.contains(r"[^0-9.,'()+\-\s]").fill_null(False)
    if not marked.all():
        named = pl.DataFrame({"sign": pl.Series([None] * values.len(), dtype=pl.String),
                              "currencies": pl.Series([None] * values.len(), dtype=pl.String)})
        odd = marked.arg_true()
        if odd.len():
            found = amount_currencies(values.gather(odd))
            named = named.with_columns(sign=named.get_column("sign").scatter(odd, found.get_column("sign")),
                                       currencies=named.get_column("currencies").scatter(
                                           odd, found.get_column("currencies")))
        return named
    texts, _ = ascii_digits(values)
    signs = {sign: sign for sign in CURRENCY_SIGNS}
    frame = pl.DataFrame({"text": texts}).lazy().select(
        code=pl.coalesce(pl.col("text").str.extract(rf"(?i)^\s*({_CURRENCY_CODES})(?:[^A-Za-z]|$)", 1),
                         pl.col("text").str.extract(rf"(?i)(?:^|[^A-Za-z])({_CURRENCY_CODES})\s*$", 1))
        .str.to_uppercase(),
        sign=pl.col("text").str.extract(f"({_SIGNS})", 1).replace_strict(signs, default=None),
    ).select(
        sign=pl.coalesce("code", "sign"),
        currencies=pl.coalesce("code", pl.col("sign").replace_strict(CURRENCY_SIGNS, default=None)),
    ).collect()
    return frame


@dataclass(frozen=True)
class MarkReadings:
    """A column of numbers read with a decimal point and with a decimal comma, and what each cell allows.

    ``evidence`` per cell: ``"comma"`` where it reads only with a decimal comma (``1.234,56``,
    ``578 539,29``, ``12,5``), ``"point"`` only with a decimal point (``1,234.56``, ``12.50``), ``"either"``
    where both read but differently (``1,234`` is 1234 or 1.234), null where both agree (``1234``) or
    neither reads. ``point`` and ``comma`` are the two readings, as ``parse_money`` (or ``parse_count``)
    gives them: values and codes.
    """

    evidence: pl.Series
    point: tuple[pl.Series, pl.Series]
    comma: tuple[pl.Series, pl.Series]


_ONE_GROUP = r"^-?[0-9]{1,3}\.[0-9]{3}$"
"""A plain amount a decimal comma would read as thousands: ``1.234`` is 1.234 or 1234."""


def read_both_marks(values: pl.Series, *, counts: bool = False) -> MarkReadings:
    """Each cell of a money column (or, with ``counts``, a count column) read both ways: see ``MarkReadings``.

    Cells in a plain form are classed by pattern, without a second reading (``1234`` reads alike both
    ways, ``1234.5`` only with a point): a ledger of plain amounts costs one reading and two patterns.
    """
    if counts:
        point = parse_count(values)
        both = ~values.str.contains(PLAIN_COUNT).fill_null(True)
        point_only = pl.repeat(False, values.len(), eager=True)
        full: Callable[..., tuple[pl.Series, pl.Series]] = _parse_count
        warnings: tuple[str, ...] = ("non_ascii_digits",)
    else:
        point = parse_money(values)
        plain = values.str.contains(PLAIN_AMOUNT).fill_null(True)
        group = values.str.contains(_ONE_GROUP).fill_null(False)
        both = ~plain | group
        point_only = plain & ~group & values.str.contains(".", literal=True).fill_null(False)
        full = _parse_money
        warnings = MONEY_WARNINGS
    comma_values = pl.select(pl.when(point_only).then(None).otherwise(point[0])).to_series().alias(values.name)
    comma_codes = pl.select(pl.when(point_only).then(pl.lit("invalid_amount")).otherwise(point[1])
                            ).to_series().alias(values.name)
    odd = both.arg_true()
    if odd.len():
        slow, slow_codes = full(values.gather(odd), decimal_comma=True)
        comma_values = comma_values.scatter(odd, slow)
        comma_codes = comma_codes.scatter(odd, slow_codes)
    reads = pl.DataFrame({"p": point[0], "pc": point[1], "c": comma_values, "cc": comma_codes}).select(
        p=pl.col("p").is_not_null() & (pl.col("pc").is_null() | pl.col("pc").is_in(warnings)),
        c=pl.col("c").is_not_null() & (pl.col("cc").is_null() | pl.col("cc").is_in(warnings)),
        same=pl.col("p").eq_missing(pl.col("c")),
    )
    evidence = reads.select(
        pl.when(pl.col("c") & ~pl.col("p")).then(pl.lit("comma"))
        .when(pl.col("p") & ~pl.col("c")).then(pl.lit("point"))
        .when(pl.col("p") & pl.col("c") & ~pl.col("same")).then(pl.lit("either"))
        .otherwise(None).alias(values.name)
    ).to_series()
    return MarkReadings(evidence, point, (comma_values, comma_codes))


def money_text(value: Decimal | float | int | None) -> str | None:
    """Money as an exact string with two decimals, rounded half-up (``"1234.57"``), as the JSON,
    CSV and import log carry it: a serialisation, not a display format (``finance.present.formats``).

    A float is read from its shortest repr, so 2.675 is "2.68"; None, NaN and infinite give None.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = Decimal(repr(value))
    exact = Decimal(value)
    if not exact.is_finite():
        return None
    return str(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
