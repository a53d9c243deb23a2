"""The one place that names things: cost categories, file kinds, columns, segments.

Every other module imports these registries; an unknown key raises an error that lists
the valid choices, so a typo never silently becomes a new category or column.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

MONEY_SCALE = 4
"""Decimal places kept for money in storage: cents are exact, sub-cent vendor rates too."""
MONEY_PRECISION = 18
MONEY_SQL = f"DECIMAL({MONEY_PRECISION},{MONEY_SCALE})"

# Bounds on what an import file may hold, so an odd or hostile file is refused quickly, in
# bounded memory, with a clear problem, and whatever is stored can be shown and exported.
MAX_FIELD_CHARS = 1_000_000
"""The longest field the reader takes, in any column (ignored ones too); a longer one refuses the file."""
MAX_CELL_CHARS = 32_767
"""The longest text a stored cell may hold, counted as Excel counts (UTF-16 units, with the
apostrophe an export puts before text starting with ``=``, ``+``, ``-`` or ``@``): Excel's cell
limit, so every export can write every name."""
MAX_COLUMNS = 1_000
"""The most columns a file may have: far more than any export, far fewer than a hostile header."""


@dataclass(frozen=True)
class CostCategory:
    """A fully loaded CAC cost category, as a CFO reads it."""

    key: str
    label: str
    description: str
    synonyms: tuple[str, ...] = ()
    in_marketing_cac: bool = True
    """False only for ``sales``: it counts in the sales-and-marketing CAC view alone."""


COST_CATEGORIES: tuple[CostCategory, ...] = (
    CostCategory(
        "digital_advertising",
        "Digital advertising",
        "Paid media bought on ad platforms: paid search, paid social, display, video, "
        "programmatic, retargeting. This alone is 'media-only' CAC.",
        (
            "paid search", "ppc", "sem", "search ads", "google ads", "adwords", "bing ads",
            "paid social", "social ads", "facebook ads", "meta ads", "linkedin ads",
            "display", "display ads", "programmatic", "retargeting", "video ads",
            "paid media", "media", "advertising", "digital marketing", "online advertising",
            "ads", "ad spend", "media spend",
        ),
    ),
    CostCategory(
        "content_seo",
        "Content marketing & SEO",
        "Search-engine optimisation and content distribution: SEO agencies and tools' "
        "services, content syndication, organic programmes.",
        ("seo", "content marketing", "content", "organic", "organic search",
         "content syndication", "search engine optimisation", "search engine optimization"),
    ),
    CostCategory(
        "content_creation",
        "Content creation",
        "Producing assets: writers, video and podcast production, whitepapers, "
        "case studies, freelance content.",
        ("copywriting", "video production", "writers", "freelance content", "podcast",
         "content production", "whitepapers", "ebooks"),
    ),
    CostCategory(
        "events",
        "Events",
        "Event management: trade shows, conferences, booths, sponsorships, webinars, "
        "field events and their travel.",
        ("event", "trade shows", "trade show", "tradeshows", "conferences", "conference",
         "sponsorships", "sponsorship", "webinars", "field marketing", "event management",
         "booth"),
    ),
    CostCategory(
        "media_relations",
        "Media relations (PR)",
        "Public relations agencies, press releases and analyst relations.",
        ("pr", "public relations", "press", "press releases", "analyst relations",
         "communications"),
    ),
    CostCategory(
        "influencer",
        "Influencer marketing",
        "Payments to influencers, creators and affiliates for promotion.",
        ("influencers", "influencer marketing", "creators", "affiliates", "affiliate",
         "ambassadors"),
    ),
    CostCategory(
        "creative_services",
        "Creative services",
        "Creative and design agencies, brand work, ad creative production.",
        ("creative", "creative agency", "design", "design agency", "branding", "brand",
         "agency fees", "agency"),
    ),
    CostCategory(
        "website",
        "Website",
        "Website development and maintenance: hosting, CMS, web agency, domains.",
        ("web", "website development", "website maintenance", "hosting", "web hosting",
         "cms", "web development", "domains", "landing pages"),
    ),
    CostCategory(
        "personnel",
        "Personnel",
        "Marketing staff: salaries, payroll taxes, benefits, bonuses, contractors "
        "working as staff, recruiting and training.",
        ("people", "staff", "salaries", "salary", "payroll", "benefits", "wages",
         "headcount", "bonuses", "contractors", "marketing staff", "marketing salaries",
         "training", "recruiting"),
    ),
    CostCategory(
        "martech",
        "Marketing technology",
        "The marketing technology stack: automation, CRM share, analytics, "
        "attribution, data and other software subscriptions.",
        ("marketing technology", "software", "tools", "saas", "subscriptions",
         "marketing automation", "analytics", "crm", "technology", "tech stack",
         "licenses", "licences"),
    ),
    CostCategory(
        "other_vendors",
        "Other vendors",
        "Any other acquisition-related vendor cost: research, lists and data, printing, "
        "direct mail, consultants.",
        ("other", "misc", "miscellaneous", "vendors", "other vendors", "consultants",
         "consulting", "research", "direct mail", "printing", "data", "lists"),
    ),
    CostCategory(
        "sales",
        "Sales",
        "Sales costs: sales salaries, commissions, sales tools and travel. Counted only "
        "in the sales-and-marketing CAC view.",
        ("commissions", "commission", "sales salaries", "sales team", "sales tools",
         "sales travel", "business development", "sdr", "sdrs", "account executives"),
        in_marketing_cac=False,
    ),
)

CATEGORIES: dict[str, CostCategory] = {c.key: c for c in COST_CATEGORIES}
MEDIA_CATEGORY = "digital_advertising"
MARKETING_CATEGORIES: tuple[str, ...] = tuple(c.key for c in COST_CATEGORIES if c.in_marketing_cac)


def category(key: str) -> CostCategory:
    """The category registered under ``key``; an unknown key lists the valid ones."""
    try:
        return CATEGORIES[key]
    except KeyError:
        raise KeyError(f"unknown cost category {key!r}; valid: {', '.join(CATEGORIES)}") from None


def normalise_label(text: str) -> str:
    """Fold a free-text label for matching: lower case, punctuation and spacing as one space."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.casefold().replace("&", " and ")).split())


