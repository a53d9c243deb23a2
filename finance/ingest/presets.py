"""Presets: the exports finance teams really send, each read by a small declaration.

A preset names one export layout (Google Ads' campaign report, Stripe's payments export, a
QuickBooks general ledger, ...): the headers that identify it, which header is which contract
column, the rows that are not data (failed payments, voided orders, total and footer lines),
and the amounts it derives (revenue = Amount - Amount Refunded, exactly). It is data, not code:
one engine (``Applied``) runs every declaration on the file's string cells, block by block,
before the contract maps the headers, so every check of ``prepare`` still applies.

A preset is applied when the header fits its signature and no other preset's (or when it is
chosen: ``ImportOptions.preset``); every row it leaves out is counted in a problem, and the
preset applied is named in one (``preset_applied``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Protocol, TypeVar

import polars as pl

from finance.domain.money import MONEY_WARNINGS, parse_money
from finance.domain.periods import ParsedDate, parse_date
from finance.domain.problems import Problem, problem
from finance.domain.schema import MEDIA_CATEGORY, FileKind, Kind, normalise_header

NO_PRESET = "none"
"""The preset option that turns detection off: the file is read by the contract alone."""
LISTED_PER_RULE = 200
"""Rows each error of a preset (a repeated order, a refund that is no amount) lists one by one, per column;
the rest are counted, as the contract's own problems are."""
PROBLEM_VALUE_CHARS = 1_000
"""A cell quoted in a problem is cut to this many characters (as ``prepare`` cuts them)."""


@dataclass(frozen=True)
class Drop:
    """Rows that are not data: a cell of ``column`` matching ``values`` (a regex, whole cell, any case).

    ``unless=True`` drops the rows that do *not* match (only paid invoices are revenue). A blank
    cell is matched by ``values=""``. Every dropped row is counted in one problem per rule.
    """

    column: str
    """The header as a regex over the folded header (``normalise_header``): "status", "amountspent.*"."""
    values: str
    reason: str
    unless: bool = False
    code: str = "preset_row_dropped"
    """``total_row_dropped`` for a report's total lines, as the contract names them."""


@dataclass(frozen=True)
class Difference:
    """An amount derived exactly: ``plus`` less each of ``minus`` (blank cells are zero)."""

    header: str
    """The derived column's header, as problems name it."""
    target: str
    plus: str
    minus: tuple[str, ...] = ()


@dataclass(frozen=True)
class Span:
    """A period derived from a row's first and last day: a day, a calendar month or a quarter."""

    header: str
    start: str
    end: str


@dataclass(frozen=True)
class ChannelFrom:
    """The channel read from a campaign column: a value listed here, else the preset's channel."""

    column: str
    channels: Mapping[str, str]
    """Value (any case) -> channel."""


@dataclass(frozen=True)
class Sections:
    """Account heading lines (a lone cell in ``column``): each names the account of the rows below it."""

    column: str
    header: str
    target: str


@dataclass(frozen=True)
class LineItems:
    """An order written on several rows, one per line item, where only the first carries the totals.

    The first row of each ``key`` is the order; the rows after it are its line items, left out (and
    counted). A later row of an order that carries a total again is an error: the order would be
    counted twice.
    """

    key: str
    totals: tuple[str, ...]


@dataclass(frozen=True)
class Preset:
    """One export layout: how it is recognised, mapped, cleaned and derived."""

    name: str
    title: str
    kind: Kind
    signature: tuple[str, ...]
    """Folded-header regexes; the header fits when each matches one of its headers."""
    columns: tuple[tuple[str, str], ...] = ()
    """(folded-header regex, contract column): the first header matching a regex is that column."""
    as_is: tuple[str, ...] = ()
    """Folded-header regexes the contract reads by itself (``Amount spent (USD)``, its currency checked)."""
    ignored: tuple[str, ...] = ()
    """Headers a contract synonym would take for something they are not (Xero's ``Source``)."""
    drops: tuple[Drop, ...] = ()
    derived: tuple[Difference, ...] = ()
    span: Span | None = None
    channel_from: ChannelFrom | None = None
    sections: Sections | None = None
    line_items: LineItems | None = None
    default_category: str | None = None
    default_channel: str | None = None
    date_format: str | None = None
    notes: str = ""
    """What the preset decides that a reader should know (the docs list it)."""

    def fits(self, headers: Sequence[str]) -> bool:
        folded = [normalise_header(h) for h in headers]
        return all(_index(folded, pattern) is not None for pattern in self.signature)


def _index(folded: Sequence[str], pattern: str) -> int | None:
    compiled = re.compile(pattern)
    return next((i for i, h in enumerate(folded) if compiled.fullmatch(h)), None)


