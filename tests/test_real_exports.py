"""Exports shaped like the ones finance teams really have, generated fresh for each run
(so they are not files the importer was tuned on), must import with totals exact to the cent.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from finance.store.database import Store

from .conftest import run_cli_json

SEED = 20251231


def _money(cents: int, style: str) -> str:
    sign, whole, frac = ("-" if cents < 0 else ""), abs(cents) // 100, abs(cents) % 100
    if style == "plain":
        return f"{sign}{whole}.{frac:02d}"
    if style == "grouped":
        return f'"{sign}{whole:,}.{frac:02d}"'
    if style == "accounting":
        return f'"({whole:,}.{frac:02d})"' if cents < 0 else f'"{whole:,}.{frac:02d}"'
    if style == "dollar":
        return f'"{sign}${whole:,}.{frac:02d}"'
    if style == "euro":  # decimal comma, dot thousands
        grouped = f"{whole:,}".replace(",", ".")
        return f"{sign}{grouped},{frac:02d}"
    raise ValueError(style)


def _days(rng: random.Random, n: int, start: date = date(2025, 1, 1), span: int = 89) -> list[date]:
    return [start + timedelta(days=rng.randrange(span + 1)) for _ in range(n)]


def _stored_total(db: Path, kind: str, column: str) -> Decimal:
    with Store(db) as store:
        found = store.one(f"SELECT coalesce(sum({column}), 0) FROM {kind}")
    assert found is not None
    return Decimal(found[0])


def test_ad_platform_report_utf16_with_title_lines_and_total(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    cents = [rng.randrange(1, 5_000_00) for _ in range(300)]
    lines = ["Campaign report", "1 January 2025 - 31 March 2025",
             "Day\tCampaign\tClicks\tImpr.\tCurrency code\tCost (USD)"]
    for day, c in zip(_days(rng, len(cents)), cents, strict=True):
        lines.append(f"{day:%Y-%m-%d}\tCampaign {rng.randrange(9)}\t{rng.randrange(500)}\t"
                     f"{rng.randrange(90_000):,}\tUSD\t{c / 100:,.2f}")
    lines.append(f"Total: Account\t--\t--\t--\tUSD\t{sum(cents) / 100:,.2f}")
    path = tmp_path / "Campaign report.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-16"))
    db = tmp_path / "s.duckdb"
    code, report = run_cli_json("import", "spend", path, "--db", db, "--category", "paid search",
                                "--channel", "Paid Search")
    assert code == 0, report["errors"]
    expected = Decimal(sum(cents)).scaleb(-2)
    assert Decimal(report["total"]) == expected
    assert report["rows"] == len(cents)
    assert _stored_total(db, "spend", "amount") == expected
    assert "total_row_dropped" in {w["code"] for w in report["warnings"]}


def test_general_ledger_detail_with_us_dates_and_account_map(tmp_path: Path) -> None:
    rng = random.Random(SEED + 1)
    accounts = {"6100 Advertising:Paid Search": "digital_advertising", "6150 Trade Shows": "events",
                "6200 Marketing Salaries": "personnel", "6210 Payroll Taxes": "personnel",
                "6300 Software Subscriptions": "martech", "6400 Agency Fees - Creative": "creative_services",
                "6500 Sales Commissions": "sales"}
    rows, cents = [], []
    for day in _days(rng, 400, date(2025, 4, 1), 90):
        account = rng.choice(list(accounts))
        c = rng.randrange(-20_000, 900_000) if account != "6200 Marketing Salaries" else rng.randrange(10**6, 10**7)
        cents.append(c)
        memo = rng.choice(["Invoice 10021", 'Booth "A12", Expo', "Refund, partial", "=SUM(A1)", ""])
        memo_cell = '"' + memo.replace('"', '""') + '"' if any(ch in memo for ch in ',"') else memo
        rows.append(f"{day:%m/%d/%Y},Bill,{rng.randrange(9999)},Vendor {rng.randrange(40)},{memo_cell},"
                    f"{account},{_money(c, rng.choice(['plain', 'grouped', 'accounting', 'dollar']))}")
    header = "Date,Transaction Type,Num,Name,Memo/Description,Account,Amount"
    path = tmp_path / "gl-detail-q2.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    cmap = tmp_path / "accounts.csv"
    cmap.write_text("label,category\n" + "".join(f'"{k}",{v}\n' for k, v in accounts.items()), encoding="utf-8")
    db = tmp_path / "s.duckdb"
    code, report = run_cli_json("import", "spend", path, "--db", db, "--map", "Account=category",
                                "--category-map", cmap, "--date-format", "%m/%d/%Y")
    assert code == 0, report["errors"][:3]
    expected = Decimal(sum(cents)).scaleb(-2)
    assert Decimal(report["total"]) == expected
    assert _stored_total(db, "spend", "amount") == expected
    with Store(db) as store:
        by_category = dict(store.rows("SELECT category, sum(amount) FROM spend GROUP BY ALL"))
    for category in set(accounts.values()):
        want = sum(c for (line, c) in zip(rows, cents, strict=True)
                   if accounts[next(a for a in accounts if a in line)] == category)
        assert by_category.get(category, Decimal(0)) == Decimal(want).scaleb(-2), category


def test_billing_export_with_refunds_and_timestamps(tmp_path: Path) -> None:
    rng = random.Random(SEED + 2)
    lines = ["id,Created (UTC),Amount,Amount Refunded,Currency,Customer ID,Customer Email,Status"]
    total = 0
    for i in range(2_000):
        c = rng.randrange(500, 250_000) * (-1 if rng.random() < 0.03 else 1)
        total += c
        day = date(2025, 1, 1) + timedelta(days=rng.randrange(180))
        lines.append(f"ch_{i:08x},{day:%Y-%m-%d} {rng.randrange(24):02d}:{rng.randrange(60):02d}:07,"
                     f"{c / 100:.2f},0.00,usd,cus_{rng.randrange(600):05d},x{i}@example.com,Paid")
    path = tmp_path / "payments.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = tmp_path / "s.duckdb"
    code, report = run_cli_json("import", "revenue", path, "--db", db)
    assert code == 0, report["errors"][:3]
    assert Decimal(report["total"]) == Decimal(total).scaleb(-2)
    assert _stored_total(db, "revenue", "revenue") == Decimal(total).scaleb(-2)
    months = [p["period"] for p in report["periods"]]
    assert months == ["2025-01", "2025-02", "2025-03", "2025-04", "2025-05", "2025-06"]


def test_european_ledger_semicolons_cp1252_decimal_comma(tmp_path: Path) -> None:
    rng = random.Random(SEED + 3)
    lines = ["Periode;Kostenart;Kanal;Betrag;Lieferant"]
    cents = []
    for _ in range(250):
        c = rng.randrange(-5_000, 2_000_000)
        cents.append(c)
        lines.append(f"{rng.randrange(1, 29):02d}.{rng.randrange(1, 4):02d}.2025;Gehälter;;"
                     f"{_money(c, 'euro')};Müller & Söhne GmbH")
    path = tmp_path / "buchungen.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    cmap = tmp_path / "kosten.csv"
    cmap.write_text("label,category\nGehälter,personnel\n", encoding="utf-8")
    db = tmp_path / "s.duckdb"
    code, report = run_cli_json("import", "spend", path, "--db", db, "--decimal-comma",
                                "--map", "Periode=period", "Kostenart=category", "Kanal=channel",
                                "Betrag=amount", "Lieferant=vendor", "--category-map", cmap)
    assert code == 0, report["errors"][:3]
    assert Decimal(report["total"]) == Decimal(sum(cents)).scaleb(-2)
    with Store(db) as store:
        assert store.one("SELECT DISTINCT vendor FROM spend") == ("Müller & Söhne GmbH",)


def test_crm_contacts_export_as_customers(tmp_path: Path) -> None:
    rng = random.Random(SEED + 4)
    lines = ["Record ID,First Name,Last Name,Email,Create Date,Lifecycle Stage,Original Source,"
             "Became a Customer Date,Customer Type"]
    sources = ["Paid Search", "Organic Search", "Paid Social", "Offline Sources", "Referrals"]
    for i in range(500):
        day = date(2025, 1, 1) + timedelta(days=rng.randrange(365))
        lines.append(f"{1000 + i},Ann,Lee,a{i}@x.example,{day - timedelta(days=30):%Y-%m-%d},customer,"
                     f"{rng.choice(sources)},{day:%Y-%m-%d} 10:00,{rng.choice(['SMB', 'Enterprise', 'smb'])}")
    path = tmp_path / "hubspot-crm-exports-all-contacts.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = tmp_path / "s.duckdb"
    code, report = run_cli_json("import", "customers", path, "--db", db)
    assert code == 0, report["errors"][:3]
    assert report["total"] == 500
    with Store(db) as store:
        segments = {s for (s,) in store.rows("SELECT DISTINCT segment FROM customers")}
    assert segments == {"SMB", "Enterprise B2B"}
