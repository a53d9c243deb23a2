"""Methodology: the formulas from docs/metrics.md, as a CFO reads them."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from finance.app import sidebar

sidebar.context()  # the sign-in gate too, when this page runs on its own
DOC = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"

st.markdown(DOC.read_text(encoding="utf-8"))
