"""Spend reconciled to the general ledger: per period and cost category, what the books say against what was
imported, and the difference, exactly.

A CFO signs off a fully loaded CAC only when its spend ties to the books. The general ledger's rows (``gl``
imports: an account's net debit per period) are summed per cost category through the store's account map
(``finance.store.accounts``: only mapped accounts count), the imported spend per category the same way, both
spread over the months of their periods by one exact rule (``spend_by_month``), then summed at the grain.

- **Variance** is the imported spend less the ledger: negative when the books hold a cost the spend lacks (a
  missing invoice), positive when the spend holds one the books do not (counted twice, or not booked yet).
- A line **reconciles** when the variance is within the larger of the tolerance's amount and its share of the
  ledger's total (``Assumptions.reconcile_share`` and ``reconcile_amount``); the variance is reported exactly
  either way. A category with spend and no ledger account mapped to it is ``no_account``.
- A period is compared only where the ledger export covers every month of it; spend in other periods is
  listed (``uncovered``), never passed as reconciled.
- Accounts that are not mapped are listed with what their name suggests; they count nowhere until an editor
  maps them (a company-wide ``Salaries`` account is not marketing personnel).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal

import polars as pl

from finance.domain.assumptions import Assumptions
from finance.domain.schema import COST_CATEGORIES
from finance.store import accounts, reading, settings
from finance.store.connection import Connection
from finance.store.dataset import Dataset, Grain, SpendBasis, channel_key, grain_label, grain_start, spend_by_month

RECONCILED, VARIANCE, NO_ACCOUNT = "reconciled", "variance", "no_account"
STATUSES = (RECONCILED, VARIANCE, NO_ACCOUNT)
MAPPED, NOT_SPEND, UNMAPPED = "mapped", "not_spend", "unmapped"
"""An account's state: mapped to a category, mapped to none on purpose, or not mapped yet."""
_ORDER = {c.key: i for i, c in enumerate(COST_CATEGORIES)}
_MONEY = pl.Decimal(38, 4)
_ALLOWED_PLACES = Decimal("1e-10")


@dataclass(frozen=True)
class Tolerance:
    """How far the spend may be from the ledger and still reconcile: the larger of an amount and a share."""

    share: Decimal
    amount: Decimal

    def allowed(self, ledger: Decimal) -> Decimal:
        """The variance allowed against ``ledger``, exactly (to the 10 decimals a share of an amount can need; a
        finer share is rounded down, never widening the tolerance)."""
        return max(self.amount, (self.share * abs(ledger)).quantize(_ALLOWED_PLACES, rounding=ROUND_FLOOR))


@dataclass(frozen=True)
class Reconciliation:
    """The reconciliation at one grain.

    ``lines``: period, period_start, category, ledger, spend, variance, allowed (Decimal), variance_share (the
    variance over the ledger's total; null when the ledger has none), accounts (how many mapped accounts
    the category has), status. ``periods``: period, period_start, ledger, spend, variance, lines, off (lines
    not reconciled), status. ``accounts``: account, category (null: not spend or unmapped), state,
    suggestion, ledger (its total in the export), months. ``uncovered``: the periods with
    imported spend that the ledger export does not wholly cover.
    """

    grain: Grain
    tolerance: Tolerance
    lines: pl.DataFrame
    periods: pl.DataFrame
    accounts: pl.DataFrame
    uncovered: tuple[str, ...]
    basis: SpendBasis = "cash"
    """The spend's basis (``finance.store.dataset.SPEND_BASES``): accrual when a spend row has a service period, as
    the books expense a prepaid cost over its service."""

    @property
    def failing(self) -> tuple[str, ...]:
        """The periods that do not reconcile, in order."""
        return tuple(self.periods.filter(pl.col("status") != RECONCILED).get_column("period").to_list())

    @property
    def unmapped(self) -> pl.DataFrame:
        return self.accounts.filter(pl.col("state") == UNMAPPED)


def _months_in(grain: Grain) -> int:
    return 3 if grain == "quarter" else 1


