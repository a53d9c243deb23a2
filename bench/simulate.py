"""Companies whose future is known: simulated customer lives for proving the LTV figures.

``simulate`` invents a company (its parameters drawn per seed from ranges, so every seed is
a different company, none of them the demo company of ``bench.samplegen``), lives every
customer's whole life well past the cut-off date, and keeps the whole ledger. The product
only ever sees the history (``KnownFuture.write``: the four import files cut at ``as_of``);
``KnownFuture.truth`` and ``KnownFuture.realised`` say what each cohort really earned
afterwards, so an LTV figure or a back-test can be scored against the truth.

The customer models are the published "buy till you die" stories the product fits:

* **Subscriptions** (contractual): the shifted-beta-geometric model of Fader, P. S. &
  Hardie, B. G. S. (2007) "How to project customer retention", *Journal of Interactive
  Marketing* 21(1), 76-90. Each customer has a monthly churn probability
  theta ~ Beta(alpha, beta) (times the channel's multiplier, clipped to [1e-4, 0.95]) and
  pays for L ~ Geometric(theta) months (L >= 1: month 0 is always paid). A customer billed
  every m months (m = 1, 3 or 12) pays m x the monthly price at ages 0, m, 2m, ... for
  ceil(L / m) terms: the decision to leave takes effect at the end of the paid term. The
  invoice day is the acquisition day of the month, clipped to the month's length.
* **Repeat purchases** (non-contractual): the BG/NBD model of Fader, P. S., Hardie, B. G. S.
  & Lee, K. L. (2005) "Counting your customers the easy way", *Marketing Science* 24(2),
  275-284, in continuous time. The first purchase is on the acquisition day; while alive a
  customer buys as a Poisson process with weekly rate lambda ~ Gamma(shape r, rate alpha);
  after every *repeat* purchase they drop out with probability p ~ Beta(a, b) (times the
  channel's multiplier, clipped to [1e-4, 1]), so the number of repeat purchases while
  alive is Geometric(p) on 1, 2, ... Purchases on the same day are merged into one row
  (their values and margins added), as ``rfm_summary`` merges them.
* **Spend per order**: the Gamma-Gamma model (Fader, Hardie & Lee 2005, "RFM and CLV",
  *Journal of Marketing Research* 42(4); Fader & Hardie 2013, "The Gamma-Gamma model of
  monetary value"): z ~ Gamma(shape p, rate nu) per order, nu ~ Gamma(shape q, rate gamma)
  per customer, so the mean order value is p gamma / (q - 1); an order is at least 5.00.

Everything is drawn from one ``numpy.random.default_rng(seed)`` (split with ``spawn`` into
independent streams for parameters, acquisitions, subscriptions, purchases and spend) and
built with vectorised numpy and polars, so the same arguments always give identical frames.
Money is generated as integer cents; gross margin is ``floor(revenue x rate)`` in cents;
the frames hold it as ``Decimal(18, 2)`` and the files as plain ``1234.56`` text, and
``truth`` is computed from exactly those cents.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

Kind = Literal["subscription", "repeat", "mixed"]
KINDS: tuple[Kind, ...] = ("subscription", "repeat", "mixed")
ID_PREFIX: dict[str, str] = {"subscription": "S", "repeat": "R", "mixed": "M"}

CHANNELS: tuple[str, ...] = ("Search Ads", "Social Ads", "Referral", "Webinars", "Marketplace")
"""Acquisition channels of every simulated company (none of them a demo-company channel)."""

SMB, ENTERPRISE, DTC = "SMB", "Enterprise B2B", "DTC"
"""Segment names: canonical names of the data contract, so an import keeps them unchanged."""

INTERVALS: tuple[str, ...] = ("month", "quarter", "year")
INTERVAL_MONTHS: tuple[int, ...] = (1, 3, 12)

MIN_ORDER_CENTS = 500
"""No order is worth less than 5.00."""

Range = tuple[float, float]

# --------------------------------------------------------------------------------------
# The ranges each company's parameters are drawn from
# --------------------------------------------------------------------------------------

GROWTH_RANGE: Range = (0.005, 0.035)
"""Month-on-month growth of new customers."""
DEMAND_NOISE_RANGE: Range = (0.04, 0.12)
"""Standard deviation of the log of each month's demand shock."""

CHANNEL_RANGES: dict[str, dict[str, Range]] = {
    # multiplier: on churn (subscriptions) and dropout (repeat purchases);
    # cost: channel-attributable marketing dollars per customer acquired (before the segment factor).
    "Search Ads": {"multiplier": (0.90, 1.05), "cost": (150.0, 300.0)},
    "Social Ads": {"multiplier": (1.15, 1.40), "cost": (120.0, 260.0)},
    "Referral": {"multiplier": (0.75, 0.90), "cost": (60.0, 140.0)},
    "Webinars": {"multiplier": (0.85, 1.00), "cost": (200.0, 400.0)},
    "Marketplace": {"multiplier": (1.05, 1.30), "cost": (80.0, 180.0)},
}

CHANNEL_CATEGORIES: dict[str, dict[str, float]] = {
    "Search Ads": {"digital_advertising": 1.0},
    "Social Ads": {"digital_advertising": 0.85, "creative_services": 0.15},
    "Referral": {"influencer": 1.0},
    "Webinars": {"events": 0.70, "content_creation": 0.30},
    "Marketplace": {"digital_advertising": 0.60, "other_vendors": 0.40},
}
"""How each channel's attributable spend is booked across the canonical cost categories."""

