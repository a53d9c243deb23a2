"""The small tables every figure reads, reduced from the ledger once, in the transaction that changes it.

The revenue ledger grows without bound (10^8 rows and more); the figures need much less of it:

- ``summary_customers``: every customer once, with acquisition date, channel, segment and billing
  interval as ``finance.store.dataset.acquired_customers`` resolves them, and what the LTV methods
  read of the customer's ledger (``finance.ltv.base.customer_activity``): revenue and margin in all,
  the months with revenue (the last, their number, the gaps between them and the spread of their
  amounts, the last one's revenue and margin), and the purchase history of the BG/NBD and
  Gamma-Gamma models (``finance.ltv.models.rfm_summary``: first and last purchase day, purchase
  days, the value of the repeat ones);
- ``summary_margins``: margin and paying customers per acquisition month, channel, segment and
  month of age: the cohort curves of every breakdown and grain.

Margin is kept as its two parts, the margin the ledger gives and the revenue of rows without one, so
the default gross margin (a setting) is applied when the figures are made, exactly: ``margin_given +
revenue_no_margin x rate`` is, to the last decimal, the sum of each row's margin (``margin_expr``).

They hold the ledger as of its own end (``finance.store.dataset.default_as_of``), the as-of every view
starts at; a figure as of another day reads the ledger (``finance.store.dataset.Summary``).

**One reduction, two engines.** ``STEPS`` is the reduction, written once in SQL over two relations
named ``customers`` and ``revenue`` (the store's views of the rows in force). DuckDB runs it in the
store, in the transaction of each import, undo and rate change (``refresh``); Apache Spark runs the
same text, translated by SQLGlot, over a ledger in a data lake (``finance.store.spark``), and only its
two results cross the network into the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from finance.domain.schema import MONEY_SCALE
from finance.store.connection import Connection
from finance.store.errors import StoreError

UNKNOWN = "(unknown)"
"""A customer's channel or segment when neither the customers file nor a revenue row names one
(``finance.store.dataset.UNKNOWN``)."""

_MONTHS = "(year({day}) * 12 + month({day}))"
"""A date's month as a number (months since year 0): differences of two are whole calendar months."""


def _month_number(day: str) -> str:
    return _MONTHS.format(day=day)


