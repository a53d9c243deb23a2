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
from decimal import ROUND_HALF_UP, Decimal

import polars as pl

from finance.domain.schema import MONEY_PRECISION, MONEY_SCALE

MONEY_DTYPE = pl.Decimal(MONEY_PRECISION, MONEY_SCALE)
MAX_INTEGER_DIGITS = MONEY_PRECISION - MONEY_SCALE

SPREADSHEET_ERROR = r"(?i)^(#.*|[+-]?nan|[+-]?inf(inity)?|n/?a|null|none|div/0!?|\?+)$"
CURRENCY_CODES = frozenset(
    "USD EUR GBP CAD AUD NZD CHF JPY CNY INR SEK NOK DKK SGD HKD MXN BRL ZAR PLN".split())
_CURRENCY_CODES = "|".join(sorted(CURRENCY_CODES))
_CURRENCY_NOISE = (
    rf"(?i:^(?:{_CURRENCY_CODES})|(?:{_CURRENCY_CODES})$)"
    r"|US\$|CA?\$|AU?\$|NZ\$|HK\$|S\$|R\$|[$€£¥₹₩₽]|\s|\u00a0|\u202f|\u2009"
)


def ascii_digits(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Digits of other scripts (fullwidth U+FF10-FF19, Arabic-Indic U+0660-0669, ...) written as 0-9.

    Returns ``(texts, changed)``: the texts with every Unicode decimal digit replaced by its
    ASCII digit, and per row whether any was. A regex ``\\d`` matches these digits but a cast
    does not read them, so they are mapped before any pattern looks at a cell: every pattern
    below is ASCII-only (``[0-9]``), and a cell either reads as a number or is an error.
    """
    changed = values.str.contains(r"[^\x00-\x7F]").fill_null(False)
    if not changed.any():
        return values, changed
    mapping = {text: _to_ascii(text) for text in values.filter(changed).unique().to_list()}
    mapped = values.replace(mapping)
    return mapped, changed & (mapped != values).fill_null(False)


def _to_ascii(text: str) -> str:
    return "".join(str(unicodedata.decimal(ch)) if unicodedata.category(ch) == "Nd" else ch for ch in text)


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
