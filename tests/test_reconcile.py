"""Spend reconciled to the general ledger, as a controller would try it: files written here (none in the
repository), imported with the real command line into a real DuckDB file, and the variances checked against
what was put in the ledger on purpose: a missing invoice, a misclassified account, a rounding difference.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from bench import samplegen
from finance.metrics.reconcile import Tolerance, from_store, reconcile
from finance.present import charts
from finance.store import accounts
from finance.store.database import Store

from .conftest import open_dashboard, run_cli, run_cli_json, shown_text, write

SPEND = """period,category,channel,amount,vendor,description
2025-01,digital_advertising,Paid Search,41250.00,Google,Search
2025-02,digital_advertising,Paid Search,39980.35,Google,Search
2025-03,digital_advertising,Paid Search,40112.10,Google,Search
2025-Q1,events,Events,18000.00,Expo Center,Spring fair
2025-Q1,creative_services,,12400.00,Studio North,Brand refresh
2025-Q1,martech,,9000.00,HubSpot,Licences
2025-04,digital_advertising,Paid Search,42000.00,Google,Search
2025-05,digital_advertising,Paid Search,43000.00,Google,Search
2025-06,digital_advertising,Paid Search,44000.00,Google,Search
2025-Q2,martech,,9000.00,HubSpot,Licences
2025-Q3,martech,,9000.00,HubSpot,Licences
"""

MISSING_INVOICE = Decimal("7300.00")
"""An events invoice booked in February, not in the spend export."""
MISCLASSIFIED = Decimal("12400.00")
"""The creative agency's invoice, booked to the content account instead of the creative one."""
ROUNDING = Decimal("0.37")
"""The ledger's March advertising is 37 cents more than the platform's export."""


def _ledger_rows() -> list[tuple[str, str, str]]:
    """A GL summary (period, account, amount) that books the spend above, but for the three differences."""
    rows = [
        ("2025-01", "6100 Advertising", "41250.00"), ("2025-02", "6100 Advertising", "39980.35"),
        ("2025-03", "6100 Advertising", str(Decimal("40112.10") + ROUNDING)),
        ("2025-01", "6150 Trade Shows & Events", "6000.00"), ("2025-02", "6150 Trade Shows & Events", "6000.00"),
        ("2025-03", "6150 Trade Shows & Events", "6000.00"),
        ("2025-02", "6150 Trade Shows & Events", str(MISSING_INVOICE)),
        ("2025-02", "6110 Content & SEO", str(MISCLASSIFIED)),
        ("2025-01", "6300 Marketing Software", "3000.00"), ("2025-02", "6300 Marketing Software", "3000.00"),
        ("2025-03", "6300 Marketing Software", "3000.00"),
        ("2025-01", "6900 Office Rent", "12000.00"), ("2025-02", "6900 Office Rent", "12000.00"),
        ("2025-03", "6900 Office Rent", "12000.00"),
        ("2025-04", "6100 Advertising", "42000.00"), ("2025-05", "6100 Advertising", "43000.00"),
        ("2025-06", "6100 Advertising", "44000.00"), ("2025-04", "6300 Marketing Software", "3000.00"),
        ("2025-05", "6300 Marketing Software", "3000.00"), ("2025-06", "6300 Marketing Software", "3000.00"),
        ("2025-07", "6300 Marketing Software", "3000.00"),  # the ledger's July only: Q3 is not closed
        ("2025-03", "7100 Travel", "2210.50"),
    ]
    return rows


ACCOUNT_MAP = """account,category
6100 advertising,digital_advertising
6150 Trade Shows & Events,events
6110 Content & SEO,Content marketing & SEO
6180 Creative Agencies,creative_services
6300 Marketing Software,martech
6900 Office Rent,none
"""


