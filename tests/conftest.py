"""Shared fixtures: real DuckDB files in temporary directories, real CLI runs."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from finance.metrics.table import money
from finance.store.database import Store

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.duckdb"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with Store(db_path) as opened:
        yield opened


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo company's database, built once per test module (a module may define its own)."""
    from finance.demo import build_demo_db

    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    build_demo_db(path)
    return path


def write(path: Path, text: str | bytes) -> Path:
    """Write a test file exactly as given (bytes, or text as UTF-8 with no newline translation)."""
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def run_cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m finance`` as a real process from the project root."""
    return subprocess.run(
        [sys.executable, "-m", "finance", *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, **(env or {})},
    )


def run_cli_json(*args: str | Path) -> tuple[int, Any]:
    done = run_cli(*args, "--format", "json")
    return done.returncode, json.loads(done.stdout)


def dollars(value: object) -> str:
    """A tile's text for an amount: exact half-up cents with thousands separators."""
    return f"${Decimal(money(value)):,}"  # type: ignore[arg-type]


def open_dashboard(monkeypatch: pytest.MonkeyPatch, db: Path, page: str | None = None, *,
                   query: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None,
                   user: dict[str, Any] | None = None, entry_script_reruns: bool = False,
                   check: bool = True) -> AppTest:
    """The dashboard under ``streamlit.testing`` on the database ``db``, on ``page`` (a ``pages/`` path).

    ``entry_script_reruns``: every rerun goes through ``app.py``, as on a server. The harness takes
    the app for an old-style ``pages/`` app, so a widget event would rerun the page alone with the
    previous run's sidebar; running the entry script each time lets a test change the sidebar's
    widgets. ``check``: fail on an exception shown on the page.
    """
    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.testing.v1 import AppTest

    if entry_script_reruns:
        monkeypatch.setattr(script_runner, "_mpa_v1", lambda path: runpy.run_path(path, run_name="__main__"))
    monkeypatch.setenv("FINANCE_DB", str(db))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    for key, value in (secrets or {}).items():
        at.secrets[key] = value
    if user is not None:
        at.user = user
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    if check:
        assert not at.exception, at.exception
    return at


def shown_text(element: Any) -> Any:
    """What a table element draws in each cell (a pandas frame of text, the same shape as its values):
    the dashboard writes its tables' numbers itself (finance.app.widgets.shown), as a Styler's display text."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    assert element.proto.arrow_data.HasField("styler"), "a table whose numbers the browser would write"
    return convert_arrow_bytes_to_pandas_df(element.proto.arrow_data.styler.display_values)

