"""Acquisition: spend by cost category against new customers and funnel volumes.

Every figure is a sum at the grain shown (period, and channel or segment); ratios are
formed from those sums (``finance.store.dataset.safe_ratio``), never averaged. Money stays
exact: spreading a quarter over months and allocating shared costs both split integer
ten-thousandths with the largest-remainder rule, so the parts always add up to the whole.
"""

from __future__ import annotations

from typing import Literal

import polars as pl

from finance.domain.schema import COST_CATEGORIES, MARKETING_CATEGORIES, MEDIA_CATEGORY
from finance.store.dataset import (
    MONEY_UNITS,
    SHARED,
    UNKNOWN,
    Dataset,
    Grain,
    acquired_customers,
    channel_key,
    grain_start,
    safe_ratio,
    shift_months,
    spend_by_month,
)

Dimension = Literal["channel", "segment", "channel_segment"]
DIMENSION_COLUMNS: dict[str, tuple[str, ...]] = {"channel": ("channel",), "segment": ("segment",),
                                                 "channel_segment": ("channel", "segment")}
"""The columns of each breakdown: channel by segment has a row per channel and segment."""
Allocation = Literal["spend", "customers"]
CATEGORY_KEYS: tuple[str, ...] = tuple(c.key for c in COST_CATEGORIES)
MONEY = pl.Decimal(38, 4)
FUNNEL_VOLUMES = ("leads", "visitors", "event_attendees", "mqls", "sqls", "opportunities")


def allocate_exactly(frame: pl.LazyFrame, group: list[str], amount: str = "amount",
                     weight: str = "weight") -> pl.LazyFrame:
    """Split each group's ``amount`` across its rows in proportion to ``weight``, exactly.

    share_i = floor(units * w_i / W); the units left over go one each to the rows with the
    largest remainders (ties to the earlier row). The shares of a group sum to its amount
    to the last 1/10,000. Rows whose group has no positive weight get null.
    """
    units = (pl.col(amount) * MONEY_UNITS).cast(pl.Int128)
    w = pl.col(weight).cast(pl.Int128)
    total = w.sum().over(group)
    product = units.abs() * w
    floor = product // total
    remainder = product % total
    leftover = (units.abs() - floor.sum().over(group))
    rank = pl.struct(remainder.alias("r"), (-pl.int_range(pl.len())).over(group).alias("o")).rank(
        "ordinal", descending=True).over(group)
    share = (floor + (rank <= leftover).cast(pl.Int128)) * units.sign().cast(pl.Int128)
    return frame.with_columns(
        pl.when(total > 0).then(share.cast(pl.Decimal(38, 0)).cast(MONEY) / MONEY_UNITS)
        .otherwise(None).alias(amount)
    )


def _spend_months(data: Dataset, grain: Grain, lag_quarters: int, fiscal_year_start: int = 1) -> pl.LazyFrame:
    """Spend per month row, keyed by the cohort period it acquires for (after the lag)."""
    return spend_by_month(data.spend).with_columns(
        period=grain_start(shift_months(pl.col("month"), 3 * lag_quarters), grain, fiscal_year_start),
        ckey=channel_key(pl.col("channel")),
    )


def _funnel_months(data: Dataset, grain: Grain, fiscal_year_start: int = 1) -> pl.LazyFrame:
    """Funnel volumes spread over the months of their period (whole numbers, exactly)."""
    volumes = [c for c in FUNNEL_VOLUMES]
    frame = (
        data.funnel.with_row_index("__row")
        .with_columns(month=pl.date_ranges(pl.col("period_start").dt.month_start(),
                                           pl.col("period_end").dt.month_start(), interval="1mo"))
        .with_columns(__n=pl.col("month").list.len())
        .explode("month")
        .with_columns(__i=pl.int_range(pl.len()).over("__row"))
    )
    return frame.select(
        period=grain_start(pl.col("month"), grain, fiscal_year_start),
        ckey=channel_key(pl.col("channel")),
        channel=pl.col("channel"),
        **{v: pl.col(v) // pl.col("__n") + (pl.col("__i") < pl.col(v) % pl.col("__n")).cast(pl.Int64)
           for v in volumes},
    )


