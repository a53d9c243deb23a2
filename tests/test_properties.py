"""Property tests of the import foundation, on real DuckDB files in temporary directories.

Every file is generated from integer cents, canonical category keys and calendar spans;
the expected totals, rows and periods are computed from those, never through the
product's own parsers, so a parser or store bug shows up as a mismatch.
"""

from __future__ import annotations

import calendar
import random
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from finance.domain.schema import KINDS
from finance.store.database import ImportResult, Store

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

FIRST_YEAR = 2023
QUARTERS = 12  # 2023-Q1 .. 2025-Q4, numbered 0..11
MAX_CENTS = 10**16 - 1  # 99,999,999,999,999.99: the largest amount DECIMAL(18,4) holds in cents


def cents_to_decimal(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


# --- periods ---------------------------------------------------------------------------

QUARTER_SPELLINGS = (
    "{y}-Q{q}", "Q{q} {y}", "{y}Q{q}", "{y} q{q}", "q{q}-{y}", "{y}_Q{q}", "Q{q}/{y}",
)
MONTH_SPELLINGS = (
    "{y}-{m:02d}", "{y}-{m}", "{m:02d}/{y}", "{y}{m:02d}", "{y}/{m:02d}", "{abbr} {y}",
    "{name} {y}", "{abbr}-{yy:02d}",
)


@dataclass(frozen=True)
class Span:
    """A period as the calendar sees it: first and last day."""

    start: date
    end: date

    def months(self) -> set[tuple[int, int]]:
        out = set()
        y, m = self.start.year, self.start.month
        while (y, m) <= (self.end.year, self.end.month):
            out.add((y, m))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out


def quarter_span(index: int) -> Span:
    year, q = FIRST_YEAR + index // 4, index % 4 + 1
    first = 3 * (q - 1) + 1
    return Span(date(year, first, 1), date(year, first + 2, calendar.monthrange(year, first + 2)[1]))


def month_span(index: int, offset: int) -> Span:
    year, month = FIRST_YEAR + index // 4, 3 * (index % 4) + 1 + offset
    return Span(date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]))


@st.composite
def periods(draw: st.DrawFn, quarters: tuple[int, ...]) -> tuple[str, Span]:
    """A quarter or a month inside one of ``quarters``, in one of many spellings."""
    index = draw(st.sampled_from(quarters))
    year, q = FIRST_YEAR + index // 4, index % 4 + 1
    if draw(st.booleans()):
        return draw(st.sampled_from(QUARTER_SPELLINGS)).format(y=year, q=q), quarter_span(index)
    offset = draw(st.integers(0, 2))
    month = 3 * (q - 1) + 1 + offset
    text = draw(st.sampled_from(MONTH_SPELLINGS)).format(
        y=year, m=month, yy=year % 100, abbr=calendar.month_abbr[month], name=calendar.month_name[month])
    return text, month_span(index, offset)


def quarter_text(index: int) -> str:
    return f"{FIRST_YEAR + index // 4}-Q{index % 4 + 1}"


# --- categories -----------------------------------------------------------------------

CATEGORY_LABELS: dict[str, tuple[str, ...]] = {
    "digital_advertising": ("digital_advertising", "Paid Search", "PPC", "Google Ads", "paid social",
                            "Display Ads", "Digital advertising", "Ad Spend"),
    "content_seo": ("content_seo", "SEO", "Content marketing & SEO", "Organic Search"),
    "content_creation": ("content_creation", "Copywriting", "Video Production", "Whitepapers"),
    "events": ("events", "Trade Shows", "Conference", "Webinars", "Sponsorship"),
    "media_relations": ("media_relations", "PR", "Public Relations", "Press Releases"),
    "influencer": ("influencer", "Influencers", "Affiliates", "Creators"),
    "creative_services": ("creative_services", "Creative Agency", "Branding", "Design"),
    "website": ("website", "Web Hosting", "CMS", "Landing Pages"),
    "personnel": ("personnel", "salaries", "Payroll", "Headcount", "Marketing Salaries", "Benefits"),
    "martech": ("martech", "MarTech", "Marketing Technology", "SaaS", "Software", "CRM"),
    "other_vendors": ("other_vendors", "Misc", "Consultants", "Direct Mail", "Other Vendors"),
    "sales": ("sales", "Commissions", "Sales Team", "SDRs", "Business Development"),
}
CATEGORY_CHOICES = [(label, key) for key, labels in CATEGORY_LABELS.items() for label in labels]


