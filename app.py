"""The dashboard's frame: page config, navigation and the shared sidebar; nothing else.

Run with ``make run``: ``streamlit run finance/app/server.py`` serves this script behind a guard on
Host names. Every page reads the view the sidebar sets (and the URL mirrors), calls the metric
core through one cached loader, and draws.
"""

from __future__ import annotations

import streamlit as st

from finance.app.auth import gate
from finance.app.sidebar import choose_language, sidebar
from finance.domain import literal
from finance.present.i18n import _

choose_language()  # ?lang=fr or the session's choice: before anything is written
st.set_page_config(page_title=_("LTV:CAC dashboard"), page_icon=":bar_chart:", layout="wide")

PAGES = [
    st.Page("pages/overview.py", title=_("Overview"), icon=":material/dashboard:", default=True),
    st.Page("pages/cac.py", title=_("CAC"), icon=":material/payments:", url_path="cac"),
    st.Page("pages/cpl_cpa.py", title=_("CPL & CPA"), icon=":material/trending_up:", url_path="cpl-cpa"),
    st.Page("pages/ltv.py", title=_("LTV"), icon=":material/savings:", url_path="ltv"),
    st.Page("pages/planner.py", title=_("Planner"), icon=":material/calculate:", url_path="planner"),
    st.Page("pages/reconciliation.py", title=_("Reconciliation"), icon=":material/balance:",
            url_path="reconciliation"),
    st.Page("pages/packs.py", title=_("Board packs"), icon=":material/inventory_2:", url_path="packs"),
    st.Page("pages/data.py", title=_("Data"), icon=":material/upload_file:", url_path="data"),
    st.Page("pages/assumptions.py", title=_("Assumptions"), icon=":material/tune:", url_path="assumptions"),
    st.Page("pages/methodology.py", title=_("Methodology"), icon=":material/menu_book:", url_path="methodology"),
]

gate()  # sign-in and role, or the unauthenticated note; stops here for anyone not let in
page = st.navigation(PAGES)
st.session_state["context"] = sidebar()
if st.session_state["context"].demo:
    st.caption(_("Demo company: {company}, made-up data. Set `FINANCE_DB` to work on your own database.")
               .format(company=literal.markdown(st.session_state["context"].demo)))
st.session_state["frame.ran"] = True  # this run went through the gate (finance.app.sidebar.context checks)
page.run()
