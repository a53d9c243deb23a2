"""Deterministic generator of the demo company, Northwind Analytics.

Northwind Analytics sells an analytics product to three kinds of customer:

* **Enterprise B2B** (about 5% of new customers): annual-priced subscriptions billed
  monthly, won through events, outbound sales, content and paid search after a long
  funnel (marketing spend runs about four months ahead of the deals it produces);
* **SMB** (about 30%): self-serve subscription plans, mostly from search and content;
* **DTC** (about 65%): a consumer budgeting app whose users buy report packs and
  add-ons again and again, mostly won through paid social, paid search, display and
  affiliate partners.

``generate`` writes the four import files of the data contract (``spend.csv``,
``funnel.csv``, ``customers.csv``, ``revenue.csv``), and the general ledger the spend is reconciled
to (``gl.csv``, with its accounts' categories in ``gl-accounts.csv``). Everything is drawn from one seeded
``numpy.random.default_rng`` and built with vectorised numpy and polars, so the same
arguments always give byte-identical files and a million customers take seconds.

The economics follow the models the dashboard uses to value customers:

* subscriptions churn with a per-customer monthly probability drawn from a beta
  distribution (the shifted-beta-geometric model), so retention curves flatten;
* DTC customers buy by a BG/NBD process (Poisson purchase rate drawn from a gamma,
  dropout after each purchase with a probability drawn from a beta) and spend per order
  follows a gamma-gamma model;
* spend, funnel volumes and acquisitions are driven by the same expected-acquisition
  curve, so CPL, CAC and LTV:CAC come out in believable ranges at any ``--customers``.

Money is generated as integer cents and written as plain ``1234.56`` text.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import polars as pl

COMPANY = "Northwind Analytics"
DEFAULT_SEED = 20230101
DEFAULT_CUSTOMERS = 20_000
DEFAULT_START_YEAR = 2023
DEFAULT_QUARTERS = 12
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "sample_data"
"""The repository's committed ``sample_data/`` folder."""

FILES = ("spend", "funnel", "customers", "revenue", "gl")
ACCOUNT_MAP = "gl-accounts"
"""The demo's chart of accounts mapped to cost categories (``account,category``), beside the ledger."""
HEADERS: dict[str, tuple[str, ...]] = {
    "spend": ("period", "category", "channel", "amount", "vendor", "description"),
    "funnel": ("period", "channel", "visitors", "leads", "mqls", "sqls", "opportunities",
               "event_attendees"),
    "customers": ("customer_id", "acquired_on", "channel", "segment"),
    "revenue": ("customer_id", "date", "revenue", "gross_margin"),
    "gl": ("period", "account", "amount"),
}

CATEGORIES: tuple[str, ...] = (
    "digital_advertising", "content_seo", "content_creation", "events", "media_relations",
    "influencer", "creative_services", "website", "personnel", "martech", "other_vendors",
    "sales",
)
"""The canonical cost-category keys of the data contract, in their canonical order."""

CHANNELS: tuple[str, ...] = (
    "Paid Search", "Paid Social", "Display", "Organic Search", "Content", "Events",
    "Partners", "Outbound",
)
_CH = {name: i for i, name in enumerate(CHANNELS)}
SEGMENTS: tuple[str, ...] = ("Enterprise B2B", "SMB", "DTC")
ENT, SMB, DTC = 0, 1, 2

REVENUE_CHUNK_ROWS = 2_000_000
_DAYS_PER_MONTH = 365.25 / 12


# --------------------------------------------------------------------------------------
# The company's parameters
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SegmentModel:
    """How one customer segment is acquired, funnelled and valued."""

    share: float
    """Share of new customers (by count)."""
    monthly_growth: float
    """Month-on-month growth of new customers (and of the spend that wins them)."""
    season: tuple[float, ...]
    """Acquisition seasonality, one factor per calendar month (January first)."""
    channel_mix: tuple[float, ...]
    """Share of the segment's customers acquired through each of ``CHANNELS``."""
    direct_cost: tuple[float, ...]
    """Channel-attributable marketing dollars per customer acquired, per channel."""
    sales_cost: float
    """Shared sales-team dollars per customer acquired (any channel)."""
    outbound_sales_cost: float
    """Extra SDR dollars per customer sourced by the Outbound channel."""
    lag_months: int
    """Months by which spend and funnel volume run ahead of the deals they produce."""
    stage_rates: tuple[float, float, float, float]
    """Conversion lead->MQL, MQL->SQL, SQL->opportunity, opportunity->customer."""


SEGMENT_MODELS: tuple[SegmentModel, ...] = (
    SegmentModel(  # Enterprise B2B
        share=0.05,
        monthly_growth=0.020,
        season=(0.80, 0.90, 1.25, 0.85, 0.95, 1.25, 0.80, 0.80, 1.20, 0.90, 1.00, 1.30),
        channel_mix=(0.12, 0.03, 0.01, 0.06, 0.15, 0.25, 0.08, 0.30),
        direct_cost=(13_000.0, 15_000.0, 24_000.0, 6_000.0, 7_000.0, 13_000.0, 8_000.0,
                     4_000.0),
        sales_cost=8_000.0,
        outbound_sales_cost=6_000.0,
        lag_months=4,
        stage_rates=(0.35, 0.45, 0.60, 0.25),
    ),
    SegmentModel(  # SMB
        share=0.30,
        monthly_growth=0.025,
        season=(1.05, 1.00, 1.05, 1.00, 1.00, 1.00, 0.90, 0.85, 1.05, 1.05, 1.00, 0.85),
        channel_mix=(0.25, 0.12, 0.08, 0.18, 0.12, 0.05, 0.10, 0.10),
        direct_cost=(1_100.0, 1_250.0, 2_400.0, 400.0, 450.0, 1_500.0, 600.0, 600.0),
        sales_cost=300.0,
        outbound_sales_cost=500.0,
        lag_months=1,
        stage_rates=(0.70, 0.60, 0.70, 0.35),
    ),
    SegmentModel(  # DTC
        share=0.65,
        monthly_growth=0.030,
        season=(0.90, 0.85, 0.95, 0.95, 1.00, 0.95, 0.90, 0.95, 1.00, 1.05, 1.35, 1.25),
        channel_mix=(0.22, 0.35, 0.12, 0.12, 0.06, 0.005, 0.125, 0.0),
        direct_cost=(50.0, 70.0, 150.0, 12.0, 15.0, 120.0, 30.0, 80.0),
        sales_cost=0.0,
        outbound_sales_cost=0.0,
        lag_months=0,
        stage_rates=(0.85, 0.85, 0.95, 0.95),
    ),
)

