"""The LTV methods, one a file, and the registry that maps each method and model name to its object.

Each method is one object (``LTVMethod``) that knows its model's key (``formula``, ``sbg``,
``bgnbd``), the ``--ltv-method`` name that asks for it (``formula``, ``cohort``, ``bgnbd``), its
names for people, how to fit a stratum, how to group its customers for projection, the expected
margin and the variance of one customer's life, and its fit in business words:

- ``formula.py``: each customer churns with the stratum's monthly churn rate;
- ``sbg.py``: retention by the shifted-beta-geometric model (the ``cohort`` method);
- ``bgnbd.py``: purchases by BG/NBD and spend per purchase by Gamma-Gamma.

``contract.py`` is the projection the two contractual methods share, ``common.py`` the fit and
the units every method uses. ``finance.ltv.strata``, ``finance.ltv.base`` and
``finance.ltv.backtest`` look a method up here (``MODELS_BY_KEY[fit.model]``), never by comparing names.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import polars as pl

from finance.ltv.methods.bgnbd import BGNBD
from finance.ltv.methods.common import Model, StratumFit, Units
from finance.ltv.methods.formula import FORMULA
from finance.ltv.methods.sbg import SBG


class LTVMethod(Protocol):
    """One LTV method: its model, its names, and how it fits and projects a stratum."""

    @property
    def key(self) -> Model:
        """The model's key: formula, sbg, bgnbd (the fields of ``common.Named``)."""

    @property
    def method(self) -> str: ...

    @property
    def label(self) -> str: ...

    @property
    def in_sentence(self) -> str: ...

    @property
    def method_label(self) -> str: ...

    @property
    def uses_purchases(self) -> bool:
        """Whether a fit needs each customer's purchase history (``finance.ltv.strata.add_purchase_history``)."""

    def fit(self, stratum: tuple[str, ...], members: pl.DataFrame) -> StratumFit:
        """The stratum's fit; raises ``finance.ltv.models.FitError`` when the data cannot support one."""
        ...

    def units(self, members: pl.DataFrame) -> Units:
        """The stratum's customers grouped by everything the projection depends on."""
        ...

    def expected_margin(self, fit: StratumFit, units: Units, months: int, log_params: np.ndarray,
                        horizon: int | None = None) -> np.ndarray:
        """Expected margin per customer of each unit in each of the next ``months`` months: (units, months)."""
        ...

    def process_variance(self, fit: StratumFit, units: Units, weights: np.ndarray,
                         expected: np.ndarray) -> np.ndarray:
        """Variance of one customer's weighted future margin sum(w_j V_j), per unit."""
        ...

    def extra_for(self, members: pl.DataFrame) -> dict[str, float]:
        """The constants a pooled stratum keeps of its own: its margin, not its segment's."""
        ...

    def describe(self, fit: StratumFit) -> list[tuple[str, float, str]]:
        """The fit in business words, (what, value, unit), enough to redo a projection by hand."""
        ...


REGISTRY: tuple[LTVMethod, ...] = (FORMULA, SBG, BGNBD)
"""Every method, in the order they are fitted, checked and listed."""
MODELS_BY_KEY: dict[str, LTVMethod] = {method.key: method for method in REGISTRY}
"""Each model's method, by the key a fit, a stored check or a chosen model names it by."""
MODELS: tuple[Model, ...] = tuple(method.key for method in REGISTRY)
MODEL_OF_METHOD: dict[str, Model] = {method.method: method.key for method in REGISTRY}
"""The model each LTV method fits (``auto`` chooses one per segment)."""

__all__ = ["BGNBD", "FORMULA", "MODELS", "MODELS_BY_KEY", "MODEL_OF_METHOD", "REGISTRY", "SBG", "LTVMethod", "Model",
           "StratumFit", "Units"]