def _category_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for cat in COST_CATEGORIES:
        for label in (cat.key, cat.label, *cat.synonyms):
            folded = normalise_label(label)
            if lookup.setdefault(folded, cat.key) != cat.key:
                raise AssertionError(f"category synonym {label!r} is claimed twice")
    return lookup


CATEGORY_LOOKUP: dict[str, str] = _category_lookup()
"""Folded label -> canonical category key."""

# Segments: the four customer types of the domain, matched case-insensitively; any other
# text is kept as a segment of its own (the data contract allows free text).
SEGMENTS: dict[str, tuple[str, ...]] = {
    "Enterprise B2B": ("enterprise b2b", "enterprise", "b2b enterprise", "ent", "large enterprise"),
    "SMB": ("smb", "small business", "small and medium business", "sme", "mid market",
            "midmarket", "small medium business"),
    "DTC": ("dtc", "d2c", "direct to consumer", "consumer", "b2c", "ecommerce"),
    "B2B2C": ("b2b2c", "indirect", "partner led"),
}
SEGMENT_LOOKUP: dict[str, str] = {
    normalise_label(s): canonical for canonical, syns in SEGMENTS.items() for s in (canonical, *syns)
}

# Billing intervals: how often a subscription pays, i.e. the term one payment buys. Matched
# ignoring case, spaces, hyphens, underscores and a plural ("Semi-annual" = "semiannual",
# "3 month" = "3 months"); a bare number is a count of months. Any other text is an error:
# a wrong term would misstate lifetimes.
BILLING_INTERVALS: dict[str, tuple[str, ...]] = {
    "month": ("monthly", "mo", "m", "mth", "1", "1m", "1 month", "every month", "per month",
              "month to month"),
    "quarter": ("quarterly", "q", "qtr", "3", "3m", "3 months", "every 3 months", "every quarter",
                "per quarter"),
    "half-year": ("half-yearly", "semiannual", "semiannually", "6", "6m", "6 months", "every 6 months"),
    "year": ("yearly", "annual", "annually", "y", "yr", "12", "12m", "12 months", "1 year", "1y",
             "every year", "every 12 months", "per year", "per annum"),
}
BILLING_INTERVAL_MONTHS: dict[str, int] = {"month": 1, "quarter": 3, "half-year": 6, "year": 12}
"""Months one payment covers, per stored interval."""


def normalise_interval(text: str) -> str:
    """Fold a billing-interval cell: case, spaces, hyphens, underscores and a plural are ignored; 12.0 is 12."""
    folded = re.sub(r"[\s\-_]+", "", text.casefold())
    folded = re.sub(r"(month|mth|mo|quarter|year|yr)s$", r"\1", folded)  # 3 months = 3 month
    return re.sub(r"^([0-9]+)\.0+$", r"\1", folded)


