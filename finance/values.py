"""Vectorised parsers for the money and count cells of an export.

Each parser takes a Utf8 series (already stripped; null where the cell is empty) and returns
the parsed values plus a problem code per row (null where the cell is fine), so a file of
millions of rows is checked in a few column passes and every bad cell is still named.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation

import polars as pl

from finance.schema import MONEY_PRECISION, MONEY_SCALE

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


def _normalise_digits(decimal_comma: bool) -> pl.Expr:
    """Map a sign-free amount core to plain ``1234.5678`` form, or null if it is not one."""
    core = pl.col("core")
    if decimal_comma:
        plain = core.str.contains(r"^\d+(,\d*)?$|^,\d+$")
        grouped = core.str.contains(r"^\d{1,3}(\.\d{3})+(,\d*)?$")
        sci = core.str.contains(r"^\d+(,\d+)?[eE][+-]?\d+$")
        normal = (
            pl.when(plain | sci).then(core.str.replace(",", ".", literal=True))
            .when(grouped).then(core.str.replace_all(".", "", literal=True)
                                .str.replace(",", ".", literal=True))
        )
    else:
        plain = core.str.contains(r"^\d+(\.\d*)?$|^\.\d+$")
        grouped = core.str.contains(r"^\d{1,3}([,']\d{3})+(\.\d*)?$")
        sci = core.str.contains(r"^\d+(\.\d+)?[eE][+-]?\d+$")
        normal = (
            pl.when(plain | sci).then(core)
            .when(grouped).then(core.str.replace_all(r"[,']", ""))
        )
    return normal.otherwise(None)


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
    ``amount_out_of_range``, ``dash_as_zero`` (a warning: the amount is zero).
    No float is ever involved: text goes straight to a scaled integer decimal.
    """
    if decimal_comma:
        return _parse_money(values, decimal_comma=True)
    return _plain_first(values, PLAIN_AMOUNT, MONEY_DTYPE, _parse_money)


def _parse_money(values: pl.Series, *, decimal_comma: bool = False) -> tuple[pl.Series, pl.Series]:
    """Every form ``parse_money`` accepts, with a problem code for each cell it refuses."""
    raw = pl.col("raw").str.replace_all("\u2212", "-", literal=True)
    frame = pl.DataFrame({"raw": values}).lazy().with_columns(
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
        & pl.col("core").str.contains(r"^\d+,\d{1,2}$|^\d{1,3}(\.\d{3})+,\d+$"),
        fraction=pl.col("normal").str.extract(r"\.(\d*?)0*$", 1).str.len_chars().fill_null(0),
        integer_digits=pl.col("normal").str.extract(r"^0*(\d*)", 1).str.len_chars(),
    ).collect()
    sci_values = frame.filter(pl.col("is_sci")).get_column("normal").unique().to_list()
    sci_ok = {}
    for text in sci_values:
        try:
            number = Decimal(text)
        except InvalidOperation:
            continue
        exponent = number.as_tuple().exponent
        places = max(0, -exponent) if isinstance(exponent, int) else 99
        integer = int(abs(number))
        sci_ok[text] = (places <= MONEY_SCALE or number == number.quantize(Decimal(1).scaleb(-MONEY_SCALE)),
                        len(str(integer)) <= MAX_INTEGER_DIGITS)
    sci_places = pl.col("normal").replace_strict(
        {k: v[0] for k, v in sci_ok.items()}, default=False, return_dtype=pl.Boolean)
    sci_range = pl.col("normal").replace_strict(
        {k: v[1] for k, v in sci_ok.items()}, default=False, return_dtype=pl.Boolean)
    signed = pl.when(pl.col("negative") == 1).then(pl.lit("-") + pl.col("normal")).otherwise(pl.col("normal"))
    result = frame.lazy().select(
        "raw",
        amount=pl.when(pl.col("dash")).then(pl.lit("0")).otherwise(signed).cast(MONEY_DTYPE, strict=False),
        code=pl.when(pl.col("raw").is_null()).then(None)
        .when(pl.col("error_word")).then(pl.lit("not_a_number"))
        .when(pl.col("dash")).then(pl.lit("dash_as_zero"))
        .when(pl.col("looks_decimal_comma")).then(pl.lit("decimal_comma"))
        .when(pl.col("normal").is_null() | (pl.col("negative") > 1)).then(pl.lit("invalid_amount"))
        .when(pl.col("is_sci") & ~sci_places).then(pl.lit("too_many_decimals"))
        .when(pl.col("is_sci") & ~sci_range).then(pl.lit("amount_out_of_range"))
        .when(~pl.col("is_sci") & (pl.col("fraction") > MONEY_SCALE)).then(pl.lit("too_many_decimals"))
        .when(~pl.col("is_sci") & (pl.col("integer_digits") > MAX_INTEGER_DIGITS))
        .then(pl.lit("amount_out_of_range"))
        .otherwise(None),
    ).with_columns(
        # A row flagged as an error keeps no amount; a cast failure is an invalid amount.
        code=pl.when(pl.col("code").is_null() & pl.col("amount").is_null() & pl.col("raw").is_not_null())
        .then(pl.lit("invalid_amount")).otherwise(pl.col("code")),
    ).with_columns(
        amount=pl.when(pl.col("code").is_null() | (pl.col("code") == "dash_as_zero"))
        .then(pl.col("amount")).otherwise(None),
    ).collect()
    return result.get_column("amount").alias(values.name), result.get_column("code").alias(values.name)


def parse_count(values: pl.Series, *, decimal_comma: bool = False) -> tuple[pl.Series, pl.Series]:
    """Parse whole, non-negative counts: ``1234``, ``1,234``, ``1234.0``.

    Returns ``(counts, codes)``: Int64 counts, and per row null, ``not_a_number`` or
    ``invalid_count``.
    """
    return _plain_first(values, PLAIN_COUNT, pl.Int64(),
                        lambda odd: _parse_count(odd, decimal_comma=decimal_comma))


def _parse_count(values: pl.Series, *, decimal_comma: bool = False) -> tuple[pl.Series, pl.Series]:
    group = r"\." if decimal_comma else r"[,']"
    fraction = "," if decimal_comma else r"\."
    frame = pl.DataFrame({"raw": values}).lazy().with_columns(
        core=pl.col("raw").str.replace_all(r"\s|\u00a0|\u202f", ""),
    ).with_columns(
        digits=pl.when(pl.col("core").str.contains(rf"^\d+({fraction}0*)?$"))
        .then(pl.col("core").str.replace(rf"{fraction}0*$", ""))
        .when(pl.col("core").str.contains(rf"^\d{{1,3}}({group}\d{{3}})+$"))
        .then(pl.col("core").str.replace_all(group, ""))
        .otherwise(None),
    ).select(
        count=pl.when(pl.col("digits").str.len_chars() <= 15).then(pl.col("digits"))
        .cast(pl.Int64, strict=False),
        code=pl.when(pl.col("raw").is_null()).then(None)
        .when(pl.col("raw").str.contains(SPREADSHEET_ERROR)).then(pl.lit("not_a_number"))
        .when(pl.col("digits").is_null() | (pl.col("digits").str.len_chars() > 15))
        .then(pl.lit("invalid_count"))
        .otherwise(None),
    ).collect()
    return frame.get_column("count").alias(values.name), frame.get_column("code").alias(values.name)