@st.composite
def categories(draw: st.DrawFn) -> tuple[str, str]:
    """A category label as someone might type it, and the key it must map to."""
    label, key = draw(st.sampled_from(CATEGORY_CHOICES))
    style = draw(st.sampled_from(["as is", "upper", "lower", "snake", "kebab", "padded"]))
    written = {
        "as is": label, "upper": label.upper(), "lower": label.lower(),
        "snake": label.replace(" ", "_"), "kebab": label.replace(" ", "-").replace("_", "-"),
        "padded": f"  {label} ",
    }[style]
    return written, key


# --- money ----------------------------------------------------------------------------

AMOUNT_STYLES = ("plain", "short", "four", "dollar", "paren", "paren_dollar", "trailing_minus",
                 "code_after", "code_before", "sci", "unicode_minus")


def render_amount(cents: int, style: str) -> str:
    """Write ``cents`` in one of the spellings exports use; negative-only styles fall back."""
    negative, magnitude = cents < 0, abs(cents)
    whole, frac = divmod(magnitude, 100)
    digits, grouped = f"{whole}.{frac:02d}", f"{whole:,}.{frac:02d}"
    sign = "-" if negative else ""
    if style == "short":
        short = f"{whole}" if frac == 0 else f"{whole}.{frac // 10}" if frac % 10 == 0 else digits
        return sign + short
    if style == "four":
        return f"{sign}{digits}00"
    if style == "dollar":
        return f"{sign}${grouped}"
    if style == "paren" and negative:
        return f"({grouped})"
    if style == "paren_dollar" and negative:
        return f"(${grouped})"
    if style == "trailing_minus" and negative:
        return f"{digits}-"
    if style == "unicode_minus" and negative:
        return f"\u2212{digits}"
    if style == "code_after":
        return f"{sign}{grouped} USD"
    if style == "code_before":
        return f"USD {sign}{digits}"
    if style == "sci":
        return format(cents_to_decimal(cents), "E")
    return sign + digits


def amount_cents(limit: int = MAX_CENTS) -> st.SearchStrategy[int]:
    """Mostly everyday amounts, sometimes huge ones up to ``limit`` cents in magnitude."""
    return st.one_of(
        st.integers(-100_000, 10_000_000),
        st.integers(-limit, limit),
        st.sampled_from([0, 1, -1, 99, 100, 1_000_000, limit, -limit]),
    )


# --- free text ------------------------------------------------------------------------

NASTY_TEXT = (
    "Acme, Inc.", 'He said "hi"', '=HYPERLINK("http://evil.example","click")', "=1+2",
    "'; DROP TABLE spend_rows; --", 'Robert"); DELETE FROM imports; --', "x' OR '1'='1",
    "Ünïcödé — ✓ 日本語 🎉", "  padded  ", "", "line one\nline two", "crlf\r\ninside",
    "tab\there", "1,234.56", "NULL", "#N/A", "2025-Q1", "\u00a0nbsp\u00a0", ";|\t;", '""',
)
_TEXT_CHARS = st.characters(blacklist_categories=("Cc", "Cs"))


def free_text() -> st.SearchStrategy[str]:
    # A cell reading "Total" (or "Subtotal:") marks a total line, which the importer drops by
    # design; that is tested elsewhere, so generated text never is one.
    return st.one_of(st.sampled_from(NASTY_TEXT), st.text(_TEXT_CHARS, max_size=24)).filter(
        lambda t: "total" not in t.casefold())


# --- files ----------------------------------------------------------------------------

