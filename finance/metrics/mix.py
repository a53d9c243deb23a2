"""The mix behind a headline LTV:CAC: how each segment (or channel) contributes, and whether one carries it.

A pooled LTV:CAC is a customer-weighted average: the lifetime margin of every new customer over the
spend that acquired them all. So a small segment of very valuable customers can lift the headline
over the target while most customers are bought at a loss. Because the breakdown rows add up to the
pooled row (spend and new customers sum, LTV is customer-weighted), the headline without one part is
exact: the others' lifetime margin over the others' spend.

A part **carries** the headline when the headline meets the target LTV:CAC, the part brings in less
than half of the new customers, and without it the LTV:CAC of the rest is below the target. Only the
part with the largest share of the lifetime margin is tested: if it does not carry the headline, no
smaller one does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from finance.domain.schema import DEFAULT_BAND_EDGES, band_of


@dataclass(frozen=True)
class Part:
    """One segment's (or channel's) place in the headline."""

    name: str
    new_customers: int
    customer_share: float
    """Its share of the period's new customers (0 to 1)."""
    spend: float
    ltv: float | None
    ltv_cac: float | None
    band: str | None
    margin_share: float
    """Its share of the lifetime gross margin the period's new customers bring (0 to 1)."""


@dataclass(frozen=True)
class Carrier:
    """The part that carries the headline, and the LTV:CAC of everyone else."""

    part: Part
    rest_ratio: float | None
    rest_band: str | None


@dataclass(frozen=True)
class Mix:
    parts: tuple[Part, ...]
    """Largest share of new customers first."""
    carrier: Carrier | None


def headline_mix(pooled: Mapping[str, Any], parts: pl.DataFrame, dimension: str, target: float,
                 edges: tuple[float, ...] = DEFAULT_BAND_EDGES) -> Mix:
    """The headline row ``pooled`` split by ``parts`` (the same period's metric rows by ``dimension``),
    tested against the ``target`` LTV:CAC."""
    total_customers = int(pooled.get("new_customers") or 0)
    rows = [r for r in parts.iter_rows(named=True) if (r.get("new_customers") or 0) > 0 or r.get("spend")]
    margins = {str(r[dimension]): float(r["ltv"]) * int(r["new_customers"] or 0) if r.get("ltv") is not None else 0.0
               for r in rows}
    total_margin = sum(margins.values())
    out = []
    for r in rows:
        name = str(r[dimension])
        n = int(r.get("new_customers") or 0)
        out.append(Part(name, n, n / total_customers if total_customers else 0.0, float(r.get("spend") or 0),
                        _float(r.get("ltv")), _float(r.get("ltv_cac")), r.get("band"),
                        margins[name] / total_margin if total_margin > 0 else 0.0))
    out.sort(key=lambda p: (-p.new_customers, p.name))
    return Mix(tuple(out), _carrier(out, pooled, target, edges))


def _carrier(parts: list[Part], pooled: Mapping[str, Any], target: float,
             edges: tuple[float, ...]) -> Carrier | None:
    headline = _float(pooled.get("ltv_cac"))
    if len(parts) < 2 or headline is None or headline < target:
        return None
    top = max(parts, key=lambda p: (p.margin_share, p.name))
    if top.customer_share >= 0.5:
        return None
    others = [p for p in parts if p is not top]
    spend = sum(p.spend for p in others)
    margin = sum((p.ltv or 0.0) * p.new_customers for p in others)
    rest = margin / spend if spend > 0 else None
    if rest is not None and rest >= target:
        return None
    return Carrier(top, rest, band_of(rest, edges))


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
