"""What every LTV method shares: the model keys, a stratum's fit in one form, and its customers grouped.

A stratum is the customers of one segment, or of one channel within one segment
(``finance.ltv.strata``). Each method fits a stratum into a ``StratumFit`` and projects it from
``Units``: the stratum's customers grouped by everything its projection depends on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from finance.ltv.words import OWN_FIT

Model = Literal["formula", "sbg", "bgnbd"]
"""The model of a stratum: the churn formula, sBG retention or BG/NBD purchasing (with Gamma-Gamma spend)."""


@dataclass(frozen=True)
class Named:
    """What an LTV method is called: its model's key and the names people read."""

    key: Model
    """The model's key, on every ``StratumFit`` it makes: formula, sbg, bgnbd."""
    method: str
    """The LTV method that asks for it (``LTVSettings.method``, ``--ltv-method``): formula, cohort, bgnbd."""
    label: str
    """The model's name for people: "churn formula", "sBG retention", "BG/NBD"."""
    in_sentence: str
    """The model's name within a sentence ("... by the churn formula for SMB")."""
    method_label: str
    """The method's name in "LTV by the ... method"."""


@dataclass
class StratumFit:
    """One stratum's fitted model, in the form every projection uses."""

    stratum: tuple[str, ...]
    model: Model
    names: tuple[str, ...]
    log_params: np.ndarray
    covariance: np.ndarray
    customers: int
    extra: dict[str, float] = field(default_factory=dict)
    """Model constants that are not uncertain parameters (margin %, a fallback spend)."""
    source: str = OWN_FIT
    """"own fit", "shrunk toward <segment>" or "pooled with <segment>": how the stratum got its parameters."""
    log_likelihood: float | None = None
    notes: tuple[str, ...] = ()
    """What the fit had to do that the reader should know (a limiting model fitted instead): each a sentence
    of ``finance.ltv.words``, told once per stratum in the result's notes."""

    @property
    def params(self) -> dict[str, float]:
        return {n: float(v) for n, v in zip(self.names, np.exp(self.log_params), strict=True)}

    def with_log_params(self, log_params: np.ndarray) -> StratumFit:
        return StratumFit(self.stratum, self.model, self.names, log_params, self.covariance, self.customers,
                          self.extra, self.source, self.log_likelihood)


@dataclass
class Units:
    """A stratum's customers grouped by everything its projection depends on."""

    key: np.ndarray
    """Index of the cohort key (row of the result) each unit belongs to."""
    age: np.ndarray
    """Months from acquisition to the as-of month (the last complete month)."""
    count: np.ndarray
    columns: dict[str, np.ndarray]
