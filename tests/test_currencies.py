"""Several currencies: exchange rates imported (the ECB's file, a long file), amounts converted at import
exactly, the amounts as written and the rate kept per row, and the reporting currency changed as an
assumption. Expected figures are computed here from the generator's rates and amounts with Decimal
arithmetic, never read back from the importer."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from finance.cli.commands import main
from finance.ingest.fx import read_rates
from finance.ingest.prepare import FX_COLUMNS, STORAGE_SCHEMAS, ImportOptions
from finance.store import migrations
from finance.store.database import Store

from .conftest import run_cli_json, write


def cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, Any]:
    """The command line in this process (``run_cli_json`` starts one: a few seconds each)."""
    code = main([*map(str, args), "--format", "json"])
    return code, json.loads(capsys.readouterr().out)

FIRST, LAST = date(2024, 12, 16), date(2025, 3, 31)
HOLIDAYS = {date(2024, 12, 25), date(2024, 12, 26), date(2025, 1, 1)}  # TARGET holidays: no ECB row
JPY_NOT_QUOTED = date(2025, 2, 12)  # N/A for one currency on one business day
GBP_LAST = date(2025, 2, 28)  # GBP N/A from March on: its rates stop mid-quarter
Rates = dict[date, dict[str, Decimal]]


def _history(seed: int = 2025) -> Rates:
    """Units per 1 EUR on each business day, as the ECB publishes them: USD and GBP 4-5 decimals, JPY 2."""
    rng = random.Random(seed)
    rates: Rates = {}
    day = FIRST
    while day <= LAST:
        if day.weekday() < 5 and day not in HOLIDAYS:
            rates[day] = {"USD": Decimal(rng.randrange(10_200, 10_600)).scaleb(-4),
                          "JPY": Decimal(rng.randrange(15_800, 16_500)).scaleb(-2),
                          "GBP": Decimal(rng.randrange(82_000, 86_000)).scaleb(-5)}
            if day == JPY_NOT_QUOTED:
                del rates[day]["JPY"]
            if day > GBP_LAST:
                del rates[day]["GBP"]
        day += timedelta(days=1)
    return rates


RATES = _history()


def _ecb_csv(rates: Rates) -> str:
    """The ECB's layout: newest first, N/A where a currency has no rate, a trailing empty column."""
    lines = ["Date,USD,JPY,GBP,"]
    for day in sorted(rates, reverse=True):
        lines.append(f"{day}," + ",".join(str(rates[day].get(c, "N/A")) for c in ("USD", "JPY", "GBP")) + ",")
    return "\n".join(lines) + "\n"


def _per_eur(day: date, currency: str) -> Decimal | None:
    if day not in RATES:
        return None
    return Decimal(1) if currency == "EUR" else RATES[day].get(currency)


def _cross(day: date, source: str, target: str) -> Decimal | None:
    """Units of target per 1 source on a day both are published (via EUR), exactly."""
    a, b = _per_eur(day, source), _per_eur(day, target)
    return None if a is None or b is None else b / a


def _q12(rate: Decimal) -> Decimal:
    return rate.quantize(Decimal("1e-12"), rounding=ROUND_HALF_EVEN)


def dated_rate(day: date, source: str, target: str) -> Decimal:
    """The day's rate, else the latest of the 7 days before it."""
    for back in range(8):
        found = _cross(day - timedelta(days=back), source, target)
        if found is not None:
            return _q12(found)
    raise AssertionError(f"no rate for {day}")


def period_rate(start: date, end: date, source: str, target: str) -> Decimal:
    """The mean of the daily cross rates published within the period."""
    daily = [r for d in sorted(RATES) if start <= d <= end if (r := _cross(d, source, target)) is not None]
    assert daily
    return _q12(sum(daily, Decimal(0)) / len(daily))


def in_minor_units(amount: Decimal, rate: Decimal, currency: str) -> Decimal:
    unit = Decimal(1) if currency == "JPY" else Decimal("0.01")
    return (amount * rate).quantize(unit, rounding=ROUND_HALF_EVEN)


# spend: (period label, start, end, category, amount as written, its value, currency column)
MONTHS = {1: (date(2025, 1, 1), date(2025, 1, 31)), 2: (date(2025, 2, 1), date(2025, 2, 28)),
          3: (date(2025, 3, 1), date(2025, 3, 31))}