_TOTAL = r"(grand\s*)?totals?(\s*[:\-\u2013]\s*.*|\s+for\s+.*|\s+.*)?"
"""A total line's label: ``Total``, ``Total: Account``, ``Total for 6100 Advertising``, ``Total - 6100``."""

_AD_TOTALS = "a report total, not a campaign"

FIRST_COLUMN = ".*"
"""A rule's column: the file's first, whatever its header (a report writes its total lines' labels there)."""

PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset(
        "google_ads", "Google Ads campaign report", "spend",
        signature=("campaign", "currencycode", "cost([a-z]{3})?", "impr"),
        columns=(("month|day|date", "period"), ("cost([a-z]{3})?", "amount"), ("currencycode", "currency"),
                 ("campaign", "description")),
        drops=(Drop("campaign", _TOTAL, _AD_TOTALS, code="total_row_dropped"),
               Drop(FIRST_COLUMN, _TOTAL, _AD_TOTALS, code="total_row_dropped")),
        channel_from=ChannelFrom("campaigntype", {
            "search": "Paid Search", "shopping": "Paid Search", "performance max": "Paid Search",
            "display": "Display", "video": "Display", "demand gen": "Paid Social", "discovery": "Paid Social"}),
        default_category=MEDIA_CATEGORY, default_channel="Paid Search",
        notes="Segment the report by Month or Day: a report without a time column has no period (nor one by "
              "week, whose days straddle months). The vendor is not set; the campaign is the description."),
    Preset(
        "microsoft_ads", "Microsoft Advertising campaign performance report", "spend",
        signature=("campaignname", "currencycode", "spend", "impressions"),
        columns=(("month|day|gregoriandate|timeperiod", "period"), ("spend", "amount"),
                 ("currencycode", "currency"), ("campaignname", "description")),
        ignored=("accountname",),
        drops=(Drop("month|day|gregoriandate|timeperiod", r"(©|\(c\)|copyright).*",
                    "the report's copyright footer"),
               Drop("campaignname|month|day|gregoriandate|timeperiod", _TOTAL, _AD_TOTALS, code="total_row_dropped")),
        channel_from=ChannelFrom("campaigntype", {
            "search": "Paid Search", "search & content": "Paid Search", "shopping": "Paid Search",
            "performance max": "Paid Search", "audience": "Display"}),
        default_category=MEDIA_CATEGORY, default_channel="Paid Search", date_format="%m/%d/%Y",
        notes="Dates as the US interface writes them (month first)."),
    Preset(
        "meta_ads", "Meta Ads Manager report", "spend",
        signature=("campaignname", "reportingstarts", "reportingends", "amountspent[a-z]{3}"),
        as_is=("amountspent[a-z]{3}",),
        columns=(("campaignname", "description"), ("currency", "currency")),
        drops=(Drop("campaignname", _TOTAL, _AD_TOTALS, code="total_row_dropped"),),
        span=Span("Reporting starts - Reporting ends", "reportingstarts", "reportingends"),
        default_category=MEDIA_CATEGORY, default_channel="Paid Social",
        notes="The period is the row's reporting span: a day, a calendar month or a quarter (break the "
              "report down by month or day). The currency is the one the amount header names."),
    Preset(
        "linkedin_ads", "LinkedIn Campaign Manager campaign performance report", "spend",
        signature=("startdateinutc", "campaignname", "totalspent([a-z]{3})?", "currency"),
        columns=(("startdateinutc", "period"), ("totalspent([a-z]{3})?", "amount"), ("currency", "currency"),
                 ("campaignname", "description")),
        ignored=("accountname", "campaigngroupname"),
        default_category=MEDIA_CATEGORY, default_channel="Paid Social", date_format="%m/%d/%Y",
        notes="Export by day or month: each row is dated by its first day, which puts it in its month."),
    Preset(
        "stripe_payments", "Stripe payments export (unified_payments.csv)", "revenue",
        signature=("created(date)?utc", "amount", "amountrefunded", "currency", "status", "customerid"),
        columns=(("created(date)?utc", "date"), ("currency", "currency"), ("customerid", "customer_id")),
        ignored=("convertedamount", "convertedamountrefunded", "fee", "convertedcurrency"),
        drops=(Drop("status", "failed|canceled|cancelled|requires_payment_method|blocked",
                    "a payment that failed or was cancelled is not revenue"),
               Drop("captured", "false", "an authorisation never captured is not revenue")),
        derived=(Difference("Amount - Amount Refunded", "revenue", "amount", ("amountrefunded",)),),
        notes="Revenue is the amount less what was refunded of it, on the payment's date (a full refund "
              "leaves 0). Fees are a cost of payment processing, not a reduction of revenue or margin. "
              "The currency is the payment's (Stripe's lowercase `usd` is USD)."),
    Preset(
        "stripe_balance", "Stripe itemised balance change from activity report", "revenue",
        signature=("balancetransactionid", "createdutc", "gross", "fee", "net", "reportingcategory", "customerid"),
        columns=(("createdutc", "date"), ("gross", "revenue"), ("currency", "currency"),
                 ("customerid", "customer_id")),
        ignored=("net", "fee", "created", "availableonutc", "availableon", "customerfacingamount",
                 "customerfacingcurrency"),
        drops=(Drop("reportingcategory", "charge|refund|dispute|dispute_reversal|partial_capture_reversal",
                    "a payout, transfer, Stripe fee or other balance change is not revenue", unless=True),),
        notes="Charges are revenue (gross, before Stripe's fee); refunds and disputes (negative) reduce it on "
              "their own date. Payouts, transfers, fees and other balance changes are left out."),
    Preset(
        "shopify_orders", "Shopify orders export", "revenue",
        signature=("name", "email", "financialstatus", "paidat", "subtotal", "shipping", "taxes", "total",
                   "refundedamount", "lineitemname"),
        columns=(("paidat", "date"), ("email", "customer_id"), ("currency", "currency")),
        ignored=("createdat", "source", "id", "discountamount"),
        line_items=LineItems("name", ("subtotal", "shipping", "taxes", "total", "refundedamount")),
        drops=(Drop("financialstatus", "voided|pending|authorized|expired|refunded",
                    "a voided, pending, unpaid or fully refunded order is not revenue"),),
        derived=(Difference("Total - Taxes - Refunded Amount", "revenue", "total",
                            ("taxes", "refundedamount")),),
        notes="One order is one revenue row, its first row: the rows after it are its line items. Revenue "
              "is Total (after discounts, with shipping) less Taxes and Refunded Amount (which is all a "
              "partial refund gave back, its tax included). The customer is the order's email."),
    Preset(
        "chargebee_invoices", "Chargebee invoices export", "revenue",
        signature=("invoicenumber", "invoicedate", "customerid", "status", "amount", "amountadjusted"),
        columns=(("invoicedate", "date"), ("customerid", "customer_id"), ("currency", "currency")),
        ignored=("amountpaid", "amountdue", "creditsapplied", "paidon"),
        drops=(Drop("status", "paid", "an invoice not paid (voided, not paid, payment due, pending) is not "
                    "revenue yet", unless=True),),
        derived=(Difference("Amount - Amount Adjusted", "revenue", "amount", ("amountadjusted",)),),
        notes="Paid invoices only, on their invoice date. Credit notes adjusted against an invoice reduce "
              "it; credits applied from a customer's balance are still revenue."),
    Preset(
        "quickbooks_gl", "QuickBooks General Ledger / Transaction Detail by Account", "spend",
        signature=("", "date", "transactiontype", "num", "split", "amount"),
        columns=(("date", "period"), ("amount", "amount"), ("name", "vendor"), ("memodescription", "description")),
        ignored=("balance",),
        drops=(Drop("", _TOTAL, "an account's or the report's total line", code="total_row_dropped"),
               Drop("", r"(accrual|cash) basis.*", "the report's footer")),
        sections=Sections("", "Account", "category"),
        date_format="%m/%d/%Y",
        notes="The category is the account heading above each row (`6100 Advertising`): map accounts to "
              "categories with `--category-map`. Total and footer lines are left out."),
    Preset(
        "xero_account_transactions", "Xero Account Transactions / General Ledger Detail", "spend",
        signature=("date", "source", "description", "reference", "debit", "credit", "runningbalance"),
        columns=(("date", "period"), ("description", "description")),
        ignored=("source", "runningbalance", "gross", "gst", "vat", "tax"),
        drops=(Drop("date", _TOTAL, "an account's total line", code="total_row_dropped"),
               Drop("date", "(opening|closing) balance", "a balance line, not a transaction")),
        derived=(Difference("Debit - Credit", "amount", "debit", ("credit",)),),
        sections=Sections("date", "Account", "category"),
        notes="The amount is Debit less Credit (a credit is a refund of spend); the category is the account "
              "heading above each row: map accounts with `--category-map`."),
    Preset(
        "netsuite_gl", "NetSuite General Ledger detail (saved search)", "spend",
        signature=("account", "type", "date", "documentnumber", "name", "memo", "debit", "credit"),
        columns=(("date", "period"), ("account", "category"), ("name", "vendor"), ("memo", "description")),
        ignored=("balance", "type"),
        drops=(Drop("account|date", _TOTAL, "the report's total line", code="total_row_dropped"),),
        derived=(Difference("Debit - Credit", "amount", "debit", ("credit",)),),
        date_format="%m/%d/%Y",
        notes="The amount is Debit less Credit; the category is the account: map accounts with "
              "`--category-map`."),
    Preset(
        "hubspot_contacts", "HubSpot contacts export", "customers",
        signature=("recordid", "lifecyclestage", "originalsource", "becameacustomerdate"),
        columns=(("recordid", "customer_id"), ("becameacustomerdate", "acquired_on"),
                 ("originalsource", "channel")),
        ignored=("createdate",),
        drops=(Drop("becameacustomerdate", "", "a contact who never became a customer"),),
        notes="Customers only: a contact without a `Became a Customer Date` is left out. The channel is "
              "HubSpot's `Original Source`."),
    Preset(
        "salesforce_opportunities", "Salesforce opportunities report", "customers",
        signature=("opportunityname", "accountname", "stage", "closedate"),
        columns=(("accountid|account18digitid", "customer_id"), ("accountname", "customer_id"),
                 ("closedate", "acquired_on"), ("leadsource", "channel")),
        ignored=("createddate",),
        drops=(Drop("opportunityowner|accountname|opportunityname",
                    r"(confidential information.*|copyright.*salesforce.*|generated by.*)",
                    "the report's footer"),
               Drop("stage", "closed won", "an opportunity not won is no customer", unless=True),
               Drop("type", "existing.*|renewal.*|upsell.*", "a deal with an existing customer is no new "
                    "customer")),
        date_format="%m/%d/%Y",
        notes="New customers only: won opportunities whose Type is not an existing customer's. The customer "
              "is the Account ID (else the Account Name), acquired on the Close Date."),
)}


