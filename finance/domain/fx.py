"""Exchange rates and conversion to the reporting currency, exactly.

Pure: no DuckDB, no Streamlit. The store reads the rates it holds into a ``RateTable``; the importer
and the change of reporting currency convert with it.

- A published rate is *units of ``currency`` per 1 unit of ``base``* (the ECB's: 1 EUR = 1.0876 USD
  is ``base=EUR, currency=USD, rate=1.0876``).
- The rate from X to R on a day is R-per-B / X-per-B for a base B that quotes both (or 1/X-per-B when
  R is B, R-per-B when X is B): a cross rate via EUR for the ECB's rates.
- A dated amount (a revenue row) converts at its day's rate, or the latest published before it, at
  most ``STALE_DAYS`` days earlier (weekends and holidays); older is no rate.
- A period amount (a spend row) converts at the average of the daily rates published within the
  period (business days), and only when no day of the period is more than ``STALE_DAYS`` days after the
  latest rate before it (so a file ending mid-quarter gives no rate for that quarter). A period with no
  rate published within it (a weekend's spend) takes the latest rate before it, as a dated amount does.
- The rate used is rounded half-even to ``RATE_SCALE`` decimal places and stored with the row; the
  converted amount is original x that stored rate, rounded half-even to the reporting currency's minor
  unit (``minor_unit``). So every stored amount can be re-derived from the stored original and rate.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

RATE_SCALE = 12
"""Decimal places of a stored rate (published or used): the ECB's have 4 to 6 significant digits."""
RATE_PRECISION = 38
RATE_SQL = f"DECIMAL({RATE_PRECISION},{RATE_SCALE})"
STALE_DAYS = 7
"""A rate stands in for the days after it (weekends, holidays) for at most this many days."""

_ZERO_DECIMALS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMALS = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DECIMALS = "CLF UYW"
MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(_ZERO_DECIMALS.split(), 0), **dict.fromkeys(_THREE_DECIMALS.split(), 3),
    **dict.fromkeys(_FOUR_DECIMALS.split(), 4)}
"""ISO 4217 minor units that are not 2 (yen and won have none, the dinars of Bahrain and Kuwait 3)."""

OFFERED_CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CNY", "CHF", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN", "INR",
                      "KRW", "SGD", "HKD", "BRL", "MXN", "ZAR")
"""The currencies the dashboard offers in its choices (any ISO 4217 code works on the command line)."""

ISO_CURRENCIES = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL
GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD
KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO
NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD
SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV
WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
CYP EEK HRK LTL LVL MTL ROL SIT SKK TRL
""".split())
"""ISO 4217 codes in use, and the former ones the ECB's history still quotes (CYP, EEK, HRK, ...)."""


def minor_unit(currency: str) -> int:
    """Decimal places of the currency's smallest unit: 0 for JPY, 3 for KWD, 2 for most."""
    return MINOR_UNITS.get(currency, 2)


def rounded_rate(rate: Decimal) -> Decimal:
    """A rate as stored with a row: half-even to ``RATE_SCALE`` decimal places."""
    return rate.quantize(Decimal(1).scaleb(-RATE_SCALE), rounding=ROUND_HALF_EVEN)


