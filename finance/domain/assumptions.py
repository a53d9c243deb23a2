"""The shared assumptions behind every figure, stored in the database so all viewers agree.

Stored as text in the store's settings table (``assumption.<name>``); this module gives
them types, defaults and validation. ``finance.metrics.params`` turns them, plus a view's
or a command's explicit overrides, into the parameters of a metric table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from finance.domain.schema import DEFAULT_BAND_EDGES, check_band_edges

RANGE_WIDTH = 0.80
"""Width of every stated range: the 10th to the 90th percentile."""

LABELS: dict[str, str] = {
    "default_gross_margin": "Default gross margin",
    "annual_discount_rate": "Annual discount rate",
    "horizon_months": "LTV horizon (months)",
    "band_edges": "LTV:CAC band edges",
    "lag_quarters": "Acquisition lag (quarters)",
    "fiscal_year_start": "Fiscal year starts in month",
    "allocation": "Shared costs allocated to channels by",
    "target_ratio": "Target LTV:CAC",
    "target_payback_months": "Target CAC payback (months)",
    "reconcile_share": "Reconciliation tolerance (share of the ledger)",
    "reconcile_amount": "Reconciliation tolerance (amount, reporting currency)",
}
"""Each assumption's name for people, in the order the Assumptions page and the pack list them."""

EXPECTED: dict[str, str] = {
    "default_gross_margin": "a fraction from 0 to 1, e.g. 0.70",
    "annual_discount_rate": "a fraction from 0 to below 1, e.g. 0.10",
    "horizon_months": "a whole number of months from 1 to 600",
    "band_edges": "four increasing numbers above 0, e.g. 1,2,3,5",
    "lag_quarters": "a whole number of quarters from 0 to 4",
    "fiscal_year_start": "a month number from 1 to 12",
    "allocation": "spend or customers",
    "target_ratio": "a number above 0 and at most 100, e.g. 3",
    "target_payback_months": "a whole number of months from 0 (no target) to 120, e.g. 12",
    "reconcile_share": "a fraction from 0 to below 1, e.g. 0.005",
    "reconcile_amount": "an amount of 0 or more in the reporting currency, e.g. 100",
}
"""What each assumption's value must be, as an error message says it."""


