"""The metric core's input: the four tables in force, as lazy Polars frames.

The store builds a ``Dataset``; the core only reads it. Nothing here imports DuckDB,
Streamlit or Plotly, so the same metrics run in the app, the CLI, exports and tests.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Literal

import polars as pl

from finance.domain.money import MONEY_DTYPE
from finance.domain.periods import month_end
from finance.domain.schema import DATA_KINDS
from finance.ingest.prepare import STORAGE_SCHEMAS

Grain = Literal["quarter", "month"]
GRAINS: tuple[Grain, ...] = ("quarter", "month")
MONEY_UNITS = 10_000
"""Money is DECIMAL(18,4): 1 unit = 1/10,000 of the currency, so splits stay exact."""
RATIO_DTYPE = pl.Decimal(38, 10)
"""Money ratios (CAC, CPL) keep 10 decimals, so rounding them to cents is exact."""
UNKNOWN = "(unknown)"
SHARED = "(shared)"
SpendBasis = Literal["accrual", "cash"]
SPEND_BASES: tuple[SpendBasis, ...] = ("accrual", "cash")
"""How spend is placed in time. ``cash``: in the period it was paid (booked), as imported. ``accrual``: a row with a
service period (``service_start``, ``service_end``: an annual contract, an event deposit, a retainer) in the months
of the service instead (``amortised``); the others as paid. The default is accrual when any row has one."""
CENT_UNITS = MONEY_UNITS // 100
"""Money units in a cent: an amortised month is whole cents."""
_DAYS_LCM = 377_580
"""The least common multiple of 28, 29, 30 and 31: a month's weight in whole numbers, whatever its length."""


@dataclass(frozen=True)
class Summary:
    """What the store keeps of the ledger as of its end (``finance.store.summaries``), for the figures as of then.

    ``customers``: every customer once, resolved as ``acquired_customers`` does, with their ledger's totals,
    months with revenue and purchase history; ``margins``: margin and paying customers per acquisition
    month, channel, segment and month of age. ``acquired_by``: set when the data are cut at ``as_of``
    (``Dataset.as_of``): customers acquired after it are not there.
    """

    as_of: date
    customers: pl.DataFrame
    margins: pl.DataFrame
    acquired_by: date | None = None
    lake: str | None = None
    """Where the ledger is, when it is in a data lake (reduced there on Spark) and so not in the store."""

    def answers(self, as_of: date) -> bool:
        """Whether the summary holds the figures as of ``as_of`` exactly (else the ledger is read)."""
        return as_of == self.as_of


class LedgerElsewhere(ValueError):
    """A figure needs the revenue ledger's rows, and the ledger is in a data lake, not in the store."""


