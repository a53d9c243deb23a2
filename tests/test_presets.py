"""Presets: the exports finance teams really send (ad platforms, billing, ledgers, CRMs), each read
from a sample written as the tool exports it, with every total recomputed here from the sample's own
rows by the rule the docs state (not by the importer), exact to the cent.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from finance.cli.commands import build_parser, main
from finance.domain.schema import FILE_KINDS
from finance.ingest import csvfile
from finance.ingest.prepare import ImportOptions, OptionsError, PreparedImport, prepare
from finance.ingest.presets import NO_PRESET, PRESETS
from finance.store.database import Store

from .conftest import DATA, ROOT, run_cli_json, write

SAMPLES = DATA / "presets"
Row = dict[str, str]


def _rows(name: str, marker: str) -> list[Row]:
    """The sample's records below its header (the first record naming ``marker``), as dicts; title
    lines above and one-cell footer lines below are dropped here by hand, as a person would."""
    text = (SAMPLES / name).read_text(encoding="utf-8-sig")
    records = list(csv.reader(text.splitlines()))
    at = next(i for i, r in enumerate(records) if marker in r)
    header = records[at]
    return [dict(zip(header, r, strict=True)) for r in records[at + 1:] if len(r) == len(header)]


def _dec(text: str) -> Decimal:
    """An amount as the sample writes it: ``"1,234.56"``, ``$1,234.56``, ``-150.00``, blank as zero."""
    return Decimal(text.replace(",", "").replace("$", "") or "0")


def _prepare(name: str, kind: str, **options: object) -> PreparedImport:
    prepared = prepare(kind, SAMPLES / name, ImportOptions(**options))  # type: ignore[arg-type]
    assert prepared.ok, [p.describe() for p in prepared.errors]
    return prepared


def _applied(prepared: PreparedImport) -> str | None:
    return next((p.value for p in prepared.problems if p.code == "preset_applied"), None)


def _dropped(prepared: PreparedImport, code: str = "preset_row_dropped") -> int:
    return sum(p.count for p in prepared.problems if p.code == code)


def _by(prepared: PreparedImport, key: str, measure: str) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for k, v in prepared.rows.select(key, measure).iter_rows():
        out[k] = out.get(k, Decimal(0)) + Decimal(v)
    return out


def _sum_by(rows: list[Row], key: Callable[[Row], str], amount: Callable[[Row], Decimal]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for r in rows:
        out[key(r)] = out.get(key(r), Decimal(0)) + amount(r)
    return out


# -- ad platforms ------------------------------------------------------------------------------------

GOOGLE_CHANNELS = {"Search": "Paid Search", "Performance Max": "Paid Search", "Display": "Display",
                   "Video": "Display"}


def test_google_ads_report_with_title_lines_and_total_lines() -> None:
    rows = _rows("google_ads_campaign_report.csv", "Cost")
    data = [r for r in rows if not r["Campaign"].startswith("Total")]
    prepared = _prepare("google_ads_campaign_report.csv", "spend")
    assert _applied(prepared) == "google_ads"
    assert prepared.rows.height == len(data) == 15
    assert prepared.total() == sum(_dec(r["Cost"]) for r in data)
    # Both total lines ("Total: Campaigns", "Total: Account": Month '--') are left out, not refused.
    assert _dropped(prepared, "total_row_dropped") == len(rows) - len(data) == 2
    assert set(prepared.rows.get_column("category")) == {"digital_advertising"}
    assert set(prepared.rows.get_column("currency")) == {"USD"}
    assert _by(prepared, "channel", "amount") == _sum_by(
        data, lambda r: GOOGLE_CHANNELS[r["Campaign type"]], lambda r: _dec(r["Cost"]))
    assert [p.period for p in prepared.period_totals()] == ["2025-01", "2025-02", "2025-03"]


def test_google_ads_report_without_its_preset_is_refused_as_before() -> None:
    prepared = prepare("spend", SAMPLES / "google_ads_campaign_report.csv", ImportOptions(
        preset=NO_PRESET, default_category="digital_advertising"))
    assert not prepared.ok
    assert _applied(prepared) is None
    assert {"invalid_period"} <= {p.code for p in prepared.errors}  # the total line's '--' month


def test_google_ads_excel_download_utf16_tabs_and_cost_with_its_currency(tmp_path: Path) -> None:
    rows = _rows("google_ads_campaign_report.csv", "Cost")
    lines = ["Campaign report", "January 1, 2025 - March 31, 2025",
             "Campaign\tCampaign type\tDay\tCurrency code\tCost (USD)\tImpr.\tClicks"]
    lines += [f"{r['Campaign']}\t{r['Campaign type']}\t{'2025-01-15' if r['Month'] != '--' else '--'}\t"
              f"{r['Currency code']}\t{r['Cost']}\t{r['Impr.']}\t{r['Clicks']}" for r in rows]
    path = tmp_path / "Campaign report.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-16"))
    prepared = prepare("spend", path)
    assert prepared.ok and _applied(prepared) == "google_ads"
    assert prepared.total() == sum(_dec(r["Cost"]) for r in rows if not r["Campaign"].startswith("Total"))


def test_google_ads_total_lines_are_left_out_from_the_first_column_whatever_it_is(tmp_path: Path) -> None:
    """With "Campaign status" (or any column) first, the report writes "Total: Account" there, and the
    Campaign column of its total lines says '--'."""
    rows = _rows("google_ads_campaign_report.csv", "Cost")
    out = [["Campaign report"], ["January 1, 2025 - March 31, 2025"], ["Campaign status", *rows[0]]]
    for r in rows:
        total = r["Campaign"].startswith("Total")
        out.append([r["Campaign"] if total else "Enabled", *("--" if total and k == "Campaign" else v
                                                              for k, v in r.items())])
    text = io.StringIO()
    csv.writer(text).writerows(out)
    prepared = prepare("spend", write(tmp_path / "Campaign report.csv", text.getvalue()))
    assert prepared.ok, [p.describe() for p in prepared.errors]
    assert _applied(prepared) == "google_ads"
    assert prepared.total() == sum(_dec(r["Cost"]) for r in rows if not r["Campaign"].startswith("Total"))
    assert _dropped(prepared, "total_row_dropped") == 2


def test_microsoft_ads_report_with_its_preamble_and_copyright_footer() -> None:
    rows = [r for r in _rows("microsoft_ads_campaign_performance.csv", "Spend")
            if re.match(r"\d{4}-\d{2}$", r["Month"])]
    prepared = _prepare("microsoft_ads_campaign_performance.csv", "spend")
    assert _applied(prepared) == "microsoft_ads"
    assert prepared.total() == sum(_dec(r["Spend"]) for r in rows) and prepared.rows.height == len(rows) == 9
    assert _dropped(prepared) == 1  # the "©2025 Microsoft Corporation" line, not a ragged-row error
    channels = {"Search": "Paid Search", "Audience": "Display"}
    assert _by(prepared, "channel", "amount") == _sum_by(
        rows, lambda r: channels[r["Campaign type"]], lambda r: _dec(r["Spend"]))


def test_meta_ads_report_periods_are_the_reporting_spans() -> None:
    rows = _rows("meta_ads_campaigns.csv", "Reporting starts")
    prepared = _prepare("meta_ads_campaigns.csv", "spend")
    assert _applied(prepared) == "meta_ads"
    assert prepared.total() == sum(_dec(r["Amount spent (USD)"]) for r in rows)
    assert set(prepared.rows.get_column("channel")) == {"Paid Social"}
    by_month = {p.period: p.total for p in prepared.period_totals()}
    assert by_month == _sum_by(rows, lambda r: r["Reporting starts"][:7], lambda r: _dec(r["Amount spent (USD)"]))


def test_meta_ads_row_spanning_no_month_is_an_error_naming_it(tmp_path: Path) -> None:
    text = (SAMPLES / "meta_ads_campaigns.csv").read_text(encoding="utf-8")
    bad = write(tmp_path / "meta.csv", text.replace("2025-02-01,2025-02-28", "2025-02-03,2025-02-28", 1))
    prepared = prepare("spend", bad)
    [error] = prepared.errors
    assert (error.code, error.row, error.value) == ("invalid_period", 5, "2025-02-03 - 2025-02-28")
    assert "month" in error.message


def test_linkedin_report_with_its_report_lines() -> None:
    rows = _rows("linkedin_campaign_performance.csv", "Total Spent")
    prepared = _prepare("linkedin_campaign_performance.csv", "spend")
    assert _applied(prepared) == "linkedin_ads"
    assert prepared.total() == sum(_dec(r["Total Spent"]) for r in rows)
    assert set(prepared.rows.get_column("channel")) == {"Paid Social"}
    assert [p.period for p in prepared.period_totals()] == ["2025-01", "2025-02", "2025-03"]


# -- billing -----------------------------------------------------------------------------------------

def test_stripe_payments_failed_are_not_revenue_and_refunds_reduce_it() -> None:
    rows = _rows("stripe_unified_payments.csv", "Amount Refunded")
    kept = [r for r in rows if r["Status"] != "Failed" and r["Captured"] == "true"]
    prepared = _prepare("stripe_unified_payments.csv", "revenue")
    assert _applied(prepared) == "stripe_payments"
    assert prepared.rows.height == len(kept) == len(rows) - 3
    assert _dropped(prepared) == 3
    assert prepared.total() == sum(_dec(r["Amount"]) - _dec(r["Amount Refunded"]) for r in kept)
    assert prepared.total() < sum(_dec(r["Amount"]) for r in kept)  # the sample has refunds
    assert set(prepared.rows.get_column("currency")) == {"USD"}  # Stripe's "usd"
    assert "gross_margin" not in prepared.rows.columns  # fees reduce neither revenue nor margin


def test_stripe_payments_revenue_is_exact_to_the_cent(tmp_path: Path) -> None:
    rng = random.Random(4)
    lines = ['"id","Created (UTC)","Amount","Amount Refunded","Currency","Captured","Fee","Status",'
             '"Customer ID","Customer Email"']
    expected = 0
    for i in range(3_000):
        amount = rng.randrange(1, 10**7)
        refunded = rng.choice([0, 0, 0, amount, rng.randrange(0, amount + 1)])
        failed = rng.random() < 0.1
        expected += 0 if failed else amount - refunded
        lines.append(f'"ch_{i}","2025-0{1 + i % 6}-1{i % 9} 10:00:00","{amount // 100}.{amount % 100:02d}",'
                     f'"{refunded // 100}.{refunded % 100:02d}","usd","{str(not failed).lower()}","0.30",'
                     f'"{"Failed" if failed else "Paid"}","cus_{i % 400}","c{i}@example.com"')
    path = write(tmp_path / "unified_payments.csv", "\n".join(lines) + "\n")
    prepared = prepare("revenue", path)
    assert prepared.ok and _applied(prepared) == "stripe_payments"
    assert prepared.total() == Decimal(expected).scaleb(-2)


def test_stripe_refund_that_is_no_amount_names_its_column_row_and_value(tmp_path: Path) -> None:
    text = (SAMPLES / "stripe_unified_payments.csv").read_text(encoding="utf-8")
    lines = text.splitlines()
    cells = next(csv.reader([lines[2]]))
    assert cells[13] == "Paid"
    cells[5] = "12,3.4x"
    lines[2] = ",".join(f'"{c}"' for c in cells)
    prepared = prepare("revenue", write(tmp_path / "p.csv", "\n".join(lines) + "\n"))
    [error] = prepared.errors
    assert (error.code, error.row, error.column, error.value) == ("invalid_amount", 3, "Amount Refunded", "12,3.4x")
    with Store(tmp_path / "s.duckdb") as store:
        assert store.import_prepared(prepared).status == "rejected"
        assert store.one("SELECT count(*) FROM revenue") == (0,)  # nothing written


def test_stripe_balance_report_keeps_charges_refunds_and_disputes() -> None:
    rows = _rows("stripe_balance_change_from_activity_itemized.csv", "reporting_category")
    kept = [r for r in rows if r["reporting_category"] in ("charge", "refund", "dispute")]
    prepared = _prepare("stripe_balance_change_from_activity_itemized.csv", "revenue")
    assert _applied(prepared) == "stripe_balance"
    assert prepared.total() == sum(_dec(r["gross"]) for r in kept)
    assert _dropped(prepared) == len(rows) - len(kept) == 3  # a fee, a payout, a transfer


SHOPIFY_NOT_REVENUE = {"voided", "pending", "authorized", "refunded", "expired"}


def test_shopify_orders_count_each_order_once_from_its_first_row() -> None:
    rows = _rows("shopify_orders_export.csv", "Financial Status")
    firsts: dict[str, Row] = {}
    for r in rows:
        firsts.setdefault(r["Name"], r)
    orders = [r for r in firsts.values() if r["Financial Status"] not in SHOPIFY_NOT_REVENUE]
    prepared = _prepare("shopify_orders_export.csv", "revenue")
    assert _applied(prepared) == "shopify_orders"
    assert prepared.rows.height == len(orders) == 10
    assert prepared.total() == sum(_dec(r["Total"]) - _dec(r["Taxes"]) - _dec(r["Refunded Amount"]) for r in orders)
    line_items = len(rows) - len(firsts)
    assert line_items > 10 and _dropped(prepared) == line_items + len(firsts) - len(orders)
    assert sorted(prepared.rows.get_column("customer_id")) == sorted(r["Email"] for r in orders)
    # The sample is consistent: each order's line items (before its discount) make its subtotal.
    for name, first in firsts.items():
        items = sum(int(r["Lineitem quantity"]) * _dec(r["Lineitem price"]) for r in rows if r["Name"] == name)
        assert items - _dec(first["Discount Amount"]) == _dec(first["Subtotal"]), name


def test_shopify_order_whose_totals_appear_twice_is_refused(tmp_path: Path) -> None:
    text = (SAMPLES / "shopify_orders_export.csv").read_text(encoding="utf-8")
    lines = text.splitlines()
    again = write(tmp_path / "orders.csv", "\n".join([*lines, lines[1]]) + "\n")
    prepared = prepare("revenue", again)
    [error] = prepared.errors
    assert (error.code, error.row, error.column, error.value) == ("order_repeated", len(lines) + 1, "Name", "#1001")
    assert "row 2" in error.message


def test_shopify_generated_orders_in_tiny_blocks_exact_to_the_cent(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    header = (SAMPLES / "shopify_orders_export.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    out, expected = [header], 0
    for n in range(400):
        status = rng.choice(["paid", "paid", "partially_refunded", "voided", "pending", "refunded"])
        total, taxes = rng.randrange(100, 10**6), rng.randrange(0, 5_000)
        refunded = rng.randrange(0, total) if status == "partially_refunded" else total if status == "refunded" else 0
        if status in ("paid", "partially_refunded"):
            expected += total - taxes - refunded
        for item in range(rng.randrange(1, 5)):  # only the first row of an order carries its totals
            row = dict.fromkeys(header, "")
            row.update({"Name": f"#{5000 + n}", "Email": f"b{n % 50}@example.org", "Lineitem name": f"item {item}"})
            if item == 0:
                row.update({"Financial Status": status, "Paid at": "2025-02-03 10:00:00 +0100", "Currency": "USD",
                            "Total": f"{total // 100}.{total % 100:02d}", "Taxes": f"{taxes // 100}.{taxes % 100:02d}",
                            "Refunded Amount": f"{refunded // 100}.{refunded % 100:02d}"})
            out.append([row[h] for h in header])
    path = tmp_path / "orders_export_1.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(out)
    monkeypatch.setattr(csvfile, "BLOCK_BYTES", 1_000)  # orders cut across blocks
    prepared = prepare("revenue", path)
    assert prepared.ok, [p.describe() for p in prepared.errors]
    assert prepared.total() == Decimal(expected).scaleb(-2)


def test_chargebee_invoices_paid_only_less_adjustments() -> None:
    rows = _rows("chargebee_invoices.csv", "Invoice Number")
    paid = [r for r in rows if r["Status"] == "paid"]
    prepared = _prepare("chargebee_invoices.csv", "revenue")
    assert _applied(prepared) == "chargebee_invoices"
    assert prepared.total() == sum(_dec(r["Amount"]) - _dec(r["Amount Adjusted"]) for r in paid)
    assert _dropped(prepared) == len(rows) - len(paid) == 3


# -- ledgers -----------------------------------------------------------------------------------------

QB_ACCOUNTS = {"6100 Advertising": "digital_advertising", "6150 Trade Shows & Events": "events",
               "6200 Marketing Salaries": "personnel", "6300 Software Subscriptions": "martech"}


def _sections(rows: list[Row], first: str, is_line: Callable[[Row], bool]) -> list[tuple[str, Row]]:
    """Each transaction line with the account heading above it, read by hand."""
    out, account = [], ""
    for r in rows:
        others = [v for k, v in r.items() if k != first]
        if r[first] and not any(others):
            account = r[first]
        elif is_line(r):
            out.append((account, r))
    return out


def test_quickbooks_general_ledger_accounts_from_their_headings() -> None:
    lines = _sections(_rows("quickbooks_general_ledger.csv", "Transaction Type"), "",
                      lambda r: not r[""] and bool(r["Date"]))
    prepared = _prepare("quickbooks_general_ledger.csv", "spend", category_map=QB_ACCOUNTS)
    assert _applied(prepared) == "quickbooks_gl"
    assert prepared.rows.height == len(lines)
    assert prepared.total() == sum(_dec(r["Amount"]) for _, r in lines)
    assert _by(prepared, "category", "amount") == _sum_by(
        lines, lambda x: QB_ACCOUNTS[x[0]], lambda x: _dec(x[1]["Amount"]))
    assert _dropped(prepared, "total_row_dropped") == 5  # four "Total for ..." lines and TOTAL


def test_quickbooks_sub_accounts_close_with_their_totals(tmp_path: Path) -> None:
    path = write(tmp_path / "gl.csv", "\n".join([
        "Northwind Analytics Inc.", "General Ledger", "",
        ",Date,Transaction Type,Num,Name,Memo/Description,Split,Amount,Balance",
        "6100 Advertising,,,,,,,,",
        ",01/03/2025,Bill,1,Agency,Retainer,Checking,100.00,100.00",
        "6110 Google Ads,,,,,,,,",
        ',01/05/2025,Expense,2,Google,Search,Checking,"1,000.10","1,000.10"',
        ",01/09/2025,Expense,3,Google,Search,Checking,-0.05,1000.05",
        'Total for 6110 Google Ads,,,,,,,"$1,000.05",',
        ",02/03/2025,Bill,4,Agency,Retainer,Checking,200.00,300.00",
        'Total for 6100 Advertising,,,,,,,"$1,300.05",',
        'TOTAL,,,,,,,"$1,300.05",',
    ]) + "\n")
    accounts = {"6100 Advertising": "creative_services", "6110 Google Ads": "digital_advertising"}
    prepared = prepare("spend", path, ImportOptions(category_map=accounts))
    assert prepared.ok, [p.describe() for p in prepared.errors]
    # 6110: 1,000.10 - 0.05 = 1,000.05; 6100's own rows, before and after its sub-account: 100 + 200 = 300
    assert _by(prepared, "category", "amount") == {"digital_advertising": Decimal("1000.05"),
                                                   "creative_services": Decimal("300.00")}


def test_quickbooks_read_in_tiny_blocks_gives_the_same_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    whole = _prepare("quickbooks_general_ledger.csv", "spend", category_map=QB_ACCOUNTS)
    monkeypatch.setattr(csvfile, "BLOCK_BYTES", 200)  # account headings and their lines in other blocks
    blocks = _prepare("quickbooks_general_ledger.csv", "spend", category_map=QB_ACCOUNTS)
    assert blocks.rows.equals(whole.rows)


def test_shopify_read_in_tiny_blocks_still_counts_each_order_once(monkeypatch: pytest.MonkeyPatch) -> None:
    whole = _prepare("shopify_orders_export.csv", "revenue")
    monkeypatch.setattr(csvfile, "BLOCK_BYTES", 300)  # an order's line items in the next block
    blocks = _prepare("shopify_orders_export.csv", "revenue")
    assert blocks.rows.equals(whole.rows) and blocks.total() == whole.total()


XERO_ACCOUNTS = {"Advertising (6100)": "digital_advertising", "Consulting & Accounting (6400)": "other_vendors",
                 "Subscriptions (6300)": "martech"}


def test_xero_account_transactions_debit_less_credit() -> None:
    lines = _sections(_rows("xero_account_transactions.csv", "Running Balance"), "Date",
                      lambda r: bool(re.match(r"\d+ \w{3} \d{4}$", r["Date"])))
    prepared = _prepare("xero_account_transactions.csv", "spend", category_map=XERO_ACCOUNTS)
    assert _applied(prepared) == "xero_account_transactions"
    assert prepared.rows.height == len(lines)

    def net(x: tuple[str, Row]) -> Decimal:
        return _dec(x[1]["Debit"]) - _dec(x[1]["Credit"])

    assert prepared.total() == sum(map(net, lines))
    assert _by(prepared, "category", "amount") == _sum_by(lines, lambda x: XERO_ACCOUNTS[x[0]], net)


def test_netsuite_gl_detail_debit_less_credit() -> None:
    rows = [r for r in _rows("netsuite_gl_detail.csv", "Document Number") if r["Account"] != "Total"]
    accounts = {"6100 - Advertising": "digital_advertising", "6150 - Trade Shows": "events",
                "6300 - Software": "martech"}
    prepared = _prepare("netsuite_gl_detail.csv", "spend", category_map=accounts)
    assert _applied(prepared) == "netsuite_gl"
    assert _by(prepared, "category", "amount") == _sum_by(
        rows, lambda r: accounts[r["Account"]], lambda r: _dec(r["Debit"]) - _dec(r["Credit"]))
    assert _dropped(prepared, "total_row_dropped") == 1


# -- CRMs --------------------------------------------------------------------------------------------

def test_hubspot_contacts_customers_only() -> None:
    rows = _rows("hubspot_contacts.csv", "Record ID")
    customers = [r for r in rows if r["Became a Customer Date"]]
    prepared = _prepare("hubspot_contacts.csv", "customers")
    assert _applied(prepared) == "hubspot_contacts"
    got = {cid: (str(day), channel) for cid, day, channel in
           prepared.rows.select("customer_id", "acquired_on", "channel").iter_rows()}
    assert got == {r["Record ID"]: (r["Became a Customer Date"][:10], r["Original Source"]) for r in customers}
    assert _dropped(prepared) == len(rows) - len(customers)


def test_salesforce_won_new_business_only() -> None:
    rows = _rows("salesforce_opportunities.csv", "Opportunity Name")
    won = [r for r in rows if r["Stage"] == "Closed Won" and r["Type"] == "New Customer"]
    prepared = _prepare("salesforce_opportunities.csv", "customers")
    assert _applied(prepared) == "salesforce_opportunities"
    assert sorted(prepared.rows.get_column("customer_id")) == sorted(r["Account ID"] for r in won)
    assert _dropped(prepared) == len(rows) - len(won) + 2  # and the two footer lines


# -- detection ---------------------------------------------------------------------------------------

SAMPLE_PRESETS = {
    "google_ads_campaign_report.csv": "google_ads", "microsoft_ads_campaign_performance.csv": "microsoft_ads",
    "meta_ads_campaigns.csv": "meta_ads", "linkedin_campaign_performance.csv": "linkedin_ads",
    "stripe_unified_payments.csv": "stripe_payments",
    "stripe_balance_change_from_activity_itemized.csv": "stripe_balance",
    "shopify_orders_export.csv": "shopify_orders", "chargebee_invoices.csv": "chargebee_invoices",
    "quickbooks_general_ledger.csv": "quickbooks_gl", "xero_account_transactions.csv": "xero_account_transactions",
    "netsuite_gl_detail.csv": "netsuite_gl", "hubspot_contacts.csv": "hubspot_contacts",
    "salesforce_opportunities.csv": "salesforce_opportunities",
}


def _records(path: Path) -> list[list[str]]:
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    return [[c.strip() for c in r] for r in csv.reader(text.splitlines()[:30])]


LEDGER_SAMPLES = {"quickbooks_general_ledger.csv": "quickbooks_ledger", "xero_account_transactions.csv": "xero_ledger",
                  "netsuite_gl_detail.csv": "netsuite_ledger"}
"""The general-ledger exports read as the ledger to reconcile to (``gl``), from the same files as their spend."""


def test_every_preset_has_a_sample_and_each_sample_fits_its_preset_alone() -> None:
    assert set(SAMPLE_PRESETS.values()) | set(LEDGER_SAMPLES.values()) == set(PRESETS)
    assert sorted(p.name for p in SAMPLES.iterdir()) == sorted(SAMPLE_PRESETS)
    for samples in (SAMPLE_PRESETS, LEDGER_SAMPLES):
        for name, preset in samples.items():
            kind = PRESETS[preset].kind
            fitting = {p.name for record in _records(SAMPLES / name) for p in PRESETS.values()
                       if p.kind == kind and p.fits(record)}
            assert fitting == {preset}, name


def test_files_of_the_contract_fit_no_preset() -> None:
    paths = [*(ROOT / "sample_data").glob("*.csv"), *(DATA / "golden").rglob("*.csv"), *(DATA / "bad").rglob("*")]
    assert len(paths) > 10
    for path in paths:
        if path.is_file():
            assert not [p.name for r in _records(path) for p in PRESETS.values() if p.fits(r)], path


def test_a_header_fitting_two_presets_is_refused_not_guessed(tmp_path: Path) -> None:
    header = ("Invoice Number,Invoice Date,Customer ID,Status,Amount,Amount Adjusted,Created (UTC),Amount Refunded,"
              "Currency")
    path = write(tmp_path / "both.csv", header + "\n1,2025-01-02,c1,paid,10.00,0.00,2025-01-02,0.00,usd\n")
    prepared = prepare("revenue", path)
    [error] = prepared.errors
    assert error.code == "preset_ambiguous" and error.value == "stripe_payments, chargebee_invoices"
    chosen = prepare("revenue", path, ImportOptions(preset="chargebee_invoices"))
    assert chosen.ok and chosen.total() == Decimal("10.00")


def test_a_chosen_preset_that_does_not_fit_says_which_columns_are_missing(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "customer_id,date,revenue\nc1,2025-01-02,10.00\n")
    [error] = prepare("revenue", path, ImportOptions(preset="stripe_payments")).errors
    assert error.code == "preset_mismatch" and "amountrefunded" in error.message
    with pytest.raises(OptionsError, match="reads revenue files, not spend"):
        prepare("spend", path, ImportOptions(preset="stripe_payments"))
    with pytest.raises(OptionsError, match="unknown preset"):
        prepare("revenue", path, ImportOptions(preset="stripe"))


def test_every_preset_maps_to_columns_of_its_kind() -> None:
    for p in PRESETS.values():
        names = FILE_KINDS[p.kind].column_names
        targets = [t for _, t in p.columns] + [d.target for d in p.derived]
        targets += [p.sections.target] if p.sections else []
        assert set(targets) <= set(names), p.name
        assert p.notes and p.title


# -- command line ------------------------------------------------------------------------------------

def test_command_line_names_the_preset_and_imports_exact_totals(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    rows = _rows("stripe_unified_payments.csv", "Amount Refunded")
    kept = [r for r in rows if r["Status"] != "Failed"]
    code, report = run_cli_json("import", "revenue", SAMPLES / "stripe_unified_payments.csv", "--db", db)
    assert code == 0, report["errors"]
    assert report["preset"] == "stripe_payments"
    assert Decimal(report["total"]) == sum(_dec(r["Amount"]) - _dec(r["Amount Refunded"]) for r in kept)
    with Store(db) as store:
        found = store.one("SELECT sum(revenue), count(*) FROM revenue")
    assert found is not None and (Decimal(found[0]), found[1]) == (Decimal(report["total"]), len(kept))


def test_command_line_refuses_a_file_that_is_not_the_chosen_preset(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["import", "spend", str(SAMPLES / "google_ads_campaign_report.csv"), "--db",
                 str(tmp_path / "s.duckdb"), "--preset", "linkedin_ads", "--dry-run", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 2 and [e["code"] for e in report["errors"]] == ["preset_mismatch"]
    assert report["preset"] is None and "--preset none" in report["errors"][0]["fix"]


def test_help_lists_every_preset() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    shown = " ".join(subparsers["import"].format_help().split())
    for p in PRESETS.values():
        assert f"{p.name} ({p.kind}: {p.title})" in shown