STEPS: tuple[tuple[str, str], ...] = (
    # The first revenue row of each customer naming a channel, and naming a segment, in file order.
    ("summary_labels", """
        SELECT f.customer_id, f.first_date, c.channel AS rev_channel, s.segment AS rev_segment
        FROM (SELECT customer_id, min(date) AS first_date FROM revenue GROUP BY customer_id) f
        LEFT JOIN (SELECT customer_id, channel FROM (
                       SELECT customer_id, channel,
                              row_number() OVER (PARTITION BY customer_id ORDER BY date, source_row) AS k
                       FROM revenue WHERE channel IS NOT NULL) ranked WHERE k = 1) c
               ON c.customer_id = f.customer_id
        LEFT JOIN (SELECT customer_id, segment FROM (
                       SELECT customer_id, segment,
                              row_number() OVER (PARTITION BY customer_id ORDER BY date, source_row) AS k
                       FROM revenue WHERE segment IS NOT NULL) ranked WHERE k = 1) s
               ON s.customer_id = f.customer_id"""),
    # Every customer once: from the customers file when it has rows (``BASE_FROM_LEDGER`` when it has none).
    ("summary_base", f"""
        SELECT c.customer_id, c.acquired_on,
               coalesce(c.channel, l.rev_channel, '{UNKNOWN}') AS channel,
               coalesce(c.segment, l.rev_segment, '{UNKNOWN}') AS segment, c.billing_interval
        FROM customers c LEFT JOIN summary_labels l ON l.customer_id = c.customer_id"""),
    # Revenue and margin per customer and month of age (revenue before acquisition counts at age 0).
    ("summary_months", f"""
        SELECT r.customer_id,
               greatest({_month_number('r.date')} - {_month_number('b.acquired_on')}, 0) AS age,
               sum(r.revenue) AS revenue, sum(r.gross_margin) AS margin_given,
               sum(CASE WHEN r.gross_margin IS NULL THEN r.revenue END) AS revenue_no_margin
        FROM revenue r JOIN summary_base b ON b.customer_id = r.customer_id
        GROUP BY r.customer_id, greatest({_month_number('r.date')} - {_month_number('b.acquired_on')}, 0)"""),
    # One window, one sort: the gap since the month before, and whether a month is the last.
    ("summary_paid", """
        SELECT customer_id, age, revenue, margin_given, revenue_no_margin,
               age - lag(age) OVER (PARTITION BY customer_id ORDER BY age) AS gap,
               CASE WHEN lead(age) OVER (PARTITION BY customer_id ORDER BY age) IS NULL THEN 1 ELSE 0 END AS from_last
        FROM summary_months WHERE revenue > 0"""),
    # Purchase days (positive rows; a day's rows are one purchase) for the purchase models.
    ("summary_days", """
        SELECT customer_id, date, sum(revenue) AS value FROM revenue WHERE revenue > 0
        GROUP BY customer_id, date"""),
    # The repeat purchases' value: all days' but the first's (one row a day, so the first is one value).
    ("summary_purchases", """
        SELECT customer_id, min(date) AS first_purchase, max(date) AS last_purchase, count(*) AS purchase_days,
               sum(value) - arg_min(value, date) AS repeat_value
        FROM summary_days GROUP BY customer_id"""),
    ("summary_customers", """
        SELECT b.customer_id, b.acquired_on, b.channel, b.segment, b.billing_interval,
               t.revenue_total, t.margin_given, t.revenue_no_margin,
               p.last_age, p.payments, p.gap_median, p.gap_spread, p.amount_spread,
               p.last_revenue, p.last_margin_given, p.last_revenue_no_margin,
               u.first_purchase, u.last_purchase, u.purchase_days, u.repeat_value
        FROM summary_base b
        LEFT JOIN (SELECT customer_id, sum(revenue) AS revenue_total, sum(margin_given) AS margin_given,
                          sum(revenue_no_margin) AS revenue_no_margin
                   FROM summary_months GROUP BY customer_id) t ON t.customer_id = b.customer_id
        LEFT JOIN (SELECT customer_id, max(age) AS last_age, count(*) AS payments,
                          median(gap) AS gap_median,
                          max(gap) - min(gap) AS gap_spread,
                          max(CAST(revenue AS DOUBLE)) / min(CAST(revenue AS DOUBLE)) AS amount_spread,
                          max(CASE WHEN from_last = 1 THEN revenue END) AS last_revenue,
                          max(CASE WHEN from_last = 1 THEN margin_given END) AS last_margin_given,
                          max(CASE WHEN from_last = 1 THEN revenue_no_margin END) AS last_revenue_no_margin
                   FROM summary_paid GROUP BY customer_id) p ON p.customer_id = b.customer_id
        LEFT JOIN summary_purchases u ON u.customer_id = b.customer_id"""),
    ("summary_margins", """
        SELECT CAST(date_trunc('month', b.acquired_on) AS DATE) AS acquired_month, b.channel, b.segment, m.age,
               sum(m.margin_given) AS margin_given, sum(m.revenue_no_margin) AS revenue_no_margin,
               count(CASE WHEN m.revenue > 0 THEN 1 END) AS paying
        FROM summary_months m JOIN summary_base b ON b.customer_id = m.customer_id
        GROUP BY CAST(date_trunc('month', b.acquired_on) AS DATE), b.channel, b.segment, m.age"""),
)
"""The reduction, step by step: each a SELECT over ``customers``, ``revenue`` and the steps before it.
The last two are what the store keeps (``TABLES``)."""

BASE_FROM_LEDGER = f"""
        SELECT customer_id, first_date AS acquired_on, coalesce(rev_channel, '{UNKNOWN}') AS channel,
               coalesce(rev_segment, '{UNKNOWN}') AS segment, CAST(NULL AS VARCHAR) AS billing_interval
        FROM summary_labels"""
"""``summary_base`` without a customers file: each customer of the ledger, acquired on their first revenue day."""


def steps(customers_file: bool) -> list[tuple[str, str]]:
    """``STEPS``, for a store whose customers file has rows or not (the engine counts them first)."""
    return [(name, BASE_FROM_LEDGER if name == "summary_base" and not customers_file else select)
            for name, select in STEPS]

TABLES = ("summary_customers", "summary_margins")

_MONEY = f"DECIMAL(38,{MONEY_SCALE})"
COLUMNS: dict[str, dict[str, str]] = {
    "summary_customers": {
        "customer_id": "VARCHAR", "acquired_on": "DATE", "channel": "VARCHAR", "segment": "VARCHAR",
        "billing_interval": "VARCHAR", "revenue_total": _MONEY, "margin_given": _MONEY,
        "revenue_no_margin": _MONEY, "last_age": "BIGINT", "payments": "BIGINT", "gap_median": "DOUBLE",
        "gap_spread": "BIGINT", "amount_spread": "DOUBLE", "last_revenue": _MONEY, "last_margin_given": _MONEY,
        "last_revenue_no_margin": _MONEY, "first_purchase": "DATE", "last_purchase": "DATE",
        "purchase_days": "BIGINT", "repeat_value": _MONEY,
    },
    "summary_margins": {
        "acquired_month": "DATE", "channel": "VARCHAR", "segment": "VARCHAR", "age": "BIGINT",
        "margin_given": _MONEY, "revenue_no_margin": _MONEY, "paying": "BIGINT",
    },
}
"""The kept tables' columns and SQL types, the same whichever engine made them."""

