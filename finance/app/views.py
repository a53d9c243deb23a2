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

from finance.ltv.base import METHODS, Method

WINDOW_CHOICES: tuple[int | None, ...] = (None, 3, 6, 12)
GRAIN_CHOICES = ("quarter", "month")


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
        return cls(
            grain=grain if grain in GRAIN_CHOICES else "quarter",
            period_from=one("from"),
            period_to=one("to"),
            window=window if window in WINDOW_CHOICES else None,
            method=method if method in METHODS else "auto",  # type: ignore[arg-type]
            channels=many("channels"),
            segments=many("segments"),
            include_sales=one("sm") in ("1", "true", "yes"),
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