COST_LEVEL = 0.65
"""Scales every acquisition cost above (marketing and sales) at once: the calibration knob.

At 0.65 the default company's gross margin to date per customer is about 2.7x its fully
loaded (non-sales) marketing cost per new customer, and the 2023 cohort's is about 4.9x.
"""

EVENT_CALENDAR = (0.5, 0.8, 1.3, 1.0, 1.2, 1.3, 0.5, 0.6, 1.4, 1.5, 1.3, 0.6)
"""Events spend and event leads by calendar month: conference seasons are lumpy."""

VISIT_TO_LEAD: tuple[float | None, ...] = (0.035, 0.02, 0.008, 0.02, 0.015, 0.05, 0.03, None)
"""Website visitor -> lead conversion per channel; Outbound has no visitors."""

SATURATION: tuple[float, ...] = (1.8, 2.2, 1.6, 4.0, 3.5, 2.0, 2.8, 2.4)
"""Diminishing returns per channel: its ceiling of new customers per month, as a multiple of
the most it acquires in any month of the data. Each channel's spend follows the inverse of a
saturating (Hill, shape 1) response ``customers = K * spend / (S + spend)``, so its cost per
customer rises as it nears the ceiling: ``cpa(x) = cpa_cal * (K - x_ref) / (K - x)``, where
``cpa_cal`` is the calibrated cost (``COST_LEVEL``) and ``x_ref`` the channel's mean monthly
acquisitions over the last twelve months: the latest year costs what the calibration says, and
earlier, smaller months cost less. Low multiples (Display, Paid Search) saturate soonest;
Organic Search and Content least."""

CHURN_MULTIPLIER = (1.0, 1.2, 1.6, 0.8, 0.85, 0.9, 0.9, 1.0)
"""Channel quality: how much faster (>1) or slower customers from a channel churn/drop out."""

CHANNEL_CATEGORY_SPLIT: dict[str, dict[str, float]] = {
    "Paid Search": {"digital_advertising": 1.0},
    "Paid Social": {"digital_advertising": 0.78, "influencer": 0.15, "creative_services": 0.07},
    "Display": {"digital_advertising": 0.93, "creative_services": 0.07},
    "Organic Search": {"content_seo": 1.0},
    "Content": {"content_creation": 0.88, "media_relations": 0.12},
    "Events": {"events": 1.0},
    "Partners": {"influencer": 1.0},
    "Outbound": {"other_vendors": 1.0},
}
"""How each channel's attributable spend is booked across cost categories."""

SHARED_SHARE: dict[str, float] = {
    "personnel": 0.22,
    "martech": 0.25,
    "website": 0.03,
    "creative_services": 0.02,
    "media_relations": 0.015,
    "other_vendors": 0.012,
}
"""Shared (channel-less) marketing costs as a share of all non-sales marketing spend."""

SHARED_NOISE = 0.03

Line = tuple[str, str, float]
"""A spend line template: vendor, description, weight within its bucket."""

SPEND_LINES: dict[tuple[str, str], tuple[Line, ...]] = {
    ("digital_advertising", "Paid Search"): (
        ("Google Ads", "Search campaigns - non-brand", 0.62),
        ("Google Ads", "Search campaigns - brand", 0.18),
        ("Microsoft Advertising", "Bing search campaigns", 0.20),
    ),
    ("digital_advertising", "Paid Social"): (
        ("Meta", "Facebook and Instagram campaigns", 0.50),
        ("LinkedIn", "Sponsored content and lead gen forms", 0.35),
        ("TikTok", "In-feed video ads", 0.15),
    ),
    ("digital_advertising", "Display"): (
        ("Google Ads", "Display network and retargeting", 0.55),
        ("The Trade Desk", "Programmatic display", 0.45),
    ),
    ("content_seo", "Organic Search"): (
        ("Brightlane SEO", "SEO agency retainer", 0.55),
        ("Linkforge", "Link building and digital PR", 0.25),
        ("Clearscope", "Content optimisation", 0.20),
    ),
    ("content_creation", "Content"): (
        ("Inkwell Content Co.", "Blog posts and whitepapers", 0.45),
        ("Upwork", "Freelance writers and editors", 0.25),
        ("Northstar Video", "Customer story videos", 0.30),
    ),
    ("events", "Events"): (
        ("Cvent", "Event management platform and webinars", 0.12),
        ("Navan", "Event travel and lodging", 0.15),
    ),
    ("media_relations", ""): (
        ("Bright Signal PR", "PR agency retainer", 0.65),
        ("Gartner", "Analyst relations programme", 0.35),
    ),
    ("media_relations", "Content"): (
        ("Business Wire", "Press release distribution", 1.0),
    ),
    ("influencer", "Paid Social"): (
        ("Creator Collective", "Creator sponsored posts", 0.70),
        ("Grin", "Influencer gifting and fees", 0.30),
    ),
    ("influencer", "Partners"): (
        ("impact.com", "Affiliate commissions", 0.55),
        ("PartnerStack", "Partner referral payouts", 0.45),
    ),
    ("creative_services", ""): (
        ("Studio Kite", "Brand and campaign creative", 0.70),
        ("Frame & Form", "Design retainer", 0.30),
    ),
    ("creative_services", "Paid Social"): (
        ("Frame & Form", "Paid social ad creative", 1.0),
    ),
    ("creative_services", "Display"): (
        ("Studio Kite", "Display banner production", 1.0),
    ),
    ("website", ""): (
        ("WP Engine", "Website hosting", 0.22),
        ("Webflow", "CMS licence", 0.13),
        ("Pixel Harbor", "Website development and maintenance", 0.55),
        ("Cloudflare", "CDN and security", 0.10),
    ),
    ("personnel", ""): (
        ("ADP", "Marketing salaries", 0.70),
        ("ADP", "Payroll taxes - marketing", 0.08),
        ("Justworks", "Benefits - marketing team", 0.12),
        ("Toptal", "Contract marketing operations", 0.07),
        ("Hired", "Recruiting fees", 0.03),
    ),
    ("martech", ""): (
        ("HubSpot", "Marketing Hub Enterprise", 0.28),
        ("Salesforce", "CRM - marketing share", 0.20),
        ("6sense", "ABM and intent data", 0.16),
        ("Segment", "Customer data platform", 0.12),
        ("Amplitude", "Product and web analytics", 0.10),
        ("Semrush", "SEO and competitive research tools", 0.06),
        ("Hotjar", "Website behaviour analytics", 0.04),
        ("Zapier", "Workflow automation", 0.04),
    ),
    ("other_vendors", ""): (
        ("Forrester", "Market research", 0.45),
        ("Vistaprint", "Printing and swag", 0.30),
        ("Brightwave Consulting", "Marketing consultants", 0.25),
    ),
    ("other_vendors", "Outbound"): (
        ("Cognism", "Contact data and lists", 0.55),
        ("Lob", "Direct mail campaigns", 0.45),
    ),
    ("sales", ""): (
        ("ADP", "Sales salaries", 0.60),
        ("ADP", "Sales commissions", 0.12),
        ("Salesforce", "Sales Cloud licences", 0.12),
        ("Navan", "Sales travel", 0.10),
        ("Gong", "Conversation intelligence", 0.06),
    ),
    ("sales", "Outbound"): (
        ("ADP", "SDR team salaries and commissions", 0.70),
        ("Outreach", "Sales engagement platform", 0.15),
        ("ZoomInfo", "Prospecting data", 0.15),
    ),
}
"""Vendor lines per (category, channel) bucket; channel ``""`` is a shared cost."""