def reconcile(spend: pl.LazyFrame, ledger: pl.LazyFrame, mapped: pl.DataFrame, *, tolerance: Tolerance,
              grain: Grain = "quarter", fiscal_year_start: int = 1, period: str | None = None,
              suggest: dict[str, str | None] | None = None) -> Reconciliation:
    """Reconcile the spend rows in force (``Dataset.spend``) to the general ledger's (the ``gl`` view's rows).

    ``mapped``: the store's account map (``finance.store.accounts.mapped``: account_key, category);
    ``period``: one period's label (``2025-Q4``, ``2025-10``) instead of all; ``suggest``: an account's
    suggested category by name (``finance.store.accounts.suggestion``), for the unmapped ones.
    ``ValueError`` names the periods there are when ``period`` is not among them.
    """
    start = grain_start(pl.col("month"), grain, fiscal_year_start)
    gl_months = (
        spend_by_month(ledger.select("period_start", "period_end", "account", "amount"), keys=("account",))
        .with_columns(account_key=channel_key(pl.col("account")), period_start=start)
        .collect()
    )
    keys = mapped.select("account_key", "category", known=pl.lit(True))
    gl_months = gl_months.join(keys, on="account_key", how="left").with_columns(pl.col("known").fill_null(False))
    # A period is compared where the export covers each of its months (any account: the books were closed).
    months = gl_months.select("month", "period_start").unique()
    covered = (months.group_by("period_start").agg(n=pl.len())
               .filter(pl.col("n") == _months_in(grain)).get_column("period_start"))
    in_covered = pl.col("period_start").is_in(covered.implode())
    by_ledger = (gl_months.filter(in_covered & pl.col("category").is_not_null())
                 .group_by("period_start", "category").agg(ledger=pl.col("amount").sum().cast(_MONEY)))
    spend_months = spend_by_month(spend).with_columns(period_start=start).collect()
    by_spend = (spend_months.filter(in_covered)
                .group_by("period_start", "category").agg(spend=pl.col("amount").sum().cast(_MONEY)))
    uncovered_starts = spend_months.filter(~in_covered).get_column("period_start").unique().sort()
    counts = dict(mapped.filter(pl.col("category").is_not_null()).group_by("category").len().iter_rows())
    joined = by_ledger.join(by_spend, on=["period_start", "category"], how="full", coalesce=True).with_columns(
        pl.col("ledger", "spend").fill_null(Decimal(0)))

    rows = []
    for start_day, category, ledger_total, spend_total in joined.select(
            "period_start", "category", "ledger", "spend").iter_rows():
        variance = spend_total - ledger_total
        allowed = tolerance.allowed(ledger_total)
        mapped_accounts = int(counts.get(category, 0))
        status = NO_ACCOUNT if not mapped_accounts else RECONCILED if abs(variance) <= allowed else VARIANCE
        rows.append({"period_start": start_day, "category": category, "ledger": ledger_total, "spend": spend_total,
                     "variance": variance, "allowed": allowed,
                     "variance_share": float(variance / ledger_total) if ledger_total else None,
                     "accounts": mapped_accounts, "status": status})
    schema = {"period_start": pl.Date(), "category": pl.String(), "ledger": _MONEY, "spend": _MONEY,
              "variance": _MONEY, "allowed": pl.Decimal(38, 10), "variance_share": pl.Float64(),
              "accounts": pl.Int64(), "status": pl.String()}
    lines = pl.DataFrame(rows, schema=schema, orient="row")
    label = grain_label(pl.col("period_start"), grain, fiscal_year_start)
    lines = (lines.with_columns(period=label, __order=pl.col("category").replace_strict(_ORDER, default=len(_ORDER)))
             .sort("period_start", "__order", "category").drop("__order")
             .select("period", *schema))
    periods = (lines.group_by("period", "period_start", maintain_order=True)
               .agg(pl.col("ledger").sum(), pl.col("spend").sum(), pl.col("variance").sum(), lines=pl.len(),
                    off=(pl.col("status") != RECONCILED).sum().cast(pl.Int64))
               .with_columns(status=pl.when(pl.col("off") > 0).then(pl.lit(VARIANCE)).otherwise(pl.lit(RECONCILED))))
    accounts = _accounts(gl_months, suggest or {})
    uncovered = tuple(uncovered_starts.to_frame().select(label).to_series().to_list())
    if period is not None:
        there = periods.get_column("period").to_list()
        if period not in there:
            listed = ", ".join(there) if there else "none (no period has both the ledger's every month and spend)"
            raise ValueError(f"no period {period!r} to reconcile at this grain; the periods are: {listed}")
        lines = lines.filter(pl.col("period") == period)
        periods = periods.filter(pl.col("period") == period)
    return Reconciliation(grain, tolerance, lines, periods, accounts, uncovered)


def _accounts(months: pl.DataFrame, suggest: dict[str, str | None]) -> pl.DataFrame:
    """Each account of the ledger once (as first written), its state, suggestion, and total in the export."""
    out = months.group_by("account_key").agg(
        account=pl.col("account").first(), category=pl.col("category").first(), known=pl.col("known").first(),
        ledger=pl.col("amount").sum().cast(_MONEY), months=pl.col("month").n_unique().cast(pl.Int64)
    ).with_columns(
        state=pl.when(pl.col("category").is_not_null()).then(pl.lit(MAPPED))
        .when(pl.col("known")).then(pl.lit(NOT_SPEND)).otherwise(pl.lit(UNMAPPED)))
    suggestions = [suggest.get(name) if state == UNMAPPED else None
                   for name, state in out.select("account", "state").iter_rows()]
    return (out.with_columns(suggestion=pl.Series(suggestions, dtype=pl.String))
            .select("account", "category", "state", "suggestion", "ledger", "months").sort("account"))


def from_store(db: Connection, grain: Grain = "quarter", period: str | None = None) -> Reconciliation | None:
    """The store's spend reconciled to its general ledger under its assumptions; None without a ledger."""
    ledger = reading.general_ledger(db)
    if ledger.is_empty():
        return None
    assumed = Assumptions.from_settings(settings.assumptions(db))
    names = ledger.get_column("account").unique().to_list()
    spend = Dataset.from_frames(spend=reading.frame(db, "spend")).on_basis()
    result = reconcile(spend.spend, ledger.lazy(), accounts.mapped(db),
                       tolerance=Tolerance(assumed.reconcile_share, assumed.reconcile_amount), grain=grain,
                       fiscal_year_start=assumed.fiscal_year_start, period=period,
                       suggest={name: accounts.suggestion(name) for name in names})
    return replace(result, basis=spend.basis or "cash")
