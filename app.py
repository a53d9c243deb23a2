"""Entry point of the dashboard: page config, the store, and what has been imported.

The multipage dashboard arrives with its own pages; until then this page shows the
store's totals so a newcomer can see the demo company's data is in place.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from finance.demo import DEMO_SETTING, build_demo_db
from finance.ingest import money_text
from finance.store import Store, default_db_path

st.set_page_config(page_title="LTV:CAC dashboard", layout="wide")


@st.cache_resource(max_entries=1)
def _ensure_db(path: str) -> str:
    """Build the demo database on first run (once per process)."""
    build_demo_db(default_db_path()) if path == str(default_db_path()) else None
    return path


@st.cache_data(max_entries=8, ttl=60)
def _overview(path: str, stamp: float) -> tuple[dict[str, dict[str, object]], pl.DataFrame, str | None]:
    with Store(path, read_only=True) as store:
        totals = {k: {"rows": v["rows"], "total": v["total"]} for k, v in store.totals().items()}
        by_quarter = store.query(
            "SELECT strftime(period_start, '%Y') || '-Q' || quarter(period_start) AS quarter, "
            "category, sum(amount) AS amount FROM spend GROUP BY ALL ORDER BY ALL")
        demo = store.setting(DEMO_SETTING)
    return totals, by_quarter, demo


db_path = _ensure_db(str(default_db_path()))
st.title("LTV:CAC dashboard")
try:
    stamp = default_db_path().stat().st_mtime
    totals, by_quarter, demo = _overview(db_path, stamp)
except Exception as exc:  # a missing or locked file is explained, never a traceback
    st.error(f"The database {db_path} cannot be opened: {exc}")
    st.stop()
if demo:
    st.info(f"Demo data: {demo}. Import your own files with `python -m finance import`.")
cols = st.columns(4)
labels = {"spend": "Spend", "funnel": "Leads", "customers": "Customers", "revenue": "Revenue"}
for col, (kind, label) in zip(cols, labels.items(), strict=True):
    value = totals[kind]["total"]
    shown = f"${float(value):,.0f}" if kind in ("spend", "revenue") else f"{int(value):,}"  # type: ignore[arg-type]
    col.metric(label, shown, help=f"{totals[kind]['rows']:,} rows in force; exact: "
               f"{money_text(value) if kind in ('spend', 'revenue') else value}")  # type: ignore[arg-type]
st.subheader("Spend by quarter and cost category")
st.dataframe(by_quarter.pivot(on="category", index="quarter", values="amount"), width="stretch")