def _spend(seed: int = 7) -> tuple[str, list[tuple[date, date, Decimal, str | None]]]:
    """A spend file in EUR, JPY and USD by month and quarter; the rows as (start, end, amount, currency)."""
    rng = random.Random(seed)
    lines, rows = ["period,category,channel,amount,currency"], []
    for i in range(40):
        currency = ["EUR", "JPY", "USD", None][i % 4]
        if i % 5 == 0:
            label, (start, end) = "2025-Q1", (date(2025, 1, 1), date(2025, 3, 31))
        else:
            month = rng.choice([1, 2, 3])
            label, (start, end) = f"2025-{month:02d}", MONTHS[month]
        if currency == "JPY":
            yen = rng.randrange(1, 9_000_000)
            written, amount = f'"¥{yen:,}"', Decimal(yen)
        else:
            cents = rng.randrange(-5_000, 5_000_000)
            amount = Decimal(cents).scaleb(-2)
            written = f"{amount}"
        lines.append(f"{label},{rng.choice(['personnel', 'events', 'martech'])},,{written},{currency or ''}")
        rows.append((start, end, amount, currency))
    return "\n".join(lines) + "\n", rows


SPEND_CSV, SPEND_ROWS = _spend()

# revenue, by date: a Saturday, a Sunday, a holiday, the day JPY is not quoted, and plain weekdays
REVENUE_DAYS = [date(2025, 1, 4), date(2025, 1, 5), date(2025, 1, 1), JPY_NOT_QUOTED, date(2025, 2, 13),
                date(2025, 3, 31), date(2025, 3, 15)]


def _revenue() -> tuple[str, list[tuple[date, Decimal, Decimal, str]]]:
    lines, rows = ["customer_id,date,revenue,cost,currency"], []
    for i, day in enumerate(REVENUE_DAYS):
        for currency in ("EUR", "JPY"):
            revenue = Decimal(1234567 + 1000 * i) if currency == "JPY" else Decimal(f"{1000 + i}.{i:02d}")
            cost = (revenue * Decimal("0.3")).quantize(Decimal(1) if currency == "JPY" else Decimal("0.01"))
            lines.append(f"C{i}{currency},{day},{revenue},{cost},{currency}")
            rows.append((day, revenue, cost, currency))
    return "\n".join(lines) + "\n", rows


REVENUE_CSV, REVENUE_ROWS = _revenue()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {"ecb": write(tmp_path / "eurofxref-hist.csv", _ecb_csv(RATES)),
            "spend": write(tmp_path / "spend.csv", SPEND_CSV),
            "revenue": write(tmp_path / "revenue.csv", REVENUE_CSV)}


def _spend_rows(store: Store) -> list[tuple[Any, ...]]:
    return store.rows("SELECT period_start, period_end, amount, currency, original_amount, original_currency, "
                      "fx_rate FROM spend_rows ORDER BY source_row")


def _expected_spend(reporting: str) -> list[tuple[Any, ...]]:
    """Each spend row as stored in ``reporting``: converted at its period's average, or as written."""
    out = []
    for start, end, amount, currency in SPEND_ROWS:
        written_in = currency or "USD"  # no currency named: the reporting currency it was imported in
        if written_in == reporting:
            out.append((start, end, amount, currency, None, None, None))
        else:
            rate = period_rate(start, end, written_in, reporting)
            out.append((start, end, in_minor_units(amount, rate, reporting), reporting, amount, written_in, rate))
    return out