def _interval_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for interval, synonyms in BILLING_INTERVALS.items():
        for label in (interval, *synonyms):
            if lookup.setdefault(normalise_interval(label), interval) != interval:
                raise AssertionError(f"billing interval spelling {label!r} is claimed twice")
    return lookup


BILLING_INTERVAL_LOOKUP: dict[str, str] = _interval_lookup()
"""Folded spelling -> stored interval (month, quarter, half-year or year)."""

Kind = Literal["spend", "funnel", "customers", "revenue"]
KINDS: tuple[Kind, ...] = ("spend", "funnel", "customers", "revenue")
MONEY_KINDS: tuple[Kind, ...] = ("spend", "revenue")
"""Files whose import total is an amount of money; the others' totals are counts (customers, funnel volumes)."""

ColumnType = Literal["period", "date", "category", "text", "money", "count", "segment", "currency",
                     "interval"]


@dataclass(frozen=True)
class Column:
    """One column of an import file's contract."""

    name: str
    type: ColumnType
    required: bool = False
    synonyms: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class FileKind:
    """The contract of one kind of import file."""

    kind: Kind
    description: str
    columns: tuple[Column, ...]
    period_column: str
    measure: str
    """The column summed per period in import summaries and the imports log."""
    header_lookup: dict[str, str] = field(default_factory=dict, compare=False)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.kind} has no column {name!r}; valid: {self.column_names}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


def channel_name_key(name: str) -> str:
    """How channels match across files: ignoring case and spacing ("Paid search" = "Paid  Search")."""
    return " ".join(name.lower().split())


def normalise_header(text: str) -> str:
    """Fold a header for matching: case, spaces and punctuation are ignored."""
    return re.sub(r"[^0-9a-z]+", "", text.casefold())


def _file_kind(kind: Kind, description: str, columns: tuple[Column, ...], period_column: str,
               measure: str) -> FileKind:
    lookup: dict[str, str] = {}
    for col in columns:
        for name in (col.name, *col.synonyms):
            folded = normalise_header(name)
            if lookup.setdefault(folded, col.name) != col.name:
                raise AssertionError(f"{kind}: header synonym {name!r} is claimed twice")
    return FileKind(kind, description, columns, period_column, measure, lookup)


_CHANNEL = Column(
    "channel", "text",
    synonyms=("marketing channel", "source", "utm source", "acquisition channel", "lead source",
              "campaign channel", "original source", "default channel group", "channel group",
              "session default channel group", "first touch channel"),
    description="Marketing channel, free text (e.g. Paid Search).",
)