@dataclass(frozen=True)
class Assumptions:
    """What a CFO would ask to see next to any LTV:CAC figure."""

    default_gross_margin: Decimal = Decimal("0.70")
    annual_discount_rate: float = 0.10
    horizon_months: int = 36
    band_edges: tuple[float, ...] = DEFAULT_BAND_EDGES
    lag_quarters: int = 0
    fiscal_year_start: int = 1
    allocation: str = "spend"
    target_ratio: float = 3.0
    """The LTV:CAC marketing is held to; every row gives the probability of falling below it."""
    target_payback_months: int = 0
    """The CAC payback marketing is held to, in months (0: none); a period whose payback is longer missed it."""
    reconcile_share: Decimal = Decimal("0.005")
    reconcile_amount: Decimal = Decimal("100")
    """A period and category reconcile to the general ledger when the imported spend is within the larger of
    these of the ledger's total: a share of it, or an amount in the reporting currency
    (``finance.metrics.reconcile``)."""

    def __post_init__(self) -> None:
        check_ltv_inputs(self.default_gross_margin, self.annual_discount_rate, self.horizon_months)
        check_band_edges(self.band_edges)
        if not 0 <= self.lag_quarters <= 4:
            raise ValueError("the acquisition lag must be 0 to 4 quarters")
        if not 1 <= self.fiscal_year_start <= 12:
            raise ValueError("the fiscal year must start in a month 1-12")
        if self.allocation not in ("spend", "customers"):
            raise ValueError("shared costs are allocated by 'spend' or 'customers'")
        if not 0 < self.target_ratio <= 100:
            raise ValueError("the target LTV:CAC must be above 0 and at most 100")
        if not 0 <= self.target_payback_months <= 120:
            raise ValueError("the target CAC payback must be 0 (none) to 120 months")
        if not 0 <= self.reconcile_share < 1:
            raise ValueError("the reconciliation tolerance's share must be at least 0 and below 1")
        if not 0 <= self.reconcile_amount < Decimal("1e12"):
            raise ValueError("the reconciliation tolerance's amount must be 0 or more")

    @classmethod
    def from_settings(cls, stored: dict[str, str]) -> Assumptions:
        """Typed assumptions from stored text; a value that no longer parses keeps its default."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            text = stored.get(f.name)
            if text is None:
                continue
            try:
                values[f.name] = _parse(f.name, text)
            except (ValueError, InvalidOperation):
                continue
        try:
            return cls(**values)
        except ValueError:
            return cls()

    def parsed(self, texts: Mapping[str, str]) -> tuple[Assumptions, tuple[str, ...]]:
        """These assumptions with ``texts`` (name -> value as typed) applied, and the names that changed.

        Strict, unlike ``from_settings``: an unknown name, a value that does not parse or one out of
        range raises ``ValueError`` naming the assumption, the value and what was expected.
        """
        values: dict[str, Any] = {}
        problems: list[str] = []
        for name, text in texts.items():
            if name not in LABELS:
                problems.append(f"unknown assumption {name!r} (the assumptions are {', '.join(LABELS)})")
                continue
            try:
                values[name] = _parse(name, text.strip())
                replace(self, **{name: values[name]})
            except (ValueError, ArithmeticError):  # Decimal's InvalidOperation is an ArithmeticError
                problems.append(f"{name}={text!r}: expected {EXPECTED[name]}")
        if problems:
            raise ValueError("; ".join(problems))
        updated = replace(self, **values)
        return updated, tuple(name for name in LABELS if getattr(updated, name) != getattr(self, name))

    def to_json(self) -> dict[str, Any]:
        """The assumptions as JSON values: the margin as an exact decimal string, the edges as a list."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = (str(value) if isinstance(value, Decimal)
                           else list(value) if isinstance(value, tuple) else value)
        return out

    @property
    def interval_label(self) -> str:
        """'80%': the width of every stated range."""
        return f"{RANGE_WIDTH:.0%}"

    def to_settings(self) -> dict[str, str]:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = ",".join(f"{v:g}" for v in value) if f.name == "band_edges" else str(value)
        return out

    def overridden(self, **overrides: Any) -> tuple[Assumptions, tuple[str, ...]]:
        """These assumptions with the explicitly given ones replaced (``None`` means not given), and
        the names of those that changed: the one way a view or a command departs from what is stored."""
        given = {name: value for name, value in overrides.items() if value is not None}
        if unknown := sorted(set(given) - {f.name for f in fields(self)}):
            raise ValueError(f"unknown assumptions {unknown}; valid: {', '.join(f.name for f in fields(self))}")
        changed = tuple(name for name, value in given.items() if getattr(self, name) != value)
        return replace(self, **given), changed


def check_ltv_inputs(gross_margin: Decimal, discount_rate: float, horizon_months: int) -> None:
    """Refuse an LTV horizon, discount rate or default margin out of range (``ValueError``)."""
    if not 1 <= horizon_months <= 600:
        raise ValueError("the LTV horizon must be 1 to 600 months")
    if not 0 <= discount_rate < 1:
        raise ValueError("the annual discount rate must be at least 0 and below 1")
    if not 0 <= gross_margin <= 1:
        raise ValueError("the default gross margin must be a fraction from 0 to 1")


def _parse(name: str, text: str) -> Any:
    if name in ("default_gross_margin", "reconcile_share", "reconcile_amount"):
        value = Decimal(text)
        if not value.is_finite():
            raise ValueError(f"{text!r} is not a number")
        return value
    if name in ("annual_discount_rate", "target_ratio"):
        return float(text)
    if name in ("horizon_months", "lag_quarters", "fiscal_year_start", "target_payback_months"):
        return int(text)
    if name == "band_edges":
        return tuple(float(v) for v in text.replace(";", ",").split(","))
    return text
