"""Methodology: how every figure is computed, in a CFO's words (docs/methodology.md, the pack's appendix too),
in the reader's language (docs/methodology.<lang>.md; the English when a language has no translation)."""

from __future__ import annotations

import streamlit as st

from finance.app import sidebar
from finance.present import methodology_doc
from finance.present.i18n import _, language

sidebar.context()  # the sign-in gate too, when this page runs on its own; it sets the language
if methodology_doc.untranslated(language()):
    st.info(_("The methodology is documented in English."), icon=":material/translate:")
st.markdown(methodology_doc.path(language()).read_text(encoding="utf-8"))