def _csv(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _company(tmp_path: Path) -> Path:
    db = tmp_path / "books.duckdb"
    spend = write(tmp_path / "spend.csv", SPEND)
    gl = write(tmp_path / "ledger.csv", _csv(_ledger_rows(), ("Period", "Account", "Amount")))
    mapping = write(tmp_path / "account-map.csv", ACCOUNT_MAP)
    for args in (("import", "spend", spend), ("import", "gl", gl), ("gl", "map", "--file", mapping)):
        done = run_cli(*args, "--db", db)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    return db


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One company for the tests that only read it (or check that they changed nothing)."""
    return _company(tmp_path_factory.mktemp("books"))


def test_each_deliberate_variance_is_reported_exactly(books: Path) -> None:
    db = books
    code, report = run_cli_json("reconcile", "--db", db, "--format", "json")
    assert code == 3, "a period that does not reconcile is exit code 3"
    lines = {(r["period"], r["category"]): r for r in report["lines"]}
    # Q1: the missing invoice (the books hold it, the spend does not), the misclassified account (content
    # up, creative down by the same invoice), the rounding difference (within the tolerance, shown exactly).
    assert lines["2025-Q1", "events"]["variance"] == str(-MISSING_INVOICE)
    assert lines["2025-Q1", "events"]["status"] == "variance"
    assert lines["2025-Q1", "content_seo"]["variance"] == str(-MISCLASSIFIED)
    assert lines["2025-Q1", "creative_services"]["variance"] == str(MISCLASSIFIED)
    assert lines["2025-Q1", "digital_advertising"]["variance"] == str(-ROUNDING)
    assert lines["2025-Q1", "digital_advertising"]["status"] == "reconciled"
    assert lines["2025-Q1", "martech"]["variance"] == "0.00"
    # Each line's figures tie to the files: the ledger's mapped accounts, the spend's categories.
    assert Decimal(lines["2025-Q1", "digital_advertising"]["ledger"]) == sum(
        (Decimal(a) for p, acc, a in _ledger_rows() if acc == "6100 Advertising" and p <= "2025-03"), Decimal(0))
    assert Decimal(lines["2025-Q1", "events"]["spend"]) == Decimal("18000.00")
    periods = {p["period"]: p for p in report["periods"]}
    assert periods["2025-Q1"]["status"] == "variance" and periods["2025-Q1"]["lines_off"] == 3
    assert Decimal(periods["2025-Q1"]["variance"]) == -MISSING_INVOICE - ROUNDING
    assert periods["2025-Q2"]["status"] == "reconciled" and Decimal(periods["2025-Q2"]["variance"]) == 0
    assert report["failing_periods"] == ["2025-Q1"]
    # The ledger covers July only: Q3's spend is listed, not compared, and never passed as reconciled.
    assert report["uncovered_periods"] == ["2025-Q3"] and "2025-Q3" not in periods
    # Rent is not spend, on purpose; travel is not mapped yet: neither counts anywhere, both are listed.
    states = {a["account"]: (a["state"], a["ledger"]) for a in report["accounts"]}
    assert states["6900 Office Rent"] == ("not_spend", "36000.00")
    assert states["7100 Travel"] == ("unmapped", "2210.50")
    assert states["6100 Advertising"][0] == "mapped", "accounts match ignoring case and spacing"


def test_the_tolerance_is_an_assumption_and_its_edge_is_exact(tmp_path: Path) -> None:
    db = _company(tmp_path)
    done = run_cli("assumptions", "--db", db, "--set", "reconcile_amount=0", "--set", "reconcile_share=0")
    assert done.returncode == 0, done.stderr
    _, report = run_cli_json("reconcile", "--db", db, "--format", "json", "--period", "2025-Q1")
    lines = {r["category"]: r for r in report["lines"]}
    assert lines["digital_advertising"]["status"] == "variance", "37 cents off is off with no tolerance"
    assert {r["period"] for r in report["lines"]} == {"2025-Q1"}
    # The edge: a variance equal to the allowance reconciles; a cent more does not.
    spend = pl.LazyFrame({"period_start": [date(2025, 1, 1)], "period_end": [date(2025, 3, 31)],
                          "category": ["events"], "channel": [None], "amount": [Decimal("10100.00")]},
                         schema_overrides={"amount": pl.Decimal(18, 4), "channel": pl.String})
    mapped = pl.DataFrame({"account_key": ["events"], "category": ["events"]})
    for ledger, status in ((Decimal("10000.00"), "reconciled"), (Decimal("9999.99"), "variance")):
        gl = pl.LazyFrame({"period_start": [date(2025, 1, 1)], "period_end": [date(2025, 3, 31)],
                           "account": ["Events"], "amount": [ledger]}, schema_overrides={"amount": pl.Decimal(18, 4)})
        result = reconcile(spend, gl, mapped, tolerance=Tolerance(Decimal("0.01"), Decimal("50")))
        [line] = result.lines.iter_rows(named=True)
        assert (line["variance"], line["status"]) == (Decimal("10100.00") - ledger, status)
        assert line["allowed"] == max(Decimal("50"), Decimal("0.01") * ledger)


def test_month_grain_and_a_bad_period(books: Path) -> None:
    db = books
    code, report = run_cli_json("reconcile", "--db", db, "--format", "json", "--grain", "month", "--period", "2025-02")
    lines = {r["category"]: r for r in report["lines"]}
    # The quarter's events line spreads over its months exactly; February holds the missing invoice.
    assert lines["events"]["variance"] == str(-MISSING_INVOICE)
    assert lines["creative_services"]["variance"] == str(Decimal("4133.3333"))
    assert lines["content_seo"]["variance"] == str(-MISCLASSIFIED)
    code, report = run_cli_json("reconcile", "--db", db, "--format", "json", "--period", "2025-Q9")
    assert code == 2 and "2025-Q9" in report["message"] and "2025-Q1, 2025-Q2" in report["message"]


def test_quickbooks_ledger_export_is_read_as_the_ledger(tmp_path: Path) -> None:
    """A QuickBooks General Ledger report (account headings, total and footer lines, US dates), as written here,
    imports as the ledger: each row keeps its account, and the missing invoice is found to the cent."""
    lines = ["Northwind Analytics Inc.", "General Ledger", '"January - March, 2025"', "",
             ",Date,Transaction Type,Num,Name,Memo/Description,Split,Amount,Balance",
             "6100 Advertising,,,,,,,,"]
    running = Decimal(0)
    for day, amount in (("01/31/2025", "41250.00"), ("02/28/2025", "39980.35"), ("03/31/2025", "40112.10")):
        running += Decimal(amount)
        lines.append(f',{day},Bill,{day[:2]}01,Google,Search,2000 Accounts Payable,"{Decimal(amount):,}","{running:,}"')
    lines.append(f'Total for 6100 Advertising,,,,,,,"${running:,}",')
    lines.append("6150 Trade Shows & Events,,,,,,,,")
    lines += [',02/14/2025,Bill,3001,Expo Center,Spring fair,2000 Accounts Payable,"18,000.00","18,000.00"',
              ',02/20/2025,Bill,3002,Expo Center,Booth extras,2000 Accounts Payable,"7,300.00","25,300.00"',
              'Total for 6150 Trade Shows & Events,,,,,,,"$25,300.00",', "",
              "Accrual basis Monday, April 7, 2025 09:12 AM GMT-04:00"]
    gl = write(tmp_path / "General Ledger.csv", "\n".join(lines) + "\n")
    spend = write(tmp_path / "spend.csv", "\n".join(SPEND.splitlines()[:5]) + "\n")
    db = tmp_path / "qb.duckdb"
    assert run_cli("import", "spend", spend, "--db", db).returncode == 0
    code, imported = run_cli_json("import", "gl", gl, "--db", db, "--format", "json")
    assert code == 0, imported
    assert imported["rows"] == 5 and imported["total"] == "146642.45"
    assert any(w["code"] == "preset_applied" and w["value"] == "quickbooks_ledger" for w in imported["warnings"])
    code, listed = run_cli_json("gl", "accounts", "--db", db, "--format", "json")
    assert [(a["account"], a["state"], a["suggestion"]) for a in listed] == [
        ("6100 Advertising", "unmapped", "digital_advertising"), ("6150 Trade Shows & Events", "unmapped", "events")]
    # A suggestion is never taken: nothing is reconciled until an editor maps the accounts.
    _, before = run_cli_json("reconcile", "--db", db, "--format", "json")
    assert {r["status"] for r in before["lines"]} == {"no_account"}
    for account, category in (("6100 Advertising", "digital_advertising"), ("6150 Trade Shows & Events", "events")):
        assert run_cli("gl", "map", account, category, "--db", db).returncode == 0
    _, after = run_cli_json("reconcile", "--db", db, "--format", "json")
    assert {(r["category"], r["variance"], r["status"]) for r in after["lines"]} == {
        ("digital_advertising", "0.00", "reconciled"), ("events", "-7300.00", "variance")}


def test_a_bad_account_map_is_named_and_changes_nothing(books: Path, tmp_path: Path) -> None:
    db = books
    with Store(db, read_only=True) as store:
        before = store.snapshot(), accounts.mapped(store)
    bad = write(tmp_path / "bad-map.csv", "account,category\n6100 Advertising,events\n6200 Salaries,furniture\n")
    done = run_cli("gl", "map", "--file", bad, "--db", db)
    assert done.returncode == 2
    assert "bad-map.csv: row 3, column 'category': 'furniture' is not a category" in done.stderr
    done = run_cli("gl", "map", "6100 Advertising", "ads", "--db", db)
    assert done.returncode == 1 and "'ads' is not a cost category" in done.stderr
    with Store(db, read_only=True) as store:
        assert store.snapshot() == before[0] and accounts.mapped(store).equals(before[1])


def test_a_category_map_on_a_ledger_import_is_refused_not_ignored(tmp_path: Path) -> None:
    gl = write(tmp_path / "gl.csv", _csv(_ledger_rows(), ("Period", "Account", "Amount")))
    labels = write(tmp_path / "labels.csv", "label,category\n6100 Advertising,digital_advertising\n")
    done = run_cli("import", "gl", gl, "--db", tmp_path / "s.duckdb", "--category-map", labels)
    assert done.returncode == 2 and "python -m finance gl map" in done.stderr
    assert not (tmp_path / "s.duckdb").exists(), "nothing written"


def test_undoing_the_ledger_import_leaves_nothing_to_reconcile(tmp_path: Path) -> None:
    db = _company(tmp_path)
    assert run_cli("undo", "2", "--db", db).returncode == 0
    done = run_cli("reconcile", "--db", db)
    assert done.returncode == 1 and "no general ledger is imported" in done.stderr


def test_account_names_are_only_text(tmp_path: Path) -> None:
    """A ledger's account names come from outside: control characters are refused at the import, naming the row
    and column; a name that looks like a formula, a link or markup is kept and shown as the text it is."""
    db = tmp_path / "h.duckdb"
    escape = write(tmp_path / "esc.csv", _csv([("2025-01", "6100 \x1b[31mAds", "10.00")], ("period", "account",
                                                                                           "amount")))
    code, refused = run_cli_json("import", "gl", escape, "--db", db, "--format", "json")
    assert code == 2 and (refused["errors"][0]["row"], refused["errors"][0]["column"]) == (2, "account")
    hostile = '=HYPERLINK("http://evil.example","6100 Ads") [click](http://evil.example) <b>x</b>'
    gl = write(tmp_path / "gl.csv", _csv([("2025-01", hostile, "10.00")], ("period", "account", "amount")))
    assert run_cli("import", "gl", gl, "--db", db).returncode == 0
    listing = run_cli("gl", "accounts", "--db", db)
    assert listing.returncode == 0 and hostile in listing.stdout
    _, listed = run_cli_json("gl", "accounts", "--db", db, "--format", "json")
    assert listed[0]["account"] == hostile


def test_the_demo_company_reconciles_but_for_its_two_known_differences(tmp_path: Path) -> None:
    """The generator's ledger, independent of the reconciliation: its declared differences are what the
    reconciliation finds, and nothing else."""
    folder = tmp_path / "company"
    paths = samplegen.generate(folder, customers=400, quarters=4, start_year=2024)
    db = tmp_path / "demo.duckdb"
    with Store(db, keep_backups=0) as store:
        for kind in ("spend", "gl"):
            assert store.import_file(kind, paths[kind]).status == "imported"
        accounts.map_accounts(store, dict(pl.read_csv(paths[samplegen.ACCOUNT_MAP]).iter_rows()))
        result = from_store(store)
    assert result is not None
    off = {(r["period"], r["category"]): r["variance"] for r in result.lines.iter_rows(named=True)
           if r["variance"] != 0}
    spend = pl.read_csv(paths["spend"], infer_schema=False)
    misbooked = Decimal(spend.filter((pl.col("period") == "2024-Q4") & (pl.col("category") == "creative_services")
                                     & ~pl.col("amount").str.starts_with("-"))["amount"][0])
    missing = Decimal(samplegen.MISSING_INVOICE[1]) / 100
    assert off == {("2024-Q3", "events"): -missing, ("2024-Q4", "creative_services"): misbooked,
                   ("2024-Q4", "content_seo"): -misbooked}
    assert result.failing == ("2024-Q3", "2024-Q4")
    assert result.unmapped.get_column("account").to_list() == ["7100 Travel & entertainment"]


def test_the_reconciliation_page_shows_the_demo_company_s_differences(monkeypatch: pytest.MonkeyPatch,
                                                                     demo_db: Path) -> None:
    at = open_dashboard(monkeypatch, demo_db, "pages/reconciliation.py")
    with Store(demo_db, read_only=True) as store:
        result = from_store(store)
    assert result is not None and result.failing  # the demo's ledger has its two known differences
    [warning] = [w.value for w in at.warning if "reconcile" in w.value]
    assert all(period.replace("-", "\\-") in warning for period in result.failing)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Do not reconcile"] == str(len(result.failing))
    assert metrics["Periods compared"] == str(result.periods.height)
    periods = shown_text(at.dataframe[0])
    assert list(periods.iloc[:, 0]) == result.periods.get_column("period").to_list()
    # The lines off, by default: each variance as the reconciliation computed it, to the cent.
    lines = shown_text(at.dataframe[1])
    off = result.lines.filter(pl.col("status") != "reconciled")
    assert len(lines) == off.height
    assert list(lines.iloc[:, 4]) == [f"${v:,.2f}".replace("$-", "-$") for v in off.get_column("variance")]
    assert "7100 Travel & entertainment" in list(shown_text(at.dataframe[2]).iloc[:, 0])


def test_an_editor_maps_an_account_on_the_page(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from finance.demo import build_demo_db

    db = tmp_path / "demo.duckdb"
    build_demo_db(db)
    at = open_dashboard(monkeypatch, db, "pages/reconciliation.py")
    with Store(db, read_only=True) as store:
        before = accounts.mapped(store)
    assert "7100 travel & entertainment" not in before.get_column("account_key").to_list()
    # The accounts not mapped come first; the travel account's name suggests nothing, so no category is chosen.
    account = at.selectbox(key="reconciliation.map.account")
    assert account.value == "7100 Travel & entertainment"
    [category] = [s for s in at.selectbox if s.key and s.key.startswith("reconciliation.map.category.")]
    assert category.value is None
    category.set_value("none").run()
    at.button(key="reconciliation.map.save").click().run()
    assert not at.exception, at.exception
    assert any("Travel" in s.value and "is mapped to not marketing or sales spend" in s.value for s in at.success)
    with Store(db, read_only=True) as store:
        after = accounts.mapped(store)
        changes = store.changes(actions=("gl_accounts_mapped",))
    travel = after.filter(pl.col("account_key") == "7100 travel & entertainment")
    assert travel.height == 1 and travel.get_column("category").to_list() == [None]
    assert changes.height == 2  # the demo's own map, then this one
    # The page now counts no account left unmapped.
    assert {m.label: m.value for m in at.metric}["Accounts not mapped"] == "0"


@pytest.mark.parametrize("page", ["pages/overview.py", "pages/cac.py", "pages/cpl_cpa.py"])
def test_the_figures_say_which_periods_the_books_do_not_confirm(monkeypatch: pytest.MonkeyPatch, demo_db: Path,
                                                                page: str) -> None:
    with Store(demo_db, read_only=True) as store:
        result = from_store(store)
    assert result is not None
    at = open_dashboard(monkeypatch, demo_db, page)
    [note] = [w.value for w in at.warning if "does not reconcile to the general ledger" in w.value]
    assert note.startswith(f"The spend of {', '.join(p.replace('-', chr(92) + '-') for p in result.failing)} ")
    # Every time series on the page marks those periods, and only those: outlined, "GL" over each.
    series = [s for s in _chart_specs(at) if s["layout"]["xaxis"].get("type") == "category"]
    assert series, "the page draws a time series"
    for spec in series:
        axis = spec["layout"]["xaxis"]["categoryarray"]
        marked = [a["x"] for a in spec["layout"].get("annotations", []) if a.get("text") == "GL"]
        assert marked == [p for p in result.failing if p in axis] == list(result.failing), spec["layout"]["title"]
        outlined = [s for s in spec["layout"].get("shapes", []) if s.get("yref") == "paper" and s.get("xref") == "x"]
        assert sorted(round(s["x0"] + 0.5) for s in outlined) == [axis.index(p) for p in result.failing]
        subtitle = spec["layout"]["title"]["subtitle"]["text"].replace("<br>", " ")
        assert f"Marked GL: {', '.join(result.failing)}, not reconciled to the ledger." in subtitle
    # A view of periods that all reconcile says nothing of it.
    at = open_dashboard(monkeypatch, demo_db, page, query={"from": "2023-Q1", "to": "2024-Q4"})
    assert not [w for w in at.warning if "general ledger" in w.value]
    for spec in _chart_specs(at):
        assert not [a for a in spec["layout"].get("annotations", []) if a.get("text") == "GL"]


def _chart_specs(at: Any) -> list[dict[str, Any]]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def test_a_chart_mark_says_each_variance_exactly_and_only_as_text(books: Path) -> None:
    with Store(books, read_only=True) as store:
        result = from_store(store)
    [mark] = charts.unreconciled_marks(result, "USD")
    assert mark.period == "2025-Q1"
    # The three lines off, each with its variance (spend minus ledger) to the cent; the rounding difference is
    # within the tolerance, so it is not there.
    assert mark.text.endswith(f"Content marketing & SEO -${MISCLASSIFIED:,}, Events -${MISSING_INVOICE:,}, "
                              f"Creative services +${MISCLASSIFIED:,}"), mark.text
    axis = ["2025-Q1", "2025-Q2"]
    hostile = charts.Mark("2025-Q2", "note", '<a href="https://evil.example">win</a> =1+1', label="<b>1</b>")
    fig = charts.ltv_cac_trend(pl.DataFrame({"period": [date(2025, 1, 1), date(2025, 4, 1)], "period_label": axis,
                                             "ltv_cac": [3.1, 2.9]}), marks=(mark, hostile))
    notes = {a.x: a for a in fig.layout.annotations if a.x in axis}
    assert notes["2025-Q1"].text == "GL" and notes["2025-Q1"].hovertext.startswith("Spend does not reconcile")
    assert notes["2025-Q2"].text == "&lt;b&gt;1&lt;/b&gt;"
    assert notes["2025-Q2"].hovertext == "&lt;a href=\"https://evil.example\"&gt;win&lt;/a&gt; =1+1"
    assert fig.layout.title.subtitle.text.endswith("Marked GL: 2025-Q1, not reconciled to the ledger.")


def test_the_ledger_is_named_gl_where_a_label_starts_with_it(monkeypatch: pytest.MonkeyPatch, demo_db: Path) -> None:
    from finance.present.summary import kind_name

    assert [kind_name(k) for k in ("spend", "revenue", "gl")] == ["Spend", "Revenue", "GL"]
    at = open_dashboard(monkeypatch, demo_db, "pages/data.py")
    history = at.dataframe[-1].value
    assert "GL" in set(history.iloc[:, 1]), "the imports history names the ledger's import GL, not Gl"


def test_a_trial_balance_of_one_period_is_read_with_its_period_given(tmp_path: Path) -> None:
    """A trial balance names no period (it is in the report's title): --period gives every row one, and a
    quarter's balance is compared with the quarter's spend like any ledger; a bad period is named, changing
    nothing."""
    db = tmp_path / "books.duckdb"
    assert run_cli("import", "spend", write(tmp_path / "spend.csv", SPEND), "--db", db).returncode == 0
    balance = write(tmp_path / "trial balance Q2.csv", "Account,Debit,Credit,Balance\n"
                                                       "6100 Advertising,129000.00,,129000.00\n"
                                                       "6300 Marketing Software,9000.00,,9000.00\n"
                                                       "6900 Office Rent,36000.00,,36000.00\n")
    refused = run_cli("import", "gl", balance, "--db", db)
    assert refused.returncode == 2 and "no 'period' column" in refused.stdout + refused.stderr
    bad = run_cli("import", "gl", balance, "--period", "2025-Q5", "--db", db)
    assert bad.returncode == 2 and "column '--period': [invalid_quarter] value '2025-Q5'" in bad.stdout + bad.stderr
    assert run_cli("import", "gl", balance, "--period", "2025-Q2", "--db", db).returncode == 0
    assert run_cli("gl", "map", "--file", write(tmp_path / "map.csv", ACCOUNT_MAP), "--db", db).returncode == 0
    code, report = run_cli_json("reconcile", "--db", db, "--period", "2025-Q2")
    assert code == 0, report
    lines = {r["category"]: r for r in report["lines"]}
    assert (lines["digital_advertising"]["ledger"], lines["digital_advertising"]["variance"]) == ("129000.00", "0.00")
    assert (lines["martech"]["ledger"], lines["martech"]["variance"]) == ("9000.00", "0.00")
