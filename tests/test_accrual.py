"""Accrual-basis CAC, as a controller would try it: a spend export written here (none in the repository) with an
annual contract, a mid-month retainer, an event deposit paid ahead and a credit, imported with the real command
line into a real DuckDB file. The months are checked against a schedule worked out here independently (exact
fractions of days), and against the one rule no basis may break: nothing is lost or counted twice.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finance.store.database import Store
from finance.store.dataset import Dataset, amortised

from .conftest import open_dashboard, run_cli, run_cli_json, write

CENT = Decimal("0.01")

SPEND = """period,category,channel,amount,vendor,description,service_start,service_end
2025-01,martech,,12000.00,HubSpot,Annual licence,2025-01-01,2025-12-31
2025-02,content_creation,,10000.00,Studio North,Retainer,2025-03-15,2026-03-14
2025-Q1,digital_advertising,Paid Search,30000.00,Google,Search,,
2025-Q2,digital_advertising,Paid Search,30000.00,Google,Search,,
2025-Q3,digital_advertising,Paid Search,30000.00,Google,Search,,
2025-Q4,digital_advertising,Paid Search,30000.00,Google,Search,,
2025-11,events,Events,9000.00,Expo Center,Booth deposit,2026-02-01,2026-02-28
2025-06,martech,,-100.01,HubSpot,Credit note,2025-06-01,2025-08-31
"""

CUSTOMERS = "customer_id,acquired_on,channel,segment\n" + "".join(
    f"c{i},2025-{m:02d}-10,{'Paid Search' if i % 2 else 'Events'},SMB\n" for i, m in enumerate(range(1, 13), 1))
REVENUE = "customer_id,date,revenue\n" + "".join(f"c{i},2025-{m:02d}-10,900\n" for i, m in enumerate(range(1, 13), 1))


def schedule(amount: Decimal, start: date, end: date) -> dict[str, Decimal]:
    """The month-by-month schedule worked out here: each month weighs the share of its days the service covers,
    takes that share of the amount rounded down to the cent, and the cents left go one each to the first months."""
    months: list[tuple[str, Fraction]] = []
    day = start.replace(day=1)
    while day <= end:
        last = day.replace(day=calendar.monthrange(day.year, day.month)[1])
        covered = (min(end, last) - max(start, day)).days + 1
        months.append((f"{day:%Y-%m}", Fraction(covered, last.day)))
        day = last + timedelta(days=1)
    total = sum(w for _, w in months)
    size, sign = abs(amount), (1 if amount >= 0 else -1)
    shares = [(Decimal((Fraction(size) * w / total).numerator) / Decimal((Fraction(size) * w / total).denominator))
              .quantize(CENT, rounding=ROUND_FLOOR) for _, w in months]
    left = int((size - sum(shares)) / CENT)
    shares = [s + (CENT if i < left else 0) for i, s in enumerate(shares)]
    return {m: sign * s for (m, _), s in zip(months, shares, strict=True)}


def _company(folder: Path) -> Path:
    db = folder / "books.duckdb"
    for kind, text in (("spend", SPEND), ("customers", CUSTOMERS), ("revenue", REVENUE)):
        done = run_cli("import", kind, write(folder / f"{kind}.csv", text), "--db", db)
        assert done.returncode == 0, done.stderr
    return db


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _company(tmp_path_factory.mktemp("accrual"))


def _monthly(db: Path, *extra: str) -> tuple[dict[str, Any], dict[tuple[str, str], Decimal]]:
    code, report = run_cli_json("metrics", "--db", db, "--grain", "month", *extra)
    assert code == 0, report
    spend = {(r["period"], k): Decimal(v) for r in report["rows"] for k, v in r["spend_by_category"].items()}
    return report, spend


def test_an_annual_contract_amortises_to_the_cent(books: Path) -> None:
    report, spend = _monthly(books)
    assert report["assumptions"]["spend_basis"] == "accrual", "service periods make accrual the default"
    # The annual licence: 1,000.00 a month, January to December, whatever each month's length; the credit note
    # (-100.01 over June to August) is taken off those three months, its odd cent in the first.
    credit = schedule(Decimal("-100.01"), date(2025, 6, 1), date(2025, 8, 31))
    assert credit == {"2025-06": Decimal("-33.34"), "2025-07": Decimal("-33.34"), "2025-08": Decimal("-33.33")}
    for month in range(1, 13):
        label = f"2025-{month:02d}"
        assert spend[label, "martech"] == Decimal("1000.00") + credit.get(label, 0), label
    # The retainer from 15 March: March weighs 17/31 of a month, and each month is the schedule's to the cent.
    retainer = schedule(Decimal("10000.00"), date(2025, 3, 15), date(2026, 3, 14))
    assert sum(retainer.values()) == Decimal("10000.00")
    for label, amount in retainer.items():
        if label <= "2025-12":
            assert spend[label, "content_creation"] == amount, label
    assert spend["2025-03", "content_creation"] == Decimal("456.99")  # 10,000 x (17/31) / 12 = 456.989..., up a cent
    assert all(v == v.quantize(CENT) for v in spend.values()), "every month is whole cents"


def test_nothing_is_lost_or_counted_twice_between_the_bases(books: Path) -> None:
    cash_report, cash = _monthly(books, "--basis", "cash")
    accrual_report, accrual = _monthly(books, "--basis", "accrual")
    assert cash_report["assumptions"]["spend_basis"] == "cash"
    # Cash: each cost in the month paid (a quarter's spread over its months), service periods aside.
    assert cash["2025-01", "martech"] == Decimal("12000.00") and cash["2025-11", "events"] == Decimal("9000.00")
    assert cash["2025-02", "content_creation"] == Decimal("10000.00")
    assert not cash_report["prepaid_outside"], "on the cash basis nothing is prepaid"
    # Accrual: what falls after December (the retainer's 2026 months, the February booth) is listed, exactly.
    outside = {r["vendor"]: r for r in accrual_report["prepaid_outside"]}
    assert set(outside) == {"Studio North", "Expo Center"}
    retainer = schedule(Decimal("10000.00"), date(2025, 3, 15), date(2026, 3, 14))
    assert Decimal(outside["Studio North"]["after_last_month"]) == sum(v for m, v in retainer.items() if m > "2025-12")
    assert Decimal(outside["Expo Center"]["after_last_month"]) == Decimal("9000.00")
    assert outside["Expo Center"]["last_month"] == "2025-12" and outside["Expo Center"]["row"] == 8
    # The two bases hold the same spend: accrual's months plus what is prepaid beyond them is cash, to the cent.
    prepaid = sum(Decimal(r["after_last_month"]) + Decimal(r["before_first_month"])
                  for r in accrual_report["prepaid_outside"])
    assert sum(accrual.values()) + prepaid == sum(cash.values())
    # The table says which basis it is on, and names what it leaves out.
    table = run_cli("metrics", "--db", books).stdout
    assert "spend on the accrual basis" in table
    assert "not in these figures: spend row 8 (Expo Center, events, Events), 9000.00" in table


def test_a_service_period_that_does_not_hold_is_refused_and_changes_nothing(books: Path, tmp_path: Path) -> None:
    with Store(books, read_only=True) as store:
        before = store.snapshot()
    bad = write(tmp_path / "bad spend.csv", "period,category,amount,service_start,service_end\n"
                                          "2026-01,martech,500,2026-01-01,\n"
                                          "2026-01,martech,500,2026-03-01,2026-01-31\n")
    done = run_cli("import", "spend", bad, "--db", books)
    assert done.returncode != 0
    assert ("bad spend.csv, row 2, column 'service_end': [service_period_incomplete] value '2026-01-01'"
            in done.stdout + done.stderr)
    assert ("bad spend.csv, row 3, column 'service_end': [service_period_reversed] value '2026-01-31'"
            in done.stdout + done.stderr)
    with Store(books, read_only=True) as store:
        assert store.snapshot() == before


amounts = st.decimals(min_value=Decimal("-99999999.99"), max_value=Decimal("99999999.99"), places=4,
                      allow_nan=False, allow_infinity=False)
days = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))


@settings(max_examples=60, deadline=None)
@given(amount=amounts, start=days, length=st.integers(min_value=0, max_value=800))
def test_any_amount_over_any_service_period_adds_up_exactly(amount: Decimal, start: date, length: int) -> None:
    end = start + timedelta(days=length)
    frame = pl.DataFrame({"source_row": [2], "period_start": [start], "period_end": [start], "category": ["events"],
                          "amount": [amount], "service_start": [start], "service_end": [end]},
                         schema_overrides={"amount": pl.Decimal(18, 4)})
    months = amortised(Dataset.from_frames(spend=frame).spend).collect()
    shares = months.get_column("amount").to_list()
    assert sum(shares) == amount, "the months add up to the amount exactly"
    assert months.height == (end.year - start.year) * 12 + end.month - start.month + 1
    if amount == amount.quantize(CENT):
        # Whole cents in, whole cents out, each within a cent of its exact share (the schedule worked out here).
        assert dict(zip(months.get_column("period_start").dt.strftime("%Y-%m").to_list(), shares, strict=True)) == \
            schedule(amount, start, end)


def test_the_dashboard_says_which_basis_it_shows_and_switches(monkeypatch: pytest.MonkeyPatch, books: Path) -> None:
    at = open_dashboard(monkeypatch, books, "pages/cac.py", entry_script_reruns=True)
    [basis] = [c for c in at.get("button_group") if c.label == "Spend basis"]
    assert basis.value == "accrual"
    captions = [_unescaped(c.value) for c in at.caption if "basis" in c.value]
    assert captions and captions[0].startswith("Spend on the accrual basis")
    # What the figures leave out is named, with its amount: the retainer's and the booth's months after December.
    assert "Expo Center $9,000.00" in captions[0] and "Studio North" in captions[0]
    table = at.dataframe[0].value
    basis.set_value("cash").run()
    assert not at.dataframe[0].value.equals(table), "the figures move with the basis"
    assert at.query_params.get("basis") == "cash", "the link keeps the basis"
    assert next(_unescaped(c.value) for c in at.caption if "basis" in c.value).startswith("Spend on the cash basis")


def _unescaped(markdown: str) -> str:
    """Markdown as it reads on the page (every punctuation mark of the text is escaped, so none is markup)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def test_no_basis_to_choose_without_service_periods(monkeypatch: pytest.MonkeyPatch, demo_db: Path) -> None:
    at = open_dashboard(monkeypatch, demo_db, "pages/cac.py")
    assert not [c for c in at.get("button_group") if c.label == "Spend basis"]
    assert not [c for c in at.caption if "basis" in c.value]


