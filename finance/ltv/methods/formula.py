"""The ``formula`` LTV method: each customer churns with the stratum's monthly churn rate.

Margin per paid customer-month from the stratum's history, and survival (1 - churn)^t: the
textbook ARPA x gross margin % / churn, horizon-capped and discounted, with renewals projected
as ``finance.ltv.methods.contract`` does for every contractual method.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from finance.ltv.methods.common import StratumFit
from finance.ltv.methods.contract import Contractual, margin_rate


def churn_exposure(members: pl.DataFrame) -> tuple[float, float]:
    """(churn events, customer-months exposed): a customer paid through the last complete month is alive."""
    paid = members.get_column("paid_through").fill_null(-1).to_numpy()
    observed = members.get_column("age_observed").to_numpy()
    churned = paid < observed
    exposure = np.where(churned, paid + 1, observed + 1).sum()
    return float(churned.sum()), float(exposure)


class ChurnFormula(Contractual):
    """Constant monthly churn, fitted as churn events over customer-months exposed."""

    def fit(self, stratum: tuple[str, ...], members: pl.DataFrame) -> StratumFit:
        """Monthly churn c = k / E over the stratum; its log has variance about 1 / k (Beta posterior)."""
        k, exposure = churn_exposure(members)
        churn = (k + 0.5) / (exposure + 1.0)  # Jeffreys: never exactly 0 or 1
        return StratumFit(stratum, self.key, ("monthly_churn",), np.array([math.log(churn)]),
                          np.array([[1.0 / (k + 0.5)]]), members.height,
                          {"churn_events": k, "exposure": exposure, "margin_per_month": margin_rate(members)})

    def survival(self, log_params: np.ndarray, last: int) -> np.ndarray:
        t = np.arange(last + 1, dtype=float)
        churn = min(float(np.exp(log_params[0])), 1.0)
        return np.asarray(np.power(1.0 - churn, t))

    def retention_words(self, fit: StratumFit) -> list[tuple[str, float, str]]:
        churn = fit.params["monthly_churn"]
        return [("Monthly churn (customers lost per customer-month)", churn, "percent"),
                ("Expected lifetime of a new customer", 1.0 / churn, "months")]


FORMULA = ChurnFormula(key="formula", method="formula", label="churn formula", in_sentence="the churn formula",
                       method_label="churn formula")
