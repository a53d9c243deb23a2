"""Methodology: how every figure is computed, in a CFO's words (docs/methodology.md, the pack's appendix too)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from finance.app import sidebar
from finance.present import formats
from finance.present.i18n import _

sidebar.context()  # the sign-in gate too, when this page runs on its own
DOC = Path(__file__).resolve().parent.parent / "docs" / "methodology.md"

if not formats.language_is_default():
    st.info(_("The methodology is documented in English."), icon=":material/translate:")
st.markdown(DOC.read_text(encoding="utf-8"))