SHARED_RANGES: dict[str, Range] = {"personnel": (0.15, 0.25), "martech": (0.06, 0.12), "website": (0.02, 0.05)}
"""Shared (channel-less) costs, as a share of the channel-attributable spend."""

CATEGORY_ORDER: tuple[str, ...] = (
    "digital_advertising", "content_seo", "content_creation", "events", "media_relations", "influencer",
    "creative_services", "website", "personnel", "martech", "other_vendors", "sales",
)
"""The canonical cost-category keys of the data contract, in their canonical order."""

CHANNEL_MIX_BASE: dict[str, tuple[float, ...]] = {
    SMB: (0.35, 0.20, 0.20, 0.15, 0.10),
    ENTERPRISE: (0.20, 0.10, 0.25, 0.40, 0.05),
    DTC: (0.30, 0.40, 0.15, 0.02, 0.13),
}
"""Centre of each segment's channel mix (per seed: Dirichlet with concentration 40 x these)."""

SBG_RANGES: dict[str, dict[str, Range]] = {
    SMB: {"alpha": (0.6, 2.5), "mean_churn": (0.05, 0.15), "price_median": (80.0, 300.0),
          "price_sigma": (0.30, 0.50), "margin_low": (0.70, 0.75), "margin_high": (0.80, 0.88),
          "quarter": (0.05, 0.12), "year": (0.05, 0.15), "cost_factor": (1.0, 2.0)},
    ENTERPRISE: {"alpha": (0.5, 1.5), "mean_churn": (0.025, 0.06), "price_median": (1_500.0, 4_000.0),
                 "price_sigma": (0.25, 0.45), "margin_low": (0.72, 0.78), "margin_high": (0.82, 0.88),
                 "quarter": (0.10, 0.20), "year": (0.40, 0.60), "cost_factor": (8.0, 20.0)},
}
"""Subscription segments. beta = alpha (1 / mean_churn - 1), clipped to [4, 40]; the price
median is drawn log-uniformly; quarter and year are the shares of quarterly and annual payers."""
BETA_BOUNDS: Range = (4.0, 40.0)

BGNBD_RANGES: dict[str, Range] = {
    "r": (0.3, 1.5), "alpha": (2.0, 15.0), "a": (0.5, 1.5), "b": (2.0, 10.0),
    "p": (2.0, 8.0), "q": (2.5, 6.0), "mean_order_value": (20.0, 120.0),
    "margin_low": (0.35, 0.45), "margin_high": (0.50, 0.60), "cost_factor": (0.5, 0.9),
}
"""The repeat-purchase segment. alpha in weeks; gamma = mean_order_value (q - 1) / p."""

SMB_SHARE_RANGE: Range = (0.75, 0.90)
"""SMB's share of the subscription customers (Enterprise B2B has the rest)."""
MIXED_DTC_SHARE = 0.60

CHANNEL_NOISE = 0.06
"""Log-sd of each channel-month's spend around its expected cost."""
SHARED_NOISE = 0.03


# --------------------------------------------------------------------------------------
# Calendar
# --------------------------------------------------------------------------------------

def _month_number(day: date) -> int:
    return day.year * 12 + day.month - 1


