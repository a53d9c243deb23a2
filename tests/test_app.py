"""The entry page runs under Streamlit's AppTest on real stores: empty and with data."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from finance.store import Store

from .conftest import DATA, ROOT


@pytest.fixture
def app_on(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def run(db: Path) -> AppTest:
        monkeypatch.setenv("FINANCE_DB", str(db))
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.run()
        return at
    return run


def test_empty_store_explains_itself(app_on, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    at = app_on(tmp_path / "new.duckdb")
    assert not at.exception
    assert [m.value for m in at.metric] == ["$0.00", "0", "0", "$0.00"]
    assert any("No spend imported yet" in m.value for m in at.markdown)
    assert (tmp_path / "new.duckdb").exists()


def test_imported_totals_are_shown_to_the_cent(app_on, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "s.duckdb"
    with Store(db) as store:
        result = store.import_file("spend", DATA / "bad" / "currency_strings.csv")
        assert result.status == "imported"
    at = app_on(db)
    assert not at.exception
    assert at.metric[0].value == "$1,211,205.67"
    assert "$1,211,205.67" in at.caption[0].value
    assert not at.info  # not demo data