HEADERS = {
    "period": ("period", "Period", "Quarter", "month", "Fiscal Period", "PERIOD"),
    "category": ("category", "Category", "Cost Category", "type", "GL Account", "expense_type"),
    "channel": ("channel", "Channel", "Marketing Channel", "source"),
    "amount": ("amount", "Amount", "Spend", "Net Amount", "cost", "AMOUNT"),
    "vendor": ("vendor", "Vendor", "Supplier", "payee"),
    "description": ("description", "Memo", "notes", "Line Description"),
}
REQUIRED = ("period", "category", "amount")


@dataclass(frozen=True)
class SpendRow:
    period: str
    span: Span
    category: str
    key: str
    cents: int
    style: str
    channel: str
    vendor: str
    description: str

    def cell(self, column: str) -> str:
        if column == "amount":
            return render_amount(self.cents, self.style)
        return str(getattr(self, column))


@dataclass(frozen=True)
class CsvLayout:
    columns: tuple[str, ...]  # contract columns, in file order
    headers: tuple[str, ...]  # as written
    eol: str
    quoting: str  # "minimal" | "all" | "random"
    seed: int

    def header_of(self, column: str) -> str:
        return self.headers[self.columns.index(column)]


@dataclass(frozen=True)
class SpendFile:
    layout: CsvLayout
    rows: tuple[SpendRow, ...]

    def cells(self) -> list[list[str]]:
        return [[row.cell(c) for c in self.layout.columns] for row in self.rows]

    def total_cents(self) -> int:
        return sum(r.cents for r in self.rows)

    def months(self) -> set[tuple[int, int]]:
        return set().union(*(r.span.months() for r in self.rows))

    def scaled(self, factor: int) -> SpendFile:
        return SpendFile(self.layout, tuple(replace(r, cents=r.cents * factor) for r in self.rows))


def to_csv(layout: CsvLayout, body: list[list[str]]) -> bytes:
    """Render rows as CSV the way spreadsheets do: quote when needed (or always, or at whim)."""
    rnd = random.Random(layout.seed)

    def field(text: str) -> str:
        needs = any(ch in text for ch in ',"\r\n') or text != text.strip(" ")
        if needs or layout.quoting == "all" or (layout.quoting == "random" and rnd.random() < 0.3):
            return '"' + text.replace('"', '""') + '"'
        return text

    lines = [",".join(field(h) for h in layout.headers)]
    lines += [",".join(field(c) for c in row) for row in body]
    return (layout.eol.join(lines) + (layout.eol if rnd.random() < 0.7 else "")).encode("utf-8")


@st.composite
def layouts(draw: st.DrawFn, columns: tuple[str, ...] | None = None,
            headers: Mapping[str, tuple[str, ...]] = HEADERS) -> CsvLayout:
    if columns is None:
        optional = draw(st.lists(st.sampled_from(["channel", "vendor", "description"]), unique=True))
        columns = tuple(draw(st.permutations([*REQUIRED, *optional])))
    names = tuple(draw(st.sampled_from(headers[c])) for c in columns)
    return CsvLayout(columns, names, draw(st.sampled_from(["\n", "\r\n"])),
                     draw(st.sampled_from(["minimal", "all", "random"])), draw(st.integers(0, 2**32)))


@st.composite
def spend_rows(draw: st.DrawFn, quarters: tuple[int, ...], limit: int) -> SpendRow:
    period, span = draw(periods(quarters))
    label, key = draw(categories())
    return SpendRow(period, span, label, key, draw(amount_cents(limit)), draw(st.sampled_from(AMOUNT_STYLES)),
                    draw(st.sampled_from(["", "Google", "LinkedIn", "Meta  Ads", " Events "])),
                    draw(free_text()), draw(free_text()))


@st.composite
def spend_files(draw: st.DrawFn, quarters: tuple[int, ...] = tuple(range(QUARTERS)),
                max_rows: int = 40, limit: int = MAX_CENTS) -> SpendFile:
    layout = draw(layouts())
    rows = draw(st.lists(spend_rows(quarters, limit), min_size=1, max_size=max_rows))
    return SpendFile(layout, tuple(rows))


