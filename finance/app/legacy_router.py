"""The one place the dashboard touches a private part of Streamlit: the switch of its old ``pages/`` router.

Why it is needed: Streamlit starts every server assuming the layout from before ``st.navigation``
(each script in ``pages/`` a page of its own) whenever a ``pages/`` folder sits beside the entry
script, until the entry script has once called ``st.navigation``. So the first link a cold server
gets to a page (``/planner``) runs that page alone, without the frame, sidebar or navigation.

Why it is private: no public API of Streamlit (1.67) turns that router off or routes the first
request through the entry script. ``st.navigation`` itself clears the switch, a class attribute
(``PagesManager.uses_pages_directory``), but only once the entry script runs, which is what the
first request never does. The public way out, renaming ``pages/``, would move every page script
that ``app.py``, the tests and the benchmarks name. So :func:`require_frame` clears the same attribute
``st.navigation`` clears, and reruns through the entry script.

``tests/test_legacy_router.py`` fails when Streamlit drops the attribute or stops setting it for
a ``pages/`` folder: then this module can go (or must change).
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def require_frame() -> None:
    """Rerun through the entry script when a page was run on its own by Streamlit's old router.

    Clearing the switch (as ``st.navigation`` does) and rerunning routes the run through ``app.py``.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        # Only a session's first run can be the cold deep link; a later run (Streamlit's test
        # harness resets the switch on every run) must not rerun, or it would drop a widget event.
        if "context" not in st.session_state:
            st.rerun()
