"""The Assumptions page in words: values by their unit, the change log as "label: before -> after"."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from finance.domain.assumptions import LABELS, Assumptions
from finance.present import settings_text
from finance.store.database import Store

from .conftest import open_dashboard


def test_each_assumption_is_written_in_its_unit() -> None:
    chosen, _ = Assumptions().parsed({"default_gross_margin": "0.655", "annual_discount_rate": "0.1",
                                      "horizon_months": "24", "lag_quarters": "2", "fiscal_year_start": "4",
                                      "band_edges": "1,2.5,3,5", "target_ratio": "3.5", "allocation": "customers",
                                      "target_payback_months": "12"})
    texts = dict(settings_text.assumption_texts(chosen))
    assert list(texts) == list(LABELS.values())
    assert dict(settings_text.assumption_texts(Assumptions()))[LABELS["target_payback_months"]] == "none"
    assert texts == {LABELS["default_gross_margin"]: "65.5%", LABELS["annual_discount_rate"]: "10.0%",
                     LABELS["horizon_months"]: "24 months", LABELS["lag_quarters"]: "2 quarters",
                     LABELS["fiscal_year_start"]: "April", LABELS["band_edges"]: "1x, 2.5x, 3x, 5x",
                     LABELS["target_ratio"]: "3.5x", LABELS["target_payback_months"]: "12 months",
                     LABELS["allocation"]: "their new customers",
                     LABELS["reconcile_share"]: "0.50%", LABELS["reconcile_amount"]: "100"}


def test_a_change_log_entry_reads_as_words_not_json() -> None:
    detail = '{"default_gross_margin": {"from": "0.70", "to": "0.65"}, "lag_quarters": {"from": null, "to": "1"}}'
    assert settings_text.change_text("assumptions", detail) == (
        "Default gross margin: 70.0% → 65.0%; Acquisition lag (quarters): none → 1 quarter")
    assert settings_text.change_text("setting", '{"from": null, "key": "demo_company", "to": "Acme"}') == (
        "Company name (demo): not set → Acme")
    assert settings_text.change_text("assumptions", "not json") == "not json"


def test_a_remembered_file_layout_reads_as_words_not_json(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        source = store.source_mapping("spend", ["Posting Period", "Dept", "Amount"])
        store.save_source_mapping(source.merged(columns={"Dept": "channel"}, categories={"6200 Salaries": "personnel"},
                                                channels={"Mktg - Shared": None, "Mktg - Events": "Events"},
                                                name="gl-q1.csv"))
        change = store.changes().row(0, named=True)
    text = settings_text.change_text(change["action"], change["detail"])
    assert text == ("How to read spend files laid out like gl-q1.csv: 1 column, 1 category label, 2 channel values "
                    "mapped")


def test_the_assumptions_page_shows_no_raw_values_or_json(monkeypatch: pytest.MonkeyPatch, demo_db: Path,
                                                          tmp_path: Path) -> None:
    db = tmp_path / "copy.duckdb"
    db.write_bytes(demo_db.read_bytes())
    with Store(db, user="cfo@example.com") as store:
        store.set_assumptions({"default_gross_margin": "0.65", "lag_quarters": "1"})
    at = functools.partial(open_dashboard, monkeypatch, check=False)(db, "pages/assumptions.py")
    assert not at.exception
    in_force = at.table[0].value
    values = [re.sub(r"\\(.)", r"\1", v) for v in in_force["Value"]]
    assert "65.0%" in values and "1 quarter" in values and "0.65" not in values
    changes = next(d.value for d in at.dataframe if "What changed" in d.value.columns)
    assert changes["Who"][0] == "cfo@example.com"
    assert changes["What changed"][0] == ("Default gross margin: 70.0% → 65.0%; "
                                          "Acquisition lag (quarters): none → 1 quarter")


def test_the_import_history_reads_as_words_with_units(tmp_path: Path) -> None:
    db = tmp_path / "h.duckdb"
    spend, customers = tmp_path / "s.csv", tmp_path / "c.csv"
    spend.write_text("period,category,amount\n2025-Q1,personnel,1234.5\n")
    customers.write_text("customer_id,acquired_on\nC1,2025-01-15\nC2,2025-02-03\n")
    with Store(db, user="ops@example.com") as store:
        store.import_file("spend", spend)
        store.import_file("customers", customers)
        store.undo(2)
        history = settings_text.import_history(store.imports(), "USD")
    assert history.columns == ["#", "Kind", "File", "Rows", "Covers", "Total", "Imported (UTC)", "Status"]
    assert re.fullmatch(r"\d\d \w{3} \d{4} \d\d:\d\d by ops@example\.com", history["Imported (UTC)"][0])
    rows = {r["#"]: r for r in history.iter_rows(named=True)}
    assert rows["#1"]["Total"] == "$1,234.50" and rows["#1"]["Status"] == "in force"
    assert rows["#2"]["Total"] == "2 customers" and rows["#1"]["Covers"] == "Jan 2025\u2013Mar 2025"
    assert re.fullmatch(r"undone \d\d \w{3} \d{4} \d\d:\d\d UTC by ops@example\.com", rows["#2"]["Status"])
    assert not [v for r in rows.values() for v in r.values() if v is None or str(v) in ("None", "nan")]