def converted(amount: Decimal, rate: Decimal, currency: str) -> Decimal:
    """``amount`` x ``rate`` (exact) rounded half-even to ``currency``'s minor unit."""
    return (amount * rate).quantize(Decimal(1).scaleb(-minor_unit(currency)), rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class Rate:
    """The rate used for one conversion and where it came from."""

    value: Decimal
    """Units of the target currency per 1 unit of the source, rounded (``rounded_rate``)."""
    first: date
    last: date
    days: int
    """The published days averaged (1 for a dated amount: ``first`` = ``last`` = the day used)."""


@dataclass
class RateTable:
    """Published rates by (base, currency), each a sorted list of days and rates."""

    _days: dict[tuple[str, str], list[date]] = field(default_factory=dict)
    _rates: dict[tuple[str, str], list[Decimal]] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: Iterable[tuple[date, str, str, Decimal]]) -> RateTable:
        """From (day, base, currency, rate) rows in any order."""
        pairs: dict[tuple[str, str], dict[date, Decimal]] = {}
        for day, base, currency, rate in rows:
            pairs.setdefault((base, currency), {})[day] = Decimal(rate)
        table = cls()
        for pair, by_day in pairs.items():
            days = sorted(by_day)
            table._days[pair] = days
            table._rates[pair] = [by_day[d] for d in days]
        return table

    @property
    def bases(self) -> list[str]:
        return sorted({base for base, _ in self._days})

    def currencies(self) -> set[str]:
        """Every currency a rate is known for, bases included."""
        return {c for pair in self._days for c in pair}

    def span(self, currency: str) -> tuple[date, date] | None:
        """The first and last day a rate of ``currency`` (or against it as a base) is published."""
        days = [d for pair, ds in self._days.items() if currency in pair for d in (ds[0], ds[-1])]
        return (min(days), max(days)) if days else None

    def _legs(self, source: str, target: str) -> list[tuple[tuple[str, str] | None, tuple[str, str] | None]]:
        """For each base quoting both: (the pair for source, the pair for target); None is the base itself."""
        out = []
        for base in self.bases:
            legs = [None if c == base else (base, c) for c in (source, target)]
            if all(leg is None or leg in self._days for leg in legs):
                out.append((legs[0], legs[1]))
        return out

    def on(self, source: str, target: str, day: date) -> Rate | None:
        """Units of ``target`` per 1 ``source`` for an amount dated ``day``: the rate of the latest day on or
        before it, at most ``STALE_DAYS`` earlier, on which every leg is published; None when there is none."""
        if source == target:
            return Rate(Decimal(1), day, day, 1)
        for from_leg, to_leg in self._legs(source, target):
            for back in range(STALE_DAYS + 1):
                used = day - timedelta(days=back)
                a, b = self._exact(from_leg, used), self._exact(to_leg, used)
                if a is not None and b is not None:
                    return Rate(rounded_rate(b / a), used, used, 1)
        return None

    def _exact(self, pair: tuple[str, str] | None, day: date) -> Decimal | None:
        """The rate of ``pair`` published on ``day`` (1 for the base itself)."""
        if pair is None:
            return Decimal(1)
        days = self._days[pair]
        at = bisect.bisect_left(days, day)
        return self._rates[pair][at] if at < len(days) and days[at] == day else None

    def average(self, source: str, target: str, start: date, end: date) -> Rate | None:
        """Units of ``target`` per 1 ``source`` for an amount of the period ``start``..``end``: the mean of
        the daily (cross) rates published within it; None unless the rates cover every day of it."""
        if source == target:
            return Rate(Decimal(1), start, end, 1)
        for from_leg, to_leg in self._legs(source, target):
            legs = [leg for leg in (from_leg, to_leg) if leg is not None]
            # The days on which every leg is published, and the day before the period (weekend cover).
            published = sorted(set.intersection(*[set(self._published(leg, start, end)) for leg in legs]))
            if not published:  # a few days' period without a rate of its own: the latest before it
                rate = self.on(source, target, end)
                if rate is not None and (end - rate.first).days <= STALE_DAYS:
                    return rate
                continue
            if not self._covers(source, target, published, start, end):
                continue
            total = Decimal(0)
            for day in published:
                a, b = self._exact(from_leg, day), self._exact(to_leg, day)
                assert a is not None and b is not None
                total += b / a
            return Rate(rounded_rate(total / len(published)), published[0], published[-1], len(published))
        return None

    def _published(self, pair: tuple[str, str], start: date, end: date) -> list[date]:
        days = self._days[pair]
        return days[bisect.bisect_left(days, start):bisect.bisect_right(days, end)]

    def _covers(self, source: str, target: str, published: list[date], start: date, end: date) -> bool:
        """No day of the period is more than ``STALE_DAYS`` after the latest rate on or before it."""
        marks = published
        if published[0] > start:  # the period opens on a weekend or holiday: a rate just before covers it
            before = self.on(source, target, start)
            if before is None:
                return False
            marks = [before.first, *published]
        gaps = (later - earlier for earlier, later in itertools.pairwise(marks))
        return all(g <= timedelta(days=STALE_DAYS + 1) for g in gaps) and (end - marks[-1]).days <= STALE_DAYS
