"""The private Streamlit switch ``finance.app.legacy_router`` clears is still there and still means what it did.

If Streamlit renames or drops ``PagesManager.uses_pages_directory``, or stops turning its old ``pages/``
router on for a folder beside the entry script, these fail: then the workaround must change, or can go.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from finance.app.legacy_router import require_frame

from .conftest import ROOT


@pytest.fixture
def switch() -> Iterator[None]:
    """The switch and the bare session state as they were, after the test."""
    saved = PagesManager.uses_pages_directory
    try:
        yield
    finally:
        PagesManager.uses_pages_directory = saved
        st.session_state.pop("context", None)


def test_streamlit_still_has_the_old_routers_switch() -> None:
    assert "uses_pages_directory" in vars(PagesManager), "Streamlit no longer has PagesManager.uses_pages_directory"


def test_a_pages_folder_still_turns_the_old_router_on(switch: None) -> None:
    """The cause: a server for ``app.py`` (a ``pages/`` folder beside it) starts in the old router."""
    PagesManager.uses_pages_directory = None
    PagesManager(str(ROOT / "app.py"))
    assert PagesManager.uses_pages_directory is True


def test_require_frame_turns_the_old_router_off(switch: None) -> None:
    """The workaround: the switch cleared (without a rerun once the session has its context)."""
    st.session_state["context"] = "the entry script's"
    PagesManager.uses_pages_directory = True
    require_frame()
    assert PagesManager.uses_pages_directory is False
    require_frame()  # off stays off
    assert PagesManager.uses_pages_directory is False