EVENT_LINES: tuple[tuple[Line, ...], ...] = (
    (("Shoptalk", "Shoptalk sponsorship and booth", 0.45),
     ("Marriott Hotels", "Customer dinner series", 0.28)),
    (("SaaStr", "SaaStr Europa booth", 0.35),
     ("Collision", "Collision conference booth", 0.38)),
    (("HubSpot", "INBOUND sponsorship", 0.40),
     ("SaaStr", "SaaStr Annual booth", 0.33)),
    (("Web Summit", "Web Summit booth and passes", 0.40),
     ("Salesforce", "Dreamforce partner sponsorship", 0.33)),
)
"""The conferences of each quarter of the year, added to the ``events`` bucket."""

CREDITS: tuple[tuple[str, str, str, str, float], ...] = (
    ("digital_advertising", "Paid Search", "Google Ads", "Invalid click credit", 0.006),
    ("events", "Events", "Cvent", "Refund - cancelled roadshow deposit", 0.02),
)
"""The two credits of the ledger: category, channel, vendor, description, size vs bucket."""

# Subscriptions -------------------------------------------------------------------------
ENT_CHURN_BETA = (1.2, 110.0)
"""Beta(a, b) of the enterprise monthly churn probability: mean about 1.1% a month."""
SMB_CHURN_BETA = (1.1, 29.0)
"""Beta(a, b) of the SMB monthly churn probability: mean about 3.7% a month."""
ENT_ARPA_MEDIAN = 3_600.0
ENT_ARPA_SIGMA = 0.30
ENT_UPLIFTS = (0.0, 0.03, 0.05, 0.08, 0.12, 0.20)
"""Price uplift at each contract anniversary (seat expansion), one drawn per customer."""
ENT_UPLIFT_P = (0.20, 0.20, 0.25, 0.15, 0.12, 0.08)
SMB_PLANS = (99.0, 149.0, 249.0, 399.0, 599.0, 899.0)
SMB_PLAN_P = (0.18, 0.30, 0.30, 0.14, 0.06, 0.02)
SMB_UPGRADE_P = 0.20
"""Share of SMB customers who move up one plan at some point."""
SUB_MARGIN = (0.75, 0.85)

# DTC (BG/NBD + gamma-gamma) -----------------------------------------------------------
DTC_RATE_GAMMA = (0.9, 0.60 / 0.9)
"""Gamma(shape, scale) of the purchase rate per month: mean 0.60 purchases a month."""
DTC_DROPOUT_BETA = (1.2, 7.0)
"""Beta(a, b) of the probability of dropping out after each purchase: mean 15%."""
DTC_SPEND_GAMMA = (4.0, 78.0 / 4.0)
"""Gamma(shape, scale) of a customer's mean order value: mean $78."""
DTC_ORDER_SHAPE = 8.0
"""Gamma shape of single orders around the customer's mean value."""
DTC_MIN_ORDER = 12.0
DTC_MARGIN = (0.40, 0.55)
DTC_REFUND_P = 0.0004
"""Probability that a DTC order is refunded (a negative revenue row a few days later)."""


