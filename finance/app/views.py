"""The dashboard's view state: what the sidebar selects, read from and written to the URL.

Every piece of view state lives in the query string, so a CMO can send a CFO a link that
opens exactly the same view. This module is pure (no Streamlit): it parses query values
defensively (a hand-edited link never crashes the app; an unknown value falls back to the
default) and writes back only what differs from the defaults, so links stay short.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from finance.domain.periods import quarter_label_start
from finance.ltv.base import METHODS, Method
from finance.present.i18n import DEFAULT_LANGUAGE, known

WINDOW_CHOICES: tuple[int | None, ...] = (None, 3, 6, 12)
GRAIN_CHOICES = ("quarter", "month")
BASIS_CHOICES = ("accrual", "cash")


@dataclass(frozen=True)
class ViewState:
    """The sidebar's selection, shared by every page."""

    grain: str = "quarter"
    period_from: str | None = None
    period_to: str | None = None
    window: int | None = None
    method: Method = "auto"
    channels: tuple[str, ...] = field(default_factory=tuple)
    segments: tuple[str, ...] = field(default_factory=tuple)
    include_sales: bool = False
    basis: str | None = None
    """The spend's basis (``?basis=cash``): accrual or cash; None: the data's default (accrual when a spend row has
    a service period)."""
    language: str = DEFAULT_LANGUAGE
    """What the dashboard is written in (``?lang=fr``): ``finance.present.i18n.LANGUAGES``."""

    @classmethod
    def from_query(cls, query: Mapping[str, Any]) -> ViewState:
        """Read the state from query parameters; anything unreadable takes its default."""

        def one(key: str) -> str | None:
            value = query.get(key)
            if isinstance(value, list | tuple):
                value = value[-1] if value else None
            return str(value) if value not in (None, "") else None

        def many(key: str) -> tuple[str, ...]:
            text = one(key)
            return tuple(dict.fromkeys(v.strip() for v in text.split("|") if v.strip())) if text else ()

        grain = one("grain") or "quarter"
        window_text = one("window")
        window = int(window_text) if window_text and window_text.isdigit() else None
        method = one("method") or "auto"
        basis = one("basis")
        return cls(
            grain=grain if grain in GRAIN_CHOICES else "quarter",
            period_from=one("from"),
            period_to=one("to"),
            window=window if window in WINDOW_CHOICES else None,
            method=method if method in METHODS else "auto",  # type: ignore[arg-type]
            channels=many("channels"),
            segments=many("segments"),
            include_sales=one("sm") in ("1", "true", "yes"),
            basis=basis if basis in BASIS_CHOICES else None,
            language=known(one("lang")),
        )

    def to_query(self) -> dict[str, str]:
        """The query parameters that differ from the defaults ('|' joins lists)."""
        default = ViewState()
        out: dict[str, str] = {}
        if self.grain != default.grain:
            out["grain"] = self.grain
        if self.period_from:
            out["from"] = self.period_from
        if self.period_to:
            out["to"] = self.period_to
        if self.window:
            out["window"] = str(self.window)
        if self.method != default.method:
            out["method"] = self.method
        if self.channels:
            out["channels"] = "|".join(self.channels)
        if self.segments:
            out["segments"] = "|".join(self.segments)
        if self.include_sales:
            out["sm"] = "1"
        if self.basis:
            out["basis"] = self.basis
        if self.language != default.language:
            out["lang"] = self.language
        return out

    def clamp(self, periods: Sequence[str], channels: Sequence[str], segments: Sequence[str]) -> ViewState:
        """Keep only selections that exist in the data; a stale link degrades, never breaks."""
        frm = self.period_from if self.period_from in periods else None
        to = self.period_to if self.period_to in periods else None
        if frm and to and frm > to:
            frm, to = to, frm
        return replace(self, period_from=frm, period_to=to,
                       channels=tuple(c for c in self.channels if c in channels),
                       segments=tuple(s for s in self.segments if s in segments))

    def period_range(self, periods: Sequence[str]) -> tuple[str, str] | None:
        """The selected (first, last) period labels, defaulting to the whole history."""
        if not periods:
            return None
        return (self.period_from or periods[0], self.period_to or periods[-1])


def period_months(label: str, fiscal_year_start: int = 1) -> tuple[int, int] | None:
    """The first and last month a period label covers, as month numbers (year * 12 + month - 1).

    ``2025-Q2`` covers April to June 2025, ``2025-04`` April alone, ``2025`` the whole year;
    ``FY2026-Q1`` the first quarter of the fiscal year starting in ``fiscal_year_start`` (April to
    June 2025 with an April start); None for anything else.
    """
    if label.startswith("FY"):
        start = quarter_label_start(label, fiscal_year_start)
        if start is None:
            return None
        first = start.year * 12 + start.month - 1
        return first, first + 2
    parts = label.split("-")
    if not parts[0].isdigit() or len(parts[0]) != 4 or len(parts) > 2:
        return None
    year = int(parts[0]) * 12
    if len(parts) == 1:
        return year, year + 11
    rest = parts[1]
    if len(rest) == 2 and rest[0] == "Q" and rest[1] in "1234":
        first = year + 3 * (int(rest[1]) - 1)
        return first, first + 2
    if len(rest) == 2 and rest.isdigit() and 1 <= int(rest) <= 12:
        return year + int(rest) - 1, year + int(rest) - 1
    return None


def map_range(selected: tuple[str, str] | None, periods: Sequence[str],
              fiscal_year_start: int = 1) -> tuple[str, str] | None:
    """A period range carried to another grain: the first and last of ``periods`` overlapping it.

    2024-Q2..2025-Q1 becomes 2024-04..2025-03 in months, and 2024-05..2025-02 becomes
    2024-Q2..2025-Q1 in quarters (the quarters containing those months). Fiscal quarters are read
    with ``fiscal_year_start``: with an April start FY2025-Q1..FY2025-Q4 is 2024-04..2025-03. Where
    the data of the new grain starts later or ends earlier, the range stops there. None (the whole
    history) when the range cannot be read or nothing overlaps it.
    """
    if not selected or not periods:
        return None
    start = period_months(selected[0], fiscal_year_start)
    end = period_months(selected[1], fiscal_year_start)
    if start is None or end is None:
        return None
    covered = [(p, months) for p in periods if (months := period_months(p, fiscal_year_start)) is not None]
    inside = [p for p, (first, last) in covered if last >= start[0] and first <= end[1]]
    return (inside[0], inside[-1]) if inside else None
