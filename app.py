"""Entry point of the dashboard: page config, the store, and what has been imported.

The multipage dashboard builds on this frame; until then this page shows the store's
totals so a newcomer can see the demo company's data is in place.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import polars as pl
import streamlit as st

from finance.demo import DEMO_SETTING, build_demo_db
from finance.ingest import money_text
from finance.schema import CATEGORIES
from finance.store import ENV_DB, Store, default_db_path

st.set_page_config(page_title="LTV:CAC dashboard", layout="wide")


@st.cache_resource(max_entries=1)
def prepare_db(path: str) -> str:
    """On first run, build the demo company's database (the embedded default).

    A database named by $FINANCE_DB is the user's own: it is created empty, never filled
    with demo data.
    """
    if ENV_DB not in os.environ:
        build_demo_db(default_db_path())
    elif not os.path.exists(path):
        Store(path).close()
    return path


@st.cache_data(max_entries=8, ttl=60)
def load_overview(path: str, modified: float) -> tuple[dict[str, dict[str, Any]], pl.DataFrame, str | None]:
    """Totals per kind and spend by quarter and category; keyed by the file's mtime."""
    with Store(path, read_only=True) as store:
        totals = store.totals()
        by_quarter = store.query(
            "SELECT strftime(period_start, '%Y') || '-Q' || quarter(period_start) AS quarter, "
            "category, sum(amount) AS amount FROM spend GROUP BY ALL ORDER BY ALL")
        demo = store.setting(DEMO_SETTING)
    return totals, by_quarter, demo


db_path = prepare_db(str(default_db_path()))
st.title("LTV:CAC dashboard")
try:
    totals, by_quarter, demo = load_overview(db_path, os.path.getmtime(db_path))
except Exception as exc:  # a missing or locked file is explained, never a traceback
    st.error(f"The database {db_path} cannot be opened: {exc}")
    st.stop()
if demo:
    st.info(f"Demo data: {demo}, a made-up company. Work on your own data with "
            "`FINANCE_DB=company.duckdb` and `python -m finance import`.")
labels = {"spend": "Spend", "funnel": "Leads", "customers": "Customers", "revenue": "Revenue"}
for column, (kind, label) in zip(st.columns(4), labels.items(), strict=True):
    value = totals[kind]["total"]
    money = kind in ("spend", "revenue")
    column.metric(label, f"${value:,.2f}" if money else f"{int(value):,}",
                  help=f"{totals[kind]['rows']:,} rows in force")
st.subheader("Spend by quarter and cost category")
if by_quarter.is_empty():
    st.write("No spend imported yet: `python -m finance import spend FILE`.")
else:
    table = by_quarter.pivot(on="category", index="quarter", values="amount", sort_columns=True)
    labels = {key: CATEGORIES[key].label for key in table.columns if key in CATEGORIES}
    st.dataframe(table.rename(labels), width="stretch", hide_index=True,
                 column_config={label: st.column_config.NumberColumn(format="$%,.2f") for label in labels.values()})
    st.caption(f"Total spend in force, exact: ${Decimal(money_text(totals['spend']['total']) or 0):,}")