# --------------------------------------------------------------------------------------
# Calendar and the expected-acquisition plan
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Calendar:
    """The generated months: ``months`` of them starting January of ``start_year``."""

    start_year: int
    quarters: int

    @property
    def months(self) -> int:
        return 3 * self.quarters

    def month_starts(self) -> np.ndarray:
        """Day numbers (days since 1970-01-01) of the first day of each month, and of the
        day after the last one."""
        first = np.datetime64(f"{self.start_year:04d}-01", "M")
        months = first + np.arange(self.months + 1)
        return months.astype("datetime64[D]").astype(np.int64)

    @property
    def first_days(self) -> np.ndarray:
        return self.month_starts()[:-1]

    @property
    def days_in_month(self) -> np.ndarray:
        return np.diff(self.month_starts())

    @property
    def end_day(self) -> int:
        """Day number of the last day of the last quarter."""
        return int(self.month_starts()[-1]) - 1

    def calendar_month(self, count: int) -> np.ndarray:
        """Calendar month (0 = January) of the first ``count`` months."""
        return np.arange(count) % 12

    def month_labels(self) -> list[str]:
        return [f"{self.start_year + m // 12:04d}-{m % 12 + 1:02d}" for m in range(self.months)]

    def quarter_labels(self) -> list[str]:
        return [f"{self.start_year + q // 4:04d}-Q{q % 4 + 1}" for q in range(self.quarters)]


@dataclass(frozen=True)
class Plan:
    """Expected acquisitions behind spend, funnel volumes and the customers drawn."""

    segment_counts: np.ndarray
    """Customers per segment, summing exactly to the requested number."""
    month_p: np.ndarray
    """(segment, month) probability that a customer of the segment is acquired that month."""
    driver: np.ndarray
    """(segment, month, channel) expected acquisitions the month's spend works for."""
    trend: np.ndarray
    """(segment, month) the same without seasonality, for shared (people, tools) costs."""


def _largest_remainder(total: int, weights: Sequence[float] | np.ndarray) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights`` (exact sum, deterministic)."""
    w = np.asarray(weights, dtype=np.float64)
    raw = total * w / w.sum()
    base = np.floor(raw).astype(np.int64)
    short = total - int(base.sum())
    order = np.lexsort((np.arange(len(w)), -(raw - base)))
    base[order[:short]] += 1
    return base


def _plan(cal: Calendar, customers: int) -> Plan:
    months = cal.months
    lag = max(s.lag_months for s in SEGMENT_MODELS)
    horizon = months + lag
    counts = _largest_remainder(customers, [s.share for s in SEGMENT_MODELS])
    month_p = np.zeros((len(SEGMENTS), months))
    driver = np.zeros((len(SEGMENTS), months, len(CHANNELS)))
    trend = np.zeros((len(SEGMENTS), months))
    for s, model in enumerate(SEGMENT_MODELS):
        # Growth by repeated multiplication: exact IEEE arithmetic on every machine.
        growth = [1.0]
        for _ in range(horizon - 1):
            growth.append(growth[-1] * (1.0 + model.monthly_growth))
        seasonal = [g * model.season[m % 12] for m, g in enumerate(growth)]
        total = math.fsum(seasonal[:months])
        expected = np.array(seasonal) / total * counts[s]
        month_p[s] = np.array(seasonal[:months]) / total
        ahead = expected[model.lag_months:model.lag_months + months]
        driver[s] = ahead[:, None] * np.asarray(model.channel_mix)[None, :]
        plain = np.array(growth) / math.fsum(growth[:months]) * counts[s]
        trend[s] = plain[model.lag_months:model.lag_months + months]
    return Plan(counts, month_p, driver, trend)


# --------------------------------------------------------------------------------------
# Customers
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Customers:
    """The acquired customers, in customer_id order (by acquisition date)."""

    day: np.ndarray
    """Acquisition day number (days since 1970-01-01)."""
    month: np.ndarray
    """Index of the acquisition month within the calendar."""
    segment: np.ndarray
    channel: np.ndarray

    def __len__(self) -> int:
        return len(self.day)


def _customers(rng: np.random.Generator, cal: Calendar, plan: Plan) -> Customers:
    parts_month, parts_segment, parts_channel = [], [], []
    for s, model in enumerate(SEGMENT_MODELS):
        n = int(plan.segment_counts[s])
        p_month = plan.month_p[s] / plan.month_p[s].sum()
        mix = np.asarray(model.channel_mix)
        parts_month.append(rng.choice(cal.months, size=n, p=p_month))
        parts_channel.append(rng.choice(len(CHANNELS), size=n, p=mix / mix.sum()))
        parts_segment.append(np.full(n, s, dtype=np.int8))
    month = np.concatenate(parts_month).astype(np.int64)
    segment = np.concatenate(parts_segment)
    channel = np.concatenate(parts_channel).astype(np.int8)
    offset = np.floor(rng.random(len(month)) * cal.days_in_month[month]).astype(np.int64)
    day = cal.first_days[month] + offset
    order = np.lexsort((rng.random(len(month)), day))
    return Customers(day[order], month[order], segment[order], channel[order])


def _customer_id(width: int) -> pl.Expr:
    """``C000001``-style ids from the zero-based customer index column ``_i``."""
    return pl.lit("C") + (pl.col("_i") + 1).cast(pl.String).str.zfill(width)


def _id_width(customers: int) -> int:
    return max(6, len(str(customers)))


def _customers_frame(cust: Customers, width: int) -> pl.DataFrame:
    frame = pl.DataFrame({
        "_i": np.arange(len(cust), dtype=np.int64),
        "_day": cust.day.astype(np.int32),
        "_ch": cust.channel.astype(np.uint32),
        "_seg": cust.segment.astype(np.uint32),
    })
    channels = pl.Series(CHANNELS, dtype=pl.String)
    segments = pl.Series(SEGMENTS, dtype=pl.String)
    return frame.select(
        customer_id=_customer_id(width),
        acquired_on=pl.col("_day").cast(pl.Date),
        channel=pl.lit(channels).gather(pl.col("_ch")),
        segment=pl.lit(segments).gather(pl.col("_seg")),
    )


# --------------------------------------------------------------------------------------
# Spend
# --------------------------------------------------------------------------------------

def _quarterly(monthly: np.ndarray) -> np.ndarray:
    """Sum a (month, ...) array into (quarter, ...), adding the three months in order."""
    return monthly[0::3] + monthly[1::3] + monthly[2::3]


def _segment_sum(parts: Sequence[np.ndarray]) -> np.ndarray:
    """Add per-segment arrays in a fixed order.

    Plain element-wise adds, never BLAS (``@``, ``einsum``), whose summation order depends
    on the CPU: the files must come out byte-identical on every machine.
    """
    total = np.zeros_like(parts[0])
    for part in parts:
        total = total + part
    return total


def _split_cents(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` cents by ``weights``; every line keeps at least one cent."""
    cents = _largest_remainder(max(total, len(weights)), weights)
    return np.maximum(cents, 1)


