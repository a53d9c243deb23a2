"""What the importer suggests and remembers: categories for account names, channels for
department values, headers for missing columns, the mapping kept per source; problems in
plain words, grouped; the same choices from the command line."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from finance.domain.problems import CODES, TITLES, grouped, problem
from finance.domain.schema import FILE_KINDS
from finance.ingest.prepare import ImportOptions, prepare
from finance.ingest.sources import SourceMapping, source_key, suggest_category, suggest_channel, suggest_columns
from finance.store.database import Store

from .conftest import DATA, run_cli, run_cli_json, write

KNOWN = ["Paid Search", "Paid Social", "Events", "Content", "Outbound"]


@pytest.mark.parametrize(("label", "key"), [
    ("6200 Salaries - Marketing", "personnel"),
    ("Marketing Salaries", "personnel"),
    ("Sales Salaries", "sales"),  # the longer synonym wins
    ("6210 Payroll Taxes - Mktg", "personnel"),
    ("6100 Advertising - Google", "digital_advertising"),
    ("6300 Trade Shows & Events", "events"),
    ("6350 Webinars", "events"),
    ("6400 Software Subscriptions", "martech"),
    ("6500 Agency Fees - Creative", "creative_services"),
    ("6550 PR Retainer", "media_relations"),
    ("6600 Sales Commissions", "sales"),
    ("6450 Website Hosting", "website"),
    ("6800 Influencer Payments", "influencer"),
    ("Perssonel", "personnel"),  # a misspelling
    ("6700 Travel - Marketing", None),  # nothing close: a person chooses
    ("7000 Office Rent", None),
])
def test_a_category_is_suggested_from_an_account_name(label: str, key: str | None) -> None:
    assert suggest_category(label) == key


@pytest.mark.parametrize(("value", "target"), [
    ("Mktg - Paid Search", "Paid Search"),
    ("paid  search", "Paid Search"),
    ("Mktg - Paid Socail", "Paid Social"),
    ("Mktg - Shared", None),
    ("G&A", None),
    ("Marketing", None),  # the department alone: no channel
    ("Mktg - Partnerships", "Mktg - Partnerships"),  # new: kept as written
])
def test_a_channel_is_suggested_for_a_department_value(value: str, target: str | None) -> None:
    assert suggest_channel(value, KNOWN, shared_allowed=True) == target


def test_shared_costs_are_only_suggested_where_a_file_may_hold_them() -> None:
    assert suggest_channel("Mktg - Shared", KNOWN, shared_allowed=False) == "Mktg - Shared"


def test_a_missing_column_is_suggested_from_the_unknown_headers() -> None:
    spend = FILE_KINDS["spend"]
    assert suggest_columns(spend, ["Booked In", "Net Amt", "Dept"], ["amount"]) == {"Net Amt": "amount"}
    assert suggest_columns(spend, ["Posted", "Cost Type Code", "Sum"], ["category"]) == {"Cost Type Code": "category"}
    assert suggest_columns(spend, ["Whatever"], ["amount"]) == {"Whatever": "amount"}  # the only candidate
    assert suggest_columns(spend, ["Zzz", "Qqq"], ["amount"]) == {}


def test_a_source_is_its_kind_and_header_row() -> None:
    headers = ["Posting Period", "GL Account Name", "Amount (USD)"]
    assert source_key("spend", headers) == source_key("spend", ["posting period", "GL account-name", "AMOUNT (usd)"])
    assert source_key("spend", headers) != source_key("revenue", headers)
    assert source_key("spend", headers) != source_key("spend", headers[:2])


def test_a_remembered_mapping_survives_a_round_trip_and_garbage_is_nothing() -> None:
    mapping = SourceMapping("spend", "k", {"Dept": "channel"}, {"6200 Salaries": "personnel"},
                            {"Mktg - Shared": None, "Mktg - Events": "Events"}, "gl.csv")
    assert SourceMapping.from_json("spend", "k", mapping.to_json()) == mapping
    for text in (None, "", "not json", "[1, 2]", json.dumps({"columns": [1], "channels": {"a": 3}})):
        read = SourceMapping.from_json("spend", "k", text)
        assert (read.columns, read.categories, read.channels) == ({}, {}, {})
    merged = mapping.merged(channels={"Mktg - Events": None}, name="other.csv")
    assert merged.channels == {"Mktg - Shared": None, "Mktg - Events": None} and merged.name == "gl.csv"


def test_the_store_keeps_a_mapping_per_source(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with Store(db) as store:
        first = store.source_mapping("spend", ["A", "B"])
        assert first.columns == {} and first.channels == {}
        store.save_source_mapping(first.merged(columns={"A": "period"}, name="a.csv"))
        assert store.source_mapping("spend", ["a", "b"]).columns == {"A": "period"}
        assert store.source_mapping("spend", ["A", "B", "C"]).columns == {}
        assert "setting" in store.changes()["action"].to_list()  # the change is logged


def test_channel_values_are_mapped_counted_and_new_ones_warned(tmp_path: Path) -> None:
    path = write(tmp_path / "gl.csv", "period,category,Department,amount\n"
                                      "2026-01,events,Mktg - Events,100\n2026-01,personnel,Mktg - Shared,50\n"
                                      "2026-01,events,Mktg - Events,25\n2026-01,events,Webinars,5\n")
    options = ImportOptions(column_map={"Department": "channel"}, known_channels=frozenset(KNOWN),
                            channel_map={"mktg - events": "Events", "Mktg - Shared": None})
    prepared = prepare("spend", path, options)
    assert prepared.ok
    assert prepared.channels == {"Mktg - Events": 2, "Mktg - Shared": 1, "Webinars": 1}  # as written
    assert prepared.rows["channel"].to_list() == ["Events", None, "Events", "Webinars"]
    new = [p for p in prepared.warnings if p.code == "new_channel"]
    assert [(p.value, p.row, p.count) for p in new] == [("Webinars", 5, 1)]
    # the first import knows no channel: nothing is called new
    assert not [p for p in prepare("spend", path, ImportOptions(column_map={"Department": "channel"})).warnings
                if p.code == "new_channel"]


def test_a_file_with_a_channel_on_every_row_cannot_map_one_to_shared(tmp_path: Path) -> None:
    path = write(tmp_path / "f.csv", "period,channel,leads\n2026-01,Mktg - Shared,5\n")
    with pytest.raises(ValueError, match="no value can be a shared cost"):
        prepare("funnel", path, ImportOptions(channel_map={"Mktg - Shared": None}))


def test_every_problem_has_a_title_and_none_speaks_command_line() -> None:
    assert set(TITLES) == set(CODES)
    assert not [code for code, (_, expected) in CODES.items() if "--" in expected]
    messages = []
    for path in sorted((DATA / "bad").glob("*")):
        for kind in ("spend", "customers"):
            messages += [p.message for p in prepare(kind, path, ImportOptions()).problems]
    unquoted = [re.sub(r"'[^']*'|\"[^\"]*\"", "", m) for m in messages]  # a value quoted back may hold "--"
    assert len(messages) > 100 and not [m for m in unquoted if re.search(r"--[a-z]", m)]


def test_problems_group_by_code_errors_first_with_every_row_counted() -> None:
    problems = [problem("total_row_dropped", row=9), *[problem("invalid_amount", row=r, column="amount",
                                                               value=f"x{r}") for r in range(2, 6)],
                problem("invalid_amount", "1,000 more rows", column="amount", count=1000),
                problem("invalid_amount", row=7, column="Net", value="y")]
    groups = grouped(problems)
    assert [g.code for g in groups] == ["invalid_amount", "total_row_dropped"]
    amounts = groups[0]
    assert amounts.rows == 1005 and amounts.columns == ("amount", "Net")
    assert [p.value for p in amounts.examples] == ["x2", "x3", "x4"]
    assert amounts.title == "Amounts that cannot be read"


def test_the_command_line_maps_channels_from_a_file_and_says_how_to_fix(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    first = write(tmp_path / "q1.csv", "period,category,channel,amount\n2026-01,events,Events,100.00\n")
    assert run_cli("import", "spend", first, "--db", db).returncode == 0
    ledger = write(tmp_path / "gl.csv", "Posting Period,Account,Department,Amount\n"
                                        "2026-02,events,Mktg - Events,10.00\n2026-02,personnel,Mktg - Shared,5.50\n"
                                        "2026-02,events,Mktg - Evnts,1.25\n")
    code, report = run_cli_json("import", "spend", ledger, "--db", db, "--map", "Department=channel", "--dry-run")
    warned = {w["value"]: w for w in report["warnings"] if w["code"] == "new_channel"}
    assert set(warned) == {"Mktg - Events", "Mktg - Shared", "Mktg - Evnts"}
    assert "--channel-map" in warned["Mktg - Shared"]["fix"] and "--" not in warned["Mktg - Shared"]["message"]
    channels = write(tmp_path / "channels.csv", "value,channel\nMktg - Events,Events\nMktg - Evnts,Events\n"
                                                "Mktg - Shared,\n")
    code, report = run_cli_json("import", "spend", ledger, "--db", db, "--map", "Department=channel",
                                "--channel-map", channels)
    assert code == 0 and not [w for w in report["warnings"] if w["code"] == "new_channel"]
    with Store(db, read_only=True) as store:
        spend = store.frame("spend")
    latest = spend.filter(spend["import_id"] == spend["import_id"].max())
    assert latest["channel"].to_list() == ["Events", None, "Events"]
    assert sum(latest["amount"].to_list()) == Decimal("16.75")
    bad = write(tmp_path / "bad-map.csv", "value,channel\n,Events\n")
    done = run_cli("import", "spend", ledger, "--db", db, "--channel-map", bad)
    assert done.returncode == 2 and "row 2: expected 'value,channel'" in done.stderr