STATE_DDL = ("CREATE TABLE IF NOT EXISTS summary_state (ledger_end DATE, ledger_rows BIGINT NOT NULL, "
             "lake VARCHAR)")
"""One row: the end of the ledger the summaries hold (the month end of its last row; NULL when empty), its row
count, checked against the store's ledger on every read, and, for a ledger in a data lake reduced on Spark
(``finance.store.spark``), where it is (NULL: the ledger is the store's own)."""


def ddl() -> list[str]:
    """The statements that make the kept tables (``finance.store.migrations``)."""
    tables = [f"CREATE TABLE IF NOT EXISTS {name} ("
              + ", ".join(f"{column} {sql}" for column, sql in COLUMNS[name].items()) + ")" for name in TABLES]
    return [*tables, STATE_DDL]


def lake(db: Connection) -> str | None:
    """Where the ledger is, when it is in a data lake and the summaries were made there; None otherwise."""
    present = db.one("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'summary_state'")
    if not present or not present[0]:
        return None
    found = db.one("SELECT lake FROM summary_state")
    return str(found[0]) if found and found[0] is not None else None


def forget_lake(db: Connection) -> None:
    """The ledger in the lake is no longer the store's (its import undone): the next ``refresh`` reduces the
    store's own ledger."""
    db.con.execute("UPDATE summary_state SET lake = NULL")


def refresh(db: Connection) -> None:
    """Reduce the ledger in force into the kept tables, replacing what they held: inside the caller's
    transaction, so the summaries change with the rows they come from, or not at all.

    Refused (``StoreError``) while the ledger is in a data lake: its summaries are made there, from the
    customers as they were; a change to the customers needs that reduction run again."""
    where = lake(db)
    if where is not None:
        raise StoreError(
            f"the revenue ledger is in the data lake at {where} and its summaries are made there (Spark): a "
            "change to the customers or the revenue here would leave them behind. Undo the lake import first, "
            "make the change, then import the lake ledger again (python -m finance import revenue ... --engine "
            "spark)")
    con = db.con
    made: list[str] = []
    has_customers = bool((db.one("SELECT count(*) > 0 FROM customers") or (False,))[0])
    try:
        for name, select in steps(has_customers):
            if name in TABLES:
                con.execute(f"DELETE FROM {name}")
                columns = ", ".join(COLUMNS[name])
                con.execute(f"INSERT INTO {name} ({columns}) SELECT {columns} FROM ({select}) reduced")
            else:
                con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {select}")
                made.append(name)
    finally:
        for name in made:
            con.execute(f"DROP TABLE IF EXISTS {name}")
    con.execute("DELETE FROM summary_state")
    con.execute("INSERT INTO summary_state SELECT last_day(max(date)), count(*), NULL FROM revenue")


def replace_with(db: Connection, tables: dict[str, pl.DataFrame], ledger_end: date, ledger_rows: int,
                 where: str) -> None:
    """Put summaries made elsewhere (Spark, from the ledger at ``where``) in place of the kept tables, inside the
    caller's transaction."""
    for name in TABLES:
        columns = ", ".join(COLUMNS[name])
        db.con.execute(f"DELETE FROM {name}")
        for part in tables[name].select(list(COLUMNS[name])).iter_slices(1_000_000):
            db.con.register("incoming", part.to_arrow())
            try:
                db.con.execute(f"INSERT INTO {name} ({columns}) SELECT {columns} FROM incoming")
            finally:
                db.con.unregister("incoming")
    db.con.execute("DELETE FROM summary_state")
    db.con.execute("INSERT INTO summary_state VALUES (?, ?, ?)", [ledger_end, ledger_rows, where])


@dataclass(frozen=True)
class Summaries:
    """The kept tables as read, and the ledger end they hold."""

    ledger_end: date
    customers: pl.DataFrame
    margins: pl.DataFrame
    lake: str | None = None
    """Where the ledger is when it is in a data lake (it is then not in the store)."""


def read(db: Connection) -> Summaries | None:
    """The kept tables, when they hold the ledger in force: None on a file an older version wrote (only a
    writer brings it up to date), or without revenue (the ledger is then read, at no cost)."""
    present = {name for (name,) in db.rows("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'summary%'")}
    if not {*TABLES, "summary_state"} <= present:
        return None
    state = db.one("SELECT ledger_end, ledger_rows, lake FROM summary_state")
    if state is None or state[0] is None:
        return None
    if state[2] is None:
        rows = db.one("SELECT count(*) FROM revenue")
        if rows is None or int(state[1]) != int(rows[0]):
            return None
    return Summaries(state[0], db.query(f"SELECT {', '.join(COLUMNS['summary_customers'])} FROM summary_customers"),
                     db.query(f"SELECT {', '.join(COLUMNS['summary_margins'])} FROM summary_margins"), state[2])