def write_spend(path: Path, spend: SpendFile, body: list[list[str]] | None = None) -> Path:
    path.write_bytes(to_csv(spend.layout, spend.cells() if body is None else body))
    return path


# --- store helpers --------------------------------------------------------------------

@contextmanager
def fresh_store() -> Iterator[tuple[Store, Path]]:
    with tempfile.TemporaryDirectory(prefix="finance-prop-") as tmp, \
            Store(Path(tmp) / "store.duckdb") as store:
        yield store, Path(tmp)


def imported(result: ImportResult) -> ImportResult:
    problems = [p.describe(result.file_name) for p in result.errors]
    assert result.status == "imported", problems
    assert result.import_id is not None
    return result


def stored_spend(store: Store) -> Counter[tuple[Any, ...]]:
    rows = store.rows("SELECT period_start, period_end, category, amount FROM spend")
    return Counter((s, e, c, Decimal(a)) for s, e, c, a in rows)


def expected_spend(spend: SpendFile) -> Counter[tuple[Any, ...]]:
    return Counter((r.span.start, r.span.end, r.key, cents_to_decimal(r.cents)) for r in spend.rows)


def data_tables(snapshot: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    return {t: rows for t, rows in snapshot.items() if t.endswith("_rows")}


def views(store: Store) -> dict[str, pl.DataFrame]:
    return {kind: store.frame(kind) for kind in KINDS}


# --- properties -----------------------------------------------------------------------

@SETTINGS
@given(spend=spend_files())
def test_stored_total_equals_file_sum_to_the_cent(spend: SpendFile) -> None:
    with fresh_store() as (store, tmp):
        result = imported(store.import_file("spend", write_spend(tmp / "spend.csv", spend)))
        expected_total = cents_to_decimal(spend.total_cents())
        assert result.rows == len(spend.rows)
        assert result.total == expected_total
        totals = store.totals()["spend"]
        assert totals == {"rows": len(spend.rows), "total": expected_total}
        # Row by row: the span each period spelling means, the canonical category, the amount.
        assert stored_spend(store) == expected_spend(spend)
        logged = store.one("SELECT row_count, total, status FROM imports WHERE import_id = ?",
                           [result.import_id])
        assert logged == (len(spend.rows), expected_total, "active")
        # Free text survives quoting, unicode, formulas and SQL-looking content untouched.
        frame = store.frame("spend")
        for column in ("vendor", "description"):
            if column in spend.layout.columns:
                want = Counter((getattr(r, column).strip() or None, r.cents) for r in spend.rows)
                got = Counter(zip(frame.get_column(column).to_list(),
                                  [int(Decimal(a) * 100) for a in frame.get_column("amount").to_list()],
                                  strict=True))
                assert got == want


@SETTINGS
@given(spend=spend_files())
def test_importing_twice_equals_importing_once(spend: SpendFile) -> None:
    with fresh_store() as (store, tmp):
        path = write_spend(tmp / "spend.csv", spend)
        first = imported(store.import_file("spend", path))
        once = store.snapshot()
        second = store.import_file("spend", path)
        assert second.status == "unchanged"
        assert second.import_id == first.import_id
        assert store.snapshot() == once
        # The same bytes under another name are still the same file.
        copy = tmp / "copy of spend.csv"
        copy.write_bytes(path.read_bytes())
        assert store.import_file("spend", copy).status == "unchanged"
        assert store.snapshot() == once


CORRUPTIONS = ("amount_text", "quarter_5", "unknown_category", "empty_required", "extra_field")


@SETTINGS
@given(spend=spend_files(), earlier=spend_files(max_rows=5), data=st.data())
def test_one_bad_cell_rejects_the_whole_file_and_changes_nothing(
        spend: SpendFile, earlier: SpendFile, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(spend.rows) - 1), label="bad row index")
    corruption = data.draw(st.sampled_from(CORRUPTIONS), label="corruption")
    layout = spend.layout
    body = spend.cells()
    bad_row = index + 2  # spreadsheet numbering: the header is row 1
    if corruption == "extra_field":
        body[index].append("extra")
        expected: tuple[str, str | None] = ("ragged_row", None)
    else:
        column = {"amount_text": "amount", "quarter_5": "period", "unknown_category": "category",
                  "empty_required": data.draw(st.sampled_from(REQUIRED), label="emptied column")}[corruption]
        value = {"amount_text": "abc", "quarter_5": "2025-Q5", "unknown_category": "not a category",
                 "empty_required": data.draw(st.sampled_from(["", "   "]), label="blank")}[corruption]
        code = {"amount_text": "invalid_amount", "quarter_5": "invalid_quarter",
                "unknown_category": "unknown_category", "empty_required": "missing_value"}[corruption]
        body[index][layout.columns.index(column)] = value
        expected = (code, layout.header_of(column))
    with fresh_store() as (store, tmp):
        imported(store.import_file("spend", write_spend(tmp / "earlier.csv", earlier)))
        before = store.snapshot()
        result = store.import_file("spend", write_spend(tmp / "bad.csv", spend, body))
        assert result.status == "rejected"
        assert result.import_id is None
        found = [(p.code, p.row, p.column) for p in result.errors]
        assert (expected[0], bad_row, expected[1]) in found, found
        assert all(row == bad_row for _, row, _ in found), found
        assert store.snapshot() == before
        assert store.totals()["spend"] == {"rows": len(earlier.rows),
                                           "total": cents_to_decimal(earlier.total_cents())}