def _ledger_twin(spend: Preset, name: str, title: str, notes: str) -> Preset:
    """A general-ledger export read as the ledger itself (``gl``): the account it books each row to is kept as
    the account, for the reconciliation to map, rather than taken as the spend's cost category."""
    return replace(
        spend, name=name, title=title, kind="gl", notes=notes,
        columns=tuple((header, "account" if target == "category" else target) for header, target in spend.columns),
        sections=replace(spend.sections, target="account") if spend.sections else None)


_KEPT = ("Each row's account is kept as the ledger names it; map accounts to cost categories with "
         "`python -m finance gl map`.")
for _spend, _name, _title, _notes in (
        ("quickbooks_gl", "quickbooks_ledger", "QuickBooks General Ledger, as the ledger to reconcile to",
         "The account is the heading above each row (`6100 Advertising`). Total and footer lines are left out. "
         + _KEPT),
        ("xero_account_transactions", "xero_ledger", "Xero Account Transactions, as the ledger to reconcile to",
         "The amount is Debit less Credit; the account is the heading above each row. " + _KEPT),
        ("netsuite_gl", "netsuite_ledger", "NetSuite General Ledger detail, as the ledger to reconcile to",
         "The amount is Debit less Credit; the account is the Account column. " + _KEPT)):
    PRESETS[_name] = _ledger_twin(PRESETS[_spend], _name, _title, _notes)