def test_the_books_reconcile_on_the_accrual_basis(tmp_path: Path) -> None:
    """A ledger that expenses the licence and the retainer month by month, as books do, ties to the spend on the
    accrual basis to the cent; the reconciliation says which basis it used."""
    db = _company(tmp_path)
    retainer = schedule(Decimal("10000.00"), date(2025, 3, 15), date(2026, 3, 14))
    ledger = "period,account,amount\n" + "".join(
        f"2025-{m:02d},6300 Marketing Software,1000.00\n2025-{m:02d},6100 Advertising,10000.00\n" for m in (1, 2, 3))
    ledger += f"2025-03,6210 Content Production,{retainer['2025-03']}\n"
    assert run_cli("import", "gl", write(tmp_path / "tb.csv", ledger), "--db", db).returncode == 0
    for account, category in (("6300 Marketing Software", "martech"), ("6100 Advertising", "digital_advertising"),
                              ("6210 Content Production", "content_creation")):
        assert run_cli("gl", "map", account, category, "--db", db).returncode == 0
    code, report = run_cli_json("reconcile", "--db", db)
    assert report["spend_basis"] == "accrual"
    [q1] = report["periods"]
    assert q1["period"] == "2025-Q1" and q1["status"] == "reconciled" and q1["variance"] == "0.00", report
    assert code == 0