@SETTINGS
@given(data=st.data(), mode=st.sampled_from(["other_periods", "replace"]))
def test_undo_restores_the_previous_state(data: st.DataObject, mode: str) -> None:
    if mode == "other_periods":
        split = data.draw(st.integers(1, QUARTERS - 1), label="split quarter")
        a = data.draw(spend_files(quarters=tuple(range(split)), max_rows=20), label="A")
        b = data.draw(spend_files(quarters=tuple(range(split, QUARTERS)), max_rows=20), label="B")
    else:
        a = data.draw(spend_files(max_rows=20), label="A")
        extra = data.draw(spend_files(max_rows=20), label="B rows")
        # B re-states every period A wrote (so it covers A's rows whole), plus rows of its own.
        restated = [replace(extra.rows[0], period=p, span=s)
                    for p, s in sorted({(r.period, r.span) for r in a.rows}, key=lambda x: x[1].start)]
        b = SpendFile(extra.layout, (*restated, *extra.rows))
    with fresh_store() as (store, tmp):
        path_a, path_b = write_spend(tmp / "a.csv", a), write_spend(tmp / "b.csv", b)
        assume(path_a.read_bytes() != path_b.read_bytes())
        first = imported(store.import_file("spend", path_a))
        before = store.snapshot()
        before_views = views(store)
        second = imported(store.import_file("spend", path_b, replace=mode == "replace"))
        total_a, total_b = cents_to_decimal(a.total_cents()), cents_to_decimal(b.total_cents())
        if mode == "replace":
            assert second.replaced == [first.import_id]
            assert store.totals()["spend"] == {"rows": len(b.rows), "total": total_b}
        else:
            assert second.replaced == []
            assert store.totals()["spend"] == {"rows": len(a.rows) + len(b.rows), "total": total_a + total_b}
        outcome = store.undo(second.import_id)  # type: ignore[arg-type]
        assert outcome["rows_removed"] == len(b.rows)
        assert outcome["rows_restored"] == (len(a.rows) if mode == "replace" else 0)
        after = store.snapshot()
        assert data_tables(after) == data_tables(before)
        assert after["settings"] == before["settings"]
        after_views = views(store)
        for kind in KINDS:
            assert after_views[kind].equals(before_views[kind]), kind
        assert store.totals()["spend"] == {"rows": len(a.rows), "total": total_a}
        log = {row[0]: row for row in after["imports"]}
        assert set(log) == {first.import_id, second.import_id}
        assert log[first.import_id] == next(r for r in before["imports"] if r[0] == first.import_id)
        status, undone_at = store.one("SELECT status, undone_at FROM imports WHERE import_id = ?",
                                      [second.import_id])  # type: ignore[misc]
        assert status == "undone" and undone_at is not None