"""Every preset by name (``--preset NAME``)."""


def preset(name: str) -> Preset:
    """The preset named ``name``; an unknown name lists the valid ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}, or {NO_PRESET!r}") from None


def check_choice(name: str | None, kind: str) -> str | None:
    """Why a chosen preset cannot read a ``kind`` file, or None when it can (or none is chosen)."""
    if name is None or name == NO_PRESET:
        return None
    if name not in PRESETS:
        return f"unknown preset {name!r}; valid: {', '.join(PRESETS)}, or {NO_PRESET!r} (no preset)"
    if PRESETS[name].kind != kind:
        valid = [p.name for p in PRESETS.values() if p.kind == kind]
        return (f"the preset {name!r} reads {PRESETS[name].kind} files, not {kind}; "
                f"{kind} presets: {', '.join(valid) or 'none'}")
    return None


def candidates(kind: str, chosen: str | None) -> list[Preset]:
    if chosen == NO_PRESET:
        return []
    if chosen is not None:
        return [PRESETS[chosen]]
    return [p for p in PRESETS.values() if p.kind == kind]


def header_test(kind: str, chosen: str | None,
                contract_test: Callable[[list[str]], bool]) -> Callable[[list[str]], bool]:
    """Recognises the header record: the contract's own test, or a preset's signature (below title lines)."""
    presets = candidates(kind, chosen)

    def is_header(record: list[str]) -> bool:
        return contract_test(record) or any(p.fits(record) for p in presets)

    return is_header


class _Options(Protocol):
    """What a preset reads of the import options (``prepare.ImportOptions``) and sets in them."""

    @property
    def preset(self) -> str | None: ...
    @property
    def column_map(self) -> Mapping[str, str]: ...
    @property
    def default_category(self) -> str | None: ...
    @property
    def default_channel(self) -> str | None: ...
    @property
    def date_format(self) -> str | None: ...
    @property
    def decimal_comma(self) -> bool: ...


Options = TypeVar("Options", bound=_Options)


def apply(contract: FileKind, headers: list[str], header_row: int,
          options: Options) -> tuple[Applied, Options] | list[Problem] | None:
    """The preset that reads this header, with the options it sets; None when none fits (the file is
    read by the contract alone); problems when the chosen preset does not fit, or two presets do."""
    fitting = [p for p in candidates(contract.kind, options.preset) if p.fits(headers)]
    if options.preset not in (None, NO_PRESET) and not fitting:
        chosen = PRESETS[options.preset]  # type: ignore[index]
        folded = [normalise_header(h) for h in headers]
        absent = [pattern for pattern in chosen.signature if _index(folded, pattern) is None]
        return [problem("preset_mismatch", f"the header is not the {chosen.title}'s: no column like "
                        f"{', '.join(repr(a) for a in absent)} (headers are matched ignoring case, spaces and "
                        "punctuation)", row=header_row, value=chosen.name)]
    if len(fitting) > 1:
        names = ", ".join(p.name for p in fitting)
        return [problem("preset_ambiguous", f"the header fits several known exports ({names}); choose the one "
                        "it is, or none", row=header_row, value=names)]
    if not fitting:
        return None
    applied = Applied(fitting[0], contract, headers, header_row, options.decimal_comma)
    return applied, replace(  # type: ignore[type-var]
        options, column_map={**applied.column_map, **options.column_map},
        default_category=options.default_category or fitting[0].default_category,
        default_channel=options.default_channel or fitting[0].default_channel,
        date_format=options.date_format or fitting[0].date_format)


@dataclass
class _Tally:
    rows: int = 0
    first: int = 0
    value: str = ""


@dataclass
class Applied:
    """A preset at work on one file: its new header row, and each block's cells transformed."""

    preset: Preset
    contract: FileKind
    source_headers: list[str]
    header_row: int
    decimal_comma: bool = False
    headers: list[str] = field(init=False)
    """The header row the contract reads: kept columns as written, then the derived ones."""
    column_map: dict[str, str] = field(init=False)
    dropped: dict[int, _Tally] = field(init=False, default_factory=dict)
    """Rule index (``len(drops)``: line items, ``+1``: account headings) -> rows left out."""
    errors: list[Problem] = field(init=False, default_factory=list)
    _listed: dict[tuple[str, str | None], int] = field(init=False, default_factory=dict)
    _errors_more: dict[tuple[str, str | None], int] = field(init=False, default_factory=dict)
    _seen_orders: dict[str, int] = field(init=False, default_factory=dict)
    _open: list[str] = field(init=False, default_factory=list)
    """The account headings open at the end of the last block, innermost last."""
    _current: str = field(init=False, default="")
    ignored: list[str] = field(init=False)
    """Columns of the file the preset leaves out (beside the ones the contract ignores)."""
    _find: Callable[[str], int | None] = field(init=False)
    _mapped: dict[int, str] = field(init=False)
    _keep: list[int] = field(init=False)
    _channel_index: int | None = field(init=False)

    def __post_init__(self) -> None:
        p, folded = self.preset, [normalise_header(h) for h in self.source_headers]

        def find(pattern: str) -> int | None:
            return _index(folded, pattern)

        self._find = find
        consumed: set[int] = set()
        mapped: list[tuple[int, str]] = []
        claimed: set[str] = set()
        for pattern, target in p.columns:
            index = find(pattern)
            if index is None or target in claimed or index in {i for i, _ in mapped}:
                continue
            mapped.append((index, target))
            claimed.add(target)
        for pattern in p.as_is:
            if (index := find(pattern)) is not None:
                claimed.add(self.contract.header_lookup.get(_bare(self.source_headers[index]), ""))
        derived_targets = [d.target for d in p.derived] + ["period"] * bool(p.span)
        derived_targets += ["channel"] * bool(p.channel_from and find(p.channel_from.column) is not None)
        derived_targets += [p.sections.target] if p.sections else []
        claimed.update(derived_targets)
        claimed.update(t for t, d in (("category", p.default_category), ("channel", p.default_channel)) if d)
        for d in p.derived:
            consumed.update(i for i in (find(d.plus), *map(find, d.minus)) if i is not None)
        if p.span:
            consumed.update(i for i in (find(p.span.start), find(p.span.end)) if i is not None)
        for rule in p.drops:
            consumed.update(i for i in (find(rule.column),) if i is not None)
        if p.channel_from and (i := find(p.channel_from.column)) is not None:
            consumed.add(i)
        if p.sections and (i := find(p.sections.column)) is not None:
            consumed.add(i)
        explicitly_ignored = {i for pattern in p.ignored if (i := find(pattern)) is not None}
        consumed.update(explicitly_ignored)
        consumed -= {i for i, _ in mapped}
        self._mapped = dict(mapped)
        keep: list[int] = []
        for index, header in enumerate(self.source_headers):
            if index in self._mapped:
                keep.append(index)
            elif index not in consumed:
                # Any other column is read as the contract reads it, unless it would claim a column the
                # preset fills (a Shopify ``Created at`` next to its ``Paid at``).
                reads = self.contract.header_lookup.get(_bare(header))
                if reads is None or reads not in claimed or any(re.fullmatch(a, folded[index]) for a in p.as_is):
                    keep.append(index)
        self._keep = keep
        self.ignored = [self.source_headers[i] for i in range(len(self.source_headers))
                        if i not in keep and (i not in consumed or i in explicitly_ignored)]
        self.headers = [self.source_headers[i] for i in keep]
        self.column_map = {self.source_headers[i]: self._mapped[i] for i in keep if i in self._mapped}
        for d in p.derived:
            self.headers.append(d.header)
            self.column_map[d.header] = d.target
        if p.span:
            self.headers.append(p.span.header)
            self.column_map[p.span.header] = "period"
        self._channel_index = find(p.channel_from.column) if p.channel_from else None
        if self._channel_index is not None:
            header = self.source_headers[self._channel_index]
            self.headers.append(header)
            self.column_map[header] = "channel"
        if p.sections:
            self.headers.append(p.sections.header)
            self.column_map[p.sections.header] = p.sections.target

    # -- each block ------------------------------------------------------------------------------
    def transform(self, cells: pl.DataFrame, ragged: list[tuple[int, int]]
                  ) -> tuple[pl.DataFrame, list[tuple[int, int]]]:
        """The block's cells as the contract reads them (``row``, c0, c1, ...), and its ragged rows left."""
        p = self.preset
        names = [c for c in cells.columns if c != "row"]
        text = cells.select("row", *[pl.col(c).str.strip_chars() for c in names])
        blank = text.select(pl.all_horizontal([pl.col(c) == "" for c in names]).alias("b")).get_column("b")
        left = ~blank  # rows a rule may still claim (blank rows are the contract's to count)
        drop = pl.Series([False] * cells.height)
        if p.line_items and (key := self._find(p.line_items.key)) is not None:
            drop = drop | self._line_items(text, key, left)
            left = left & ~drop
        section_index = self._find(p.sections.column) if p.sections else None
        closing = pl.Series([False] * cells.height)
        for number, rule in enumerate(p.drops):
            index = self._find(rule.column)
            if index is None:
                continue
            cell = text.get_column(f"c{index}")
            hit = cell.str.contains(f"(?is)^(?:{rule.values})$").fill_null(False)
            hit = (~hit if rule.unless else hit) & left
            self._count(number, text, hit, cell)
            drop, left = drop | hit, left & ~hit
            if index == section_index and rule.code == "total_row_dropped":
                closing = closing | hit
        section_values: pl.Series | None = None
        if section_index is not None:
            cell = text.get_column(f"c{section_index}")
            others = [pl.col(c) == "" for c in names if c != f"c{section_index}"]
            heading = text.select((pl.all_horizontal(others) if others else pl.lit(True)).alias("h")
                                  ).get_column("h") & (cell != "") & left
            self._count(len(p.drops) + 1, text, heading, cell)
            section_values = self._sections(cell, heading, closing)
            drop = drop | heading
        kept = ~drop
        out = [cells.get_column(f"c{i}").alias(f"n{j}") for j, i in enumerate(self._keep)]
        failed = pl.Series([False] * cells.height)
        for d in p.derived:
            values, bad = self._difference(text, d, kept)
            out.append(values)
            failed = failed | bad
        if p.span:
            values, bad = self._span(text, p.span, kept)
            out.append(values)
            failed = failed | bad
        if self._channel_index is not None and p.channel_from:
            values = text.get_column(f"c{self._channel_index}")
            channels = {k.casefold(): v for k, v in p.channel_from.channels.items()}
            out.append(values.str.to_lowercase().replace_strict(channels, default="", return_dtype=pl.String))
        if section_values is not None:
            out.append(section_values)
        frame = pl.DataFrame([cells.get_column("row"), *[s.alias(f"c{j}") for j, s in enumerate(out)]])
        # A blank row stays blank, whatever a preset would derive for it (the contract skips it).
        derived = [f"c{j}" for j in range(len(self._keep), len(out))]
        # A row whose derived cell is an error is reported once, at the cell it comes from: not checked further.
        frame = frame.with_columns(pl.when(pl.Series(blank)).then(pl.lit("")).otherwise(pl.col(c)).alias(c)
                                   for c in derived).filter(kept & ~failed)
        if not ragged:
            return frame, ragged
        dropped_rows = set(cells.get_column("row").filter(drop).to_list())
        return frame, [r for r in ragged if r[0] not in dropped_rows]

    def _sections(self, cell: pl.Series, heading: pl.Series, closing: pl.Series) -> pl.Series:
        """The account of each row: the heading above it, nested headings closed by their total lines.

        A heading opens an account (a sub-account inside the one open); an account's total line closes
        it, so the rows after a sub-account's total are the parent's again, and rows after the last
        total belong to no account (a missing category, never the wrong one). Carried across blocks.
        """
        events = (heading | closing).arg_true().to_list()
        at_event: list[str] = []
        for position in events:
            if heading[position]:
                self._open.append(cell[position])
            elif self._open:
                self._open.pop()
            at_event.append(self._open[-1] if self._open else "")
        before = self._current
        if at_event:
            self._current = at_event[-1]
        marks = pl.Series([None] * cell.len(), dtype=pl.String).scatter(events, at_event) if events else \
            pl.Series([None] * cell.len(), dtype=pl.String)
        return marks.forward_fill().fill_null(before)

    def _count(self, number: int, text: pl.DataFrame, hit: pl.Series, cell: pl.Series) -> None:
        count = int(hit.sum())
        if not count:
            return
        tally = self.dropped.setdefault(number, _Tally())
        if not tally.rows:
            first = hit.arg_true()[0]
            tally.first, tally.value = int(text.get_column("row")[first]), _clip(str(cell[first]))
        tally.rows += count

    def _listing(self, code: str, column: str | None) -> bool:
        """Whether the next ``code`` error at ``column`` is listed (True) or only counted."""
        key = (code, column)
        if self._listed.get(key, 0) < LISTED_PER_RULE:
            self._listed[key] = self._listed.get(key, 0) + 1
            return True
        self._errors_more[key] = self._errors_more.get(key, 0) + 1
        return False

    def _line_items(self, text: pl.DataFrame, key: int, left: pl.Series) -> pl.Series:
        """Rows after an order's first: its line items (dropped), or an error if one carries totals again."""
        assert self.preset.line_items is not None
        keys = text.get_column(f"c{key}")
        later = (~keys.is_first_distinct() | keys.is_in(list(self._seen_orders))) & left & (keys != "")
        totals = [i for t in self.preset.line_items.totals if (i := self._find(t)) is not None]
        again = later & text.select(pl.any_horizontal([pl.col(f"c{i}") != "" for i in totals] or [pl.lit(False)])
                                    .alias("t")).get_column("t")
        rows = text.get_column("row")
        for position in (left & ~later & (keys != "")).arg_true().to_list():
            self._seen_orders.setdefault(keys[position], int(rows[position]))
        header = self.source_headers[key]
        for position in again.arg_true().to_list():
            if self._listing("order_repeated", header):
                order = _clip(keys[position])
                self.errors.append(problem(
                    "order_repeated", f"the order {order!r} already starts at row {self._seen_orders[keys[position]]}: "
                    "only an order's first row carries its totals, so this row would count it twice (is the order "
                    "in the file twice?)", row=int(rows[position]), column=header, value=order))
        self._count(len(self.preset.drops), text, later & ~again, keys)
        return later

    def _difference(self, text: pl.DataFrame, d: Difference, kept: pl.Series) -> tuple[pl.Series, pl.Series]:
        """``plus - minus...`` exactly (Decimal), as text; a cell that is no amount is an error at its column."""
        operands = [i for i in (self._find(d.plus), *map(self._find, d.minus))]
        present = [i for i in operands if i is not None]
        rows = text.get_column("row")
        total: pl.Series | None = None
        all_blank = pl.Series([True] * text.height)
        bad = pl.Series([False] * text.height)
        for position, index in enumerate(operands):
            if index is None:
                continue
            cell = text.get_column(f"c{index}").replace("", None)
            all_blank = all_blank & cell.is_null()
            amounts, codes = parse_money(cell, decimal_comma=self.decimal_comma)
            failed = codes.is_not_null() & ~codes.is_in(list(MONEY_WARNINGS)) & kept
            column = self.source_headers[index]
            for at in failed.arg_true().to_list():
                if self._listing(codes[at], column):
                    self.errors.append(problem(
                        codes[at], f"expected an amount such as 1234.56 or -50 (the preset derives {d.header!r} from "
                        "it)", row=int(rows[at]), column=column, value=_clip(str(cell[at]))))
            bad = bad | failed
            signed = amounts.fill_null(0) if position == 0 else -amounts.fill_null(0)
            total = signed if total is None else total + signed
        if total is None or not present:
            return pl.Series([""] * text.height, dtype=pl.String), bad
        return pl.select(pl.when(pl.Series(all_blank) | pl.Series(bad)).then(pl.lit(""))
                         .otherwise(pl.Series(total).cast(pl.String).str.replace(_TRAILING_ZEROS, "${1}")
                                    )).to_series(), bad

    def _span(self, text: pl.DataFrame, span: Span, kept: pl.Series) -> tuple[pl.Series, pl.Series]:
        """Each row's period from its first and last day: the day, the month or the quarter they span."""
        starts, ends = (self._find(span.start), self._find(span.end))
        if starts is None or ends is None:
            return pl.Series([""] * text.height, dtype=pl.String), pl.Series([False] * text.height)
        pairs = text.select("row", s=pl.col(f"c{starts}"), e=pl.col(f"c{ends}"))
        distinct = pairs.select("s", "e").unique()  # each span read once: a report has few
        labels = distinct.with_columns(label=pl.Series([_span_label(a, b) for a, b in distinct.iter_rows()],
                                                       dtype=pl.String))
        keyed = pairs.join(labels, on=["s", "e"], how="left", maintain_order="left")
        bad = keyed.get_column("label").str.starts_with("\x00")
        for row, first, last, why in keyed.filter(bad & kept).iter_rows():
            if self._listing("invalid_period", span.header):
                self.errors.append(problem("invalid_period", why[1:], row=row, column=span.header,
                                           value=_clip(f"{first} - {last}")))
        return pl.select(pl.when(bad).then(pl.lit("")).otherwise(keyed.get_column("label"))).to_series(), bad

    # -- the file --------------------------------------------------------------------------------
    def problems(self) -> list[Problem]:
        """The preset named, then each rule's rows left out (one problem each), then its errors."""
        p = self.preset
        said = [f"read as the {p.title} (preset {p.name!r})"]
        if self.ignored:
            said.append(f"columns not imported: {', '.join(repr(h) for h in self.ignored)}")
        out = [problem("preset_applied", "; ".join(said), row=self.header_row, value=p.name)]
        reasons = {**{n: (r.code, r.reason, r.column) for n, r in enumerate(p.drops)},
                   len(p.drops): ("preset_row_dropped", "a further line item of an order already read "
                                  "(only an order's first row carries its totals)",
                                  p.line_items.key if p.line_items else ""),
                   len(p.drops) + 1: ("preset_row_dropped", "an account heading: it names the account of the "
                                      "rows below it", p.sections.column if p.sections else "")}
        for number, tally in sorted(self.dropped.items(), key=lambda item: item[1].first):
            code, reason, pattern = reasons[number]
            index = self._find(pattern)
            column = self.source_headers[index] if index is not None else None
            out.append(problem(code, f"{tally.rows:,} row(s) left out: {reason}", row=tally.first,
                               column=column, value=tally.value, count=tally.rows))
        out.extend(self.errors)
        for (code, column), rest in self._errors_more.items():
            out.append(problem(code, f"{rest:,} more rows in this column have this problem", column=column,
                               count=rest))
        return out


