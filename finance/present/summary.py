"""The headline in words: the finding a CFO reads first, and the mix behind it.

The Overview and the board pack's executive summary say the same sentences, from the same metric
rows (``finance.metrics.table``) and the same split (``finance.metrics.mix``). Names of segments
and channels come from the data and stay plain text: callers print these sentences with
``finance.domain.literal`` (screen) or as escaped text (PDF), never as markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from finance.metrics.mix import Mix
from finance.metrics.table import chance_text
from finance.present import formats


def finding(row: Mapping[str, Any], period: str, target: float, mix: Mix | None = None,
            prior: Mapping[str, Any] | None = None, prior_label: str | None = None) -> str:
    """One sentence: where LTV:CAC stands against the target in ``period``, and what carries it."""
    ratio = row.get("ltv_cac")
    if ratio is None:
        return f"{period} has no LTV:CAC yet: it has no new customers or no spend to set against them."
    target_text = formats.threshold(target)
    where = "above" if ratio >= target else "below"
    change = ""
    if prior is not None and prior.get("ltv_cac") is not None and prior_label:
        change = f", against {formats.ratio(prior['ltv_cac'])} in {prior_label}"
    head = f"LTV:CAC was {formats.ratio(ratio)} in {period}, {where} the {target_text} target{change}"
    carrier = mix.carrier if mix is not None else None
    if carrier is not None:
        rest_share = 1.0 - carrier.part.customer_share
        rest = formats.ratio(carrier.rest_ratio) if carrier.rest_ratio is not None else "n/a"
        return (f"{head}; but {carrier.part.name}, {formats.percent(carrier.part.customer_share, places=0)} of new "
                f"customers, carries it: the other {formats.percent(rest_share, places=0)} return {rest}.")
    return head + "."


def mix_note(mix: Mix, target: float) -> str | None:
    """When one part carries the headline: who, how many, and LTV:CAC without it; else None."""
    carrier = mix.carrier
    if carrier is None:
        return None
    part = carrier.part
    rest = formats.ratio(carrier.rest_ratio) if carrier.rest_ratio is not None else "n/a"
    band = f" ({carrier.rest_band})" if carrier.rest_band else ""
    return (f"{part.name} carries the headline: {formats.count(part.new_customers)} new customers "
            f"({formats.percent(part.customer_share, places=0)}) bring {formats.percent(part.margin_share, places=0)} "
            f"of the lifetime margin at {formats.ratio(part.ltv_cac)}. Without them, LTV:CAC is {rest}{band}, "
            f"below the {formats.threshold(target)} target.")


def months_change(now: int | None, before: int | None, prior: str | None = None) -> str | None:
    """'+2 months vs 2025-Q3', or 'unchanged from 2025-Q3'; without ``prior``, '+2 months' or 'unchanged';
    None when either is unknown."""
    if now is None or before is None:
        return None
    if now == before:
        return f"unchanged from {prior}" if prior else "unchanged"
    return f"{now - before:+d} months" + (f" vs {prior}" if prior else "")


def ratio_change(now: float | None, before: float | None, prior: str | None = None) -> str | None:
    """'+0.55x vs 2025-Q3' (without ``prior``, '+0.55x'); None when either is unknown."""
    if now is None or before is None:
        return None
    difference = now - before
    return f"{'+' if difference >= 0 else ''}{formats.ratio(difference)}" + (f" vs {prior}" if prior else "")


def ltv_cac_detail(row: Mapping[str, Any], target: float) -> str:
    """'range 3.91x to 6.12x; <1% chance below 1x, 4% below the 3x target', or what of it is known."""
    parts = []
    if row.get("ltv_cac_low") is not None and row.get("ltv_cac_high") is not None:
        parts.append(f"range {formats.ratio(row['ltv_cac_low'])} to {formats.ratio(row['ltv_cac_high'])}")
    if chance := chance_text(row, target):
        parts.append(chance)
    return "; ".join(parts)
