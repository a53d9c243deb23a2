"""The targets marketing is held to, and the periods that missed them.

Three kinds: LTV:CAC at or above the ``target_ratio`` assumption; CAC payback at or below the
``target_payback_months`` assumption (0: none); and each channel's fully loaded CAC at or below its own target
(``finance.store.targets``). A period misses a target when its figure is known and on the wrong side of it; an
unknown figure (no new customers, no LTV yet) misses nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import polars as pl

from finance.domain.schema import channel_name_key

MEASURES = ("ltv_cac", "payback_months", "cac")
"""What a target is set on: the ratio, the payback, a channel's CAC."""


@dataclass(frozen=True)
class Targets:
    """Every target in force: LTV:CAC, CAC payback in months (None: none), and CAC per channel (by channel key)."""

    ltv_cac: float
    payback_months: int | None = None
    cac: Mapping[str, Decimal] = field(default_factory=dict)
    names: Mapping[str, str] = field(default_factory=dict)
    """Each channel key's name as the target was set."""

    @classmethod
    def of(cls, target_ratio: float, target_payback_months: int, cac: pl.DataFrame | None = None) -> Targets:
        """From the assumptions and the store's CAC targets (``finance.store.targets.listed``)."""
        rows = cac.iter_rows(named=True) if cac is not None else ()
        listed = [(r["channel_key"], r["channel"], Decimal(r["amount"])) for r in rows]
        return cls(target_ratio, target_payback_months or None, {k: a for k, _n, a in listed},
                   {k: n for k, n, _a in listed})

    def cac_of(self, channel: str | None) -> Decimal | None:
        """The CAC target of ``channel`` (as the data names it), if it has one."""
        return self.cac.get(channel_name_key(channel)) if channel else None


MISSES_SCHEMA: dict[str, pl.DataType] = {"period": pl.String(), "channel": pl.String(), "measure": pl.String(),
                                         "value": pl.Float64(), "target": pl.Float64()}


def misses(pooled: pl.DataFrame, by_channel: pl.DataFrame, targets: Targets) -> pl.DataFrame:
    """Each period (and channel) that missed a target: period (its label), channel (null: all channels), measure,
    value, target; in period order, the ratio first. ``pooled`` and ``by_channel``: metric rows
    (``finance.metrics.table.compute``)."""
    rows = []
    for row in pooled.sort("period").iter_rows(named=True):
        ratio, payback = row.get("ltv_cac"), row.get("payback_months")
        if ratio is not None and ratio == ratio and ratio < targets.ltv_cac:
            rows.append((row["period_label"], None, "ltv_cac", float(ratio), targets.ltv_cac))
        if targets.payback_months and payback is not None and payback == payback \
                and payback > targets.payback_months:
            rows.append((row["period_label"], None, "payback_months", float(payback), float(targets.payback_months)))
    if targets.cac and "channel" in by_channel.columns:
        for row in by_channel.sort("period", "channel").iter_rows(named=True):
            goal, cac = targets.cac_of(row["channel"]), row.get("cac")
            if goal is not None and cac is not None and Decimal(cac) > goal:
                rows.append((row["period_label"], row["channel"], "cac", float(cac), float(goal)))
    order = {label: i for i, label in enumerate(pooled.sort("period").get_column("period_label").to_list())}
    frame = pl.DataFrame(rows, schema=MISSES_SCHEMA, orient="row")
    return frame.sort(pl.col("period").replace_strict(order, default=len(order)),
                      pl.col("measure").replace_strict({m: i for i, m in enumerate(MEASURES)}), "channel",
                      nulls_last=False)
