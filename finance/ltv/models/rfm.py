"""A transaction log as the per-customer recency, frequency and monetary value (RFM) the BG/NBD and
Gamma-Gamma models take, in the conventions of FHL 2005a's CDNOW data."""

from __future__ import annotations

from datetime import date

import polars as pl


def rfm_summary(
    transactions: pl.LazyFrame | pl.DataFrame,
    *,
    customer: str,
    date: str,
    value: str | None,
    as_of: date,
    time_unit_days: float = 7.0,
) -> pl.DataFrame:
    """Summarise a transaction log into the per-customer (frequency, recency, T, monetary_value) the models take.

    Conventions (those of FHL 2005a's CDNOW data):

    * transactions dated after ``as_of`` are ignored, and customers with none on or before it are absent;
    * purchases on the same day are one purchase, their values summed;
    * frequency = number of purchase days after the first (repeat purchases);
    * recency = (last purchase day - first purchase day) / time_unit_days;
    * T = (as_of - first purchase day) / time_unit_days, with days counted as whole calendar
      dates, so a customer whose first purchase is on ``as_of`` has T = 0;
    * monetary_value = mean value of the repeat purchase days (the first day's value is
      excluded), 0 when frequency == 0; null for every customer when ``value`` is None.

    ``date`` may be a Date or Datetime column (a Datetime is truncated to its date). Returns
    one row per customer, sorted by customer: customer (as given), first_purchase (Date),
    frequency (Int64), recency, T, monetary_value (Float64).
    """
    if time_unit_days <= 0:
        raise ValueError(f"time_unit_days must be positive, got {time_unit_days}")
    date_column = date
    lazy = transactions.lazy()
    day = pl.col(date_column)
    dtype = lazy.collect_schema()[date_column]
    if isinstance(dtype, pl.Datetime):
        day = day.dt.date()
    elif dtype != pl.Date:
        raise TypeError(f"column {date_column!r} must be a Date or Datetime column, got {dtype}")
    amount = pl.col(value) if value is not None else pl.lit(0.0)

    # Values are summed in their own dtype (a Decimal stays exact) and only the final mean is a float.
    days = (
        lazy.select(pl.col(customer).alias("_customer"), day.alias("_day"), amount.alias("_value"))
        .filter(pl.col("_day") <= pl.lit(as_of, dtype=pl.Date))
        .group_by("_customer", "_day")
        .agg(pl.col("_value").sum())
    )
    per_customer = days.group_by("_customer").agg(
        pl.col("_day").min().alias("first_purchase"),
        pl.col("_day").max().alias("_last"),
        (pl.len() - 1).cast(pl.Int64).alias("frequency"),
        pl.col("_value").filter(pl.col("_day") > pl.col("_day").min()).sum().alias("_repeat_total"),
    )
    days_between = (pl.col("_last") - pl.col("first_purchase")).dt.total_days()
    days_observed = (pl.lit(as_of, dtype=pl.Date) - pl.col("first_purchase")).dt.total_days()
    repeat_spend = pl.col("_repeat_total").cast(pl.Float64) / pl.col("frequency")
    monetary = (
        pl.when(pl.col("frequency") > 0).then(repeat_spend).otherwise(0.0)
        if value is not None
        else pl.lit(None, dtype=pl.Float64)
    )
    return (
        per_customer.select(
            pl.col("_customer").alias(customer),
            "first_purchase",
            "frequency",
            (days_between.cast(pl.Float64) / time_unit_days).alias("recency"),
            (days_observed.cast(pl.Float64) / time_unit_days).alias("T"),
            monetary.cast(pl.Float64).alias("monetary_value"),
        )
        .sort(customer)
        .collect()
    )
