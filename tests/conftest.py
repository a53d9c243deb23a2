"""Shared fixtures: real DuckDB files in temporary directories, real CLI runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from finance.store.database import Store

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.duckdb"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with Store(db_path) as opened:
        yield opened


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