_TRAILING_ZEROS = r"(\.[0-9]{2}[0-9]*?)0+$"
"""Zeros past the cents that a decimal's scale adds (``-1492.6300`` is quoted ``-1492.63``); the value is the same."""


def _bare(header: str) -> str:
    """A header folded without the currency it may carry (``Amount spent (USD)``)."""
    return normalise_header(re.sub(r"\s*[\(\[][^\)\]]*[\)\]]\s*$", "", header))


def _span_label(first: str, last: str) -> str:
    """``2025-01`` for a calendar month, ``2025-Q1`` for a quarter, the day for one day; else a message
    starting with NUL (why the span is no period)."""
    start, end = parse_date(first), parse_date(last)
    if not isinstance(start, ParsedDate) or not isinstance(end, ParsedDate):
        return f"\x00the reporting start {first!r} or end {last!r} is not a date"
    a, b = start.value, end.value
    if a == b:
        return a.isoformat()
    month_end = (a.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    if a.day == 1 and b == month_end:
        return f"{a:%Y-%m}"
    if a.day == 1 and a.month % 3 == 1 and b == _quarter_end(a):
        return f"{a.year}-Q{(a.month - 1) // 3 + 1}"
    return (f"\x00the row covers {a.isoformat()} to {b.isoformat()}, which is no day, calendar month or quarter: "
            "break the report down by month or by day")


def _quarter_end(start: date) -> date:
    month = start.month + 3
    year = start.year + (month > 12)
    return date(year, (month - 1) % 12 + 1, 1) - timedelta(days=1)


def _clip(text: str) -> str:
    """A cell as a problem quotes it: whole, or its opening and its length when it is very long."""
    return text if len(text) <= PROBLEM_VALUE_CHARS else f"{text[:PROBLEM_VALUE_CHARS]}... ({len(text)} characters)"