def _spend_frame(rng: np.random.Generator, cal: Calendar, plan: Plan) -> pl.DataFrame:
    months = cal.months
    cal_month = cal.calendar_month(months)
    models = SEGMENT_MODELS
    outbound = _CH["Outbound"]
    # Channel-attributable marketing spend per month, with noise and the events calendar.
    direct = _segment_sum([plan.driver[s] * (np.asarray(m.direct_cost) * COST_LEVEL)[None, :]
                           for s, m in enumerate(models)])
    # Diminishing returns: a channel's cost per customer rises as it nears its ceiling.
    acquired = _segment_sum([plan.driver[s] for s in range(len(models))])
    ceiling = acquired.max(axis=0) * np.asarray(SATURATION)
    recent = acquired[-12:]
    reference = np.array([math.fsum(recent[:, c]) / len(recent) for c in range(len(CHANNELS))])  # exact sums
    room = ceiling - acquired
    direct *= np.where(room > 0, (ceiling - reference) / np.where(room > 0, room, 1.0), 1.0)  # never used: 1
    direct[:, _CH["Events"]] *= np.asarray(EVENT_CALENDAR)[cal_month]
    direct *= rng.lognormal(0.0, 0.06, size=direct.shape)
    direct_q = _quarterly(direct)
    # Shared costs (people, tools, website, agencies) follow the smooth growth trend.
    per_customer = [COST_LEVEL * math.fsum(c * x for c, x in zip(m.direct_cost, m.channel_mix,
                                                                  strict=True))
                    for m in models]
    trend_direct = _quarterly(_segment_sum([plan.trend[s] * per_customer[s]
                                            for s in range(len(models))]))
    shared_total = math.fsum(SHARED_SHARE.values())
    shared_base = trend_direct * (shared_total / (1.0 - shared_total))
    # Sales: the shared team follows the trend; SDRs follow outbound-sourced deals.
    sales_shared = _quarterly(_segment_sum([plan.trend[s] * (m.sales_cost * COST_LEVEL)
                                            for s, m in enumerate(models)]))
    sales_outbound = _segment_sum([plan.driver[s][:, outbound] * (m.outbound_sales_cost
                                                                 * COST_LEVEL)
                                   for s, m in enumerate(models)])
    sales_outbound = _quarterly(sales_outbound * rng.lognormal(0.0, 0.06, size=months))

    buckets: dict[tuple[str, str], np.ndarray] = {}
    for channel, split in CHANNEL_CATEGORY_SPLIT.items():
        for cat, frac in split.items():
            buckets[(cat, channel)] = direct_q[:, _CH[channel]] * frac
    for cat, share in SHARED_SHARE.items():
        noise = rng.lognormal(0.0, SHARED_NOISE, size=cal.quarters)
        buckets[(cat, "")] = shared_base * (share / shared_total) * noise
    buckets[("sales", "")] = sales_shared * rng.lognormal(0.0, SHARED_NOISE,
                                                          size=cal.quarters)
    buckets[("sales", "Outbound")] = sales_outbound

    credit_quarters = rng.choice(cal.quarters, size=len(CREDITS), replace=cal.quarters < 2)
    periods = cal.quarter_labels()
    rows: dict[str, list[object]] = {name: [] for name in HEADERS["spend"]}
    keys = sorted(buckets, key=lambda k: (CATEGORIES.index(k[0]), k[1] != "",
                                          CHANNELS.index(k[1]) if k[1] else -1))
    for q, period in enumerate(periods):
        for key in keys:
            lines = SPEND_LINES[key]
            if key == ("events", "Events"):
                lines = EVENT_LINES[q % 4] + lines
            weights = np.array([w for _, _, w in lines])
            weights = weights * rng.lognormal(0.0, 0.15, size=len(weights))
            cents = _split_cents(round(float(buckets[key][q]) * 100.0), weights)
            for (vendor, description, _), amount in zip(lines, cents, strict=True):
                _append(rows, period, key, int(amount), vendor, description)
            for credit_q, (cat, channel, vendor, description, size) in zip(
                    credit_quarters, CREDITS, strict=True):
                if credit_q == q and key == (cat, channel):
                    refund = max(1, round(float(buckets[key][q]) * 100.0 * size))
                    _append(rows, period, key, -refund, vendor, description)
    frame = pl.DataFrame(rows, schema={"period": pl.String, "category": pl.String,
                                       "channel": pl.String, "amount": pl.Int64,
                                       "vendor": pl.String, "description": pl.String})
    return frame.with_columns(amount=_money(pl.col("amount")))


def _append(rows: dict[str, list[object]], period: str, key: tuple[str, str], cents: int,
            vendor: str, description: str) -> None:
    rows["period"].append(period)
    rows["category"].append(key[0])
    rows["channel"].append(key[1] or None)
    rows["amount"].append(cents)
    rows["vendor"].append(vendor)
    rows["description"].append(description)