def test_the_ecbs_file_imports_exactly_and_again_changes_nothing(files: dict[str, Path], tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "fx.duckdb"
    code, report = run_cli_json("import", "fx", files["ecb"], "--db", db)
    assert code == 0, report
    cells = sum(len(day) for day in RATES.values())  # N/A cells and the trailing empty column are no rates
    assert (report["status"], report["layout"], report["rates_added"]) == ("imported", "ecb", cells)
    assert (report["currencies"], report["bases"]) == (["GBP", "JPY", "USD"], ["EUR"])
    assert (report["first_date"], report["last_date"]) == (str(min(RATES)), str(max(RATES)))
    with Store(db, read_only=True) as store:
        stored = {(d, c): r for d, b, c, r, *_ in store.fx_rates().iter_rows() if b == "EUR"}
    assert stored == {(d, c): r for d, day in RATES.items() for c, r in day.items()}  # exact decimals

    code, again = cli(capsys, "import", "fx", files["ecb"], "--db", db)
    assert (code, again["status"], again["rates_added"], again["rates_unchanged"]) == (0, "unchanged", 0, cells)

    # A revised rate is refused, naming the date and currency, and nothing is written ...
    day = date(2025, 2, 3)
    revised = {d: dict(r) for d, r in RATES.items()}
    revised[day]["USD"] += Decimal("0.0001")
    changed = write(tmp_path / "revised.csv", _ecb_csv(revised))
    with Store(db, read_only=True) as store:
        before = store.snapshot()
    code, refused = cli(capsys, "import", "fx", changed, "--db", db)
    assert (code, refused["status"]) == (2, "rejected")
    assert [(e["code"], e["value"]) for e in refused["errors"]] == [("rate_changed", str(revised[day]["USD"]))]
    assert f"USD per 1 EUR on {day}" in refused["errors"][0]["message"]
    with Store(db, read_only=True) as store:
        assert store.snapshot() == before
    # ... unless the file replaces it: one rate replaced, the rest unchanged.
    code, replaced = cli(capsys, "import", "fx", changed, "--db", db, "--replace")
    assert (code, replaced["rates_replaced"], replaced["rates_unchanged"]) == (0, 1, cells - 1)
    with Store(db, read_only=True) as store:
        assert store.fx_rates("USD").filter(day=day).get_column("rate").to_list() == [revised[day]["USD"]]


def test_amounts_convert_at_the_period_average_and_the_dated_rate(files: dict[str, Path], tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "usd.duckdb"
    assert cli(capsys, "import", "fx", files["ecb"], "--db", db)[0] == 0
    code, report = run_cli_json("import", "spend", files["spend"], "--db", db, "--currency", "USD")
    assert code == 0, report["errors"]
    expected = _expected_spend("USD")
    by_currency: dict[str, list[Decimal]] = {}
    for _, _, amount, currency in SPEND_ROWS:
        if currency not in (None, "USD"):
            by_currency.setdefault(currency, []).append(amount)
    assert report["currency"] == "USD"
    assert report["converted"] == [{"currency": c, "rows": len(a), "original_total": f"{sum(a):.2f}"}
                                   for c, a in sorted(by_currency.items())]
    assert report["converted_rows"] == sum(len(a) for a in by_currency.values())
    assert Decimal(report["total"]) == sum((row[2] for row in expected), Decimal(0))
    with Store(db) as store:
        assert _spend_rows(store) == expected
        # Revenue by date: the day's rate, or the latest before it (weekend, holiday, a day without JPY).
        result = store.import_file("revenue", files["revenue"])
        assert result.status == "imported", [p.describe() for p in result.errors]
        stored = store.rows("SELECT date, revenue, cost, original_revenue, original_cost, original_currency, fx_rate "
                            "FROM revenue_rows ORDER BY source_row")
    want = []
    for day, revenue, cost, currency in REVENUE_ROWS:
        rate = dated_rate(day, currency, "USD")
        want.append((day, in_minor_units(revenue, rate, "USD"), in_minor_units(cost, rate, "USD"), revenue, cost,
                     currency, rate))
    assert stored == want
    # The Saturday takes Friday's rate; the day JPY is not quoted takes the day before's JPY and USD alike.
    assert want[0][6] == _q12(RATES[date(2025, 1, 3)]["USD"])
    assert want[7][6] == _q12(RATES[JPY_NOT_QUOTED - timedelta(days=1)]["USD"]
                              / RATES[JPY_NOT_QUOTED - timedelta(days=1)]["JPY"])
    # A quarter's average differs from any month's: the quarter row is not converted at a month's rate.
    quarter = period_rate(date(2025, 1, 1), date(2025, 3, 31), "EUR", "USD")
    assert quarter not in {period_rate(s, e, "EUR", "USD") for s, e in MONTHS.values()}


def test_a_yen_reporting_currency_has_no_decimals(files: dict[str, Path], tmp_path: Path) -> None:
    with Store(tmp_path / "jpy.duckdb", keep_backups=0) as store:
        assert store.import_rates(read_rates(files["ecb"])).status == "imported"
        result = store.import_file("spend", files["spend"], reporting_currency="JPY")
        assert result.status == "imported", [p.describe() for p in result.errors]
        assert store.currency == "JPY"
        # The file's rows naming no currency are in the reporting currency: yen here.
        rows = _spend_rows(store)
    for (start, end, amount, currency), stored in zip(SPEND_ROWS, rows, strict=True):
        if currency in (None, "JPY"):
            assert stored[2:5] == (amount, currency, None)
            continue
        rate = period_rate(start, end, currency, "JPY")
        assert stored[2] == in_minor_units(amount, rate, "JPY") and stored[2] == stored[2].to_integral_value()
        assert stored[4:] == (amount, currency, rate)


def test_a_missing_rate_is_refused_naming_currency_and_period_and_nothing_is_written(
        files: dict[str, Path], tmp_path: Path) -> None:
    db = tmp_path / "usd.duckdb"
    gbp = write(tmp_path / "gbp.csv", "period,category,amount,currency\n2025-01,events,10.00,GBP\n"
                                      "2025-Q1,personnel,2000.00,GBP\n2025-Q1,martech,30.00,GBP\n")
    later = write(tmp_path / "later.csv", "customer_id,date,revenue,currency\nA,2025-03-28,10.00,EUR\n"
                                          "B,2025-04-15,12.00,EUR\n")
    with Store(db, keep_backups=0) as store:
        store.import_rates(read_rates(files["ecb"]))
        before = store.snapshot()
        refused = store.import_file("spend", gbp, reporting_currency="USD")
        # January is covered; the quarter is not: GBP's rates stop on 28 February.
        assert [(e.code, e.row, e.value, e.count) for e in refused.errors] == [("fx_rate_missing", 3, "GBP", 2)]
        assert "from GBP to USD for 2025-Q1 (2025-01-01 to 2025-03-31" in refused.errors[0].message
        assert f"GBP from {min(RATES)} to {GBP_LAST}" in refused.errors[0].message
        dated = store.import_file("revenue", later, reporting_currency="USD")
        assert [(e.code, e.row, e.value) for e in dated.errors] == [("fx_rate_missing", 3, "EUR")]
        assert "from EUR to USD for 2025-04-15" in dated.errors[0].message
        assert store.snapshot() == before


def test_the_reporting_currency_changes_as_an_assumption(files: dict[str, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "change.duckdb"
    with Store(db, keep_backups=0) as store:
        store.import_rates(read_rates(files["ecb"]))
        assert store.import_file("spend", files["spend"], reporting_currency="USD").status == "imported"
        first = _spend_rows(store)
    code, changed = run_cli_json("currency", "EUR", "--db", db)
    assert code == 0, changed
    assert (changed["from"], changed["to"], changed["changed"]) == ("USD", "EUR", True)
    # Every row from its amounts as written: EUR rows are as written again, the rest at the EUR rates.
    with Store(db, read_only=True) as store:
        rows = _spend_rows(store)
        assert store.currency == "EUR"
        [(detail,)] = store.rows("SELECT detail FROM changes WHERE action = 'currency'")
        imported = store.one("SELECT total FROM imports")
    for (start, end, amount, currency), stored in zip(SPEND_ROWS, rows, strict=True):
        written_in = currency or "USD"
        if written_in == "EUR":
            assert stored[2:] == (amount, "EUR", None, None, None)
        else:
            rate = period_rate(start, end, written_in, "EUR")
            assert stored[2:] == (in_minor_units(amount, rate, "EUR"), "EUR", amount, written_in, rate)
    assert '"from": "USD"' in detail and '"to": "EUR"' in detail
    assert imported is not None and imported[0] == sum((r[2] for r in rows), Decimal(0))  # the log restated

    # GBP has no rate for March: refused, naming it, and nothing changes.
    with Store(db, read_only=True) as store:
        before = store.snapshot()
    code, refused = cli(capsys, "currency", "GBP", "--db", db)
    assert code == 1 and "stays EUR" in refused["message"] and "to GBP for 2025-03" in refused["message"]
    with Store(db, read_only=True) as store:
        assert store.snapshot() == before
    # Back to dollars: exactly the first import's rows (converted from the originals, never twice).
    with Store(db, keep_backups=0) as store:
        store.set_reporting_currency("USD")
        back = _spend_rows(store)
    assert [r[:3] for r in back] == [r[:3] for r in first]
    assert [r[4:] for r in back if r[5] not in (None, "USD")] == [r[4:] for r in first if r[5] is not None]


def test_the_first_files_currency_is_the_reporting_currency_and_then_fixed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "eur.duckdb"
    ledger = write(tmp_path / "grand-livre.csv", "Période;Catégorie;Montant (€)\nT1 2025;Salaires;1 234,56\n")
    code, report = cli(capsys, "import", "spend", ledger, "--db", db)
    assert (code, report["currency"], report["converted_rows"], report["total"]) == (0, "EUR", 0, "1234.56")
    other = write(tmp_path / "other.csv", "period,category,amount\n2025-Q2,events,10.00\n")
    code, refused = cli(capsys, "import", "spend", other, "--db", db, "--currency", "USD")
    assert code == 1 and "reporting currency is EUR" in refused["message"]
    assert "finance currency USD" in refused["message"]


def test_a_long_rates_file_with_its_base(tmp_path: Path) -> None:
    per_usd = {date(2025, 3, 3): Decimal("149.235"), date(2025, 3, 4): Decimal("149.871")}
    text = "date,currency,rate\n" + "".join(f"{d},JPY,{r}\n" for d, r in per_usd.items())
    rates = write(tmp_path / "usd-rates.csv", text)
    assert [p.code for p in read_rates(rates).problems] == ["missing_column"]  # per 1 of what?
    yen = write(tmp_path / "yen.csv", "customer_id,date,revenue\nA,2025-03-04,1000000\nB,2025-03-09,\"2,500\"\n")
    with Store(tmp_path / "usd.duckdb", keep_backups=0) as store:
        assert store.import_rates(read_rates(rates, base="USD")).added == 2
        result = store.import_file("revenue", yen, ImportOptions(file_currency="JPY"), reporting_currency="USD")
        assert result.status == "imported", [p.describe() for p in result.errors]
        assert (result.converted, result.originals) == ({"JPY": 2}, {"JPY": Decimal(1_002_500)})
        stored = store.rows("SELECT revenue, original_revenue, fx_rate FROM revenue_rows ORDER BY source_row")
    rate = _q12(1 / per_usd[date(2025, 3, 4)])  # Sunday the 9th: Tuesday's rate, within 7 days
    assert stored == [(in_minor_units(Decimal(1_000_000), rate, "USD"), Decimal(1_000_000), rate),
                      (in_minor_units(Decimal(2_500), rate, "USD"), Decimal(2_500), rate)]


def test_a_yen_sign_is_yen_or_yuan_until_something_says_which(tmp_path: Path) -> None:
    signs = write(tmp_path / "signs.csv", "period,category,amount\n2025-01,events,\"¥1,000\"\n2025-01,events,5.00\n")
    header = write(tmp_path / "header.csv", "期間,費目,金額（円）\n2025年1月,イベント費,\"¥1,000\"\n")
    clash = write(tmp_path / "clash.csv", "period,category,amount,currency\n2025-01,events,€10.00,USD\n")
    with Store(tmp_path / "eur.duckdb", keep_backups=0) as store:
        store.set_setting("currency", "EUR")  # chosen: a first file's currency no longer decides
        ambiguous = store.import_file("spend", signs)
        assert [(e.code, e.row, e.column) for e in ambiguous.errors] == [("ambiguous_currency", 2, "amount")]
        assert "CNY or JPY" in ambiguous.errors[0].message
        # Said by --file-currency, or by the header: yen, and no rate is stored yet.
        for path, options in ((signs, ImportOptions(file_currency="JPY")), (header, ImportOptions())):
            missing = store.import_file("spend", path, options)
            assert [(e.code, e.value) for e in missing.errors] == [("fx_rate_missing", "JPY")], path
        mismatch = store.import_file("spend", clash)
        assert [(e.code, e.row) for e in mismatch.errors] == [("currency_mismatch", 2)]
        assert "€ (EUR)" in mismatch.errors[0].message and "row's currency is USD" in mismatch.errors[0].message


def test_a_database_of_the_previous_schema_still_opens_and_converts(files: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "v4.duckdb"
    plain = write(tmp_path / "plain.csv", "period,category,amount\n2025-01,events,100.00\n")
    with Store(path, user="old", keep_backups=0) as store:
        assert store.import_file("spend", plain).status == "imported"
    con = duckdb.connect(str(path))
    try:  # as version 4 left it: no rates table, no columns for amounts as written
        con.execute("DROP TABLE fx_rates")
        for kind, columns in FX_COLUMNS.items():
            for column in columns:
                con.execute(f"ALTER TABLE {kind}_rows DROP COLUMN {column}")
            con.execute(migrations._view_ddl(kind, tuple(n for n in STORAGE_SCHEMAS[kind] if n not in columns)))
        con.execute("UPDATE settings SET value = '4' WHERE key = 'schema_version'")
    finally:
        con.close()
    with Store(path, read_only=True) as reader:
        assert reader.setting("schema_version") == "4"
        assert reader.fx_rates().is_empty()
        assert reader.dataset().spend.collect().get_column("amount").to_list() == [Decimal("100.00")]
    with Store(path, keep_backups=0) as store:
        assert store.setting("schema_version") == str(migrations.SCHEMA_VERSION)
        store.import_rates(read_rates(files["ecb"]))
        euros = write(tmp_path / "euros.csv", "period,category,amount,currency\n2025-02,events,50.00,EUR\n")
        assert store.import_file("spend", euros).status == "imported"
        rows = _spend_rows(store)
    rate = period_rate(date(2025, 2, 1), date(2025, 2, 28), "EUR", "USD")
    assert [r[2:] for r in rows] == [(Decimal(100), None, None, None, None),
                                     (in_minor_units(Decimal(50), rate, "USD"), "USD", Decimal(50), "EUR", rate)]


def test_rounding_is_half_even_to_the_minor_unit_and_the_ecbs_daily_file_reads(tmp_path: Path) -> None:
    # 1 EUR = 0.1 USD: 1.25 EUR is 0.125 USD exactly, 0.12 half-even (0.13 half-up); 1.35 EUR is 0.135, 0.14.
    rates = write(tmp_path / "rates.csv", "date,currency,rate,base\n2025-01-06,USD,0.1,EUR\n2025-01-06,JPY,2,EUR\n")
    euros = write(tmp_path / "euros.csv", "period,category,amount,currency\n2025-01-06,events,1.25,EUR\n"
                                          "2025-01-06,events,1.35,EUR\n")
    with Store(tmp_path / "usd.duckdb", keep_backups=0) as store:
        assert store.import_rates(read_rates(rates)).added == 2
        assert store.import_file("spend", euros, reporting_currency="USD").status == "imported"
        assert [r[2] for r in _spend_rows(store)] == [Decimal("0.12"), Decimal("0.14")]
        # In yen (2 JPY per EUR): 2.50 yen is 2 half-even (3 half-up), 2.70 is 3.
        store.set_reporting_currency("JPY")
        assert [r[2] for r in _spend_rows(store)] == [Decimal(2), Decimal(3)]
    daily = write(tmp_path / "eurofxref.csv", "Date, USD, JPY, BGN, \n04 December 2025, 1.1650, 181.25, N/A, \n")
    read = read_rates(daily)
    assert (read.layout, read.problems) == ("ecb", [])
    assert read.rows == [(date(2025, 12, 4), "EUR", "USD", Decimal("1.1650")),
                         (date(2025, 12, 4), "EUR", "JPY", Decimal("181.25"))]


def test_the_reporting_currency_changes_on_the_assumptions_page_and_every_amount_converts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo company in dollars: without rates the change is refused and nothing moves; with a rate of
    0.9 EUR per USD every day, every spend amount is its dollars x 0.9, half-even to the cent."""
    from finance.demo import build_demo_db

    from .conftest import open_dashboard

    db = tmp_path / "demo.duckdb"
    build_demo_db(db)
    with Store(db, read_only=True) as store:
        dollars = store.frame("spend").get_column("amount").to_list()
    at = open_dashboard(monkeypatch, db, "pages/assumptions.py")
    choice = next(sb for sb in at.selectbox if sb.label == "Reporting currency")
    choice.set_value("EUR")
    next(b for b in at.button if b.label == "Change the reporting currency").click().run()
    assert any("reporting currency stays USD" in e.value and "missing to convert the stored amounts to EUR" in e.value
               for e in at.error), [e.value for e in at.error]
    with Store(db, read_only=True) as store:
        assert store.currency == "USD" and store.frame("spend").get_column("amount").to_list() == dollars

    first, last = date(2022, 12, 1), date(2026, 1, 31)
    lines = "date,currency,rate,base\n" + "".join(
        f"{first + timedelta(days=n)},EUR,0.9,USD\n" for n in range((last - first).days + 1))
    with Store(db) as store:
        assert store.import_rates(read_rates(write(tmp_path / "rates.csv", lines))).status == "imported"
    at = open_dashboard(monkeypatch, db, "pages/assumptions.py")
    next(sb for sb in at.selectbox if sb.label == "Reporting currency").set_value("EUR")
    next(b for b in at.button if b.label == "Change the reporting currency").click().run()
    assert not at.error, [e.value for e in at.error]
    assert any("now EUR" in s.value for s in at.success), [s.value for s in at.success]
    with Store(db, read_only=True) as store:
        assert store.currency == "EUR"
        euros = store.frame("spend").get_column("amount").to_list()
    assert euros == [(d * Decimal("0.9")).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN) for d in dollars]
    history = at.dataframe[-1].value
    assert any(str(text).startswith("Reporting currency: USD → EUR") for text in history.iloc[:, -1])