@dataclass(frozen=True)
class Dataset:
    """Spend, funnel, customers and revenue rows in force (the store's views), and the store's summary of the
    ledger when it has one (``Summary``): the figures as of the ledger's end read it instead of the ledger.

    ``basis``: how ``spend`` is placed in time (``SPEND_BASES``); None until one is chosen (``on_basis``): the
    rows as paid. ``paid``: the spend rows as imported, when ``spend`` is amortised.
    """

    spend: pl.LazyFrame
    funnel: pl.LazyFrame
    customers: pl.LazyFrame
    revenue: pl.LazyFrame
    summary: Summary | None = None
    basis: SpendBasis | None = None
    paid: pl.LazyFrame | None = None

    @property
    def as_paid(self) -> pl.LazyFrame:
        """The spend rows as imported (cash basis)."""
        return self.paid if self.paid is not None else self.spend

    def has_service_periods(self) -> bool:
        """Whether any spend row carries a service period (then accrual is the default basis)."""
        return bool(self.as_paid.select(pl.col("service_start").is_not_null().any()).collect().item())

    def on_basis(self, basis: SpendBasis | None = None) -> Dataset:
        """The data with spend on ``basis`` (default: accrual when any row has a service period, else cash).

        On accrual a row with a service period is replaced by its months (``amortised``) within the months
        the spend covers as paid; what falls outside them is left out here and listed by ``prepaid``.
        """
        if basis is not None and basis not in SPEND_BASES:
            raise ValueError(f"unknown spend basis {basis!r}; valid: {', '.join(SPEND_BASES)}")
        chosen: SpendBasis = basis or ("accrual" if self.has_service_periods() else "cash")
        if chosen == self.basis:
            return self
        paid = self.as_paid
        if chosen == "cash":
            return replace(self, spend=paid, basis="cash", paid=None)
        first, last = _paid_span(paid)
        months = amortised(paid)
        inside = months.filter(pl.col("period_start").is_between(pl.lit(first), pl.lit(last))) \
            if first is not None else months
        names = paid.collect_schema().names()
        spend = pl.concat([paid.filter(pl.col("service_start").is_null()), inside.select(names)])
        return replace(self, spend=spend, basis="accrual", paid=paid)

    def prepaid(self) -> pl.DataFrame:
        """The spend amortised into months outside those the spend covers as paid, per spend row: so a prepaid
        cost is reported, never dropped silently. Columns: source_row, category, channel, vendor, description,
        service_start, service_end, amount (the row's), before and after (the amounts in months before the
        first and after the last month covered), first and last (those months)."""
        paid = self.as_paid
        first, last = _paid_span(paid)
        columns = ["source_row", "category", "channel", "vendor", "description", "service_start", "service_end"]
        if first is None:
            return pl.DataFrame(schema={**{c: paid.collect_schema()[c] for c in columns}, "amount": MONEY_DTYPE,
                                        "before": MONEY_DTYPE, "after": MONEY_DTYPE, "first": pl.Date(),
                                        "last": pl.Date()})
        months = amortised(paid).with_columns(
            __before=pl.col("period_start") < first, __after=pl.col("period_start") > last)
        out = (months.group_by("__row", maintain_order=True).agg(
                   *[pl.col(c).first() for c in columns],
                   amount=pl.col("amount").sum().cast(MONEY_DTYPE),
                   before=pl.col("amount").filter(pl.col("__before")).sum().cast(MONEY_DTYPE),
                   after=pl.col("amount").filter(pl.col("__after")).sum().cast(MONEY_DTYPE))
               .filter((pl.col("before") != 0) | (pl.col("after") != 0))
               .with_columns(first=pl.lit(first), last=pl.lit(last))
               .drop("__row").sort("service_start", "source_row"))
        return out.collect()

    @classmethod
    def from_frames(cls, **frames: pl.DataFrame | pl.LazyFrame) -> Dataset:
        """Build from frames with the storage columns; a missing kind is an empty table, a missing column null."""
        tables = {}
        for kind in DATA_KINDS:
            schema = STORAGE_SCHEMAS[kind]
            frame = frames.get(kind)
            if frame is None:
                tables[kind] = pl.LazyFrame(schema=schema)
            else:
                lazy = frame.lazy() if isinstance(frame, pl.DataFrame) else frame
                present = lazy.collect_schema().names()
                tables[kind] = lazy.select([(pl.col(n) if n in present else pl.lit(None)).cast(t).alias(n)
                                            for n, t in schema.items()])
        return cls(tables["spend"], tables["funnel"], tables["customers"], tables["revenue"])

    def summary_for(self, as_of: date) -> Summary | None:
        """The summary, when it holds the figures as of ``as_of``."""
        return self.summary if self.summary is not None and self.summary.answers(as_of) else None

    def as_of(self, day: date | None) -> Dataset:
        """The data as it stood at ``day``: every row dated after it is ignored.

        A spend or funnel row counts when its period starts on or before ``day``.
        """
        if day is None:
            return self
        summary = self.summary_for(day)
        if summary is None and self.summary is not None and self.summary.lake is not None:
            raise LedgerElsewhere(
                f"the figures as of {day.isoformat()} need the revenue ledger's rows, and the ledger is in the data "
                f"lake at {self.summary.lake}: this store holds its summary as of {self.summary.as_of.isoformat()}, "
                "the ledger's end, only")
        return Dataset(
            spend=self.spend.filter(pl.col("period_start") <= day),
            funnel=self.funnel.filter(pl.col("period_start") <= day),
            customers=self.customers.filter(pl.col("acquired_on") <= day),
            revenue=self.revenue.filter(pl.col("date") <= day),
            summary=replace(summary, acquired_by=day) if summary is not None else None,
            basis=self.basis,
            paid=self.paid.filter(pl.col("period_start") <= day) if self.paid is not None else None,
        )