@SETTINGS
@given(spend=spend_files(limit=MAX_CENTS // 2))
def test_doubling_every_amount_doubles_the_total(spend: SpendFile) -> None:
    doubled = spend.scaled(2)
    with fresh_store() as (store, tmp), fresh_store() as (store2, _):
        single = imported(store.import_file("spend", write_spend(tmp / "x1.csv", spend)))
        double = imported(store2.import_file("spend", write_spend(tmp / "x2.csv", doubled)))
        one, two = store.totals()["spend"], store2.totals()["spend"]
        assert two["rows"] == one["rows"] == len(spend.rows)
        assert two["total"] == 2 * one["total"] == cents_to_decimal(2 * spend.total_cents())
        assert double.total == 2 * single.total
        assert [(p.period, p.total) for p in double.periods] == [(p.period, 2 * p.total) for p in single.periods]


# --- revenue --------------------------------------------------------------------------

REVENUE_HEADERS = {
    "customer_id": ("customer_id", "Customer ID", "account id", "Cust ID"),
    "date": ("date", "Invoice Date", "order_date", "Transaction Date"),
    "revenue": ("revenue", "Revenue", "Net Revenue", "amount"),
    "gross_margin": ("gross_margin", "Gross Margin", "GM", "gross profit"),
}


@dataclass(frozen=True)
class RevenueRow:
    customer_id: str
    day: date
    revenue: int
    margin: int
    revenue_style: str
    margin_style: str

    def cell(self, column: str) -> str:
        return {"customer_id": self.customer_id, "date": self.day.isoformat(),
                "revenue": render_amount(self.revenue, self.revenue_style),
                "gross_margin": render_amount(self.margin, self.margin_style)}[column]


@st.composite
def revenue_rows(draw: st.DrawFn) -> RevenueRow:
    day = date(FIRST_YEAR, 1, 1) + timedelta(days=draw(st.integers(0, 3 * 365)))
    revenue = draw(amount_cents())
    margin = draw(st.one_of(st.integers(-abs(revenue), abs(revenue)), amount_cents()))
    return RevenueRow(draw(st.from_regex(r"[A-Z]{1,3}-?[0-9]{1,6}", fullmatch=True)), day, revenue, margin,
                      draw(st.sampled_from(AMOUNT_STYLES)), draw(st.sampled_from(AMOUNT_STYLES)))


@SETTINGS
@given(rows=st.lists(revenue_rows(), min_size=1, max_size=40), data=st.data())
def test_revenue_and_margin_sums_are_exact(rows: list[RevenueRow], data: st.DataObject) -> None:
    columns = tuple(data.draw(st.permutations(list(REVENUE_HEADERS)), label="column order"))
    layout = data.draw(layouts(columns, REVENUE_HEADERS), label="layout")
    body = [[row.cell(c) for c in layout.columns] for row in rows]
    with fresh_store() as (store, tmp):
        path = tmp / "revenue.csv"
        path.write_bytes(to_csv(layout, body))
        result = imported(store.import_file("revenue", path))
        want_revenue = cents_to_decimal(sum(r.revenue for r in rows))
        want_margin = cents_to_decimal(sum(r.margin for r in rows))
        assert result.rows == len(rows) and result.total == want_revenue
        assert store.totals()["revenue"] == {"rows": len(rows), "total": want_revenue}
        count, revenue, margin = store.one(
            "SELECT count(*), sum(revenue), sum(gross_margin) FROM revenue")  # type: ignore[misc]
        assert (count, Decimal(revenue), Decimal(margin)) == (len(rows), want_revenue, want_margin)
        stored = Counter(store.rows("SELECT customer_id, date, revenue, gross_margin FROM revenue"))
        assert stored == Counter((r.customer_id, r.day, cents_to_decimal(r.revenue), cents_to_decimal(r.margin))
                                 for r in rows)