FILE_KINDS: dict[Kind, FileKind] = {
    "spend": _file_kind(
        "spend",
        "Marketing and sales spend from the ledger, ad platforms and agencies.",
        (
            Column("period", "period", True,
                   ("quarter", "month", "date", "fiscal period", "posting date",
                    "period name", "fiscal quarter", "day", "year month", "transaction date",
                    "invoice date", "posting period", "accounting period"),
                   "The period the cost belongs to: a date, month or quarter."),
            Column("category", "category", True,
                   ("cost category", "cost type", "expense category", "expense type",
                    "spend category", "type", "account", "gl account", "account name",
                    "gl account name", "expense account"),
                   "Cost category: a canonical key or a documented synonym."),
            Column("channel", "text", False,
                   _CHANNEL.synonyms,
                   "Marketing channel; blank for shared costs (personnel, martech, ...)."),
            Column("amount", "money", True,
                   ("spend", "cost", "amount spent", "total", "value", "net amount",
                    "expense", "debit"),
                   "Amount in the reporting currency; negative for credits."),
            Column("currency", "currency", False, ("ccy", "currency code", "curr")),
            Column("vendor", "text", False, ("supplier", "payee", "vendor name", "partner")),
            Column("description", "text", False, ("memo", "notes", "note", "details", "line description")),
        ),
        "period",
        "amount",
    ),
    "funnel": _file_kind(
        "funnel",
        "Funnel volumes per period and channel from ad platforms, analytics and the CRM.",
        (
            Column("period", "period", True, ("quarter", "month", "date", "week", "day", "year month")),
            Column("channel", "text", True, _CHANNEL.synonyms),
            Column("leads", "count", True, ("lead count", "new leads", "total leads", "contacts")),
            Column("visitors", "count", False, ("visits", "sessions", "users", "unique visitors",
                                                "website visitors")),
            Column("event_attendees", "count", False, ("attendees", "event attendance",
                                                       "registrants attended")),
            Column("mqls", "count", False, ("mql", "marketing qualified leads")),
            Column("sqls", "count", False, ("sql", "sales qualified leads")),
            Column("opportunities", "count", False, ("opps", "opportunity", "deals", "pipeline deals")),
        ),
        "period",
        "leads",
    ),
    "customers": _file_kind(
        "customers",
        "New customers with acquisition date, channel and segment from the CRM.",
        (
            Column("customer_id", "text", True, ("customer", "customer number", "account id",
                                                 "client id", "id", "customer no", "cust id",
                                                 "record id", "contact id")),
            Column("acquired_on", "date", True, ("acquired", "acquisition date", "signup date",
                                                 "sign up date", "created", "created at",
                                                 "first order date", "close date", "won date",
                                                 "start date", "date", "became a customer date",
                                                 "customer since", "first purchase date")),
            Column("channel", "text", False, _CHANNEL.synonyms),
            Column("segment", "segment", False, ("customer segment", "customer type", "tier")),
            Column("billing_interval", "interval", False,
                   ("billing interval", "billing period", "billing frequency", "billing cycle",
                    "billing term", "plan interval", "subscription interval", "subscription term",
                    "term", "contract term", "payment frequency", "payment interval",
                    "renewal frequency", "interval"),
                   "How often the customer pays: month, quarter, half-year or year; "
                   "blank when unknown (detected from the revenue ledger)."),
        ),
        "acquired_on",
        "customers",
    ),
    "revenue": _file_kind(
        "revenue",
        "Revenue ledger per customer and date from billing.",
        (
            Column("customer_id", "text", True, ("customer", "customer number", "account id",
                                                 "client id", "cust id", "customer no")),
            Column("date", "date", True, ("invoice date", "order date", "transaction date",
                                          "billing date", "paid at", "created at", "period",
                                          "created utc", "created", "day", "month")),
            Column("revenue", "money", True, ("amount", "net revenue", "sales", "total",
                                              "invoice amount", "order value")),
            Column("gross_margin", "money", False, ("margin", "gross profit", "gm")),
            Column("cost", "money", False, ("cogs", "cost of goods sold", "cost of revenue")),
            Column("segment", "segment", False, ("customer segment", "customer type")),
            Column("channel", "text", False, _CHANNEL.synonyms),
            Column("currency", "currency", False, ("ccy", "currency code", "curr")),
        ),
        "date",
        "revenue",
    ),
}


def file_kind(kind: str) -> FileKind:
    """The contract for ``kind``; an unknown kind lists the valid ones."""
    try:
        return FILE_KINDS[kind]  # type: ignore[index]
    except KeyError:
        raise KeyError(f"unknown file kind {kind!r}; valid: {', '.join(KINDS)}") from None


DEFAULT_CURRENCY = "USD"


# Health bands of LTV:CAC. "Anything over 2-3x is pretty healthy"; below 1x each new customer
# destroys value; very high ratios suggest under-investment in growth. Edges are
# configurable; each band includes its lower edge (a ratio of exactly 2.0 is "healthy").
DEFAULT_BAND_EDGES: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0)
BAND_LABELS: tuple[str, ...] = ("unprofitable", "at risk", "healthy", "strong", "under-investing?")


def check_band_edges(edges: tuple[float, ...]) -> tuple[float, ...]:
    """Four increasing, positive edges for the five bands, or a ValueError saying why."""
    if len(edges) != len(BAND_LABELS) - 1:
        raise ValueError(f"band edges need {len(BAND_LABELS) - 1} numbers, got {len(edges)}")
    if not all(math.isfinite(e) and e > 0 for e in edges) or any(b <= a for a, b in pairwise(edges)):
        raise ValueError(f"band edges must be finite, positive and increasing, got {edges}")
    return tuple(float(e) for e in edges)


def band_of(ratio: float | None, edges: tuple[float, ...] = DEFAULT_BAND_EDGES) -> str | None:
    """The health band of an LTV:CAC ratio; None for an unknown ratio."""
    if ratio is None or ratio != ratio:  # NaN
        return None
    position = sum(1 for edge in edges if ratio >= edge)
    return BAND_LABELS[position]