def _paid_span(paid: pl.LazyFrame) -> tuple[date | None, date | None]:
    """The first and last month (their first days) the spend rows cover as paid; None without rows."""
    first, last = paid.select(pl.col("period_start").min().dt.month_start(),
                              pl.col("period_end").max().dt.month_start()).collect().row(0)
    return first, last


def amortised(spend: pl.LazyFrame) -> pl.LazyFrame:
    """Each spend row with a service period as one row per month of the service, amortised exactly to the cent.

    A month weighs the share of its days the service covers (a whole month 1, the first half of March 16/31),
    so a service of whole months is spread evenly; each month gets its weight's share of the amount, rounded
    down to the cent, and the cents left over go one each to the first months, the sub-cent rest (an
    amount converted to four decimals) to the first: the months add up to the amount exactly. A credit is
    spread as its amount's size, then signed. Columns: the spend's, with the month as ``period_start`` to
    ``period_end``, and ``__row`` (the row it came from, in order).
    """
    names = spend.collect_schema().names()
    units = (pl.col("amount") * MONEY_UNITS).cast(pl.Int128)
    month = pl.col("period_start")
    covered = ((pl.min_horizontal(pl.col("service_end"), month.dt.month_end())
                - pl.max_horizontal(pl.col("service_start"), month)).dt.total_days() + 1).cast(pl.Int128)
    weight = covered * (pl.lit(_DAYS_LCM, pl.Int128) // month.dt.month_end().dt.day().cast(pl.Int128))
    total = weight.sum().over("__row")
    base = (pl.col("__units") * pl.col("__weight") // pl.col("__total")) // CENT_UNITS * CENT_UNITS
    return (
        spend.filter(pl.col("service_start").is_not_null())
        .with_row_index("__row")
        .with_columns(
            period_start=pl.date_ranges(pl.col("service_start").dt.month_start(),
                                        pl.col("service_end").dt.month_start(), interval="1mo"),
            __units=units.abs(), __sign=units.sign(),
        )
        .explode("period_start")
        .with_columns(period_end=month.dt.month_end(), __weight=weight, __i=pl.int_range(pl.len()).over("__row"))
        .with_columns(__total=total)
        .with_columns(__base=base)
        .with_columns(__left=pl.col("__units") - pl.col("__base").sum().over("__row"))
        .with_columns(__share=pl.col("__base")
                      + (pl.col("__i") < pl.col("__left") // CENT_UNITS).cast(pl.Int128) * CENT_UNITS
                      + (pl.col("__i") == 0).cast(pl.Int128) * (pl.col("__left") % CENT_UNITS))
        .with_columns(amount=((pl.col("__share") * pl.col("__sign")).cast(pl.Decimal(38, 0)).cast(MONEY_DTYPE)
                              / MONEY_UNITS).cast(MONEY_DTYPE))
        .select(*names, "__row")
    )


def grain_start(column: pl.Expr, grain: Grain, fiscal_year_start: int = 1) -> pl.Expr:
    """The first day of the month or fiscal quarter a date falls in.

    Quarters start in the month ``fiscal_year_start`` and every third month after it (calendar
    quarters with a January start); ``finance.domain.periods.quarter_start`` for one date.
    """
    if grain != "quarter":
        return column.dt.truncate("1mo")
    offset = (fiscal_year_start - 1) % 3
    if not offset:  # April, July and October starts share the calendar's quarter boundaries
        return column.dt.truncate("1q")
    return column.dt.month_start().dt.offset_by(f"-{offset}mo").dt.truncate("1q").dt.offset_by(f"{offset}mo")


def grain_label(column: pl.Expr, grain: Grain, fiscal_year_start: int = 1) -> pl.Expr:
    """``2025-Q1`` or ``2025-03`` for a grain start date; ``FY2026-Q1`` for a fiscal quarter when the
    fiscal year starts in another month than January (``finance.domain.periods.quarter_label``)."""
    if grain != "quarter":
        return column.dt.strftime("%Y-%m")
    if fiscal_year_start == 1:
        return pl.format("{}-Q{}", column.dt.year(), column.dt.quarter())
    month = column.dt.month().cast(pl.Int32)
    fiscal_year = column.dt.year() + (month >= fiscal_year_start).cast(pl.Int32)
    return pl.format("FY{}-Q{}", fiscal_year, (month - fiscal_year_start + 12) % 12 // 3 + 1)


def shift_months(column: pl.Expr, months: int) -> pl.Expr:
    return column.dt.offset_by(f"{months}mo") if months else column


def spend_by_month(spend: pl.LazyFrame, keys: tuple[str, ...] = ("category", "channel")) -> pl.LazyFrame:
    """Spend rows spread evenly over the months their period covers, exactly.

    A quarterly row becomes three monthly rows of a third each; the indivisible
    ten-thousandths go to the first months, so every row's months sum to its amount.
    Columns: month, ``keys`` (category, channel), amount (Decimal(38, 4)). The general ledger's rows
    (``account``) are spread by the same rule.
    """
    units = (pl.col("amount") * MONEY_UNITS).cast(pl.Int64)
    return (
        spend.with_row_index("__row")
        .with_columns(
            month=pl.date_ranges(pl.col("period_start").dt.month_start(), pl.col("period_end").dt.month_start(),
                                 interval="1mo"),
            __units=units.abs(), __sign=units.sign(),
        )
        .with_columns(__n=pl.col("month").list.len())
        .explode("month")
        .with_columns(__i=pl.int_range(pl.len()).over("__row"))
        .with_columns(
            __share=pl.col("__units") // pl.col("__n")
            + (pl.col("__i") < pl.col("__units") % pl.col("__n")).cast(pl.Int64),
        )
        .select(
            "month", *keys,
            amount=(pl.col("__share") * pl.col("__sign")).cast(pl.Decimal(38, 4)) / MONEY_UNITS,
        )
    )


def channel_key(column: pl.Expr) -> pl.Expr:
    """Channels match across files ignoring case and spacing: ``channel_name_key`` as an expression."""
    return column.str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()


MARGIN_DTYPE = pl.Decimal(38, 8)
"""A margin made with the default gross margin: revenue (4 decimals) times a rate (4 decimals) is exact in 8."""


def margin_rate(rate: Decimal | float) -> pl.Expr:
    """The default gross margin as the exact decimal every margin is made with."""
    return pl.lit(rate).cast(pl.Decimal(38, 4)).cast(MARGIN_DTYPE)


def row_margin(rate: Decimal | float) -> pl.Expr:
    """Each revenue row's margin: its own, else its revenue times the default gross margin, exactly."""
    return pl.coalesce(pl.col("gross_margin").cast(MARGIN_DTYPE),
                       pl.col("revenue").cast(MARGIN_DTYPE) * margin_rate(rate))


def kept_margin(given: str, no_margin: str, rate: Decimal | float) -> pl.Expr:
    """A summed margin from its kept parts (``finance.store.summaries``): the sum of ``row_margin`` to the last
    decimal, whatever the rows; null when neither part is there (no rows)."""
    parts = (pl.col(given).cast(MARGIN_DTYPE).fill_null(0)
             + pl.col(no_margin).cast(MARGIN_DTYPE).fill_null(0) * margin_rate(rate))
    return pl.when(pl.col(given).is_null() & pl.col(no_margin).is_null()).then(None).otherwise(parts)


def safe_ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """numerator / denominator as an exact money ratio; null when the denominator is 0 or null."""
    # Null the zero first: both branches of a when/then are evaluated, and a decimal
    # division by zero raises rather than giving null.
    nonzero = pl.when(denominator == 0).then(None).otherwise(denominator)
    return numerator.cast(RATIO_DTYPE) / nonzero.cast(pl.Decimal(38, 4))


def ledger_end(data: Dataset) -> date | None:
    """The last day the revenue ledger covers: the end of the month of its latest row (None if empty).

    Billing and order exports come by whole months or quarters, so the month of the last revenue
    row is complete: a ledger whose last invoice is dated 28 December covers December.
    """
    if data.summary is not None:
        return data.summary.as_of
    last = data.revenue.select(pl.col("date").max()).collect().item()
    return month_end(last) if last is not None else None


def default_as_of(data: Dataset) -> date:
    """The LTV as-of date: the end of the last month the revenue ledger covers.

    Spend and funnel rows for later periods never move it: next quarter's spend, loaded before
    its customers and revenue, is shown as awaiting them and changes no earlier figure. Without
    revenue, the end of the month of the latest acquisition, else the start of the latest spend
    or funnel period.
    """
    end = ledger_end(data)
    if end is not None:
        return end
    acquired = data.customers.select(pl.col("acquired_on").max()).collect().item()
    if acquired is not None:
        return month_end(acquired)
    candidates = [
        data.spend.select(pl.col("period_start").max()).collect().item(),
        data.funnel.select(pl.col("period_start").max()).collect().item(),
    ]
    known = [c for c in candidates if c is not None]
    return max(known) if known else date.today()


def acquired_customers(data: Dataset, extra: tuple[str, ...] = ()) -> pl.LazyFrame:
    """Every customer once, with acquisition date, channel and segment.

    From the customers file when it has rows; otherwise each customer's first revenue date
    (so a customer returning after a gap is a reactivation, never a second acquisition).
    Channel and segment fall back to the customer's first revenue row, then "(unknown)".
    ``extra`` names further customers-file columns to carry (those the file has; null without one).
    """
    present = set(data.customers.collect_schema().names())
    extras = [c for c in extra if c in present]
    if data.summary is not None:
        kept = data.summary.customers.lazy()
        if data.summary.acquired_by is not None:
            kept = kept.filter(pl.col("acquired_on") <= data.summary.acquired_by)
        return kept.select("customer_id", "acquired_on", "channel", "segment",
                           *(pl.col(c) if c in kept.collect_schema().names() else pl.lit(None, pl.String).alias(c)
                             for c in extras))
    labelled = any(data.revenue.select(pl.col("channel", "segment").is_not_null().any()).collect().row(0))
    no_fallback = {"rev_channel": pl.lit(None, pl.String), "rev_segment": pl.lit(None, pl.String)}
    if labelled:
        first_revenue = (
            data.revenue.sort("date", "source_row")
            .group_by("customer_id")
            .agg(first_date=pl.col("date").min(), rev_channel=pl.col("channel").drop_nulls().first(),
                 rev_segment=pl.col("segment").drop_nulls().first())
        )
    else:  # no revenue row names a channel or segment: no need to order the ledger to find the first
        first_revenue = data.revenue.group_by("customer_id").agg(first_date=pl.col("date").min()).with_columns(
            **no_fallback)
    if data.customers.select(pl.len()).collect().item() == 0:
        base = first_revenue.with_columns(
            acquired_on=pl.col("first_date"), channel=pl.lit(None, pl.String), segment=pl.lit(None, pl.String),
            **{c: pl.lit(None, pl.String) for c in extras})
    elif labelled:
        base = data.customers.select("customer_id", "acquired_on", "channel", "segment", *extras).join(
            first_revenue, on="customer_id", how="left")
    else:  # the customers file alone: the revenue rows have nothing to fall back on
        base = data.customers.select("customer_id", "acquired_on", "channel", "segment", *extras).with_columns(
            **no_fallback)
    return base.select(
        "customer_id", "acquired_on", pl.coalesce("channel", "rev_channel", pl.lit(UNKNOWN)).alias("channel"),
        pl.coalesce("segment", "rev_segment", pl.lit(UNKNOWN)).alias("segment"), *extras,
    )