def _money(cents: pl.Expr) -> pl.Expr:
    """Integer cents as plain ``-1234.56`` text: no float ever touches the value."""
    magnitude = cents.abs()
    return (pl.when(cents < 0).then(pl.lit("-")).otherwise(pl.lit(""))
            + (magnitude // 100).cast(pl.String) + pl.lit(".")
            + (magnitude % 100).cast(pl.String).str.zfill(2))


# --------------------------------------------------------------------------------------
# Funnel
# --------------------------------------------------------------------------------------

def _ratio(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """``part / whole``, 0 where nothing is expected (a tiny company's empty channel)."""
    return np.divide(part, whole, out=np.zeros_like(part), where=whole > 0)


def _funnel_frame(rng: np.random.Generator, cal: Calendar, plan: Plan) -> pl.DataFrame:
    months = cal.months
    # Expected volume at each stage, working back from the deals the month's effort wins.
    stages = np.zeros((4, months, len(CHANNELS)))  # leads, mqls, sqls, opportunities
    for s, model in enumerate(SEGMENT_MODELS):
        lead_to_mql, mql_to_sql, sql_to_opp, win = model.stage_rates
        opps = plan.driver[s] / win
        sqls = opps / sql_to_opp
        mqls = sqls / mql_to_sql
        stages += np.stack([mqls / lead_to_mql, mqls, sqls, opps])
    calendar = np.ones((months, len(CHANNELS)))
    calendar[:, _CH["Events"]] = np.asarray(EVENT_CALENDAR)[cal.calendar_month(months)]
    mean_leads = stages[0] * calendar * rng.lognormal(0.0, 0.05, size=(months, len(CHANNELS)))
    leads = rng.poisson(mean_leads)
    mqls = rng.binomial(leads, _ratio(stages[1], stages[0]))
    sqls = rng.binomial(mqls, _ratio(stages[2], stages[1]))
    opps = rng.binomial(sqls, _ratio(stages[3], stages[2]))
    cvr = np.array([v if v is not None else 1.0 for v in VISIT_TO_LEAD])
    visitors = leads + rng.poisson(leads * (1.0 / cvr - 1.0)
                                   * rng.lognormal(0.0, 0.08, size=leads.shape))
    attendees = leads + rng.poisson(leads * 1.4)

    labels = cal.month_labels()
    frame = pl.DataFrame({
        "period": np.repeat(np.array(labels), len(CHANNELS)),
        "channel": np.tile(np.array(CHANNELS), months),
        "visitors": visitors.ravel().astype(np.int64),
        "leads": leads.ravel().astype(np.int64),
        "mqls": mqls.ravel().astype(np.int64),
        "sqls": sqls.ravel().astype(np.int64),
        "opportunities": opps.ravel().astype(np.int64),
        "event_attendees": attendees.ravel().astype(np.int64),
    })
    no_visits = [c for c, v in zip(CHANNELS, VISIT_TO_LEAD, strict=True) if v is None]
    return frame.with_columns(
        visitors=pl.when(pl.col("channel").is_in(no_visits)).then(None)
        .otherwise(pl.col("visitors")),
        event_attendees=pl.when(pl.col("channel") == "Events")
        .then(pl.col("event_attendees")).otherwise(None),
    )


# --------------------------------------------------------------------------------------
# Revenue
# --------------------------------------------------------------------------------------

@dataclass
class Ledger:
    """Revenue rows as parallel arrays: customer index, day number, cents."""

    customer: np.ndarray
    day: np.ndarray
    revenue: np.ndarray
    margin: np.ndarray

    @classmethod
    def concat(cls, parts: Sequence[Ledger]) -> Ledger:
        return cls(*(np.concatenate([getattr(p, f) for p in parts])
                     for f in ("customer", "day", "revenue", "margin")))

    def __len__(self) -> int:
        return len(self.day)


def _segment_starts(counts: np.ndarray) -> np.ndarray:
    """Offset of each customer's first row in a flat array of ``counts`` rows each."""
    starts = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    return starts


def _within(counts: np.ndarray) -> np.ndarray:
    """0, 1, ... numbering of the rows of each customer in a flat array."""
    total = int(counts.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(_segment_starts(counts), counts)


def _churn_probability(rng: np.random.Generator, beta: tuple[float, float],
                       channel: np.ndarray) -> np.ndarray:
    p = rng.beta(beta[0], beta[1], size=len(channel))
    return np.clip(p * np.asarray(CHURN_MULTIPLIER)[channel], 1e-4, 0.9)


def _subscriptions(rng: np.random.Generator, cal: Calendar, cust: Customers) -> Ledger:
    idx = np.flatnonzero(cust.segment != DTC)
    seg = cust.segment[idx]
    channel = cust.channel[idx].astype(np.int64)
    n = len(idx)
    enterprise = seg == ENT
    churn = np.where(enterprise,
                     _churn_probability(rng, ENT_CHURN_BETA, channel),
                     _churn_probability(rng, SMB_CHURN_BETA, channel))
    paid_months = rng.geometric(churn)
    available = cal.months - cust.month[idx]
    billed = np.minimum(paid_months, available)

    # Monthly price in whole dollars: enterprise contracts, SMB plans with upgrades.
    ent_price = np.round(rng.lognormal(math.log(ENT_ARPA_MEDIAN), ENT_ARPA_SIGMA, size=n) / 10.0)
    ent_price = ent_price * 10.0
    uplift = np.asarray(ENT_UPLIFTS)[rng.choice(len(ENT_UPLIFTS), size=n, p=ENT_UPLIFT_P)]
    plan = rng.choice(len(SMB_PLANS), size=n, p=SMB_PLAN_P)
    upgrades = rng.random(n) < SMB_UPGRADE_P
    upgrade_at = rng.integers(2, 25, size=n)
    margin_rate = rng.uniform(*SUB_MARGIN, size=n)

    k = _within(billed)
    row = np.repeat(np.arange(n), billed)
    month = cust.month[idx][row] + k
    day_of_month = (cust.day[idx] - cal.first_days[cust.month[idx]])[row]
    day = cal.first_days[month] + np.minimum(day_of_month, cal.days_in_month[month] - 1)

    years = k // 12
    factor = np.ones(len(k))
    step = (1.0 + uplift)[row]
    for y in range(1, int(years.max(initial=0)) + 1):
        factor = np.where(years >= y, factor * step, factor)
    ent_dollars = np.round(ent_price[row] * factor)
    smb_plan = np.where(upgrades[row] & (k >= upgrade_at[row]),
                        np.minimum(plan[row] + 1, len(SMB_PLANS) - 1), plan[row])
    smb_dollars = np.asarray(SMB_PLANS)[smb_plan]
    revenue = np.rint(np.where(enterprise[row], ent_dollars, smb_dollars) * 100.0).astype(np.int64)
    margin = np.floor(revenue * margin_rate[row]).astype(np.int64)
    return Ledger(idx[row], day, revenue, margin)


def _dtc(rng: np.random.Generator, cal: Calendar, cust: Customers) -> Ledger:
    idx = np.flatnonzero(cust.segment == DTC)
    n = len(idx)
    channel = cust.channel[idx].astype(np.int64)
    start = cust.day[idx]
    window = (cal.end_day - start + 1).astype(np.float64)  # days the customer can buy in

    # BG/NBD: purchases come at a Poisson rate until the customer drops out after a purchase.
    rate = rng.gamma(DTC_RATE_GAMMA[0], DTC_RATE_GAMMA[1], size=n) / _DAYS_PER_MONTH
    dropout = _churn_probability(rng, DTC_DROPOUT_BETA, channel)
    purchases_alive = rng.geometric(dropout)  # purchases made before dropping out, first included
    arrivals = rng.poisson(rate * window)  # purchase opportunities within the window
    repeats = np.minimum(arrivals, purchases_alive - 1)
    # The first ``repeats`` of ``arrivals`` uniform times in the window, via exponential
    # spacings: the i-th order statistic of N uniforms is S_i / S_{N+1}.
    spacing = rng.standard_exponential(int(repeats.sum()))
    cumulative = np.cumsum(spacing)
    has = repeats > 0
    first = _segment_starts(repeats)[has]
    partial = cumulative - np.repeat(cumulative[first] - spacing[first], repeats[has])
    total = rng.standard_gamma((arrivals - repeats + 1).astype(np.float64))  # S_{N+1} - S_n
    total[has] += partial[first + repeats[has] - 1]
    owner = np.repeat(np.arange(n), repeats)
    offset = np.floor(window[owner] * partial / total[owner]).astype(np.int64)
    offset = np.minimum(offset, (window[owner] - 1).astype(np.int64))

    customer = np.concatenate([np.arange(n), owner])
    day = np.concatenate([start, start[owner] + offset])
    order = np.lexsort((day, customer))
    customer, day = customer[order], day[order]
    keep = np.ones(len(day), dtype=bool)
    keep[1:] = (customer[1:] != customer[:-1]) | (day[1:] != day[:-1])
    customer, day = customer[keep], day[keep]

    # Gamma-gamma spend: each customer has a mean order value; orders scatter around it.
    mean_value = rng.gamma(DTC_SPEND_GAMMA[0], DTC_SPEND_GAMMA[1], size=n)
    value = rng.gamma(DTC_ORDER_SHAPE, mean_value[customer] / DTC_ORDER_SHAPE)
    revenue = np.round(np.maximum(value, DTC_MIN_ORDER) * 100.0).astype(np.int64)
    margin = np.floor(revenue * rng.uniform(*DTC_MARGIN, size=len(revenue))).astype(np.int64)

    refunded = np.flatnonzero(rng.random(len(revenue)) < DTC_REFUND_P)
    refund_day = day[refunded] + rng.integers(2, 31, size=len(refunded))
    ok = refund_day <= cal.end_day
    refunded, refund_day = refunded[ok], refund_day[ok]
    return Ledger(
        idx[np.concatenate([customer, customer[refunded]])],
        np.concatenate([day, refund_day]),
        np.concatenate([revenue, -revenue[refunded]]),
        np.concatenate([margin, -margin[refunded]]),
    )


def _write_revenue(path: Path, ledger: Ledger, width: int) -> int:
    order = np.lexsort((ledger.customer, ledger.day))
    with path.open("wb") as handle:
        for begin in range(0, max(len(order), 1), REVENUE_CHUNK_ROWS):
            take = order[begin:begin + REVENUE_CHUNK_ROWS]
            chunk = pl.DataFrame({
                "_i": ledger.customer[take].astype(np.int64),
                "_day": ledger.day[take].astype(np.int32),
                "_rev": ledger.revenue[take].astype(np.int64),
                "_gm": ledger.margin[take].astype(np.int64),
            }).select(
                customer_id=_customer_id(width),
                date=pl.col("_day").cast(pl.Date),
                revenue=_money(pl.col("_rev")),
                gross_margin=_money(pl.col("_gm")),
            )
            _write(chunk, handle, header=begin == 0)
    return len(order)


# --------------------------------------------------------------------------------------
# General ledger
# --------------------------------------------------------------------------------------

ACCOUNTS: dict[str, str] = {
    "digital_advertising": "6100 Advertising", "content_seo": "6110 Content & SEO",
    "content_creation": "6120 Content production", "events": "6150 Trade shows & events",
    "media_relations": "6160 Public relations", "influencer": "6170 Influencer programmes",
    "creative_services": "6180 Creative agencies", "website": "6190 Website",
    "personnel": "6200 Marketing salaries", "martech": "6300 Marketing software",
    "other_vendors": "6400 Marketing services - other", "sales": "6500 Sales salaries & commissions",
}
"""The demo's chart of accounts: one account per cost category."""
OTHER_ACCOUNTS: dict[str, tuple[int, str | None]] = {
    "6900 Office rent": (4_150_000, "none"), "7100 Travel & entertainment": (1_275_000, None),
}
"""Accounts that are not marketing spend: monthly cents, and how the map reads them (rent: not spend, on
purpose; travel: left unmapped, as a new account is until an editor maps it)."""
MISSING_INVOICE = ("events", 1_840_000)
"""Booked in the ledger in the middle month of the second-to-last quarter, missing from the spend export."""
MISBOOKED = ("creative_services", "content_seo")
"""In the last quarter, the first creative-agency invoice of the spend is booked to the content account."""


def _ledger_frame(spend: pl.DataFrame, cal: Calendar) -> tuple[pl.DataFrame, int]:
    """The general ledger by month and account, from the spend in cents with the two known differences
    (``MISSING_INVOICE``, ``MISBOOKED``); and the misbooked invoice's cents (0 when there is none).

    A quarter's spend line is booked over its three months, the odd cents to the first months: each
    quarter's total per account is the spend's, to the cent, but for the two differences."""
    labels = cal.quarter_labels()
    months = cal.month_labels()
    cents = spend.select("period", "category", cents=pl.col("amount").str.replace(".", "", literal=True)
                         .cast(pl.Int64))
    booked: dict[tuple[str, str], int] = {}
    misbooked = 0
    last = labels[-1]
    for period, category, amount in cents.iter_rows():
        q = labels.index(period)
        account = ACCOUNTS[category]
        if not misbooked and len(labels) >= 2 and period == last and category == MISBOOKED[0] and amount > 0:
            misbooked, account = amount, ACCOUNTS[MISBOOKED[1]]
        sign, size = (1 if amount >= 0 else -1), abs(amount)
        parts = [sign * (size // 3 + (1 if i < size % 3 else 0)) for i in range(3)]
        for i, part in enumerate(parts):
            key = (months[3 * q + i], account)
            booked[key] = booked.get(key, 0) + part
    if len(labels) >= 2:
        key = (months[3 * (len(labels) - 2) + 1], ACCOUNTS[MISSING_INVOICE[0]])
        booked[key] = booked.get(key, 0) + MISSING_INVOICE[1]
    for account, (monthly, _) in OTHER_ACCOUNTS.items():
        for month in months:
            booked[(month, account)] = monthly
    order = {name: i for i, name in enumerate([*ACCOUNTS.values(), *OTHER_ACCOUNTS])}
    keys = sorted(booked, key=lambda k: (k[0], order[k[1]]))
    frame = pl.DataFrame({"period": [k[0] for k in keys], "account": [k[1] for k in keys],
                          "amount": [booked[k] for k in keys]}, schema={"period": pl.String, "account": pl.String,
                                                                         "amount": pl.Int64})
    return frame.with_columns(amount=_money(pl.col("amount"))), misbooked


def _account_map() -> pl.DataFrame:
    rows = [(account, category) for category, account in ACCOUNTS.items()]
    rows += [(account, category) for account, (_, category) in OTHER_ACCOUNTS.items() if category]
    return pl.DataFrame(rows, schema={"account": pl.String, "category": pl.String}, orient="row")


def _write(frame: pl.DataFrame, handle: BinaryIO, *, header: bool = True) -> None:
    frame.write_csv(handle, include_header=header, line_terminator="\n")


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------

def generate(out_dir: Path, customers: int = DEFAULT_CUSTOMERS, seed: int = DEFAULT_SEED,
             start_year: int = DEFAULT_START_YEAR,
             quarters: int = DEFAULT_QUARTERS) -> dict[str, Path]:
    """Write ``spend``, ``funnel``, ``customers``, ``revenue`` and ``gl`` CSVs, and ``gl-accounts.csv``, into
    ``out_dir``.

    The same arguments always produce byte-identical files. Spend scales with
    ``customers`` so CAC stays realistic at any size. Returns the path of each file by
    kind.
    """
    if customers < 1:
        raise ValueError("customers must be at least 1")
    if quarters < 1:
        raise ValueError("quarters must be at least 1")
    if start_year < 1990 or start_year + (quarters - 1) // 4 > 2100:
        raise ValueError("the generated years must lie between 1990 and 2100")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cal = Calendar(start_year, quarters)
    plan = _plan(cal, customers)
    rng_customers, rng_spend, rng_funnel, rng_revenue = np.random.default_rng(seed).spawn(4)
    width = _id_width(customers)
    cust = _customers(rng_customers, cal, plan)

    paths = {kind: out / f"{kind}.csv" for kind in (*FILES, ACCOUNT_MAP)}
    spend = _spend_frame(rng_spend, cal, plan)
    with paths["spend"].open("wb") as handle:
        _write(spend, handle)
    with paths["gl"].open("wb") as handle:
        _write(_ledger_frame(spend, cal)[0], handle)
    with paths[ACCOUNT_MAP].open("wb") as handle:
        _write(_account_map(), handle)
    with paths["funnel"].open("wb") as handle:
        _write(_funnel_frame(rng_funnel, cal, plan), handle)
    with paths["customers"].open("wb") as handle:
        _write(_customers_frame(cust, width), handle)
    ledger = Ledger.concat([_subscriptions(rng_revenue, cal, cust),
                            _dtc(rng_revenue, cal, cust)])
    _write_revenue(paths["revenue"], ledger, width)
    return paths


def _count_rows(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")) - 1


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.samplegen``: write the demo company's CSVs."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.samplegen",
        description=f"Write the {COMPANY} demo data (spend, funnel, customers, revenue, gl CSVs).")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"output folder (default: {DEFAULT_OUT})")
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS,
                        help=f"customers acquired over the period (default: {DEFAULT_CUSTOMERS})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"random seed (default: {DEFAULT_SEED})")
    parser.add_argument("--start-year", type=int, default=DEFAULT_START_YEAR,
                        help=f"first year of data (default: {DEFAULT_START_YEAR})")
    parser.add_argument("--quarters", type=int, default=DEFAULT_QUARTERS,
                        help=f"number of quarters (default: {DEFAULT_QUARTERS})")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    try:
        paths = generate(args.out, customers=args.customers, seed=args.seed,
                         start_year=args.start_year, quarters=args.quarters)
    except ValueError as error:
        parser.error(str(error))
    for kind, path in paths.items():
        print(f"{kind:<10} {_count_rows(path):>12,} rows  {path.stat().st_size:>14,} bytes  {path}")
    print(f"{COMPANY}: {args.customers:,} customers in {time.perf_counter() - began:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
