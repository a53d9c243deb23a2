"""The one parameter resolver: what every figure is computed under.

The dashboard, ``python -m finance metrics``, ``plan`` and the board pack all start from the
stored assumptions (``finance.domain.assumptions``), apply the view's or the command's explicit
overrides, and turn the result plus a view (grain, window, breakdown, LTV method, as-of date)
into ``MetricParams``. So the same view gives the same figures wherever it is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from finance.domain.assumptions import Assumptions
from finance.ltv.base import LTVSettings, Method
from finance.metrics.table import MetricParams
from finance.store.dataset import Grain, SpendBasis


@dataclass(frozen=True)
class Resolved:
    """The assumptions in force, the names that a view or a command overrode, and the parameters."""

    assumptions: Assumptions
    overridden: tuple[str, ...]
    params: MetricParams


def metric_params(assumptions: Assumptions, *, grain: Grain = "quarter", window: int | None = None,
                  by: str | None = None, method: Method = "auto", as_of: Any = None,
                  basis: SpendBasis | None = None) -> MetricParams:
    """Metric parameters for a view, under ``assumptions`` (``basis``: the spend's; None: the data's default)."""
    ltv = LTVSettings(method=method, default_gross_margin=assumptions.default_gross_margin,
                      annual_discount_rate=assumptions.annual_discount_rate,
                      horizon_months=assumptions.horizon_months)
    return MetricParams(grain=grain, window_months=window, by=by,  # type: ignore[arg-type]
                        lag_quarters=assumptions.lag_quarters, as_of=as_of,
                        allocation=assumptions.allocation,  # type: ignore[arg-type]
                        band_edges=assumptions.band_edges, target_ratio=assumptions.target_ratio, ltv=ltv,
                        fiscal_year_start=assumptions.fiscal_year_start, spend_basis=basis)


def resolve(stored: Mapping[str, str] | Assumptions, overrides: Mapping[str, Any] | None = None, *,
            grain: Grain = "quarter", window: int | None = None, by: str | None = None, method: Method = "auto",
            as_of: Any = None, basis: SpendBasis | None = None) -> Resolved:
    """The stored assumptions (as the store keeps them, or already typed), with the explicitly given
    ``overrides`` applied (``None`` means not given), and the parameters of the view."""
    base = stored if isinstance(stored, Assumptions) else Assumptions.from_settings(dict(stored))
    assumptions, changed = base.overridden(**(overrides or {}))
    return Resolved(assumptions, changed, metric_params(assumptions, grain=grain, window=window, by=by,
                                                        method=method, as_of=as_of, basis=basis))