def _channel_names(spend: pl.LazyFrame, customers: pl.LazyFrame, funnel: pl.LazyFrame) -> pl.LazyFrame:
    """One display name per channel key: the spelling the spend file uses, else the CRM's."""
    names = pl.concat([
        spend.select("ckey", name="channel", rank=pl.lit(0)),
        customers.select("ckey", name="channel", rank=pl.lit(1)),
        funnel.select("ckey", name="channel", rank=pl.lit(2)),
    ]).filter(pl.col("ckey").is_not_null())
    return names.sort("rank").group_by("ckey").agg(pl.col("name").first())


def _wide_spend(frame: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """Spend per key with one exact column per category, plus the channel-direct part."""
    aggs = [pl.col("amount").filter(pl.col("category") == k).sum().cast(MONEY).alias(f"spend_{k}")
            for k in CATEGORY_KEYS]
    aggs.append(pl.col("amount").filter(pl.col("direct") & pl.col("category").is_in(MARKETING_CATEGORIES))
                .sum().cast(MONEY).alias("direct_spend"))
    return frame.group_by(keys).agg(aggs)


def acquisition(data: Dataset, *, grain: Grain = "quarter", by: Dimension | None = None,
                lag_quarters: int = 0, allocation: Allocation = "spend",
                fiscal_year_start: int = 1) -> pl.LazyFrame:
    """Spend by category, new customers and funnel volumes per cohort period (and dimension).

    - Periods are months or the quarters of a fiscal year starting in ``fiscal_year_start``
      (``grain_start``); spend given per calendar quarter is spread over its months first
      (``spend_by_month``), so fiscal quarters add up to the cent.
    - Spend in period t counts for the customers acquired in t + ``lag_quarters``.
    - By channel: a channel's direct spend plus the shared (blank-channel) spend of the same
      period and category, allocated pro rata to the channels' direct marketing spend
      (``allocation="spend"``) or to their new customers (``"customers"``). Shared spend in a
      period with no basis stays on a "(shared)" row.
    - By segment: each channel's spend (after allocation) is split across segments in
      proportion to the segment's share of that channel's new customers in the period;
      spend of a channel that acquired no one stays on an "(unknown)" segment row.
      Funnel volumes carry no segment, so they are null by segment.
    - By channel and segment (``"channel_segment"``): the same split, kept per channel: each
      channel's spend is shared among its segments pro rata to its new customers in each, so a
      channel's rows add up to its spend by channel exactly, and each segment's rows to its
      spend by segment.

    Columns: period, [channel|segment|channel, segment], spend_<category> for every category, direct_spend,
    new_customers, and the funnel volumes.
    """
    spend = _spend_months(data, grain, lag_quarters, fiscal_year_start).with_columns(
        direct=pl.col("channel").is_not_null())
    customers = acquired_customers(data).with_columns(
        period=grain_start(pl.col("acquired_on"), grain, fiscal_year_start), ckey=channel_key(pl.col("channel")))
    funnel = _funnel_months(data, grain, fiscal_year_start)
    if by is None:
        wide = _wide_spend(spend, ["period"])
        new = customers.group_by("period").agg(new_customers=pl.len().cast(pl.Int64))
        volumes = funnel.group_by("period").agg([pl.col(v).sum() for v in FUNNEL_VOLUMES])
        keys = ["period"]
    else:
        names = _channel_names(spend.filter(pl.col("direct")), customers, funnel)
        spend = _allocate_shared(spend, customers, allocation)
        if by == "channel":
            wide = _wide_spend(spend, ["period", "ckey"])
            new = customers.group_by("period", "ckey").agg(new_customers=pl.len().cast(pl.Int64))
            volumes = funnel.group_by("period", "ckey").agg([pl.col(v).sum() for v in FUNNEL_VOLUMES])
            keys = ["period", "ckey"]
        else:
            keys = ["period", "ckey", "segment"] if by == "channel_segment" else ["period", "segment"]
            spend = _split_by_segment(spend, customers)
            wide = _wide_spend(spend, keys)
            new = customers.group_by(keys).agg(new_customers=pl.len().cast(pl.Int64))
            volumes = None
    table = wide.join(new, on=keys, how="full", coalesce=True)
    if volumes is not None:
        table = table.join(volumes, on=keys, how="full", coalesce=True)
    else:
        table = table.with_columns([pl.lit(None, pl.Int64).alias(v) for v in FUNNEL_VOLUMES])
    money = [f"spend_{k}" for k in CATEGORY_KEYS] + ["direct_spend"]
    # A period no spend row covers (before the data starts, or shifted away by the lag) has
    # unknown spend, not zero spend: its money stays null, so its CAC shows "n/a", never 0.
    covered = spend.select("period").unique().with_columns(__covered=pl.lit(True))
    table = table.join(covered, on="period", how="left").with_columns(
        [pl.when(pl.col("__covered")).then(pl.col(c).fill_null(0)).otherwise(None).cast(MONEY) for c in money]
        + [pl.col("new_customers").fill_null(0)]).drop("__covered")
    if by in ("channel", "channel_segment"):
        table = table.join(names, on="ckey", how="left").with_columns(
            channel=pl.when(pl.col("ckey") == SHARED).then(pl.lit(SHARED))
            .otherwise(pl.coalesce("name", "ckey"))).drop("name", "ckey")
    dims = dimension_columns(by)
    return table.select("period", *dims, *money, "new_customers", *FUNNEL_VOLUMES).sort("period", *dims)


def _allocate_shared(spend: pl.LazyFrame, customers: pl.LazyFrame, allocation: Allocation) -> pl.LazyFrame:
    direct = spend.filter(pl.col("direct"))
    shared = spend.filter(~pl.col("direct")).group_by("period", "category").agg(amount=pl.col("amount").sum())
    if allocation == "spend":
        basis = direct.filter(pl.col("category").is_in(MARKETING_CATEGORIES)).group_by("period", "ckey").agg(
            weight=(pl.col("amount") * MONEY_UNITS).sum().cast(pl.Int128))
    else:
        basis = customers.group_by("period", "ckey").agg(weight=pl.len().cast(pl.Int128))
    basis = basis.filter(pl.col("weight") > 0)
    allocated = allocate_exactly(
        shared.join(basis, on="period", how="left").sort("period", "category", "ckey"),
        ["period", "category"])
    unallocated = allocated.filter(pl.col("ckey").is_null()).join(
        shared, on=["period", "category"], how="left", suffix="_shared").select(
        "period", "category", ckey=pl.lit(SHARED), amount=pl.col("amount_shared"))
    return pl.concat([
        direct.select("period", "category", "ckey", "amount", "direct"),
        allocated.filter(pl.col("ckey").is_not_null()).select("period", "category", "ckey", "amount",
                                                              direct=pl.lit(False)),
        unallocated.with_columns(direct=pl.lit(False)),
    ], how="diagonal_relaxed")


def dimension_columns(by: Dimension | str | None) -> list[str]:
    """The key columns of a breakdown besides the period: none for the totals."""
    return list(DIMENSION_COLUMNS[by]) if by else []


def _split_by_segment(spend: pl.LazyFrame, customers: pl.LazyFrame) -> pl.LazyFrame:
    """Each channel's spend shared among segments pro rata to its new customers in each (exactly).

    Rows keep their channel key, so the parts sum to the channel's spend and, over channels, to
    the segment's; a channel with no new customers in the period keeps its spend on "(unknown)".
    """
    mix = customers.group_by("period", "ckey", "segment").agg(weight=pl.len().cast(pl.Int128))
    by_channel = spend.group_by("period", "ckey", "category", "direct").agg(amount=pl.col("amount").sum())
    split = allocate_exactly(
        by_channel.join(mix, on=["period", "ckey"], how="left").sort("period", "ckey", "category", "segment"),
        ["period", "ckey", "category", "direct"])
    orphan = split.filter(pl.col("segment").is_null()).join(
        by_channel, on=["period", "ckey", "category", "direct"], suffix="_all").select(
        "period", "ckey", "category", "direct", segment=pl.lit(UNKNOWN), amount=pl.col("amount_all"))
    return pl.concat([split.filter(pl.col("segment").is_not_null()).select(
        "period", "ckey", "category", "direct", "segment", "amount"), orphan], how="diagonal_relaxed")


def trailing(table: pl.LazyFrame, *, grain: Grain, window_months: int | None,
             by: Dimension | None = None) -> pl.LazyFrame:
    """Sums over the trailing ``window_months`` ending at each period (3, 6 or 12 months).

    Every period of the calendar is present (zeros where nothing happened) so the window
    counts months, not rows; a window without its full history is null, not a partial sum.
    """
    if not window_months:
        return table
    step = 3 if grain == "quarter" else 1
    if window_months % step:
        raise ValueError(f"a {window_months}-month window does not fit {grain} periods")
    size = window_months // step
    dims = dimension_columns(by)
    interval = "1q" if grain == "quarter" else "1mo"
    bounds = table.select(first=pl.col("period").min(), last=pl.col("period").max())
    calendar = bounds.select(period=pl.date_ranges("first", "last", interval=interval)).explode("period")
    if dims:
        calendar = calendar.join(table.select(dims).unique(), how="cross")
    value_columns = [c for c in table.collect_schema().names() if c not in ("period", *dims)]
    full = calendar.join(table, on=["period", *dims], how="left").sort(*dims, "period")
    # cumulative-sum differences: exact for decimals (rolling_sum does not take them)
    def window_sum(column: str) -> pl.Expr:
        running = pl.col(column).fill_null(0).cum_sum()
        summed = running - running.shift(size).fill_null(0)
        return summed.over(dims) if dims else summed

    def unknown_in_window(column: str) -> pl.Expr:
        running = pl.col(column).is_null().cast(pl.Int64).cum_sum()
        counted = running - running.shift(size).fill_null(0)
        return counted.over(dims) if dims else counted

    position = pl.int_range(pl.len()).over(dims) if dims else pl.int_range(pl.len())
    schema = table.collect_schema()
    # Money unknown in any month of the window (no spend data: before it starts, or lagged
    # away) makes the window's money unknown too; counts of nothing are zero.
    rolled = [pl.when((position >= size - 1) & ((unknown_in_window(c) == 0) if isinstance(schema[c], pl.Decimal)
                                                 else pl.lit(True)))
              .then(window_sum(c)).otherwise(None).alias(c) for c in value_columns]
    return full.with_columns(rolled).sort("period", *dims)


def cac_columns() -> list[pl.Expr]:
    """CAC, CPL and CPA from the summed columns of ``acquisition`` (or ``trailing``).

    - cac_media = digital advertising / new customers (media-only CAC)
    - cac = fully loaded marketing spend (every category but sales) / new customers
    - cac_sm = all spend, sales included / new customers
    - cpl = direct (channel-attributed) marketing spend / leads; cpa = the same / new customers
    - cost_per_visitor = direct marketing spend / visitors; cost_per_attendee = events spend / attendees
    """
    marketing = pl.sum_horizontal([pl.col(f"spend_{k}") for k in MARKETING_CATEGORIES],
                                  ignore_nulls=False).cast(MONEY)
    everything = pl.sum_horizontal([pl.col(f"spend_{k}") for k in CATEGORY_KEYS], ignore_nulls=False).cast(MONEY)
    new = pl.col("new_customers")
    return [
        marketing.alias("spend"),
        everything.alias("spend_sm"),
        safe_ratio(pl.col(f"spend_{MEDIA_CATEGORY}"), new).alias("cac_media"),
        safe_ratio(marketing, new).alias("cac"),
        safe_ratio(everything, new).alias("cac_sm"),
        safe_ratio(pl.col("direct_spend"), pl.col("leads")).alias("cpl"),
        safe_ratio(pl.col("direct_spend"), new).alias("cpa"),
        safe_ratio(pl.col("direct_spend"), pl.col("visitors")).alias("cost_per_visitor"),
        safe_ratio(pl.col("spend_events"), pl.col("event_attendees")).alias("cost_per_attendee"),
    ]