def _month_date(number: int) -> date:
    return date(number // 12, number % 12 + 1, 1)


def _quarter_label(month_number: int) -> str:
    return f"{month_number // 12:04d}-Q{(month_number % 12) // 3 + 1}"


@dataclass(frozen=True)
class _Calendar:
    """Months 0 .. history + horizon - 1 from ``start``; day numbers count from 1970-01-01."""

    start: date
    history: int
    horizon: int

    @property
    def months(self) -> int:
        """Simulated months: the history and ``horizon`` months after the youngest cohort's."""
        return self.history + self.horizon

    @property
    def first(self) -> int:
        return _month_number(self.start)

    def month_starts(self, count: int) -> np.ndarray:
        """Day numbers of the first day of months 0 .. count (one past the last)."""
        first = np.datetime64(self.start.strftime("%Y-%m"), "M")
        return (first + np.arange(count + 1)).astype("datetime64[D]").astype(np.int64)

    @property
    def as_of(self) -> date:
        return date.fromordinal(_month_date(self.first + self.history).toordinal() - 1)

    @property
    def end_day(self) -> int:
        """Day number of the last simulated day."""
        return int(self.month_starts(self.months)[-1]) - 1


# --------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------

def _uniform(rng: np.random.Generator, bounds: Range) -> float:
    return round(float(rng.uniform(*bounds)), 6)


def _log_uniform(rng: np.random.Generator, bounds: Range) -> float:
    return round(math.exp(float(rng.uniform(math.log(bounds[0]), math.log(bounds[1])))), 6)


def _segments_of(kind: Kind) -> tuple[str, ...]:
    return {"subscription": (SMB, ENTERPRISE), "repeat": (DTC,), "mixed": (DTC, SMB, ENTERPRISE)}[kind]


def _draw_params(rng: np.random.Generator, kind: Kind) -> dict[str, Any]:
    """Every parameter of one company, drawn from the ranges above in a fixed order."""
    params: dict[str, Any] = {
        "monthly_growth": _uniform(rng, GROWTH_RANGE),
        "demand_noise": _uniform(rng, DEMAND_NOISE_RANGE),
        "channels": {name: {"multiplier": _uniform(rng, r["multiplier"]),
                            "cost_per_customer": _uniform(rng, r["cost"])}
                     for name, r in CHANNEL_RANGES.items()},
        "shared_costs": {cat: _uniform(rng, bounds) for cat, bounds in SHARED_RANGES.items()},
    }
    smb_share = _uniform(rng, SMB_SHARE_RANGE)
    subscription_share = 1.0 - MIXED_DTC_SHARE if kind == "mixed" else 1.0
    shares = {DTC: MIXED_DTC_SHARE if kind == "mixed" else 1.0,
              SMB: subscription_share * smb_share, ENTERPRISE: subscription_share * (1.0 - smb_share)}
    segments: dict[str, Any] = {}
    for name in _segments_of(kind):
        base = np.asarray(CHANNEL_MIX_BASE[name])
        mix = rng.dirichlet(40.0 * base)
        channel_mix = {c: round(float(w), 6) for c, w in zip(CHANNELS, mix, strict=True)}
        if name == DTC:
            g = BGNBD_RANGES
            seg: dict[str, Any] = {"model": "BG/NBD", "share": round(shares[name], 6)}
            for key in ("r", "alpha", "a", "b", "p", "q", "mean_order_value"):
                seg[key] = _uniform(rng, g[key])
            seg["gamma"] = round(seg["mean_order_value"] * (seg["q"] - 1.0) / seg["p"], 6)
            seg["min_order"] = MIN_ORDER_CENTS / 100
            seg["margin_rate"] = (_uniform(rng, g["margin_low"]), _uniform(rng, g["margin_high"]))
            seg["cost_factor"] = _uniform(rng, g["cost_factor"])
        else:
            s = SBG_RANGES[name]
            alpha = _uniform(rng, s["alpha"])
            mean_churn = _log_uniform(rng, s["mean_churn"])
            beta = round(min(max(alpha * (1.0 / mean_churn - 1.0), BETA_BOUNDS[0]), BETA_BOUNDS[1]), 6)
            quarter, year = _uniform(rng, s["quarter"]), _uniform(rng, s["year"])
            seg = {"model": "sBG", "share": round(shares[name], 6), "alpha": alpha, "beta": beta,
                   "mean_churn": round(alpha / (alpha + beta), 6),
                   "price_median": _log_uniform(rng, s["price_median"]),
                   "price_sigma": _uniform(rng, s["price_sigma"]),
                   "margin_rate": (_uniform(rng, s["margin_low"]), _uniform(rng, s["margin_high"])),
                   "billing_mix": {"month": round(1.0 - quarter - year, 6), "quarter": quarter, "year": year},
                   "cost_factor": _uniform(rng, s["cost_factor"])}
        seg["channel_mix"] = channel_mix
        segments[name] = seg
    params["segments"] = segments
    return params


def _override(node: Any, path: list[str], value: Any, full: str) -> None:
    key, rest = path[0], path[1:]
    if not isinstance(node, dict):
        raise KeyError(f"override {full!r}: {key!r} is below a value, not a group of parameters")
    keys = list(node) if key == "*" else [key]
    for k in keys:
        if k not in node:
            raise KeyError(f"override {full!r}: no parameter {k!r}; there are {', '.join(map(str, node))}")
        if rest:
            _override(node[k], rest, value, full)
        else:
            node[k] = copy.deepcopy(value)


def _apply_overrides(params: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of ``params`` with each dotted path (``*`` matches every key of a level) replaced."""
    result = copy.deepcopy(params)
    for path, value in (overrides or {}).items():
        _override(result, path.split("."), value, path)
    for name, seg in result["segments"].items():
        if seg["model"] == "sBG":
            seg["mean_churn"] = round(seg["alpha"] / (seg["alpha"] + seg["beta"]), 6)
            mix = seg["billing_mix"]
            if set(mix) != set(INTERVALS) or min(mix.values()) < 0 or sum(mix.values()) <= 0:
                raise ValueError(f"segments.{name}.billing_mix needs non-negative weights for {INTERVALS}")
        else:
            seg["mean_order_value"] = round(seg["p"] * seg["gamma"] / (seg["q"] - 1.0), 6)
    return result


# --------------------------------------------------------------------------------------
# Customers
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Customers:
    """The acquired customers in customer_id order (by acquisition day)."""

    day: np.ndarray
    month: np.ndarray
    """Calendar month index (0 = ``start``'s month)."""
    segment: np.ndarray
    """Index into ``segments``."""
    channel: np.ndarray
    segments: tuple[str, ...]


def _largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights`` (exact sum, deterministic)."""
    raw = total * weights / weights.sum()
    base = np.floor(raw).astype(np.int64)
    order = np.lexsort((np.arange(len(weights)), -(raw - base)))
    base[order[:total - int(base.sum())]] += 1
    return base


def _demand(rng: np.random.Generator, cal: _Calendar, params: dict[str, Any]) -> np.ndarray:
    """Relative demand of months 0 .. history + 2 (the quarter after as_of included)."""
    months = cal.history + 3
    growth = (1.0 + params["monthly_growth"]) ** np.arange(months)
    return np.asarray(growth * rng.lognormal(0.0, params["demand_noise"], size=months))


def _acquire(rng: np.random.Generator, cal: _Calendar, params: dict[str, Any], demand: np.ndarray,
             customers: int) -> _Customers:
    history = cal.history
    p_month = demand[:history] / demand[:history].sum()
    floor = 1 if customers >= history else 0  # every monthly cohort has a customer
    counts = floor + rng.multinomial(customers - floor * history, p_month)
    month = np.repeat(np.arange(history), counts)
    starts = cal.month_starts(history)
    days_in = np.diff(starts)
    day = starts[month] + np.floor(rng.random(customers) * days_in[month]).astype(np.int64)

    segments = tuple(params["segments"])
    shares = np.array([params["segments"][s]["share"] for s in segments], dtype=np.float64)
    segment = rng.permutation(np.repeat(np.arange(len(segments)), _largest_remainder(customers, shares)))
    channel = np.zeros(customers, dtype=np.int64)
    for s, name in enumerate(segments):
        members = np.flatnonzero(segment == s)
        mix = np.array([params["segments"][name]["channel_mix"][c] for c in CHANNELS], dtype=np.float64)
        channel[members] = rng.choice(len(CHANNELS), size=len(members), p=mix / mix.sum())
    order = np.lexsort((rng.random(customers), day))
    return _Customers(day[order], month[order], segment[order], channel[order], segments)


# --------------------------------------------------------------------------------------
# Revenue
# --------------------------------------------------------------------------------------

@dataclass
class _Ledger:
    """Revenue rows as parallel arrays: customer index, day number, cents, margin cents."""

    customer: np.ndarray
    day: np.ndarray
    revenue: np.ndarray
    margin: np.ndarray


def _within(counts: np.ndarray) -> np.ndarray:
    """0, 1, ... numbering of the rows of each customer in a flat array of ``counts`` rows each."""
    starts = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    return np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts, counts)


def _multipliers(params: dict[str, Any], channel: np.ndarray) -> np.ndarray:
    table = np.array([params["channels"][c]["multiplier"] for c in CHANNELS], dtype=np.float64)
    return np.asarray(table[channel])


def _subscriptions(rng: np.random.Generator, cal: _Calendar, cust: _Customers, name: str,
                   seg: dict[str, Any], latent: dict[str, np.ndarray], params: dict[str, Any]) -> _Ledger:
    """sBG lives (F&H 2007) of one segment's customers, billed monthly, quarterly or yearly."""
    idx = np.flatnonzero(cust.segment == cust.segments.index(name))
    n = len(idx)
    theta = np.clip(rng.beta(seg["alpha"], seg["beta"], size=n) * _multipliers(params, cust.channel[idx]),
                    1e-4, 0.95)
    life = rng.geometric(theta).astype(np.int64)  # months paid for, >= 1
    mix = np.array([seg["billing_mix"][i] for i in INTERVALS], dtype=np.float64)
    kind = rng.choice(len(INTERVALS), size=n, p=mix / mix.sum())
    interval = np.asarray(INTERVAL_MONTHS, dtype=np.int64)[kind]
    price = np.maximum(1.0, np.rint(rng.lognormal(math.log(seg["price_median"]), seg["price_sigma"], size=n)))
    price_cents = price.astype(np.int64) * 100
    low, high = seg["margin_rate"]
    rate = rng.uniform(low, high, size=n)

    terms = (life + interval - 1) // interval
    max_age = (cal.months - 1) - cust.month[idx]
    billed = np.minimum(terms, max_age // interval + 1)
    k = _within(billed)
    row = np.repeat(np.arange(n), billed)
    month = cust.month[idx][row] + k * interval[row]
    starts = cal.month_starts(cal.months)
    day_of_month = (cust.day[idx] - starts[cust.month[idx]])[row]
    day = starts[month] + np.minimum(day_of_month, np.diff(starts)[month] - 1)
    revenue = interval[row] * price_cents[row]
    margin = np.floor(revenue * rate[row]).astype(np.int64)

    latent["churn_probability"][idx] = theta
    latent["lifetime_months"][idx] = life
    latent["interval"][idx] = kind
    latent["monthly_price"][idx] = price_cents
    latent["margin_rate"][idx] = rate
    return _Ledger(idx[row], day, revenue, margin)


def _purchases(rng: np.random.Generator, cal: _Calendar, cust: _Customers, name: str,
               seg: dict[str, Any], latent: dict[str, np.ndarray], params: dict[str, Any]) -> _Ledger:
    """BG/NBD lives (FHL 2005) in continuous time with Gamma-Gamma order values."""
    idx = np.flatnonzero(cust.segment == cust.segments.index(name))
    n = len(idx)
    rate_week = rng.gamma(seg["r"], 1.0 / seg["alpha"], size=n)
    rate_day = np.maximum(rate_week, 1e-12) / 7.0
    dropout = np.clip(rng.beta(seg["a"], seg["b"], size=n) * _multipliers(params, cust.channel[idx]), 1e-4, 1.0)
    repeats_alive = rng.geometric(dropout).astype(np.int64)  # repeat purchases before dropping out
    limit = (cal.end_day + 1 - cust.day[idx]).astype(np.float64)  # days of life simulated

    owners = [np.arange(n)]
    times = [np.zeros(n)]
    clock = np.zeros(n)
    made = np.zeros(n, dtype=np.int64)
    alive = np.arange(n)
    while alive.size:  # one purchase round for everyone still alive and inside the window
        t = clock[alive] + rng.standard_exponential(alive.size) / rate_day[alive]
        inside = t < limit[alive]
        alive, t = alive[inside], t[inside]
        clock[alive] = t
        made[alive] += 1
        owners.append(alive)
        times.append(t)
        alive = alive[made[alive] < repeats_alive[alive]]
    owner = np.concatenate(owners)
    day = cust.day[idx][owner] + np.floor(np.concatenate(times)).astype(np.int64)

    nu = rng.gamma(seg["q"], 1.0 / seg["gamma"], size=n)
    value = rng.gamma(seg["p"], 1.0 / nu[owner])
    revenue = np.maximum(np.rint(value * 100.0).astype(np.int64), MIN_ORDER_CENTS)
    low, high = seg["margin_rate"]
    margin = np.floor(revenue * rng.uniform(low, high, size=len(revenue))).astype(np.int64)

    # Same-day purchases are one row: values and margins added.
    order = np.lexsort((day, owner))
    owner, day, revenue, margin = owner[order], day[order], revenue[order], margin[order]
    first = np.ones(len(day), dtype=bool)
    first[1:] = (owner[1:] != owner[:-1]) | (day[1:] != day[:-1])
    at = np.flatnonzero(first)

    latent["purchase_rate_weekly"][idx] = rate_week
    latent["dropout_probability"][idx] = dropout
    latent["repeats_alive"][idx] = repeats_alive
    latent["order_value_mean"][idx] = seg["p"] / nu
    return _Ledger(idx[owner[at]], day[at], np.add.reduceat(revenue, at), np.add.reduceat(margin, at))


# --------------------------------------------------------------------------------------
# Spend
# --------------------------------------------------------------------------------------

def _spend(rng: np.random.Generator, cal: _Calendar, params: dict[str, Any], demand: np.ndarray,
           customers: int) -> pl.DataFrame:
    """Quarterly spend of the history and the quarter after, driven by expected acquisitions."""
    months = cal.history + 3
    expected = customers * demand / demand[:cal.history].sum()  # customers expected per month
    growth = (1.0 + params["monthly_growth"]) ** np.arange(months)
    trend = customers * growth / growth[:cal.history].sum()  # the same without the demand shocks
    cost = np.zeros(len(CHANNELS))  # dollars per expected customer, per channel
    for seg in params["segments"].values():
        for c, channel in enumerate(CHANNELS):
            cost[c] += (seg["share"] * seg["channel_mix"][channel] * seg["cost_factor"]
                        * params["channels"][channel]["cost_per_customer"])
    direct = expected[:, None] * cost[None, :] * rng.lognormal(0.0, CHANNEL_NOISE, size=(months, len(CHANNELS)))
    direct_q = direct[0::3] + direct[1::3] + direct[2::3]
    smooth = trend * float(cost.sum())
    smooth_q = smooth[0::3] + smooth[1::3] + smooth[2::3]

    quarters = months // 3
    rows: dict[str, list[Any]] = {"period": [], "category": [], "channel": [], "cents": []}
    for q in range(quarters):
        period = _quarter_label(cal.first + 3 * q)
        lines: list[tuple[str, str | None, float]] = []
        for c, channel in enumerate(CHANNELS):
            for category, share in CHANNEL_CATEGORIES[channel].items():
                lines.append((category, channel, float(direct_q[q, c]) * share))
        for category, share in params["shared_costs"].items():
            lines.append((category, None, float(smooth_q[q]) * share * float(rng.lognormal(0.0, SHARED_NOISE))))
        lines.sort(key=lambda line: (CATEGORY_ORDER.index(line[0]), line[1] is not None,
                                     CHANNELS.index(line[1]) if line[1] else -1))
        for category, channel_name, dollars in lines:
            rows["period"].append(period)
            rows["category"].append(category)
            rows["channel"].append(channel_name)
            rows["cents"].append(max(1, round(dollars * 100.0)))
    frame = pl.DataFrame(rows, schema={"period": pl.String, "category": pl.String, "channel": pl.String,
                                       "cents": pl.Int64})
    return frame.select("period", "category", "channel", amount=_decimal(pl.col("cents")))


# --------------------------------------------------------------------------------------
# Money
# --------------------------------------------------------------------------------------

MONEY = pl.Decimal(18, 2)


def _decimal(cents: pl.Expr) -> pl.Expr:
    """Integer cents as an exact ``Decimal(18, 2)``."""
    return (cents.cast(MONEY) / 100).cast(MONEY)


def _cents(money: pl.Expr) -> pl.Expr:
    """An exact ``Decimal(18, 2)`` as integer cents."""
    return (money * 100).cast(pl.Int64)


def _money_text(cents: pl.Expr) -> pl.Expr:
    """Integer cents as plain ``-1234.56`` text: no float ever touches the value."""
    magnitude = cents.abs()
    return (pl.when(cents < 0).then(pl.lit("-")).otherwise(pl.lit(""))
            + (magnitude // 100).cast(pl.String) + pl.lit(".")
            + (magnitude % 100).cast(pl.String).str.zfill(2))


def _write_csv(frame: pl.DataFrame, path: Path) -> Path:
    with path.open("wb") as handle:
        frame.write_csv(handle, line_terminator="\n")
    return path


# --------------------------------------------------------------------------------------
# The company
# --------------------------------------------------------------------------------------

Grain = Literal["month", "quarter"]
By = Literal["segment", "channel"]


@dataclass(frozen=True)
class KnownFuture:
    """A simulated company: its whole ledger, past and future, and what it was drawn from.

    ``customers``: customer_id, acquired_on (Date), channel, segment, billing_interval
    ("month", "quarter", "year"; null for repeat-purchase customers). ``revenue``: the whole
    ledger, customer_id, date (Date), revenue and gross_margin (Decimal(18, 2)), sorted by
    date then customer. ``spend``: period ("2025-Q1"), category (canonical key), channel
    (null for shared costs), amount (Decimal(18, 2)) for every history quarter and the
    quarter after ``as_of``. ``params``: every parameter drawn. ``latent``: each customer's
    own draws (churn probability, months paid for, monthly price, margin rate for
    subscribers; weekly purchase rate, dropout probability, repeat purchases while alive,
    mean order value for repeat buyers), for tests and reports.
    """

    kind: Kind
    seed: int
    as_of: date
    """Last day of the last history month."""
    horizon_months: int
    """Months simulated after the youngest cohort's acquisition month."""
    customers: pl.DataFrame
    revenue: pl.DataFrame
    spend: pl.DataFrame
    params: dict[str, Any]
    latent: pl.DataFrame = field(repr=False)

    @property
    def last_day(self) -> date:
        """The last simulated day: the ledger holds every row up to and including it."""
        return date.fromordinal(_month_date(_month_number(self.as_of) + self.horizon_months + 1).toordinal() - 1)

    @property
    def next_quarter(self) -> str:
        """Label of the quarter after ``as_of``."""
        return _quarter_label(_month_number(self.as_of) + 1)

    def history(self) -> pl.DataFrame:
        """The revenue rows dated on or before ``as_of``: what the company can export today."""
        return self.revenue.filter(pl.col("date") <= self.as_of)

    def write(self, folder: Path, *, billing_column: bool = False, include_future: bool = False) -> dict[str, Path]:
        """Write the import files of the history into ``folder``; return each path by name.

        ``spend.csv`` (history quarters: period,category,channel,amount), ``spend_next.csv``
        (the quarter after as_of only), ``customers.csv`` (acquired on or before as_of:
        customer_id,acquired_on,channel,segment and billing_interval if ``billing_column``)
        and ``revenue.csv`` (dated on or before as_of: customer_id,date,revenue,gross_margin).
        With ``include_future``, also ``revenue_future.csv``: the rows after as_of, in the
        same layout, so the whole ledger is on disk. Money is written from the integer cents
        as plain ``1234.56`` text; dates ISO; an empty channel is a shared cost.
        """
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        spend = self.spend.select("period", "category", "channel", amount=_money_text(_cents(pl.col("amount"))))
        paths = {
            "spend": _write_csv(spend.filter(pl.col("period") != self.next_quarter), out / "spend.csv"),
            "spend_next": _write_csv(spend.filter(pl.col("period") == self.next_quarter), out / "spend_next.csv"),
        }
        columns = ["customer_id", "acquired_on", "channel", "segment"]
        if billing_column:
            columns.append("billing_interval")
        customers = self.customers.filter(pl.col("acquired_on") <= self.as_of).select(columns)
        paths["customers"] = _write_csv(customers, out / "customers.csv")
        ledger = self.revenue.select("customer_id", "date", revenue=_money_text(_cents(pl.col("revenue"))),
                                     gross_margin=_money_text(_cents(pl.col("gross_margin"))))
        paths["revenue"] = _write_csv(ledger.filter(pl.col("date") <= self.as_of), out / "revenue.csv")
        if include_future:
            paths["revenue_future"] = _write_csv(ledger.filter(pl.col("date") > self.as_of),
                                                 out / "revenue_future.csv")
        return paths

    def _cohorts(self, acquired_by: date, grain: Grain, by: By | None) -> pl.DataFrame:
        if grain not in ("month", "quarter"):
            raise ValueError(f"grain must be 'month' or 'quarter', got {grain!r}")
        if by not in (None, "segment", "channel"):
            raise ValueError(f"by must be 'segment', 'channel' or None, got {by!r}")
        acquired = pl.col("acquired_on")
        return self.customers.filter(acquired <= acquired_by).select(
            "customer_id",
            cohort=acquired.dt.truncate("1mo" if grain == "month" else "1q"),
            _acq_month=acquired.dt.year().cast(pl.Int64) * 12 + acquired.dt.month().cast(pl.Int64) - 1,
            **({by: pl.col(by)} if by else {}),
        )

    def _margin_by_age(self, members: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
        """Margin cents per (keys, age month); age = calendar months since the acquisition month."""
        day = pl.col("date")
        return (
            self.revenue.lazy()
            .join(members.lazy(), on="customer_id", how="inner")
            .with_columns(age=day.dt.year().cast(pl.Int64) * 12 + day.dt.month().cast(pl.Int64) - 1
                          - pl.col("_acq_month"),
                          cents=_cents(pl.col("gross_margin")))
            .group_by([*keys, "age"])
            .agg(pl.col("cents").sum())
            .collect()
        )

    @staticmethod
    def _per_customer(members: pl.DataFrame, totals: pl.DataFrame, keys: list[str], name: str) -> pl.DataFrame:
        counts = members.group_by(keys).agg(customers=pl.len().cast(pl.Int64))
        return (counts.join(totals, on=keys, how="left")
                .select(*keys, "customers", (pl.col("_value").fill_null(0.0) / pl.col("customers")).alias(name))
                .sort(keys))

    def truth(self, *, horizon: int = 36, annual_discount_rate: float = 0.10, grain: Grain = "month",
              by: By | None = None) -> pl.DataFrame:
        """The true discounted lifetime margin per customer of each cohort acquired on or before ``as_of``.

        One row per cohort (its first day, by acquisition month or quarter) [and ``by``]:
        customers (Int64) and ltv (Float64), the mean over the cohort's customers (those
        with no revenue included) of sum over ages t = 0 .. horizon - 1 of the gross margin
        earned in age month t / (1 + annual_discount_rate)^(t / 12). Age month t is the
        calendar-month difference between a row's month and the acquisition month (a row in
        the acquisition month is age 0). Sorted by cohort.
        """
        if not 1 <= horizon <= self.horizon_months + 1:
            raise ValueError(f"horizon must be 1 .. {self.horizon_months + 1} months: the simulation covers "
                             f"ages 0 .. {self.horizon_months} of the youngest cohort")
        if annual_discount_rate <= -1:
            raise ValueError("annual_discount_rate must be greater than -1")
        keys = ["cohort", *([by] if by else [])]
        members = self._cohorts(self.as_of, grain, by)
        factor = pl.DataFrame({"age": list(range(horizon)),
                               "_factor": [(1.0 + annual_discount_rate) ** (-t / 12) for t in range(horizon)]},
                              schema={"age": pl.Int64, "_factor": pl.Float64})
        totals = (self._margin_by_age(members, keys)
                  .join(factor, on="age", how="inner")
                  .group_by(keys)
                  .agg(_value=(pl.col("cents").cast(pl.Float64) * pl.col("_factor")).sum() / 100.0))
        return self._per_customer(members, totals, keys, "ltv")

    def realised(self, cutoff: date, months_ahead: int, *, grain: Grain = "month",
                 by: By | None = None) -> pl.DataFrame:
        """What each cohort acquired on or before ``cutoff`` earned in the ``months_ahead`` months after it.

        One row per cohort [and ``by``]: customers (Int64) and margin_per_customer (Float64),
        the undiscounted gross margin per customer dated in the ``months_ahead`` whole
        calendar months after ``cutoff``'s month (rows later in ``cutoff``'s own month are
        not counted). For scoring back-tests cut at ``cutoff``. Sorted by cohort.
        """
        cutoff_month = _month_number(cutoff)
        last = _month_number(self.last_day)
        if months_ahead < 1 or cutoff_month + months_ahead > last:
            raise ValueError(f"months_ahead must be 1 .. {last - cutoff_month} for a cut-off in "
                             f"{cutoff:%Y-%m}: the simulation ends on {self.last_day}")
        keys = ["cohort", *([by] if by else [])]
        members = self._cohorts(cutoff, grain, by)
        day = pl.col("date")
        totals = (
            self.revenue.lazy()
            .join(members.lazy(), on="customer_id", how="inner")
            .with_columns(_month=day.dt.year().cast(pl.Int64) * 12 + day.dt.month().cast(pl.Int64) - 1)
            .filter((pl.col("_month") > cutoff_month) & (pl.col("_month") <= cutoff_month + months_ahead))
            .group_by(keys)
            .agg(_value=_cents(pl.col("gross_margin")).sum().cast(pl.Float64) / 100.0)
            .collect()
        )
        return self._per_customer(members, totals, keys, "margin_per_customer")


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------

def simulate(kind: Kind, *, seed: int, customers: int = 8_000, history_months: int = 36,
             start: date = date(2022, 1, 1), horizon_months: int = 36,
             overrides: dict[str, Any] | None = None) -> KnownFuture:
    """Simulate a company of ``kind`` whose every customer's whole life is known.

    ``customers`` are acquired over the ``history_months`` months from ``start`` (a
    quarter's first day; ``history_months`` whole quarters), so ``as_of`` is the last day of
    the last of them; every customer is then lived until ``horizon_months`` months after
    the youngest cohort's acquisition month. ``overrides`` replaces drawn parameters by
    dotted path into ``params`` after all are drawn (the other draws are unchanged), ``*``
    matching every key of a level, e.g. ``{"channels.*.multiplier": 1.0,
    "segments.SMB.billing_mix": {"month": 1, "quarter": 0, "year": 0}}``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if customers < 1:
        raise ValueError("customers must be at least 1")
    if history_months < 3 or history_months % 3:
        raise ValueError("history_months must be a positive number of whole quarters (3, 6, ...)")
    if start.day != 1 or start.month % 3 != 1:
        raise ValueError("start must be the first day of a calendar quarter")
    if horizon_months < 36:
        raise ValueError("horizon_months must be at least 36")
    cal = _Calendar(start, history_months, horizon_months)
    if not date(1990, 1, 1) <= start or _month_number(start) + cal.months > _month_number(date(2200, 1, 1)):
        raise ValueError("the simulated months must lie between 1990 and 2200")

    rng_params, rng_acquire, rng_subscriptions, rng_purchases, rng_spend = np.random.default_rng(seed).spawn(5)
    drawn = _draw_params(rng_params, kind)
    params = _apply_overrides(drawn, overrides)
    params = {"kind": kind, "seed": seed, "customers": customers, "history_months": history_months,
              "start": start.isoformat(), "horizon_months": horizon_months, **params}

    demand = _demand(rng_acquire, cal, params)
    cust = _acquire(rng_acquire, cal, params, demand, customers)
    latent: dict[str, np.ndarray] = {
        "churn_probability": np.full(customers, np.nan), "lifetime_months": np.full(customers, -1, np.int64),
        "interval": np.full(customers, -1, np.int64), "monthly_price": np.full(customers, -1, np.int64),
        "margin_rate": np.full(customers, np.nan), "purchase_rate_weekly": np.full(customers, np.nan),
        "dropout_probability": np.full(customers, np.nan), "repeats_alive": np.full(customers, -1, np.int64),
        "order_value_mean": np.full(customers, np.nan),
    }
    parts = []
    for name in cust.segments:
        seg = params["segments"][name]
        if seg["model"] == "sBG":
            parts.append(_subscriptions(rng_subscriptions, cal, cust, name, seg, latent, params))
        else:
            parts.append(_purchases(rng_purchases, cal, cust, name, seg, latent, params))
    ledger = _Ledger(*(np.concatenate([getattr(p, f) for p in parts])
                       for f in ("customer", "day", "revenue", "margin")))

    width = max(6, len(str(customers)))
    prefix = ID_PREFIX[kind]

    def customer_id(index: pl.Expr) -> pl.Expr:
        return pl.lit(prefix) + (index + 1).cast(pl.String).str.zfill(width)

    is_sub = latent["interval"] >= 0
    customers_frame = pl.DataFrame({
        "_i": np.arange(customers, dtype=np.int64), "_day": cust.day.astype(np.int32),
        "_ch": cust.channel.astype(np.uint32), "_seg": cust.segment.astype(np.uint32),
        "_int": np.where(is_sub, latent["interval"], 0).astype(np.uint32), "_sub": is_sub,
    }).select(
        customer_id=customer_id(pl.col("_i")),
        acquired_on=pl.col("_day").cast(pl.Date),
        channel=pl.lit(pl.Series(CHANNELS, dtype=pl.String)).gather(pl.col("_ch")),
        segment=pl.lit(pl.Series(cust.segments, dtype=pl.String)).gather(pl.col("_seg")),
        billing_interval=pl.when(pl.col("_sub"))
        .then(pl.lit(pl.Series(INTERVALS, dtype=pl.String)).gather(pl.col("_int"))),
    )
    order = np.lexsort((ledger.customer, ledger.day))
    revenue = pl.DataFrame({
        "_i": ledger.customer[order].astype(np.int64), "_day": ledger.day[order].astype(np.int32),
        "_rev": ledger.revenue[order].astype(np.int64), "_gm": ledger.margin[order].astype(np.int64),
    }).select(
        customer_id=customer_id(pl.col("_i")),
        date=pl.col("_day").cast(pl.Date),
        revenue=_decimal(pl.col("_rev")),
        gross_margin=_decimal(pl.col("_gm")),
    )
    latent_frame = pl.DataFrame({
        "customer_id": customers_frame.get_column("customer_id"),
        "churn_probability": latent["churn_probability"],
        "lifetime_months": pl.Series(latent["lifetime_months"]).replace(-1, None),
        "monthly_price": pl.Series(latent["monthly_price"]).replace(-1, None),
        "margin_rate": latent["margin_rate"],
        "purchase_rate_weekly": latent["purchase_rate_weekly"],
        "dropout_probability": latent["dropout_probability"],
        "repeats_alive": pl.Series(latent["repeats_alive"]).replace(-1, None),
        "order_value_mean": latent["order_value_mean"],
    }).with_columns(pl.col("monthly_price").pipe(_decimal), pl.selectors.float().fill_nan(None))
    return KnownFuture(kind=kind, seed=seed, as_of=cal.as_of, horizon_months=horizon_months,
                       customers=customers_frame, revenue=revenue,
                       spend=_spend(rng_spend, cal, params, demand, customers), params=params,
                       latent=latent_frame)


def score_ltv(rows: pl.DataFrame, truth: pl.DataFrame, *, youngest: int = 12) -> pl.DataFrame:
    """The product's LTV for the ``youngest`` cohorts against what their customers really earned.

    ``rows``: a monthly metric table (period, ltv, ltv_low, ltv_high); ``truth``: ``KnownFuture.truth()``.
    One row per cohort: period, customers, ltv, truth, error (ltv / truth - 1) and covered
    (the truth within [ltv_low, ltv_high]); a cohort the product gave no LTV has a null error.
    """
    young = truth.sort("cohort").tail(youngest).rename({"cohort": "period", "ltv": "truth"})
    joined = young.join(rows.select("period", "ltv", "ltv_low", "ltv_high"), on="period", how="left")
    return joined.select(
        "period", "customers", "ltv", "truth",
        error=pl.col("ltv") / pl.col("truth") - 1,
        covered=(pl.col("ltv_low") <= pl.col("truth")) & (pl.col("truth") <= pl.col("ltv_high")),
    )
